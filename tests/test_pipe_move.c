/* SPDX-License-Identifier: MIT */
/*
 * Pipe moves (issue 14, the agreed design's section A): a send of a pipe
 * followed in the same sync by its release, by the process holding
 * RECEIVE on it, hands RECEIVE over with the queue intact.  One test per
 * rule, each looking at what a program can see: rights, queue lengths,
 * the messages and their order, failed messages, notices.
 */
#include "helpers.h"

#include <sched.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

enum {
	RW = TRINDLE_ACCESS_READ | TRINDLE_ACCESS_WRITE,
	S = TRINDLE_ACCESS_SEND,
	SR = TRINDLE_ACCESS_SEND | TRINDLE_ACCESS_RECEIVE,
};

/* ---- worker side (no cmocka asserts off the main thread) ---------------- */

/* A token from the test thread: an empty segment says "go on", a one-byte
 * segment says "end". */
static bool token_is_end(trindle_segment_t t)
{
	bool end = trindle_measure(t) != 0;
	t_w_release(t);
	return end;
}

/* Holds SEND on the pipe it is given (after reply).  At each "go on"
 * moves a new labelled segment (100, 101, ...) into it and reports
 * { its access to the pipe, the messages that failed, the closure notices
 * of the pipe seen so far }; at "end", reports the same with nothing
 * sent and ends. */
static void sender_entry(trindle_pipe_t input)
{
	trindle_pipe_t reply = trindle_util_next_object(input);
	trindle_pipe_t p = trindle_util_next_object(input);
	uintptr_t closed = 0, label = 100;
	trindle_message_t m;

	while (trindle_util_receive(input, &m, -1) == 1) {
		if (trindle_util_kind(&m) == TRINDLE_UTIL_CLOSED) {
			closed += m.address == p;
			continue;
		}
		if (trindle_util_kind(&m) != TRINDLE_UTIL_MESSAGE)
			continue;
		bool end = token_is_end(m.content);
		uintptr_t v[3] = { (uintptr_t)trindle_access(p), 0, closed };
		if (!end) {
			trindle_segment_t s = t_label(label++);
			v[1] = t_w_move(p, s);
			if (v[1])
				t_w_release(s);
		}
		t_w_report(reply, v, 3);
		if (end)
			return;
	}
}

/* Receives a pipe X (after reply) and reports { access(X), measure(X),
 * the labels of the measure(X) messages it then takes from X }.  Then at
 * "go on" releases X and reports { release failed, access(X) } and waits
 * for "end"; at "end" it ends holding X. */
static void taker_entry(trindle_pipe_t input)
{
	trindle_pipe_t reply = trindle_util_next_object(input);
	trindle_pipe_t x = trindle_util_next_object(input);
	uintptr_t v[10] = { (uintptr_t)trindle_access(x), trindle_measure(x) };
	size_t n = v[1] < 8 ? v[1] : 8;

	for (size_t i = 0; i < n; i++) {
		trindle_segment_t s = trindle_util_next_object(x);
		v[2 + i] = s ? t_label_of(s) : 0;
		t_w_release(s);
	}
	t_w_report(reply, v, 2 + n);
	if (token_is_end(trindle_util_next_object(input)))
		return;
	uintptr_t r[2] = { t_w_release(x), (uintptr_t)trindle_access(x) };
	t_w_report(reply, r, 2);
	token_is_end(trindle_util_next_object(input));
}

/* Makes a pipe X, queues labels 1 and 2 in it, shares X with reply (the
 * test thread gets SEND) and ends with trindle_exit(X). */
static void exiter_entry(trindle_pipe_t input)
{
	trindle_pipe_t reply = trindle_util_next_object(input);
	trindle_pipe_t x = trindle_pipe(4);
	t_w_move(x, t_label(1));
	t_w_move(x, t_label(2));
	t_w_send(reply, x);
	trindle_exit(x);
}

/* Tries to move its own input pipe to reply and reports { messages that
 * failed, 1 if they came back as { reply, input }, { NULL, input } in that
 * order, access(input) }; then waits for "end". */
