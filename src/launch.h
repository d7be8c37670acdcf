/* SPDX-License-Identifier: MIT */
/*
 * launch.h - launching with options the public call does not offer, and
 * stopping a worker: what a supervisor (supervise_*.c) needs to restart a
 * child on the same input pipe, so that its senders never notice.
 */
#ifndef TRINDLE_LAUNCH_H
#define TRINDLE_LAUNCH_H

#include "pipe.h"
#include "trindle.h"

struct launch_options {
	/* NULL: a new input pipe of queue_count items.  Otherwise a live
	 * pipe the caller receives on (not its own input): its receive
	 * right passes to the new worker with the queue intact, and the
	 * caller keeps SEND on it, as trindle_launch's caller gets. */
	struct pipe *input;
	/* NULL: the input pipe dies with the worker.  Otherwise a live pipe
	 * the caller holds SEND on: at the worker's end, after its final
	 * object went to out or err, its input pipe is moved into keeper
	 * (receive right and queue; its ended_by tells how the worker
	 * ended) instead of dying, unless keeper died meanwhile. */
	struct pipe *keeper;
};

/* trindle_launch with options (o may be NULL).  The new worker's input
 * pipe starts with ended_by 0 and no stop request. */
trindle_pipe_t trindle__launch_with(trindle_entrypoint_t entry,
		size_t queue_count, trindle_pipe_t out, trindle_pipe_t err,
		const struct launch_options *o);

/* Asks the worker whose input pipe is input to end as by
 * trindle_exit(NULL): at once if it waits in trindle_sync, otherwise at
 * its next trindle_sync, before that sync does anything.  A worker that
 * never calls trindle_sync again is not stopped.  The request stays on
 * the pipe until a launch on it clears it. */
void trindle__request_stop(struct pipe *input);

#endif
