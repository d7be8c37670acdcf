/* SPDX-License-Identifier: MIT */
/*
 * sync.c - trindle_sync: send, receive and release in one batch.
 *
 * A sync runs in four steps:
 *  1. plan: find the sends that are moves (a later release of the same
 *     segment in this outbox), so that their hold passes to the message
 *     without ever being counted twice - no protection change;
 *  2. outgoing: handle each message in order, packing failures in front;
 *     a segment that becomes shared turns read-only before the message
 *     that shares it is published, and a release takes effect (pages,
 *     notices) before the next message, so effects keep the outbox order;
 *  3. settle: apply what receiving changed;
 *  4. incoming: notices, then messages fairly from the requested pipes,
 *     waiting (spin, then futex) only when the contract says so.
 */
#include <stdlib.h>
#include <string.h>

#include "grow.h"
#include "pipe.h"
#include "process.h"
#include "segment.h"
#include "trace.h"
#include "wait.h"

/* How long a receiver spins before it sleeps.  A wake-up costs the waker a
 * system call and the sleeper a trip through the scheduler (on a virtual
 * machine, an interrupt of the sleeper's CPU), so a receiver whose
 * messages come a little apart (a file source's large chunks) is better
 * off spinning through the gap, on a core nobody else of ours needs (see
 * wait.c).  The budget adapts between these bounds (adapt_spin); why the
 * cap is where it is: benchmarks/RESULTS.md and the commit that set it. */
#define SYNC_SPIN_NS 250000
#define SYNC_SPIN_MIN_NS 2000

static struct cap *fresh_marks(struct process *p, struct cap *c)
{
	if (c->mark_epoch != p->epoch) {
		c->mark_epoch = p->epoch;
		c->marks = 0;
		c->move_send = 0;
	}
	return c;
}

/* Is msgs[i] a release of the object msgs[i - 1] sends?  Then that send
 * is a move: it is the last send before the release. */
static bool releases_previous(const trindle_message_t *msgs, size_t i)
{
	return i > 0 && !msgs[i].address && msgs[i].content &&
		msgs[i - 1].address && msgs[i - 1].content == msgs[i].content;
}

/* Does the outbox need planning: a release that does not directly follow
 * a send of the same object, which an earlier send might make a move? */
static bool needs_plan(const trindle_message_t *msgs, size_t n)
{
	const void *just_sent = NULL;

	for (size_t i = 0; i < n; i++) {
		if (msgs[i].address) {
			just_sent = msgs[i].content;
		} else {
			if (msgs[i].content && msgs[i].content != just_sent)
				return true;
			just_sent = NULL;
		}
	}
	return false;
}

/* Can a send of what c names be a move?  A segment's, or a pipe's by its
 * receiver (which hands over the receive right).  A sender's send and
 * release of a pipe just pass its SEND on. */
static bool movable(const struct cap *c)
{
	return c->obj->kind == OBJECT_SEGMENT ||
		(c->rights & TRINDLE_ACCESS_RECEIVE);
}

/* Step 1 (only for outboxes that need it, from the first send that a
 * release does not directly follow): for each segment (or received pipe)
 * released, the last send of it before its first release becomes a move;
 * every other send of it, and every send of one never released, stays a
 * share.
 * Walked backwards: a release opens a claim (CAP_RELEASE_LATER) that the
 * nearest earlier send takes; an earlier release starts the claim over,
 * so what is left at the front is the claim of the first release. */
static void plan_moves(struct process *p, const trindle_message_t *msgs,
		size_t from, size_t n)
{
	for (size_t i = n; i-- > from;) {
		if (!msgs[i].content)
			continue;
		struct cap *c = trindle__cap_find(&p->caps, msgs[i].content);
		if (!c || !movable(c))
			continue;
		fresh_marks(p, c);
		if (!msgs[i].address) {
			c->marks |= CAP_RELEASE_LATER;
			c->move_send = 0;
		} else if (c->marks & CAP_RELEASE_LATER) {
			c->marks &= (uint8_t)~CAP_RELEASE_LATER;
			c->move_send = i + 1;
		}
	}
}

static bool add_request(struct process *p, struct pipe *pipe)
{
	struct pipe **v = trindle__grow(p->requests, &p->requests_capacity,
			p->nrequests, sizeof(*v), 16);
	if (!v)
		return false;
	p->requests = v;
	p->requests[p->nrequests++] = pipe;
	return true;
}

static bool do_request(struct process *p, trindle_pipe_t address)
{
	struct cap *c = trindle__cap_find_pipe(&p->caps, address);

	if (!c || !(c->rights & TRINDLE_ACCESS_RECEIVE))
		return false;
	fresh_marks(p, c);
	if (c->marks & CAP_MOVED)
		return false; /* its receive right left in this sync */
	if (c->marks & CAP_REQUESTED)
		return true; /* asked twice: served once */
	if (!add_request(p, (struct pipe *)c->obj))
		return false;
	c->marks |= CAP_REQUESTED;
	return true;
}

