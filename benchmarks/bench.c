/* SPDX-License-Identifier: MIT */
/*
 * bench.c - timing, statistics, alternation, output, the pthreads bounded
 * queue and the libtrindle helpers shared by every scenario.
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

double bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

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

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static bench_stats_t stats_of(double *v, int n)
{
	bench_stats_t st;

	qsort(v, (size_t)n, sizeof *v, cmp_double);
	st.min = v[0];
	st.max = v[n - 1];
	st.median = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
	return st;
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

/* ---- the pthreads bounded queue ---------------------------------------- */

void bq_init(bq_t *q, size_t capacity)
{
	memset(q, 0, sizeof *q);
	q->items = bench_block(capacity * sizeof *q->items);
	q->capacity = capacity;
	pthread_mutex_init(&q->lock, NULL);
	pthread_cond_init(&q->not_empty, NULL);
	pthread_cond_init(&q->not_full, NULL);
}

void bq_destroy(bq_t *q)
{
	pthread_mutex_destroy(&q->lock);
	pthread_cond_destroy(&q->not_empty);
	pthread_cond_destroy(&q->not_full);
	free(q->items);
}

/* Callers hold q->lock. */
static void put(bq_t *q, void *item)
{
	q->items[(q->head + q->count) % q->capacity] = item;
	q->count++;
}

static void *take(bq_t *q)
{
	void *item = q->items[q->head];

	q->head = (q->head + 1) % q->capacity;
	q->count--;
	return item;
}

void bq_push(bq_t *q, void *item)
{
	pthread_mutex_lock(&q->lock);
	while (q->count == q->capacity)
		pthread_cond_wait(&q->not_full, &q->lock);
	put(q, item);
	pthread_cond_signal(&q->not_empty);
	pthread_mutex_unlock(&q->lock);
}

void *bq_pop(bq_t *q)
{
	void *item;

	pthread_mutex_lock(&q->lock);
	while (q->count == 0)
		pthread_cond_wait(&q->not_empty, &q->lock);
	item = take(q);
	pthread_cond_signal(&q->not_full);
	pthread_mutex_unlock(&q->lock);
	return item;
}

void bq_push_many(bq_t *q, void *const *items, size_t n)
{
	size_t done = 0;

	pthread_mutex_lock(&q->lock);
	while (done < n) {
		while (q->count == q->capacity)
			pthread_cond_wait(&q->not_full, &q->lock);
		while (done < n && q->count < q->capacity)
			put(q, items[done++]);
		/* The single consumer is the only one waiting for items. */
		pthread_cond_signal(&q->not_empty);
	}
	pthread_mutex_unlock(&q->lock);
}

static size_t take_many(bq_t *q, void **items, size_t max)
{
	size_t n = 0;

	while (n < max && q->count > 0)
		items[n++] = take(q);
	/* Several producers may wait for room (fan-in): wake them all. */
	if (n)
		pthread_cond_broadcast(&q->not_full);
	return n;
}

size_t bq_pop_many(bq_t *q, void **items, size_t max)
{
	size_t n;

	pthread_mutex_lock(&q->lock);
	while (q->count == 0)
		pthread_cond_wait(&q->not_empty, &q->lock);
	n = take_many(q, items, max);
	pthread_mutex_unlock(&q->lock);
	return n;
}

size_t bq_try_pop_many(bq_t *q, void **items, size_t max)
{
	size_t n;

	pthread_mutex_lock(&q->lock);
	n = take_many(q, items, max);
	pthread_mutex_unlock(&q->lock);
	return n;
}

void *bench_block(size_t bytes)
{
	void *p = aligned_alloc(BENCH_BLOCK, (bytes + BENCH_BLOCK - 1)
			/ BENCH_BLOCK * BENCH_BLOCK);

	if (!p) {
		bench_fail("pthreads", "out of memory");
		exit(1);
	}
	return memset(p, 0, bytes);
}

int bench_thread(pthread_t *t, void *(*fn)(void *), void *arg)
{
	int err = pthread_create(t, NULL, fn, arg);

	if (err)
		return bench_fail("pthreads", "pthread_create: %s",
				strerror(err));
	return 0;
}

/* ---- libtrindle helpers ----------------------------------------------- */

