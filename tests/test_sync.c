/* SPDX-License-Identifier: MIT */
/*
 * test_sync.c - the rules of trindle_sync() and trindle_sync_timeout():
 * order of handling, failed messages, delivery counts and fairness,
 * notices, when a call waits and when it must not, and the move rule.
 *
 * Workers never call cmocka (its asserts jump back into the test thread):
 * they report what they saw in the segments they send back, or through
 * the semaphores below, and the test thread asserts.
 */
#include "helpers.h"

#include <errno.h>
#include <sched.h>
#include <semaphore.h>
#include <stdbool.h>
#include <string.h>

#define RW (TRINDLE_ACCESS_READ | TRINDLE_ACCESS_WRITE)
#define STOP 0x5709UL
#define MS 1000000LL

/* The test's reply pipe; set before each launch, read by the workers. */
static trindle_pipe_t g_back;
/* How release_worker reports its release: by g_released or by a message. */
static bool g_ack_by_message;
static sem_t g_released;

/* ---- shared by both sides: no cmocka here ---- */

static bool is_stop(trindle_object_t o)
{
	return trindle_measure(o) == sizeof(unsigned long) && t_label_of(o) == STOP;
}

/* ---- worker side ---- */

/* Release what arrives until STOP (or until nobody can send any more). */
static void w_drain_until_stop(trindle_pipe_t input)
{
	trindle_object_t o;
	while ((o = trindle_util_next_object(input)) != NULL) {
		bool stop = is_stop(o);
		t_w_release(o);
		if (stop)
			return;
	}
}

/* Moves back every object it gets, until STOP; when it may write the
 * object, it first overwrites the label with its access bits. */
static void echo_worker(trindle_pipe_t input)
{
	trindle_object_t o;
	while ((o = trindle_util_next_object(input)) != NULL) {
		if (is_stop(o)) {
			t_w_release(o);
			return;
		}
		int acc = trindle_access(o);
		if (acc & TRINDLE_ACCESS_WRITE)
			*(unsigned long *)o = (unsigned long)acc;
		t_w_move(g_back, o);
	}
}

/* Keeps the first object it gets (so it is shared), answers with a new
 * segment labelled with its access to it, and lets go of it on STOP. */
static void keeper_worker(trindle_pipe_t input)
{
	trindle_object_t kept = trindle_util_next_object(input);
	trindle_segment_t reply = t_label((unsigned long)trindle_access(kept));
	if (reply)
		t_w_move(g_back, reply);
	w_drain_until_stop(input);
	t_w_release(kept);
}

/* Releases the first object it gets, then waits for STOP.  It says so
 * through g_released; with g_ack_by_message it also sends an ack, in the
 * same sync as the release. */
static void release_worker(trindle_pipe_t input)
{
	trindle_object_t o = trindle_util_next_object(input);
	if (g_ack_by_message) {
		trindle_segment_t ack = t_label(1);
		trindle_message_t m[3];
		trindle_util_batch_t b;
		trindle_util_batch_init(&b, m, 3);
		trindle_util_add_release(&b, o);
		trindle_util_add_move(&b, g_back, ack);
		trindle_util_flush(&b, NULL);
	} else {
		t_w_release(o);
	}
	sem_post(&g_released);
	w_drain_until_stop(input);
}

/* On its first message, lets go of its SEND on g_back; then waits for STOP. */
static void let_go_worker(trindle_pipe_t input)
{
	trindle_object_t go = trindle_util_next_object(input);
	t_w_release(go);
	t_w_release(g_back);
	w_drain_until_stop(input);
}

/* ---- test side ---- */

/* Queue count labelled segments on pipe, moved so only the queue holds them. */
static void queue_labels(trindle_pipe_t pipe, unsigned long first, size_t count)
{
	for (size_t i = 0; i < count; i++)
		assert_int_equal(t_move(pipe, t_labelled(first + i)), 0);
}

/* One sync requesting each of pipes, with room for cap messages; never waits. */
static size_t receive_from(const trindle_pipe_t *pipes, size_t npipes,
		trindle_message_t *got, size_t cap)
{
	trindle_message_t req[4];
	assert_true(npipes <= 4);
	for (size_t i = 0; i < npipes; i++)
		req[i] = (trindle_message_t){ pipes[i], NULL };
	trindle_mailbox_t out = { npipes, req }, in = { cap, got };
	assert_int_equal(trindle_sync_timeout(&out, &in, 0), 0);
	assert_int_equal(out.count, 0);
	return in.count;
}

static void send_stop(trindle_pipe_t input)
{
	assert_int_equal(t_move(input, t_labelled(STOP)), 0);
}

/* Launch entry with g_back = a fresh pipe as its out; returns its input. */
static trindle_pipe_t start(trindle_entrypoint_t entry, trindle_pipe_t err)
{
	g_back = t_pipe(8);
	trindle_pipe_t input = trindle_launch(entry, 8, g_back, err);
	assert_non_null(input);
	return input;
}

/* Stop the worker, wait for its end with nothing else arriving, clean up. */
static void stop_and_end(trindle_pipe_t input, trindle_pipe_t wake)
{
	trindle_message_t extra[4];
	send_stop(input);
	assert_int_equal(t_await_end(input, wake, extra, 4), 0);
	assert_int_equal(trindle_access(input), 0);
	assert_int_equal(t_release(g_back), 0);
}

/* ---- order and failed messages ---- */

static void test_sync_handles_messages_in_order(void **state)
{
	(void)state;
	trindle_pipe_t p = trindle_pipe(8);
	trindle_segment_t a = t_labelled(1), b = t_labelled(2), c = t_labelled(3);
	trindle_message_t got[4];
	/* Sends keep their order in the pipe, and a release placed before a
	 * send of the same object makes that send fail: only in-order
	 * handling gives exactly this outcome. */
	trindle_message_t m[] = { { p, a }, { NULL, a }, { p, b }, { NULL, b },
	                          { NULL, c }, { p, c } };
	trindle_mailbox_t out = { 6, m };

	assert_int_equal(trindle_sync(&out, NULL), 0);
	assert_int_equal(out.count, 1);
	assert_ptr_equal(m[0].address, p);
	assert_ptr_equal(m[0].content, c);
	assert_int_equal(trindle_access(c), 0);

	assert_int_equal(receive_from(&p, 1, got, 4), 2);
	t_expect_label(&got[0], p, 1);
	t_expect_label(&got[1], p, 2);
	assert_int_equal(t_release(p), 0);
}

