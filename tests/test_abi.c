/* SPDX-License-Identifier: MIT */
/*
 * ABI: the public types' sizes, field offsets and field types, the access
 * bits' values, and the public calls' exact signatures.  A change here
 * breaks programs built against an earlier <trindle.h>.  These are facts
 * the compiler knows, so they are checked when this file compiles; the
 * tests at the end check what only the running library can say.
 */
#include "helpers.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

/* 1 when expression e has exactly type T (qualifiers and all); e is not
 * evaluated, so a member of a null pointer names a field's type. */
#define HAS_TYPE(e, T) _Generic((e), T: 1, default: 0)
#define FIELD(type, f) (((type *)0)->f)

/* The layout every LP64 and ILP32 target gives these structs: fields in
 * declaration order, pointers and size_t of one word, int of 4 bytes. */
#define W sizeof(void *)

/* Access bits: the contract's values, distinct, usable in int masks. */
_Static_assert(TRINDLE_ACCESS_READ == 1, "READ");
_Static_assert(TRINDLE_ACCESS_WRITE == 2, "WRITE");
_Static_assert(TRINDLE_ACCESS_EXECUTE == 4, "EXECUTE");
_Static_assert(TRINDLE_ACCESS_SEND == 8, "SEND");
_Static_assert(TRINDLE_ACCESS_RECEIVE == 16, "RECEIVE");
_Static_assert(HAS_TYPE(TRINDLE_ACCESS_SEND | TRINDLE_ACCESS_RECEIVE, int),
	       "int masks");
_Static_assert((TRINDLE_ACCESS_READ | TRINDLE_ACCESS_WRITE |
		TRINDLE_ACCESS_EXECUTE | TRINDLE_ACCESS_SEND |
		TRINDLE_ACCESS_RECEIVE) == 31, "distinct bits");

/* Objects are void pointers. */
_Static_assert(HAS_TYPE((trindle_object_t)0, void *), "object");
_Static_assert(HAS_TYPE((trindle_segment_t)0, void *), "segment");
_Static_assert(HAS_TYPE((trindle_pipe_t)0, void *), "pipe");
_Static_assert(sizeof(trindle_object_t) == W, "object size");

/* trindle_buffer_t, also as struct trindle_buffer. */
_Static_assert(sizeof(trindle_buffer_t) == sizeof(size_t) + W, "buffer size");
_Static_assert(offsetof(trindle_buffer_t, bytes) == 0, "buffer.bytes");
_Static_assert(offsetof(trindle_buffer_t, address) == sizeof(size_t),
	       "buffer.address");
_Static_assert(HAS_TYPE(FIELD(trindle_buffer_t, bytes), size_t), "bytes type");
_Static_assert(HAS_TYPE(FIELD(trindle_buffer_t, address), const void *),
	       "address type");
_Static_assert(HAS_TYPE((trindle_buffer_t *)0, struct trindle_buffer *), "tag");

/* trindle_message_t. */
_Static_assert(sizeof(trindle_message_t) == 2 * W, "message size");
_Static_assert(offsetof(trindle_message_t, address) == 0, "message.address");
_Static_assert(offsetof(trindle_message_t, content) == W, "message.content");
_Static_assert(HAS_TYPE(FIELD(trindle_message_t, address), trindle_pipe_t),
	       "address type");
_Static_assert(HAS_TYPE(FIELD(trindle_message_t, content), trindle_object_t),
	       "content type");
_Static_assert(HAS_TYPE((trindle_message_t *)0, struct trindle_message *), "tag");

/* trindle_mailbox_t. */
_Static_assert(sizeof(trindle_mailbox_t) == sizeof(size_t) + W, "mailbox size");
_Static_assert(offsetof(trindle_mailbox_t, count) == 0, "mailbox.count");
_Static_assert(offsetof(trindle_mailbox_t, address) == sizeof(size_t),
	       "mailbox.address");
_Static_assert(HAS_TYPE(FIELD(trindle_mailbox_t, count), size_t), "count type");
_Static_assert(HAS_TYPE(FIELD(trindle_mailbox_t, address), trindle_message_t *),
	       "address type");
_Static_assert(HAS_TYPE((trindle_mailbox_t *)0, struct trindle_mailbox *), "tag");

/* trindle_fault_t: address, access, signal, object, process. */
_Static_assert(offsetof(trindle_fault_t, address) == 0, "fault.address");
_Static_assert(offsetof(trindle_fault_t, access) == W, "fault.access");
_Static_assert(offsetof(trindle_fault_t, signal) == W + sizeof(int),
	       "fault.signal");
