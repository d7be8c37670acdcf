/* SPDX-License-Identifier: MIT */
/*
 * model.c - the reference model of the contract (see model.h).
 *
 * State: who holds what (a process's capability, or a message queued in a
 * pipe), each pipe's queue in order, each process's pending notices.  A
 * segment's holders are the processes holding it plus the messages that
 * carry it; its rights follow their number.
 *
 * Notices are queued the way the contract lets a careful implementation
 * queue them, and checked when taken: a sole-holder notice is delivered
 * only if its receiver still holds the segment alone, a pipe's closure
 * notice only if its receiver still holds the pipe (and it ends the hold).
 *
 * Where trindle.h leaves room, the model takes these guesses (GUESS):
 *  - notice order: a closure notice is queued when its pipe dies; a
 *    sole-holder notice when the acting process's sync settles (the end of
 *    each run of sends to one pipe that got into the pipe, and the end of
 *    the outbox), those of one settle in address order; a segment shared
 *    again before that settle gets none.  A queued notice that is no
 *    longer true when taken is dropped; one that became true again is
 *    delivered, so one segment may give two notices;
 *  - fairness: pipes served equally long ago (never, say) go in the order
 *    of their requests in the outbox;
 *  - a send that fails makes every later release of the same object in
 *    that call fail, pipes included, not only the release of a move;
 *  - a creator's release that fails (a send of that pipe failed) leaves
 *    the pipe and its receive request alone;
 *  - a pipe moved by the process holding RECEIVE on it (the last send of
 *    it before its first release; issue 14, SPEC-14 A) hands RECEIVE over
 *    with the queue intact; a move through the pipe itself, or of a
 *    worker's own input, fails (send and release) before the send looks
 *    at the room left (it fills no run, settles nothing);
 *  - between a move's send and its release (not adjacent), the mover no
 *    longer holds RECEIVE: a receive request there fails; a release that
 *    completes a move succeeds even if the carrier died meanwhile (the
 *    move went through; the mover gets no closure notice: main caee84d);
 *  - a moved pipe counts as never served by its new receiver (fairness);
 *  - trindle_exit(X) with X the out pipe itself, held with RECEIVE: the
 *    move cannot be made, so X is released (it dies);
 *  - pipes that die together (a worker's end, or carried in a dying pipe)
 *    post their closure notices in an order left open (m_note.loose): the
 *    harness has the model take them in the library's order;
 *  - an extended segment gives no sole-holder notice (a notice promises
 *    WRITE), and READ|EXECUTE covers its whole pages;
 *  - a worker's final object goes to out (err) only while the worker holds
 *    SEND on that very pipe and it lives; otherwise it is released;
 *  - a dead pipe still held (notice pending) measures 0, has no access,
 *    and cannot be released (the lead's decision), nor sent.
 */
#include "model.h"

#include <stdlib.h>
#include <string.h>

struct m_stats m_stats;
bool m_stats_on = true;
#define COUNT(x) (m_stats.x += m_stats_on)

void m_init(struct model *m, size_t page)
{
	memset(m, 0, sizeof(*m));
	m->page = page;
	for (int i = 0; i < M_PROCS; i++) {
		m->p[i].input = m->p[i].out = m->p[i].err = -1;
	}
	m->p[0].alive = true;
}

int m_find(const struct model *m, uintptr_t addr)
{
	if (!addr)
		return -1;
	for (int i = m->nobj; i-- > 0;)
		if (m->o[i].addr == addr && m->o[i].named)
			return i;
	return -1;
}

static int new_obj(struct model *m, int kind, uintptr_t addr)
{
	if (m->nobj == M_OBJS) {
		m->overflow = true;
		return -1;
	}
	for (int i = 0; addr && i < m->nobj; i++)
		if (m->o[i].addr == addr)
			m->o[i].named = false;
	int id = m->nobj++;
	struct m_obj *o = &m->o[id];
	memset(o, 0, sizeof(*o));
	o->kind = kind;
	o->addr = addr;
	o->named = true;
	o->live = true;
	o->notify = -1;
	o->creator = -1;
	o->worker = -1;
	return id;
}