/* A pipe the caller requested in this sync and is about to kill: the
 * request goes with it, so the receive step never reads a freed pipe and
 * never waits on senders (carriers of the pipe) that can no longer send. */
static void drop_request(struct process *p, struct pipe *pipe)
{
	for (size_t i = 0; i < p->nrequests; i++) {
		if (p->requests[i] == pipe) {
			/* Keep the order: pipes served equally long ago (never,
			 * say) are served in the order they were requested. */
			memmove(&p->requests[i], &p->requests[i + 1],
				(p->nrequests - i - 1) * sizeof(*p->requests));
			p->nrequests--;
			return;
		}
	}
}

static bool do_release(struct process *p, trindle_object_t content)
{
	struct cap *c = trindle__cap_find(&p->caps, content);

	if (!c)
		return false;
	if (c->mark_epoch == p->epoch) {
		if (c->marks & CAP_SEND_FAILED)
			return false; /* a move is all or nothing */
		if (c->marks & CAP_MOVED) {
			/* The message took this hold over already (a pipe
			 * may have died with it since: see charge()). */
			struct object *o = c->obj;
			trindle__cap_remove(&p->caps, c);
			if (o->kind == OBJECT_PIPE)
				trindle__pipe_unref((struct pipe *)o);
			return true;
		}
	}
	/* A dead pipe is not a live object: releasing it fails, and its
	 * closure notice, still queued, ends the hold. */
	if (c->obj->kind == OBJECT_PIPE &&
	    trindle__pipe_dead((struct pipe *)c->obj))
		return false;
	if (c->obj->kind == OBJECT_PIPE && (c->rights & TRINDLE_ACCESS_RECEIVE))
		drop_request(p, (struct pipe *)c->obj); /* it dies now */
	trindle__process_release_cap(p, c);
	return true;
}

/*
 * Sends.  A run of sends to one pipe (with the releases of moves between
 * them) enters the pipe once and claims its cells with one CAS.  The run's
 * messages are published together when it ends, after one settle that
 * makes every segment they share read-only (neighbours in one mprotect).
 * Cells claimed for sends that then fail are given back, or if another
 * sender claimed cells after them, published empty for the receiver to
 * skip.
 */
#define PENDING_MAX 64

struct pending_send {
	size_t pos;          /* the claimed cell */
	size_t index;        /* the message's place in the outbox */
	struct object *obj;
	bool shared;         /* a segment sent without a move */
};

struct send_state {
	trindle_pipe_t address;  /* the pipe last looked up */
	struct pipe *pipe;       /* ... and what it names (NULL: no SEND) */
	bool full;               /* ... and whether a send to it found no room */
	bool entered;
	bool planned;            /* step 1 ran (or was found needless) */
	bool any_failed;         /* some outgoing message failed; until
	                          * then p->status is not written at all */
	size_t n;                /* messages in the outbox */
	size_t pos, end;         /* cells claimed and not yet used */
	size_t npending;
	struct pending_send pending[PENDING_MAX];
};

/* Outgoing message i failed.  The status array is filled (everything
 * went through) only at the first failure, so a sync where all goes
 * through never writes it. */
static void fail_message(struct process *p, struct send_state *st, size_t i)
{
	if (!st->any_failed) {
		memset(p->status, true, st->n * sizeof(*p->status));
		st->any_failed = true;
	}
	p->status[i] = false;
}

/* A shared segment whose pages the kernel would not make read-only (out
 * of memory mappings) is not sent after all: its send fails. */
static struct object *checked(struct process *p, struct send_state *st,
		struct pending_send *e)
{
	struct segment *s = (struct segment *)e->obj;

	if (!e->shared || !trindle__segment_unprotected(s))
		return e->obj;
	trindle__segment_uncharge(s);
	fail_message(p, st, e->index);
	struct cap *c = trindle__cap_find(&p->caps, s->base);
	if (c)
		fresh_marks(p, c)->marks |= CAP_SEND_FAILED;
	return NULL;
}

/* The trace's side of publishing: a flow start per message that went,
 * then the pipe's depth.  (Only when this sync is traced.)  now was read
 * before the messages were published, so that no receiver can take one
 * (and stamp the flow's end) before its start. */
