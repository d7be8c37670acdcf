/* SPDX-License-Identifier: MIT */
/*
 * fault.h - turning a rights violation into a report.
 *
 * The SIGSEGV/SIGBUS handler runs on an alternate stack.  It reads only
 * lock-free state (arena tables, segment atomics, thread-locals) and takes
 * no lock, since the faulting thread may hold any.  A fault outside our
 * arenas goes to the handler that was installed before ours.  A fault in a
 * worker jumps back to the worker's base frame, where the report is built
 * in normal context; a fault in a root process prints one line and lets
 * the original signal end the program.
 */
#ifndef TRINDLE_FAULT_H
#define TRINDLE_FAULT_H

#include "trindle.h"

int trindle__fault_install(void);

/* launch.c: does the calling thread run a worker?  Jumps to its base. */
int trindle__worker_in_progress(void);
TRINDLE_NORETURN void trindle__worker_fault(const trindle_fault_t *report);

#endif
