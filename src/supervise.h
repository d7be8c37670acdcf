/* SPDX-License-Identifier: MIT */
/*
 * supervise.h - what the modules of the supervisors (<trindle/supervise.h>)
 * share: a tree's workers, the commands supervisors are sent, a
 * supervisor's state, and the calls between the modules.  Private: no
 * module outside the supervise*.c files includes it.
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
 * The modules, each calling only those listed before it (no cycle):
 *   supervise_tree.c    specs, the registry of trees, commands, child_main
 *   supervise_report.c  building reports and sending them as room allows
 *   supervise_watch.c   stopping children and waiting for their ends
 *   supervise_start.c   a supervisor's start: its command, the top's
 *                       mailboxes, its state
 *   supervise_loop.c    starting children, deciding on an end (strategy,
 *                       intensity), giving up and ending; supervisor_main
 *   supervise.c         the public calls
 * The public calls, and the registry and command calls they make, run in
 * trindle_supervise()'s caller's thread; child_main runs in the child's;
 * everything else in a supervisor's own thread.
 */
#ifndef TRINDLE_SUPERVISE_INTERNAL_H
#define TRINDLE_SUPERVISE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pipe.h"
#include "trindle.h"
#include "trindle/supervise.h"

#define MAX_BACKLOG 64
#define COMMAND_MAGIC 0x7472696e646c6553ull /* "trindleS" */

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

/* ---- supervise_tree.c -------------------------------------------------- */

int trindle__sup_check_spec(const trindle_supervisor_spec_t *spec, int depth,
		size_t *leaves);
size_t trindle__sup_count_leaves(const trindle_supervisor_spec_t *spec);

/* A tree of nleaves workers for spec (checked), listed in the registry
 * before any child can look for it; NULL without memory. */
struct tree *trindle__sup_tree_make(const trindle_supervisor_spec_t *spec,
		size_t nleaves);
/* Takes t off the registry and frees it. */
void trindle__sup_tree_drop(struct tree *t);
void trindle__sup_tree_set_top(struct tree *t, trindle_pipe_t top);
/* Is top the input pipe of some listed tree's top supervisor? */
bool trindle__sup_tree_has_top(trindle_pipe_t top);
/* Lists the mailboxes the top supervisor made, in tree order. */
void trindle__sup_tree_set_mailboxes(struct tree *t,
		const trindle_pipe_t mailboxes[]);

/* The entrypoint of every worker of a tree (runs in the child). */
void trindle__sup_child_main(trindle_pipe_t input);
/* The mailbox named name in the tree the calling process is a worker of
 * (trindle_supervise_mailbox()); NULL with -EPERM (not a worker of a
 * tree) or -ENOENT (no such worker) in *err. */
struct pipe *trindle__sup_mailbox_named(const char *name, int *err);

trindle_segment_t trindle__sup_command_new(int kind, const struct sup *s,
		const trindle_supervisor_spec_t *spec, size_t first_leaf,
		bool nested, trindle_pipe_t err);
bool trindle__sup_command_read(trindle_object_t o, struct command *c);

/* ---- supervise_report.c ------------------------------------------------ */

void trindle__sup_reports_flush(struct sup *s);
trindle_segment_t trindle__sup_report_new(struct sup *s,
		const struct child *k, bool restarted, bool gave_up);
void trindle__sup_report(struct sup *s, const struct child *k,
		bool restarted, bool gave_up);

/* ---- supervise_watch.c ------------------------------------------------- */

bool trindle__sup_on_watch(struct sup *s, struct child *k,
		trindle_object_t o);
long trindle__sup_wait(struct sup *s, bool with_input, bool only_stopping,
		trindle_message_t *in, size_t cap);
struct child *trindle__sup_kid_of_watch(struct sup *s, trindle_pipe_t watch);
void trindle__sup_on_other(struct sup *s, const trindle_message_t *m);
void trindle__sup_stop_children(struct sup *s, const bool *sel,
		bool restarted, bool gave_up, bool *stopped);

/* ---- supervise_start.c ------------------------------------------------- */

bool trindle__sup_await_start(trindle_pipe_t input, struct command *c);
bool trindle__sup_make_mailboxes(trindle_pipe_t input,
		const struct command *c);
int trindle__sup_setup(struct sup *s, const struct command *c,
		trindle_pipe_t input);

/* ---- supervise_loop.c -------------------------------------------------- */

/* The entrypoint of every supervisor: the top one and nested ones. */
void trindle__sup_main(trindle_pipe_t input);

#endif
