/* SPDX-License-Identifier: MIT */
/*
 * test_faults.c - a worker that breaks its rights is stopped and reported
 * on its err pipe; the program, the root and other workers go on.  A root
 * process that does the same ends the program by the signal, after one
 * line on stderr; faults that are not ours reach the handler installed
 * before the library's.
 *
 * Root-process faults run in a child: this program forks and executes
 * itself with one argument naming the scenario (see child_main), so the
 * child starts the library afresh, with no state copied by fork().
 *
 * Workers never call cmocka; the test thread asserts.
 */
#include "helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define RW (TRINDLE_ACCESS_READ | TRINDLE_ACCESS_WRITE)
#define RX (TRINDLE_ACCESS_READ | TRINDLE_ACCESS_EXECUTE)
#define STOP 0x5709UL
#define OFFSET 100   /* where the faulting workers touch their segment */

/* The out pipe of the current worker, and what the faulting workers do. */
static trindle_pipe_t g_out;
static bool g_write;
/* The segment a worker destroyed before touching it; read after its end. */
static trindle_segment_t g_destroyed;

/* ---- workers ---- */

/* Writes into (or reads) the segment it is given: it is not allowed to. */
static void touch_given_worker(trindle_pipe_t input)
{
	volatile unsigned char *p = trindle_util_next_object(input);
	if (!p)
		return;
	if (g_write)
		p[OFFSET] = 1;
	else
		(void)p[OFFSET];
}

/* Destroys a segment of its own, then touches it. */
/* Larger than the slots a process keeps open for itself after destroying
 * them (1 MiB in all; test_cache covers those): outside that cache, a
 * destroyed segment always faults. */
#define BEYOND_CACHE ((size_t)2 << 20)

static void touch_destroyed_worker(trindle_pipe_t input)
{
	trindle_buffer_t b = { BEYOND_CACHE, NULL };
	volatile unsigned char *p = trindle_allocate(1, &b);
	(void)input;
	if (!p)
		return;
	g_destroyed = (trindle_segment_t)p;
	t_w_release(g_destroyed);
	if (g_write)
		p[OFFSET] = 1;
	else
		(void)p[OFFSET];
}

/* Calls into the (data) segment it is given. */
static void call_given_worker(trindle_pipe_t input)
{
	void *code = trindle_util_next_object(input);
	trindle_entrypoint_t f;
	if (!code)
		return;
	memcpy(&f, &code, sizeof f);
	f(input);
}

/* Moves back every labelled segment it gets, one higher, until STOP. */
static void echo_worker(trindle_pipe_t input)
{
	trindle_object_t o;
	while ((o = trindle_util_next_object(input)) != NULL) {
		if (t_label_of(o) == STOP) {
			t_w_release(o);
			return;
		}
		if (trindle_access(o) & TRINDLE_ACCESS_WRITE)
			*(unsigned long *)o += 1;
		t_w_move(g_out, o);
	}
}

/* Exits with a label. */
static void exit_worker(trindle_pipe_t input)
{
	(void)input;
	trindle_exit(t_label(0xE));
}

/* ---- test side helpers ---- */

/* How a worker ended: its fault report (or NULL) and other deliveries. */
struct ending {
	trindle_segment_t report;
	trindle_message_t keep[8];
	size_t kept;
};

/*
 * Wait until the worker behind input has ended (its input died) and, if
 * want_report, its fault report has come through errp (which it held
 * SEND on, so the wait can sleep).  Other deliveries go to e->keep.
 */
