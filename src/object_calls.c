/* SPDX-License-Identifier: MIT */
/* object_calls.c - the public object calls: access, measure, allocate, pipe
 * and extend. */
#include <stdint.h>
#include <string.h>

#include "code.h"
#include "pipe.h"
#include "process.h"
#include "segment.h"

static int pipe_rights(const struct cap *c)
{
	if (trindle__pipe_dead((struct pipe *)c->obj))
		return 0;
	return c->rights;
}

/* READ|EXECUTE for code: the program's and libraries', or inside an
 * extended segment p holds. */
static int code_rights(struct process *p, const void *address)
{
	if (trindle__segment_slot(address))
		return trindle__process_code_segment(p, address) ?
			TRINDLE_ACCESS_READ | TRINDLE_ACCESS_EXECUTE : 0;
	if (trindle__code_contains(address))
		return TRINDLE_ACCESS_READ | TRINDLE_ACCESS_EXECUTE;
	return 0;
}

TRINDLE_PUBLIC int trindle_access(trindle_object_t object)
{
	struct process *p;
	struct cap *c = trindle__process_held(object, &p);

	if (!c)
		return p && object ? code_rights(p, object) : 0;
	if (c->obj->kind == OBJECT_PIPE)
		return pipe_rights(c);
	return trindle__segment_rights((struct segment *)c->obj);
}

TRINDLE_PUBLIC size_t trindle_measure(trindle_object_t object)
{
	struct process *p;
	struct cap *c = trindle__process_held(object, &p);

	if (!c)
		return 0;
	if (c->obj->kind == OBJECT_PIPE)
		return trindle__pipe_measure((struct pipe *)c->obj);
	return ((struct segment *)c->obj)->bytes;
}

TRINDLE_PUBLIC trindle_segment_t trindle_allocate(size_t count,
		const trindle_buffer_t buffers[])
{
	struct process *p = trindle__current();
	struct segment *s;

	if (!p)
		return trindle__fail_ptr(-ENOMEM);
	int err = trindle__process_allocate(p, count, buffers, true, &s);
	return err ? trindle__fail_ptr(err) : s->base;
}

TRINDLE_PUBLIC trindle_pipe_t trindle_pipe(size_t queue_items)
{
	struct process *p = trindle__current();
	struct pipe *pipe;

	if (!p)
		return trindle__fail_ptr(-ENOMEM);
	if (!queue_items)
		return trindle__fail_ptr(-EINVAL);
	int err = trindle__process_reserve_caps(p, 1);
	if (!err)
		err = trindle__pipe_create(queue_items, &p->holder, &pipe);
	if (err)
		return trindle__fail_ptr(err);
	trindle__cap_insert(&p->caps, pipe, &pipe->obj,
			TRINDLE_ACCESS_SEND | TRINDLE_ACCESS_RECEIVE);
	return pipe;
}

TRINDLE_PUBLIC int trindle_extend(trindle_segment_t segment)
{
	struct process *p = trindle__current();

	if (!p)
		return trindle__fail(-ENOMEM);
	struct cap *c = segment ? trindle__cap_find(&p->caps, segment) : NULL;
	if (!c || c->obj->kind != OBJECT_SEGMENT)
		return trindle__fail(-EINVAL);
	int err = trindle__segment_extend((struct segment *)c->obj);
	return err ? trindle__fail(err) : 0;
}
