/* SPDX-License-Identifier: MIT */
/*
 * launch.c - worker threads: launch, exit, abort and the fault jump.
 *
 * Creating a thread costs far more than handing one a job, so finished
 * workers stay in a pool: an idle thread spins for a while, then sleeps on
 * its futex word, and a launch hands it the new process directly.  Each
 * worker thread runs its process from one base frame (run_process);
 * trindle_exit, trindle_abort and a fault (through the recovery point
 * fault.c keeps) jump back there, so a process always ends in the same
 * place, with its stack unwound.
 *
 * Idle threads must not keep the program alive: once no process (root or
 * worker) is alive, each idle thread takes itself off the idle list, under
 * the list's lock, and ends.  A launch takes a thread off the list under
 * the same lock, so a thread either ends or gets the job, never both; and
 * since the launcher is itself alive, a thread that finds itself taken
 * knows a job is coming.
 */
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "code.h"
#include "fault.h"
#include "launch.h"
#include "pipe.h"
#include "process.h"
#include "runtime.h"
#include "segment.h"
#include "trace.h"
#include "wait.h"

/* An idle worker spins this long for the next launch before sleeping. */
#define IDLE_SPIN_NS 50000
/* A launch waits at most this long for a thread that is finishing a
 * process, before it starts a new thread instead. */
#define ENDING_WAIT_NS 10000000

enum jump_reason {
	JUMP_NONE = 0,
	JUMP_EXIT = 1,
	JUMP_FAULT = 2,
};

struct worker {
	atomic_uint word;                 /* futex word while idle */
	_Atomic(struct process *) job;
	sigjmp_buf base;
	volatile sig_atomic_t running;    /* inside run_process */
	trindle_fault_t fault;
	sigset_t mask;                    /* the thread's signal mask at start */
	cpu_set_t cpus;                   /* its creator's CPUs, when placed */
	bool placed;                      /* started away from its creator */
	pthread_t thread;                 /* set by its creator */
	atomic_bool narrowed;             /* away: takes cpus back with a job */
	int cpu;                          /* where it last went idle, or -1 */
	void *signal_stack;
	struct worker *next_idle;
	bool idle;                        /* on the idle list (under idle_lock) */
};

static TRINDLE_TLS struct worker *tls_worker;
static pthread_mutex_t idle_lock = PTHREAD_MUTEX_INITIALIZER;
static struct worker *idle_workers;
/* Threads between the start of their process's end and their return to
 * the idle list.  The process's input pipe dies (its launcher is told)
 * inside that window, so a launcher may want the thread back before it
 * is there (see ending_worker). */
static atomic_uint ending_workers;

/* Ends the worker process p running on this thread: back to its base. */
static TRINDLE_NORETURN void worker_finish(struct process *p,
		trindle_object_t final, enum final_target target)
{
	struct worker *w = tls_worker;

	p->final = final;
	p->final_target = target;
	trindle__fault_disarm();
	w->running = 0;
	siglongjmp(w->base, JUMP_EXIT);
}

/* The fault report: a new segment held by p, moved to err as p ends
 * (NULL when there is no memory for it: then err gets nothing). */
static trindle_object_t make_fault_report(struct worker *w, struct process *p)
{
	trindle_fault_t f = w->fault;
	struct segment *s;

	f.process = p->input;
	trindle_buffer_t b = { sizeof(f), &f };
	return trindle__process_allocate(p, 1, &b, true, &s) ? NULL : s->base;
}

/* Says how the worker ends on its input pipe (trindle_inquire), before
 * the pipe dies; not when the worker let go of it (then it may be gone).
 * From here until it is idle again, the thread counts as ending. */
static void note_end(struct process *p, int how)
{
	atomic_fetch_add_explicit(&ending_workers, 1, memory_order_relaxed);
	if (trindle__trace_on())
		trindle__trace_event(p->holder.track, TRACE_END,
				trindle__now_ns(), 0, 0, (uint64_t)how);
	if (p->input && trindle__cap_find(&p->caps, p->input))
		atomic_store_explicit(&p->input->ended_by, how,
				memory_order_release);
}

/*
 * The base frame saves no signal mask (that would be a system call per
 * launch); a jump back restores the thread's mask from its start instead:
 * a fault jumps out of the signal handler with the signal still blocked,
 * and a process that blocked signals and then exited must not pass that
 * on to the next process on this thread.
 */
