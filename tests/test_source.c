/* SPDX-License-Identifier: MIT */
/*
 * test_source.c - the file source: it streams a file in order (line-aware
 * or not, from files, pipes and standard input), in chunks that never show
 * old bytes and that it takes back, reports errors, and under the
 * pread/pwrite fallback (TRINDLE_IO_URING=0) does the same work and says
 * so once.
 *
 * Every test runs twice: with io_uring and with the fallback forced.
 */
#include "io_helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* ---- running a source ---- */

/* Receives from out and err until the device has ended and its stream is
 * over (a marker or a report came). */
static void drain(struct stream *st, trindle_pipe_t dev, trindle_pipe_t out,
		  trindle_pipe_t err)
{
	int64_t deadline = t_now_ns() + WAIT_NS;
	while (!st->closed || (st->markers == 0 && st->reports == 0)) {
		trindle_message_t got[8];
		size_t came = receive_both(out, err, got, 8);
		for (size_t i = 0; i < came; i++)
			take(st, &got[i], dev, out, err);
		assert_true(t_now_ns() < deadline);
	}
	/* Nothing may follow the end of a stream. */
	trindle_message_t m;
	assert_int_equal(t_recv(out, &m, 0), 0);
}


/* Runs a source over path and collects everything it delivers. */
static void run_source(const char *path, size_t chunk, unsigned flags,
		       struct stream *st)
{
	trindle_pipe_t out = trindle_pipe(8), err = trindle_pipe(2);
	assert_non_null(out);
	assert_non_null(err);
	struct trindle_source_options o = { .chunk_bytes = chunk, .flags = flags };
	trindle_pipe_t dev = trindle_file_source(path, &o, out, err);
	assert_non_null(dev);
	stream_init(st);
	drain(st, dev, out, err);
	t_release(out);
	t_release(err);
}

/* The stream was the whole of text, ended by one marker, without a
 * report. */
static void expect_whole(const struct stream *st, const unsigned char *text,
			 size_t len)
{
	assert_int_equal(st->markers, 1);
	assert_int_equal(st->reports, 0);
	assert_int_equal(st->len, len);
	assert_memory_equal(st->data, text, len);
}

/* ---- the source ---- */

static void test_source_streams_file_in_order_in_chunks(void **state)
{
	(void)state;
	size_t len = 1000003, chunk = 65536;
	unsigned char *text = make_text(len, 100);
	const char *path = write_file(text, len);
	struct stream st;

	run_source(path, chunk, 0, &st);
	expect_whole(&st, text, len);
	assert_int_equal(st.chunks, (len + chunk - 1) / chunk);
	for (size_t i = 0; i + 1 < st.chunks; i++)
		assert_int_equal(st.sizes[i], chunk);
	assert_int_equal(st.sizes[st.chunks - 1], len % chunk);
	assert_true(st.all_writable);
	unlink(path);
	free(st.data);
	free(text);
}

static size_t longest_line(const unsigned char *p, size_t n)
{
	size_t best = 0;
	while (n) {
		const unsigned char *nl = memchr(p, '\n', n);
		size_t line = nl ? (size_t)(nl - p) + 1 : n;
		best = line > best ? line : best;
		p += line;
		n -= line;
	}
	return best;
}

/* Every chunk but the last ends with '\n'; a chunk is at most the chunk
 * size unless it holds one line that alone is longer; and each cut is at
 * the last newline that fits (the next line would not have). */
static void check_line_chunks(const struct stream *st, size_t chunk, int maximal)
{
	const unsigned char *p = st->data;
	for (size_t i = 0; i < st->chunks; i++) {
		size_t n = st->sizes[i];
		int last = i + 1 == st->chunks;
		if (!last)
			assert_int_equal(p[n - 1], '\n');
		if (n > chunk)
			assert_true(longest_line(p, n) > chunk);
		if (maximal && !last && n <= chunk) {
			const unsigned char *next = p + n;
			size_t rest = st->len - (size_t)(next - st->data);
			const unsigned char *nl = memchr(next, '\n', rest);
			size_t line = nl ? (size_t)(nl - next) + 1 : rest;
			assert_true(n + line > chunk);
		}
		p += n;
	}
}

