/* SPDX-License-Identifier: MIT */
/*
 * supervise.c - supervisors (<trindle/supervise.h>): workers that restart
 * their children by policy.
 *
 * A tree's mailboxes are made once, by the top supervisor, which shares
 * them with trindle_supervise()'s caller through a reply pipe and waits
 * for that pipe's death (the caller has filled in mailboxes[]) before it
 * starts any child.  A supervisor
 * S launches child i on its mailbox with trindle__launch_with(), naming a
 * pipe of its own, watch[i], as the child's err pipe and keeper: a fault
 * or abort report, then at the child's end the mailbox itself (RECEIVE,
 * queue intact, ended_by set) arrive on watch[i], in that order.  The
 * mailbox's arrival is the end; S decides and relaunches on the same
 * mailbox.  A nested supervisor is a child whose input is a control pipe
 * of its own (made per incarnation): S sends it a command segment, SEND on
 * the reports pipe and its subtree's mailboxes as pipe moves (the
 * receive right, queue intact); at its end (stopped, or given up) it
 * moves them back into its err pipe, watch[i], before its keeper brings
 * the control pipe.
 *
 * A child does not start with entry but with child_main, which finds its
 * tree by its mailbox in a registry and takes SEND on every mailbox of
 * the tree (its own thread fills its own capability table, as the rules
 * of process.h want), then calls entry.
 *
 * Level: calls (docs/design.md).  It calls launch, process, pipe and cap
 * internals and the public API; nothing in the library calls it.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "cap.h"
#include "code.h"
#include "compiler.h"
#include "launch.h"
#include "pipe.h"
#include "process.h"
#include "trindle.h"
#include "trindle/supervise.h"
#include "trindle/util.h"
#include "wait.h"

#define MAX_DEPTH 8
#define MAX_LEAVES 4096
#define MAX_BACKLOG 64
#define MAX_INTENSITY 65536 /* restarts a period may count (a ring of them) */
#define WATCH_ITEMS 4
#define COMMAND_MAGIC 0x7472696e646c6553ull /* "trindleS" */
/* While reports wait for room, a supervisor wakes this often to retry. */
#define BACKLOG_RETRY_NS 1000000

/* One worker of a tree: its mailbox and what it runs. */
struct leaf {
	struct pipe *mailbox;     /* made by the top supervisor */
	trindle_entrypoint_t entry;
	const char *name;
	size_t queue_count;
};

/* What the supervisors of one tree share: its workers in tree order.
 * Listed in the registry from before the top supervisor starts until it
 * ends, which is after every child of the tree ended; only then freed. */
struct tree {
	struct tree *next;
	trindle_pipe_t top;       /* the top supervisor's input pipe */
	size_t nleaves;
	struct leaf leaves[];
};

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct tree *registry;

enum command_kind {
	COMMAND_START = 1,
	COMMAND_STOP = 2,
};

/* A segment moved to a supervisor's input pipe. */
struct command {
	uint64_t magic;
	int kind;
	const trindle_supervisor_spec_t *spec; /* START: */
	struct tree *tree;
	size_t first_leaf;        /* its first worker in tree->leaves */
	bool nested;              /* its err pipe is its parent's watch */
	trindle_pipe_t out, err, reports;
	trindle_pipe_t reply;     /* the top's: where its mailboxes go */
};

/* ---- specs ------------------------------------------------------------- */

static int check_spec(const trindle_supervisor_spec_t *spec, int depth,
		size_t *leaves);

static int check_child(const trindle_child_spec_t *c, int depth,
		size_t *leaves)
{
	if ((unsigned)c->restart > TRINDLE_RESTART_NEVER)
		return -EINVAL;
	if (!c->entry == !c->supervisor)
		return -EINVAL;
	if (c->supervisor)
		return check_spec(c->supervisor, depth + 1, leaves);
	if (!c->queue_count || !trindle__code_contains((const void *)c->entry))
		return -EINVAL;
	if (++*leaves > MAX_LEAVES)
		return -EINVAL;
	return 0;
}

/* 0 if spec is one trindle_supervise() takes; adds its workers to *leaves. */
static int check_spec(const trindle_supervisor_spec_t *spec, int depth,
		size_t *leaves)
{
	if (!spec || depth > MAX_DEPTH || !spec->count || !spec->children ||
	    (unsigned)spec->strategy > TRINDLE_ONE_FOR_ALL ||
	    (spec->period_ms && spec->max_restarts > MAX_INTENSITY))
		return -EINVAL;
	for (size_t i = 0; i < spec->count; i++) {
		int e = check_child(&spec->children[i], depth, leaves);
		if (e < 0)
			return e;
	}
	return 0;
}

