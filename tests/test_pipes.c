/* SPDX-License-Identifier: MIT */
/*
 * Pipes: creation, who holds which right, exact capacity, measure, FIFO
 * order per sender, and what happens when a pipe dies (its creator lets go
 * of it) or when a mere sender lets go.
 */
#include "helpers.h"

#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum {
	RW = TRINDLE_ACCESS_READ | TRINDLE_ACCESS_WRITE,
	S = TRINDLE_ACCESS_SEND,
	SR = TRINDLE_ACCESS_SEND | TRINDLE_ACCESS_RECEIVE,
};

/* ---- worker side (no cmocka asserts off the main thread) ---------------- */

/* Moves a one-word segment holding v to pipe; returns failed messages. */
static size_t w_move_word(trindle_pipe_t pipe, uintptr_t v)
{
	trindle_segment_t s = trindle_allocate(1, &(trindle_buffer_t){ sizeof v, &v });
	size_t failed = t_w_move(pipe, s);
	if (failed)
		t_w_release(s);
	return failed;
}

/* Given a pipe it did not make: reports its rights on it, whether a
 * receive request on it failed, and whether a send through it failed. */
static void probe_entry(trindle_pipe_t input)
{
	trindle_pipe_t reply = trindle_util_next_object(input);
	trindle_pipe_t q = trindle_util_next_object(input);
	uintptr_t v[3] = { (uintptr_t)trindle_access(q), 0, 0 };
	trindle_message_t req = { q, NULL }, got;
	trindle_mailbox_t out = { 1, &req }, in = { 1, &got };
	trindle_sync_timeout(&out, &in, 0);
	v[1] = out.count;
	v[2] = w_move_word(q, 42);
	t_w_report(reply, v, 3);
}

/* Makes a pipe and sends it to reply (keeping it); when nudged, releases
 * it and reports its rights left; when nudged again, ends. */
static void creator_entry(trindle_pipe_t input)
{
	trindle_pipe_t reply = trindle_util_next_object(input);
	trindle_pipe_t q = trindle_pipe(4);
	t_w_send(reply, q);
	trindle_util_next_object(input);
	uintptr_t v[2] = { t_w_release(q),
			   (uintptr_t)trindle_access(q) };
	t_w_report(reply, v, 2);
	trindle_util_next_object(input);
}

/* Given a pipe, releases it and reports its rights before and after,
 * and whether a send after the release failed. */
static void dropper_entry(trindle_pipe_t input)
{
	trindle_pipe_t reply = trindle_util_next_object(input);
	trindle_pipe_t p = trindle_util_next_object(input);
	uintptr_t v[3] = { (uintptr_t)trindle_access(p), 0, 0 };
	t_w_release(p);
	v[1] = (uintptr_t)trindle_access(p);
	v[2] = w_move_word(p, 7);
	t_w_report(reply, v, 3);
}

/* Makes a pipe and moves it to reply: its creator lets go of it in the
 * same sync, which hands its receive right over, queue and all. */
static void mover_entry(trindle_pipe_t input)
{
	trindle_pipe_t reply = trindle_util_next_object(input);
	trindle_pipe_t q = trindle_pipe(2);
	uintptr_t v = t_w_move(reply, q);
	t_w_report(reply, &v, 1);
}

/* Reads the byte at the address in the word it is sent (may fault). */
static void peek_entry(trindle_pipe_t input)
{
	trindle_pipe_t reply = trindle_util_next_object(input);
	const uintptr_t *a = trindle_util_next_object(input);
	uintptr_t v = *(volatile const unsigned char *)a[0];
	t_w_report(reply, &v, 1);
}

enum { FIFO_COUNT = 300 };

/* Sends FIFO_COUNT words {its input pipe, sequence} through the pipe it is
 * given first, retrying while the pipe is full. */
static void sender_entry(trindle_pipe_t input)
{
	trindle_pipe_t to = trindle_util_next_object(input);
	for (uintptr_t seq = 0; seq < FIFO_COUNT; seq++) {
		uintptr_t v[2] = { (uintptr_t)input, seq };
		trindle_segment_t s = trindle_allocate(1, &(trindle_buffer_t){ sizeof v, v });
		while (trindle_util_move(to, s) != 0) {
			if (!(trindle_access(to) & TRINDLE_ACCESS_SEND))
				return;
			sched_yield();
		}
	}
}

