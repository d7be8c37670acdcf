/* SPDX-License-Identifier: MIT */
/*
 * test_sink.c - the file sink: it writes what it is sent in arrival order,
 * gives written segments back, appends when asked, reports errors (also a
 * failed receive of its own), takes standard output as fd 1 at the call;
 * and the devices together: closed standard descriptors, and a file copied
 * from a source into a sink.
 *
 * Every test runs twice: with io_uring and with the fallback forced.
 */
#include "io_helpers.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- the sink ---- */

/* Sends segs[0..n) to the sink (moved when move[i]), then the marker, and
 * collects the result or the report. */
static void run_sink(trindle_pipe_t dev, trindle_pipe_t out, trindle_pipe_t err,
		     trindle_segment_t *segs, const int *move, size_t n,
		     struct stream *st)
{
	trindle_segment_t marker = trindle_allocate(0, NULL);
	for (size_t i = 0; i <= n; i++) {
		trindle_segment_t seg = i < n ? segs[i] : marker;
		int64_t deadline = t_now_ns() + WAIT_NS;
		/* The input pipe may be full: retry until the sink takes. */
		while (i == n || move[i] ? t_move(dev, seg) : t_send(dev, seg))
			assert_true(t_now_ns() < deadline);
	}
	stream_init(st);
	int64_t deadline = t_now_ns() + WAIT_NS;
	while (!st->closed || (st->results == 0 && st->reports == 0)) {
		trindle_message_t got[4];
		size_t came = receive_both(out, err, got, 4);
		for (size_t i = 0; i < came; i++) {
			trindle_message_t *m = &got[i];
			if (m->address == dev && !m->content)
				st->closed = 1;
			if (m->address == out && m->content) {
				assert_int_equal(trindle_measure(m->content), 8);
				memcpy(&st->result, m->content, 8);
				st->results++;
			}
			if (m->address == err && m->content)
				take_report(st, m->content);
			if (m->address && m->content)
				t_release(m->content);
		}
		assert_true(t_now_ns() < deadline);
	}
}

static void test_sink_writes_segments_in_arrival_order(void **state)
{
	(void)state;
	enum { N = 200 };
	trindle_segment_t segs[N];
	int move[N];
	size_t total = 0;
	unsigned char *expect = malloc(N * 70000);
	assert_non_null(expect);
	for (int i = 0; i < N; i++) {
		size_t n = 1 + rnd(i % 10 ? 3000 : 70000);
		segs[i] = t_segment(n, (unsigned char)('A' + i % 50));
		memset(expect + total, 'A' + i % 50, n);
		total += n;
		move[i] = i % 3 != 0; /* every third one is shared, not moved */
	}
	const char *path = write_file("stale contents to truncate", 26);
	trindle_pipe_t out = trindle_pipe(2), err = trindle_pipe(2);
	trindle_pipe_t dev = trindle_file_sink(path, NULL, out, err);
	assert_non_null(dev);
	struct stream st;
	run_sink(dev, out, err, segs, move, N, &st);

	assert_int_equal(st.reports, 0);
	assert_int_equal(st.results, 1);
	assert_int_equal(st.result, total);
	size_t len;
	unsigned char *got = read_file(path, &len);
	assert_int_equal(len, total);
	assert_memory_equal(got, expect, total);
	/* The shared ones are ours alone again, whole and writable. */
	for (int i = 0; i < N; i += 3) {
		assert_int_equal(trindle_access(segs[i]), RW);
		assert_int_equal(((unsigned char *)segs[i])[0], 'A' + i % 50);
		t_release(segs[i]);
	}
	t_release(out);
	t_release(err);
	unlink(path);
	free(got);
	free(expect);
}

static void test_sink_writes_a_segment_sent_twice_twice(void **state)
{
	(void)state;
	trindle_segment_t s = t_segment(5000, 'x');
	trindle_segment_t segs[3] = { s, s, NULL };
	int move[3] = { 0, 1, 0 };
	segs[2] = trindle_pipe(1); /* a pipe: released and ignored */
	const char *path = write_file("", 0);
	trindle_pipe_t out = trindle_pipe(2), err = trindle_pipe(2);
	struct trindle_sink_options o = { .flags = TRINDLE_SINK_NO_FSYNC };
	trindle_pipe_t dev = trindle_file_sink(path, &o, out, err);
	assert_non_null(dev);
	struct stream st;
	run_sink(dev, out, err, segs, move, 3, &st);
	assert_int_equal(st.reports, 0);
	assert_int_equal(st.result, 10000);
	size_t len;
	unsigned char *got = read_file(path, &len);
	assert_int_equal(len, 10000);
	for (size_t i = 0; i < len; i++)
		assert_int_equal(got[i], 'x');
	t_release(segs[2]);
	t_release(out);
	t_release(err);
	unlink(path);
	free(got);
}

