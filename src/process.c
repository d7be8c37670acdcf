/* SPDX-License-Identifier: MIT */
/* process.c - process records, notices, releasing and ending (process.h). */
#include "process.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "grow.h"
#include "pipe.h"
#include "runtime.h"
#include "segment.h"
#include "wait.h"

static TRINDLE_TLS struct process *tls_current;

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static struct process *pool;

void trindle__set_current(struct process *p)
{
	tls_current = p;
}

struct process *trindle__process_new(void)
{
	struct process *p;

	pthread_mutex_lock(&pool_lock);
	p = pool;
	if (p)
		pool = p->next_free;
	pthread_mutex_unlock(&pool_lock);
	if (p)
		return p;
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	if (trindle__cap_init(&p->caps) < 0) {
		free(p);
		return NULL;
	}
	trindle__holder_init(&p->holder);
	return p;
}

void trindle__process_free(struct process *p)
{
	p->holder.track = 0; /* the trace's: a reuse gets its own */
	p->root = false;
	p->input = p->out = p->err = p->keeper = NULL;
	p->entry = NULL;
	p->cache.closed = false; /* a pooled process starts with an open cache */
	trindle__cap_reset(&p->caps);
	p->final = NULL;
	p->final_target = FINAL_NONE;
	pthread_mutex_lock(&pool_lock);
	p->next_free = pool;
	pool = p;
	pthread_mutex_unlock(&pool_lock);
}

/* A root thread ended without trindle_exit: release what it held. */
static void root_thread_ended(void *arg)
{
	struct process *p = arg;

	tls_current = p; /* releasing may look the process up */
	trindle__process_end(p, NULL, FINAL_NONE);
	tls_current = NULL;
	trindle__runtime_root_ended(p);
	trindle__process_free(p);
	trindle__wait_thread_ended();
}

struct process *trindle__current(void)
{
	struct process *p = tls_current;

	if (likely(p))
		return p;
	if (trindle__runtime_start() < 0)
		return NULL;
	p = trindle__process_new();
	if (!p)
		return NULL;
	p->root = true;
	if (trindle__runtime_root_started(p, root_thread_ended) < 0) {
		trindle__process_free(p);
		return NULL;
	}
	tls_current = p;
	trindle__wait_thread_started();
	return p;
}

int trindle__process_reserve_caps(struct process *p, size_t n)
{
	return trindle__cap_reserve(&p->caps, n);
}

struct cap *trindle__process_held(trindle_object_t object,
		struct process **pp)
{
	int saved_errno = errno;
	struct process *p = trindle__current();

	errno = saved_errno;
	*pp = p;
	return p && object ? trindle__cap_find(&p->caps, object) : NULL;
}

struct pipe *trindle__process_send_pipe(struct process *p,
		const void *address)
{
	struct cap *c = address ? trindle__cap_find(&p->caps, address) : NULL;

	if (!c || c->obj->kind != OBJECT_PIPE ||
	    !(c->rights & TRINDLE_ACCESS_SEND))
		return NULL;
	return (struct pipe *)c->obj;
}