static void test_source_lines_never_split(void **state)
{
	(void)state;
	size_t len = 700001, chunk = 4096;
	unsigned char *text = make_text(len, chunk);
	const char *path = write_file(text, len);
	struct stream st;

	run_source(path, chunk, TRINDLE_SOURCE_LINES, &st);
	assert_int_equal(st.markers, 1);
	assert_int_equal(st.len, len);
	assert_memory_equal(st.data, text, len);
	assert_true(st.chunks < sizeof st.sizes / sizeof st.sizes[0]);
	check_line_chunks(&st, chunk, 1);
	assert_true(st.all_writable);
	unlink(path);
	free(st.data);
	free(text);
}

static void test_source_line_longer_than_file_tail(void **state)
{
	(void)state;
	/* One line, no newline at all: a single chunk however small the
	 * chunk size. */
	unsigned char text[10000];
	memset(text, 'q', sizeof text);
	const char *path = write_file(text, sizeof text);
	struct stream st;

	run_source(path, 1000, TRINDLE_SOURCE_LINES, &st);
	assert_int_equal(st.chunks, 1);
	assert_int_equal(st.len, sizeof text);
	assert_memory_equal(st.data, text, sizeof text);
	unlink(path);
	free(st.data);
}

static void test_source_empty_file_sends_marker_alone(void **state)
{
	(void)state;
	const char *path = write_file("", 0);
	struct stream st;

	run_source(path, 0, TRINDLE_SOURCE_LINES, &st);
	assert_int_equal(st.markers, 1);
	assert_int_equal(st.chunks, 0);
	assert_int_equal(st.reports, 0);
	unlink(path);
}

/* Runs fn with fd 0 replaced by fd (restored afterwards). */
static void with_stdin(int fd, void (*fn)(void *), void *arg)
{
	int saved = dup(STDIN_FILENO);
	assert_true(saved >= 0);
	assert_true(dup2(fd, STDIN_FILENO) >= 0);
	fn(arg);
	assert_true(dup2(saved, STDIN_FILENO) >= 0);
	close(saved);
}

struct stdin_case {
	const char *path; /* NULL or "-": both mean standard input */
	size_t chunk;
	unsigned flags;
	struct stream st;
};

static void source_from_stdin(void *arg)
{
	struct stdin_case *c = arg;
	run_source(c->path, c->chunk, c->flags, &c->st);
}

static void test_source_reads_stdin_pipe(void **state)
{
	(void)state;
	/* Less than a pipe buffer: written whole before the source starts. */
	size_t len = 50000;
	unsigned char *text = make_text(len, 1500);
	int p[2];
	assert_int_equal(pipe(p), 0);
	assert_int_equal(write(p[1], text, len), (ssize_t)len);
	close(p[1]);

	struct stdin_case c = { .chunk = 1001, .flags = TRINDLE_SOURCE_LINES };
	with_stdin(p[0], source_from_stdin, &c);
	close(p[0]);
	assert_int_equal(c.st.markers, 1);
	assert_int_equal(c.st.len, len);
	assert_memory_equal(c.st.data, text, len);
	check_line_chunks(&c.st, c.chunk, 0);
	assert_true(c.st.all_writable);
	free(c.st.data);
	free(text);
}

static void test_source_reads_stdin_file_from_its_position(void **state)
{
	(void)state;
	size_t len = 300000, skip = 12345;
	unsigned char *text = make_text(len, 100);
	const char *path = write_file(text, len);
	int fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(lseek(fd, (off_t)skip, SEEK_SET), (off_t)skip);

	struct stdin_case c = { .path = "-", .chunk = 8192 };
	with_stdin(fd, source_from_stdin, &c);
	assert_int_equal(c.st.len, len - skip);
	assert_memory_equal(c.st.data, text + skip, len - skip);
	/* Standard input is left after what was read, as a reader would. */
	assert_int_equal(lseek(fd, 0, SEEK_CUR), (off_t)len);
	close(fd);
	unlink(path);
	free(c.st.data);
	free(text);
}

static void expect_source_report(const char *path, int error, const char *op)
{
	struct stream st;
	run_source(path, 0, 0, &st);
	assert_int_equal(st.reports, 1);
	assert_int_equal(st.markers, 0);
	assert_int_equal(st.chunks, 0);
	assert_int_equal(st.error, error);
	assert_string_equal(st.op, op);
	assert_string_equal(st.path, path);
	char tail[32];
	snprintf(tail, sizeof tail, "(errno %d)", error);
	assert_non_null(strstr(st.message, path));
	assert_non_null(strstr(st.message, tail));
	assert_non_null(strstr(st.message, strerror(error)));
}