/* Written segments that were moved to the sink come back on give_back,
 * writable; shared ones stay with their other holder. */
static void test_sink_gives_written_segments_back(void **state)
{
	(void)state;
	enum { N = 12 };
	trindle_segment_t segs[N];
	int move[N];
	for (int i = 0; i < N; i++) {
		segs[i] = t_segment(4096 + (size_t)i, (unsigned char)('a' + i));
		move[i] = i % 4 != 0;
	}
	const char *path = write_file("", 0);
	trindle_pipe_t out = trindle_pipe(2), err = trindle_pipe(2);
	trindle_pipe_t back = trindle_pipe(N);
	struct trindle_sink_options o = { .give_back = back,
					  .flags = TRINDLE_SINK_NO_FSYNC };
	trindle_pipe_t dev = trindle_file_sink(path, &o, out, err);
	assert_non_null(dev);
	struct stream st;
	run_sink(dev, out, err, segs, move, N, &st);
	assert_int_equal(st.reports, 0);

	int returned[N] = { 0 };
	trindle_message_t m;
	while (t_recv(back, &m, 0)) {
		if (m.address != back || !m.content)
			continue;
		int found = 0;
		for (int i = 0; i < N; i++)
			if (m.content == segs[i] && move[i]) {
				returned[i]++;
				found = 1;
				assert_int_equal(trindle_access(m.content), RW);
				assert_int_equal(((unsigned char *)m.content)[4095], 'a' + i);
			}
		assert_true(found);
		t_release(m.content);
	}
	for (int i = 0; i < N; i++) {
		assert_int_equal(returned[i], move[i]);
		if (!move[i])
			t_release(segs[i]);
	}
	t_release(back);
	t_release(out);
	t_release(err);
	unlink(path);
}

static void test_sink_appends_when_asked(void **state)
{
	(void)state;
	const char *path = write_file("head:", 5);
	trindle_segment_t s = t_segment(3, 't');
	int move = 1;
	trindle_pipe_t out = trindle_pipe(2), err = trindle_pipe(2);
	struct trindle_sink_options o = { .flags = TRINDLE_SINK_APPEND };
	trindle_pipe_t dev = trindle_file_sink(path, &o, out, err);
	assert_non_null(dev);
	struct stream st;
	run_sink(dev, out, err, &s, &move, 1, &st);
	assert_int_equal(st.result, 3);
	size_t len;
	char *got = read_file(path, &len);
	assert_int_equal(len, 8);
	assert_memory_equal(got, "head:ttt", 8);
	t_release(out);
	t_release(err);
	unlink(path);
	free(got);
}

static void expect_sink_report(const char *path, int error, const char *op)
{
	trindle_segment_t s = t_segment(100, 'r');
	trindle_pipe_t out = trindle_pipe(2), err = trindle_pipe(2);
	trindle_pipe_t dev = trindle_file_sink(path, NULL, out, err);
	assert_non_null(dev);
	struct stream st;
	/* The sink may end (after a failed open) before the segments go in:
	 * sending to its dead pipe fails then, which run_sink would retry
	 * forever, so send directly. */
	trindle_segment_t marker = trindle_allocate(0, NULL);
	if (t_move(dev, s))
		t_release(s);
	if (t_move(dev, marker))
		t_release(marker);
	stream_init(&st);
	int64_t deadline = t_now_ns() + WAIT_NS;
	while (!st.closed || st.reports == 0) {
		trindle_message_t m = { NULL, NULL };
		t_recv(err, &m, 100000000);
		if (m.address == dev && !m.content)
			st.closed = 1;
		if (m.address == err && m.content) {
			take_report(&st, m.content);
			t_release(m.content);
		}
		assert_true(t_now_ns() < deadline);
	}
	trindle_message_t m;
	assert_int_equal(t_recv(out, &m, 0), 0); /* no result */
	assert_int_equal(st.reports, 1);
	assert_int_equal(st.error, error);
	assert_string_equal(st.op, op);
	assert_string_equal(st.path, path);
	assert_non_null(strstr(st.message, strerror(error)));
	t_release(out);
	t_release(err);
}

