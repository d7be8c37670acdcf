/* SPDX-License-Identifier: MIT */
/*
 * bt.c - the libtrindle side's helpers: batches, setup of workers,
 * groups, relay workers and feeds (see bt.h).
 */
#include "bench.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- libtrindle helpers ----------------------------------------------- */

void bt_add_refused(void)
{
	fprintf(stderr, "trindle-bench: outgoing batch overflow (or a NULL "
			"pipe or object): %s\n", strerror(errno));
	abort();
}

/*
 * A failed message may be retried only if it failed for want of queue
 * room (EAGAIN): a send to a live pipe, or the release that completes such
 * a move (ECANCELED, right after its send).  Anything else would fail
 * forever, so it is an error.  out->b holds exactly the failed messages.
 */
static int keep_failed(bt_out_t *out)
{
	trindle_message_t *m = out->b.message;
	size_t kept = 0;

	for (size_t k = 0; k < out->b.count; k++) {
		if (m[k].content == NULL)
			continue;       /* a receive request: asked again later */
		if (m[k].address != NULL) {
			if (trindle_util_error(&m[k]) != EAGAIN)
				return -1;
		} else if (kept == 0 || m[kept - 1].content != m[k].content) {
			return -1;      /* a release that is not half a move */
		}
		m[kept++] = m[k];
	}
	out->b.count = kept;
	return 0;
}

int bt_sync(bt_out_t *out, bt_in_t *in, int64_t timeout_ns)
{
	return bt_sync_max(out, in, BENCH_BATCH, timeout_ns);
}

int bt_sync_max(bt_out_t *out, bt_in_t *in, size_t max, int64_t timeout_ns)
{
	trindle_mailbox_t i = { max, in ? in->msg : NULL };

	if (trindle_util_flush_timeout(&out->b, in ? &i : NULL, timeout_ns) < 0)
		return bench_fail("trindle", "trindle_sync: %s",
				strerror(errno));
	if (in)
		in->count = i.count;
	if (keep_failed(out) != 0)
		return bench_fail("trindle", "a message failed for good");
	return 0;
}

trindle_segment_t bt_segment(size_t bytes)
{
	trindle_buffer_t zeros = { bytes, NULL };
	trindle_segment_t seg = trindle_allocate(1, &zeros);

	if (!seg)
		bench_fail("trindle", "trindle_allocate(%zu): %s", bytes,
				strerror(errno));
	return seg;
}

int bt_flush(bt_out_t *out)
{
	while (out->b.count > 0)
		if (bt_sync(out, NULL, 0) != 0)
			return -1;
	return 0;
}

int bt_setup(trindle_pipe_t worker, const void *cfg, size_t cfg_bytes,
		const trindle_pipe_t *pipes, size_t npipes)
{
	trindle_buffer_t buf = { cfg_bytes, cfg };
	trindle_segment_t seg = trindle_allocate(1, &buf);
	bt_out_t out;

	bt_out_init(&out);
	if (!seg)
		return bench_fail("trindle", "setup segment: %s",
				strerror(errno));
	bt_move(&out, worker, seg);
	for (size_t i = 0; i < npipes; i++)
		bt_send(&out, worker, pipes[i]);
	return bt_flush(&out);
}

/* Receives the next message from input, skipping notices. */
/* The next message through input (notices passed over), or -1. */
static int next_message(trindle_pipe_t input, trindle_message_t *m)
{
	m->address = input;
	m->content = trindle_util_next_object(input);
	return m->content ? 0 : -1;
}

int bt_start(trindle_pipe_t input, void *cfg, size_t cfg_bytes,
		trindle_pipe_t *pipes, size_t npipes)
{
	trindle_message_t m;
	bt_out_t out;

	bt_out_init(&out);
	if (next_message(input, &m) != 0 || trindle_measure(m.content)
			!= cfg_bytes)
		return -1;
	memcpy(cfg, m.content, cfg_bytes);
	bt_release(&out, m.content);
	for (size_t i = 0; i < npipes; i++) {
		if (next_message(input, &m) != 0 ||
		    !(trindle_access(m.content) & TRINDLE_ACCESS_SEND))
			return -1;
		pipes[i] = m.content;
	}
	return bt_flush(&out);
}

void bt_finish(const bt_result_t *res)
{
	trindle_buffer_t buf = { sizeof *res, res };

	trindle_exit(res ? trindle_allocate(1, &buf) : NULL);
}

int bt_group_init(bt_group_t *g, size_t capacity)
{
	memset(g, 0, sizeof *g);
	g->workers = calloc(capacity, sizeof *g->workers);
	g->done = trindle_pipe(capacity + 1);
	if (!g->workers || !g->done) {
		free(g->workers);
		return bench_fail("trindle", "group of %zu: %s", capacity,
				strerror(errno));
	}
	g->capacity = capacity;
	return 0;
}

