/* SPDX-License-Identifier: MIT */
/*
 * cap.h - a process's capability table.
 *
 * Maps an object's name (its address) to the object and the process's
 * rights on it.  Only the owning process's thread reads or changes its
 * table (a launcher fills a new worker's table before the worker starts),
 * so the table has no lock.  Open addressing with linear probing.  A
 * removal leaves a tombstone: the slot keeps its key, with no object, so
 * removing costs a store, and when the same name is inserted again (a
 * segment that comes back, a recycled address) it takes its old slot.
 * trindle__cap_reserve() sweeps the tombstones out when they and the live
 * entries would fill more than half the slots.  An entry pointer stays
 * valid until the next trindle__cap_reserve() or trindle__cap_insert()
 * (which reserves): removals and trindle__cap_find_or_insert() move no
 * other entry.
 *
 * Recent receipts.  A segment a sync receives as its only holder (no
 * other process or message holds it, so the table has no live entry for
 * it) is not put in the table at once: it is queued in t->recent, in the
 * order received.  A run of moves that sends them on in that order or
 * the reverse (a relay, a stack of free buffers) takes them from either
 * end of the queue, never touching the slots.  Anything else that reads
 * or changes the table first moves the queued receipts into it
 * (trindle__cap_settle): every lookup but that fast path, and
 * trindle__cap_find_pipe() (pipes are never queued), sees them as
 * ordinary entries.  Room for them in the slots
 * was reserved before they were received, and nothing inserts before
 * they are settled, so settling them cannot fail and moves no entry.
 */
#ifndef TRINDLE_CAP_H
#define TRINDLE_CAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "object.h"

/* Marks one sync leaves on an entry (valid while mark_epoch matches). */
enum cap_mark {
	CAP_RELEASE_LATER = 1, /* planning: a release follows that no send claimed yet */
	CAP_SEND_FAILED = 2,   /* a send of it failed: its release must fail too */
	CAP_MOVED = 4,         /* a send already took over the hold (a move) */
	CAP_REQUESTED = 8,     /* a receive request for this pipe was seen */
	CAP_FULL = 16,         /* a send to this pipe failed for lack of room */
};

struct cap {
	uintptr_t key;       /* the object's name; 0: an empty slot */
	struct object *obj;  /* NULL: a tombstone (see above) */
	uint8_t rights;      /* pipes: SEND, or SEND|RECEIVE for the creator */
	uint8_t marks;       /* enum cap_mark, valid for mark_epoch */
	uint32_t mark_epoch;
	size_t move_send;    /* outbox index of the send that moves it */
};

/* A queued receipt (see the top): a segment's name and object. */
struct cap_recent {
	uintptr_t key;
	struct object *obj;
};

/* At most one receive batch is queued: receiving reserves room first,
 * which settles what the previous batch left. */
#define CAP_RECENT_MAX 64

struct cap_table {
	struct cap *slots;
	size_t capacity; /* a power of two */
	size_t mask;     /* capacity - 1, kept so that a probe need not
	                  * compute it */
	size_t used;     /* live entries */
	size_t taken;    /* slots with a key: live entries and tombstones
	                  * (one counter, so that a removal, which turns a
	                  * live entry into a tombstone, leaves it alone) */
	size_t recent_next; /* recent[recent_next .. nrecent) are queued */
	size_t nrecent;     /* 0: nothing queued (then recent_next is 0) */
	struct cap_recent recent[CAP_RECENT_MAX];
};

int trindle__cap_init(struct cap_table *t);
/* Inserts a new entry (the key must not be present); NULL when out of memory. */
struct cap *trindle__cap_insert(struct cap_table *t, const void *key,
		struct object *obj, uint8_t rights);
/* Empties a table with no live entry, back to its first size when it
 * grew (a pooled process's next incarnation starts small: what its last
 * one left, tombstones and all, would cost it at every end and rebuild). */
void trindle__cap_reset(struct cap_table *t);
/* Makes room so that n more inserts cannot fail: 0 or -ENOMEM. */
int trindle__cap_reserve(struct cap_table *t, size_t n);

/* Lookup, insertion into reserved room and removal are inline: a sync
 * makes one or two of them per message. */

