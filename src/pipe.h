/* SPDX-License-Identifier: MIT */
/*
 * pipe.h - pipes: bounded queues with many senders and one receiver.
 *
 * The queue is a ring of cells, each published by a sequence number, so
 * senders never take a lock: a sender claims a cell by advancing the tail
 * with a CAS (only while fewer than capacity messages are queued), writes
 * it and publishes it.  Only the receiver pops, so popping needs no
 * atomics beyond the publication check.
 *
 * The receive right moves (a pipe's move, trindle_sync): the message that
 * carries it is the pipe's address tagged with PIPE_MSG_RECEIVE, and while
 * it is in flight the pipe has no receiver (receiver is NULL): senders
 * queue as before, nobody pops.  Whoever takes the message becomes the
 * receiver, with the creator's reference and its rights.
 *
 * Death: the receiver releases the pipe.  Senders bracket their work with
 * trindle__pipe_enter()/trindle__pipe_leave(); the killer marks the pipe
 * dead, waits for the senders inside to leave, and only then drains the
 * queue, so no message can slip in behind the drain and be lost.
 *
 * Completion messages may exceed the capacity: they go to an overflow
 * list stamped with the tail at the time, and are delivered once every
 * message queued before them has been.
 */
#ifndef TRINDLE_PIPE_H
#define TRINDLE_PIPE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "compiler.h"
#include "holder.h"
#include "object.h"
#include "trindle.h"

struct holder;

struct ring_cell {
	atomic_size_t seq; /* position + 1 once the cell at position is published */
	/* Ordered by seq; atomic because trindle_measure() may read it from
	 * any holder's thread while a sender refills the cell. */
	_Atomic(struct object *) obj;
};

struct overflow_msg {
	struct overflow_msg *next;
	size_t ticket; /* the tail when it was sent: deliver after those */
	struct object *obj;
};

#define PIPE_SENDERS_KEPT 8

struct pipe {
	struct object obj;
	/* Its receiver (the creator, or whoever took a move of it); NULL
	 * while the receive right is in flight.  Senders load it to wake it. */
	_Atomic(struct holder *) receiver;
	uint32_t serial;            /* its name in traces (trace.h); fixed */
	size_t capacity;
	size_t mask;
	struct ring_cell *cells;
	atomic_bool dead;
	bool worker_input;          /* a worker's input pipe (set at launch) */
	atomic_int ended_by;        /* its worker's end (enum trindle_end_*),
	                             * set before the pipe dies; 0 before */
	atomic_size_t refs;         /* receiver, holders, carriers, notices */
	atomic_size_t other_holds;  /* holders other than the receiver +
	                             * carriers of SEND */

	TRINDLE_ALIGNED atomic_size_t tail;
	atomic_size_t senders_inside;
	/* For trindle_inquire(), on the senders' line: the most messages
	 * ever queued (a sender that claims past it raises it by CAS, which
	 * happens at most capacity times plus once per completion queued
	 * past the capacity), and cells published empty (failed sends). */
	atomic_size_t high_water;
	atomic_size_t skipped;

	TRINDLE_ALIGNED atomic_size_t head_pub; /* head, as senders see it */
	atomic_uint room_waiters;   /* senders asleep until there is room */
	atomic_uint room_seq;       /* their futex word: bumped by the receiver */
	atomic_bool stop_requested; /* a worker input: trindle__request_stop */
	size_t head;                /* receiver only */
	uint64_t last_served;       /* receiver only: fairness stamp */
	atomic_size_t overflow_count;
	atomic_size_t overflow_total; /* completions ever queued past capacity */
	atomic_size_t received;     /* written by the receiver only */

	pthread_mutex_t lock;       /* holders, overflow list and name */
	char name[TRINDLE_NAME_MAX]; /* trindle_name(); "" when unnamed */
	/* For the graph (TRINDLE_GRAPH), only while it is kept: the tracks
	 * of the processes that ever held SEND besides the creator (the
	 * first PIPE_SENDERS_KEPT, under lock), and the list of pipes. */
	uint32_t ever_senders[PIPE_SENDERS_KEPT];
	size_t n_ever_senders;
	_Atomic uint32_t creator_track; /* its receiver's track (set at birth
	                             * and by a move)
	                             * (a worker's input pipe: its serial) */
	struct pipe *all_prev, *all_next;
	struct pipe *kill_next;     /* the killer's list of pipes to kill */
	struct overflow_msg *overflow_head, *overflow_tail;
	struct holder **holders;
	size_t nholders, holders_capacity;
};

/* Largest queue trindle_pipe() accepts. */
#define TRINDLE_PIPE_MAX_ITEMS ((size_t)1 << 30)

int trindle__pipe_create(size_t items, struct holder *creator,
		struct pipe **out);
/* References keep a pipe's memory (and so its address) from being reused:
 * its creator, holders, carriers, notices, and the workers that name it as
 * their out or err pipe each hold one. */
void trindle__pipe_ref(struct pipe *p);
void trindle__pipe_unref(struct pipe *p);

/* Sending.  enter returns 0, or -EPIPE if the pipe is dead. */
int trindle__pipe_enter(struct pipe *p);
/* Claims up to want cells (as many as there is room for): returns how
 * many, the first at *pos.  Every claimed cell must be published; an
 * empty one (o == NULL) is skipped by the receiver. */
size_t trindle__pipe_claim(struct pipe *p, size_t want, size_t *pos);
/* Publishes objs[0 .. n) into the claimed cells pos, pos + 1, ... */
static inline void trindle__pipe_publish_many(struct pipe *p, size_t pos,
		struct object *const *objs, size_t n)
{
	struct ring_cell *cells = p->cells; /* fixed for the pipe's life */
	size_t mask = p->mask;

