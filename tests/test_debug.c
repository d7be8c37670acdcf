/* SPDX-License-Identifier: MIT */
/*
 * The in-flight debug mode (TRINDLE_DEBUG=in-flight): a segment moved into
 * a pipe cannot be touched until someone receives it, so a sender that
 * keeps a stale pointer after a move is caught.
 */
#include "helpers.h"

#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static trindle_pipe_t g_sink;

/* Moves a segment to g_sink, then writes through the pointer it kept. */
static void stale_writer(trindle_pipe_t input)
{
	(void)input;
	char *s = trindle_allocate(1, &(trindle_buffer_t){ 100, NULL });
	if (!s)
		trindle_abort(NULL);
	s[0] = 1;
	if (t_w_move(g_sink, s))
		trindle_abort(NULL);
	((volatile char *)s)[0] = 2; /* stale: the segment is in flight */
	trindle_exit(NULL);
}

/* Receives from one pipe until want holds a message from it, noting the
 * writer's end (the closure notice of its input pipe) on the way. */
static void receive_until(trindle_pipe_t pipe, trindle_pipe_t writer,
		void **want, bool *ended)
{
	while (!*want) {
		trindle_message_t req = { pipe, NULL }, got[4];
		trindle_mailbox_t out = { 1, &req }, in = { 4, got };
		assert_int_equal(trindle_sync(&out, &in), 0);
		assert_int_equal(out.count, 0);
		/* Nothing more can come once the writer ended: without the
		 * report by then, the stale write went through. */
		assert_true(in.count > 0);
		for (size_t i = 0; i < in.count; i++) {
			if (got[i].address == pipe)
				*want = got[i].content;
			else if (got[i].address == writer && !got[i].content)
				*ended = true;
		}
	}
}

/* The report first: the moved segment must stay in flight (unreceived)
 * until the writer's stale write has happened.  Then the segment, then
 * the writer's end. */
static void collect(trindle_pipe_t writer, trindle_pipe_t err, char **moved,
		const trindle_fault_t **report)
{
	bool ended = false;

	receive_until(err, writer, (void **)report, &ended);
	receive_until(g_sink, writer, (void **)moved, &ended);
	while (!ended) {
		trindle_message_t got[2];
		trindle_mailbox_t in = { 2, got };
		trindle_message_t req = { g_sink, NULL };
		trindle_mailbox_t out = { 1, &req };
		assert_int_equal(trindle_sync(&out, &in), 0);
		for (size_t i = 0; i < in.count; i++)
			if (got[i].address == writer && !got[i].content)
				ended = true;
	}
}

static void test_stale_write_after_move_faults(void **state)
{
	(void)state;
	char *moved = NULL;
	const trindle_fault_t *report = NULL;
	trindle_pipe_t err = trindle_pipe(4);
	g_sink = trindle_pipe(4);
	trindle_pipe_t writer = trindle_launch(stale_writer, 1, g_sink, err);
	assert_non_null(writer);

	collect(writer, err, &moved, &report);
	assert_ptr_equal(report->object, moved);
	assert_ptr_equal(report->address, moved);
	assert_int_equal(report->access, TRINDLE_ACCESS_WRITE);
	assert_int_equal(report->signal, SIGSEGV);
	/* The receiver is the sole holder, and the stale write never landed. */
	assert_int_equal(trindle_access(moved),
			TRINDLE_ACCESS_READ | TRINDLE_ACCESS_WRITE);
	assert_int_equal(moved[0], 1);
	moved[0] = 3;
	assert_int_equal(t_release(moved), 0);
	assert_int_equal(t_release((void *)report), 0);
	assert_int_equal(t_release(g_sink), 0);
	assert_int_equal(t_release(err), 0);
}

static void test_moves_still_deliver_writable_segments(void **state)
{
	(void)state;
	trindle_pipe_t p = trindle_pipe(8);
	char *s = t_segment(5000, 7);
	assert_int_equal(t_move(p, s), 0);
	trindle_message_t got;
	assert_int_equal(t_recv(p, &got, -1), 1);
	assert_ptr_equal(got.content, s);
	assert_int_equal(trindle_access(s),
			TRINDLE_ACCESS_READ | TRINDLE_ACCESS_WRITE);
	assert_int_equal(s[4999], 7);
	s[4999] = 8;
	assert_int_equal(t_release(s), 0);
	assert_int_equal(t_release(p), 0);
}

int main(void)
{
	/* Read once, when the library starts: before the first call. */
	setenv("TRINDLE_DEBUG", "in-flight", 1);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stale_write_after_move_faults),
		cmocka_unit_test(test_moves_still_deliver_writable_segments),
	};
	return cmocka_run_group_tests_name("debug", tests, NULL, NULL);
}
