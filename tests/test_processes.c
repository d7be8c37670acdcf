/* SPDX-License-Identifier: MIT */
/*
 * test_processes.c - launching workers, how they end and what they leave
 * behind, and root processes (threads the library did not start).
 *
 * Workers never call cmocka: they report through the segments they send
 * or deliver, or through globals published under a semaphore, and the
 * test thread asserts.
 */
#include "helpers.h"

#include <errno.h>
#include <poll.h>
#include <dirent.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define RW (TRINDLE_ACCESS_READ | TRINDLE_ACCESS_WRITE)
#define RX (TRINDLE_ACCESS_READ | TRINDLE_ACCESS_EXECUTE)
#define SR (TRINDLE_ACCESS_SEND | TRINDLE_ACCESS_RECEIVE)

/* Pipes a worker needs to name; set by the launcher before launching. */
static trindle_pipe_t g_out, g_err;
/* Variants of a worker's behaviour, set before launching it. */
static int g_mode;
static bool g_let_go_of_out;
/* Holds gate_worker back until the test has filled its input. */
static sem_t g_gate;

enum { END_RETURN, END_EXIT, END_ABORT };

/* ---- shared by both sides: no cmocka here ---- */

static void *code_address(trindle_entrypoint_t entry)
{
	return (void *)(uintptr_t)entry;
}

/* Wait for the next message on input and let go of it. */
static void w_await_go(trindle_pipe_t input)
{
	trindle_object_t go = trindle_util_next_object(input);
	if (go)
		t_w_release(go);
}

/* ---- workers ---- */

/* Delivers its rights on its input, on its own code and on g_out (its
 * out pipe) to out. */
static void rights_worker(trindle_pipe_t input)
{
	unsigned long v[3] = {
		(unsigned long)trindle_access(input),
		(unsigned long)trindle_access(code_address(rights_worker)),
		(unsigned long)trindle_access(g_out),
	};
	trindle_buffer_t b = { sizeof v, v };
	trindle_exit(trindle_allocate(1, &b));
}

/* Ends the way g_mode says, delivering a label where there is one. */
static void ending_worker(trindle_pipe_t input)
{
	(void)input;
	if (g_mode == END_EXIT)
		trindle_exit(t_label(0xE1));
	if (g_mode == END_ABORT)
		trindle_abort(t_label(0xAB));
}

/* Waits for go, then delivers a label by exit or abort (g_mode). */
static void gated_end_worker(trindle_pipe_t input)
{
	w_await_go(input);
	if (g_mode == END_ABORT)
		trindle_abort(t_label(0xF0));
	trindle_exit(t_label(0xF0));
}

/* Touches nothing until the test opens the gate, then takes one message. */
static void gate_worker(trindle_pipe_t input)
{
	sem_wait(&g_gate);
	w_await_go(input);
}

/* Shares a new segment with the launcher through g_err, waits for go,
 * lets go of its SEND on out when g_mode says so, and exits with the
 * segment as its output. */
static void share_then_exit_worker(trindle_pipe_t input)
{
	trindle_segment_t o = t_label(0x50);
	t_w_send(g_err, o);
	w_await_go(input);
	if (g_let_go_of_out)
		t_w_release(g_out);
	trindle_exit(o);
}

/* Keeps a segment it is given, hands the launcher SEND on a pipe of its
 * own through g_err, waits for go and returns without releasing either. */
static void holder_worker(trindle_pipe_t input)
{
	trindle_object_t s = trindle_util_next_object(input);
	trindle_pipe_t q = trindle_pipe(1);
	(void)s;
	t_w_send(g_err, q);
	w_await_go(input);
}

/* Launches a worker that delivers to g_out (or g_err, by g_mode), lets go
 * of its own SEND on both, then tells the worker to go on. */
static void releasing_launcher_worker(trindle_pipe_t input)
{
	trindle_pipe_t w = trindle_launch(gated_end_worker, 2, g_out, g_err);
	(void)input;
	if (!w)
		return;
	t_w_release(g_out);
	t_w_release(g_err);
	t_w_move(w, t_label(0));
}

/* Reads a depth n from its input: launches the next worker with n - 1,
 * or, at depth 1, exits with a label. */
static void chain_worker(trindle_pipe_t input)
{
	trindle_segment_t depth = trindle_util_next_object(input);
	unsigned long n = depth ? t_label_of(depth) : 0;
	if (depth)
		t_w_release(depth);
	if (n <= 1)
		trindle_exit(t_label(0xC0DE));
	trindle_pipe_t next = trindle_launch(chain_worker, 1, g_out, g_err);
	if (next)
		t_w_move(next, t_label(n - 1));
}

/* Gives back what it gets, labelled one higher. */
static void plus_one_worker(trindle_pipe_t input)
{
	trindle_segment_t s = trindle_util_next_object(input);
	if (s && (trindle_access(s) & TRINDLE_ACCESS_WRITE))
		*(unsigned long *)s += 1;
	trindle_exit(s);
}

/* Writes into the segment it receives whether SIGUSR2 is blocked on its
 * thread, then blocks it and exits with the segment. */
static void blocks_a_signal_and_exits(trindle_pipe_t input)
{
	trindle_segment_t s = trindle_util_next_object(input);
	sigset_t now, usr2;

	pthread_sigmask(SIG_SETMASK, NULL, &now);
	if (s && (trindle_access(s) & TRINDLE_ACCESS_WRITE))
		*(unsigned long *)s = (unsigned long)sigismember(&now, SIGUSR2);
	sigemptyset(&usr2);
	sigaddset(&usr2, SIGUSR2);
	pthread_sigmask(SIG_BLOCK, &usr2, NULL);
	trindle_exit(s);
}

/* The CPUs the test thread may use, read before it launches
 * reports_its_cpus (which only reads them). */
