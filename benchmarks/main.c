/* SPDX-License-Identifier: MIT */
/*
 * trindle-bench: runs every scenario (or one), each in a child process of
 * its own so that its peak RSS is its own and a crash cannot take the
 * others down, then prints a table and optionally writes JSON.
 *
 *   trindle-bench [--quick] [--only NAME] [--json FILE] [--reps N] [--list]
 *
 * Hidden flags for tools (benchmarks/callgrind-stream.sh):
 *   --side trindle|pthreads|pthreads-spin|peer
 *                             run one side of the --only scenario once, in
 *                             this process, no warm-up, and print it;
 *   --messages N              the stream scenario's message count;
 *   --no-fork                 run scenarios in this process.
 */
#include "bench.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#ifdef BENCH_HAVE_ZMQ
#define ZMQ_PEER .peer = stream_zmq, .peer_name = "zmq"
#else
#define ZMQ_PEER .peer = NULL
#endif

#define SIDES(fn) .trindle = fn##_trindle, .pthreads = fn##_pthreads

/*
 * Targets: the (issue 12).  Where both twins run, the ratio and
 * the target are against the faster twin, except ping-pong and stream,
 * whose targets the issue set against the textbook twin; the faster
 * twin's ratio is printed next to them.  launch's twin is a pool of
 * threads; the 2x is against creating a thread (launch-create).
 */
#define BOTH .both_twins = true

const bench_scenario_t bench_scenarios[] = {
	{ "ping-pong", "ns/round-trip", BENCH_LATENCY, 1, 10,
	  SIDES(ping_pong), BOTH, .target_vs_textbook = true },
	{ "stream", "msg/s", BENCH_RATE, 1, 4,
	  .trindle = stream_trindle, .pthreads = stream_pthreads, ZMQ_PEER,
	  BOTH, .target_vs_textbook = true },
	{ "stream-batched", "msg/s", BENCH_RATE, 1, 1.5,
	  .trindle = stream_trindle, .pthreads = stream_pthreads_batched,
	  ZMQ_PEER, BOTH },
	{ "stream-contended", "msg/s", BENCH_RATE, 1, 1,
	  .trindle = stream_trindle, .pthreads = stream_pthreads_batched,
	  ZMQ_PEER, .contended = true, BOTH },
	{ "fan-in-2", "msg/s", BENCH_RATE, 1, 1, SIDES(fan_in_2), BOTH },
	{ "fan-in-4", "msg/s", BENCH_RATE, 1, 1, SIDES(fan_in_4), BOTH },
	{ "pipeline", "MiB/s", BENCH_RATE, 1024 * 1024, 1, SIDES(pipeline),
	  BOTH },
	{ "pipeline-all", "MiB/s", BENCH_RATE, 1024 * 1024, 1,
	  SIDES(pipeline_all), BOTH },
	{ "pipeline-stage", "MiB/s", BENCH_RATE, 1024 * 1024, 1,
	  SIDES(pipeline_stage), BOTH },
	{ "pipeline-stage-small", "MiB/s", BENCH_RATE, 1024 * 1024, 0,
	  SIDES(pipeline_stage_small), BOTH },
	{ "pipeline-contended", "MiB/s", BENCH_RATE, 1024 * 1024, 1,
	  SIDES(pipeline), .contended = true, BOTH },
	{ "share", "msg/s", BENCH_RATE, 1, 0, SIDES(share), BOTH },
	{ "launch", "ns/launch", BENCH_LATENCY, 1, 0,
	  .trindle = launch_trindle, .pthreads = launch_pool_pthreads, BOTH },
	{ "launch-create", "ns/launch", BENCH_LATENCY, 1, 2,
	  SIDES(launch) },
	{ "scale-ring", "ns/hop", BENCH_LATENCY, 1, 0, SIDES(scale_ring),
	  BOTH },
	{ "scale-segments", "ns/segment", BENCH_LATENCY, 1, 0,
	  SIDES(scale_segments) },
	/* The target for allocation: no worse than 10x malloc. */
	{ "alloc", "ns/alloc", BENCH_LATENCY, 1, 0.1, SIDES(alloc) },
	{ "alloc-batch", "ns/alloc", BENCH_LATENCY, 1, 0.1,
	  SIDES(alloc_batch) },
};
const size_t bench_scenario_count =
	sizeof bench_scenarios / sizeof bench_scenarios[0];

typedef struct args {
	bench_opts_t opts;
	const char *only, *json, *side;
	bool no_fork, list;
} args_t;

static void usage(FILE *f)
{
	fprintf(f, "usage: trindle-bench [--quick] [--only NAME] "
			"[--json FILE] [--reps N] [--list]\n"
			"Runs libtrindle against a pthreads twin, scenario by "
			"scenario, and prints a table.\n");
}

static int parse_count(const char *flag, const char *s, uint64_t *v)
{
	char *end;

	errno = 0;
	*v = strtoull(s ? s : "", &end, 10);
	if (!s || errno || *end || *v == 0) {
		fprintf(stderr, "trindle-bench: %s needs a positive number\n",
				flag);
		return -1;
	}
	return 0;
}

/* Flags that take a value; returns 1 if argv[*i] was one, -1 on error. */
static int parse_valued(args_t *a, int argc, char **argv, int *i)
{
	const char *flag = argv[*i], *val = *i + 1 < argc ? argv[*i + 1] : NULL;
	uint64_t n;

	if (strcmp(flag, "--only") == 0)
		a->only = val;
	else if (strcmp(flag, "--json") == 0)
		a->json = val;
	else if (strcmp(flag, "--side") == 0)
		a->side = val;
	else if (strcmp(flag, "--messages") == 0) {
		if (parse_count(flag, val, &n) != 0)
			return -1;
		a->opts.messages = n;
	} else if (strcmp(flag, "--reps") == 0) {
		if (parse_count(flag, val, &n) != 0 || n < 5 || n > 1000) {
			fprintf(stderr, "trindle-bench: --reps is 5..1000\n");
			return -1;
		}
		a->opts.reps = (int)n;
	} else
		return 0;
	if (!val) {
		fprintf(stderr, "trindle-bench: %s needs a value\n", flag);
		return -1;
	}
	(*i)++;
	return 1;
}

