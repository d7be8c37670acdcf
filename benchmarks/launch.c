/* SPDX-License-Identifier: MIT */
/*
 * launch: start a trivial process and wait until it has ended, one after
 * the other; the figure is the time per launch.
 *
 * libtrindle: trindle_launch() of an entry that returns at once; the root
 * waits for the end notice of the worker's input pipe.  pthreads:
 * pthread_create() of a function that returns at once, then pthread_join().
 * Each side counts the completions it saw.
 */
#include "bench.h"

static uint64_t la_count(const bench_opts_t *opts)
{
	return bench_size(opts, 3000, 30);
}

static void la_trivial(trindle_pipe_t input)
{
	(void)input;
}

int launch_trindle(const bench_opts_t *opts, bench_sample_t *s)
{
	uint64_t n = la_count(opts);
	bt_group_t g;
	double t0;
	int rc = 0;

	if (bt_group_init(&g, n) != 0)
		return -1;
	t0 = bench_now();
	for (uint64_t i = 0; i < n && rc == 0; i++)
		if (!bt_group_launch(&g, la_trivial, 1) ||
		    bt_group_wait(&g, false) != 0)
			rc = -1;
	s->seconds = bench_now() - t0;
	s->ops = n;
	s->check = g.ended;
	bt_group_destroy(&g);
	return rc;
}

static void *la_trivial_thread(void *arg)
{
	return arg;
}

int launch_pthreads(const bench_opts_t *opts, bench_sample_t *s)
{
	uint64_t n = la_count(opts), joined = 0;
	double t0 = bench_now();

	for (uint64_t i = 0; i < n; i++) {
		pthread_t t;
		void *ret = NULL;

		if (bench_thread(&t, la_trivial_thread, &joined) != 0)
			return -1;
		pthread_join(t, &ret);
		joined += ret == &joined;
	}
	s->seconds = bench_now() - t0;
	s->ops = n;
	s->check = joined;
	return 0;
}
