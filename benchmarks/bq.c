/* SPDX-License-Identifier: MIT */
/*
 * bq.c - the pthreads side's bounded queue of pointers, and the few
 * helpers the pthreads twins share (see bq.h).
 */
#include "bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the pthreads bounded queue ---------------------------------------- */

enum bq_wait bq_wait_style = BQ_SLEEP;

void bq_init(bq_t *q, size_t capacity)
{
	memset(q, 0, sizeof *q);
	q->items = bench_block(capacity * sizeof *q->items);
	q->capacity = capacity;
	q->wait = bq_wait_style;
	pthread_mutex_init(&q->lock, NULL);
	pthread_cond_init(&q->not_empty, NULL);
	pthread_cond_init(&q->not_full, NULL);
}

void bq_destroy(bq_t *q)
{
	pthread_mutex_destroy(&q->lock);
	pthread_cond_destroy(&q->not_empty);
	pthread_cond_destroy(&q->not_full);
	free(q->items);
}

/* Callers hold q->lock.  The count is stored atomically because a
 * spinning waiter reads it without the lock. */
static void set_count(bq_t *q, size_t count)
{
	__atomic_store_n(&q->count, count, __ATOMIC_RELAXED);
}

static void put(bq_t *q, void *item)
{
	q->items[(q->head + q->count) % q->capacity] = item;
	set_count(q, q->count + 1);
}

static void *take(bq_t *q)
{
	void *item = q->items[q->head];

	q->head = (q->head + 1) % q->capacity;
	set_count(q, q->count - 1);
	return item;
}

static inline void relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

/*
 * BQ_SPIN's first phase: called holding q->lock while the count is
 * `stuck` (full, or 0); lets go of the lock, watches the count for up to
 * BQ_SPIN_NS and takes the lock back.  The caller re-checks the count
 * under the lock and sleeps if it is still stuck.
 */
static void spin_while_stuck(bq_t *q, size_t stuck)
{
	double end;

	if (q->wait != BQ_SPIN)
		return;
	pthread_mutex_unlock(&q->lock);
	end = bench_now() + BQ_SPIN_NS * 1e-9;
	do {
		for (int i = 0; i < 16; i++)
			relax();
	} while (__atomic_load_n(&q->count, __ATOMIC_RELAXED) == stuck &&
		 bench_now() < end);
	pthread_mutex_lock(&q->lock);
}

/* Waits, holding q->lock, until the queue has room / an item. */
static void wait_room(bq_t *q)
{
	if (q->count == q->capacity)
		spin_while_stuck(q, q->capacity);
	while (q->count == q->capacity) {
		q->pushers++;
		pthread_cond_wait(&q->not_full, &q->lock);
		q->pushers--;
	}
}

static void wait_item(bq_t *q)
{
	if (q->count == 0)
		spin_while_stuck(q, 0);
	while (q->count == 0) {
		q->poppers++;
		pthread_cond_wait(&q->not_empty, &q->lock);
		q->poppers--;
	}
}

/*
 * After items went in: one popper suffices, since a popper takes all it
 * has room for.  After room was made: every pusher, since fan-in has
 * several producers and each may fit.  Called without the lock, with
 * whether a waiter was seen while it was held (a waiter that arrives
 * later re-checks the queue before it sleeps).
 */
static void wake_popper(bq_t *q, bool waiting)
{
	if (waiting)
		pthread_cond_signal(&q->not_empty);
}

static void wake_pushers(bq_t *q, bool waiting)
{
	if (waiting)
		pthread_cond_broadcast(&q->not_full);
}

void bq_push(bq_t *q, void *item)
{
	bool waiting;

	pthread_mutex_lock(&q->lock);
	wait_room(q);
	put(q, item);
	waiting = q->poppers > 0;
	pthread_mutex_unlock(&q->lock);
	wake_popper(q, waiting);
}

void *bq_pop(bq_t *q)
{
	void *item;
	bool waiting;

	pthread_mutex_lock(&q->lock);
	wait_item(q);
	item = take(q);
	waiting = q->pushers > 0;
	pthread_mutex_unlock(&q->lock);
	/* One slot was made: one pusher can use it. */
	if (waiting)
		pthread_cond_signal(&q->not_full);
	return item;
}

void bq_push_many(bq_t *q, void *const *items, size_t n)
{
	size_t done = 0;

	while (done < n) {
		size_t run = 0;
		bool waiting;

		pthread_mutex_lock(&q->lock);
		wait_room(q);
		while (done < n && run < BQ_RUN && q->count < q->capacity) {
			put(q, items[done++]);
			run++;
		}
		waiting = q->poppers > 0;
		pthread_mutex_unlock(&q->lock);
		wake_popper(q, waiting);
	}
}

/* Takes up to max items; callers hold the lock.  *waiting: a pusher
 * sleeps and room was made. */
static size_t take_many(bq_t *q, void **items, size_t max, bool *waiting)
{
	size_t n = 0;

	while (n < max && q->count > 0)
		items[n++] = take(q);
	*waiting = n > 0 && q->pushers > 0;
	return n;
}

size_t bq_pop_many(bq_t *q, void **items, size_t max)
{
	bool waiting;
	size_t n;

	pthread_mutex_lock(&q->lock);
	wait_item(q);
	n = take_many(q, items, max, &waiting);
	pthread_mutex_unlock(&q->lock);
	wake_pushers(q, waiting);
	return n;
}

size_t bq_try_pop_many(bq_t *q, void **items, size_t max)
{
	bool waiting;
	size_t n;

	pthread_mutex_lock(&q->lock);
	n = take_many(q, items, max, &waiting);
	pthread_mutex_unlock(&q->lock);
	wake_pushers(q, waiting);
	return n;
}

void *bench_block(size_t bytes)
{
	void *p = aligned_alloc(BENCH_BLOCK, (bytes + BENCH_BLOCK - 1)
			/ BENCH_BLOCK * BENCH_BLOCK);

	if (!p) {
		bench_fail("pthreads", "out of memory");
		exit(1);
	}
	return memset(p, 0, bytes);
}

int bench_thread(pthread_t *t, void *(*fn)(void *), void *arg)
{
	int err = pthread_create(t, NULL, fn, arg);

	if (err)
		return bench_fail("pthreads", "pthread_create: %s",
				strerror(err));
	return 0;
}

