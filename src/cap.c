/* SPDX-License-Identifier: MIT */
/* cap.c - the per-process capability table (see cap.h). */
#include "cap.h"

#include <errno.h>
#include <stdlib.h>

#define CAP_INITIAL 64

int trindle__cap_init(struct cap_table *t)
{
	t->slots = calloc(CAP_INITIAL, sizeof(*t->slots));
	if (!t->slots)
		return -ENOMEM;
	t->capacity = CAP_INITIAL;
	t->used = 0;
	return 0;
}

static int grow(struct cap_table *t, size_t new_capacity)
{
	struct cap *old = t->slots;
	size_t old_capacity = t->capacity;
	struct cap *slots = calloc(new_capacity, sizeof(*slots));

	if (!slots)
		return -ENOMEM;
	t->slots = slots;
	t->capacity = new_capacity;
	for (size_t i = 0; i < old_capacity; i++)
		if (old[i].key != CAP_EMPTY)
			*trindle__cap_probe(t, old[i].key) = old[i];
	free(old);
	return 0;
}

int trindle__cap_reserve(struct cap_table *t, size_t n)
{
	/* Keep at most half the slots used so probes stay short. */
	if ((t->used + n) * 2 <= t->capacity)
		return 0;
	size_t want = t->capacity;
	while ((t->used + n) * 2 > want)
		want *= 2;
	return grow(t, want);
}

struct cap *trindle__cap_insert(struct cap_table *t, const void *key,
		struct object *obj, uint8_t rights)
{
	if (trindle__cap_reserve(t, 1) < 0)
		return NULL;
	return trindle__cap_fill(t, trindle__cap_probe(t, (uintptr_t)key),
			(uintptr_t)key, obj, rights);
}
