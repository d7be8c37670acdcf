/* SPDX-License-Identifier: MIT */
/*
 * bt.h - the libtrindle side's helpers (bt_*).  Included through bench.h,
 * after the runner's types, which bt_feed_one() fills.
 */
#ifndef TRINDLE_BENCH_BT_H
#define TRINDLE_BENCH_BT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <trindle.h>
#include <trindle/util.h>

/* ---- libtrindle helpers ----------------------------------------------- */

/*
 * The loops that run once per message (a relay's, a feed's) are defined
 * here and always inlined, so that the work and take functions a scenario
 * passes in become direct, inlinable calls: the twins' loops call their
 * work directly too, and a call through a pointer per message would charge
 * the harness's cost to libtrindle.
 */
#define BT_LOOP static inline __attribute__((always_inline))

/*
 * An outgoing batch (<trindle/util.h>'s) with its storage: room for
 * BENCH_BATCH moves (a send plus a release each) and a few receive
 * requests.  Set up with bt_out_init(); b.count is how many are queued.
 */
typedef struct bt_out {
	trindle_util_batch_t b;
	trindle_message_t msg[2 * BENCH_BATCH + 8];
} bt_out_t;

static inline void bt_out_init(bt_out_t *out)
{
	trindle_util_batch_init(&out->b, out->msg,
			sizeof out->msg / sizeof out->msg[0]);
}

/* A 64-slot inbox. */
typedef struct bt_in {
	size_t count;
	trindle_message_t msg[BENCH_BATCH];
} bt_in_t;

/* The figures a worker hands back when it ends. */
typedef struct bt_result {
	uint64_t count;      /* items it handled */
	uint64_t check;      /* digest of what it saw */
	uint64_t errors;     /* verification failures */
} bt_result_t;

/* Callers size their batches to fit, and never queue NULL pipes or
 * objects: a refused add is a bench bug, reported before aborting. */
TRINDLE_NORETURN void bt_add_refused(void);

/* trindle_util_add_move/send/release/receive(), which must not fail.
 * Inline, as the util.h calls are: the timed loops pay no call per
 * message. */
static inline void bt_move(bt_out_t *out, trindle_pipe_t pipe,
		trindle_object_t seg)
{
	if (trindle_util_add_move(&out->b, pipe, seg) != 0)
		bt_add_refused();
}

/* A send that keeps the sender's access (sharing). */
static inline void bt_send(bt_out_t *out, trindle_pipe_t pipe,
		trindle_object_t obj)
{
	if (trindle_util_add_send(&out->b, pipe, obj) != 0)
		bt_add_refused();
}

static inline void bt_release(bt_out_t *out, trindle_object_t obj)
{
	if (trindle_util_add_release(&out->b, obj) != 0)
		bt_add_refused();
}

static inline void bt_recv(bt_out_t *out, trindle_pipe_t pipe)
{
	if (trindle_util_add_receive(&out->b, pipe) != 0)
		bt_add_refused();
}
/*
 * trindle_util_flush_timeout(out, in) with in's full capacity.  Failed
 * sends and moves stay in out to be retried by the next call; failed
 * receive requests are dropped (the next batch asks again).  Returns -1
 * when a send failed for another reason than a full pipe or the call
 * itself failed, else 0.
 */
int bt_sync(bt_out_t *out, bt_in_t *in, int64_t timeout_ns);
/* The same, taking at most max (<= BENCH_BATCH) deliveries into in. */
int bt_sync_max(bt_out_t *out, bt_in_t *in, size_t max, int64_t timeout_ns);

/* Sends everything in out, retrying what did not fit yet. */
int bt_flush(bt_out_t *out);

/* A segment of bytes zero bytes, or NULL after reporting why. */
trindle_segment_t bt_segment(size_t bytes);

/* Hands a worker its setup: a segment holding cfg (moved), then the pipes,
 * in that order (bt_start receives them).  Returns 0 or -1. */
int bt_setup(trindle_pipe_t worker, const void *cfg, size_t cfg_bytes,
		const trindle_pipe_t *pipes, size_t npipes);
/* The worker's half: copies the setup out of its first messages. */
int bt_start(trindle_pipe_t input, void *cfg, size_t cfg_bytes,
		trindle_pipe_t *pipes, size_t npipes);
/* Ends the worker, moving *res (if not NULL) to its done pipe. */
TRINDLE_NORETURN void bt_finish(const bt_result_t *res);

/*
 * Workers launched by one root process, all with the group's `done` pipe
 * as their out pipe: they hold SEND on it until they end, so the root can
 * wait on it, and their results arrive there.
 */
typedef struct bt_group {
	trindle_pipe_t done;
	trindle_pipe_t *workers;     /* their input pipes */
	size_t n, capacity;
	size_t ended, results;       /* end notices and results seen */
	bt_result_t sum;             /* the results, added up */
} bt_group_t;