static void test_source_missing_file_reports_enoent(void **state)
{
	(void)state;
	expect_source_report("/nonexistent/trindle-test-io", ENOENT, "open");
}

static void test_source_unreadable_file_reports_eacces(void **state)
{
	(void)state;
	if (geteuid() != 0) {
		const char *path = write_file("secret\n", 7);
		assert_int_equal(chmod(path, 0), 0);
		expect_source_report(path, EACCES, "open");
		unlink(path);
		return;
	}
	/* Root reads any file, but not a write-only sysctl. */
	const char *wo = "/proc/sys/vm/drop_caches";
	int fd = open(wo, O_RDONLY);
	if (fd >= 0)
		close(fd);
	if (fd >= 0 || errno != EACCES)
		skip();
	expect_source_report(wo, EACCES, "open");
}

static void test_source_directory_reports_read_error(void **state)
{
	(void)state;
	expect_source_report("/", EISDIR, "read");
}

/* A source over a new text file of len bytes, in chunks of chunk bytes,
 * into an out pipe of queue messages, with flags. */
struct small_source {
	unsigned char *text;
	const char *path;
	trindle_pipe_t out, err, dev;
};

static void start_small_source(struct small_source *s, size_t len,
			       size_t chunk, size_t queue, unsigned flags)
{
	s->text = make_text(len, 100);
	s->path = write_file(s->text, len);
	s->out = trindle_pipe(queue);
	s->err = trindle_pipe(2);
	struct trindle_source_options o = { .chunk_bytes = chunk,
					    .flags = flags };
	s->dev = trindle_file_source(s->path, &o, s->out, s->err);
	assert_non_null(s->dev);
}

/* The source ends, without a report, within limit_ns of since. */
static void expect_quiet_end(struct small_source *s, int64_t since,
			     int64_t limit_ns)
{
	int closed = 0;
	while (!closed) {
		trindle_message_t m = { NULL, NULL };
		t_recv(s->err, &m, 100000000);
		closed = m.address == s->dev && !m.content;
		assert_false(m.address == s->err && m.content); /* no report */
		assert_true(t_now_ns() - since < limit_ns);
	}
	t_release(s->err);
	unlink(s->path);
	free(s->text);
}

/* The next chunk from s's out pipe (a closure notice that comes first goes
 * to st), checked: it is the file's next bytes from *at, and the rest of
 * its last page reads as zeros.  Advances *at past it. */
static trindle_segment_t next_checked_chunk(struct small_source *s,
		struct stream *st, size_t len, size_t *at)
{
	size_t ps = (size_t)sysconf(_SC_PAGESIZE);
	for (;;) {
		trindle_message_t m;
		assert_int_equal(t_recv(s->out, &m, WAIT_NS), 1);
		if (m.address != s->out) {
			take(st, &m, s->dev, s->out, s->err);
			continue;
		}
		const unsigned char *c = m.content;
		size_t n = trindle_measure(m.content);
		assert_true(n > 0 && *at + n <= len);
		assert_memory_equal(c, s->text + *at, n);
		for (size_t i = n; i < (n + ps - 1) / ps * ps; i++)
			assert_int_equal(c[i], 0);
		*at += n;
		return m.content;
	}
}

/* Drains s's stream to its end, which must be one marker and no report,
 * and lets go of everything s and st hold. */
static void end_small_source(struct small_source *s, struct stream *st)
{
	drain(st, s->dev, s->out, s->err);
	assert_int_equal(st->markers, 1);
	assert_int_equal(st->reports, 0);
	t_release(s->out);
	t_release(s->err);
	unlink(s->path);
	free(st->data);
	free(s->text);
}

/* When the consumer lets its pipe die, the source ends without a report. */
static void test_source_stops_when_out_dies(void **state)
{
	(void)state;
	struct small_source s;
	start_small_source(&s, 2000000, 4096, 1, 0);

	trindle_message_t m;
	assert_int_equal(t_recv(s.out, &m, WAIT_NS), 1);
	assert_int_equal(trindle_measure(m.content), 4096);
	assert_memory_equal(m.content, s.text, 4096);
	t_release(m.content);
	t_release(s.out); /* out dies, with whatever was queued */
	expect_quiet_end(&s, t_now_ns(), WAIT_NS);
}