static cpu_set_t g_launcher_cpus;

/* Writes into the segment it receives whether it may use the same CPUs
 * as the thread that launched it. */
static void reports_its_cpus(trindle_pipe_t input)
{
	trindle_segment_t s = trindle_util_next_object(input);
	cpu_set_t mine;

	if (s && (trindle_access(s) & TRINDLE_ACCESS_WRITE))
		*(unsigned long *)s = sched_getaffinity(0, sizeof mine,
				&mine) == 0 && CPU_EQUAL(&mine, &g_launcher_cpus);
	trindle_exit(s);
}

/* ---- test side helpers ---- */

/* Receive on pipe until no one else can send on it; store the messages
 * that came through it (notices are dropped).  Returns how many. */
static size_t drain_until_alone(trindle_pipe_t pipe, trindle_message_t *keep,
		size_t cap)
{
	size_t kept = 0;
	for (;;) {
		trindle_message_t got;
		if (t_recv(pipe, &got, -1) == 0)
			return kept;
		if (got.address != pipe)
			continue;
		assert_true(kept < cap);
		keep[kept++] = got;
	}
}

/* ---- launch ---- */

static void test_launch_returns_send_end_of_input(void **state)
{
	(void)state;
	trindle_pipe_t errp = t_pipe(1);
	trindle_message_t keep[2];
	sem_init(&g_gate, 0, 0);
	trindle_pipe_t input = trindle_launch(gate_worker, 3, NULL, errp);

	assert_non_null(input);
	assert_int_equal(trindle_access(input), TRINDLE_ACCESS_SEND);
	/* Its capacity is queue_count: 3 fit, a fourth finds it full. */
	for (int i = 0; i < 3; i++)
		assert_int_equal(t_move(input, t_labelled(0)), 0);
	trindle_segment_t extra = t_labelled(0);
	assert_int_equal(t_move(input, extra), 2);
	assert_int_equal(trindle_access(input), TRINDLE_ACCESS_SEND);
	assert_int_equal(t_release(extra), 0);
	sem_post(&g_gate);
	assert_int_equal(t_await_end(input, errp, keep, 2), 0);
	sem_destroy(&g_gate);
	assert_int_equal(t_release(errp), 0);
}

/* Runs rights_worker until it ends and copies the rights it delivered
 * through its out pipe into v. */
static void run_rights_worker(unsigned long v[3])
{
	trindle_pipe_t outp = t_pipe(1);
	trindle_message_t keep[2];
	g_out = outp;
	trindle_pipe_t input = trindle_launch(rights_worker, 1, outp, NULL);

	assert_non_null(input);
	assert_int_equal(t_await_end(input, outp, keep, 2), 1);
	assert_ptr_equal(keep[0].address, outp);
	memcpy(v, keep[0].content, 3 * sizeof *v);
	assert_int_equal(t_release(keep[0].content), 0);
	assert_int_equal(t_release(outp), 0);
}

static void test_worker_holds_send_receive_on_input(void **state)
{
	(void)state;
	unsigned long v[3];
	run_rights_worker(v);
	assert_int_equal(v[0], SR);
	/* and SEND, only, on the out pipe it was given */
	assert_int_equal(v[2], TRINDLE_ACCESS_SEND);
}

static void test_entry_code_has_read_execute(void **state)
{
	(void)state;
	unsigned long v[3];
	assert_int_equal(trindle_access(code_address(rights_worker)) & RX, RX);
	run_rights_worker(v);
	assert_int_equal(v[1] & RX, RX);
}

static void test_launch_queue_count_zero_is_einval(void **state)
{
	(void)state;
	errno = 0;
	assert_null(trindle_launch(ending_worker, 0, NULL, NULL));
	assert_int_equal(errno, EINVAL);
}

static void test_launch_out_or_err_not_held_is_einval(void **state)
{
	(void)state;
	trindle_pipe_t dead = t_pipe(1);
	trindle_segment_t seg = t_labelled(0);
	int local;
	trindle_object_t bad[] = { dead, seg, &local, (char *)seg + 8 };
	assert_int_equal(t_release(dead), 0);

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		errno = 0;
		assert_null(trindle_launch(ending_worker, 1, bad[i], NULL));
		assert_int_equal(errno, EINVAL);
		errno = 0;
		assert_null(trindle_launch(ending_worker, 1, NULL, bad[i]));
		assert_int_equal(errno, EINVAL);
	}
	assert_int_equal(t_release(seg), 0);
}

/* ---- how a worker ends ---- */

/* Launches ending_worker in mode with outp and errp and waits for its end
 * (*input, its input pipe, dies); returns how many deliveries came through
 * errp meanwhile, stored in keep (room for 2). */
static size_t run_ending_worker(int mode, trindle_pipe_t outp,
		trindle_pipe_t errp, trindle_message_t *keep,
		trindle_pipe_t *input)
{
	g_mode = mode;
	*input = trindle_launch(ending_worker, 1, outp, errp);
	assert_non_null(*input);
	return t_await_end(*input, errp, keep, 2);
}

static void test_exit_moves_output_to_out_receiver_has_write(void **state)
{
	(void)state;
	trindle_pipe_t outp = t_pipe(1), errp = t_pipe(1), input;
	trindle_message_t keep[2], got;

	assert_int_equal(run_ending_worker(END_EXIT, outp, errp, keep, &input), 0);
	assert_int_equal(t_recv(outp, &got, 0), 1);
	*(unsigned long *)got.content += 1;   /* WRITE right away */
	t_expect_label(&got, outp, 0xE2);
	assert_int_equal(t_release(outp), 0);
	assert_int_equal(t_release(errp), 0);
}

