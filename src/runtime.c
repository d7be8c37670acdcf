/* SPDX-License-Identifier: MIT */
/* runtime.c - lazy start of the library and root-thread bookkeeping. */
#include "runtime.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "compiler.h"
#include "fault.h"
#include "process.h"
#include "segment.h"
#include "graph.h"
#include "stall.h"
#include "trace.h"

static pthread_once_t start_once = PTHREAD_ONCE_INIT;
static int start_error;
static TRINDLE_TLS void *tls_root_stack;

/* The signal TRINDLE_DUMP_SIGNAL names ("SIGQUIT", "QUIT" or a number),
 * or 0 for none.  Not one the library catches for faults, nor one that
 * cannot be caught. */
static int dump_signal(const char *name)
{
	int sig = 0;

	if (!name || !*name)
		return 0;
	if (!strncmp(name, "SIG", 3))
		name += 3;
	if (*name >= '0' && *name <= '9') {
		sig = atoi(name);
	} else {
		for (int s = 1; s < SIGRTMIN && !sig; s++) {
			const char *abbrev = sigabbrev_np(s);
			if (abbrev && !strcmp(abbrev, name))
				sig = s;
		}
	}
	if (sig <= 0 || sig >= NSIG || sig == SIGSEGV || sig == SIGBUS ||
	    sig == SIGFPE || sig == SIGILL || sig == SIGABRT ||
	    sig == SIGKILL || sig == SIGSTOP) {
		static const char msg[] = "trindle: TRINDLE_DUMP_SIGNAL names "
			"no signal the library may catch; ignored\n";
		ssize_t w = write(STDERR_FILENO, msg, sizeof(msg) - 1);
		(void)w;
		return 0;
	}
	return sig;
}

/* TRINDLE_TRACE_EVENTS=N: events per thread's ring in the trace that
 * TRINDLE_TRACE starts, 1 to 2^24; 0 (the default) when unset, empty or
 * not such a count (then one line on stderr says so). */
#define TRACE_EVENTS_MAX ((size_t)1 << 24)

static size_t trace_events(const char *text)
{
	char *end;
	unsigned long long n;

	if (!text || !*text)
		return 0;
	errno = 0;
	n = strtoull(text, &end, 10);
	if (text[0] >= '0' && text[0] <= '9' && !*end && !errno &&
	    n >= 1 && n <= TRACE_EVENTS_MAX)
		return (size_t)n;
	static const char msg[] = "trindle: TRINDLE_TRACE_EVENTS is not a "
		"count from 1 to 16777216; the default is used\n";
	ssize_t w = write(STDERR_FILENO, msg, sizeof(msg) - 1);
	(void)w;
	return 0;
}

/* After a dump's report (TRINDLE_DUMP_SIGNAL), in the monitor thread:
 * the graph and the trace as they stand, where those are on. */
static void write_views(void)
{
	(void)trindle__graph_write_started();
	if (trindle__trace_on())
		(void)trindle__trace_write();
}

static void start(void)
{
	const char *debug = getenv("TRINDLE_DEBUG");

	(void)trindle__page_size();
	trindle__segment_set_debug(debug && strstr(debug, "in-flight"));
	trindle__segment_set_strict(debug && strstr(debug, "strict"));
	const char *retain = getenv("TRINDLE_RETAIN_MIB");
	if (retain && *retain)
		trindle__segment_set_retain_limit(
				(size_t)strtoull(retain, NULL, 10) << 20);
	/* TRINDLE_FAULTS=rights: only a worker's rights faults on segments
	 * are reports; any other fault ends the program, as it would
	 * without the library. */
	const char *faults = getenv("TRINDLE_FAULTS");
	trindle__fault_set_catch_all(!(faults && !strcmp(faults, "rights")));
	/* TRINDLE_TRACE=FILE: a trace of the whole run, written at its end
	 * (and when a fault report is made). */
	const char *trace = getenv("TRINDLE_TRACE");
	if (trace && *trace)
		(void)trindle__trace_start(trace,
				trace_events(getenv("TRINDLE_TRACE_EVENTS")));
	/* TRINDLE_GRAPH=FILE: the process-and-pipe graph, at the end. */
	const char *graph = getenv("TRINDLE_GRAPH");
	if (graph && *graph)
		trindle__graph_start(graph);
	/* TRINDLE_STALL_MS=N: a report on stderr when every process has
	 * waited N ms with nothing that could wake it. */
	const char *stall = getenv("TRINDLE_STALL_MS");
	long stall_ms = stall && *stall ? strtol(stall, NULL, 10) : 0;
	/* TRINDLE_DUMP_SIGNAL=SIGQUIT: the same report on demand. */
	int dump = dump_signal(getenv("TRINDLE_DUMP_SIGNAL"));
	if (stall_ms > 0 || dump > 0)
		trindle__stall_start(stall_ms > 0 ? stall_ms : 0, dump,
				trindle__runtime_live_count, write_views);
	start_error = trindle__fault_install();
}