/* A source whose pipe is full sleeps until the consumer takes a chunk (the
 * core's wait for room), and a chunk taken wakes it at once.  If that wake
 * were missed, each chunk would wait out the source's 2 s safety net: 30
 * chunks taken 5 ms apart must take well under that. */
static void test_source_wakes_when_its_full_pipe_gets_room(void **state)
{
	(void)state;
	size_t chunk = 4096, n = 30, len = chunk * n;
	struct small_source s;
	start_small_source(&s, len, chunk, 1, 0);
	unsigned char *text = s.text;
	trindle_pipe_t out = s.out, err = s.err, dev = s.dev;

	int64_t start = t_now_ns();
	struct stream st;
	stream_init(&st);
	while (st.markers == 0) {
		usleep(5000); /* the source fills the pipe meanwhile */
		trindle_message_t m;
		assert_int_equal(t_recv(out, &m, WAIT_NS), 1);
		take(&st, &m, dev, out, err);
	}
	assert_true(t_now_ns() - start < 1500000000LL);
	assert_int_equal(st.len, len);
	assert_memory_equal(st.data, text, len);
	assert_int_equal(st.chunks, n);
	end_small_source(&s, &st);
}

/* A source asleep on its full pipe wakes when the pipe dies, and ends
 * without a report, well before its 2 s safety net would wake it. */
static void test_source_waiting_for_room_ends_when_out_dies(void **state)
{
	(void)state;
	struct small_source s;
	start_small_source(&s, 100000, 4096, 1, 0);

	/* Once the pipe holds a chunk, the source reads the next one and
	 * waits for room: give it time to fall asleep. */
	int64_t deadline = t_now_ns() + WAIT_NS;
	while (trindle_measure(s.out) == 0) {
		usleep(1000);
		assert_true(t_now_ns() < deadline);
	}
	usleep(50000);
	int64_t killed = t_now_ns();
	t_release(s.out);
	expect_quiet_end(&s, killed, 1500000000LL);
}

/* The source reads into segments it does not zero first.  Whatever a
 * destroyed segment left in their memory must never show: every byte of a
 * chunk comes from the file, and the rest of its last page is zero.  The
 * memory is first filled with 0xAA and handed back, so that the source's
 * segments reuse it. */
static void test_source_chunks_never_show_old_segment_bytes(void **state)
{
	(void)state;
	size_t chunk = 10000, len = 95000, ps = (size_t)sysconf(_SC_PAGESIZE);
	size_t span = (chunk + ps - 1) / ps * ps;
	trindle_message_t rel[16];
	trindle_util_batch_t b;
	trindle_util_batch_init(&b, rel, 16);
	for (int i = 0; i < 16; i++) {
		unsigned char *old = trindle_allocate(1,
				&(trindle_buffer_t){ chunk, NULL });
		assert_non_null(old);
		memset(old, 0xAA, span); /* the whole pages: all writable */
		assert_int_equal(trindle_util_add_release(&b, old), 0);
	}
	assert_int_equal(trindle_util_flush(&b, NULL), 0);

	struct small_source s;
	start_small_source(&s, len, chunk, 16, 0);
	struct stream st;
	stream_init(&st);
	size_t at = 0;
	while (at < len)
		t_release(next_checked_chunk(&s, &st, len, &at));
	end_small_source(&s, &st);
}

/* A file partly out of the page cache is read through cached reads,
 * through the blocking read that follows a cached read's refusal, and
 * through the ring, and arrives whole and in order whichever way each read
 * went. */
static void test_source_reads_a_file_out_of_the_page_cache(void **state)
{
	(void)state;
	size_t len = 24u << 20, chunk = 256u << 10;
	unsigned char *text = make_text(len, 100);
	const char *path = write_file(text, len);
	int fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(fdatasync(fd), 0);
	/* Drop it all, then read its first MiB back the usual way: the
	 * kernel's readahead (often 8 MiB) brings in more, with marks that
	 * make cached reads refuse, and the rest is on the disk only. */
	assert_int_equal(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), 0);
	char buf[65536];
	for (size_t at = 0; at < (1u << 20); at += sizeof buf)
		assert_int_equal(read(fd, buf, sizeof buf), (ssize_t)sizeof buf);
	close(fd);

	struct stream st;
	run_source(path, chunk, 0, &st);
	expect_whole(&st, text, len);
	unlink(path);
	free(st.data);
	free(text);
}

