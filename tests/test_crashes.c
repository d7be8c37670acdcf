/* SPDX-License-Identifier: MIT */
/*
 * test_crashes.c - a worker's own crash is a report, not the program's end:
 * a NULL dereference, a wild read, a division by zero, an illegal
 * instruction, abort() and a failed assert() each stop the worker alone
 * and send its fault report to err, with the right fields, while the
 * program and a worker beside it go on.  A root process's crash, a signal
 * sent from outside, and TRINDLE_FAULTS=rights keep the old behaviour:
 * the signal ends the program (checked in child processes).
 */
#undef NDEBUG
#include "helpers.h"

#include <assert.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define RW (TRINDLE_ACCESS_READ | TRINDLE_ACCESS_WRITE)

/* The crashes, each a worker of its own (t_start() sends it its reply
 * pipe first, which it takes before crashing). */
static void wait_for_reply_pipe(trindle_pipe_t input)
{
	(void)trindle_util_next_object(input);
}

/* The crashes must reach the CPU: UBSan would stop the program first. */
#define CRASHES __attribute__((no_sanitize_undefined, noinline))

CRASHES static void null_write(trindle_pipe_t input)
{
	wait_for_reply_pipe(input);
	*(volatile int *)NULL = 1;
}

/* An address in no mapping, hidden from the compiler's bounds checks. */
static volatile uintptr_t g_wild = 8;

CRASHES static void wild_read(trindle_pipe_t input)
{
	wait_for_reply_pipe(input);
	(void)*(volatile int *)g_wild;
}

/* Both operands volatile, so the compiler emits a real division (1 / d,
 * say, it turns into a comparison). */
static volatile int g_quotient, g_dividend = 7, g_divisor;

CRASHES static void divide(void)
{
	g_quotient = g_dividend / g_divisor;
}

static void divide_by_zero(trindle_pipe_t input)
{
	wait_for_reply_pipe(input);
	divide();
}

static void illegal_instruction(trindle_pipe_t input)
{
	wait_for_reply_pipe(input);
	__builtin_trap();
}

static void calls_abort(trindle_pipe_t input)
{
	wait_for_reply_pipe(input);
	abort();
}

static int g_zero; /* keeps the compiler from seeing the assert fail */

static void failed_assert(trindle_pipe_t input)
{
	wait_for_reply_pipe(input);
	assert(g_zero == 1);
}

/* Takes the fault report from reply (held here alone), checks its fields
 * and releases it; then the worker's end. */
static void expect_crash(trindle_entrypoint_t entry, int sig, int access,
			 bool address_is_null)
{
	trindle_pipe_t reply = t_pipe(4);
	struct t_box b = { 0 };
	trindle_pipe_t w = t_start(entry, reply);

	const trindle_fault_t *f = t_next_from(reply, &b);
	assert_non_null(f);
	assert_int_equal(trindle_access((trindle_object_t)f), RW);
	assert_true(trindle_measure((trindle_object_t)f) >= sizeof *f);
	assert_int_equal(f->signal, sig);
	assert_int_equal(f->access, access);
	assert_null(f->object);
	assert_ptr_equal(f->process, w);
	if (address_is_null)
		assert_null(f->address);
	else
		assert_non_null(f->address);
	assert_int_equal(t_release((trindle_object_t)f), 0);
	t_await_gone(w, reply, &b);
	assert_int_equal(t_release(reply), 0);
}

static void test_null_write_in_a_worker_is_a_report(void **state)
{
	expect_crash(null_write, SIGSEGV, TRINDLE_ACCESS_WRITE, true);
}

static void test_wild_read_in_a_worker_is_a_report(void **state)
{
	trindle_pipe_t reply = t_pipe(4);
	struct t_box b = { 0 };
	trindle_pipe_t w = t_start(wild_read, reply);
	t_expect_fault(reply, &b, (void *)8, TRINDLE_ACCESS_READ, NULL, w);
	t_await_gone(w, reply, &b);
	assert_int_equal(t_release(reply), 0);
}

static void test_division_by_zero_in_a_worker_is_a_report(void **state)
{
	expect_crash(divide_by_zero, SIGFPE, 0, false);
}

static void test_illegal_instruction_in_a_worker_is_a_report(void **state)
{
	expect_crash(illegal_instruction, SIGILL, 0, false);
}

static void test_abort_in_a_worker_is_a_report(void **state)
{
	expect_crash(calls_abort, SIGABRT, 0, false);
}

static void test_failed_assert_in_a_worker_is_a_report(void **state)
{
	expect_crash(failed_assert, SIGABRT, 0, false);
}

/* A worker beside the crashing one: echoes labels until STOP (0). */
static void echo(trindle_pipe_t input)
{
	trindle_pipe_t reply = trindle_util_next_object(input);
	trindle_object_t o;
	while ((o = trindle_util_next_object(input)) != NULL) {
		unsigned long label = t_label_of(o);
		t_w_move(reply, o);
		if (!label)
			return;
	}
}

/* The program and a worker beside the crashing one go on: the echo
 * worker answers before and after each kind of crash. */
