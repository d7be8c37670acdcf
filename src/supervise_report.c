/* SPDX-License-Identifier: MIT */
/*
 * supervise_report.c - a supervisor's reports (trindle_supervisor_report_t):
 * building one per end of a child (or its own giving up), and sending them
 * to the reports pipe as it has room.  A reports pipe that is full holds
 * up nothing: reports wait in a backlog of MAX_BACKLOG, the oldest lost
 * first, and the supervisor retries while it waits for its children.
 *
 * Calls only the public API (see supervise.h for the modules' order).
 */
#include <errno.h>
#include <string.h>

#include "supervise.h"
#include "trindle.h"
#include "trindle/util.h"

static void copy_name(char dst[TRINDLE_NAME_MAX], const char *src)
{
	memset(dst, 0, TRINDLE_NAME_MAX);
	if (src)
		strncpy(dst, src, TRINDLE_NAME_MAX - 1);
}

/* Sends what waits in the backlog, oldest first, while reports has room. */
void trindle__sup_reports_flush(struct sup *s)
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

trindle_segment_t trindle__sup_report_new(struct sup *s,
		const struct child *k, bool restarted, bool gave_up)
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
void trindle__sup_report(struct sup *s, const struct child *k,
		bool restarted, bool gave_up)
{
	if (!s->reports)
		return;
	trindle_segment_t r = trindle__sup_report_new(s, k, restarted, gave_up);
	if (!r)
		return; /* no memory: this report is lost */
	if (s->nbacklog == MAX_BACKLOG) {
		trindle_util_release(s->backlog[0]);
		memmove(s->backlog, s->backlog + 1,
				(MAX_BACKLOG - 1) * sizeof(s->backlog[0]));
		s->nbacklog--;
	}
	s->backlog[s->nbacklog++] = r;
	trindle__sup_reports_flush(s);
}
