/* SPDX-License-Identifier: MIT */
/*
 * trindle.h - the libtrindle public interface.
 *
 * libtrindle runs the Trindle kernel interface inside one Unix process.
 * A Trindle *process* is a thread with its own set of capabilities, a
 * *segment* is page-aligned memory whose rights the MMU enforces, and a
 * *pipe* is a bounded queue with many senders and one receiver.  Processes
 * never share mutable memory: they pass capabilities through pipes with
 * trindle_sync().
 *
 * Conventions used by every call below:
 *
 *  - An object is named by its address: a segment by its first byte, a pipe
 *    by the value trindle_pipe() or trindle_launch() returned.  A pointer
 *    into the middle of a segment names nothing.
 *  - Rights are per process.  Every call acts for the calling thread's
 *    process: the worker it runs in, or, for a thread the library did not
 *    start, a *root process* of that thread's own, created on first use.
 *    No initialisation call is needed.
 *  - Calls returning a pointer return NULL and set errno on failure; calls
 *    returning int return -1 and set errno.  No call crashes on a bad object
 *    address: an address that is not a live object the caller holds has no
 *    rights and no size, and a message naming it fails.
 *  - Every call is thread-safe.
 *
 * Environment: TRINDLE_DEBUG=in-flight (read once, when the library starts)
 * makes a segment moved into a pipe inaccessible until it is received, so
 * a sender writing through a stale pointer after a move faults.  Page
 * protection is per address space, so without it (and without memory
 * protection keys) such a write is not caught.  TRINDLE_RETAIN_MIB=N sets
 * how much memory of destroyed segments stays resident for reuse (default
 * 1024); beyond it their pages go back to the kernel.  TRINDLE_FAULTS=rights
 * makes only a worker's rights faults on segments reports (see
 * trindle_fault_t); any other crash of a worker then ends the program, as
 * it would without the library.  TRINDLE_TRACE=FILE records a trace of the
 * program into FILE (see trindle_trace_start()).  TRINDLE_GRAPH=FILE
 * writes, when the program ends, its processes and pipes in Graphviz dot
 * (`dot -Tpng FILE`): a box per process (name, state, how it ended), an
 * edge per pipe from each process that held SEND on it to its receiver,
 * labelled with its name, capacity, messages sent and the most queued
 * at once, drawn red when it was full at some point.  TRINDLE_STALL_MS=N
 * prints a report on stderr, once per stall, when every process has
 * waited in a sync for N ms or more and none of them can be woken (each
 * waits on pipes that only the others can send to): the line begins with
 * "trindle: stall:" and lists each process, the pipes it waits on (depth,
 * who can send) and the wait cycle; the processes go on waiting.
 * TRINDLE_DUMP_SIGNAL=SIGQUIT (a signal's name, with or without SIG, or
 * its number; not one the library catches for faults) makes that signal
 * print the same report at once, its lines beginning with
 * "trindle: dump:", for whatever waits then.
 *
 * Destroyed segments: touching one faults, with one bounded exception made
 * for speed.  A process keeps the slots of up to 64 segments it destroyed
 * itself, of at most 1 MiB in all (and no more than TRINDLE_RETAIN_MIB),
 * open for its own next allocations of the same number of pages, so that
 * neither the destroy nor the allocation makes a system call.  Only a
 * segment that was held by one process and writable when it was destroyed
 * is kept so, and only while the process keeps fewer than that (a destroy
 * that finds it full closes its segment at once).  Until such a slot is
 * allocated again (a new, zero-filled segment) or closed when its process
 * ends, a stale pointer into it reads and writes without a fault: that is
 * what is not caught.  TRINDLE_DEBUG=strict keeps no such
 * slots, so every destroyed segment faults (TRINDLE_DEBUG takes a list:
 * "strict,in-flight").
 *
 * Beyond those, a destroyed segment's pages are made PROT_NONE;
 * when the kernel refuses that (the process reached vm.max_map_count
 * mappings, which holes between live segments can use up), they get guard
 * markers instead (MADV_GUARD_INSTALL, Linux 6.13 or later), which fault
 * the same way.  On an older kernel such a destroyed segment is emptied
 * (it reads as zeros) but stays accessible until the library manages to
 * protect it (it tries again at later allocations and destroys).  Either
 * way its memory is not reused before it is protected.
 *
 * Appeared in: libtrindle 0.1.
 */
