/* SPDX-License-Identifier: MIT */
/*
 * supervise_start.c - a supervisor's start, before it starts any child:
 * waiting for its start command and all that command names, the top
 * supervisor's making and sharing of the tree's mailboxes, and setting up
 * its state (struct sup) from the command.
 *
 * Calls supervise_tree.c and the public API (see supervise.h for the
 * modules' order).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "supervise.h"
#include "trindle.h"
#include "trindle/util.h"

#define WATCH_ITEMS 4

/* Does this supervisor hold all it needs to start: SEND on reports and
 * on the reply pipe (the top one), RECEIVE on its workers' mailboxes (a
 * nested one)? */
static bool ready(const struct command *c)
{
	size_t n = trindle__sup_count_leaves(c->spec);

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
bool trindle__sup_await_start(trindle_pipe_t input, struct command *c)
{
	bool have = false;

	for (;;) {
		trindle_message_t m;
		if (trindle_util_receive(input, &m, -1) <= 0)
			return false;
		if (m.address == input && m.content &&
		    !(trindle_access(m.content) & TRINDLE_ACCESS_SEND)) {
			struct command got;
			if (!have &&
			    trindle__sup_command_read(m.content, &got) &&
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
bool trindle__sup_make_mailboxes(trindle_pipe_t input, const struct command *c)
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
	trindle__sup_tree_set_mailboxes(t, made_pipes);
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

/* 0, or -ENOMEM; either way s is one wind_down() can take. */
int trindle__sup_setup(struct sup *s, const struct command *c,
		trindle_pipe_t input)
{
	const trindle_supervisor_spec_t *spec = c->spec;
	size_t leaf = c->first_leaf;

	memset(s, 0, sizeof(*s));
	s->spec = spec;
	s->tree = c->tree;
	s->first_leaf = c->first_leaf;
	s->nleaves = trindle__sup_count_leaves(spec);
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
			trindle__sup_count_leaves(k->spec->supervisor) : 1;
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
