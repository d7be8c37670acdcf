/* SPDX-License-Identifier: MIT */
/*
 * test_model.c - model-based random testing of libtrindle.
 *
 * Each seed drives a fresh universe (a forked child) through a sequence of
 * steps - allocations, pipes, worker launches and ends, syncs by the root
 * and by workers with outboxes of every kind - and after each step checks
 * everything observable against the model (model.h): failed messages,
 * deliveries and notices in order, trindle_access() and trindle_measure()
 * of every object for the acting process and the root, and the bytes of
 * every segment they may read.
 *
 *   test_model                          the CI budget (scaled by
 *                                       TRINDLE_TEST_SCALE)
 *   test_model --seeds 2000 --steps 400 a longer run
 *   test_model --seed 1234 --steps 57   one seed, with its step log
 *   test_model --first 5000 --seeds 100 seeds 5000..5099
 *   test_model --replay FILE...         fuzzer inputs (tests/fuzz/corpus)
 *
 * TRINDLE_MODEL_LOG=1 prints the steps of a clean --seed run too.
 * TRINDLE_MODEL_KNOWN=bits makes the model copy known core bugs (model.h)
 * so that a run can look past them.
 *
 * On a mismatch it prints the steps so far, the seed and the step, then
 * runs that seed again for exactly that many steps (the shortest failing
 * prefix: every step is checked, so no shorter prefix fails) to see that
 * it fails again, leaves out of the failing step every message it can do
 * without (printing the fewest messages that still fail), and tries the
 * known core bugs the model can copy (TRINDLE_MODEL_KNOWN, model.h) to say
 * which one it is.  Only the first three failures get all that; later
 * ones get a line and the known-bug match.  A hang is caught by a
 * watchdog, which prints the steps up to the one that hung.
 *
 * The default run also replays every input in tests/fuzz/corpus (inputs
 * of the libFuzzer target tests/fuzz/fuzz_sync.c, crashes it found among
 * them), and runs the core bugs the tester found as plain sequences.
 * Inputs named legacy-* were kept before the decoder learnt pipe moves:
 * they are decoded the old way (h_src.legacy), so they make the calls
 * they were kept for.
 */
#include "helpers.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "model.h"
#include "model_run.h"

/* The CI budget: about 3 s plain; TSan runs the steps ~15 times slower,
 * so it takes fewer seeds to stay near 35 s. */
#ifdef __SANITIZE_THREAD__
#define DEFAULT_SEEDS 150
#else
#define DEFAULT_SEEDS 200
#endif
#define DEFAULT_STEPS 200
#define CHILD_LIMIT_S 60
#define FULL_REPORTS 3   /* failures shown in full (steps, shrinking) */


static void on_alarm(int sig)
{
	static const char msg[] = "MISMATCH: the run hung (watchdog) at step ";
	char num[24], *p = num + sizeof(num);
	unsigned long step = h_step_now;
	(void)sig;
	h_dump_log();
	*--p = '\n';
	do
		*--p = (char)('0' + step % 10);
	while ((step /= 10) != 0);
	if (write(2, msg, sizeof(msg) - 1) < 0 ||
	    write(2, p, (size_t)(num + sizeof(num) - p)) < 0)
		_exit(3);
	_exit(3);
}

/* Ends a child.  TSan sleeps a second in exit() and _exit() while
 * threads (the idle workers) live; it checks no leaks, so under TSan the
 * child leaves with the bare system call. */
static void quit(int rc)
{
#ifdef __SANITIZE_THREAD__
	syscall(SYS_exit_group, rc);
#endif
	exit(rc);
}

/* Runs seed for steps steps in a child; returns the failing step, 0 if
 * clean (or (unsigned long)-1 when the child died or hung). */