static size_t count_leaves(const trindle_supervisor_spec_t *spec)
{
	size_t n = 0;

	for (size_t i = 0; i < spec->count; i++) {
		const trindle_child_spec_t *c = &spec->children[i];
		n += c->supervisor ? count_leaves(c->supervisor) : 1;
	}
	return n;
}

static void copy_name(char dst[TRINDLE_NAME_MAX], const char *src)
{
	memset(dst, 0, TRINDLE_NAME_MAX);
	if (src)
		strncpy(dst, src, TRINDLE_NAME_MAX - 1);
}

/* ---- the children's entrypoint ----------------------------------------- */

/* Runs in the child: takes SEND on every mailbox of its tree, then runs
 * the child's entry.  The tree outlives every child (see struct tree). */
static void child_main(trindle_pipe_t input)
{
	struct process *p = trindle__current();
	trindle_entrypoint_t entry = NULL;

	pthread_mutex_lock(&registry_lock);
	for (struct tree *t = registry; t && !entry; t = t->next) {
		size_t i;
		for (i = 0; i < t->nleaves; i++)
			if (t->leaves[i].mailbox == input)
				break;
		if (i == t->nleaves)
			continue;
		entry = t->leaves[i].entry;
		if (!p || trindle__process_reserve_caps(p, t->nleaves) < 0) {
			entry = NULL;
			break;
		}
		for (size_t j = 0; j < t->nleaves; j++) {
			struct pipe *m = t->leaves[j].mailbox;
			if (trindle__cap_find(&p->caps, m) ||
			    !trindle__pipe_grant(m, &p->holder))
				continue;
			trindle__cap_insert(&p->caps, m, &m->obj,
					TRINDLE_ACCESS_SEND);
		}
	}
	pthread_mutex_unlock(&registry_lock);
	if (!entry)
		trindle_abort(NULL); /* no memory for its holds: a failure */
	entry(input);
}

static void supervisor_main(trindle_pipe_t input);
static void unlist(struct tree *t);

/* ---- a supervisor's state ---------------------------------------------- */

enum child_state {
	CHILD_DOWN = 0,
	CHILD_RUNNING,
	CHILD_STOPPING, /* asked to end; its end is awaited */
};

struct child {
	const trindle_child_spec_t *spec;
	trindle_pipe_t box;       /* a worker: its mailbox; a nested
	                           * supervisor: its control pipe (or NULL) */
	trindle_pipe_t watch;     /* its err pipe and keeper */
	size_t first_leaf, nleaves;
	enum child_state state;
	uint64_t started;         /* start order, for stopping last first */
	uint32_t restarts;
	trindle_object_t last_err; /* the last object it sent to err */
	int ended_by;             /* of its last end */
	trindle_fault_t fault;    /* of its last end, if a fault */
};

struct sup {
	const trindle_supervisor_spec_t *spec;
	struct tree *tree;
	size_t first_leaf, nleaves; /* its workers in tree->leaves */
	bool nested;
	trindle_pipe_t self, out, err, reports;
	struct child *kids;
	uint64_t start_clock;
	/* The times of the last max_restarts + 1 restarts (a ring). */
	int64_t *stamps;
	size_t nstamps, stamp_next;
	trindle_segment_t backlog[MAX_BACKLOG];
	size_t nbacklog;
};

/* ---- reports ------------------------------------------------------------ */

/* Sends what waits in the backlog, oldest first, while reports has room. */
static void flush_reports(struct sup *s)
{
	size_t sent = 0;

	while (sent < s->nbacklog) {
		if (trindle_util_move(s->reports, s->backlog[sent]) < 0) {
			if (errno == EAGAIN || errno == ENOMEM)
				break;
			/* reports is gone: nobody will read them. */
			for (size_t i = sent; i < s->nbacklog; i++)
				trindle_util_release(s->backlog[i]);
			s->reports = NULL;
			sent = s->nbacklog;
			break;
		}
		sent++;
	}
	memmove(s->backlog, s->backlog + sent,
			(s->nbacklog - sent) * sizeof(s->backlog[0]));
	s->nbacklog -= sent;
}