/* Line-aware chunks all differ a little in size; a chunk given back is
 * given the size of the next one.  The stream stays whole, every chunk
 * ends in zeros up to its page end (nothing of the longer chunk that was
 * there before), and the same memory comes round. */
static void test_source_reuses_line_chunks_of_other_sizes(void **state)
{
	(void)state;
	size_t len = 300000, chunk = 20000;
	struct small_source s;
	start_small_source(&s, len, chunk, 2, TRINDLE_SOURCE_LINES);

	struct stream st;
	stream_init(&st);
	const void *seen[64];
	size_t nseen = 0, at = 0, again = 0, sizes = 0, last = 0;
	while (at < len) {
		size_t before = at;
		trindle_segment_t c = next_checked_chunk(&s, &st, len, &at);
		for (size_t i = 0; i < nseen; i++)
			again += seen[i] == c;
		if (nseen < 64)
			seen[nseen++] = c;
		sizes += at - before != last;
		last = at - before;
		/* Back to the source: a move, so that it holds it alone.  Once
		 * the source has read everything it may be gone: then the
		 * move fails, and the chunk is released. */
		if (t_move(s.dev, c))
			t_release(c);
	}
	assert_true(again > 0);   /* memory came round */
	assert_true(sizes > 2);   /* in chunks of several sizes */
	end_small_source(&s, &st);
}

/* A consumer may give chunks back; the stream stays whole and in order,
 * a chunk given back shared (not moved) is never written again, and a
 * chunk moved back comes round again. */
static void test_source_takes_chunks_back(void **state)
{
	(void)state;
	size_t len = 1500000, chunk = 16384;
	unsigned char *text = make_text(len, 100);
	const char *path = write_file(text, len);
	trindle_pipe_t out = trindle_pipe(4), err = trindle_pipe(2);
	struct trindle_source_options o = { .chunk_bytes = chunk, .in_flight = 2 };
	trindle_pipe_t dev = trindle_file_source(path, &o, out, err);
	assert_non_null(dev);

	struct stream st;
	stream_init(&st);
	trindle_segment_t kept[8], moved_back[64];
	size_t nkept = 0, nmoved = 0, came_round = 0;
	int64_t deadline = t_now_ns() + WAIT_NS;
	while (st.markers == 0) {
		trindle_message_t m = { NULL, NULL };
		t_recv(out, &m, 100000000);
		assert_true(t_now_ns() < deadline);
		if (m.address != out)
			continue;
		for (size_t i = 0; i < nmoved; i++)
			came_round += m.content == moved_back[i];
		take_chunk(&st, m.content);
		if (trindle_measure(m.content) != chunk) {
			t_release(m.content);
		} else if (st.chunks % 10 == 3 && nkept < 8) {
			/* Shared: the source must leave it alone. */
			assert_int_equal(t_send(dev, m.content), 0);
			kept[nkept++] = m.content;
		} else if (t_move(dev, m.content) != 0) {
			t_release(m.content);
		} else if (nmoved < 64) {
			moved_back[nmoved++] = m.content;
		}
	}
	assert_int_equal(st.len, len);
	assert_memory_equal(st.data, text, len);
	assert_true(came_round > 0);
	/* The shared ones still hold what they held when they came. */
	size_t seen = 0;
	for (size_t i = 0; i < nkept; i++) {
		const unsigned char *p = kept[i];
		const unsigned char *at = memmem(text, len, p, chunk);
		assert_non_null(at);
		assert_int_equal((size_t)(at - text) % chunk, 0);
		seen++;
		t_release(kept[i]);
	}
	assert_int_equal(seen, 8);
	/* No report (a fault, had the source written a shared chunk); the
	 * notices that may come meanwhile say only that the source ended. */
	trindle_message_t m;
	while (t_recv(err, &m, 0))
		assert_false(m.address == err && m.content);
	t_release(out);
	t_release(err);
	t_release(dev);
	unlink(path);
	free(st.data);
	free(text);
}

