/* SPDX-License-Identifier: MIT */
/*
 * trace.c - per-thread rings of trace events and the Chrome JSON writer
 * (see trace.h).
 *
 * A ring is written by its thread only, under its own spinlock, which the
 * writer takes just long enough to copy the ring out: the thread never
 * waits for another thread of the program, only, rarely, for the writer.
 * Rings are never freed (threads are pooled, and a ring that outlives its
 * thread still holds the events the trace must show).
 */
#include "trace.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "holder.h"
#include "lock.h"
#include "trindle.h"
#include "wait.h"

#define TRACE_DEFAULT_EVENTS ((size_t)1 << 16)

atomic_bool trindle__trace_flag;

struct trace_event {
	int64_t t0, dur;
	uint64_t a, b;
	uint32_t track;
	uint16_t kind;
};

struct ring {
	spinlock_t lock;
	struct trace_event *ev; /* NULL until the first event of a run */
	size_t cap;
	uint64_t written;       /* events ever recorded in this run */
	uint64_t run;           /* the tracing run the events belong to */
	struct ring *next;
};

static TRINDLE_TLS struct ring *tls_ring;
/* Rings, the file name and the run, under rings_lock. */
static pthread_mutex_t rings_lock = PTHREAD_MUTEX_INITIALIZER;
static struct ring *rings;
static char *trace_path;
static atomic_size_t ring_events = TRACE_DEFAULT_EVENTS;
static _Atomic uint64_t current_run;
static _Atomic int64_t origin_ns;
static atomic_uint serials;

uint32_t trindle__trace_serial(void)
{
	uint32_t s;

	do /* 0 means "none"; the counter wraps only after 4 billion */
		s = atomic_fetch_add_explicit(&serials, 1,
				memory_order_relaxed) + 1;
	while (!s);
	return s;
}

/* ---- names: serial -> name, an open-addressed table under names_lock ---- */

struct name_entry {
	uint32_t serial;
	char name[TRINDLE_NAME_MAX];
};

static pthread_mutex_t names_lock = PTHREAD_MUTEX_INITIALIZER;
static struct name_entry *names;
static size_t names_cap, names_used;

static struct name_entry *name_slot(uint32_t serial)
{
	size_t i = (serial * 2654435761u) & (names_cap - 1);

	while (names[i].serial && names[i].serial != serial)
		i = (i + 1) & (names_cap - 1);
	return &names[i];
}

void trindle__trace_set_name(uint32_t serial, const char *name)
{
	pthread_mutex_lock(&names_lock);
	if ((names_used + 1) * 2 > names_cap) {
		size_t cap = names_cap ? names_cap * 2 : 64;
		struct name_entry *old = names, *v = calloc(cap, sizeof(*v));
		if (!v) {
			pthread_mutex_unlock(&names_lock);
			return; /* the trace shows the serial instead */
		}
		size_t old_cap = names_cap;
		names = v;
		names_cap = cap;
		for (size_t i = 0; i < old_cap; i++)
			if (old[i].serial)
				*name_slot(old[i].serial) = old[i];
		free(old);
	}
	struct name_entry *e = name_slot(serial);
	if (!e->serial)
		names_used++;
	e->serial = serial;
	snprintf(e->name, sizeof(e->name), "%s", name ? name : "");
	pthread_mutex_unlock(&names_lock);
}

void trindle__trace_get_name(uint32_t serial, char out[TRINDLE_NAME_MAX])
{
	out[0] = '\0';
	pthread_mutex_lock(&names_lock);
	if (names_cap) {
		struct name_entry *e = name_slot(serial);
		if (e->serial)
			memcpy(out, e->name, TRINDLE_NAME_MAX);
	}
	pthread_mutex_unlock(&names_lock);
}

uint32_t trindle__trace_track(struct holder *h)
{
	uint32_t t = atomic_load_explicit(&h->track, memory_order_acquire);

	if (t)
		return t;
	/* Another thread (the graph's, listing senders) may name it first:
	 * the first serial stored wins. */
	uint32_t mine = trindle__trace_serial();
	if (!atomic_compare_exchange_strong(&h->track, &t, mine))
		return t;
	trindle__trace_set_name(mine, gettid() == getpid() ? "main" : "root");
	return mine;
}

/* ---- recording ---------------------------------------------------------- */

static struct ring *my_ring(void)
{
	struct ring *r = tls_ring;