static trindle_segment_t new_report(struct sup *s, const struct child *k,
		bool restarted, bool gave_up)
{
	trindle_supervisor_report_t r;

	memset(&r, 0, sizeof(r));
	copy_name(r.supervisor, s->spec->name);
	if (k) {
		copy_name(r.child, k->spec->name);
		r.mailbox = k->spec->supervisor ? NULL : k->box;
		r.ended_by = k->ended_by;
		r.restarts = k->restarts;
		if (k->ended_by == TRINDLE_END_FAULT)
			r.fault = k->fault;
	}
	r.restarted = restarted;
	r.gave_up = gave_up;
	trindle_buffer_t b = { sizeof(r), &r };
	return trindle_allocate(1, &b);
}

/* Queues a report on child k's end (k NULL: the give-up) for reports. */
static void report(struct sup *s, const struct child *k, bool restarted,
		bool gave_up)
{
	if (!s->reports)
		return;
	trindle_segment_t r = new_report(s, k, restarted, gave_up);
	if (!r)
		return; /* no memory: this report is lost */
	if (s->nbacklog == MAX_BACKLOG) {
		trindle_util_release(s->backlog[0]);
		memmove(s->backlog, s->backlog + 1,
				(MAX_BACKLOG - 1) * sizeof(s->backlog[0]));
		s->nbacklog--;
	}
	s->backlog[s->nbacklog++] = r;
	flush_reports(s);
}

/* ---- starting and stopping children ------------------------------------- */

static trindle_segment_t new_command(int kind, const struct sup *s,
		const trindle_supervisor_spec_t *spec, size_t first_leaf,
		bool nested, trindle_pipe_t err)
{
	struct command c;

	memset(&c, 0, sizeof(c));
	c.magic = COMMAND_MAGIC;
	c.kind = kind;
	if (kind == COMMAND_START) {
		c.spec = spec;
		c.tree = s->tree;
		c.first_leaf = first_leaf;
		c.nested = nested;
		c.out = s->out;
		c.err = err;
		c.reports = s->reports;
	}
	trindle_buffer_t b = { sizeof(c), &c };
	return trindle_allocate(1, &b);
}

/* Launches a nested supervisor for k and hands it its subtree. */
static int start_nested(struct sup *s, struct child *k)
{
	struct launch_options o = { .input = NULL, .keeper = k->watch };
	trindle_pipe_t ctl = trindle__launch_with(supervisor_main,
			k->nleaves + 4, s->out, k->watch, &o);
	if (!ctl)
		return -errno;
	trindle_name(ctl, k->spec->name);
	k->box = ctl;
	trindle_segment_t c = new_command(COMMAND_START, s, k->spec->supervisor,
			k->first_leaf, true, k->watch);
	/* The control pipe is new and has room for all of this.  Should a
	 * step fail (no memory), the nested supervisor, missing its start,
	 * ends when this one lets go of its control pipe, and its keeper
	 * brings the pipe back: it is seen as a child that ended. */
	if (s->reports)
		(void)trindle_util_send(ctl, s->reports);
	if (!c || trindle_util_move(ctl, c) < 0) {
		if (c)
			trindle_util_release(c);
		trindle_util_release(ctl);
		return 0;
	}
	for (size_t i = 0; i < k->nleaves; i++) {
		struct pipe *m = s->tree->leaves[k->first_leaf + i].mailbox;
		(void)trindle_util_move(ctl, m);
	}
	return 0;
}

/* Starts child k (again): 0, or a negative errno when it could not be. */
static int start_child(struct sup *s, struct child *k)
{
	int e = 0;

	if (k->spec->supervisor) {
		e = start_nested(s, k);
	} else {
		struct launch_options o = { .input = k->box, .keeper = k->watch };
		if (!trindle__launch_with(child_main, k->spec->queue_count,
				s->out, k->watch, &o))
			e = -errno;
	}
	if (e < 0)
		return e;
	k->state = CHILD_RUNNING;
	k->started = ++s->start_clock;
	k->ended_by = TRINDLE_END_NONE;
	return 0;
}

/* Asks child k to end, at its next sync. */
static void stop_child(struct sup *s, struct child *k)
{
	if (k->spec->supervisor) {
		trindle_segment_t c = new_command(COMMAND_STOP, s, NULL, 0,
				false, NULL);
		if (c && trindle_util_move(k->box, c) < 0)
			trindle_util_release(c);
	} else {
		trindle__request_stop(k->box);
	}
	k->state = CHILD_STOPPING;
}

