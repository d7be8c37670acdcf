/* SPDX-License-Identifier: MIT */
/*
 * Bad input: every call handed addresses that are not what it needs
 * (NULL, dangling, misaligned, foreign, stack, heap, code, garbage) gives
 * the documented error -- a failed message, -1 or NULL with errno -- and
 * never crashes or disturbs the objects that are fine.  Mostly tables.
 */
#include "helpers.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
	RW = TRINDLE_ACCESS_READ | TRINDLE_ACCESS_WRITE,
	SR = TRINDLE_ACCESS_SEND | TRINDLE_ACCESS_RECEIVE,
};

/* ---- worker side (no cmocka asserts off the main thread) ---------------- */

/* Holds a segment, a pipe and an extended segment (of 'ret' bytes) of its
 * own and tells their addresses; when nudged, reports its rights on them
 * (they must be intact) and ends. */
static void hoard_entry(trindle_pipe_t input)
{
	trindle_pipe_t reply = trindle_util_next_object(input);
	trindle_segment_t seg = trindle_allocate(1, &(trindle_buffer_t){ 100, NULL });
	trindle_pipe_t pipe = trindle_pipe(4);
	unsigned char ret[64];
	memset(ret, 0xc3, sizeof ret);
	trindle_segment_t code = trindle_allocate(1, &(trindle_buffer_t){ 64, ret });
	trindle_extend(code);
	uintptr_t v[3] = { (uintptr_t)seg, (uintptr_t)pipe, (uintptr_t)code };
	t_w_report(reply, v, 3);
	trindle_util_next_object(input);
	v[0] = (uintptr_t)trindle_access(seg);
	v[1] = (uintptr_t)trindle_access(pipe);
	v[2] = (uintptr_t)trindle_access(code);
	t_w_report(reply, v, 3);
}

static void quit_entry(trindle_pipe_t input)
{
	(void)input;
}

/* Ends once nothing can come to it any more. */
static void wait_entry(trindle_pipe_t input)
{
	while (trindle_util_next_object(input))
		;
}

/* Objects shared by all tests, made once for the group. */
static struct {
	struct t_box box;
	trindle_pipe_t reply, pipe, hoard, dead_pipe, dead_input;
	unsigned char *seg, *dead_seg;
	trindle_segment_t foreign_seg, foreign_code;
	trindle_pipe_t foreign_pipe;
	char *heap;
} fx;

static int global_data = 1;

static int make_fixture(void **state)
{
	(void)state;
	fx.reply = trindle_pipe(16);
	fx.pipe = trindle_pipe(4);
	fx.seg = t_segment(64, 0x33);
	fx.dead_seg = t_segment(64, 0x44);
	fx.dead_pipe = trindle_pipe(4);
	fx.heap = malloc(32);
	assert_non_null(fx.heap);
	fx.hoard = t_start(hoard_entry, fx.reply);
	const uintptr_t *v = t_next_from(fx.reply, &fx.box);
	assert_non_null(v);
	fx.foreign_seg = (void *)v[0];
	fx.foreign_pipe = (void *)v[1];
	fx.foreign_code = (void *)v[2];
	assert_int_equal(t_release((void *)v), 0);
	fx.dead_input = trindle_launch(quit_entry, 1, NULL, NULL);
	assert_non_null(fx.dead_input);
	t_await_gone(fx.dead_input, fx.reply, &fx.box);
	assert_int_equal(t_release(fx.dead_seg), 0);
	assert_int_equal(t_release(fx.dead_pipe), 0);
	return 0;
}

