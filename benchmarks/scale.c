/* SPDX-License-Identifier: MIT */
/*
 * scale-ring: a ring of 1,000 processes passes a token around 100 times;
 * the figure is the time per hop.  The token is a 4 KiB block; each
 * process counts the hop in it and adds its own number, and the process
 * that makes the last counted hop marks it "stop".  The stop lap lets
 * every process end in turn (it is timed too: 101 laps on both sides), and
 * the last one hands the token to the root.
 *
 * scale-segments: 100,000 4 KiB segments made, all live at once, each
 * written, then read back and released, 64 releases per sync; against
 * calloc()/free() of 4 KiB blocks.  The figure is the time per block.
 */
#include "bench.h"

#include <stdlib.h>

#define RING_QUEUE 4

typedef struct ring_cfg {
	uint64_t index, size, hops;  /* hops: counted hops before "stop" */
} ring_cfg_t;

typedef struct ring_token {
	uint64_t hops, sum, stop;
} ring_token_t;

static void ring_size(const bench_opts_t *opts, uint64_t *size,
		uint64_t *laps)
{
	*size = bench_size(opts, 1000, 20);
	*laps = bench_size(opts, 100, 3);
}

/*
 * One hop of the token at process cfg->index.  On the stop lap *done is
 * set (the process ends once it has passed the token on).  Returns true
 * when the token goes to the root instead of the next process: at the end
 * of the stop lap.
 */
static bool ring_hop(ring_token_t *t, const ring_cfg_t *cfg, bool *done)
{
	*done = false;
	if (t->stop) {
		*done = true;
		return cfg->index == cfg->size - 1;
	}
	t->hops++;
	t->sum += cfg->index + 1;
	if (t->hops == cfg->hops)
		t->stop = 1;
	return false;
}

static uint64_t ring_expect(uint64_t size, uint64_t laps)
{
	return laps * size * (size + 1) / 2 + size * laps;
}

/* ---- libtrindle ring -------------------------------------------------- */

static void ring_worker(trindle_pipe_t input)
{
	trindle_pipe_t pipes[2];         /* the next process, the root */
	bt_out_t out;
	bool done = false;
	ring_cfg_t cfg;
	bt_in_t in;

	bt_out_init(&out);
	if (bt_start(input, &cfg, sizeof cfg, pipes, 2) != 0)
		trindle_abort(NULL);
	while (!done) {
		bt_recv(&out, input);
		if (bt_sync(&out, &in, -1) != 0)
			trindle_abort(NULL);
		for (size_t k = 0; k < in.count; k++) {
			trindle_message_t *m = &in.msg[k];
			bool leave;

			if (m->address != input || !m->content)
				continue;
			leave = ring_hop(m->content, &cfg, &done);
			bt_move(&out, pipes[leave], m->content);
		}
	}
	if (bt_flush(&out) != 0)
		trindle_abort(NULL);
	bt_finish(NULL);
}

static int ring_wire(bt_group_t *g, trindle_pipe_t back, uint64_t size,
		uint64_t laps)
{
	for (uint64_t i = 0; i < size; i++)
		if (!bt_group_launch(g, ring_worker, RING_QUEUE))
			return -1;
	for (uint64_t i = 0; i < size; i++) {
		ring_cfg_t cfg = { i, size, size * laps };
		trindle_pipe_t pipes[2] = { g->workers[(i + 1) % size], back };

		if (bt_setup(g->workers[i], &cfg, sizeof cfg, pipes, 2) != 0)
			return -1;
	}
	return 0;
}

/* Sends the token round and waits for it on back. */
static ring_token_t *ring_round(bt_group_t *g, trindle_pipe_t back,
		trindle_segment_t token)
{
	ring_token_t *got = NULL;
	bt_out_t out;
	bt_in_t in;

	bt_out_init(&out);
	bt_move(&out, g->workers[0], token);
	while (!got) {
		bt_recv(&out, back);
		if (bt_sync(&out, &in, -1) != 0)
			return NULL;
		for (size_t k = 0; k < in.count; k++) {
			if (in.msg[k].address == back && in.msg[k].content)
				got = in.msg[k].content;
			else
				bt_group_note(g, &in.msg[k], &out);
		}
	}
	return bt_flush(&out) == 0 ? got : NULL;
}

int scale_ring_trindle(const bench_opts_t *opts, bench_sample_t *s)
{
	trindle_pipe_t back = trindle_pipe(RING_QUEUE);
	trindle_segment_t token = bt_segment(BENCH_BLOCK);
	ring_token_t *got = NULL;
	uint64_t size, laps;
	bt_out_t out;
	bt_group_t g;
	double t0;

	bt_out_init(&out);
	ring_size(opts, &size, &laps);
	if (!back || !token || bt_group_init(&g, size) != 0)
		return -1;
	if (ring_wire(&g, back, size, laps) == 0) {
		t0 = bench_now();
		got = ring_round(&g, back, token);
		s->seconds = bench_now() - t0;
		s->ops = size * (laps + 1);
	}
	if (got && bt_group_wait(&g, false) == 0) {
		s->check = got->sum + got->hops;
		bt_release(&out, got);
	}
	bt_group_destroy(&g);
	bt_release(&out, back);
	bt_flush(&out);
	if (!got || s->check != ring_expect(size, laps))
		return bench_fail("scale-ring", "the token went astray");
	return 0;
}

