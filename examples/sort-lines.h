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

/* The 8 bytes of p from depth on, big-endian, zero-padded. */
static uint64_t key_at(const struct line *l, size_t depth)
{
	return depth < l->n ? key_of(l->p + depth, l->n - depth) : 0;
}

/* line_cmp() for lines that agree on their first depth bytes. */
static int line_cmp_from(const struct line *a, const struct line *b,
		size_t depth)
{
	size_t n = a->n < b->n ? a->n : b->n;
	int r = n > depth ? memcmp(a->p + depth, b->p + depth, n - depth) : 0;
	if (r)
		return r;
	return (a->n > b->n) - (a->n < b->n);
}

static void insertion_sort_from(struct line *v, size_t n, size_t depth)
{
	for (size_t i = 1; i < n; i++) {
		struct line x = v[i];
		size_t j = i;
		while (j > 0 && line_cmp_from(&x, &v[j - 1], depth) < 0) {
			v[j] = v[j - 1];
			j--;
		}
		v[j] = x;
	}
}

/* Sorts v[0 .. n) by key, least significant byte first, through tmp (room
 * for n); a byte that every key shares costs no pass.  Never inlined: its
 * 16 KiB of counts would then sit in every level of sort_lines_from()'s
 * recursion. */
__attribute__((noinline))
static void radix_sort_keys(struct line *v, struct line *tmp, size_t n)
{
	size_t count[8][256] = { { 0 } };

	for (size_t i = 0; i < n; i++)
		for (int b = 0; b < 8; b++)
			count[b][v[i].key >> (8 * b) & 0xff]++;
	for (int b = 0; b < 8; b++) {
		size_t at = 0, *c = count[b];
		if (c[v[0].key >> (8 * b) & 0xff] == n)
			continue;
		for (int d = 0; d < 256; d++) {
			size_t k = c[d];
			c[d] = at;
			at += k;
		}
		for (size_t i = 0; i < n; i++)
			tmp[c[v[i].key >> (8 * b) & 0xff]++] = v[i];
		memcpy(v, tmp, n * sizeof *v);
	}
}

/* qsort_r()'s comparison for sort_lines_from(); arg points to depth. */
static int line_cmp_from_r(const void *a, const void *b, void *arg)
{
	return line_cmp_from(a, b, *(const size_t *)arg);
}

/* Moves the lines of v[from .. n) of length len (or at most len, when
 * at_most) to v[from ..); returns the index past them. */
static size_t partition_lines(struct line *v, size_t from, size_t n,
		size_t len, int at_most)
{
	for (size_t k = from; k < n; k++) {
		if (at_most ? v[k].n <= len : v[k].n == len) {
			struct line t = v[from];
			v[from++] = v[k];
			v[k] = t;
		}
	}
	return from;
}

/* Puts the lines of v[0 .. n) that end within bytes depth .. depth + 8
 * first, in order, and gives the others their key at depth + 8.  Returns
 * how many ended.  In a run of equal keys each line that ends there is a
 * prefix of every longer one (whose bytes there are the key's zero
 * padding), and two of one length are equal: their order is by length
 * alone, one partition per length (never a comparison sort, which would
 * be quadratic on many lines of interleaved lengths, such as lines of
 * NUL bytes).  Every line is at least depth long: shorter ones ended at
 * an earlier depth. */
static size_t settle_ended(struct line *v, size_t n, size_t depth)
{
	size_t ended = partition_lines(v, 0, n, depth + 8, 1);

	for (size_t len = depth, done = 0; len < depth + 8 && done < ended;
	     len++)
		done = partition_lines(v, done, ended, len, 0);
	for (size_t k = ended; k < n; k++)
		v[k].key = key_at(&v[k], depth + 8);
	return ended;
}

/* How deep runs of equal keys are sorted by keys of their own; deeper
 * ones (lines sharing long prefixes) go to qsort_r(), which needs no
 * stack for them. */
#define SORT_LINES_LEVELS 16

/*
 * Sorts v[0 .. n), lines that agree on their first depth bytes, with
 * v[i].key holding their bytes depth .. depth + 8: by key (radix), then
 * each run of equal keys on its next 8 bytes, and so on.  level counts the
 * runs sorted on their own so far.
 */
static void sort_lines_from(struct line *v, struct line *tmp, size_t n,
		size_t depth, int level)
{
	for (;;) {
		if (n < 32) {
			insertion_sort_from(v, n, depth);
			return;
		}
		if (level > SORT_LINES_LEVELS) {
			qsort_r(v, n, sizeof *v, line_cmp_from_r, &depth);
			return;
		}
		radix_sort_keys(v, tmp, n);
		if (v[0].key != v[n - 1].key)
			break;
		/* One key for all: on to the next 8 bytes, in this call. */
		size_t ended = settle_ended(v, n, depth);
		v += ended;
		n -= ended;
		depth += 8;
	}
	for (size_t i = 0, j; i < n; i = j) {
		for (j = i + 1; j < n && v[j].key == v[i].key; j++)
			;
		if (j - i < 2)
			continue;
		size_t ended = settle_ended(v + i, j - i, depth);
		sort_lines_from(v + i + ended, tmp, j - i - ended, depth + 8,
				level + 1);
	}
}

/* Sorts v[0 .. n) (as split() made them) in line order, as line_cmp()
 * says; their keys change.  Returns 0 when out of memory, with v
 * unchanged. */
SORT_LINES_HOT
static int sort_lines(struct line *v, size_t n)
{
	struct line *tmp = n > 1 ? malloc(n * sizeof *tmp) : NULL;
	if (n > 1 && !tmp)
		return 0;
	if (n > 1)
		sort_lines_from(v, tmp, n, 0, 0);
	free(tmp);
	return 1;
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