struct segment *trindle__process_code_segment(struct process *p,
		const void *address)
{
	struct segment *s = trindle__segment_slot(address);
	if (!s)
		return NULL;
	struct cap *c = trindle__cap_find(&p->caps, s->base);
	if (!c || c->obj != &s->obj || !trindle__segment_covers(s, address) ||
	    !(trindle__segment_rights(s) & TRINDLE_ACCESS_EXECUTE))
		return NULL;
	return s;
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

/* Copies the buffers into a new segment's memory and zeroes the rest up
 * to the page end (everything not copied, unless the slot is known to be
 * clean, or zero_gaps says the caller writes the gaps itself). */
static void copy_buffers(char *base, size_t count,
		const trindle_buffer_t buffers[], size_t total, size_t pages,
		bool dirty, bool zero_gaps)
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

int trindle__process_allocate(struct process *p, size_t count,
		const trindle_buffer_t buffers[], bool zero_gaps,
		struct segment **out)
{
	size_t total;
	struct segment *s;

	if (count && !buffers)
		return -EINVAL;
	int err = total_bytes(count, buffers, &total);
	if (!err && total > SIZE_MAX - trindle__page_size())
		err = -ENOMEM;
	if (!err)
		err = trindle__process_reserve_caps(p, 1);
	if (!err)
		err = trindle__segment_create(total, &p->holder, &p->cache, &s);
	if (err)
		return err;
	/* Held before it is filled: if a source buffer faults, the segment
	 * is released with everything else the process holds. */
	trindle__cap_insert(&p->caps, s->base, &s->obj, 0);
	copy_buffers(s->base, count, buffers, total, s->pages, s->dirty_memory,
		     zero_gaps);
	*out = s;
	return 0;
}

/* Is notice n still true for p?  If so, fill msg; consume its resources. */
static bool settle_notice(struct process *p, const struct notice *n,
		trindle_message_t *msg)
{
	if (n->kind == NOTICE_SOLE_HOLDER) {
		struct segment *s = n->obj;
		struct cap *c = trindle__cap_find(&p->caps, s->base);
		/* Still held, still the same incarnation, still alone. */
		if (!c || c->obj != &s->obj || s->generation != n->generation ||
		    !(trindle__segment_rights(s) & TRINDLE_ACCESS_WRITE))
			return false;
		msg->address = NULL;
		msg->content = s->base;
		return true;
	}
	struct pipe *pipe = n->obj;
	struct cap *c = trindle__cap_find(&p->caps, pipe);
	bool deliver = c && c->obj == &pipe->obj;
	if (deliver) {
		trindle__cap_remove(&p->caps, c);
		trindle__pipe_drop_holder(pipe, &p->holder);
		msg->address = pipe;
		msg->content = NULL;
	}
	trindle__pipe_unref(pipe); /* the notice's own reference */
	return deliver;
}

size_t trindle__process_take_notices(struct process *p,
		trindle_message_t *msgs, size_t max)
{
	size_t n = 0;
	struct notice notice;

	while (n < max && trindle__holder_pop_notice(&p->holder, &notice))
		if (settle_notice(p, &notice, &msgs[n]))
			n++;
	return n;
}

void trindle__process_mark_dirty(struct process *p, struct segment *s)
{
	struct segment **v = trindle__grow(p->dirty, &p->dirty_capacity,
			p->ndirty, sizeof(*v), 64);
	if (!v) {
		/* Settle now rather than forget: correctness over batching. */
		trindle__segment_settle(s);
		return;
	}
	p->dirty = v;
	p->dirty[p->ndirty++] = s;
}

void trindle__process_settle(struct process *p)
{
	if (!p->ndirty)
		return;
	trindle__segment_settle_many(p->dirty, p->ndirty, &p->cache);
	p->ndirty = 0;
}

/* A message that carried o was dropped by actor (its pipe died). */
static void drop_carried(struct process *actor, struct object *o)
{
	if (o->kind == OBJECT_SEGMENT) {
		struct segment *s = (struct segment *)o;
		trindle__segment_drop_message(s, &actor->holder);
		trindle__process_mark_dirty(actor, s);
	} else {
		trindle__pipe_uncarry((struct pipe *)o);
	}
}

/*
 * p, the pipe's receiver, kills it: queued contents are let go, then every
 * other holder is told.  A queued move of another pipe dies with it (nobody
 * else could ever receive from that one): those are killed in turn from a
 * list, not by recursion, however long a chain of moved pipes is.  The
 * first pipe's receiver reference is the caller's to drop; each moved
 * pipe's came with its message and is dropped here.
 */
static void kill_pipe(struct process *p, struct pipe *first)
{
	struct object *batch[64];
	struct pipe *todo = first;
	size_t n;

	first->kill_next = NULL;
	while (todo) {
		struct pipe *pipe = todo;
		todo = pipe->kill_next;
		trindle__pipe_mark_dead(pipe);
		/* The drain also wakes the senders waiting for room: a full
		 * pipe has messages to drain, and they find it dead. */
		while ((n = trindle__pipe_pop(pipe, batch, 64)) > 0) {
			for (size_t i = 0; i < n; i++) {
				bool receive;
				struct object *o = trindle__msg_object(batch[i],
						&receive);
				if (!receive) {
					drop_carried(p, o);
					continue;
				}
				struct pipe *moved = (struct pipe *)o;
				moved->kill_next = todo;
				todo = moved;
			}
		}
		trindle__pipe_notify_holders(pipe);
		if (pipe != first)
			trindle__pipe_unref(pipe);
	}
}

static void release_object(struct process *p, struct object *o,
		uint8_t rights)
{
	if (o->kind == OBJECT_SEGMENT) {
		struct segment *s = (struct segment *)o;
		/* Settled before p's next message is published (and before its
		 * sync returns), so effects keep the order of the outbox. */
		trindle__segment_release(s, &p->holder);
		trindle__process_mark_dirty(p, s);
	} else if (rights & TRINDLE_ACCESS_RECEIVE) {
		struct pipe *pipe = (struct pipe *)o;
		kill_pipe(p, pipe);
		trindle__pipe_unref(pipe); /* the creator's reference */
	} else {
		trindle__pipe_drop_holder((struct pipe *)o, &p->holder);
	}
}

void trindle__process_release_cap(struct process *p, struct cap *c)
{
	struct object *o = c->obj;
	uint8_t rights = c->rights;

	trindle__cap_remove(&p->caps, c);
	release_object(p, o, rights);
}

/* Queues pipe's receive right on target, which the caller entered (and
 * now leaves); the receiver's reference goes with the message. */
static void queue_receive_right(struct pipe *pipe, struct pipe *target)
{
	trindle__pipe_set_receiver(pipe, NULL);
	trindle__pipe_force(target, trindle__pipe_receive_msg(pipe));
	trindle__pipe_leave(target);
}

bool trindle__process_move_receive(struct process *p, struct pipe *pipe,
		struct pipe *target, bool keep_send)
{
	struct cap *c = trindle__cap_find(&p->caps, pipe);

	if (!c || !(c->rights & TRINDLE_ACCESS_RECEIVE) || pipe == target ||
	    pipe == p->input || trindle__pipe_enter(target) < 0)
		return false;
	if (keep_send) {
		if (!trindle__pipe_grant(pipe, &p->holder)) {
			trindle__pipe_leave(target);
			return false;
		}
		c->rights = TRINDLE_ACCESS_SEND;
	} else {
		trindle__cap_remove(&p->caps, c);
	}
	queue_receive_right(pipe, target);
	return true;
}

/* Queues object c (held by p) on target through a send that cannot fail
 * for lack of room, moving p's hold; false if the pipe is dead.  A pipe p
 * receives on (not its input) moves with its receive right. */
static bool deliver_final(struct process *p, struct cap *c,
		struct pipe *target)
{
	if (c->obj->kind == OBJECT_PIPE &&
	    (c->rights & TRINDLE_ACCESS_RECEIVE) &&
	    trindle__process_move_receive(p, (struct pipe *)c->obj, target,
			false))
		return true;
	if (trindle__pipe_enter(target) < 0)
		return false;
	struct object *o = c->obj;
	if (o->kind == OBJECT_SEGMENT) {
		/* A move: the hold passes from p to the message. */
		trindle__segment_charge((struct segment *)o, &p->holder, true);
		trindle__cap_remove(&p->caps, c);
		if (unlikely(trindle__segment_debug_in_flight()))
			trindle__segment_settle((struct segment *)o);
	} else {
		/* The message carries its own hold; p's goes with the rest. */
		trindle__pipe_carry((struct pipe *)o);
	}
	trindle__pipe_force(target, o);
	trindle__pipe_leave(target);
	return true;
}

void trindle__process_set_completion(struct process *p, struct pipe *out,
		struct pipe *err)
{
	p->out = out;
	p->err = err;
	if (out)
		trindle__pipe_ref(out);
	if (err)
		trindle__pipe_ref(err);
}

void trindle__process_set_keeper(struct process *p, struct pipe *keeper)
{
	p->keeper = keeper;
	trindle__pipe_carry(keeper);
}

/* Moves p's input pipe (already out of its table) to its keeper; false
 * if the keeper is dead (then the input dies as usual). */
static bool hand_input_to_keeper(struct process *p, struct pipe *input)
{
	if (trindle__pipe_enter(p->keeper) < 0)
		return false;
	queue_receive_right(input, p->keeper);
	return true;
}

/* The pipe p may still send on for its completion, or NULL. */
static struct pipe *completion_pipe(struct process *p, enum final_target t)
{
	struct pipe *pipe = t == FINAL_OUT ? p->out : t == FINAL_ERR ? p->err : NULL;

	if (!pipe || trindle__process_send_pipe(p, pipe) != pipe)
		return NULL;
	return pipe;
}

static bool is_send_hold(const struct cap *c)
{
	return c->obj->kind == OBJECT_PIPE &&
		!(c->rights & TRINDLE_ACCESS_RECEIVE);
}

/* Releases every capability (but SEND holds on others' pipes, if asked to
 * keep them).  One sweep sees every entry: a removal leaves a tombstone
 * and moves no other entry, and releasing inserts none (cap.h). */
static void release_all(struct process *p, bool keep_send_holds)
{
	trindle__cap_settle(&p->caps); /* the sweep sees only the slots */
	for (size_t i = 0; i < p->caps.capacity; i++) {
		struct cap *c = &p->caps.slots[i];
		if (trindle__cap_live(c) &&
		    !(keep_send_holds && is_send_hold(c)))
			trindle__process_release_cap(p, c);
	}
}

void trindle__process_end(struct process *p, trindle_object_t final,
		enum final_target target)
{
	struct cap *c;
	struct notice n;
	struct object *input = NULL;
	uint8_t input_rights = 0;

	/* Before its input pipe's death tells anyone that p ended, no slot p
	 * destroyed may stay open. */
	trindle__slot_cache_close(&p->cache);
	if (final && (c = trindle__cap_find(&p->caps, final)) != NULL) {
		struct pipe *to = completion_pipe(p, target);
		if (to)
			deliver_final(p, c, to);
	}
	if (p->input && (c = trindle__cap_find(&p->caps, p->input)) != NULL) {
		input = c->obj;
		input_rights = c->rights;
		trindle__cap_remove(&p->caps, c);
	}
	/*
	 * The order tells the others what happened, in order: first what the
	 * process held is let go (fellow holders get their notices); then its
	 * input pipe dies (the launcher's closure notice); only then does it
	 * let go of its SEND on other pipes, so that a receiver woken because
	 * nobody can send any more finds the closure notice already there.
	 */
	release_all(p, true);
	trindle__process_settle(p);
	if (input && p->keeper && (input_rights & TRINDLE_ACCESS_RECEIVE) &&
	    hand_input_to_keeper(p, (struct pipe *)input))
		input = NULL; /* it lives on, with the keeper's receiver */
	if (input) {
		release_object(p, input, input_rights);
		/* What the dying pipe carried was let go: its fellow holders'
		 * notices go out now, before anyone is told nobody can send. */
		trindle__process_settle(p);
	}
	release_all(p, false);
	trindle__process_settle(p);
	/* The out and err pipes' memory was kept from reuse while p could
	 * deliver to them (see trindle__process_set_completion). */
	if (p->out)
		trindle__pipe_unref(p->out);
	if (p->err)
		trindle__pipe_unref(p->err);
	if (p->keeper)
		trindle__pipe_uncarry(p->keeper);
	if (p->input)
		trindle__pipe_unref(p->input); /* see launch.c's take_input */
	p->out = p->err = p->keeper = p->input = NULL;
	/* Nobody can notify us any more: drop what is left unread. */
	while (trindle__holder_pop_notice(&p->holder, &n))
		if (n.kind == NOTICE_PIPE_DIED)
			trindle__pipe_unref(n.obj);
	p->nrequests = 0;
}