static void test_source_rejects_bad_arguments(void **state)
{
	(void)state;
	trindle_pipe_t out = trindle_pipe(2);
	int junk;
	struct {
		trindle_pipe_t out, err;
		struct trindle_source_options o;
	} bad[] = {
		{ NULL, NULL, { 0 } },
		{ &junk, NULL, { 0 } },
		{ out, &junk, { 0 } },
		{ out, NULL, { .chunk_bytes = TRINDLE_SOURCE_CHUNK_MAX + 1 } },
		{ out, NULL, { .in_flight = TRINDLE_IO_IN_FLIGHT_MAX + 1 } },
		{ out, NULL, { .flags = 2 } },
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		errno = 0;
		assert_null(trindle_file_source("/dev/null", &bad[i].o, bad[i].out,
						bad[i].err));
		assert_int_equal(errno, EINVAL);
	}
	/* Nothing was started: out is still empty and alive. */
	trindle_message_t m;
	assert_int_equal(t_recv(out, &m, 0), 0);
	t_release(out);
}

/* ---- the fallback ---- */

/* Child mode: two devices under TRINDLE_IO_URING=0 (stderr is a pipe the
 * parent reads). */
static int fallback_child(void)
{
	for (int i = 0; i < 2; i++) {
		trindle_pipe_t out = trindle_pipe(4);
		trindle_pipe_t dev = trindle_file_source("/proc/self/exe", NULL, out, NULL);
		if (!dev)
			return 1;
		trindle_message_t m = { NULL, NULL };
		while (!(m.address == out && trindle_measure(m.content) == 0)) {
			if (trindle_util_receive(out, &m, -1) != 1)
				return 2;
			if (trindle_util_kind(&m) == TRINDLE_UTIL_MESSAGE)
				trindle_util_release(m.content);
		}
		trindle_util_release(out);
	}
	return 0;
}

static void test_fallback_says_so_once(void **state)
{
	char **argv = *state;
	int p[2];
	assert_int_equal(pipe(p), 0);
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, p[1], STDERR_FILENO);
	posix_spawn_file_actions_addclose(&fa, p[0]);
	char *args[] = { argv[0], "--fallback-child", NULL };
	assert_int_equal(setenv("TRINDLE_IO_URING", "0", 1), 0);
	pid_t pid;
	/* argv[0], not /proc/self/exe: under valgrind that is valgrind. */
	int rc = posix_spawnp(&pid, argv[0], &fa, NULL, args, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(p[1]);
	assert_int_equal(rc, 0);

	char buf[4096];
	size_t got = 0;
	ssize_t r;
	while ((r = read(p[0], buf + got, sizeof buf - 1 - got)) > 0)
		got += (size_t)r;
	buf[got] = '\0';
	close(p[0]);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	/* Exactly one line, naming the fallback. */
	char *nl = strchr(buf, '\n');
	assert_non_null(nl);
	assert_int_equal(nl[1], '\0');
	assert_non_null(strstr(buf, "trindle: "));
	assert_non_null(strstr(buf, "pread/pwrite"));
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "--fallback-child") == 0)
		return fallback_child();

	const struct CMUnitTest tests[] = {
		BOTH(test_source_streams_file_in_order_in_chunks),
		BOTH(test_source_lines_never_split),
		BOTH(test_source_line_longer_than_file_tail),
		BOTH(test_source_empty_file_sends_marker_alone),
		BOTH(test_source_reads_stdin_pipe),
		BOTH(test_source_reads_stdin_file_from_its_position),
		BOTH(test_source_missing_file_reports_enoent),
		BOTH(test_source_unreadable_file_reports_eacces),
		BOTH(test_source_directory_reports_read_error),
		BOTH(test_source_stops_when_out_dies),
		BOTH(test_source_wakes_when_its_full_pipe_gets_room),
		BOTH(test_source_waiting_for_room_ends_when_out_dies),
		BOTH(test_source_takes_chunks_back),
		BOTH(test_source_chunks_never_show_old_segment_bytes),
		BOTH(test_source_reads_a_file_out_of_the_page_cache),
		BOTH(test_source_reuses_line_chunks_of_other_sizes),
		cmocka_unit_test(test_source_rejects_bad_arguments),
		cmocka_unit_test_prestate(test_fallback_says_so_once, argv),
	};
	return cmocka_run_group_tests_name("source", tests, NULL, NULL);
}
