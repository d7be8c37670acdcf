/* SPDX-License-Identifier: MIT */
/*
 * trindle_inquire: records checked against states the test sets up - a
 * full pipe, a receiver waiting in a sync, workers that ended each way, a
 * shared segment - and the calls' bad input; trindle_name.
 */
#include "helpers.h"

#include <trindle/util.h>

#include <trindle/io.h>

#include <errno.h>
#include <sys/wait.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static trindle_record_t inquire_one(trindle_object_t o)
{
	trindle_record_t r;
	memset(&r, 0xa5, sizeof(r)); /* every field must be written */
	int n = trindle_inquire(&o, 1, &r);
	assert_int_equal(n, r.kind != TRINDLE_RECORD_NONE);
	assert_ptr_equal(r.object, o);
	return r;
}

static void nap(void)
{
	struct timespec ts = { 0, 1000000 };
	nanosleep(&ts, NULL);
}

/* Inquires about input until its worker is in state (or the limit); an
 * ended worker's input pipe dies just after it says how it ended, and its
 * holders are told just after that (senders drops to 0): wait for both,
 * as fields read in between need not agree (trindle_inquire()). */
static trindle_record_t await_state(trindle_pipe_t input, int state)
{
	int64_t limit = t_now_ns() + T_WAIT_LIMIT_NS;
	trindle_record_t r = inquire_one(input);

	while ((r.worker.state != state || (state == TRINDLE_WORKER_ENDED &&
			(!r.pipe.dead || r.pipe.senders))) &&
	       t_now_ns() < limit) {
		nap();
		r = inquire_one(input);
	}
	assert_int_equal(r.worker.state, state);
	return r;
}

/* Collects notices until the closure notice of each of w[0 .. n) came
 * (or the limit): returns how many came. */
static int await_gone(const trindle_pipe_t *w, int count)
{
	int64_t limit = t_now_ns() + T_WAIT_LIMIT_NS;
	int seen = 0;
	trindle_message_t m[8];

	while (seen < count && t_now_ns() < limit) {
		size_t n = t_notices(m, 8);
		for (size_t i = 0; i < n; i++)
			for (int j = 0; j < count; j++)
				seen += m[i].address == w[j] && !m[i].content;
		if (seen < count)
			nap();
	}
	for (int j = 0; seen < count && j < count; j++) {
		/* Say what the missing ones are doing. */
		trindle_record_t r;
		trindle_inquire(&w[j], 1, &r);
		fprintf(stderr, "await_gone: %p: kind %d state %d ended_by %d "
				"dead %d waits %zu queued %zu\n", w[j], r.kind,
				r.worker.state, r.worker.ended_by, r.pipe.dead,
				r.worker.waits, r.pipe.queued);
	}
	return seen;
}