static void trace_published(struct process *p, struct send_state *st,
		int64_t now)
{
	size_t sent = 0;

	for (size_t i = 0; i < st->npending; i++) {
		struct pending_send *e = &st->pending[i];
		if (st->any_failed && !p->status[e->index])
			continue;
		trindle__trace_event(p->holder.track, TRACE_FLOW_OUT, now, 0,
				trindle__trace_flow_id(st->pipe->serial, e->pos),
				0);
		sent++;
	}
	p->traced_sends += (uint32_t)sent;
	trindle__trace_event(p->holder.track, TRACE_DEPTH, now, 0,
			st->pipe->serial, trindle__pipe_measure(st->pipe));
}

static void publish_pending(struct process *p, struct send_state *st)
{
	int64_t now = 0;

	trindle__process_settle(p);
	if (unlikely(p->tracing))
		now = trindle__now_ns();
	for (size_t i = 0; i < st->npending; i++) {
		struct pending_send *e = &st->pending[i];
		trindle__pipe_publish(st->pipe, e->pos, checked(p, st, e));
	}
	if (unlikely(p->tracing))
		trace_published(p, st, now);
	st->npending = 0;
}

static void leave_pipe(struct process *p, struct send_state *st)
{
	if (!st->entered)
		return;
	publish_pending(p, st);
	/* Cells claimed for sends that failed: given back if nobody claimed
	 * after them, else published empty (they hold room until skipped). */
	if (st->pos < st->end &&
	    !trindle__pipe_unclaim(st->pipe, st->pos, st->end))
		while (st->pos < st->end)
			trindle__pipe_skip(st->pipe, st->pos++);
	st->pos = st->end = 0;
	trindle__pipe_leave(st->pipe);
	st->entered = false;
}

/* Forgets the looked-up pipe (a release may have changed what it is). */
static void forget_pipe(struct process *p, struct send_state *st)
{
	leave_pipe(p, st);
	st->address = NULL;
	st->pipe = NULL;
}

static struct pipe *send_target(struct process *p, struct send_state *st,
		trindle_pipe_t address)
{
	if (address == st->address && st->address)
		return st->pipe;
	forget_pipe(p, st);
	struct cap *pc = trindle__cap_find_pipe(&p->caps, address);
	st->address = address;
	st->full = false;
	if (pc && (pc->rights & TRINDLE_ACCESS_SEND)) {
		st->pipe = (struct pipe *)pc->obj;
		st->full = pc->mark_epoch == p->epoch && (pc->marks & CAP_FULL);
	}
	return st->pipe;
}

/* A send to the current pipe found no room: later sends to it in this
 * sync fail too, so the failed messages, passed again, keep their order. */
static void note_full(struct process *p, struct send_state *st)
{
	struct cap *pc = trindle__cap_find(&p->caps, st->address);

	st->full = true;
	if (pc)
		fresh_marks(p, pc)->marks |= CAP_FULL;
}

/* Sends to the same pipe from msgs[i] on, with the releases of moves
 * between them: the cells to claim at once. */
static size_t run_of_sends(const trindle_message_t *msgs, size_t i, size_t n)
{
	trindle_pipe_t pipe = msgs[i].address;
	size_t k = 0;

	for (size_t j = i; j < n && k < PENDING_MAX; j++) {
		if (msgs[j].address == pipe && msgs[j].content)
			k++;
		else if (msgs[j].address || !msgs[j].content ||
			 msgs[j].content != msgs[j - 1].content)
			break; /* not the release of the send just before */
	}
	return k;
}

/* A cell for one message: enters the pipe and claims cells as needed. */
/* Cells claimed and unused at st->pos, or, when none are left, up to want
 * more (entering the pipe first); false when the pipe is dead or full
 * (then noted, so later sends to it fail). */
static bool have_cells(struct process *p, struct send_state *st, size_t want)
{
	if (st->pos < st->end)
		return true;
	if (!st->entered) {
		if (trindle__pipe_enter(st->pipe) < 0)
			return false;
		st->entered = true;
	}
	size_t got = trindle__pipe_claim(st->pipe, want, &st->pos);
	st->end = st->pos + got;
	if (!got) {
		note_full(p, st);
		return false;
	}
	return true;
}

static bool claim_cell(struct process *p, struct send_state *st,
		const trindle_message_t *msgs, size_t i, size_t n, size_t *pos)
{
	if (st->full || (st->pos == st->end &&
			 !have_cells(p, st, run_of_sends(msgs, i, n))))
		return false;
	*pos = st->pos++;
	return true;
}

/* Puts the hold of c's object on a message (the sender's, for a move);
 * returns what the message carries. */
