/* SPDX-License-Identifier: MIT */
/* cap.c - the per-process capability table (see cap.h). */
#include "cap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define CAP_EMPTY ((uintptr_t)0)
#define CAP_TOMBSTONE ((uintptr_t)1)
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
	t->filled = 0;
	return 0;
}

void trindle__cap_destroy(struct cap_table *t)
{
	free(t->slots);
	t->slots = NULL;
	t->capacity = t->used = t->filled = 0;
}

struct cap *trindle__cap_find(const struct cap_table *t, const void *key)
{
	uintptr_t k = (uintptr_t)key;
	size_t mask = t->capacity - 1;

	if (k <= CAP_TOMBSTONE)
		return NULL;
	for (size_t i = hash(k, mask);; i = (i + 1) & mask) {
		struct cap *c = &t->slots[i];
		if (c->key == k)
			return c;
		if (c->key == CAP_EMPTY)
			return NULL;
	}
}

/* Rebuilds the table at new_capacity, dropping tombstones. */
static int rehash(struct cap_table *t, size_t new_capacity)
{
	struct cap *old = t->slots;
	size_t old_capacity = t->capacity;
	struct cap *slots = calloc(new_capacity, sizeof(*slots));

	if (!slots)
		return -ENOMEM;
	for (size_t i = 0; i < old_capacity; i++) {
		if (old[i].key <= CAP_TOMBSTONE)
			continue;
		size_t j = hash(old[i].key, new_capacity - 1);
		while (slots[j].key != CAP_EMPTY)
			j = (j + 1) & (new_capacity - 1);
		slots[j] = old[i];
	}
	free(old);
	t->slots = slots;
	t->capacity = new_capacity;
	t->filled = t->used;
	return 0;
}

int trindle__cap_reserve(struct cap_table *t, size_t n)
{
	/* Keep at most half the slots filled so probes stay short. */
	if ((t->filled + n) * 2 <= t->capacity)
		return 0;
	size_t want = t->capacity;
	while ((t->used + n) * 4 > want)
		want *= 2;
	return rehash(t, want);
}

struct cap *trindle__cap_insert(struct cap_table *t, const void *key,
		struct object *obj, uint8_t rights)
{
	uintptr_t k = (uintptr_t)key;

	if (trindle__cap_reserve(t, 1) < 0)
		return NULL;
	size_t mask = t->capacity - 1;
	size_t i = hash(k, mask);
	while (t->slots[i].key > CAP_TOMBSTONE)
		i = (i + 1) & mask;
	struct cap *c = &t->slots[i];
	if (c->key == CAP_EMPTY)
		t->filled++;
	memset(c, 0, sizeof(*c));
	c->key = k;
	c->obj = obj;
	c->rights = rights;
	t->used++;
	return c;
}

struct cap *trindle__cap_find_or_insert(struct cap_table *t, const void *key,
		struct object *obj, uint8_t rights, bool *inserted)
{
	uintptr_t k = (uintptr_t)key;
	size_t mask = t->capacity - 1;

	for (size_t i = hash(k, mask);; i = (i + 1) & mask) {
		struct cap *c = &t->slots[i];
		if (c->key == k) {
			*inserted = false;
			return c;
		}
		if (c->key == CAP_EMPTY)
			break;
	}
	*inserted = true;
	return trindle__cap_insert(t, key, obj, rights);
}

void trindle__cap_remove(struct cap_table *t, struct cap *c)
{
	size_t mask = t->capacity - 1;
	size_t next = ((size_t)(c - t->slots) + 1) & mask;

	t->used--;
	/* A slot followed by an empty one ends no probe chain: free it. */
	if (t->slots[next].key == CAP_EMPTY) {
		c->key = CAP_EMPTY;
		t->filled--;
	} else {
		c->key = CAP_TOMBSTONE;
	}
	c->obj = NULL;
}

struct cap *trindle__cap_next(const struct cap_table *t, size_t *cursor)
{
	for (size_t i = *cursor; i < t->capacity; i++) {
		if (t->slots[i].key > CAP_TOMBSTONE) {
			*cursor = i + 1;
			return &t->slots[i];
		}
	}
	*cursor = t->capacity;
	return NULL;
}
