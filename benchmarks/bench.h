/* SPDX-License-Identifier: MIT */
/*
 * bench.h - common code of trindle-bench.
 *
 * Every scenario runs two *sides* doing the same work on the same data: the
 * libtrindle version and the pthreads twin a careful C programmer would
 * write instead (a mutex and two condition variables around a bounded queue
 * of pointers, no memory protection).  The runner alternates the sides
 * A B A B after a warm-up and reports medians, min-max and the ratio.
 *
 * Names: bench_* is the runner (bench.c), stats_* the statistics
 * (stats.c, shared with io-bench.c), bq_* the pthreads bounded queue
 * (bq.c), bt_* small helpers for the libtrindle side (bt.c).
 */
#ifndef TRINDLE_BENCH_H
#define TRINDLE_BENCH_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <trindle.h>

#include "bq.h"
#include "stats.h"

/* How many items move per lock (pthreads) or per sync (libtrindle). */
#define BENCH_BATCH 64
/* Size of the small blocks the message scenarios pass around. */
#define BENCH_BLOCK 4096

/* ---- running scenarios ------------------------------------------------ */

/* What the command line asked for. */
typedef struct bench_opts {
	bool quick;          /* tiny sizes, for CI */
	uint64_t messages;   /* stream scenario message count; 0: default */
	int reps;            /* measured repetitions per side (>= 5) */
} bench_opts_t;

/* One timed run of one side. */
typedef struct bench_sample {
	double seconds;      /* length of the timed region */
	uint64_t ops;        /* operations done in it (messages, bytes, ...) */
	uint64_t check;      /* digest of the work; both sides must agree */
} bench_sample_t;

/* Runs one side once; returns 0, or -1 after printing why to stderr. */
typedef int (*bench_side_fn)(const bench_opts_t *opts, bench_sample_t *out);

enum bench_kind {
	BENCH_RATE,          /* figure = ops / second / divisor; higher wins */
	BENCH_LATENCY,       /* figure = ns per op; lower wins */
};

typedef struct bench_scenario {
	const char *name;    /* as in the JSON: "ping-pong", "stream", ... */
	const char *unit;    /* "ns/round-trip", "msg/s", "MiB/s", ... */
	enum bench_kind kind;
	double divisor;      /* BENCH_RATE only: 1, or 1 << 20 for MiB/s */
	double target;       /* the ratio the runtime aims at; 0: none */
	bench_side_fn trindle;
	bench_side_fn pthreads;
	/* An off-the-shelf library doing the same work (ZeroMQ), measured in
	 * the same alternation and reported as a ratio of its own; NULL for
	 * none. */
	bench_side_fn peer;
	const char *peer_name;
	/* A process spinning on one core (bench_spinner_start) for the whole
	 * scenario, warm-up included, so both sides run under the same load. */
	bool contended;
	/* The twin is run with both ways of waiting (bq.h: BQ_SLEEP and
	 * BQ_SPIN) in the same alternation, and libtrindle is compared with
	 * the faster; false: the textbook BQ_SLEEP twin only. */
	bool both_twins;
	/* The target is the figure against the textbook twin (one
	 * lock per item, sleeping at once), and is checked against that
	 * twin; otherwise it is checked against the faster twin. */
	bool target_vs_textbook;
} bench_scenario_t;

typedef stats_t bench_stats_t;

/* Everything measured for one scenario. */
typedef struct bench_result {
	char name[32];
	bool ok;             /* both sides ran, verified and agreed */
	int reps;
	bench_stats_t trindle, pthreads;
	double ratio;        /* > 1: libtrindle is better */
	/* both_twins: each way of waiting on its own ([BQ_SLEEP], [BQ_SPIN]);
	 * pthreads is a copy of the faster, named by twin_wait. */
	bench_stats_t twin[2];
	enum bq_wait twin_wait;
	double target_ratio; /* the ratio the target is checked against */
	bool has_peer;
	bench_stats_t peer;
	double peer_ratio;   /* libtrindle against the peer, same convention */
	long peer_rss_kib[2];
	stats_ratio_t pairwise;      /* per-pair ratios, trindle vs twin */
	/* Per side: [0] its peak RSS, [1] how far the peak rose above the
	 * RSS its run started with (the largest over its runs). */
	long trindle_rss_kib[2], pthreads_rss_kib[2];
	long peak_rss_kib;           /* the larger of the two peaks */
} bench_result_t;

/* The sides, one pair (or more) per scenario file. */
int ping_pong_trindle(const bench_opts_t *opts, bench_sample_t *out);
int ping_pong_pthreads(const bench_opts_t *opts, bench_sample_t *out);
int stream_trindle(const bench_opts_t *opts, bench_sample_t *out);
int stream_pthreads(const bench_opts_t *opts, bench_sample_t *out);
int stream_pthreads_batched(const bench_opts_t *opts, bench_sample_t *out);
int fan_in_2_trindle(const bench_opts_t *opts, bench_sample_t *out);
int fan_in_2_pthreads(const bench_opts_t *opts, bench_sample_t *out);
int fan_in_4_trindle(const bench_opts_t *opts, bench_sample_t *out);
int fan_in_4_pthreads(const bench_opts_t *opts, bench_sample_t *out);
int pipeline_trindle(const bench_opts_t *opts, bench_sample_t *out);
int pipeline_pthreads(const bench_opts_t *opts, bench_sample_t *out);
int pipeline_all_trindle(const bench_opts_t *opts, bench_sample_t *out);
int pipeline_all_pthreads(const bench_opts_t *opts, bench_sample_t *out);
int pipeline_stage_trindle(const bench_opts_t *opts, bench_sample_t *out);
int pipeline_stage_pthreads(const bench_opts_t *opts, bench_sample_t *out);
int pipeline_stage_small_trindle(const bench_opts_t *opts, bench_sample_t *out);
int pipeline_stage_small_pthreads(const bench_opts_t *opts,
		bench_sample_t *out);
