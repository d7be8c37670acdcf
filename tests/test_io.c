/* SPDX-License-Identifier: MIT */
/*
 * test_io.c - the file devices: the source streams a file in order (line-
 * aware or not, from files, pipes and standard input), the sink writes what
 * it is sent, errors arrive as reports, and the pread/pwrite fallback
 * (TRINDLE_IO_URING=0) does the same work and says so once.
 *
 * Every test runs twice: with io_uring and with the fallback forced.
 */
#include "helpers.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <trindle/io.h>

#define RW (TRINDLE_ACCESS_READ | TRINDLE_ACCESS_WRITE)
#define WAIT_NS (20LL * 1000 * 1000 * 1000)

extern char **environ;

/* ---- files and data ---- */

static char g_path[64];

static unsigned long long g_rng = 88172645463325252ULL;

static unsigned rnd(unsigned n)
{
	g_rng ^= g_rng << 13;
	g_rng ^= g_rng >> 7;
	g_rng ^= g_rng << 17;
	return (unsigned)(g_rng % n);
}

/* Text with empty lines, lines longer than long_len, bytes above 0x7f, and
 * no newline at the end. */
static unsigned char *make_text(size_t len, size_t long_len)
{
	unsigned char *t = malloc(len);
	assert_non_null(t);
	for (size_t i = 0; i < len;) {
		size_t line = rnd(10) == 0 ? 0 : rnd(20) == 0 ? long_len + rnd(3000)
							    : rnd(120);
		for (size_t k = 0; k < line && i < len; k++)
			t[i++] = (unsigned char)(rnd(5) ? 'a' + rnd(26) : 0x80 + rnd(128));
		if (i < len)
			t[i++] = '\n';
	}
	t[len - 1] = 'z';
	return t;
}