int m_segment(struct model *m, int proc, uintptr_t addr, size_t bytes,
	      uint32_t tag, size_t zlo, size_t zhi)
{
	int id = new_obj(m, M_SEG, addr);
	if (id < 0)
		return -1;
	m->o[id].bytes = bytes;
	m->o[id].tag = tag;
	m->o[id].zlo = zlo;
	m->o[id].zhi = zhi;
	m->p[proc].hold[id] = true;
	return id;
}

int m_pipe(struct model *m, int proc, uintptr_t addr, size_t cap)
{
	int id = new_obj(m, M_PIPE, addr);
	if (id < 0)
		return -1;
	m->o[id].cap = cap;
	m->o[id].creator = proc;
	m->p[proc].hold[id] = true;
	return id;
}

/* Messages queued anywhere that carry id. */
static int in_flight(const struct model *m, int id)
{
	int n = 0;
	for (int i = 0; i < m->nobj; i++) {
		const struct m_obj *o = &m->o[i];
		if (o->kind != M_PIPE)
			continue;
		for (int k = 0; k < o->qlen; k++)
			n += o->q[k] == id;
	}
	return n;
}

bool m_holds(const struct model *m, int proc, int id)
{
	return m->p[proc].alive && m->p[proc].hold[id] &&
		!m->p[proc].moving[id];
}

int m_holders(const struct model *m, int id)
{
	int n = in_flight(m, id);
	for (int p = 0; p < M_PROCS; p++)
		n += m_holds(m, p, id);
	return n;
}

/* The one process holding id, if its only holder is a process. */
static int sole_process(const struct model *m, int id)
{
	if (m_holders(m, id) != 1)
		return -1;
	for (int p = 0; p < M_PROCS; p++)
		if (m_holds(m, p, id))
			return p;
	return -1;
}

static void push_note(struct model *m, int proc, int kind, int obj)
{
	struct m_proc *p = &m->p[proc];
	if (!p->alive)
		return;
	if (p->nnotes == M_NOTES) {
		m->overflow = true;
		return;
	}
	p->notes[p->nnotes++] = (struct m_note){ kind, obj,
		kind == M_NOTE_DIED && m->loose_now };
}

/* A hold on segment id went away (a release, or a dropped message). */
static void segment_lost_hold(struct model *m, int id)
{
	struct m_obj *o = &m->o[id];
	if (m_holders(m, id) == 0) {
		o->live = false;
		o->notify = -1;
		return;
	}
	o->notify = sole_process(m, id);
}

/* The acting process settles: due sole-holder notices go out, in address
 * order of their segments. */
static void settle(struct model *m)
{
	for (;;) {
		int best = -1;
		for (int i = 0; i < m->nobj; i++) {
			struct m_obj *o = &m->o[i];
			if (o->kind == M_SEG && o->notify >= 0 &&
			    (best < 0 || o->addr < m->o[best].addr))
				best = i;
		}
		if (best < 0)
			return;
		struct m_obj *o = &m->o[best];
		int to = o->notify;
		o->notify = -1;
		if (o->live && !o->extended && sole_process(m, best) == to)
			push_note(m, to, M_NOTE_SOLE, best);
	}
}

/* Pipe id dies: its RECEIVE holder (actor) released it or ended, or
 * (actor -1) the pipe carrying its RECEIVE died.  What it queued is
 * released; a pipe whose RECEIVE it queued dies too. */