#ifndef TRINDLE_H
#define TRINDLE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The version of this header; trindle_version() gives the library's. */
#define TRINDLE_VERSION_MAJOR 0
#define TRINDLE_VERSION_MINOR 1
#define TRINDLE_VERSION_PATCH 0
/* One number, 0xMMmmpp: compare with >= in #if. */
#define TRINDLE_VERSION_HEX ((TRINDLE_VERSION_MAJOR << 16) | \
		(TRINDLE_VERSION_MINOR << 8) | TRINDLE_VERSION_PATCH)

#if defined(__GNUC__) && __GNUC__ >= 4
#define TRINDLE_PUBLIC __attribute__((visibility("default")))
#else
#define TRINDLE_PUBLIC
#endif

#if defined(__cplusplus)
#define TRINDLE_NORETURN [[noreturn]]
#else
#define TRINDLE_NORETURN _Noreturn
#endif

/** Any object: a segment or a pipe, named by its address. */
typedef void *trindle_object_t;
/** A segment: page-aligned memory, named by its first byte. */
typedef trindle_object_t trindle_segment_t;
/** A pipe: a bounded queue of messages with one receiver. */
typedef trindle_object_t trindle_pipe_t;

/** Rights a process may have on an object (see trindle_access()). */
enum {
	TRINDLE_ACCESS_READ = 1,     /* may read the segment's bytes */
	TRINDLE_ACCESS_WRITE = 2,    /* may write them (sole holder only) */
	TRINDLE_ACCESS_EXECUTE = 4,  /* may run code in it */
	TRINDLE_ACCESS_SEND = 8,     /* may send messages into the pipe */
	TRINDLE_ACCESS_RECEIVE = 16, /* may receive from it (its receiver only) */
};

/** One source buffer of trindle_allocate(). */
typedef struct trindle_buffer {
	size_t bytes;        /* how many bytes this buffer contributes */
	const void *address; /* where to copy them from; NULL: that many zeros */
} trindle_buffer_t;

/** One message: see trindle_sync() for what each combination means. */
typedef struct trindle_message {
	trindle_pipe_t address;
	trindle_object_t content;
} trindle_message_t;

/** A batch of messages: count entries starting at address. */
typedef struct trindle_mailbox {
	size_t count;
	trindle_message_t *address;
} trindle_mailbox_t;

/** A worker's entrypoint; input is the worker's own input pipe. */
typedef void (*trindle_entrypoint_t)(trindle_pipe_t input);

/**
 * The fault report a supervisor receives on a worker's err pipe.
 *
 * When a worker breaks its rights on a segment (writes one it shares, runs
 * one that is not executable, touches a destroyed one), or its own thread
 * raises any other synchronous fault (SIGSEGV or SIGBUS outside segments,
 * a NULL dereference among them; SIGFPE; SIGILL; SIGABRT from abort() or
 * a failed assert()), the runtime stops the worker, releases everything it
 * held, and moves to its err pipe a new segment that starts with this
 * structure.  The supervisor owns the report segment and releases it like
 * any other.  The program and its other processes go on.
 *
 * Not a worker's fault, and so not reported: a fault in a root process, or
 * in libtrindle's own code, or a signal sent from elsewhere (kill(), a
 * SIGABRT the library raises itself because its books cannot be kept);
 * these keep their usual effect (for a rights fault in a root process, one
 * line on stderr, then the signal ends the program).  With
 * TRINDLE_FAULTS=rights only rights faults on segments are reported.
 *
 * What a report cannot undo: the worker is stopped where it faulted, with
 * its stack unwound by a jump.  Whatever it held that the library does not
 * track stays as it was: a lock it held (including libc's own, if it
 * crashed inside malloc or stdio, or inside abort(), which takes one) is
 * never released, memory it malloc'd is never freed, and a heap it
 * corrupted stays corrupt.  A program whose workers may crash in such
 * places should restart the whole process rather than the worker.
 */
