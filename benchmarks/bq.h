/* SPDX-License-Identifier: MIT */
/*
 * bq.h - the pthreads twins' bounded queue of pointers (bq_*) and the
 * pthreads side's small helpers.  Included through bench.h.
 */
#ifndef TRINDLE_BENCH_BQ_H
#define TRINDLE_BENCH_BQ_H

#include <pthread.h>
#include <stddef.h>

/* ---- the pthreads bounded queue of pointers ---------------------------- */

/*
 * A mutex, two condition variables and a ring of pointers: what a careful
 * C programmer writes for a bounded queue between threads.  Each side
 * counts the threads asleep on its condition variable, and the other side
 * signals only when that count is not zero: a signal nobody waits for is
 * a wasted call, and a wake-up is the expensive part of a hand-off.
 * Waking happens after the lock is dropped, so the woken thread does not
 * at once block on the mutex its waker still holds.
 *
 * Two ways to wait, chosen per queue when it is made (bq_wait_style):
 *   BQ_SLEEP  the textbook: a waiter goes straight to pthread_cond_wait;
 *   BQ_SPIN   spin, then sleep: a waiter first lets go of the lock and
 *             watches the count for up to BQ_SPIN_NS, about what one
 *             wake-up of a sleeping thread on the other core costs (the
 *             classic bound: spinning longer than a wake-up costs cannot
 *             pay).  It wins when both threads have a core of their own,
 *             and loses when they share one: then the spinner only takes
 *             time from the thread it waits for.
 * The runner measures the batched twins both ways and compares
 * libtrindle with the faster, so the twin is the strongest of the two
 * whatever the machine's load (bench.h, bench_scenario_t.both_twins).
 */
enum bq_wait { BQ_SLEEP, BQ_SPIN };
#define BQ_SPIN_NS 20000

typedef struct bq {
	pthread_mutex_t lock;
	pthread_cond_t not_empty, not_full;
	void **items;
	size_t capacity, head;
	size_t count;                /* written under the lock; read without
	                              * it (relaxed) only by a spinning waiter */
	unsigned poppers, pushers;   /* threads asleep for items, for room */
	enum bq_wait wait;
} bq_t;

/* How queues made from now on wait (BQ_SLEEP at start); the runner sets
 * it around each run of a twin, before the twin makes its queues. */
extern enum bq_wait bq_wait_style;

/* Exits when memory runs out, like bench_block(). */
void bq_init(bq_t *q, size_t capacity);
void bq_destroy(bq_t *q);
/* One item per lock: waits while the queue is full or empty. */
void bq_push(bq_t *q, void *item);
void *bq_pop(bq_t *q);
/*
 * Batches.  push_many puts all n items, at most BQ_RUN of them per lock
 * (the batch size libtrindle's sides use per sync), waiting for room when
 * the queue is full.  pop_many waits for at least one item, then takes
 * everything queued up to max in one lock (pass the room you have to take
 * all); try_pop_many does not wait.
 */
#define BQ_RUN 64
void bq_push_many(bq_t *q, void *const *items, size_t n);
size_t bq_pop_many(bq_t *q, void **items, size_t max);
size_t bq_try_pop_many(bq_t *q, void **items, size_t max);

/* A zeroed page-aligned block for the pthreads side; exits when memory
 * runs out (nothing sensible can be measured then). */
void *bench_block(size_t bytes);

/* Starts a thread or reports why not; returns 0 or -1. */
int bench_thread(pthread_t *t, void *(*fn)(void *), void *arg);
#endif