static void kill_pipe(struct model *m, int actor, int id)
{
	struct m_obj *o = &m->o[id];
	int q[M_QMAX], n = o->qlen;
	bool mv[M_QMAX], was_loose = m->loose_now;

	memcpy(q, o->q, sizeof(int) * (size_t)n);
	memcpy(mv, o->qmove, sizeof(bool) * (size_t)n);
	o->live = false;
	o->creator = -1;
	if (actor >= 0)
		m->p[actor].hold[id] = false;
	for (int k = 0; k < n; k++)
		if (mv[k])
			m->loose_now = true;
	if (actor < 0)
		m->loose_now = true;
	for (int p = 0; p < M_PROCS; p++)
		if (m->p[p].moving[id])
			m->died_moving = true;
	/* Its holders' notices, then what it queued goes (pipes whose
	 * RECEIVE it carried die after it).  A process in the middle of
	 * moving it (its release still to come in the same sync) is letting
	 * go already: no notice. */
	for (int p = 0; p < M_PROCS; p++)
		if (p != actor && m->p[p].alive && m->p[p].hold[id] &&
		    !m->p[p].moving[id])
			push_note(m, p, M_NOTE_DIED, id);
	for (int k = 0; k < n; k++) {
		o->qlen = n - k - 1;
		memmove(o->q, o->q + 1, sizeof(int) * (size_t)o->qlen);
		memmove(o->qmove, o->qmove + 1, sizeof(bool) * (size_t)o->qlen);
		if (m->o[q[k]].kind == M_SEG)
			segment_lost_hold(m, q[k]);
		else if (mv[k] && m->o[q[k]].live) {
			COUNT(carrier_kills);
			kill_pipe(m, -1, q[k]);
		}
	}
	o->qlen = 0;
	m->loose_now = was_loose;
}

/* proc's hold on pipe id ended (a release, or its closure notice). */
static void hold_ended(struct model *m, int proc, int id)
{
	struct m_proc *p = &m->p[proc];
	if (!(m->known & M_KNOWN_FORGETS_COMPLETION_PIPE))
		return;
	if (id == p->out)
		p->forgot_out = true;
	if (id == p->err)
		p->forgot_err = true;
}

static void release_hold(struct model *m, int proc, int id)
{
	struct m_obj *o = &m->o[id];

	if (o->kind == M_PIPE && o->creator == proc && o->live) {
		kill_pipe(m, proc, id);
		return;
	}
	m->p[proc].hold[id] = false;
	if (o->kind == M_SEG)
		segment_lost_hold(m, id);
	else
		hold_ended(m, proc, id);
}

/* Queues obj in pipe; move: the message carries obj's RECEIVE. */
static bool enqueue(struct model *m, int pipe, int obj, bool move)
{
	struct m_obj *o = &m->o[pipe];
	if (o->qlen == M_QMAX) {
		m->overflow = true;
		return false;
	}
	o->qmove[o->qlen] = move;
	o->q[o->qlen++] = obj;
	if (move)
		m->o[obj].creator = -1;
	return true;
}

static int dequeue(struct model *m, int pipe, bool *move)
{
	struct m_obj *o = &m->o[pipe];
	int x = o->q[0];
	*move = o->qmove[0];
	o->qlen--;
	memmove(o->q, o->q + 1, sizeof(int) * (size_t)o->qlen);
	memmove(o->qmove, o->qmove + 1, sizeof(bool) * (size_t)o->qlen);
	return x;
}

bool m_cycle(const struct model *m)
{
	int carrier[M_OBJS];

	for (int i = 0; i < m->nobj; i++)
		carrier[i] = -1;
	for (int i = 0; i < m->nobj; i++) {
		const struct m_obj *o = &m->o[i];
		for (int k = 0; o->kind == M_PIPE && k < o->qlen; k++)
			if (o->qmove[k])
				carrier[o->q[k]] = i;
	}
	for (int x = 0; x < m->nobj; x++) {
		int at = carrier[x];
		for (int hops = 0; at >= 0 && hops < m->nobj; hops++) {
			if (at == x)
				return true;
			at = carrier[at];
		}
	}
	return false;
}

bool m_launch_ok(const struct model *m, int proc, uintptr_t out,
		 uintptr_t err)
{
	uintptr_t v[2] = { out, err };
	for (int i = 0; i < 2; i++) {
		if (!v[i])
			continue;
		int id = m_find(m, v[i]);
		if (id < 0 || m->o[id].kind != M_PIPE || !m->o[id].live ||
		    !m->p[proc].hold[id])
			return false;
	}
	return true;
}

