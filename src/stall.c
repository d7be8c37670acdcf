/* SPDX-License-Identifier: MIT */
/* stall.c - the stall monitor and its report (see stall.h). */
#include "stall.h"

#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "holder.h"
#include "pipe.h"
#include "trace.h"
#include "wait.h"

#define STALL_MAX_SHOWN 64 /* processes a report lists */

static int64_t stall_ns;          /* 0: no stall reports, dumps only */
static sem_t dump_sem;            /* posted by the dump signal's handler */
static size_t (*live_processes)(void);
static void (*after_dump)(void);

struct waiter {
	struct holder *h;
	int64_t since;
};

struct scan {
	struct waiter w[STALL_MAX_SHOWN];
	size_t n;         /* waiting holders seen (may exceed what w holds) */
	int64_t newest;   /* the latest wait_since among them */
	uint64_t sig;     /* which waits these are */
};

static void scan_one(struct holder *h, void *arg)
{
	struct scan *s = arg;

	if (!atomic_load_explicit(&h->wait_count, memory_order_acquire))
		return;
	spin_lock(&h->wait_lock);
	int64_t since = atomic_load_explicit(&h->wait_since,
			memory_order_relaxed);
	bool waiting = atomic_load_explicit(&h->wait_count,
			memory_order_acquire) != 0;
	spin_unlock(&h->wait_lock);
	if (!waiting)
		return;
	if (s->n < STALL_MAX_SHOWN)
		s->w[s->n] = (struct waiter){ h, since };
	s->n++;
	if (since > s->newest)
		s->newest = since;
	s->sig = s->sig * 1000003u ^ ((uint64_t)(uintptr_t)h ^
			(uint64_t)since);
}

static void process_name(struct holder *h, char *out, size_t size)
{
	char n[TRINDLE_NAME_MAX];

	trindle__trace_get_name(h->track, n);
	if (n[0])
		snprintf(out, size, "\"%s\"", n);
	else
		snprintf(out, size, "process #%u", h->track);
}

static void pipe_name(struct pipe *p, char *out, size_t size)
{
	char n[TRINDLE_NAME_MAX];

	trindle__pipe_get_name(p, n);
	if (n[0])
		snprintf(out, size, "\"%s\"", n);
	else
		snprintf(out, size, "pipe #%u", p->serial);
}

/* Who can send to p: its holders other than its creator (names into
 * out), and whether messages in flight carry it too.  The first sender,
 * if p has exactly one holder besides its creator, goes to *only. */
static void senders(struct pipe *p, char *out, size_t size,
		struct holder **only)
{
	size_t used = 0;

	out[0] = '\0';
	*only = NULL;
	pthread_mutex_lock(&p->lock);
	for (size_t i = 0; i < p->nholders && used + 1 < size; i++) {
		char n[TRINDLE_NAME_MAX + 16];
		process_name(p->holders[i], n, sizeof(n));
		used += (size_t)snprintf(out + used, size - used, "%s%s",
				i ? ", " : "", n);
	}
	if (p->nholders == 1)
		*only = p->holders[0];
	size_t carriers = atomic_load(&p->other_holds) - p->nholders;
	pthread_mutex_unlock(&p->lock);
	if (carriers && used + 1 < size)
		snprintf(out + used, size - used, "%s%zu message(s) carrying it",
				used ? ", " : "", carriers);
	if (!out[0])
		snprintf(out, size, "nobody");
}

static size_t index_of(const struct scan *s, const struct holder *h)
{
	for (size_t i = 0; i < s->n && i < STALL_MAX_SHOWN; i++)
		if (s->w[i].h == h)
			return i;
	return SIZE_MAX;
}

/* Writes the report of the waits in s.  Each waiter's lock is held while
 * its pipes are read: they stay alive until it stops waiting.  (Holders
 * are never freed, so reading one needs no other lock.) */