/* Child k's end arrived: what it sent to err tells about a fault. */
static void note_end(struct sup *s, struct child *k)
{
	trindle_object_t last = k->last_err;

	k->last_err = NULL;
	k->ended_by = atomic_load_explicit(&((struct pipe *)k->box)->ended_by,
			memory_order_acquire);
	memset(&k->fault, 0, sizeof(k->fault));
	if (last && k->ended_by == TRINDLE_END_FAULT &&
	    trindle_measure(last) >= sizeof(trindle_fault_t) &&
	    (trindle_access(last) & TRINDLE_ACCESS_READ))
		memcpy(&k->fault, last, sizeof(k->fault));
	if (last)
		trindle_util_release(last);
	if (k->spec->supervisor) {
		/* Its control pipe came back: it served that incarnation. */
		trindle_util_release(k->box);
		k->box = NULL;
	}
}

/* ---- waiting ------------------------------------------------------------ */

/* A message on child k's watch pipe: true when it is k's end. */
static bool on_watch(struct sup *s, struct child *k, trindle_object_t o)
{
	if (k->box && o == k->box) {
		note_end(s, k);
		return true;
	}
	if (k->spec->supervisor) {
		/* Its subtree's mailboxes, coming back: held again here. */
		for (size_t i = 0; i < k->nleaves; i++)
			if (o == s->tree->leaves[k->first_leaf + i].mailbox)
				return false;
	}
	if (k->last_err)
		trindle_util_release(k->last_err);
	k->last_err = o;
	return false;
}

/*
 * One sync: receives on the watch pipes of the children in state want
 * (CHILD_RUNNING: those running or stopping, and the input pipe too) and
 * stores up to cap messages in in[].  Returns how many; -1 when nothing
 * was requested or nothing can come any more.
 */
static long wait_some(struct sup *s, bool with_input, bool only_stopping,
		trindle_message_t *in, size_t cap)
{
	const trindle_supervisor_spec_t *spec = s->spec;
	trindle_message_t out[spec->count + 1];
	size_t n = 0;

	if (with_input)
		out[n++] = (trindle_message_t){ s->self, NULL };
	for (size_t i = 0; i < spec->count; i++) {
		struct child *k = &s->kids[i];
		if (k->state == CHILD_STOPPING ||
		    (!only_stopping && k->state == CHILD_RUNNING))
			out[n++] = (trindle_message_t){ k->watch, NULL };
	}
	if (!n)
		return -1;
	trindle_mailbox_t ob = { n, out }, ib = { cap, in };
	int64_t timeout = s->nbacklog ? BACKLOG_RETRY_NS : -1;
	if (trindle_sync_timeout(&ob, &ib, timeout) < 0)
		return -1;
	if (!ib.count && timeout < 0)
		return -1;
	flush_reports(s);
	return (long)ib.count;
}

static struct child *kid_of_watch(struct sup *s, trindle_pipe_t watch)
{
	for (size_t i = 0; i < s->spec->count; i++)
		if (s->kids[i].watch == watch)
			return &s->kids[i];
	return NULL;
}

/* A notice, or a message nobody expects (let go of). */
static void on_other(struct sup *s, const trindle_message_t *m)
{
	if (m->address && m->content) {
		trindle_util_release(m->content);
		return;
	}
	if (m->address && !m->content && m->address == s->reports) {
		for (size_t i = 0; i < s->nbacklog; i++)
			trindle_util_release(s->backlog[i]);
		s->nbacklog = 0;
		s->reports = NULL;
	}
}

/* Waits until no child is CHILD_STOPPING.  Messages on other pipes stay
 * queued for the main loop. */
static void await_stopped(struct sup *s)
{
	trindle_message_t in[16];

	for (;;) {
		long got = wait_some(s, false, true, in, 16);
		if (got < 0)
			return;
		for (long j = 0; j < got; j++) {
			struct child *k = in[j].content ?
				kid_of_watch(s, in[j].address) : NULL;
			if (!k) {
				on_other(s, &in[j]);
				continue;
			}
			if (on_watch(s, k, in[j].content))
				k->state = CHILD_DOWN;
		}
	}
}

/* Stops the running children in sel (all when sel is NULL), last started
 * first, and waits for their ends; each end is reported. */
