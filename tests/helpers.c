/* SPDX-License-Identifier: MIT */
#include "helpers.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>

/*
 * cmocka puts its own handlers for SIGSEGV, SIGBUS, SIGFPE and SIGILL in
 * place (with signal()) around every test, which would take the faults
 * that the tests provoke away from libtrindle's handler.  The linker
 * exports this definition from each test program, because libcmocka
 * refers to signal(), so cmocka's calls land here: they leave those four
 * signals to the library and work as usual for the rest.
 */
sighandler_t signal(int sig, sighandler_t handler)
{
	struct sigaction sa, old;

	if (sig == SIGSEGV || sig == SIGBUS || sig == SIGFPE || sig == SIGILL)
		return SIG_DFL;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = handler;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	if (sigaction(sig, &sa, &old) < 0)
		return SIG_ERR;
	return old.sa_handler;
}

/* ---- test thread: one sync at a time ---- */

/*
 * The t_* single steps are <trindle/util.h>'s, turned into what the tests
 * assert on: the number of messages that failed (a move is two).  A call
 * that failed as a whole (ENOMEM) is never an expected failure, so it
 * fails the test instead of counting as a refused message.
 */
static size_t failed(int rc, size_t messages)
{
	if (rc == 0)
		return 0;
	assert_int_not_equal(errno, ENOMEM);
	return messages;
}

size_t t_send(trindle_pipe_t pipe, trindle_object_t object)
{
	return failed(trindle_util_send(pipe, object), 1);
}

size_t t_release(trindle_object_t object)
{
	/* trindle_util_release(NULL) succeeds, as free(NULL) does; here it
	 * counts as the failed message { NULL, NULL } it would be, so that a
	 * test asserting a release of an object it lost fails. */
	if (!object)
		return 1;
	return failed(trindle_util_release(object), 1);
}

size_t t_move(trindle_pipe_t pipe, trindle_object_t object)
{
	return failed(trindle_util_move(pipe, object), 2);
}

int t_recv(trindle_pipe_t pipe, trindle_message_t *msg, int64_t timeout_ns)
{
	int r = trindle_util_receive(pipe, msg, timeout_ns);
	assert_int_not_equal(r, -1);
	return r;
}

size_t t_notices(trindle_message_t *msgs, size_t capacity)
{
	trindle_mailbox_t in = { capacity, msgs };
	assert_int_equal(trindle_sync(NULL, &in), 0);
	return in.count;
}

trindle_object_t t_next_message(trindle_pipe_t pipe)
{
	trindle_message_t got;
	do
		assert_int_equal(t_recv(pipe, &got, -1), 1);
	while (trindle_util_kind(&got) != TRINDLE_UTIL_MESSAGE);
	assert_ptr_equal(got.address, pipe);
	return got.content;
}

int t_drop_notices(void **state)
{
	trindle_message_t m[16];
	(void)state;
	while (t_notices(m, 16) > 0)
		;
	return 0;
}

/* ---- test thread: objects ---- */

trindle_segment_t t_segment(size_t size, unsigned char fill)
{
	trindle_buffer_t b = { size, NULL };
	unsigned char *seg = trindle_allocate(1, &b);
	assert_non_null(seg);
	memset(seg, fill, size);
	return seg;
}

trindle_pipe_t t_pipe(size_t capacity)
{
	trindle_pipe_t p = trindle_pipe(capacity);
	assert_non_null(p);
	return p;
}

trindle_segment_t t_labelled(unsigned long label)
{
	trindle_segment_t s = t_label(label);
	assert_non_null(s);
	return s;
}

void t_expect_label(const trindle_message_t *m, trindle_pipe_t pipe,
		    unsigned long label)
{
	assert_ptr_equal(m->address, pipe);
	assert_int_equal(trindle_access(m->content),
			 TRINDLE_ACCESS_READ | TRINDLE_ACCESS_WRITE);
	assert_int_equal(t_label_of(m->content), label);
	assert_int_equal(t_release(m->content), 0);
}

void t_check_fault(const trindle_fault_t *f, const void *address, int access,
		   trindle_object_t object, trindle_pipe_t process)
{
	assert_non_null(f);
	assert_true(trindle_measure((trindle_object_t)f) >= sizeof *f);
	assert_ptr_equal(f->address, address);
	assert_int_equal(f->access, access);
	assert_true(f->signal == SIGSEGV || f->signal == SIGBUS);
	assert_ptr_equal(f->object, object);
	assert_ptr_equal(f->process, process);
}

size_t t_await_end(trindle_pipe_t input, trindle_pipe_t wake,
		   trindle_message_t *keep, size_t cap)
{
	size_t kept = 0;
	for (;;) {
		trindle_message_t req = { wake, NULL }, got[8];
		trindle_mailbox_t out = { 1, &req }, in = { 8, got };
		bool ended = false;
		assert_int_equal(trindle_sync(&out, &in), 0);
		for (size_t i = 0; i < in.count; i++) {
			if (got[i].address == input && got[i].content == NULL) {
				ended = true;
				continue;
			}
			assert_true(kept < cap);
			keep[kept++] = got[i];
		}
		if (ended)
			return kept;
		/* The worker let go of wake; its end is still being recorded. */
		if (in.count == 0)
			sched_yield();
	}
}

