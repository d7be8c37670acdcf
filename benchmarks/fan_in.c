/* SPDX-License-Identifier: MIT */
/*
 * fan-in: 2 or 4 producers stream 4 KiB blocks into one consumer, which
 * checks each block and hands it back to the producer it came from; the
 * figure is messages per second through the shared pipe.
 *
 * libtrindle: producers are workers that move up to 64 segments per sync
 * into the root's pipe; the root moves each one back into its producer's
 * input pipe.  pthreads: producer threads push up to 64 per lock into one
 * shared bounded queue and take back all their returned blocks per lock;
 * the consumer takes everything queued per lock and hands blocks back
 * through one queue per producer, up to 64 per lock.  Every producer
 * makes its own pool of blocks once it is told to start, on both sides.
 */
#include "bench.h"

#include <stdlib.h>

#define FI_POOL 128                 /* blocks per producer */
#define FI_MAX 4
#define FI_WORDS (BENCH_BLOCK / sizeof(uint64_t))

typedef struct fi_cfg {
	uint64_t index, messages;   /* this producer's number and share */
} fi_cfg_t;

static uint64_t fi_messages(const bench_opts_t *opts)
{
	return bench_size(opts, 1000000, 2000);
}

/* Producer `index` stamps its seq-th block. */
static void fi_stamp(void *block, uint64_t seq, uint64_t index)
{
	uint64_t *w = block;

	w[0] = seq;
	w[1] = index;
	w[FI_WORDS - 1] = ~seq;
}

/* The consumer's checks: per-producer order and intact stamps. */
typedef struct fi_sink {
	uint64_t next[FI_MAX];
	size_t producers;
	bt_result_t res;
} fi_sink_t;

/* Returns the producer the block goes back to, or -1 if it is garbage. */
static int fi_consume(fi_sink_t *k, const void *block)
{
	const uint64_t *w = block;
	uint64_t p = w[1];

	if (p >= k->producers || w[0] != k->next[p] ||
			w[FI_WORDS - 1] != ~w[0]) {
		k->res.errors++;
		return -1;
	}
	k->next[p]++;
	k->res.check += w[0] * k->producers + p;
	k->res.count++;
	return (int)p;
}

/* ---- libtrindle ------------------------------------------------------- */

/* A producer takes back each block the root returns; other deliveries
 * are notices it has no use for. */
static int fi_take(bt_feed_t *f, const trindle_message_t *m, bt_out_t *out,
		void *ctx)
{
	(void)out;
	(void)ctx;
	if (m->address == f->back && m->content)
		bt_feed_return(f, m->content);
	return 0;
}

static void fi_producer(trindle_pipe_t input)
{
	trindle_segment_t pool[FI_POOL];
	bt_feed_t f = { .pool = pool, .back = input, .stamp = fi_stamp };
	bt_result_t res = { 0 };
	fi_cfg_t cfg;

	if (bt_start(input, &cfg, sizeof cfg, &f.to, 1) != 0)
		trindle_abort(NULL);
	f.total = cfg.messages;
	f.arg = cfg.index;
	f.nfree = bt_segments(pool, FI_POOL, BENCH_BLOCK);
	if (f.nfree != FI_POOL || bt_feed_run(&f, fi_take, NULL) != 0)
		trindle_abort(NULL);
	bt_release_all(pool, f.nfree);
	res.count = f.returned;
	bt_finish(&res);
}

static int fi_consume_trindle(fi_sink_t *k, bt_group_t *g, trindle_pipe_t sink,
		uint64_t messages)
{
	bt_out_t out;
	bt_in_t in;

	bt_out_init(&out);
	while (k->res.count + k->res.errors < messages) {
		bt_recv(&out, sink);
		if (bt_sync(&out, &in, -1) != 0)
			return -1;
		for (size_t i = 0; i < in.count; i++) {
			trindle_message_t *m = &in.msg[i];
			int p;

			if (m->address != sink || !m->content) {
				if (!bt_group_note(g, m, &out))
					return bench_fail("fan-in", "stray");
				continue;
			}
			p = fi_consume(k, m->content);
			if (p < 0)
				return bench_fail("fan-in", "bad block");
			bt_move(&out, g->workers[p], m->content);
		}
	}
	return bt_flush(&out);
}

static int fi_run_trindle(size_t producers, uint64_t messages,
		bt_group_t *g, trindle_pipe_t sink, bench_sample_t *s)
{
	fi_sink_t k = { .producers = producers };
	double t0;

	for (size_t p = 0; p < producers; p++)
		if (!bt_group_launch(g, fi_producer, FI_POOL + 4))
			return -1;
	t0 = bench_now();
	for (size_t p = 0; p < producers; p++) {
		fi_cfg_t cfg = { p, messages / producers };

		if (bt_setup(g->workers[p], &cfg, sizeof cfg, &sink, 1) != 0)
			return -1;
	}
	if (fi_consume_trindle(&k, g, sink, messages) != 0)
		return -1;
	s->seconds = bench_now() - t0;
	s->ops = messages;
	s->check = k.res.check;
	if (bt_group_wait(g, true) != 0)
		return -1;
	return g->sum.count == messages ? 0
		: bench_fail("fan-in", "producers lost blocks");
}