static void input_mover_entry(trindle_pipe_t input)
{
	trindle_pipe_t reply = trindle_util_next_object(input);
	trindle_message_t m[2] = { { reply, input }, { NULL, input } };
	trindle_mailbox_t out = { 2, m };
	uintptr_t v[3] = { 99, 0, 0 };

	if (trindle_sync(&out, NULL) == 0) {
		v[0] = out.count;
		v[1] = out.count == 2 && m[0].address == reply &&
			m[0].content == input && !m[1].address &&
			m[1].content == input;
	}
	v[2] = (uintptr_t)trindle_access(input);
	t_w_report(reply, v, 3);
	token_is_end(trindle_util_next_object(input));
}

/* Makes a pipe X and shares it with reply (the test thread gets SEND);
 * at "end" reports { access(X), measure(X) } and ends (X dies). */
static void maker_entry(trindle_pipe_t input)
{
	trindle_pipe_t reply = trindle_util_next_object(input);
	trindle_pipe_t x = trindle_pipe(4);
	t_w_send(reply, x);
	token_is_end(trindle_util_next_object(input));
	uintptr_t v[2] = { (uintptr_t)trindle_access(x), trindle_measure(x) };
	t_w_report(reply, v, 2);
}

/* ---- root side ----------------------------------------------------------- */

static void read_report(trindle_pipe_t reply, struct t_box *b, uintptr_t *v,
			size_t n)
{
	const uintptr_t *r = t_next_from(reply, b);
	assert_non_null(r);
	assert_int_equal(trindle_measure((void *)r), n * sizeof *v);
	memcpy(v, r, n * sizeof *v);
	assert_int_equal(t_release((void *)r), 0);
}

static void end_token(trindle_pipe_t w)
{
	unsigned char one = 1;
	trindle_segment_t t = trindle_allocate(1, &(trindle_buffer_t){ 1, &one });
	assert_non_null(t);
	assert_int_equal(t_move(w, t), 0);
}

/* Queues labels first, first + 1, ... (n of them) in x, moved. */
static void queue_labels(trindle_pipe_t x, unsigned long first, size_t n)
{
	for (size_t i = 0; i < n; i++)
		assert_int_equal(t_move(x, t_labelled(first + i)), 0);
}

/* Takes n messages from x here, checking their labels in order. */
static void expect_labels(trindle_pipe_t x, unsigned long first, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		trindle_message_t m;
		assert_int_equal(t_recv(x, &m, 0), 1);
		t_expect_label(&m, x, first + i);
	}
}

/* The next message through pipe here, which must carry want. */
static void expect_object(trindle_pipe_t pipe, trindle_object_t want)
{
	trindle_message_t m;
	assert_int_equal(t_recv(pipe, &m, 0), 1);
	assert_ptr_equal(m.address, pipe);
	assert_ptr_equal(m.content, want);
}

/* ---- the rules ------------------------------------------------------------ */

/* The queue travels intact: count, order, contents; the mover holds
 * nothing, nobody can receive from X in flight, the receiver gets
 * SEND|RECEIVE. */
static void test_move_keeps_queue_intact(void **state)
{
	(void)state;
	trindle_pipe_t x = t_pipe(4), y = t_pipe(2);
	queue_labels(x, 1, 3);
	assert_int_equal(t_move(y, x), 0);
	assert_int_equal(trindle_access(x), 0);
	assert_int_equal(trindle_measure(x), 0);
	/* In flight: a receive request on X fails. */
	trindle_message_t rq = { x, NULL }, got;
	trindle_mailbox_t o = { 1, &rq }, in = { 1, &got };
	assert_int_equal(trindle_sync_timeout(&o, &in, 0), 0);
	assert_int_equal(o.count, 1);
	assert_int_equal(in.count, 0);
	expect_object(y, x);
	assert_int_equal(trindle_access(x), SR);
	assert_int_equal(trindle_measure(x), 3);
	expect_labels(x, 1, 3);
	assert_int_equal(trindle_measure(x), 0);
	assert_int_equal(t_release(x), 0);
	assert_int_equal(trindle_access(x), 0);
	assert_int_equal(t_release(y), 0);
}