/* ---- root side ----------------------------------------------------------- */

/* Root side: copies the next report (n words) from reply and releases it. */
static void read_report(trindle_pipe_t reply, struct t_box *b, uintptr_t *v,
			size_t n)
{
	const uintptr_t *r = t_next_from(reply, b);
	assert_non_null(r);
	assert_int_equal(trindle_measure((void *)r), n * sizeof *v);
	memcpy(v, r, n * sizeof *v);
	assert_int_equal(t_release((void *)r), 0);
}

/* ---- creation and rights ------------------------------------------------- */

static void test_pipe_zero_capacity_fails_einval(void **state)
{
	(void)state;
	errno = 0;
	assert_null(trindle_pipe(0));
	assert_int_equal(errno, EINVAL);
}

static void test_pipe_huge_capacity_fails_enomem(void **state)
{
	(void)state;
	const size_t sizes[] = { SIZE_MAX, SIZE_MAX / 2, (size_t)1 << 60 };
	for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
		errno = 0;
		assert_null(trindle_pipe(sizes[i]));
		assert_int_equal(errno, ENOMEM);
	}
}

static void test_pipe_creator_holds_send_receive(void **state)
{
	(void)state;
	trindle_pipe_t p = trindle_pipe(1);
	assert_non_null(p);
	assert_int_equal(trindle_access(p), SR);
	assert_int_equal(trindle_measure(p), 0);
	trindle_pipe_t q = trindle_pipe(1);
	assert_non_null(q);
	assert_ptr_not_equal(p, q);
	/* A pipe sent to its own creator adds nothing. */
	assert_int_equal(t_send(p, q), 0);
	trindle_message_t m;
	assert_int_equal(t_recv(p, &m, 0), 1);
	assert_ptr_equal(m.content, q);
	assert_int_equal(trindle_access(q), SR);
	assert_int_equal(t_release(q), 0);
	assert_int_equal(t_release(p), 0);
}

static void test_pipe_sent_gives_receiver_send_only(void **state)
{
	(void)state;
	struct t_box b = { 0 };
	uintptr_t v[3];
	trindle_pipe_t reply = trindle_pipe(8);
	trindle_pipe_t q = trindle_pipe(4);
	trindle_pipe_t w = t_start(probe_entry, reply);
	assert_int_equal(t_send(w, q), 0);
	/* The sender keeps both rights. */
	assert_int_equal(trindle_access(q), SR);
	read_report(reply, &b, v, 3);
	assert_int_equal(v[0], S);
	assert_int_equal(v[1], 1);     /* it may not receive from q */
	assert_int_equal(v[2], 0);     /* but it may send through it */
	t_await_gone(w, reply, &b);
	const uintptr_t *word = t_next_from(q, &b);
	assert_non_null(word);
	assert_int_equal(*word, 42);
	assert_int_equal(t_release((void *)word), 0);
	assert_int_equal(t_release(q), 0);
	assert_int_equal(t_release(reply), 0);
}

/* ---- capacity and measure ------------------------------------------------ */

static void check_capacity(size_t n)
{
	trindle_pipe_t p = trindle_pipe(n);
	trindle_segment_t *s = calloc(n + 1, sizeof *s);
	assert_non_null(p);
	assert_non_null(s);
	for (size_t i = 0; i <= n; i++)
		s[i] = t_segment(8, (unsigned char)i);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(t_send(p, s[i]), 0);
		assert_true(trindle_measure(p) <= i + 1);
	}
	/* Full: the n+1-th fails, the pipe is alive, the object untouched. */
	assert_int_equal(t_send(p, s[n]), 1);
	assert_int_equal(trindle_access(p), SR);
	assert_int_equal(trindle_access(s[n]), RW);
	trindle_message_t m;
	assert_int_equal(t_recv(p, &m, 0), 1);
	assert_ptr_equal(m.content, s[0]);
	assert_int_equal(t_send(p, s[n]), 0);
	for (size_t i = 1; i <= n; i++) {
		assert_int_equal(t_recv(p, &m, 0), 1);
		assert_ptr_equal(m.content, s[i]);
	}
	assert_int_equal(t_recv(p, &m, 0), 0);
	assert_int_equal(trindle_measure(p), 0);
	for (size_t i = 0; i <= n; i++) {
		assert_int_equal(trindle_access(s[i]), RW);
		assert_int_equal(t_release(s[i]), 0);
	}
	free(s);
	assert_int_equal(t_release(p), 0);
}

