/* SPDX-License-Identifier: MIT */
/*
 * segment.h - segments: page-aligned memory whose rights the MMU enforces.
 *
 * Memory comes from arenas: PROT_NONE reservations carved into slots of
 * 2^k pages (a huge slot gets an arena of its own).  A slot and its
 * descriptor live for the whole program and are recycled, so the
 * descriptor of any address in an arena can be read at any time, even
 * from the SIGSEGV handler, without a lock.  A destroyed slot is recycled
 * only once its pages are PROT_NONE; one the kernel refused to protect
 * waits in quarantine (segment.c).
 *
 * A segment's holders are the processes that hold it plus the messages in
 * flight that carry it.  Rights follow their number: one holder RW, more
 * R, none destroyed (PROT_NONE).  State changes (the hold counts) happen
 * under the segment's spinlock; the page protection catches up in
 * trindle__segment_settle_many(), which a process calls for the segments
 * it touched before its next message is published and before its sync
 * returns, so a sync pays only for its net change, neighbours sharing one
 * mprotect.
 */
#ifndef TRINDLE_SEGMENT_H
#define TRINDLE_SEGMENT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lock.h"
#include "object.h"

struct holder;

enum seg_prot {
	SEG_NONE = 0,
	SEG_READ = 1,
	SEG_READ_WRITE = 3,
	SEG_READ_EXECUTE = 5,
	SEG_PARKED = 8,      /* debug mode: moved, in flight, PROT_NONE */
};

struct segment {
	struct object obj;
	spinlock_t lock;
	char *base;               /* the segment's name; fixed for the slot */
	size_t slot_pages;        /* 2^class pages; fixed for the slot */
	unsigned slot_class;
	/* State of the current incarnation. */
	size_t bytes;             /* as given to trindle_allocate */
	size_t pages;             /* pages in use (at least one) */
	atomic_size_t mapped;     /* pages * page size, for the fault handler */
	atomic_bool live;
	atomic_bool extended;
	atomic_int applied;       /* enum seg_prot now in force on the pages */
	atomic_size_t holds;      /* processes + messages in flight */
	/* Kept only while holds > 1 (see segment.c): */
	size_t nprocs;
	size_t procs_capacity;
	struct holder **procs;   /* the holding processes */
	struct holder *inline_procs[2];
	struct holder *notify;   /* due a sole-holder notice, or NULL */
	uint32_t generation;      /* bumped when destroyed */
	bool dirty_memory;        /* pages may hold old data: zero on reuse */
	bool guarded;             /* quarantined behind guard markers */
	size_t retained;          /* bytes it keeps resident while free */
	atomic_bool parked;       /* debug mode: a message holds it alone */
	struct segment *next_free;
};

/*
 * A process's cache of slots it destroyed itself, kept readable and
 * writable for its own next allocations of the same number of pages, so
 * that neither the destroy nor the allocation makes a system call.  The
 * contract lets a destroyed segment stay accessible this way, within a
 * documented bound: at most SLOT_CACHE_SLOTS slots of at most
 * SLOT_CACHE_BYTES in all, each a segment that was held by one process
 * and writable when it was destroyed.  A destroy finding the cache full
 * closes its segment as usual (no eviction, so bulk releases keep their
 * one mprotect per run).  Touching a kept slot is not caught until it is
 * reused or its process ends.  TRINDLE_DEBUG=strict turns it off.
 * Only the owning process's thread touches its cache.
 */
#define SLOT_CACHE_SLOTS 64
#define SLOT_CACHE_BYTES ((size_t)1 << 20)

struct slot_cache {
	struct segment *slot[SLOT_CACHE_SLOTS]; /* oldest first */
	size_t count;
	size_t bytes;
	bool closed;   /* its process is ending: it keeps nothing more */
};

/* Protects and recycles every slot of the cache. */
void trindle__slot_cache_flush(struct slot_cache *c);
/* The same, for good: a process that ends closes its cache before anyone
 * can learn of its end, and what it destroys after is not kept open. */
void trindle__slot_cache_close(struct slot_cache *c);

/* TRINDLE_DEBUG=strict: no cache; every destroyed segment faults. */
void trindle__segment_set_strict(bool strict);

/* Lookup for the fault handler: async-signal-safe, lock-free.  Returns
 * true if address lies in an arena; *seg is its slot's descriptor or NULL. */
bool trindle__segment_lookup(const void *address, struct segment **seg);

