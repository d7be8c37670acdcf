/* SPDX-License-Identifier: MIT */
/*
 * holder.h - what other threads may touch of a process: its notice queue
 * and its wait word.
 *
 * Segments and pipes know the processes that hold them only as holders:
 * they post notices to a holder (a segment's sole holder, a dead pipe's
 * senders) and wake it when something arrives for it, and never call up
 * into the process layer.  Every process embeds one holder; its owner
 * thread takes the notices in trindle_sync.  Holders live in pooled
 * process records that are never freed, so a stale holder pointer (a
 * waker racing with an ending) is always safe to touch.
 */
#ifndef TRINDLE_HOLDER_H
#define TRINDLE_HOLDER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lock.h"

enum notice_kind {
	NOTICE_SOLE_HOLDER = 1, /* { NULL, segment } */
	NOTICE_PIPE_DIED = 2,   /* { pipe, NULL } */
};

struct notice {
	uint8_t kind;
	uint32_t generation; /* the segment's, when the notice was sent */
	void *obj;           /* struct segment * or struct pipe * */
};

#define HOLDER_WAIT_SHOWN 8

struct holder {
	atomic_uint waiting;          /* futex word of trindle_sync waits */
	atomic_size_t notices_pending;
	pthread_mutex_t notice_lock;
	struct notice *notices;       /* FIFO: [notice_head, + notice_count) */
	size_t notice_head, notice_count, notice_capacity;
	/* What trindle_inquire() shows of a sync wait in progress: how many
	 * pipes it waits on (0: not waiting) and the first HOLDER_WAIT_SHOWN
	 * of them.  Written by the owner only around a wait, never on a sync
	 * that does not wait. */
	atomic_size_t wait_count;
	_Atomic int64_t wait_since;   /* when that wait began (monotonic ns) */
	spinlock_t wait_lock;         /* the owner clears a wait under it; the
	                               * stall monitor reads the pipes of one
	                               * under it (they live until cleared) */
	struct holder *all_next;      /* every holder ever made (never freed) */
	_Atomic uint32_t track;       /* its track in the trace (trace.h):
	                               * a worker's input pipe serial; 0 until
	                               * a root's first traced sync */
	_Atomic(void *) wait_on[HOLDER_WAIT_SHOWN];
};

void trindle__holder_init(struct holder *h);

/* Calls fn for every holder ever made (of live processes and pooled
 * ones), under a lock that holder_init also takes. */
void trindle__holder_each(void (*fn)(struct holder *h, void *arg), void *arg);

/* From any thread: queue a notice and wake the holder if it sleeps. */
void trindle__holder_notify(struct holder *h, struct notice n);

/* Owner thread: the oldest notice, if any. */
bool trindle__holder_pop_notice(struct holder *h, struct notice *n);

static inline bool trindle__holder_has_notices(struct holder *h)
{
	return atomic_load_explicit(&h->notices_pending, memory_order_acquire);
}

/* Wakes the holder if it sleeps in trindle_sync. */
void trindle__holder_wake(struct holder *h);

#endif
