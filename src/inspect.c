/* SPDX-License-Identifier: MIT */
/*
 * inspect.c - trindle_inquire: the state of a batch of objects; and
 * trindle_name, which names a pipe.
 *
 * At the calls level: it reads what segments, pipes and holders keep for
 * it (pipe counters, a holder's published wait) and never writes any of
 * it, so inquiring changes nothing the inquired processes see.
 */
#include <errno.h>
#include <string.h>

#include "pipe.h"
#include "process.h"
#include "segment.h"
#include "trace.h"

/* The pipes holder h waits on, if it waits: their count (0 when not). */
static size_t read_wait(struct holder *h, trindle_pipe_t *on, size_t max)
{
	if (!h)
		return 0; /* a receive right in flight: nobody waits */
	size_t n = atomic_load_explicit(&h->wait_count, memory_order_acquire);
	size_t shown = n < max ? n : max;

	for (size_t i = 0; i < shown; i++)
		on[i] = atomic_load_explicit(&h->wait_on[i],
				memory_order_relaxed);
	return n;
}

static void inquire_worker(struct pipe *pipe, trindle_record_t *r)
{
	int ended = atomic_load_explicit(&pipe->ended_by, memory_order_acquire);

	if (ended) {
		r->worker.state = TRINDLE_WORKER_ENDED;
		r->worker.ended_by = ended;
		return;
	}
	if (trindle__pipe_dead(pipe)) {
		/* Its worker killed it and runs on (or ended since, and its
		 * record cannot tell). */
		r->worker.state = TRINDLE_WORKER_UNKNOWN;
		return;
	}
	size_t n = read_wait(trindle__pipe_receiver(pipe), r->worker.waiting_on,
			TRINDLE_RECORD_WAITS);
	r->worker.waits = n;
	r->worker.state = n ? TRINDLE_WORKER_WAITING : TRINDLE_WORKER_RUNNING;
	if (!n)
		memset(r->worker.waiting_on, 0, sizeof(r->worker.waiting_on));
}

/* Does pipe's receiver wait on it now?  One that waits on more pipes
 * than it shows counts as waiting on each. */
static int receiver_waits_on(struct pipe *pipe)
{
	trindle_pipe_t on[HOLDER_WAIT_SHOWN];

	if (trindle__pipe_dead(pipe))
		return 0;
	size_t n = read_wait(trindle__pipe_receiver(pipe), on,
			HOLDER_WAIT_SHOWN);
	if (n > HOLDER_WAIT_SHOWN)
		return 1;
	for (size_t i = 0; i < n; i++)
		if (on[i] == (trindle_pipe_t)pipe)
			return 1;
	return 0;
}

static void inquire_pipe(struct pipe *pipe, trindle_record_t *r)
{
	struct pipe_counts c;

	trindle__pipe_counts(pipe, &c);
	trindle__pipe_get_name(pipe, r->name);
	r->pipe.capacity = pipe->capacity;
	r->pipe.queued = c.queued;
	r->pipe.high_water = c.high_water;
	r->pipe.sent = c.sent;
	r->pipe.received = c.received;
	r->pipe.senders = c.senders;
	r->pipe.dead = trindle__pipe_dead(pipe);
	r->pipe.receiver_waiting = receiver_waits_on(pipe);
	if (pipe->worker_input)
		inquire_worker(pipe, r);
}

TRINDLE_PUBLIC int trindle_inquire(const trindle_object_t objects[],
		size_t count, trindle_record_t records[])
{
	int found = 0;

	if (count && (!objects || !records))
		return trindle__fail(-EINVAL);
	for (size_t i = 0; i < count; i++) {
		trindle_record_t *r = &records[i];
		struct process *p;
		struct cap *c = trindle__process_held(objects[i], &p);

		memset(r, 0, sizeof(*r));
		r->object = objects[i];
		if (!c)
			continue;
		found++;
		r->access = trindle_access(objects[i]);
		if (c->obj->kind == OBJECT_SEGMENT) {
			struct segment *s = (struct segment *)c->obj;
			r->kind = TRINDLE_RECORD_SEGMENT;
			r->segment.bytes = s->bytes;
			r->segment.holders = atomic_load_explicit(&s->holds,
					memory_order_acquire);
		} else {
			r->kind = TRINDLE_RECORD_PIPE;
			inquire_pipe((struct pipe *)c->obj, r);
		}
	}
	return found;
}

TRINDLE_PUBLIC int trindle_name(trindle_pipe_t object, const char *name)
{
	struct process *p;
	struct cap *c = trindle__process_held(object, &p);

	if (!c || c->obj->kind != OBJECT_PIPE)
		return trindle__fail(-EINVAL);
	struct pipe *pipe = (struct pipe *)c->obj;
	trindle__pipe_set_name(pipe, name);
	trindle__trace_set_name(pipe->serial, name); /* kept after it dies */
	return 0;
}

TRINDLE_PUBLIC int trindle_trace_start(const char *path,
		size_t events_per_thread)
{
	if (!path || !*path)
		return trindle__fail(-EINVAL);
	int err = trindle__trace_start(path, events_per_thread);
	return err ? trindle__fail(err) : 0;
}

TRINDLE_PUBLIC int trindle_trace_stop(void)
{
	int err = trindle__trace_stop();
	return err ? trindle__fail(err) : 0;
}