static void test_sink_missing_directory_reports_enoent(void **state)
{
	(void)state;
	expect_sink_report("/nonexistent/trindle-test-io", ENOENT, "open");
}

static void test_sink_full_device_reports_enospc(void **state)
{
	(void)state;
	if (access("/dev/full", W_OK) != 0)
		skip();
	expect_sink_report("/dev/full", ENOSPC, "write");
}

static void test_sink_input_closed_before_marker_reports_epipe(void **state)
{
	(void)state;
	const char *path = write_file("", 0);
	trindle_pipe_t out = trindle_pipe(2), err = trindle_pipe(2);
	trindle_pipe_t dev = trindle_file_sink(path, NULL, out, err);
	assert_non_null(dev);
	assert_int_equal(t_move(dev, t_segment(10, 'e')), 0);
	t_release(dev); /* the only sender lets go: no marker will come */

	trindle_message_t m;
	assert_int_equal(t_recv(err, &m, WAIT_NS), 1);
	assert_ptr_equal(m.address, err);
	struct stream st;
	stream_init(&st);
	take_report(&st, m.content);
	t_release(m.content);
	assert_int_equal(st.error, EPIPE);
	assert_string_equal(st.op, "input");
	assert_int_equal(t_recv(out, &m, 0), 0);
	t_release(out);
	t_release(err);
	unlink(path);
}

static void test_sink_writes_stdout_pipe(void **state)
{
	(void)state;
	int p[2];
	assert_int_equal(pipe(p), 0);
	fflush(stdout);
	int saved = dup(STDOUT_FILENO);
	assert_true(dup2(p[1], STDOUT_FILENO) >= 0);
	close(p[1]);

	/* Less than a pipe buffer, so nobody has to read while it writes. */
	trindle_segment_t segs[3] = { t_segment(1000, '1'), t_segment(2000, '2'),
				      t_segment(3000, '3') };
	int move[3] = { 1, 1, 1 };
	trindle_pipe_t out = trindle_pipe(2), err = trindle_pipe(2);
	trindle_pipe_t dev = trindle_file_sink("-", NULL, out, err);
	assert_non_null(dev);
	struct stream st;
	run_sink(dev, out, err, segs, move, 3, &st);
	assert_true(dup2(saved, STDOUT_FILENO) >= 0);
	close(saved);

	assert_int_equal(st.reports, 0);
	assert_int_equal(st.result, 6000);
	char buf[7000];
	size_t got = 0;
	ssize_t r;
	while ((r = read(p[0], buf + got, sizeof buf - got)) > 0)
		got += (size_t)r;
	close(p[0]);
	assert_int_equal(got, 6000);
	assert_int_equal(buf[0], '1');
	assert_int_equal(buf[1000], '2');
	assert_int_equal(buf[3000], '3');
	assert_int_equal(buf[5999], '3');
	t_release(out);
	t_release(err);
}

static void test_sink_rejects_bad_arguments(void **state)
{
	(void)state;
	int junk;
	struct {
		trindle_pipe_t out, err;
		struct trindle_sink_options o;
	} bad[] = {
		{ &junk, NULL, { 0 } },
		{ NULL, &junk, { 0 } },
		{ NULL, NULL, { .in_flight = TRINDLE_IO_IN_FLIGHT_MAX + 1 } },
		{ NULL, NULL, { .flags = 4 } },
		{ NULL, NULL, { .mode = 010000 } },
		{ NULL, NULL, { .give_back = &junk } },
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		errno = 0;
		assert_null(trindle_file_sink("/nonexistent/x", &bad[i].o,
					      bad[i].out, bad[i].err));
		assert_int_equal(errno, EINVAL);
	}
}

/* ---- sizes past what a queue can hold ---- */

/* queue_items + 2 (room for the parameters and the give-back pipe) must not
 * wrap around to a 1-item queue. */
static void test_sink_rejects_queue_too_long(void **state)
{
	(void)state;
	size_t bad[] = { SIZE_MAX, SIZE_MAX - 1, SIZE_MAX - 2, SIZE_MAX / 2 };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct trindle_sink_options o = { .queue_items = bad[i] };
		errno = 0;
		assert_null(trindle_file_sink("/nonexistent/x", &o, NULL, NULL));
		assert_int_equal(errno, ENOMEM);
	}
}

/* ---- a failed sync inside the sink ---- */