static int fi_trindle(size_t producers, const bench_opts_t *opts,
		bench_sample_t *s)
{
	uint64_t messages = fi_messages(opts) / producers * producers;
	trindle_pipe_t sink = trindle_pipe(producers * FI_POOL);
	bt_out_t out;
	bt_group_t g;
	int rc = -1;

	bt_out_init(&out);
	if (sink && bt_group_init(&g, producers) == 0) {
		rc = fi_run_trindle(producers, messages, &g, sink, s);
		bt_group_destroy(&g);
	}
	if (sink)
		bt_release(&out, sink);
	bt_flush(&out);
	return rc;
}

int fan_in_2_trindle(const bench_opts_t *opts, bench_sample_t *s)
{
	return fi_trindle(2, opts, s);
}

int fan_in_4_trindle(const bench_opts_t *opts, bench_sample_t *s)
{
	return fi_trindle(4, opts, s);
}

/* ---- pthreads --------------------------------------------------------- */

typedef struct fi_twin {
	bq_t sink;
	bq_t back[FI_MAX];
	uint64_t share;              /* messages per producer */
} fi_twin_t;

typedef struct fi_thread {
	fi_twin_t *twin;
	uint64_t index, returned;
} fi_thread_t;

/* A sentinel on a producer's return queue that tells it to start. */
static char fi_go;

static void fi_twin_produce(fi_thread_t *th, void **pool, size_t nfree)
{
	fi_twin_t *t = th->twin;
	uint64_t sent = 0;
	void *batch[BENCH_BATCH];

	while (th->returned < t->share) {
		size_t k = 0, n;

		while (k < BENCH_BATCH && nfree > 0 && sent < t->share) {
			batch[k] = pool[--nfree];
			fi_stamp(batch[k++], sent++, th->index);
		}
		if (k)
			bq_push_many(&t->sink, batch, k);
		/* Take back everything that has returned. */
		if (nfree > 0 && sent < t->share)
			n = bq_try_pop_many(&t->back[th->index], pool + nfree,
					FI_POOL - nfree);
		else
			n = bq_pop_many(&t->back[th->index], pool + nfree,
					FI_POOL - nfree);
		nfree += n;
		th->returned += n;
	}
}

static void *fi_twin_producer(void *arg)
{
	fi_thread_t *th = arg;
	void *pool[FI_POOL];

	if (bq_pop(&th->twin->back[th->index]) != &fi_go)
		abort();
	for (size_t i = 0; i < FI_POOL; i++)
		pool[i] = bench_block(BENCH_BLOCK);
	fi_twin_produce(th, pool, FI_POOL);
	for (size_t i = 0; i < FI_POOL; i++)
		free(pool[i]);
	return NULL;
}

/* Hands back[start, end) of batch, whose blocks come from producer p. */
static void fi_hand_back(fi_twin_t *t, void **batch, size_t start, size_t end,
		int p)
{
	if (end > start)
		bq_push_many(&t->back[p], batch + start, end - start);
}

/* Takes everything queued in one lock, then checks 64 blocks at a time
 * and hands each run that goes to one producer back in one lock. */
static int fi_twin_consume(fi_twin_t *t, fi_sink_t *k, uint64_t messages)
{
	void *batch[FI_MAX * FI_POOL];

	while (k->res.count < messages) {
		size_t n = bq_pop_many(&t->sink, batch, k->producers * FI_POOL);

		for (size_t c = 0; c < n; c += BQ_RUN) {
			size_t end = n - c < BQ_RUN ? n : c + BQ_RUN, start = c;
			int run = -1;

			for (size_t i = c; i < end; i++) {
				int p = fi_consume(k, batch[i]);

				if (p < 0)
					return bench_fail("fan-in",
							"bad block");
				if (p != run && i > start) {
					fi_hand_back(t, batch, start, i, run);
					start = i;
				}
				run = p;
			}
			fi_hand_back(t, batch, start, end, run);
		}
	}
	return 0;
}

static int fi_pthreads(size_t producers, const bench_opts_t *opts,
		bench_sample_t *s)
{
	uint64_t messages = fi_messages(opts) / producers * producers;
	fi_twin_t t = { .share = messages / producers };
	fi_thread_t th[FI_MAX];
	pthread_t tid[FI_MAX];
	fi_sink_t k = { .producers = producers };
	size_t started = 0;
	double t0;
	int rc = -1;

	bq_init(&t.sink, producers * FI_POOL);
	for (size_t p = 0; p < producers; p++)
		bq_init(&t.back[p], FI_POOL + 4);
	for (; started < producers; started++) {
		th[started] = (fi_thread_t){ &t, started, 0 };
		if (bench_thread(&tid[started], fi_twin_producer,
				&th[started]) != 0)
			break;
	}
	t0 = bench_now();
	for (size_t p = 0; p < started; p++)
		bq_push(&t.back[p], &fi_go);
	if (started == producers && fi_twin_consume(&t, &k, messages) == 0) {
		s->seconds = bench_now() - t0;
		s->ops = messages;
		s->check = k.res.check;
		rc = 0;
	}
	for (size_t p = 0; p < started; p++)
		pthread_join(tid[p], NULL);
	for (size_t p = 0; p < producers; p++)
		bq_destroy(&t.back[p]);
	bq_destroy(&t.sink);
	return rc;
}

int fan_in_2_pthreads(const bench_opts_t *opts, bench_sample_t *s)
{
	return fi_pthreads(2, opts, s);
}

int fan_in_4_pthreads(const bench_opts_t *opts, bench_sample_t *s)
{
	return fi_pthreads(4, opts, s);
}