static struct object *charge(struct process *p, struct cap *c, bool move)
{
	if (c->obj->kind == OBJECT_PIPE) {
		struct pipe *pipe = (struct pipe *)c->obj;
		if (!move) {
			trindle__pipe_carry(pipe);
			return c->obj;
		}
		/* The receive right, with the receiver's reference: nobody
		 * receives from it (not even a request of this sync) until
		 * the message is taken.  Until the release that completes
		 * the move, the capability keeps a reference of its own:
		 * the carrier may die in between, and the pipe with it. */
		drop_request(p, pipe);
		trindle__pipe_ref(pipe);
		trindle__pipe_set_receiver(pipe, NULL);
		return trindle__pipe_receive_msg(pipe);
	}
	struct segment *s = (struct segment *)c->obj;
	if (move && trindle__segment_charge_move_fast(s))
		return c->obj;
	trindle__segment_charge(s, &p->holder, move);
	if (!move || unlikely(trindle__segment_debug_in_flight()))
		trindle__process_mark_dirty(p, s); /* protected before publishing */
	return c->obj;
}

/* A pipe's receive right cannot go through the pipe itself (nobody could
 * ever take it), nor can a worker's input pipe move: it is the worker's
 * name, and dies with it. */
static bool move_refused(struct process *p, const struct cap *c,
		const struct pipe *through)
{
	return c->obj->kind == OBJECT_PIPE && (c->obj == &through->obj ||
		(const struct pipe *)c->obj == p->input);
}

enum send_result {
	SEND_FAILED,
	SEND_DONE,
	SEND_AND_RELEASE_DONE, /* a move, with the release that follows it */
};

static enum send_result do_send(struct process *p, struct send_state *st,
		const trindle_message_t *msgs, size_t i, size_t n)
{
	const trindle_message_t *m = &msgs[i];
	struct cap *c = trindle__cap_find(&p->caps, m->content);
	struct pipe *pipe = send_target(p, st, m->address);
	size_t pos;

	if (c)
		fresh_marks(p, c);
	if (!c || !pipe || trindle__pipe_dead(pipe) ||
	    (c->obj->kind == OBJECT_PIPE &&
	     trindle__pipe_dead((struct pipe *)c->obj)))
		goto failed;
	bool segment = c->obj->kind == OBJECT_SEGMENT;
	bool adjacent = i + 1 < n && releases_previous(msgs, i + 1);
	if (!adjacent && !st->planned) {
		/* Sends before this one were moves with their releases next
		 * to them: only from here on can a release lie further off. */
		st->planned = true;
		if (needs_plan(msgs + i, n - i))
			plan_moves(p, msgs, i, n);
	}
	bool move = movable(c) && !(c->marks & CAP_SEND_FAILED) &&
		(adjacent || c->move_send == i + 1);
	if ((move && !segment && move_refused(p, c, pipe)) ||
	    !claim_cell(p, st, msgs, i, n, &pos))
		goto failed;
	struct object *carried = charge(p, c, move);
	st->pending[st->npending++] = (struct pending_send){
		pos, i, carried, segment && !move };
	if (st->npending == PENDING_MAX)
		publish_pending(p, st);
	if (move && adjacent) {
		struct object *o = c->obj;
		trindle__cap_remove(&p->caps, c);
		if (o->kind == OBJECT_PIPE)
			trindle__pipe_unref((struct pipe *)o); /* charge()'s */
		return SEND_AND_RELEASE_DONE;
	}
	if (move)
		c->marks |= CAP_MOVED;
	return SEND_DONE;
failed:
	if (c)
		c->marks |= CAP_SEND_FAILED;
	return SEND_FAILED;
}

/* Cells for up to k moves of a run (entering the pipe first), at
 * st->pos: how many, 0 when the pipe is dead or full (then noted, so
 * later sends to it fail). */
static size_t claim_moves(struct process *p, struct send_state *st, size_t k)
{
	if (st->pos == st->end && (trindle__pipe_dead(st->pipe) ||
			!have_cells(p, st, k)))
		return 0;
	return st->end - st->pos < k ? st->end - st->pos : k;
}

/*
 * The common outbox's fast path: a run of moves to one pipe, each a send
 * of a segment this process holds alone, directly followed by its release.
 * Such a move changes no protection and no hold count (the hold passes to
 * the message as it is), and nothing of this sync marked its capability
 * (a mark would mean an earlier send of it, whose outcome this one must
 * respect).  So, up to PENDING_MAX at a time, the capabilities come off
 * the table (or off its queue of recent receipts, cap.h), one claim
 * takes the cells, and the segments are published at
 * once, without pending entries (only when nothing earlier waits to be
 * settled: publish_pending settles before it publishes).  If the pipe
 * turns out dead or full, the capabilities of the moves that got no cell
 * go back as they were (a segment's has no rights, and had no marks), and
 * the general path fails them.  A receiver takes cells in position order,
 * so publishing a move before a send claimed ahead of it keeps the
 * sender's order.  Returns the messages handled (two per move); at the
 * first that does not fit, the general path (do_send) takes over, with
 * any cells claimed and unused.
 */