static unsigned long run_seed(uint64_t seed, unsigned long steps, bool log,
			      bool quiet)
{
	int fd[2];
	unsigned long bad = (unsigned long)-1;

	fflush(NULL);
	if (pipe(fd) < 0)
		return bad;
	pid_t pid = fork();
	if (pid < 0)
		return bad;
	if (pid == 0) {
		close(fd[0]);
		int null = quiet ? open("/dev/null", O_WRONLY) : -1;
		if (null >= 0)
			dup2(null, 2);
		struct h_src src;
		signal(SIGALRM, on_alarm);
		alarm(CHILD_LIMIT_S);
		h_src_seed(&src, seed);
		bad = h_run(&src, steps, log);
		fflush(NULL);
		/* The failing step goes back through the pipe. */
		if (write(fd[1], &bad, sizeof(bad)) != sizeof(bad))
			_exit(4);
		quit(bad ? 1 : 0);
	}
	close(fd[1]);
	if (read(fd[0], &bad, sizeof(bad)) != sizeof(bad))
		bad = (unsigned long)-1;
	close(fd[0]);
	int status;
	while (waitpid(pid, &status, 0) < 0)
		;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && !bad)
		return 0;
	if (bad && bad != (unsigned long)-1)
		return bad;
	if (WIFEXITED(status))
		fprintf(stderr, "seed %llu: exit status %d\n",
			(unsigned long long)seed, WEXITSTATUS(status));
	if (WIFSIGNALED(status))
		fprintf(stderr, "seed %llu: killed by signal %d\n",
			(unsigned long long)seed, WTERMSIG(status));
	return (unsigned long)-1;
}

/* Which known core bug (model.h, M_KNOWN_*) a failure is: the prefix
 * passes when the model copies that bug. */
static void explain(uint64_t seed, unsigned long steps)
{
	static const char *const known[] = {
		"a failed release of a pipe drops its receive request",
		"a dropped request reorders the other requests",
		"a worker's final object goes to a new pipe at its dead out/err's address",
		"a worker that let go of its out/err pipe forgets it even if it gets SEND on it again",
		"a pipe's send and release by its receiver kills it (no pipe moves)",
		"a pipe received by a move keeps its previous receiver's fairness stamp",
		"a pipe whose carrier dies between its move's send and release is freed under the mover",
	};
	const char *was = getenv("TRINDLE_MODEL_KNOWN");
	char bits[16];

	for (unsigned b = 0; b < sizeof(known) / sizeof(known[0]); b++) {
		unsigned base = was ? (unsigned)strtoul(was, NULL, 0) : 0;
		if (base & (1u << b))
			continue;
		snprintf(bits, sizeof(bits), "%u", base | 1u << b);
		setenv("TRINDLE_MODEL_KNOWN", bits, 1);
		unsigned long bad = run_seed(seed, steps, false, true);
		if (!bad) {
			fprintf(stderr, "seed %llu: explained by known bug %u: %s "
				"(passes with TRINDLE_MODEL_KNOWN=%s)\n",
				(unsigned long long)seed, 1u << b, known[b], bits);
			break;
		}
	}
	if (was)
		setenv("TRINDLE_MODEL_KNOWN", was, 1);
	else
		unsetenv("TRINDLE_MODEL_KNOWN");
}

/* Leaves out of the failing step's outbox every message it can do
 * without and still fail there; shows what is left. */
static void shrink_last(uint64_t seed, unsigned long steps)
{
	uint32_t keep_out = 0;

	for (unsigned i = 0; i < M_OUTMAX; i++) {
		h_drop_last = keep_out | 1u << i;
		if (run_seed(seed, steps, false, true) == steps)
			keep_out = h_drop_last;
	}
	h_drop_last = keep_out;
	if (keep_out) {
		fprintf(stderr, "seed %llu: the failing step with fewest messages "
			"(still failing):\n", (unsigned long long)seed);
		run_seed(seed, steps, false, false);
	}
	h_drop_last = 0;
}

/* Runs seeds [first, first + n); returns how many failed. */
static int run_seeds(uint64_t first, unsigned long n, unsigned long steps)
{
	int failed = 0;

	for (unsigned long i = 0; i < n; i++) {
		uint64_t seed = first + i;
		/* The first few failures in full; then one line each. */
		bool full = failed < FULL_REPORTS;
		unsigned long bad = run_seed(seed, steps, full, !full);
		if (!bad)
			continue;
		failed++;
		if (bad == (unsigned long)-1) {
			fprintf(stderr, "seed %llu: FAILED (crash or hang); rerun: "
				"test_model --seed %llu --steps %lu\n",
				(unsigned long long)seed,
				(unsigned long long)seed, steps);
			continue;
		}
		if (!full) {
			fprintf(stderr, "seed %llu: FAILED at step %lu\n",
				(unsigned long long)seed, bad);
			explain(seed, bad);
			continue;
		}
		/* Every step is checked, so the first bad steps are the
		 * shortest failing prefix; run it again to see it reproduce. */
		unsigned long again = run_seed(seed, bad, false, true);
		fprintf(stderr, "seed %llu: FAILED at step %lu (steps above); "
			"the prefix of %lu steps %s\n", (unsigned long long)seed,
			bad, bad, again == bad ? "fails again" :
			"does NOT fail again (not deterministic?)");
		fprintf(stderr, "rerun: test_model --seed %llu --steps %lu\n",
			(unsigned long long)seed, bad);
		if (again == bad)
			shrink_last(seed, bad);
		explain(seed, bad);
	}
	return failed;
}

