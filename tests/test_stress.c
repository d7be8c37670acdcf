/* SPDX-License-Identifier: MIT */
/*
 * test_stress.c - many messages through many processes: every message is
 * accounted for, segments are moved (never copied) or shared with the
 * rights a share gives, per-sender order holds, and nothing is left
 * behind.
 *
 * Sizes scale with TRINDLE_TEST_SCALE (t_scale()); the default runs in a
 * few seconds even under ThreadSanitizer on two cores.  Workers never call
 * cmocka: they count what went wrong in g_errors and the test asserts.
 */
#include "helpers.h"

#include <errno.h>
#include <sched.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RW (TRINDLE_ACCESS_READ | TRINDLE_ACCESS_WRITE)

static atomic_uint g_errors;

/* ---- shared by both sides: no cmocka here ---- */

static void oops(void)
{
	atomic_fetch_add_explicit(&g_errors, 1, memory_order_relaxed);
}

/* A worker's release that counts its failure. */
static void w_release(trindle_object_t object)
{
	if (t_w_release(object))
		oops();
}

/* Flushes b, retrying what failed; every failure is counted, since the
 * protocols below leave room for everything they send. */
static void w_flush_all(trindle_util_batch_t *b)
{
	int failed;
	while ((failed = trindle_util_flush(b, NULL)) != 0) {
		if (failed < 0)
			break;
		oops();
		sched_yield();
	}
}

