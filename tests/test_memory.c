/* SPDX-License-Identifier: MIT */
/*
 * Memory policy: destroyed segments give their pages back to the kernel
 * beyond the retention limit (here TRINDLE_RETAIN_MIB=0: at once), in bulk,
 * and a slot that gave its pages back still comes back zero-filled.
 */
#include "helpers.h"

#include <stdlib.h>
#include <string.h>

static void test_released_segments_give_memory_back(void **state)
{
	(void)state;
	enum { COUNT = 16, BYTES = 256 * 1024 }; /* 4 MiB: below the 8 MiB
	                                             * that always goes back */
	trindle_message_t rel[COUNT];
	trindle_util_batch_t b;
	size_t before = t_resident_bytes();

	trindle_util_batch_init(&b, rel, COUNT);
	for (int i = 0; i < COUNT; i++)
		assert_int_equal(trindle_util_add_release(&b,
				t_segment(BYTES, (unsigned char)(i + 1))), 0);
	size_t full = t_resident_bytes();
	assert_true(full >= before + COUNT * (size_t)BYTES * 3 / 4);

	assert_int_equal(trindle_util_flush(&b, NULL), 0);
	/* Nothing is retained: (nearly) all of it went back. */
	assert_true(t_resident_bytes() + COUNT * (size_t)BYTES * 3 / 4 <= full);
}

static void test_given_back_slots_come_back_zero_filled(void **state)
{
	(void)state;
	enum { BYTES = 3 * 4096 + 100 };
	unsigned char *s = t_segment(BYTES, 0xa5);
	assert_int_equal(t_release(s), 0);
	/* The same size class: likely the same slot, now given back. */
	unsigned char *again = trindle_allocate(1,
			&(trindle_buffer_t){ BYTES, NULL });
	assert_non_null(again);
	size_t end = 4 * 4096;
	for (size_t i = 0; i < end; i++)
		assert_int_equal(again[i], 0);
	assert_int_equal(t_release(again), 0);
}

int main(void)
{
	/* Read once, when the library starts: before the first call. */
	setenv("TRINDLE_RETAIN_MIB", "0", 1);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_released_segments_give_memory_back),
		cmocka_unit_test(test_given_back_slots_come_back_zero_filled),
	};
	return cmocka_run_group_tests_name("memory", tests, NULL, NULL);
}