static int drop_fixture(void **state)
{
	(void)state;
	t_nudge(fx.hoard);
	/* Nothing this file did disturbed the hoard's own objects. */
	const uintptr_t *v = t_next_from(fx.reply, &fx.box);
	assert_non_null(v);
	assert_int_equal(v[0], RW);
	assert_int_equal(v[1], SR);
	assert_int_equal(v[2], TRINDLE_ACCESS_READ | TRINDLE_ACCESS_EXECUTE);
	assert_int_equal(t_release((void *)v), 0);
	t_await_gone(fx.hoard, fx.reply, &fx.box);
	assert_int_equal(t_release(fx.seg), 0);
	assert_int_equal(t_release(fx.pipe), 0);
	assert_int_equal(t_release(fx.reply), 0);
	free(fx.heap);
	return 0;
}

/* The fixture's good objects are as they were. */
static void assert_fixture_intact(void)
{
	assert_int_equal(trindle_access(fx.seg), RW);
	assert_int_equal(trindle_measure(fx.seg), 64);
	for (int i = 0; i < 64; i++)
		assert_int_equal(fx.seg[i], 0x33);
	assert_int_equal(trindle_access(fx.pipe), SR);
	trindle_message_t m;
	assert_int_equal(t_recv(fx.pipe, &m, 0), 0);
	assert_int_equal(trindle_access(fx.hoard), TRINDLE_ACCESS_SEND);
}

struct bad {
	const char *name;
	const void *addr;
};

/* Every address that is no object this root holds (stack: the caller's). */
static size_t bad_objects(struct bad *t, const void *stack)
{
	const struct bad all[] = {
		{ "dangling segment", fx.dead_seg },
		{ "dangling pipe", fx.dead_pipe },
		{ "dead worker's input pipe", fx.dead_input },
		{ "misaligned segment", fx.seg + 1 },
		{ "misaligned segment end", fx.seg + 4095 },
		{ "misaligned pipe", (char *)fx.pipe + 1 },
		{ "foreign segment", fx.foreign_seg },
		{ "foreign pipe", fx.foreign_pipe },
		{ "foreign extended segment", fx.foreign_code },
		{ "stack", stack },
		{ "heap", fx.heap },
		{ "code", (void *)printf },
		{ "data", &global_data },
		{ "read-only data", "literal" },
		{ "one", (void *)1 },
		{ "deadbeef", (void *)(uintptr_t)0xdeadbeef },
		{ "kernel", (void *)(uintptr_t)0xffff800000001000ull },
		{ "all ones", (void *)UINTPTR_MAX },
	};
	memcpy(t, all, sizeof all);
	return sizeof all / sizeof *all;
}

/* Bad pipes: the bad objects, plus a segment used as a pipe. */
static size_t bad_pipes(struct bad *t, const void *stack)
{
	size_t n = bad_objects(t, stack);
	t[n++] = (struct bad){ "segment as pipe", fx.seg };
	return n;
}

/* One sync of the single message m must fail and leave m as it was.  It
 * has inbox room and no wait, so a wrongly accepted receive cannot hang. */
static void expect_fail(trindle_message_t m, const char *name)
{
	trindle_message_t copy = m, got;
	trindle_mailbox_t out = { 1, &copy }, in = { 1, &got };
	int rc = trindle_sync_timeout(&out, &in, 0);
	if (rc != 0 || out.count != 1 || in.count != 0)
		fail_msg("%s: rc %d, %zu failed, %zu in", name, rc, out.count,
			 in.count);
	assert_ptr_equal(copy.address, m.address);
	assert_ptr_equal(copy.content, m.content);
}

/* All of m[0 .. n) in one sync: all fail, and stay in order. */
static void expect_all_fail(const trindle_message_t *m, size_t n)
{
	trindle_message_t copy[32];
	assert_true(n <= 32);
	memcpy(copy, m, n * sizeof *m);
	trindle_mailbox_t out = { n, copy };
	assert_int_equal(trindle_sync_timeout(&out, NULL, 0), 0);
	assert_int_equal(out.count, n);
	assert_memory_equal(copy, m, n * sizeof *m);
}

/* Where a message template takes each bad address in turn. */
static const char bad_slot;
#define BAD ((void *)&bad_slot)

