/* SPDX-License-Identifier: MIT */
/*
 * trindle/util.h - small conveniences over trindle_sync().
 *
 * trindle_sync() does everything in batches, which is what a busy stage
 * wants, but a program also needs plenty of single steps: let go of one
 * object, hand one segment over, wait for one message.  Written out, each
 * is a message array, a mailbox and a check of out.count; this header
 * gives them names.  It also has a fixed-size outbox (a *batch*) to fill
 * message by message and hand to trindle_sync() in one go, and the loop
 * of a pipeline stage that keeps every stage busy (trindle_util_stage()).
 *
 * Everything here is `static inline` and built only on the calls of
 * <trindle.h>: nothing is added to the library's ABI, and a program may
 * mix these helpers with trindle_sync() freely.  Names start with
 * trindle_util_.
 *
 * Conventions (the same as <trindle.h>):
 *  - Calls returning int return -1 and set errno on failure.
 *  - A send or move that fails leaves the caller holding the object, with
 *    the access it had: nothing is lost, and the call may be repeated.
 *  - Why a message failed is worked out from trindle_access() after
 *    trindle_sync() returns (see trindle_util_error()), so what the errno
 *    says is true at that moment: a pipe found full may have room again.
 *    The errno values:
 *      EAGAIN    the pipe was full (the caller still holds SEND on it);
 *      EPIPE     the caller may not send on the pipe: it died, was
 *                released, or was never held;
 *      EINVAL    the object is not one the caller holds, an argument is
 *                NULL where a message would then mean something else, or
 *                a receive was asked of a pipe the caller did not create;
 *      ECANCELED a release that belonged to a move whose send failed
 *                (trindle_sync() makes a move all or nothing);
 *      ENOBUFS   a batch is full;
 *      ENOMEM    trindle_sync() had no memory for its bookkeeping.
 *  - Every helper acts for the calling thread's process, like every call
 *    of the library, and is thread-safe in the same way.  A batch is plain
 *    memory: one thread fills and flushes it.
 *
 * Compiles as C11 (and later) and as C++.
 *
 * Appeared in: libtrindle 0.1.
 */
#ifndef TRINDLE_UTIL_H
#define TRINDLE_UTIL_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <trindle.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- reading what arrived --------------------------------------------- */

/** What an incoming message is (see trindle_util_kind()). */
enum trindle_util_kind {
	TRINDLE_UTIL_NOTHING = 0, /* { NULL, NULL }: not a message at all */
	TRINDLE_UTIL_MESSAGE,     /* { pipe, object }: object came through pipe */
	TRINDLE_UTIL_SOLE,        /* { NULL, segment }: the caller is now the
	                           * segment's sole holder, with WRITE */
	TRINDLE_UTIL_CLOSED,      /* { pipe, NULL }: pipe, on which the caller
	                           * held SEND, died */
};

/**
 * trindle_util_kind - tell a message from the two kinds of notice.
 *
 * in must be a message trindle_sync() delivered (in an outbox the same
 * shapes mean a send, a release and a receive request).  Returns one of
 * TRINDLE_UTIL_MESSAGE, _SOLE, _CLOSED, or TRINDLE_UTIL_NOTHING for
 * { NULL, NULL }, which trindle_sync() never delivers.  Never fails.
 */
static inline enum trindle_util_kind trindle_util_kind(
		const trindle_message_t *in)
{
	if (in->address && in->content)
		return TRINDLE_UTIL_MESSAGE;
	if (in->content)
		return TRINDLE_UTIL_SOLE;
	if (in->address)
		return TRINDLE_UTIL_CLOSED;
	return TRINDLE_UTIL_NOTHING;
}