static int parse(args_t *a, int argc, char **argv)
{
	memset(a, 0, sizeof *a);
	a->opts.reps = 5;
	for (int i = 1; i < argc; i++) {
		int r = parse_valued(a, argc, argv, &i);

		if (r < 0)
			return -1;
		if (r > 0)
			continue;
		if (strcmp(argv[i], "--quick") == 0)
			a->opts.quick = true;
		else if (strcmp(argv[i], "--no-fork") == 0)
			a->no_fork = true;
		else if (strcmp(argv[i], "--list") == 0)
			a->list = true;
		else if (strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			exit(0);
		} else {
			usage(stderr);
			return -1;
		}
	}
	return 0;
}

static const bench_scenario_t *find(const char *name)
{
	for (size_t i = 0; i < bench_scenario_count; i++)
		if (strcmp(bench_scenarios[i].name, name) == 0)
			return &bench_scenarios[i];
	fprintf(stderr, "trindle-bench: no scenario '%s' (try --list)\n",
			name);
	return NULL;
}

/* --side: one run of one side, for profilers. */
static int run_side_once(const bench_scenario_t *sc, const args_t *a)
{
	bench_side_fn fn = NULL;
	bench_sample_t s = { 0 };

	if (strcmp(a->side, "trindle") == 0)
		fn = sc->trindle;
	else if (strcmp(a->side, "pthreads") == 0)
		fn = sc->pthreads;
	else if (strcmp(a->side, "pthreads-spin") == 0 && sc->both_twins)
		fn = sc->pthreads;
	else if (strcmp(a->side, "peer") == 0)
		fn = sc->peer;
	if (!fn) {
		fprintf(stderr, "trindle-bench: --side trindle|pthreads|"
				"pthreads-spin|peer (pthreads-spin: only where "
				"the twin is run both ways; peer: only where the "
				"scenario has one)\n");
		return 1;
	}
	bq_wait_style = strcmp(a->side, "pthreads-spin") == 0 ? BQ_SPIN
		: BQ_SLEEP;
	if (fn(&a->opts, &s) != 0)
		return 1;
	printf("%s %s ops=%llu seconds=%.6f figure=%.6g %s check=%#llx\n",
			sc->name, a->side, (unsigned long long)s.ops,
			s.seconds, bench_figure(sc, &s), sc->unit,
			(unsigned long long)s.check);
	return 0;
}

/* Runs one scenario in a child and reads its result back. */
static void run_forked(const bench_scenario_t *sc, const args_t *a,
		bench_result_t *res)
{
	int fd[2], status;
	pid_t pid;

	memset(res, 0, sizeof *res);
	snprintf(res->name, sizeof res->name, "%s", sc->name);
	fflush(NULL);
	if (pipe(fd) != 0 || (pid = fork()) < 0) {
		bench_fail(sc->name, "fork: %s", strerror(errno));
		return;
	}
	if (pid == 0) {
		close(fd[0]);
		bench_run(sc, &a->opts, res);
		if (write(fd[1], res, sizeof *res) != (ssize_t)sizeof *res)
			exit(1);
		exit(res->ok ? 0 : 1);
	}
	close(fd[1]);
	if (read(fd[0], res, sizeof *res) != (ssize_t)sizeof *res)
		res->ok = false;
	close(fd[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		if (WIFSIGNALED(status))
			bench_fail(sc->name, "child died of signal %d",
					WTERMSIG(status));
		res->ok = false;
	}
}

static void run_one(const bench_scenario_t *sc, const args_t *a,
		bench_result_t *res)
{
	fprintf(stderr, "trindle-bench: %s ...\n", sc->name);
	if (a->no_fork)
		bench_run(sc, &a->opts, res);
	else
		run_forked(sc, a, res);
}

int main(int argc, char **argv)
{
	bench_result_t res[sizeof bench_scenarios / sizeof bench_scenarios[0]];
	const bench_scenario_t *only = NULL;
	bench_machine_t machine;
	size_t n = 0;
	bool ok = true;
	args_t a;

	if (parse(&a, argc, argv) != 0)
		return 2;
	if (a.list) {
		for (size_t i = 0; i < bench_scenario_count; i++)
			printf("%s\n", bench_scenarios[i].name);
		return 0;
	}
	if (a.only && !(only = find(a.only)))
		return 2;
	if (a.side) {
		if (!only) {
			fprintf(stderr, "trindle-bench: --side needs --only\n");
			return 2;
		}
		return run_side_once(only, &a);
	}
	/* Every hand-off figure moves with the cache-line round trip, which
	 * on this kind of host changes from hour to hour: measure it first. */
	bench_machine_probe(&machine, a.opts.quick);
	for (size_t i = 0; i < bench_scenario_count; i++) {
		if (only && only != &bench_scenarios[i])
			continue;
		run_one(&bench_scenarios[i], &a, &res[n]);
		ok = ok && res[n].ok;
		n++;
	}
	bench_machine_reprobe(&machine, a.opts.quick);
	bench_print_header(&machine, &a.opts);
	bench_print_table(res, n);
	if (a.json && bench_write_json(a.json, &machine, res, n) != 0)
		ok = false;
	return ok ? 0 : 1;
}
