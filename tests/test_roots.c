/* SPDX-License-Identifier: MIT */
/*
 * test_roots.c - several root processes (threads the library did not
 * start) that begin at the same moment: their first calls race each other
 * into the library's lazy start, then each does real work and ends, some
 * by returning from the thread, some by trindle_exit().
 *
 * The first test must be the first code in this program to call the
 * library, so that every root's first call is also the library's first
 * use (the main thread calls nothing before it).  Under ThreadSanitizer
 * (tools/test.sh runs this area in the TSan build) a data race in the
 * start-up paths is a failure; under valgrind, anything lost is.
 *
 * Root threads never call cmocka (its asserts jump back into the test
 * thread): each fills in its own result, which the test checks after
 * joining it.  Two roots cannot hand each other rights (a root receives
 * only on pipes it created), so each root exchanges messages with its own
 * pipes and its own worker.
 */
#include "helpers.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

enum { ROOTS = 4, ECHOES = 64 };

struct root {
	unsigned id;
	bool by_exit;            /* end with trindle_exit() rather than return */
	unsigned errors;         /* checks that failed, counted by the root */
	unsigned long echoed;    /* labels that came back from its worker */
	unsigned long shared;    /* shares that arrived READ-only, then RW */
	trindle_pipe_t home;     /* its pipe */
	trindle_segment_t kept;  /* held when it ended */
};

static pthread_barrier_t g_start;
static unsigned long g_threads_at_start; /* before any library call */

/* This process's threads, from /proc/self/status. */
static unsigned long thread_count(void)
{
	char line[128];
	unsigned long n = 0;
	FILE *f = fopen("/proc/self/status", "r");
	if (!f)
		return 0;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "Threads: %lu", &n) == 1)
			break;
	fclose(f);
	return n;
}

/* Echoes every segment from its input back to the pipe it got first
 * (its out pipe, which the launcher also sent it); ends when nobody can
 * send to it any more (the root ended) or a message is not a segment. */
static void echo_worker(trindle_pipe_t input)
{
	trindle_pipe_t home = trindle_util_next_object(input);
	if (!home)
		return;
	for (;;) {
		trindle_object_t s = trindle_util_next_object(input);
		if (!s || t_w_move(home, s) != 0)
			return;
	}
}

static unsigned long label_for(const struct root *r, unsigned long k)
{
	return (unsigned long)r->id << 32 | k;
}

/* Shares a segment through the root's own pipe: READ while the message
 * holds it too, sole holder (RW) once the root received its own copy. */
static void share_with_itself(struct root *r)
{
	trindle_segment_t s = t_label(label_for(r, 0xabc));
	if (!s || t_w_send(r->home, s) != 0 ||
	    trindle_access(s) != TRINDLE_ACCESS_READ) {
		r->errors++;
		return;
	}
	trindle_object_t got = trindle_util_next_object(r->home);
	if (got != s || trindle_access(s) !=
	    (TRINDLE_ACCESS_READ | TRINDLE_ACCESS_WRITE) ||
	    t_label_of(s) != label_for(r, 0xabc) || t_w_release(s) != 0)
		r->errors++;
	else
		r->shared++;
}

/* Moves labelled segments through its worker and back, one at a time. */
static void echo_through_worker(struct root *r, trindle_pipe_t w)
{
	for (unsigned long k = 0; k < ECHOES; k++) {
		trindle_segment_t s = t_label(label_for(r, k));
		if (!s || t_w_move(w, s) != 0) {
			r->errors++;
			return;
		}
		trindle_object_t got = trindle_util_next_object(r->home);
		if (!got || trindle_access(got) !=
		    (TRINDLE_ACCESS_READ | TRINDLE_ACCESS_WRITE) ||
		    t_label_of(got) != label_for(r, k)) {
			r->errors++;
			return;
		}
		if (t_w_release(got) != 0)
			r->errors++;
		r->echoed++;
	}
}