static const char *write_file(const void *data, size_t len)
{
	strcpy(g_path, "/tmp/trindle-test-io-XXXXXX");
	int fd = mkstemp(g_path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
	return g_path;
}

static void *read_file(const char *path, size_t *len)
{
	int fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	struct stat st;
	assert_int_equal(fstat(fd, &st), 0);
	unsigned char *b = malloc((size_t)st.st_size + 1);
	assert_non_null(b);
	assert_int_equal(read(fd, b, (size_t)st.st_size), st.st_size);
	close(fd);
	*len = (size_t)st.st_size;
	return b;
}

/* ---- what a device delivered ---- */

struct stream {
	unsigned char *data;
	size_t len, cap;
	size_t sizes[4096];
	size_t chunks;
	int markers;      /* zero-length end markers seen */
	int all_writable; /* every chunk arrived with READ|WRITE */
	int reports;
	int error;        /* the last report's fields */
	char op[16], path[256], message[512];
	int closed;       /* the device's input pipe died */
	uint64_t result;  /* a sink's result */
	int results;
};

static void take_report(struct stream *st, trindle_segment_t seg)
{
	const trindle_io_report_t *r = seg;
	size_t n = trindle_measure(seg);
	assert_true(n > sizeof *r);
	assert_int_equal(r->magic, TRINDLE_IO_REPORT_MAGIC);
	assert_true(r->path_offset < n);
	assert_int_equal(((const char *)seg)[n - 1], '\0');
	st->reports++;
	st->error = r->error;
	snprintf(st->op, sizeof st->op, "%s", r->operation);
	snprintf(st->path, sizeof st->path, "%s", (const char *)seg + r->path_offset);
	snprintf(st->message, sizeof st->message, "%s", r->message);
}

static void take_chunk(struct stream *st, trindle_segment_t seg)
{
	size_t n = trindle_measure(seg);
	if (n == 0) {
		st->markers++;
		return;
	}
	if (trindle_access(seg) != RW)
		st->all_writable = 0;
	if (st->len + n > st->cap) {
		st->cap = (st->len + n) * 2;
		st->data = realloc(st->data, st->cap);
		assert_non_null(st->data);
	}
	memcpy(st->data + st->len, seg, n);
	st->len += n;
	if (st->chunks < sizeof st->sizes / sizeof st->sizes[0])
		st->sizes[st->chunks] = n;
	st->chunks++;
}

static void take(struct stream *st, const trindle_message_t *m,
		 trindle_pipe_t dev, trindle_pipe_t out, trindle_pipe_t err)
{
	if (!m->content) {
		if (m->address == dev)
			st->closed = 1;
		return;
	}
	if (m->address == out)
		take_chunk(st, m->content);
	else if (m->address == err)
		take_report(st, m->content);
	if (m->address)
		t_release(m->content);
}

/* Receives from out and err until the device has ended and its stream is
 * over (a marker or a report came). */
static void drain(struct stream *st, trindle_pipe_t dev, trindle_pipe_t out,
		  trindle_pipe_t err)
{
	int64_t deadline = t_now_ns() + WAIT_NS;
	while (!st->closed || (st->markers == 0 && st->reports == 0)) {
		trindle_message_t req[2] = { { out, NULL }, { err, NULL } }, got[8];
		trindle_mailbox_t o = { 2, req }, in = { 8, got };
		assert_int_equal(trindle_sync_timeout(&o, &in, 100000000), 0);
		for (size_t i = 0; i < in.count; i++)
			take(st, &got[i], dev, out, err);
		assert_true(t_now_ns() < deadline);
	}
	/* Nothing may follow the end of a stream. */
	trindle_message_t m;
	assert_int_equal(t_recv(out, &m, 0), 0);
}

static void stream_init(struct stream *st)
{
	memset(st, 0, sizeof *st);
	st->all_writable = 1;
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
	for (int i = 0; i < 16; i++) {
		unsigned char *old = trindle_allocate(1,
				&(trindle_buffer_t){ chunk, NULL });
		assert_non_null(old);
		memset(old, 0xAA, span); /* the whole pages: all writable */
		rel[i] = (trindle_message_t){ NULL, old };
	}
	trindle_mailbox_t ro = { 16, rel };
	assert_int_equal(trindle_sync(&ro, NULL), 0);
	assert_int_equal(ro.count, 0);

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
		trindle_message_t back[2] = { { s.dev, c }, { NULL, c } };
		trindle_mailbox_t bo = { 2, back };
		assert_int_equal(trindle_sync(&bo, NULL), 0);
		if (bo.count)
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
		trindle_message_t req[2] = { { out, NULL }, { err, NULL } }, got[4];
		trindle_mailbox_t o = { 2, req }, in = { 4, got };
		assert_int_equal(trindle_sync_timeout(&o, &in, 100000000), 0);
		for (size_t i = 0; i < in.count; i++) {
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

/* The next object through pipe, skipping notices, within WAIT_NS.
 * Returns 1 and fills *m, or 0. */
static int recv_object(trindle_pipe_t pipe, trindle_message_t *m)
{
	int64_t deadline = t_now_ns() + WAIT_NS;
	do {
		if (t_recv(pipe, m, 100000000) && m->address == pipe && m->content)
			return 1;
	} while (t_now_ns() < deadline);
	m->content = NULL;
	return 0;
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
			trindle_message_t req = { out, NULL };
			trindle_mailbox_t o = { 1, &req }, in = { 1, &m };
			if (trindle_sync(&o, &in) != 0 || in.count == 0)
				return 2;
			if (m.address == out)
				t_release(m.content);
		}
		t_release(out);
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

static int use_uring(void **state)
{
	(void)state;
	return unsetenv("TRINDLE_IO_URING");
}

static int use_fallback(void **state)
{
	(void)state;
	return setenv("TRINDLE_IO_URING", "0", 1);
}

#define BOTH(fn) \
	cmocka_unit_test_setup(fn, use_uring), \
	cmocka_unit_test_setup(fn, use_fallback)

int main(int argc, char **argv)
{
	(void)argc;
	g_real_sync_timeout = (sync_timeout_fn)dlsym(RTLD_NEXT,
						     "trindle_sync_timeout");
	if (!g_real_sync_timeout)
		return 1;
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
		cmocka_unit_test_prestate(test_fallback_says_so_once, argv),
	};
	return cmocka_run_group_tests_name("io", tests, NULL, NULL);
}