/* A new segment of total bytes held by proc alone (RW); the caller fills
 * it.  Returns 0 or -ENOMEM. */
int trindle__segment_create(size_t bytes, struct holder *proc,
		struct slot_cache *cache, struct segment **out);

/* Hold changes.  charge: a message takes a hold (move: the sender's). */
void trindle__segment_charge(struct segment *s, struct holder *sender,
		bool move);
/* Undoes a charge that shared s (its send failed after all). */
void trindle__segment_uncharge(struct segment *s);
/* The message's hold becomes the receiver's; true if the segment needs
 * settling before the receiving sync returns. */
bool trindle__segment_receive(struct segment *s, struct holder *receiver,
		bool already_held);
void trindle__segment_release(struct segment *s, struct holder *proc);
/* A message carrying s was dropped (its pipe died) by actor. */
void trindle__segment_drop_message(struct segment *s, struct holder *actor);
/* Adds a hold for proc, next to holder's (launch: a worker running code
 * in a segment its launcher holds). */
void trindle__segment_add_holder(struct segment *s, struct holder *holder,
		struct holder *proc);

/* Brings the page protection in line with the holds, destroys the segment
 * if nobody holds it, and sends a due sole-holder notice.  Returns false if
 * a shared segment is still writable (the kernel refused the change: out
 * of memory mappings). */
bool trindle__segment_settle(struct segment *s);
/* The same for many segments at once (sorts v): neighbours that need the
 * same change get it from one mprotect. */
void trindle__segment_settle_many(struct segment **v, size_t n,
		struct slot_cache *cache);
/* Is s shared but still writable (its protection change failed)? */
static inline bool trindle__segment_unprotected(struct segment *s)
{
	return atomic_load_explicit(&s->holds, memory_order_acquire) > 1 &&
		atomic_load_explicit(&s->applied, memory_order_acquire) ==
			SEG_READ_WRITE;
}

/* Rights of a holder: TRINDLE_ACCESS_* bits. */
int trindle__segment_rights(const struct segment *s);

int trindle__segment_extend(struct segment *s);

/* Gives a segment that one process holds alone, writable, a new size
 * within its slot (the file source reuses chunks of other sizes).  The
 * bytes up to the new size keep whatever they held; the rest of the last
 * page is zeroed.  Returns 0, -ENOSPC if the slot is too small, or
 * -ENOMEM. */
int trindle__segment_refit(struct segment *s, size_t bytes);

/* The slot descriptor of the arena page holding address, or NULL.  Reads
 * nothing that changes: check that the process holds s (a capability for
 * s->base) before calling trindle__segment_covers() or reading its state. */
struct segment *trindle__segment_slot(const void *address);
bool trindle__segment_covers(const struct segment *s, const void *address);

size_t trindle__page_size(void);

/* How many bytes of destroyed segments stay resident for reuse. */
void trindle__segment_set_retain_limit(size_t bytes);

/* The in-flight debug mode (TRINDLE_DEBUG=in-flight): a segment moved into
 * a pipe is PROT_NONE until it is received, so a sender that writes
 * through a stale pointer after the move faults.  Costs two mprotect
 * calls per move.  When it is on, movers mark moved segments dirty. */
void trindle__segment_set_debug(bool in_flight);
extern bool trindle__segment_debug_flag; /* set once, at start */
static inline bool trindle__segment_debug_in_flight(void)
{
	return trindle__segment_debug_flag;
}

/* Fast paths of the two halves of a move, inline for the sync loop; each
 * says false when the full call is needed.  A move by the only holder: the
 * hold passes to the message as it is, nothing is written. */
static inline bool trindle__segment_charge_move_fast(struct segment *s)
{
	return !trindle__segment_debug_flag &&
		atomic_load_explicit(&s->holds, memory_order_acquire) == 1;
}

/* A receiver that did not hold s takes over the only hold, the
 * message's: *settle says whether the pages must still catch up with a
 * fellow holder's release before the receiving sync returns. */
static inline bool trindle__segment_receive_fast(struct segment *s,
		bool already_held, bool *settle)
{
	if (already_held ||
	    atomic_load_explicit(&s->parked, memory_order_relaxed) ||
	    atomic_load_explicit(&s->holds, memory_order_acquire) != 1)
		return false;
	*settle = atomic_load_explicit(&s->applied, memory_order_acquire) ==
		SEG_READ && !atomic_load_explicit(&s->extended,
				memory_order_relaxed);
	return true;
}

#endif