/**
 * trindle_util_error - why an outgoing message failed, as an errno value.
 *
 * failed is a message that trindle_sync() gave back as failed.  Looks at
 * the caller's access now and returns:
 *  - for a send { pipe, object }: EINVAL if the caller does not hold
 *    object, else EPIPE if it may not send on pipe, else EAGAIN (the pipe
 *    was full; in the rare case that the kernel refused to make a shared
 *    segment read-only, EAGAIN too);
 *  - for a release { NULL, object }: ECANCELED if the caller still holds
 *    object (the release completed a move whose send failed), else EINVAL;
 *  - for a receive request { pipe, NULL }: EINVAL (the caller is not the
 *    pipe's creator, or the pipe is dead);
 *  - for { NULL, NULL }: EINVAL.
 * Never fails; errno is left alone.
 */
static inline int trindle_util_error(const trindle_message_t *failed)
{
	if (!failed->address)
		return failed->content && trindle_access(failed->content)
			? ECANCELED : EINVAL;
	if (!failed->content)
		return EINVAL;
	if (!trindle_access(failed->content))
		return EINVAL;
	if (!(trindle_access(failed->address) & TRINDLE_ACCESS_SEND))
		return EPIPE;
	return EAGAIN;
}

/* ---- one step at a time ----------------------------------------------- */

/*
 * Not part of the API (names with _priv_ may change): runs count messages
 * through trindle_sync(); on a failed message sets errno from the first
 * one that failed.  Returns 0 or -1.
 */
static inline int trindle_util_priv_sync_out(trindle_message_t *m, size_t count)
{
	trindle_mailbox_t out = { count, m };

	if (trindle_sync(&out, NULL) != 0)
		return -1;
	if (out.count == 0)
		return 0;
	errno = trindle_util_error(&m[0]);
	return -1;
}

/**
 * trindle_util_allocate - a new segment holding a copy of bytes at from.
 *
 * trindle_allocate() with one buffer: from NULL gives bytes zero bytes.
 * The caller is the sole holder, with READ|WRITE.  Returns the segment, or
 * NULL with errno ENOMEM (see trindle_allocate()).
 */
static inline trindle_segment_t trindle_util_allocate(size_t bytes,
		const void *from)
{
	trindle_buffer_t b = { bytes, from };

	return trindle_allocate(1, &b);
}

/**
 * trindle_util_release - let go of one object.
 *
 * Releases the caller's access to object, as the message { NULL, object }
 * does: the last holder's release destroys a segment, the creator's
 * release kills a pipe.  Like free(), releasing NULL does nothing.
 *
 * Returns 0, or -1 with errno:
 *  - EINVAL: object is not an object the caller holds;
 *  - ENOMEM: see trindle_sync().
 */
static inline int trindle_util_release(trindle_object_t object)
{
	trindle_message_t m = { NULL, object };

	if (!object)
		return 0;
	return trindle_util_priv_sync_out(&m, 1);
}

/**
 * trindle_util_send - send one object and keep it (share it).
 *
 * Sends object through pipe.  The caller keeps its access, but a segment
 * it now shares is read-only for every holder until it is the sole holder
 * again; the receiver of a pipe gets SEND on it.  Never waits: a full pipe
 * fails the send.
 *
 * Returns 0, or -1 with errno (the caller still holds object as before):
 *  - EAGAIN: pipe is full;
 *  - EPIPE: the caller may not send on pipe (dead, released, never held);
 *  - EINVAL: pipe or object is NULL, or object is not held by the caller;
 *  - ENOMEM: see trindle_sync().
 */
static inline int trindle_util_send(trindle_pipe_t pipe,
		trindle_object_t object)
{
	trindle_message_t m = { pipe, object };

	if (!pipe || !object) {
		errno = EINVAL;
		return -1;
	}
	return trindle_util_priv_sync_out(&m, 1);
}