static void test_sync_failed_messages_grouped_first_in_original_order(void **state)
{
	(void)state;
	trindle_pipe_t p = trindle_pipe(1), p2 = trindle_pipe(1);
	trindle_pipe_t dead = trindle_pipe(1);
	trindle_segment_t x = t_labelled(1), y = t_labelled(2), z = t_labelled(3);
	int not_a_pipe;
	assert_int_equal(t_release(dead), 0);

	trindle_message_t m[] = {
		{ p, x },               /* ok: fills p */
		{ p, y },               /* fails: p is full */
		{ NULL, x },            /* ok: completes the move of x */
		{ NULL, NULL },         /* fails: not a message */
		{ dead, z },            /* fails: dead pipe */
		{ p2, NULL },           /* ok: a valid receive request */
		{ NULL, z },            /* fails: the move of z failed */
		{ &not_a_pipe, NULL },  /* fails: nothing to receive from */
	};
	const trindle_message_t want[] = { { p, y }, { NULL, NULL }, { dead, z },
	                                   { NULL, z }, { &not_a_pipe, NULL } };
	trindle_mailbox_t out = { 8, m };

	assert_int_equal(trindle_sync(&out, NULL), 0);
	assert_int_equal(out.count, 5);
	for (size_t i = 0; i < 5; i++) {
		assert_ptr_equal(m[i].address, want[i].address);
		assert_ptr_equal(m[i].content, want[i].content);
	}
	assert_int_equal(trindle_access(x), 0);
	assert_int_equal(trindle_access(y), RW);
	assert_int_equal(trindle_access(z), RW);
	/* full, not dead: the sender still has SEND */
	assert_int_equal(trindle_access(p) & TRINDLE_ACCESS_SEND, TRINDLE_ACCESS_SEND);
	assert_int_equal(trindle_access(dead) & TRINDLE_ACCESS_SEND, 0);

	assert_int_equal(t_release(y), 0);
	assert_int_equal(t_release(z), 0);
	assert_int_equal(t_release(p), 0);
	assert_int_equal(t_release(p2), 0);
}

static void test_sync_all_through_gives_out_count_zero(void **state)
{
	(void)state;
	trindle_pipe_t p = trindle_pipe(4);
	trindle_segment_t a = t_labelled(1);
	trindle_message_t m[] = { { p, a }, { NULL, a }, { p, NULL } };
	trindle_message_t got[2];
	trindle_mailbox_t out = { 3, m }, in = { 2, got };

	assert_int_equal(trindle_sync(&out, &in), 0);
	assert_int_equal(out.count, 0);
	assert_int_equal(in.count, 1);
	t_expect_label(&got[0], p, 1);
	assert_int_equal(t_release(p), 0);
}

static void test_sync_null_null_message_fails(void **state)
{
	(void)state;
	trindle_pipe_t p = trindle_pipe(2);
	trindle_segment_t a = t_labelled(4);
	trindle_message_t m[] = { { NULL, NULL }, { p, a }, { NULL, NULL } };
	trindle_mailbox_t out = { 3, m };

	assert_int_equal(trindle_sync(&out, NULL), 0);
	assert_int_equal(out.count, 2);
	assert_null(m[0].address);
	assert_null(m[0].content);
	assert_null(m[1].address);
	assert_null(m[1].content);
	/* the message between them went through */
	trindle_message_t got;
	assert_int_equal(receive_from(&p, 1, &got, 1), 1);
	t_expect_label(&got, p, 4);
	assert_int_equal(t_release(p), 0);
}

static void test_sync_null_or_empty_mailboxes_allowed(void **state)
{
	(void)state;
	trindle_message_t spare[1];
	trindle_mailbox_t none = { 0, NULL }, empty = { 0, spare };

	assert_int_equal(trindle_sync(NULL, NULL), 0);
	assert_int_equal(trindle_sync(&none, &none), 0);
	assert_int_equal(trindle_sync(&empty, &empty), 0);
	assert_int_equal(empty.count, 0);
	assert_int_equal(trindle_sync_timeout(NULL, NULL, 0), 0);
	assert_int_equal(trindle_sync_timeout(&none, NULL, -1), 0);
}

static void test_sync_null_address_with_count_is_einval(void **state)
{
	(void)state;
	trindle_mailbox_t bad = { 1, NULL };
	trindle_message_t spare[1] = { { NULL, NULL } };
	trindle_mailbox_t ok = { 1, spare };

	errno = 0;
	assert_int_equal(trindle_sync(&bad, NULL), -1);
	assert_int_equal(errno, EINVAL);
	bad.count = 1;
	errno = 0;
	assert_int_equal(trindle_sync(NULL, &bad), -1);
	assert_int_equal(errno, EINVAL);
	bad.count = 1;
	errno = 0;
	assert_int_equal(trindle_sync_timeout(&ok, &bad, 0), -1);
	assert_int_equal(errno, EINVAL);
}

static void test_sync_receive_request_does_not_persist(void **state)
{
	(void)state;
	trindle_pipe_t p = trindle_pipe(2);
	trindle_message_t req = { p, NULL }, got[2];
	trindle_mailbox_t out = { 1, &req }, in = { 2, got };

	assert_int_equal(trindle_sync(&out, NULL), 0);
	assert_int_equal(out.count, 0);
	queue_labels(p, 6, 1);
	/* The earlier request is gone: without a new one nothing comes. */
	assert_int_equal(trindle_sync(NULL, &in), 0);
	assert_int_equal(in.count, 0);
	assert_int_equal(receive_from(&p, 1, got, 2), 1);
	t_expect_label(&got[0], p, 6);
	assert_int_equal(t_release(p), 0);
}