/* Other SEND holders notice nothing: their sends go through while X is in
 * flight and after, in order, and they get no notice. */
static void test_move_senders_keep_send(void **state)
{
	(void)state;
	struct t_box b = { 0 };
	uintptr_t v[3];
	trindle_pipe_t reply = t_pipe(8), x = t_pipe(4), y = t_pipe(1);
	trindle_pipe_t w = t_start(sender_entry, reply);
	assert_int_equal(t_send(w, x), 0);
	t_nudge(w);
	read_report(reply, &b, v, 3);
	assert_int_equal(v[0], S);
	assert_int_equal(v[1], 0);
	assert_int_equal(t_move(y, x), 0);
	t_nudge(w); /* a send while X is in flight */
	read_report(reply, &b, v, 3);
	assert_int_equal(v[0], S);
	assert_int_equal(v[1], 0);
	assert_int_equal(v[2], 0);
	expect_object(y, x);
	assert_int_equal(trindle_measure(x), 2);
	t_nudge(w); /* and after */
	read_report(reply, &b, v, 3);
	assert_int_equal(v[0], S);
	assert_int_equal(v[1], 0);
	assert_int_equal(v[2], 0);
	expect_labels(x, 100, 3);
	end_token(w);
	read_report(reply, &b, v, 3);
	assert_int_equal(v[0], S);
	assert_int_equal(v[2], 0);
	t_await_gone(w, reply, &b);
	assert_int_equal(t_release(x), 0);
	assert_int_equal(t_release(y), 0);
	assert_int_equal(t_release(reply), 0);
}

/* A worker that receives X by a move holds SEND|RECEIVE and takes the
 * queue; its release kills X: every other SEND holder (a worker and the
 * test thread, which kept SEND by a share before the move) gets the
 * closure notice exactly once. */
static void test_move_receiver_release_kills(void **state)
{
	(void)state;
	struct t_box b = { 0 };
	uintptr_t v[5];
	trindle_pipe_t reply = t_pipe(8), k = t_pipe(1), x = t_pipe(4);
	trindle_pipe_t s = t_start(sender_entry, reply);
	trindle_pipe_t t = t_start(taker_entry, reply);
	assert_int_equal(t_send(s, x), 0);
	t_nudge(s); /* it holds SEND on X now: label 100 is queued */
	read_report(reply, &b, v, 3);
	assert_int_equal(v[0], S);
	assert_int_equal(v[1], 0);
	queue_labels(x, 7, 2);
	/* A share into k (for the test thread's own SEND), then the move. */
	trindle_message_t m[3] = { { k, x }, { t, x }, { NULL, x } };
	trindle_mailbox_t o = { 3, m };
	assert_int_equal(trindle_sync(&o, NULL), 0);
	assert_int_equal(o.count, 0);
	assert_int_equal(trindle_access(x), 0);
	read_report(reply, &b, v, 5);
	assert_int_equal(v[0], SR);
	assert_int_equal(v[1], 3);
	assert_int_equal(v[2], 100);
	assert_int_equal(v[3], 7);
	assert_int_equal(v[4], 8);
	expect_object(k, x);
	assert_int_equal(trindle_access(x), S);
	t_nudge(t); /* the taker releases X */
	read_report(reply, &b, v, 2);
	assert_int_equal(v[0], 0);
	assert_int_equal(v[1], 0);
	assert_int_equal(t_await_note(reply, (trindle_message_t){ x, NULL }, &b), 1);
	assert_int_equal(trindle_access(x), 0);
	end_token(s);
	uintptr_t r[3];
	read_report(reply, &b, r, 3);
	assert_int_equal(r[0], 0);
	assert_int_equal(r[2], 1);
	end_token(t);
	t_await_gone(s, reply, &b);
	t_await_gone(t, reply, &b);
	assert_int_equal(t_count_notes(&b, (trindle_message_t){ x, NULL }), 1);
	assert_int_equal(t_release(k), 0);
	assert_int_equal(t_release(reply), 0);
}

