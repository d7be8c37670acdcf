/* SPDX-License-Identifier: MIT */
/*
 * test-grep-find.c - grep-find.h's grep_find() against memmem(), on
 * buffers of every length up to 300 bytes and from every starting point,
 * on the AVX2 loop (where the CPU has it) and on the SSE2 loop alone, with
 * patterns of 0 to 40 bytes taken from the buffer or made
 * up, over alphabets small enough that near misses abound.  Each buffer
 * ends where an inaccessible page begins, so a load past its end faults
 * (AddressSanitizer does not check 32-byte loads).  Exits 0 when every
 * answer matches, 1 at the first mismatch (printed).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../grep-find.h"

/* random() from a fixed seed (main's srandom()): the same cases each run. */
static size_t next_random(void)
{
	return (size_t)random();
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
	if (!avx2)
		g.avx2 = 0; /* the SSE2 loop alone */
	for (size_t from = 0; from <= n; from++) {
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
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	char *area = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	srandom(20261206);
	if (area == MAP_FAILED || mprotect(area + page, page, PROT_NONE) != 0)
		return 1;

	for (size_t n = 0; n <= 300; n++) {
		for (int round = 0; round < 12; round++) {
			const char *abc = alphabets[round % 4];
			size_t size = strlen(abc);
			char *buf = area + page - n; /* its end: the guard */
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
			if (rc)
				return 1;
			searches++;
		}
	}
	printf("grep_find agrees with memmem on %ld buffers\n", searches);
	return 0;
}
