/* SPDX-License-Identifier: MIT */
/*
 * io_helpers.c - fixtures shared by test_source.c and test_sink.c: test
 * files and text, collecting what a device delivered, and the two I/O
 * modes every device test runs in (see io_helpers.h).
 */
#include "io_helpers.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- files and data ---- */

/* write_file()'s answer: one path at a time. */
static char g_path[64];

static unsigned long long g_rng = 88172645463325252ULL;

unsigned rnd(unsigned n)
{
	g_rng ^= g_rng << 13;
	g_rng ^= g_rng >> 7;
	g_rng ^= g_rng << 17;
	return (unsigned)(g_rng % n);
}

/* Text with empty lines, lines longer than long_len, bytes above 0x7f, and
 * no newline at the end. */
unsigned char *make_text(size_t len, size_t long_len)
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

const char *write_file(const void *data, size_t len)
{
	strcpy(g_path, "/tmp/trindle-test-io-XXXXXX");
	int fd = mkstemp(g_path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
	return g_path;
}

void *read_file(const char *path, size_t *len)
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

void take_report(struct stream *st, trindle_segment_t seg)
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

void take_chunk(struct stream *st, trindle_segment_t seg)
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

void take(struct stream *st, const trindle_message_t *m,
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

void stream_init(struct stream *st)
{
	memset(st, 0, sizeof *st);
	st->all_writable = 1;
}


/* ---- receiving ---- */

/* The next object through pipe, skipping notices, within WAIT_NS.
 * Returns 1 and fills *m, or 0. */
int recv_object(trindle_pipe_t pipe, trindle_message_t *m)
{
	int64_t deadline = t_now_ns() + WAIT_NS;
	do {
		if (t_recv(pipe, m, 100000000) && m->address == pipe && m->content)
			return 1;
	} while (t_now_ns() < deadline);
	m->content = NULL;
	return 0;
}

size_t receive_both(trindle_pipe_t out, trindle_pipe_t err,
		    trindle_message_t *got, size_t cap)
{
	trindle_message_t req[2];
	trindle_util_batch_t b;
	trindle_mailbox_t in = { cap, got };
	trindle_util_batch_init(&b, req, 2);
	assert_int_equal(trindle_util_add_receive(&b, out), 0);
	assert_int_equal(trindle_util_add_receive(&b, err), 0);
	assert_int_not_equal(trindle_util_flush_timeout(&b, &in, 100000000), -1);
	return in.count;
}

/* ---- the two I/O modes ---- */

int use_uring(void **state)
{
	(void)state;
	return unsetenv("TRINDLE_IO_URING");
}

int use_fallback(void **state)
{
	(void)state;
	return setenv("TRINDLE_IO_URING", "0", 1);
}
