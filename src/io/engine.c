/* SPDX-License-Identifier: MIT */
/*
 * engine.c - the devices' I/O engine: io_uring with several operations in
 * flight, or plain pread()/pwrite() on the device's thread when io_uring is
 * refused (sysctl, seccomp, an old kernel, a build without liburing) or
 * TRINDLE_IO_URING=0 asks for the fallback.
 */
#include "device.h"

#include <errno.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

/* The longest single operation: read() and write() stop short of 2 GiB on
 * Linux anyway, and an io_uring SQE holds a 32-bit length. */
#define MAX_OP (1u << 30)

/* Say once per program that the devices run without io_uring. */
static void say_fallback(const char *why)
{
	static atomic_flag said = ATOMIC_FLAG_INIT;

	if (!atomic_flag_test_and_set(&said))
		fprintf(stderr, "trindle: %s; the file devices use pread/pwrite\n",
			why);
}

static bool uring_forced_off(void)
{
	const char *v = getenv("TRINDLE_IO_URING");

	return v && strcmp(v, "0") == 0;
}

#ifdef TRINDLE_HAVE_LIBURING
/* Returns 0, or the negative errno io_uring_queue_init() gave.
 *
 * A program that closed its standard streams leaves 0, 1 or 2 free, and
 * the ring would take one: the program's next "standard" descriptor, or
 * a sink started on "-", would then be the ring (writing to it hung the
 * device).  So a ring that lands there is kept aside while another is
 * made, which cannot land there once the low numbers are taken, and the
 * ones kept aside are then closed. */
static int uring_init(struct io_engine *e)
{
	struct io_uring low[STDERR_FILENO + 1];
	unsigned nlow = 0;
	int rc;

	while ((rc = io_uring_queue_init(e->depth, &e->ring, 0)) == 0 &&
	       e->ring.ring_fd <= STDERR_FILENO && nlow <= STDERR_FILENO)
		low[nlow++] = e->ring;
	while (nlow)
		io_uring_queue_exit(&low[--nlow]);
	if (rc < 0)
		return rc;
	e->uring = true;
	e->unsubmitted = 0;
	return 0;
}
#endif

/* Chooses the engine: io_uring (e->uring set) unless it is forced off or
 * refused, else the fallback. */
static void choose_engine(struct io_engine *e)
{
	if (uring_forced_off()) {
		say_fallback("TRINDLE_IO_URING=0");
		return;
	}
#ifdef TRINDLE_HAVE_LIBURING
	int rc = uring_init(e);
	if (rc == 0)
		return;
	char why[96];
	snprintf(why, sizeof why, "io_uring unavailable (%s)", strerror(-rc));
	say_fallback(why);
#endif
	/* A build without liburing was chosen at configure time: no notice. */
	(void)e;
}

int trindle__io_engine_init(struct io_engine *e, int fd,
		unsigned depth)
{
	memset(e, 0, sizeof *e);
	e->fd = fd;
	e->depth = depth ? depth : 1;
	/* Both engines keep this FIFO (see device.h).  Made first, so that
	 * running out of memory leaves no ring behind. */
	e->fifo = calloc(e->depth, sizeof *e->fifo);
	if (!e->fifo)
		return -ENOMEM;
	choose_engine(e);
	return 0;
}

#ifdef TRINDLE_HAVE_LIBURING
/*
 * A read of data the page cache already holds gains nothing from io_uring
 * (it was slower than read() when measured), so it is done at once
 * with preadv2(RWF_NOWAIT), which refuses instead of blocking; only
 * reads that would wait for the disk go to the ring.  Returns true if op
 * is done (it is then reaped before the ring's completions).
 *
 * A cached read may stop short, at a page that starts the kernel's next
 * readahead, say: what it read counts, as after any short read, and the
 * caller asks for the rest.  Sending the whole read to the ring instead
 * would make it read again what is already there, and io_uring runs a
 * read it can do without blocking inside the submit call, so the device
 * would stall there until the whole window was read, before the first
 * chunk could leave.
 *
 * Such a mark also makes a read that starts on it refuse outright.  Right
 * after the cache served a read, that is what a refusal most likely
 * means, and the read is done at once without RWF_NOWAIT (the pages are
 * there; it only starts the next readahead).  Had the data left the cache,
 * that one read waits for the disk, and the next refusal goes to the ring:
 * only a read the cache served lets the one after it block.
 */
static bool read_cached(struct io_engine *e, struct io_op *op)
{
	if (op->write || op->offset < 0 || op->len > MAX_OP)
		return false;
	struct iovec iov = { op->buf, op->len };
	ssize_t n = preadv2(e->fd, &iov, 1, (off_t)op->offset, RWF_NOWAIT);
	if (n < 0 && errno == EAGAIN && e->cached) {
		n = preadv2(e->fd, &iov, 1, (off_t)op->offset, 0);
		e->cached = false;
	} else {
		e->cached = n > 0;
	}
	if (n <= 0)
		return false; /* nothing cached, or the end: the ring decides */
	op->res = n;
	e->fifo[(e->head + e->ndone) % e->depth] = op;
	e->ndone++;
	e->queued++;
	return true;
}
#endif