static void test_abort_delivers_report_to_err(void **state)
{
	(void)state;
	trindle_pipe_t outp = t_pipe(1), errp = t_pipe(1), input;
	trindle_message_t keep[2], got;

	assert_int_equal(run_ending_worker(END_ABORT, outp, errp, keep, &input), 1);
	t_expect_label(&keep[0], errp, 0xAB);
	assert_int_equal(t_recv(outp, &got, 0), 0);
	assert_int_equal(t_release(outp), 0);
	assert_int_equal(t_release(errp), 0);
}

static void test_return_from_entry_is_exit_null(void **state)
{
	(void)state;
	trindle_pipe_t outp = t_pipe(1), errp = t_pipe(1), input;
	trindle_message_t keep[2], got;

	assert_int_equal(run_ending_worker(END_RETURN, outp, errp, keep, &input), 0);
	assert_int_equal(t_recv(outp, &got, 0), 0);
	assert_int_equal(t_release(outp), 0);
	assert_int_equal(t_release(errp), 0);
}

static void test_launcher_gets_closure_notice_whatever_worker_delivered(void **state)
{
	(void)state;
	const int modes[] = { END_RETURN, END_EXIT, END_ABORT };
	for (size_t i = 0; i < 3; i++) {
		trindle_pipe_t outp = t_pipe(1), errp = t_pipe(1), input;
		trindle_message_t keep[2];
		/* it returns only on { input, NULL } */
		size_t n = run_ending_worker(modes[i], outp, errp, keep, &input);
		assert_int_equal(trindle_access(input), 0);
		assert_int_equal(trindle_measure(input), 0);
		for (size_t k = 0; k < n; k++)
			assert_int_equal(t_release(keep[k].content), 0);
		/* releasing our own pipes releases anything queued in them */
		assert_int_equal(t_release(outp), 0);
		assert_int_equal(t_release(errp), 0);
	}
}

static void test_completion_delivered_even_when_out_is_full(void **state)
{
	(void)state;
	trindle_pipe_t outp = t_pipe(1), errp = t_pipe(1);
	trindle_message_t keep[2], got[4];
	assert_int_equal(t_move(outp, t_labelled(0xF1)), 0);
	g_mode = END_EXIT;
	trindle_pipe_t input = trindle_launch(gated_end_worker, 1, outp, errp);

	assert_non_null(input);
	/* out stays full until the worker has ended */
	assert_int_equal(t_move(input, t_labelled(0)), 0);
	assert_int_equal(t_await_end(input, errp, keep, 2), 0);
	trindle_message_t req = { outp, NULL };
	trindle_mailbox_t out = { 1, &req }, in = { 4, got };
	assert_int_equal(trindle_sync_timeout(&out, &in, 0), 0);
	assert_int_equal(in.count, 2);
	unsigned long a = t_label_of(got[0].content), b = t_label_of(got[1].content);
	assert_true((a == 0xF1 && b == 0xF0) || (a == 0xF0 && b == 0xF1));
	t_expect_label(&got[0], outp, a);
	t_expect_label(&got[1], outp, b);
	assert_int_equal(t_release(outp), 0);
	assert_int_equal(t_release(errp), 0);
}

/* Run share_then_exit_worker; kill_out kills out before the worker exits.
 * The output must be released, not delivered: we end as its sole holder. */
static void expect_output_released(bool with_out, bool let_go, bool kill_out)
{
	trindle_pipe_t outp = with_out ? t_pipe(2) : NULL;
	trindle_pipe_t errp = t_pipe(2);
	trindle_message_t keep[2], got;
	g_out = outp;
	g_err = errp;
	g_let_go_of_out = let_go;
	trindle_pipe_t input = trindle_launch(share_then_exit_worker, 1, outp, errp);
	assert_non_null(input);

	trindle_segment_t o = t_next_message(errp);
	assert_int_equal(trindle_access(o), TRINDLE_ACCESS_READ);
	if (kill_out)
		assert_int_equal(t_release(outp), 0);
	assert_int_equal(t_move(input, t_labelled(0)), 0);

	assert_int_equal(t_await_end(input, errp, keep, 2), 1);
	assert_null(keep[0].address);
	assert_ptr_equal(keep[0].content, o);
	assert_int_equal(trindle_access(o), RW);
	assert_int_equal(t_label_of(o), 0x50);
	if (with_out && !kill_out) {
		assert_int_equal(t_recv(outp, &got, 0), 0);
		assert_int_equal(t_release(outp), 0);
	}
	assert_int_equal(t_release(o), 0);
	assert_int_equal(t_release(errp), 0);
}

static void test_output_released_when_worker_let_go_of_out(void **state)
{
	(void)state;
	expect_output_released(true, true, false);
}

static void test_output_released_when_out_is_null(void **state)
{
	(void)state;
	expect_output_released(false, false, false);
}

static void test_output_released_when_out_is_dead(void **state)
{
	(void)state;
	expect_output_released(true, false, true);
}

/* ---- what an ended worker leaves behind ---- */

static void test_worker_holdings_released_when_it_ends(void **state)
{
	(void)state;
	trindle_pipe_t errp = t_pipe(2);
	trindle_segment_t s = t_labelled(0x11);
	trindle_message_t keep[4];
	bool saw_segment = false, saw_pipe = false;
	g_err = errp;
	trindle_pipe_t input = trindle_launch(holder_worker, 2, NULL, errp);
	assert_non_null(input);

	assert_int_equal(t_send(input, s), 0);
	/* q comes after the worker took s: from here s has two holders */
	trindle_pipe_t q = t_next_message(errp);
	assert_int_equal(trindle_access(q), TRINDLE_ACCESS_SEND);
	assert_int_equal(trindle_access(s), TRINDLE_ACCESS_READ);
	assert_int_equal(t_move(input, t_labelled(0)), 0);

	size_t n = t_await_end(input, errp, keep, 4);
	for (size_t i = 0; i < n; i++) {
		if (keep[i].address == NULL && keep[i].content == s)
			saw_segment = true;
		else if (keep[i].address == q && keep[i].content == NULL)
			saw_pipe = true;
		else
			fail_msg("unexpected delivery %p %p", keep[i].address,
			         keep[i].content);
	}
	assert_true(saw_segment);
	assert_true(saw_pipe);
	assert_int_equal(trindle_access(s), RW);
	assert_int_equal(trindle_access(q), 0);
	assert_int_equal(t_release(s), 0);
	assert_int_equal(t_release(errp), 0);
}

