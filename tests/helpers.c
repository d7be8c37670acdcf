/* SPDX-License-Identifier: MIT */
#include "helpers.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

/*
 * cmocka puts its own SIGSEGV and SIGBUS handlers in place (with signal())
 * around every test, which would take the faults that the tests provoke
 * away from libtrindle's handler.  The linker exports this definition from
 * each test program, because libcmocka refers to signal(), so cmocka's
 * calls land here: they leave those two signals to the library and work
 * as usual for the rest.
 */
sighandler_t signal(int sig, sighandler_t handler)
{
	struct sigaction sa, old;

	if (sig == SIGSEGV || sig == SIGBUS)
		return SIG_DFL;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = handler;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	if (sigaction(sig, &sa, &old) < 0)
		return SIG_ERR;
	return old.sa_handler;
}

static size_t sync_out(trindle_message_t *msgs, size_t count)
{
	trindle_mailbox_t out = { count, msgs };
	assert_int_equal(trindle_sync(&out, NULL), 0);
	return out.count;
}

size_t t_send(trindle_pipe_t pipe, trindle_object_t object)
{
	trindle_message_t m = { pipe, object };
	return sync_out(&m, 1);
}

size_t t_release(trindle_object_t object)
{
	trindle_message_t m = { NULL, object };
	return sync_out(&m, 1);
}

size_t t_move(trindle_pipe_t pipe, trindle_object_t object)
{
	trindle_message_t m[2] = { { pipe, object }, { NULL, object } };
	return sync_out(m, 2);
}

int t_recv(trindle_pipe_t pipe, trindle_message_t *msg, int64_t timeout_ns)
{
	trindle_message_t req = { pipe, NULL };
	trindle_mailbox_t out = { 1, &req };
	trindle_mailbox_t in = { 1, msg };
	assert_int_equal(trindle_sync_timeout(&out, &in, timeout_ns), 0);
	return (int)in.count;
}

size_t t_notices(trindle_message_t *msgs, size_t capacity)
{
	trindle_mailbox_t in = { capacity, msgs };
	assert_int_equal(trindle_sync(NULL, &in), 0);
	return in.count;
}

trindle_segment_t t_segment(size_t size, unsigned char fill)
{
	trindle_buffer_t b = { size, NULL };
	unsigned char *seg = trindle_allocate(1, &b);
	assert_non_null(seg);
	memset(seg, fill, size);
	return seg;
}

unsigned long t_scale(void)
{
	const char *s = getenv("TRINDLE_TEST_SCALE");
	unsigned long v = s ? strtoul(s, NULL, 10) : 1;
	return v ? v : 1;
}