static void test_a_full_pipe(void **state)
{
	(void)state;
	trindle_pipe_t pipe = t_pipe(4);
	trindle_segment_t seg[5];

	for (int i = 0; i < 5; i++)
		seg[i] = t_labelled((unsigned long)i);
	for (int i = 0; i < 4; i++)
		assert_int_equal(t_move(pipe, seg[i]), 0);
	/* The fifth fails: full. */
	assert_int_equal(t_move(pipe, seg[4]), 2);
	trindle_record_t r = inquire_one(pipe);
	assert_int_equal(r.kind, TRINDLE_RECORD_PIPE);
	assert_int_equal(r.access, TRINDLE_ACCESS_SEND | TRINDLE_ACCESS_RECEIVE);
	assert_int_equal(r.pipe.capacity, 4);
	assert_int_equal(r.pipe.queued, 4);
	assert_int_equal(r.pipe.high_water, 4);
	assert_int_equal(r.pipe.sent, 4);
	assert_int_equal(r.pipe.received, 0);
	assert_int_equal(r.pipe.senders, 1);
	assert_int_equal(r.pipe.receiver_waiting, 0);
	assert_int_equal(r.pipe.dead, 0);
	assert_int_equal(r.worker.state, TRINDLE_WORKER_NONE);
	assert_int_equal(r.segment.bytes, 0);

	trindle_message_t m;
	for (int i = 0; i < 3; i++) {
		assert_int_equal(t_recv(pipe, &m, 0), 1);
		t_expect_label(&m, pipe, (unsigned long)i);
	}
	assert_int_equal(t_move(pipe, seg[4]), 0);
	r = inquire_one(pipe);
	assert_int_equal(r.pipe.queued, 2);
	assert_int_equal(r.pipe.high_water, 4); /* it was full */
	assert_int_equal(r.pipe.sent, 5);
	assert_int_equal(r.pipe.received, 3);
	for (int i = 3; i < 5; i++) {
		assert_int_equal(t_recv(pipe, &m, 0), 1);
		t_expect_label(&m, pipe, (unsigned long)i);
	}
	r = inquire_one(pipe);
	assert_int_equal(r.pipe.queued, 0);
	assert_int_equal(r.pipe.sent, 5);
	assert_int_equal(r.pipe.received, 5);
	assert_int_equal(t_release(pipe), 0);
	r = inquire_one(pipe); /* released: no longer held */
	assert_int_equal(r.kind, TRINDLE_RECORD_NONE);
	assert_int_equal(r.pipe.capacity, 0);
}

/* A pipe whose two senders fill it: the high-water mark is what was
 * queued at most, not what was sent. */
static void test_high_water_is_the_deepest_queue(void **state)
{
	(void)state;
	trindle_pipe_t pipe = t_pipe(8);
	trindle_message_t m;

	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < 3; i++)
			assert_int_equal(t_move(pipe, t_labelled(7)), 0);
		for (int i = 0; i < 3; i++) {
			assert_int_equal(t_recv(pipe, &m, 0), 1);
			t_expect_label(&m, pipe, 7);
		}
	}
	trindle_record_t r = inquire_one(pipe);
	assert_int_equal(r.pipe.high_water, 3);
	assert_int_equal(r.pipe.sent, 9);
	assert_int_equal(r.pipe.received, 9);
	assert_int_equal(t_release(pipe), 0);
}

static void waits_for_one(trindle_pipe_t input)
{
	trindle_object_t o = trindle_util_next_object(input);
	if (o)
		t_w_release(o);
}

static void test_a_waiting_receiver(void **state)
{
	(void)state;
	trindle_pipe_t w = trindle_launch(waits_for_one, 2, NULL, NULL);
	assert_non_null(w);
	trindle_record_t r = await_state(w, TRINDLE_WORKER_WAITING);
	assert_int_equal(r.kind, TRINDLE_RECORD_PIPE);
	assert_int_equal(r.access, TRINDLE_ACCESS_SEND);
	assert_int_equal(r.worker.waits, 1);
	assert_ptr_equal(r.worker.waiting_on[0], w);
	assert_null(r.worker.waiting_on[1]);
	assert_int_equal(r.pipe.receiver_waiting, 1);
	assert_int_equal(r.pipe.senders, 2); /* the worker and us */
	assert_int_equal(r.pipe.queued, 0);
	assert_int_equal(r.pipe.capacity, 2);

	t_nudge(w);
	r = await_state(w, TRINDLE_WORKER_ENDED);
	assert_int_equal(r.worker.ended_by, TRINDLE_END_EXIT);
	assert_int_equal(r.worker.waits, 0);
	assert_int_equal(r.pipe.receiver_waiting, 0);
	assert_int_equal(r.pipe.dead, 1);
	assert_int_equal(r.pipe.senders, 0);
	assert_int_equal(r.pipe.sent, 1);
	assert_int_equal(r.pipe.received, 1);
	assert_int_equal(r.access, 0);
	assert_int_equal(await_gone(&w, 1), 1);
}

static void returns(trindle_pipe_t input)
{
	(void)input;
}