/* The receiving worker's end kills X like a pipe it made: the closure
 * notice comes once, and what X queued is released (a segment the test
 * thread shares becomes its alone again). */
static void test_move_receiver_end_kills(void **state)
{
	(void)state;
	struct t_box b = { 0 };
	uintptr_t v[2];
	trindle_pipe_t reply = t_pipe(8), k = t_pipe(1), x = t_pipe(4);
	trindle_pipe_t t = t_start(taker_entry, reply);
	trindle_segment_t seg = t_segment(16, 5);
	trindle_message_t m[3] = { { k, x }, { t, x }, { NULL, x } };
	trindle_mailbox_t o = { 3, m };
	assert_int_equal(trindle_sync(&o, NULL), 0);
	assert_int_equal(o.count, 0);
	read_report(reply, &b, v, 2);
	assert_int_equal(v[0], SR);
	assert_int_equal(v[1], 0);
	expect_object(k, x);
	assert_int_equal(t_send(x, seg), 0); /* queued in X, shared */
	assert_int_equal(trindle_access(seg), TRINDLE_ACCESS_READ);
	end_token(t);
	t_await_gone(t, reply, &b);
	assert_int_equal(t_count_notes(&b, (trindle_message_t){ x, NULL }), 1);
	assert_int_equal(trindle_access(x), 0);
	assert_int_equal(t_await_note(reply, (trindle_message_t){ NULL, seg }, &b), 1);
	assert_int_equal(trindle_access(seg), RW);
	assert_int_equal(t_release(seg), 0);
	assert_int_equal(t_release(k), 0);
	assert_int_equal(t_release(reply), 0);
}

/* The pipe carrying a moving message dies with it queued: X dies, X's
 * contents are released, its SEND holders get the closure notice once.
 * Nested: X's RECEIVE in Y, Y's in Z; Z dies, so do Y and X. */
static void test_move_carrier_death_kills(void **state)
{
	(void)state;
	struct t_box b = { 0 };
	uintptr_t v[3];
	trindle_pipe_t reply = t_pipe(8), k = t_pipe(4);
	trindle_pipe_t x = t_pipe(2), y = t_pipe(2), z = t_pipe(2);
	trindle_pipe_t s = t_start(sender_entry, reply);
	trindle_segment_t seg = t_segment(16, 9);
	assert_int_equal(t_send(s, x), 0);
	t_nudge(s); /* it holds SEND on X now: label 100 is queued */
	read_report(reply, &b, v, 3);
	assert_int_equal(v[0], S);
	assert_int_equal(v[1], 0);
	assert_int_equal(t_send(x, seg), 0);
	trindle_message_t m[6] = { { k, x }, { y, x }, { NULL, x },
				   { k, y }, { z, y }, { NULL, y } };
	trindle_mailbox_t o = { 6, m };
	assert_int_equal(trindle_sync(&o, NULL), 0);
	assert_int_equal(o.count, 0);
	expect_object(k, x);
	expect_object(k, y);
	assert_int_equal(trindle_access(x), S);
	assert_int_equal(trindle_access(y), S);
	assert_int_equal(trindle_measure(x), 2);
	assert_int_equal(trindle_access(seg), TRINDLE_ACCESS_READ);
	assert_int_equal(t_release(z), 0);
	/* The test thread held SEND on both: one notice each, and seg is
	 * its own again. */
	trindle_message_t got[8];
	size_t n = t_notices(got, 8), nx = 0, ny = 0, ns = 0;
	for (size_t i = 0; i < n; i++) {
		nx += got[i].address == x && !got[i].content;
		ny += got[i].address == y && !got[i].content;
		ns += !got[i].address && got[i].content == seg;
	}
	assert_int_equal(nx, 1);
	assert_int_equal(ny, 1);
	assert_int_equal(ns, 1);
	assert_int_equal(trindle_access(x), 0);
	assert_int_equal(trindle_access(y), 0);
	assert_int_equal(trindle_access(seg), RW);
	end_token(s);
	read_report(reply, &b, v, 3);
	assert_int_equal(v[0], 0);
	assert_int_equal(v[2], 1);
	t_await_gone(s, reply, &b);
	assert_int_equal(t_notices(got, 8), 0);
	assert_int_equal(t_release(seg), 0);
	assert_int_equal(t_release(k), 0);
	assert_int_equal(t_release(reply), 0);
}