static void test_pipe_capacity_is_exact(void **state)
{
	(void)state;
	const size_t sizes[] = { 1, 2, 3, 7, 64, 100 };
	for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++)
		check_capacity(sizes[i]);
}

static void test_pipe_capacity_holds_within_one_sync(void **state)
{
	(void)state;
	trindle_pipe_t p = trindle_pipe(3);
	trindle_segment_t s[5];
	trindle_message_t m[5];
	for (int i = 0; i < 5; i++) {
		s[i] = t_segment(1, (unsigned char)i);
		m[i] = (trindle_message_t){ p, s[i] };
	}
	trindle_mailbox_t out = { 5, m };
	assert_int_equal(trindle_sync(&out, NULL), 0);
	assert_int_equal(out.count, 2);
	assert_ptr_equal(m[0].address, p);
	assert_ptr_equal(m[0].content, s[3]);
	assert_ptr_equal(m[1].content, s[4]);
	assert_true(trindle_measure(p) <= 3);
	assert_int_equal(trindle_access(s[4]), RW);
	assert_int_equal(trindle_access(s[0]), TRINDLE_ACCESS_READ);
	/* The queued ones are released with the pipe: ours again alone. */
	assert_int_equal(t_release(p), 0);
	for (int i = 0; i < 5; i++) {
		assert_int_equal(trindle_access(s[i]), RW);
		assert_int_equal(t_release(s[i]), 0);
	}
}

/* ---- order ------------------------------------------------------------------ */

static void test_pipe_fifo_from_one_sender(void **state)
{
	(void)state;
	enum { N = 50 };
	trindle_pipe_t p = trindle_pipe(N);
	for (uintptr_t i = 0; i < N; i++) {
		trindle_segment_t s = trindle_allocate(1, &(trindle_buffer_t){ sizeof i, &i });
		assert_int_equal(t_move(p, s), 0);
	}
	for (uintptr_t i = 0; i < N; i++) {
		trindle_message_t m;
		assert_int_equal(t_recv(p, &m, 0), 1);
		assert_int_equal(*(const uintptr_t *)m.content, i);
		assert_int_equal(t_release(m.content), 0);
	}
	assert_int_equal(t_release(p), 0);
}

/* Receives on p until want messages came; checks each sender's order. */
static void check_interleaved(trindle_pipe_t p, trindle_pipe_t w[2],
			      size_t want, struct t_box *b)
{
	uintptr_t next[2] = { 0, 0 };
	size_t got = 0;
	int64_t end = t_now_ns() + T_WAIT_LIMIT_NS;
	while (got < want && t_now_ns() < end) {
		trindle_message_t req = { p, NULL }, m[16];
		trindle_mailbox_t out = { 1, &req }, in = { 16, m };
		assert_int_equal(trindle_sync_timeout(&out, &in, 100000000), 0);
		for (size_t i = 0; i < in.count; i++) {
			if (!m[i].address || !m[i].content) {
				assert_true(b->notes < 64);
				b->note[b->notes++] = m[i]; /* a worker's end */
				continue;
			}
			const uintptr_t *v = m[i].content;
			int k = v[0] == (uintptr_t)w[1];
			assert_ptr_equal((void *)v[0], w[k]);
			assert_int_equal(v[1], next[k]);
			next[k]++;
			got++;
			assert_int_equal(t_release(m[i].content), 0);
		}
	}
	assert_int_equal(got, want);
}

static void test_pipe_fifo_per_sender(void **state)
{
	(void)state;
	trindle_pipe_t p = trindle_pipe(8);
	trindle_pipe_t w[2];
	for (int i = 0; i < 2; i++) {
		w[i] = trindle_launch(sender_entry, 4, NULL, NULL);
		assert_non_null(w[i]);
		assert_int_equal(t_send(w[i], p), 0);
	}
	struct t_box b = { 0 };
	check_interleaved(p, w, 2 * FIFO_COUNT, &b);
	t_await_gone(w[0], p, &b);
	t_await_gone(w[1], p, &b);
	assert_int_equal(t_release(p), 0);
}

/* ---- death ----------------------------------------------------------------- */