static void stop_children(struct sup *s, const bool *sel, bool restarted,
		bool gave_up, bool *stopped)
{
	size_t n = s->spec->count;

	for (;;) {
		struct child *last = NULL;
		for (size_t i = 0; i < n; i++) {
			struct child *k = &s->kids[i];
			if (k->state == CHILD_RUNNING && (!sel || sel[i]) &&
			    (!last || k->started > last->started))
				last = k;
		}
		if (!last)
			break;
		stop_child(s, last);
	}
	for (size_t i = 0; i < n; i++)
		stopped[i] = s->kids[i].state == CHILD_STOPPING;
	await_stopped(s);
	for (size_t i = 0; i < n; i++)
		if (stopped[i])
			report(s, &s->kids[i], restarted, gave_up);
}

/* ---- ending ------------------------------------------------------------- */

/* Lets go of everything but the mailboxes, which a nested supervisor
 * moves to its parent and the top one takes with it (they die). */
static void wind_down(struct sup *s)
{
	if (s->nested) {
		/* err (the parent's watch pipe) has room for them all. */
		for (size_t i = 0; i < s->nleaves; i++) {
			struct pipe *m = s->tree->leaves[s->first_leaf + i].mailbox;
			if (trindle_access(m) & TRINDLE_ACCESS_RECEIVE)
				(void)trindle_util_move(s->err, m);
		}
	}
	for (size_t i = 0; s->kids && i < s->spec->count; i++) {
		struct child *k = &s->kids[i];
		if (k->last_err)
			trindle_util_release(k->last_err);
		if (k->watch)
			trindle_util_release(k->watch);
	}
	/* Reports still waiting for room: one last try, then they go. */
	flush_reports(s);
	for (size_t i = 0; i < s->nbacklog; i++)
		trindle_util_release(s->backlog[i]);
	if (!s->nested) {
		unlist(s->tree);
		free(s->tree);
	}
	free(s->kids);
	free(s->stamps);
}

static TRINDLE_NORETURN void stop_all_and_exit(struct sup *s)
{
	bool stopped[s->spec->count];

	stop_children(s, NULL, false, false, stopped);
	wind_down(s);
	trindle_exit(NULL);
}

static TRINDLE_NORETURN void give_up(struct sup *s)
{
	bool stopped[s->spec->count];

	stop_children(s, NULL, false, true, stopped);
	report(s, NULL, false, true);
	trindle_segment_t own = new_report(s, NULL, false, true);
	wind_down(s);
	trindle_abort(own);
}

/* ---- deciding ----------------------------------------------------------- */

/* Records a restart now; false when it is one too many. */
static bool within_intensity(struct sup *s)
{
	if (!s->spec->period_ms)
		return true;
	int64_t now = trindle__now_ns() / 1000000; /* ms */
	s->stamps[s->stamp_next] = now;
	s->stamp_next = (s->stamp_next + 1) % s->nstamps;
	/* The oldest of the last max_restarts + 1 restarts, this one
	 * included: if it lies within the period, there are too many. */
	int64_t oldest = s->stamps[s->stamp_next];
	return oldest < 0 || now - oldest >= (int64_t)s->spec->period_ms;
}

static bool wants_restart(const struct child *k)
{
	switch (k->spec->restart) {
	case TRINDLE_RESTART_ALWAYS:
		return true;
	case TRINDLE_RESTART_ON_FAILURE:
		return k->ended_by != TRINDLE_END_EXIT;
	default:
		return false;
	}
}

/* Starts the children in sel in spec order; a start that fails gives up. */
static void start_group(struct sup *s, const bool *sel, bool again)
{
	for (size_t i = 0; i < s->spec->count; i++) {
		struct child *k = &s->kids[i];
		if (!sel[i])
			continue;
		if (again)
			k->restarts++;
		if (start_child(s, k) < 0) {
			k->ended_by = TRINDLE_END_NONE;
			report(s, k, false, true);
			give_up(s);
		}
	}
}

