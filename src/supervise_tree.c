/* SPDX-License-Identifier: MIT */
/*
 * supervise_tree.c - what every supervisor of a tree, and every child,
 * looks up: the checks of a spec, the registry of trees (a child finds its
 * tree there by its mailbox), the children's entrypoint, and the command
 * segments supervisors are sent.
 *
 * The bottom of the supervise*.c modules (see supervise.h): it calls
 * cap, process, pipe and code internals and the public API, none of the
 * other supervise*.c files.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "cap.h"
#include "code.h"
#include "pipe.h"
#include "process.h"
#include "supervise.h"
#include "trindle.h"

#define MAX_DEPTH 8
#define MAX_LEAVES 4096
#define MAX_INTENSITY 65536 /* restarts a period may count (a ring of them) */

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct tree *registry;

/* ---- specs ------------------------------------------------------------- */

static int check_child(const trindle_child_spec_t *c, int depth,
		size_t *leaves)
{
	if ((unsigned)c->restart > TRINDLE_RESTART_NEVER)
		return -EINVAL;
	if (!c->entry == !c->supervisor)
		return -EINVAL;
	if (c->supervisor)
		return trindle__sup_check_spec(c->supervisor, depth + 1,
				leaves);
	if (!c->queue_count || !trindle__code_contains((const void *)c->entry))
		return -EINVAL;
	if (++*leaves > MAX_LEAVES)
		return -EINVAL;
	return 0;
}

/* 0 if spec is one trindle_supervise() takes; adds its workers to *leaves. */
int trindle__sup_check_spec(const trindle_supervisor_spec_t *spec, int depth,
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

size_t trindle__sup_count_leaves(const trindle_supervisor_spec_t *spec)
{
	size_t n = 0;

	for (size_t i = 0; i < spec->count; i++) {
		const trindle_child_spec_t *c = &spec->children[i];
		n += c->supervisor ?
			trindle__sup_count_leaves(c->supervisor) : 1;
	}
	return n;
}

/* ---- the registry ------------------------------------------------------ */

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

struct tree *trindle__sup_tree_make(const trindle_supervisor_spec_t *spec,
		size_t nleaves)
{
	struct tree *t = calloc(1, sizeof(*t) + nleaves * sizeof(t->leaves[0]));
	if (!t)
		return NULL;
	t->nleaves = nleaves;
	size_t k = 0;
	fill_leaves(spec, t, &k);
	/* Listed before any child can look for it. */
	pthread_mutex_lock(&registry_lock);
	t->next = registry;
	registry = t;
	pthread_mutex_unlock(&registry_lock);
	return t;
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

void trindle__sup_tree_drop(struct tree *t)
{
	unlist(t);
	free(t);
}

void trindle__sup_tree_set_top(struct tree *t, trindle_pipe_t top)
{
	pthread_mutex_lock(&registry_lock);
	t->top = top;
	pthread_mutex_unlock(&registry_lock);
}

bool trindle__sup_tree_has_top(trindle_pipe_t top)
{
	bool found = false;

	pthread_mutex_lock(&registry_lock);
	for (struct tree *t = registry; t; t = t->next)
		if (t->top == top)
			found = true;
	pthread_mutex_unlock(&registry_lock);
	return found;
}

void trindle__sup_tree_set_mailboxes(struct tree *t,
		const trindle_pipe_t mailboxes[])
{
	pthread_mutex_lock(&registry_lock);
	for (size_t i = 0; i < t->nleaves; i++)
		t->leaves[i].mailbox = mailboxes[i];
	pthread_mutex_unlock(&registry_lock);
}

/* ---- the children's entrypoint ----------------------------------------- */

/* The tree one of whose workers has mailbox as its mailbox, with that
 * worker's index in *leaf; NULL if no tree has it.  registry_lock held. */
static struct tree *tree_of(const void *mailbox, size_t *leaf)
{
	for (struct tree *t = registry; t; t = t->next)
		for (size_t i = 0; i < t->nleaves; i++)
			if (t->leaves[i].mailbox == mailbox) {
				*leaf = i;
				return t;
			}
	return NULL;
}

/* Runs in the child: takes SEND on every mailbox of its tree, then runs
 * the child's entry.  The tree outlives every child (see struct tree). */
void trindle__sup_child_main(trindle_pipe_t input)
{
	struct process *p = trindle__current();
	trindle_entrypoint_t entry = NULL;
	size_t i;

	pthread_mutex_lock(&registry_lock);
	struct tree *t = tree_of(input, &i);
	if (t && p && trindle__process_reserve_caps(p, t->nleaves) == 0) {
		entry = t->leaves[i].entry;
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
		trindle_abort(NULL); /* no tree, or no memory for its holds */
	entry(input);
}

struct pipe *trindle__sup_mailbox_named(const char *name, int *err)
{
	struct process *p = trindle__current();
	struct pipe *own = p ? p->input : NULL, *found = NULL;
	size_t i;

	pthread_mutex_lock(&registry_lock);
	struct tree *t = own ? tree_of(own, &i) : NULL;
	*err = t ? -ENOENT : -EPERM; /* not a worker of any tree */
	for (i = 0; t && i < t->nleaves && !found; i++)
		if (t->leaves[i].name && strcmp(t->leaves[i].name, name) == 0)
			found = t->leaves[i].mailbox;
	pthread_mutex_unlock(&registry_lock);
	return found;
}

/* ---- commands ---------------------------------------------------------- */

trindle_segment_t trindle__sup_command_new(int kind, const struct sup *s,
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

/* A command segment came through the input pipe: true if it is one. */
bool trindle__sup_command_read(trindle_object_t o, struct command *c)
{
	if (trindle_measure(o) != sizeof(*c) ||
	    !(trindle_access(o) & TRINDLE_ACCESS_READ))
		return false;
	memcpy(c, o, sizeof(*c));
	return c->magic == COMMAND_MAGIC;
}