/* The launcher (a worker) lets go of out and err after launching; the
 * grandchild still delivers through its own SEND, by exit or by abort. */
static void expect_delivery_after_launcher_let_go(bool through_err)
{
	trindle_pipe_t outp = t_pipe(2), errp = t_pipe(2);
	trindle_pipe_t target = through_err ? errp : outp;
	trindle_message_t keep[4];
	g_out = outp;
	g_err = errp;
	g_mode = through_err ? END_ABORT : END_EXIT;
	trindle_pipe_t input = trindle_launch(releasing_launcher_worker, 1,
	                                      outp, errp);
	assert_non_null(input);

	/* Returns once the launcher and its worker have both let go; if the
	 * worker had no SEND of its own, nothing would have come. */
	assert_int_equal(drain_until_alone(target, keep, 4), 1);
	t_expect_label(&keep[0], target, 0xF0);
	assert_int_equal(t_release(outp), 0);
	assert_int_equal(t_release(errp), 0);
}

static void test_worker_keeps_send_on_out_after_launcher_releases_it(void **state)
{
	(void)state;
	expect_delivery_after_launcher_let_go(false);
}

static void test_worker_keeps_send_on_err_after_launcher_releases_it(void **state)
{
	(void)state;
	expect_delivery_after_launcher_let_go(true);
}

static void test_workers_launch_workers(void **state)
{
	(void)state;
	trindle_pipe_t outp = t_pipe(2);
	trindle_message_t keep[4];
	g_out = outp;
	g_err = NULL;
	trindle_pipe_t input = trindle_launch(chain_worker, 1, outp, NULL);
	assert_non_null(input);
	assert_int_equal(t_move(input, t_labelled(4)), 0);

	/* Four generations; only the last one delivers. */
	assert_int_equal(drain_until_alone(outp, keep, 4), 1);
	t_expect_label(&keep[0], outp, 0xC0DE);
	assert_int_equal(t_release(outp), 0);
}

static void test_worker_threads_reused_many_short_workers_all_run(void **state)
{
	(void)state;
	trindle_pipe_t outp = t_pipe(1);
	unsigned long rounds = 200 * t_scale();
	for (unsigned long i = 0; i < rounds; i++) {
		trindle_message_t keep[2];
		trindle_pipe_t input = trindle_launch(plus_one_worker, 1, outp, NULL);
		assert_non_null(input);
		assert_int_equal(t_move(input, t_labelled(i)), 0);
		assert_int_equal(t_await_end(input, outp, keep, 2), 1);
		t_expect_label(&keep[0], outp, i + 1);
	}
	assert_int_equal(t_release(outp), 0);
}

/* Worker threads are pooled: a signal mask one process set before it
 * exited does not carry over to the next process on the same thread. */
static void test_next_worker_on_a_thread_starts_with_its_mask(void **state)
{
	(void)state;
	trindle_pipe_t outp = t_pipe(1);
	for (unsigned long i = 0; i < 50; i++) {
		trindle_message_t keep[2];
		trindle_pipe_t input = trindle_launch(blocks_a_signal_and_exits,
				1, outp, NULL);
		assert_non_null(input);
		assert_int_equal(t_move(input, t_labelled(i + 100)), 0);
		assert_int_equal(t_await_end(input, outp, keep, 2), 1);
		t_expect_label(&keep[0], outp, 0); /* SIGUSR2 not blocked */
	}
	assert_int_equal(t_release(outp), 0);
}

/* A new worker thread starts away from its launcher's CPU (launch.c,
 * place_away), then gets all of its launcher's CPUs back: a worker is
 * never left pinned.  Many at once, so that new threads are made. */
static void test_workers_may_use_all_their_launchers_cpus(void **state)
{
	(void)state;
	enum { N = 16 };
	trindle_pipe_t outp = t_pipe(N);
	trindle_message_t keep[N];

	assert_int_equal(sched_getaffinity(0, sizeof g_launcher_cpus,
			&g_launcher_cpus), 0);
	for (unsigned long i = 0; i < N; i++) {
		trindle_pipe_t input = trindle_launch(reports_its_cpus, 1,
				outp, NULL);
		assert_non_null(input);
		assert_int_equal(t_move(input, t_labelled(i + 7)), 0);
		/* As in test_many_workers_at_once_all_run: a release that
		 * fails found the worker ended already. */
		if (t_release(input) != 0)
			assert_int_equal(trindle_access(input), 0);
	}
	assert_int_equal(drain_until_alone(outp, keep, N), N);
	for (size_t i = 0; i < N; i++)
		t_expect_label(&keep[i], outp, 1);
	assert_int_equal(t_release(outp), 0);
}

/* A launch that wakes a sleeping pool thread first takes the launcher's
 * CPU out of the thread's CPUs when another CPU is idle (launch.c,
 * wake_away); the worker has them all back before its entry runs.  Each
 * round lets the pool's thread fall asleep first (it spins for well under
 * the pause) and on a quiet machine takes that path. */