	if (likely(r))
		return r;
	r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	pthread_mutex_lock(&rings_lock);
	r->next = rings;
	rings = r;
	pthread_mutex_unlock(&rings_lock);
	tls_ring = r;
	return r;
}

void trindle__trace_event(uint32_t track, enum trace_kind kind,
		int64_t t0_ns, int64_t dur_ns, uint64_t a, uint64_t b)
{
	if (!trindle__trace_on())
		return;
	struct ring *r = my_ring();
	if (!r)
		return;
	uint64_t run = atomic_load_explicit(&current_run, memory_order_acquire);
	spin_lock(&r->lock);
	if (r->run != run || !r->ev) {
		/* A new run: start over with this run's ring size. */
		size_t cap = atomic_load_explicit(&ring_events,
				memory_order_relaxed);
		if (r->cap != cap || !r->ev) {
			free(r->ev);
			r->ev = malloc(cap * sizeof(*r->ev));
			r->cap = r->ev ? cap : 0;
		}
		r->written = 0;
		r->run = run;
	}
	if (r->ev) {
		r->ev[r->written % r->cap] = (struct trace_event){
			t0_ns, dur_ns, a, b, track, (uint16_t)kind };
		r->written++;
	}
	spin_unlock(&r->lock);
}

/* ---- writing ------------------------------------------------------------ */

struct collected {
	struct trace_event *ev;
	size_t n;
	uint64_t dropped;
};

/* Copies every ring of the current run out, oldest event first. */
static int collect(struct collected *c)
{
	uint64_t run = atomic_load_explicit(&current_run, memory_order_acquire);
	size_t total = 0;

	memset(c, 0, sizeof(*c));
	for (struct ring *r = rings; r; r = r->next) {
		spin_lock(&r->lock);
		if (r->run == run && r->ev)
			total += r->written < r->cap ? r->written : r->cap;
		spin_unlock(&r->lock);
	}
	/* Rings only grow while we do not hold their lock: leave room. */
	size_t room = total + 1024;
	c->ev = malloc(room * sizeof(*c->ev));
	if (!c->ev)
		return -ENOMEM;
	for (struct ring *r = rings; r; r = r->next) {
		spin_lock(&r->lock);
		if (r->run == run && r->ev) {
			uint64_t kept = r->written < r->cap ? r->written : r->cap;
			if (c->n + kept > room)
				kept = room - c->n; /* the newest are kept */
			c->dropped += r->written - kept;
			for (uint64_t i = r->written - kept; i < r->written; i++)
				c->ev[c->n++] = r->ev[i % r->cap];
		}
		spin_unlock(&r->lock);
	}
	return 0;
}

static int by_time(const void *x, const void *y)
{
	const struct trace_event *a = x, *b = y;

	if (a->t0 != b->t0)
		return a->t0 < b->t0 ? -1 : 1;
	if (a->dur != b->dur) /* an enclosing slice before what it holds */
		return a->dur > b->dur ? -1 : 1;
	if (a->track != b->track)
		return a->track < b->track ? -1 : 1;
	return a->kind < b->kind ? -1 : a->kind > b->kind;
}

static int by_track_then_time(const void *x, const void *y)
{
	const struct trace_event *a = x, *b = y;

	if (a->track != b->track)
		return a->track < b->track ? -1 : 1;
	return by_time(x, y);
}

static int by_flow_id(const void *x, const void *y)
{
	uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;

	return a < b ? -1 : a > b;
}

static int by_serial(const void *x, const void *y)
{
	uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;

	return a < b ? -1 : a > b;
}

static bool has_id(const uint64_t *v, size_t n, uint64_t id)
{
	return bsearch(&id, v, n, sizeof(*v), by_flow_id) != NULL;
}

/* Is e inside a sync slice of its track?  syncs holds every sync slice,
 * sorted by track then time; syncs of one track never overlap. */
static bool in_sync(const struct trace_event *syncs, size_t n,
		const struct trace_event *e)
{
	size_t lo = 0, hi = n; /* the first sync after e, on e's track */

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (syncs[mid].track < e->track || (syncs[mid].track ==
				e->track && syncs[mid].t0 <= e->t0))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo > 0 && syncs[lo - 1].track == e->track &&
		e->t0 <= syncs[lo - 1].t0 + syncs[lo - 1].dur;
}

static void put_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\')
			fprintf(f, "\\%c", ch);
		else if (ch < 0x20)
			fprintf(f, "\\u%04x", ch);
		else
			fputc(ch, f);
	}
	fputc('"', f);
}