/* Child k ended on its own (not asked to). */
static void on_end(struct sup *s, struct child *k)
{
	size_t n = s->spec->count, at = (size_t)(k - s->kids);
	bool sel[n], group[n];

	k->state = CHILD_DOWN;
	if (!wants_restart(k)) {
		report(s, k, false, false);
		return;
	}
	if (!within_intensity(s)) {
		report(s, k, false, true);
		give_up(s);
	}
	report(s, k, true, false);
	for (size_t i = 0; i < n; i++) {
		switch (s->spec->strategy) {
		case TRINDLE_ONE_FOR_ONE:
			sel[i] = false;
			break;
		case TRINDLE_REST_FOR_ONE:
			sel[i] = i > at;
			break;
		default:
			sel[i] = i != at;
		}
	}
	stop_children(s, sel, true, false, group);
	group[at] = true;
	start_group(s, group, true);
}

/* ---- the supervisor ------------------------------------------------------ */

/* A command segment came through the input pipe: true if it is one. */
static bool read_command(trindle_object_t o, struct command *c)
{
	if (trindle_measure(o) != sizeof(*c) ||
	    !(trindle_access(o) & TRINDLE_ACCESS_READ))
		return false;
	memcpy(c, o, sizeof(*c));
	return c->magic == COMMAND_MAGIC;
}

/* Does this supervisor hold all it needs to start: SEND on reports and
 * on the reply pipe (the top one), RECEIVE on its workers' mailboxes (a
 * nested one)? */
static bool ready(const struct command *c)
{
	size_t n = count_leaves(c->spec);

	if (c->reports && !(trindle_access(c->reports) & TRINDLE_ACCESS_SEND))
		return false;
	if (!c->nested)
		return !c->reply ||
			(trindle_access(c->reply) & TRINDLE_ACCESS_SEND);
	for (size_t i = 0; i < n; i++)
		if (!(trindle_access(c->tree->leaves[c->first_leaf + i].mailbox) &
		      TRINDLE_ACCESS_RECEIVE))
			return false;
	return true;
}

/* Takes the input pipe's messages until the start command and everything
 * it names have come.  False when they cannot come any more. */
static bool await_start(trindle_pipe_t input, struct command *c)
{
	bool have = false;

	for (;;) {
		trindle_message_t m;
		if (trindle_util_receive(input, &m, -1) <= 0)
			return false;
		if (m.address == input && m.content &&
		    !(trindle_access(m.content) & TRINDLE_ACCESS_SEND)) {
			struct command got;
			if (!have && read_command(m.content, &got) &&
			    got.kind == COMMAND_START) {
				*c = got;
				have = true;
			}
			trindle_util_release(m.content);
		}
		if (have && ready(c))
			return true;
	}
}

/*
 * The top supervisor makes the tree's mailboxes (their creator: they die
 * with it), lists them in the tree and shares each through the reply
 * pipe, in tree order; the caller writes them into mailboxes[] and then
 * lets the reply pipe die: its closure notice says the children may
 * start.  False (having let go of the reply pipe, and not touching the
 * tree again: the caller frees it) when that could not be done.
 */
static bool make_mailboxes(trindle_pipe_t input, const struct command *c)
{
	struct tree *t = c->tree;
	size_t n = t->nleaves, made = 0;
	trindle_pipe_t made_pipes[n];

	for (; made < n; made++) {
		trindle_pipe_t m = trindle_pipe(t->leaves[made].queue_count);
		if (!m)
			break;
		trindle_name(m, t->leaves[made].name);
		made_pipes[made] = m;
		if (trindle_util_send(c->reply, m) < 0) {
			trindle_util_release(m);
			break;
		}
	}
	if (made < n) {
		for (size_t i = 0; i < made; i++)
			trindle_util_release(made_pipes[i]);
		trindle_util_release(c->reply);
		return false;
	}
	pthread_mutex_lock(&registry_lock);
	for (size_t i = 0; i < n; i++)
		t->leaves[i].mailbox = made_pipes[i];
	pthread_mutex_unlock(&registry_lock);
	for (;;) {
		trindle_message_t m;
		if (trindle_util_receive(input, &m, -1) <= 0)
			return true; /* nobody can stop it: go on */
		if (m.address == c->reply && !m.content)
			return true;
		if (m.address && m.content)
			trindle_util_release(m.content);
	}
}

