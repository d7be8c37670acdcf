/* SPDX-License-Identifier: MIT */
/* devices.c - what the core gives the I/O devices (see devices.h). */
#include "devices.h"

#include "pipe.h"
#include "process.h"
#include "segment.h"

int trindle__wait_for_room(trindle_pipe_t pipe, int64_t timeout_ns)
{
	struct process *p;

	if (!trindle__process_held(pipe, &p))
		return -1;
	struct pipe *q = trindle__process_send_pipe(p, pipe);
	if (!q || trindle__pipe_dead(q))
		return -1;
	return trindle__pipe_wait_room(q, timeout_ns);
}

void *trindle__allocate_unfilled(size_t bytes)
{
	struct process *p = trindle__current();
	struct segment *s;

	if (!p)
		return trindle__fail_ptr(-ENOMEM);
	int err = trindle__process_allocate(p, 1,
			&(trindle_buffer_t){ bytes, NULL }, false, &s);
	return err ? trindle__fail_ptr(err) : s->base;
}

int trindle__refit(trindle_segment_t segment, size_t bytes)
{
	struct process *p;
	struct cap *c = trindle__process_held(segment, &p);

	if (!c || c->obj->kind != OBJECT_SEGMENT)
		return -1;
	struct segment *s = (struct segment *)c->obj;
	/* Only its sole holder, while the pages are writable, may resize. */
	if (trindle__segment_rights(s) !=
	    (TRINDLE_ACCESS_READ | TRINDLE_ACCESS_WRITE))
		return -1;
	return trindle__segment_refit(s, bytes) == 0 ? 0 : -1;
}