void m_launch(struct model *m, int proc, int w, uintptr_t input, size_t cap,
	      uintptr_t out, uintptr_t err)
{
	struct m_proc *p = &m->p[w];

	memset(p, 0, sizeof(*p));
	p->alive = true;
	p->out = m_find(m, out);
	p->err = m_find(m, err);
	int in = m_pipe(m, w, input, cap);
	p->input = in;
	if (in >= 0) {
		m->o[in].worker = w;
		m->o[in].last_served = ++p->clock;
		m->p[proc].hold[in] = true;
	}
	if (p->out >= 0)
		p->hold[p->out] = true;
	if (p->err >= 0)
		p->hold[p->err] = true;
}

int m_fault_report(struct model *m, int w, size_t bytes)
{
	int id = m_segment(m, w, 0, bytes, 0, 0, 0);
	if (id >= 0)
		m->o[id].opaque = true;
	return id;
}

void m_learn(struct model *m, int id, uintptr_t addr)
{
	for (int i = 0; i < m->nobj; i++)
		if (m->o[i].addr == addr)
			m->o[i].named = false;
	m->o[id].addr = addr;
	m->o[id].named = true;
}

void m_end(struct model *m, int w, int f, bool to_err)
{
	struct m_proc *p = &m->p[w];
	int target = to_err ? p->err : p->out;

	if (to_err ? p->forgot_err : p->forgot_out)
		target = -1;

	if (target >= 0 && (m->known & M_KNOWN_STALE_COMPLETION_PIPE)) {
		int now = m_find(m, m->o[target].addr);
		if (now >= 0 && now != target && m->o[now].kind == M_PIPE)
			target = now;
	}

	/* The final object is moved to out or err, even past capacity; a
	 * pipe it holds RECEIVE on (not its input) goes with its RECEIVE,
	 * unless that pipe is out (err) itself: then it is released. */
	bool mv = !(m->known & M_KNOWN_PIPE_MOVE_KILLS) &&
		f >= 0 && m->o[f].kind == M_PIPE && m->o[f].live &&
		m->o[f].creator == w && f != p->input;
	if (f >= 0 && p->hold[f] && target >= 0 && p->hold[target] &&
	    m->o[target].live && !(mv && f == target) &&
	    enqueue(m, target, f, mv)) {
		if (m->o[f].kind == M_SEG) {
			p->hold[f] = false;
			m->o[f].notify = -1;
		}
		if (mv) {
			p->hold[f] = false;
			COUNT(exit_moves);
		}
	}
	/* Then what it held goes: pipes it holds RECEIVE on die (their
	 * closure notices go out at once, in an order left open), segments
	 * are let go (notices when it settles)... */
	m->loose_now = true;
	for (int i = 0; i < m->nobj; i++)
		if (p->hold[i] && m->o[i].kind == M_PIPE && i != p->input &&
		    m->o[i].creator == w && m->o[i].live) {
			COUNT(end_kills);
			release_hold(m, w, i);
		}
	m->loose_now = false;
	for (int i = 0; i < m->nobj; i++)
		if (p->hold[i] && m->o[i].kind == M_SEG)
			release_hold(m, w, i);
	settle(m);
	/* ... then its input dies (closure notices) ... */
	if (p->input >= 0 && p->hold[p->input] && m->o[p->input].live)
		kill_pipe(m, w, p->input);
	settle(m);
	/* ... and last it lets go of SEND on others' pipes. */
	for (int i = 0; i < m->nobj; i++)
		p->hold[i] = false;
	p->nnotes = 0;
	p->alive = false;
}

static bool note_valid(struct model *m, int proc, const struct m_note *n,
		       struct m_msg *msg)
{
	struct m_obj *o = &m->o[n->obj];
	struct m_proc *p = &m->p[proc];

	if (n->kind == M_NOTE_SOLE) {
		if (!p->hold[n->obj] || !o->live || o->extended ||
		    sole_process(m, n->obj) != proc)
			return false;
		*msg = (struct m_msg){ 0, o->addr };
		return true;
	}
	if (!p->hold[n->obj])
		return false;
	p->hold[n->obj] = false;
	hold_ended(m, proc, n->obj);
	*msg = (struct m_msg){ o->addr, 0 };
	return true;
}

