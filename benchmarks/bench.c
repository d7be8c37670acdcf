/* SPDX-License-Identifier: MIT */
/*
 * bench.c - the runner: alternation of the sides, peak RSS, output.
 */
#include "bench.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

/* ---- small utilities --------------------------------------------------- */

int bench_fail(const char *name, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "trindle-bench: %s: ", name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return -1;
}

uint64_t bench_size(const bench_opts_t *opts, uint64_t full, uint64_t quick)
{
	return opts->quick ? quick : full;
}

uint64_t bench_mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

/*
 * Peak RSS of one side: writing "5" to clear_refs resets the kernel's
 * high-water mark to the current RSS (Linux >= 4.0), and getrusage()'s
 * ru_maxrss reads it back.  Where the reset is refused the figure is the
 * peak of the whole scenario so far, which is still an upper bound.
 */
static void reset_peak_rss(void)
{
	FILE *f = fopen("/proc/self/clear_refs", "w");

	if (f) {
		fputs("5", f);
		fclose(f);
	}
}

static long peak_rss_kib(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) != 0)
		return 0;
	return ru.ru_maxrss;
}

/* Resident memory now, from /proc/self/statm (0 if unreadable). */
static long current_rss_kib(void)
{
	long pages = 0, resident = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	if (f) {
		if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
			resident = 0;
		fclose(f);
	}
	return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

/* ---- statistics and alternation --------------------------------------- */

double bench_figure(const bench_scenario_t *sc, const bench_sample_t *s)
{
	if (sc->kind == BENCH_LATENCY)
		return s->ops ? s->seconds * 1e9 / (double)s->ops : NAN;
	return s->seconds > 0 ? (double)s->ops / s->seconds / sc->divisor : NAN;
}

/* One scenario's alternation: what every run must agree on. */
typedef struct alternation {
	const bench_scenario_t *sc;
	const bench_opts_t *opts;
	uint64_t check;              /* the first run's digest */
	bool have_check;
} alternation_t;

/*
 * Runs one side once, tracking its peak RSS (rss[0]) and how far that
 * peak rose above the RSS the run started with (rss[1]: what the side
 * needed beyond what the process already held), and checking its digest.
 */
static int run_side(alternation_t *alt, bool trindle, long rss[2],
		double *figure)
{
	const char *side = trindle ? "libtrindle" : "pthreads";
	bench_side_fn fn = trindle ? alt->sc->trindle : alt->sc->pthreads;
	bench_sample_t s = { 0 };
	long before, peak;

	reset_peak_rss();
	before = current_rss_kib();
	if (fn(alt->opts, &s) != 0)
		return bench_fail(alt->sc->name, "the %s side failed", side);
	peak = peak_rss_kib();
	if (peak > rss[0])
		rss[0] = peak;
	if (peak - before > rss[1])
		rss[1] = peak - before;
	if (alt->have_check && s.check != alt->check)
		return bench_fail(alt->sc->name, "%s side digest %#" PRIx64
				" differs from %#" PRIx64 ": the sides did not do "
				"the same work", side, s.check, alt->check);
	alt->check = s.check;
	alt->have_check = true;
	*figure = bench_figure(alt->sc, &s);
	return 0;
}

int bench_run(const bench_scenario_t *sc, const bench_opts_t *opts,
		bench_result_t *res)
{
	alternation_t alt = { sc, opts, 0, false };
	double tv[opts->reps], pv[opts->reps], warm;
	long *trss = res->trindle_rss_kib, *prss = res->pthreads_rss_kib;

	memset(res, 0, sizeof *res);
	snprintf(res->name, sizeof res->name, "%s", sc->name);
	res->reps = opts->reps;
	/* The warm-up pays for first-touch page faults, thread creation and
	 * lazy start-up on both sides; its figures are not kept. */
	if (run_side(&alt, true, trss, &warm) ||
	    run_side(&alt, false, prss, &warm))
		return -1;
	for (int r = 0; r < opts->reps; r++)
		if (run_side(&alt, true, trss, &tv[r]) ||
		    run_side(&alt, false, prss, &pv[r]))
			return -1;
	res->trindle = stats_of(tv, opts->reps);
	res->pthreads = stats_of(pv, opts->reps);
	res->ratio = sc->kind == BENCH_RATE
		? res->trindle.median / res->pthreads.median
		: res->pthreads.median / res->trindle.median;
	res->peak_rss_kib = trss[0] > prss[0] ? trss[0] : prss[0];
	res->ok = true;
	return 0;
}

/* ---- output ------------------------------------------------------------ */

static const bench_scenario_t *scenario_named(const char *name)
{
	for (size_t i = 0; i < bench_scenario_count; i++)
		if (strcmp(bench_scenarios[i].name, name) == 0)
			return &bench_scenarios[i];
	return NULL;
}

/* Three significant digits with a k/M/G suffix: 45.2k, 3.10M. */
static void human(char *buf, size_t size, double v)
{
	static const char suffix[] = " kMG";
	int i = 0;

	while (v >= 999.5 && i < 3) {
		v /= 1000;
		i++;
	}
	if (i == 0)
		snprintf(buf, size, "%.3g", v);
	else
		snprintf(buf, size, "%.3g%c", v, suffix[i]);
}

static void stats_cell(char *buf, size_t size, const bench_stats_t *st)
{
	char m[16], lo[16], hi[16];  /* human() gives at most 6 bytes */

	human(m, sizeof m, st->median);
	human(lo, sizeof lo, st->min);
	human(hi, sizeof hi, st->max);
	snprintf(buf, size, "%s [%s-%s]", m, lo, hi);
}

static void print_row(const bench_result_t *r)
{
	const bench_scenario_t *sc = scenario_named(r->name);
	char t[64], p[64], target[32] = "-";

	if (!r->ok || !sc) {
		printf("%-15s %-15s %s\n", r->name, sc ? sc->unit : "?",
				"FAILED (see stderr)");
		return;
	}
	stats_cell(t, sizeof t, &r->trindle);
	stats_cell(p, sizeof p, &r->pthreads);
	if (sc->target > 0)
		snprintf(target, sizeof target, ">=%gx %s", sc->target,
				r->ratio >= sc->target ? "met" : "MISS");
	printf("%-15s %-15s %-24s %-24s %7.2fx %-10s %8ld\n", r->name,
			sc->unit, t, p, r->ratio, target, r->peak_rss_kib);
}

void bench_print_table(const bench_result_t *res, size_t n)
{
	printf("%-15s %-15s %-24s %-24s %8s %-10s %8s\n", "scenario", "unit",
			"libtrindle med [min-max]", "pthreads med [min-max]",
			"ratio", "target", "peak KiB");
	for (size_t i = 0; i < n; i++)
		print_row(&res[i]);
	printf("ratio > 1: libtrindle is better (rates: trindle/pthreads; "
			"latencies: pthreads/trindle); medians of %d runs "
			"per side, alternated after a warm-up.\n",
			n ? res[0].reps : 0);
}

/* JSON has no NaN or infinity: those become null. */
static void json_number(FILE *f, const char *key, double v, bool last)
{
	if (isfinite(v))
		fprintf(f, "\"%s\": %.6g%s", key, v, last ? "" : ", ");
	else
		fprintf(f, "\"%s\": null%s", key, last ? "" : ", ");
}

static void json_row(FILE *f, const bench_result_t *r)
{
	const bench_scenario_t *sc = scenario_named(r->name);
	double nan = NAN;

	fprintf(f, "  {\"name\": \"%s\", \"unit\": \"%s\", ", r->name,
			sc ? sc->unit : "");
	json_number(f, "trindle", r->ok ? r->trindle.median : nan, false);
	json_number(f, "pthreads", r->ok ? r->pthreads.median : nan, false);
	json_number(f, "ratio", r->ok ? r->ratio : nan, false);
	fprintf(f, "\"peak_rss_kib\": %ld, ", r->peak_rss_kib);
	json_number(f, "trindle_min", r->ok ? r->trindle.min : nan, false);
	json_number(f, "trindle_max", r->ok ? r->trindle.max : nan, false);
	json_number(f, "pthreads_min", r->ok ? r->pthreads.min : nan, false);
	json_number(f, "pthreads_max", r->ok ? r->pthreads.max : nan, false);
	fprintf(f, "\"trindle_rss_kib\": %ld, \"pthreads_rss_kib\": %ld, "
			"\"trindle_rss_growth_kib\": %ld, "
			"\"pthreads_rss_growth_kib\": %ld, ",
			r->trindle_rss_kib[0], r->pthreads_rss_kib[0],
			r->trindle_rss_kib[1], r->pthreads_rss_kib[1]);
	json_number(f, "target", sc && sc->target > 0 ? sc->target : nan,
			false);
	fprintf(f, "\"higher_is_better\": %s, \"reps\": %d, \"ok\": %s}",
			sc && sc->kind == BENCH_RATE ? "true" : "false",
			r->reps, r->ok ? "true" : "false");
}

int bench_write_json(const char *path, const bench_result_t *res, size_t n)
{
	FILE *f = fopen(path, "w");

	if (!f)
		return bench_fail("json", "%s: %s", path, strerror(errno));
	fputs("[\n", f);
	for (size_t i = 0; i < n; i++) {
		json_row(f, &res[i]);
		fputs(i + 1 < n ? ",\n" : "\n", f);
	}
	fputs("]\n", f);
	if (fclose(f) != 0)
		return bench_fail("json", "%s: %s", path, strerror(errno));
	return 0;
}

