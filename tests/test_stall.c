/* SPDX-License-Identifier: MIT */
/*
 * The stall report (TRINDLE_STALL_MS, set to 100 here): two workers
 * waiting on each other's pipes, with the root waiting too, get one
 * report naming both processes, both pipes and the cycle; a slow
 * pipeline whose worker sleeps between messages never gets one; the dump
 * signal (TRINDLE_DUMP_SIGNAL, SIGUSR1 here) prints the report on demand.
 */
#include "helpers.h"

#include <trindle/util.h>

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { STALL_MS = 100 };

static char captured[16384];
static FILE *capture_file;
static int saved_stderr = -1;

/* Sends what the library writes on stderr to a file until capture_end(). */
static void capture_begin(void)
{
	fflush(stderr);
	capture_file = tmpfile();
	assert_non_null(capture_file);
	saved_stderr = dup(STDERR_FILENO);
	assert_true(saved_stderr >= 0);
	assert_int_equal(dup2(fileno(capture_file), STDERR_FILENO),
			STDERR_FILENO);
}

/* Puts stderr back; what was written is in captured (and echoed). */
static void capture_end(void)
{
	assert_int_equal(dup2(saved_stderr, STDERR_FILENO), STDERR_FILENO);
	close(saved_stderr);
	rewind(capture_file);
	size_t n = fread(captured, 1, sizeof(captured) - 1, capture_file);
	captured[n] = '\0';
	fclose(capture_file);
	fputs(captured, stderr);
}

static size_t count(const char *text, const char *what)
{
	size_t n = 0;
	for (const char *p = text; (p = strstr(p, what)) != NULL; p++)
		n++;
	return n;
}

/* Keeps the pipe that comes first; then waits on its input and ends as
 * soon as anything at all is delivered (a message or a notice). */
static void waits_on_input(trindle_pipe_t input)
{
	trindle_pipe_t other = trindle_util_next_object(input);
	trindle_message_t req = { input, NULL }, got[4];

	(void)other; /* held: only this worker can send there */
	for (;;) {
		trindle_mailbox_t out = { 1, &req }, in = { 4, got };
		if (trindle_sync(&out, &in) != 0 || in.count)
			return;
	}
}

static void test_a_wait_cycle_is_reported(void **state)
{
	(void)state;
	trindle_pipe_t done = t_pipe(2), bye = t_pipe(2);
	trindle_pipe_t a = trindle_launch(waits_on_input, 2, done, bye);
	trindle_pipe_t b = trindle_launch(waits_on_input, 2, done, bye);
	assert_non_null(a);
	assert_non_null(b);
	assert_int_equal(trindle_name(a, "stage 1"), 0);
	assert_int_equal(trindle_name(b, "stage 2"), 0);
	assert_int_equal(trindle_name(done, "done"), 0);
	/* Each gets SEND on the other's input; then only they hold it. */
	assert_int_equal(t_send(a, b), 0);
	assert_int_equal(t_send(b, a), 0);
	assert_int_equal(t_release(a), 0);
	assert_int_equal(t_release(b), 0);

	capture_begin();
	trindle_message_t m;
	int got = t_recv(done, &m, 10LL * STALL_MS * 1000000);
	capture_end();
	assert_int_equal(got, 0);
	assert_int_equal(count(captured, "trindle: stall:") > 0, 1);
	/* One report: its first line comes once. */
	assert_int_equal(count(captured, "nothing in flight can wake"), 1);
	assert_non_null(strstr(captured, "\"stage 1\" waits on 1 pipe"));
	assert_non_null(strstr(captured, "\"stage 2\" waits on 1 pipe"));
	assert_non_null(strstr(captured, "\"main\" waits on 1 pipe"));
	assert_non_null(strstr(captured, "pipe \"stage 1\": 0 of 2 queued; "
			"can be sent to by \"stage 2\""));
	assert_non_null(strstr(captured, "pipe \"stage 2\": 0 of 2 queued; "
			"can be sent to by \"stage 1\""));
	assert_non_null(strstr(captured, "wait cycle: "));
	assert_non_null(strstr(captured, "\"stage 1\" waits on pipe "
			"\"stage 1\", which only \"stage 2\" can send to"));
	assert_non_null(strstr(captured, "\"stage 2\" waits on pipe "
			"\"stage 2\", which only \"stage 1\" can send to"));

	/* Killing done wakes both (a closure notice), and they end. */
	assert_int_equal(t_release(done), 0);
	assert_int_equal(t_recv(bye, &m, T_WAIT_LIMIT_NS), 0);
	assert_int_equal(t_release(bye), 0);
}

/* Gets the pipe to send to, then three times sleeps 2 * STALL_MS and
 * moves a segment there. */
static void slow(trindle_pipe_t input)
{
	trindle_pipe_t to = trindle_util_next_object(input);

	for (unsigned long i = 0; i < 3; i++) {
		struct timespec ts = { 0, 2L * STALL_MS * 1000000 };
		nanosleep(&ts, NULL);
		trindle_segment_t s = t_label(i);
		if (t_w_move(to, s))
			t_w_release(s);
	}
}

