/* SPDX-License-Identifier: MIT */
/*
 * ping-pong: one 4 KiB block goes back and forth between two processes;
 * the figure is the round-trip time.  Each side bumps a counter in the
 * block on every hop, so the final count proves every hop happened.
 *
 * libtrindle: the root moves the segment to an echo worker, which moves
 * it back through the root's pipe; one trindle_sync per hop.
 * pthreads: a pointer handed through two bounded queues.
 */
#include "bench.h"

#include <stdlib.h>

#define PP_QUEUE 4

static uint64_t pp_rounds(const bench_opts_t *opts)
{
	return bench_size(opts, 10000, 100);
}

/* Bumps the counter that must read `expect`; false if it did not. */
static bool bump(void *block, uint64_t expect)
{
	uint64_t *counter = block;

	return (*counter)++ == expect;
}

/* ---- libtrindle ------------------------------------------------------- */

/* The echo bumps the counter on each hop and moves the block back. */
static void pp_bump(bt_result_t *res, void *seg, uint64_t arg)
{
	(void)arg;
	res->errors += !bump(seg, 2 * res->count + 1);
	res->count++;
}

static void pp_echo(trindle_pipe_t input)
{
	bt_relay(input, pp_bump, true);
}

/* Waits until the block comes back through `back`. */
static trindle_segment_t pp_wait(bt_group_t *g, bt_out_t *out,
		trindle_pipe_t back)
{
	trindle_segment_t got = NULL;
	bt_in_t in;

	while (!got) {
		bt_recv(out, back);
		if (bt_sync(out, &in, -1) != 0)
			return NULL;
		for (size_t k = 0; k < in.count; k++) {
			if (in.msg[k].address == back && in.msg[k].content)
				got = in.msg[k].content;
			else
				bt_group_note(g, &in.msg[k], out);
		}
	}
	return got;
}

static int pp_rounds_trindle(bt_group_t *g, trindle_pipe_t echo,
		trindle_pipe_t back, trindle_segment_t seg, uint64_t rounds,
		bench_sample_t *s)
{
	bt_out_t out;
	double t0 = bench_now();

	bt_out_init(&out);
	for (uint64_t i = 0; i < rounds; i++) {
		if (!bump(seg, 2 * i))
			return bench_fail("ping-pong", "lost a hop");
		bt_move(&out, echo, seg);
		seg = pp_wait(g, &out, back);
		if (!seg)
			return -1;
	}
	s->seconds = bench_now() - t0;
	s->ops = rounds;
	s->check = *(uint64_t *)seg;
	bt_release(&out, seg);
	return bt_flush(&out);
}

int ping_pong_trindle(const bench_opts_t *opts, bench_sample_t *s)
{
	uint64_t rounds = pp_rounds(opts);
	trindle_pipe_t back = trindle_pipe(PP_QUEUE), echo;
	trindle_segment_t seg = bt_segment(BENCH_BLOCK);
	bt_out_t out;
	bt_group_t g;
	int rc = -1;

	bt_out_init(&out);
	if (!back || !seg || bt_group_init(&g, 1) != 0)
		return -1;
	echo = bt_group_launch(&g, pp_echo, PP_QUEUE);
	if (echo && bt_relay_setup(echo, rounds, 0, back) == 0 &&
	    pp_rounds_trindle(&g, echo, back, seg, rounds, s) == 0 &&
	    bt_group_verify(&g, "ping-pong", rounds) == 0)
		rc = 0;
	bt_group_destroy(&g);
	bt_release(&out, back);
	bt_flush(&out);
	return rc;
}

/* ---- pthreads --------------------------------------------------------- */

typedef struct pp_twin {
	bq_t to_echo, back;
	uint64_t rounds, errors;
} pp_twin_t;

static void *pp_echo_thread(void *arg)
{
	pp_twin_t *t = arg;

	for (uint64_t i = 0; i < t->rounds; i++) {
		void *block = bq_pop(&t->to_echo);

		t->errors += !bump(block, 2 * i + 1);
		bq_push(&t->back, block);
	}
	return NULL;
}

static void pp_rounds_pthreads(pp_twin_t *t, void **blockp,
		bench_sample_t *s)
{
	void *block = *blockp;
	double t0 = bench_now();

	for (uint64_t i = 0; i < t->rounds; i++) {
		t->errors += !bump(block, 2 * i);
		bq_push(&t->to_echo, block);
		block = bq_pop(&t->back);
	}
	s->seconds = bench_now() - t0;
	s->ops = t->rounds;
	s->check = *(uint64_t *)block;
	*blockp = block;
}

int ping_pong_pthreads(const bench_opts_t *opts, bench_sample_t *s)
{
	pp_twin_t t = { .rounds = pp_rounds(opts) };
	void *block = bench_block(BENCH_BLOCK);
	pthread_t echo;
	int rc = -1;

	bq_init(&t.to_echo, PP_QUEUE);
	bq_init(&t.back, PP_QUEUE);
	if (bench_thread(&echo, pp_echo_thread, &t) == 0) {
		/* The last hop leaves the block with this thread. */
		pp_rounds_pthreads(&t, &block, s);
		pthread_join(echo, NULL);
		rc = t.errors ? bench_fail("ping-pong", "bad hops") : 0;
	}
	bq_destroy(&t.back);
	bq_destroy(&t.to_echo);
	free(block);
	return rc;
}
