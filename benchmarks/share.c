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

/* Takes in one delivery: a segment we hold alone again, or a group one. */
static int sh_take(bt_feed_t *f, const trindle_message_t *m, bt_out_t *out,
		void *group)
{
	if (m->address == NULL && m->content) {
		if (!(trindle_access(m->content) & TRINDLE_ACCESS_WRITE))
			return bench_fail("share", "sole holder without WRITE");
		bt_feed_return(f, m->content);
		return 0;
	}
	return bt_group_note(group, m, out) ? 0
		: bench_fail("share", "stray message");
}

/* The root feeds the stream with .keep: it sends each block and keeps it,
 * which is the sharing measured here. */
static int sh_run(bt_feed_t *f, bt_group_t *g, bench_sample_t *s)
{
	return bt_feed_one(f, g, sh_consumer, SH_POOL + 4, sh_take, "share",
			s);
}

int share_trindle(const bench_opts_t *opts, bench_sample_t *s)
{
	/* .keep: segments out with the consumer are still ours, and
	 * bt_feed_root releases them all. */
	bt_feed_t f = { .total = sh_messages(opts), .keep = true,
		.stamp = stream_stamp };

	return bt_feed_root(&f, SH_POOL, BENCH_BLOCK, 1, 1, sh_run, s);
}

/* ---- pthreads --------------------------------------------------------- */

int share_pthreads(const bench_opts_t *opts, bench_sample_t *s)
{
	return stream_twin_batched(sh_messages(opts), s);
}
