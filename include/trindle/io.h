/* SPDX-License-Identifier: MIT */
/*
 * trindle/io.h - file devices: a source that streams a file into a pipe and
 * a sink that writes a pipe's segments to a file.
 *
 * A Trindle program never touches a shared resource itself: it talks to a
 * *device*, a worker process started inside the library, by passing
 * messages.  Both devices here are launched like any worker (they follow the
 * trindle_launch() conventions: an input pipe, an out pipe, an err pipe) and
 * do their I/O through io_uring, with several operations in flight.
 *
 * The file source reads a file into freshly allocated segments (the kernel
 * reads straight into segment memory) and moves each chunk, in file order,
 * into the out pipe the caller gives.  The stream ends with a zero-length
 * segment.  The file sink takes segments on its input pipe, writes them in
 * the order they arrive, and on a zero-length segment flushes the file and
 * ends, moving a result (the number of bytes written) to its out pipe.
 *
 * Errors (a missing file, a refused permission, an I/O error) never crash
 * the program: the device moves a trindle_io_report_t to its err pipe and
 * ends.  The source then sends no end marker, so a consumer sees exactly
 * one of: the zero-length end marker on out, or a report on err.
 *
 * Fallback.  Where io_uring cannot be used (disabled by the
 * kernel.io_uring_disabled sysctl or by seccomp, a kernel that is too old,
 * or a library built with -Dio_uring=disabled) the devices do the same work
 * with plain pread()/pwrite() on their own thread.  When the kernel refuses
 * io_uring, or when the environment variable TRINDLE_IO_URING is set to 0,
 * the library says so once per program on stderr, in a line that starts
 * with "trindle: ".  TRINDLE_IO_URING=0 is how to force the fallback
 * (tests use it); any other value, or none, lets the devices use io_uring.
 *
 * Standard input and output.  A device given NULL or "-" works on the
 * descriptor 0 (source) or 1 (sink) as it is at the call: the call makes
 * a close-on-exec copy of it, so what the program does with that number
 * afterwards does not move the device (the file position stays shared).
 * If the descriptor is closed at the call, there is no standard stream
 * and the call fails with EBADF; one that is open but the wrong way round
 * (standard output open for reading) fails the first read or write, with
 * a report.  The devices never leave a descriptor of their own (a file
 * they opened, an io_uring ring) on 0, 1 or 2, so that a program with
 * closed standard streams cannot mistake one for them.  The library
 * cannot tell a file the program itself opened onto 0 or 1 from a
 * redirection: a program that may be started with closed standard
 * streams should open them first thing, on /dev/null, as the example
 * tools do (opened the wrong way round, so that using them fails with
 * EBADF as it would have, like gnulib's stdopen()).
 *
 * Include <trindle/io.h> after (or instead of) <trindle.h>; link as for
 * libtrindle.
 *
 * Appeared in: libtrindle 0.1.
 */
#ifndef TRINDLE_IO_H
#define TRINDLE_IO_H

#include <stddef.h>
#include <stdint.h>
#include <trindle.h>

