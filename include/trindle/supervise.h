/* SPDX-License-Identifier: MIT */
/*
 * trindle/supervise.h - supervisors: restart workers that end, by policy.
 *
 * A supervisor is a worker that starts a fixed list of children (workers,
 * or supervisors of their own: a tree), watches them end, and starts them
 * again by a restart policy (each child's) and a strategy (the
 * supervisor's: restart the child alone, or also the children started
 * after it, or all of them).  Past a restart intensity (more than
 * max_restarts restarts within period_ms) it stops its children and
 * gives up, which its own supervisor, if it has one, takes as a failure
 * of that child: so a fault climbs the tree until some supervisor can
 * restart the subtree it sits in, or the top one gives up.
 *
 * Each child has a *mailbox*: its input pipe, made once when the tree
 * starts and kept across restarts.  Whoever holds SEND on a mailbox keeps
 * sending to it while the child is restarted: messages queued when a child
 * ends are delivered to the next incarnation, in order.  The message the
 * child was working on (taken from the queue by a sync, not yet done with)
 * is lost with the child.
 *
 * Appeared in: libtrindle 0.1.
 */
#ifndef TRINDLE_SUPERVISE_H
#define TRINDLE_SUPERVISE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <trindle.h>

#ifdef __cplusplus
extern "C" {
#endif

/** When a child that ended is started again. */
typedef enum trindle_restart {
	TRINDLE_RESTART_ALWAYS = 0,  /* after any end, a normal exit too */
	TRINDLE_RESTART_ON_FAILURE,  /* after a fault or trindle_abort() only */
	TRINDLE_RESTART_NEVER,       /* never: it stays down */
} trindle_restart_t;

/** Which children a restart takes along (the strategy of a supervisor). */
typedef enum trindle_strategy {
	TRINDLE_ONE_FOR_ONE = 0,     /* the child that ended, alone */
	TRINDLE_REST_FOR_ONE,        /* it and every child after it in the spec */
	TRINDLE_ONE_FOR_ALL,         /* it and all its siblings */
} trindle_strategy_t;

typedef struct trindle_supervisor_spec trindle_supervisor_spec_t;

/** One child of a supervisor: a worker, or a nested supervisor. */
typedef struct trindle_child_spec {
	const char *name;            /* its mailbox's name (trindle_name()) and
	                              * its name in reports; NULL: none */
	trindle_entrypoint_t entry;  /* the worker's entrypoint, in the
	                              * program's or a library's code; NULL
	                              * for a nested supervisor */
	size_t queue_count;          /* its mailbox's capacity (a worker) */
	trindle_restart_t restart;
	const trindle_supervisor_spec_t *supervisor; /* nested, or NULL */
} trindle_child_spec_t;

/** A supervisor: its children, in the order they start, and its limits. */
struct trindle_supervisor_spec {
	const char *name;            /* in its reports; NULL: none */
	trindle_strategy_t strategy;
	unsigned max_restarts;       /* more restarts than this ...         */
	uint32_t period_ms;          /* ... within this many ms: it gives up */
	size_t count;                /* children[0 .. count), count >= 1 */
	const trindle_child_spec_t *children;
};

/**
 * What a supervisor says about one end of a child (or, with child "", its
 * own giving up): a segment that starts with this structure, moved to the
 * reports pipe given to trindle_supervise() (and, for the give-up, to the
 * supervisor's err pipe).
 */
typedef struct trindle_supervisor_report {
	char supervisor[TRINDLE_NAME_MAX]; /* the supervisor's name */
	char child[TRINDLE_NAME_MAX];  /* the child's; "" for the give-up */
	trindle_pipe_t mailbox;        /* the child's mailbox; NULL for a
	                                * nested supervisor and the give-up */
	int ended_by;                  /* TRINDLE_END_EXIT, _ABORT or _FAULT;
	                                * TRINDLE_END_NONE: it could not be
	                                * started (no memory or thread) */
	uint32_t restarts;             /* of this child, before this end */
	bool restarted;                /* it is being started again now */
	bool gave_up;                  /* the intensity was passed (or a start
	                                * failed): the supervisor ends */
	trindle_fault_t fault;         /* when ended_by is TRINDLE_END_FAULT */
} trindle_supervisor_report_t;

/**
 * trindle_supervise - start a supervisor and its tree of children.
 *
 * Makes a mailbox for every worker of the tree (spec's children, and
 * those of nested supervisors, depth-first in spec order), named after
 * its child spec, with room for queue_count messages; writes the caller's
 * SEND on each into mailboxes[0 ..) in that order (a nested supervisor
 * takes no slot: its children stand in its place), before any child
 * runs; then starts the supervisor, a worker, which starts its children
 * in spec order.  Every child of the tree holds SEND on every mailbox of
 * the tree (it finds them by name with trindle_supervise_mailbox()) and
 * on out, which is every child's out pipe.  A child's err pipe is its
 * supervisor's: a fault or trindle_abort() of a child is seen by it.
 *
 * When a child ends, its supervisor decides by the child's restart policy:
 * TRINDLE_RESTART_ALWAYS restarts it after any end, _ON_FAILURE after a
 * fault or an abort (not after a return from entry or trindle_exit()),
 * _NEVER never.  A restart takes along the child's later siblings
 * (TRINDLE_REST_FOR_ONE) or all its siblings (TRINDLE_ONE_FOR_ALL): those
 * still running are asked to end (each at its next sync, as if it called
 * trindle_exit(NULL); a nested supervisor stops its own children first),
 * last started first; then all of them start again in spec order,
 * whatever their own policy (it judges only a child's own ends).  A child
 * that is not restarted stays down and takes no sibling with it.  A
 * restart on the same mailbox delivers to the new child what was queued
 * when the old one ended; what the old child had received is lost.  A
 * child left down keeps its mailbox (messages wait there) until the tree
 * ends.
 *
 * Intensity: each restart (of one child or of a group) counts once.  The
 * one that would make more than max_restarts within the last period_ms
 * milliseconds is not done: the supervisor stops all its children (last
 * started first, each at its next sync), sends its give-up report
 * (child "", gave_up set) to reports and ends with trindle_abort() of a
 * copy of it, to err.  A nested supervisor that gives up hands its
 * mailboxes back to its parent first: for the parent it is a child that
 * failed, and restarting it restarts its subtree on the same mailboxes,
 * queues intact.  The top supervisor's mailboxes die when it ends: their
 * holders get the closure notices.  max_restarts 0 gives up at the first
 * restart; period_ms 0 never gives up.
 *
 * Reports: for every end of a child (including those it was asked to make
 * by its supervisor) one trindle_supervisor_report_t segment is moved to
 * reports, if reports is not NULL.  A report that finds reports full is
 * kept and sent again later (a supervisor keeps up to 64 such; beyond,
 * the oldest are released).  An abort's own report object and any other
 * object a child sends to its err pipe are released; a fault's report is
 * copied into the report's fault field.
 *
 * spec and everything it points to must stay valid and unchanged while
 * the supervisor runs.  The supervisor runs until it gives up, is stopped
 * (trindle_supervise_stop()), or has no child left running and nobody can
 * send to it any more.
 *
 * What it cannot do: a child that never calls the library again (a busy
 * loop) cannot be asked to end, and a supervisor waiting for its end
 * waits for good; a child that crashed holding a libc lock (inside malloc
 * or stdio, say) or that corrupted the heap leaves the program so (see
 * trindle_fault_t): restarting the worker does not undo it.
 *
 * Returns the supervisor's input pipe, on which the caller holds SEND:
 * its closure notice says the supervisor ended (after all its children).
 * Or NULL with errno:
 *  - EINVAL: spec, its children or mailboxes is NULL; a count is 0; a
 *    child has both or neither of entry and supervisor; an entry lies
 *    outside the program's and libraries' code; a worker's queue_count is
 *    0; a strategy or restart value is out of range; max_restarts is
 *    over 65536 with a nonzero period_ms; nesting is deeper
 *    than 8 (a spec that contains itself) or the tree has more than 4096
 *    workers; out, err or reports is neither NULL nor a pipe the caller
 *    may send on;
 *  - ENOMEM or EAGAIN: no memory or no thread (nothing was started).
 * Thread-safe.
 */
TRINDLE_PUBLIC trindle_pipe_t trindle_supervise(
		const trindle_supervisor_spec_t *spec, trindle_pipe_t out,
		trindle_pipe_t err, trindle_pipe_t reports,
		trindle_pipe_t mailboxes[]);

/**
 * trindle_supervise_stop - ask a supervisor to end with its tree.
 *
 * supervisor is what trindle_supervise() returned.  The supervisor stops
 * its children last started first (each at its next sync; a nested
 * supervisor its own children first), waits for their ends (reporting
 * each), and ends with trindle_exit(NULL); its mailboxes die with it.
 * Does not wait: the closure notice of supervisor says it ended.
 *
 * Returns 0, or -1 with errno:
 *  - EINVAL: supervisor is not a running supervisor's input pipe the
 *    caller holds SEND on;
 *  - EAGAIN: its input pipe is full (it has not taken earlier requests);
 *  - ENOMEM: no memory for the request.
 */
TRINDLE_PUBLIC int trindle_supervise_stop(trindle_pipe_t supervisor);

/**
 * trindle_supervise_mailbox - a mailbox of the caller's tree, by name.
 *
 * Called by a worker of a supervisor tree (a child started by a
 * supervisor, at any depth): returns the mailbox of the worker whose
 * child spec is named name, anywhere in the same tree (nested
 * supervisors' workers included; the first in trindle_supervise()'s
 * mailboxes[] order when names repeat).  The caller holds SEND on it, as
 * on every mailbox of its tree, unless it let go of it.  The mailbox
 * stays the same across restarts, so a child may look its peers up once.
 * This is how a child learns where to send without globals:
 * trindle_supervise()'s mailboxes[] is the caller's copy.
 *
 * Returns the mailbox, or NULL with errno:
 *  - EINVAL: name is NULL;
 *  - EPERM: the caller is not a worker of a supervisor tree;
 *  - ENOENT: no worker of its tree has that name (a nested supervisor's
 *    own name included: a supervisor has no mailbox).
 * Appeared in: libtrindle 0.1.
 */
TRINDLE_PUBLIC trindle_pipe_t trindle_supervise_mailbox(const char *name);

#ifdef __cplusplus
}
#endif

#endif /* TRINDLE_SUPERVISE_H */