/* Replays one fuzzer input (in a child, like a seed). */
static bool replay(const char *path)
{
	static uint8_t data[1 << 16];
	FILE *f = fopen(path, "rb");
	if (!f) {
		fprintf(stderr, "%s: cannot open\n", path);
		return false;
	}
	size_t n = fread(data, 1, sizeof(data), f);
	fclose(f);
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0)
		return false;
	if (pid == 0) {
		struct h_src src;
		signal(SIGALRM, on_alarm);
		alarm(CHILD_LIMIT_S);
		h_src_bytes(&src, data, n);
		const char *base = strrchr(path, '/');
		src.legacy = !strncmp(base ? base + 1 : path, "legacy-", 7);
		int rc = h_run(&src, 1000, true) ? 1 : 0;
		if (getenv("TRINDLE_MODEL_LOG") && !rc)
			fprintf(stderr, "%s: clean\n", path);
		fflush(NULL);
		quit(rc);
	}
	int status;
	while (waitpid(pid, &status, 0) < 0)
		;
	bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
	if (!ok)
		fprintf(stderr, "%s: FAILED\n", path);
	return ok;
}

/* Every input kept in the fuzzer's corpus (crashes it found included)
 * runs clean. */
static void test_model_fuzz_corpus(void **state)
{
	(void)state;
#ifdef T_FUZZ_CORPUS
	DIR *d = opendir(T_FUZZ_CORPUS);
	struct dirent *e;
	int failed = 0, n = 0;
	char path[4096];

	assert_non_null(d);
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", T_FUZZ_CORPUS, e->d_name);
		failed += !replay(path);
		n++;
	}
	closedir(d);
	assert_true(n > 0);
	assert_int_equal(failed, 0);
#else
	skip();
#endif
}

/* ---- regressions the tester found, as plain sequences ----------------------
 * Each runs in a child (this process does not start the library: it forks
 * the seeds) and returns 0 when the contract held. */

/* Runs fn in a child: 0 passed, 1 failed, 77 skipped. */
static int in_child(int (*fn)(void))
{
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		signal(SIGALRM, on_alarm);
		alarm(CHILD_LIMIT_S);
		int rc = fn();
		fflush(NULL);
		quit(rc);
	}
	int status;
	while (waitpid(pid, &status, 0) < 0)
		;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

/* A creator's release of a pipe that fails (a send of that pipe failed
 * earlier in the call) kills nothing, so the pipe's receive request stands
 * and what is queued in it is delivered.  (seed 4, step 142: the request
 * was dropped all the same.) */
static int failed_release_keeps_request(void)
{
	trindle_pipe_t p = trindle_pipe(1), q = trindle_pipe(1);
	trindle_segment_t s = trindle_allocate(0, NULL);
	trindle_segment_t t = trindle_allocate(0, NULL);
	trindle_message_t m[2] = { { q, s }, { p, t } };
	trindle_mailbox_t o = { 2, m };
	if (trindle_sync(&o, NULL) || o.count)
		return 1; /* both pipes now full */
	trindle_message_t m2[3] = { { p, NULL }, { q, p }, { NULL, p } }, got[4];
	trindle_mailbox_t o2 = { 3, m2 }, in = { 4, got };
	if (trindle_sync(&o2, &in))
		return 1;
	bool ok = o2.count == 2 && m2[0].address == q && m2[1].content == p &&
		in.count == 1 && got[0].address == p && got[0].content == t;
	if (!ok)
		fprintf(stderr, "failed %zu (want 2), delivered %zu (want t from p)\n",
			o2.count, in.count);
	return ok ? 0 : 1;
}