/**
 * trindle_util_move - hand one object over: send and release in one sync.
 *
 * The receiver ends up holding object in the caller's place; a segment
 * the caller held alone arrives with WRITE and no page-protection change
 * is made.  After success the caller must not touch object again.  Moving
 * a pipe one created hands over the right to receive from it.  Never
 * waits.  All or nothing: if the send fails, nothing happens.
 *
 * Returns 0, or -1 with errno (the caller still holds object as before):
 *  - EAGAIN: pipe is full;
 *  - EPIPE: the caller may not send on pipe (dead, released, never held);
 *  - EINVAL: pipe or object is NULL, or object is not held by the caller;
 *  - ENOMEM: see trindle_sync().
 */
static inline int trindle_util_move(trindle_pipe_t pipe,
		trindle_object_t object)
{
	trindle_message_t m[2] = { { pipe, object }, { NULL, object } };

	if (!pipe || !object) {
		errno = EINVAL;
		return -1;
	}
	return trindle_util_priv_sync_out(m, 2);
}

/**
 * trindle_util_move_or_release - move object to pipe, or let it go.
 *
 * For objects the caller has no further use for when the receiver cannot
 * take them (giving a chunk back to a file source, for instance): tries
 * trindle_util_move(), and if that fails releases object instead.  Either
 * way the caller no longer holds object afterwards (unless it was not
 * held to begin with).  Releasing NULL does nothing and returns 0.
 *
 * Returns 0 when moved, or -1 with errno saying why the move failed (see
 * trindle_util_move()); object was then released.
 */
static inline int trindle_util_move_or_release(trindle_pipe_t pipe,
		trindle_object_t object)
{
	int saved;

	if (!object || trindle_util_move(pipe, object) == 0)
		return 0;
	saved = errno;
	trindle_util_release(object);
	errno = saved;
	return -1;
}

/**
 * trindle_util_receive - wait for one message or notice.
 *
 * One trindle_sync_timeout() with a receive request on pipe (which the
 * caller created) and room for one incoming message, stored in *msg.
 * What arrives may be a message through pipe or a notice about any object
 * (notices come first); tell them apart with trindle_util_kind().
 * Nothing is skipped, so nothing is lost: what is not taken stays queued
 * for the next call.
 *
 * Waits at most timeout_ns nanoseconds (0: never; negative: as long as
 * something could still arrive).  It does not wait when nobody else holds
 * SEND on pipe and nothing is on the way.
 *
 * Returns:
 *  - 1: *msg holds what arrived (for a message, the caller now holds its
 *    content);
 *  - 0: nothing arrived: the time ran out, or nothing can arrive any more
 *    (no other holder of SEND on pipe and nothing queued).  With a
 *    negative timeout_ns, 0 always means the latter;
 *  - -1 with errno: EINVAL when pipe is not a live pipe the caller created
 *    or msg is NULL; ENOMEM, see trindle_sync().  If a notice is pending,
 *    it is still delivered (the call returns 1) even when pipe is not
 *    usable, so that nothing is lost; once none is left, the call fails.
 *
 * The usual loop, which ends once every other sender has let go of pipe
 * and everything queued has been taken:
 *
 *	trindle_message_t m;
 *	while (trindle_util_receive(pipe, &m, -1) == 1) {
 *		if (trindle_util_kind(&m) == TRINDLE_UTIL_MESSAGE)
 *			use(m.content);       (then release it, or move it on)
 *		else
 *			note(&m);             (SOLE: m.content is writable again;
 *	}                                      CLOSED: the pipe m.address died)
 */
static inline int trindle_util_receive(trindle_pipe_t pipe,
		trindle_message_t *msg, int64_t timeout_ns)
{
	trindle_message_t req = { pipe, NULL };
	trindle_mailbox_t out = { 1, &req };
	trindle_mailbox_t in = { 1, msg };
	int usable;

	if (!msg) {
		errno = EINVAL;
		return -1;
	}
	/* Without RECEIVE only notices can come: fetch them, never wait. */
	if (!pipe || !(trindle_access(pipe) & TRINDLE_ACCESS_RECEIVE))
		out.count = 0;
	usable = out.count == 1;
	if (trindle_sync_timeout(&out, &in, usable ? timeout_ns : 0) != 0)
		return -1;
	if (in.count)
		return 1;
	if (!usable || out.count) {
		errno = EINVAL;
		return -1;
	}
	return 0;
}