/* ---- delivery counts ---- */

static void test_sync_sets_in_count_to_number_delivered(void **state)
{
	(void)state;
	trindle_pipe_t p = trindle_pipe(8);
	trindle_message_t got[8];
	queue_labels(p, 10, 3);

	assert_int_equal(receive_from(&p, 1, got, 8), 3);
	for (size_t i = 0; i < 3; i++)
		t_expect_label(&got[i], p, 10 + i);
	assert_int_equal(receive_from(&p, 1, got, 8), 0);
	assert_int_equal(t_release(p), 0);
}

static void test_sync_what_does_not_fit_stays_queued(void **state)
{
	(void)state;
	trindle_pipe_t p = trindle_pipe(8);
	trindle_message_t got[2];
	queue_labels(p, 20, 5);

	/* An inbox of no room delivers nothing and loses nothing. */
	assert_int_equal(receive_from(&p, 1, got, 0), 0);
	for (unsigned long next = 20; next < 25;) {
		size_t n = receive_from(&p, 1, got, 2);
		assert_int_equal(n, next + 2 <= 25 ? 2 : 1);
		for (size_t i = 0; i < n; i++)
			t_expect_label(&got[i], p, next++);
	}
	assert_int_equal(receive_from(&p, 1, got, 2), 0);
	assert_int_equal(t_release(p), 0);
}

/* ---- fairness ---- */

/* Which of pipes a message came through. */
static size_t pipe_index(const trindle_pipe_t *pipes, size_t n,
		const trindle_message_t *m)
{
	for (size_t i = 0; i < n; i++)
		if (m->address == pipes[i])
			return i;
	fail_msg("message from a pipe that was not requested");
	return n;
}

/* Receive total messages from pipes, one slot at a time, recording which
 * pipe each came from and checking each pipe's own order. */
static void one_slot_rounds(trindle_pipe_t *pipes, size_t n, size_t *order,
		size_t total, const unsigned long *first)
{
	unsigned long next[4];
	memcpy(next, first, n * sizeof *next);
	for (size_t k = 0; k < total; k++) {
		trindle_message_t got;
		assert_int_equal(receive_from(pipes, n, &got, 1), 1);
		order[k] = pipe_index(pipes, n, &got);
		t_expect_label(&got, pipes[order[k]], next[order[k]]++);
	}
}

static void test_sync_fair_one_slot_inbox_takes_each_pipe_in_turn(void **state)
{
	(void)state;
	trindle_pipe_t pipes[3];
	const unsigned long first[3] = { 100, 200, 300 };
	size_t order[12];
	for (size_t i = 0; i < 3; i++) {
		pipes[i] = trindle_pipe(8);
		queue_labels(pipes[i], first[i], 4);
	}

	one_slot_rounds(pipes, 3, order, 12, first);
	/* The first round serves each pipe once; after that the least
	 * recently served comes first, so the rounds repeat. */
	assert_true(order[0] != order[1] && order[1] != order[2] &&
	            order[0] != order[2]);
	for (size_t k = 3; k < 12; k++)
		assert_int_equal(order[k], order[k - 3]);
	for (size_t i = 0; i < 3; i++)
		assert_int_equal(t_release(pipes[i]), 0);
}

static void test_sync_fair_least_recently_served_first_across_calls(void **state)
{
	(void)state;
	trindle_pipe_t p[2] = { trindle_pipe(8), trindle_pipe(8) };
	trindle_pipe_t reversed[2];
	trindle_message_t got;
	queue_labels(p[0], 10, 3);
	queue_labels(p[1], 20, 3);
	reversed[0] = p[1];
	reversed[1] = p[0];

	/* p[0] alone is served first... */
	assert_int_equal(receive_from(&p[0], 1, &got, 1), 1);
	t_expect_label(&got, p[0], 10);
	/* ...so with both requested, p[1] comes first though listed second, */
	assert_int_equal(receive_from(p, 2, &got, 1), 1);
	t_expect_label(&got, p[1], 20);
	assert_int_equal(receive_from(p, 2, &got, 1), 1);
	t_expect_label(&got, p[0], 11);
	/* and the order of the requests does not matter. */
	assert_int_equal(receive_from(reversed, 2, &got, 1), 1);
	t_expect_label(&got, p[1], 21);
	assert_int_equal(receive_from(reversed, 2, &got, 1), 1);
	t_expect_label(&got, p[0], 12);
	assert_int_equal(t_release(p[0]), 0);
	assert_int_equal(t_release(p[1]), 0);
}

static void test_sync_fair_no_requested_pipe_starves(void **state)
{
	(void)state;
	trindle_pipe_t pipes[3] = { trindle_pipe(32), trindle_pipe(4), trindle_pipe(4) };
	const unsigned long first[3] = { 1000, 2000, 3000 };
	size_t order[6], served[3] = { 0, 0, 0 };
	queue_labels(pipes[0], first[0], 30);
	queue_labels(pipes[1], first[1], 2);
	queue_labels(pipes[2], first[2], 2);

	/* However busy pipes[0] is, the others get every other turn. */
	one_slot_rounds(pipes, 3, order, 6, first);
	for (size_t k = 0; k < 6; k++)
		served[order[k]]++;
	assert_int_equal(served[0], 2);
	assert_int_equal(served[1], 2);
	assert_int_equal(served[2], 2);
	for (size_t i = 0; i < 3; i++)
		assert_int_equal(t_release(pipes[i]), 0);
}

static void test_sync_fair_wide_inbox_alternates_pipes(void **state)
{
	(void)state;
	trindle_pipe_t p[2] = { trindle_pipe(8), trindle_pipe(8) };
	trindle_message_t got[6];
	unsigned long next[2] = { 40, 50 };
	queue_labels(p[0], 40, 3);
	queue_labels(p[1], 50, 3);

	/* One from each in turn within a single call too. */
	assert_int_equal(receive_from(p, 2, got, 6), 6);
	for (size_t k = 0; k < 6; k++) {
		size_t i = pipe_index(p, 2, &got[k]);
		if (k > 0)
			assert_ptr_not_equal(got[k].address, got[k - 1].address);
		t_expect_label(&got[k], p[i], next[i]++);
	}
	assert_int_equal(t_release(p[0]), 0);
	assert_int_equal(t_release(p[1]), 0);
}

