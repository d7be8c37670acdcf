/* SPDX-License-Identifier: MIT */
/*
 * supervise_loop.c - a supervisor's life: starting its children (workers
 * on their mailboxes, nested supervisors on a control pipe), deciding what
 * an end of a child calls for (its restart policy, the strategy, the
 * restart intensity), giving up, and ending; supervisor_main, the loop
 * that ties them together.
 *
 * Starting a nested supervisor launches supervisor_main, so the starting
 * of children lives here with the loop rather than in supervise_watch.c:
 * the modules stay free of call cycles.  Calls every other supervise*.c
 * module but supervise.c, launch's trindle__launch_with and the public
 * API (see supervise.h for the modules' order).
 */
#include <errno.h>
#include <stdlib.h>

#include "compiler.h"
#include "launch.h"
#include "supervise.h"
#include "trindle.h"
#include "trindle/util.h"
#include "wait.h"

/* ---- starting children ------------------------------------------------- */

/* Launches a nested supervisor for k and hands it its subtree. */
static int start_nested(struct sup *s, struct child *k)
{
	struct launch_options o = { .input = NULL, .keeper = k->watch };
	trindle_pipe_t ctl = trindle__launch_with(trindle__sup_main,
			k->nleaves + 4, s->out, k->watch, &o);
	if (!ctl)
		return -errno;
	trindle_name(ctl, k->spec->name);
	k->box = ctl;
	trindle_segment_t c = trindle__sup_command_new(COMMAND_START, s,
			k->spec->supervisor, k->first_leaf, true, k->watch);
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
		if (!trindle__launch_with(trindle__sup_child_main,
				k->spec->queue_count, s->out, k->watch, &o))
			e = -errno;
	}
	if (e < 0)
		return e;
	k->state = CHILD_RUNNING;
	k->started = ++s->start_clock;
	k->ended_by = TRINDLE_END_NONE;
	return 0;
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
	trindle__sup_reports_flush(s);
	for (size_t i = 0; i < s->nbacklog; i++)
		trindle_util_release(s->backlog[i]);
	if (!s->nested)
		trindle__sup_tree_drop(s->tree);
	free(s->kids);
	free(s->stamps);
}

static TRINDLE_NORETURN void stop_all_and_exit(struct sup *s)
{
	bool stopped[s->spec->count];

	trindle__sup_stop_children(s, NULL, false, false, stopped);
	wind_down(s);
	trindle_exit(NULL);
}

static TRINDLE_NORETURN void give_up(struct sup *s)
{
	bool stopped[s->spec->count];

	trindle__sup_stop_children(s, NULL, false, true, stopped);
	trindle__sup_report(s, NULL, false, true);
	trindle_segment_t own = trindle__sup_report_new(s, NULL, false, true);
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
			trindle__sup_report(s, k, false, true);
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
		trindle__sup_report(s, k, false, false);
		return;
	}
	if (!within_intensity(s)) {
		trindle__sup_report(s, k, false, true);
		give_up(s);
	}
	trindle__sup_report(s, k, true, false);
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
	trindle__sup_stop_children(s, sel, true, false, group);
	group[at] = true;
	start_group(s, group, true);
}

/* ---- the supervisor ------------------------------------------------------ */

/* A message through the input pipe, in the main loop. */
static void on_input(struct sup *s, trindle_object_t o)
{
	struct command c = { 0 };

	if (!(trindle_access(o) & TRINDLE_ACCESS_SEND) &&
	    trindle__sup_command_read(o, &c) && c.kind == COMMAND_STOP) {
		trindle_util_release(o);
		stop_all_and_exit(s);
	}
	trindle_util_release(o);
}

void trindle__sup_main(trindle_pipe_t input)
{
	struct command c = { 0 };
	struct sup s;

	if (!trindle__sup_await_start(input, &c))
		return;
	if (!c.nested && !trindle__sup_make_mailboxes(input, &c))
		return;
	if (trindle__sup_setup(&s, &c, input) < 0) {
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
		long got = trindle__sup_wait(&s, true, false, in, 1);
		if (got < 0)
			stop_all_and_exit(&s); /* nothing can come any more */
		for (long j = 0; j < got; j++) {
			trindle_message_t *m = &in[j];
			struct child *k = m->content && m->address ?
				trindle__sup_kid_of_watch(&s, m->address) :
				NULL;
			if (k && k->state != CHILD_DOWN) {
				if (trindle__sup_on_watch(&s, k, m->content))
					on_end(&s, k);
			} else if (m->content && m->address == input) {
				on_input(&s, m->content);
			} else {
				trindle__sup_on_other(&s, m);
			}
		}
	}
}