static void await_ending(trindle_pipe_t input, trindle_pipe_t errp,
		bool want_report, struct ending *e)
{
	bool ended = false;
	memset(e, 0, sizeof *e);
	while (!ended || (want_report && !e->report)) {
		trindle_message_t req = { errp, NULL }, got[8];
		trindle_mailbox_t out = { 1, &req }, in = { 8, got };
		assert_int_equal(trindle_sync(&out, &in), 0);
		for (size_t i = 0; i < in.count; i++) {
			if (got[i].address == input && !got[i].content) {
				ended = true;
			} else if (got[i].address == errp && !e->report) {
				e->report = got[i].content;
			} else {
				assert_true(e->kept < 8);
				e->keep[e->kept++] = got[i];
			}
		}
		if (in.count == 0) {
			/* Nobody can send on errp any more: once the worker has
			 * ended, nothing else is coming. */
			if (ended)
				fail_msg("the worker ended without a fault report");
			sched_yield();
		}
	}
	if (!want_report)
		assert_null(e->report);
}

static void expect_report(const struct ending *e, void *address, int access,
		trindle_object_t object, trindle_pipe_t process)
{
	const trindle_fault_t *f = e->report;
	t_check_fault(f, address, access, object, process);
	/* Protection faults on segments: SIGSEGV in particular. */
	assert_int_equal(f->signal, SIGSEGV);
}

/* Did e see the notice that we hold s alone again? */
static bool saw_sole_holder_notice(const struct ending *e, trindle_segment_t s)
{
	for (size_t i = 0; i < e->kept; i++)
		if (!e->keep[i].address && e->keep[i].content == s)
			return true;
	return false;
}

/* Launch entry with one input slot and the given out and err pipes, after
 * setting g_write, which the touching workers read to choose their act. */
static trindle_pipe_t launch(trindle_entrypoint_t entry, trindle_pipe_t out,
		trindle_pipe_t err, bool write)
{
	g_write = write;
	trindle_pipe_t input = trindle_launch(entry, 1, out, err);
	assert_non_null(input);
	return input;
}

/* Launch touch_given_worker on s (shared if share, else moved to it). */
static trindle_pipe_t launch_toucher(trindle_pipe_t errp, trindle_segment_t s,
		bool share, bool write)
{
	trindle_pipe_t input = launch(touch_given_worker, NULL, errp, write);
	assert_int_equal(share ? t_send(input, s) : t_move(input, s), 0);
	return input;
}

/*
 * The common case: touch_given_worker writes at s + OFFSET (s shared with
 * it if share, else moved), which it may not; wait for its end and check
 * that the report on errp names that write, by that worker.
 */
static void expect_write_fault(trindle_pipe_t errp, unsigned char *s,
		bool share, struct ending *e)
{
	trindle_pipe_t input = launch_toucher(errp, s, share, true);
	await_ending(input, errp, true, e);
	expect_report(e, s + OFFSET, TRINDLE_ACCESS_WRITE, s, input);
}

/* The end of a test whose worker faulted: release the report, then s when
 * this root still holds it (NULL when not), then errp, one sync each. */
static void release_after_fault(const struct ending *e, trindle_segment_t s,
		trindle_pipe_t errp)
{
	assert_int_equal(t_release(e->report), 0);
	if (s)
		assert_int_equal(t_release(s), 0);
	assert_int_equal(t_release(errp), 0);
}

/* ---- faults in workers ---- */

static void test_fault_write_to_shared_segment_reported(void **state)
{
	(void)state;
	trindle_pipe_t errp = t_pipe(2);
	unsigned char *s = t_segment(4096, 0xAA);
	struct ending e;

	expect_write_fault(errp, s, true, &e);
	assert_int_equal(s[OFFSET], 0xAA);   /* the write did not happen */
	release_after_fault(&e, s, errp);
}

/* Runs touch_destroyed_worker (writing when write is set) and checks the
 * report on its touch. */
static void expect_destroyed_touch_reported(bool write)
{
	trindle_pipe_t errp = t_pipe(2);
	struct ending e;
	trindle_pipe_t input = launch(touch_destroyed_worker, NULL, errp, write);

	await_ending(input, errp, true, &e);
	unsigned char *d = g_destroyed;
	assert_non_null(d);
	/* (the report itself may reuse d's address: no access check on d) */
	expect_report(&e, d + OFFSET,
		      write ? TRINDLE_ACCESS_WRITE : TRINDLE_ACCESS_READ, d, input);
	release_after_fault(&e, NULL, errp);
}