/* ---- pthreads ring ---------------------------------------------------- */

typedef struct ring_twin {
	bq_t *q;                     /* q[i]: into thread i; q[size]: root */
	uint64_t size;
} ring_twin_t;

typedef struct ring_thread {
	ring_twin_t *twin;
	ring_cfg_t cfg;
} ring_thread_t;

static void *ring_twin_thread(void *arg)
{
	ring_thread_t *th = arg;
	ring_twin_t *t = th->twin;
	uint64_t next = (th->cfg.index + 1) % t->size;
	bool done = false;

	while (!done) {
		ring_token_t *tok = bq_pop(&t->q[th->cfg.index]);
		bool leave = ring_hop(tok, &th->cfg, &done);

		bq_push(&t->q[leave ? t->size : next], tok);
	}
	return NULL;
}

int scale_ring_pthreads(const bench_opts_t *opts, bench_sample_t *s)
{
	ring_twin_t t;
	uint64_t size, laps, started = 0;
	ring_thread_t *th;
	pthread_t *tid;
	ring_token_t *tok = bench_block(BENCH_BLOCK);
	double t0;

	ring_size(opts, &size, &laps);
	t.size = size;
	t.q = bench_block((size + 1) * sizeof *t.q);
	th = bench_block(size * sizeof *th);
	tid = bench_block(size * sizeof *tid);
	for (uint64_t i = 0; i <= size; i++)
		bq_init(&t.q[i], RING_QUEUE);
	for (; started < size; started++) {
		th[started] = (ring_thread_t){ &t, { started, size, size * laps } };
		if (bench_thread(&tid[started], ring_twin_thread,
				&th[started]) != 0)
			exit(1);     /* the ring cannot close: nothing to measure */
	}
	t0 = bench_now();
	bq_push(&t.q[0], tok);
	tok = bq_pop(&t.q[size]);
	s->seconds = bench_now() - t0;
	s->ops = size * (laps + 1);
	s->check = tok->sum + tok->hops;
	for (uint64_t i = 0; i < size; i++)
		pthread_join(tid[i], NULL);
	for (uint64_t i = 0; i <= size; i++)
		bq_destroy(&t.q[i]);
	free(t.q);
	free(th);
	free(tid);
	free(tok);
	return s->check == ring_expect(size, laps) ? 0
		: bench_fail("scale-ring", "the token went astray");
}

/* ---- scale-segments --------------------------------------------------- */

static uint64_t seg_count(const bench_opts_t *opts)
{
	return bench_size(opts, 100000, 2000);
}

/* Writes a block's number into it; reading it back proves it was kept. */
static void seg_mark(void *block, uint64_t i)
{
	uint64_t *w = block;

	w[0] = i + 1;
	w[BENCH_BLOCK / sizeof *w - 1] = bench_mix(i);
}

static uint64_t seg_read(const void *block)
{
	const uint64_t *w = block;

	return w[0] + w[BENCH_BLOCK / sizeof *w - 1];
}

static int seg_release_all(trindle_segment_t *segs, uint64_t n,
		uint64_t *check)
{
	bt_out_t out;

	bt_out_init(&out);
	for (uint64_t i = 0; i < n; i++) {
		*check += seg_read(segs[i]);
		bt_release(&out, segs[i]);
		if (out.b.count == BENCH_BATCH && bt_flush(&out) != 0)
			return -1;
	}
	return bt_flush(&out);
}

int scale_segments_trindle(const bench_opts_t *opts, bench_sample_t *s)
{
	uint64_t n = seg_count(opts), made = 0;
	trindle_segment_t *segs = bench_block(n * sizeof *segs);
	trindle_buffer_t zeros = { BENCH_BLOCK, NULL };
	double t0 = bench_now();
	int rc;

	for (; made < n; made++) {
		if (!(segs[made] = trindle_allocate(1, &zeros)))
			break;
		seg_mark(segs[made], made);
	}
	s->check = 0;
	rc = seg_release_all(segs, made, &s->check);
	s->seconds = bench_now() - t0;
	s->ops = n;
	free(segs);
	if (made < n)
		return bench_fail("scale-segments", "segment %lu of %lu: "
				"allocation failed", (unsigned long)made,
				(unsigned long)n);
	return rc;
}

int scale_segments_pthreads(const bench_opts_t *opts, bench_sample_t *s)
{
	uint64_t n = seg_count(opts);
	void **blocks = bench_block(n * sizeof *blocks);
	double t0 = bench_now();

	for (uint64_t i = 0; i < n; i++) {
		if (!(blocks[i] = calloc(1, BENCH_BLOCK)))
			exit(1);
		seg_mark(blocks[i], i);
	}
	s->check = 0;
	for (uint64_t i = 0; i < n; i++) {
		s->check += seg_read(blocks[i]);
		free(blocks[i]);
	}
	s->seconds = bench_now() - t0;
	s->ops = n;
	free(blocks);
	return 0;
}
