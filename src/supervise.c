/* SPDX-License-Identifier: MIT */
/*
 * supervise.c - supervisors (<trindle/supervise.h>): workers that restart
 * their children by policy.  This file holds the public calls: checking a
 * spec, starting the top supervisor and taking the tree's mailboxes from
 * it, and asking it to stop.  How a tree works, and the modules that
 * carry it out, are described in supervise.h.
 *
 * Level: calls (docs/design.md).  It calls the other supervise*.c modules
 * and the public API; nothing in the library calls it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "compiler.h"
#include "supervise.h"
#include "trindle.h"
#include "trindle/supervise.h"
#include "trindle/util.h"

/* ---- the public calls ---------------------------------------------------- */

static bool sendable(trindle_pipe_t pipe)
{
	return !pipe || (trindle_access(pipe) & TRINDLE_ACCESS_SEND);
}

/* Takes the n mailboxes the top supervisor shares through reply into
 * mailboxes[], counting them in *got; 0 or -ENOMEM. */
static int take_mailboxes(trindle_pipe_t reply, trindle_pipe_t mailboxes[],
		size_t n, size_t *got)
{
	for (; *got < n; ++*got) {
		trindle_message_t m;
		int r = trindle_util_receive(reply, &m, -1);
		if (r < 0 || (r == 1 && m.content == NULL)) {
			--*got; /* a notice: not a mailbox */
			continue;
		}
		if (r == 0)
			return -ENOMEM; /* it could not make them: it ended */
		mailboxes[*got] = m.content;
	}
	return 0;
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
	trindle_pipe_t top = seg ? trindle_launch(trindle__sup_main, n + 4,
			out, err) : NULL;
	int e = top ? 0 : seg ? -errno : -ENOMEM;
	/* Its input is new and has room for all three: should one fail
	 * (no memory), it gets no start, and ends when we let go of its
	 * input pipe. */
	if (!e && ((reports && trindle_util_send(top, reports) < 0) ||
		   trindle_util_send(top, c.reply) < 0 ||
		   trindle_util_move(top, seg) < 0))
		e = -ENOMEM;
	if (!e)
		e = take_mailboxes(c.reply, mailboxes, n, &got);
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
	trindle__sup_tree_set_top(t, top);
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

	if (trindle__sup_check_spec(spec, 0, &n) < 0 || !mailboxes ||
	    !sendable(out) || !sendable(err) || !sendable(reports))
		return trindle__fail_ptr(-EINVAL);
	struct tree *t = trindle__sup_tree_make(spec, n);
	if (!t)
		return trindle__fail_ptr(-ENOMEM);
	trindle_pipe_t top = NULL;
	int e = start_top(spec, t, out, err, reports, mailboxes, &top);
	if (e < 0) {
		trindle__sup_tree_drop(t);
		return trindle__fail_ptr(e);
	}
	return top;
}

TRINDLE_PUBLIC int trindle_supervise_stop(trindle_pipe_t supervisor)
{
	if (!supervisor || !(trindle_access(supervisor) & TRINDLE_ACCESS_SEND))
		return trindle__fail(-EINVAL);
	if (!trindle__sup_tree_has_top(supervisor))
		return trindle__fail(-EINVAL);
	trindle_segment_t seg = trindle__sup_command_new(COMMAND_STOP, NULL,
			NULL, 0, false, NULL);
	if (!seg)
		return trindle__fail(-ENOMEM);
	if (trindle_util_move(supervisor, seg) < 0) {
		int e = errno == EPIPE ? EINVAL : errno;
		trindle_util_release(seg);
		return trindle__fail(-e);
	}
	return 0;
}

TRINDLE_PUBLIC trindle_pipe_t trindle_supervise_mailbox(const char *name)
{
	int err;

	if (!name)
		return trindle__fail_ptr(-EINVAL);
	struct pipe *m = trindle__sup_mailbox_named(name, &err);
	return m ? (trindle_pipe_t)m : trindle__fail_ptr(err);
}
