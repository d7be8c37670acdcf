/* SPDX-License-Identifier: MIT */
/*
 * sort-lines.h - lines in LC_ALL=C sort order: splitting a chunk into
 * lines, their order, and the cursors of a k-way merge of sorted runs.
 * trindle-sort and its pthreads twin in benchmarks/io-bench.c both include
 * it, so that the two do the same work with the same code.  One program
 * includes it once: it defines static functions.
 */
#ifndef SORT_LINES_H
#define SORT_LINES_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct line {
	uint64_t key;     /* the first 8 bytes, big-endian, zero-padded */
	const char *p;
	size_t n;         /* without the newline */
};

static uint64_t key_of(const char *p, size_t n)
{
	uint64_t k = 0;
	for (size_t i = 0; i < 8; i++)
		k = k << 8 | (i < n ? (unsigned char)p[i] : 0);
	return k;
}

/* Byte order, the shorter first when one is a prefix of the other.  Equal
 * keys say nothing (zero padding and NUL bytes look alike): compare all. */
static int line_cmp(const struct line *a, const struct line *b)
{
	if (a->key != b->key)
		return a->key < b->key ? -1 : 1;
	size_t n = a->n < b->n ? a->n : b->n;
	int r = memcmp(a->p, b->p, n);
	if (r)
		return r;
	return (a->n > b->n) - (a->n < b->n);
}

/* A hook for the attributes of the hot functions (the sort's comparison,
 * the merge's sift), empty unless the includer defines it first, as
 * wc-count.h's WC_COUNT_HOT: a benchmark can make two programs place them
 * the same way. */
#ifndef SORT_LINES_HOT
#define SORT_LINES_HOT
#endif

SORT_LINES_HOT
static int qsort_cmp(const void *a, const void *b)
{
	return line_cmp(a, b);
}

/* Splits [p, p + n) into lines (a missing final newline is fine): a
 * malloc'd array of *count lines, or NULL when out of memory. */
static struct line *split(const char *p, size_t n, size_t *count)
{
	size_t cap = 1024, k = 0;
	struct line *v = malloc(cap * sizeof *v);
	for (const char *end = p + n; v && p < end;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
		if (k == cap) {
			struct line *w = realloc(v, (cap *= 2) * sizeof *v);
			if (!w)
				free(v);
			v = w;
			if (!v)
				break;
		}
		v[k++] = (struct line){ key_of(p, len), p, len };
		p += len + 1;
	}
	*count = k;
	return v;
}

/* The merge: a cursor per run, in a heap ordered by its current line. */
struct cursor {
	struct line line; /* the current line of this run */
	const char *end;
};

/* Loads the line at c->line.p; 0 when the run is over.  Runs end every
 * line with '\n'. */
static int cursor_load(struct cursor *c)
{
	const char *p = c->line.p;
	if (p >= c->end)
		return 0;
	const char *nl = memchr(p, '\n', (size_t)(c->end - p));
	c->line.n = (size_t)(nl - p);
	c->line.key = key_of(p, c->line.n);
	return 1;
}

SORT_LINES_HOT
static void sift_down(struct cursor *h, size_t n, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, m = i;
		if (l < n && line_cmp(&h[l].line, &h[m].line) < 0)
			m = l;
		if (l + 1 < n && line_cmp(&h[l + 1].line, &h[m].line) < 0)
			m = l + 1;
		if (m == i)
			return;
		struct cursor t = h[i];
		h[i] = h[m];
		h[m] = t;
		i = m;
	}
}

#endif /* SORT_LINES_H */
