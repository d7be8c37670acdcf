/* SPDX-License-Identifier: MIT */
/*
 * Memory policy with the default retention limit: a destroyed slot below
 * 8 MiB keeps its pages, so that the next segment of its size costs no
 * page faults, even when neighbours adding up to more are destroyed in the
 * same sync; a slot of 8 MiB or more gives its pages back at once.
 * (test_memory.c covers a limit of zero.)
 */
#include "helpers.h"

#include <stdlib.h>
#include <sys/resource.h>

enum { MIB = 1 << 20 };

static long minor_faults(void)
{
	struct rusage ru;
	assert_int_equal(getrusage(RUSAGE_SELF, &ru), 0);
	return ru.ru_minflt;
}

/* Releases segs[0 .. n) in one sync. */
static void release_together(trindle_segment_t *segs, size_t n)
{
	trindle_message_t rel[8];
	trindle_util_batch_t b;
	trindle_util_batch_init(&b, rel, 8);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(trindle_util_add_release(&b, segs[i]), 0);
	assert_int_equal(trindle_util_flush(&b, NULL), 0);
}

static void test_neighbours_below_8_mib_keep_their_pages(void **state)
{
	(void)state;
	enum { COUNT = 4, BYTES = 4 * MIB }; /* 16 MiB of 4 MiB neighbours */
	trindle_segment_t segs[COUNT];

	for (int i = 0; i < COUNT; i++)
		segs[i] = t_segment(BYTES, (unsigned char)(i + 1));
	size_t full = t_resident_bytes();
	release_together(segs, COUNT);
	/* Kept: (nearly) all of it is still resident. */
	assert_true(t_resident_bytes() + BYTES / 4 >= full);

	/* The same sizes again reuse those pages: zero-filled, without the
	 * 1,024 page faults each fresh 4 MiB would take. */
	long before = minor_faults();
	for (int i = 0; i < COUNT; i++) {
		segs[i] = trindle_allocate(1, &(trindle_buffer_t){ BYTES, NULL });
		assert_non_null(segs[i]);
		const unsigned char *p = segs[i];
		for (size_t k = 0; k < BYTES; k += 4096)
			assert_int_equal(p[k] | p[k + 4095], 0);
	}
	assert_true(minor_faults() - before < COUNT * BYTES / 4096 / 4);
	release_together(segs, COUNT);
}

static void test_a_big_slot_gives_its_pages_back(void **state)
{
	(void)state;
	enum { BYTES = 16 * MIB };
	trindle_segment_t seg = t_segment(BYTES, 0x5a);
	size_t full = t_resident_bytes();

	release_together(&seg, 1);
	assert_true(t_resident_bytes() + BYTES * 3 / 4 <= full);
}

int main(void)
{
	unsetenv("TRINDLE_RETAIN_MIB"); /* the default limit, 1 GiB */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_neighbours_below_8_mib_keep_their_pages),
		cmocka_unit_test(test_a_big_slot_gives_its_pages_back),
	};
	return cmocka_run_group_tests_name("retain", tests, NULL, NULL);
}