/* The carrier dies between a move's send and its release (X in flight
 * in Y, Y released, then X released), while a worker holds SEND on X:
 * the mover's hold on X ends exactly once, by its release succeeding or
 * by X's closure notice, never neither (model seed 479, step 38: the
 * release failed and no notice came).  The worker gets its notice once. */
static void test_move_carrier_dies_before_release(void **state)
{
	(void)state;
	struct t_box b = { 0 };
	uintptr_t v[3];
	trindle_pipe_t reply = t_pipe(8), x = t_pipe(2), y = t_pipe(2);
	trindle_pipe_t s = t_start(sender_entry, reply);
	assert_int_equal(t_send(s, x), 0);
	t_nudge(s); /* it holds SEND on X now */
	read_report(reply, &b, v, 3);
	assert_int_equal(v[0], S);
	trindle_message_t m[3] = { { y, x }, { NULL, y }, { NULL, x } };
	trindle_mailbox_t o = { 3, m };
	assert_int_equal(trindle_sync(&o, NULL), 0);
	size_t released = o.count == 0;
	assert_int_equal(trindle_access(x), 0);
	assert_int_equal(trindle_access(y), 0);
	trindle_message_t got[8];
	size_t n = t_notices(got, 8), notes = 0;
	for (size_t i = 0; i < n; i++)
		notes += got[i].address == x && !got[i].content;
	assert_int_equal(released + notes, 1);
	end_token(s);
	read_report(reply, &b, v, 3);
	assert_int_equal(v[2], 1);
	t_await_gone(s, reply, &b);
	assert_int_equal(t_release(reply), 0);
}

/* A move of X through X fails: both messages come back, in order, and X
 * is as it was. */
static void test_move_through_itself_fails(void **state)
{
	(void)state;
	trindle_pipe_t x = t_pipe(4);
	queue_labels(x, 3, 2);
	trindle_message_t m[2] = { { x, x }, { NULL, x } };
	trindle_mailbox_t o = { 2, m };
	assert_int_equal(trindle_sync(&o, NULL), 0);
	assert_int_equal(o.count, 2);
	assert_ptr_equal(m[0].address, x);
	assert_ptr_equal(m[0].content, x);
	assert_null(m[1].address);
	assert_ptr_equal(m[1].content, x);
	assert_int_equal(trindle_access(x), SR);
	assert_int_equal(trindle_measure(x), 2);
	expect_labels(x, 3, 2);
	assert_int_equal(t_release(x), 0);
}

/* A worker cannot move its own input pipe: the send and its release fail,
 * in order, and it keeps SEND|RECEIVE on it. */
static void test_move_of_input_pipe_fails(void **state)
{
	(void)state;
	struct t_box b = { 0 };
	uintptr_t v[3];
	trindle_pipe_t reply = t_pipe(4);
	trindle_pipe_t w = t_start(input_mover_entry, reply);
	read_report(reply, &b, v, 3);
	assert_int_equal(v[0], 2);
	assert_int_equal(v[1], 1);
	assert_int_equal(v[2], SR);
	assert_int_equal(trindle_measure(reply), 0);
	assert_int_equal(trindle_access(w), S);
	end_token(w);
	t_await_gone(w, reply, &b);
	assert_int_equal(b.tail, b.head); /* nothing else came */
	assert_int_equal(t_release(reply), 0);
}