static void restore_signal_mask(struct worker *w)
{
	pthread_sigmask(SIG_SETMASK, &w->mask, NULL);
}

static void run_process(struct worker *w, struct process *p)
{
	trindle__set_current(p);
	switch (sigsetjmp(w->base, 0)) {
	case JUMP_NONE:
		w->running = 1;
		trindle__fault_arm(&w->base, JUMP_FAULT, &w->fault);
		p->entry(p->input);
		trindle__fault_disarm();
		w->running = 0;
		note_end(p, TRINDLE_END_EXIT);
		trindle__process_end(p, NULL, FINAL_OUT);
		break;
	case JUMP_EXIT:
		restore_signal_mask(w);
		note_end(p, p->final_target == FINAL_ERR ? TRINDLE_END_ABORT :
				TRINDLE_END_EXIT);
		trindle__process_end(p, p->final, p->final_target);
		break;
	default: /* the fault handler disarmed the recovery point */
		restore_signal_mask(w);
		w->running = 0;
		note_end(p, TRINDLE_END_FAULT);
		if (trindle__trace_on()) {
			/* The trace as it stands goes to its file with the
			 * report: the program may not end well. */
			trindle__trace_event(p->holder.track, TRACE_FAULT,
					trindle__now_ns(), 0,
					(uint64_t)(uintptr_t)w->fault.address, 0);
			(void)trindle__trace_write();
		}
		trindle__process_end(p, make_fault_report(w, p), FINAL_ERR);
		break;
	}
	trindle__set_current(NULL);
	trindle__process_free(p);
}

/* A job came, or no process is alive any more (time to end, maybe). */
static bool job_ready(void *arg)
{
	struct worker *w = arg;
	return atomic_load_explicit(&w->job, memory_order_acquire) != NULL ||
		!trindle__runtime_any_alive();
}

static void push_idle(struct worker *w)
{
	pthread_mutex_lock(&idle_lock);
	w->idle = true;
	w->next_idle = idle_workers;
	idle_workers = w;
	pthread_mutex_unlock(&idle_lock);
}

/* Takes w off the idle list if it is still there and no process is alive:
 * then w may end.  False: a launch took w (its job is coming), or a
 * process started meanwhile. */
static bool retire(struct worker *w)
{
	bool gone = false;

	pthread_mutex_lock(&idle_lock);
	if (w->idle && !trindle__runtime_any_alive()) {
		struct worker **pp = &idle_workers;
		while (*pp != w)
			pp = &(*pp)->next_idle;
		*pp = w->next_idle;
		w->idle = false;
		gone = true;
	}
	pthread_mutex_unlock(&idle_lock);
	return gone;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	tls_worker = w;
	pthread_sigmask(SIG_SETMASK, NULL, &w->mask);
	w->signal_stack = trindle__runtime_signal_stack();
	trindle__wait_thread_started();
	for (;;) {
		trindle__wait_word(&w->word, job_ready, w, -1, IDLE_SPIN_NS,
				NULL);
		struct process *p = atomic_exchange_explicit(&w->job, NULL,
				memory_order_acquire);
		if (!p) {
			if (retire(w))
				break;
			continue;
		}
		/* Only with a job in hand: its launcher narrowed this thread
		 * (and set the flag) before it handed over the job, so both
		 * are done.  Without one (woken because no process was alive)
		 * a launcher may be between the flag and the narrowing: a
		 * restore then would come first, and the flag be gone.  A new
		 * thread, started narrowed (place_away), takes its CPUs back
		 * here too, with its first job. */
		if (atomic_exchange_explicit(&w->narrowed, false,
				memory_order_relaxed))
			pthread_setaffinity_np(pthread_self(), sizeof(w->cpus),
					&w->cpus);
		run_process(w, p);
		w->cpu = sched_getcpu();
		/* Idle before the counts drop: whoever brings the process
		 * count to zero, or waits for an ending thread, then finds
		 * this thread on the list. */
		push_idle(w);
		atomic_fetch_sub_explicit(&ending_workers, 1,
				memory_order_release);
		trindle__runtime_process_ended();
	}
	trindle__wait_thread_ended();
	trindle__runtime_free_signal_stack(w->signal_stack);
	tls_worker = NULL;
	free(w);
	return NULL;
}