int trindle__runtime_start(void)
{
	pthread_once(&start_once, start);
	return start_error;
}

/* The key's destructor runs the function root_started was given, and only
 * for a thread whose value is still set: root_ended clears it, so it fires
 * for a root thread that simply ends, not for one ended by trindle_exit.
 * Every root stores the same function, possibly at the same moment as
 * others: hence an atomic. */
static _Atomic(void (*)(void *)) root_end_fn;

static void root_key_destructor(void *arg)
{
	void (*fn)(void *) = atomic_load_explicit(&root_end_fn,
			memory_order_relaxed);
	if (fn)
		fn(arg);
}

static pthread_once_t key_once = PTHREAD_ONCE_INIT;
static pthread_key_t end_key;
static int end_key_error;

static void make_end_key(void)
{
	end_key_error = -pthread_key_create(&end_key, root_key_destructor);
}

int trindle__runtime_root_started(struct process *p, void (*ended)(void *))
{
	pthread_once(&key_once, make_end_key);
	if (end_key_error)
		return end_key_error;
	atomic_store_explicit(&root_end_fn, ended, memory_order_relaxed);
	if (pthread_setspecific(end_key, p) != 0)
		return -ENOMEM;
	tls_root_stack = trindle__runtime_signal_stack();
	trindle__runtime_process_started();
	return 0;
}

void trindle__runtime_root_ended(struct process *p)
{
	(void)p;
	pthread_setspecific(end_key, NULL);
	trindle__runtime_free_signal_stack(tls_root_stack);
	tls_root_stack = NULL;
	trindle__runtime_process_ended();
}

/* seq_cst: an idle worker announces its sleep, then reads this; the one
 * who brings it to zero writes it, then looks for sleepers (wait.h). */
static atomic_size_t live_processes;
/* Set by a launch before it counts its worker's process: whoever later
 * brings the count to zero reads after that update in the count's order
 * (a release sequence of seq_cst read-modify-writes), so it sees the hook. */
static _Atomic(void (*)(void)) all_ended_fn;

void trindle__runtime_on_all_ended(void (*fn)(void))
{
	atomic_store(&all_ended_fn, fn);
}

void trindle__runtime_process_started(void)
{
	atomic_fetch_add(&live_processes, 1);
}

void trindle__runtime_process_ended(void)
{
	if (atomic_fetch_sub(&live_processes, 1) != 1)
		return;
	void (*fn)(void) = atomic_load(&all_ended_fn);
	if (fn)
		fn();
}

size_t trindle__runtime_live_count(void)
{
	return atomic_load(&live_processes);
}

bool trindle__runtime_any_alive(void)
{
	return atomic_load(&live_processes) != 0;
}

void *trindle__runtime_signal_stack(void)
{
	stack_t old, ss;

	if (sigaltstack(NULL, &old) == 0 && !(old.ss_flags & SS_DISABLE))
		return NULL; /* the thread has one already (a sanitizer's, say) */
	size_t size = 64 * 1024;
	void *stack = malloc(size);
	if (!stack)
		return NULL;
	ss.ss_sp = stack;
	ss.ss_size = size;
	ss.ss_flags = 0;
	if (sigaltstack(&ss, NULL) < 0) {
		free(stack);
		return NULL;
	}
	return stack;
}

void trindle__runtime_free_signal_stack(void *stack)
{
	stack_t ss = { .ss_flags = SS_DISABLE };

	if (!stack)
		return;
	sigaltstack(&ss, NULL);
	free(stack);
}