/* Not adjacent: send X, other messages, then release X: still a move. */
static void test_move_not_adjacent(void **state)
{
	(void)state;
	trindle_pipe_t x = t_pipe(4), y = t_pipe(4);
	trindle_segment_t l = t_labelled(5);
	queue_labels(x, 1, 2);
	trindle_message_t m[4] = { { y, x }, { y, l }, { NULL, l }, { NULL, x } };
	trindle_mailbox_t o = { 4, m };
	assert_int_equal(trindle_sync(&o, NULL), 0);
	assert_int_equal(o.count, 0);
	assert_int_equal(trindle_access(x), 0);
	expect_object(y, x);
	assert_int_equal(trindle_access(x), SR);
	trindle_message_t got;
	assert_int_equal(t_recv(y, &got, 0), 1);
	t_expect_label(&got, y, 5);
	assert_int_equal(trindle_measure(x), 2);
	expect_labels(x, 1, 2);
	assert_int_equal(t_release(x), 0);
	assert_int_equal(t_release(y), 0);
}

/* Two sends of X before its release: the earlier gives SEND, the last
 * one RECEIVE. */
static void test_move_after_share(void **state)
{
	(void)state;
	trindle_pipe_t x = t_pipe(2), k = t_pipe(2), y = t_pipe(2);
	queue_labels(x, 4, 1);
	trindle_message_t m[3] = { { k, x }, { y, x }, { NULL, x } };
	trindle_mailbox_t o = { 3, m };
	assert_int_equal(trindle_sync(&o, NULL), 0);
	assert_int_equal(o.count, 0);
	assert_int_equal(trindle_access(x), 0);
	expect_object(k, x);
	assert_int_equal(trindle_access(x), S);
	trindle_message_t rq = { x, NULL };
	trindle_mailbox_t ro = { 1, &rq };
	assert_int_equal(trindle_sync(&ro, NULL), 0);
	assert_int_equal(ro.count, 1); /* SEND only: no receiving */
	expect_object(y, x);
	assert_int_equal(trindle_access(x), SR); /* counts once */
	expect_labels(x, 4, 1);
	assert_int_equal(t_release(x), 0);
	assert_int_equal(trindle_access(x), 0);
	assert_int_equal(t_release(k), 0);
	assert_int_equal(t_release(y), 0);
}

/* A receive request for X earlier in the sync goes with X: nothing of X
 * is delivered by that sync. */
static void test_move_takes_earlier_request(void **state)
{
	(void)state;
	trindle_pipe_t x = t_pipe(2), y = t_pipe(2);
	queue_labels(x, 6, 1);
	trindle_message_t m[3] = { { x, NULL }, { y, x }, { NULL, x } }, got[4];
	trindle_mailbox_t o = { 3, m }, in = { 4, got };
	assert_int_equal(trindle_sync(&o, &in), 0);
	assert_int_equal(o.count, 0);
	assert_int_equal(in.count, 0);
	expect_object(y, x);
	assert_int_equal(trindle_measure(x), 1);
	expect_labels(x, 6, 1);
	assert_int_equal(t_release(x), 0);
	assert_int_equal(t_release(y), 0);
}

/* trindle_exit(X) by a worker holding RECEIVE on X moves X to its out
 * pipe's receiver, queue intact. */
static void test_move_by_exit(void **state)
{
	(void)state;
	struct t_box b = { 0 };
	trindle_pipe_t reply = t_pipe(8);
	trindle_pipe_t w = t_start(exiter_entry, reply);
	trindle_pipe_t x = t_next_from(reply, &b); /* the share: SEND */
	assert_non_null(x);
	assert_ptr_equal(t_next_from(reply, &b), x); /* the exit: RECEIVE */
	t_await_gone(w, reply, &b);
	assert_int_equal(t_count_notes(&b, (trindle_message_t){ x, NULL }), 0);
	assert_int_equal(trindle_access(x), SR);
	assert_int_equal(trindle_measure(x), 2);
	expect_labels(x, 1, 2);
	assert_int_equal(t_release(x), 0);
	assert_int_equal(trindle_access(x), 0);
	assert_int_equal(t_release(reply), 0);
}

