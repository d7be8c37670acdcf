/* SPDX-License-Identifier: MIT */
/* cap.c - the per-process capability table (see cap.h). */
#include "cap.h"

#include <errno.h>
#include <stdlib.h>

#define CAP_INITIAL 64
/* Tombstones make a table grow up to this many slots (see
 * trindle__cap_reserve); past it, only live entries do. */
#define CAP_TOMBSTONE_ROOM 2048

int trindle__cap_init(struct cap_table *t)
{
	t->slots = calloc(CAP_INITIAL, sizeof(*t->slots));
	if (!t->slots)
		return -ENOMEM;
	t->capacity = CAP_INITIAL;
	t->mask = CAP_INITIAL - 1;
	t->used = 0;
	t->taken = 0;
	t->recent_next = t->nrecent = 0;
	return 0;
}

/* Moves the live entries into a new array of new_capacity slots, leaving
 * the tombstones behind. */
static int rebuild(struct cap_table *t, size_t new_capacity)
{
	struct cap *old = t->slots;
	size_t old_capacity = t->capacity;
	struct cap *slots = malloc(new_capacity * sizeof(*slots));

	if (!slots)
		return -ENOMEM;
	for (size_t i = 0; i < new_capacity; i++)
		slots[i].key = CAP_EMPTY; /* all an empty slot needs */
	t->slots = slots;
	t->capacity = new_capacity;
	t->mask = new_capacity - 1;
	t->taken = t->used;
	for (size_t i = 0; i < old_capacity; i++)
		if (trindle__cap_live(&old[i]))
			*trindle__cap_slot(t, old[i].key) = old[i];
	free(old);
	return 0;
}

void trindle__cap_settle_recent(struct cap_table *t)
{
	for (size_t i = t->recent_next; i < t->nrecent; i++) {
		uintptr_t k = t->recent[i].key;
		struct cap *c = trindle__cap_slot(t, k);

		/* Never a live entry for k: it was received alone. */
		trindle__cap_fill(t, c, k, t->recent[i].obj, 0);
	}
	t->recent_next = t->nrecent = 0;
}

void trindle__cap_reset(struct cap_table *t)
{
	t->recent_next = t->nrecent = 0; /* none: they are live entries */
	/* No live entry is left: a table that grew is rebuilt at its first
	 * size, one that did not is cleared in place (tombstones and all). */
	if (t->capacity > CAP_INITIAL && rebuild(t, CAP_INITIAL) == 0)
		return;
	for (size_t i = 0; i < t->capacity; i++)
		t->slots[i].key = CAP_EMPTY;
	t->used = 0;
	t->taken = 0;
}

int trindle__cap_reserve(struct cap_table *t, size_t n)
{
	trindle__cap_settle(t); /* their room was reserved: now it is used */
	/* Keep at most half the slots taken (live or tombstones) so that
	 * probes stay short.  A rebuild leaves at most a quarter taken, so
	 * that the next one is at least a quarter of the slots' removals or
	 * inserts away.  Tombstones mostly stand for names that come back
	 * (segments circulating between processes): the table makes room
	 * for them too, up to CAP_TOMBSTONE_ROOM slots, or it would be
	 * rebuilt again and again, each time before they return. */
	if ((t->taken + n) * 2 <= t->capacity)
		return 0;
	size_t live = t->used + n, want = t->capacity;
	size_t gone = t->taken - t->used;
	while (live * 4 > want ||
	       ((live + gone) * 4 > want && want < CAP_TOMBSTONE_ROOM))
		want *= 2;
	return rebuild(t, want);
}

struct cap *trindle__cap_insert(struct cap_table *t, const void *key,
		struct object *obj, uint8_t rights)
{
	if (trindle__cap_reserve(t, 1) < 0)
		return NULL;
	return trindle__cap_fill(t, trindle__cap_probe(t, (uintptr_t)key),
			(uintptr_t)key, obj, rights);
}