static void test_a_worker_woken_from_sleep_may_use_all_its_launchers_cpus(
		void **state)
{
	(void)state;
	trindle_pipe_t outp = t_pipe(1);
	struct timespec pause = { 0, 20 * 1000 * 1000 };

	assert_int_equal(sched_getaffinity(0, sizeof g_launcher_cpus,
			&g_launcher_cpus), 0);
	for (unsigned long i = 0; i < 10; i++) {
		trindle_message_t keep[2];
		nanosleep(&pause, NULL);
		trindle_pipe_t input = trindle_launch(reports_its_cpus, 1,
				outp, NULL);
		assert_non_null(input);
		assert_int_equal(t_move(input, t_labelled(i + 7)), 0);
		assert_int_equal(t_await_end(input, outp, keep, 2), 1);
		t_expect_label(&keep[0], outp, 1);
	}
	assert_int_equal(t_release(outp), 0);
}

static void test_many_workers_at_once_all_run(void **state)
{
	(void)state;
	enum { N = 32 };
	trindle_pipe_t outp = t_pipe(N);
	trindle_message_t keep[N];
	bool seen[N] = { false };
	for (unsigned long i = 0; i < N; i++) {
		trindle_pipe_t input = trindle_launch(plus_one_worker, 1, outp, NULL);
		assert_non_null(input);
		assert_int_equal(t_move(input, t_labelled(i)), 0);
		/* We never wait for their ends: drop our SEND.  A worker that
		 * already ended has a dead input, whose release fails (its
		 * closure notice ends the hold, and drain_until_alone drops it). */
		if (t_release(input) != 0)
			assert_int_equal(trindle_access(input), 0);
	}
	assert_int_equal(drain_until_alone(outp, keep, N), N);
	for (size_t i = 0; i < N; i++) {
		unsigned long v = t_label_of(keep[i].content) - 1;
		assert_true(v < N && !seen[v]);
		seen[v] = true;
		t_expect_label(&keep[i], outp, v + 1);
	}
	assert_int_equal(t_release(outp), 0);
}

/* ---- entry in a segment ---- */

static void test_launch_entry_in_extended_segment_runs(void **state)
{
	(void)state;
#if defined(__x86_64__)
	const unsigned char ret = 0xC3;   /* x86-64 "ret": returns at once */
	trindle_buffer_t b = { 1, &ret };
	trindle_segment_t code = trindle_allocate(1, &b);
	trindle_pipe_t errp = t_pipe(2);
	trindle_message_t keep[4];
	trindle_entrypoint_t entry;

	assert_non_null(code);
	assert_int_equal(trindle_extend(code), 0);
	assert_int_equal(trindle_access(code), RX);
	memcpy(&entry, &code, sizeof entry);
	trindle_pipe_t input = trindle_launch(entry, 1, NULL, errp);
	assert_non_null(input);
	/* It returned normally: no fault report, at most the notice that we
	 * hold the code alone again. */
	size_t n = t_await_end(input, errp, keep, 4);
	for (size_t i = 0; i < n; i++) {
		assert_null(keep[i].address);
		assert_ptr_equal(keep[i].content, code);
	}
	assert_int_equal(trindle_access(code), RX);
	assert_int_equal(t_release(code), 0);
	assert_int_equal(t_release(errp), 0);
#else
	skip();
#endif
}

static void test_launch_entry_outside_executable_memory_is_einval(void **state)
{
	(void)state;
	const unsigned char ret = 0xC3;
	trindle_buffer_t b = { 1, &ret };
	trindle_segment_t data = trindle_allocate(1, &b);
	trindle_segment_t gone = trindle_allocate(1, &b);
	trindle_entrypoint_t entry;

	assert_non_null(data);
	assert_non_null(gone);
	assert_int_equal(trindle_extend(gone), 0);
	assert_int_equal(t_release(gone), 0);
	void *bad[] = { data, gone, NULL };
	for (size_t i = 0; i < 3; i++) {
		memcpy(&entry, &bad[i], sizeof entry);
		errno = 0;
		assert_null(trindle_launch(entry, 1, NULL, NULL));
		assert_int_equal(errno, EINVAL);
	}
	assert_int_equal(t_release(data), 0);
}

/* ---- root processes ---- */

/* What a root thread shares with its observer, and what the observer saw. */
static struct {
	trindle_pipe_t back;      /* the root's pipe, the observer's out */
	bool after_exit;          /* code after trindle_exit ran: wrong */
	bool setup_failed;
	bool saw_segment_notice, saw_pipe_notice;
	int segment_access, pipe_access;
} g_root;
static sem_t g_check, g_checked;

/* Takes a segment and a pipe from its root, acks, and once the test says
 * the root has ended, records the notices and rights it has. */
static void observer_worker(trindle_pipe_t input)
{
	trindle_segment_t s = trindle_util_next_object(input);
	trindle_pipe_t q = trindle_util_next_object(input);
	trindle_message_t got[8];
	trindle_mailbox_t in = { 8, got };
	t_w_move(g_root.back, t_label(1));

	sem_wait(&g_check);
	trindle_sync(NULL, &in);
	for (size_t i = 0; i < in.count; i++) {
		if (got[i].address == NULL && got[i].content == s)
			g_root.saw_segment_notice = true;
		if (got[i].address == q && q && got[i].content == NULL)
			g_root.saw_pipe_notice = true;
	}
	g_root.segment_access = trindle_access(s);
	g_root.pipe_access = trindle_access(q);
	t_w_release(s);
	sem_post(&g_checked);
}

/* A root process: shares a segment and a pipe with an observer it
 * launches, then ends by trindle_exit or by returning, as arg says. */
