/* SPDX-License-Identifier: MIT */
/*
 * trindle/mpi.h - the MPI bridge: pipes that reach other ranks.
 *
 * A libtrindle program runs inside one process.  Started under mpirun, the
 * same program runs as several *ranks*, on one machine or many, and the
 * bridge lets a worker on one rank send to a pipe on another as if the pipe
 * were local:
 *
 *  - trindle_mpi_export() publishes a pipe under a tag on the calling rank;
 *  - trindle_mpi_import() on any rank returns a local pipe, held with SEND,
 *    whose messages arrive, in order per sender, in the exported pipe.
 *
 * The bridge is a device: a worker process started inside the library, the
 * only thread of the program that calls MPI (its *comm thread*).  Workers
 * never wait for it: they send to imported pipes like to any pipe, and a
 * send fails when the imported pipe is full.
 *
 * What crosses.  A segment sent through an imported pipe is copied over MPI
 * and recreated on the receiving rank, where the bridge moves it into the
 * exported pipe: the receiver is its sole holder and may write it.  On the
 * sending rank the bridge releases its copy once the bytes are out, so a
 * move (send and release in one sync) moves the segment across ranks, while
 * a send without release is a copy: the sender keeps its own segment (and
 * gets WRITE back, with the usual notice, once the bridge lets go).  A pipe
 * does not cross: the bridge releases a pipe sent through an imported pipe
 * and reports it on its err pipe (error EXDEV); the message is not
 * forwarded (a pipe that died on its way to the bridge is dropped without
 * a report).  A segment larger than INT_MAX bytes is refused the same way
 * (EMSGSIZE).
 *
 * Bounded end to end.  An export is made with a capacity: at any time the
 * messages on their way to the exported pipe from other ranks, those the
 * receiving bridge holds for it, and those queued in it together never
 * exceed it.  The receiving bridge grants senders room (credits) as the
 * pipe drains; a sending bridge takes a message out of an imported pipe
 * only when it holds a credit for it.  So a receiver that stops receiving
 * stalls its remote senders as a full local pipe would, and no rank's
 * memory grows with another's backlog.  On the sending rank, at most
 * twice the imported pipe's capacity waits: the imported pipe is the
 * input of a small proxy worker, which moves what arrives into a second
 * pipe of the same capacity that the comm thread takes from.
 *
 * Failures are messages.  Every rank's bridge hears from every other
 * rank's bridge at least every timeout/4 (a heartbeat when there is no
 * traffic).  A rank that ends (trindle_mpi_finish()), or is lost (silent
 * for longer than the timeout, or an MPI call naming it failed), shows up
 * on every other rank as the closure notice { address = imported pipe,
 * content = NULL } of each pipe imported from it; when it was lost, also as
 * a trindle_mpi_report_t on the bridge's err pipe.  Open MPI 4.1 does not
 * report a dead peer through MPI errors (its operations just never
 * complete), so the timeout is what detects a rank killed by a signal; and
 * by default mpirun itself then kills every other rank: run with
 * `mpirun --enable-recovery` for the survivors to carry on.  See
 * docs/mpi.md.
 *
 * Who initialises MPI: the bridge, on its comm thread, with
 * MPI_THREAD_FUNNELED, and it finalises MPI in trindle_mpi_finish().  The
 * program then makes no MPI calls.  A program that calls MPI itself
 * initialises it first with MPI_THREAD_MULTIPLE; the bridge then uses it
 * (on a communicator of its own) and leaves finalising to the program,
 * after trindle_mpi_finish().
 *
 * Every rank must start the bridge (starting it is collective) and must
 * end it with trindle_mpi_finish(), which returns once every rank has
 * called it or been lost.
 *
 * Include <trindle/mpi.h>; link with `pkg-config --cflags --libs
 * trindle-mpi`, and run under mpirun (a program started without mpirun is
 * one rank of one).
 *
 * Appeared in: libtrindle 0.1.
 */