/**
 * trindle_util_next_object - the content of the next message that arrives
 * through pipe, passing over notices.
 *
 * Waits (without a time limit) until a message comes through pipe, and
 * returns its content, which the caller now holds.  Notices that arrive
 * first are passed over: a sole-holder notice leaves its segment held (and
 * writable), a closure notice ends the hold on its pipe; a caller that
 * needs to see them uses trindle_util_receive() instead.
 *
 * Returns the object, or NULL when nothing more can arrive (no other
 * holder of SEND on pipe and nothing queued) or the receive failed
 * (errno is then set as by trindle_util_receive()).
 */
static inline trindle_object_t trindle_util_next_object(trindle_pipe_t pipe)
{
	trindle_message_t m;

	while (trindle_util_receive(pipe, &m, -1) == 1)
		if (trindle_util_kind(&m) == TRINDLE_UTIL_MESSAGE)
			return m.content;
	return NULL;
}

/* ---- batches ---------------------------------------------------------- */

/**
 * An outbox to fill with trindle_util_add_*() and hand to trindle_sync()
 * with trindle_util_flush(): message[0 .. count) are the messages, in the
 * order added, in storage the caller provides (capacity messages), so a
 * batch can be as large as the caller's syncs.  Set it up with
 * trindle_util_batch_init().
 */
typedef struct trindle_util_batch {
	size_t count;
	size_t capacity;
	trindle_message_t *message;
} trindle_util_batch_t;

/**
 * trindle_util_batch_init - an empty batch over storage[0 .. capacity).
 *
 * The storage must outlive the batch; nothing is allocated.  Calling it
 * again on the same storage empties the batch (forgetting its messages).
 */
static inline void trindle_util_batch_init(trindle_util_batch_t *b,
		trindle_message_t *storage, size_t capacity)
{
	b->count = 0;
	b->capacity = storage ? capacity : 0;
	b->message = storage;
}

/* Not part of the API: appends { address, content } if n more messages
 * fit (n counts this one and any the caller appends next); ENOBUFS if not. */
static inline int trindle_util_priv_add(trindle_util_batch_t *b, size_t n,
		trindle_pipe_t address, trindle_object_t content)
{
	if (b->capacity - b->count < n) {
		errno = ENOBUFS;
		return -1;
	}
	b->message[b->count].address = address;
	b->message[b->count].content = content;
	b->count++;
	return 0;
}

/**
 * trindle_util_add_send - append a send of object through pipe.
 *
 * Nothing is sent until trindle_util_flush().  Returns 0, or -1 with
 * errno: ENOBUFS, the batch is full; EINVAL, pipe or object is NULL.
 */
static inline int trindle_util_add_send(trindle_util_batch_t *b,
		trindle_pipe_t pipe, trindle_object_t object)
{
	if (!pipe || !object) {
		errno = EINVAL;
		return -1;
	}
	return trindle_util_priv_add(b, 1, pipe, object);
}

/**
 * trindle_util_add_move - append a move of object to pipe (a send and a
 * release of the same object, which trindle_sync() handles as one move).
 *
 * Takes two messages, both or neither.  Returns 0, or -1 with errno:
 * ENOBUFS, fewer than two free messages; EINVAL, pipe or object is NULL.
 */
static inline int trindle_util_add_move(trindle_util_batch_t *b,
		trindle_pipe_t pipe, trindle_object_t object)
{
	trindle_message_t *m;

	if (!pipe || !object) {
		errno = EINVAL;
		return -1;
	}
	if (b->capacity - b->count < 2) {
		errno = ENOBUFS;
		return -1;
	}
	/* Both messages at once: a loop that queues moves pays one room
	 * check and one count update per move. */
	m = b->message + b->count;
	m[0].address = pipe;
	m[0].content = object;
	m[1].address = NULL;
	m[1].content = object;
	b->count += 2;
	return 0;
}

