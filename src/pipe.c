/* SPDX-License-Identifier: MIT */
/* pipe.c - the bounded MPSC queue and pipe lifetime (see pipe.h). */
#include "pipe.h"

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "die.h"
#include "grow.h"
#include "holder.h"
#include "trace.h"
#include "wait.h"

static size_t round_up_pow2(size_t n)
{
	size_t v = 1;
	while (v < n)
		v <<= 1;
	return v;
}

/* ---- the graph's list of pipes (off unless kept) ---- */

static bool keep_summaries; /* set once, before any pipe */
static pthread_mutex_t all_lock = PTHREAD_MUTEX_INITIALIZER;
static struct pipe *all_pipes;
static struct pipe_summary *gone;
static size_t ngone, gone_capacity;

void trindle__pipe_keep_summaries(void)
{
	keep_summaries = true;
}

static void summarise(struct pipe *p, struct pipe_summary *s)
{
	struct pipe_counts c;

	memset(s, 0, sizeof(*s));
	trindle__pipe_counts(p, &c);
	s->serial = p->serial;
	s->receiver_track = p->worker_input ? p->serial : p->creator_track;
	s->capacity = p->capacity;
	s->high_water = c.high_water;
	s->sent = c.sent;
	s->worker_input = p->worker_input;
	s->dead = trindle__pipe_dead(p);
	s->ended_by = atomic_load(&p->ended_by);
	pthread_mutex_lock(&p->lock);
	memcpy(s->name, p->name, sizeof(s->name));
	s->nsenders = p->n_ever_senders;
	memcpy(s->senders, p->ever_senders, sizeof(s->senders));
	pthread_mutex_unlock(&p->lock);
	struct holder *r = trindle__pipe_receiver(p);
	if (!s->dead && r)
		s->receiver_waits = atomic_load(&r->wait_count) != 0;
}

void trindle__pipe_each_summary(void (*fn)(const struct pipe_summary *s,
		void *arg), void *arg)
{
	struct pipe_summary s;

	pthread_mutex_lock(&all_lock);
	for (struct pipe *p = all_pipes; p; p = p->all_next) {
		summarise(p, &s);
		fn(&s, arg);
	}
	for (size_t i = 0; i < ngone; i++)
		fn(&gone[i], arg);
	pthread_mutex_unlock(&all_lock);
}

static void list_pipe(struct pipe *p)
{
	pthread_mutex_lock(&all_lock);
	p->all_next = all_pipes;
	if (all_pipes)
		all_pipes->all_prev = p;
	all_pipes = p;
	pthread_mutex_unlock(&all_lock);
}

static void unlist_pipe(struct pipe *p)
{
	pthread_mutex_lock(&all_lock);
	struct pipe_summary *v = trindle__grow(gone, &gone_capacity, ngone,
			sizeof(*v), 64);
	if (v) { /* without memory the graph just lacks it */
		gone = v;
		summarise(p, &gone[ngone++]);
	}
	if (p->all_prev)
		p->all_prev->all_next = p->all_next;
	else
		all_pipes = p->all_next;
	if (p->all_next)
		p->all_next->all_prev = p->all_prev;
	pthread_mutex_unlock(&all_lock);
}

int trindle__pipe_create(size_t items, struct holder *creator,
		struct pipe **out)
{
	if (items > TRINDLE_PIPE_MAX_ITEMS)
		return -ENOMEM;
	struct pipe *p = aligned_alloc(TRINDLE_CACHELINE,
			(sizeof(*p) + TRINDLE_CACHELINE - 1) &
			~(size_t)(TRINDLE_CACHELINE - 1));
	if (!p)
		return -ENOMEM;
	memset(p, 0, sizeof(*p));
	size_t ncells = round_up_pow2(items);
	p->cells = calloc(ncells, sizeof(*p->cells));
	if (!p->cells) {
		free(p);
		return -ENOMEM;
	}
	p->obj.kind = OBJECT_PIPE;
	p->serial = trindle__trace_serial();
	atomic_init(&p->receiver, creator);
	p->capacity = items;
	p->mask = ncells - 1;
	atomic_init(&p->refs, 1);
	pthread_mutex_init(&p->lock, NULL);
	if (keep_summaries) {
		p->creator_track = trindle__trace_track(creator);
		list_pipe(p);
	}
	*out = p;
	return 0;
}