static void put_ts(FILE *f, const char *key, int64_t ns)
{
	if (ns < 0)
		ns = 0;
	fprintf(f, ",\"%s\":%lld.%03lld", key, (long long)(ns / 1000),
			(long long)(ns % 1000));
}

/* A name for serial: its given name, or the fallback with the number. */
static void name_or(uint32_t serial, const char *fallback,
		char out[TRINDLE_NAME_MAX + 24])
{
	char n[TRINDLE_NAME_MAX];

	trindle__trace_get_name(serial, n);
	if (n[0])
		snprintf(out, TRINDLE_NAME_MAX + 24, "%s", n);
	else
		snprintf(out, TRINDLE_NAME_MAX + 24, "%s #%u", fallback, serial);
}

static void write_event(FILE *f, const struct trace_event *e, int64_t origin)
{
	char name[TRINDLE_NAME_MAX + 40];
	static const char *const ends[] = { "end", "end (exit)",
		"end (abort)", "end (fault)" };

	switch (e->kind) {
	case TRACE_SYNC:
	case TRACE_WAIT:
		fprintf(f, "{\"name\":\"%s\",\"ph\":\"X\",\"pid\":1,\"tid\":%u",
				e->kind == TRACE_SYNC ? "sync" : "wait", e->track);
		put_ts(f, "ts", e->t0 - origin);
		put_ts(f, "dur", e->dur);
		if (e->kind == TRACE_SYNC)
			fprintf(f, ",\"args\":{\"sent\":%llu,\"received\":%llu}",
					(unsigned long long)e->a,
					(unsigned long long)e->b);
		break;
	case TRACE_FLOW_OUT:
	case TRACE_FLOW_IN:
		fprintf(f, "{\"name\":\"message\",\"cat\":\"message\","
				"\"ph\":\"%s\",\"id\":%llu,\"pid\":1,\"tid\":%u",
				e->kind == TRACE_FLOW_OUT ? "s" : "f\",\"bp\":\"e",
				(unsigned long long)e->a, e->track);
		put_ts(f, "ts", e->t0 - origin);
		break;
	case TRACE_DEPTH: {
		char pipe[TRINDLE_NAME_MAX + 24];
		name_or((uint32_t)e->a, "pipe", pipe);
		snprintf(name, sizeof(name), "queued in %s", pipe);
		fputs("{\"name\":", f);
		put_string(f, name);
		fprintf(f, ",\"cat\":\"depth\",\"ph\":\"C\",\"pid\":1");
		put_ts(f, "ts", e->t0 - origin);
		fprintf(f, ",\"args\":{\"queued\":%llu}",
				(unsigned long long)e->b);
		break;
	}
	default: /* instants */
		if (e->kind == TRACE_LAUNCH) {
			char child[TRINDLE_NAME_MAX + 24];
			name_or((uint32_t)e->a, "process", child);
			snprintf(name, sizeof(name), "launch %s", child);
		} else if (e->kind == TRACE_END) {
			snprintf(name, sizeof(name), "%s",
					ends[e->b < 4 ? e->b : 0]);
		} else {
			snprintf(name, sizeof(name), "fault at %#llx",
					(unsigned long long)e->a);
		}
		fputs("{\"name\":", f);
		put_string(f, name);
		fprintf(f, ",\"ph\":\"i\",\"s\":\"t\",\"pid\":1,\"tid\":%u",
				e->track);
		put_ts(f, "ts", e->t0 - origin);
		break;
	}
	fputs("}", f);
}

static bool is_flow(const struct trace_event *e)
{
	return e->kind == TRACE_FLOW_OUT || e->kind == TRACE_FLOW_IN;
}

