/* SPDX-License-Identifier: MIT */
/* grow.h - the doubling array every module keeps one or two of. */
#ifndef TRINDLE_GROW_H
#define TRINDLE_GROW_H

#include <stdlib.h>

/*
 * Room for one more element in an array v of *capacity elements of size
 * bytes, count of them in use: returns v itself while there is room, else
 * v reallocated to twice the capacity (initial when it had none) with
 * *capacity updated, or NULL when out of memory (v and *capacity left as
 * they were).
 */
static inline void *trindle__grow(void *v, size_t *capacity, size_t count,
		size_t size, size_t initial)
{
	if (count < *capacity)
		return v;
	size_t cap = *capacity ? *capacity * 2 : initial;
	void *grown = realloc(v, cap * size);
	if (grown)
		*capacity = cap;
	return grown;
}

#endif