static void test_fault_read_of_destroyed_segment_reported(void **state)
{
	(void)state;
	expect_destroyed_touch_reported(false);
}

static void test_fault_write_to_destroyed_segment_reported(void **state)
{
	(void)state;
	expect_destroyed_touch_reported(true);
}

static void test_fault_write_to_extended_segment_reported(void **state)
{
	(void)state;
	trindle_pipe_t errp = t_pipe(2);
	unsigned char *code = t_segment(4096, 0xC3);
	struct ending e;
	assert_int_equal(trindle_extend(code), 0);

	/* Moved: the worker holds it alone, and still may not write it. */
	expect_write_fault(errp, code, false, &e);
	assert_int_equal(trindle_access(code), 0);
	release_after_fault(&e, NULL, errp);
}

static void test_fault_execute_of_data_segment_reported(void **state)
{
	(void)state;
#if defined(__x86_64__)
	trindle_pipe_t errp = t_pipe(2);
	unsigned char *data = t_segment(64, 0xC3);   /* "ret", not extended */
	struct ending e;
	trindle_pipe_t input = launch(call_given_worker, NULL, errp, false);
	assert_int_equal(t_move(input, data), 0);

	await_ending(input, errp, true, &e);
	expect_report(&e, data, TRINDLE_ACCESS_EXECUTE, data, input);
	release_after_fault(&e, NULL, errp);
#else
	skip();
#endif
}

static void test_fault_report_segment_held_solely_by_receiver(void **state)
{
	(void)state;
	trindle_pipe_t errp = t_pipe(2);
	unsigned char *s = t_segment(4096, 0);
	struct ending e;
	trindle_pipe_t input = launch_toucher(errp, s, true, true);

	await_ending(input, errp, true, &e);
	assert_non_null(e.report);
	assert_int_equal(trindle_access(e.report), RW);
	/* WRITE at once: overwrite the whole report */
	memset(e.report, 0x5A, sizeof(trindle_fault_t));
	assert_int_equal(t_release(e.report), 0);
	assert_int_equal(trindle_access(e.report), 0);
	assert_int_equal(t_release(s), 0);
	assert_int_equal(t_release(errp), 0);
}

static void test_fault_stops_only_the_worker_and_releases_its_holdings(void **state)
{
	(void)state;
	trindle_pipe_t errp = t_pipe(2), echo_out = t_pipe(2);
	unsigned char *s = t_segment(4096, 0x11);
	trindle_message_t got;
	struct ending e;
	g_out = echo_out;
	trindle_pipe_t echo = trindle_launch(echo_worker, 2, echo_out, NULL);
	assert_non_null(echo);

	expect_write_fault(errp, s, true, &e);
	/* We hold s alone again, were told so, and may write it. */
	assert_true(saw_sole_holder_notice(&e, s));
	assert_int_equal(trindle_access(s), RW);
	s[OFFSET] = 0x22;
	assert_int_equal(s[OFFSET], 0x22);

	/* The other worker still runs. */
	assert_int_equal(t_move(echo, t_labelled(41)), 0);
	assert_int_equal(t_recv(echo_out, &got, -1), 1);
	assert_ptr_equal(got.address, echo_out);
	assert_int_equal(t_label_of(got.content), 42);
	assert_int_equal(t_release(got.content), 0);
	assert_int_equal(t_move(echo, t_labelled(STOP)), 0);
	/* Its ends: echo_out's only other sender goes; then nothing comes. */
	while (t_recv(echo_out, &got, -1) == 1)
		assert_ptr_not_equal(got.address, echo_out);

	release_after_fault(&e, s, errp);
	assert_int_equal(t_release(echo_out), 0);
}