static void write_events(FILE *f, const struct collected *c,
		const struct trace_event *syncs, size_t nsyncs,
		const uint64_t *outs, size_t nout,
		const uint64_t *ins, size_t nin)
{
	int64_t origin = atomic_load(&origin_ns);

	fputs("{\"traceEvents\":[\n{\"name\":\"process_name\",\"ph\":\"M\","
			"\"pid\":1,\"args\":{\"name\":\"libtrindle\"}}", f);
	/* Thread names first: every track with an event on it (counters
	 * belong to the process, not to a track). */
	uint32_t *tracks = malloc((c->n + 1) * sizeof(*tracks));
	size_t ntracks = 0;
	for (size_t i = 0; tracks && i < c->n; i++)
		if (c->ev[i].kind != TRACE_DEPTH)
			tracks[ntracks++] = c->ev[i].track;
	if (tracks)
		qsort(tracks, ntracks, sizeof(*tracks), by_serial);
	for (size_t i = 0; i < ntracks; i++) {
		if (i > 0 && tracks[i - 1] == tracks[i])
			continue;
		const struct trace_event *e = &(struct trace_event){
			.track = tracks[i] };
		char name[TRINDLE_NAME_MAX + 24];
		name_or(e->track, "process", name);
		fprintf(f, ",\n{\"name\":\"thread_name\",\"ph\":\"M\","
				"\"pid\":1,\"tid\":%u,\"args\":{\"name\":",
				e->track);
		put_string(f, name);
		fputs("}}", f);
	}
	free(tracks);
	for (size_t i = 0; i < c->n; i++) {
		const struct trace_event *e = &c->ev[i];
		if (is_flow(e) && !(in_sync(syncs, nsyncs, e) &&
				has_id(outs, nout, e->a) && has_id(ins, nin, e->a)))
			continue;
		fputs(",\n", f);
		write_event(f, e, origin);
	}
	fprintf(f, "\n],\n\"displayTimeUnit\":\"ns\",\n\"otherData\":{"
			"\"library\":\"libtrindle %s\",\"dropped_events\":%llu}}\n",
			trindle_version_string(), (unsigned long long)c->dropped);
}

static int write_file(const char *path)
{
	struct collected c;
	int err = collect(&c);
	if (err)
		return err;
	/* A flow is shown only with both ends, each inside a sync. */
	struct trace_event *syncs = malloc((c.n + 1) * sizeof(*syncs));
	uint64_t *outs = malloc((c.n + 1) * sizeof(*outs));
	uint64_t *ins = malloc((c.n + 1) * sizeof(*ins));
	size_t nsyncs = 0, nout = 0, nin = 0;
	FILE *f = NULL;
	if (!syncs || !outs || !ins) {
		err = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < c.n; i++)
		if (c.ev[i].kind == TRACE_SYNC)
			syncs[nsyncs++] = c.ev[i];
	qsort(syncs, nsyncs, sizeof(*syncs), by_track_then_time);
	for (size_t i = 0; i < c.n; i++) {
		const struct trace_event *e = &c.ev[i];
		if (is_flow(e) && in_sync(syncs, nsyncs, e)) {
			if (e->kind == TRACE_FLOW_OUT)
				outs[nout++] = e->a;
			else
				ins[nin++] = e->a;
		}
	}
	qsort(outs, nout, sizeof(*outs), by_flow_id);
	qsort(ins, nin, sizeof(*ins), by_flow_id);
	qsort(c.ev, c.n, sizeof(*c.ev), by_time);
	f = fopen(path, "w");
	if (!f) {
		err = -errno;
		goto out;
	}
	write_events(f, &c, syncs, nsyncs, outs, nout, ins, nin);
	if (fclose(f) != 0)
		err = -errno;
out:
	free(syncs);
	free(outs);
	free(ins);
	free(c.ev);
	return err;
}

int trindle__trace_write(void)
{
	pthread_mutex_lock(&rings_lock);
	int err = trace_path ? write_file(trace_path) : -EINVAL;
	pthread_mutex_unlock(&rings_lock);
	return err;
}

static void write_at_exit(void)
{
	if (atomic_load(&trindle__trace_flag))
		(void)trindle__trace_write();
}

int trindle__trace_start(const char *path, size_t events_per_thread)
{
	char *copy = path ? strdup(path) : NULL;

	if (!copy)
		return path ? -ENOMEM : -EINVAL;
	pthread_mutex_lock(&rings_lock);
	static bool registered;
	if (!registered && atexit(write_at_exit) == 0)
		registered = true;
	free(trace_path);
	trace_path = copy;
	atomic_store(&ring_events, events_per_thread ? events_per_thread :
			TRACE_DEFAULT_EVENTS);
	atomic_store(&origin_ns, trindle__now_ns());
	atomic_fetch_add(&current_run, 1);
	atomic_store(&trindle__trace_flag, true);
	pthread_mutex_unlock(&rings_lock);
	return 0;
}

int trindle__trace_stop(void)
{
	pthread_mutex_lock(&rings_lock);
	bool was_on = atomic_exchange(&trindle__trace_flag, false);
	int err = was_on && trace_path ? write_file(trace_path) : 0;
	pthread_mutex_unlock(&rings_lock);
	return was_on ? err : -EINVAL;
}