static void test_a_slow_pipeline_is_no_stall(void **state)
{
	(void)state;
	trindle_pipe_t to = t_pipe(4);
	trindle_pipe_t w = trindle_launch(slow, 2, NULL, NULL);
	assert_non_null(w);
	assert_int_equal(t_send(w, to), 0);
	capture_begin();
	trindle_message_t m;
	int got[3];
	for (int i = 0; i < 3; i++)
		got[i] = t_recv(to, &m, T_WAIT_LIMIT_NS) ? (t_release(
				m.content), 1) : 0;
	capture_end();
	for (int i = 0; i < 3; i++)
		assert_int_equal(got[i], 1);
	assert_null(strstr(captured, "trindle: stall:"));
	assert_int_equal(t_release(to), 0);
	t_release(w);
}

/* Ends at the first message (or notice) on its input. */
static void sleeper(trindle_pipe_t input)
{
	trindle_message_t req = { input, NULL }, got[2];
	trindle_mailbox_t out = { 1, &req }, in = { 2, got };

	if (trindle_sync(&out, &in) == 0)
		for (size_t i = 0; i < in.count; i++)
			if (got[i].content)
				t_w_release(got[i].content);
}

/* Where TRINDLE_GRAPH and TRINDLE_TRACE point (set in main). */
static char g_graph[256], g_trace[256];

/* Waits (up to T_WAIT_LIMIT_NS) until the file at path holds text. */
static bool file_shows(const char *path, const char *text)
{
	int64_t limit = t_now_ns() + T_WAIT_LIMIT_NS;
	static char buf[1 << 16];

	for (;;) {
		FILE *f = fopen(path, "r");
		size_t n = 0;
		if (f) {
			n = fread(buf, 1, sizeof(buf) - 1, f);
			fclose(f);
		}
		buf[n] = '\0';
		if (strstr(buf, text))
			return true;
		if (t_now_ns() >= limit)
			return false;
		struct timespec ts = { 0, 10000000 };
		nanosleep(&ts, NULL);
	}
}

static void remove_views(void)
{
	unlink(g_graph);
	unlink(g_trace);
}

/* TRINDLE_DUMP_SIGNAL=SIGUSR1: the signal prints the report at once,
 * stall or not, with the processes that wait then; then the graph
 * (TRINDLE_GRAPH) and the trace (TRINDLE_TRACE) are written as they
 * stand. */
static void test_the_dump_signal(void **state)
{
	(void)state;
	trindle_pipe_t w = trindle_launch(sleeper, 2, NULL, NULL);
	assert_non_null(w);
	assert_int_equal(trindle_name(w, "sleeper"), 0);
	trindle_record_t r;
	int64_t limit = t_now_ns() + T_WAIT_LIMIT_NS;
	do
		assert_int_equal(trindle_inquire(&w, 1, &r), 1);
	while (r.worker.state != TRINDLE_WORKER_WAITING && t_now_ns() < limit);
	assert_int_equal(r.worker.state, TRINDLE_WORKER_WAITING);

	capture_begin();
	assert_int_equal(raise(SIGUSR1), 0);
	/* The monitor thread writes it: look until it is there (the
	 * captured stderr, by its descriptor's name). */
	char capture_path[64];
	snprintf(capture_path, sizeof(capture_path), "/proc/self/fd/%d",
			fileno(capture_file));
	(void)file_shows(capture_path, "wait");
	capture_end();
	/* After the report, the graph and the trace as they stand: the
	 * sleeper waiting (at exit it would have ended), its launch. */
	assert_true(file_shows(g_graph, "digraph trindle"));
	assert_true(file_shows(g_graph, "\"sleeper\\nwaiting\""));
	assert_true(file_shows(g_trace, "\"launch sleeper\""));
	/* main, the sleeper (and maybe the slow worker, ending). */
	assert_non_null(strstr(captured, "trindle: dump: "));
	assert_non_null(strstr(captured, " process(es) alive, 1 of them "
			"waiting in a sync"));
	assert_non_null(strstr(captured, "trindle: dump:   \"sleeper\" "
			"waits on 1 pipe(s)"));
	assert_non_null(strstr(captured, "pipe \"sleeper\": 0 of 2 queued"));
	assert_null(strstr(captured, "trindle: stall:"));
	t_nudge(w);
}

int main(void)
{
	char ms[16];
	snprintf(ms, sizeof(ms), "%d", STALL_MS);
	setenv("TRINDLE_STALL_MS", ms, 1); /* read when the library starts */
	setenv("TRINDLE_DUMP_SIGNAL", "SIGUSR1", 1);
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	snprintf(g_graph, sizeof(g_graph), "%s/trindle-stall-%d.dot", tmp,
			(int)getpid());
	snprintf(g_trace, sizeof(g_trace), "%s/trindle-stall-%d.json", tmp,
			(int)getpid());
	setenv("TRINDLE_GRAPH", g_graph, 1);
	setenv("TRINDLE_TRACE", g_trace, 1);
	/* Registered before the library starts, so it runs after the
	 * library's own writes at exit. */
	atexit(remove_views);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_a_wait_cycle_is_reported,
				t_drop_notices),
		cmocka_unit_test_setup(test_a_slow_pipeline_is_no_stall,
				t_drop_notices),
		cmocka_unit_test_setup(test_the_dump_signal, t_drop_notices),
	};
	return cmocka_run_group_tests_name("stall", tests, NULL, NULL);
}