/* For each of t[0 .. n): m[i] is tmpl with t[i]'s address in place of BAD,
 * and it must fail alone (expect_fail).  When tmpl carries a segment, the
 * failed send must have added no holder to it. */
static void expect_each_fails(trindle_message_t *m, const struct bad *t,
			      size_t n, trindle_message_t tmpl)
{
	for (size_t i = 0; i < n; i++) {
		m[i] = tmpl;
		if (m[i].address == BAD)
			m[i].address = (void *)t[i].addr;
		if (m[i].content == BAD)
			m[i].content = (void *)t[i].addr;
		expect_fail(m[i], t[i].name);
		if (tmpl.content && tmpl.content != BAD)
			assert_int_equal(trindle_access(tmpl.content), RW);
	}
}

/* ---- messages -------------------------------------------------------------- */

static void test_send_on_pipe_without_send_fails(void **state)
{
	(void)state;
	struct bad t[32];
	trindle_message_t m[32] = { { NULL, NULL } };
	int on_stack = 0;
	size_t n = bad_pipes(t, &on_stack);
	expect_each_fails(m, t, n, (trindle_message_t){ BAD, fx.seg });
	expect_all_fail(m, n);
	assert_fixture_intact();
}

static void test_send_of_object_not_held_fails(void **state)
{
	(void)state;
	struct bad t[32];
	trindle_message_t m[32] = { { NULL, NULL } };
	int on_stack = 0;
	size_t n = bad_objects(t, &on_stack);
	expect_each_fails(m, t, n, (trindle_message_t){ fx.pipe, BAD });
	expect_all_fail(m, n);
	/* Also through a pipe held with SEND only. */
	expect_each_fails(m, t, n, (trindle_message_t){ fx.hoard, BAD });
	assert_fixture_intact();
}

static void test_receive_without_receive_fails(void **state)
{
	(void)state;
	struct bad t[32];
	trindle_message_t m[32] = { { NULL, NULL } };
	int on_stack = 0;
	size_t n = bad_pipes(t, &on_stack);
	t[n++] = (struct bad){ "pipe held with SEND only", fx.hoard };
	expect_each_fails(m, t, n, (trindle_message_t){ BAD, NULL });
	expect_all_fail(m, n);
	assert_fixture_intact();
}

static void test_release_of_object_not_held_fails(void **state)
{
	(void)state;
	struct bad t[32];
	trindle_message_t m[32] = { { NULL, NULL } };
	int on_stack = 0;
	size_t n = bad_objects(t, &on_stack);
	expect_each_fails(m, t, n, (trindle_message_t){ NULL, BAD });
	expect_all_fail(m, n);
	assert_fixture_intact();
}

static void test_null_null_message_fails(void **state)
{
	(void)state;
	trindle_message_t m[3] = { { NULL, NULL }, { NULL, NULL }, { NULL, NULL } };
	expect_fail(m[0], "{NULL, NULL}");
	expect_all_fail(m, 3);
	assert_fixture_intact();
}

static void test_double_release_fails(void **state)
{
	(void)state;
	unsigned char *s = t_segment(10, 1);
	trindle_pipe_t p = trindle_pipe(1);
	assert_int_equal(t_release(s), 0);
	assert_int_equal(t_release(s), 1);
	assert_int_equal(t_release(p), 0);
	assert_int_equal(t_release(p), 1);
	/* Twice in one sync: the second fails. */
	s = t_segment(10, 1);
	trindle_message_t m[2] = { { NULL, s }, { NULL, s } };
	trindle_mailbox_t out = { 2, m };
	assert_int_equal(trindle_sync(&out, NULL), 0);
	assert_int_equal(out.count, 1);
	assert_null(m[0].address);
	assert_ptr_equal(m[0].content, s);
	assert_int_equal(trindle_access(s), 0);
	assert_fixture_intact();
}