#ifdef __cplusplus
extern "C" {
#endif

/** trindle_source_options.flags: a chunk never splits a line. */
#define TRINDLE_SOURCE_LINES 1u

/** Defaults and limits of the source options. */
#define TRINDLE_SOURCE_CHUNK_DEFAULT (256u * 1024u)
#define TRINDLE_SOURCE_CHUNK_MAX ((size_t)1 << 30)
#define TRINDLE_IO_IN_FLIGHT_DEFAULT 4u
#define TRINDLE_IO_IN_FLIGHT_MAX 64u
/** How many chunks the source's input pipe can hold when given back. */
#define TRINDLE_SOURCE_RETURNS 64u

/**
 * How the file source cuts the file.  A NULL options pointer, or a zero
 * field, takes the default.
 */
struct trindle_source_options {
	size_t chunk_bytes; /* bytes per chunk; 0: TRINDLE_SOURCE_CHUNK_DEFAULT;
	                     * at most TRINDLE_SOURCE_CHUNK_MAX */
	unsigned in_flight; /* reads in flight; 0: TRINDLE_IO_IN_FLIGHT_DEFAULT;
	                     * at most TRINDLE_IO_IN_FLIGHT_MAX */
	unsigned flags;     /* 0 or TRINDLE_SOURCE_LINES */
};

/** trindle_sink_options.flags: append to the file instead of truncating. */
#define TRINDLE_SINK_APPEND 1u
/** trindle_sink_options.flags: skip the fsync() at the end marker. */
#define TRINDLE_SINK_NO_FSYNC 2u

/** Default capacity of the sink's input pipe. */
#define TRINDLE_SINK_QUEUE_DEFAULT 64u

/**
 * How the file sink writes.  A NULL options pointer, or a zero field, takes
 * the default.
 */
struct trindle_sink_options {
	size_t queue_items; /* capacity of the sink's input pipe;
	                     * 0: TRINDLE_SINK_QUEUE_DEFAULT; too many for a
	                     * pipe: ENOMEM */
	unsigned in_flight; /* writes in flight; 0: TRINDLE_IO_IN_FLIGHT_DEFAULT;
	                     * at most TRINDLE_IO_IN_FLIGHT_MAX */
	unsigned flags;     /* TRINDLE_SINK_APPEND, TRINDLE_SINK_NO_FSYNC */
	unsigned mode;      /* permission bits of a file the sink creates (before
	                     * the umask); 0: 0666 */
	trindle_pipe_t give_back; /* NULL, or a pipe the caller may send on:
	                     * where written segments go back (see below) */
};

/** First field of every trindle_io_report_t. */
#define TRINDLE_IO_REPORT_MAGIC 0x524f4954u /* "TIOR" in memory order */

/**
 * The report a device moves to its err pipe when it fails.
 *
 * It is a segment that starts with this structure.  message is one line of
 * text (no newline), NUL-terminated, fit to print as it is, for example
 *   "trindle: file source: open /data/x: No such file or directory (errno 2)"
 * and the path the device was given (NUL-terminated; "-" for standard input
 * or output) lies at (const char *)report + path_offset.
 *
 * A segment on an err pipe is such a report when trindle_measure() gives at
 * least sizeof(trindle_io_report_t) and magic is TRINDLE_IO_REPORT_MAGIC; a
 * device that broke its own rights (a library bug) would deliver a
 * trindle_fault_t instead.  The receiver holds the report alone and
 * releases it like any segment.
 */
typedef struct trindle_io_report {
	uint32_t magic;       /* TRINDLE_IO_REPORT_MAGIC */
	int32_t error;        /* the errno value of the failure */
	uint64_t offset;      /* file offset of the failed read or write; 0 for
	                       * failures that have none (open, fsync) */
	char operation[16];   /* "open", "read", "write", "fsync", "input" ...,
	                       * NUL-terminated */
	uint32_t path_offset; /* where the path starts, from the first byte */
	uint32_t reserved;    /* 0 */
	char message[];       /* the readable line, NUL-terminated */
} trindle_io_report_t;

/**
 * trindle_file_source - start a device that streams a file into a pipe.
 *
 * The source opens path (NULL or "-": it reads standard input, from its
 * current position) and moves the file's bytes, in order, into out as
 * segments of opt->chunk_bytes bytes (the last one shorter), each held by
 * nobody else (allocated for the purpose, or given back, see below): the
 * receiver has WRITE on it.  After the last chunk it moves a zero-length
 * segment, the end marker, and ends.  An empty file gives the end marker alone.  Regular files are read
 * with opt->in_flight reads in flight at explicit offsets, up to the size
 * they had when the source opened them; pipes and terminals are read in
 * turn, each chunk filled before it is sent.
 *
 * With TRINDLE_SOURCE_LINES every chunk but the last ends with '\n', so no
 * line is ever split between two chunks.  A chunk is then at most
 * chunk_bytes long, unless it holds a line that alone is longer: such a
 * line goes whole into one chunk, however long.  The cut is found with a
 * small read near the boundary, so the bulk of every chunk still goes
 * straight from the kernel into its segment.  On a pipe or terminal a
 * line-aware chunk is copied once.
 *
 * Flow control: the source keeps as many chunks queued in out as out has
 * room for; when out is full it sleeps until the consumer takes a chunk
 * (programs have no such wait: a send to a full pipe fails; the devices
 * use one inside the library), so a slow consumer costs it nothing.  A
 * chunk is delivered as soon as it is read (for small chunks, a few
 * together, up to 256 KiB), so that few chunks are in circulation and the
 * next read lands in memory that is still in the cache.  If out dies (its
 * creator releases it) the source stops quietly.
 *
 * Errors after the call returns (open, read) go to err as a
 * trindle_io_report_t, and the source ends without an end marker.  Chunks
 * moved before the error stay valid.
 *
 * Giving chunks back: a consumer done with a chunk may move it (send and
 * release in one trindle_sync()) to the source's input pipe, the pipe this
 * call returns, which may be passed on to whoever consumes the chunks.  The
 * source then reads a later chunk of the same size into that memory
 * instead of allocating a new segment, which saves the allocation, the
 * page faults of fresh memory and two page-protection changes per chunk.
 * Once chunks come back, a source that finds none at hand while a chunk
 * still waits in out waits briefly for one (about what faulting in a new
 * segment would take) before it makes a new segment.  A chunk given back
 * serves any later chunk that fits the memory it was made in (line-aware
 * chunks all differ a little in size); the part of its last page past the
 * new end reads as zeros.  The pipe holds TRINDLE_SOURCE_RETURNS items:
 * when a move there fails, release the chunk instead.  Anything that is not
 * a segment the source then holds alone is released.
 *
 * The caller holds SEND on the returned pipe, the device's input pipe.  It
 * may release it at once, keep it to give chunks back, or keep it to be
 * told, by the closure notice { address = pipe, content = NULL }, when the
 * device has ended.
 *
 * Returns the device's input pipe, or NULL with errno:
 *  - EINVAL: out is not a pipe the caller may send on, err is neither NULL
 *    nor such a pipe, or an option is out of range (unknown flags,
 *    chunk_bytes or in_flight above its maximum);
 *  - EBADF: path is NULL or "-" and descriptor 0 is closed;
 *  - EMFILE: no descriptor left for the copy of standard input;
 *  - ENOMEM or EAGAIN: no memory or no thread for the device.
 *
 * Thread-safe; never blocks.  Appeared in: libtrindle 0.1.
 */
TRINDLE_PUBLIC trindle_pipe_t trindle_file_source(const char *path,
		const struct trindle_source_options *opt,
		trindle_pipe_t out, trindle_pipe_t err);

/**
 * trindle_file_sink - start a device that writes segments to a file.
 *
 * The sink opens path for writing (NULL or "-": standard output; a file is
 * created with opt->mode if missing, and truncated unless
 * TRINDLE_SINK_APPEND is given).  Anyone holding SEND on the returned pipe
 * may then send it segments, shared (the sender keeps READ) or moved; the
 * sink only reads them, and writes them in the order they arrive, with up
 * to opt->in_flight writes in flight on a regular file and one at a time on
 * a pipe or terminal.  Pipes sent to it are released and ignored.
 *
 * Giving segments back: with opt->give_back set, every segment the sink
 * holds alone once written (it was moved to the sink) is moved on to
 * give_back instead of being released, so that the producer can fill it
 * again rather than allocate a new one (saving the allocation and two
 * page-protection changes).  When give_back is full or dead the segment
 * is released.
 *
 * A zero-length segment is the end marker: the sink finishes the writes,
 * calls fsync() if the target is a regular file (unless
 * TRINDLE_SINK_NO_FSYNC), and ends, moving to out an 8-byte segment holding
 * the number of bytes written, as a uint64_t.  Segments still queued behind
 * the marker are released unwritten.  On standard output the file position
 * is left after the bytes written.
 *
 * Errors go to err as a trindle_io_report_t, with no result on out: a
 * failed open, write or fsync, or operation "input" with EPIPE when every
 * sender let go of the input pipe before sending the end marker (or with
 * the error of a receive on it that failed, ENOMEM).  Segments queued or
 * in flight then are released; none is written twice.
 *
 * The caller holds SEND on the returned pipe (and may pass it on).  When
 * the sink ends, the pipe dies and its holders get the closure notice.
 *
 * Returns the sink's input pipe, or NULL with errno:
 *  - EINVAL: out, err or opt->give_back is neither NULL nor a pipe the
 *    caller may send on, or an option is out of range (unknown flags, in_flight above
 *    TRINDLE_IO_IN_FLIGHT_MAX, mode with bits outside 07777);
 *  - EBADF: path is NULL or "-" and descriptor 1 is closed;
 *  - EMFILE: no descriptor left for the copy of standard output;
 *  - ENOMEM: opt->queue_items is more than a pipe can hold (as for
 *    trindle_pipe(); never rounded down), or no memory;
 *  - EAGAIN: no thread for the device.
 *
 * Thread-safe; never blocks.  Appeared in: libtrindle 0.1.
 */
TRINDLE_PUBLIC trindle_pipe_t trindle_file_sink(const char *path,
		const struct trindle_sink_options *opt,
		trindle_pipe_t out, trindle_pipe_t err);

#ifdef __cplusplus
}
#endif

#endif /* TRINDLE_IO_H */