/* No process is alive: wake every idle thread, to see whether to end. */
static void wake_idle(void)
{
	pthread_mutex_lock(&idle_lock);
	for (struct worker *w = idle_workers; w; w = w->next_idle)
		trindle__wake_word(&w->word);
	pthread_mutex_unlock(&idle_lock);
}

static struct worker *idle_worker(void)
{
	pthread_mutex_lock(&idle_lock);
	struct worker *w = idle_workers;
	if (w) {
		idle_workers = w->next_idle;
		w->idle = false;
	}
	pthread_mutex_unlock(&idle_lock);
	return w;
}

/*
 * No thread is idle, but one may be finishing a process: a launcher told
 * of that process's end often launches again before the thread is back.
 * Its end is short and waits for nobody, so the launch waits for it
 * (yielding, as it may share our core) rather than start a thread, which
 * costs more than the wait and would stay in the pool, an idle thread
 * spinning on a core the workers need.  NULL: none is ending, or it took
 * too long.
 */
static struct worker *ending_worker(void)
{
	int64_t give_up = trindle__now_ns() + ENDING_WAIT_NS;

	for (;;) {
		/* The count is read before the list is looked at: a thread
		 * puts itself on the list before it stops counting, so a
		 * look after a count of zero finds every thread that was
		 * ending. */
		bool ending = atomic_load_explicit(&ending_workers,
				memory_order_acquire) != 0;
		struct worker *w = idle_worker();
		if (w || !ending || trindle__now_ns() > give_up)
			return w;
		sched_yield();
	}
}

/*
 * A new thread starts on a CPU other than its creator's, then gets back
 * all the CPUs its creator may use.  Left alone, the scheduler starts it
 * on its creator's CPU, the other CPU being idle, and there the two
 * threads stay: each hand-off between the launcher and its worker then
 * waits for the other to yield the core, and the threads run in turns
 * for as long as they keep handing off.  Nothing changes when the
 * creator may use one CPU only.
 */
/* w's CPUs but cpu, in *away; false when that leaves none. */
static bool cpus_but(const struct worker *w, int cpu, cpu_set_t *away)
{
	*away = w->cpus;
	CPU_CLR(cpu, away);
	return CPU_COUNT(away) != 0;
}

static void place_away(struct worker *w, pthread_attr_t *attr)
{
	cpu_set_t away;
	int cpu = sched_getcpu();

	if (cpu < 0 || sched_getaffinity(0, sizeof(w->cpus), &w->cpus) != 0 ||
	    !cpus_but(w, cpu, &away))
		return;
	w->placed = pthread_attr_setaffinity_np(attr, sizeof(away),
			&away) == 0;
	atomic_store_explicit(&w->narrowed, w->placed, memory_order_relaxed);
}

/* A worker thread with no job yet: an idle one, or a new one. */
static int get_worker(struct worker **out)
{
	struct worker *w = idle_worker();
	if (!w)
		w = ending_worker();
	if (w) {
		*out = w;
		return 0;
	}
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->cpu = -1;
	trindle__runtime_on_all_ended(wake_idle);
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	place_away(w, &attr);
	/* Detached: never joined.  Kept for send_away(), which reads it
	 * after this thread hands w its first job, or after w's thread put
	 * itself on the idle list: either way after this store.  (The thread
	 * cannot store it itself: it may fall asleep before its first job,
	 * and be woken away by this very thread, unsynchronised.) */
	int err = pthread_create(&w->thread, &attr, worker_main, w);
	pthread_attr_destroy(&attr);
	if (err) {
		free(w);
		return -EAGAIN;
	}
	*out = w;
	return 0;
}

/*
 * A launcher and the worker it hands a job to should not share a core
 * while another one is free: they hand work to each other, and on one
 * core each hand-off waits for the other to yield it (see place_away()).
 * The scheduler tends to put them together all the same: it wakes a
 * sleeping thread on its waker's CPU more often than not, and an idle
 * thread that spins where its launcher runs stays there, since both have
 * always just run.  So when the worker sleeps, or went idle on the
 * launcher's CPU, the launcher takes its own CPU out of the worker's CPUs
 * (which moves a thread that is not running at once); the worker takes
 * them all back before it runs the process.  Not when another program
 * keeps the other CPUs busy, or the library's threads fill them already:
 * then the worker is better off sharing its launcher's core, and the
 * scheduler places it as it would.  Only such a launch pays for the check
 * and the two calls, and it would otherwise pay a slow wake-up or a whole
 * run of slow hand-offs.
 */
