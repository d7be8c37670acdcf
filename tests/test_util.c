/* SPDX-License-Identifier: MIT */
/*
 * <trindle/util.h>: each helper does what one trindle_sync() would, says
 * why it failed in errno (full pipe, dead pipe, object not held, timeout),
 * leaves the caller holding what it could not send, and never drops a
 * notice.  The batch keeps exactly its failed messages, in order.
 */
#include "helpers.h"

#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <trindle/util.h>

enum {
	R = TRINDLE_ACCESS_READ,
	RW = TRINDLE_ACCESS_READ | TRINDLE_ACCESS_WRITE,
	S = TRINDLE_ACCESS_SEND,
	SR = TRINDLE_ACCESS_SEND | TRINDLE_ACCESS_RECEIVE,
};

/* ---- workers (no cmocka) ---- */

/* Ends at once. */
static void quit_entry(trindle_pipe_t input)
{
	(void)input;
}

/* Waits for one message (any), then ends. */
static void wait_entry(trindle_pipe_t input)
{
	t_w_release(trindle_util_next_object(input));
}

/* Learns reply (t_start), takes a segment, lets go of it, then moves the
 * label 7 to reply and ends. */
static void drop_entry(trindle_pipe_t input)
{
	trindle_pipe_t reply = trindle_util_next_object(input);
	t_w_release(trindle_util_next_object(input));
	t_w_move(reply, t_label(7));
}

/* ---- test thread helpers ---- */

/* A worker that has already ended: its input pipe, dead, on which the
 * caller held SEND.  Its closure notice has been taken.  A dead pipe's
 * address may be reused by the next object made, so tests make this one
 * after every other object they need. */
static trindle_pipe_t dead_worker_pipe(void)
{
	trindle_pipe_t wake = t_pipe(1);
	trindle_pipe_t w = trindle_launch(quit_entry, 1, wake, NULL);
	trindle_message_t keep[4];

	assert_non_null(w);
	assert_int_equal(t_await_end(w, wake, keep, 4), 0);
	assert_int_equal(trindle_util_release(wake), 0);
	assert_int_equal(trindle_access(w), 0);
	return w;
}

/* A pipe of capacity 1 that already holds one message. */
static trindle_pipe_t full_pipe(void)
{
	trindle_pipe_t p = t_pipe(1);
	assert_int_equal(trindle_util_move(p, t_labelled(1)), 0);
	return p;
}

/* Receives the one message queued in p, checks its label, releases it. */
static void take_label(trindle_pipe_t p, unsigned long label)
{
	trindle_message_t m;
	assert_int_equal(trindle_util_receive(p, &m, 0), 1);
	t_expect_label(&m, p, label);
}

/* ---- allocate, release ---- */

static void test_util_allocate_copies_or_zeroes(void **state)
{
	(void)state;
	unsigned char *a = trindle_util_allocate(3, "abc");
	unsigned char *z = trindle_util_allocate(5, NULL);
	trindle_segment_t e = trindle_util_allocate(0, NULL);

	assert_non_null(a);
	assert_non_null(z);
	assert_non_null(e);
	assert_int_equal(trindle_measure(a), 3);
	assert_memory_equal(a, "abc", 3);
	assert_int_equal(trindle_access(a), RW);
	assert_int_equal(trindle_measure(z), 5);
	assert_memory_equal(z, "\0\0\0\0\0", 5);
	assert_int_equal(trindle_measure(e), 0);
	assert_int_equal(trindle_util_release(a), 0);
	assert_int_equal(trindle_util_release(z), 0);
	assert_int_equal(trindle_util_release(e), 0);
}

static void test_util_release_drops_access(void **state)
{
	(void)state;
	trindle_segment_t s = t_segment(16, 1);
	trindle_pipe_t p = t_pipe(1);

	assert_int_equal(trindle_util_release(s), 0);
	assert_int_equal(trindle_access(s), 0);
	assert_int_equal(trindle_util_release(p), 0);
	assert_int_equal(trindle_access(p), 0);
}

static void test_util_release_null_does_nothing(void **state)
{
	(void)state;
	errno = 0;
	assert_int_equal(trindle_util_release(NULL), 0);
	assert_int_equal(errno, 0);
}

static void test_util_release_not_held_fails_einval(void **state)
{
	(void)state;
	int local = 0;
	trindle_segment_t s = t_segment(16, 1);

	assert_int_equal(trindle_util_release(s), 0);
	errno = 0;
	assert_int_equal(trindle_util_release(s), -1);
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_int_equal(trindle_util_release(&local), -1);
	assert_int_equal(errno, EINVAL);
}

/* ---- send, move ---- */

static void test_util_send_shares_and_keeps(void **state)
{
	(void)state;
	trindle_pipe_t p = t_pipe(2);
	trindle_segment_t s = t_segment(16, 3);
	trindle_message_t m;

	assert_int_equal(trindle_util_send(p, s), 0);
	assert_int_equal(trindle_access(s), R);
	assert_int_equal(trindle_util_receive(p, &m, 0), 1);
	assert_int_equal(trindle_util_kind(&m), TRINDLE_UTIL_MESSAGE);
	assert_ptr_equal(m.address, p);
	assert_ptr_equal(m.content, s);
	/* Received back by its only holder: one hold, writable again. */
	assert_int_equal(trindle_access(s), RW);
	assert_int_equal(trindle_util_release(s), 0);
	assert_int_equal(trindle_access(s), 0);
	assert_int_equal(trindle_util_release(p), 0);
}

static void test_util_send_full_pipe_fails_eagain(void **state)
{
	(void)state;
	trindle_pipe_t p = full_pipe();
	trindle_segment_t s = t_segment(16, 3);

	errno = 0;
	assert_int_equal(trindle_util_send(p, s), -1);
	assert_int_equal(errno, EAGAIN);
	assert_int_equal(trindle_access(s), RW);
	take_label(p, 1);
	assert_int_equal(trindle_util_release(s), 0);
	assert_int_equal(trindle_util_release(p), 0);
}

