/* SPDX-License-Identifier: MIT */
/*
 * launch: start a trivial process and wait until it has ended, one after
 * the other; the figure is the time per launch.
 *
 * libtrindle: trindle_launch() of an entry that returns at once; the root
 * waits for the end notice of the worker's input pipe.  Each side counts
 * the completions it saw.
 *
 * Two twins.  "launch": a pool thread, started before the timed region,
 * takes each task from a bounded queue, runs it and reports it done
 * through a second queue; the caller waits for that.  libtrindle keeps
 * ended workers' threads for reuse, so this is what it is compared with:
 * what a C programmer who starts many short tasks writes.  "launch-create":
 * pthread_create() of a function that returns at once, then
 * pthread_join(), what one writes for a task or two.
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

/* ---- the pool twin ------------------------------------------------------ */

typedef struct la_pool {
	bq_t tasks, done;
} la_pool_t;

typedef void *(*la_task_fn)(void *);

/* Runs tasks until it takes NULL; each result goes to done. */
static void *la_pool_thread(void *arg)
{
	la_pool_t *p = arg;
	la_task_fn fn;

	while ((fn = (la_task_fn)(uintptr_t)bq_pop(&p->tasks)) != NULL)
		bq_push(&p->done, fn(&p->done));
	return NULL;
}

int launch_pool_pthreads(const bench_opts_t *opts, bench_sample_t *s)
{
	uint64_t n = la_count(opts), done = 0;
	la_pool_t p;
	pthread_t worker;
	double t0;

	bq_init(&p.tasks, 4);
	bq_init(&p.done, 4);
	if (bench_thread(&worker, la_pool_thread, &p) != 0)
		return -1;
	t0 = bench_now();
	for (uint64_t i = 0; i < n; i++) {
		bq_push(&p.tasks, (void *)(uintptr_t)la_trivial_thread);
		done += bq_pop(&p.done) == &p.done;
	}
	s->seconds = bench_now() - t0;
	s->ops = n;
	s->check = done;
	bq_push(&p.tasks, NULL);
	pthread_join(worker, NULL);
	bq_destroy(&p.tasks);
	bq_destroy(&p.done);
	return 0;
}
