/* SPDX-License-Identifier: MIT */
/*
 * device.c - plumbing both devices share: starting a device and handing it
 * its parameters, opening and closing its file, and ending it with its
 * result or an error report.
 */
#include "device.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define PARAMS_MAGIC 0x50494f54u /* "TOIP" */

/* Moves a descriptor the device made off 0, 1 and 2 (which a program
 * that closed its standard streams will reuse for them): returns the
 * descriptor to use, fd itself or a close-on-exec copy at 3 or above, or
 * -errno (fd is closed then).  Any thread. */
static int keep_off_std(int fd)
{
	if (fd > STDERR_FILENO)
		return fd;
	int moved = fcntl(fd, F_DUPFD_CLOEXEC, STDERR_FILENO + 1);
	int error = moved < 0 ? errno : 0;
	close(fd);
	return moved < 0 ? -error : moved;
}

/* Closes fd (when >= 0) and lets go of seg, leaving errno as it was. */
static void undo_start(int fd, trindle_segment_t seg)
{
	int saved = errno;
	if (fd >= 0)
		close(fd);
	trindle_util_release(seg);
	errno = saved;
}

/*
 * Standard input or output is whatever fd 0 or 1 is at the call: it is
 * duplicated now, on the caller's thread, and the device works on that
 * copy.  Taking the number later, on the device's thread, would find
 * whatever got it meanwhile if the program closed it (a file the program
 * opened, or another device's file or io_uring ring), and the device would
 * write there.  A closed descriptor fails the call with EBADF.
 */
static int copy_standard_fd(enum io_kind kind)
{
	int fd = kind == IO_SOURCE ? STDIN_FILENO : STDOUT_FILENO;
	return fcntl(fd, F_DUPFD_CLOEXEC, STDERR_FILENO + 1);
}

trindle_pipe_t trindle__io_start(trindle_entrypoint_t entry,
		size_t queue_count, const struct io_params *p,
		const char *path)
{
	struct io_params head = *p;
	head.magic = PARAMS_MAGIC;
	head.std_fd = -1;
	if (!path || strcmp(path, "-") == 0) {
		path = ""; /* standard input or output */
		head.std_fd = copy_standard_fd(p->kind);
		if (head.std_fd < 0)
			return NULL; /* errno: EBADF, or EMFILE */
	}
	trindle_buffer_t b[2] = { { sizeof head, &head },
				  { strlen(path) + 1, path } };
	trindle_segment_t seg = trindle_allocate(2, b);
	if (!seg) {
		undo_start(head.std_fd, NULL);
		return NULL;
	}
	trindle_pipe_t input = trindle_launch(entry, queue_count, p->out,
					      p->err);
	if (!input) {
		undo_start(head.std_fd, seg);
		return NULL;
	}
	/* Named after its file (the end of its path, which says most), so
	 * traces, graphs and stall reports tell the devices apart; the
	 * program may rename it. */
	char name[TRINDLE_NAME_MAX];
	const char *base = strrchr(path, '/');
	base = base ? base + 1 : path;
	size_t len = strlen(base), room = sizeof(name) - 8;
	snprintf(name, sizeof(name), "%s %s", p->kind == IO_SOURCE ?
		 "source" : "sink", !*base ? (p->kind == IO_SOURCE ? "stdin" :
		 "stdout") : len > room ? base + len - room : base);
	(void)trindle_name(input, name);
	/* The input pipe is new and empty, so the sends cannot find it full;
	 * they fail only if the device died already, and then it is gone.
	 * A give-back pipe follows the parameters: sending a pipe gives SEND. */
	trindle_message_t m[3];
	trindle_util_batch_t start;
	trindle_util_batch_init(&start, m, 3);
	trindle_util_add_move(&start, input, seg);
	if (p->give_back)
		trindle_util_add_send(&start, input, p->give_back);
	if (trindle_util_flush(&start, NULL) != 0) {
		/* Failed messages come first: if the parameters did not go,
		 * the descriptor is still ours to close. */
		undo_start(m[0].content == seg ? head.std_fd : -1, seg);
		trindle_util_release(input);
		errno = EAGAIN;
		return NULL;
	}
	return input;
}