static void test_release_of_pipe_not_held_fails(void **state)
{
	(void)state;
	assert_int_equal(t_release(fx.foreign_pipe), 1);
	assert_int_equal(t_release(fx.dead_pipe), 1);
	assert_int_equal(t_release(fx.dead_input), 1);
	/* A sender letting go twice: the worker ends when its last sender
	 * lets go, but the second release fails either way. */
	trindle_pipe_t w = trindle_launch(wait_entry, 1, NULL, NULL);
	assert_non_null(w);
	assert_int_equal(t_release(w), 0);
	assert_int_equal(t_release(w), 1);
	assert_fixture_intact();
}

static void test_failed_messages_grouped_first_in_order(void **state)
{
	(void)state;
	unsigned char *a = t_segment(8, 1), *c = t_segment(8, 2);
	int local;
	trindle_message_t m[] = {
		{ fx.pipe, a },                /* good send */
		{ NULL, (void *)0xdeadbeef },  /* bad release */
		{ NULL, c },                   /* good release */
		{ NULL, NULL },                /* not a message */
		{ fx.pipe, NULL },             /* good receive request */
		{ fx.dead_pipe, a },           /* send to a dead pipe */
		{ fx.hoard, NULL },            /* receive without RECEIVE */
		{ fx.pipe, &local },           /* send of the stack */
	};
	trindle_message_t want[] = { m[1], m[3], m[5], m[6], m[7] };
	trindle_mailbox_t out = { 8, m };
	assert_int_equal(trindle_sync(&out, NULL), 0);
	assert_int_equal(out.count, 5);
	assert_memory_equal(m, want, sizeof want);
	/* The good ones took effect. */
	assert_int_equal(trindle_access(a), TRINDLE_ACCESS_READ);
	assert_int_equal(trindle_access(c), 0);
	trindle_message_t got;
	assert_int_equal(t_recv(fx.pipe, &got, 0), 1);
	assert_ptr_equal(got.content, a);
	assert_int_equal(trindle_access(a), RW);
	assert_int_equal(t_release(a), 0);
	assert_fixture_intact();
}

/* ---- mailboxes ------------------------------------------------------------- */

static void test_mailbox_null_address_nonzero_count_fails_einval(void **state)
{
	(void)state;
	trindle_message_t slot;
	trindle_mailbox_t bad = { 1, NULL }, empty = { 0, NULL };
	trindle_mailbox_t room = { 1, &slot };
	trindle_mailbox_t *outs[] = { &bad, NULL, &empty, &bad };
	trindle_mailbox_t *ins[] = { NULL, &bad, &bad, &room };
	for (size_t i = 0; i < 4; i++) {
		bad.count = 1;
		room.count = 1;
		errno = 0;
		assert_int_equal(trindle_sync(outs[i], ins[i]), -1);
		assert_int_equal(errno, EINVAL);
		bad.count = 1;
		errno = 0;
		assert_int_equal(trindle_sync_timeout(outs[i], ins[i], 0), -1);
		assert_int_equal(errno, EINVAL);
	}
	/* A NULL address with count 0 is an empty mailbox, not an error. */
	empty.count = 0;
	trindle_mailbox_t empty_in = { 0, NULL };
	assert_int_equal(trindle_sync(&empty, &empty_in), 0);
	assert_int_equal(trindle_sync(NULL, NULL), 0);
	assert_fixture_intact();
}

/* ---- launch --------------------------------------------------------------- */

static void expect_launch_einval(trindle_entrypoint_t entry, size_t queue,
				 trindle_pipe_t out, trindle_pipe_t err,
				 const char *name)
{
	errno = 0;
	trindle_pipe_t w = trindle_launch(entry, queue, out, err);
	if (w != NULL || errno != EINVAL)
		fail_msg("launch with %s: %p, errno %d", name, w, errno);
}