/* Puts each run of loose closure notices of p in the order of
 * m->prefer (those it names first, in its order; the others after). */
static void prefer_order(struct model *m, struct m_proc *p)
{
	static struct m_note tmp[M_NOTES];
	static bool used[M_NOTES];

	for (int i = 0; i < p->nnotes;) {
		int j = i, n = 0;
		while (j < p->nnotes && p->notes[j].kind == M_NOTE_DIED &&
		       p->notes[j].loose)
			j++;
		if (j - i < 2) {
			i = j > i ? j : i + 1;
			continue;
		}
		memset(used, 0, sizeof(used));
		for (size_t d = 0; d < m->nprefer; d++)
			for (int k = i; k < j; k++)
				if (!used[k - i] &&
				    m->o[p->notes[k].obj].addr == m->prefer[d]) {
					tmp[n++] = p->notes[k];
					used[k - i] = true;
					break;
				}
		for (int k = i; k < j; k++)
			if (!used[k - i])
				tmp[n++] = p->notes[k];
		memcpy(p->notes + i, tmp, sizeof(tmp[0]) * (size_t)n);
		i = j;
	}
}

size_t m_take_notices(struct model *m, int proc, struct m_msg *in, bool *loose,
		      size_t cap)
{
	struct m_proc *p = &m->p[proc];
	size_t got = 0;
	int k = 0;

	if (m->nprefer)
		prefer_order(m, p);

	while (got < cap && k < p->nnotes) {
		struct m_note n = p->notes[k++];
		if (!note_valid(m, proc, &n, &in[got]))
			continue;
		if (loose)
			loose[got] = n.loose;
		got++;
	}
	p->nnotes -= k;
	memmove(p->notes, p->notes + k, sizeof(p->notes[0]) * (size_t)p->nnotes);
	return got;
}

/* The receiver adopts object x that came through pipe (move: with its
 * RECEIVE). */
static void adopt(struct model *m, int proc, int pipe, int x, bool move,
		  struct m_msg *msg)
{
	struct m_proc *p = &m->p[proc];
	struct m_obj *o = &m->o[x];

	*msg = (struct m_msg){ m->o[pipe].addr, o->addr ? o->addr : M_UNKNOWN };
	if (o->kind == M_SEG) {
		/* Held already: it counts once, and no notice. */
		p->hold[x] = true;
		o->notify = -1;
		return;
	}
	if (move && o->live) {
		if (proc)
			COUNT(to_worker);
		else
			COUNT(to_root);
		/* SEND|RECEIVE (a SEND it held counts once); never served by
		 * its new receiver. */
		p->hold[x] = true;
		o->creator = proc;
		if (m->known & M_KNOWN_MOVED_PIPE_KEEPS_STAMP)
			o->stamp_unknown = true;
		else
			o->last_served = 0;
		return;
	}
	if (!p->hold[x] && o->live)
		p->hold[x] = true; /* SEND; a pipe that died on the way: none */
}

static bool could_send(const struct model *m, int pipe)
{
	const struct m_obj *o = &m->o[pipe];
	if (!o->live)
		return false;
	if (in_flight(m, pipe) > 0)
		return true;
	for (int p = 0; p < M_PROCS; p++)
		if (p != o->creator && m->p[p].alive && m->p[p].hold[pipe])
			return true;
	return false;
}

/* GUESS (fairness ties): pipes never served, or served equally long ago,
 * go in the order of their requests in the outbox. */
static size_t receive(struct model *m, int proc, int *req, int nreq,
		      struct m_msg *in, int *ids, size_t max)
{
	struct m_proc *p = &m->p[proc];
	size_t got = 0;