static void test_util_send_dead_pipe_fails_epipe(void **state)
{
	(void)state;
	trindle_pipe_t gone = t_pipe(1);
	trindle_segment_t s = t_segment(16, 3);
	trindle_pipe_t dead = dead_worker_pipe();

	assert_int_equal(trindle_util_release(gone), 0);
	errno = 0;
	assert_int_equal(trindle_util_send(dead, s), -1);
	assert_int_equal(errno, EPIPE);
	errno = 0;
	assert_int_equal(trindle_util_send(gone, s), -1);
	assert_int_equal(errno, EPIPE);
	errno = 0;
	assert_int_equal(trindle_util_send(s, s), -1); /* not a pipe */
	assert_int_equal(errno, EPIPE);
	assert_int_equal(trindle_access(s), RW);
	assert_int_equal(trindle_util_release(s), 0);
}

static void test_util_send_not_held_fails_einval(void **state)
{
	(void)state;
	int local = 0;
	trindle_pipe_t p = t_pipe(2);
	trindle_segment_t s = t_segment(16, 3);

	errno = 0;
	assert_int_equal(trindle_util_send(p, &local), -1);
	assert_int_equal(errno, EINVAL);
	/* NULL object: not turned into a receive request. */
	errno = 0;
	assert_int_equal(trindle_util_send(p, NULL), -1);
	assert_int_equal(errno, EINVAL);
	/* NULL pipe: not turned into a release. */
	errno = 0;
	assert_int_equal(trindle_util_send(NULL, s), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(trindle_access(s), RW);
	assert_int_equal(trindle_measure(p), 0);
	assert_int_equal(trindle_util_release(s), 0);
	assert_int_equal(trindle_util_release(p), 0);
}

static void test_util_move_hands_over_with_write(void **state)
{
	(void)state;
	trindle_pipe_t p = t_pipe(2);
	unsigned char *s = t_segment(16, 3);
	trindle_message_t m;

	assert_int_equal(trindle_util_move(p, s), 0);
	assert_int_equal(trindle_access(s), 0); /* in flight, not ours */
	assert_int_equal(trindle_util_receive(p, &m, 0), 1);
	assert_ptr_equal(m.content, s);
	assert_int_equal(trindle_access(s), RW);
	s[0] = 9;
	assert_int_equal(trindle_util_release(s), 0);
	assert_int_equal(trindle_util_release(p), 0);
}

static void test_util_move_failure_keeps_object(void **state)
{
	(void)state;
	int local = 0;
	trindle_pipe_t full = full_pipe();
	unsigned char *s = t_segment(16, 3);
	trindle_pipe_t dead = dead_worker_pipe();

	errno = 0;
	assert_int_equal(trindle_util_move(full, s), -1);
	assert_int_equal(errno, EAGAIN);
	assert_int_equal(trindle_access(s), RW);
	errno = 0;
	assert_int_equal(trindle_util_move(dead, s), -1);
	assert_int_equal(errno, EPIPE);
	assert_int_equal(trindle_access(s), RW);
	errno = 0;
	assert_int_equal(trindle_util_move(full, &local), -1);
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_int_equal(trindle_util_move(NULL, s), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(trindle_util_move(full, NULL), -1);
	assert_int_equal(errno, EINVAL);
	s[0] = 9; /* still ours alone */
	take_label(full, 1);
	assert_int_equal(trindle_util_release(s), 0);
	assert_int_equal(trindle_util_release(full), 0);
}

static void test_util_move_or_release_lets_go_on_failure(void **state)
{
	(void)state;
	trindle_pipe_t full = full_pipe();
	trindle_pipe_t p = t_pipe(1);
	trindle_segment_t a = t_segment(16, 3), b = t_segment(16, 4);

	errno = 0;
	assert_int_equal(trindle_util_move_or_release(full, a), -1);
	assert_int_equal(errno, EAGAIN);
	assert_int_equal(trindle_access(a), 0);
	assert_int_equal(trindle_util_move_or_release(p, b), 0);
	assert_int_equal(trindle_access(b), 0);
	assert_int_equal(trindle_measure(p), 1);
	assert_int_equal(trindle_util_move_or_release(p, NULL), 0);
	take_label(full, 1);
	assert_int_equal(trindle_util_release(full), 0);
	assert_int_equal(trindle_util_release(p), 0); /* releases b with it */
}

/* ---- receive ---- */

static void test_util_receive_alone_returns_zero_at_once(void **state)
{
	(void)state;
	trindle_pipe_t p = t_pipe(1);
	trindle_message_t m;

	/* Nobody else can send on p: even an endless wait returns. */
	assert_int_equal(trindle_util_receive(p, &m, -1), 0);
	assert_int_equal(trindle_util_receive(p, &m, 0), 0);
	assert_int_equal(trindle_util_release(p), 0);
}

static void test_util_receive_times_out_then_sees_end(void **state)
{
	(void)state;
	trindle_pipe_t p = t_pipe(2);
	trindle_pipe_t w = trindle_launch(wait_entry, 1, p, NULL);
	trindle_message_t m;

	assert_non_null(w);
	/* The worker holds SEND on p and sends nothing: time runs out. */
	assert_int_equal(trindle_util_receive(p, &m, 1000000), 0);
	assert_int_equal(trindle_util_receive(p, &m, 0), 0);
	t_nudge(w);
	/* Its end comes as a notice; then nothing more can come. */
	assert_int_equal(trindle_util_receive(p, &m, -1), 1);
	assert_int_equal(trindle_util_kind(&m), TRINDLE_UTIL_CLOSED);
	assert_ptr_equal(m.address, w);
	assert_int_equal(trindle_util_receive(p, &m, -1), 0);
	assert_int_equal(trindle_util_release(p), 0);
}

static void test_util_receive_returns_notices_and_messages(void **state)
{
	(void)state;
	trindle_pipe_t p = t_pipe(4);
	trindle_pipe_t w = t_start(drop_entry, p);
	trindle_segment_t s = t_segment(16, 5);
	trindle_message_t m;
	int label = 0, closed = 0;

	assert_int_equal(trindle_util_send(w, s), 0);
	/* The worker's release comes first: it happens before its move. */
	assert_int_equal(trindle_util_receive(p, &m, -1), 1);
	assert_int_equal(trindle_util_kind(&m), TRINDLE_UTIL_SOLE);
	assert_ptr_equal(m.content, s);
	assert_int_equal(trindle_access(s), RW);
	/* Then its label and its end, in either order: neither is lost. */
	for (int i = 0; i < 2; i++) {
		assert_int_equal(trindle_util_receive(p, &m, -1), 1);
		if (trindle_util_kind(&m) == TRINDLE_UTIL_MESSAGE) {
			t_expect_label(&m, p, 7);
			label++;
		} else {
			assert_int_equal(trindle_util_kind(&m), TRINDLE_UTIL_CLOSED);
			assert_ptr_equal(m.address, w);
			closed++;
		}
	}
	assert_int_equal(label, 1);
	assert_int_equal(closed, 1);
	assert_int_equal(trindle_util_receive(p, &m, -1), 0);
	assert_int_equal(trindle_util_release(s), 0);
	assert_int_equal(trindle_util_release(p), 0);
}

static void test_util_receive_not_creator_fails_einval(void **state)
{
	(void)state;
	trindle_pipe_t p = t_pipe(1);
	trindle_pipe_t gone = t_pipe(1);
	trindle_pipe_t w = trindle_launch(wait_entry, 1, p, NULL);
	trindle_message_t m;

	assert_non_null(w);
	assert_int_equal(trindle_access(w), S);
	assert_int_equal(trindle_util_release(gone), 0);
	errno = 0;
	assert_int_equal(trindle_util_receive(w, &m, -1), -1);
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_int_equal(trindle_util_receive(gone, &m, -1), -1);
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_int_equal(trindle_util_receive(NULL, &m, -1), -1);
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_int_equal(trindle_util_receive(p, NULL, -1), -1);
	assert_int_equal(errno, EINVAL);
	t_nudge(w);
	assert_int_equal(trindle_util_receive(p, &m, -1), 1);
	assert_int_equal(trindle_util_kind(&m), TRINDLE_UTIL_CLOSED);
	assert_int_equal(trindle_util_release(p), 0);
}

static void test_util_receive_bad_pipe_still_delivers_notice(void **state)
{
	(void)state;
	trindle_pipe_t bad = t_pipe(1);
	trindle_pipe_t w = trindle_launch(quit_entry, 1, NULL, NULL);
	int64_t end = t_now_ns() + T_WAIT_LIMIT_NS;
	trindle_message_t m = { NULL, NULL };
	int r;

	assert_non_null(w);
	assert_int_equal(trindle_util_release(bad), 0);
	/* The worker's end notice is pending (or soon will be): a receive
	 * on a dead pipe must hand it over rather than fail and drop it. */
	while ((r = trindle_util_receive(bad, &m, 0)) == -1 && t_now_ns() < end) {
		assert_int_equal(errno, EINVAL);
		sched_yield();
	}
	assert_int_equal(r, 1);
	assert_int_equal(trindle_util_kind(&m), TRINDLE_UTIL_CLOSED);
	assert_ptr_equal(m.address, w);
	errno = 0;
	assert_int_equal(trindle_util_receive(bad, &m, 0), -1);
	assert_int_equal(errno, EINVAL);
}

/* ---- kind, error ---- */

static void test_util_kind_names_each_shape(void **state)
{
	(void)state;
	int x, y;
	const struct { trindle_message_t m; enum trindle_util_kind k; } t[] = {
		{ { &x, &y }, TRINDLE_UTIL_MESSAGE },
		{ { NULL, &y }, TRINDLE_UTIL_SOLE },
		{ { &x, NULL }, TRINDLE_UTIL_CLOSED },
		{ { NULL, NULL }, TRINDLE_UTIL_NOTHING },
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
		assert_int_equal(trindle_util_kind(&t[i].m), t[i].k);
}

static void test_util_error_tells_why(void **state)
{
	(void)state;
	int local = 0;
	trindle_pipe_t full = full_pipe();
	trindle_pipe_t wake = t_pipe(1);
	trindle_pipe_t w = trindle_launch(wait_entry, 1, wake, NULL);
	trindle_segment_t s = t_segment(16, 1);
	trindle_segment_t gone = t_segment(16, 1);
	trindle_pipe_t dead = dead_worker_pipe();
	trindle_message_t keep[4];

	assert_non_null(w);
	assert_int_equal(trindle_util_release(gone), 0);
	const struct { trindle_message_t m; int e; } t[] = {
		{ { full, s }, EAGAIN },        /* send, pipe full */
		{ { dead, s }, EPIPE },         /* send, pipe dead */
		{ { &local, s }, EPIPE },       /* send, not a pipe */
		{ { full, gone }, EINVAL },     /* send, object not held */
		{ { NULL, s }, ECANCELED },     /* release of a held object */
		{ { NULL, gone }, EINVAL },     /* release, not held */
		{ { w, NULL }, EINVAL },        /* receive, not the creator */
		{ { NULL, NULL }, EINVAL },
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		errno = 12345;
		assert_int_equal(trindle_util_error(&t[i].m), t[i].e);
		assert_int_equal(errno, 12345);
	}
	/* Wait for w's end, so its notice does not reach a later test. */
	t_nudge(w);
	assert_int_equal(t_await_end(w, wake, keep, 4), 0);
	take_label(full, 1);
	assert_int_equal(trindle_util_release(wake), 0);
	assert_int_equal(trindle_util_release(s), 0);
	assert_int_equal(trindle_util_release(full), 0);
}

/* ---- batches ---- */

/* The storage each test gives its batch. */
#define BATCH 64


static void test_util_batch_add_checks_room(void **state)
{
	(void)state;
	int x;
	trindle_message_t room[BATCH];
	trindle_util_batch_t b;

	trindle_util_batch_init(&b, room, BATCH);
	for (int i = 0; i < BATCH - 1; i++)
		assert_int_equal(trindle_util_add_release(&b, &x), 0);
	/* One slot left: a move (two messages) does not fit, nor half of it. */
	errno = 0;
	assert_int_equal(trindle_util_add_move(&b, &x, &x), -1);
	assert_int_equal(errno, ENOBUFS);
	assert_int_equal(b.count, BATCH - 1);
	assert_int_equal(trindle_util_add_receive(&b, &x), 0);
	errno = 0;
	assert_int_equal(trindle_util_add_send(&b, &x, &x), -1);
	assert_int_equal(errno, ENOBUFS);
	errno = 0;
	assert_int_equal(trindle_util_add_release(&b, &x), -1);
	assert_int_equal(errno, ENOBUFS);
	assert_int_equal(b.count, BATCH);
	assert_ptr_equal(b.message[BATCH - 1].address, &x);
	assert_null(b.message[BATCH - 1].content);
	trindle_util_batch_init(&b, room, BATCH);
	assert_int_equal(b.count, 0);
}

static void test_util_batch_add_refuses_null(void **state)
{
	(void)state;
	int x;
	trindle_message_t room[BATCH];
	trindle_util_batch_t b;

	trindle_util_batch_init(&b, room, BATCH);

	/* Each would turn into another kind of message: refused. */
	errno = 0;
	assert_int_equal(trindle_util_add_send(&b, NULL, &x), -1);
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_int_equal(trindle_util_add_send(&b, &x, NULL), -1);
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_int_equal(trindle_util_add_move(&b, NULL, &x), -1);
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_int_equal(trindle_util_add_move(&b, &x, NULL), -1);
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_int_equal(trindle_util_add_receive(&b, NULL), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(trindle_util_add_release(&b, NULL), 0);
	assert_int_equal(b.count, 0);
}

static void test_util_batch_flush_runs_in_order(void **state)
{
	(void)state;
	trindle_pipe_t p = t_pipe(8);
	trindle_segment_t a = t_labelled(1), c = t_labelled(3);
	trindle_segment_t gone = t_segment(16, 1);
	trindle_message_t got[4];
	trindle_mailbox_t in = { 4, got };
	trindle_message_t room[BATCH];
	trindle_util_batch_t b;

	trindle_util_batch_init(&b, room, BATCH);
	assert_int_equal(trindle_util_add_move(&b, p, a), 0);
	assert_int_equal(trindle_util_add_release(&b, gone), 0);
	assert_int_equal(trindle_util_add_move(&b, p, t_labelled(2)), 0);
	assert_int_equal(trindle_util_add_send(&b, p, c), 0);
	assert_int_equal(trindle_util_add_release(&b, c), 0);
	assert_int_equal(trindle_util_add_receive(&b, p), 0);
	assert_int_equal(trindle_util_flush(&b, &in), 0);
	assert_int_equal(b.count, 0);
	assert_int_equal(trindle_access(gone), 0);
	assert_int_equal(in.count, 3);
	for (unsigned long i = 0; i < 3; i++)
		t_expect_label(&got[i], p, i + 1);
	assert_int_equal(trindle_util_release(p), 0);
}

static void test_util_batch_flush_keeps_failed_in_order(void **state)
{
	(void)state;
	trindle_pipe_t p = t_pipe(2);
	trindle_segment_t s[3] = { t_labelled(1), t_labelled(2), t_labelled(3) };
	trindle_segment_t extra = t_segment(16, 1);
	trindle_pipe_t dead = dead_worker_pipe();
	trindle_message_t room[BATCH];
	trindle_util_batch_t b;

	trindle_util_batch_init(&b, room, BATCH);
	for (int i = 0; i < 3; i++)
		assert_int_equal(trindle_util_add_move(&b, p, s[i]), 0);
	assert_int_equal(trindle_util_add_send(&b, dead, extra), 0);
	/* Room for two: the third move fails whole, and so does the send to
	 * the dead pipe; the batch keeps just those, in order. */
	assert_int_equal(trindle_util_flush(&b, NULL), 3);
	assert_int_equal(b.count, 3);
	assert_ptr_equal(b.message[0].address, p);
	assert_ptr_equal(b.message[0].content, s[2]);
	assert_null(b.message[1].address);
	assert_ptr_equal(b.message[1].content, s[2]);
	assert_ptr_equal(b.message[2].address, dead);
	assert_int_equal(trindle_util_error(&b.message[0]), EAGAIN);
	assert_int_equal(trindle_util_error(&b.message[1]), ECANCELED);
	assert_int_equal(trindle_util_error(&b.message[2]), EPIPE);
	assert_int_equal(trindle_access(s[2]), RW);
	/* Make room, drop the hopeless send, flush again: the move goes. */
	take_label(p, 1);
	b.count = 2;
	assert_int_equal(trindle_util_flush(&b, NULL), 0);
	assert_int_equal(b.count, 0);
	assert_int_equal(trindle_access(s[2]), 0);
	take_label(p, 2);
	take_label(p, 3);
	assert_int_equal(trindle_util_release(extra), 0);
	assert_int_equal(trindle_util_release(p), 0);
}

static void test_util_batch_flush_timeout_zero_never_waits(void **state)
{
	(void)state;
	trindle_pipe_t p = t_pipe(2);
	trindle_pipe_t w = trindle_launch(wait_entry, 1, p, NULL);
	trindle_message_t got[2];
	trindle_mailbox_t in = { 2, got };
	trindle_message_t room[BATCH];
	trindle_util_batch_t b;

	assert_non_null(w);
	trindle_util_batch_init(&b, room, BATCH);
	/* w holds SEND on p, so a plain flush would wait here. */
	assert_int_equal(trindle_util_add_receive(&b, p), 0);
	assert_int_equal(trindle_util_flush_timeout(&b, &in, 0), 0);
	assert_int_equal(in.count, 0);
	assert_int_equal(b.count, 0); /* a request lasts one flush */
	assert_int_equal(trindle_util_add_move(&b, p, t_labelled(4)), 0);
	assert_int_equal(trindle_util_add_receive(&b, p), 0);
	in.count = 2;
	assert_int_equal(trindle_util_flush_timeout(&b, &in, 0), 0);
	assert_int_equal(in.count, 1);
	t_expect_label(&got[0], p, 4);
	t_nudge(w);
	trindle_message_t m;
	assert_int_equal(trindle_util_receive(p, &m, -1), 1);
	assert_int_equal(trindle_util_kind(&m), TRINDLE_UTIL_CLOSED);
	assert_int_equal(trindle_util_release(p), 0);
}

static void test_util_batch_flush_bad_inbox_changes_nothing(void **state)
{
	(void)state;
	trindle_pipe_t p = t_pipe(2);
	trindle_segment_t s = t_segment(16, 1);
	trindle_mailbox_t in = { 1, NULL };
	trindle_message_t room[BATCH];
	trindle_util_batch_t b;

	trindle_util_batch_init(&b, room, BATCH);
	assert_int_equal(trindle_util_add_move(&b, p, s), 0);
	errno = 0;
	assert_int_equal(trindle_util_flush(&b, &in), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(b.count, 2);
	assert_int_equal(trindle_access(s), RW);
	assert_int_equal(trindle_measure(p), 0);
	assert_int_equal(trindle_util_flush(&b, NULL), 0);
	assert_int_equal(trindle_measure(p), 1);
	assert_int_equal(trindle_util_release(p), 0);
}

/* ---- stages ---- */

/* The pipeline's segments: a sequence number, then words each stage
 * checks and transforms, so a segment that skipped a stage, went through
 * one twice or lost its bytes shows. */
#define STAGE_WORDS 64

/* word i of segment seq once stages 1 .. k have transformed it */
static uint64_t stage_word(uint64_t seq, size_t i, unsigned long k)
{
	uint64_t v = seq * 1000003u + i;

	for (unsigned long s = 1; s <= k; s++)
		v = v * 3 + s;
	return v;
}

/* What a stage worker is told (its first message), and what it moves to
 * its out pipe when its loop has returned. */
struct stage_cfg {
	unsigned long stage;    /* checks stage - 1 transforms, adds its own;
	                         * 0: passes segments through untouched */
	unsigned long take;
	unsigned long stop_at;  /* work asks to stop at this message; 0: never */
	unsigned long wait_for; /* waits until this many are queued first */
};

struct stage_report {
	long rc, err;           /* trindle_util_stage()'s result and errno */
	unsigned long messages, notices, bad;
	unsigned long left;     /* messages still queued on input after */
};

struct stage_ctx {
	struct stage_cfg cfg;
	struct stage_report r;
};

/* Workers: checks and transforms one segment in place (the message moves
 * on as it is), counts notices, asks to stop at cfg.stop_at. */
static int stage_work(const trindle_message_t *in, trindle_object_t *out,
		void *arg)
{
	struct stage_ctx *c = arg;
	uint64_t *w = *out;

	if (trindle_util_kind(in) != TRINDLE_UTIL_MESSAGE) {
		c->r.notices++;
		return 0;
	}
	c->r.messages++;
	if (c->cfg.stage) {
		if (trindle_measure(w) != STAGE_WORDS * sizeof *w) {
			c->r.bad++;
		} else {
			for (size_t i = 1; i < STAGE_WORDS; i++) {
				if (w[i] != stage_word(w[0], i, c->cfg.stage - 1))
					c->r.bad++;
				w[i] = w[i] * 3 + c->cfg.stage;
			}
		}
	}
	return c->r.messages == c->cfg.stop_at;
}

/* A stage: learns its cfg, then next, runs the loop, reports. */
static void stage_entry(trindle_pipe_t input)
{
	struct stage_ctx c = { { 0, 0, 0, 0 }, { 0, 0, 0, 0, 0, 0 } };
	trindle_segment_t cfg = trindle_util_next_object(input);
	trindle_pipe_t next;
	int64_t end = t_now_ns() + T_WAIT_LIMIT_NS;
	trindle_buffer_t b = { sizeof c.r, &c.r };

	if (trindle_measure(cfg) != sizeof c.cfg)
		trindle_abort(NULL);
	memcpy(&c.cfg, cfg, sizeof c.cfg);
	t_w_release(cfg);
	next = trindle_util_next_object(input);
	while (trindle_measure(input) < c.cfg.wait_for && t_now_ns() < end)
		sched_yield();
	c.r.rc = trindle_util_stage(input, next, c.cfg.take, stage_work, &c);
	c.r.err = c.r.rc < 0 ? errno : 0;
	c.r.left = trindle_measure(input);
	trindle_exit(trindle_allocate(1, &b));
}

/* Launches a stage worker reporting to done, with room for queue
 * messages, and hands it cfg and next (next is shared: the caller keeps
 * its own hold). */
static trindle_pipe_t stage_start(trindle_pipe_t done, size_t queue,
		struct stage_cfg cfg, trindle_pipe_t next)
{
	trindle_pipe_t w = trindle_launch(stage_entry, queue, done, NULL);
	trindle_buffer_t b = { sizeof cfg, &cfg };

	assert_non_null(w);
	assert_int_equal(t_move(w, trindle_allocate(1, &b)), 0);
	assert_int_equal(t_send(w, next), 0);
	return w;
}

/* The next stage report on done; the caller frees nothing (copied). */
static struct stage_report stage_report(trindle_pipe_t done,
		struct t_box *box)
{
	struct stage_report r;
	trindle_segment_t s = t_next_from(done, box);

	assert_non_null(s);
	assert_int_equal(trindle_measure(s), sizeof r);
	memcpy(&r, s, sizeof r);
	assert_int_equal(t_release(s), 0);
	return r;
}

/* A pipeline segment, seq, as the source makes it. */
static trindle_segment_t stage_segment(uint64_t seq)
{
	uint64_t w[STAGE_WORDS];

	w[0] = seq;
	for (size_t i = 1; i < STAGE_WORDS; i++)
		w[i] = stage_word(seq, i, 0);
	trindle_buffer_t b = { sizeof w, w };
	trindle_segment_t s = trindle_allocate(1, &b);
	assert_non_null(s);
	return s;
}

/* Checks a segment that came out of the pipeline, marks it seen, and
 * releases it. */
static void stage_arrived(const trindle_message_t *m, trindle_pipe_t sink,
		unsigned char *seen, uint64_t n)
{
	const uint64_t *s = m->content;

	assert_ptr_equal(m->address, sink);
	assert_int_equal(trindle_measure(m->content), STAGE_WORDS * sizeof *s);
	assert_true(s[0] < n);
	assert_int_equal(seen[s[0]], 0);
	seen[s[0]] = 1;
	for (size_t i = 1; i < STAGE_WORDS; i++)
		assert_true(s[i] == stage_word(s[0], i, 3));
	assert_int_equal(t_release(m->content), 0);
}

static void test_util_stage_pipeline_moves_every_segment_once(void **state)
{
	(void)state;
	const uint64_t n = 400 * t_scale();
	unsigned char *seen = calloc(n, 1);
	trindle_pipe_t done = t_pipe(4), sink = t_pipe(1);
	trindle_pipe_t w[3];
	uint64_t sent = 0, arrived = 0;
	int64_t end = t_now_ns() + T_WAIT_LIMIT_NS;
	struct t_box box = { .notes = 0 };
	trindle_message_t m;

	assert_non_null(seen);
	w[2] = stage_start(done, 4, (struct stage_cfg){ 3, 4, 0, 0 }, sink);
	w[1] = stage_start(done, 4, (struct stage_cfg){ 2, 4, 0, 0 }, w[2]);
	w[0] = stage_start(done, 4, (struct stage_cfg){ 1, 4, 0, 0 }, w[1]);
	/* Only the stage before holds SEND on w[1] and w[2] now: each stage
	 * runs dry once the one before it has ended. */
	assert_int_equal(t_release(w[1]), 0);
	assert_int_equal(t_release(w[2]), 0);
	/* Rounds of 16 sent before any is taken out of the sink (which holds
	 * one): the last stage finds it full at once, and the full queues
	 * back up into the stages before (the pipeline holds more than 16:
	 * each stage's queue of 4, and what a stage holds, up to 8). */
	while (arrived < n) {
		uint64_t round = sent + 16 < n ? sent + 16 : n;

		while (sent < round) {
			trindle_segment_t s = stage_segment(sent);

			while (t_move(w[0], s) != 0) {
				assert_true(t_now_ns() < end);
				sched_yield();
			}
			sent++;
		}
		while (arrived < sent) {
			assert_int_equal(trindle_util_receive(sink, &m, -1), 1);
			stage_arrived(&m, sink, seen, n);
			arrived++;
		}
	}
	/* Let the first stage run dry: the others follow, in turn. */
	assert_int_equal(t_release(w[0]), 0);
	for (int i = 0; i < 3; i++) {
		struct stage_report r = stage_report(done, &box);

		assert_int_equal(r.rc, 0);
		assert_int_equal(r.messages, n);
		assert_int_equal(r.bad, 0);
		assert_int_equal(r.notices, 0);
		assert_int_equal(r.left, 0);
	}
	/* Nothing more: no segment came twice, and every stage let go. */
	assert_int_equal(trindle_util_receive(sink, &m, -1), 0);
	for (uint64_t i = 0; i < n; i++)
		assert_int_equal(seen[i], 1);
	assert_int_equal(t_release(sink), 0);
	assert_int_equal(t_release(done), 0);
	free(seen);
}

/* Queues labelled segments 1 .. n to w in one sync (moved, or shared). */
static void stage_feed(trindle_pipe_t w, unsigned long n, int share,
		trindle_segment_t *kept)
{
	trindle_message_t room[16];
	trindle_util_batch_t b;

	trindle_util_batch_init(&b, room, 16);
	for (unsigned long i = 1; i <= n; i++) {
		trindle_segment_t s = t_labelled(i);

		if (kept)
			kept[i - 1] = s;
		if (share)
			assert_int_equal(trindle_util_add_send(&b, w, s), 0);
		else
			assert_int_equal(trindle_util_add_move(&b, w, s), 0);
	}
	assert_int_equal(trindle_util_flush(&b, NULL), 0);
}

/* Waits (with a limit) until trindle_measure(p) reaches n. */
static void stage_await_queued(trindle_pipe_t p, size_t n)
{
	int64_t end = t_now_ns() + T_WAIT_LIMIT_NS;

	while (trindle_measure(p) < n && t_now_ns() < end)
		sched_yield();
	assert_int_equal(trindle_measure(p), n);
}

static void test_util_stage_holds_back_while_next_is_full(void **state)
{
	(void)state;
	trindle_pipe_t done = t_pipe(2), slow = t_pipe(1);
	trindle_pipe_t w = stage_start(done, 8,
			(struct stage_cfg){ 0, 4, 0, 6 }, slow);
	trindle_record_t rec;
	struct t_box box = { .notes = 0 };
	trindle_message_t m;

	stage_feed(w, 6, 0, NULL);
	/* It takes 4; the sync that moves them on (1 fits in slow) takes the
	 * other 2; it then keeps trying the 3 that did not fit, and does not
	 * wait in a sync meanwhile. */
	stage_await_queued(slow, 1);
	/* That sync may still be delivering the 2 while slow shows its 1. */
	int64_t end = t_now_ns() + T_WAIT_LIMIT_NS;
	do
		assert_int_equal(trindle_inquire(&w, 1, &rec), 1);
	while (rec.pipe.queued != 0 && t_now_ns() < end && !sched_yield());
	assert_int_equal(rec.pipe.queued, 0);
	assert_int_equal(rec.worker.state, TRINDLE_WORKER_RUNNING);
	assert_int_equal(t_release(w), 0);
	/* Room, one at a time: all six come, in order. */
	for (unsigned long i = 1; i <= 6; i++) {
		assert_int_equal(trindle_util_receive(slow, &m, -1), 1);
		t_expect_label(&m, slow, i);
	}
	struct stage_report r = stage_report(done, &box);
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.messages, 6);
	assert_int_equal(r.notices, 0);
	assert_int_equal(trindle_util_receive(slow, &m, -1), 0);
	assert_int_equal(t_release(slow), 0);
	assert_int_equal(t_release(done), 0);
}

static void test_util_stage_ends_when_next_dies(void **state)
{
	(void)state;
	trindle_pipe_t done = t_pipe(8), dn = t_pipe(1);
	trindle_pipe_t w = stage_start(done, 8,
			(struct stage_cfg){ 0, 4, 0, 3 }, dn);
	trindle_segment_t s[3];
	struct t_box box = { .notes = 0 };

	/* Shared, so that a notice tells when each is let go of. */
	stage_feed(w, 3, 1, s);
	stage_await_queued(dn, 1);
	/* dn dies with one in its queue and two held by the stage, which
	 * releases them: the root is the sole holder of all three again. */
	assert_int_equal(t_release(dn), 0);
	struct stage_report r = stage_report(done, &box);
	assert_int_equal(r.rc, -1);
	assert_int_equal(r.err, EPIPE);
	assert_int_equal(r.messages, 3);
	for (int i = 0; i < 3; i++) {
		trindle_message_t sole = { NULL, s[i] };

		assert_int_equal(t_await_note(done, sole, &box), 1);
		assert_int_equal(trindle_access(s[i]), RW);
		assert_int_equal(t_release(s[i]), 0);
	}
	t_await_gone(w, done, &box);
	assert_int_equal(t_release(done), 0);
}

static void test_util_stage_stop_finishes_the_take(void **state)
{
	(void)state;
	trindle_pipe_t done = t_pipe(2), next = t_pipe(8);
	trindle_pipe_t w = stage_start(done, 8,
			(struct stage_cfg){ 0, 3, 1, 5 }, next);
	struct t_box box = { .notes = 0 };
	trindle_message_t m;

	stage_feed(w, 5, 0, NULL);
	/* Asked to stop at the first of a take of three: the other two
	 * still go through work and on; the last two stay queued. */
	struct stage_report r = stage_report(done, &box);
	assert_int_equal(r.rc, 1);
	assert_int_equal(r.messages, 3);
	assert_int_equal(r.left, 2);
	t_await_gone(w, done, &box);
	for (unsigned long i = 1; i <= 3; i++) {
		assert_int_equal(trindle_util_receive(next, &m, 0), 1);
		t_expect_label(&m, next, i);
	}
	assert_int_equal(trindle_util_receive(next, &m, -1), 0);
	assert_int_equal(t_release(next), 0);
	assert_int_equal(t_release(done), 0);
}

/* What the root's own stage saw. */
struct note_log {
	unsigned long messages, sole, closed;
	trindle_object_t sole_of, closed_of;
};

/* Counts each kind; a segment the root is sole holder of again moves on. */
static int note_work(const trindle_message_t *in, trindle_object_t *out,
		void *arg)
{
	struct note_log *l = arg;

	switch (trindle_util_kind(in)) {
	case TRINDLE_UTIL_MESSAGE:
		l->messages++;
		break;
	case TRINDLE_UTIL_SOLE:
		l->sole++;
		l->sole_of = in->content;
		*out = in->content;
		break;
	default:
		l->closed++;
		l->closed_of = in->address;
		break;
	}
	return 0;
}

static void test_util_stage_passes_notices_to_work(void **state)
{
	(void)state;
	trindle_pipe_t p = t_pipe(4), q = t_pipe(4);
	trindle_pipe_t w = t_start(drop_entry, p);
	trindle_segment_t s = t_segment(16, 5);
	struct note_log l = { 0, 0, 0, NULL, NULL };
	trindle_message_t m;
	unsigned long label = 0, segment = 0;

	/* The worker lets go of s (the root's notice), moves label 7 to p
	 * and ends (the closure notice of w); then p runs dry. */
	assert_int_equal(t_send(w, s), 0);
	assert_int_equal(trindle_util_stage(p, q, 2, note_work, &l), 0);
	assert_int_equal(l.messages, 1);
	assert_int_equal(l.sole, 1);
	assert_ptr_equal(l.sole_of, s);
	assert_int_equal(l.closed, 1);
	assert_ptr_equal(l.closed_of, w);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(trindle_util_receive(q, &m, 0), 1);
		if (m.content == s) {
			assert_int_equal(trindle_access(s), RW);
			assert_int_equal(t_release(s), 0);
			segment++;
		} else {
			t_expect_label(&m, q, 7);
			label++;
		}
	}
	assert_int_equal(label, 1);
	assert_int_equal(segment, 1);
	assert_int_equal(t_release(q), 0);
	assert_int_equal(t_release(p), 0);
}

/* Counts its calls and moves nothing on. */
static int count_work(const trindle_message_t *in, trindle_object_t *out,
		void *arg)
{
	(void)in;
	(void)out;
	++*(unsigned long *)arg;
	return 0;
}

static void test_util_stage_dry_input_returns_zero_at_once(void **state)
{
	(void)state;
	trindle_pipe_t p = t_pipe(1), q = t_pipe(1);
	unsigned long calls = 0;

	/* Nobody else may send on p: the loop does not wait. */
	assert_int_equal(trindle_util_stage(p, q, 4, count_work, &calls), 0);
	assert_int_equal(calls, 0);
	assert_int_equal(trindle_measure(q), 0);
	assert_int_equal(t_release(q), 0);
	assert_int_equal(t_release(p), 0);
}

/* Moves something the root does not hold. */
static int stray_work(const trindle_message_t *in, trindle_object_t *out,
		void *arg)
{
	(void)in;
	*out = arg;
	return 0;
}

static void test_util_stage_bad_arguments_fail_einval(void **state)
{
	(void)state;
	int local = 0;
	unsigned long calls = 0;
	trindle_pipe_t p = t_pipe(2), q = t_pipe(2), gone = t_pipe(1);
	trindle_pipe_t wake = t_pipe(1);
	trindle_pipe_t w = trindle_launch(wait_entry, 1, wake, NULL);
	trindle_segment_t s = t_labelled(1);
	trindle_message_t keep[4], m;

	assert_non_null(w);
	assert_int_equal(t_release(gone), 0);
	assert_int_equal(t_move(p, s), 0);
	const struct {
		trindle_pipe_t input, next;
		size_t take;
		trindle_util_work_fn work;
	} t[] = {
		{ NULL, q, 4, count_work },
		{ w, q, 4, count_work },        /* SEND only: not its creator */
		{ gone, q, 4, count_work },
		{ &local, q, 4, count_work },
		{ p, NULL, 4, count_work },
		{ p, gone, 4, count_work },
		{ p, &local, 4, count_work },
		{ p, s, 4, count_work },        /* not a pipe (and not held) */
		{ p, q, 0, count_work },
		{ p, q, TRINDLE_UTIL_STAGE_MAX + 1, count_work },
		{ p, q, 4, NULL },
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		errno = 0;
		assert_int_equal(trindle_util_stage(t[i].input, t[i].next,
				t[i].take, t[i].work, &calls), -1);
		assert_int_equal(errno, EINVAL);
	}
	/* Nothing was taken, nothing called. */
	assert_int_equal(calls, 0);
	assert_int_equal(trindle_measure(p), 1);
	/* work moving an object the caller does not hold: that move is
	 * dropped, the loop ends, the message taken stays the caller's. */
	errno = 0;
	assert_int_equal(trindle_util_stage(p, q, 4, stray_work, &local), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(trindle_access(s), RW);
	assert_int_equal(trindle_measure(q), 0);
	assert_int_equal(t_release(s), 0);
	t_nudge(w);
	assert_int_equal(t_await_end(w, wake, keep, 4), 0);
	assert_int_equal(trindle_util_receive(p, &m, 0), 0);
	assert_int_equal(t_release(wake), 0);
	assert_int_equal(t_release(q), 0);
	assert_int_equal(t_release(p), 0);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup(f, t_drop_notices)
	const struct CMUnitTest tests[] = {
		T(test_util_allocate_copies_or_zeroes),
		T(test_util_release_drops_access),
		T(test_util_release_null_does_nothing),
		T(test_util_release_not_held_fails_einval),
		T(test_util_send_shares_and_keeps),
		T(test_util_send_full_pipe_fails_eagain),
		T(test_util_send_dead_pipe_fails_epipe),
		T(test_util_send_not_held_fails_einval),
		T(test_util_move_hands_over_with_write),
		T(test_util_move_failure_keeps_object),
		T(test_util_move_or_release_lets_go_on_failure),
		T(test_util_receive_alone_returns_zero_at_once),
		T(test_util_receive_times_out_then_sees_end),
		T(test_util_receive_returns_notices_and_messages),
		T(test_util_receive_not_creator_fails_einval),
		T(test_util_receive_bad_pipe_still_delivers_notice),
		T(test_util_kind_names_each_shape),
		T(test_util_error_tells_why),
		T(test_util_batch_add_checks_room),
		T(test_util_batch_add_refuses_null),
		T(test_util_batch_flush_runs_in_order),
		T(test_util_batch_flush_keeps_failed_in_order),
		T(test_util_batch_flush_timeout_zero_never_waits),
		T(test_util_batch_flush_bad_inbox_changes_nothing),
		T(test_util_stage_pipeline_moves_every_segment_once),
		T(test_util_stage_holds_back_while_next_is_full),
		T(test_util_stage_ends_when_next_dies),
		T(test_util_stage_stop_finishes_the_take),
		T(test_util_stage_passes_notices_to_work),
		T(test_util_stage_dry_input_returns_zero_at_once),
		T(test_util_stage_bad_arguments_fail_einval),
	};
	return cmocka_run_group_tests_name("util", tests, NULL, NULL);
}