typedef struct trindle_fault {
	void *address;           /* the address the worker touched; for a
	                          * fault that is not a memory access, the
	                          * address of the instruction that raised it */
	int access;              /* TRINDLE_ACCESS_READ, _WRITE or _EXECUTE;
	                          * 0 for a fault that is not a memory access */
	int signal;              /* SIGSEGV, SIGBUS, SIGFPE, SIGILL or SIGABRT */
	trindle_object_t object; /* the segment that address lies in (its first
	                          * byte, even if the segment was destroyed),
	                          * or NULL when it lies in no segment */
	trindle_pipe_t process;  /* the faulting worker's input pipe */
} trindle_fault_t;

/**
 * trindle_access - what the calling process may do with an object.
 *
 * Returns a mask of TRINDLE_ACCESS_* bits:
 *  - a segment held alone: READ|WRITE; held by two or more holders (a
 *    message in flight counts as a holder): READ; extended: READ|EXECUTE;
 *  - a pipe: SEND, plus RECEIVE for its receiver; 0 once the pipe is dead;
 *  - any address inside the program's or a loaded library's code, or inside
 *    an extended segment the caller holds: READ|EXECUTE;
 *  - anything else (NULL, a pointer into the middle of a data segment, an
 *    object the caller does not hold, a destroyed object): 0.
 *
 * WRITE is reported only once the page protection already allows the write,
 * so a process that sees WRITE may write at once.  Never blocks; never
 * fails (errno is left alone).
 */
TRINDLE_PUBLIC int trindle_access(trindle_object_t object);

/**
 * trindle_measure - the size of an object the caller holds.
 *
 * For a segment, its size in bytes as given to trindle_allocate().  For a
 * pipe, a lower bound on the number of messages queued in it.  For anything
 * the caller does not hold, 0.  Never blocks; never fails.
 */
TRINDLE_PUBLIC size_t trindle_measure(trindle_object_t object);

/** What kind of object a trindle_record_t describes. */
enum {
	TRINDLE_RECORD_NONE = 0,    /* not an object the caller holds */
	TRINDLE_RECORD_SEGMENT = 1,
	TRINDLE_RECORD_PIPE = 2,
};

/** The state of the worker whose input pipe a record describes. */
enum {
	TRINDLE_WORKER_NONE = 0,    /* the pipe is no worker's input pipe */
	TRINDLE_WORKER_RUNNING = 1, /* running (or about to start) */
	TRINDLE_WORKER_WAITING = 2, /* waiting in a sync, on waiting_on */
	TRINDLE_WORKER_ENDED = 3,   /* ended: see ended_by */
	TRINDLE_WORKER_UNKNOWN = 4, /* it released its own input pipe */
};

/** How a worker ended. */
enum {
	TRINDLE_END_NONE = 0,
	TRINDLE_END_EXIT = 1,       /* returned from entry, or trindle_exit() */
	TRINDLE_END_ABORT = 2,      /* trindle_abort() */
	TRINDLE_END_FAULT = 3,      /* a fault (a report went to err) */
};

/** How many of the pipes a waiting worker waits on a record lists. */
#define TRINDLE_RECORD_WAITS 8

/** Room for a name, with its terminating NUL (see trindle_name()). */
#define TRINDLE_NAME_MAX 32

