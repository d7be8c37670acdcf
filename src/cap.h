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

struct cap_table {
	struct cap *slots;
	size_t capacity; /* a power of two */
	size_t mask;     /* capacity - 1, kept so that a probe need not
	                  * compute it */
	size_t used;     /* live entries */
	size_t taken;    /* slots with a key: live entries and tombstones
	                  * (one counter, so that a removal, which turns a
	                  * live entry into a tombstone, leaves it alone) */
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
 * table, so there is one). */
static inline struct cap *trindle__cap_probe(const struct cap_table *t,
		uintptr_t k)
{
	size_t mask = t->mask;

	for (size_t i = trindle__cap_hash(k, mask);; i = (i + 1) & mask) {
		struct cap *c = &t->slots[i];
		if (c->key == k || c->key == CAP_EMPTY)
			return c;
	}
}

static inline struct cap *trindle__cap_find(const struct cap_table *t,
		const void *key)
{
	uintptr_t k = (uintptr_t)key;

	if (k == CAP_EMPTY)
		return NULL;
	struct cap *c = trindle__cap_probe(t, k);
	return c->key == k && c->obj ? c : NULL;
}

/* Fills c, an empty slot or k's tombstone, with a new entry for k, no
 * marks.  The caller counts an empty slot in t->taken. */
static inline struct cap *trindle__cap_fill(struct cap_table *t,
		struct cap *c, uintptr_t k, struct object *obj, uint8_t rights)
{
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

	if (c->key == k) {
		/* Live, or k's own tombstone (a segment coming back): the
		 * slot is taken already either way. */
		*inserted = !c->obj;
		if (c->obj)
			return c;
	} else {
		*inserted = true;
		t->taken++;
	}
	return trindle__cap_fill(t, c, k, obj, rights);
}

/* Leaves a tombstone: no other entry moves. */
static inline void trindle__cap_remove(struct cap_table *t, struct cap *c)
{
	c->obj = NULL;
	t->used--;
}

#endif