/* ---- test thread: a box of what came in ---- */

/* One sync with a receive request on pipe (waiting at most 100 ms); sorts
 * what came into b's messages and notices. */
static void pump(trindle_pipe_t pipe, struct t_box *b)
{
	trindle_message_t req = { pipe, NULL }, got[8];
	trindle_mailbox_t out = { 1, &req }, in = { 8, got };
	assert_int_equal(trindle_sync_timeout(&out, &in, 100000000), 0);
	assert_int_equal(out.count, 0);
	for (size_t i = 0; i < in.count; i++) {
		if (got[i].address && got[i].content) {
			assert_true(b->tail < 64);
			b->msg[b->tail++] = got[i];
		} else {
			assert_true(b->notes < 64);
			b->note[b->notes++] = got[i];
		}
	}
}

trindle_object_t t_next_from(trindle_pipe_t pipe, struct t_box *b)
{
	int64_t end = t_now_ns() + T_WAIT_LIMIT_NS;
	while (b->head == b->tail && t_now_ns() < end)
		pump(pipe, b);
	if (b->head == b->tail)
		return NULL;
	assert_ptr_equal(b->msg[b->head].address, pipe);
	return b->msg[b->head++].content;
}

size_t t_count_notes(const struct t_box *b, trindle_message_t want)
{
	size_t n = 0;
	for (size_t i = 0; i < b->notes; i++)
		n += b->note[i].address == want.address &&
		     b->note[i].content == want.content;
	return n;
}

size_t t_await_note(trindle_pipe_t pipe, trindle_message_t want,
		    struct t_box *b)
{
	int64_t end = t_now_ns() + T_WAIT_LIMIT_NS;
	while (t_count_notes(b, want) == 0 && t_now_ns() < end)
		pump(pipe, b);
	return t_count_notes(b, want);
}

void t_await_gone(trindle_pipe_t w, trindle_pipe_t reply, struct t_box *b)
{
	assert_int_equal(t_await_note(reply, (trindle_message_t){ w, NULL }, b), 1);
}

trindle_pipe_t t_start(trindle_entrypoint_t entry, trindle_pipe_t reply)
{
	trindle_pipe_t w = trindle_launch(entry, 8, reply, reply);
	assert_non_null(w);
	assert_int_equal(t_send(w, reply), 0);
	return w;
}

void t_nudge(trindle_pipe_t w)
{
	trindle_segment_t tok = trindle_allocate(0, NULL);
	assert_non_null(tok);
	assert_int_equal(t_move(w, tok), 0);
}

void t_expect_fault(trindle_pipe_t reply, struct t_box *b, const void *address,
		    int access, trindle_object_t object, trindle_pipe_t process)
{
	const trindle_fault_t *f = t_next_from(reply, b);
	t_check_fault(f, address, access, object, process);
	assert_int_equal(trindle_access((trindle_object_t)f),
			 TRINDLE_ACCESS_READ | TRINDLE_ACCESS_WRITE);
	assert_int_equal(t_release((trindle_object_t)f), 0);
}

/* ---- workers: no cmocka ---- */

trindle_segment_t t_label(unsigned long label)
{
	trindle_buffer_t b = { sizeof label, &label };
	return trindle_allocate(1, &b);
}

unsigned long t_label_of(trindle_segment_t s)
{
	unsigned long v;
	memcpy(&v, s, sizeof v);
	return v;
}

/* Workers count failures as the test thread's helpers do, without cmocka. */
size_t t_w_send(trindle_pipe_t pipe, trindle_object_t object)
{
	return trindle_util_send(pipe, object) == 0 ? 0 : 1;
}

size_t t_w_move(trindle_pipe_t pipe, trindle_object_t object)
{
	return trindle_util_move(pipe, object) == 0 ? 0 : 2;
}

size_t t_w_release(trindle_object_t object)
{
	return trindle_util_release(object) == 0 ? 0 : 1;
}

void t_w_report(trindle_pipe_t reply, const uintptr_t *vals, size_t n)
{
	trindle_buffer_t b = { n * sizeof *vals, vals };
	t_w_move(reply, trindle_allocate(1, &b));
}

/* ---- anywhere ---- */

int64_t t_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

unsigned long t_scale(void)
{
	const char *s = getenv("TRINDLE_TEST_SCALE");
	unsigned long v = s ? strtoul(s, NULL, 10) : 1;
	return v ? v : 1;
}

size_t t_resident_bytes(void)
{
	unsigned long size = 0, resident = 0;
	FILE *f = fopen("/proc/self/statm", "r");
	assert_non_null(f);
	assert_int_equal(fscanf(f, "%lu %lu", &size, &resident), 2);
	fclose(f);
	return resident * (size_t)sysconf(_SC_PAGESIZE);
}

int t_run_child(const char *self, const char *name, const char *env)
{
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (env)
			putenv((char *)env);
		alarm(20);
		execl(self, self, "--child", name, (char *)NULL);
		_exit(127);
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return status;
}