#define CAP_EMPTY ((uintptr_t)0)

static inline size_t trindle__cap_hash(uintptr_t key, size_t mask)
{
	/* Names are page- or malloc-aligned: mix the high bits down. */
	uint64_t h = (uint64_t)key * 0x9E3779B97F4A7C15ull;
	return (size_t)(h >> 20) & mask;
}

/* Does slot c hold a live entry?  (An empty slot's other fields are
 * undefined.) */
static inline bool trindle__cap_live(const struct cap *c)
{
	return c->key != CAP_EMPTY && c->obj;
}

/* The slot holding k (live or a tombstone), or the empty slot where it
 * would go (live entries and tombstones never fill more than half the
 * table, so there is one).  Sees only the slots: not for use before the
 * queued receipts are settled. */
static inline struct cap *trindle__cap_slot(const struct cap_table *t,
		uintptr_t k)
{
	size_t mask = t->mask;

	for (size_t i = trindle__cap_hash(k, mask);; i = (i + 1) & mask) {
		struct cap *c = &t->slots[i];
		if (c->key == k || c->key == CAP_EMPTY)
			return c;
	}
}

void trindle__cap_settle_recent(struct cap_table *t);

/* Moves the queued receipts into the slots; every access to the table
 * but the move path's use of t->recent starts with it. */
static inline void trindle__cap_settle(struct cap_table *t)
{
	if (t->nrecent)
		trindle__cap_settle_recent(t);
}

/* trindle__cap_slot() after settling the queued receipts. */
static inline struct cap *trindle__cap_probe(struct cap_table *t,
		uintptr_t k)
{
	trindle__cap_settle(t);
	return trindle__cap_slot(t, k);
}

/* Queues the receipt of a segment p holds alone now, and had no entry
 * for (see the top): the caller reserved room for it. */
static inline void trindle__cap_add_recent(struct cap_table *t,
		uintptr_t k, struct object *obj)
{
	if (t->nrecent == CAP_RECENT_MAX)
		trindle__cap_settle_recent(t);
	t->recent[t->nrecent++] = (struct cap_recent){ k, obj };
}

static inline struct cap *trindle__cap_find(struct cap_table *t,
		const void *key)
{
	uintptr_t k = (uintptr_t)key;

	if (k == CAP_EMPTY)
		return NULL;
	struct cap *c = trindle__cap_probe(t, k);
	return c->key == k && c->obj ? c : NULL;
}

/* The live entry for key if it names a pipe, else NULL.  Only segments
 * are ever queued as receipts, so this needs no settling (and leaves
 * them queued for the move path). */
static inline struct cap *trindle__cap_find_pipe(const struct cap_table *t,
		const void *key)
{
	uintptr_t k = (uintptr_t)key;

	if (k == CAP_EMPTY)
		return NULL;
	struct cap *c = trindle__cap_slot(t, k);
	return c->key == k && c->obj && c->obj->kind == OBJECT_PIPE ? c : NULL;
}

/* Fills c, an empty slot or k's tombstone, with a new entry for k, no
 * marks.  An empty slot becomes taken; k's tombstone was already. */
static inline struct cap *trindle__cap_fill(struct cap_table *t,
		struct cap *c, uintptr_t k, struct object *obj, uint8_t rights)
{
	t->taken += c->key == CAP_EMPTY;
	*c = (struct cap){ .key = k, .obj = obj, .rights = rights };
	t->used++;
	return c;
}

/* The entry for key, inserted if missing; call trindle__cap_reserve()
 * first, so that it cannot fail.  *inserted says which. */
static inline struct cap *trindle__cap_find_or_insert(struct cap_table *t,
		const void *key, struct object *obj, uint8_t rights,
		bool *inserted)
{
	uintptr_t k = (uintptr_t)key;
	struct cap *c = trindle__cap_probe(t, k);

	*inserted = c->key != k || !c->obj;
	if (!*inserted)
		return c;
	return trindle__cap_fill(t, c, k, obj, rights);
}

/* Leaves a tombstone: no other entry moves. */
static inline void trindle__cap_remove(struct cap_table *t, struct cap *c)
{
	c->obj = NULL;
	t->used--;
}

#endif