/*
 * This program's own trindle_sync_timeout() comes before the library's
 * (the library calls its exported functions through the PLT), so a test
 * can make one call fail as the library's bookkeeping would (ENOMEM): the
 * first call that asks for 2 or more messages from g_fail_pipe, which is
 * what the sink's input loop does (taking the parameters asks for one).
 */
typedef int (*sync_timeout_fn)(trindle_mailbox_t *, trindle_mailbox_t *,
			       int64_t);
static sync_timeout_fn g_real_sync_timeout; /* set in main(), before threads */
static _Atomic(trindle_pipe_t) g_fail_pipe;
static atomic_int g_failed_syncs;

int trindle_sync_timeout(trindle_mailbox_t *out, trindle_mailbox_t *in,
			 int64_t timeout_ns)
{
	trindle_pipe_t target = atomic_load(&g_fail_pipe);
	if (target && out && out->count == 1 && out->address &&
	    out->address[0].address == target && !out->address[0].content &&
	    in && in->count >= 2 &&
	    atomic_compare_exchange_strong(&g_fail_pipe, &target, NULL)) {
		atomic_fetch_add(&g_failed_syncs, 1);
		errno = ENOMEM;
		return -1;
	}
	return g_real_sync_timeout(out, in, timeout_ns);
}

/* When the sink's receive fails, what it had received before must not be
 * taken again (a stale message would be written twice): the sink ends
 * with an "input" report carrying the error. */
static void test_sink_failed_receive_reports_instead_of_reusing(void **state)
{
	(void)state;
	const char *path = write_file("", 0);
	trindle_pipe_t out = trindle_pipe(2), err = trindle_pipe(2);
	trindle_pipe_t back = trindle_pipe(4);
	struct trindle_sink_options o = { .give_back = back, .in_flight = 4,
					  .flags = TRINDLE_SINK_NO_FSYNC };
	trindle_pipe_t dev = trindle_file_sink(path, &o, out, err);
	assert_non_null(dev);
	/* A is written and given back: the sink has been through its loop. */
	trindle_segment_t a = t_segment(3000, 'A');
	assert_int_equal(t_move(dev, a), 0);
	trindle_message_t m;
	assert_true(recv_object(back, &m));
	assert_ptr_equal(m.content, a);
	t_release(a);
	/* B arrives; the receive that follows, with B in flight, fails. */
	atomic_store(&g_failed_syncs, 0);
	atomic_store(&g_fail_pipe, dev);
	trindle_segment_t b = t_segment(5000, 'B');
	assert_int_equal(t_move(dev, b), 0);

	struct stream st;
	stream_init(&st);
	int64_t deadline = t_now_ns() + WAIT_NS;
	while (st.reports == 0 && st.results == 0) {
		if (t_recv(err, &m, 100000000) && m.address == err && m.content) {
			take_report(&st, m.content);
			t_release(m.content);
		}
		if (t_recv(out, &m, 0) && m.address == out && m.content) {
			st.results++;
			t_release(m.content);
		}
		if (st.reports == 0 && st.results == 0 &&
		    atomic_load(&g_fail_pipe) == NULL) {
			/* Before the fix the sink went on: let it finish. */
			trindle_segment_t marker = trindle_allocate(0, NULL);
			if (t_move(dev, marker))
				t_release(marker);
		}
		assert_true(t_now_ns() < deadline);
	}
	atomic_store(&g_fail_pipe, NULL);
	assert_int_equal(atomic_load(&g_failed_syncs), 1);
	assert_int_equal(st.results, 0);
	assert_int_equal(st.reports, 1);
	assert_string_equal(st.op, "input");
	assert_int_equal(st.error, ENOMEM);
	/* A once, and B at most once (its write may or may not have landed). */
	size_t len;
	unsigned char *got = read_file(path, &len);
	assert_true(len == 3000 || len == 8000);
	for (size_t i = 0; i < len; i++)
		assert_int_equal(got[i], i < 3000 ? 'A' : 'B');
	while (t_recv(back, &m, 0))
		if (m.address == back && m.content)
			t_release(m.content);
	free(got);
	t_release(back);
	t_release(out);
	t_release(err);
	t_release(dev);
	unlink(path);
}

/* ---- standard input and output ---- */

/* "Standard output" is the descriptor 1 of the moment of the call: what
 * the program does with fd 1 afterwards does not redirect the sink. */