void trindle__pipe_ref(struct pipe *p)
{
	atomic_fetch_add_explicit(&p->refs, 1, memory_order_relaxed);
}

void trindle__pipe_unref(struct pipe *p)
{
	if (atomic_fetch_sub_explicit(&p->refs, 1, memory_order_acq_rel) != 1)
		return;
	if (keep_summaries)
		unlist_pipe(p);
	pthread_mutex_destroy(&p->lock);
	free(p->holders);
	free(p->cells);
	free(p);
}

int trindle__pipe_enter(struct pipe *p)
{
	atomic_fetch_add_explicit(&p->senders_inside, 1, memory_order_seq_cst);
	if (atomic_load_explicit(&p->dead, memory_order_seq_cst)) {
		trindle__pipe_leave(p);
		return -EPIPE;
	}
	return 0;
}

/* Wakes p's receiver, if the receive right is not in flight (then
 * whoever takes it looks at the queue before it ever waits). */
static void wake_receiver(struct pipe *p)
{
	struct holder *r = trindle__pipe_receiver(p);

	if (r)
		trindle__holder_wake(r);
}

void trindle__pipe_leave(struct pipe *p)
{
	atomic_fetch_sub_explicit(&p->senders_inside, 1, memory_order_seq_cst);
	wake_receiver(p);
}

void trindle__pipe_set_receiver(struct pipe *p, struct holder *h)
{
	if (h && keep_summaries)
		p->creator_track = trindle__trace_track(h);
	atomic_store_explicit(&p->receiver, h, memory_order_seq_cst);
}

/* The high-water mark: a relaxed load and a compare per claim; a CAS only
 * when a new maximum is reached. */
static void raise_high_water(struct pipe *p, size_t depth)
{
	size_t hw = atomic_load_explicit(&p->high_water, memory_order_relaxed);

	while (unlikely(depth > hw) && !atomic_compare_exchange_weak_explicit(
			&p->high_water, &hw, depth, memory_order_relaxed,
			memory_order_relaxed))
		;
}

size_t trindle__pipe_claim(struct pipe *p, size_t want, size_t *pos)
{
	size_t tail = atomic_load_explicit(&p->tail, memory_order_relaxed);

	for (;;) {
		size_t head = atomic_load_explicit(&p->head_pub,
				memory_order_acquire);
		if (tail - head > p->capacity) {
			/* Our tail is older than the head we just read. */
			tail = atomic_load_explicit(&p->tail, memory_order_relaxed);
			continue;
		}
		/* Completions queued past capacity take room too, until
		 * they are received. */
		size_t used = tail - head + atomic_load_explicit(
				&p->overflow_count, memory_order_acquire);
		size_t room = used < p->capacity ? p->capacity - used : 0;
		size_t n = want < room ? want : room;
		if (!n)
			return 0;
		if (atomic_compare_exchange_weak_explicit(&p->tail, &tail,
				tail + n, memory_order_relaxed,
				memory_order_relaxed)) {
			*pos = tail;
			raise_high_water(p, used + n);
			return n;
		}
	}
}

bool trindle__pipe_unclaim(struct pipe *p, size_t pos, size_t end)
{
	return atomic_compare_exchange_strong_explicit(&p->tail, &end, pos,
			memory_order_relaxed, memory_order_relaxed);
}

void trindle__pipe_skip(struct pipe *p, size_t pos)
{
	atomic_fetch_add_explicit(&p->skipped, 1, memory_order_relaxed);
	trindle__pipe_publish(p, pos, NULL);
}

