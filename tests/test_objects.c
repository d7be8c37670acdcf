/* SPDX-License-Identifier: MIT */
/*
 * Objects: what trindle_access() and trindle_measure() say about every kind
 * of address a caller may hand them -- live segments and pipes, code, and
 * all the things that are not objects the caller holds.  Neither call may
 * crash or touch errno, whatever the address.
 */
#include "helpers.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum {
	RW = TRINDLE_ACCESS_READ | TRINDLE_ACCESS_WRITE,
	RX = TRINDLE_ACCESS_READ | TRINDLE_ACCESS_EXECUTE,
	SR = TRINDLE_ACCESS_SEND | TRINDLE_ACCESS_RECEIVE,
};

/* ---- worker side (no cmocka asserts off the main thread) ---------------- */

/* Holds a segment, a pipe and an extended segment of its own, tells their
 * addresses, and lets go of them (by ending) only when nudged. */
static void hoard_entry(trindle_pipe_t input)
{
	trindle_pipe_t reply = trindle_util_next_object(input);
	trindle_buffer_t b = { 100, NULL };
	trindle_segment_t seg = trindle_allocate(1, &b);
	trindle_pipe_t pipe = trindle_pipe(4);
	trindle_segment_t code = trindle_allocate(1, &b);
	trindle_extend(code);
	uintptr_t v[3] = { (uintptr_t)seg, (uintptr_t)pipe, (uintptr_t)code };
	t_w_report(reply, v, 3);
	trindle_util_next_object(input);
}

/* ---- the rules ---------------------------------------------------------- */

/* Asserts that addr names nothing, and that asking left errno alone. */
static void assert_nothing(const void *addr)
{
	errno = 4242;
	assert_int_equal(trindle_access((trindle_object_t)addr), 0);
	assert_int_equal(trindle_measure((trindle_object_t)addr), 0);
	assert_int_equal(errno, 4242);
}

static void test_access_segment_held_alone_is_read_write(void **state)
{
	(void)state;
	unsigned char *s = t_segment(1000, 1);
	errno = 4242;
	assert_int_equal(trindle_access(s), RW);
	assert_int_equal(trindle_measure(s), 1000);
	assert_int_equal(errno, 4242);
	assert_int_equal(t_release(s), 0);
}

static void test_access_segment_in_flight_is_read_only(void **state)
{
	(void)state;
	trindle_pipe_t p = trindle_pipe(2);
	unsigned char *s = t_segment(10, 1);
	assert_int_equal(t_send(p, s), 0);
	assert_int_equal(trindle_access(s), TRINDLE_ACCESS_READ);
	assert_int_equal(trindle_measure(s), 10);
	assert_int_equal(t_release(p), 0);
	assert_int_equal(t_release(s), 0);
}

static void test_access_pipe_creator_has_send_receive(void **state)
{
	(void)state;
	trindle_pipe_t p = trindle_pipe(3);
	assert_non_null(p);
	errno = 4242;
	assert_int_equal(trindle_access(p), SR);
	assert_int_equal(trindle_measure(p), 0);
	assert_int_equal(errno, 4242);
	assert_int_equal(t_release(p), 0);
}

static void test_measure_pipe_is_lower_bound_on_queue(void **state)
{
	(void)state;
	trindle_pipe_t p = trindle_pipe(4);
	trindle_segment_t a = t_segment(1, 0), b = t_segment(1, 0);
	assert_int_equal(t_move(p, a), 0);
	assert_int_equal(t_move(p, b), 0);
	assert_true(trindle_measure(p) <= 2);
	trindle_message_t m;
	assert_int_equal(t_recv(p, &m, 0), 1);
	assert_int_equal(t_recv(p, &m, 0), 1);
	assert_int_equal(trindle_measure(p), 0);
	assert_int_equal(t_release(a), 0);
	assert_int_equal(t_release(b), 0);
	assert_int_equal(t_release(p), 0);
}

static int local_function(int x)
{
	return x * 3 + 1;
}

int main(void);