trindle_pipe_t bt_group_launch(bt_group_t *g, trindle_entrypoint_t entry,
		size_t queue_count)
{
	trindle_pipe_t p;

	if (g->n == g->capacity) {
		bench_fail("trindle", "group full");
		return NULL;
	}
	p = trindle_launch(entry, queue_count, g->done, NULL);
	if (!p) {
		bench_fail("trindle", "trindle_launch: %s", strerror(errno));
		return NULL;
	}
	g->workers[g->n++] = p;
	return p;
}

bool bt_group_note(bt_group_t *g, const trindle_message_t *m, bt_out_t *out)
{
	if (m->address == g->done && m->content) {
		if (trindle_measure(m->content) == sizeof(bt_result_t)) {
			const bt_result_t *r = m->content;

			g->sum.count += r->count;
			g->sum.check += r->check;
			g->sum.errors += r->errors;
		}
		g->results++;
		bt_release(out, m->content);
		return true;
	}
	if (m->address && m->address != g->done && !m->content) {
		g->ended++;
		return true;
	}
	return false;
}

int bt_group_wait(bt_group_t *g, bool results)
{
	unsigned long idle = 0;
	bt_out_t out;
	bt_in_t in;

	bt_out_init(&out);
	while (g->ended < g->n || (results && g->results < g->n)) {
		bt_recv(&out, g->done);
		if (bt_sync(&out, &in, -1) != 0)
			return -1;
		for (size_t k = 0; k < in.count; k++)
			if (!bt_group_note(g, &in.msg[k], &out))
				return bench_fail("trindle", "stray message");
		/* Once every worker has let go of done, sync stops waiting;
		 * the last end notices are on their way, but not forever. */
		idle = in.count ? 0 : idle + 1;
		if (idle > 100000000UL)
			return bench_fail("trindle", "%zu of %zu workers "
					"ended, %zu results", g->ended, g->n,
					g->results);
	}
	return bt_flush(&out);
}

void bt_group_destroy(bt_group_t *g)
{
	bt_out_t out;

	bt_out_init(&out);
	bt_release(&out, g->done);
	bt_flush(&out);
	free(g->workers);
}

int bt_group_verify(bt_group_t *g, const char *name, uint64_t count)
{
	if (bt_group_wait(g, true) != 0)
		return -1;
	if (g->sum.errors || g->sum.count != count)
		return bench_fail(name, "workers handled %lu of %lu items, "
				"%lu bad", (unsigned long)g->sum.count,
				(unsigned long)count,
				(unsigned long)g->sum.errors);
	return 0;
}

size_t bt_segments(trindle_segment_t *segs, size_t n, size_t bytes)
{
	size_t made = 0;

	while (made < n && (segs[made] = bt_segment(bytes)))
		made++;
	return made;
}

void bt_release_all(const trindle_segment_t *segs, size_t n)
{
	bt_out_t out;

	bt_out_init(&out);
	for (size_t i = 0; i < n; i++) {
		bt_release(&out, segs[i]);
		if (out.b.count == BENCH_BATCH)
			bt_flush(&out);
	}
	bt_flush(&out);
}

/* ---- relay workers ------------------------------------------------------ */

int bt_relay_setup(trindle_pipe_t worker, uint64_t count, uint64_t arg,
		trindle_pipe_t next)
{
	bt_relay_cfg_t cfg = { count, arg };

	return bt_setup(worker, &cfg, sizeof cfg, &next, 1);
}

/* ---- feeding relays ------------------------------------------------------ */

int bt_take_other(const trindle_message_t *m, bt_out_t *out, void *group)
{
	return bt_group_note(group, m, out) ? 0
		: bench_fail("trindle", "stray message");
}

int bt_feed_root(bt_feed_t *f, size_t npool, size_t bytes, size_t back_items,
		size_t workers, bt_feed_body_fn body, bench_sample_t *s)
{
	/* all: every segment made, for a feed that keeps what it sends. */
	trindle_segment_t *all = calloc(npool, sizeof *all);
	f->pool = calloc(npool, sizeof *f->pool);
	f->back = trindle_pipe(back_items);
	bt_out_t out;
	bt_group_t g;
	int rc = -1;

	bt_out_init(&out);
	if (all && f->pool && f->back && bt_group_init(&g, workers) == 0) {
		size_t made = bt_segments(all, npool, bytes);
		memcpy(f->pool, all, made * sizeof *all);
		f->nfree = made;
		if (made == npool)
			rc = body(f, &g, s);
		if (f->keep)
			bt_release_all(all, made);
		else
			bt_release_all(f->pool, f->nfree);
		bt_group_destroy(&g);
	}
	if (f->back)
		bt_release(&out, f->back);
	bt_flush(&out);
	free(all);
	free(f->pool);
	f->pool = NULL;
	return rc;
}