	if (nreq == 1) {
		int pipe = req[0];
		while (got < max && m->o[pipe].qlen) {
			bool mv;
			ids[got] = dequeue(m, pipe, &mv);
			adopt(m, proc, pipe, ids[got], mv, &in[got]);
			got++;
		}
		if (got) {
			m->o[pipe].last_served = ++p->clock;
			m->o[pipe].stamp_unknown = false;
		}
		return got;
	}
	for (int i = 1; i < nreq; i++) {
		int x = req[i], j = i;
		while (j > 0 && m->o[req[j - 1]].last_served >
				m->o[x].last_served) {
			req[j] = req[j - 1];
			j--;
		}
		req[j] = x;
	}
	for (bool progress = true; progress && got < max;) {
		progress = false;
		for (int i = 0; i < nreq && got < max; i++) {
			int pipe = req[i];
			if (!m->o[pipe].qlen)
				continue;
			bool mv;
			ids[got] = dequeue(m, pipe, &mv);
			adopt(m, proc, pipe, ids[got], mv, &in[got]);
			got++;
			m->o[pipe].last_served = ++p->clock;
			m->o[pipe].stamp_unknown = false;
			progress = true;
		}
	}
	return got;
}

/* The outgoing half of a sync. */
struct out_state {
	bool fail_send[M_OBJS];  /* a send of it failed in this sync */
	bool full[M_OBJS];       /* a send to it found no room */
	int move_send[M_OBJS];   /* the send that moves it, or -1 */
	uintptr_t run;           /* the pipe of the current run of sends */
	bool entered;            /* ... which got into the pipe */
	int req[M_OUTMAX];
	int nreq;
	bool requested[M_OBJS];  /* known bug: a dropped request stays marked */
};

static void end_run(struct model *m, struct out_state *st)
{
	if (st->entered)
		settle(m);
	st->entered = false;
	st->run = 0;
}

/* Does proc hold RECEIVE on live pipe id? */
static bool receiver_of(const struct model *m, int proc, int id)
{
	if (m->known & M_KNOWN_PIPE_MOVE_KILLS)
		return false;
	return m->o[id].kind == M_PIPE && m->o[id].live &&
		m->o[id].creator == proc && m->p[proc].hold[id];
}

/* The last send before the first release of a segment, or of a pipe the
 * process holds RECEIVE on, moves it. */
static void plan(const struct model *m, int proc, const struct m_sync *s,
		 struct out_state *st)
{
	for (int i = 0; i < M_OBJS; i++)
		st->move_send[i] = -1;
	for (size_t i = 0; i < s->nout; i++) {
		const struct m_msg *g = &s->out[i];
		int c = m_find(m, g->content);
		if (g->address || c < 0 || !m->p[proc].hold[c] ||
		    (m->o[c].kind != M_SEG && !receiver_of(m, proc, c)))
			continue;
		bool first = true;
		for (size_t k = 0; k < i; k++)
			if (!s->out[k].address && s->out[k].content == g->content)
				first = false;
		if (!first)
			continue;
		for (size_t k = i; k-- > 0;) {
			if (s->out[k].address && s->out[k].content == g->content) {
				st->move_send[c] = (int)k;
				break;
			}
		}
	}
}

static void drop_requests(const struct model *m, struct out_state *st,
			  int pipe)
{
	int k = 0;
	for (int i = 0; i < st->nreq; i++) {
		if (st->req[i] != pipe)
			continue;
		if (m->known & M_KNOWN_DROP_REORDERS_REQUESTS) {
			st->req[i] = st->req[--st->nreq];
			return;
		}
	}
	for (int i = 0; i < st->nreq; i++)
		if (st->req[i] != pipe)
			st->req[k++] = st->req[i];
	st->nreq = k;
}

static bool do_send(struct model *m, const struct m_sync *s, size_t i,
		    struct out_state *st, bool *took_next)
{
	int proc = s->proc;
	struct m_proc *p = &m->p[proc];
	const struct m_msg *g = &s->out[i];
	int pipe = m_find(m, g->address), c = m_find(m, g->content);

