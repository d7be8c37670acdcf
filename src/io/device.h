/* SPDX-License-Identifier: MIT */
/*
 * device.h - what the file source and sink share: the I/O engine (io_uring,
 * or pread/pwrite when io_uring is refused), the parameter segment a device
 * gets on its input pipe, opening and closing its file, and the error
 * report it ends with.
 *
 * Everything here runs on the device's own thread unless said otherwise.
 * Internal functions return 0 or a negative errno and leave errno alone.
 */
#ifndef TRINDLE_IO_DEVICE_H
#define TRINDLE_IO_DEVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <trindle.h>
#include <trindle/io.h>
#include <trindle/util.h>

#ifdef TRINDLE_HAVE_LIBURING
#include <liburing.h>
#endif

/* One read or write.  The engine fills res when it completes. */
struct io_op {
	void *buf;
	size_t len;
	int64_t offset; /* -1: at the file position (pipes, terminals) */
	bool write;     /* false: read into buf; true: write from buf */
	ssize_t res;    /* bytes moved, or -errno */
};

/*
 * Runs up to depth operations at a time on one file descriptor.  With
 * io_uring they run in the kernel concurrently and complete in any order;
 * the fallback runs each one, in submission order, when it is reaped.
 */
struct io_engine {
	int fd;
	unsigned depth;
	unsigned queued;   /* submitted and not reaped yet */
	bool uring;        /* the io_uring ring is in use */
#ifdef TRINDLE_HAVE_LIBURING
	struct io_uring ring;
	unsigned unsubmitted; /* prepared SQEs the kernel has not seen yet */
#endif
	/* Fallback: pending ops, oldest first.  io_uring: reads that were
	 * done at once from the page cache (ndone of them), to reap first. */
	struct io_op **fifo;
	unsigned head;
	unsigned ndone;
	bool cached;       /* the page cache served the last read */
};

/* Picks io_uring or the fallback (see TRINDLE_IO_URING in trindle/io.h) and
 * says so once on stderr when it falls back.  Returns 0 or -ENOMEM. */
int trindle__io_engine_init(struct io_engine *e, int fd,
		unsigned depth);

/* Queues op; the caller keeps at most depth operations queued. */
void trindle__io_engine_submit(struct io_engine *e,
		struct io_op *op);

/* Hands queued operations to the kernel now, so they run while the device
 * does something else (the fallback has nothing to hand over). */
void trindle__io_engine_kick(struct io_engine *e);

/* Returns an operation that completed (res filled in), or NULL when none
 * is queued, or when wait is false and none has completed yet.  Blocks
 * only when wait is true. */
struct io_op *trindle__io_engine_reap(struct io_engine *e,
		bool wait);

/* Waits for every queued operation (so no kernel write lands in memory
 * the device is about to release), then frees the engine. */
void trindle__io_engine_fini(struct io_engine *e);

/* Waits until fd is ready for the direction of op (after -EAGAIN on a
 * descriptor somebody left non-blocking). */
void trindle__io_wait_ready(int fd, bool write);

/* Which device a parameter segment or a report is for. */
enum io_kind { IO_SOURCE = 1, IO_SINK = 2 };

/*
 * The parameters travel to the device as the first segment on its input
 * pipe (a worker's entrypoint gets nothing else).  out and err are the
 * pipes given to trindle_launch(): the device already holds SEND on them.
 */
struct io_params {
	uint32_t magic;
	uint32_t kind;
	trindle_pipe_t out;
	trindle_pipe_t err;
	size_t chunk;      /* source: bytes per chunk */
	unsigned depth;    /* operations in flight */
	unsigned flags;    /* TRINDLE_SOURCE_* or TRINDLE_SINK_* */
	unsigned mode;     /* sink: creation mode */
	int std_fd;        /* path "": the caller's copy of fd 0 (source) or
	                    * 1 (sink), made at the call; the device owns it */
	trindle_pipe_t give_back; /* sink: where written segments go, or NULL;
	                           * SEND on it comes in the next message */
	char path[];       /* NUL-terminated; "" for standard input/output */
};

/* Launches entry with an input pipe of queue_count items and moves it a
 * parameter segment built from *p and path (NULL or "-": standard input
 * or output, which is duplicated here, on the caller's thread, so that
 * the device writes where fd 0 or 1 pointed at the call; EBADF if it is
 * closed).  Called by the public entry points, on the caller's thread.
 * Returns the pipe, or NULL with errno. */
trindle_pipe_t trindle__io_start(trindle_entrypoint_t entry,
		size_t queue_count, const struct io_params *p,
		const char *path);

/* Receives the parameter segment on the device's input pipe (blocking).
 * Returns it (the device holds it), or NULL when none came. */
const struct io_params *trindle__io_params_take(
		trindle_pipe_t input, uint32_t kind);

/*
 * What each device keeps about its file: the descriptor, the engine on it,
 * and what failed, for the report the device ends with.
 */
struct io_file {
	const char *path;  /* for reports: "-" is standard input or output */
	int fd;
	bool own_fd;       /* fd is the device's own, closed at the end */
	bool standard;     /* fd is a copy of standard input or output */
	struct io_engine eng;
	bool eng_ready;
	const char *op;    /* the operation that failed ("open", "read"...) */
	uint64_t err_off;  /* and the file offset it failed at */
};

/* Notes that op failed at off with error (0 counts as EIO) and returns
 * -error, for the device to pass up to its main function. */
int trindle__io_fail(struct io_file *f, const char *op, uint64_t off,
		int error);

/* Opens p->path with flags (and p->mode, or 0666, when they create it), or
 * takes the copy of standard input (source) or output (sink) made at the
 * call when the path is "", and fstat()s the file into *st.  The file
 * never stays on descriptor 0, 1 or 2, which a program that closed its
 * standard streams would reuse for them.
 * Returns 0 or trindle__io_fail()'s value. */
int trindle__io_open(struct io_file *f,
		const struct io_params *p, int flags, struct stat *st);

/* Starts f's engine with depth operations in flight.  Returns 0 or
 * trindle__io_fail()'s value. */
int trindle__io_engine_start(struct io_file *f, unsigned depth);

/* Waits for the engine's operations and frees it, then closes the file if
 * the device opened it.  A device's teardown calls it first, so no read
 * or write lands in a segment the device is about to release. */
void trindle__io_close(struct io_file *f);

/* Ends the device: with rc < 0, by trindle_abort() with a report of what f
 * says failed; otherwise by trindle_exit(last) (the device's final object,
 * or NULL).  Releases the parameter segment p, which f's path points into,
 * on the way. */
TRINDLE_NORETURN void trindle__io_end(const struct io_params *p,
		const struct io_file *f, int rc, trindle_segment_t last);

#endif /* TRINDLE_IO_DEVICE_H */
