/* SPDX-License-Identifier: MIT */
/* runtime.h - starting the library and keeping track of root threads. */
#ifndef TRINDLE_RUNTIME_H
#define TRINDLE_RUNTIME_H

#include <stdbool.h>
#include <stddef.h>

struct process;

/* Starts the library once (fault handlers, thread keys); 0 or -errno. */
int trindle__runtime_start(void);

/* A root process begins on the calling thread: arrange for ended(p) to run
 * when the thread ends, and give the thread a signal stack. */
int trindle__runtime_root_started(struct process *p,
		void (*ended)(void *));
/* Undoes what root_started set up (called from ended, or by trindle_exit). */
void trindle__runtime_root_ended(struct process *p);

/*
 * Processes alive (roots and workers).  A root counts from root_started to
 * root_ended, a worker from its launch to the end of its run.  When the
 * count drops to zero, idle worker threads are woken to end, so that a
 * program whose processes all ended ends too.
 */
void trindle__runtime_process_started(void);
void trindle__runtime_process_ended(void);
bool trindle__runtime_any_alive(void);
/* How many processes are alive now. */
size_t trindle__runtime_live_count(void);
/* Sets what runs when the count drops to zero: launch.c's waking of its
 * idle threads, set before the first worker thread starts (a hook, so that
 * the runtime does not call up into launch.c). */
void trindle__runtime_on_all_ended(void (*fn)(void));

/* Gives the calling thread an alternate signal stack if it has none;
 * returns the stack allocated (to free later) or NULL. */
void *trindle__runtime_signal_stack(void);
void trindle__runtime_free_signal_stack(void *stack);

#endif