	if (g->address != st->run) {
		end_run(m, st);
		st->run = g->address;
	}
	if (c < 0 || !p->hold[c])
		return false;
	bool adjacent = i + 1 < s->nout && !s->out[i + 1].address &&
		s->out[i + 1].content == g->content;
	bool is_move = !st->fail_send[c] &&
		(adjacent || st->move_send[c] == (int)i);
	bool recv_move = is_move && receiver_of(m, proc, c);
	/* A pipe cannot be moved through itself, nor a worker's own input
	 * (its identity, which dies with it): the send fails, and so does
	 * its release. */
	if (recv_move && (pipe == c || m->o[c].worker == proc)) {
		if (pipe == c)
			COUNT(self_fail);
		else
			COUNT(input_fail);
		st->fail_send[c] = true;
		return false;
	}
	bool ok = pipe >= 0 && m->o[pipe].kind == M_PIPE && p->hold[pipe] &&
		m->o[pipe].live &&
		!(m->o[c].kind == M_PIPE && !m->o[c].live);
	if (ok && st->full[pipe])
		ok = false;
	if (ok) {
		st->entered = true;
		if (m->o[pipe].qlen >= (int)m->o[pipe].cap) {
			st->full[pipe] = true;
			ok = false;
		}
	}
	if (!ok) {
		st->fail_send[c] = true;
		return false;
	}
	if (!enqueue(m, pipe, c, recv_move))
		return false;
	if (recv_move) {
		COUNT(moves);
		m_stats.moves_apart += m_stats_on && !adjacent;
		/* RECEIVE goes with the message; a receive request for it
		 * earlier in the sync goes with it. */
		if (adjacent) {
			p->hold[c] = false;
			drop_requests(m, st, c);
			*took_next = true;
		} else {
			p->moving[c] = true;
		}
		return true;
	}
	if (m->o[c].kind != M_SEG)
		return true;
	m->o[c].notify = -1;
	if (!is_move)
		return true; /* a share */
	if (adjacent) {
		p->hold[c] = false;
		*took_next = true;
	} else {
		p->moving[c] = true;
	}
	return true;
}

static bool do_release(struct model *m, int proc, uintptr_t addr,
		       struct out_state *st)
{
	struct m_proc *p = &m->p[proc];
	int c = m_find(m, addr);

	if (c < 0 || !p->hold[c])
		return false;
	struct m_obj *o = &m->o[c];
	/* The release that completes a move: even if the pipe that carries
	 * it died since, the move's send went through. */
	if (p->moving[c]) {
		p->moving[c] = false;
		p->hold[c] = false;
		if (o->kind == M_PIPE)
			drop_requests(m, st, c);
		return true;
	}
	/* A dead pipe is not a live object: its closure notice ends the hold. */
	if (o->kind == M_PIPE && !o->live)
		return false;
	if (st->fail_send[c]) {
		if (m->known & M_KNOWN_FAILED_RELEASE_DROPS_REQUEST)
			drop_requests(m, st, c);
		return false; /* a move is all or nothing */
	}
	if (o->kind == M_PIPE && o->creator == proc)
		drop_requests(m, st, c); /* they die with the pipe */
	release_hold(m, proc, c);
	return true;
}

static bool do_request(struct model *m, int proc, uintptr_t addr,
		       struct out_state *st)
{
	int c = m_find(m, addr);

	if (c < 0 || !m->p[proc].hold[c] || m->o[c].kind != M_PIPE ||
	    m->o[c].creator != proc || !m->o[c].live)
		return false;
	for (int i = 0; i < st->nreq; i++)
		if (st->req[i] == c)
			return true; /* asked twice: served once */
	if (st->requested[c] && (m->known & M_KNOWN_FAILED_RELEASE_DROPS_REQUEST))
		return true;
	st->requested[c] = true;
	st->req[st->nreq++] = c;
	return true;
}