static void test_launch_with_bad_entry_fails_einval(void **state)
{
	(void)state;
	int local;
	trindle_segment_t rw = t_segment(16, 0xc3);
	const struct bad entries[] = {
		{ "NULL", NULL },
		{ "data", &global_data },
		{ "heap", fx.heap },
		{ "stack", &local },
		{ "writable segment", rw },
		{ "dangling segment", fx.dead_seg },
		{ "foreign segment", fx.foreign_seg },
		{ "foreign extended segment", fx.foreign_code },
		{ "pipe", fx.pipe },
		{ "deadbeef", (void *)(uintptr_t)0xdeadbeef },
		{ "all ones", (void *)UINTPTR_MAX },
	};
	for (size_t i = 0; i < sizeof entries / sizeof *entries; i++)
		expect_launch_einval((trindle_entrypoint_t)(uintptr_t)entries[i].addr,
				     1, NULL, NULL, entries[i].name);
	assert_int_equal(trindle_access(rw), RW);
	assert_int_equal(t_release(rw), 0);
	assert_fixture_intact();
}

static void test_launch_with_zero_queue_fails_einval(void **state)
{
	(void)state;
	expect_launch_einval(quit_entry, 0, NULL, NULL, "queue 0");
	expect_launch_einval(quit_entry, 0, fx.pipe, fx.pipe, "queue 0, pipes");
	assert_fixture_intact();
}

static void test_launch_with_pipe_not_held_fails_einval(void **state)
{
	(void)state;
	struct bad t[32];
	int on_stack = 0;
	size_t n = bad_pipes(t, &on_stack);
	for (size_t i = 0; i < n; i++) {
		trindle_pipe_t p = (void *)t[i].addr;
		expect_launch_einval(quit_entry, 1, p, NULL, t[i].name);
		expect_launch_einval(quit_entry, 1, NULL, p, t[i].name);
		expect_launch_einval(quit_entry, 1, fx.pipe, p, t[i].name);
	}
	assert_fixture_intact();
}

/* ---- extend and allocate ------------------------------------------------------ */

static void test_extend_of_garbage_fails_einval(void **state)
{
	(void)state;
	struct bad t[32];
	int on_stack = 0;
	size_t n = bad_objects(t, &on_stack);
	t[n++] = (struct bad){ "pipe", fx.pipe };
	t[n++] = (struct bad){ "NULL", NULL };
	for (size_t i = 0; i < n; i++) {
		errno = 0;
		int rc = trindle_extend((void *)t[i].addr);
		if (rc != -1 || errno != EINVAL)
			fail_msg("extend of %s: %d, errno %d", t[i].name, rc, errno);
	}
	assert_fixture_intact();
}

static void test_allocate_count_without_buffers_fails_einval(void **state)
{
	(void)state;
	errno = 0;
	assert_null(trindle_allocate(1, NULL));
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_null(trindle_allocate(SIZE_MAX, NULL));
	assert_int_equal(errno, EINVAL);
	assert_fixture_intact();
}

int main(void)
{
#define T(f) cmocka_unit_test_setup(f, t_drop_notices)
	const struct CMUnitTest tests[] = {
		T(test_send_on_pipe_without_send_fails),
		T(test_send_of_object_not_held_fails),
		T(test_receive_without_receive_fails),
		T(test_release_of_object_not_held_fails),
		T(test_null_null_message_fails),
		T(test_double_release_fails),
		T(test_release_of_pipe_not_held_fails),
		T(test_failed_messages_grouped_first_in_order),
		T(test_mailbox_null_address_nonzero_count_fails_einval),
		T(test_launch_with_bad_entry_fails_einval),
		T(test_launch_with_zero_queue_fails_einval),
		T(test_launch_with_pipe_not_held_fails_einval),
		T(test_extend_of_garbage_fails_einval),
		T(test_allocate_count_without_buffers_fails_einval),
	};
	return cmocka_run_group_tests_name("bad_input", tests, make_fixture,
					   drop_fixture);
}