static void ends_with_report(trindle_pipe_t input)
{
	trindle_message_t rq = { input, NULL }, got[4];
	int seen = 0;
	/* First its err's closure notice, then a pipe to hold SEND on. */
	while (seen < 2) {
		trindle_mailbox_t o = { 1, &rq }, in = { 4, got };
		if (trindle_sync(&o, &in))
			trindle_exit(NULL);
		for (size_t i = 0; i < in.count; i++) {
			if (!got[i].content)
				seen = 1;
			else if (seen == 1 && got[i].address == input)
				seen = 2;
		}
	}
	trindle_abort(trindle_allocate(0, NULL)); /* err is dead: released */
}

/* A worker whose err pipe died gets its report released, even when a new
 * pipe it holds SEND on now has the dead pipe's address.  (TSan seed 20007,
 * step 285: the report landed in the other worker's input.)  Skipped when
 * the allocator does not give the address again. */
static int completion_ignores_reused_address(void)
{
	trindle_pipe_t err = trindle_pipe(1), keep = trindle_pipe(4);
	trindle_pipe_t w = trindle_launch(ends_with_report, 4, NULL, err);
	/* A message carries err, so the root frees it when it takes that. */
	trindle_message_t m1[2] = { { keep, err }, { NULL, err } };
	trindle_mailbox_t o1 = { 2, m1 };
	if (!w || trindle_sync(&o1, NULL) || o1.count)
		return 1;
	/* The worker takes its closure notice; it has nothing to report. */
	struct timespec pause = { 0, 50000000 };
	nanosleep(&pause, NULL);
	trindle_message_t rq = { keep, NULL }, got[8];
	trindle_mailbox_t ro = { 1, &rq }, in = { 8, got };
	if (trindle_sync_timeout(&ro, &in, 0) || in.count != 1)
		return 1;
	trindle_pipe_t n = NULL;
	for (int i = 0; i < 64 && n != err; i++)
		n = trindle_pipe(1); /* the others stay: they cannot match */
	if (n != err) {
		fprintf(stderr, "no address reuse here: skipped\n");
		return 77;
	}
	trindle_message_t give = { w, n };
	trindle_mailbox_t g = { 1, &give };
	if (trindle_sync(&g, NULL) || g.count)
		return 1;
	for (int ended = 0; !ended;) {
		trindle_mailbox_t o2 = { 1, &rq }, in2 = { 8, got };
		if (trindle_sync_timeout(&o2, &in2, 100000000))
			return 1;
		for (size_t i = 0; i < in2.count; i++)
			ended |= got[i].address == w && !got[i].content;
	}
	if (trindle_measure(n) != 0)
		fprintf(stderr, "the report went to the new pipe\n");
	return trindle_measure(n) == 0 ? 0 : 1;
}

static void test_model_regress_failed_release_keeps_request(void **state)
{
	(void)state;
	assert_int_equal(in_child(failed_release_keeps_request), 0);
}

static void test_model_regress_completion_ignores_reused_address(void **state)
{
	(void)state;
	int rc = in_child(completion_ignores_reused_address);
	if (rc == 77)
		skip();
	assert_int_equal(rc, 0);
}

/* ---- the model's own reading of the pipe-move rules ------------------------
 * The model alone (no library), fed made-up addresses: what it predicts
 * for the rules of issue 14 A, so that a model that drifted from them
 * fails here whatever the library does. */

enum { MX = 0x10000, MY = 0x20000, MS = 0x30000, MT = 0x40000 };

static struct model tm;

static size_t msync(int proc, const struct m_msg *out, size_t n,
		    size_t incap, struct m_sync *s)
{
	memset(s, 0, sizeof(*s));
	s->proc = proc;
	memcpy(s->out, out, n * sizeof(*out));
	s->nout = n;
	s->incap = incap;
	m_sync(&tm, s);
	return s->nfailed;
}