/**
 * trindle_util_add_release - append a release of object.
 *
 * Adding NULL does nothing and returns 0 (as trindle_util_release()).
 * Returns 0, or -1 with errno ENOBUFS when the batch is full.
 */
static inline int trindle_util_add_release(trindle_util_batch_t *b,
		trindle_object_t object)
{
	if (!object)
		return 0;
	return trindle_util_priv_add(b, 1, NULL, object);
}

/**
 * trindle_util_add_receive - append a receive request for pipe.
 *
 * Messages from pipe can then be delivered by the flush (if it is given an
 * inbox).  Requests last for one flush only.  Returns 0, or -1 with errno:
 * ENOBUFS, the batch is full; EINVAL, pipe is NULL.
 */
static inline int trindle_util_add_receive(trindle_util_batch_t *b,
		trindle_pipe_t pipe)
{
	if (!pipe) {
		errno = EINVAL;
		return -1;
	}
	return trindle_util_priv_add(b, 1, pipe, NULL);
}

/**
 * trindle_util_flush_timeout - run the batch through trindle_sync_timeout().
 *
 * Handles b's messages in order, then delivers up to in->count incoming
 * messages into in->address (in may be NULL: nothing is delivered and
 * nothing waited for), waiting at most timeout_ns as trindle_sync_timeout()
 * does.  Afterwards the batch holds exactly the messages that failed, in
 * their original order: flushing it again retries them (a failed move
 * stays a whole move), trindle_util_error() on each tells why, and
 * setting count to 0 drops them.
 *
 * Returns the number of messages that failed (0: all went through, and the
 * batch is empty), or -1 with errno when trindle_sync_timeout() failed
 * (EINVAL: in has a nonzero count and a NULL address; ENOMEM), in which
 * case nothing was done and the batch is unchanged.
 */
static inline int trindle_util_flush_timeout(trindle_util_batch_t *b,
		trindle_mailbox_t *in, int64_t timeout_ns)
{
	trindle_mailbox_t out = { b->count, b->message };

	if (trindle_sync_timeout(&out, in, timeout_ns) != 0)
		return -1;
	b->count = out.count;
	return (int)out.count;
}

/**
 * trindle_util_flush - trindle_util_flush_timeout() with no time limit:
 * waits, as trindle_sync() does, only when the batch holds a receive
 * request and in has room.
 */
static inline int trindle_util_flush(trindle_util_batch_t *b,
		trindle_mailbox_t *in)
{
	return trindle_util_flush_timeout(b, in, -1);
}

/* ---- stages ----------------------------------------------------------- */

/** The most messages trindle_util_stage() takes in one sync. */
#define TRINDLE_UTIL_STAGE_MAX 64

/**
 * A stage's work on one delivery (see trindle_util_stage()).
 *
 * in is what arrived: a message through the stage's input or a notice
 * (tell them apart with trindle_util_kind()).  *out is what to move on to
 * the next stage; on entry, a message's content, or NULL for a notice.
 * arg is the one given to trindle_util_stage().  Returns 0 to go on,
 * anything else to stop (see trindle_util_stage()).
 */
typedef int (*trindle_util_work_fn)(const trindle_message_t *in,
		trindle_object_t *out, void *arg);

/*
 * Not part of the API.  m[0 .. n) are the moves to one pipe that a sync
 * gave back as failed: sends, each followed by its release.  Keeps at the
 * front, in order, the moves that failed for want of room, and returns
 * how many messages they take.  The objects of the moves whose pipe can
 * no longer be sent on are released (*gone = 1); a move of an object the
 * caller does not hold is dropped (*bad = 1): nothing is held to lose.
 */