/* ---- notices ---- */

static void test_sync_notice_delivered_without_receive_request(void **state)
{
	(void)state;
	trindle_message_t got[4];
	trindle_segment_t s = t_labelled(7);
	trindle_mailbox_t in = { 4, got };
	g_ack_by_message = false;
	trindle_pipe_t input = start(release_worker, NULL);

	assert_int_equal(t_send(input, s), 0);
	sem_wait(&g_released);
	/* No receive request at all: the notice still comes. */
	assert_int_equal(trindle_sync(NULL, &in), 0);
	assert_int_equal(in.count, 1);
	assert_null(got[0].address);
	assert_ptr_equal(got[0].content, s);
	assert_int_equal(trindle_access(s), RW);
	assert_int_equal(t_label_of(s), 7);

	stop_and_end(input, g_back);
	assert_int_equal(t_release(s), 0);
}

static void test_sync_notices_come_before_messages(void **state)
{
	(void)state;
	trindle_message_t got;
	trindle_segment_t s = t_labelled(8);
	g_ack_by_message = true;
	trindle_pipe_t input = start(release_worker, NULL);

	assert_int_equal(t_send(input, s), 0);
	/* Once the worker's sync has returned, both the notice and the ack
	 * are there; a one-slot inbox gets the notice first. */
	sem_wait(&g_released);
	assert_int_equal(t_recv(g_back, &got, -1), 1);
	assert_null(got.address);
	assert_ptr_equal(got.content, s);
	assert_int_equal(t_recv(g_back, &got, -1), 1);
	t_expect_label(&got, g_back, 1);

	stop_and_end(input, g_back);
	assert_int_equal(t_release(s), 0);
}

static void test_sync_release_takes_effect_before_a_later_send(void **state)
{
	(void)state;
	trindle_message_t got;
	trindle_segment_t s = t_labelled(9);
	g_ack_by_message = true;
	trindle_pipe_t input = start(release_worker, NULL);

	assert_int_equal(t_send(input, s), 0);
	/* The worker releases s and then, in the same sync, sends its ack.
	 * Effects keep the outbox order, so whenever the ack can be seen the
	 * notice can too, and it comes first. */
	assert_int_equal(t_recv(g_back, &got, -1), 1);
	assert_null(got.address);
	assert_ptr_equal(got.content, s);
	assert_int_equal(trindle_access(s), RW);
	assert_int_equal(t_recv(g_back, &got, -1), 1);
	t_expect_label(&got, g_back, 1);

	sem_wait(&g_released);   /* the worker's post: leave none behind */
	stop_and_end(input, g_back);
	assert_int_equal(t_release(s), 0);
}

/* ---- when sync waits ---- */

/* Moves a segment to an echo worker and asks for its answer in the same
 * call, by trindle_sync() or, with_timeout, trindle_sync_timeout(-1).  The
 * worker cannot answer before it gets the segment, so the request finds
 * nothing queued and the call has to wait for the answer. */
static void expect_wait_for_echo(bool with_timeout)
{
	trindle_pipe_t input = start(echo_worker, NULL);
	trindle_segment_t s = t_labelled(0);
	trindle_message_t got;
	trindle_message_t m[] = { { input, s }, { NULL, s }, { g_back, NULL } };
	trindle_mailbox_t out = { 3, m }, in = { 1, &got };

	if (with_timeout)
		assert_int_equal(trindle_sync_timeout(&out, &in, -1), 0);
	else
		assert_int_equal(trindle_sync(&out, &in), 0);
	assert_int_equal(out.count, 0);
	assert_int_equal(in.count, 1);
	t_expect_label(&got, g_back, RW);
	stop_and_end(input, g_back);
}

static void test_sync_waits_until_another_process_sends(void **state)
{
	(void)state;
	expect_wait_for_echo(false);
}

static void test_sync_timeout_negative_waits_like_sync(void **state)
{
	(void)state;
	expect_wait_for_echo(true);
}

static void test_sync_timeout_positive_returns_nothing_when_time_runs_out(void **state)
{
	(void)state;
	trindle_pipe_t input = start(echo_worker, NULL);
	trindle_message_t got = { NULL, NULL };

	/* The worker could send, but waits for us: nothing comes in time. */
	assert_int_equal(t_recv(g_back, &got, 2 * MS), 0);
	assert_null(got.address);
	/* A long limit still returns as soon as the answer arrives. */
	assert_int_equal(t_move(input, t_labelled(0)), 0);
	assert_int_equal(t_recv(g_back, &got, 60000 * MS), 1);
	t_expect_label(&got, g_back, RW);
	stop_and_end(input, g_back);
}

static void test_sync_timeout_zero_never_waits(void **state)
{
	(void)state;
	trindle_pipe_t input = start(echo_worker, NULL);
	trindle_pipe_t own = trindle_pipe(2);
	trindle_message_t got;

	assert_int_equal(t_recv(g_back, &got, 0), 0);
	/* but it still delivers what is already there */
	queue_labels(own, 5, 1);
	assert_int_equal(t_recv(own, &got, 0), 1);
	t_expect_label(&got, own, 5);
	assert_int_equal(t_release(own), 0);
	stop_and_end(input, g_back);
}

static void test_sync_never_waits_without_inbox_room(void **state)
{
	(void)state;
	trindle_pipe_t input = start(echo_worker, NULL);
	trindle_message_t req = { g_back, NULL }, spare[1];
	trindle_mailbox_t out = { 1, &req }, in = { 0, spare };

	/* A valid request on a pipe someone else may send on, but no room. */
	assert_int_equal(trindle_sync(&out, NULL), 0);
	assert_int_equal(out.count, 0);
	out.count = 1;
	assert_int_equal(trindle_sync(&out, &in), 0);
	assert_int_equal(out.count, 0);
	assert_int_equal(in.count, 0);
	stop_and_end(input, g_back);
}