static void add(bt_out_t *out, trindle_pipe_t pipe, trindle_object_t obj)
{
	size_t room = sizeof out->msg / sizeof out->msg[0];

	/* Callers size their batches to fit; overflowing is a bench bug. */
	if (out->count == room) {
		fprintf(stderr, "trindle-bench: outgoing batch overflow\n");
		abort();
	}
	out->msg[out->count].address = pipe;
	out->msg[out->count].content = obj;
	out->count++;
}

void bt_move(bt_out_t *out, trindle_pipe_t pipe, trindle_object_t seg)
{
	add(out, pipe, seg);
	add(out, NULL, seg);
}

void bt_send(bt_out_t *out, trindle_pipe_t pipe, trindle_object_t obj)
{
	add(out, pipe, obj);
}

void bt_release(bt_out_t *out, trindle_object_t obj)
{
	add(out, NULL, obj);
}

void bt_recv(bt_out_t *out, trindle_pipe_t pipe)
{
	add(out, pipe, NULL);
}

/*
 * A failed message may be retried only if it failed for want of queue
 * room: a send to a live pipe, or the release that completes such a move.
 * Anything else would fail forever, so it is an error.
 */
static int keep_failed(bt_out_t *out, size_t failed)
{
	size_t kept = 0;

	for (size_t k = 0; k < failed; k++) {
		trindle_message_t m = out->msg[k];

		if (m.content == NULL)
			continue;       /* a receive request: asked again later */
		if (m.address != NULL) {
			if (!(trindle_access(m.address) & TRINDLE_ACCESS_SEND) ||
			    !trindle_access(m.content))
				return -1;
		} else if (kept == 0 ||
				out->msg[kept - 1].content != m.content) {
			return -1;      /* a release that is not half a move */
		}
		out->msg[kept++] = m;
	}
	out->count = kept;
	return 0;
}

int bt_sync(bt_out_t *out, bt_in_t *in, int64_t timeout_ns)
{
	trindle_mailbox_t o = { out->count, out->msg };
	trindle_mailbox_t i = { BENCH_BATCH, in ? in->msg : NULL };

	if (trindle_sync_timeout(&o, in ? &i : NULL, timeout_ns) != 0)
		return bench_fail("trindle", "trindle_sync: %s",
				strerror(errno));
	if (in)
		in->count = i.count;
	if (keep_failed(out, o.count) != 0)
		return bench_fail("trindle", "a message failed for good");
	return 0;
}

trindle_segment_t bt_segment(size_t bytes)
{
	trindle_buffer_t zeros = { bytes, NULL };
	trindle_segment_t seg = trindle_allocate(1, &zeros);

	if (!seg)
		bench_fail("trindle", "trindle_allocate(%zu): %s", bytes,
				strerror(errno));
	return seg;
}

int bt_flush(bt_out_t *out)
{
	while (out->count > 0)
		if (bt_sync(out, NULL, 0) != 0)
			return -1;
	return 0;
}

int bt_setup(trindle_pipe_t worker, const void *cfg, size_t cfg_bytes,
		const trindle_pipe_t *pipes, size_t npipes)
{
	trindle_buffer_t buf = { cfg_bytes, cfg };
	trindle_segment_t seg = trindle_allocate(1, &buf);
	bt_out_t out = { 0 };

	if (!seg)
		return bench_fail("trindle", "setup segment: %s",
				strerror(errno));
	bt_move(&out, worker, seg);
	for (size_t i = 0; i < npipes; i++)
		bt_send(&out, worker, pipes[i]);
	return bt_flush(&out);
}

/* Receives the next message from input, skipping notices. */
static int next_message(trindle_pipe_t input, trindle_message_t *m)
{
	trindle_message_t box[1];

	for (;;) {
		trindle_message_t req = { input, NULL };
		trindle_mailbox_t out = { 1, &req }, in = { 1, box };

		if (trindle_sync(&out, &in) != 0 || out.count != 0)
			return -1;
		if (in.count == 1 && box[0].address == input) {
			*m = box[0];
			return 0;
		}
	}
}

int bt_start(trindle_pipe_t input, void *cfg, size_t cfg_bytes,
		trindle_pipe_t *pipes, size_t npipes)
{
	trindle_message_t m;
	bt_out_t out = { 0 };

	if (next_message(input, &m) != 0 || trindle_measure(m.content)
			!= cfg_bytes)
		return -1;
	memcpy(cfg, m.content, cfg_bytes);
	bt_release(&out, m.content);
	for (size_t i = 0; i < npipes; i++) {
		if (next_message(input, &m) != 0 ||
		    !(trindle_access(m.content) & TRINDLE_ACCESS_SEND))
			return -1;
		pipes[i] = m.content;
	}
	return bt_flush(&out);
}