static inline size_t trindle_util_priv_sort_failed(trindle_message_t *m,
		size_t n, int *gone, int *bad)
{
	trindle_message_t rel[TRINDLE_UTIL_STAGE_MAX];
	trindle_mailbox_t out = { 0, rel };
	size_t kept = 0;
	int e;

	for (size_t k = 0; k < n; k++) {
		if (!m[k].address) {
			/* A release: kept with its send, else that send
			 * was dropped or turned into a release below. */
			if (kept && m[kept - 1].address &&
			    m[kept - 1].content == m[k].content)
				m[kept++] = m[k];
			continue;
		}
		e = trindle_util_error(&m[k]);
		if (e == EAGAIN) {
			m[kept++] = m[k];
		} else if (e == EPIPE) {
			*gone = 1;
			rel[out.count].address = NULL;
			rel[out.count++].content = m[k].content;
		} else {
			*bad = 1;
		}
	}
	if (out.count)
		trindle_sync(&out, NULL);
	return kept;
}

/*
 * Not part of the API: moves m[0 .. n) (send, release pairs) on, waiting
 * for room while the pipe is full; tried says the first try was made
 * already and m[0 .. n) is what failed.  Returns 0 once nothing is left
 * to move, or -1 (ENOMEM) with the rest of m still held.
 */
static inline int trindle_util_priv_push(trindle_message_t *m, size_t n,
		int tried, int *gone, int *bad)
{
	for (;;) {
		if (!tried) {
			trindle_mailbox_t out = { n, m };

			if (trindle_sync(&out, NULL) != 0)
				return -1;
			n = out.count;
		}
		tried = 0;
		n = trindle_util_priv_sort_failed(m, n, gone, bad);
		if (n == 0)
			return 0;
		/* A pipe that died meanwhile fails the next try, which
		 * releases what was for it. */
		(void)trindle_wait_room(m[0].address, -1);
	}
}

/**
 * trindle_util_stage - the loop of a pipeline stage: take a few, work on
 * them, move them on.
 *
 * Receives at most take messages per sync from input (a pipe the caller
 * created), calls work on each delivery, and moves what work leaves in
 * *out on to next; the moves of one take go out in the same sync that
 * takes the next few.  Taking a few, not all that is queued, is what keeps
 * every stage of a pipeline busy: a stage that takes everything holds it
 * all while it works, so the stage after it runs dry and the one before it
 * fills its queue and waits, and the stages end up taking turns (a
 * convoy).  take must be 1 to TRINDLE_UTIL_STAGE_MAX; 2 to 8 suits most
 * pipelines, and a queue (next's capacity) a few takes long.
 *
 * What work gets, and what becomes of it:
 *  - a message { input, object }: the caller now holds object, and *out
 *    starts as object.  Left so, object moves on (a stage that works in
 *    place).  work may set *out to another object the caller holds (a new
 *    segment with its result) or to NULL (nothing moves on); the object
 *    received is then the caller's to keep or release: the loop releases
 *    nothing on its own.
 *  - a notice (trindle_sync() lists them): *out starts as NULL; work may
 *    set it to an object to move on all the same.  A closure notice for
 *    next ends the loop (see EPIPE below) once work has seen it.
 * Every delivery goes to work once, in the order trindle_sync() delivered
 * it, notices included: nothing is passed over.
 *
 * A full next: the loop keeps what it could not move (and the take that
 * came in the same sync), waits for room with trindle_wait_room() and
 * tries again, taking nothing more (the moves in their original order),
 * for as long as next lives.  The process does not wait in a sync
 * meanwhile, so the stall report (TRINDLE_STALL_MS) does not count it as
 * waiting.  The loop never waits
 * on input while it holds something to move on (what would wake it may be
 * just what it holds): a sync that moves things on does not wait, and the
 * loop waits, without a time limit, only with empty hands.
 *
 * Returns, once everything work put in *out has moved on (or, when next
 * died, was released):
 *  - 0: input ran dry: nobody else holds SEND on it and nothing is queued;
 *  - 1: work returned nonzero.  The loop takes no more, but the other
 *    deliveries of the same take still go to work (so none is lost; work
 *    may thus be called after it asked to stop).  What is queued on input
 *    stays queued;
 *  - -1 with errno:
 *     EPIPE: next died, or the caller let go of it.  What work had put in
 *       *out is released, as it would have been had it been queued in next
 *       when next died.  What is queued on input stays queued; a closure
 *       notice for next that work has not seen is left for a later sync.
 *     EINVAL: input is not a live pipe the caller created, next is not a
 *       pipe it may send on, take is 0 or over TRINDLE_UTIL_STAGE_MAX, or
 *       work is NULL (nothing was done); or, in the loop, input stopped
 *       being usable or work put in *out an object the caller does not
 *       hold (that move is dropped; the loop ends after the current take,
 *       moving the rest on).
 *     ENOMEM: see trindle_sync(); what work put in *out and has not moved
 *       on stays held by the caller (it is released when the process ends).
 *
 * A worker that is one stage, and ends once the stages before it have:
 *
 *	static int scramble(const trindle_message_t *in,
 *			trindle_object_t *out, void *arg)
 *	{
 *		if (*out)
 *			transform(*out, arg);   (in place; then it moves on)
 *		return 0;
 *	}
 *	static void stage(trindle_pipe_t input)
 *	{
 *		trindle_pipe_t next = trindle_util_next_object(input);
 *		trindle_util_stage(input, next, 4, scramble, NULL);
 *	}
 */