/** What trindle_inquire() tells about one object. */
typedef struct trindle_record {
	trindle_object_t object; /* the object asked about */
	int kind;                /* TRINDLE_RECORD_* */
	int access;              /* the caller's rights, as trindle_access() */
	char name[TRINDLE_NAME_MAX]; /* a pipe's name; "" when it has none */
	struct {
		size_t bytes;    /* its size, as given to trindle_allocate() */
		size_t holders;  /* processes and messages in flight holding it */
	} segment;
	struct {
		size_t capacity;   /* as given to trindle_pipe()/_launch() */
		size_t queued;     /* messages queued now (as trindle_measure) */
		size_t high_water; /* the most ever queued; >= capacity: it was
		                    * full at some point */
		uint64_t sent;     /* messages sent into it so far */
		uint64_t received; /* taken out: delivered, or dropped when it
		                    * died */
		size_t senders;    /* processes holding SEND (its creator too) */
		int receiver_waiting; /* 1: its receiver waits on it in a sync */
		int dead;          /* 1: its creator released it or ended */
	} pipe;
	struct {
		int state;         /* TRINDLE_WORKER_* */
		int ended_by;      /* TRINDLE_END_*, for TRINDLE_WORKER_ENDED */
		size_t waits;      /* how many pipes it waits on (when waiting) */
		trindle_pipe_t waiting_on[TRINDLE_RECORD_WAITS]; /* the first */
	} worker;
} trindle_record_t;

/**
 * trindle_inquire - the state of a batch of objects, in one call.
 *
 * Fills records[i] for objects[i], for each i below count.  An object the
 * caller does not hold (NULL, a stale address, a pointer into a segment)
 * gets a record of kind TRINDLE_RECORD_NONE, every other field zero.  A
 * segment fills .segment; a pipe fills .pipe and, when it is a worker's
 * input pipe (what trindle_launch() returned), .worker, which names the
 * worker: running, waiting in a sync (on which pipes: waiting_on lists
 * the caller's names for them, also those it does not hold), or ended,
 * and how.  A worker that released its own input pipe and goes on
 * running is TRINDLE_WORKER_UNKNOWN.
 *
 * The record is a snapshot taken without stopping anyone: each field is
 * read at its own moment, so fields agree with each other only while the
 * objects are quiet (sent - received - queued is the number of messages
 * on their way in; sent is never below received).  A process waiting in
 * a sync is one that found nothing to deliver and spins or sleeps.
 *
 * What the counters cost the others: received is written by the
 * receiver alone (a plain store per batch it takes); sent costs nothing
 * (derived from the queue's tail); the high-water mark costs a sender one
 * load and compare per batch it queues, and an atomic compare-and-swap
 * only when it sets a new maximum (at most capacity times, plus once per
 * completion queued past the capacity); a waiting sync writes the pipes it
 * waits on once per wait.  A sync that does not wait pays nothing more.
 *
 * Returns the number of records of a kind other than TRINDLE_RECORD_NONE,
 * or -1 with errno EINVAL when count is nonzero and objects or records is
 * NULL.  Never blocks for long (it takes a pipe's lock to count its
 * senders).
 */
TRINDLE_PUBLIC int trindle_inquire(const trindle_object_t objects[],
		size_t count, trindle_record_t records[]);

/**
 * trindle_name - give a pipe a name for traces, graphs and reports.
 *
 * Names pipe, which the caller holds (SEND is enough, and a dead pipe may
 * still be named), so that trindle_inquire(), the trace, the graph and the
 * stall report (see trindle(7), ENVIRONMENT) say name instead of an
 * address.  A worker is named by naming its input pipe.  The name is
 * copied, cut to TRINDLE_NAME_MAX - 1 bytes; NULL or "" removes it.  Any
 * holder may rename a pipe; the last name given wins.  Names need not be
 * unique.  Only pipes have names: segments are data, not places.
 *
 * Returns 0, or -1 with errno EINVAL when pipe is not a pipe the caller
 * holds.
 */
TRINDLE_PUBLIC int trindle_name(trindle_pipe_t pipe, const char *name);