	for (size_t i = 0; i < n; i++) {
		struct ring_cell *c = &cells[(pos + i) & mask];
		atomic_store_explicit(&c->obj, objs[i], memory_order_relaxed);
		atomic_store_explicit(&c->seq, pos + i + 1,
				memory_order_release);
	}
}
static inline void trindle__pipe_publish(struct pipe *p, size_t pos,
		struct object *o)
{
	trindle__pipe_publish_many(p, pos, &o, 1);
}
/* Publishes the claimed cell at pos empty (its send failed). */
void trindle__pipe_skip(struct pipe *p, size_t pos);
/* Gives back the claimed cells [pos, end) if nobody claimed after them. */
bool trindle__pipe_unclaim(struct pipe *p, size_t pos, size_t end);
/* Queues o even when the pipe is full (between enter and leave). */
void trindle__pipe_force(struct pipe *p, struct object *o);
void trindle__pipe_leave(struct pipe *p);

/* A message carrying p's receive right, and the reverse. */
#define PIPE_MSG_RECEIVE ((uintptr_t)1)
static inline struct object *trindle__pipe_receive_msg(struct pipe *p)
{
	return (struct object *)((uintptr_t)&p->obj | PIPE_MSG_RECEIVE);
}
/* The object a queued message carries; *receive says whether it is a
 * pipe's receive right. */
static inline struct object *trindle__msg_object(struct object *m,
		bool *receive)
{
	*receive = (uintptr_t)m & PIPE_MSG_RECEIVE;
	return (struct object *)((uintptr_t)m & ~PIPE_MSG_RECEIVE);
}

static inline struct holder *trindle__pipe_receiver(struct pipe *p)
{
	return atomic_load_explicit(&p->receiver, memory_order_acquire);
}
/* The receive right leaves its holder (NULL: in flight) or arrives. */
void trindle__pipe_set_receiver(struct pipe *p, struct holder *h);

/* Receiving (the receiver's thread only). */
size_t trindle__pipe_pop(struct pipe *p, struct object **objs, size_t max);
/* The same, storing each message's cell position in pos (SIZE_MAX for a
 * completion queued past the capacity), for the trace's flow ids. */
size_t trindle__pipe_pop_traced(struct pipe *p, struct object **objs,
		size_t *pos, size_t max);
bool trindle__pipe_ready(struct pipe *p);
/* Could anything still arrive?  (Someone else holds it, or carries it.) */
bool trindle__pipe_has_senders(struct pipe *p);

size_t trindle__pipe_measure(struct pipe *p);

/* Counters for trindle_inquire(), read from any thread: each is read at
 * its own moment, so they agree only while the pipe is quiet; sent is
 * never below received. */
struct pipe_counts {
	size_t queued, high_water, senders;
	uint64_t sent, received;
};
void trindle__pipe_counts(struct pipe *p, struct pipe_counts *c);

/* The pipe's name (trindle_name): set (NULL clears it; truncated to
 * TRINDLE_NAME_MAX - 1 bytes) and copied out ("" when unnamed). */
void trindle__pipe_set_name(struct pipe *p, const char *name);
void trindle__pipe_get_name(struct pipe *p, char out[TRINDLE_NAME_MAX]);

/* Waiting for room (the devices' senders; the contract has no such call):
 * sleeps until the receiver takes a message or the pipe dies, or until
 * timeout_ns passes (negative: no limit); it may return early, so the
 * caller retries its send.  Returns false on timeout. */
bool trindle__pipe_wait_room(struct pipe *p, int64_t timeout_ns);
/* Are fewer than capacity messages queued (completions included)?  May
 * say yes on a stale reading: the caller's send then tells. */
bool trindle__pipe_has_room(struct pipe *p);
static inline bool trindle__pipe_dead(struct pipe *p)
{
	return atomic_load_explicit(&p->dead, memory_order_acquire);
}

/* Killing a pipe (its receiver's release) takes three steps, so that the
 * pipe never calls up into the process that kills it: mark it dead, which
 * waits for the senders inside to leave (none can enter after); drain it
 * with trindle__pipe_pop() and let go of what the messages carried; then
 * post every other holder the closure notice. */
void trindle__pipe_mark_dead(struct pipe *p);
void trindle__pipe_notify_holders(struct pipe *p);

/* What the graph shows of a pipe, alive or gone. */
struct pipe_summary {
	uint32_t serial, receiver_track;
	char name[TRINDLE_NAME_MAX];
	size_t capacity, high_water;
	uint64_t sent;
	uint32_t senders[PIPE_SENDERS_KEPT];
	size_t nsenders;
	bool worker_input, dead;
	int ended_by;        /* TRINDLE_END_* for a worker's input pipe */
	bool receiver_waits; /* its receiver waits in a sync (alive only) */
};
/* From now on, pipes are listed and summarised when freed (the graph's
 * bookkeeping: a lock at each pipe's creation and end, none per
 * message).  Call before any pipe is made. */
void trindle__pipe_keep_summaries(void);
/* Calls fn for every pipe ever made while kept: the live ones, then the
 * gone ones. */
void trindle__pipe_each_summary(void (*fn)(const struct pipe_summary *s,
		void *arg), void *arg);

/* Holds on a pipe by processes other than its receiver. */
bool trindle__pipe_grant(struct pipe *p, struct holder *proc);
void trindle__pipe_carry(struct pipe *p);
void trindle__pipe_uncarry(struct pipe *p);
bool trindle__pipe_adopt(struct pipe *p, struct holder *proc);
void trindle__pipe_drop_holder(struct pipe *p, struct holder *proc);

#endif