static void test_model_reads_pipe_moves(void **state)
{
	static struct m_sync s;
	(void)state;
	m_init(&tm, 4096);
	int x = m_pipe(&tm, 0, MX, 4);
	m_pipe(&tm, 0, MY, 4);
	m_segment(&tm, 0, MS, 8, 1, 0, 0);
	m_segment(&tm, 0, MT, 8, 2, 0, 0);
	const struct m_msg fill[4] = { { MX, MS }, { 0, MS }, { MX, MT }, { 0, MT } };
	assert_int_equal(msync(0, fill, 4, 0, &s), 0);
	/* Self-move: both fail, in order; nothing changes. */
	const struct m_msg self[2] = { { MX, MX }, { 0, MX } };
	assert_int_equal(msync(0, self, 2, 0, &s), 2);
	assert_int_equal(s.failed[0].address, MX);
	assert_int_equal(s.failed[1].address, 0);
	assert_int_equal(m_access(&tm, 0, MX), M_SEND | M_RECV);
	assert_int_equal(m_measure(&tm, 0, MX), 2);
	/* A request, a non-adjacent move: nothing of X delivered. */
	const struct m_msg mv[4] = { { MX, 0 }, { MY, MX }, { 0, 0x1000 }, { 0, MX } };
	assert_int_equal(msync(0, mv, 4, 8, &s), 1); /* the bad release */
	assert_int_equal(s.ndelivered, 0);
	assert_int_equal(m_access(&tm, 0, MX), 0);
	assert_int_equal(tm.o[x].creator, -1);
	assert_true(tm.o[x].live);
	/* Taken back: SEND|RECEIVE, the queue intact. */
	const struct m_msg rq[1] = { { MY, 0 } };
	assert_int_equal(msync(0, rq, 1, 8, &s), 0);
	assert_int_equal(s.ndelivered, 1);
	assert_int_equal(s.in[0].content, MX);
	assert_int_equal(m_access(&tm, 0, MX), M_SEND | M_RECV);
	assert_int_equal(m_measure(&tm, 0, MX), 2);
	/* Moved into Y again, and Y dies: X dies, its segments go. */
	const struct m_msg again[2] = { { MY, MX }, { 0, MX } };
	assert_int_equal(msync(0, again, 2, 0, &s), 0);
	assert_false(m_cycle(&tm));
	const struct m_msg kill[1] = { { 0, MY } };
	assert_int_equal(msync(0, kill, 1, 0, &s), 0);
	assert_false(tm.o[x].live);
	assert_int_equal(m_access(&tm, 0, MS), 0);
	assert_int_equal(m_holders(&tm, m_find(&tm, MS)), 0);
}

static void test_model_random_universes(void **state)
{
	(void)state;
	unsigned long scale = t_scale();
	int failed = run_seeds(1, DEFAULT_SEEDS * scale, DEFAULT_STEPS);
	assert_int_equal(failed, 0);
}

int main(int argc, char **argv)
{
	unsigned long seeds = 0, steps = DEFAULT_STEPS;
	uint64_t first = 1;
	bool one = false, custom = false;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--seeds") && v) {
			seeds = strtoul(v, NULL, 0);
		} else if (!strcmp(a, "--steps") && v) {
			steps = strtoul(v, NULL, 0);
		} else if (!strcmp(a, "--seed") && v) {
			first = strtoull(v, NULL, 0);
			one = true;
		} else if (!strcmp(a, "--replay")) {
			int failed = 0;
			for (int k = i + 1; k < argc; k++)
				failed += !replay(argv[k]);
			return failed ? 1 : 0;
		} else if (!strcmp(a, "--first") && v) {
			first = strtoull(v, NULL, 0);
		} else {
			fprintf(stderr, "usage: test_model [--seeds N] [--steps N] "
				"[--seed S] [--first S] | --replay FILE...\n");
			return 2;
		}
		custom = true;
		i++;
	}
	if (!custom) {
		const struct CMUnitTest tests[] = {
			cmocka_unit_test(test_model_reads_pipe_moves),
			cmocka_unit_test(test_model_random_universes),
			cmocka_unit_test(test_model_fuzz_corpus),
			cmocka_unit_test(test_model_regress_failed_release_keeps_request),
			cmocka_unit_test(test_model_regress_completion_ignores_reused_address),
		};
		return cmocka_run_group_tests_name("model", tests, NULL, NULL);
	}
	if (one) {
		unsigned long bad = run_seed(first, steps, true, false);
		if (bad && bad != (unsigned long)-1)
			fprintf(stderr, "seed %llu: FAILED at step %lu\n",
				(unsigned long long)first, bad);
		return bad ? 1 : 0;
	}
	if (!seeds)
		seeds = DEFAULT_SEEDS;
	int failed = run_seeds(first, seeds, steps);
	printf("%lu seeds x %lu steps from %llu: %d failed\n", seeds, steps,
	       (unsigned long long)first, failed);
	return failed ? 1 : 0;
}