void trindle__pipe_force(struct pipe *p, struct object *o)
{
	size_t pos;

	if (trindle__pipe_claim(p, 1, &pos)) {
		trindle__pipe_publish(p, pos, o);
		return;
	}
	struct overflow_msg *m = malloc(sizeof(*m));
	if (!m)
		trindle__die(); /* a completion must not be lost; nothing sane remains */
	m->next = NULL;
	m->obj = o;
	pthread_mutex_lock(&p->lock);
	m->ticket = atomic_load_explicit(&p->tail, memory_order_relaxed);
	if (p->overflow_tail)
		p->overflow_tail->next = m;
	else
		p->overflow_head = m;
	p->overflow_tail = m;
	size_t depth = atomic_load_explicit(&p->tail, memory_order_relaxed) -
		atomic_load_explicit(&p->head_pub, memory_order_relaxed) +
		atomic_fetch_add_explicit(&p->overflow_count, 1,
				memory_order_release) + 1;
	atomic_fetch_add_explicit(&p->overflow_total, 1, memory_order_relaxed);
	pthread_mutex_unlock(&p->lock);
	raise_high_water(p, depth);
}

/* The first overflow message, if every message queued before it is gone. */
static struct object *pop_overflow(struct pipe *p)
{
	struct object *o = NULL;

	pthread_mutex_lock(&p->lock);
	struct overflow_msg *m = p->overflow_head;
	if (m && m->ticket <= p->head) {
		p->overflow_head = m->next;
		if (!p->overflow_head)
			p->overflow_tail = NULL;
		atomic_fetch_sub_explicit(&p->overflow_count, 1,
				memory_order_relaxed);
		o = m->obj;
		free(m);
	}
	pthread_mutex_unlock(&p->lock);
	return o;
}

/*
 * Room.  A sender that found the pipe full announces itself in
 * room_waiters, checks for room once more and sleeps on room_seq; the
 * receiver publishes its new head, then looks at room_waiters.  The two
 * seq_cst fences order each side's write before its read, so either the
 * sender sees the room or the receiver sees the sender.  The receiver's
 * only cost while nobody waits is one load per pop.
 */
static void wake_room_waiters(struct pipe *p)
{
	atomic_thread_fence(memory_order_seq_cst);
	if (likely(!atomic_load_explicit(&p->room_waiters, memory_order_relaxed)))
		return;
	atomic_fetch_add_explicit(&p->room_seq, 1, memory_order_relaxed);
	trindle__futex_wake_all(&p->room_seq);
}

bool trindle__pipe_has_room(struct pipe *p)
{
	size_t tail = atomic_load_explicit(&p->tail, memory_order_relaxed);
	size_t head = atomic_load_explicit(&p->head_pub, memory_order_acquire);

	size_t used = tail - head;

	if (used > p->capacity)
		return true; /* a stale tail: look again */
	return used + atomic_load_explicit(&p->overflow_count,
			memory_order_acquire) < p->capacity;
}

bool trindle__pipe_wait_room(struct pipe *p, int64_t timeout_ns)
{
	unsigned seq = atomic_load_explicit(&p->room_seq, memory_order_relaxed);
	bool woken = true;

	atomic_fetch_add_explicit(&p->room_waiters, 1, memory_order_relaxed);
	atomic_thread_fence(memory_order_seq_cst);
	if (!trindle__pipe_has_room(p) && !trindle__pipe_dead(p))
		woken = trindle__futex_wait(&p->room_seq, seq, timeout_ns);
	atomic_fetch_sub_explicit(&p->room_waiters, 1, memory_order_relaxed);
	return woken;
}

/* pos, when not NULL, gets each message's cell (SIZE_MAX for a completion
 * queued past the capacity): the trace's flow ids.  Inlined into both
 * callers, so the untraced pop does not even test it.  The head advances
 * in a register and is published once, at the end: until then senders see
 * less room, never more. */
static inline __attribute__((always_inline)) size_t pop(struct pipe *p,
		struct object **objs, size_t *pos, size_t max)
{
	size_t n = 0, start = p->head, head = start;
	/* Fixed for the pipe's life: read once, not after every acquire. */
	struct ring_cell *cells = p->cells;
	size_t mask = p->mask;

