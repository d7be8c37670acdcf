/* SPDX-License-Identifier: MIT */
/* wait.c - spin, then sleep on a futex (see wait.h). */
#include "wait.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "compiler.h"

int64_t trindle__now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/*
 * Spinning only pays while the thread we wait for has a core to run on.
 * The library counts the threads of its processes that are running (not
 * waiting here); a waiter that sees as many others running as there are
 * cores sleeps at once, as a condition variable would, instead of taking
 * a core from a thread with work to do.
 */
static atomic_int running_threads;
/* The threads of processes, and how many of them sleep in futex_sleep():
 * the rest are awake (running, spinning, or ready to run). */
static atomic_int started_threads, asleep_threads;
/* 0 until the first thread starts; threads starting together may each
 * count the cores and store the same number, hence an atomic. */
static atomic_int online_cpus;

/* Sleeps while *word == expected, at most timeout_ns (negative: no
 * limit).  Returns false if the time ran out. */
static bool futex_sleep(atomic_uint *word, unsigned expected,
		int64_t timeout_ns)
{
	struct timespec ts, *tsp = NULL;

	if (timeout_ns >= 0) {
		ts.tv_sec = timeout_ns / 1000000000;
		ts.tv_nsec = timeout_ns % 1000000000;
		tsp = &ts;
	}
	atomic_fetch_add_explicit(&asleep_threads, 1, memory_order_relaxed);
	long rc = syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, expected, tsp,
			  NULL, 0);
	int err = errno;
	atomic_fetch_sub_explicit(&asleep_threads, 1, memory_order_relaxed);
	return rc == 0 || err != ETIMEDOUT;
}

void trindle__wait_thread_started(void)
{
	if (!atomic_load_explicit(&online_cpus, memory_order_relaxed)) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		atomic_store_explicit(&online_cpus, n > 0 ? (int)n : 1,
				memory_order_relaxed);
	}
	atomic_fetch_add_explicit(&running_threads, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&started_threads, 1, memory_order_relaxed);
}

void trindle__wait_thread_ended(void)
{
	atomic_fetch_sub_explicit(&running_threads, 1, memory_order_relaxed);
	atomic_fetch_sub_explicit(&started_threads, 1, memory_order_relaxed);
}

static bool cores_are_busy(void)
{
	return atomic_load_explicit(&running_threads, memory_order_relaxed) >=
		atomic_load_explicit(&online_cpus, memory_order_relaxed);
}

/* The kernel's count of threads running or ready to run, of every
 * program, from the fourth field of /proc/loadavg ("0.50 0.20 0.10
 * 2/131 4242"), or -1.  Opened and closed at each call (a descriptor kept
 * open could be closed or reused behind the library's back by a program
 * that closes what it does not know): callers are rare. */
