/* SPDX-License-Identifier: MIT */
/* object.c - the object calls: access, measure, allocate, pipe, extend. */
#include <stdint.h>
#include <string.h>

#include "code.h"
#include "devices.h"
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
	struct segment *s = trindle__segment_slot(address);
	if (s) {
		struct cap *c = trindle__cap_find(&p->caps, s->base);
		if (c && c->obj == &s->obj && trindle__segment_covers(s, address) &&
		    (trindle__segment_rights(s) & TRINDLE_ACCESS_EXECUTE))
			return TRINDLE_ACCESS_READ | TRINDLE_ACCESS_EXECUTE;
		return 0;
	}
	if (trindle__code_contains(address))
		return TRINDLE_ACCESS_READ | TRINDLE_ACCESS_EXECUTE;
	return 0;
}

/* The calling process and its capability for object (NULL if not held).
 * These queries never fail, so errno is left as it was. */
static struct cap *held(trindle_object_t object, struct process **pp)
{
	int saved_errno = errno;
	struct process *p = trindle__current();

	errno = saved_errno;
	*pp = p;
	return p && object ? trindle__cap_find(&p->caps, object) : NULL;
}

TRINDLE_PUBLIC int trindle_access(trindle_object_t object)
{
	struct process *p;
	struct cap *c = held(object, &p);

	if (!c)
		return p && object ? code_rights(p, object) : 0;
	if (c->obj->kind == OBJECT_PIPE)
		return pipe_rights(c);
	return trindle__segment_rights((struct segment *)c->obj);
}

int trindle__wait_for_room(trindle_pipe_t pipe, int64_t timeout_ns)
{
	struct process *p;
	struct cap *c = held(pipe, &p);

	if (!c || c->obj->kind != OBJECT_PIPE ||
	    !(pipe_rights(c) & TRINDLE_ACCESS_SEND))
		return -1;
	return trindle__pipe_wait_room((struct pipe *)c->obj, timeout_ns);
}

TRINDLE_PUBLIC size_t trindle_measure(trindle_object_t object)
{
	struct process *p;
	struct cap *c = held(object, &p);

	if (!c)
		return 0;
	if (c->obj->kind == OBJECT_PIPE)
		return trindle__pipe_measure((struct pipe *)c->obj);
	return ((struct segment *)c->obj)->bytes;
}

/* Sums the buffer sizes; -EOVERFLOW if they do not fit in a size_t. */
static int total_bytes(size_t count, const trindle_buffer_t buffers[],
		size_t *total)
{
	size_t sum = 0;

	for (size_t i = 0; i < count; i++) {
		if (buffers[i].bytes > SIZE_MAX - sum)
			return -EOVERFLOW;
		sum += buffers[i].bytes;
	}
	*total = sum;
	return 0;
}

/* Fills a new segment: copies the buffers, zeroes the rest up to the page
 * end (everything not copied, unless the slot is known to be clean).  With
 * zero_gaps false, the buffers without an address are left as they are:
 * the caller writes them before anyone else can see the segment. */
static void fill(char *base, size_t count, const trindle_buffer_t buffers[],
		size_t total, size_t pages, bool dirty, bool zero_gaps)
{
	size_t at = 0;

	for (size_t i = 0; i < count; i++) {
		size_t n = buffers[i].bytes;
		if (buffers[i].address)
			memcpy(base + at, buffers[i].address, n);
		else if (dirty && zero_gaps)
			memset(base + at, 0, n);
		at += n;
	}
	size_t end = pages * trindle__page_size();
	if (dirty && end > total)
		memset(base + total, 0, end - total);
}

static trindle_segment_t allocate(size_t count,
		const trindle_buffer_t buffers[], bool zero_gaps)
{
	struct process *p = trindle__current();
	size_t total;
	struct segment *s;

	if (!p)
		return trindle__fail_ptr(-ENOMEM);
	if (count && !buffers)
		return trindle__fail_ptr(-EINVAL);
	int err = total_bytes(count, buffers, &total);
	if (!err && total > SIZE_MAX - trindle__page_size())
		err = -ENOMEM;
	if (!err)
		err = trindle__process_reserve_caps(p, 1);
	if (!err)
		err = trindle__segment_create(total, &p->holder, &s);
	if (err)
		return trindle__fail_ptr(err);
	/* Held before it is filled: if a source buffer faults, the segment
	 * is released with everything else the process holds. */
	trindle__cap_insert(&p->caps, s->base, &s->obj, 0);
	fill(s->base, count, buffers, total, s->pages, s->dirty_memory,
	     zero_gaps);
	return s->base;
}

TRINDLE_PUBLIC trindle_segment_t trindle_allocate(size_t count,
		const trindle_buffer_t buffers[])
{
	return allocate(count, buffers, true);
}

int trindle__refit(trindle_segment_t segment, size_t bytes)
{
	struct process *p;
	struct cap *c = held(segment, &p);

	if (!c || c->obj->kind != OBJECT_SEGMENT)
		return -1;
	struct segment *s = (struct segment *)c->obj;
	/* Only its sole holder, while the pages are writable, may resize. */
	if (trindle__segment_rights(s) !=
	    (TRINDLE_ACCESS_READ | TRINDLE_ACCESS_WRITE))
		return -1;
	return trindle__segment_refit(s, bytes) == 0 ? 0 : -1;
}

void *trindle__allocate_unfilled(size_t bytes)
{
	return allocate(1, &(trindle_buffer_t){ bytes, NULL }, false);
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