static void send_away(struct worker *w, int cpu, bool asleep)
{
	cpu_set_t away;

	if (!w->placed || !cpus_but(w, cpu, &away) ||
	    !trindle__cpus_to_spare(asleep, CPU_COUNT(&w->cpus)))
		return;
	atomic_store_explicit(&w->narrowed, true, memory_order_relaxed);
	pthread_setaffinity_np(w->thread, sizeof(away), &away);
}

static void hand_job(struct worker *w, struct process *p)
{
	bool asleep = atomic_load_explicit(&w->word, memory_order_relaxed);
	int cpu = sched_getcpu();

	if (cpu >= 0 && (asleep || w->cpu == cpu))
		send_away(w, cpu, asleep);
	atomic_store_explicit(&w->job, p, memory_order_release);
	trindle__wake_word(&w->word);
}

/* Is out (or err) NULL or a live pipe the caller may send on? */
static bool valid_completion_pipe(struct process *caller, trindle_pipe_t pipe)
{
	struct pipe *q = pipe ? trindle__process_send_pipe(caller, pipe) : NULL;

	return !pipe || (q && !trindle__pipe_dead(q));
}

/* Gives proc SEND on pipe (out/err): its own hold, kept after the caller's.
 * 0, or -ENOMEM.  A pipe that died since launch checked it needs no hold:
 * a completion sent to it would be released all the same. */
static int grant_send(struct process *proc, struct pipe *pipe)
{
	if (!pipe || trindle__cap_find(&proc->caps, pipe))
		return 0;
	if (trindle__pipe_grant(pipe, &proc->holder)) {
		trindle__cap_insert(&proc->caps, pipe, &pipe->obj,
				TRINDLE_ACCESS_SEND);
		return 0;
	}
	return trindle__pipe_dead(pipe) ? 0 : -ENOMEM;
}

/* The new process's input pipe: created for it, or the caller's, whose
 * receive right it takes over (then the caller's capability turns into
 * SEND, which setup_process has granted). */
static void take_input(struct process *caller, struct process *proc,
		struct pipe *input, bool new)
{
	proc->input = input;
	trindle__pipe_ref(input); /* proc reads it until it ends (its stop) */
	input->worker_input = true;
	atomic_store_explicit(&input->ended_by, 0, memory_order_relaxed);
	atomic_store_explicit(&input->stop_requested, false,
			memory_order_relaxed);
	proc->holder.track = input->serial; /* named with its input pipe */
	trindle__cap_insert(&proc->caps, input, &input->obj,
			TRINDLE_ACCESS_SEND | TRINDLE_ACCESS_RECEIVE);
	if (new)
		return;
	trindle__cap_find(&caller->caps, input)->rights = TRINDLE_ACCESS_SEND;
	trindle__pipe_set_receiver(input, &proc->holder);
}

/*
 * Fills in the new process's holds, then the caller's SEND on its input.
 * Every step that can fail comes before anything the caller or a third
 * process could see: on failure proc, which has not run, ends at once
 * (a new input pipe, with no other holder, dies unnoticed; its holds on
 * out and err go), and the launch fails with nothing changed.
 */
static int setup_process(struct process *caller, struct process *proc,
		size_t queue_count, struct pipe *out, struct pipe *errp,
		struct segment *code, const struct launch_options *o)
{
	struct pipe *input = o ? o->input : NULL;
	bool new = !input;
	int err = 0;

	if (new) {
		err = trindle__pipe_create(queue_count, &proc->holder, &input);
		if (err < 0)
			return err;
		take_input(caller, proc, input, true);
	}
	trindle__process_set_completion(proc, out, errp);
	if (o && o->keeper)
		trindle__process_set_keeper(proc, o->keeper);
	err = grant_send(proc, proc->out);
	if (!err)
		err = grant_send(proc, proc->err);
	if (!err && !trindle__pipe_grant(input, &caller->holder))
		err = -ENOMEM; /* input is live: the caller receives on it */
	if (err < 0) {
		trindle__process_end(proc, NULL, FINAL_NONE);
		return err;
	}
	if (new)
		trindle__cap_insert(&caller->caps, input, &input->obj,
				TRINDLE_ACCESS_SEND);
	else
		take_input(caller, proc, input, false);
	if (code) {
		trindle__segment_add_holder(code, &caller->holder, &proc->holder);
		trindle__cap_insert(&proc->caps, code->base, &code->obj, 0);
	}
	return 0;
}