/* A move by a process holding only SEND passes that SEND on: the
 * receiver gets SEND, not RECEIVE, and the pipe's receiver keeps it. */
static void test_move_by_sender_passes_send(void **state)
{
	(void)state;
	struct t_box b = { 0 };
	uintptr_t v[2];
	trindle_pipe_t reply = t_pipe(8), k = t_pipe(1);
	trindle_pipe_t w = t_start(maker_entry, reply);
	trindle_pipe_t x = t_next_from(reply, &b);
	assert_non_null(x);
	assert_int_equal(trindle_access(x), S);
	assert_int_equal(t_move(k, x), 0);
	assert_int_equal(trindle_access(x), 0);
	expect_object(k, x);
	assert_int_equal(trindle_access(x), S);
	assert_int_equal(t_move(x, t_labelled(9)), 0);
	end_token(w);
	read_report(reply, &b, v, 2);
	assert_int_equal(v[0], SR);
	assert_int_equal(v[1], 1);
	t_await_gone(w, reply, &b);
	assert_int_equal(t_count_notes(&b, (trindle_message_t){ x, NULL }), 1);
	assert_int_equal(trindle_access(x), 0);
	assert_int_equal(t_release(k), 0);
	assert_int_equal(t_release(reply), 0);
}

/* ---- a pipe moved along a chain of three workers -------------------------- */

enum { CHAIN_SENDERS = 2, CHAIN_EACH = 300, CHAIN_HOPS = 3,
       CHAIN_QUOTA = CHAIN_SENDERS * CHAIN_EACH / CHAIN_HOPS,
       CHAIN_REPORT = 3 + 2 * CHAIN_QUOTA };

/* Sends CHAIN_EACH words { its input, seq } into the pipe it is given,
 * retrying while the pipe is full. */
static void pump_entry(trindle_pipe_t input)
{
	trindle_pipe_t to = trindle_util_next_object(input);
	for (uintptr_t seq = 0; seq < CHAIN_EACH; seq++) {
		uintptr_t v[2] = { (uintptr_t)input, seq };
		trindle_segment_t s = trindle_allocate(1, &(trindle_buffer_t){ sizeof v, v });
		while (trindle_util_move(to, s) != 0) {
			if (!(trindle_access(to) & TRINDLE_ACCESS_SEND)) {
				trindle_util_release(s);
				return;
			}
			sched_yield();
		}
	}
}

/* Given reply, the next hop (a worker's input, or an empty segment for
 * none) and then X by a move: takes CHAIN_QUOTA messages from X, moves X
 * on (or, last, releases it), and reports { its input, access(X) on
 * arrival, the failed messages of the move on, then each message's two
 * words }. */
static void chain_entry(trindle_pipe_t input)
{
	trindle_pipe_t reply = trindle_util_next_object(input);
	trindle_object_t next = trindle_util_next_object(input);
	trindle_pipe_t x = trindle_util_next_object(input);
	uintptr_t *v = calloc(CHAIN_REPORT, sizeof *v);
	if (!v)
		trindle_abort(NULL);
	v[0] = (uintptr_t)input;
	v[1] = (uintptr_t)trindle_access(x);
	for (size_t i = 0; i < CHAIN_QUOTA; i++) {
		const uintptr_t *w = trindle_util_next_object(x);
		if (!w)
			break;
		v[3 + 2 * i] = w[0];
		v[4 + 2 * i] = w[1];
		t_w_release((void *)w);
	}
	if (trindle_access(next) & TRINDLE_ACCESS_SEND) {
		v[2] = t_w_move(next, x);
	} else {
		t_w_release(next);
		v[2] = t_w_release(x);
	}
	t_w_report(reply, v, CHAIN_REPORT);
	free(v);
}