const struct io_params *trindle__io_params_take(
		trindle_pipe_t input, uint32_t kind)
{
	trindle_message_t msg;
	for (;;) {
		if (trindle_util_receive(input, &msg, -1) != 1)
			return NULL; /* the launcher let go before sending */
		if (trindle_util_kind(&msg) != TRINDLE_UTIL_MESSAGE)
			continue; /* a notice; the parameters come first */
		const struct io_params *p = msg.content;
		size_t size = trindle_measure(msg.content);
		if (size > sizeof *p && p->magic == PARAMS_MAGIC &&
		    p->kind == kind && ((const char *)p)[size - 1] == '\0')
			return p;
		trindle_util_release(msg.content);
		return NULL;
	}
}

static const char *device_name(enum io_kind kind)
{
	return kind == IO_SOURCE ? "file source" : "file sink";
}

/* A report segment for the err pipe (see trindle_io_report_t), or NULL
 * when memory runs out. */
static trindle_segment_t make_report(enum io_kind kind,
		const char *operation, const char *path, int error,
		uint64_t offset)
{
	char msg[512], ebuf[128];
	const char *what = strerror_r(error, ebuf, sizeof ebuf);
	const char *shown = strcmp(path, "-") ? path
			    : kind == IO_SOURCE ? "standard input"
							 : "standard output";
	int n;

	if (offset)
		n = snprintf(msg, sizeof msg,
			     "trindle: %s: %s %s at offset %llu: %s (errno %d)",
			     device_name(kind), operation, shown,
			     (unsigned long long)offset, what, error);
	else
		n = snprintf(msg, sizeof msg, "trindle: %s: %s %s: %s (errno %d)",
			     device_name(kind), operation, shown, what, error);
	size_t mlen = n < 0 ? 0 : (size_t)n >= sizeof msg ? sizeof msg - 1
							   : (size_t)n;
	trindle_io_report_t head = {
		.magic = TRINDLE_IO_REPORT_MAGIC,
		.error = error,
		.offset = offset,
		.path_offset = (uint32_t)(sizeof head + mlen + 1),
	};
	snprintf(head.operation, sizeof head.operation, "%s", operation);
	trindle_buffer_t b[4] = {
		{ sizeof head, &head }, { mlen, msg }, { 1, NULL },
		{ strlen(path) + 1, path },
	};
	return trindle_allocate(4, b);
}

int trindle__io_fail(struct io_file *f, const char *op, uint64_t off,
		int error)
{
	f->op = op;
	f->err_off = off;
	return -(error ? error : EIO);
}

int trindle__io_open(struct io_file *f,
		const struct io_params *p, int flags, struct stat *st)
{
	f->path = p->path[0] ? p->path : "-";
	if (p->path[0]) {
		int fd = open(p->path, flags | O_CLOEXEC, p->mode ? p->mode : 0666);
		if (fd < 0)
			return trindle__io_fail(f, "open", 0, errno);
		fd = keep_off_std(fd);
		if (fd < 0)
			return trindle__io_fail(f, "open", 0, -fd);
		f->fd = fd;
	} else {
		f->fd = p->std_fd; /* the copy made at the call */
		f->standard = true;
	}
	f->own_fd = true;
	if (fstat(f->fd, st) < 0)
		return trindle__io_fail(f, "fstat", 0, errno);
	return 0;
}

int trindle__io_engine_start(struct io_file *f, unsigned depth)
{
	int rc = trindle__io_engine_init(&f->eng, f->fd, depth);
	if (rc < 0)
		return trindle__io_fail(f, "allocate", 0, -rc);
	f->eng_ready = true;
	return 0;
}

void trindle__io_close(struct io_file *f)
{
	if (f->eng_ready)
		trindle__io_engine_fini(&f->eng);
	f->eng_ready = false;
	if (f->own_fd)
		close(f->fd);
	f->own_fd = false;
}

void trindle__io_end(const struct io_params *p,
		const struct io_file *f, int rc, trindle_segment_t last)
{
	trindle_segment_t report = NULL;
	if (rc < 0)
		report = make_report(p->kind, f->op, f->path, -rc,
					    f->err_off);
	trindle_util_release((trindle_segment_t)p);
	if (rc < 0)
		trindle_abort(report);
	trindle_exit(last);
}