/**
 * trindle_trace_start - record a trace of the program into a file.
 *
 * From now on every process records what it does into a ring of
 * events_per_thread events per thread (0: 65536); when a ring is full its
 * oldest events are dropped (a flight recorder).  The trace is written to
 * path in the Chrome JSON Trace Event Format, which Perfetto
 * (ui.perfetto.dev) and chrome://tracing open: at trindle_trace_stop(),
 * when the program ends (exit() or the return from main), and each time
 * a worker's fault report is made, each write replacing the last.
 *
 * One track per process, named by its input pipe's name (see
 * trindle_name(); a root process is "main" or "root"): a slice per sync
 * (its args say how many messages it sent and received) and per wait
 * inside one; a flow arrow from the sync that sent each message to the
 * sync that received it; a counter per pipe of the messages queued in
 * it; instant events for launches, ends (and how) and faults.
 * otherData.dropped_events says how many events the rings dropped;
 * an arrow whose other end was dropped is left out.
 *
 * Starting again starts a new trace (the events so far are forgotten),
 * possibly into another file.  TRINDLE_TRACE=FILE in the environment
 * starts tracing when the library starts, with rings of
 * TRINDLE_TRACE_EVENTS=N events per thread if that is set (1 to 2^24;
 * any other value is reported on stderr and the default used).
 *
 * Cost: with tracing off, a sync tests one flag, and its sends and
 * receives test a field of their own process once per pipe they touch;
 * with tracing on, each event costs a clock read and an uncontended
 * spinlock on the thread's own ring.
 *
 * Returns 0, or -1 with errno EINVAL (path NULL or empty) or ENOMEM.
 * The file is opened only when written.
 */
TRINDLE_PUBLIC int trindle_trace_start(const char *path,
		size_t events_per_thread);

/**
 * trindle_trace_stop - stop tracing and write the trace file.
 *
 * Returns 0, or -1 with errno: EINVAL when tracing was not on; what
 * fopen() or writing gave (tracing is off either way).
 */
TRINDLE_PUBLIC int trindle_trace_stop(void);

/**
 * trindle_allocate - make a new segment from the concatenation of buffers.
 *
 * The segment holds buffers[0], then buffers[1], ... in order; a buffer
 * whose address is NULL contributes that many zero bytes.  The rest of the
 * last page is zero.  The caller becomes the sole holder, with READ|WRITE,
 * and the returned address (the segment's name) is page-aligned.  A
 * zero-length segment (count 0, or buffers of zero bytes) is valid and has
 * an address of its own.  buffers may be NULL when count is 0.
 *
 * Returns the segment, or NULL with errno:
 *  - EINVAL: count is nonzero and buffers is NULL;
 *  - EOVERFLOW: the sizes add up to more than SIZE_MAX;
 *  - ENOMEM: no memory (or address space) for a segment this large.
 *
 * Address space: a segment takes its size rounded up to a power of two
 * pages.  Small segments are carved from reservations of up to 4 GiB,
 * made smaller (halved, down to what the request needs) when the kernel
 * refuses, as under an address-space limit (ulimit -v, RLIMIT_AS): then
 * allocations succeed until the limit is used up, and fail with ENOMEM
 * beyond it.  A segment over 32 MiB (64 MiB or more once rounded) has a
 * reservation of its own; only the pages written cost memory, so even a
 * 1 TiB segment is cheap until used, and a size the address space cannot
 * hold fails with ENOMEM.
 *
 * Copying from a source buffer that itself faults (for example a destroyed
 * segment) is a fault of the calling process, reported as such.
 */
TRINDLE_PUBLIC trindle_segment_t trindle_allocate(size_t count,
		const trindle_buffer_t buffers[]);

