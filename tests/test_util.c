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
	};
	return cmocka_run_group_tests_name("util", tests, NULL, NULL);
}