static void aborts(trindle_pipe_t input)
{
	(void)input;
	trindle_abort(NULL);
}

/* A rights fault: writes a segment it shares (with the message that
 * carries it into its own input pipe), which is read-only.  (Not a wild
 * write, which valgrind would count as an error of the test.) */
static void faults(trindle_pipe_t input)
{
	trindle_segment_t s = t_label(1);
	if (s && t_w_send(input, s) == 0)
		*(volatile char *)s = 1;
}

static void test_ended_workers(void **state)
{
	(void)state;
	trindle_entrypoint_t entry[3] = { returns, aborts, faults };
	int how[3] = { TRINDLE_END_EXIT, TRINDLE_END_ABORT, TRINDLE_END_FAULT };
	trindle_pipe_t w[3];

	for (int i = 0; i < 3; i++) {
		w[i] = trindle_launch(entry[i], 1, NULL, NULL);
		assert_non_null(w[i]);
	}
	for (int i = 0; i < 3; i++) {
		trindle_record_t r = await_state(w[i], TRINDLE_WORKER_ENDED);
		assert_int_equal(r.worker.ended_by, how[i]);
		assert_int_equal(r.pipe.dead, 1);
	}
	/* One call for all three, and a record for something not held. */
	trindle_object_t objs[4] = { w[0], w[1], NULL, w[2] };
	trindle_record_t recs[4];
	assert_int_equal(trindle_inquire(objs, 4, recs), 3);
	for (int i = 0; i < 4; i++)
		assert_ptr_equal(recs[i].object, objs[i]);
	assert_int_equal(recs[2].kind, TRINDLE_RECORD_NONE);
	assert_int_equal(recs[3].worker.ended_by, TRINDLE_END_FAULT);
	assert_int_equal(await_gone(w, 3), 3);
}

static void test_a_shared_segment(void **state)
{
	(void)state;
	trindle_pipe_t pipe = t_pipe(1);
	trindle_segment_t seg = t_segment(10000, 1);

	trindle_record_t r = inquire_one(seg);
	assert_int_equal(r.kind, TRINDLE_RECORD_SEGMENT);
	assert_int_equal(r.segment.bytes, 10000);
	assert_int_equal(r.segment.holders, 1);
	assert_int_equal(r.access,
			TRINDLE_ACCESS_READ | TRINDLE_ACCESS_WRITE);
	assert_int_equal(r.pipe.capacity, 0);
	assert_int_equal(r.worker.state, TRINDLE_WORKER_NONE);

	assert_int_equal(t_send(pipe, seg), 0); /* a share: the message holds it */
	r = inquire_one(seg);
	assert_int_equal(r.segment.holders, 2);
	assert_int_equal(r.access, TRINDLE_ACCESS_READ);
	/* Inquiring about a pointer into it names nothing. */
	r = inquire_one((char *)seg + 1);
	assert_int_equal(r.kind, TRINDLE_RECORD_NONE);

	assert_int_equal(t_release(pipe), 0); /* drops the message's hold */
	r = inquire_one(seg);
	assert_int_equal(r.segment.holders, 1);
	assert_int_equal(t_release(seg), 0);
	r = inquire_one(seg);
	assert_int_equal(r.kind, TRINDLE_RECORD_NONE);
}

