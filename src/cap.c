/* SPDX-License-Identifier: MIT */
/* cap.c - the per-process capability table (see cap.h). */
#include "cap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define CAP_EMPTY ((uintptr_t)0)
#define CAP_INITIAL 64

static size_t hash(uintptr_t key, size_t mask)
{
	/* Names are page- or malloc-aligned: mix the high bits down. */
	uint64_t h = (uint64_t)key * 0x9E3779B97F4A7C15ull;
	return (size_t)(h >> 20) & mask;
}

int trindle__cap_init(struct cap_table *t)
{
	t->slots = calloc(CAP_INITIAL, sizeof(*t->slots));
	if (!t->slots)
		return -ENOMEM;
	t->capacity = CAP_INITIAL;
	t->used = 0;
	return 0;
}

/* The slot holding key, or the empty slot where it would go. */
static struct cap *probe(const struct cap_table *t, uintptr_t k)
{
	size_t mask = t->capacity - 1;

	for (size_t i = hash(k, mask);; i = (i + 1) & mask) {
		struct cap *c = &t->slots[i];
		if (c->key == k || c->key == CAP_EMPTY)
			return c;
	}
}

struct cap *trindle__cap_find(const struct cap_table *t, const void *key)
{
	uintptr_t k = (uintptr_t)key;

	if (k == CAP_EMPTY)
		return NULL;
	struct cap *c = probe(t, k);
	return c->key == k ? c : NULL;
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
			*probe(t, old[i].key) = old[i];
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

static struct cap *fill(struct cap_table *t, struct cap *c, uintptr_t k,
		struct object *obj, uint8_t rights)
{
	memset(c, 0, sizeof(*c));
	c->key = k;
	c->obj = obj;
	c->rights = rights;
	t->used++;
	return c;
}

struct cap *trindle__cap_insert(struct cap_table *t, const void *key,
		struct object *obj, uint8_t rights)
{
	if (trindle__cap_reserve(t, 1) < 0)
		return NULL;
	return fill(t, probe(t, (uintptr_t)key), (uintptr_t)key, obj, rights);
}

struct cap *trindle__cap_find_or_insert(struct cap_table *t, const void *key,
		struct object *obj, uint8_t rights, bool *inserted)
{
	uintptr_t k = (uintptr_t)key;
	struct cap *c = probe(t, k);

	*inserted = c->key != k;
	if (!*inserted)
		return c;
	return fill(t, c, k, obj, rights);
}

/* Is slot i between home and j on the probe path (cyclically)? */
static bool on_path(size_t home, size_t i, size_t j, size_t mask)
{
	return ((i - home) & mask) < ((j - home) & mask);
}

void trindle__cap_remove(struct cap_table *t, struct cap *c)
{
	size_t mask = t->capacity - 1;
	size_t i = (size_t)(c - t->slots);

	/* Backward-shift deletion: pull later entries of the probe chain
	 * into the hole, so no tombstones pile up under churn. */
	for (size_t j = (i + 1) & mask; t->slots[j].key != CAP_EMPTY;
			j = (j + 1) & mask) {
		size_t home = hash(t->slots[j].key, mask);
		if (on_path(home, i, j, mask)) {
			t->slots[i] = t->slots[j];
			i = j;
		}
	}
	t->slots[i].key = CAP_EMPTY;
	t->slots[i].obj = NULL;
	t->used--;
}
