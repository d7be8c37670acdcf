/* SPDX-License-Identifier: MIT */
/*
 * sink.c - the file sink device.
 *
 * Segments arriving on the input pipe are written in arrival order.  On a
 * regular file each one is given its offset when it arrives, so up to depth
 * writes can be in flight and complete in any order; a pipe, a terminal or
 * an O_APPEND file has no offsets to give, so its writes go one at a time.
 * The sink only ever reads the segments, and releases each one when its
 * write is done.
 */
#include "device.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* One write in flight; op comes first, so a completed op is its slot. */
struct slot {
	struct io_op op;
	const unsigned char *seg;
	size_t len, done;
	uint64_t off;  /* file offset of seg[0]; unused for streams */
	bool busy;
};

struct sink {
	trindle_pipe_t input;
	trindle_pipe_t give_back; /* where written segments go, or NULL */
	bool have_give_back;      /* SEND on it has come */
	struct io_file file;
	bool seekable;     /* a regular file written at offsets */
	bool regular;      /* fsync() applies */
	bool nosync;
	unsigned depth, inflight;
	struct slot *slots;
	uint64_t pos;      /* offset of the next segment (regular files) */
	uint64_t written;
	bool ended;        /* the end marker came */
};

/* Queues the rest of w's write (all of it, or what a short write left). */
static void submit_write(struct sink *s, struct slot *w)
{
	w->op = (struct io_op){
		.buf = (void *)(w->seg + w->done),
		.len = w->len - w->done,
		.offset = s->seekable ? (int64_t)(w->off + w->done) : -1,
		.write = true,
	};
	trindle__io_engine_submit(&s->file.eng, &w->op);
}

static void start_write(struct sink *s, const unsigned char *seg, size_t len)
{
	struct slot *w = s->slots;
	while (w->busy)
		w++; /* inflight < depth, so a slot is free */
	*w = (struct slot){ .seg = seg, .len = len, .off = s->pos, .busy = true };
	s->pos += len;
	s->inflight++;
	submit_write(s, w);
}

/* The same segment may be sent twice and be in flight twice while the
 * sink holds it once: only the last write to finish releases it. */
static bool still_in_flight(const struct sink *s, const unsigned char *seg)
{
	for (unsigned i = 0; i < s->depth; i++)
		if (s->slots[i].busy && s->slots[i].seg == seg)
			return true;
	return false;
}

/* A written segment goes back to the producer if it is ours alone and
 * there is a give-back pipe with room; otherwise it is released. */
static void give_back_or_release(struct sink *s, trindle_segment_t seg)
{
	if (s->have_give_back &&
	    trindle_access(seg) == (TRINDLE_ACCESS_READ | TRINDLE_ACCESS_WRITE))
		trindle_util_move_or_release(s->give_back, seg);
	else
		trindle_util_release(seg);
}

static int write_done(struct sink *s, struct io_op *op)
{
	struct slot *w = (struct slot *)op;

	if (op->res == -EINTR) {
		submit_write(s, w);
		return 0;
	}
	if (op->res == -EAGAIN) { /* someone left the fd non-blocking */
		trindle__io_wait_ready(s->file.fd, true);
		submit_write(s, w);
		return 0;
	}
	if (op->res < 0)
		return trindle__io_fail(&s->file, "write", w->off + w->done, (int)-op->res);
	if (op->res == 0) /* no progress is possible: call it what write() would */
		return trindle__io_fail(&s->file, "write", w->off + w->done, ENOSPC);
	w->done += (size_t)op->res;
	s->written += (uint64_t)op->res;
	if (w->done < w->len) {
		submit_write(s, w); /* a short write: send the rest */
		return 0;
	}
	w->busy = false;
	s->inflight--;
	if (!still_in_flight(s, w->seg))
		give_back_or_release(s, (trindle_segment_t)w->seg);
	return 0;
}

/* One message from the input pipe. */
static void take_message(struct sink *s, const trindle_message_t *m)
{
	if (m->address != s->input || !m->content)
		return; /* a notice: a segment we hold anyway, or a dead pipe */
	int rights = trindle_access(m->content);
	if (m->content == s->give_back && !s->have_give_back &&
	    (rights & TRINDLE_ACCESS_SEND)) {
		s->have_give_back = true; /* the pipe after the parameters */
		return;
	}
	if (s->ended || !(rights & TRINDLE_ACCESS_READ)) {
		trindle_util_release(m->content); /* a pipe, or past the end */
		return;
	}
	size_t len = trindle_measure(m->content);
	if (len == 0) {
		s->ended = true;
		trindle_util_release(m->content);
		return;
	}
	start_write(s, m->content, len);
}

/* Takes as many segments as there are free slots.  Waits only when no
 * write is in flight.  Returns how many messages came, -EPIPE when the
 * input lost its last sender before the end marker, or the error of a
 * failed receive (in.count then still holds the capacity, and msgs[] what
 * an earlier call left: nothing in it may be taken). */
static int take_input(struct sink *s)
{
	trindle_message_t req = { s->input, NULL }, msgs[TRINDLE_IO_IN_FLIGHT_MAX];
	trindle_mailbox_t out = { 1, &req };
	trindle_mailbox_t in = { s->depth - s->inflight, msgs };
	bool wait = s->inflight == 0;

	if (trindle_sync_timeout(&out, &in, wait ? -1 : 0) < 0)
		return trindle__io_fail(&s->file, "input", 0, errno);
	for (size_t i = 0; i < in.count; i++)
		take_message(s, &msgs[i]);
	if (wait && in.count == 0)
		return trindle__io_fail(&s->file, "input", 0, EPIPE);
	return (int)in.count;
}