#ifndef TRINDLE_MPI_H
#define TRINDLE_MPI_H

#include <stddef.h>
#include <stdint.h>
#include <trindle.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The bridge's calls are exported by libtrindle-mpi, not libtrindle:
 * they have a marker of their own (tests/mpi/check-symbols.sh). */
#if defined(__GNUC__) && __GNUC__ >= 4
#define TRINDLE_MPI_PUBLIC __attribute__((visibility("default")))
#else
#define TRINDLE_MPI_PUBLIC
#endif

/** Default silence, in milliseconds, after which a rank is lost. */
#define TRINDLE_MPI_TIMEOUT_DEFAULT 10000u

/** How to start the bridge.  A NULL pointer or a zero field: the default. */
struct trindle_mpi_options {
	int *argc;           /* passed to MPI_Init_thread; may be NULL */
	char ***argv;        /* likewise */
	unsigned timeout_ms; /* silence after which a rank is lost;
	                      * 0: TRINDLE_MPI_TIMEOUT_MS from the environment,
	                      * or TRINDLE_MPI_TIMEOUT_DEFAULT */
};

/** Where the calling rank stands, filled in by trindle_mpi_bridge(). */
struct trindle_mpi_world {
	int rank; /* this rank, 0 .. size-1 */
	int size; /* the number of ranks */
};

/** First field of every trindle_mpi_report_t. */
#define TRINDLE_MPI_REPORT_MAGIC 0x5249504du /* "MPIR" in memory order */

/**
 * A report the bridge moves to its err pipe: a segment of exactly this
 * size and layout.  message is one line, NUL-terminated, for example
 *   "trindle: mpi: rank 1 lost: silent for 3000 ms (no MPI error)".
 * The receiver holds it alone and releases it.
 */
typedef struct trindle_mpi_report {
	uint32_t magic;    /* TRINDLE_MPI_REPORT_MAGIC */
	int32_t rank;      /* the rank the report is about */
	int32_t error;     /* ETIMEDOUT: the rank went silent; EPIPE: an MPI
	                    * call naming it failed; EXDEV: a pipe was sent
	                    * through an imported pipe; EMSGSIZE: a segment too
	                    * large for MPI; ECANCELED: messages left
	                    * undelivered when trindle_mpi_finish() gave up */
	int32_t mpi_error; /* the MPI error class, or 0 (MPI_SUCCESS) when MPI
	                    * reported none */
	char message[256]; /* the readable line, NUL-terminated */
} trindle_mpi_report_t;

/**
 * trindle_mpi_bridge - start the bridge on the calling rank.
 *
 * Starts the comm thread, which initialises MPI (unless the program did,
 * see above) and duplicates MPI_COMM_WORLD for the bridge's own traffic,
 * and waits until that is done.  Every rank must call it.  err may be NULL
 * or a pipe the caller may send on: reports (trindle_mpi_report_t) go
 * there, as does a fault report if the bridge itself faults.
 *
 * Returns the bridge's input pipe, on which the caller holds SEND (pass it
 * to the calls below; when the bridge has ended the pipe dies and its
 * holders get the closure notice), and fills *world if world is not NULL.
 * On failure returns NULL with errno:
 *  - EINVAL: err is neither NULL nor a pipe the caller may send on; or the
 *    program initialised MPI with less than MPI_THREAD_MULTIPLE;
 *  - EBUSY: a bridge was started before in this program;
 *  - ENOTSUP: MPI offers less than MPI_THREAD_FUNNELED;
 *  - EIO: MPI failed to start;
 *  - ENOMEM or EAGAIN: no memory or no thread.
 *
 * Blocks until MPI has started.  Thread-safe.
 */
TRINDLE_MPI_PUBLIC trindle_pipe_t trindle_mpi_bridge(
		const struct trindle_mpi_options *opt, trindle_pipe_t err,
		struct trindle_mpi_world *world);

