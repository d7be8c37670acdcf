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

enum side { SIDE_TRINDLE, SIDE_TWIN, SIDE_TWIN_SPIN, SIDE_PEER };

/*
 * Runs one side once, tracking its peak RSS (rss[0]) and how far that
 * peak rose above the RSS the run started with (rss[1]: what the side
 * needed beyond what the process already held), and checking its digest.
 */
static int run_side(alternation_t *alt, enum side which, long rss[2],
		double *figure)
{
	static const char *const names[] = { "libtrindle", "pthreads",
		"pthreads (spin, then sleep)", "peer" };
	const char *side = names[which];
	bench_side_fn fn = which == SIDE_TRINDLE ? alt->sc->trindle
		: which == SIDE_PEER ? alt->sc->peer : alt->sc->pthreads;
	bench_sample_t s = { 0 };
	long before, peak;
	int rc;

	reset_peak_rss();
	before = current_rss_kib();
	bq_wait_style = which == SIDE_TWIN_SPIN ? BQ_SPIN : BQ_SLEEP;
	rc = fn(alt->opts, &s);
	bq_wait_style = BQ_SLEEP;
	if (rc != 0)
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

/* The speed ratio of libtrindle's figure t against another side's o:
 * the other side's time over libtrindle's, whatever the unit. */
static double speed_ratio(const bench_scenario_t *sc, double t, double o)
{
	return sc->kind == BENCH_RATE ? t / o : o / t;
}

/* One round: every side once, in a fixed order; *figures[side] gets the
 * figure of each side that ran. */
static int run_round(alternation_t *alt, bench_result_t *res,
		double *figures[4], int r)
{
	const bench_scenario_t *sc = alt->sc;

	if (run_side(alt, SIDE_TRINDLE, res->trindle_rss_kib,
				&figures[SIDE_TRINDLE][r]) ||
	    run_side(alt, SIDE_TWIN, res->pthreads_rss_kib,
				&figures[SIDE_TWIN][r]))
		return -1;
	if (sc->both_twins && run_side(alt, SIDE_TWIN_SPIN,
				res->pthreads_rss_kib,
				&figures[SIDE_TWIN_SPIN][r]))
		return -1;
	if (sc->peer && run_side(alt, SIDE_PEER, res->peer_rss_kib,
				&figures[SIDE_PEER][r]))
		return -1;
	return 0;
}

/* Warm-up and alternation; the spinner, if any, runs around all of it. */
static int alternate(alternation_t *alt, bench_result_t *res,
		double *figures[4])
{
	double warm[4], *warm_at[4] = { &warm[0], &warm[1], &warm[2],
		&warm[3] };

	/* The warm-up pays for first-touch page faults, thread creation and
	 * lazy start-up on every side; its figures are not kept. */
	if (run_round(alt, res, warm_at, 0))
		return -1;
	for (int r = 0; r < alt->opts->reps; r++)
		if (run_round(alt, res, figures, r))
			return -1;
	return 0;
}

/* Of the two twins, the one with the better median: its figures. */
static double *faster_twin(const bench_scenario_t *sc, bench_result_t *res,
		double *sleep, double *spin, int n)
{
	res->twin[BQ_SLEEP] = stats_of(sleep, n);
	res->twin_wait = BQ_SLEEP;
	if (!sc->both_twins)
		return sleep;
	res->twin[BQ_SPIN] = stats_of(spin, n);
	if (speed_ratio(sc, res->twin[BQ_SPIN].median,
				res->twin[BQ_SLEEP].median) > 1) {
		res->twin_wait = BQ_SPIN;
		return spin;
	}
	return sleep;
}

int bench_run(const bench_scenario_t *sc, const bench_opts_t *opts,
		bench_result_t *res)
{
	alternation_t alt = { sc, opts, 0, false };
	int n = opts->reps, spinner = -1, rc;
	double tv[n], pv[n], sv[n], qv[n], *twin;
	double *figures[4] = { tv, pv, sv, qv };
	long *trss = res->trindle_rss_kib, *prss = res->pthreads_rss_kib;

	memset(res, 0, sizeof *res);
	snprintf(res->name, sizeof res->name, "%s", sc->name);
	res->reps = n;
	if (sc->contended && (spinner = bench_spinner_start()) < 0)
		return -1;
	rc = alternate(&alt, res, figures);
	if (spinner > 0)
		bench_spinner_stop(spinner);
	if (rc != 0)
		return -1;
	twin = faster_twin(sc, res, pv, sv, n);
	res->pairwise = sc->kind == BENCH_RATE ? stats_pairwise(tv, twin, n)
		: stats_pairwise(twin, tv, n);
	res->trindle = stats_of(tv, n);
	res->pthreads = stats_of(twin, n);
	res->ratio = speed_ratio(sc, res->trindle.median,
			res->pthreads.median);
	res->target_ratio = sc->target_vs_textbook ? speed_ratio(sc,
			res->trindle.median, res->twin[BQ_SLEEP].median)
		: res->ratio;
	res->peak_rss_kib = trss[0] > prss[0] ? trss[0] : prss[0];
	if (sc->peer) {
		res->has_peer = true;
		res->peer = stats_of(qv, n);
		res->peer_ratio = speed_ratio(sc, res->trindle.median,
				res->peer.median);
		if (res->peer_rss_kib[0] > res->peak_rss_kib)
			res->peak_rss_kib = res->peer_rss_kib[0];
	}
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
	char t[64], p[64], target[32] = "-", pairs[40];

	if (!r->ok || !sc) {
		printf("%-18s %-13s %s\n", r->name, sc ? sc->unit : "?",
				"FAILED (see stderr)");
		return;
	}
	stats_cell(t, sizeof t, &r->trindle);
	stats_cell(p, sizeof p, &r->pthreads);
	if (sc->target > 0)
		snprintf(target, sizeof target, ">=%gx%s %s", sc->target,
				sc->target_vs_textbook ? "*" : "",
				r->target_ratio >= sc->target ? "met" : "MISS");
	snprintf(pairs, sizeof pairs, "%.2fx [%.2f-%.2f]", r->pairwise.median,
			r->pairwise.lo, r->pairwise.hi);
	printf("%-18s %-13s %-24s %-24s %7.2fx %-20s %-11s %8ld\n", r->name,
			sc->unit, t, p, r->ratio, pairs, target,
			r->peak_rss_kib);
}

/* Both ways of waiting, for scenarios whose twin ran both. */
static void print_twins_row(const bench_result_t *r)
{
	const bench_scenario_t *sc = scenario_named(r->name);
	char sleep[64], spin[64];

	if (!r->ok || !sc || !sc->both_twins)
		return;
	stats_cell(sleep, sizeof sleep, &r->twin[BQ_SLEEP]);
	stats_cell(spin, sizeof spin, &r->twin[BQ_SPIN]);
	printf("%-18s %-13s %-24s %-24s %-6s %7.2fx %7.2fx\n", r->name,
			sc->unit, sleep, spin,
			r->twin_wait == BQ_SPIN ? "spin" : "sleep",
			speed_ratio(sc, r->trindle.median,
				r->twin[BQ_SLEEP].median),
			speed_ratio(sc, r->trindle.median,
				r->twin[BQ_SPIN].median));
}

static void print_peer_row(const bench_result_t *r)
{
	const bench_scenario_t *sc = scenario_named(r->name);
	char q[64];

	if (!r->ok || !sc || !r->has_peer)
		return;
	stats_cell(q, sizeof q, &r->peer);
	printf("%-18s %-13s %-24s %-24s %7.2fx\n", r->name, sc->unit,
			sc->peer_name, q, r->peer_ratio);
}

void bench_print_header(const bench_machine_t *m, const bench_opts_t *opts)
{
	printf("trindle-bench %s, %d CPUs%s\n", m->date, m->cpus,
			opts->quick ? ", --quick (sizes too small to mean "
			"anything)" : "");
	if (isfinite(m->cache_rtt_ns))
		printf("cache-line round trip CPU %d <-> CPU %d: %.0f ns "
				"before the scenarios, %.0f ns after (median of "
				"%d samples of %d round trips)\n",
				m->rtt_cpu[0], m->rtt_cpu[1], m->cache_rtt_ns,
				m->cache_rtt_end_ns, m->rtt_samples,
				m->rtt_trips);
	else
		printf("cache-line round trip: not measured (needs two "
				"CPUs)\n");
	printf("speed ratio = the other side's time / libtrindle's time "
			"(rates: trindle/other; latencies: other/trindle): "
			"> 1 means libtrindle is faster\n");
	printf("*-contended: a process spins on CPU %d through the whole "
			"scenario, both sides\n\n", m->spin_cpu);
}

void bench_print_table(const bench_result_t *res, size_t n)
{
	bool peers = false;

	printf("%-18s %-13s %-24s %-24s %8s %-20s %-11s %8s\n", "scenario",
			"unit", "libtrindle med [min-max]",
			"pthreads med [min-max]", "ratio", "pairs [95% CI]",
			"target", "peak KiB");
	for (size_t i = 0; i < n; i++) {
		print_row(&res[i]);
		peers = peers || (res[i].ok && res[i].has_peer);
	}
	printf("medians of %d runs per side, alternated after a warm-up; "
			"ratio: of the medians; pairs: median of the ratios of "
			"the runs made back to back, with its 95%% interval "
			"(the extremes below 6 runs).\n", n ? res[0].reps : 0);
	printf("\n%-18s %-13s %-24s %-24s %-6s %8s %8s\n", "twins of", "unit",
			"sleep at once med", "spin, then sleep med", "faster",
			"vs sleep", "vs spin");
	for (size_t i = 0; i < n; i++)
		print_twins_row(&res[i]);
	printf("pthreads column above: the faster of the two; a scenario "
			"not listed here ran the textbook twin only (sleep at "
			"once).\n*: the target is the issue's, against the "
			"textbook twin (vs sleep), not the faster one.\n");
	if (!peers)
		return;
	printf("\n%-18s %-13s %-24s %-24s %8s\n", "peer of", "unit", "peer",
			"peer med [min-max]", "ratio");
	for (size_t i = 0; i < n; i++)
		print_peer_row(&res[i]);
	printf("ratio: libtrindle against the peer, measured in the same "
			"alternation (> 1: libtrindle is faster).\n");
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
	bool peer = r->ok && r->has_peer;

	fprintf(f, "    {\"name\": \"%s\", \"unit\": \"%s\", ", r->name,
			sc ? sc->unit : "");
	json_number(f, "trindle", r->ok ? r->trindle.median : nan, false);
	json_number(f, "pthreads", r->ok ? r->pthreads.median : nan, false);
	json_number(f, "ratio", r->ok ? r->ratio : nan, false);
	json_number(f, "pairwise_ratio", r->ok ? r->pairwise.median : nan,
			false);
	json_number(f, "pairwise_lo", r->ok ? r->pairwise.lo : nan, false);
	json_number(f, "pairwise_hi", r->ok ? r->pairwise.hi : nan, false);
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
	if (peer) {
		fprintf(f, "\"peer\": \"%s\", ", sc->peer_name);
		json_number(f, "peer_median", r->peer.median, false);
		json_number(f, "peer_min", r->peer.min, false);
		json_number(f, "peer_max", r->peer.max, false);
		json_number(f, "peer_ratio", r->peer_ratio, false);
		fprintf(f, "\"peer_rss_kib\": %ld, ", r->peer_rss_kib[0]);
	} else {
		fprintf(f, "\"peer\": null, ");
	}
	if (r->ok && sc && sc->both_twins) {
		fprintf(f, "\"twin_wait\": \"%s\", ", r->twin_wait == BQ_SPIN
				? "spin" : "sleep");
		json_number(f, "pthreads_sleep", r->twin[BQ_SLEEP].median,
				false);
		json_number(f, "pthreads_spin", r->twin[BQ_SPIN].median,
				false);
	} else {
		fprintf(f, "\"twin_wait\": \"sleep\", ");
	}
	json_number(f, "target", sc && sc->target > 0 ? sc->target : nan,
			false);
	json_number(f, "target_ratio", r->ok ? r->target_ratio : nan, false);
	fprintf(f, "\"target_twin\": \"%s\", ", sc && sc->target_vs_textbook
			? "sleep" : "faster");
	fprintf(f, "\"contended\": %s, ", sc && sc->contended ? "true"
			: "false");
	fprintf(f, "\"higher_is_better\": %s, \"reps\": %d, \"ok\": %s}",
			sc && sc->kind == BENCH_RATE ? "true" : "false",
			r->reps, r->ok ? "true" : "false");
}

int bench_write_json(const char *path, const bench_machine_t *m,
		const bench_result_t *res, size_t n)
{
	FILE *f = fopen(path, "w");

	if (!f)
		return bench_fail("json", "%s: %s", path, strerror(errno));
	fprintf(f, "{\n  \"date\": \"%s\",\n  \"cpus\": %d,\n", m->date,
			m->cpus);
	fputs("  ", f);
	json_number(f, "cache_line_rtt_ns", m->cache_rtt_ns, true);
	fputs(",\n  ", f);
	json_number(f, "cache_line_rtt_end_ns", m->cache_rtt_end_ns, true);
	fprintf(f, ",\n  \"cache_line_rtt_cpus\": [%d, %d],\n"
			"  \"cache_line_rtt_samples\": %d,\n"
			"  \"cache_line_rtt_trips_per_sample\": %d,\n"
			"  \"contention_cpu\": %d,\n"
			"  \"ratio_convention\": \"other side's time / "
			"libtrindle's time; > 1: libtrindle is faster\",\n"
			"  \"scenarios\": [\n", m->rtt_cpu[0], m->rtt_cpu[1],
			m->rtt_samples, m->rtt_trips, m->spin_cpu);
	for (size_t i = 0; i < n; i++) {
		json_row(f, &res[i]);
		fputs(i + 1 < n ? ",\n" : "\n", f);
	}
	fputs("  ]\n}\n", f);
	if (fclose(f) != 0)
		return bench_fail("json", "%s: %s", path, strerror(errno));
	return 0;
}