static void *root_main(void *arg)
{
	struct root *r = arg;

	pthread_barrier_wait(&g_start);
	/* The first call of this thread, at the same time as the others'. */
	r->home = trindle_pipe(ECHOES);
	if (!r->home) {
		r->errors++;
		return NULL;
	}
	share_with_itself(r);
	trindle_pipe_t w = trindle_launch(echo_worker, 4, r->home, NULL);
	if (!w || t_w_send(w, r->home) != 0) {
		r->errors++;
		return NULL;
	}
	echo_through_worker(r, w);
	/* End holding a segment, the pipe, and SEND on a worker that is still
	 * running: the end releases them all, so the worker ends too. */
	r->kept = t_label(label_for(r, 0xe0d));
	if (!r->kept)
		r->errors++;
	if (r->by_exit)
		trindle_exit(r->kept);
	return NULL;
}

/* Starts ROOTS root threads at once, odd ones ending by trindle_exit(),
 * joins them and checks what each did. */
static void run_roots(void)
{
	struct root roots[ROOTS];
	pthread_t threads[ROOTS];

	memset(roots, 0, sizeof roots);
	assert_int_equal(pthread_barrier_init(&g_start, NULL, ROOTS), 0);
	for (unsigned i = 0; i < ROOTS; i++) {
		roots[i].id = i;
		roots[i].by_exit = i % 2;
		assert_int_equal(pthread_create(&threads[i], NULL, root_main,
				&roots[i]), 0);
	}
	for (unsigned i = 0; i < ROOTS; i++)
		assert_int_equal(pthread_join(threads[i], NULL), 0);
	assert_int_equal(pthread_barrier_destroy(&g_start), 0);
	for (unsigned i = 0; i < ROOTS; i++) {
		assert_int_equal(roots[i].errors, 0);
		assert_int_equal(roots[i].shared, 1);
		assert_int_equal(roots[i].echoed, ECHOES);
	}
}

/* Must run first: no library call before it in this program. */
static void test_roots_start_together_work_and_end(void **state)
{
	(void)state;
	run_roots();
}

/* The same again once the library runs (and once the earlier roots'
 * workers may have gone idle or ended). */
static void test_roots_start_together_again(void **state)
{
	(void)state;
	run_roots();
	run_roots();
}

/* A root that echoes one label through a worker of its own and ends. */
static void *short_root_main(void *arg)
{
	struct root *r = arg;
	r->home = trindle_pipe(1);
	trindle_pipe_t w = r->home ?
		trindle_launch(echo_worker, 2, r->home, NULL) : NULL;
	trindle_segment_t s = t_label(label_for(r, 1));
	if (!w || !s || t_w_send(w, r->home) != 0 || t_w_move(w, s) != 0) {
		r->errors++;
		return NULL;
	}
	trindle_object_t got = trindle_util_next_object(r->home);
	if (!got || t_label_of(got) != label_for(r, 1))
		r->errors++;
	else
		r->echoed++;
	return NULL;
}

/*
 * Roots one after another, each alone: as each ends no process is alive,
 * so the idle worker threads start to end while the next root launches
 * (the launch must find a thread that stays, or start one).
 */
static void test_roots_one_after_another_while_workers_retire(void **state)
{
	(void)state;
	const unsigned rounds = 100;
	for (unsigned i = 0; i < rounds; i++) {
		struct root r = { .id = 100 + i };
		pthread_t t;
		assert_int_equal(pthread_create(&t, NULL, short_root_main, &r), 0);
		assert_int_equal(pthread_join(t, NULL), 0);
		assert_int_equal(r.errors, 0);
		assert_int_equal(r.echoed, 1);
	}
	/* No process is alive (the main thread never called the library):
	 * the idle worker threads end, leaving the threads there were. */
	int64_t limit = t_now_ns() + T_WAIT_LIMIT_NS;
	while (thread_count() > g_threads_at_start && t_now_ns() < limit) {
		struct timespec pause = { 0, 1000000 };
		nanosleep(&pause, NULL);
	}
	assert_int_equal(thread_count(), g_threads_at_start);
}

int main(void)
{
	g_threads_at_start = thread_count();
#if defined(__SANITIZE_THREAD__)
	g_threads_at_start++; /* TSan's own thread, started with the first other */
#endif
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roots_start_together_work_and_end),
		cmocka_unit_test(test_roots_start_together_again),
		cmocka_unit_test(test_roots_one_after_another_while_workers_retire),
	};
	return cmocka_run_group_tests_name("roots", tests, NULL, NULL);
}