static void test_pipe_death_releases_queued_contents(void **state)
{
	(void)state;
	trindle_pipe_t p = trindle_pipe(4);
	unsigned char *kept = t_segment(10, 1);
	trindle_pipe_t q = trindle_pipe(1);
	assert_int_equal(t_send(p, kept), 0);
	assert_int_equal(t_send(p, q), 0);
	assert_int_equal(trindle_access(kept), TRINDLE_ACCESS_READ);
	assert_int_equal(t_release(p), 0);
	assert_int_equal(trindle_access(p), 0);
	/* The queued message was a holder; now this root is the only one,
	 * told so by a notice like any holder whose fellows let go. */
	assert_int_equal(trindle_access(kept), RW);
	kept[0] = 2;
	trindle_message_t n[4];
	size_t got = t_notices(n, 4);
	assert_int_equal(got, 1);
	assert_null(n[0].address);
	assert_ptr_equal(n[0].content, kept);
	/* A queued pipe loses only the queued message's SEND. */
	assert_int_equal(trindle_access(q), SR);
	assert_int_equal(t_release(q), 0);
	assert_int_equal(t_release(kept), 0);
}

static void test_pipe_death_destroys_segment_it_alone_held(void **state)
{
	(void)state;
	struct t_box b = { 0 };
	trindle_pipe_t reply = trindle_pipe(8);
	trindle_pipe_t p = trindle_pipe(2);
	/* Beyond the 1 MiB of destroyed slots a process keeps open for its
	 * next allocations (test_cache): this one must fault. */
	unsigned char *s = t_segment((size_t)2 << 20, 1);
	uintptr_t where = (uintptr_t)(s + 5);
	trindle_segment_t addr = trindle_allocate(1, &(trindle_buffer_t){ sizeof where, &where });
	assert_non_null(addr);
	/* Started first, so that nothing it makes can take s's address. */
	trindle_pipe_t w = t_start(peek_entry, reply);
	assert_int_equal(t_move(p, s), 0);
	assert_int_equal(t_release(p), 0);
	assert_int_equal(trindle_access(s), 0);
	assert_int_equal(t_move(w, addr), 0);
	t_expect_fault(reply, &b, s + 5, TRINDLE_ACCESS_READ, s, w);
	t_await_gone(w, reply, &b);
	assert_int_equal(t_release(reply), 0);
}

static void test_pipe_death_notifies_other_holders_once(void **state)
{
	(void)state;
	struct t_box b = { 0 };
	uintptr_t v[2];
	trindle_pipe_t reply = trindle_pipe(8);
	trindle_pipe_t w = t_start(creator_entry, reply);
	trindle_pipe_t q = t_next_from(reply, &b);
	assert_non_null(q);
	assert_int_equal(trindle_access(q), S);
	unsigned char *s = t_segment(10, 3);
	assert_int_equal(t_send(q, s), 0);
	assert_int_equal(trindle_access(s), TRINDLE_ACCESS_READ);

	t_nudge(w);
	read_report(reply, &b, v, 2);
	assert_int_equal(v[0], 0);
	assert_int_equal(v[1], 0);
	/* The creator's release is done: SEND is gone here already. */
	assert_int_equal(trindle_access(q), 0);
	assert_int_equal(trindle_measure(q), 0);
	assert_int_equal(t_send(q, s), 1);
	assert_int_equal(trindle_access(q) & TRINDLE_ACCESS_SEND, 0);
	/* What was queued in q was released: s is ours alone again. */
	assert_int_equal(trindle_access(s), RW);

	t_nudge(w);
	t_await_gone(w, reply, &b);
	assert_int_equal(t_count_notes(&b, (trindle_message_t){ q, NULL }), 1);
	trindle_message_t later[8];
	for (size_t i = t_notices(later, 8); i-- > 0;)
		assert_ptr_not_equal(later[i].address, q);
	assert_int_equal(t_release(s), 0);
	assert_int_equal(t_release(reply), 0);
}

