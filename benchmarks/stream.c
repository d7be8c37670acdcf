/* SPDX-License-Identifier: MIT */
/*
 * stream: one producer sends 4 KiB blocks to one consumer, which checks
 * each one and hands it back for reuse; the figure is messages per second.
 *
 * libtrindle: the root process produces; it moves up to 64 segments per
 * trindle_sync into the consumer's input pipe, and the consumer moves them
 * back through the root's return pipe, 64 per sync at most.
 * pthreads, "stream": the same through two bounded queues, one lock per
 * item.  pthreads, "stream-batched": the same queues, up to 64 items
 * pushed per lock and everything queued popped per lock.
 * (The libtrindle loops are bt.h's bt_feed_run and bt_relay, inlined here.)
 *
 * The producer stamps every block with its sequence number at both ends;
 * the consumer checks the stamp and the order and adds the numbers up, so
 * a side that skipped or reordered work would give a different digest.
 */
#include "bench.h"

#include <stdlib.h>
#include <string.h>

/* Blocks in circulation; pipes and queues have room for all of them. */
#define ST_POOL 256
#define ST_WORDS (BENCH_BLOCK / sizeof(uint64_t))

static uint64_t st_messages(const bench_opts_t *opts)
{
	if (opts->messages)
		return opts->messages;
	return bench_size(opts, 1000000, 2000);
}

void stream_stamp(void *block, uint64_t seq, uint64_t arg)
{
	uint64_t *w = block;

	(void)arg;
	w[0] = seq;
	w[ST_WORDS - 1] = ~seq;
}

bool stream_verify(const void *block, uint64_t seq)
{
	const uint64_t *w = block;

	return w[0] == seq && w[ST_WORDS - 1] == ~seq;
}

/* What a consumer learned; both sides fill it the same way. */
void stream_consume(bt_result_t *r, void *block, uint64_t arg)
{
	(void)arg;
	r->errors += !stream_verify(block, r->count);
	r->check += r->count;
	r->count++;
}

/* ---- libtrindle ------------------------------------------------------- */

/* The consumer checks each block and moves it back to the root. */
static void st_consumer(trindle_pipe_t input)
{
	bt_relay(input, stream_consume, true);
}

static int st_run(bt_feed_t *f, bt_group_t *g, bench_sample_t *s)
{
	return bt_feed_one(f, g, st_consumer, ST_POOL + 4, bt_take_back,
			"stream", s);
}

int stream_trindle(const bench_opts_t *opts, bench_sample_t *s)
{
	bt_feed_t f = { .total = st_messages(opts), .stamp = stream_stamp };

	return bt_feed_root(&f, ST_POOL, BENCH_BLOCK, ST_POOL, 1, st_run, s);
}

/* ---- pthreads --------------------------------------------------------- */

typedef struct st_twin {
	bq_t to_consumer, back;
	void *pool[ST_POOL];
	size_t nfree;
	uint64_t messages;
	bt_result_t res;             /* the consumer's, read after join */
} st_twin_t;

static void *st_consumer_single(void *arg)
{
	st_twin_t *t = arg;

	while (t->res.count < t->messages) {
		void *block = bq_pop(&t->to_consumer);

		stream_consume(&t->res, block, 0);
		bq_push(&t->back, block);
	}
	return NULL;
}

/* Takes everything queued in one lock, then checks and hands back 64
 * at a time, each run in one lock. */
static void *st_consumer_batched(void *arg)
{
	st_twin_t *t = arg;
	void *batch[ST_POOL];

	while (t->res.count < t->messages) {
		size_t n = bq_pop_many(&t->to_consumer, batch, ST_POOL);

		for (size_t k = 0; k < n; k += BQ_RUN) {
			size_t run = n - k < BQ_RUN ? n - k : BQ_RUN;

			for (size_t i = k; i < k + run; i++)
				stream_consume(&t->res, batch[i], 0);
			bq_push_many(&t->back, batch + k, run);
		}
	}
	return NULL;
}

/* One lock per item: push while blocks are free, else wait for one. */
static void st_produce_single(st_twin_t *t)
{
	uint64_t sent = 0, returned = 0;

	while (returned < t->messages) {
		if (t->nfree > 0 && sent < t->messages) {
			void *block = t->pool[--t->nfree];

			stream_stamp(block, sent++, 0);
			bq_push(&t->to_consumer, block);
		} else {
			t->pool[t->nfree++] = bq_pop(&t->back);
			returned++;
		}
	}
}

/*
 * Up to 64 per lock, shaped like the libtrindle producer's loop: stamp and
 * push up to 64 free blocks, then take back everything that has returned
 * (waiting only when no block is free).
 */
static void st_produce_batched(st_twin_t *t)
{
	uint64_t sent = 0, returned = 0;
	void *batch[BQ_RUN];

	while (returned < t->messages) {
		size_t k = 0, n, room;

		while (k < BQ_RUN && t->nfree > 0 && sent < t->messages) {
			batch[k] = t->pool[--t->nfree];
			stream_stamp(batch[k++], sent++, 0);
		}
		if (k)
			bq_push_many(&t->to_consumer, batch, k);
		room = ST_POOL - t->nfree;
		if (t->nfree > 0 && sent < t->messages)
			n = bq_try_pop_many(&t->back, t->pool + t->nfree, room);
		else
			n = bq_pop_many(&t->back, t->pool + t->nfree, room);
		t->nfree += n;
		returned += n;
	}
}

static void st_twin_init(st_twin_t *t, uint64_t messages)
{
	memset(t, 0, sizeof *t);
	t->messages = messages;
	for (; t->nfree < ST_POOL; t->nfree++)
		t->pool[t->nfree] = bench_block(BENCH_BLOCK);
	bq_init(&t->to_consumer, ST_POOL + 4);
	bq_init(&t->back, ST_POOL);
}

static void st_twin_fini(st_twin_t *t)
{
	for (size_t i = 0; i < t->nfree; i++)
		free(t->pool[i]);
	bq_destroy(&t->to_consumer);
	bq_destroy(&t->back);
}

static int st_twin(uint64_t messages, bool batched, bench_sample_t *s)
{
	st_twin_t *t = bench_block(sizeof *t);
	pthread_t consumer;
	double t0;
	int rc = -1;

	st_twin_init(t, messages);
	if (bench_thread(&consumer, batched ? st_consumer_batched
				: st_consumer_single, t) != 0)
		goto out;
	t0 = bench_now();
	if (batched)
		st_produce_batched(t);
	else
		st_produce_single(t);
	s->seconds = bench_now() - t0;
	s->ops = messages;
	pthread_join(consumer, NULL);
	s->check = t->res.check;
	rc = t->res.errors || t->res.count != messages
		? bench_fail("stream", "consumer saw bad blocks") : 0;
out:
	st_twin_fini(t);
	free(t);
	return rc;
}

int stream_twin_batched(uint64_t messages, bench_sample_t *s)
{
	return st_twin(messages, true, s);
}

int stream_pthreads(const bench_opts_t *opts, bench_sample_t *s)
{
	return st_twin(st_messages(opts), false, s);
}

int stream_pthreads_batched(const bench_opts_t *opts, bench_sample_t *s)
{
	return st_twin(st_messages(opts), true, s);
}