static size_t move_run(struct process *p, struct send_state *st,
		const trindle_message_t *msgs, size_t i, size_t n)
{
	trindle_pipe_t address = msgs[i].address;
	struct pipe *pipe = send_target(p, st, address);
	struct object *objs[PENDING_MAX];
	size_t j = i;

	/* The in-flight debug mode protects moved segments: the general path
	 * (trindle__segment_charge_move_fast() says so per segment; the flag
	 * is set once, at start, so asking once per run is the same). */
	if (!pipe || st->full || unlikely(p->tracing) ||
	    unlikely(trindle__segment_debug_in_flight()))
		return 0;
	/* Pages or notices still to settle (an earlier release, a share
	 * pending in this run): the general path publishes this run after
	 * one settle of all of it, as the notices' order expects (trindle.h:
	 * those of one settle go in address order). */
	if (p->ndirty)
		return 0;
	uint32_t epoch = p->epoch;
	struct cap_table *t = &p->caps;
	for (;;) {
		size_t k = 0, done = 0, e = j;
		size_t last = j + 2 * PENDING_MAX < n - 1 ? j + 2 * PENDING_MAX :
			n - 1; /* pairs msgs[e], msgs[e + 1] for e < last */
		/* The queued receipts' cursor, kept in t after the loop
		 * (and before a probe, which may settle them). */
		size_t r = t->recent_next, nr = t->nrecent;
		for (; e < last; e += 2) {
			const trindle_message_t *m = &msgs[e];
			const void *content = m[0].content;
			if (m[0].address != address ||
			    !releases_previous(msgs, e + 1))
				break;
			/* The first or the last queued receipt (sent on in
			 * the order received, or the reverse: a relay, a
			 * stack of free buffers): a segment, never marked
			 * (marking looks it up, which settles the queue),
			 * that leaves without ever having had an entry. */
			struct cap_recent *q = NULL;
			if (r < nr) {
				if (t->recent[r].key == (uintptr_t)content)
					q = &t->recent[r];
				else if (t->recent[nr - 1].key ==
						(uintptr_t)content)
					q = &t->recent[nr - 1];
			}
			if (q) {
				if (atomic_load_explicit(&((struct segment *)
						q->obj)->holds,
						memory_order_acquire) != 1)
					break;
				objs[k++] = q->obj;
				if (q == &t->recent[r])
					r++;
				else
					nr--;
				continue;
			}
			/* What the probe may settle: */
			t->recent_next = r;
			t->nrecent = nr;
			struct cap *c = trindle__cap_probe(t,
					(uintptr_t)content);
			r = t->recent_next;
			nr = t->nrecent;
			if (c->key != (uintptr_t)content || !c->obj ||
			    c->mark_epoch == epoch ||
			    c->obj->kind != OBJECT_SEGMENT ||
			    atomic_load_explicit(&((struct segment *)
					c->obj)->holds,
					memory_order_acquire) != 1)
				break; /* not charge_move_fast() */
			objs[k++] = c->obj;
			trindle__cap_remove(t, c);
		}
		t->recent_next = r;
		t->nrecent = nr;
		if (r == nr)
			t->recent_next = t->nrecent = 0;
		while (done < k) {
			size_t got = claim_moves(p, st, k - done);
			if (!got)
				break;
			trindle__pipe_publish_many(pipe, st->pos, objs + done,
					got);
			st->pos += got;
			done += got;
		}
		j += 2 * done;
		if (done < k) {
			/* Each takes its own tombstone again, or, taken
			 * from the queued receipts, the room reserved for
			 * it when it came: nothing is allocated, nothing
			 * can fail. */
			for (bool ins; done < k; done++)
				trindle__cap_find_or_insert(&p->caps,
						((struct segment *)objs[done])->base,
						objs[done], 0, &ins);
			return j - i;
		}
		if (k < PENDING_MAX)
			return j - i;
	}
}

static int reserve_status(struct process *p, size_t n)
{
	if (n <= p->status_capacity)
		return 0;
	bool *v = realloc(p->status, n * sizeof(*v));
	if (!v)
		return -ENOMEM;
	p->status = v;
	p->status_capacity = n;
	return 0;
}

/* Step 2: handles the outbox in order; returns the number that failed,
 * packed at the front in their original order.  (A send's outcome may be
 * known only when its run is published, so packing comes last.) */