/**
 * trindle_pipe - make a pipe with room for queue_items messages.
 *
 * The caller is its creator and its receiver, and holds SEND|RECEIVE;
 * only the receiver can receive from it.  Sending the pipe as a message's
 * content gives the receiver of that message SEND.
 *
 * The receive right moves: the receiver's send of the pipe followed by its
 * release in the same trindle_sync() (a *move*, as for a segment) hands it
 * to whoever takes that message, with the queue intact.  That process then
 * holds SEND|RECEIVE and is the receiver in every sense (its release or
 * its end kills the pipe); the other holders keep SEND and notice nothing,
 * and their sends go on succeeding while the message is on its way, when
 * nobody can receive from the pipe.  If the pipe carrying that message
 * dies with it queued, the moved pipe dies too (and when that happens in
 * the mover's own outbox, between the move's send and its release, the
 * release still succeeds: the mover's hold ended with the move, so it gets
 * no closure notice).  From the move's send on, a receive request for the
 * pipe in the same call fails.  Two moves fail (the send and its release
 * both, nothing changes, and the target is not taken for full): through
 * the pipe itself, and of a worker's own input pipe, which dies with its
 * worker.  A worker that ends with trindle_exit() or trindle_abort() of a
 * pipe it receives on moves it to the out or err pipe's receiver, unless
 * that pipe is the one it gives: then it dies as the worker ends.  Pipes moved into
 * each other's queues in a cycle can never be received from again, and
 * stay until the program ends.  A SEND holder's send and release pass its
 * SEND on.
 *
 * When the receiver releases the pipe, the pipe dies: the objects
 * queued in it are released, and every other holder loses SEND at once and
 * receives, once, the notice { address = pipe, content = NULL }.  A dead
 * pipe is not a live object: a holder's release of it fails, and the
 * closure notice, which still comes, is what ends the hold.  So a hold of
 * SEND on a pipe ends exactly once, by a release that succeeds or by the
 * notice, never both: a release that races with the pipe's death (a
 * worker's input pipe, as the worker ends) may fail, and then the notice
 * follows.  A completion
 * queued past the capacity (see trindle_exit()) takes room like any other
 * message: sends fail until the queue is below its capacity again.
 *
 * Returns the pipe, or NULL with errno:
 *  - EINVAL: queue_items is 0;
 *  - ENOMEM: no memory for a queue that long.
 */
TRINDLE_PUBLIC trindle_pipe_t trindle_pipe(size_t queue_items);

/**
 * trindle_sync - send, receive and release in one batch.
 *
 * Handles out->address[0 .. out->count) in order:
 *  - { pipe, object }: send object (held by the caller) through pipe (on
 *    which the caller holds SEND).  The caller keeps its access, but loses
 *    WRITE on a segment it now shares by the time the call returns.  It
 *    fails if the pipe is full or dead or a right is missing.
 *  - { pipe, NULL }: a receive request: deliver, in this call, messages
 *    queued on pipe (the caller must be its receiver).
 *  - { NULL, object }: release the caller's access to object.  The
 *    receiver's release of a pipe kills it; a receive request for that
 *    pipe earlier in the same call is dropped with it (nothing is delivered
 *    from it, and the call does not wait on it), and so is one for a pipe
 *    the call moves away.
 *  - { NULL, NULL }: not a message; it fails.
 *
 * A send followed in the same call by a release of the same object is a
 * *move*: the receiver ends up the sole holder, with WRITE, and no
 * protection change (no system call) happens; for a pipe the caller
 * receives on, the receive right goes (see trindle_pipe()).  The release
 * need not come right after the send; when an object is sent more than once before its
 * first release, the last of those sends is the move and the others are
 * shares.  A send that no release of the same object follows is a share,
 * whatever else the outbox releases.  A move is all or nothing:
 * when a send fails, a later release of the same object in the same call
 * fails too, so passing the failed messages again retries the whole move.
 *
 * Then up to in->count (the capacity on entry) incoming messages are stored
 * in in->address and in->count is set to their number:
 *  - { pipe, object }: object arrived through pipe; the caller now holds it;
 *  - { NULL, segment }: the caller became the sole holder of a segment it
 *    already held because its fellow holders released it; it has WRITE;
 *  - { pipe, NULL }: pipe, on which the caller held SEND, died.
 * Notices come first, then messages, taken fairly: one from each requested
 * pipe in turn, the least recently served pipe first (across calls), and
 * pipes served equally long ago (never, say) in the order of their
 * requests.  What does not fit stays queued.  Messages from one sender
 * through one pipe arrive in the order sent.  A message carrying a pipe
 * that died on the way is delivered, but gives no SEND.
 *
 * Notices come in the order they were posted: a closure notice when its
 * pipe dies, a sole-holder notice once the pages are writable (a sender's
 * own releases take effect at the end of each run of sends to one pipe and
 * at the end of its outbox; those of one such step in address order).  A
 * notice that is no longer true when it would be delivered (the segment
 * was shared again or released meanwhile, the pipe already let go of) is
 * dropped; one that became true again is delivered, so a segment can give
 * its holder more than one notice over time.  An extended segment gives
 * none (a notice promises WRITE).
 *
 * When a send fails, every later release of the same object in the same
 * call fails too (segment or pipe), so a receiver's release that fails
 * this way leaves the pipe alive, with its receive request.
 *
 * Blocking: the call waits only when in has room, out held at least one
 * valid receive request, nothing can be delivered yet, and something could
 * still arrive (some requested pipe has another holder or a message on the
 * way).  It returns as soon as something is delivered, or when the last
 * other sender of every requested pipe lets go of it.  It spins briefly,
 * then sleeps in the kernel.
 *
 * Stages: a pipeline stage whose loop takes all that is queued for it,
 * works through it, then sends it all on, convoys: while it works, the
 * stage after it has nothing to do and the one before it finds its queue
 * full, so the stages end up taking turns, one working while the others
 * wait.  Taking a few (an inbox of 2 to 8), working on them, and moving
 * them on in the sync that takes the next few keeps every stage busy;
 * trindle_util_stage() in <trindle/util.h> is that loop.
 *
 * On return the failed outgoing messages, in their original order, are
 * moved to the start of out->address and out->count is their number (0 when
 * everything went through).  Whether a send failed because the pipe was
 * full or dead: trindle_access(pipe) & TRINDLE_ACCESS_SEND.
 *
 * Once a send to a pipe fails for lack of room, the later sends to that
 * pipe in the same call fail too (even if room appears meanwhile), so the
 * failed messages, passed again, arrive in the order they were given.
 *
 * A send that would share a segment also fails, with nothing changed, in
 * the rare case that the kernel refuses to make its pages read-only (the
 * process ran out of memory mappings, vm.max_map_count).
 *
 * The effects of one call keep the order of its outbox: a segment shared
 * by a send is read-only before the message can be received, and what a
 * release changes (a fellow holder's WRITE and notice, a destroyed
 * segment's pages) has happened before any later message is delivered.
 *
 * out and in may each be NULL or have count 0.  Returns 0, or -1 with
 * errno:
 *  - EINVAL: a mailbox has a nonzero count and a NULL address;
 *  - ENOMEM: no memory for the call's bookkeeping (nothing was done).
 */
