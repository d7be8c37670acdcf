/* SPDX-License-Identifier: MIT */
/*
 * wait.h - waiting for something to happen: spin briefly, then futex.
 *
 * Waking a sleeping thread costs both sides a trip through the kernel and
 * the scheduler, so a waiter first spins for a few microseconds (see
 * benchmarks/RESULTS.md for what that buys); only then does it announce
 * itself in its wait word and sleep.  A waker touches the kernel only when
 * the word says someone sleeps.  The announce-then-recheck on one side and
 * publish-then-check on the other are ordered by seq_cst fences, so a
 * wake-up is never missed.
 */
#ifndef TRINDLE_WAIT_H
#define TRINDLE_WAIT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

typedef bool (*wait_ready_fn)(void *arg);

/* Monotonic clock in nanoseconds. */
int64_t trindle__now_ns(void);

/* Waits until ready(arg) is true or the monotonic clock passes deadline_ns
 * (negative: no deadline), spinning for at most spin_ns before sleeping.
 * Returns true if ready, false on timeout; *slept (if not NULL) says
 * whether the thread went to sleep on the way. */
bool trindle__wait_word(atomic_uint *word, wait_ready_fn ready, void *arg,
		int64_t deadline_ns, int64_t spin_ns, bool *slept);

/* A thread of a process (worker or root) starts or stops running:
 * waiters spin only while fewer others run than there are cores. */
void trindle__wait_thread_started(void);
void trindle__wait_thread_ended(void);

/*
 * May the library spread its threads over more CPUs?  True when no thread
 * of another program runs or waits for a CPU (the kernel's count of
 * runnable threads is no more than the library's threads that are not
 * asleep) and the library's awake threads, with `waking` more about to
 * wake, are no more than `cpus`, the CPUs the caller may use.  Reads a
 * file: for rare callers.
 */
bool trindle__cpus_to_spare(int waking, int cpus);

/* Sleeps while *word == expected, at most timeout_ns (negative: no
 * limit), not counted as running meanwhile.  Returns false on timeout. */
bool trindle__futex_wait(atomic_uint *word, unsigned expected,
		int64_t timeout_ns);

/* Wakes every thread sleeping on word. */
void trindle__futex_wake_all(atomic_uint *word);

/* Wakes the thread sleeping on word, if there is one. */
void trindle__wake_word(atomic_uint *word);

#endif