static size_t handle_outgoing(struct process *p, trindle_message_t *msgs,
		size_t n)
{
	struct send_state st; /* the pending array needs no zeroing */
	size_t failed = 0;

	st.address = NULL;
	st.pipe = NULL;
	st.full = false;
	st.entered = false;
	st.pos = st.end = st.npending = 0;
	st.planned = st.any_failed = false;
	st.n = n;

	for (size_t i = 0; i < n; i++) {
		trindle_message_t m = msgs[i];
		bool ok;
		if (m.address && m.content) {
			if (i + 1 < n && releases_previous(msgs, i + 1)) {
				size_t k = move_run(p, &st, msgs, i, n);
				if (k) {
					i += k - 1;
					continue;
				}
			}
			enum send_result r = do_send(p, &st, msgs, i, n);
			if (r == SEND_FAILED)
				fail_message(p, &st, i);
			if (r == SEND_AND_RELEASE_DONE)
				i++; /* the release is done too */
			continue;
		}
		forget_pipe(p, &st); /* a release may kill a pipe we are in */
		if (m.address)
			ok = do_request(p, m.address);
		else if (m.content)
			ok = do_release(p, m.content);
		else
			ok = false;
		if (!ok)
			fail_message(p, &st, i);
	}
	forget_pipe(p, &st);
	if (!st.any_failed)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!p->status[i])
			msgs[failed++] = msgs[i];
	return failed;
}

/* A pipe's receive right arrives: p becomes its receiver, with SEND too.
 * A SEND p held already merges into it (one capability, one hold). */
static void adopt_receive(struct process *p, struct pipe *pipe)
{
	struct cap *c = trindle__cap_find(&p->caps, pipe);

	pipe->last_served = 0; /* never served by this receiver */
	trindle__pipe_set_receiver(pipe, &p->holder);
	if (c) {
		c->rights = TRINDLE_ACCESS_SEND | TRINDLE_ACCESS_RECEIVE;
		trindle__pipe_drop_holder(pipe, &p->holder);
		return;
	}
	trindle__cap_insert(&p->caps, pipe, &pipe->obj,
			TRINDLE_ACCESS_SEND | TRINDLE_ACCESS_RECEIVE);
}

/* Turns a message's hold into the receiver's capability.  The caller has
 * reserved room in the capability table. */
static void adopt(struct process *p, struct pipe *from, struct object *o,
		trindle_message_t *msg)
{
	bool inserted, receive;

	msg->address = from;
	o = trindle__msg_object(o, &receive);
	if (o->kind == OBJECT_SEGMENT) {
		struct segment *s = (struct segment *)o;
		bool settle;
		if (trindle__segment_receive_fast(s, false, &settle)) {
			/* The message was its only holder, so p has no
			 * entry for it: queued, for a move to take on
			 * (cap.h, recent receipts). */
			trindle__cap_add_recent(&p->caps, (uintptr_t)s->base, o);
		} else {
			trindle__cap_find_or_insert(&p->caps, s->base, o, 0,
					&inserted);
			if (!trindle__segment_receive_fast(s, !inserted,
					&settle))
				settle = trindle__segment_receive(s,
						&p->holder, !inserted);
		}
		if (settle)
			trindle__process_mark_dirty(p, s); /* maybe alone now */
		msg->content = s->base;
		return;
	}
	struct pipe *pipe = (struct pipe *)o;
	msg->content = pipe;
	if (receive) {
		adopt_receive(p, pipe);
		return;
	}
	if (trindle__cap_find(&p->caps, pipe))
		trindle__pipe_uncarry(pipe); /* held already: counts once */
	else if (trindle__pipe_adopt(pipe, &p->holder))
		trindle__cap_insert(&p->caps, pipe, o, TRINDLE_ACCESS_SEND);
}

/* The trace's side of taking n messages from pipe: a flow end for each
 * (completions queued past the capacity have none), then the depth. */
static void trace_taken(struct process *p, struct pipe *pipe,
		const size_t *pos, size_t n)
{
	int64_t now = trindle__now_ns();

	for (size_t i = 0; i < n; i++)
		if (pos[i] != SIZE_MAX)
			trindle__trace_event(p->holder.track, TRACE_FLOW_IN,
					now, 0, trindle__trace_flow_id(
						pipe->serial, pos[i]), 0);
	trindle__trace_event(p->holder.track, TRACE_DEPTH, now, 0,
			pipe->serial, trindle__pipe_measure(pipe));
}

/* Takes up to max messages from pipe, telling the trace when traced. */
static size_t take(struct process *p, struct pipe *pipe,
		struct object **objs, size_t max)
{
	size_t pos[64];

	if (likely(!p->tracing))
		return trindle__pipe_pop(pipe, objs, max);
	size_t n = trindle__pipe_pop_traced(pipe, objs, pos,
			max < 64 ? max : 64);
	if (n)
		trace_taken(p, pipe, pos, n);
	return n;
}

static size_t receive_one_pipe(struct process *p, struct pipe *pipe,
		trindle_message_t *msgs, size_t max)
{
	struct object *batch[64];
	size_t got = 0;

	while (got < max) {
		size_t want = max - got < 64 ? max - got : 64;
		if (trindle__process_reserve_caps(p, want) < 0)
			break;
		size_t n = take(p, pipe, batch, want);
		for (size_t i = 0; i < n; i++)
			adopt(p, pipe, batch[i], &msgs[got++]);
		if (n < want)
			break;
	}
	if (got)
		pipe->last_served = ++p->serve_clock;
	return got;
}

