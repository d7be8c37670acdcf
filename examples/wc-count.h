/* SPDX-License-Identifier: MIT */
/*
 * wc-count.h - wc's counting of a chunk and the joining of the counts, in
 * the C locale.  trindle-wc and its pthreads twin in benchmarks/io-bench.c
 * both include it, so that the two do the same work with the same code.
 * One program includes it once: it defines static functions and data.
 *
 * Whitespace is space, \t, \n, \v, \f and \r; a word is a run of printable
 * characters; other bytes (control characters, bytes above 0x7e) neither
 * start nor end a word.  A word may straddle two chunks, so a chunk is
 * counted as if it started outside a word, with the kinds of its first and
 * last bytes that are not NEUTRAL, and wc_join() takes one word off a
 * chunk that continues a word begun before it.
 */
#ifndef WC_COUNT_H
#define WC_COUNT_H

#include <stddef.h>
#include <stdint.h>

enum { NEUTRAL, SPACE, PRINT };

/* What a chunk holds.  words counts the words that start in the chunk if
 * it starts outside a word; first and last are the kinds of its first and
 * last bytes that are not NEUTRAL (NEUTRAL if there are none). */
struct counts {
	uint64_t lines, words, bytes;
	int first, last;
};

/* The class of every byte in the C locale: wc_init() fills it, before any
 * thread counts. */
static unsigned char byte_class[256];

static void wc_init(void)
{
	for (int c = 0; c < 256; c++)
		byte_class[c] = (c >= 0x21 && c <= 0x7e) ? PRINT : NEUTRAL;
	for (const char *p = " \t\n\v\f\r"; *p; p++)
		byte_class[(unsigned char)*p] = SPACE;
}

/* A hook for the attributes of count(), empty unless the includer defines
 * it first: a benchmark that compares two programs counting with this
 * code can make both place it the same way (say, not inlined and on a
 * 64-byte boundary), since where the hot loop lands changes its speed. */
#ifndef WC_COUNT_HOT
#define WC_COUNT_HOT
#endif

WC_COUNT_HOT
static struct counts count(const unsigned char *p, size_t n)
{
	struct counts c = { 0, 0, n, NEUTRAL, NEUTRAL };
	int in_word = 0;

	for (size_t i = 0; i < n; i++) {
		int k = byte_class[p[i]];
		c.lines += p[i] == '\n';
		c.words += k == PRINT && !in_word;
		in_word = k == PRINT || (in_word && k == NEUTRAL);
	}
	for (size_t i = 0; i < n && c.first == NEUTRAL; i++)
		c.first = byte_class[p[i]];
	for (size_t i = n; i-- > 0 && c.last == NEUTRAL;)
		c.last = byte_class[p[i]];
	return c;
}

/* The counts of per[0 .. n), chunks in file order, added up. */
static struct counts wc_join(const struct counts *per, size_t n)
{
	struct counts t = { 0, 0, 0, NEUTRAL, NEUTRAL };
	int in_word = 0;

	for (size_t i = 0; i < n; i++) {
		t.lines += per[i].lines;
		t.bytes += per[i].bytes;
		t.words += per[i].words - (in_word && per[i].first == PRINT);
		if (per[i].last != NEUTRAL) /* all neutral: the state goes through */
			in_word = per[i].last == PRINT;
	}
	return t;
}

#endif /* WC_COUNT_H */
