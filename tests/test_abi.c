/* SPDX-License-Identifier: MIT */
/*
 * ABI: the public types' sizes, field offsets and field types, the access
 * bits' values, and the public calls' exact signatures.  A change here
 * breaks programs built against an earlier <trindle.h>.
 */
#include "helpers.h"

#include <stddef.h>

/* 1 when expression e has exactly type T (qualifiers and all). */
#define HAS_TYPE(e, T) _Generic((e), T: 1, default: 0)

/* The layout every LP64 and ILP32 target gives these structs: fields in
 * declaration order, pointers and size_t of one word, int of 4 bytes. */
#define W sizeof(void *)

static void test_access_bits_have_contract_values(void **state)
{
	(void)state;
	assert_int_equal(TRINDLE_ACCESS_READ, 1);
	assert_int_equal(TRINDLE_ACCESS_WRITE, 2);
	assert_int_equal(TRINDLE_ACCESS_EXECUTE, 4);
	assert_int_equal(TRINDLE_ACCESS_SEND, 8);
	assert_int_equal(TRINDLE_ACCESS_RECEIVE, 16);
	/* Usable in int masks and constant expressions. */
	assert_true(HAS_TYPE(TRINDLE_ACCESS_SEND | TRINDLE_ACCESS_RECEIVE, int));
	_Static_assert((TRINDLE_ACCESS_READ | TRINDLE_ACCESS_WRITE |
			TRINDLE_ACCESS_EXECUTE | TRINDLE_ACCESS_SEND |
			TRINDLE_ACCESS_RECEIVE) == 31, "distinct bits");
}

static void test_object_types_are_void_pointers(void **state)
{
	(void)state;
	trindle_object_t o = NULL;
	trindle_segment_t s = NULL;
	trindle_pipe_t p = NULL;
	assert_true(HAS_TYPE(o, void *));
	assert_true(HAS_TYPE(s, void *));
	assert_true(HAS_TYPE(p, void *));
	assert_int_equal(sizeof(trindle_object_t), W);
}

static void test_buffer_layout(void **state)
{
	(void)state;
	trindle_buffer_t b = { 0, NULL };
	assert_int_equal(sizeof(trindle_buffer_t), sizeof(size_t) + W);
	assert_int_equal(offsetof(trindle_buffer_t, bytes), 0);
	assert_int_equal(offsetof(trindle_buffer_t, address), sizeof(size_t));
	assert_true(HAS_TYPE(b.bytes, size_t));
	assert_true(HAS_TYPE(b.address, const void *));
	/* Also a struct tag, as the header declares. */
	struct trindle_buffer *tagged = &b;
	assert_ptr_equal(tagged, &b);
}

static void test_message_layout(void **state)
{
	(void)state;
	trindle_message_t m = { NULL, NULL };
	assert_int_equal(sizeof(trindle_message_t), 2 * W);
	assert_int_equal(offsetof(trindle_message_t, address), 0);
	assert_int_equal(offsetof(trindle_message_t, content), W);
	assert_true(HAS_TYPE(m.address, trindle_pipe_t));
	assert_true(HAS_TYPE(m.content, trindle_object_t));
	struct trindle_message *tagged = &m;
	assert_ptr_equal(tagged, &m);
}

static void test_mailbox_layout(void **state)
{
	(void)state;
	trindle_mailbox_t mb = { 0, NULL };
	assert_int_equal(sizeof(trindle_mailbox_t), sizeof(size_t) + W);
	assert_int_equal(offsetof(trindle_mailbox_t, count), 0);
	assert_int_equal(offsetof(trindle_mailbox_t, address), sizeof(size_t));
	assert_true(HAS_TYPE(mb.count, size_t));
	assert_true(HAS_TYPE(mb.address, trindle_message_t *));
	struct trindle_mailbox *tagged = &mb;
	assert_ptr_equal(tagged, &mb);
}

static void test_fault_layout(void **state)
{
	(void)state;
	trindle_fault_t f = { 0 };
	assert_int_equal(offsetof(trindle_fault_t, address), 0);
	assert_int_equal(offsetof(trindle_fault_t, access), W);
	assert_int_equal(offsetof(trindle_fault_t, signal), W + sizeof(int));
	assert_int_equal(offsetof(trindle_fault_t, object),
			 (W + 2 * sizeof(int) + W - 1) / W * W);
	assert_int_equal(offsetof(trindle_fault_t, process),
			 offsetof(trindle_fault_t, object) + W);
	assert_int_equal(sizeof(trindle_fault_t),
			 offsetof(trindle_fault_t, process) + W);
	if (W == 8)
		assert_int_equal(sizeof(trindle_fault_t), 32);
	assert_true(HAS_TYPE(f.address, void *));
	assert_true(HAS_TYPE(f.access, int));
	assert_true(HAS_TYPE(f.signal, int));
	assert_true(HAS_TYPE(f.object, trindle_object_t));
	assert_true(HAS_TYPE(f.process, trindle_pipe_t));
	struct trindle_fault *tagged = &f;
	assert_ptr_equal(tagged, &f);
}

static void entry_shape(trindle_pipe_t input)
{
	(void)input;
}

static void test_entrypoint_type(void **state)
{
	(void)state;
	trindle_entrypoint_t e = entry_shape;
	assert_true(HAS_TYPE(e, void (*)(trindle_pipe_t)));
	assert_true(HAS_TYPE(e, void (*)(void *)));
}

/* Each call, assigned to a pointer of the contract's exact type: a
 * changed signature is a compile error or a failed _Generic match. */
static void test_call_signatures(void **state)
{
	(void)state;
	assert_true(HAS_TYPE(&trindle_access, int (*)(trindle_object_t)));
	assert_true(HAS_TYPE(&trindle_measure, size_t (*)(trindle_object_t)));
	assert_true(HAS_TYPE(&trindle_allocate,
			     trindle_segment_t (*)(size_t, const trindle_buffer_t *)));
	assert_true(HAS_TYPE(&trindle_pipe, trindle_pipe_t (*)(size_t)));
	assert_true(HAS_TYPE(&trindle_sync,
			     int (*)(trindle_mailbox_t *, trindle_mailbox_t *)));
	assert_true(HAS_TYPE(&trindle_sync_timeout,
			     int (*)(trindle_mailbox_t *, trindle_mailbox_t *, int64_t)));
	assert_true(HAS_TYPE(&trindle_launch,
			     trindle_pipe_t (*)(trindle_entrypoint_t, size_t,
						trindle_pipe_t, trindle_pipe_t)));
	assert_true(HAS_TYPE(&trindle_extend, int (*)(trindle_segment_t)));
	/* _Noreturn is not part of the type: the plain shape must match. */
	assert_true(HAS_TYPE(&trindle_exit, void (*)(trindle_object_t)));
	assert_true(HAS_TYPE(&trindle_abort, void (*)(trindle_object_t)));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_access_bits_have_contract_values),
		cmocka_unit_test(test_object_types_are_void_pointers),
		cmocka_unit_test(test_buffer_layout),
		cmocka_unit_test(test_message_layout),
		cmocka_unit_test(test_mailbox_layout),
		cmocka_unit_test(test_fault_layout),
		cmocka_unit_test(test_entrypoint_type),
		cmocka_unit_test(test_call_signatures),
	};
	return cmocka_run_group_tests_name("abi", tests, NULL, NULL);
}