static void *root_thread(void *arg)
{
	bool use_exit = arg != NULL;
	trindle_segment_t s = t_label(0x5EED);
	trindle_pipe_t q = trindle_pipe(1);
	g_root.back = trindle_pipe(2);
	trindle_pipe_t w = trindle_launch(observer_worker, 4, g_root.back, NULL);

	if (!s || !q || !g_root.back || !w || t_w_send(w, s) || t_w_send(w, q)) {
		g_root.setup_failed = true;
		return NULL;
	}
	trindle_object_t ack = trindle_util_next_object(g_root.back);
	g_root.setup_failed = ack == NULL;
	if (use_exit) {
		trindle_exit(NULL);
		g_root.after_exit = true;
	}
	return NULL;
}

static void expect_root_end_releases(bool use_exit)
{
	pthread_t t;
	memset(&g_root, 0, sizeof g_root);
	sem_init(&g_check, 0, 0);
	sem_init(&g_checked, 0, 0);
	assert_int_equal(pthread_create(&t, NULL, root_thread,
	                                use_exit ? &g_root : NULL), 0);
	/* Once joined, the root has ended and let go of everything. */
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_false(g_root.setup_failed);
	assert_false(g_root.after_exit);
	sem_post(&g_check);
	sem_wait(&g_checked);
	assert_true(g_root.saw_segment_notice);
	assert_true(g_root.saw_pipe_notice);
	assert_int_equal(g_root.segment_access, RW);
	assert_int_equal(g_root.pipe_access, 0);
	sem_destroy(&g_check);
	sem_destroy(&g_checked);
}

static void test_root_exit_in_pthread_ends_thread_and_releases(void **state)
{
	(void)state;
	expect_root_end_releases(true);
}

static void test_root_thread_that_returns_releases_what_it_held(void **state)
{
	(void)state;
	expect_root_end_releases(false);
}

/* ---- allocation failure inside trindle_launch ---- */

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define T_FAIL_ALLOC 0
#else
#define T_FAIL_ALLOC 1
/*
 * The library's calls to malloc, calloc, realloc and aligned_alloc land on
 * these definitions (the executable's come first in symbol lookup).  They
 * pass each call on to glibc's allocator, unless the calling thread armed
 * t_alloc_countdown: then its nth allocation from then on fails.  The
 * sanitizers bring allocators of their own, which these would bypass, so
 * their builds leave these out (and skip the test).
 */
void *__libc_malloc(size_t bytes);
void *__libc_calloc(size_t n, size_t size);
void *__libc_realloc(void *old, size_t bytes);
void *__libc_memalign(size_t alignment, size_t bytes);

static _Thread_local unsigned long t_alloc_countdown;
static _Thread_local bool t_alloc_failed;

static bool alloc_fails(void)
{
	if (t_alloc_countdown && --t_alloc_countdown == 0) {
		t_alloc_failed = true;
		errno = ENOMEM;
		return true;
	}
	return false;
}

void *malloc(size_t bytes)
{
	return alloc_fails() ? NULL : __libc_malloc(bytes);
}

void *calloc(size_t n, size_t size)
{
	return alloc_fails() ? NULL : __libc_calloc(n, size);
}

void *realloc(void *old, size_t bytes)
{
	return alloc_fails() ? NULL : __libc_realloc(old, bytes);
}

void *aligned_alloc(size_t alignment, size_t bytes)
{
	return alloc_fails() ? NULL : __libc_memalign(alignment, bytes);
}

/* Do allocations reach the definitions above?  Not under valgrind, which
 * puts its own allocator in place of every malloc, these included. */
static bool alloc_failures_work(void)
{
	void *(*volatile alloc)(size_t) = malloc;
	t_alloc_countdown = 1;
	void *p = alloc(16);
	t_alloc_countdown = 0;
	free(p);
	return p == NULL;
}

/* Waits for go, then delivers the rights it has on g_out and g_err (its
 * out and err). */
static void completion_rights_worker(trindle_pipe_t input)
{
	w_await_go(input);
	trindle_exit(t_label((unsigned long)trindle_access(g_out) |
			(unsigned long)trindle_access(g_err) << 8));
}

/* This process's threads, from /proc/self/status. */
static unsigned long thread_count(void)
{
	char line[128];
	unsigned long n = 0;
	FILE *f = fopen("/proc/self/status", "r");
	assert_non_null(f);
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "Threads: %lu", &n) == 1)
			break;
	fclose(f);
	return n;
}

/* Nobody but the caller holds pipe: a receive on it returns at once, with
 * nothing (it would wait for the time limit if someone could still send). */
static void expect_no_other_sender(trindle_pipe_t pipe)
{
	trindle_message_t m;
	int64_t t0 = t_now_ns();
	assert_int_equal(t_recv(pipe, &m, 3LL * 1000000000LL), 0);
	assert_true(t_now_ns() - t0 < 1500LL * 1000000LL);
}
#endif

/*
 * Fails the 1st, 2nd, ... allocation of a launch in turn, until a launch
 * makes no more allocations than that.  Each launch either fails with
 * ENOMEM (or EAGAIN, for a thread), leaving no hold on out or err behind
 * and no worker thread taken, or succeeds in full: the caller holds SEND
 * on the input pipe and the worker holds SEND on out and err.
 */