static void test_pipe_sender_release_drops_only_its_send(void **state)
{
	(void)state;
	struct t_box b = { 0 };
	uintptr_t v[3];
	trindle_pipe_t reply = trindle_pipe(8);
	trindle_pipe_t p = trindle_pipe(4);
	trindle_pipe_t w = t_start(dropper_entry, reply);
	assert_int_equal(t_send(w, p), 0);
	read_report(reply, &b, v, 3);
	assert_int_equal(v[0], S);
	assert_int_equal(v[1], 0);
	assert_int_equal(v[2], 2);     /* its send after letting go failed */
	t_await_gone(w, reply, &b);
	/* The creator's pipe is alive and whole. */
	assert_int_equal(trindle_access(p), SR);
	assert_int_equal(t_count_notes(&b, (trindle_message_t){ p, NULL }), 0);
	unsigned char *s = t_segment(4, 4);
	assert_int_equal(t_move(p, s), 0);
	trindle_message_t m;
	assert_int_equal(t_recv(p, &m, 0), 1);
	assert_ptr_equal(m.content, s);
	assert_int_equal(t_release(s), 0);
	assert_int_equal(t_release(p), 0);
	assert_int_equal(t_release(reply), 0);
}

static void test_pipe_send_to_dead_pipe_fails_without_send(void **state)
{
	(void)state;
	trindle_pipe_t p = trindle_pipe(4);
	unsigned char *s = t_segment(4, 4);
	assert_int_equal(t_release(p), 0);
	assert_int_equal(trindle_access(p), 0);
	assert_int_equal(t_send(p, s), 1);
	assert_int_equal(t_move(p, s), 2);
	assert_int_equal(trindle_access(p) & TRINDLE_ACCESS_SEND, 0);
	assert_int_equal(trindle_access(s), RW);
	assert_int_equal(t_release(s), 0);
}

/* A creator's move of its pipe does not kill it: the receiver takes the
 * receive right, and the pipe outlives the worker that made it. */
static void test_pipe_moved_by_its_creator_lives_on(void **state)
{
	(void)state;
	struct t_box b = { 0 };
	uintptr_t v;
	trindle_pipe_t reply = trindle_pipe(8);
	trindle_pipe_t w = t_start(mover_entry, reply);
	trindle_pipe_t q = t_next_from(reply, &b);
	assert_non_null(q);
	read_report(reply, &b, &v, 1);
	assert_int_equal(v, 0);
	assert_int_equal(trindle_access(q),
			TRINDLE_ACCESS_SEND | TRINDLE_ACCESS_RECEIVE);
	t_await_gone(w, reply, &b);
	unsigned char *s = t_segment(1, 1);
	assert_int_equal(t_send(q, s), 0);
	trindle_message_t m;
	assert_int_equal(t_recv(q, &m, 0), 1);
	assert_ptr_equal(m.content, s);
	assert_int_equal(t_release(s), 0);
	assert_int_equal(t_release(q), 0);
	assert_int_equal(trindle_access(q), 0);
	assert_int_equal(t_release(reply), 0);
}

/* Sleeps 200 ms, then takes two messages from its input, releasing them. */
static void slow_taker_entry(trindle_pipe_t input)
{
	struct timespec ts = { 0, 200 * 1000 * 1000 };
	nanosleep(&ts, NULL);
	for (int i = 0; i < 2; i++)
		t_w_release(trindle_util_next_object(input));
}

static void quick_exit_entry(trindle_pipe_t input)
{
	(void)input;
}

static void test_wait_room_returns_at_once_with_room(void **state)
{
	(void)state;
	trindle_pipe_t p = t_pipe(2);
	int64_t start = t_now_ns();
	assert_int_equal(trindle_wait_room(p, -1), 0);
	assert_true(t_now_ns() - start < 1000LL * 1000 * 1000);
	assert_int_equal(t_release(p), 0);
}

static void test_wait_room_times_out_on_a_full_pipe(void **state)
{
	(void)state;
	trindle_pipe_t p = t_pipe(1);
	unsigned char *s = t_segment(1, 1);
	assert_int_equal(t_send(p, s), 0);
	int64_t start = t_now_ns();
	errno = 0;
	assert_int_equal(trindle_wait_room(p, 20 * 1000 * 1000), -1);
	assert_int_equal(errno, ETIMEDOUT);
	assert_true(t_now_ns() - start >= 20 * 1000 * 1000);
	errno = 0;
	assert_int_equal(trindle_wait_room(p, 0), -1);
	assert_int_equal(errno, ETIMEDOUT);
	assert_int_equal(t_release(p), 0);
	assert_int_equal(t_release(s), 0);
}

