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

#define SH_POOL 256

typedef struct sh_cfg {
	uint64_t messages;
} sh_cfg_t;

static uint64_t sh_messages(const bench_opts_t *opts)
{
	return bench_size(opts, 50000, 1000);
}

/* ---- libtrindle ------------------------------------------------------- */

static void sh_consumer(trindle_pipe_t input)
{
	bt_result_t res = { 0 };
	trindle_pipe_t back;
	bt_out_t out = { 0 };
	sh_cfg_t cfg;
	bt_in_t in;

	/* back is never sent on: holding it lets the producer's sync wait
	 * for notices while the consumer is alive. */
	if (bt_start(input, &cfg, sizeof cfg, &back, 1) != 0)
		trindle_abort(NULL);
	while (res.count < cfg.messages) {
		bt_recv(&out, input);
		if (bt_sync(&out, &in, -1) != 0)
			trindle_abort(NULL);
		for (size_t k = 0; k < in.count; k++) {
			trindle_message_t *m = &in.msg[k];

			if (m->address != input || !m->content)
				continue;
			res.errors += !stream_verify(m->content, res.count);
			res.check += res.count++;
			bt_release(&out, m->content);
		}
	}
	if (bt_flush(&out) != 0)
		trindle_abort(NULL);
	bt_finish(&res);
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
	sh_cfg_t cfg = { p->messages };
	trindle_pipe_t consumer = bt_group_launch(g, sh_consumer, SH_POOL + 4);
	double t0;

	if (!consumer || bt_setup(consumer, &cfg, sizeof cfg, &back, 1) != 0)
		return -1;
	t0 = bench_now();
	if (sh_produce(p, g, consumer, back) != 0)
		return -1;
	s->seconds = bench_now() - t0;
	s->ops = p->messages;
	if (bt_group_wait(g, true) != 0)
		return -1;
	if (g->sum.errors || g->sum.count != p->messages)
		return bench_fail("share", "consumer saw %lu bad blocks",
				(unsigned long)g->sum.errors);
	s->check = g->sum.check;
	return 0;
}

int share_trindle(const bench_opts_t *opts, bench_sample_t *s)
{
	sh_prod_t *p = calloc(1, sizeof *p);
	trindle_pipe_t back = trindle_pipe(1);
	bt_out_t out = { 0 };
	bt_group_t g;
	size_t made = 0;
	int rc = -1;

	if (!p || !back || bt_group_init(&g, 1) != 0)
		goto out;
	p->messages = sh_messages(opts);
	for (; made < SH_POOL; made++) {
		p->all[made] = p->pool[made] = bt_segment(BENCH_BLOCK);
		if (!p->all[made])
			break;
	}
	p->nfree = made;
	if (made == SH_POOL)
		rc = sh_run(p, &g, back, s);
	for (size_t i = 0; i < made; i++) {
		bt_release(&out, p->all[i]);
		if (out.count == BENCH_BATCH)
			bt_flush(&out);
	}
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
