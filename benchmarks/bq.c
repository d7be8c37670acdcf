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

void bq_init(bq_t *q, size_t capacity)
{
	memset(q, 0, sizeof *q);
	q->items = bench_block(capacity * sizeof *q->items);
	q->capacity = capacity;
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

/* Callers hold q->lock. */
static void put(bq_t *q, void *item)
{
	q->items[(q->head + q->count) % q->capacity] = item;
	q->count++;
}

static void *take(bq_t *q)
{
	void *item = q->items[q->head];

	q->head = (q->head + 1) % q->capacity;
	q->count--;
	return item;
}

void bq_push(bq_t *q, void *item)
{
	pthread_mutex_lock(&q->lock);
	while (q->count == q->capacity)
		pthread_cond_wait(&q->not_full, &q->lock);
	put(q, item);
	pthread_cond_signal(&q->not_empty);
	pthread_mutex_unlock(&q->lock);
}

void *bq_pop(bq_t *q)
{
	void *item;

	pthread_mutex_lock(&q->lock);
	while (q->count == 0)
		pthread_cond_wait(&q->not_empty, &q->lock);
	item = take(q);
	pthread_cond_signal(&q->not_full);
	pthread_mutex_unlock(&q->lock);
	return item;
}

void bq_push_many(bq_t *q, void *const *items, size_t n)
{
	size_t done = 0;

	pthread_mutex_lock(&q->lock);
	while (done < n) {
		while (q->count == q->capacity)
			pthread_cond_wait(&q->not_full, &q->lock);
		while (done < n && q->count < q->capacity)
			put(q, items[done++]);
		/* The single consumer is the only one waiting for items. */
		pthread_cond_signal(&q->not_empty);
	}
	pthread_mutex_unlock(&q->lock);
}

static size_t take_many(bq_t *q, void **items, size_t max)
{
	size_t n = 0;

	while (n < max && q->count > 0)
		items[n++] = take(q);
	/* Several producers may wait for room (fan-in): wake them all. */
	if (n)
		pthread_cond_broadcast(&q->not_full);
	return n;
}

size_t bq_pop_many(bq_t *q, void **items, size_t max)
{
	size_t n;

	pthread_mutex_lock(&q->lock);
	while (q->count == 0)
		pthread_cond_wait(&q->not_empty, &q->lock);
	n = take_many(q, items, max);
	pthread_mutex_unlock(&q->lock);
	return n;
}

size_t bq_try_pop_many(bq_t *q, void **items, size_t max)
{
	size_t n;

	pthread_mutex_lock(&q->lock);
	n = take_many(q, items, max);
	pthread_mutex_unlock(&q->lock);
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

