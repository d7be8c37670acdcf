/* SPDX-License-Identifier: MIT */
/*
 * alloc, alloc-batch: what a fresh zero-filled 4 KiB segment costs, made
 * and given back at once; the figure is the time per allocation.
 *
 * libtrindle, "alloc": trindle_allocate() of one 4 KiB zero segment, then
 * one trindle_sync() that releases it.  "alloc-batch": 64 such segments
 * allocated, then all 64 released in one sync.
 * The twin: malloc() + memset() to zero + free(), one at a time or 64
 * mallocs then 64 frees.  That is what a C program does for a scratch
 * block; it gets no protection and no hand-off.
 *
 * Both sides check one word of each block reads zero, write the block's
 * number into it and read it back into the digest, so neither side can
 * skip the memory, and the compiler cannot drop the twin's malloc/free.
 */
#include "bench.h"

#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#define AL_WORDS (BENCH_BLOCK / sizeof(uint64_t))

static uint64_t al_count(const bench_opts_t *opts)
{
	/* A multiple of BENCH_BATCH, for the batched side. */
	return bench_size(opts, 200000, 2048) / BENCH_BATCH * BENCH_BATCH;
}

/* The per-block work both sides do; returns what goes into the digest. */
static uint64_t al_touch(void *block, uint64_t i, uint64_t *errors)
{
	uint64_t *w = block;
	size_t at = 1 + bench_mix(i) % (AL_WORDS - 1);

	*errors += w[at] != 0 || w[0] != 0;
	w[0] = i + 1;
	/* The block escapes here: the stores above must happen. */
	__asm__ volatile("" : : "r"(w) : "memory");
	return w[0];
}

static int al_done(const char *name, uint64_t errors, uint64_t n,
		double t0, bench_sample_t *s)
{
	s->seconds = bench_now() - t0;
	s->ops = n;
	return errors ? bench_fail(name, "%lu blocks were not zero",
			(unsigned long)errors) : 0;
}

/* ---- libtrindle ------------------------------------------------------- */

static int al_trindle(const bench_opts_t *opts, size_t batch,
		bench_sample_t *s)
{
	trindle_buffer_t zeros = { BENCH_BLOCK, NULL };
	trindle_segment_t segs[BENCH_BATCH];
	uint64_t n = al_count(opts), errors = 0;
	bt_out_t out;
	double t0 = bench_now();

	bt_out_init(&out);
	s->check = 0;
	for (uint64_t i = 0; i < n; i += batch) {
		for (size_t k = 0; k < batch; k++) {
			segs[k] = trindle_allocate(1, &zeros);
			if (!segs[k])
				return bench_fail("alloc", "trindle_allocate "
						"failed");
			s->check += al_touch(segs[k], i + k, &errors);
		}
		for (size_t k = 0; k < batch; k++)
			bt_release(&out, segs[k]);
		/* One sync releases the whole batch. */
		if (bt_sync(&out, NULL, 0) != 0 || out.b.count != 0)
			return bench_fail("alloc", "release failed");
	}
	return al_done("alloc", errors, n, t0, s);
}

int alloc_trindle(const bench_opts_t *opts, bench_sample_t *s)
{
	return al_trindle(opts, 1, s);
}

int alloc_batch_trindle(const bench_opts_t *opts, bench_sample_t *s)
{
	return al_trindle(opts, BENCH_BATCH, s);
}

/* ---- the twin: malloc + memset + free --------------------------------- */

static int al_malloc(const bench_opts_t *opts, size_t batch,
		bench_sample_t *s)
{
	void *blocks[BENCH_BATCH];
	uint64_t n = al_count(opts), errors = 0;
	double t0 = bench_now();

	s->check = 0;
	for (uint64_t i = 0; i < n; i += batch) {
		for (size_t k = 0; k < batch; k++) {
			blocks[k] = malloc(BENCH_BLOCK);
			if (!blocks[k])
				return bench_fail("alloc", "out of memory");
			memset(blocks[k], 0, BENCH_BLOCK);
			s->check += al_touch(blocks[k], i + k, &errors);
		}
		for (size_t k = 0; k < batch; k++)
			free(blocks[k]);
	}
	return al_done("alloc", errors, n, t0, s);
}

int alloc_pthreads(const bench_opts_t *opts, bench_sample_t *s)
{
	return al_malloc(opts, 1, s);
}

/*
 * 64 blocks of 4 KiB freed together leave 256 KiB free at the top of the
 * heap, more than glibc's default trim threshold (128 KiB): every round
 * would hand those pages back to the kernel and fault them in again, which
 * is most of what such a twin measures.  A program that allocates in
 * bursts raises the threshold, so this twin does; it runs in the
 * scenario's own process (see main.c), and the libtrindle side does not
 * allocate its segments with malloc.
 */
int alloc_batch_pthreads(const bench_opts_t *opts, bench_sample_t *s)
{
	mallopt(M_TRIM_THRESHOLD, 64 << 20);
	return al_malloc(opts, BENCH_BATCH, s);
}