static void test_other_workers_go_on(void **state)
{
	trindle_pipe_t back = t_pipe(4);
	struct t_box b = { 0 };
	trindle_pipe_t e = t_start(echo, back);
	trindle_entrypoint_t crash[] = { null_write, divide_by_zero,
		illegal_instruction, calls_abort };

	for (unsigned long i = 0; i < 4; i++) {
		assert_int_equal(t_move(e, t_labelled(i + 1)), 0);
		trindle_message_t m = { back, t_next_from(back, &b) };
		t_expect_label(&m, back, i + 1);
		trindle_pipe_t reply = t_pipe(4);
		struct t_box rb = { 0 };
		trindle_pipe_t w = t_start(crash[i], reply);
		const trindle_fault_t *f = t_next_from(reply, &rb);
		assert_non_null(f);
		assert_ptr_equal(f->process, w);
		assert_int_equal(t_release((trindle_object_t)f), 0);
		t_await_gone(w, reply, &rb);
		assert_int_equal(t_release(reply), 0);
	}
	assert_int_equal(t_move(e, t_labelled(0)), 0);
	trindle_message_t m = { back, t_next_from(back, &b) };
	t_expect_label(&m, back, 0);
	t_await_gone(e, back, &b);
	assert_int_equal(t_release(back), 0);
}

/* ---- the old behaviour, in child processes ---- */

static const char *g_self = "./test_crashes";

/* Runs this program again as "--child NAME", with the environment variable
 * env set (or not), so the library starts afresh and reads it; returns
 * the signal that ended the child, or 0 if it exited (see below for
 * ThreadSanitizer). */
static int child_signal(const char *name, const char *env)
{
	int status = t_run_child(g_self, name, env);
	if (WIFSIGNALED(status))
		return WTERMSIG(status);
#if defined(__SANITIZE_THREAD__)
	/* ThreadSanitizer's handler, which ours passes a root's fault on to,
	 * ends the program with an exit status of its own, not the signal. */
	if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
		return SIGSEGV;
#endif
	return 0;
}

CRASHES static int root_null_write(void)
{
	(void)trindle_pipe(1); /* the library is started */
	*(volatile int *)NULL = 1;
	return 0;
}

/* Launches the crash, then waits for a report that must never come. */
static int worker_crash_then_wait(void)
{
	trindle_pipe_t reply = trindle_pipe(4);
	trindle_pipe_t w = trindle_launch(null_write, 4, reply, reply);
	trindle_message_t got;
	trindle_util_send(w, reply);
	while (trindle_util_receive(reply, &got, -1) >= 0)
		;
	return 1;
}

/* A SIGABRT that the program sends itself from outside any worker is not
 * a worker's own: it ends the program as it would without the library. */
static int signal_from_outside_while_a_worker_runs(void)
{
	trindle_pipe_t w = trindle_launch(wait_for_reply_pipe, 1, NULL, NULL);
	(void)w;
	kill(getpid(), SIGABRT);
	pause(); /* the signal ends the program before this returns */
	return 1;
}

static void test_root_crash_ends_the_program(void **state)
{
	assert_int_equal(child_signal("root-null-write", NULL), SIGSEGV);
}

static void test_faults_rights_restores_the_old_behaviour(void **state)
{
	assert_int_equal(child_signal("worker-crash",
				      "TRINDLE_FAULTS=rights"), SIGSEGV);
}

static void test_a_signal_from_outside_is_not_a_worker_fault(void **state)
{
	assert_int_equal(child_signal("signal-from-outside", NULL), SIGABRT);
}

int main(int argc, char **argv)
{
	if (argc > 0 && strchr(argv[0], '/'))
		g_self = argv[0];
	if (argc == 3 && strcmp(argv[1], "--child") == 0) {
		if (strcmp(argv[2], "root-null-write") == 0)
			return root_null_write();
		if (strcmp(argv[2], "worker-crash") == 0)
			return worker_crash_then_wait();
		if (strcmp(argv[2], "signal-from-outside") == 0)
			return signal_from_outside_while_a_worker_runs();
		return 2;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_null_write_in_a_worker_is_a_report, t_drop_notices),
		cmocka_unit_test_setup(test_wild_read_in_a_worker_is_a_report, t_drop_notices),
		cmocka_unit_test_setup(test_division_by_zero_in_a_worker_is_a_report, t_drop_notices),
		cmocka_unit_test_setup(test_illegal_instruction_in_a_worker_is_a_report, t_drop_notices),
		cmocka_unit_test_setup(test_abort_in_a_worker_is_a_report, t_drop_notices),
		cmocka_unit_test_setup(test_failed_assert_in_a_worker_is_a_report, t_drop_notices),
		cmocka_unit_test_setup(test_other_workers_go_on, t_drop_notices),
		cmocka_unit_test(test_root_crash_ends_the_program),
		cmocka_unit_test(test_faults_rights_restores_the_old_behaviour),
		cmocka_unit_test(test_a_signal_from_outside_is_not_a_worker_fault),
	};
	return cmocka_run_group_tests_name("crashes", tests, NULL, NULL);
}