static void test_access_code_is_read_execute(void **state)
{
	(void)state;
	const void *code[] = {
		(void *)main,
		(void *)local_function,
		(const char *)(void *)local_function + 3,
		(void *)printf,
		(void *)memcpy,
		(void *)cmocka_set_message_output,
		(void *)trindle_access,
		(const char *)(void *)trindle_sync + 5,
	};
	assert_int_equal(local_function(1), 4);
	for (size_t i = 0; i < sizeof code / sizeof *code; i++) {
		errno = 4242;
		assert_int_equal(trindle_access((trindle_object_t)code[i]), RX);
		/* Code is not an object the caller holds: it has no size. */
		assert_int_equal(trindle_measure((trindle_object_t)code[i]), 0);
		assert_int_equal(errno, 4242);
	}
}

static void test_access_null_is_nothing(void **state)
{
	(void)state;
	assert_nothing(NULL);
}

static void test_access_garbage_is_nothing(void **state)
{
	(void)state;
	const uintptr_t junk[] = {
		1, 8, 4095, 4096, 0xdeadbeef, 0x100000000ull,
		0x00007ffffffff000ull, 0x0000800000000000ull,
		0xffff800000000000ull, UINTPTR_MAX - 4095, UINTPTR_MAX,
	};
	for (size_t i = 0; i < sizeof junk / sizeof *junk; i++)
		assert_nothing((const void *)junk[i]);
}

static int global_data = 7;

static void test_access_stack_heap_and_data_are_nothing(void **state)
{
	(void)state;
	int local = 3;
	char *heap = malloc(64);
	assert_non_null(heap);
	assert_nothing(&local);
	assert_nothing(state);
	assert_nothing(heap);
	assert_nothing(heap + 1);
	assert_nothing(&global_data);
	assert_nothing("a string literal");
	free(heap);
}

static void test_access_middle_of_segment_is_nothing(void **state)
{
	(void)state;
	long page = sysconf(_SC_PAGESIZE);
	unsigned char *s = t_segment((size_t)page * 2 + 10, 5);
	assert_nothing(s + 1);
	assert_nothing(s + page - 1);
	assert_nothing(s + page);
	assert_nothing(s + 2 * page + 9);
	assert_nothing(s + 2 * page + 10);
	/* Asking about the middle does not disturb the segment itself. */
	assert_int_equal(trindle_access(s), RW);
	assert_int_equal(trindle_measure(s), (size_t)page * 2 + 10);
	assert_int_equal(t_release(s), 0);
}

static void test_access_middle_of_pipe_is_nothing(void **state)
{
	(void)state;
	trindle_pipe_t p = trindle_pipe(2);
	assert_nothing((char *)p + 1);
	assert_int_equal(trindle_access(p), SR);
	assert_int_equal(t_release(p), 0);
}

static void test_access_extended_segment_is_read_execute(void **state)
{
	(void)state;
	unsigned char *s = t_segment(300, 0xc3);
	assert_int_equal(trindle_extend(s), 0);
	assert_int_equal(trindle_access(s), RX);
	assert_int_equal(trindle_measure(s), 300);
	/* Inside an extended segment held: executable memory, so code. */
	assert_int_equal(trindle_access(s + 17), RX);
	assert_int_equal(trindle_measure(s + 17), 0);
	assert_int_equal(t_release(s), 0);
	assert_nothing(s);
	assert_nothing(s + 17);
}

static void test_access_destroyed_segment_is_nothing(void **state)
{
	(void)state;
	unsigned char *s = t_segment(64, 9);
	trindle_segment_t z = trindle_allocate(0, NULL);
	assert_non_null(z);
	assert_int_equal(t_release(s), 0);
	assert_int_equal(t_release(z), 0);
	assert_nothing(s);
	assert_nothing(z);
}

static void test_access_destroyed_pipe_is_nothing(void **state)
{
	(void)state;
	trindle_pipe_t p = trindle_pipe(5);
	assert_int_equal(t_release(p), 0);
	assert_nothing(p);
}