static void report(struct scan *s, int64_t now, const char *prefix,
		size_t live)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	if (!f)
		return;
	size_t shown = s->n < STALL_MAX_SHOWN ? s->n : STALL_MAX_SHOWN;
	/* next[i]: a waiter that alone can wake waiter i (for the cycle). */
	size_t next[STALL_MAX_SHOWN];
	char why[STALL_MAX_SHOWN][4 * TRINDLE_NAME_MAX + 128];

	if (live)
		fprintf(f, "%s %zu process(es) alive, %zu of them waiting in "
				"a sync\n", prefix, live, s->n);
	else
		fprintf(f, "%s %zu process(es) have waited in a sync for %lld "
				"ms or more, and nothing in flight can wake any "
				"of them\n", prefix, s->n,
				(long long)((now - s->newest) / 1000000));
	for (size_t i = 0; i < shown; i++) {
		struct holder *h = s->w[i].h;
		char name[TRINDLE_NAME_MAX + 16];
		process_name(h, name, sizeof(name));
		next[i] = SIZE_MAX;
		why[i][0] = '\0';
		spin_lock(&h->wait_lock);
		size_t n = atomic_load(&h->wait_count);
		if (!n || atomic_load_explicit(&h->wait_since,
				memory_order_relaxed) != s->w[i].since) {
			spin_unlock(&h->wait_lock);
			fprintf(f, "%s   %s woke up\n", prefix, name);
			continue;
		}
		fprintf(f, "%s   %s waits on %zu pipe(s)\n", prefix, name, n);
		for (size_t k = 0; k < n && k < HOLDER_WAIT_SHOWN; k++) {
			struct pipe *p = atomic_load(&h->wait_on[k]);
			char pn[TRINDLE_NAME_MAX + 16], who[512];
			struct holder *only;
			pipe_name(p, pn, sizeof(pn));
			senders(p, who, sizeof(who), &only);
			fprintf(f, "%s     pipe %s: %zu of %zu queued; can be "
					"sent to by %s\n", prefix, pn,
					trindle__pipe_measure(p), p->capacity,
					who);
			size_t j = only ? index_of(s, only) : SIZE_MAX;
			if (j != SIZE_MAX && next[i] == SIZE_MAX) {
				char on[TRINDLE_NAME_MAX + 16];
				process_name(only, on, sizeof(on));
				next[i] = j;
				snprintf(why[i], sizeof(why[i]), "%s waits on "
						"pipe %s, which only %s can send to",
						name, pn, on);
			}
		}
		spin_unlock(&h->wait_lock);
	}
	/* A cycle: follow next[] from each waiter until one repeats. */
	for (size_t start = 0; start < shown; start++) {
		size_t seen[STALL_MAX_SHOWN], steps = 0, i = start;
		memset(seen, 0xff, sizeof(seen));
		while (i != SIZE_MAX && seen[i] == SIZE_MAX) {
			seen[i] = steps++;
			i = next[i];
		}
		if (i == SIZE_MAX)
			continue;
		fprintf(f, "%s   wait cycle: ", prefix);
		size_t first = i;
		do {
			fprintf(f, "%s%s", i == first ? "" : "; ", why[i]);
			i = next[i];
		} while (i != first);
		fprintf(f, "\n");
		break;
	}
	fclose(f);
	if (text) {
		ssize_t w = write(STDERR_FILENO, text, len);
		(void)w;
	}
	free(text);
}

static void *monitor(void *arg)
{
	(void)arg;
	uint64_t reported = 0, last = 0;
	int64_t period = stall_ns / 4;

	if (period > 250000000)
		period = 250000000;
	if (period < 1000000)
		period = 1000000;
	for (;;) {
		/* Sleeps until the next look, or until the dump signal. */
		bool dump;
		if (stall_ns) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += period % 1000000000;
			ts.tv_sec += period / 1000000000 + ts.tv_nsec / 1000000000;
			ts.tv_nsec %= 1000000000;
			while ((dump = sem_timedwait(&dump_sem, &ts) == 0) == false &&
			       errno == EINTR)
				;
		} else {
			while (!(dump = sem_wait(&dump_sem) == 0) && errno == EINTR)
				;
		}
		static struct scan s; /* this thread's only */
		memset(&s, 0, sizeof(s));
		size_t live = live_processes();
		trindle__holder_each(scan_one, &s);
		int64_t now = trindle__now_ns();
		if (dump) {
			report(&s, now, "trindle: dump:", live ? live : 1);
			if (after_dump)
				after_dump();
		}
		if (!stall_ns)
			continue;
		bool stalled = live && s.n == live && now - s.newest >= stall_ns;
		if (!stalled) {
			last = reported = 0;
			continue;
		}
		/* The same waits twice in a row (no one woke between two
		 * looks), and not reported yet. */
		if (s.sig == last && s.sig != reported) {
			report(&s, now, "trindle: stall:", 0);
			reported = s.sig;
		}
		last = s.sig;
	}
	return NULL;
}

static void on_dump_signal(int sig)
{
	int saved = errno;

	(void)sig;
	sem_post(&dump_sem); /* async-signal-safe */
	errno = saved;
}

void trindle__stall_start(long ms, int dump_signal,
		size_t (*live_count)(void), void (*dump_hook)(void))
{
	pthread_t t;
	pthread_attr_t attr;

	stall_ns = (int64_t)ms * 1000000;
	live_processes = live_count;
	after_dump = dump_hook;
	if (sem_init(&dump_sem, 0, 0) != 0)
		return;
	if (dump_signal > 0) {
		struct sigaction sa;
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_dump_signal;
		sa.sa_flags = SA_RESTART;
		sigemptyset(&sa.sa_mask);
		sigaction(dump_signal, &sa, NULL);
	}
	if (pthread_attr_init(&attr) != 0)
		return;
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &attr, monitor, NULL) != 0)
		fprintf(stderr, "trindle: stall: no thread for the monitor; "
				"TRINDLE_STALL_MS ignored\n");
	pthread_attr_destroy(&attr);
}
