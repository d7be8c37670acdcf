/* SPDX-License-Identifier: MIT */
/*
 * machine.c - what the runner measures about the machine and does to it:
 * the cache-line round trip between two CPUs, printed with every run (on
 * a VM whose host places the vCPUs near or apart from hour to hour, every
 * hand-off figure moves with it), and the spinning process of the
 * contended scenarios.
 */
#include "bench.h"

#include <errno.h>
#include <math.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* The CPUs this process may use, in order; returns how many. */
static int allowed_cpus(int *cpus, int max)
{
	cpu_set_t set;
	int n = 0;

	if (sched_getaffinity(0, sizeof set, &set) != 0)
		return 0;
	for (int c = 0; c < CPU_SETSIZE && n < max; c++)
		if (CPU_ISSET(c, &set))
			cpus[n++] = c;
	return n;
}

static int pin_to(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(0, sizeof set, &set);
}

/* ---- the cache-line round trip ---------------------------------------- */

typedef struct rtt {
	_Alignas(64) atomic_uint_fast64_t line;  /* the line that bounces */
	_Alignas(64) atomic_bool stop;
	int cpu;
} rtt_t;

/* The answering side: turns every odd value into the next even one. */
static void *rtt_echo(void *arg)
{
	rtt_t *r = arg;
	uint_fast64_t seen = 0;

	if (pin_to(r->cpu) != 0)
		return NULL;
	while (!atomic_load_explicit(&r->stop, memory_order_relaxed)) {
		uint_fast64_t v = atomic_load_explicit(&r->line,
				memory_order_acquire);

		if ((v & 1) && v != seen) {
			seen = v;
			atomic_store_explicit(&r->line, v + 1,
					memory_order_release);
		}
	}
	return NULL;
}

/* Times `trips` round trips from the calling thread; seconds. */
static double rtt_sample(rtt_t *r, uint_fast64_t *v, int trips)
{
	double t0 = bench_now();

	for (int i = 0; i < trips; i++) {
		uint_fast64_t want = *v + 2;

		atomic_store_explicit(&r->line, *v + 1, memory_order_release);
		while (atomic_load_explicit(&r->line, memory_order_acquire)
				!= want)
			;
		*v = want;
	}
	return bench_now() - t0;
}

/* Returns the median round trip in ns (NaN if none was measured). */
static double rtt_measure(bench_machine_t *m, int samples)
{
	rtt_t *r = bench_block(sizeof *r);
	double *ns = calloc((size_t)samples, sizeof *ns);
	double deadline = bench_now() + 2.0;
	cpu_set_t saved;
	uint_fast64_t v = 0;
	pthread_t echo;
	double median = NAN;
	int got = 0;

	/* The caller's own affinity comes back afterwards: the scenarios
	 * (and the children they fork) must not inherit the pinning. */
	if (!ns || sched_getaffinity(0, sizeof saved, &saved) != 0)
		goto out;
	atomic_init(&r->line, 0);
	atomic_init(&r->stop, false);
	r->cpu = m->rtt_cpu[1];
	if (pin_to(m->rtt_cpu[0]) != 0 || bench_thread(&echo, rtt_echo, r))
		goto restore;
	/* One untimed sample brings both threads onto their CPUs. */
	rtt_sample(r, &v, m->rtt_trips);
	while (got < samples && bench_now() < deadline)
		ns[got++] = rtt_sample(r, &v, m->rtt_trips) * 1e9
			/ m->rtt_trips;
	atomic_store(&r->stop, true);
	pthread_join(echo, NULL);
	if (got > 0)
		median = stats_median(ns, got);
	m->rtt_samples = got;
restore:
	sched_setaffinity(0, sizeof saved, &saved);
out:
	free(ns);
	free(r);
	return median;
}

void bench_machine_probe(bench_machine_t *m, bool quick)
{
	int cpus[CPU_SETSIZE];
	time_t now = time(NULL);
	struct tm tm;

	memset(m, 0, sizeof *m);
	m->cache_rtt_ns = m->cache_rtt_end_ns = NAN;
	m->rtt_trips = 100;
	m->cpus = allowed_cpus(cpus, CPU_SETSIZE);
	m->spin_cpu = bench_spinner_cpu();
	strftime(m->date, sizeof m->date, "%Y-%m-%d %H:%M:%S UTC",
			gmtime_r(&now, &tm));
	if (m->cpus < 2)
		return;
	/* CPU 0 and 1 when we may use both, else the first two we may. */
	m->rtt_cpu[0] = cpus[0];
	m->rtt_cpu[1] = cpus[1];
	m->cache_rtt_ns = rtt_measure(m, quick ? 21 : 501);
}

void bench_machine_reprobe(bench_machine_t *m, bool quick)
{
	if (m->cpus >= 2)
		m->cache_rtt_end_ns = rtt_measure(m, quick ? 21 : 501);
}

/* ---- the spinner of contended scenarios ------------------------------- */

int bench_spinner_cpu(void)
{
	int cpus[CPU_SETSIZE], n = allowed_cpus(cpus, CPU_SETSIZE);

	for (int i = 0; i < n; i++)
		if (cpus[i] == 1)
			return 1;
	return n > 0 ? cpus[n - 1] : 0;
}

/* The child: spins until killed, its parent goes, or 15 minutes pass. */
static TRINDLE_NORETURN void spin(pid_t parent, int cpu)
{
	double end = bench_now() + 900;
	volatile uint64_t work = 0;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent || pin_to(cpu) != 0)
		_exit(1);
	for (;;) {
		for (int i = 0; i < (1 << 20); i++)
			work = work + 1;
		if (getppid() != parent || bench_now() > end)
			_exit(0);
	}
}

int bench_spinner_start(void)
{
	pid_t parent = getpid(), pid;
	int cpu = bench_spinner_cpu();

	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return bench_fail("spinner", "fork: %s", strerror(errno));
	if (pid == 0)
		spin(parent, cpu);
	return (int)pid;
}

void bench_spinner_stop(int pid)
{
	int status;

	kill((pid_t)pid, SIGKILL);
	while (waitpid((pid_t)pid, &status, 0) < 0 && errno == EINTR)
		;
}