/* Waits (at most 5 s) for the closure notice of worker w's input. */
static void await_end(trindle_pipe_t w)
{
	trindle_message_t m = { 0 };
	int64_t start = t_now_ns();

	while (t_notices(&m, 1) == 0) {
		assert_true(t_now_ns() - start < 5LL * 1000 * 1000 * 1000);
		sched_yield();
	}
	assert_ptr_equal(m.address, w);
	assert_null(m.content);
}

/* The receiver takes a message: a sender waiting for room goes on, and
 * its next send fits.  The worker waits 200 ms before it takes anything;
 * if this thread was held up longer than that before it found the pipe
 * full, that round proves nothing and a new one starts. */
static void test_wait_room_wakes_when_the_receiver_takes(void **state)
{
	(void)state;
	for (int round = 0;; round++) {
		assert_true(round < 20);
		trindle_pipe_t w = trindle_launch(slow_taker_entry, 1, NULL,
				NULL);
		assert_non_null(w);
		unsigned char *a = t_segment(1, 1), *b = t_segment(1, 2);
		assert_int_equal(t_move(w, a), 0);
		if (t_move(w, b) == 0) { /* it took a already: again */
			await_end(w);
			continue;
		}
		int64_t start = t_now_ns();
		assert_int_equal(trindle_wait_room(w, 5LL * 1000 * 1000 * 1000),
				0);
		assert_true(t_now_ns() - start < 4LL * 1000 * 1000 * 1000);
		assert_int_equal(t_move(w, b), 0);
		await_end(w); /* it took b and ended */
		return;
	}
}

static void test_wait_room_on_a_dead_pipe_fails_epipe(void **state)
{
	(void)state;
	trindle_pipe_t w = trindle_launch(quick_exit_entry, 1, NULL, NULL);
	assert_non_null(w);
	int64_t start = t_now_ns();
	while (trindle_access(w) != 0) {
		assert_true(t_now_ns() - start < 5LL * 1000 * 1000 * 1000);
		sched_yield();
	}
	errno = 0;
	assert_int_equal(trindle_wait_room(w, -1), -1);
	assert_int_equal(errno, EPIPE);
	/* Its closure notice: posted just after the pipe is marked dead,
	 * which trindle_access() sees first, so it may take a moment. */
	trindle_message_t m;
	start = t_now_ns();
	while (t_notices(&m, 1) == 0) {
		assert_true(t_now_ns() - start < 5LL * 1000 * 1000 * 1000);
		sched_yield();
	}
	assert_ptr_equal(m.address, w);
	errno = 0;
	assert_int_equal(trindle_wait_room(w, -1), -1); /* no longer held */
	assert_int_equal(errno, EINVAL);
}

static void test_wait_room_needs_send(void **state)
{
	(void)state;
	unsigned char *s = t_segment(1, 1);
	errno = 0;
	assert_int_equal(trindle_wait_room(NULL, 0), -1);
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_int_equal(trindle_wait_room(s, 0), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(t_release(s), 0);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup(f, t_drop_notices)
	const struct CMUnitTest tests[] = {
		T(test_pipe_zero_capacity_fails_einval),
		T(test_pipe_huge_capacity_fails_enomem),
		T(test_pipe_creator_holds_send_receive),
		T(test_pipe_sent_gives_receiver_send_only),
		T(test_pipe_capacity_is_exact),
		T(test_pipe_capacity_holds_within_one_sync),
		T(test_pipe_fifo_from_one_sender),
		T(test_pipe_fifo_per_sender),
		T(test_pipe_death_releases_queued_contents),
		T(test_pipe_death_destroys_segment_it_alone_held),
		T(test_pipe_death_notifies_other_holders_once),
		T(test_pipe_sender_release_drops_only_its_send),
		T(test_pipe_send_to_dead_pipe_fails_without_send),
		T(test_pipe_moved_by_its_creator_lives_on),
		T(test_wait_room_returns_at_once_with_room),
		T(test_wait_room_times_out_on_a_full_pipe),
		T(test_wait_room_wakes_when_the_receiver_takes),
		T(test_wait_room_on_a_dead_pipe_fails_epipe),
		T(test_wait_room_needs_send),
	};
	return cmocka_run_group_tests_name("pipes", tests, NULL, NULL);
}
