/* SPDX-License-Identifier: MIT */
/*
 * test_cache.c - the slots a process destroys and keeps open for its own
 * next allocations (at most 64 slots and 1 MiB; see trindle_allocate()):
 * what comes back from it is a new segment, zero-filled; a destroyed
 * segment outside it faults (destroyed once the cache was full, or kept by
 * a process that ended);
 * and with TRINDLE_DEBUG=strict every destroyed segment faults.
 */
#include "helpers.h"

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define RW (TRINDLE_ACCESS_READ | TRINDLE_ACCESS_WRITE)
#define PAGE 4096
#define OFFSET 8
#define CACHE_SLOTS 64

static bool all_zero(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

/* A segment released and allocated again at the same size is a new one:
 * held alone, writable, every byte zero, whatever the old one held. */
static void test_reused_slot_is_a_new_zeroed_segment(void **state)
{
	for (int round = 0; round < 100; round++) {
		unsigned char *a = t_segment(PAGE, 0xab);
		assert_int_equal(t_release(a), 0);
		assert_int_equal(trindle_access(a), 0);
		unsigned char *b = trindle_allocate(1, &(trindle_buffer_t){ PAGE, NULL });
		assert_non_null(b);
		assert_int_equal(trindle_access(b), RW);
		assert_int_equal(trindle_measure(b), PAGE);
		assert_true(all_zero(b, PAGE));
		memset(b, 0xcd, PAGE);
		assert_int_equal(t_release(b), 0);
	}
}

/* Worker: fills its cache (destroys as many small segments as it keeps,
 * one sync each, allocating nothing meanwhile, which would take slots back
 * out of it), then destroys one more and touches it: that one is beyond
 * the cache, so it faults. */
static void touch_beyond_the_cache(trindle_pipe_t input)
{
	enum { N = CACHE_SLOTS };
	trindle_segment_t kept[N];

	(void)trindle_util_next_object(input); /* its reply pipe */
	volatile unsigned char *last = t_label(1);
	for (int i = 0; i < N; i++)
		if (!(kept[i] = t_label((unsigned long)i)))
			return;
	for (int i = 0; i < N; i++)
		if (t_w_release(kept[i]))
			return;
	if (!last || t_w_release((trindle_object_t)last))
		return;
	(void)last[OFFSET];
}

static void test_a_destroyed_segment_beyond_the_cache_faults(void **state)
{
	trindle_pipe_t reply = t_pipe(4);
	struct t_box b = { 0 };
	trindle_pipe_t w = t_start(touch_beyond_the_cache, reply);
	const trindle_fault_t *f = t_next_from(reply, &b);
	assert_non_null(f);
	assert_int_equal(f->access, TRINDLE_ACCESS_READ);
	assert_true(f->signal == SIGSEGV || f->signal == SIGBUS);
	assert_non_null(f->object);
	assert_ptr_equal(f->address, (char *)f->object + OFFSET);
	assert_ptr_equal(f->process, w);
	assert_int_equal(t_release((trindle_object_t)f), 0);
	t_await_gone(w, reply, &b);
	assert_int_equal(t_release(reply), 0);
}

/* Worker: destroys a small segment (into its own cache) and sends back
 * its address; then ends, which closes its cache. */
static void destroy_and_end(trindle_pipe_t input)
{
	trindle_pipe_t reply = trindle_util_next_object(input);
	trindle_segment_t s = t_label(7);
	/* The report is made before s dies, so it cannot take s's slot. */
	uintptr_t where = (uintptr_t)s;
	trindle_segment_t report = trindle_allocate(1,
			&(trindle_buffer_t){ sizeof where, &where });
	if (!s || !report || t_w_release(s))
		return;
	t_w_move(reply, report);
}

/* Worker: reads the address it is given. */
static void peek(trindle_pipe_t input)
{
	(void)trindle_util_next_object(input); /* its reply pipe */
	const uintptr_t *where = trindle_util_next_object(input);
	if (where)
		(void)*(volatile unsigned char *)(*where + OFFSET);
}

static void test_a_process_end_closes_its_cache(void **state)
{
	trindle_pipe_t reply = t_pipe(4);
	struct t_box b = { 0 };
	/* The peeker first, so that nothing it makes can take the address. */
	trindle_pipe_t p = t_start(peek, reply);
	trindle_pipe_t d = t_start(destroy_and_end, reply);
	const uintptr_t *where = t_next_from(reply, &b);
	assert_non_null(where);
	uintptr_t dead = *where;
	t_await_gone(d, reply, &b);
	assert_int_equal(t_move(p, (trindle_object_t)where), 0);
	t_expect_fault(reply, &b, (void *)(dead + OFFSET), TRINDLE_ACCESS_READ,
		       (trindle_object_t)dead, p);
	t_await_gone(p, reply, &b);
	assert_int_equal(t_release(reply), 0);
}

/* ---- strict mode, in a fresh process ---- */

static const char *g_self = "./test_cache";

/* Worker: destroys one small segment and touches it at once. */
static void touch_just_destroyed(trindle_pipe_t input)
{
	(void)input;
	volatile unsigned char *s = t_label(3);
	if (!s || t_w_release((trindle_object_t)s))
		return;
	(void)s[OFFSET];
}

/* The child: 0 if the worker's touch was reported as a fault, 1 if the
 * worker ended without one. */
static int child_touch_just_destroyed(void)
{
	trindle_pipe_t err = trindle_pipe(4);
	trindle_pipe_t w = trindle_launch(touch_just_destroyed, 1, NULL, err);
	trindle_message_t rq = { err, NULL }, got[4];
	bool fault = false;
	for (;;) {
		trindle_mailbox_t o = { 1, &rq }, in = { 4, got };
		if (trindle_sync(&o, &in) != 0 || in.count == 0)
			break;
		for (size_t i = 0; i < in.count; i++) {
			const trindle_fault_t *f = got[i].content;
			if (got[i].address == err && f && f->process == w &&
			    f->address == (char *)f->object + OFFSET)
				fault = true;
		}
	}
	return fault ? 0 : 1;
}

static void test_strict_mode_faults_on_every_destroyed_segment(void **state)
{
	int status = t_run_child(g_self, "touch", "TRINDLE_DEBUG=strict");
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

int main(int argc, char **argv)
{
	if (argc > 0 && strchr(argv[0], '/'))
		g_self = argv[0];
	if (argc == 3 && strcmp(argv[1], "--child") == 0)
		return child_touch_just_destroyed();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_reused_slot_is_a_new_zeroed_segment, t_drop_notices),
		cmocka_unit_test_setup(test_a_destroyed_segment_beyond_the_cache_faults, t_drop_notices),
		cmocka_unit_test_setup(test_a_process_end_closes_its_cache, t_drop_notices),
		cmocka_unit_test(test_strict_mode_faults_on_every_destroyed_segment),
	};
	return cmocka_run_group_tests_name("cache", tests, NULL, NULL);
}