static void test_sync_never_waits_without_valid_receive_request(void **state)
{
	(void)state;
	trindle_pipe_t input = start(echo_worker, NULL);
	trindle_message_t got[2];
	/* We only hold SEND on input: receiving from it is not allowed. */
	trindle_message_t req = { input, NULL };
	trindle_mailbox_t out = { 1, &req }, in = { 2, got };

	assert_int_equal(trindle_sync(&out, &in), 0);
	assert_int_equal(out.count, 1);
	assert_ptr_equal(req.address, input);
	assert_int_equal(in.count, 0);
	/* No request at all. */
	in.count = 2;
	assert_int_equal(trindle_sync(NULL, &in), 0);
	assert_int_equal(in.count, 0);
	stop_and_end(input, g_back);
}

static void test_sync_never_waits_when_no_one_else_can_send(void **state)
{
	(void)state;
	trindle_pipe_t own = trindle_pipe(2);
	trindle_message_t got;

	/* Only we hold SEND on own, and it is empty. */
	assert_int_equal(t_recv(own, &got, -1), 0);
	assert_int_equal(t_release(own), 0);
}

static void test_sync_returns_when_last_other_sender_lets_go(void **state)
{
	(void)state;
	trindle_pipe_t errp = trindle_pipe(4);
	trindle_pipe_t input = start(let_go_worker, errp);
	trindle_segment_t go = t_labelled(0);
	trindle_message_t got;
	trindle_message_t m[] = { { input, go }, { NULL, go }, { g_back, NULL } };
	trindle_mailbox_t out = { 3, m }, in = { 1, &got };

	/* The worker lets go of g_back only after this call sent go, and
	 * stays alive: the call must come back empty-handed. */
	assert_int_equal(trindle_sync(&out, &in), 0);
	assert_int_equal(out.count, 0);
	assert_int_equal(in.count, 0);
	stop_and_end(input, errp);
	assert_int_equal(t_release(errp), 0);
}

/* ---- the move rule and sharing ---- */

static void test_sync_send_then_release_is_a_move_receiver_gets_write(void **state)
{
	(void)state;
	trindle_pipe_t input = start(echo_worker, NULL);
	trindle_segment_t s = t_labelled(0);
	trindle_message_t got;

	assert_int_equal(t_move(input, s), 0);
	assert_int_equal(trindle_access(s), 0);
	/* The worker writes its access bits into s only if it may write. */
	assert_int_equal(t_recv(g_back, &got, -1), 1);
	assert_ptr_equal(got.content, s);
	t_expect_label(&got, g_back, RW);
	stop_and_end(input, g_back);
}

static void test_sync_move_to_own_pipe_returns_sole_write(void **state)
{
	(void)state;
	trindle_pipe_t p = trindle_pipe(2);
	trindle_segment_t s = t_labelled(9);
	trindle_message_t got;

	assert_int_equal(t_move(p, s), 0);
	assert_int_equal(trindle_access(s), 0);
	assert_int_equal(receive_from(&p, 1, &got, 1), 1);
	assert_ptr_equal(got.content, s);
	*(unsigned long *)s = 10;
	t_expect_label(&got, p, 10);
	assert_int_equal(t_release(p), 0);
}

/* ---- failed sends keep their order ---- */

#define ORDER_COUNT 3000UL
static trindle_pipe_t g_order_sink;

/* Moves labels 0, 1, 2 ... to g_order_sink in batches of 32, passing the
 * failed messages (a full pipe) again first each time.  A sender cannot
 * wait for room, so after a sync that left some behind it yields the core
 * to the receiver: under valgrind, which runs one thread at a time, a
 * retry loop without a system call could otherwise keep the receiver
 * from running for minutes. */
static void ordered_producer(trindle_pipe_t input)
{
	(void)input;
	trindle_message_t m[64];
	trindle_util_batch_t b;
	unsigned long next = 0;

	trindle_util_batch_init(&b, m, 64);
	while (next < ORDER_COUNT || b.count) {
		while (next < ORDER_COUNT && b.capacity - b.count >= 2)
			trindle_util_add_move(&b, g_order_sink, t_label(next++));
		/* What failed stays in the batch, in order, to go first. */
		if (trindle_util_flush(&b, NULL) != 0)
			sched_yield();
	}
}

static void test_sync_failed_sends_to_a_full_pipe_keep_their_order(void **state)
{
	(void)state;
	/* A small pipe drained while the producer sends: room comes and goes
	 * in the middle of its syncs. */
	g_order_sink = trindle_pipe(4);
	trindle_pipe_t producer = trindle_launch(ordered_producer, 1,
			g_order_sink, NULL);
	assert_non_null(producer);
	unsigned long expected = 0;
	bool ended = false;

	while (expected < ORDER_COUNT || !ended) {
		trindle_message_t req = { g_order_sink, NULL }, got[3];
		trindle_mailbox_t out = { 1, &req }, in = { 3, got };
		assert_int_equal(trindle_sync(&out, &in), 0);
		assert_true(in.count > 0);
		for (size_t i = 0; i < in.count; i++) {
			if (got[i].address == producer && !got[i].content) {
				ended = true; /* the producer's end */
				continue;
			}
			assert_ptr_equal(got[i].address, g_order_sink);
			assert_int_equal(t_label_of(got[i].content), expected);
			expected++;
			assert_int_equal(t_release(got[i].content), 0);
		}
	}
	assert_int_equal(t_release(g_order_sink), 0);
}