static int setup(struct sup *s, const struct command *c, trindle_pipe_t input)
{
	const trindle_supervisor_spec_t *spec = c->spec;
	size_t leaf = c->first_leaf;

	memset(s, 0, sizeof(*s));
	s->spec = spec;
	s->tree = c->tree;
	s->first_leaf = c->first_leaf;
	s->nleaves = count_leaves(spec);
	s->nested = c->nested;
	s->self = input;
	s->out = c->out;
	s->err = c->err;
	s->reports = c->reports;
	s->kids = calloc(spec->count, sizeof(*s->kids));
	s->nstamps = (size_t)spec->max_restarts + 1;
	s->stamps = spec->period_ms ? malloc(s->nstamps * sizeof(int64_t)) : NULL;
	if (!s->kids || (spec->period_ms && !s->stamps))
		return -ENOMEM;
	for (size_t i = 0; i < s->nstamps && s->stamps; i++)
		s->stamps[i] = -1;
	for (size_t i = 0; i < spec->count; i++) {
		struct child *k = &s->kids[i];
		k->spec = &spec->children[i];
		k->first_leaf = leaf;
		k->nleaves = k->spec->supervisor ?
			count_leaves(k->spec->supervisor) : 1;
		if (!k->spec->supervisor)
			k->box = s->tree->leaves[leaf].mailbox;
		leaf += k->nleaves;
		/* A nested supervisor moves its mailboxes back through it. */
		k->watch = trindle_pipe(WATCH_ITEMS + (k->spec->supervisor ?
					k->nleaves : 0));
		if (!k->watch)
			return -ENOMEM;
	}
	return 0;
}

/* A message through the input pipe, in the main loop. */
static void on_input(struct sup *s, trindle_object_t o)
{
	struct command c = { 0 };

	if (!(trindle_access(o) & TRINDLE_ACCESS_SEND) && read_command(o, &c) &&
	    c.kind == COMMAND_STOP) {
		trindle_util_release(o);
		stop_all_and_exit(s);
	}
	trindle_util_release(o);
}

static void supervisor_main(trindle_pipe_t input)
{
	struct command c = { 0 };
	struct sup s;

	if (!await_start(input, &c))
		return;
	if (!c.nested && !make_mailboxes(input, &c))
		return;
	if (setup(&s, &c, input) < 0) {
		/* No memory to supervise: hand back what it was given. */
		wind_down(&s);
		trindle_abort(NULL);
	}
	bool all[c.spec->count];
	for (size_t i = 0; i < c.spec->count; i++)
		all[i] = true;
	start_group(&s, all, false);

	/* One message per sync: handling one may wait for others (the ends
	 * of siblings it stops), which must not sit unread in this inbox. */
	trindle_message_t in[1];
	for (;;) {
		long got = wait_some(&s, true, false, in, 1);
		if (got < 0)
			stop_all_and_exit(&s); /* nothing can come any more */
		for (long j = 0; j < got; j++) {
			trindle_message_t *m = &in[j];
			struct child *k = m->content && m->address ?
				kid_of_watch(&s, m->address) : NULL;
			if (k && k->state != CHILD_DOWN) {
				if (on_watch(&s, k, m->content))
					on_end(&s, k);
			} else if (m->content && m->address == input) {
				on_input(&s, m->content);
			} else {
				on_other(&s, m);
			}
		}
	}
}

/* ---- the public calls ---------------------------------------------------- */

static void fill_leaves(const trindle_supervisor_spec_t *spec,
		struct tree *t, size_t *k)
{
	for (size_t i = 0; i < spec->count; i++) {
		const trindle_child_spec_t *c = &spec->children[i];
		if (c->supervisor) {
			fill_leaves(c->supervisor, t, k);
			continue;
		}
		t->leaves[*k].entry = c->entry;
		t->leaves[*k].name = c->name;
		t->leaves[*k].queue_count = c->queue_count;
		++*k;
	}
}

static bool sendable(trindle_pipe_t pipe)
{
	return !pipe || (trindle_access(pipe) & TRINDLE_ACCESS_SEND);
}

static void unlist(struct tree *t)
{
	pthread_mutex_lock(&registry_lock);
	struct tree **pp = &registry;
	while (*pp && *pp != t)
		pp = &(*pp)->next;
	if (*pp)
		*pp = t->next;
	pthread_mutex_unlock(&registry_lock);
}

/*
 * Starts the top supervisor, hands it the tree and takes the mailboxes it
 * makes into mailboxes[]; 0 or a negative errno.  Once the reply pipe
 * dies (released here, at the end) the supervisor may run, end and free
 * t, which is not touched after.
 */