void trindle__io_engine_submit(struct io_engine *e,
		struct io_op *op)
{
	op->res = 0;
#ifdef TRINDLE_HAVE_LIBURING
	if (e->uring) {
		if (read_cached(e, op))
			return;
		/* The ring has depth entries and never more than depth ops are
		 * queued, so an SQE is always free. */
		struct io_uring_sqe *sqe = io_uring_get_sqe(&e->ring);
		/* An SQE length is 32 bits: a longer op completes short and
		 * the caller submits the rest, as after any short read. */
		unsigned len = op->len > MAX_OP ? MAX_OP : (unsigned)op->len;
		/* offset -1 means "at the file position" to io_uring as well. */
		if (op->write)
			io_uring_prep_write(sqe, e->fd, op->buf, len,
					    (__u64)op->offset);
		else
			io_uring_prep_read(sqe, e->fd, op->buf, len,
					   (__u64)op->offset);
		io_uring_sqe_set_data(sqe, op);
		e->unsubmitted++;
		e->queued++;
		return;
	}
#endif
	e->fifo[(e->head + e->queued) % e->depth] = op;
	e->queued++;
}

/* One system call of the fallback; returns bytes or -errno. */
static ssize_t run_plain(int fd, struct io_op *op)
{
	ssize_t n;

	do {
		if (op->offset < 0)
			n = op->write ? write(fd, op->buf, op->len)
				      : read(fd, op->buf, op->len);
		else if (op->write)
			n = pwrite(fd, op->buf, op->len, (off_t)op->offset);
		else
			n = pread(fd, op->buf, op->len, (off_t)op->offset);
	} while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : n;
}

#ifdef TRINDLE_HAVE_LIBURING
/* Returns 0, or -errno when the kernel took none of the queued SQEs. */
static int uring_submit(struct io_engine *e)
{
	while (e->unsubmitted) {
		int rc = io_uring_submit(&e->ring);
		if (rc == -EINTR || rc == -EAGAIN)
			continue;
		if (rc < 0)
			return rc;
		e->unsubmitted -= (unsigned)rc < e->unsubmitted
				  ? (unsigned)rc : e->unsubmitted;
		if (rc == 0)
			break;
	}
	return 0;
}

static struct io_op *take_done(struct io_engine *e)
{
	struct io_op *done = e->fifo[e->head];

	e->head = (e->head + 1) % e->depth;
	e->ndone--;
	e->queued--;
	return done;
}

static struct io_op *uring_reap(struct io_engine *e, bool wait)
{
	struct io_uring_cqe *cqe = NULL;
	int rc;

	if (e->ndone)
		return take_done(e);
	if (uring_submit(e) < 0)
		return NULL; /* nothing could be waited for */
	do
		rc = wait ? io_uring_wait_cqe(&e->ring, &cqe)
			  : io_uring_peek_cqe(&e->ring, &cqe);
	while (rc == -EINTR);
	if (rc < 0 || !cqe)
		return NULL;
	struct io_op *op = io_uring_cqe_get_data(cqe);
	op->res = cqe->res;
	io_uring_cqe_seen(&e->ring, cqe);
	e->queued--;
	return op;
}
#endif

void trindle__io_engine_kick(struct io_engine *e)
{
#ifdef TRINDLE_HAVE_LIBURING
	if (e->uring)
		uring_submit(e); /* a failure shows again at the next reap */
#else
	(void)e;
#endif
}

struct io_op *trindle__io_engine_reap(struct io_engine *e, bool wait)
{
	if (e->queued == 0)
		return NULL;
#ifdef TRINDLE_HAVE_LIBURING
	if (e->uring)
		return uring_reap(e, wait);
#endif
	/* The fallback has no background: reaping is doing, in order. */
	(void)wait;
	struct io_op *op = e->fifo[e->head];
	e->head = (e->head + 1) % e->depth;
	e->queued--;
	op->res = run_plain(e->fd, op);
	return op;
}

void trindle__io_engine_fini(struct io_engine *e)
{
#ifdef TRINDLE_HAVE_LIBURING
	if (e->uring) {
		while (e->queued && uring_reap(e, true))
			;
		io_uring_queue_exit(&e->ring);
		e->uring = false;
	}
#endif
	free(e->fifo);
	e->fifo = NULL;
	e->queued = 0;
}

void trindle__io_wait_ready(int fd, bool write)
{
	struct pollfd p = { .fd = fd, .events = write ? POLLOUT : POLLIN };

	while (poll(&p, 1, -1) < 0 && errno == EINTR)
		;
}