static double seconds_since(const struct timespec *t0)
{
	struct timespec t1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

/* ---- fan-in: producers -> one sink ---- */

/*
 * Each producer owns POOL segments that circulate: it fills one with its
 * next sequence number and moves it to the sink; the consumer checks it
 * and moves it back.  Moves change no protection, so millions of messages
 * cost no system call, and the sink (room for every pool) never overflows:
 * no send ever fails, so no item can overtake another.  At the end each
 * producer sends its whole pool home, marked RETIRED, for the consumer to
 * count and destroy.
 */
enum { PRODUCERS = 4, BATCH = 64, POOL = 2 * BATCH };
#define RETIRED UINT64_MAX

/* One message: who sent it, its number, and where it was made. */
struct item {
	uint32_t producer;
	uint64_t seq;
	void *self;
};

static trindle_pipe_t g_sink;
static unsigned long g_per_producer;

/* A new segment for producer; its own address inside. */
static struct item *make_item(uint32_t producer)
{
	struct item it = { producer, 0, NULL };
	trindle_buffer_t b = { sizeof it, &it };
	struct item *s = trindle_allocate(1, &b);
	if (s)
		s->self = s;
	return s;
}

struct producer {
	trindle_pipe_t input;
	uint32_t id;
	struct item *free[POOL];   /* segments back in hand */
	size_t nfree;
	trindle_message_t out[2 * BATCH + 1];
};

/* Send k items from the free list (numbered from seq, or RETIRED) and, in
 * the same sync, take back what the consumer returned, waiting for it
 * only when wait says so. */
static bool produce(struct producer *pr, size_t k, uint64_t seq, bool wait)
{
	trindle_message_t got[POOL];
	size_t n = 0;
	for (size_t i = 0; i < k; i++) {
		struct item *s = pr->free[--pr->nfree];
		s->seq = seq == RETIRED ? RETIRED : seq + i;
		pr->out[n++] = (trindle_message_t){ g_sink, s };
		pr->out[n++] = (trindle_message_t){ NULL, s };
	}
	pr->out[n++] = (trindle_message_t){ pr->input, NULL };
	trindle_mailbox_t out = { n, pr->out }, in = { POOL - pr->nfree, got };
	if (trindle_sync_timeout(&out, &in, wait ? -1 : 0) != 0 || out.count)
		oops();
	for (size_t i = 0; i < in.count; i++) {
		struct item *s = got[i].content;
		if (got[i].address != pr->input || trindle_access(s) != RW ||
		    s->self != s || pr->nfree == POOL) {
			oops();
			continue;
		}
		pr->free[pr->nfree++] = s;
	}
	return !(wait && in.count == 0);
}

static void producer_worker(trindle_pipe_t input)
{
	struct producer *pr = calloc(1, sizeof *pr);
	trindle_segment_t id_seg = trindle_util_next_object(input);
	if (!pr || !id_seg) {
		oops();
		free(pr);
		return;
	}
	pr->input = input;
	pr->id = (uint32_t)t_label_of(id_seg);
	w_release(id_seg);
	for (; pr->nfree < POOL; pr->nfree++)
		if ((pr->free[pr->nfree] = make_item(pr->id)) == NULL)
			oops();

	for (uint64_t seq = 0; seq < g_per_producer;) {
		size_t k = g_per_producer - seq;
		k = k < BATCH ? k : BATCH;
		k = k < pr->nfree ? k : pr->nfree;
		if (!produce(pr, k, seq, pr->nfree == k))
			break;
		seq += k;
	}
	/* Get the whole pool back, then send it home. */
	while (pr->nfree < POOL)
		if (!produce(pr, 0, 0, true))
			break;
	while (pr->nfree)
		produce(pr, pr->nfree < BATCH ? pr->nfree : BATCH, RETIRED, false);
	free(pr);
}

/* What the consumer knows about one producer. */
struct producer_state {
	trindle_pipe_t input;
	uint64_t next;          /* the sequence number expected next */
	void *retired[POOL];    /* its pool segments come home */
	size_t nretired;
	bool ended;
};

struct consumer {
	struct producer_state prod[PRODUCERS];
	trindle_message_t out[2 * 256 + 1];
	size_t nout;
	unsigned long items;
	size_t nretired;        /* over all producers */
	unsigned long ended;
};

/* Check one item: moved to us alone, not copied, next in its producer's
 * order; then move it back (or, retired, release it). */
static void consume(struct consumer *c, struct item *s)
{
	assert_int_equal(trindle_access(s), RW);
	assert_int_equal(trindle_measure(s), sizeof *s);
	assert_ptr_equal(s->self, s);
	assert_true(s->producer < PRODUCERS);
	struct producer_state *p = &c->prod[s->producer];
	if (s->seq == RETIRED) {
		/* A pool is all alive at once, so its addresses differ (once
		 * destroyed, an address may come back in a later pool). */
		assert_true(p->nretired < POOL);
		for (size_t i = 0; i < p->nretired; i++)
			assert_ptr_not_equal(p->retired[i], s);
		p->retired[p->nretired++] = s;
		c->nretired++;
		c->out[c->nout++] = (trindle_message_t){ NULL, s };
		return;
	}
	if (s->seq != p->next)
		fail_msg("producer %u: item %llu came when %llu was due "
		         "(%u failed syncs in the workers)", s->producer,
		         (unsigned long long)s->seq, (unsigned long long)p->next,
		         atomic_load(&g_errors));
	p->next++;
	c->items++;
	c->out[c->nout++] = (trindle_message_t){ p->input, s };
	c->out[c->nout++] = (trindle_message_t){ NULL, s };
}

static void note_notice(struct consumer *c, const trindle_message_t *m)
{
	for (size_t i = 0; i < PRODUCERS; i++) {
		if (m->address == c->prod[i].input && !m->content) {
			assert_false(c->prod[i].ended);
			c->prod[i].ended = true;
			c->ended++;
			return;
		}
	}
	fail_msg("unexpected notice %p %p", m->address, m->content);
}

/* One consumer round: send back and release what came last time, and
 * receive (waiting when request is set). */
static size_t consumer_round(struct consumer *c, bool request)
{
	trindle_message_t got[256];
	if (request)
		c->out[c->nout++] = (trindle_message_t){ g_sink, NULL };
	trindle_mailbox_t out = { c->nout, c->out }, in = { 256, got };
	assert_int_equal(trindle_sync(&out, &in), 0);
	assert_int_equal(out.count, 0);
	c->nout = 0;
	for (size_t i = 0; i < in.count; i++) {
		if (got[i].address == g_sink)
			consume(c, got[i].content);
		else
			note_notice(c, &got[i]);
	}
	return in.count;
}

static void test_stress_fan_in_every_message_once_in_order_moved(void **state)
{
	(void)state;
	const unsigned long total = 200000UL * t_scale();
	struct consumer *c = calloc(1, sizeof *c);
	struct timespec t0;
	assert_non_null(c);
	g_per_producer = total / PRODUCERS;
	atomic_store(&g_errors, 0);
	g_sink = trindle_pipe(PRODUCERS * POOL);
	assert_non_null(g_sink);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (uint32_t i = 0; i < PRODUCERS; i++) {
		c->prod[i].input = trindle_launch(producer_worker, POOL + 1,
		                                  g_sink, NULL);
		assert_non_null(c->prod[i].input);
		assert_int_equal(t_move(c->prod[i].input, t_label(i)), 0);
	}
	/* Until every item and every pool came and every producer ended; the
	 * producers hold SEND on the sink until they end, so rounds can sleep. */
	while (c->nretired < PRODUCERS * POOL || c->ended < PRODUCERS)
		if (consumer_round(c, true) == 0)
			sched_yield();   /* a producer let go; its end is on the way */
	consumer_round(c, false);   /* release the last retired ones */
	double secs = seconds_since(&t0);

	assert_int_equal(atomic_load(&g_errors), 0);
	assert_int_equal(c->items, g_per_producer * PRODUCERS);
	for (size_t i = 0; i < PRODUCERS; i++) {
		assert_int_equal(c->prod[i].next, g_per_producer);
		assert_int_equal(c->prod[i].nretired, POOL);
		assert_int_equal(trindle_access(c->prod[i].input), 0);
	}
	trindle_message_t extra;
	assert_int_equal(t_recv(g_sink, &extra, 0), 0);
	assert_int_equal(t_release(g_sink), 0);
	/* Nothing left behind: every segment that ever circulated is gone. */
	for (size_t i = 0; i < PRODUCERS; i++) {
		for (size_t j = 0; j < POOL; j++) {
			assert_int_equal(trindle_access(c->prod[i].retired[j]), 0);
			assert_int_equal(trindle_measure(c->prod[i].retired[j]), 0);
		}
	}
	print_message("fan-in: %lu items from %d producers in %.3f s (%.2f M items/s)\n",
	              c->items, PRODUCERS, secs, (double)c->items / secs / 1e6);
	free(c);
}

/* ---- a ring of processes ---- */

enum { RING = 4, TOKENS = 16 };
#define TOKEN_MAGIC 0x70CE
#define STOP_MAGIC 0x5709

struct token {
	unsigned long magic;
	unsigned long id;
	unsigned long hops;
	void *self;
};

static unsigned long g_hops;   /* hops each token makes before it returns */
static trindle_pipe_t g_home;  /* where finished tokens go: every worker's out */

/* Forward one token: to the next worker, or home once it has gone round
 * enough; returns false for STOP. */
static bool forward(struct token *t, trindle_pipe_t next,
		    trindle_util_batch_t *out)
{
	if (trindle_measure(t) != sizeof *t || t->self != t ||
	    !(trindle_access(t) & TRINDLE_ACCESS_WRITE)) {
		oops();
		return true;
	}
	if (t->magic == STOP_MAGIC)
		return false;
	t->hops++;
	if (trindle_util_add_move(out, t->hops >= g_hops ? g_home : next, t))
		oops();
	return true;
}

/*
 * Takes the next worker's input pipe from its first message, then moves
 * every token on, forwarding a whole batch and asking for the next one in
 * the same sync.  Each input has room for every token, so no send fails.
 */
static void ring_worker(trindle_pipe_t input)
{
	trindle_pipe_t next = trindle_util_next_object(input);
	trindle_message_t got[TOKENS + 1], storage[2 * (TOKENS + 1) + 1];
	trindle_util_batch_t out;
	bool stop = false;
	trindle_util_batch_init(&out, storage, 2 * (TOKENS + 1) + 1);
	if (!next) {
		oops();
		return;
	}
	while (!stop) {
		trindle_mailbox_t in = { TOKENS + 1, got };
		if (trindle_util_add_receive(&out, input) != 0 ||
		    trindle_util_flush(&out, &in) != 0)
			oops();
		out.count = 0;   /* what failed is counted, not retried */
		for (size_t i = 0; i < in.count; i++) {
			if (got[i].address != input)
				continue;   /* a notice (the next worker ended) */
			if (!forward(got[i].content, next, &out)) {
				w_release(got[i].content);
				stop = true;
			}
		}
		if (in.count == 0) {
			oops();   /* nobody could send to us: the ring broke */
			return;
		}
	}
	w_flush_all(&out);
}

static trindle_segment_t make_token(unsigned long magic, unsigned long id)
{
	struct token t = { magic, id, 0, NULL };
	trindle_buffer_t b = { sizeof t, &t };
	struct token *s = trindle_allocate(1, &b);
	assert_non_null(s);
	s->self = s;
	return s;
}

static void test_stress_ring_tokens_go_round_and_come_home(void **state)
{
	(void)state;
	trindle_pipe_t input[RING];
	bool home[TOKENS] = { false }, ended[RING] = { false };
	void *addresses[TOKENS];
	size_t came = 0, nended = 0;
	struct timespec t0;
	g_hops = 4000UL * t_scale();
	g_home = trindle_pipe(TOKENS + RING);
	assert_non_null(g_home);
	atomic_store(&g_errors, 0);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (size_t i = 0; i < RING; i++) {
		input[i] = trindle_launch(ring_worker, TOKENS + 2, g_home, NULL);
		assert_non_null(input[i]);
	}
	for (size_t i = 0; i < RING; i++)   /* SEND on the next input */
		assert_int_equal(t_send(input[i], input[(i + 1) % RING]), 0);
	for (size_t j = 0; j < TOKENS; j++)
		assert_int_equal(t_move(input[j % RING], make_token(TOKEN_MAGIC, j)), 0);

	while (came < TOKENS) {
		trindle_message_t got;
		assert_int_equal(t_recv(g_home, &got, -1), 1);
		assert_ptr_equal(got.address, g_home);
		struct token *t = got.content;
		assert_int_equal(trindle_access(t), RW);
		assert_ptr_equal(t->self, t);
		assert_int_equal(t->magic, TOKEN_MAGIC);
		assert_int_equal(t->hops, g_hops);
		assert_true(t->id < TOKENS && !home[t->id]);
		home[t->id] = true;
		addresses[came++] = t;
		assert_int_equal(t_release(t), 0);
	}
	double secs = seconds_since(&t0);

	for (size_t i = 0; i < RING; i++)
		assert_int_equal(t_move(input[i], make_token(STOP_MAGIC, 0)), 0);
	while (nended < RING) {
		trindle_message_t got;
		if (t_recv(g_home, &got, -1) == 0) {
			sched_yield();   /* the last worker let go; its end is coming */
			continue;
		}
		for (size_t i = 0; i < RING; i++) {
			if (got.address == input[i] && !got.content && !ended[i]) {
				ended[i] = true;
				nended++;
			}
		}
	}
	assert_int_equal(atomic_load(&g_errors), 0);
	assert_int_equal(t_release(g_home), 0);
	for (size_t j = 0; j < TOKENS; j++)
		assert_int_equal(trindle_access(addresses[j]), 0);
	for (size_t i = 0; i < RING; i++)
		assert_int_equal(trindle_access(input[i]), 0);
	print_message("ring: %d tokens x %lu hops through %d workers in %.3f s (%.2f M hops/s)\n",
	              TOKENS, g_hops, RING, secs,
	              (double)TOKENS * (double)g_hops / secs / 1e6);
}

/* ---- shares: many senders share batches into one sink ---- */

/*
 * Each sender shares batches of new segments into one sink (sends them
 * without releasing them), and in the same sync releases the batch it
 * sent before.  So each segment is shared by its sender and the receiver
 * for a while: the receiver must find it READ-only as long as the sender
 * may still hold it, count it once, and release it; the last of the two
 * to let go destroys it.  Until 3fbe04b a send beside an unrelated
 * release was taken for a move: the receiver got WRITE on a segment its
 * sender still meant to hold, and the sender's release of it then failed.
 *
 * A sender says which of its batches it may have released through
 * g_releasing (before the sync that releases them, so a receiver that
 * sees the effect of a release also sees the number).  The sink is often
 * full: refused sends are passed again until they go, in order.
 */
enum { SHARERS = 4, SHARE_BATCH = 32, SHARE_SINK = 256, SHARE_IN = 256 };

struct label {
	uint32_t sender;
	uint64_t seq;
	void *self;
};

static trindle_pipe_t g_share_sink;
static unsigned long g_share_per_sender;
static atomic_ulong g_releasing[SHARERS]; /* batches below may be released */

/* Flushes b until it is empty: sends refused by the full sink are passed
 * again until they go; a release that fails, or a send refused for another
 * reason, is an error (and dropped). */
static void share_flush(trindle_util_batch_t *b)
{
	while (b->count) {
		trindle_message_t *m = b->message;
		int failed = trindle_util_flush(b, NULL);
		if (failed < 0) {
			oops();
			return;
		}
		size_t kept = 0;
		for (size_t i = 0; i < (size_t)failed; i++) {
			if (trindle_util_error(&m[i]) != EAGAIN)
				oops();
			else
				m[kept++] = m[i];
		}
		b->count = kept;
		if (kept) {
			/* The sink is full: give the receiver the core. */
			struct timespec pause = { 0, 50000 };
			nanosleep(&pause, NULL);
		}
	}
}

static struct label *make_label(uint32_t sender, uint64_t seq)
{
	struct label l = { sender, seq, NULL };
	trindle_buffer_t b = { sizeof l, &l };
	struct label *s = trindle_allocate(1, &b);
	if (s)
		s->self = s;
	return s;
}

static void share_sender(trindle_pipe_t input)
{
	trindle_segment_t id_seg = trindle_util_next_object(input);
	struct label *prev[SHARE_BATCH], *cur[SHARE_BATCH];
	trindle_message_t m[2 * SHARE_BATCH];
	trindle_util_batch_t b;
	size_t nprev = 0;
	trindle_util_batch_init(&b, m, 2 * SHARE_BATCH);
	if (!id_seg) {
		oops();
		return;
	}
	uint32_t id = (uint32_t)t_label_of(id_seg);
	w_release(id_seg);
	for (uint64_t seq = 0; seq < g_share_per_sender;) {
		size_t k = g_share_per_sender - seq;
		k = k < SHARE_BATCH ? k : SHARE_BATCH;
		for (size_t i = 0; i < k; i++) {
			if ((cur[i] = make_label(id, seq + i)) == NULL) {
				oops();
				return;
			}
			trindle_util_add_send(&b, g_share_sink, cur[i]);
		}
		for (size_t i = 0; i < nprev; i++)
			trindle_util_add_release(&b, prev[i]);
		atomic_store(&g_releasing[id], seq / SHARE_BATCH);
		share_flush(&b);
		memcpy(prev, cur, k * sizeof *cur);
		nprev = k;
		seq += k;
	}
	atomic_store(&g_releasing[id], ULONG_MAX);
	for (size_t i = 0; i < nprev; i++)
		trindle_util_add_release(&b, prev[i]);
	share_flush(&b);
}

struct share_rx {
	trindle_pipe_t input[SHARERS];
	bool ended[SHARERS];
	unsigned char *seen;     /* one byte per message: sender-major */
	unsigned long counted, notices, ended_count, shared_on_arrival;
	trindle_message_t out[SHARE_IN + 1];
	size_t nout;
};

/* Checks one arrival: a label not seen before, READ-only unless its sender
 * may have released it already; then queues its release. */
static void share_arrived(struct share_rx *rx, struct label *s)
{
	int access = trindle_access(s);
	assert_int_equal(trindle_measure(s), sizeof *s);
	assert_ptr_equal(s->self, s);
	assert_true(s->sender < SHARERS);
	assert_true(s->seq < g_share_per_sender);
	unsigned long releasing = atomic_load(&g_releasing[s->sender]);
	if (s->seq / SHARE_BATCH >= releasing) {
		if (access != TRINDLE_ACCESS_READ)
			fail_msg("sender %u, message %llu: rights %d on arrival "
			         "while its sender holds it",
			         s->sender, (unsigned long long)s->seq, access);
		rx->shared_on_arrival++;
	} else {
		assert_true(access == TRINDLE_ACCESS_READ || access == RW);
	}
	unsigned char *seen = &rx->seen[s->sender * g_share_per_sender + s->seq];
	assert_int_equal(*seen, 0);
	*seen = 1;
	rx->counted++;
	rx->out[rx->nout++] = (trindle_message_t){ NULL, s };
}

/* One receiver round: releases what came last time, every release must
 * succeed, and takes what came (waiting for it). */
static size_t share_round(struct share_rx *rx, bool request)
{
	trindle_message_t got[SHARE_IN];
	if (request)
		rx->out[rx->nout++] = (trindle_message_t){ g_share_sink, NULL };
	trindle_mailbox_t out = { rx->nout, rx->out }, in = { SHARE_IN, got };
	assert_int_equal(trindle_sync(&out, &in), 0);
	assert_int_equal(out.count, 0);
	rx->nout = 0;
	for (size_t i = 0; i < in.count; i++) {
		if (got[i].address == g_share_sink) {
			share_arrived(rx, got[i].content);
			continue;
		}
		if (got[i].address == NULL) {
			/* The sender let go first: sole holder of one we hold. */
			assert_non_null(got[i].content);
			rx->notices++;
			continue;
		}
		size_t j = 0;
		while (j < SHARERS && got[i].address != rx->input[j])
			j++;
		assert_true(j < SHARERS && !rx->ended[j] && !got[i].content);
		rx->ended[j] = true;
		rx->ended_count++;
	}
	return in.count;
}

static void test_stress_shares_with_release_of_previous_batch(void **state)
{
	(void)state;
	const unsigned long total = 200000UL * t_scale();
	struct share_rx *rx = calloc(1, sizeof *rx);
	struct timespec t0;
	assert_non_null(rx);
	g_share_per_sender = total / SHARERS;
	rx->seen = calloc(SHARERS, g_share_per_sender);
	assert_non_null(rx->seen);
	atomic_store(&g_errors, 0);
	for (size_t i = 0; i < SHARERS; i++)
		atomic_store(&g_releasing[i], 0);
	size_t resident_before = t_resident_bytes();
	g_share_sink = trindle_pipe(SHARE_SINK);
	assert_non_null(g_share_sink);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (uint32_t i = 0; i < SHARERS; i++) {
		/* out is the sink: that is the sender's SEND on it. */
		rx->input[i] = trindle_launch(share_sender, 1, g_share_sink, NULL);
		assert_non_null(rx->input[i]);
		assert_int_equal(t_move(rx->input[i], t_label(i)), 0);
	}
	while (rx->counted < g_share_per_sender * SHARERS ||
	       rx->ended_count < SHARERS)
		if (share_round(rx, true) == 0)
			sched_yield();   /* a sender let go; its end is on the way */
	share_round(rx, false);      /* release the last ones */
	double secs = seconds_since(&t0);

	assert_int_equal(atomic_load(&g_errors), 0);
	assert_int_equal(rx->counted, g_share_per_sender * SHARERS);
	for (size_t i = 0; i < SHARERS * g_share_per_sender; i++)
		assert_int_equal(rx->seen[i], 1);
	/* Most arrive while their sender still holds them. */
	assert_true(rx->shared_on_arrival > 0);
	trindle_message_t extra;
	assert_int_equal(t_recv(g_share_sink, &extra, 0), 0);
	assert_int_equal(t_release(g_share_sink), 0);
	/* Every segment is gone: a page each would have stayed resident. */
	size_t resident_after = t_resident_bytes();
	assert_true(resident_after < resident_before + (64u << 20));
	print_message("shares: %lu messages from %d senders in %.3f s (%.2f M/s), "
	              "%lu READ-only on arrival, %lu sole-holder notices, "
	              "resident %+ld KiB\n",
	              rx->counted, SHARERS, secs, (double)rx->counted / secs / 1e6,
	              rx->shared_on_arrival, rx->notices,
	              ((long)resident_after - (long)resident_before) / 1024);
	free(rx->seen);
	free(rx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stress_fan_in_every_message_once_in_order_moved),
		cmocka_unit_test(test_stress_ring_tokens_go_round_and_come_home),
		cmocka_unit_test(test_stress_shares_with_release_of_previous_batch),
	};
	return cmocka_run_group_tests_name("stress", tests, NULL, NULL);
}
