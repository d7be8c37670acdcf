/* SPDX-License-Identifier: MIT */
/*
 * supervise_watch.c - a supervisor's children ending: asking them to stop,
 * waiting on their watch pipes (and its input pipe) in one sync, and
 * taking in what arrives there, above all each child's end (its mailbox
 * or control pipe, brought back by its keeper).
 *
 * Calls supervise_tree.c, supervise_report.c, launch's
 * trindle__request_stop and the public API (see supervise.h for the
 * modules' order).
 */
#include <errno.h>
#include <string.h>

#include "launch.h"
#include "pipe.h"
#include "supervise.h"
#include "trindle.h"
#include "trindle/util.h"

/* While reports wait for room, a supervisor wakes this often to retry. */
#define BACKLOG_RETRY_NS 1000000

/* Asks child k to end, at its next sync. */
static void stop_child(struct sup *s, struct child *k)
{
	if (k->spec->supervisor) {
		trindle_segment_t c = trindle__sup_command_new(COMMAND_STOP, s,
				NULL, 0, false, NULL);
		if (c && trindle_util_move(k->box, c) < 0)
			trindle_util_release(c);
	} else {
		trindle__request_stop(k->box);
	}
	k->state = CHILD_STOPPING;
}

/* Child k's end arrived: what it sent to err tells about a fault. */
static void note_end(struct child *k)
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

/* A message on child k's watch pipe: true when it is k's end. */
bool trindle__sup_on_watch(struct sup *s, struct child *k, trindle_object_t o)
{
	if (k->box && o == k->box) {
		note_end(k);
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
 * One sync: receives on the supervisor's input pipe if with_input, and on
 * the watch pipes of its stopping children, and of its running ones too
 * unless only_stopping; stores up to cap messages in in[].  Returns how
 * many; -1 when nothing was requested or nothing can come any more.
 */
long trindle__sup_wait(struct sup *s, bool with_input, bool only_stopping,
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
	trindle__sup_reports_flush(s);
	return (long)ib.count;
}

struct child *trindle__sup_kid_of_watch(struct sup *s, trindle_pipe_t watch)
{
	for (size_t i = 0; i < s->spec->count; i++)
		if (s->kids[i].watch == watch)
			return &s->kids[i];
	return NULL;
}

/* A notice, or a message nobody expects (let go of). */
void trindle__sup_on_other(struct sup *s, const trindle_message_t *m)
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
		long got = trindle__sup_wait(s, false, true, in, 16);
		if (got < 0)
			return;
		for (long j = 0; j < got; j++) {
			struct child *k = in[j].content ?
				trindle__sup_kid_of_watch(s, in[j].address) :
				NULL;
			if (!k) {
				trindle__sup_on_other(s, &in[j]);
				continue;
			}
			if (trindle__sup_on_watch(s, k, in[j].content))
				k->state = CHILD_DOWN;
		}
	}
}

/* Stops the running children in sel (all when sel is NULL), last started
 * first, and waits for their ends; each end is reported. */
void trindle__sup_stop_children(struct sup *s, const bool *sel,
		bool restarted, bool gave_up, bool *stopped)
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
			trindle__sup_report(s, &s->kids[i], restarted, gave_up);
}