static void test_sync_move_all_or_nothing_when_pipe_full(void **state)
{
	(void)state;
	trindle_pipe_t p = trindle_pipe(1), p2 = trindle_pipe(1);
	trindle_segment_t s = t_labelled(1), t = t_labelled(2);
	trindle_message_t got;
	queue_labels(p, 0, 1);
	trindle_message_t m[] = { { p, s }, { p2, t }, { NULL, t }, { NULL, s } };
	trindle_mailbox_t out = { 4, m };

	assert_int_equal(trindle_sync(&out, NULL), 0);
	assert_int_equal(out.count, 2);
	assert_ptr_equal(m[0].address, p);
	assert_ptr_equal(m[0].content, s);
	assert_null(m[1].address);
	assert_ptr_equal(m[1].content, s);
	/* s is still ours alone; t was moved. */
	assert_int_equal(trindle_access(s), RW);
	assert_int_equal(t_label_of(s), 1);
	assert_int_equal(trindle_access(t), 0);

	/* Make room; passing the failed messages again retries the move. */
	assert_int_equal(receive_from(&p, 1, &got, 1), 1);
	t_expect_label(&got, p, 0);
	assert_int_equal(trindle_sync(&out, NULL), 0);
	assert_int_equal(out.count, 0);
	assert_int_equal(trindle_access(s), 0);
	assert_int_equal(receive_from(&p, 1, &got, 1), 1);
	t_expect_label(&got, p, 1);
	assert_int_equal(receive_from(&p2, 1, &got, 1), 1);
	t_expect_label(&got, p2, 2);
	assert_int_equal(t_release(p), 0);
	assert_int_equal(t_release(p2), 0);
}

/* A run of moves that only partly fits: the first ones go (in order), the
 * rest fail whole, each send with its release, and their segments stay
 * the sender's, writable; passed again, they go.  (Sync handles a run of
 * moves of solely held segments in batches: this checks what a batch that
 * finds too few cells gives back.) */
static void test_sync_run_of_moves_partly_fits(void **state)
{
	(void)state;
	enum { N = 5, ROOM = 3 };
	trindle_pipe_t p = trindle_pipe(ROOM);
	trindle_segment_t seg[N];
	trindle_message_t m[2 * N], got[N];

	for (size_t k = 0; k < N; k++) {
		seg[k] = t_labelled(10 + k);
		m[2 * k] = (trindle_message_t){ p, seg[k] };
		m[2 * k + 1] = (trindle_message_t){ NULL, seg[k] };
	}
	trindle_mailbox_t out = { 2 * N, m };
	assert_int_equal(trindle_sync(&out, NULL), 0);
	assert_int_equal(out.count, 2 * (N - ROOM));
	for (size_t k = ROOM; k < N; k++) {
		size_t f = 2 * (k - ROOM);
		assert_ptr_equal(m[f].address, p);
		assert_ptr_equal(m[f].content, seg[k]);
		assert_null(m[f + 1].address);
		assert_ptr_equal(m[f + 1].content, seg[k]);
		assert_int_equal(trindle_access(seg[k]), RW);
		assert_int_equal(t_label_of(seg[k]), 10 + k);
	}
	for (size_t k = 0; k < ROOM; k++)
		assert_int_equal(trindle_access(seg[k]), 0);

	/* t_expect_label checks each arrives writable, then releases it. */
	assert_int_equal(receive_from(&p, 1, got, N), ROOM);
	for (size_t k = 0; k < ROOM; k++)
		t_expect_label(&got[k], p, 10 + k);
	assert_int_equal(trindle_sync(&out, NULL), 0);
	assert_int_equal(out.count, 0);
	assert_int_equal(receive_from(&p, 1, got, N), N - ROOM);
	for (size_t k = ROOM; k < N; k++)
		t_expect_label(&got[k - ROOM], p, 10 + k);
	assert_int_equal(t_release(p), 0);
}

/* Moves seg[order[0..n)] to p in one sync; returns how many failed. */
static size_t move_in_order(trindle_pipe_t p, trindle_segment_t *seg,
		const size_t *order, size_t n, trindle_message_t *m)
{
	for (size_t k = 0; k < n; k++) {
		m[2 * k] = (trindle_message_t){ p, seg[order[k]] };
		m[2 * k + 1] = (trindle_message_t){ NULL, seg[order[k]] };
	}
	trindle_mailbox_t out = { 2 * n, m };
	assert_int_equal(trindle_sync(&out, NULL), 0);
	return out.count;
}

/* Receives n from p and checks they are seg[order[0..n)].  No other call
 * on them: the next move finds them as they were received. */
static void expect_back(trindle_pipe_t p, trindle_segment_t *seg,
		const size_t *order, size_t n)
{
	trindle_message_t got[8];

	assert_true(n <= 8);
	assert_int_equal(receive_from(&p, 1, got, n), n);
	for (size_t k = 0; k < n; k++) {
		assert_ptr_equal(got[k].address, p);
		assert_ptr_equal(got[k].content, seg[order[k]]);
	}
}

/* Segments received as their only holder are taken straight on by a run
 * of moves in the order received or the reverse, and looked up like any
 * other held object otherwise (cap.h, recent receipts): moves in those
 * orders, from both ends, in a shuffled one, twice in one sync, after a
 * lookup, and a run that only partly fits, all keep the move rules. */