int bt_group_init(bt_group_t *g, size_t capacity);
/* Launches entry with a queue_count input pipe; NULL after reporting. */
trindle_pipe_t bt_group_launch(bt_group_t *g, trindle_entrypoint_t entry,
		size_t queue_count);
/*
 * Takes in a delivery if it belongs to the group (a result on done, or a
 * notice that a pipe the root sends on died, which here only happens when
 * a worker ends).  Result segments are released through out.  Root loops
 * pass every delivery that is not their data here, so no end notice is
 * lost.  Returns true when it took the message.
 */
bool bt_group_note(bt_group_t *g, const trindle_message_t *m, bt_out_t *out);
/* Waits until every worker has ended (and, if results, sent its result). */
int bt_group_wait(bt_group_t *g, bool results);
/* Releases the done pipe and frees the group. */
void bt_group_destroy(bt_group_t *g);
/*
 * Waits for every worker's result, then checks that together they handled
 * `count` items and saw no bad one; returns 0, or -1 after reporting.
 */
int bt_group_verify(bt_group_t *g, const char *name, uint64_t count);

/* Makes n segments of bytes zero bytes; returns how many it made (n, or
 * fewer after reporting why). */
size_t bt_segments(trindle_segment_t *segs, size_t n, size_t bytes);
/* Releases n segments, one batch per sync. */
void bt_release_all(const trindle_segment_t *segs, size_t n);

/* ---- relay workers ------------------------------------------------------ */

/*
 * A relay worker receives segments on its input pipe, does one piece of
 * work on each and passes it on: the consumers of stream and share, the
 * echo of ping-pong and the stages of pipeline.  Only the work differs, so
 * the loop is written once here and each scenario names its work.
 */
typedef struct bt_relay_cfg {
	uint64_t count;      /* segments to handle before ending */
	uint64_t arg;        /* the scenario's own value (pipeline: stage) */
} bt_relay_cfg_t;

/* The work on one segment; it accounts for the segment in *res. */
typedef void (*bt_relay_fn)(bt_result_t *res, void *seg, uint64_t arg);

/* Hands a launched relay worker its setup: count, arg and next. */
int bt_relay_setup(trindle_pipe_t worker, uint64_t count, uint64_t arg,
		trindle_pipe_t next);
/*
 * The relay worker's body: takes the setup, then receives up to a batch
 * per sync and calls fn on each segment; then moves it on to `next` if
 * pass_on, else releases it (share keeps `next` only so the root's sync
 * can wait while the worker lives).  After cfg.count segments it ends
 * with its result; on any failure it aborts.  bt_relay_take() receives at
 * most `take` (<= BENCH_BATCH) segments per sync: a stage that takes only a
 * few of what is queued before moving them on.
 */
BT_LOOP TRINDLE_NORETURN void bt_relay_take(trindle_pipe_t input,
		bt_relay_fn fn, bool pass_on, size_t take)
{
	bt_result_t res = { 0 };
	bt_relay_cfg_t cfg;
	trindle_pipe_t next;
	bt_out_t out;
	uint64_t seen = 0;
	bt_in_t in;

	bt_out_init(&out);
	if (bt_start(input, &cfg, sizeof cfg, &next, 1) != 0)
		trindle_abort(NULL);
	while (seen < cfg.count) {
		bt_recv(&out, input);
		if (bt_sync_max(&out, &in, take, -1) != 0)
			trindle_abort(NULL);
		for (size_t k = 0; k < in.count; k++) {
			trindle_message_t *m = &in.msg[k];

			if (m->address != input || !m->content)
				continue;       /* a notice */
			fn(&res, m->content, cfg.arg);
			seen++;
			if (pass_on)
				bt_move(&out, next, m->content);
			else
				bt_release(&out, m->content);
		}
	}
	if (bt_flush(&out) != 0)
		trindle_abort(NULL);
	bt_finish(&res);
}

BT_LOOP TRINDLE_NORETURN void bt_relay(trindle_pipe_t input, bt_relay_fn fn,
		bool pass_on)
{
	bt_relay_take(input, fn, pass_on, BENCH_BATCH);
}

/* ---- feeding relays ------------------------------------------------------ */

/* Writes item seq into a free segment before it is sent; arg is the
 * scenario's own value (fan-in: the producer's number). */
typedef void (*bt_stamp_fn)(void *seg, uint64_t seq, uint64_t arg);

/*
 * The other half of a relay: a producer with a pool of segments that
 * stamps free ones, sends them on, and reuses each once it comes back
 * (the roots of stream, share and pipeline, fan-in's producers).
 */