void bt_finish(const bt_result_t *res)
{
	trindle_buffer_t buf = { sizeof *res, res };

	trindle_exit(res ? trindle_allocate(1, &buf) : NULL);
}

int bt_group_init(bt_group_t *g, size_t capacity)
{
	memset(g, 0, sizeof *g);
	g->workers = calloc(capacity, sizeof *g->workers);
	g->done = trindle_pipe(capacity + 1);
	if (!g->workers || !g->done) {
		free(g->workers);
		return bench_fail("trindle", "group of %zu: %s", capacity,
				strerror(errno));
	}
	g->capacity = capacity;
	return 0;
}

trindle_pipe_t bt_group_launch(bt_group_t *g, trindle_entrypoint_t entry,
		size_t queue_count)
{
	trindle_pipe_t p;

	if (g->n == g->capacity) {
		bench_fail("trindle", "group full");
		return NULL;
	}
	p = trindle_launch(entry, queue_count, g->done, NULL);
	if (!p) {
		bench_fail("trindle", "trindle_launch: %s", strerror(errno));
		return NULL;
	}
	g->workers[g->n++] = p;
	return p;
}

bool bt_group_note(bt_group_t *g, const trindle_message_t *m, bt_out_t *out)
{
	if (m->address == g->done && m->content) {
		if (trindle_measure(m->content) == sizeof(bt_result_t)) {
			const bt_result_t *r = m->content;

			g->sum.count += r->count;
			g->sum.check += r->check;
			g->sum.errors += r->errors;
		}
		g->results++;
		bt_release(out, m->content);
		return true;
	}
	if (m->address && m->address != g->done && !m->content) {
		g->ended++;
		return true;
	}
	return false;
}

int bt_group_wait(bt_group_t *g, bool results)
{
	unsigned long idle = 0;
	bt_out_t out = { 0 };
	bt_in_t in;

	while (g->ended < g->n || (results && g->results < g->n)) {
		bt_recv(&out, g->done);
		if (bt_sync(&out, &in, -1) != 0)
			return -1;
		for (size_t k = 0; k < in.count; k++)
			if (!bt_group_note(g, &in.msg[k], &out))
				return bench_fail("trindle", "stray message");
		/* Once every worker has let go of done, sync stops waiting;
		 * the last end notices are on their way, but not forever. */
		idle = in.count ? 0 : idle + 1;
		if (idle > 100000000UL)
			return bench_fail("trindle", "%zu of %zu workers "
					"ended, %zu results", g->ended, g->n,
					g->results);
	}
	return bt_flush(&out);
}

void bt_group_destroy(bt_group_t *g)
{
	bt_out_t out = { 0 };

	bt_release(&out, g->done);
	bt_flush(&out);
	free(g->workers);
}

int bt_group_verify(bt_group_t *g, const char *name, uint64_t count)
{
	if (bt_group_wait(g, true) != 0)
		return -1;
	if (g->sum.errors || g->sum.count != count)
		return bench_fail(name, "workers handled %lu of %lu items, "
				"%lu bad", (unsigned long)g->sum.count,
				(unsigned long)count,
				(unsigned long)g->sum.errors);
	return 0;
}

size_t bt_segments(trindle_segment_t *segs, size_t n, size_t bytes)
{
	size_t made = 0;

	while (made < n && (segs[made] = bt_segment(bytes)))
		made++;
	return made;
}

void bt_release_all(const trindle_segment_t *segs, size_t n)
{
	bt_out_t out = { 0 };

	for (size_t i = 0; i < n; i++) {
		bt_release(&out, segs[i]);
		if (out.count == BENCH_BATCH)
			bt_flush(&out);
	}
	bt_flush(&out);
}

/* ---- relay workers ------------------------------------------------------ */

int bt_relay_setup(trindle_pipe_t worker, uint64_t count, uint64_t arg,
		trindle_pipe_t next)
{
	bt_relay_cfg_t cfg = { count, arg };

	return bt_setup(worker, &cfg, sizeof cfg, &next, 1);
}

