/* SPDX-License-Identifier: MIT */
/*
 * stall.h - the stall report (TRINDLE_STALL_MS=N).
 *
 * At the processes level: a monitor thread, which is no process, looks
 * every N/4 ms (at most every 250 ms) at what every process shows of its
 * waits (holder.h).  When every live process has waited in a sync for N
 * ms or more, and none of them woke meanwhile, nothing in flight can wake
 * any of them (a message or a notice for one would have), so it prints
 * one report on stderr, once per stall, and lets them wait on.
 *
 * TRINDLE_DUMP_SIGNAL=SIGQUIT (say) makes that signal print the same
 * report at once, for whatever waits then: its handler only posts a
 * semaphore, and the monitor thread writes the report.
 */
#ifndef TRINDLE_STALL_H
#define TRINDLE_STALL_H

/* Starts the monitor thread (the runtime does, once); live_count says
 * how many processes are alive, and after_dump (may be NULL) runs in the
 * monitor thread after each dump's report (both passed in: the runtime
 * calls down into this module, never the other way). */
#include <stddef.h>
void trindle__stall_start(long ms, int dump_signal,
		size_t (*live_count)(void), void (*after_dump)(void));

#endif