	while (n < max) {
		if (unlikely(atomic_load_explicit(&p->overflow_count,
				memory_order_acquire))) {
			p->head = head; /* pop_overflow compares tickets with it */
			struct object *o = pop_overflow(p);
			if (o) {
				if (pos)
					pos[n] = SIZE_MAX;
				objs[n++] = o;
				continue;
			}
		}
		struct ring_cell *c = &cells[head & mask];
		if (atomic_load_explicit(&c->seq, memory_order_acquire) !=
				head + 1)
			break;
		struct object *o = atomic_load_explicit(&c->obj,
				memory_order_relaxed);
		if (o) { /* an empty cell is a claim its sender gave up */
			if (pos)
				pos[n] = head;
			objs[n++] = o;
		}
		head++;
	}
	p->head = head;
	if (head != start) { /* skip cells make room too */
		atomic_store_explicit(&p->head_pub, head, memory_order_release);
		wake_room_waiters(p);
	}
	/* Only this thread writes it: a plain store, no locked instruction. */
	if (n)
		atomic_store_explicit(&p->received, atomic_load_explicit(
				&p->received, memory_order_relaxed) + n,
				memory_order_relaxed);
	return n;
}

size_t trindle__pipe_pop(struct pipe *p, struct object **objs, size_t max)
{
	return pop(p, objs, NULL, max);
}

size_t trindle__pipe_pop_traced(struct pipe *p, struct object **objs,
		size_t *pos, size_t max)
{
	return pop(p, objs, pos, max);
}

bool trindle__pipe_ready(struct pipe *p)
{
	struct ring_cell *c = &p->cells[p->head & p->mask];

	if (atomic_load_explicit(&c->seq, memory_order_acquire) == p->head + 1)
		return true;
	return atomic_load_explicit(&p->overflow_count, memory_order_acquire);
}

bool trindle__pipe_has_senders(struct pipe *p)
{
	return atomic_load_explicit(&p->other_holds, memory_order_acquire) > 0;
}

size_t trindle__pipe_measure(struct pipe *p)
{
	/* Count the published cells from the head on: never more than are
	 * really queued (a cell claimed but not yet written is not counted). */
	size_t head = atomic_load_explicit(&p->head_pub, memory_order_acquire);
	size_t tail = atomic_load_explicit(&p->tail, memory_order_acquire);
	size_t n = 0, queued = 0;

	while (head + n < tail) {
		struct ring_cell *c = &p->cells[(head + n) & p->mask];
		if (atomic_load_explicit(&c->seq, memory_order_acquire) !=
				head + n + 1)
			break;
		queued += atomic_load_explicit(&c->obj, memory_order_relaxed) !=
			NULL;
		n++;
	}
	return queued + atomic_load_explicit(&p->overflow_count,
			memory_order_acquire);
}

void trindle__pipe_counts(struct pipe *p, struct pipe_counts *c)
{
	c->received = atomic_load_explicit(&p->received, memory_order_acquire);
	c->queued = trindle__pipe_measure(p);
	/* Every cell claimed counts as sent (one being written is on its
	 * way), minus those published empty, plus completions past the
	 * capacity; read after received, so never below it. */
	size_t tail = atomic_load_explicit(&p->tail, memory_order_acquire);
	size_t skipped = atomic_load_explicit(&p->skipped, memory_order_acquire);
	uint64_t sent = (uint64_t)(tail - skipped) + atomic_load_explicit(
			&p->overflow_total, memory_order_acquire);
	c->sent = sent > c->received ? sent : c->received;
	c->high_water = atomic_load_explicit(&p->high_water,
			memory_order_relaxed);
	if (c->high_water < c->queued)
		c->high_water = c->queued;
	pthread_mutex_lock(&p->lock);
	c->senders = p->nholders + !trindle__pipe_dead(p);
	pthread_mutex_unlock(&p->lock);
}