/* X moves from the test thread to A, from A to B, from B to C while two
 * workers keep sending into it: every message arrives once, and each
 * sender's messages in the order sent, across the hops. */
static void test_move_along_chain(void **state)
{
	(void)state;
	struct t_box b = { 0 };
	trindle_pipe_t reply = t_pipe(16), x = t_pipe(8);
	trindle_pipe_t hop[CHAIN_HOPS], pump[CHAIN_SENDERS];
	for (int i = 0; i < CHAIN_HOPS; i++)
		hop[i] = t_start(chain_entry, reply);
	for (int i = CHAIN_HOPS; i-- > 0;) {
		if (i + 1 < CHAIN_HOPS) {
			assert_int_equal(t_send(hop[i], hop[i + 1]), 0);
		} else {
			trindle_segment_t none = trindle_allocate(0, NULL);
			assert_int_equal(t_move(hop[i], none), 0);
		}
	}
	for (int i = 0; i < CHAIN_SENDERS; i++) {
		pump[i] = trindle_launch(pump_entry, 2, NULL, NULL);
		assert_non_null(pump[i]);
		assert_int_equal(t_send(pump[i], x), 0);
	}
	assert_int_equal(t_move(hop[0], x), 0);
	assert_int_equal(trindle_access(x), 0);

	/* The reports, put in hop order (a hop may report after the next
	 * one, which needs only X to go on). */
	const uintptr_t *rep[CHAIN_HOPS] = { NULL };
	for (int h = 0; h < CHAIN_HOPS; h++) {
		const uintptr_t *r = t_next_from(reply, &b);
		assert_non_null(r);
		assert_int_equal(trindle_measure((void *)r),
				 CHAIN_REPORT * sizeof *r);
		for (int i = 0; i < CHAIN_HOPS; i++)
			if (r[0] == (uintptr_t)hop[i])
				rep[i] = r;
	}
	uintptr_t next_seq[CHAIN_SENDERS] = { 0 };
	size_t total = 0;
	for (int h = 0; h < CHAIN_HOPS; h++) {
		const uintptr_t *r = rep[h];
		assert_non_null(r);
		assert_int_equal(r[1], SR);
		assert_int_equal(r[2], 0);
		for (size_t i = 0; i < CHAIN_QUOTA; i++) {
			int who = -1;
			for (int k = 0; k < CHAIN_SENDERS; k++)
				if (r[3 + 2 * i] == (uintptr_t)pump[k])
					who = k;
			assert_true(who >= 0);
			assert_int_equal(r[4 + 2 * i], next_seq[who]);
			next_seq[who]++;
			total++;
		}
		assert_int_equal(t_release((void *)r), 0);
	}
	assert_int_equal(total, CHAIN_SENDERS * CHAIN_EACH);
	for (int k = 0; k < CHAIN_SENDERS; k++)
		assert_int_equal(next_seq[k], CHAIN_EACH);
	for (int i = 0; i < CHAIN_HOPS; i++)
		t_await_gone(hop[i], reply, &b);
	/* The pumps end once they sent all (X dies after: no harm). */
	for (int i = 0; i < CHAIN_SENDERS; i++)
		assert_int_equal(t_await_note(reply,
				(trindle_message_t){ pump[i], NULL }, &b), 1);
	assert_int_equal(t_release(reply), 0);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup(f, t_drop_notices)
	const struct CMUnitTest tests[] = {
		T(test_move_keeps_queue_intact),
		T(test_move_senders_keep_send),
		T(test_move_receiver_release_kills),
		T(test_move_receiver_end_kills),
		T(test_move_carrier_death_kills),
		T(test_move_carrier_dies_before_release),
		T(test_move_through_itself_fails),
		T(test_move_of_input_pipe_fails),
		T(test_move_not_adjacent),
		T(test_move_after_share),
		T(test_move_takes_earlier_request),
		T(test_move_by_exit),
		T(test_move_by_sender_passes_send),
		T(test_move_along_chain),
	};
	return cmocka_run_group_tests_name("pipe_move", tests, NULL, NULL);
}
