/* SPDX-License-Identifier: MIT */
/*
 * test-grep-find.c - grep-find.h's grep_find() against memmem(), on
 * buffers of every length up to a few hundred bytes and at every
 * alignment, with patterns of 0 to 40 bytes taken from the buffer or made
 * up, over alphabets small enough that near misses abound.  Each buffer is
 * a fresh malloc() of its exact size, so AddressSanitizer catches a load
 * past either end.  Exits 0 when every answer matches, 1 at the first
 * mismatch (printed).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../grep-find.h"

static uint64_t state = 0x9e3779b97f4a7c15u;

static uint64_t next_random(void)
{
	state ^= state << 13;
	state ^= state >> 7;
	state ^= state << 17;
	return state;
}

static char random_byte(const char *alphabet, size_t size)
{
	return alphabet[next_random() % size];
}

/* One search, checked; avx2 0 forces the SSE2 path. */
static int check(const char *buf, size_t n, const char *pat, size_t m,
		 int avx2)
{
	struct grep_pattern g;
	grep_pattern_init(&g, pat, m);
	g.avx2 &= avx2;
	for (size_t from = 0; from <= n; from += 1 + from / 8) {
		const char *want = memmem(buf + from, n - from, pat, m);
		const char *got = grep_find(&g, buf + from, buf + n);
		if (got != want) {
			fprintf(stderr, "mismatch: n %zu from %zu pattern "
				"'%.*s' (%zu) avx2 %d: got %td, want %td\n",
				n, from, (int)m, pat, m, avx2,
				got ? got - buf : -1, want ? want - buf : -1);
			return -1;
		}
	}
	return 0;
}

int main(void)
{
	static const char *const alphabets[] = { "ab", "ab q", " e\nt_qz",
		"abcdefghijklmnopqrstuvwxyz ()\n\xff" };
	char pat[48];
	long searches = 0;

	for (size_t n = 0; n <= 300; n++) {
		for (int round = 0; round < 12; round++) {
			const char *abc = alphabets[round % 4];
			size_t size = strlen(abc);
			char *buf = malloc(n ? n : 1);
			if (!buf)
				return 1;
			for (size_t i = 0; i < n; i++)
				buf[i] = random_byte(abc, size);
			size_t m = next_random() % 41;
			if (n && round % 2 && m <= n) { /* one that is there */
				size_t at = next_random() % (n - m + 1);
				memcpy(pat, buf + at, m);
			} else {
				for (size_t i = 0; i < m; i++)
					pat[i] = random_byte(abc, size);
			}
			int rc = check(buf, n, pat, m, 1);
			if (rc == 0)
				rc = check(buf, n, pat, m, 0);
			free(buf);
			if (rc)
				return 1;
			searches++;
		}
	}
	printf("grep_find agrees with memmem on %ld buffers\n", searches);
	return 0;
}