static long machine_runnable(void)
{
	char buf[128];
	int fd = open("/proc/loadavg", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	const char *p = buf;
	for (int field = 0; field < 3 && p; field++) {
		p = strchr(p, ' ');
		p = p ? p + 1 : NULL;
	}
	if (!p)
		return -1;
	char *end;
	long running = strtol(p, &end, 10);
	return end != p && *end == '/' ? running : -1;
}

bool trindle__cpus_to_spare(int waking, int cpus)
{
	int awake = atomic_load_explicit(&started_threads,
			memory_order_relaxed) -
		atomic_load_explicit(&asleep_threads, memory_order_relaxed);
	if (awake + waking > cpus)
		return false;
	int saved = errno; /* a launch that succeeds leaves errno alone */
	long runnable = machine_runnable();
	errno = saved;
	return runnable >= 0 && runnable <= awake;
}

/*
 * Threads of other programs are invisible to that count, but they show
 * when a spinning waiter loses its core: between two of its checks, a few
 * microseconds apart, the clock jumps (a yield that let another thread run
 * for its time slice, or a preemption).  Then the machine has more
 * runnable threads than cores, and every microsecond spun is taken from
 * one of them, maybe the very thread we wait for: the waiter sleeps at
 * once, and so does every waiter for a while after (CONTENDED_HOLD_NS),
 * when the next spin looks again.  The jump that counts is longer than
 * an interrupt or a hypervisor's pause (which a quiet machine has too,
 * and which would stop spinning where it pays) and shorter than a time
 * slice.
 */
#define PREEMPTED_NS 200000
#define CONTENDED_HOLD_NS 20000000
static _Atomic int64_t contended_until;

static bool machine_contended(int64_t now)
{
	return now < atomic_load_explicit(&contended_until,
			memory_order_relaxed);
}

static void note_contention(int64_t now)
{
	atomic_store_explicit(&contended_until, now + CONTENDED_HOLD_NS,
			memory_order_relaxed);
}

/*
 * Busy-waits with pause until the first clock check (64 checks of ready,
 * a microsecond or two), then yields the core at every check until
 * until_ns.  A yield with nobody else to run returns at once, so on a
 * core of its own the waiter loses little by it.  But the thread we wait
 * for may share this core with us: the scheduler wakes threads on their
 * waker's core, and two threads that keep running in turns look too
 * recently used to move, so they can stay together for long.  Then every
 * hand-off between them costs one pause phase of the waiter, and that
 * phase is kept short.
 */
#define PAUSE_SPIN_NS 1000

static bool spin(wait_ready_fn ready, void *arg, int64_t until_ns)
{
	int64_t start = trindle__now_ns(), last = start;

	if (machine_contended(start))
		return ready(arg);
	for (unsigned i = 1;; i++) {
		if (ready(arg))
			return true;
		if ((i & 63) == 0) {
			int64_t now = trindle__now_ns();
			if (now - last >= PREEMPTED_NS) {
				note_contention(now);
				return false;
			}
			last = now;
			if (now >= until_ns || cores_are_busy())
				return false;
			if (now - start >= PAUSE_SPIN_NS) {
				/* A yield that lost the core shows at the next
				 * check, as a jump from last. */
				sched_yield();
				continue;
			}
		}
		trindle__cpu_relax();
	}
}

static bool wait_word(atomic_uint *word, wait_ready_fn ready, void *arg,
		int64_t deadline_ns, int64_t spin_ns, bool *slept)
{
	int64_t start = trindle__now_ns();
	int64_t spin_until = start + spin_ns;

	if (deadline_ns >= 0 && deadline_ns < spin_until)
		spin_until = deadline_ns;
	if (slept)
		*slept = false;
	if (spin(ready, arg, spin_until))
		return true;
	for (;;) {
		int64_t left = -1;
		if (deadline_ns >= 0) {
			left = deadline_ns - trindle__now_ns();
			if (left <= 0)
				return ready(arg);
		}
		atomic_store_explicit(word, 1, memory_order_relaxed);
		atomic_thread_fence(memory_order_seq_cst);
		if (ready(arg)) {
			atomic_store_explicit(word, 0, memory_order_relaxed);
			return true;
		}
		if (slept)
			*slept = true;
		futex_sleep(word, 1u, left);
		atomic_store_explicit(word, 0, memory_order_relaxed);
		if (ready(arg))
			return true;
	}
}

bool trindle__wait_word(atomic_uint *word, wait_ready_fn ready, void *arg,
		int64_t deadline_ns, int64_t spin_ns, bool *slept)
{
	atomic_fetch_sub_explicit(&running_threads, 1, memory_order_relaxed);
	bool got = wait_word(word, ready, arg, deadline_ns, spin_ns, slept);
	atomic_fetch_add_explicit(&running_threads, 1, memory_order_relaxed);
	return got;
}

bool trindle__futex_wait(atomic_uint *word, unsigned expected,
		int64_t timeout_ns)
{
	atomic_fetch_sub_explicit(&running_threads, 1, memory_order_relaxed);
	bool woken = futex_sleep(word, expected, timeout_ns);
	atomic_fetch_add_explicit(&running_threads, 1, memory_order_relaxed);
	return woken;
}

void trindle__futex_wake_all(atomic_uint *word)
{
	syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, INT32_MAX, NULL, NULL, 0);
}

void trindle__wake_word(atomic_uint *word)
{
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load_explicit(word, memory_order_relaxed) &&
	    atomic_exchange_explicit(word, 0, memory_order_relaxed))
		syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}