static void test_sink_stdout_is_fd1_at_the_call(void **state)
{
	(void)state;
	char pa[64], pb[64];
	strcpy(pa, write_file("", 0));
	strcpy(pb, write_file("", 0));
	int fa = open(pa, O_WRONLY), fb = open(pb, O_WRONLY);
	assert_true(fa >= 0 && fb >= 0);
	fflush(stdout);
	int saved = dup(STDOUT_FILENO);
	assert_true(saved >= 0);
	assert_true(dup2(fa, STDOUT_FILENO) >= 0);

	trindle_pipe_t out = trindle_pipe(2), err = trindle_pipe(2);
	trindle_pipe_t dev = trindle_file_sink(NULL, NULL, out, err);
	/* The program points fd 1 somewhere else before anything is sent. */
	assert_true(dup2(fb, STDOUT_FILENO) >= 0);
	struct stream st = { 0 };
	if (dev) {
		trindle_segment_t segs[2] = { t_segment(4000, 'x'),
					      t_segment(5000, 'y') };
		int move[2] = { 1, 0 };
		run_sink(dev, out, err, segs, move, 2, &st);
		t_release(segs[1]);
	}
	assert_true(dup2(saved, STDOUT_FILENO) >= 0);
	close(saved);
	close(fa);
	close(fb);
	assert_non_null(dev);
	assert_int_equal(st.reports, 0);
	assert_int_equal(st.result, 9000);
	size_t la, lb;
	unsigned char *a = read_file(pa, &la), *b = read_file(pb, &lb);
	assert_int_equal(la, 9000);
	assert_int_equal(lb, 0);
	assert_int_equal(a[0], 'x');
	assert_int_equal(a[8999], 'y');
	free(a);
	free(b);
	unlink(pa);
	unlink(pb);
	t_release(out);
	t_release(err);
}

/* With fd 0 or 1 closed there is no standard input or output: the call
 * fails at once with EBADF instead of starting a device that would take
 * whatever gets that number next. */
static void test_devices_on_closed_standard_fds_fail_ebadf(void **state)
{
	(void)state;
	trindle_pipe_t out = trindle_pipe(2), err = trindle_pipe(2);
	fflush(stdout);
	int in0 = dup(STDIN_FILENO), out1 = dup(STDOUT_FILENO);
	assert_true(in0 >= 0 && out1 >= 0);
	close(STDIN_FILENO);
	close(STDOUT_FILENO);
	errno = 0;
	trindle_pipe_t src = trindle_file_source(NULL, NULL, out, err);
	int src_errno = errno;
	errno = 0;
	trindle_pipe_t snk = trindle_file_sink("-", NULL, NULL, err);
	int snk_errno = errno;
	/* Restore before any assert: cmocka writes to stdout. */
	assert_true(dup2(in0, STDIN_FILENO) >= 0);
	assert_true(dup2(out1, STDOUT_FILENO) >= 0);
	close(in0);
	close(out1);
	t_release(src);
	t_release(snk);
	t_release(out);
	t_release(err);
	assert_null(src);
	assert_int_equal(src_errno, EBADF);
	assert_null(snk);
	assert_int_equal(snk_errno, EBADF);
}

/* A device never leaves its own descriptors (the file it opened, an
 * io_uring ring) on 0, 1 or 2 while those are closed: a program that
 * opens standard streams later, or a sink started on "-" later, must not
 * land on a device's file. */
static void test_devices_keep_off_standard_fd_numbers(void **state)
{
	(void)state;
	size_t len = 200000;
	unsigned char *text = make_text(len, 100);
	char src_path[64];
	strcpy(src_path, write_file(text, len));
	const char *dst_path = write_file("", 0);
	trindle_pipe_t out = trindle_pipe(1), err = trindle_pipe(4);
	trindle_pipe_t sout = trindle_pipe(2), back = trindle_pipe(4);
	struct trindle_source_options so = { .chunk_bytes = 4096 };
	struct trindle_sink_options ko = { .give_back = back,
					   .flags = TRINDLE_SINK_NO_FSYNC };
	fflush(stdout);
	int saved[3];
	for (int fd = 0; fd < 3; fd++)
		assert_true((saved[fd] = dup(fd)) >= 0);
	for (int fd = 0; fd < 3; fd++)
		close(fd);
	trindle_pipe_t src = trindle_file_source(src_path, &so, out, err);
	trindle_pipe_t snk = trindle_file_sink(dst_path, &ko, sout, err);
	/* Both are open once the source delivered a chunk and the sink gave
	 * back a written segment; the source then waits on its full pipe. */
	trindle_message_t m = { NULL, NULL }, b = { NULL, NULL };
	int got_chunk = src && recv_object(out, &m);
	trindle_segment_t seg = t_segment(100, 's');
	int moved = snk && t_move(snk, seg) == 0;
	int got_back = moved && recv_object(back, &b);
	int open_std[3];
	for (int fd = 0; fd < 3; fd++)
		open_std[fd] = fcntl(fd, F_GETFD) >= 0;
	for (int fd = 0; fd < 3; fd++) {
		assert_true(dup2(saved[fd], fd) >= 0);
		close(saved[fd]);
	}
	assert_true(got_chunk);
	assert_true(got_back);
	for (int fd = 0; fd < 3; fd++)
		assert_false(open_std[fd]);
	if (!moved)
		t_release(seg);
	t_release(m.content);
	t_release(b.content);
	trindle_segment_t marker = trindle_allocate(0, NULL);
	if (t_move(snk, marker))
		t_release(marker);
	assert_true(recv_object(sout, &m));
	t_release(m.content);
	t_release(out); /* the source stops */
	t_release(src);
	t_release(snk);
	t_release(sout);
	t_release(back);
	t_release(err);
	unlink(src_path);
	unlink(dst_path);
	free(text);
}