static void test_launch_out_of_memory_fails_cleanly_or_succeeds_fully(void **state)
{
	(void)state;
#if !T_FAIL_ALLOC
	skip();
#else
	if (!alloc_failures_work())
		skip();
	const unsigned long both = TRINDLE_ACCESS_SEND | TRINDLE_ACCESS_SEND << 8;
	trindle_message_t keep[2];
	bool done = false;
	unsigned long failed = 0;

	/* A worker thread and a process record pooled, and room in our own
	 * tables: the allocations left are the launch's own. */
	g_out = t_pipe(1);
	g_err = t_pipe(1);
	trindle_pipe_t w = trindle_launch(completion_rights_worker, 1, g_out, g_err);
	assert_non_null(w);
	t_nudge(w);
	assert_int_equal(t_await_end(w, g_out, keep, 2), 1);
	t_expect_label(&keep[0], g_out, both);
	assert_int_equal(t_release(g_out), 0);
	assert_int_equal(t_release(g_err), 0);
	unsigned long threads = thread_count();

	for (unsigned long n = 1; n <= 100 && !done; n++) {
		g_out = t_pipe(1);
		g_err = t_pipe(1);
		t_alloc_failed = false;
		t_alloc_countdown = n;
		errno = 0;
		w = trindle_launch(completion_rights_worker, 1, g_out, g_err);
		int e = errno;
		t_alloc_countdown = 0;
		if (!w) {
			assert_true(t_alloc_failed);
			assert_true(e == ENOMEM || e == EAGAIN);
			failed++;
			expect_no_other_sender(g_out);
			expect_no_other_sender(g_err);
		} else {
			done = !t_alloc_failed; /* no allocation left to fail */
			/* The worker waits for go: its input is alive. */
			assert_int_equal(trindle_access(w), TRINDLE_ACCESS_SEND);
			t_nudge(w);
			assert_int_equal(t_await_end(w, g_out, keep, 2), 1);
			t_expect_label(&keep[0], g_out, both);
		}
		assert_int_equal(t_release(g_out), 0);
		assert_int_equal(t_release(g_err), 0);
	}
	assert_true(done);
	assert_true(failed > 0);
	/* A thread taken by a failed launch and never given back would make
	 * the next launch start another (one more may start while a worker
	 * that ended is on its way back to the pool). */
	assert_true(thread_count() <= threads + 2);
#endif
}

/* ---- a program whose main thread ends by trindle_exit() ---- */

/*
 * These run a copy of this program (argv[0] --child SCENARIO) with its
 * stdout on a pipe: its main thread is a root that launches workers and
 * ends by trindle_exit(), which ends the thread, not the program.  Once no
 * process is alive the library's idle worker threads must end too, so the
 * program ends, with status 0, like a pthreads program whose threads all
 * ended.  A copy that has not ended within CHILD_LIMIT_NS is killed.
 */
#define CHILD_LIMIT_NS (15LL * 1000000000LL)

/* ThreadSanitizer's runtime keeps a thread of its own that never ends, so
 * under it no program whose main thread calls pthread_exit() ends (a
 * plain pthreads one neither): the tests below are skipped there. */
#if defined(__SANITIZE_THREAD__)
#define T_CHILD_CAN_END 0
#else
#define T_CHILD_CAN_END 1
#endif

static const char *g_self; /* argv[0] */

static void say(const char *line)
{
	ssize_t n = write(STDOUT_FILENO, line, strlen(line));
	(void)n;
}

static void quick_worker(trindle_pipe_t input)
{
	(void)input;
}

/* Still running when the main thread ends: waits a little first, then for
 * a message that cannot come any more (its only other holder ended). */
static void slow_worker(trindle_pipe_t input)
{
	struct timespec pause = { 0, 200 * 1000000L };
	nanosleep(&pause, NULL);
	if (trindle_util_next_object(input) == NULL)
		say("worker ended\n");
}

/* The main thread of the copy: launches N quick workers at once (so
 * several threads go idle), waits until each has ended, then exits. */
static int child_exit_after_workers(void)
{
	enum { N = 3 };
	trindle_pipe_t done = trindle_pipe(N);
	trindle_pipe_t w[N];
	size_t ended = 0;
	if (!done)
		return 2;
	for (size_t i = 0; i < N; i++)
		if ((w[i] = trindle_launch(quick_worker, 1, done, NULL)) == NULL)
			return 3;
	/* Each worker's closure notice comes once; the receive request lets
	 * the sync sleep while a worker still holds SEND on done. */
	for (unsigned round = 0; ended < N && round < 1000; round++) {
		trindle_message_t rq = { done, NULL }, got[N + 1];
		trindle_mailbox_t out = { 1, &rq }, in = { N + 1, got };
		if (trindle_sync(&out, &in) != 0)
			return 4;
		for (size_t i = 0; i < in.count; i++)
			for (size_t j = 0; j < N; j++)
				if (got[i].address == w[j] && !got[i].content)
					ended++;
	}
	if (ended != N)
		return 5;
	say("workers ended\n");
	trindle_exit(NULL);
}

static int child_exit_during_worker(void)
{
	if (!trindle_launch(slow_worker, 1, NULL, NULL))
		return 3;
	trindle_exit(NULL);
}