void m_sync(struct model *m, struct m_sync *s)
{
	static struct out_state st; /* big; the model is single-threaded */
	int proc = s->proc;
	bool status[M_OUTMAX];

	m->died_moving = false;
	s->rc = 0;
	s->nfailed = 0;
	s->ndelivered = 0;
	s->would_wait = false;
	if (s->out_bad || s->in_bad) {
		s->rc = -1;
		return;
	}
	memset(&st, 0, sizeof(st));
	size_t n = s->out_null ? 0 : s->nout;
	plan(m, proc, s, &st);
	for (size_t i = 0; i < n; i++) {
		const struct m_msg *g = &s->out[i];
		if (g->address && g->content) {
			bool took_next = false;
			status[i] = do_send(m, s, i, &st, &took_next);
			if (took_next)
				status[++i] = true;
			continue;
		}
		end_run(m, &st);
		if (g->address)
			status[i] = do_request(m, proc, g->address, &st);
		else if (g->content)
			status[i] = do_release(m, proc, g->content, &st);
		else
			status[i] = false;
	}
	end_run(m, &st);
	settle(m);
	for (size_t i = 0; i < n; i++)
		if (!status[i])
			s->failed[s->nfailed++] = s->out[i];
	memset(m->p[proc].moving, 0, sizeof(m->p[proc].moving));

	size_t max = s->in_null ? 0 : s->incap;
	if (!max)
		return;
	memset(s->in_loose, 0, sizeof(s->in_loose));
	size_t got = m_take_notices(m, proc, s->in, s->in_loose, max);
	for (size_t i = 0; i < got; i++)
		s->in_obj[i] = -1;
	if (got < max && st.nreq)
		got += receive(m, proc, st.req, st.nreq, s->in + got,
			       s->in_obj + got, max - got);
	s->ndelivered = got;
	if (!got)
		for (int i = 0; i < st.nreq; i++)
			s->would_wait |= could_send(m, st.req[i]);
}

int m_extend(struct model *m, int proc, uintptr_t addr)
{
	int id = m_find(m, addr);

	if (id < 0 || !m->p[proc].hold[id] || m->o[id].kind != M_SEG)
		return -1;
	m->o[id].extended = true;
	return 0;
}

/* READ|EXECUTE inside an extended segment proc holds (its whole pages). */
static int code_rights(const struct model *m, int proc, uintptr_t addr)
{
	for (int i = 0; i < m->nobj; i++) {
		const struct m_obj *o = &m->o[i];
		size_t pages = o->bytes ? (o->bytes + m->page - 1) / m->page : 1;
		if (o->kind == M_SEG && o->named && o->extended &&
		    m->p[proc].hold[i] && addr >= o->addr &&
		    addr - o->addr < pages * m->page)
			return M_R | M_X;
	}
	return 0;
}

int m_access(const struct model *m, int proc, uintptr_t addr)
{
	int id = m_find(m, addr);

	if (id < 0 || !m->p[proc].hold[id])
		return code_rights(m, proc, addr);
	const struct m_obj *o = &m->o[id];
	if (o->kind == M_SEG && o->extended)
		return M_R | M_X;
	if (o->kind == M_SEG)
		return m_holders(m, id) == 1 ? M_R | M_W : M_R;
	if (!o->live)
		return 0;
	return o->creator == proc ? M_SEND | M_RECV : M_SEND;
}

size_t m_measure(const struct model *m, int proc, uintptr_t addr)
{
	int id = m_find(m, addr);

	if (id < 0 || !m->p[proc].hold[id])
		return 0;
	const struct m_obj *o = &m->o[id];
	if (o->kind == M_SEG)
		return o->bytes;
	return o->live ? (size_t)o->qlen : 0;
}

void m_pattern(uint8_t *dst, uint32_t tag, size_t from, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		size_t k = from + i;
		dst[i] = (uint8_t)(tag * 151u + k * 7u + (k >> 8) * 29u +
				   (tag >> 5));
	}
}

uint8_t m_byte(const struct m_obj *o, size_t i)
{
	uint8_t b;
	if (i >= o->zlo && i < o->zhi)
		return 0;
	m_pattern(&b, o->tag, i, 1);
	return b;
}

uint64_t m_hash_bytes(const uint8_t *b, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ull;
	return h;
}

uint64_t m_hash(const struct model *m, int id)
{
	const struct m_obj *o = &m->o[id];
	uint64_t h = 0xcbf29ce484222325ull;
	for (size_t i = 0; i < o->bytes; i++)
		h = (h ^ m_byte(o, i)) * 0x100000001b3ull;
	return h;
}