static void test_sync_received_segments_moved_on_in_any_order(void **state)
{
	(void)state;
	enum { N = 6 };
	static const size_t fwd[N] = { 0, 1, 2, 3, 4, 5 };
	static const size_t rev[N] = { 5, 4, 3, 2, 1, 0 };
	static const size_t mix[N] = { 2, 0, 5, 1, 4, 3 };
	static const size_t ends[N] = { 3, 2, 0, 4, 1, 5 };
	static const size_t twice[2] = { 0, 0 };
	trindle_pipe_t p = trindle_pipe(N), q = trindle_pipe(3);
	trindle_segment_t seg[N];
	trindle_message_t m[2 * N];

	for (size_t k = 0; k < N; k++)
		seg[k] = t_labelled(30 + k);
	assert_int_equal(move_in_order(p, seg, fwd, N, m), 0);
	expect_back(p, seg, fwd, N);
	/* In order, reversed, shuffled, from both ends (3 was received
	 * first, 2 last, then 0 first, ...): each arrives as moved. */
	assert_int_equal(move_in_order(p, seg, fwd, N, m), 0);
	expect_back(p, seg, fwd, N);
	assert_int_equal(move_in_order(p, seg, rev, N, m), 0);
	expect_back(p, seg, rev, N);
	assert_int_equal(move_in_order(p, seg, mix, N, m), 0);
	expect_back(p, seg, mix, N);
	assert_int_equal(move_in_order(p, seg, ends, N, m), 0);
	for (size_t k = 0; k < N; k++)
		assert_int_equal(trindle_access(seg[k]), 0);
	expect_back(p, seg, ends, N);
	/* Moved twice in one sync: the second move fails, the first went. */
	assert_int_equal(move_in_order(p, seg, twice, 2, m), 2);
	assert_ptr_equal(m[0].content, seg[0]);
	assert_int_equal(trindle_access(seg[0]), 0);
	expect_back(p, seg, twice, 1);
	/* Looked up between receipt and move: held, writable, and the
	 * label each carried all along. */
	for (size_t k = 0; k < N; k++) {
		assert_int_equal(trindle_access(seg[k]), RW);
		assert_int_equal(t_label_of(seg[k]), 30 + k);
	}
	assert_int_equal(move_in_order(p, seg, fwd, N, m), 0);
	expect_back(p, seg, fwd, N);
	/* Into q, room for 3: the first 3 go, the rest stay held. */
	assert_int_equal(move_in_order(q, seg, rev, N, m), 2 * (N - 3));
	for (size_t k = 0; k < 3; k++)
		assert_int_equal(trindle_access(seg[k]), RW);
	for (size_t k = 3; k < N; k++)
		assert_int_equal(trindle_access(seg[k]), 0);
	expect_back(q, seg, rev, 3);
	/* ... and go once there is room, in the order passed again. */
	trindle_mailbox_t again = { 2 * (N - 3), m };
	assert_int_equal(trindle_sync(&again, NULL), 0);
	assert_int_equal(again.count, 0);
	expect_back(q, seg, rev + 3, N - 3);
	/* Released straight after receipt. */
	for (size_t k = 0; k < N; k++)
		assert_int_equal(t_release(seg[k]), 0);
	for (size_t k = 0; k < N; k++)
		assert_int_equal(trindle_access(seg[k]), 0);
	assert_int_equal(t_release(p), 0);
	assert_int_equal(t_release(q), 0);
}

/* In a run of moves to one pipe, one segment that is shared (held twice)
 * and one moved twice: the shared one still moves (the sender's hold goes,
 * the other stays, so it arrives read-only), the second move of the same
 * segment fails (the first took it), and the order holds. */
static void test_sync_run_of_moves_with_a_shared_segment(void **state)
{
	(void)state;
	trindle_pipe_t p = trindle_pipe(8), keep = trindle_pipe(1);
	trindle_segment_t a = t_labelled(1), b = t_labelled(2),
		c = t_labelled(3);
	trindle_message_t got[4];

	/* b is shared: one hold of it waits in keep. */
	trindle_message_t share[] = { { keep, b } };
	trindle_mailbox_t so = { 1, share };
	assert_int_equal(trindle_sync(&so, NULL), 0);
	assert_int_equal(so.count, 0);

	trindle_message_t m[] = { { p, a }, { NULL, a }, { p, b }, { NULL, b },
		{ p, c }, { NULL, c }, { p, a }, { NULL, a } };
	trindle_mailbox_t out = { 8, m };
	assert_int_equal(trindle_sync(&out, NULL), 0);
	assert_int_equal(out.count, 2);
	assert_ptr_equal(m[0].address, p);
	assert_ptr_equal(m[0].content, a);
	assert_null(m[1].address);
	assert_ptr_equal(m[1].content, a);
	assert_int_equal(trindle_access(a), 0);
	assert_int_equal(trindle_access(b), 0);
	assert_int_equal(trindle_access(c), 0);

	assert_int_equal(receive_from(&p, 1, got, 4), 3);
	assert_ptr_equal(got[1].address, p);
	assert_ptr_equal(got[1].content, b);
	assert_int_equal(trindle_access(b), TRINDLE_ACCESS_READ);
	assert_int_equal(t_label_of(b), 2);
	t_expect_label(&got[0], p, 1);
	t_expect_label(&got[2], p, 3);
	assert_int_equal(t_release(keep), 0); /* its hold of b goes with it */
	assert_int_equal(trindle_access(b), RW);
	assert_int_equal(t_release(b), 0);
	assert_int_equal(t_release(p), 0);
}

/* Many names coming and going in one process (the capability table's
 * churn: segments moved away and back, released, pipes made and let go):
 * every name held answers with its rights, every name let go with 0. */
static void test_sync_many_names_come_and_go(void **state)
{
	(void)state;
	enum { N = 200, ROUNDS = 30, PIPES = 40 };
	trindle_pipe_t p = trindle_pipe(N);
	trindle_segment_t seg[N], kept[ROUNDS];
	trindle_pipe_t pipes[PIPES];
	trindle_message_t m[2 * N], got[N];

	for (size_t r = 0; r < ROUNDS; r++) {
		for (size_t k = 0; k < N; k++) {
			seg[k] = t_labelled(r * N + k);
			m[2 * k] = (trindle_message_t){ p, seg[k] };
			m[2 * k + 1] = (trindle_message_t){ NULL, seg[k] };
		}
		for (size_t k = 0; k < PIPES; k++)
			assert_non_null(pipes[k] = trindle_pipe(1));
		trindle_mailbox_t out = { 2 * N, m };
		assert_int_equal(trindle_sync(&out, NULL), 0);
		assert_int_equal(out.count, 0);
		for (size_t k = 0; k < N; k++)
			assert_int_equal(trindle_access(seg[k]), 0);
		assert_int_equal(receive_from(&p, 1, got, N), N);
		for (size_t k = 0; k < N; k++) {
			assert_ptr_equal(got[k].content, seg[k]);
			assert_int_equal(trindle_access(seg[k]), RW);
			assert_int_equal(t_label_of(seg[k]), r * N + k);
		}
		/* Keep one segment per round; let go of the rest and of the
		 * pipes. */
		kept[r] = seg[r % N];
		for (size_t k = 0; k < N; k++)
			if (k != r % N)
				assert_int_equal(t_release(seg[k]), 0);
		for (size_t k = 0; k < PIPES; k++) {
			assert_int_equal(t_release(pipes[k]), 0);
			assert_int_equal(trindle_access(pipes[k]), 0);
		}
		for (size_t q = 0; q <= r; q++) {
			assert_int_equal(trindle_access(kept[q]), RW);
			assert_int_equal(t_label_of(kept[q]), q * N + q % N);
		}
	}
	for (size_t q = 0; q < ROUNDS; q++)
		assert_int_equal(t_release(kept[q]), 0);
	assert_int_equal(t_release(p), 0);
}