/* Are the options' pipes ones the caller may hand over (see launch.h)? */
static bool valid_options(struct process *caller,
		const struct launch_options *o)
{
	if (!o)
		return true;
	if (o->input) {
		struct cap *c = trindle__cap_find(&caller->caps, o->input);
		if (!c || c->obj != &o->input->obj ||
		    !(c->rights & TRINDLE_ACCESS_RECEIVE) ||
		    o->input == caller->input || trindle__pipe_dead(o->input))
			return false;
	}
	return !o->keeper || (valid_completion_pipe(caller, o->keeper) &&
			o->keeper != o->input);
}

trindle_pipe_t trindle__launch_with(trindle_entrypoint_t entry,
		size_t queue_count, trindle_pipe_t out, trindle_pipe_t err,
		const struct launch_options *o)
{
	struct process *caller = trindle__current();
	if (!caller)
		return trindle__fail_ptr(-ENOMEM);
	if ((!queue_count && !(o && o->input)) ||
	    !valid_completion_pipe(caller, out) ||
	    !valid_completion_pipe(caller, err) || !valid_options(caller, o))
		return trindle__fail_ptr(-EINVAL);
	struct segment *code = NULL;
	if (!trindle__code_contains((const void *)entry) &&
	    !(code = trindle__process_code_segment(caller, (const void *)entry)))
		return trindle__fail_ptr(-EINVAL);
	if (trindle__process_reserve_caps(caller, 1) < 0)
		return trindle__fail_ptr(-ENOMEM);

	struct process *proc = trindle__process_new();
	if (!proc)
		return trindle__fail_ptr(-ENOMEM);
	proc->entry = entry;
	struct worker *w = NULL;
	int e = trindle__process_reserve_caps(proc, 4);
	if (!e)
		e = get_worker(&w);
	if (e < 0) {
		trindle__process_free(proc);
		return trindle__fail_ptr(e);
	}
	e = setup_process(caller, proc, queue_count, out, err, code, o);
	if (e < 0) {
		/* The worker thread goes back to the pool unused. */
		push_idle(w);
		trindle__process_free(proc);
		return trindle__fail_ptr(e);
	}
	trindle_pipe_t input = proc->input;
	if (trindle__trace_on())
		trindle__trace_event(trindle__trace_track(&caller->holder),
				TRACE_LAUNCH, trindle__now_ns(), 0,
				proc->holder.track, 0);
	trindle__runtime_process_started();
	hand_job(w, proc);
	return input;
}

TRINDLE_PUBLIC trindle_pipe_t trindle_launch(trindle_entrypoint_t entry,
		size_t queue_count, trindle_pipe_t out, trindle_pipe_t err)
{
	return trindle__launch_with(entry, queue_count, out, err, NULL);
}

void trindle__request_stop(struct pipe *input)
{
	atomic_store_explicit(&input->stop_requested, true,
			memory_order_seq_cst);
	struct holder *r = trindle__pipe_receiver(input);
	if (r)
		trindle__holder_wake(r);
}

static TRINDLE_NORETURN void finish(trindle_object_t final,
		enum final_target target)
{
	struct process *p = trindle__current();

	if (p && !p->root && tls_worker && tls_worker->running)
		worker_finish(p, final, target);
	/* A root process: release everything and end the thread. */
	if (p) {
		trindle__process_end(p, NULL, FINAL_NONE);
		trindle__set_current(NULL);
		trindle__runtime_root_ended(p);
		trindle__process_free(p);
		trindle__wait_thread_ended();
	}
	pthread_exit(NULL);
}

TRINDLE_PUBLIC void trindle_exit(trindle_object_t output)
{
	finish(output, FINAL_OUT);
}

TRINDLE_PUBLIC void trindle_abort(trindle_object_t report)
{
	finish(report, FINAL_ERR);
}
