/* SPDX-License-Identifier: MIT */
/*
 * share: what read-only sharing costs.  The stream again, but the
 * producer *sends* each segment without releasing it: while the consumer
 * reads it, both hold it, so neither may write it (the runtime takes WRITE
 * away from the producer).  The consumer checks the block and releases it;
 * the producer, sole holder again, gets WRITE back with a notice
 * { NULL, segment } and reuses the block.  Every message thus costs the
 * protection changes a move avoids.
 *
 * The pthreads twin cannot share read-only at all: it is the batched
 * stream (pointers through two queues, 64 per lock, no protection).
 */
#include "bench.h"

#include <stdlib.h>
#include <string.h>

#define SH_POOL 256

static uint64_t sh_messages(const bench_opts_t *opts)
{
	return bench_size(opts, 50000, 1000);
}

/* ---- libtrindle ------------------------------------------------------- */

/* The consumer checks each block and releases it, which hands WRITE back
 * to the producer.  It never sends on the back pipe it is given: holding
 * it lets the producer's sync wait for notices while the consumer lives. */
static void sh_consumer(trindle_pipe_t input)
{
	bt_relay(input, stream_consume, false);
}

typedef struct sh_prod {
	trindle_segment_t all[SH_POOL];   /* every segment, to release */
	trindle_segment_t pool[SH_POOL];  /* the ones we hold alone */
	size_t nfree;
	uint64_t sent, returned, messages;
} sh_prod_t;

/* Takes in one delivery: a segment we hold alone again, or a group one. */
static int sh_take(sh_prod_t *p, bt_group_t *g, const trindle_message_t *m,
		bt_out_t *out)
{
	if (m->address == NULL && m->content) {
		if (!(trindle_access(m->content) & TRINDLE_ACCESS_WRITE))
			return bench_fail("share", "sole holder without WRITE");
		p->pool[p->nfree++] = m->content;
		p->returned++;
		return 0;
	}
	return bt_group_note(g, m, out) ? 0
		: bench_fail("share", "stray message");
}

static int sh_produce(sh_prod_t *p, bt_group_t *g, trindle_pipe_t consumer,
		trindle_pipe_t back)
{
	bt_out_t out = { 0 };
	bt_in_t in;

	while (p->returned < p->messages) {
		bool more;

		while (out.count < BENCH_BATCH && p->nfree > 0 &&
				p->sent < p->messages) {
			trindle_segment_t seg = p->pool[--p->nfree];

			stream_stamp(seg, p->sent++);
			bt_send(&out, consumer, seg);
		}
		more = p->nfree > 0 && p->sent < p->messages;
		bt_recv(&out, back);
		if (bt_sync(&out, &in, more ? 0 : -1) != 0)
			return -1;
		for (size_t k = 0; k < in.count; k++)
			if (sh_take(p, g, &in.msg[k], &out) != 0)
				return -1;
	}
	return bt_flush(&out);
}

static int sh_run(sh_prod_t *p, bt_group_t *g, trindle_pipe_t back,
		bench_sample_t *s)
{
	trindle_pipe_t consumer = bt_group_launch(g, sh_consumer, SH_POOL + 4);
	double t0;

	if (!consumer || bt_relay_setup(consumer, p->messages, 0, back) != 0)
		return -1;
	t0 = bench_now();
	if (sh_produce(p, g, consumer, back) != 0)
		return -1;
	s->seconds = bench_now() - t0;
	s->ops = p->messages;
	if (bt_group_verify(g, "share", p->messages) != 0)
		return -1;
	s->check = g->sum.check;
	return 0;
}

int share_trindle(const bench_opts_t *opts, bench_sample_t *s)
{
	sh_prod_t *p = calloc(1, sizeof *p);
	trindle_pipe_t back = trindle_pipe(1);
	bt_out_t out = { 0 };
	bt_group_t g;
	size_t made;
	int rc = -1;

	if (!p || !back || bt_group_init(&g, 1) != 0)
		goto out;
	p->messages = sh_messages(opts);
	made = p->nfree = bt_segments(p->all, SH_POOL, BENCH_BLOCK);
	memcpy(p->pool, p->all, sizeof p->pool);
	if (made == SH_POOL)
		rc = sh_run(p, &g, back, s);
	bt_release_all(p->all, made);
	bt_group_destroy(&g);
out:
	if (back)
		bt_release(&out, back);
	bt_flush(&out);
	free(p);
	return rc;
}

/* ---- pthreads --------------------------------------------------------- */

int share_pthreads(const bench_opts_t *opts, bench_sample_t *s)
{
	return stream_twin_batched(sh_messages(opts), s);
}