/**
 * trindle_mpi_export - let other ranks send to pipe under tag.
 *
 * The caller must hold SEND on pipe (its creator, or a holder of SEND such
 * as the launcher of a worker exporting the worker's input pipe); the
 * bridge takes a SEND of its own.  capacity bounds what other ranks may
 * have on the way to pipe or waiting in it (see the top of this file):
 * normally the capacity pipe was made with.  Local senders are not
 * counted against it; when they fill pipe, the bridge holds the remote
 * messages (never more than capacity) until room appears.
 *
 * The export lasts until pipe dies (its creator releases it, or the worker
 * whose input it is ends) or until trindle_mpi_finish(); then every rank
 * that imported it gets the closure notice of its imported pipe, and what
 * the bridge held for pipe is released.  An import may be made before the
 * export: its messages wait (up to the imported pipe's capacity) until the
 * export appears.
 *
 * Returns 0, or -1 with errno:
 *  - EINVAL: pipe is not a pipe the caller may send on, or capacity is 0;
 *  - EEXIST: tag is exported already on this rank;
 *  - ESHUTDOWN: bridge is not a running bridge (it has finished);
 *  - ENOMEM: no memory.
 *
 * Blocks for a round trip to the comm thread, never for other ranks.
 */
TRINDLE_MPI_PUBLIC int trindle_mpi_export(trindle_pipe_t bridge,
		trindle_pipe_t pipe, uint32_t tag, size_t capacity);

/**
 * trindle_mpi_import - a local pipe that sends to rank's export tag.
 *
 * Returns a new pipe with room for queue_items messages on which the caller
 * holds SEND (and may pass SEND on, like any pipe).  It is the input pipe
 * of a proxy worker started for the purpose (it lives until the import
 * ends), so that the call never has to receive anything: a library call
 * that received would take its caller's notices.  Segments sent to it go
 * to the pipe rank exported under tag, in order per sender; see the top of
 * this file for what crosses and for the bounds.  rank may be the calling
 * rank itself (the messages then go through MPI all the same).
 *
 * When rank's export ends, when rank finishes or is lost, or when the
 * calling rank finishes, the pipe dies: its holders get the closure notice
 * and whatever was still queued in it is released.
 *
 * Returns NULL with errno:
 *  - EINVAL: rank is not a rank of the job, or queue_items is 0;
 *  - ECONNREFUSED: rank has finished or been lost;
 *  - ESHUTDOWN: bridge is not a running bridge, or it is finishing;
 *  - ENOMEM: no memory.
 *
 * Blocks for a round trip to the comm thread, never for other ranks.
 */
TRINDLE_MPI_PUBLIC trindle_pipe_t trindle_mpi_import(trindle_pipe_t bridge,
		int rank, uint32_t tag, size_t queue_items);

/**
 * trindle_mpi_finish - end the bridge: flush, say goodbye, finalise MPI.
 *
 * First the bridge delivers what is queued in this rank's imported pipes,
 * as credits allow.  If no credit comes for the timeout (the receiving
 * rank stopped receiving), it gives up: the rest is released and reported
 * (ECANCELED).  Then it kills the imported pipes and ends this rank's
 * exports (other ranks see the closure notices of their imported pipes;
 * what is still held for an exported pipe is released), tells every rank
 * it has finished, and waits until every rank has finished or been lost.
 * Then it finalises MPI (if it initialised it, and no rank was lost: see
 * docs/mpi.md), ends, and lets go of the caller's SEND on bridge.
 *
 * Messages sent to imported pipes once the call has started may be
 * released undelivered.
 *
 * Returns 0, or -1 with errno:
 *  - ESHUTDOWN: bridge is not a running bridge;
 *  - ECANCELED: some messages could not be delivered (see above).
 *
 * Blocks until every rank has finished or been lost.  Thread-safe, but
 * only one call per bridge.
 */
TRINDLE_MPI_PUBLIC int trindle_mpi_finish(trindle_pipe_t bridge);

#ifdef __cplusplus
}
#endif

#endif /* TRINDLE_MPI_H */