static void test_sync_move_all_or_nothing_when_pipe_dead(void **state)
{
	(void)state;
	trindle_pipe_t dead = trindle_pipe(1);
	trindle_segment_t s = t_labelled(3);
	trindle_message_t m[] = { { dead, s }, { NULL, s } };
	trindle_mailbox_t out = { 2, m };
	assert_int_equal(t_release(dead), 0);

	assert_int_equal(trindle_sync(&out, NULL), 0);
	assert_int_equal(out.count, 2);
	assert_int_equal(trindle_access(s), RW);
	assert_int_equal(t_label_of(s), 3);
	assert_int_equal(t_release(s), 0);
}

static void test_sync_sender_loses_write_when_sharing(void **state)
{
	(void)state;
	trindle_pipe_t input = start(keeper_worker, NULL);
	trindle_segment_t s = t_labelled(4);
	trindle_message_t got, extra[4];

	assert_int_equal(t_send(input, s), 0);
	assert_int_equal(trindle_access(s), TRINDLE_ACCESS_READ);
	/* The worker holds it too, and may only read it. */
	assert_int_equal(t_recv(g_back, &got, -1), 1);
	t_expect_label(&got, g_back, TRINDLE_ACCESS_READ);
	assert_int_equal(trindle_access(s), TRINDLE_ACCESS_READ);

	/* Once the worker lets go, we are the sole holder again. */
	send_stop(input);
	size_t n = t_await_end(input, g_back, extra, 4);
	assert_int_equal(n, 1);
	assert_null(extra[0].address);
	assert_ptr_equal(extra[0].content, s);
	assert_int_equal(trindle_access(s), RW);
	assert_int_equal(t_release(s), 0);
	assert_int_equal(t_release(g_back), 0);
}

static void test_sync_in_flight_message_counts_as_holder(void **state)
{
	(void)state;
	trindle_pipe_t p = trindle_pipe(2);
	trindle_segment_t s = t_labelled(5);
	trindle_message_t got[4];

	assert_int_equal(t_send(p, s), 0);
	assert_int_equal(trindle_access(s), TRINDLE_ACCESS_READ);
	/* Receiving what we already hold counts once and brings no notice. */
	assert_int_equal(receive_from(&p, 1, got, 4), 1);
	assert_ptr_equal(got[0].content, s);
	t_expect_label(&got[0], p, 5);
	assert_int_equal(t_release(p), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sync_handles_messages_in_order),
		cmocka_unit_test(test_sync_failed_messages_grouped_first_in_original_order),
		cmocka_unit_test(test_sync_all_through_gives_out_count_zero),
		cmocka_unit_test(test_sync_null_null_message_fails),
		cmocka_unit_test(test_sync_null_or_empty_mailboxes_allowed),
		cmocka_unit_test(test_sync_null_address_with_count_is_einval),
		cmocka_unit_test(test_sync_receive_request_does_not_persist),
		cmocka_unit_test(test_sync_sets_in_count_to_number_delivered),
		cmocka_unit_test(test_sync_what_does_not_fit_stays_queued),
		cmocka_unit_test(test_sync_fair_one_slot_inbox_takes_each_pipe_in_turn),
		cmocka_unit_test(test_sync_fair_least_recently_served_first_across_calls),
		cmocka_unit_test(test_sync_fair_no_requested_pipe_starves),
		cmocka_unit_test(test_sync_fair_wide_inbox_alternates_pipes),
		cmocka_unit_test(test_sync_notice_delivered_without_receive_request),
		cmocka_unit_test(test_sync_notices_come_before_messages),
		cmocka_unit_test(test_sync_release_takes_effect_before_a_later_send),
		cmocka_unit_test(test_sync_waits_until_another_process_sends),
		cmocka_unit_test(test_sync_timeout_negative_waits_like_sync),
		cmocka_unit_test(test_sync_timeout_positive_returns_nothing_when_time_runs_out),
		cmocka_unit_test(test_sync_timeout_zero_never_waits),
		cmocka_unit_test(test_sync_never_waits_without_inbox_room),
		cmocka_unit_test(test_sync_never_waits_without_valid_receive_request),
		cmocka_unit_test(test_sync_never_waits_when_no_one_else_can_send),
		cmocka_unit_test(test_sync_returns_when_last_other_sender_lets_go),
		cmocka_unit_test(test_sync_send_then_release_is_a_move_receiver_gets_write),
		cmocka_unit_test(test_sync_move_to_own_pipe_returns_sole_write),
		cmocka_unit_test(test_sync_move_all_or_nothing_when_pipe_full),
		cmocka_unit_test(test_sync_failed_sends_to_a_full_pipe_keep_their_order),
		cmocka_unit_test(test_sync_move_all_or_nothing_when_pipe_dead),
		cmocka_unit_test(test_sync_run_of_moves_partly_fits),
		cmocka_unit_test(test_sync_received_segments_moved_on_in_any_order),
		cmocka_unit_test(test_sync_run_of_moves_with_a_shared_segment),
		cmocka_unit_test(test_sync_many_names_come_and_go),
		cmocka_unit_test(test_sync_sender_loses_write_when_sharing),
		cmocka_unit_test(test_sync_in_flight_message_counts_as_holder),
	};
	sem_init(&g_released, 0, 0);
	return cmocka_run_group_tests_name("sync", tests, NULL, NULL);
}
