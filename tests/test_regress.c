/* SPDX-License-Identifier: MIT */
/*
 * test_regress.c - regressions: each test reproduces, with nothing but the
 * public API, a sequence that once broke the contract, and checks what the
 * contract promises instead.  Single-threaded unless it says otherwise.
 */
#include "helpers.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#define RW (TRINDLE_ACCESS_READ | TRINDLE_ACCESS_WRITE)

static trindle_segment_t zeros(size_t bytes)
{
	trindle_segment_t s = trindle_allocate(1, &(trindle_buffer_t){ bytes, NULL });
	assert_non_null(s);
	return s;
}

/* A share next to an unrelated release stays a share: the sender keeps
 * its hold (READ, since the queued message holds it too), and receiving
 * its own message back leaves it the sole holder, with WRITE. */
static void test_share_beside_unrelated_release_stays_a_share(void **state)
{
	trindle_pipe_t p = t_pipe(4);
	trindle_segment_t a = zeros(16), b = zeros(16);
	trindle_message_t out[2] = { { p, a }, { NULL, b } };
	trindle_mailbox_t o = { 2, out };

	assert_int_equal(trindle_sync(&o, NULL), 0);
	assert_int_equal(o.count, 0);
	assert_int_equal(trindle_access(a), TRINDLE_ACCESS_READ);
	assert_int_equal(trindle_access(b), 0);

	trindle_message_t rq = { p, NULL }, got[2];
	trindle_mailbox_t o2 = { 1, &rq }, in = { 2, got };
	assert_int_equal(trindle_sync(&o2, &in), 0);
	assert_int_equal(in.count, 1);
	assert_ptr_equal(got[0].address, p);
	assert_ptr_equal(got[0].content, a);
	assert_int_equal(trindle_access(a), RW);
	assert_int_equal(t_release(a), 0);
	assert_int_equal(trindle_access(a), 0);
	assert_int_equal(t_release(p), 0);
}

/* The same with the release first, and with a share and a real
 * (non-adjacent) move of another segment in one outbox. */
static void test_share_and_nonadjacent_move_in_one_outbox(void **state)
{
	trindle_pipe_t p = t_pipe(4);
	trindle_segment_t a = zeros(16), b = zeros(16), c = zeros(16);
	/* release c; share a; send b; release b (a move, not adjacent) */
	trindle_message_t out[4] = { { NULL, c }, { p, b }, { p, a }, { NULL, b } };
	trindle_mailbox_t o = { 4, out };

	assert_int_equal(trindle_sync(&o, NULL), 0);
	assert_int_equal(o.count, 0);
	assert_int_equal(trindle_access(a), TRINDLE_ACCESS_READ);
	assert_int_equal(trindle_access(b), 0);
	assert_int_equal(trindle_access(c), 0);
	assert_int_equal(trindle_measure(p), 2);

	trindle_message_t rq = { p, NULL }, got[4];
	trindle_mailbox_t o2 = { 1, &rq }, in = { 4, got };
	assert_int_equal(trindle_sync(&o2, &in), 0);
	assert_int_equal(in.count, 2);
	assert_ptr_equal(got[0].content, b);
	assert_ptr_equal(got[1].content, a);
	assert_int_equal(trindle_access(a), RW);
	assert_int_equal(trindle_access(b), RW);
	assert_int_equal(t_release(a), 0);
	assert_int_equal(t_release(b), 0);
	assert_int_equal(t_release(p), 0);
}

/* A segment sent twice and released once, not adjacent: the last send
 * before the release is the move, the first a share. */
static void test_two_sends_one_release_moves_only_the_last(void **state)
{
	trindle_pipe_t p = t_pipe(4);
	trindle_segment_t a = zeros(16), b = zeros(16);
	trindle_message_t out[4] = { { p, a }, { p, a }, { NULL, b }, { NULL, a } };
	trindle_mailbox_t o = { 4, out };

	assert_int_equal(trindle_sync(&o, NULL), 0);
	assert_int_equal(o.count, 0);
	assert_int_equal(trindle_access(a), 0);
	assert_int_equal(trindle_measure(p), 2);

	trindle_message_t rq = { p, NULL }, got[4];
	trindle_mailbox_t o2 = { 1, &rq }, in = { 4, got };
	assert_int_equal(trindle_sync(&o2, &in), 0);
	assert_int_equal(in.count, 2);
	assert_ptr_equal(got[0].content, a);
	assert_ptr_equal(got[1].content, a);
	/* Received twice, held once: the sole holder. */
	assert_int_equal(trindle_access(a), RW);
	assert_int_equal(t_release(a), 0);
	assert_int_equal(trindle_access(a), 0);
	assert_int_equal(t_release(p), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_share_beside_unrelated_release_stays_a_share, t_drop_notices),
		cmocka_unit_test_setup(test_share_and_nonadjacent_move_in_one_outbox, t_drop_notices),
		cmocka_unit_test_setup(test_two_sends_one_release_moves_only_the_last, t_drop_notices),
	};
	return cmocka_run_group_tests_name("regress", tests, NULL, NULL);
}