int share_trindle(const bench_opts_t *opts, bench_sample_t *out);
int share_pthreads(const bench_opts_t *opts, bench_sample_t *out);
int launch_trindle(const bench_opts_t *opts, bench_sample_t *out);
int launch_pthreads(const bench_opts_t *opts, bench_sample_t *out);
int launch_pool_pthreads(const bench_opts_t *opts, bench_sample_t *out);
int scale_ring_trindle(const bench_opts_t *opts, bench_sample_t *out);
int scale_ring_pthreads(const bench_opts_t *opts, bench_sample_t *out);
int scale_segments_trindle(const bench_opts_t *opts, bench_sample_t *out);
int scale_segments_pthreads(const bench_opts_t *opts, bench_sample_t *out);
int alloc_trindle(const bench_opts_t *opts, bench_sample_t *out);
int alloc_pthreads(const bench_opts_t *opts, bench_sample_t *out);
int alloc_batch_trindle(const bench_opts_t *opts, bench_sample_t *out);
int alloc_batch_pthreads(const bench_opts_t *opts, bench_sample_t *out);
#ifdef BENCH_HAVE_ZMQ
/* The stream through ZeroMQ inproc PUSH/PULL (zmq_stream.c). */
int stream_zmq(const bench_opts_t *opts, bench_sample_t *out);
#endif

/* The scenarios, in the order the runner runs them. */
extern const bench_scenario_t bench_scenarios[];
extern const size_t bench_scenario_count;

/* Warm up, alternate the sides opts->reps times, fill *res. */
int bench_run(const bench_scenario_t *sc, const bench_opts_t *opts,
		bench_result_t *res);
/* The figure (in sc->unit) a sample stands for. */
double bench_figure(const bench_scenario_t *sc, const bench_sample_t *s);
/* What the run measured about the machine before the scenarios. */
typedef struct bench_machine {
	int cpus;                    /* CPUs this process may use */
	int rtt_cpu[2];              /* the two CPUs of the round trip */
	double cache_rtt_ns;         /* median cache-line round trip; NaN
	                              * when it could not be measured */
	double cache_rtt_end_ns;     /* the same after the scenarios (NaN
	                              * until bench_machine_reprobe) */
	int rtt_samples, rtt_trips;  /* samples, round trips per sample */
	int spin_cpu;                /* where contended scenarios spin */
	char date[32];               /* UTC, ISO 8601 */
} bench_machine_t;

/* Measures the cache-line round trip (fewer samples if quick). */
void bench_machine_probe(bench_machine_t *m, bool quick);
/* Measures it again after the scenarios, into cache_rtt_end_ns: the
 * host can move the vCPUs while the suite runs. */
void bench_machine_reprobe(bench_machine_t *m, bool quick);
void bench_print_header(const bench_machine_t *m, const bench_opts_t *opts);
void bench_print_table(const bench_result_t *res, size_t n);
int bench_write_json(const char *path, const bench_machine_t *m,
		const bench_result_t *res, size_t n);

/*
 * The contention of contended scenarios: a child process that spins on
 * one CPU (CPU 1 if this process may use it, else the last one it may
 * use), pinned there with sched_setaffinity, until bench_spinner_stop()
 * kills it; it also ends by itself if its parent dies or after 15
 * minutes.  Returns its pid, or -1 after reporting why.
 */
int bench_spinner_cpu(void);
int bench_spinner_start(void);
void bench_spinner_stop(int pid);

/* ---- small utilities --------------------------------------------------- */

/* CLOCK_MONOTONIC in seconds. */
static inline double bench_now(void)
{
	return stats_now();
}
/* Prints "trindle-bench: <name>: <message>" to stderr; returns -1. */
int bench_fail(const char *name, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Picks the full or the quick size. */
uint64_t bench_size(const bench_opts_t *opts, uint64_t full, uint64_t quick);
/* A well-mixed 64-bit value from x (splitmix64's finaliser). */
uint64_t bench_mix(uint64_t x);

#include "bt.h"


/*
 * The block stream both stream and share use (stream.c): the producer
 * stamps each 4 KiB block, the consumer checks it and hands it back.
 * These run the pthreads twin with 64 blocks per lock for `messages`.
 */
int stream_twin_batched(uint64_t messages, bench_sample_t *out);
/* Stamps block seq (a bt_stamp_fn; arg is unused). */
void stream_stamp(void *block, uint64_t seq, uint64_t arg);
/* Checks a block against the sequence number expected; true if good. */
bool stream_verify(const void *block, uint64_t seq);
/* The consumer's work on the next block, on both sides: checks it and
 * adds its number to r (a bt_relay_fn; arg is unused). */
void stream_consume(bt_result_t *r, void *block, uint64_t arg);

#endif
