/* SPDX-License-Identifier: MIT */
/*
 * process.h - Trindle processes: capability tables, notices, endings.
 *
 * A process is one thread's set of capabilities.  Workers are started by
 * trindle_launch() on pooled threads (launch.c); any other thread that
 * calls the library becomes a root process on first use.  Only the owning
 * thread touches a process's capability table and sync scratch; other
 * threads reach a process only through its notice queue and wait word.
 * Process structures are pooled, never freed, so a stale pointer to one
 * (a waker racing with an ending) is always safe to touch.
 */
#ifndef TRINDLE_PROCESS_H
#define TRINDLE_PROCESS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cap.h"
#include "holder.h"
#include "segment.h"
#include "trindle.h"

struct pipe;
struct segment;

enum final_target {
	FINAL_NONE = 0,
	FINAL_OUT = 1,
	FINAL_ERR = 2,
};

struct process {
	struct cap_table caps;
	bool root;
	struct pipe *input;          /* a worker's input pipe (it is the creator) */
	struct pipe *out, *err;      /* completion pipes named at launch */
	struct pipe *keeper;         /* where its input pipe goes at its end
	                              * (a supervisor's; NULL: it dies) */
	trindle_entrypoint_t entry;

	struct holder holder;        /* what other threads may touch */

	struct slot_cache cache;     /* destroyed slots kept open (owner only) */

	/* Scratch of the sync in progress (owner thread only). */
	struct segment **dirty;
	size_t ndirty, dirty_capacity;
	struct pipe **requests;
	size_t nrequests, requests_capacity;
	bool *status;                /* outcome of each outgoing message */
	size_t status_capacity;
	uint32_t epoch;
	bool tracing;                /* this sync is traced */
	uint32_t traced_sends;       /* ... and the sends it made */
	uint64_t serve_clock;
	int64_t spin_ns;             /* adaptive spin budget of sync waits */

	/* How a worker ends (set before jumping back to its thread). */
	trindle_object_t final;
	enum final_target final_target;

	struct process *next_free;
};

/* The calling thread's process; a root process is made on first use.
 * NULL only when out of memory. */
struct process *trindle__current(void);
void trindle__set_current(struct process *p);

struct process *trindle__process_new(void);
void trindle__process_free(struct process *p);

/* Owner thread only. */
void trindle__process_mark_dirty(struct process *p, struct segment *s);
void trindle__process_settle(struct process *p);
void trindle__process_release_cap(struct process *p, struct cap *c);
/* Takes up to max notices still valid; returns how many were stored. */
size_t trindle__process_take_notices(struct process *p,
		trindle_message_t *msgs, size_t max);
/* Names the worker p's out and err pipes (either may be NULL).  p keeps a
 * reference on each until it ends, so that neither address can name
 * another pipe meanwhile: its completion goes to out (or err) exactly when
 * it holds SEND on that pipe at its end, however often it let go of it and
 * got it back.  trindle__process_end() lets go of them. */
void trindle__process_set_completion(struct process *p, struct pipe *out,
		struct pipe *err);

/* At p's end, its input pipe is moved to keeper (its receive right, the
 * queue intact) instead of dying, unless keeper is dead by then.  p keeps
 * a hold of its own on keeper (not a capability: the worker cannot let go
 * of it) until it ends. */
void trindle__process_set_keeper(struct process *p, struct pipe *keeper);

/* p gives its receive right on pipe (which it holds SEND|RECEIVE, and is
 * not its input) to whoever receives from target, as a move message that
 * cannot fail for lack of room; with keep_send, p keeps SEND on pipe.
 * False (nothing changed) if target is dead, pipe is target, or there is
 * no memory for p's SEND. */
bool trindle__process_move_receive(struct process *p, struct pipe *pipe,
		struct pipe *target, bool keep_send);

/* Ends p: delivers final to its out or err pipe, releases the rest. */
void trindle__process_end(struct process *p, trindle_object_t final,
		enum final_target target);

/* Ensures n more capabilities can be inserted without failing. */
int trindle__process_reserve_caps(struct process *p, size_t n);

/* The calling process (through *pp) and its capability for object, or
 * NULL if it does not hold it.  Leaves errno alone: the queries that use
 * it never fail. */
struct cap *trindle__process_held(trindle_object_t object,
		struct process **pp);

/* The pipe address names if p holds SEND on it (dead or not), or NULL. */
struct pipe *trindle__process_send_pipe(struct process *p,
		const void *address);

/* The extended segment p holds that address lies in, or NULL: code p may
 * run besides the program's and libraries'. */
struct segment *trindle__process_code_segment(struct process *p,
		const void *address);

/* A new segment held by p alone: the buffers concatenated, the rest of the
 * last page zero.  With zero_gaps false, buffers without an address are
 * left as the slot had them (the caller writes them before anyone else
 * can see the segment).  0, -EINVAL, -EOVERFLOW or -ENOMEM. */
int trindle__process_allocate(struct process *p, size_t count,
		const trindle_buffer_t buffers[], bool zero_gaps,
		struct segment **out);

#endif