static inline int trindle_util_stage(trindle_pipe_t input,
		trindle_pipe_t next, size_t take, trindle_util_work_fn work,
		void *arg)
{
	trindle_message_t out[2 * TRINDLE_UTIL_STAGE_MAX + 1];
	trindle_message_t got[TRINDLE_UTIL_STAGE_MAX];
	size_t moves = 0;       /* out[0 .. moves): send, release pairs */
	int stop = 0, gone = 0, bad = 0;

	if (!work || take == 0 || take > TRINDLE_UTIL_STAGE_MAX || !input ||
	    !(trindle_access(input) & TRINDLE_ACCESS_RECEIVE) || !next ||
	    !(trindle_access(next) & TRINDLE_ACCESS_SEND)) {
		errno = EINVAL;
		return -1;
	}
	while (!stop && !gone && !bad) {
		trindle_mailbox_t o = { moves + 1, out };
		trindle_mailbox_t in = { take, got };

		out[moves].address = input;     /* the receive request, last */
		out[moves].content = NULL;
		if (trindle_sync_timeout(&o, &in, moves ? 0 : -1) != 0)
			return -1;
		if (o.count && !out[o.count - 1].content) {
			bad = 1;        /* input is no longer ours to receive */
			o.count--;
		}
		if (trindle_util_priv_push(out, o.count, 1, &gone, &bad) != 0)
			return -1;
		if (moves == 0 && in.count == 0 && !bad)
			return 0;       /* it waited: nothing can arrive */
		moves = 0;
		for (size_t k = 0; k < in.count; k++) {
			const trindle_message_t *m = &got[k];
			trindle_object_t obj = trindle_util_kind(m) ==
				TRINDLE_UTIL_MESSAGE ? m->content : NULL;

			if (work(m, &obj, arg) != 0)
				stop = 1;
			if (m->address == next && !m->content)
				gone = 1;
			if (!obj)
				continue;
			out[moves].address = next;
			out[moves++].content = obj;
			out[moves].address = NULL;
			out[moves++].content = obj;
		}
	}
	if (trindle_util_priv_push(out, moves, 0, &gone, &bad) != 0)
		return -1;
	if (!bad && !gone)
		return 1;
	errno = bad ? EINVAL : EPIPE;
	return -1;
}

#ifdef __cplusplus
}
#endif

#endif /* TRINDLE_UTIL_H */