/* The source feeding the sink through the test: a file copy. */
static void test_source_to_sink_copies_a_file(void **state)
{
	(void)state;
	size_t len = 3000000;
	unsigned char *text = make_text(len, 70000);
	char src[64], dst[64];
	snprintf(src, sizeof src, "%s", write_file(text, len));
	snprintf(dst, sizeof dst, "%s", write_file("", 0));

	trindle_pipe_t chunks = trindle_pipe(4), res = trindle_pipe(2);
	trindle_pipe_t err = trindle_pipe(4);
	struct trindle_source_options so = { .chunk_bytes = 32768,
					     .flags = TRINDLE_SOURCE_LINES };
	trindle_pipe_t sink = trindle_file_sink(dst, NULL, res, err);
	trindle_pipe_t source = trindle_file_source(src, &so, chunks, err);
	assert_non_null(sink);
	assert_non_null(source);
	int ended = 0;
	int64_t deadline = t_now_ns() + WAIT_NS;
	while (!ended) {
		trindle_message_t m = { NULL, NULL };
		t_recv(chunks, &m, 100000000);
		if (m.address == chunks) {
			ended = trindle_measure(m.content) == 0;
			while (t_move(sink, m.content)) /* the sink may be full */
				assert_true(t_now_ns() < deadline);
		}
		assert_true(t_now_ns() < deadline);
	}
	trindle_message_t m = { NULL, NULL };
	while (m.address != res) {
		assert_int_equal(t_recv(res, &m, WAIT_NS), 1);
		assert_true(m.address != err);
	}
	uint64_t written;
	memcpy(&written, m.content, 8);
	assert_int_equal(written, len);
	t_release(m.content);
	size_t got_len;
	unsigned char *got = read_file(dst, &got_len);
	assert_int_equal(got_len, len);
	assert_memory_equal(got, text, len);
	t_release(chunks);
	t_release(res);
	t_release(err);
	t_release(sink);
	t_release(source);
	unlink(src);
	unlink(dst);
	free(got);
	free(text);
}

int main(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	g_real_sync_timeout = (sync_timeout_fn)dlsym(RTLD_NEXT,
						     "trindle_sync_timeout");
	if (!g_real_sync_timeout)
		return 1;

	const struct CMUnitTest tests[] = {
		BOTH(test_sink_writes_segments_in_arrival_order),
		BOTH(test_sink_writes_a_segment_sent_twice_twice),
		BOTH(test_sink_gives_written_segments_back),
		BOTH(test_sink_appends_when_asked),
		BOTH(test_sink_missing_directory_reports_enoent),
		BOTH(test_sink_full_device_reports_enospc),
		BOTH(test_sink_input_closed_before_marker_reports_epipe),
		BOTH(test_sink_writes_stdout_pipe),
		cmocka_unit_test(test_sink_rejects_bad_arguments),
		cmocka_unit_test(test_sink_rejects_queue_too_long),
		BOTH(test_sink_failed_receive_reports_instead_of_reusing),
		BOTH(test_sink_stdout_is_fd1_at_the_call),
		cmocka_unit_test(test_devices_on_closed_standard_fds_fail_ebadf),
		BOTH(test_devices_keep_off_standard_fd_numbers),
		BOTH(test_source_to_sink_copies_a_file),
	};
	return cmocka_run_group_tests_name("sink", tests, NULL, NULL);
}
