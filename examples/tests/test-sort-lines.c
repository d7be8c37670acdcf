/* SPDX-License-Identifier: MIT */
/*
 * test-sort-lines.c - sort-lines.h's sort_lines() against qsort() with
 * line_cmp(), the order LC_ALL=C sort gives.  The cases are made to reach
 * every path: lines that end inside a key, NUL bytes next to the keys'
 * zero padding, runs of equal keys of every size around the insertion
 * sort's threshold, lines sharing prefixes longer than the levels sorted by
 * key (where qsort_r() takes over), and many copies of one long line.
 * Exits 0 when every order matches, 1 at the first mismatch (printed).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../sort-lines.h"

static int qsort_cmp(const void *a, const void *b)
{
	return line_cmp(a, b);
}

/* A buffer of count lines, each a shared prefix of prefix_len bytes (from
 * a few choices) and a tail of up to max_tail bytes over alphabet. */
static char *make_lines(size_t count, size_t prefix_len, size_t max_tail,
		const char *alphabet, size_t size, size_t *len)
{
	char *buf = malloc(count * (prefix_len + max_tail + 1) + 1);
	size_t at = 0;

	for (size_t i = 0; buf && i < count; i++) {
		size_t prefix = (size_t)random() % 3 == 0 ?
			(size_t)random() % (prefix_len + 1) : prefix_len;
		for (size_t k = 0; k < prefix; k++)
			buf[at++] = (char)('a' + k % 3);
		size_t tail = max_tail ? (size_t)random() % (max_tail + 1) : 0;
		for (size_t k = 0; k < tail; k++)
			buf[at++] = alphabet[(size_t)random() % size];
		buf[at++] = '\n';
	}
	*len = at;
	return buf;
}

/* Sorts the lines of buf both ways and compares the orders, line by line:
 * equal lines are interchangeable, so their contents are compared. */
static int check(const char *what, const char *buf, size_t len)
{
	size_t n, m;
	struct line *a = split(buf, len, &n), *b = split(buf, len, &m);

	if (!a || !b || n != m) {
		fprintf(stderr, "%s: split failed\n", what);
		return 1;
	}
	qsort(a, n, sizeof *a, qsort_cmp);
	if (!sort_lines(b, n)) {
		fprintf(stderr, "%s: out of memory\n", what);
		return 1;
	}
	for (size_t i = 0; i < n; i++) {
		if (a[i].n != b[i].n || memcmp(a[i].p, b[i].p, a[i].n) != 0) {
			fprintf(stderr, "%s: line %zu of %zu differs (lengths "
					"%zu, %zu)\n", what, i, n, a[i].n,
					b[i].n);
			return 1;
		}
	}
	free(a);
	free(b);
	return 0;
}

int main(void)
{
	static const char small[] = "ab", nul[] = { 'a', '\0', 'b' },
		wide[] = "abcdefghijklmnopqrstuvwxyz0123456789 \t#*/";
	static const struct { const char *alphabet; size_t size; } sets[] = {
		{ small, 2 }, { nul, 3 }, { wide, sizeof wide - 1 },
	};
	size_t counts[] = { 0, 1, 2, 31, 32, 33, 100, 1000, 20000 };
	size_t prefixes[] = { 0, 3, 7, 8, 9, 16, 200 };
	size_t tails[] = { 0, 1, 5, 8, 17, 40 };
	int failed = 0, cases = 0;
	char what[128];

	srandom(12);
	for (size_t s = 0; s < sizeof sets / sizeof sets[0]; s++)
		for (size_t c = 0; c < sizeof counts / sizeof counts[0]; c++)
			for (size_t p = 0; p < sizeof prefixes / sizeof prefixes[0]; p++)
				for (size_t t = 0; t < sizeof tails / sizeof tails[0]; t++) {
					size_t len;
					char *buf = make_lines(counts[c], prefixes[p],
							tails[t], sets[s].alphabet,
							sets[s].size, &len);
					snprintf(what, sizeof what, "alphabet %zu, %zu "
							"lines, prefix %zu, tail %zu", s,
							counts[c], prefixes[p], tails[t]);
					failed |= !buf || check(what, buf, len);
					cases++;
					free(buf);
				}
	/* 500 copies of one 5,000-byte line: one key for all, 625 times. */
	{
		size_t len = 500 * 5001;
		char *buf = malloc(len);
		for (size_t i = 0; buf && i < len; i++)
			buf[i] = i % 5001 == 5000 ? '\n' : 'x';
		failed |= !buf || check("500 equal long lines", buf, len);
		cases++;
		free(buf);
	}
	/* Lines that differ only by trailing NUL bytes share their key and
	 * all end within it: one run, ordered by length alone.  Interleaved
	 * lengths must not make that ordering quadratic (300,000 lines: well
	 * under a second when linear, minutes when quadratic). */
	{
		size_t count = 300000, len = 0;
		char *buf = malloc(count * 3);
		for (size_t i = 0; buf && i < count; i++) {
			for (size_t k = 0; k < i % 3; k++)
				buf[len++] = '\0';
			buf[len++] = '\n';
		}
		clock_t start = clock();
		failed |= !buf || check("300,000 lines of 0 to 2 NULs", buf,
				len);
		double cpu = (double)(clock() - start) / CLOCKS_PER_SEC;
		if (cpu > 10) {
			fprintf(stderr, "300,000 lines of 0 to 2 NULs took "
					"%.1f s of CPU\n", cpu);
			failed = 1;
		}
		cases++;
		free(buf);
	}
	if (!failed)
		printf("sort_lines() agreed with qsort() in %d cases\n", cases);
	return failed;
}
