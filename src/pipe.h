/* SPDX-License-Identifier: MIT */
/*
 * pipe.h - pipes: bounded queues with many senders and one receiver.
 *
 * The queue is a ring of cells, each published by a sequence number, so
 * senders never take a lock: a sender claims a cell by advancing the tail
 * with a CAS (only while fewer than capacity messages are queued), writes
 * it and publishes it.  Only the creator receives, so popping needs no
 * atomics beyond the publication check.
 *
 * Death: the creator releases the pipe.  Senders bracket their work with
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

struct pipe {
	struct object obj;
	struct holder *receiver;   /* the creator; fixed */
	size_t capacity;
	size_t mask;
	struct ring_cell *cells;
	atomic_bool dead;
	atomic_size_t refs;         /* creator, holders, carriers, notices */
	atomic_size_t other_holds;  /* holders other than the creator + carriers */

	TRINDLE_ALIGNED atomic_size_t tail;
	atomic_size_t senders_inside;

	TRINDLE_ALIGNED atomic_size_t head_pub; /* head, as senders see it */
	atomic_uint room_waiters;   /* senders asleep until there is room */
	atomic_uint room_seq;       /* their futex word: bumped by the receiver */
	size_t head;                /* receiver only */
	uint64_t last_served;       /* receiver only: fairness stamp */
	atomic_size_t overflow_count;

	pthread_mutex_t lock;       /* holders and overflow list */
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
void trindle__pipe_publish(struct pipe *p, size_t pos, struct object *o);
/* Gives back the claimed cells [pos, end) if nobody claimed after them. */
bool trindle__pipe_unclaim(struct pipe *p, size_t pos, size_t end);
/* Queues o even when the pipe is full (between enter and leave). */
void trindle__pipe_force(struct pipe *p, struct object *o);
void trindle__pipe_leave(struct pipe *p);

/* Receiving (the creator's thread only). */
size_t trindle__pipe_pop(struct pipe *p, struct object **objs, size_t max);
bool trindle__pipe_ready(struct pipe *p);
/* Could anything still arrive?  (Someone else holds it, or carries it.) */
bool trindle__pipe_has_senders(struct pipe *p);

size_t trindle__pipe_measure(struct pipe *p);

/* Waiting for room (the devices' senders; the contract has no such call):
 * sleeps until the receiver takes a message or the pipe dies, or until
 * timeout_ns passes (negative: no limit); it may return early, so the
 * caller retries its send.  Returns false on timeout. */
bool trindle__pipe_wait_room(struct pipe *p, int64_t timeout_ns);
static inline bool trindle__pipe_dead(struct pipe *p)
{
	return atomic_load_explicit(&p->dead, memory_order_acquire);
}

/* Killing a pipe (its creator's release) takes three steps, so that the
 * pipe never calls up into the process that kills it: mark it dead, which
 * waits for the senders inside to leave (none can enter after); drain it
 * with trindle__pipe_pop() and let go of what the messages carried; then
 * post every other holder the closure notice. */
void trindle__pipe_mark_dead(struct pipe *p);
void trindle__pipe_notify_holders(struct pipe *p);

/* Holds on a pipe by processes other than its creator. */
bool trindle__pipe_grant(struct pipe *p, struct holder *proc);
void trindle__pipe_carry(struct pipe *p);
void trindle__pipe_uncarry(struct pipe *p);
bool trindle__pipe_adopt(struct pipe *p, struct holder *proc);
void trindle__pipe_drop_holder(struct pipe *p, struct holder *proc);

#endif