static int start_top(const trindle_supervisor_spec_t *spec, struct tree *t,
		trindle_pipe_t out, trindle_pipe_t err, trindle_pipe_t reports,
		trindle_pipe_t mailboxes[], trindle_pipe_t *topp)
{
	size_t n = t->nleaves, got = 0;
	struct command c;

	memset(&c, 0, sizeof(c));
	c.magic = COMMAND_MAGIC;
	c.kind = COMMAND_START;
	c.spec = spec;
	c.tree = t;
	c.out = out;
	c.err = err;
	c.reports = reports;
	c.reply = trindle_pipe(n);
	if (!c.reply)
		return -ENOMEM;
	trindle_buffer_t b = { sizeof(c), &c };
	trindle_segment_t seg = trindle_allocate(1, &b);
	trindle_pipe_t top = seg ? trindle_launch(supervisor_main, n + 4,
			out, err) : NULL;
	int e = top ? 0 : seg ? -errno : -ENOMEM;
	/* Its input is new and has room for all three: should one fail
	 * (no memory), it gets no start, and ends when we let go of its
	 * input pipe. */
	if (!e && ((reports && trindle_util_send(top, reports) < 0) ||
		   trindle_util_send(top, c.reply) < 0 ||
		   trindle_util_move(top, seg) < 0))
		e = -ENOMEM;
	for (; !e && got < n; got++) {
		trindle_message_t m;
		int r = trindle_util_receive(c.reply, &m, -1);
		if (r < 0 || (r == 1 && m.content == NULL)) {
			got--; /* a notice: not a mailbox */
			continue;
		}
		if (r == 0) {
			e = -ENOMEM; /* it could not make them: it ended */
			break;
		}
		mailboxes[got] = m.content;
	}
	if (e < 0) {
		for (size_t i = 0; i < got; i++)
			trindle_util_release(mailboxes[i]);
		if (seg && trindle_access(seg))
			trindle_util_release(seg);
		if (top)
			trindle_util_release(top);
		trindle_util_release(c.reply);
		return e;
	}
	pthread_mutex_lock(&registry_lock);
	t->top = top;
	pthread_mutex_unlock(&registry_lock);
	*topp = top;
	trindle_util_release(c.reply); /* go */
	return 0;
}

TRINDLE_PUBLIC trindle_pipe_t trindle_supervise(
		const trindle_supervisor_spec_t *spec, trindle_pipe_t out,
		trindle_pipe_t err, trindle_pipe_t reports,
		trindle_pipe_t mailboxes[])
{
	size_t n = 0;

	if (check_spec(spec, 0, &n) < 0 || !mailboxes || !sendable(out) ||
	    !sendable(err) || !sendable(reports))
		return trindle__fail_ptr(-EINVAL);
	struct tree *t = calloc(1, sizeof(*t) + n * sizeof(t->leaves[0]));
	if (!t)
		return trindle__fail_ptr(-ENOMEM);
	t->nleaves = n;
	size_t k = 0;
	fill_leaves(spec, t, &k);
	/* Listed before any child can look for it. */
	pthread_mutex_lock(&registry_lock);
	t->next = registry;
	registry = t;
	pthread_mutex_unlock(&registry_lock);
	trindle_pipe_t top = NULL;
	int e = start_top(spec, t, out, err, reports, mailboxes, &top);
	if (e < 0) {
		unlist(t);
		free(t);
		return trindle__fail_ptr(e);
	}
	return top;
}

TRINDLE_PUBLIC int trindle_supervise_stop(trindle_pipe_t supervisor)
{
	bool found = false;

	if (!supervisor || !(trindle_access(supervisor) & TRINDLE_ACCESS_SEND))
		return trindle__fail(-EINVAL);
	pthread_mutex_lock(&registry_lock);
	for (struct tree *t = registry; t; t = t->next)
		if (t->top == supervisor)
			found = true;
	pthread_mutex_unlock(&registry_lock);
	if (!found)
		return trindle__fail(-EINVAL);
	struct command c;
	memset(&c, 0, sizeof(c));
	c.magic = COMMAND_MAGIC;
	c.kind = COMMAND_STOP;
	trindle_buffer_t b = { sizeof(c), &c };
	trindle_segment_t seg = trindle_allocate(1, &b);
	if (!seg)
		return trindle__fail(-ENOMEM);
	if (trindle_util_move(supervisor, seg) < 0) {
		int e = errno == EPIPE ? EINVAL : errno;
		trindle_util_release(seg);
		return trindle__fail(-e);
	}
	return 0;
}