static int write_input(struct sink *s)
{
	while (!s->ended || s->inflight) {
		if (!s->ended && s->inflight < s->depth) {
			int rc = take_input(s);
			if (rc < 0)
				return rc;
			if (rc > 0)
				continue;
		}
		if (s->inflight == 0)
			continue;
		struct io_op *op = trindle__io_engine_reap(&s->file.eng, true);
		int rc = op ? write_done(s, op)
			    : trindle__io_fail(&s->file, "write", s->pos, EIO);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* fsync() for files, and standard output left after what was written. */
static int sync_output(struct sink *s)
{
	if (s->regular && !s->nosync && fsync(s->file.fd) < 0)
		return trindle__io_fail(&s->file, "fsync", 0, errno);
	if (s->seekable && s->file.standard)
		lseek(s->file.fd, (off_t)s->pos, SEEK_SET);
	return 0;
}

static int open_output(struct sink *s, const struct io_params *p)
{
	struct stat st;
	int flags = O_WRONLY | O_CREAT |
		    (p->flags & TRINDLE_SINK_APPEND ? O_APPEND : O_TRUNC);
	int rc = trindle__io_open(&s->file, p, flags, &st);
	if (rc < 0)
		return rc;
	int fd = s->file.fd, fl = fcntl(fd, F_GETFL);
	s->regular = S_ISREG(st.st_mode);
	off_t pos = !s->file.standard ? 0
		    : s->regular ? lseek(fd, 0, SEEK_CUR) : -1;
	/* O_APPEND ignores pwrite()'s offset, so appends go in turn. */
	s->seekable = s->regular && pos >= 0 && fl >= 0 && !(fl & O_APPEND);
	s->pos = s->seekable ? (uint64_t)pos : 0;
	return 0;
}

static int start_sink(struct sink *s, const struct io_params *p)
{
	s->nosync = (p->flags & TRINDLE_SINK_NO_FSYNC) != 0;
	s->give_back = p->give_back;
	int rc = open_output(s, p);
	if (rc < 0)
		return rc;
	s->depth = s->seekable ? p->depth : 1;
	s->slots = calloc(s->depth, sizeof *s->slots);
	if (!s->slots)
		return trindle__io_fail(&s->file, "allocate", 0, ENOMEM);
	return trindle__io_engine_start(&s->file, s->depth);
}

static void stop_sink(struct sink *s)
{
	/* Writes still in flight must finish before their segments go. */
	trindle__io_close(&s->file);
	for (unsigned i = 0; s->slots && i < s->depth; i++)
		if (s->slots[i].busy) {
			s->slots[i].busy = false;
			if (!still_in_flight(s, s->slots[i].seg))
				trindle_util_release((trindle_segment_t)s->slots[i].seg);
		}
	free(s->slots);
}

static void sink_main(trindle_pipe_t input)
{
	const struct io_params *p =
		trindle__io_params_take(input, IO_SINK);
	if (!p)
		return;

	struct sink s = { .input = input, .file.fd = -1 };
	trindle_segment_t result = NULL;
	int rc = start_sink(&s, p);
	if (rc == 0)
		rc = write_input(&s);
	if (rc == 0)
		rc = sync_output(&s);
	if (rc == 0) {
		uint64_t bytes = s.written;
		result = trindle_util_allocate(sizeof bytes, &bytes);
		if (!result)
			rc = trindle__io_fail(&s.file, "allocate", 0, errno);
	}
	stop_sink(&s);
	trindle__io_end(p, &s.file, rc, result);
}

TRINDLE_PUBLIC trindle_pipe_t trindle_file_sink(const char *path,
		const struct trindle_sink_options *opt,
		trindle_pipe_t out, trindle_pipe_t err)
{
	struct trindle_sink_options o = { 0 };
	if (opt)
		o = *opt;
	if (!o.queue_items)
		o.queue_items = TRINDLE_SINK_QUEUE_DEFAULT;
	if (!o.in_flight)
		o.in_flight = TRINDLE_IO_IN_FLIGHT_DEFAULT;
	if (o.in_flight > TRINDLE_IO_IN_FLIGHT_MAX || (o.mode & ~07777u) ||
	    (o.flags & ~(TRINDLE_SINK_APPEND | TRINDLE_SINK_NO_FSYNC)) ||
	    (out && !(trindle_access(out) & TRINDLE_ACCESS_SEND)) ||
	    (err && !(trindle_access(err) & TRINDLE_ACCESS_SEND)) ||
	    (o.give_back && !(trindle_access(o.give_back) & TRINDLE_ACCESS_SEND))) {
		errno = EINVAL;
		return NULL;
	}
	/* The input pipe also holds the parameters and the give-back pipe:
	 * a count that would wrap around is a queue no memory can hold. */
	if (o.queue_items > SIZE_MAX - 2) {
		errno = ENOMEM;
		return NULL;
	}
	struct io_params p = {
		.kind = IO_SINK, .out = out, .err = err,
		.depth = o.in_flight, .flags = o.flags, .mode = o.mode,
		.give_back = o.give_back,
	};
	/* Room for the parameters and the give-back pipe, which come first. */
	return trindle__io_start(sink_main, o.queue_items + 2, &p, path);
}
