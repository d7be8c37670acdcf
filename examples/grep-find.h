/* SPDX-License-Identifier: MIT */
/*
 * grep-find.h - finding a fixed string in a buffer, for trindle-grep (and
 * any twin of it that wants the same search).  One program includes it
 * once: it defines static functions.
 *
 * glibc's memmem() steps through the buffer by the needle's bytes in
 * order, so a needle that starts with common bytes ("        if (x") makes
 * it stop and check nearly everywhere.  Here each pattern is looked for by
 * its two rarest bytes instead (rarest by a fixed ranking of bytes in
 * source code and English text): a 16-byte SSE2 compare finds the places
 * where both stand at the right distance (32-byte AVX2 compares where the
 * CPU has them), and only there is the whole pattern compared.  A
 * pattern of rare bytes then runs at memory speed, and one of common bytes
 * still skips most places.  Without SSE2 the search is memmem()'s.
 */
#ifndef GREP_FIND_H
#define GREP_FIND_H

#include <stddef.h>
#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif
/* x86-64 with GCC or Clang: an AVX2 loop too, used where the CPU has it. */
#if defined(__x86_64__) && defined(__GNUC__)
#define GREP_FIND_AVX2 1
#include <immintrin.h>
#endif

struct grep_pattern {
	const char *p;
	size_t n;
	size_t rare[2]; /* offsets of its two rarest bytes, rare[0] < rare[1] */
	int avx2;       /* the CPU has AVX2 */
};

/* The bytes most common in C source and English prose, most common first:
 * a byte further left is a worse one to look for.  Bytes not listed are
 * taken as rare. */
static const char grep_common_bytes[] =
	" etisonra_cl/p\ndhuSmfEbTIONR.LgACy,*)(P0k-vDxF1w2MGUB;#H:X\t=9YV35KWq";

static size_t grep_commonness(unsigned char c)
{
	const char *at = memchr(grep_common_bytes, c,
				sizeof grep_common_bytes - 1);
	return at ? sizeof grep_common_bytes - (size_t)(at - grep_common_bytes)
		  : 0;
}

/* Sets g up to look for p[0 .. n) (n may be 0: found everywhere). */
static void grep_pattern_init(struct grep_pattern *g, const char *p, size_t n)
{
	size_t a = 0, b = n > 1 ? 1 : 0;

	g->p = p;
	g->n = n;
	if (n > 1 && grep_commonness((unsigned char)p[b]) <
		     grep_commonness((unsigned char)p[a])) {
		a = 1;
		b = 0;
	}
	/* a: the rarest so far, b: the rarest at another offset. */
	for (size_t i = 2; i < n; i++) {
		size_t c = grep_commonness((unsigned char)p[i]);
		if (c < grep_commonness((unsigned char)p[a])) {
			b = a;
			a = i;
		} else if (c < grep_commonness((unsigned char)p[b])) {
			b = i;
		}
	}
	g->rare[0] = a < b ? a : b;
	g->rare[1] = a < b ? b : a;
#if defined(GREP_FIND_AVX2)
	g->avx2 = __builtin_cpu_supports("avx2") != 0;
#else
	g->avx2 = 0;
#endif
}

/* hits has bit k set where s + k may start the pattern (both rare bytes
 * are in place): the first such place where the whole pattern is, or
 * NULL. */
static const char *grep_check_hits(const struct grep_pattern *g,
				   const char *s, unsigned long long hits)
{
	for (; hits; hits &= hits - 1) {
		const char *at = s + __builtin_ctzll(hits);
		if (memcmp(at, g->p, g->n) == 0)
			return at;
	}
	return NULL;
}

#if defined(GREP_FIND_AVX2)
/* Where in the 32 places from s both rare bytes stand (byte k all ones
 * when s + k may start the pattern). */
__attribute__((target("avx2")))
static inline __m256i grep_pairs32(const char *s, size_t r0, size_t r1,
				   __m256i v0, __m256i v1)
{
	__m256i x0 = _mm256_loadu_si256((const __m256i *)(s + r0));
	__m256i x1 = _mm256_loadu_si256((const __m256i *)(s + r1));
	return _mm256_and_si256(_mm256_cmpeq_epi8(x0, v0),
				_mm256_cmpeq_epi8(x1, v1));
}

/* 64 places at a time, while the loads for all of them stay inside the
 * buffer (s + 63 + rare[1] < end once s + 63 <= last); returns the first
 * occurrence, or NULL with *next where the caller goes on. */
__attribute__((target("avx2")))
static const char *grep_find_avx2(const struct grep_pattern *g,
				  const char *s, const char *last,
				  const char **next)
{
	const size_t r0 = g->rare[0], r1 = g->rare[1];
	const __m256i v0 = _mm256_set1_epi8(g->p[r0]);
	const __m256i v1 = _mm256_set1_epi8(g->p[r1]);

	for (; last - s >= 63; s += 64) {
		__m256i a = grep_pairs32(s, r0, r1, v0, v1);
		__m256i b = grep_pairs32(s + 32, r0, r1, v0, v1);
		__m256i any = _mm256_or_si256(a, b);
		if (_mm256_testz_si256(any, any))
			continue;
		unsigned long long hits = (unsigned)_mm256_movemask_epi8(a) |
			(unsigned long long)(unsigned)_mm256_movemask_epi8(b)
				<< 32;
		const char *at = grep_check_hits(g, s, hits);
		if (at)
			return at;
	}
	*next = s;
	return NULL;
}
#endif

/* The first occurrence of g's pattern in [from, end), or NULL. */
static const char *grep_find(const struct grep_pattern *g, const char *from,
			     const char *end)
{
	size_t n = g->n;

	if ((size_t)(end - from) < n)
		return NULL;
	if (n == 0)
		return from;
	if (n == 1)
		return memchr(from, g->p[0], (size_t)(end - from));
#if defined(__SSE2__)
	const size_t r0 = g->rare[0], r1 = g->rare[1];
	const char c0 = g->p[r0], c1 = g->p[r1];
	const char *s = from, *last = end - n; /* the last place it can start */
	const char *at;

#if defined(GREP_FIND_AVX2)
	if (g->avx2 && (at = grep_find_avx2(g, s, last, &s)))
		return at;
#endif
	/* 16 places at a time, while the loads of both bytes for all of them
	 * stay inside the buffer: s + 15 + r1 < end once s + 15 <= last. */
	const __m128i v0 = _mm_set1_epi8(c0), v1 = _mm_set1_epi8(c1);
	for (; last - s >= 15; s += 16) {
		__m128i x0 = _mm_loadu_si128((const __m128i *)(s + r0));
		__m128i x1 = _mm_loadu_si128((const __m128i *)(s + r1));
		unsigned hits = (unsigned)_mm_movemask_epi8(_mm_and_si128(
			_mm_cmpeq_epi8(x0, v0), _mm_cmpeq_epi8(x1, v1)));
		if (hits && (at = grep_check_hits(g, s, hits)))
			return at;
	}
	for (; s <= last; s++)
		if (s[r0] == c0 && s[r1] == c1 && memcmp(s, g->p, n) == 0)
			return s;
	return NULL;
#else
	return memmem(from, (size_t)(end - from), g->p, n);
#endif
}

#endif /* GREP_FIND_H */