static void test_fault_without_err_pipe_still_ends_only_the_worker(void **state)
{
	(void)state;
	trindle_pipe_t wake = t_pipe(2);
	unsigned char *s = t_segment(4096, 0x33);
	struct ending e;
	/* With err NULL the report goes nowhere; out keeps the wait asleep. */
	trindle_pipe_t input = launch(touch_given_worker, wake, NULL, true);
	assert_int_equal(t_send(input, s), 0);

	await_ending(input, wake, false, &e);
	assert_int_equal(s[OFFSET], 0x33);
	assert_int_equal(t_release(s), 0);
	assert_int_equal(t_release(wake), 0);
}

static void test_fault_many_in_a_row_then_workers_still_run(void **state)
{
	(void)state;
	trindle_pipe_t errp = t_pipe(2);
	unsigned char *s = t_segment(4096, 0x44);
	unsigned long rounds = 64 * t_scale();
	struct ending e;

	for (unsigned long i = 0; i < rounds; i++) {
		expect_write_fault(errp, s, true, &e);
		assert_int_equal(t_release(e.report), 0);
	}
	assert_int_equal(s[OFFSET], 0x44);

	/* The reused threads run normal workers fine. */
	trindle_pipe_t input = trindle_launch(exit_worker, 1, errp, NULL);
	assert_non_null(input);
	/* (late notices about s may come first) */
	trindle_segment_t got = t_next_message(errp);
	assert_int_equal(t_label_of(got), 0xE);
	assert_int_equal(t_release(got), 0);
	assert_int_equal(t_release(s), 0);
	assert_int_equal(t_release(errp), 0);
}

/* ---- faults in a root process, in a child program ---- */

/* This program's path, to run it again (argv[0] when it names a file). */
static const char *g_self = "/proc/self/exe";

struct child_result {
	int status;
	char out[512], err[8192];
};

/* Run this program again with one argument; collect its stdout, stderr
 * and exit status. */
static void run_child(const char *scenario, struct child_result *r)
{
	int o[2], e[2];
	memset(r, 0, sizeof *r);
	assert_int_equal(pipe2(o, O_CLOEXEC), 0);
	assert_int_equal(pipe2(e, O_CLOEXEC), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(o[1], STDOUT_FILENO);
		dup2(e[1], STDERR_FILENO);
		execl(g_self, "test_faults", scenario, (char *)NULL);
		_exit(127);
	}
	close(o[1]);
	close(e[1]);
	struct pollfd fds[2] = { { o[0], POLLIN, 0 }, { e[0], POLLIN, 0 } };
	char *buf[2] = { r->out, r->err };
	size_t len[2] = { 0, 0 }, cap[2] = { sizeof r->out - 1, sizeof r->err - 1 };
	int open_fds = 2;
	while (open_fds > 0) {
		if (poll(fds, 2, -1) < 0) {
			assert_int_equal(errno, EINTR);
			continue;
		}
		for (int i = 0; i < 2; i++) {
			if (fds[i].fd < 0 || !fds[i].revents)
				continue;
			char scratch[512];
			ssize_t n = read(fds[i].fd, scratch, sizeof scratch);
			if (n <= 0) {
				close(fds[i].fd);
				fds[i].fd = -1;
				open_fds--;
				continue;
			}
			size_t keep = (size_t)n < cap[i] - len[i] ? (size_t)n : cap[i] - len[i];
			memcpy(buf[i] + len[i], scratch, keep);
			len[i] += keep;
		}
	}
	assert_int_equal(waitpid(pid, &r->status, 0), pid);
}

