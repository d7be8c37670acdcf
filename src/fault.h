/* SPDX-License-Identifier: MIT */
/*
 * fault.h - turning a rights violation into a report.
 *
 * The SIGSEGV/SIGBUS handler runs on an alternate stack.  It reads only
 * lock-free state (arena tables, segment atomics, thread-locals) and takes
 * no lock, since the faulting thread may hold any.  A fault outside our
 * arenas goes to the handler that was installed before ours.  A fault in a
 * thread whose recovery point is armed (a worker's) jumps back to it, and
 * the report is built in normal context; any other (a root process's)
 * prints one line and lets the original signal end the program.
 */
#ifndef TRINDLE_FAULT_H
#define TRINDLE_FAULT_H

#include <setjmp.h>
#include <stdbool.h>

#include "trindle.h"

int trindle__fault_install(void);

/*
 * The calling thread's recovery point.  While it is armed, a fault in the
 * thread stores its report in *report, disarms the point and jumps back
 * with siglongjmp(*env, value); disarmed, a fault ends the program after
 * one line on stderr.  A worker's run arms it (launch.c), so the handler
 * needs to know nothing about workers.  env and report must stay valid
 * while the point is armed.
 */
void trindle__fault_arm(sigjmp_buf *env, int value, trindle_fault_t *report);
void trindle__fault_disarm(void);

/* Whether an armed thread recovers from every synchronous fault it raises
 * itself (SIGSEGV or SIGBUS anywhere, SIGFPE, SIGILL, SIGABRT), or only
 * from rights faults on segments.  Set once, at start. */
void trindle__fault_set_catch_all(bool all);

#endif