void bt_relay(trindle_pipe_t input, bt_relay_fn fn, bool pass_on)
{
	bt_result_t res = { 0 };
	bt_relay_cfg_t cfg;
	trindle_pipe_t next;
	bt_out_t out = { 0 };
	uint64_t seen = 0;
	bt_in_t in;

	if (bt_start(input, &cfg, sizeof cfg, &next, 1) != 0)
		trindle_abort(NULL);
	while (seen < cfg.count) {
		bt_recv(&out, input);
		if (bt_sync(&out, &in, -1) != 0)
			trindle_abort(NULL);
		for (size_t k = 0; k < in.count; k++) {
			trindle_message_t *m = &in.msg[k];

			if (m->address != input || !m->content)
				continue;       /* a notice */
			fn(&res, m->content, cfg.arg);
			seen++;
			if (pass_on)
				bt_move(&out, next, m->content);
			else
				bt_release(&out, m->content);
		}
	}
	if (bt_flush(&out) != 0)
		trindle_abort(NULL);
	bt_finish(&res);
}

/* ---- feeding relays ------------------------------------------------------ */

/* Stamps and queues up free segments, up to one batch of them. */
static void feed_fill(bt_feed_t *f, bt_out_t *out)
{
	/* A move takes two messages, a send one. */
	size_t room = f->keep ? BENCH_BATCH : 2 * BENCH_BATCH;

	while (out->count < room && f->nfree > 0 && f->sent < f->total) {
		trindle_segment_t seg = f->pool[--f->nfree];

		f->stamp(seg, f->sent++, f->arg);
		if (f->keep)
			bt_send(out, f->to, seg);
		else
			bt_move(out, f->to, seg);
	}
}

int bt_feed_run(bt_feed_t *f, bt_take_fn handle, void *ctx)
{
	bt_out_t out = { 0 };
	bt_in_t in;

	while (f->returned < f->total) {
		bool more;

		feed_fill(f, &out);
		more = f->nfree > 0 && f->sent < f->total;
		bt_recv(&out, f->back);
		/* While free segments remain, only look for returns. */
		if (bt_sync(&out, &in, more ? 0 : -1) != 0)
			return -1;
		for (size_t k = 0; k < in.count; k++)
			if (handle(f, &in.msg[k], &out, ctx) != 0)
				return -1;
	}
	return bt_flush(&out);
}

void bt_feed_return(bt_feed_t *f, trindle_segment_t seg)
{
	f->pool[f->nfree++] = seg;
	f->returned++;
}

int bt_take_back(bt_feed_t *f, const trindle_message_t *m, bt_out_t *out,
		void *group)
{
	if (m->address == f->back && m->content) {
		bt_feed_return(f, m->content);
		return 0;
	}
	return bt_group_note(group, m, out) ? 0
		: bench_fail("trindle", "stray message");
}

int bt_feed_one(bt_feed_t *f, bt_group_t *g, trindle_entrypoint_t entry,
		size_t queue_count, bt_take_fn handle, const char *name,
		bench_sample_t *s)
{
	double t0;

	f->to = bt_group_launch(g, entry, queue_count);
	if (!f->to || bt_relay_setup(f->to, f->total, 0, f->back) != 0)
		return -1;
	t0 = bench_now();
	if (bt_feed_run(f, handle, g) != 0)
		return -1;
	s->seconds = bench_now() - t0;
	s->ops = f->total;
	if (bt_group_verify(g, name, f->total) != 0)
		return -1;
	s->check = g->sum.check;
	return 0;
}

int bt_feed_root(bt_feed_t *f, size_t npool, size_t bytes, size_t back_items,
		size_t workers, bt_feed_body_fn body, bench_sample_t *s)
{
	/* all: every segment made, for a feed that keeps what it sends. */
	trindle_segment_t *all = calloc(npool, sizeof *all);
	f->pool = calloc(npool, sizeof *f->pool);
	f->back = trindle_pipe(back_items);
	bt_out_t out = { 0 };
	bt_group_t g;
	int rc = -1;

	if (all && f->pool && f->back && bt_group_init(&g, workers) == 0) {
		size_t made = bt_segments(all, npool, bytes);
		memcpy(f->pool, all, made * sizeof *all);
		f->nfree = made;
		if (made == npool)
			rc = body(f, &g, s);
		if (f->keep)
			bt_release_all(all, made);
		else
			bt_release_all(f->pool, f->nfree);
		bt_group_destroy(&g);
	}
	if (f->back)
		bt_release(&out, f->back);
	bt_flush(&out);
	free(all);
	free(f->pool);
	f->pool = NULL;
	return rc;
}