TRINDLE_PUBLIC int trindle_sync(trindle_mailbox_t *out, trindle_mailbox_t *in);

/**
 * trindle_sync_timeout - trindle_sync() that waits at most timeout_ns.
 *
 * Same as trindle_sync(), except that a wait lasts at most timeout_ns
 * nanoseconds: 0 never waits, a negative value waits like trindle_sync(),
 * and so does a timeout too long for the clock (up to INT64_MAX).
 * When the time runs out it returns 0 with in->count == 0.
 */
TRINDLE_PUBLIC int trindle_sync_timeout(trindle_mailbox_t *out,
		trindle_mailbox_t *in, int64_t timeout_ns);

/**
 * trindle_wait_room - wait until pipe has room for a message.
 *
 * A send to a full pipe fails (trindle_sync()); a sender with nothing
 * better to do can then wait here, instead of retrying in a loop, until
 * the pipe's receiver takes a message, and send again.  Returns at once
 * when fewer than the pipe's capacity messages are queued (completions
 * past the capacity count).  Room is not reserved: another sender may take
 * it first, and then the send fails again.  The wait lasts at most
 * timeout_ns nanoseconds (0: only look; negative: no limit).  It is not a
 * sync: it delivers nothing, notices do not end it, and a worker waiting
 * here shows as running to trindle_inquire() and the stall report.
 *
 * Returns 0 when the pipe has room, or -1 with errno:
 *  - EINVAL: the caller holds no SEND on pipe (or pipe is not a pipe);
 *  - EPIPE: the pipe is dead (its closure notice is on its way);
 *  - ETIMEDOUT: the time ran out with the pipe still full.
 */
TRINDLE_PUBLIC int trindle_wait_room(trindle_pipe_t pipe, int64_t timeout_ns);