static void sort_by_last_served(struct pipe **v, size_t n)
{
	for (size_t i = 1; i < n; i++) {
		struct pipe *x = v[i];
		size_t j = i;
		while (j > 0 && v[j - 1]->last_served > x->last_served) {
			v[j] = v[j - 1];
			j--;
		}
		v[j] = x;
	}
}

/* Fair delivery: one message from each requested pipe in turn, the least
 * recently served first. */
static size_t receive_fair(struct process *p, trindle_message_t *msgs,
		size_t max)
{
	size_t got = 0;
	bool progress = true;

	if (p->nrequests == 1)
		return receive_one_pipe(p, p->requests[0], msgs, max);
	sort_by_last_served(p->requests, p->nrequests);
	while (progress && got < max) {
		progress = false;
		for (size_t i = 0; i < p->nrequests && got < max; i++) {
			struct pipe *pipe = p->requests[i];
			struct object *o;
			if (trindle__process_reserve_caps(p, 1) < 0)
				return got;
			if (take(p, pipe, &o, 1) == 0)
				continue;
			adopt(p, pipe, o, &msgs[got++]);
			pipe->last_served = ++p->serve_clock;
			progress = true;
		}
	}
	return got;
}

static size_t deliver(struct process *p, trindle_message_t *msgs, size_t max)
{
	size_t got = trindle__process_take_notices(p, msgs, max);

	if (got < max && p->nrequests)
		got += receive_fair(p, msgs + got, max - got);
	return got;
}

/* Has a supervisor asked this worker to stop (launch.h)?  Its input pipe
 * lives as long as it does, so the flag can always be read. */
static bool stop_requested(struct process *p)
{
	return p->input && unlikely(atomic_load_explicit(
			&p->input->stop_requested, memory_order_relaxed));
}

static bool anyone_could_send(struct process *p)
{
	for (size_t i = 0; i < p->nrequests; i++)
		if (trindle__pipe_has_senders(p->requests[i]) ||
		    trindle__pipe_ready(p->requests[i]))
			return true;
	return false;
}

/* Wake-up test of a waiting sync: something to deliver, or nothing more
 * can ever come. */
static bool sync_ready(void *arg)
{
	struct process *p = arg;

	if (trindle__holder_has_notices(&p->holder) || stop_requested(p))
		return true;
	for (size_t i = 0; i < p->nrequests; i++)
		if (trindle__pipe_ready(p->requests[i]))
			return true;
	return !anyone_could_send(p);
}

/* Adapts how long a receiver spins before sleeping to how long its waits
 * last.  A wait that slept but ended within SYNC_SPIN_NS would have been
 * cheaper spun through: the budget grows to cover it.  A wait longer than
 * that (a slow sender, or more threads than cores) halves the budget, so
 * that waiting burns less of a busy machine. */
static void adapt_spin(struct process *p, bool slept, int64_t waited_ns)
{
	int64_t budget = p->spin_ns;

	if (!slept || waited_ns <= SYNC_SPIN_NS) {
		budget = budget * 2 > waited_ns ? budget * 2 : waited_ns;
		if (budget > SYNC_SPIN_NS)
			budget = SYNC_SPIN_NS;
	} else {
		budget = budget / 2 > SYNC_SPIN_MIN_NS ? budget / 2 :
			SYNC_SPIN_MIN_NS;
	}
	p->spin_ns = budget;
}

/* Shows the pipes a sync is about to wait on to trindle_inquire(): the
 * pipes first, then their count (release), so a reader that sees the
 * count sees pipes this process waited on. */
static void show_wait(struct process *p)
{
	size_t n = p->nrequests < HOLDER_WAIT_SHOWN ? p->nrequests :
		HOLDER_WAIT_SHOWN;

	for (size_t i = 0; i < n; i++)
		atomic_store_explicit(&p->holder.wait_on[i], p->requests[i],
				memory_order_relaxed);
	trindle__trace_track(&p->holder); /* a root's name for reports */
	atomic_store_explicit(&p->holder.wait_since, trindle__now_ns(),
			memory_order_relaxed);
	atomic_store_explicit(&p->holder.wait_count, p->nrequests,
			memory_order_release);
}

/* The wait is over: under the lock, so that the stall monitor, which
 * reads the pipes while it holds it, never sees them released. */
static void hide_wait(struct process *p)
{
	spin_lock(&p->holder.wait_lock);
	atomic_store_explicit(&p->holder.wait_count, 0, memory_order_relaxed);
	spin_unlock(&p->holder.wait_lock);
}