static void test_access_objects_not_held_are_nothing(void **state)
{
	(void)state;
	struct t_box b = { 0 };
	trindle_pipe_t reply = trindle_pipe(8);
	trindle_pipe_t w = t_start(hoard_entry, reply);
	const uintptr_t *v = t_next_from(reply, &b);
	assert_non_null(v);
	trindle_segment_t seg = (trindle_segment_t)v[0];
	trindle_pipe_t pipe = (trindle_pipe_t)v[1];
	const char *code = (const char *)v[2];
	assert_non_null(seg);
	assert_non_null(pipe);
	assert_non_null(code);
	/* Live, but held by the worker only; executable, but not held here,
	 * so not code this root may run. */
	assert_nothing(seg);
	assert_nothing(pipe);
	assert_nothing(code);
	assert_nothing(code + 10);
	t_nudge(w);
	t_await_gone(w, reply, &b);
	/* Now destroyed with the worker. */
	assert_nothing(seg);
	assert_nothing(pipe);
	assert_nothing(code);
	assert_int_equal(t_release((trindle_object_t)v), 0);
	assert_int_equal(t_release(reply), 0);
}

static void test_access_worker_input_pipe_is_send_only(void **state)
{
	(void)state;
	struct t_box b = { 0 };
	trindle_pipe_t reply = trindle_pipe(8);
	trindle_pipe_t w = t_start(hoard_entry, reply);
	assert_int_equal(trindle_access(w), TRINDLE_ACCESS_SEND);
	const uintptr_t *v = t_next_from(reply, &b);
	assert_non_null(v);
	t_nudge(w);
	t_await_gone(w, reply, &b);
	/* Its input pipe died with it. */
	assert_nothing(w);
	assert_int_equal(t_release((trindle_object_t)v), 0);
	assert_int_equal(t_release(reply), 0);
}

/* The address a churning worker has last made, and whether it is done. */
static _Atomic uintptr_t churn_addr;
static atomic_int churn_done;

enum { CHURN_ROUNDS = 3000 };

/* Makes and destroys segments and pipes as fast as it can, publishing
 * each address just before letting go of it. */
static void churn_entry(trindle_pipe_t input)
{
	(void)input;
	for (int i = 0; i < CHURN_ROUNDS; i++) {
		trindle_buffer_t b = { (size_t)(i % 3) * 4096, NULL };
		trindle_object_t o = i % 4 == 3 ? trindle_pipe(2)
						: trindle_allocate(1, &b);
		atomic_store(&churn_addr, (uintptr_t)o);
		t_w_release(o);
	}
	atomic_store(&churn_done, 1);
}

static void test_access_never_faults_while_objects_die(void **state)
{
	(void)state;
	struct t_box b = { 0 };
	trindle_pipe_t mine = trindle_pipe(1);
	atomic_store(&churn_done, 0);
	atomic_store(&churn_addr, 0);
	trindle_pipe_t w = trindle_launch(churn_entry, 1, NULL, NULL);
	assert_non_null(w);
	do {
		uintptr_t a = atomic_load(&churn_addr);
		/* Held by the worker or already gone: never ours. */
		assert_int_equal(trindle_access((void *)a), 0);
		assert_int_equal(trindle_measure((void *)a), 0);
		assert_int_equal(trindle_access((void *)(a + 1)), 0);
	} while (!atomic_load(&churn_done));
	t_await_gone(w, mine, &b);
	assert_int_equal(t_release(mine), 0);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup(f, t_drop_notices)
	const struct CMUnitTest tests[] = {
		T(test_access_segment_held_alone_is_read_write),
		T(test_access_segment_in_flight_is_read_only),
		T(test_access_pipe_creator_has_send_receive),
		T(test_measure_pipe_is_lower_bound_on_queue),
		T(test_access_code_is_read_execute),
		T(test_access_null_is_nothing),
		T(test_access_garbage_is_nothing),
		T(test_access_stack_heap_and_data_are_nothing),
		T(test_access_middle_of_segment_is_nothing),
		T(test_access_middle_of_pipe_is_nothing),
		T(test_access_extended_segment_is_read_execute),
		T(test_access_destroyed_segment_is_nothing),
		T(test_access_destroyed_pipe_is_nothing),
		T(test_access_objects_not_held_are_nothing),
		T(test_access_worker_input_pipe_is_send_only),
		T(test_access_never_faults_while_objects_die),
	};
	return cmocka_run_group_tests_name("objects", tests, NULL, NULL);
}