static void test_bad_input(void **state)
{
	(void)state;
	trindle_record_t r;
	trindle_object_t o = NULL;

	errno = 0;
	assert_int_equal(trindle_inquire(NULL, 1, &r), -1);
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_int_equal(trindle_inquire(&o, 1, NULL), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(trindle_inquire(NULL, 0, NULL), 0);
	int local;
	r = inquire_one(&local);
	assert_int_equal(r.kind, TRINDLE_RECORD_NONE);
}

static void test_names(void **state)
{
	(void)state;
	trindle_pipe_t pipe = t_pipe(1);
	trindle_record_t r = inquire_one(pipe);

	assert_string_equal(r.name, "");
	assert_int_equal(trindle_name(pipe, "stage 2"), 0);
	r = inquire_one(pipe);
	assert_string_equal(r.name, "stage 2");
	/* Cut to TRINDLE_NAME_MAX - 1 bytes. */
	char longname[100];
	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	assert_int_equal(trindle_name(pipe, longname), 0);
	r = inquire_one(pipe);
	assert_int_equal(strlen(r.name), TRINDLE_NAME_MAX - 1);
	assert_int_equal(trindle_name(pipe, NULL), 0);
	r = inquire_one(pipe);
	assert_string_equal(r.name, "");

	/* Only pipes the caller holds have names. */
	trindle_segment_t seg = t_segment(1, 0);
	errno = 0;
	assert_int_equal(trindle_name(seg, "data"), -1);
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_int_equal(trindle_name(NULL, "nothing"), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(t_release(seg), 0);
	assert_int_equal(t_release(pipe), 0);
	errno = 0;
	assert_int_equal(trindle_name(pipe, "gone"), -1);
	assert_int_equal(errno, EINVAL);
}

/* A worker names itself by naming its input pipe; its launcher, which
 * holds SEND there, reads the name back. */
static void names_itself(trindle_pipe_t input)
{
	trindle_name(input, "stage 1");
	trindle_object_t o = trindle_util_next_object(input);
	if (o)
		t_w_release(o);
}

static void test_a_worker_names_itself(void **state)
{
	(void)state;
	trindle_pipe_t w = trindle_launch(names_itself, 1, NULL, NULL);
	assert_non_null(w);
	trindle_record_t r = await_state(w, TRINDLE_WORKER_WAITING);
	assert_string_equal(r.name, "stage 1");
	t_nudge(w);
	r = await_state(w, TRINDLE_WORKER_ENDED);
	assert_string_equal(r.name, "stage 1"); /* dead, still named */
	assert_int_equal(trindle_name(w, "was stage 1"), 0);
	r = inquire_one(w);
	assert_string_equal(r.name, "was stage 1");
	assert_int_equal(await_gone(&w, 1), 1);
}

/* A device names itself after its file. */
static void test_devices_name_themselves(void **state)
{
	(void)state;
	trindle_pipe_t out = t_pipe(2), err = t_pipe(2);
	trindle_pipe_t dev = trindle_file_source(
			"/nonexistent-dir/input-file.txt", NULL, out, err);
	assert_non_null(dev);
	trindle_record_t r = inquire_one(dev);
	assert_string_equal(r.name, "source input-file.txt");
	assert_int_not_equal(r.worker.state, TRINDLE_WORKER_NONE);
	/* It cannot open the file: it reports to err and ends. */
	assert_int_equal(await_gone(&dev, 1), 1);
	assert_int_equal(t_release(out), 0);
	assert_int_equal(t_release(err), 0);
}

/* ---- the trace ------------------------------------------------------------ */

/* Runs check-trace.py on path with the given expectations: 0 when the
 * trace passes.  Skips the test when there is no python3. */
static int check_trace(const char *path, const char *expect)
{
	if (system("python3 -c 'import json' 2>/dev/null") != 0)
		skip();
	char cmd[1024];
	snprintf(cmd, sizeof(cmd), "python3 %s %s %s", T_CHECK_TRACE, path,
			expect);
	return system(cmd);
}

static void trace_path(char *buf, size_t size, const char *what)
{
	snprintf(buf, size, "%s/trindle-test-%s-%d.json",
			getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", what,
			(int)getpid());
}

/* A ring of 64 events, one thread, 100 rounds of a move into its own
 * pipe and a take: 6 events a round (each sync: its slice, a flow end,
 * a depth), so 600 - 64 are dropped; the 64 kept are the last ten rounds
 * and four events of the one before (its second sync, whose flow lost
 * its start and is left out). */
static void test_trace_flight_recorder(void **state)
{
	(void)state;
	char path[256];
	trace_path(path, sizeof(path), "ring");
	trindle_pipe_t pipe = t_pipe(4);
	trindle_segment_t seg = t_segment(100, 3);
	trindle_message_t m;

	assert_int_equal(trindle_trace_start(path, 64), 0);
	for (int i = 0; i < 100; i++) {
		assert_int_equal(t_move(pipe, seg), 0);
		assert_int_equal(t_recv(pipe, &m, 0), 1);
		assert_ptr_equal(m.content, seg);
	}
	assert_int_equal(trindle_trace_stop(), 0);
	errno = 0;
	assert_int_equal(trindle_trace_stop(), -1); /* not on any more */
	assert_int_equal(errno, EINVAL);
	assert_int_equal(check_trace(path,
			"--dropped 536 --syncs 22 --flows 10 --names main"), 0);
	assert_int_equal(t_release(seg), 0);
	assert_int_equal(t_release(pipe), 0);
	unlink(path);
}

/* The child of the tests below: tracing was started by the environment;
 * the same 100 rounds as test_trace_flight_recorder, then the program
 * ends, which writes the trace. */
static int child_traced_rounds(void)
{
	trindle_pipe_t pipe = t_pipe(4);
	trindle_segment_t seg = t_segment(100, 3);
	trindle_message_t m;

	for (int i = 0; i < 100; i++) {
		if (t_move(pipe, seg) != 0 || t_recv(pipe, &m, 0) != 1 ||
		    m.content != seg)
			return 2;
	}
	return 0;
}

static const char *g_self;

/* Runs child_traced_rounds in a fresh copy of this program with
 * TRINDLE_TRACE=path and TRINDLE_TRACE_EVENTS=events (unset if NULL);
 * returns its exit status, its standard error in err. */
static int run_traced_child(const char *path, const char *events,
		char *err, size_t cap)
{
	int fds[2];
	assert_int_equal(pipe(fds), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(fds[1], STDERR_FILENO);
		close(fds[0]);
		close(fds[1]);
		setenv("TRINDLE_TRACE", path, 1);
		if (events)
			setenv("TRINDLE_TRACE_EVENTS", events, 1);
		else
			unsetenv("TRINDLE_TRACE_EVENTS");
		execl(g_self, g_self, "--child-traced-rounds", (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	size_t len = 0;
	ssize_t got;
	while ((got = read(fds[0], err + len, cap - 1 - len)) > 0)
		len += (size_t)got;
	err[len] = '\0';
	close(fds[0]);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

/* TRINDLE_TRACE=FILE traces the whole program, into rings of the default
 * size unless TRINDLE_TRACE_EVENTS=N says otherwise; a value that is not
 * a count from 1 to 2^24 is reported on stderr and the default used. */
static void test_trace_from_the_environment(void **state)
{
	(void)state;
	char path[256], err[1024];
	trace_path(path, sizeof(path), "env");

	/* The default ring keeps all 600 events. */
	assert_int_equal(run_traced_child(path, NULL, err, sizeof err), 0);
	assert_string_equal(err, "");
	assert_int_equal(check_trace(path,
			"--dropped 0 --syncs 200 --flows 100 --names main"), 0);
	unlink(path);

	/* A ring of 64: what test_trace_flight_recorder keeps. */
	assert_int_equal(run_traced_child(path, "64", err, sizeof err), 0);
	assert_string_equal(err, "");
	assert_int_equal(check_trace(path,
			"--dropped 536 --syncs 22 --flows 10 --names main"), 0);
	unlink(path);

	static const char *const bad[] = { "0", "-5", "64k", "", "x",
		"16777217", "99999999999999999999999" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		assert_int_equal(run_traced_child(path, bad[i], err,
				sizeof err), 0);
		if (*bad[i]) /* empty: unset, as for every variable */
			assert_non_null(strstr(err, "TRINDLE_TRACE_EVENTS"));
		assert_int_equal(check_trace(path, "--dropped 0 --syncs 200"),
				0);
		unlink(path);
	}
}

/* Passes on every message that comes in to the pipe it got first; an
 * empty segment (t_nudge) is passed on last. */
static void relay(trindle_pipe_t input)
{
	trindle_pipe_t next = trindle_util_next_object(input);
	trindle_object_t o;

	while ((o = trindle_util_next_object(input)) != NULL) {
		bool last = trindle_measure(o) == 0;
		if (t_w_move(next, o) != 0)
			t_w_release(o);
		if (last)
			return;
	}
}

static void test_trace_of_a_pipeline(void **state)
{
	(void)state;
	enum { N = 50 };
	char path[256];
	trace_path(path, sizeof(path), "pipeline");
	trindle_pipe_t back = t_pipe(N);

	assert_int_equal(trindle_trace_start(path, 0), 0);
	trindle_pipe_t s2 = t_start(relay, back);
	trindle_pipe_t s1 = t_start(relay, s2);
	assert_int_equal(trindle_name(s1, "stage 1"), 0);
	assert_int_equal(trindle_name(s2, "stage 2"), 0);
	assert_int_equal(trindle_name(back, "back"), 0);
	struct t_box box = {0};
	for (unsigned long i = 0; i < N; i++) {
		/* Four in flight at a time: the stages' queues hold eight. */
		if (i % 4 == 0)
			for (unsigned long j = i; j < i + 4 && j < N; j++)
				assert_int_equal(t_move(s1, t_labelled(j)), 0);
		trindle_object_t o = t_next_from(back, &box);
		assert_non_null(o);
		assert_int_equal(t_label_of(o), i);
		assert_int_equal(t_release(o), 0);
	}
	t_nudge(s1);
	trindle_object_t last = t_next_from(back, &box);
	assert_non_null(last);
	assert_int_equal(trindle_measure(last), 0);
	assert_int_equal(t_release(last), 0);
	/* The notices may have come into the box already: wait for the
	 * others. */
	trindle_pipe_t missing[2];
	int nmissing = 0;
	if (!t_count_notes(&box, (trindle_message_t){ s1, NULL }))
		missing[nmissing++] = s1;
	if (!t_count_notes(&box, (trindle_message_t){ s2, NULL }))
		missing[nmissing++] = s2;
	assert_int_equal(await_gone(missing, nmissing), nmissing);
	assert_int_equal(trindle_trace_stop(), 0);
	char expect[256];
	snprintf(expect, sizeof(expect), "--names 'main,stage 1,stage 2' "
			"--counters 'queued in stage 1,queued in back' "
			"--min-flows %d --instants 'launch stage=2,end (exit)=2'",
			3 * N);
	assert_int_equal(check_trace(path, expect), 0);
	assert_int_equal(t_release(back), 0);
	unlink(path);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_a_full_pipe, t_drop_notices),
		cmocka_unit_test_setup(test_high_water_is_the_deepest_queue,
				t_drop_notices),
		cmocka_unit_test_setup(test_a_waiting_receiver, t_drop_notices),
		cmocka_unit_test_setup(test_ended_workers, t_drop_notices),
		cmocka_unit_test_setup(test_a_shared_segment, t_drop_notices),
		cmocka_unit_test_setup(test_bad_input, t_drop_notices),
		cmocka_unit_test_setup(test_names, t_drop_notices),
		cmocka_unit_test_setup(test_a_worker_names_itself,
				t_drop_notices),
		cmocka_unit_test_setup(test_devices_name_themselves,
				t_drop_notices),
		cmocka_unit_test_setup(test_trace_flight_recorder,
				t_drop_notices),
		cmocka_unit_test_setup(test_trace_of_a_pipeline, t_drop_notices),
		cmocka_unit_test_setup(test_trace_from_the_environment,
				t_drop_notices),
	};
	if (argc == 2 && strcmp(argv[1], "--child-traced-rounds") == 0)
		return child_traced_rounds();
	g_self = argv[0];
	return cmocka_run_group_tests_name("inspect", tests, NULL, NULL);
}