static size_t receive(struct process *p, trindle_mailbox_t *in,
		int64_t deadline_ns)
{
	size_t max = in ? in->count : 0;
	bool slept;

	if (!max)
		return 0;
	size_t got = deliver(p, in->address, max);
	bool shown = false;
	while (!got && p->nrequests && deadline_ns != 0 && anyone_could_send(p)) {
		if (!p->spin_ns)
			p->spin_ns = SYNC_SPIN_NS;
		if (!shown) {
			show_wait(p);
			shown = true;
		}
		int64_t start = trindle__now_ns();
		bool ready = trindle__wait_word(&p->holder.waiting, sync_ready, p,
				deadline_ns, p->spin_ns, &slept);
		int64_t end = trindle__now_ns();
		adapt_spin(p, slept, end - start);
		if (unlikely(p->tracing))
			trindle__trace_event(p->holder.track, TRACE_WAIT, start,
					end - start, 0, 0);
		if (!ready)
			break; /* timed out */
		if (stop_requested(p)) {
			hide_wait(p);
			trindle_exit(NULL);
		}
		got = deliver(p, in->address, max);
		if (deadline_ns > 0 && trindle__now_ns() >= deadline_ns)
			break;
	}
	if (shown)
		hide_wait(p);
	/* A process that ends posts its notices before it lets go of its
	 * SEND: having seen that nobody can send any more, look once more. */
	if (!got && p->nrequests)
		got = deliver(p, in->address, max);
	return got;
}

/* A traced sync starts: a root gets its track on its first one. */
static int64_t trace_begin(struct process *p)
{
	trindle__trace_track(&p->holder);
	p->traced_sends = 0;
	return trindle__now_ns();
}

static int sync_impl(trindle_mailbox_t *out, trindle_mailbox_t *in,
		int64_t deadline_ns)
{
	if ((out && out->count && !out->address) ||
	    (in && in->count && !in->address))
		return trindle__fail(-EINVAL);
	struct process *p = trindle__current();
	if (!p)
		return trindle__fail(-ENOMEM);
	if (stop_requested(p))
		trindle_exit(NULL);
	if (++p->epoch == 0)
		p->epoch = 1;
	p->nrequests = 0;
	/* The one test of the trace a sync makes when tracing is off (the
	 * sends and takes below test the field, which is in cache). */
	int64_t t0 = 0;
	p->tracing = trindle__trace_on();
	if (unlikely(p->tracing))
		t0 = trace_begin(p);
	if (out && out->count && reserve_status(p, out->count) < 0)
		return trindle__fail(-ENOMEM);
	if (out && out->count)
		out->count = handle_outgoing(p, out->address, out->count);
	trindle__process_settle(p);
	size_t got = receive(p, in, deadline_ns);
	trindle__process_settle(p);
	p->nrequests = 0;
	if (in)
		in->count = got;
	if (unlikely(p->tracing))
		trindle__trace_event(p->holder.track, TRACE_SYNC, t0,
				trindle__now_ns() - t0, p->traced_sends,
				got);
	return 0;
}

TRINDLE_PUBLIC int trindle_sync(trindle_mailbox_t *out, trindle_mailbox_t *in)
{
	return sync_impl(out, in, -1);
}

/* The deadline of a wait of timeout_ns (0: none; negative: no limit,
 * as is a deadline past what the clock can say). */
static int64_t deadline_of(int64_t timeout_ns)
{
	if (timeout_ns == 0)
		return 0;
	if (timeout_ns < 0)
		return -1;
	int64_t now = trindle__now_ns();
	return now > INT64_MAX - timeout_ns ? -1 : now + timeout_ns;
}

TRINDLE_PUBLIC int trindle_sync_timeout(trindle_mailbox_t *out,
		trindle_mailbox_t *in, int64_t timeout_ns)
{
	return sync_impl(out, in, deadline_of(timeout_ns));
}

TRINDLE_PUBLIC int trindle_wait_room(trindle_pipe_t pipe, int64_t timeout_ns)
{
	struct process *p = trindle__current();
	if (!p)
		return trindle__fail(-ENOMEM);
	struct pipe *q = trindle__process_send_pipe(p, pipe);
	if (!q)
		return trindle__fail(-EINVAL);
	int64_t deadline = deadline_of(timeout_ns);
	for (;;) {
		if (trindle__pipe_dead(q))
			return trindle__fail(-EPIPE);
		if (trindle__pipe_has_room(q))
			return 0;
		int64_t left = deadline < 0 ? -1 : deadline - trindle__now_ns();
		if (deadline >= 0 && left <= 0)
			return trindle__fail(-ETIMEDOUT);
		trindle__pipe_wait_room(q, left);
	}
}
