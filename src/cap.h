/* SPDX-License-Identifier: MIT */
/*
 * cap.h - a process's capability table.
 *
 * Maps an object's name (its address) to the object and the process's
 * rights on it.  Only the owning process's thread reads or changes its
 * table (a launcher fills a new worker's table before the worker starts),
 * so the table has no lock.  Open addressing with linear probing and
 * backward-shift deletion: an entry pointer stays valid until the next
 * insert or removal.
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
	struct object *obj;
	uint8_t rights;      /* pipes: SEND, or SEND|RECEIVE for the creator */
	uint8_t marks;       /* enum cap_mark, valid for mark_epoch */
	uint32_t mark_epoch;
	size_t move_send;    /* outbox index of the send that moves it */
};

struct cap_table {
	struct cap *slots;
	size_t capacity; /* a power of two */
	size_t used;     /* live entries */
};

int trindle__cap_init(struct cap_table *t);
struct cap *trindle__cap_find(const struct cap_table *t, const void *key);
/* Inserts a new entry (the key must not be present); NULL when out of memory. */
struct cap *trindle__cap_insert(struct cap_table *t, const void *key,
		struct object *obj, uint8_t rights);
void trindle__cap_remove(struct cap_table *t, struct cap *c);
/* The entry for key, inserted if missing; call trindle__cap_reserve()
 * first, so that it cannot fail.  *inserted says which. */
struct cap *trindle__cap_find_or_insert(struct cap_table *t, const void *key,
		struct object *obj, uint8_t rights, bool *inserted);
/* Makes room so that n more inserts cannot fail: 0 or -ENOMEM. */
int trindle__cap_reserve(struct cap_table *t, size_t n);

#endif