/* This process's threads now, counted in /proc/self/task. */
static unsigned long task_count(void)
{
	unsigned long n = 0;
	DIR *d = opendir("/proc/self/task");

	if (!d)
		return 0;
	for (struct dirent *e; (e = readdir(d)) != NULL;)
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

static void returns_at_once(trindle_pipe_t input)
{
	(void)input;
}

/* Launches a worker, then waits for its input's closure notice. */
static int launch_and_await_end(trindle_pipe_t done)
{
	trindle_pipe_t input = trindle_launch(returns_at_once, 1, done, NULL);
	trindle_message_t ask = { done, NULL }, m[2];

	if (!input)
		return -1;
	for (;;) {
		trindle_mailbox_t out = { 1, &ask }, in = { 2, m };
		if (trindle_sync(&out, &in) != 0)
			return -1;
		if (in.count == 1 && m[0].address == input && !m[0].content)
			break;
		if (in.count)
			return -1; /* nothing else may arrive */
	}
	trindle_message_t rel = { NULL, input };
	trindle_mailbox_t out = { 1, &rel };
	return trindle_sync(&out, NULL);
}

/* Launches one worker at a time, each after the last one's end; prints
 * the thread count after the first and after the last.  Exit status 0
 * when it did not grow. */
static int child_launch_one_at_a_time(void)
{
	trindle_pipe_t done = trindle_pipe(1);
	unsigned long first = 0;

	for (unsigned long i = 0; i < 300 * t_scale(); i++) {
		if (!done || launch_and_await_end(done) != 0)
			return 2;
		if (i == 0)
			first = task_count();
	}
	unsigned long last = task_count();
	printf("threads %lu %lu\n", first, last);
	return last == first ? 0 : 1;
}

static int child_main(const char *scenario)
{
	if (strcmp(scenario, "launch-one-at-a-time") == 0)
		return child_launch_one_at_a_time();
	if (strcmp(scenario, "exit-after-workers") == 0)
		return child_exit_after_workers();
	if (strcmp(scenario, "exit-during-worker") == 0)
		return child_exit_during_worker();
	return 100;
}

/* Runs the copy; returns its wait status, its output in buf.  Fails the
 * test (after killing it) if it has not ended within CHILD_LIMIT_NS. */
static int run_child(const char *scenario, char *buf, size_t cap)
{
	int fds[2];
	size_t len = 0;
	int status = 0;
	bool exited = false, eof = false;
	assert_int_equal(pipe(fds), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(fds[1], STDOUT_FILENO);
		close(fds[0]);
		close(fds[1]);
		execl(g_self, g_self, "--child", scenario, (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	int64_t limit = t_now_ns() + CHILD_LIMIT_NS;
	while ((!exited || !eof) && t_now_ns() < limit) {
		struct pollfd pfd = { fds[0], POLLIN, 0 };
		if (!eof && poll(&pfd, 1, 50) > 0) {
			ssize_t n = read(fds[0], buf + len, cap - 1 - len);
			if (n > 0)
				len += (size_t)n;
			else
				eof = true;
		} else if (eof) {
			struct timespec pause = { 0, 10 * 1000000L };
			nanosleep(&pause, NULL);
		}
		if (!exited && waitpid(pid, &status, WNOHANG) == pid)
			exited = true;
	}
	close(fds[0]);
	buf[len] = '\0';
	if (!exited) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		fail_msg("the program (%s) did not end; it wrote: %s", scenario, buf);
	}
	return status;
}

/*
 * A launcher told of a worker's end (its input pipe's closure notice) may
 * launch again before that worker's thread is back in the pool: the
 * notice goes out while the thread still finishes the process.  The
 * launch must then wait for that thread rather than start a new one, or a
 * program that launches one worker at a time grows a thread per race
 * (each costs tens of microseconds to start, and the pool's idle threads
 * then spin on cores the workers need).  In a fresh process, where the
 * pool has no thread to spare.
 */
static void test_launch_right_after_an_end_reuses_the_ending_thread(
		void **state)
{
	(void)state;
	char buf[256];
	int status = run_child("launch-one-at-a-time", buf, sizeof buf);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) != 0)
		fail_msg("child: status %d, %s", WEXITSTATUS(status), buf);
}

static void test_main_exit_after_workers_ended_ends_program(void **state)
{
	(void)state;
	char out[256];
	if (!T_CHILD_CAN_END)
		skip();
	int status = run_child("exit-after-workers", out, sizeof out);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_string_equal(out, "workers ended\n");
}

static void test_main_exit_while_worker_runs_ends_program_after_it(void **state)
{
	(void)state;
	char out[256];
	if (!T_CHILD_CAN_END)
		skip();
	int status = run_child("exit-during-worker", out, sizeof out);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	/* The worker ran to its end: the program waited for it. */
	assert_string_equal(out, "worker ended\n");
}

int main(int argc, char **argv)
{
#define T(f) cmocka_unit_test_setup(f, t_drop_notices)
	const struct CMUnitTest tests[] = {
		T(test_launch_returns_send_end_of_input),
		T(test_worker_holds_send_receive_on_input),
		T(test_entry_code_has_read_execute),
		T(test_launch_queue_count_zero_is_einval),
		T(test_launch_out_or_err_not_held_is_einval),
		T(test_exit_moves_output_to_out_receiver_has_write),
		T(test_abort_delivers_report_to_err),
		T(test_return_from_entry_is_exit_null),
		T(test_launcher_gets_closure_notice_whatever_worker_delivered),
		T(test_completion_delivered_even_when_out_is_full),
		T(test_output_released_when_worker_let_go_of_out),
		T(test_output_released_when_out_is_null),
		T(test_output_released_when_out_is_dead),
		T(test_worker_holdings_released_when_it_ends),
		T(test_worker_keeps_send_on_out_after_launcher_releases_it),
		T(test_worker_keeps_send_on_err_after_launcher_releases_it),
		T(test_workers_launch_workers),
		T(test_worker_threads_reused_many_short_workers_all_run),
		T(test_next_worker_on_a_thread_starts_with_its_mask),
		T(test_workers_may_use_all_their_launchers_cpus),
		T(test_a_worker_woken_from_sleep_may_use_all_its_launchers_cpus),
		T(test_many_workers_at_once_all_run),
		T(test_launch_entry_in_extended_segment_runs),
		T(test_launch_entry_outside_executable_memory_is_einval),
		T(test_root_exit_in_pthread_ends_thread_and_releases),
		T(test_root_thread_that_returns_releases_what_it_held),
		T(test_launch_out_of_memory_fails_cleanly_or_succeeds_fully),
		T(test_launch_right_after_an_end_reuses_the_ending_thread),
		T(test_main_exit_after_workers_ended_ends_program),
		T(test_main_exit_while_worker_runs_ends_program_after_it),
	};
	if (argc == 3 && strcmp(argv[1], "--child") == 0)
		return child_main(argv[2]);
	g_self = argv[0];
	return cmocka_run_group_tests_name("processes", tests, NULL, NULL);
}