_Static_assert(offsetof(trindle_fault_t, object) ==
	       (W + 2 * sizeof(int) + W - 1) / W * W, "fault.object");
_Static_assert(offsetof(trindle_fault_t, process) ==
	       offsetof(trindle_fault_t, object) + W, "fault.process");
_Static_assert(sizeof(trindle_fault_t) == offsetof(trindle_fault_t, process) + W,
	       "fault size");
_Static_assert(W != 8 || sizeof(trindle_fault_t) == 32, "fault size, LP64");
_Static_assert(HAS_TYPE(FIELD(trindle_fault_t, address), void *), "address");
_Static_assert(HAS_TYPE(FIELD(trindle_fault_t, access), int), "access");
_Static_assert(HAS_TYPE(FIELD(trindle_fault_t, signal), int), "signal");
_Static_assert(HAS_TYPE(FIELD(trindle_fault_t, object), trindle_object_t),
	       "object");
_Static_assert(HAS_TYPE(FIELD(trindle_fault_t, process), trindle_pipe_t),
	       "process");
_Static_assert(HAS_TYPE((trindle_fault_t *)0, struct trindle_fault *), "tag");

/* The entrypoint, and each call with the contract's exact type: a changed
 * signature is a compile error.  _Noreturn is not part of a type. */
_Static_assert(HAS_TYPE((trindle_entrypoint_t)0, void (*)(trindle_pipe_t)),
	       "entrypoint");
_Static_assert(HAS_TYPE(&trindle_access, int (*)(trindle_object_t)), "access");
_Static_assert(HAS_TYPE(&trindle_measure, size_t (*)(trindle_object_t)),
	       "measure");
_Static_assert(HAS_TYPE(&trindle_allocate,
			trindle_segment_t (*)(size_t, const trindle_buffer_t *)),
	       "allocate");
_Static_assert(HAS_TYPE(&trindle_pipe, trindle_pipe_t (*)(size_t)), "pipe");
_Static_assert(HAS_TYPE(&trindle_sync,
			int (*)(trindle_mailbox_t *, trindle_mailbox_t *)),
	       "sync");
_Static_assert(HAS_TYPE(&trindle_sync_timeout,
			int (*)(trindle_mailbox_t *, trindle_mailbox_t *, int64_t)),
	       "sync_timeout");
_Static_assert(HAS_TYPE(&trindle_wait_room, int (*)(trindle_pipe_t, int64_t)),
	       "wait_room");
_Static_assert(HAS_TYPE(&trindle_launch,
			trindle_pipe_t (*)(trindle_entrypoint_t, size_t,
					   trindle_pipe_t, trindle_pipe_t)),
	       "launch");
_Static_assert(HAS_TYPE(&trindle_extend, int (*)(trindle_segment_t)), "extend");
_Static_assert(HAS_TYPE(&trindle_exit, void (*)(trindle_object_t)), "exit");
_Static_assert(HAS_TYPE(&trindle_abort, void (*)(trindle_object_t)), "abort");
_Static_assert(HAS_TYPE(&trindle_version, unsigned int (*)(void)), "version");
_Static_assert(HAS_TYPE(&trindle_version_string, const char *(*)(void)),
	       "version_string");

/* The header's version is the project's (meson.build passes it). */
_Static_assert(TRINDLE_VERSION_MAJOR == TRINDLE_PROJECT_MAJOR &&
	       TRINDLE_VERSION_MINOR == TRINDLE_PROJECT_MINOR &&
	       TRINDLE_VERSION_PATCH == TRINDLE_PROJECT_PATCH,
	       "trindle.h's version is meson.build's");
_Static_assert(TRINDLE_VERSION_HEX == ((TRINDLE_VERSION_MAJOR << 16) |
	       (TRINDLE_VERSION_MINOR << 8) | TRINDLE_VERSION_PATCH), "hex");

/* The library built with this header reports the header's version. */
static void test_version_matches_the_header(void **state)
{
	(void)state;
	assert_int_equal(trindle_version(), TRINDLE_VERSION_HEX);
	char want[32];
	snprintf(want, sizeof want, "%d.%d.%d", TRINDLE_VERSION_MAJOR,
		 TRINDLE_VERSION_MINOR, TRINDLE_VERSION_PATCH);
	assert_string_equal(trindle_version_string(), want);
	assert_ptr_equal(trindle_version_string(), trindle_version_string());
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_version_matches_the_header),
	};
	return cmocka_run_group_tests_name("abi", tests, NULL, NULL);
}