static void test_fault_in_root_process_ends_program_with_one_line(void **state)
{
	(void)state;
	struct child_result r;
	char segment[64], address[64], want[256];
	run_child("--root-write-shared", &r);

	assert_true(WIFSIGNALED(r.status));
	assert_int_equal(WTERMSIG(r.status), SIGSEGV);
	/* The child printed the segment and the address it wrote. */
	assert_int_equal(sscanf(r.out, "%63s %63s", segment, address), 2);
	snprintf(want, sizeof want,
	         "trindle: fault: write at %s in segment %s (shared by 2 holders)\n",
	         address, segment);
	/* Exactly one line from the library, and it is that line. */
	const char *line = strstr(r.err, "trindle:");
	assert_non_null(line);
	assert_null(strstr(line + 1, "trindle:"));
	assert_memory_equal(line, want, strlen(want));
}

static void test_fault_not_in_a_segment_chained_to_previous_handler(void **state)
{
	(void)state;
	struct child_result r;
	run_child("--chain", &r);

	/* The handler installed before the library's ran and exited 42. */
	assert_true(WIFEXITED(r.status));
	assert_int_equal(WEXITSTATUS(r.status), 42);
	assert_null(strstr(r.err, "trindle:"));
}

/* ---- child scenarios ---- */

/* Keeps the segment it gets, acks on g_out, then waits until it may end. */
static void keeper_worker(trindle_pipe_t input)
{
	trindle_object_t s = trindle_util_next_object(input);
	t_w_move(g_out, t_label(1));
	trindle_util_next_object(input);
	t_w_release(s);
}

/* A root process shares a segment with a worker, then writes it. */
static int child_root_write_shared(void)
{
	trindle_buffer_t b = { 4096, NULL };
	volatile unsigned char *s = trindle_allocate(1, &b);
	g_out = trindle_pipe(1);
	trindle_pipe_t w = trindle_launch(keeper_worker, 2, g_out, NULL);
	if (!s || !w || t_w_send(w, (void *)s) || !trindle_util_next_object(g_out))
		return 2;
	printf("%p %p\n", (void *)s, (void *)(s + 64));
	fflush(stdout);
	s[64] = 1;
	return 3;   /* not reached: the write ends the program */
}

static void *g_guard_page;

static void own_segv_handler(int sig, siginfo_t *info, void *context)
{
	(void)sig;
	(void)context;
	_exit(info->si_addr == g_guard_page ? 42 : 43);
}

/* A handler installed before the library's gets the faults that are not
 * in a segment. */
static int child_chain(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = own_segv_handler;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSEGV, &sa, NULL))
		return 2;
	/* The library starts (and installs its handler) on first use. */
	trindle_pipe_t p = trindle_pipe(1);
	if (!p || t_release(p))
		return 2;
	g_guard_page = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (g_guard_page == MAP_FAILED)
		return 2;
	*(volatile char *)g_guard_page = 1;
	return 3;
}

int main(int argc, char **argv)
{
	if (argc > 0 && strchr(argv[0], '/'))
		g_self = argv[0];
	if (argc == 2 && strcmp(argv[1], "--root-write-shared") == 0)
		return child_root_write_shared();
	if (argc == 2 && strcmp(argv[1], "--chain") == 0)
		return child_chain();

#define T(f) cmocka_unit_test_setup(f, t_drop_notices)
	const struct CMUnitTest tests[] = {
		T(test_fault_write_to_shared_segment_reported),
		T(test_fault_read_of_destroyed_segment_reported),
		T(test_fault_write_to_destroyed_segment_reported),
		T(test_fault_write_to_extended_segment_reported),
		T(test_fault_execute_of_data_segment_reported),
		T(test_fault_report_segment_held_solely_by_receiver),
		T(test_fault_stops_only_the_worker_and_releases_its_holdings),
		T(test_fault_without_err_pipe_still_ends_only_the_worker),
		T(test_fault_many_in_a_row_then_workers_still_run),
		T(test_fault_in_root_process_ends_program_with_one_line),
		T(test_fault_not_in_a_segment_chained_to_previous_handler),
	};
	return cmocka_run_group_tests_name("faults", tests, NULL, NULL);
}