typedef struct bt_feed {
	trindle_segment_t *pool;     /* the free ones; room for all */
	size_t nfree;
	uint64_t sent, returned, total;
	trindle_pipe_t to, back;     /* where they go; where to receive */
	bool keep;                   /* send and keep them (share), or move */
	bt_stamp_fn stamp;
	uint64_t arg;                /* stamp's */
} bt_feed_t;

/* Looks at one delivery: gives a segment that came back to bt_feed_return,
 * or deals with the message; returns 0, or -1 after reporting. */
typedef int (*bt_take_fn)(bt_feed_t *f, const trindle_message_t *m,
		bt_out_t *out, void *ctx);

/* Stamps and queues up free segments, up to one batch of them. */
BT_LOOP void bt_feed_fill(bt_feed_t *f, bt_out_t *out)
{
	/* A move takes two messages, a send one. */
	size_t room = f->keep ? BENCH_BATCH : 2 * BENCH_BATCH;

	while (out->b.count < room && f->nfree > 0 && f->sent < f->total) {
		trindle_segment_t seg = f->pool[--f->nfree];

		f->stamp(seg, f->sent++, f->arg);
		if (f->keep)
			bt_send(out, f->to, seg);
		else
			bt_move(out, f->to, seg);
	}
}

/*
 * Runs the feed until all f->total segments have come back: each sync
 * carries up to a batch of freshly stamped segments and a receive on
 * f->back, and waits only when no segment can be sent; every delivery goes
 * to handle.  Returns 0, or -1 on failure.
 */
BT_LOOP int bt_feed_run(bt_feed_t *f, bt_take_fn handle, void *ctx)
{
	bt_out_t out;
	bt_in_t in;

	bt_out_init(&out);
	while (f->returned < f->total) {
		bool more;

		bt_feed_fill(f, &out);
		more = f->nfree > 0 && f->sent < f->total;
		bt_recv(&out, f->back);
		/* While free segments remain, only look for returns. */
		if (bt_sync(&out, &in, more ? 0 : -1) != 0)
			return -1;
		for (size_t k = 0; k < in.count; k++)
			if (handle(f, &in.msg[k], &out, ctx) != 0)
				return -1;
	}
	return bt_flush(&out);
}

/* Takes a segment back for reuse. */
static inline void bt_feed_return(bt_feed_t *f, trindle_segment_t seg)
{
	f->pool[f->nfree++] = seg;
	f->returned++;
}

/* A delivery that is not a returning segment must be the group's; else it
 * is reported as stray (-1). */
int bt_take_other(const trindle_message_t *m, bt_out_t *out, void *group);

/* A bt_take_fn for roots: a segment on f->back came back; any other
 * delivery must belong to the bt_group_t ctx. */
static inline int bt_take_back(bt_feed_t *f, const trindle_message_t *m,
		bt_out_t *out, void *group)
{
	if (m->address == f->back && m->content) {
		bt_feed_return(f, m->content);
		return 0;
	}
	return bt_take_other(m, out, group);
}

/*
 * Times a feed into one relay worker: launches entry in g with a
 * queue_count input pipe, hands it f->total and f->back, times
 * bt_feed_run(f, handle, g), then checks the worker's result.  Fills s; the
 * digest is the worker's.  Returns 0, or -1 after reporting as name.
 */
BT_LOOP int bt_feed_one(bt_feed_t *f, bt_group_t *g,
		trindle_entrypoint_t entry, size_t queue_count, bt_take_fn handle,
		const char *name, bench_sample_t *s)
{
	double t0;

	f->to = bt_group_launch(g, entry, queue_count);
	if (!f->to || bt_relay_setup(f->to, f->total, 0, f->back) != 0)
		return -1;
	t0 = bench_now();
	if (bt_feed_run(f, handle, g) != 0)
		return -1;
	s->seconds = bench_now() - t0;
	s->ops = f->total;
	if (bt_group_verify(g, name, f->total) != 0)
		return -1;
	s->check = g->sum.check;
	return 0;
}

/* What a root does with its feed once it is set up: launch its workers in
 * g, time the feed, fill s.  Returns 0, or -1 after reporting. */
typedef int (*bt_feed_body_fn)(bt_feed_t *f, bt_group_t *g,
		bench_sample_t *s);
/*
 * The set-up and tear-down around a root's feed (stream, share, pipeline):
 * makes f->back with room for back_items, a group for `workers` and a pool
 * of npool fresh segments of `bytes`, runs body, then releases what the
 * root holds: the pool, and with f->keep also the segments still out with
 * the workers (a root that keeps what it sends holds them all).  The
 * caller fills the rest of f (total, stamp, keep, arg).  Returns body's
 * result, or -1 when setting up failed.
 */
int bt_feed_root(bt_feed_t *f, size_t npool, size_t bytes, size_t back_items,
		size_t workers, bt_feed_body_fn body, bench_sample_t *s);
#endif