/**
 * trindle_launch - start a worker process running entry(input).
 *
 * The worker runs on a thread of its own (finished worker threads are
 * reused).  Each worker starts with the signal mask its thread started
 * with; other thread attributes a worker changes (CPU affinity, priority,
 * name) may carry over to a later worker on the same thread, so a worker
 * that changes them should restore them before it ends.  Its input pipe, with room for queue_count messages, is created
 * for it: the worker holds SEND|RECEIVE on it, the caller gets SEND, and
 * the return value is that pipe.  out and err may be NULL or pipes the
 * caller holds SEND on; the worker gets SEND on them of its own.
 *
 * entry must lie in memory with READ|EXECUTE: the program's or a loaded
 * library's code, or a segment made executable with trindle_extend() that
 * the caller holds (the worker then holds it too, for its lifetime).
 *
 * The worker ends by returning from entry (like trindle_exit(NULL)), by
 * trindle_exit(), by trindle_abort(), or by a fault of its own (a rights
 * fault, a crash, abort(): a fault report goes to err, see
 * trindle_fault_t).  When it ends its input pipe dies, so the caller
 * receives the notice { address = input pipe, content = NULL }.  The
 * order of an ending is fixed: its final object is delivered, then what it
 * held is released (fellow holders' notices), then its input pipe dies,
 * and only then does it let go of its SEND on other pipes; so a sync that
 * returns because nobody can send to its pipes any more already carries
 * the closure notices of the workers that ended.
 *
 * Returns the input pipe, or NULL with errno:
 *  - EINVAL: entry is not in executable memory, queue_count is 0, or out or
 *    err is neither NULL nor a pipe the caller may send on;
 *  - ENOMEM or EAGAIN: no memory or no thread for the worker.
 * A launch that fails has started nothing and changed no holds.
 */
TRINDLE_PUBLIC trindle_pipe_t trindle_launch(trindle_entrypoint_t entry,
		size_t queue_count, trindle_pipe_t out, trindle_pipe_t err);

/**
 * trindle_exit - end the calling process, delivering output to out.
 *
 * If output is non-NULL and held by the caller, it is moved to the out pipe
 * given at launch (even past the pipe's capacity); if the worker does not
 * hold SEND on out when it ends (it may have let go of it and got it back
 * since: what counts is the end), or out is NULL or dead, output is
 * released instead.
 * Then everything the process holds is released and its input pipe dies.
 *
 * In a root process (a thread not started by trindle_launch) output is
 * released, everything the root holds is released, and the thread ends
 * with pthread_exit().  As with pthreads, a program whose main thread ends
 * this way ends once its other threads have: the worker threads kept for
 * reuse end as soon as no process (root or worker) is alive.  Never
 * returns.
 */
TRINDLE_NORETURN TRINDLE_PUBLIC void trindle_exit(trindle_object_t output);

/**
 * trindle_abort - end the calling process, delivering report to err.
 *
 * The same as trindle_exit(), with the err pipe in place of out.
 */
TRINDLE_NORETURN TRINDLE_PUBLIC void trindle_abort(trindle_object_t report);

/**
 * trindle_extend - make a segment executable, for good.
 *
 * The segment becomes READ|EXECUTE for every holder and is never writable
 * again.  Extending an extended segment again succeeds and changes nothing.
 *
 * Returns 0, or -1 with errno:
 *  - EINVAL: segment is not a segment the caller holds;
 *  - ENOMEM: the kernel refused the protection change.
 */
TRINDLE_PUBLIC int trindle_extend(trindle_segment_t segment);

/**
 * trindle_version - the version of the library the program runs with.
 *
 * Returns it in the form of TRINDLE_VERSION_HEX (0xMMmmpp), which may be
 * newer than the header the program was built with.  Never fails.
 */
TRINDLE_PUBLIC unsigned int trindle_version(void);

/**
 * trindle_version_string - the same as a string, "MAJOR.MINOR.PATCH".
 *
 * The string is static; the caller must not free it.  Never fails.
 */
TRINDLE_PUBLIC const char *trindle_version_string(void);

#ifdef __cplusplus
}
#endif

#endif /* TRINDLE_H */