void trindle__pipe_set_name(struct pipe *p, const char *name)
{
	pthread_mutex_lock(&p->lock);
	if (name)
		snprintf(p->name, sizeof(p->name), "%s", name);
	else
		p->name[0] = '\0';
	pthread_mutex_unlock(&p->lock);
}

void trindle__pipe_get_name(struct pipe *p, char out[TRINDLE_NAME_MAX])
{
	pthread_mutex_lock(&p->lock);
	memcpy(out, p->name, TRINDLE_NAME_MAX);
	pthread_mutex_unlock(&p->lock);
}

void trindle__pipe_mark_dead(struct pipe *p)
{
	atomic_store_explicit(&p->dead, true, memory_order_seq_cst);
	/* Senders that saw the pipe alive finish their sends first. */
	while (atomic_load_explicit(&p->senders_inside, memory_order_seq_cst))
		sched_yield();
}

void trindle__pipe_notify_holders(struct pipe *p)
{
	pthread_mutex_lock(&p->lock);
	for (size_t i = 0; i < p->nholders; i++) {
		trindle__pipe_ref(p); /* the notice holds the pipe */
		trindle__holder_notify(p->holders[i], (struct notice){
				NOTICE_PIPE_DIED, 0, p });
	}
	p->nholders = 0;
	pthread_mutex_unlock(&p->lock);
}

static bool add_holder_locked(struct pipe *p, struct holder *proc)
{
	struct holder **v = trindle__grow(p->holders, &p->holders_capacity,
			p->nholders, sizeof(*v), 4);
	if (!v)
		return false;
	p->holders = v;
	p->holders[p->nholders++] = proc;
	if (keep_summaries) {
		uint32_t t = trindle__trace_track(proc);
		bool known = false;
		for (size_t i = 0; i < p->n_ever_senders; i++)
			known |= p->ever_senders[i] == t;
		if (!known && p->n_ever_senders < PIPE_SENDERS_KEPT)
			p->ever_senders[p->n_ever_senders++] = t;
	}
	return true;
}

bool trindle__pipe_grant(struct pipe *p, struct holder *proc)
{
	bool ok = false;

	pthread_mutex_lock(&p->lock);
	if (!trindle__pipe_dead(p) && add_holder_locked(p, proc)) {
		atomic_fetch_add_explicit(&p->other_holds, 1,
				memory_order_seq_cst);
		trindle__pipe_ref(p);
		ok = true;
	}
	pthread_mutex_unlock(&p->lock);
	return ok;
}

void trindle__pipe_carry(struct pipe *p)
{
	atomic_fetch_add_explicit(&p->other_holds, 1, memory_order_seq_cst);
	trindle__pipe_ref(p);
}

/* One hold other than the receiver's went away: if it was the last, a
 * receiver waiting for messages learns that none can come. */
static void lose_other_hold(struct pipe *p)
{
	if (atomic_fetch_sub_explicit(&p->other_holds, 1,
			memory_order_seq_cst) == 1)
		wake_receiver(p);
}

void trindle__pipe_uncarry(struct pipe *p)
{
	lose_other_hold(p);
	trindle__pipe_unref(p);
}

bool trindle__pipe_adopt(struct pipe *p, struct holder *proc)
{
	bool ok = false;

	pthread_mutex_lock(&p->lock);
	if (!trindle__pipe_dead(p))
		ok = add_holder_locked(p, proc);
	pthread_mutex_unlock(&p->lock);
	if (!ok)
		trindle__pipe_uncarry(p);
	return ok;
}

void trindle__pipe_drop_holder(struct pipe *p, struct holder *proc)
{
	pthread_mutex_lock(&p->lock);
	for (size_t i = 0; i < p->nholders; i++) {
		if (p->holders[i] == proc) {
			p->holders[i] = p->holders[--p->nholders];
			break;
		}
	}
	pthread_mutex_unlock(&p->lock);
	lose_other_hold(p);
	trindle__pipe_unref(p);
}
