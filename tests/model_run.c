/* SPDX-License-Identifier: MIT */
/*
 * model_run.c - steps decoded from choices, run on libtrindle and on the
 * model, compared after each one (see model_run.h).
 *
 * The universe: the root (this thread), up to M_PROCS - 1 workers, a
 * handful of segments (empty, small, several pages) and pipes (room for
 * 1 to 4 messages).  A worker waits on a semaphore for a command in plain
 * memory (one sync, then what to look at and write), runs it, fills in a
 * report and posts back; the root does nothing meanwhile, so exactly one
 * process acts at a time.  An "end" command makes the worker drain its
 * input, report, and end by returning, trindle_exit() or trindle_abort();
 * the root then takes its notices until the worker's closure notice comes,
 * requesting a hidden pipe (every worker holds SEND on it) so that it can
 * sleep meanwhile.
 *
 * Before a worker ends, the root takes its notices if one of them could
 * come true again while the worker ends (a sole-holder notice for a
 * segment the root still shares), since the root's waiting sync takes
 * notices while the worker is still letting go of things.
 */
#include "model_run.h"

#include <errno.h>
#include <semaphore.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <trindle.h>

#include "model.h"

#define H_Q 96   /* queries per step */
#define H_W 16   /* writes per step */
#define H_WAIT_S 30

enum { CALL_SYNC, CALL_T_NEG, CALL_T_ZERO, CALL_T_MS, CALL_T_LONG,
       CALL_T_MAX, CALLS };
static const char *const call_name[CALLS] = {
	"sync", "timeout(-1)", "timeout(0)", "timeout(1ms)", "timeout(30s)",
	"timeout(INT64_MAX)" };
enum { CMD_SYNC = 1, CMD_END = 2 };
enum { END_RETURN, END_EXIT, END_ABORT, END_FAULT };

/* What a fault report the model expects must say (at most one per
 * worker end; kept until the report is delivered). */
struct fault_want {
	int id;                 /* the report's model object */
	uintptr_t address, object, process;
};
static struct fault_want faults[M_OBJS];
static int nfaults;

struct x_cmd {
	int kind;
	struct m_sync s;        /* the call (its expected half unused here) */
	int call;
	size_t nq;
	uintptr_t q[H_Q];
	size_t qbytes[H_Q];     /* SIZE_MAX: not a segment the caller holds */
	size_t nw;
	uintptr_t w[H_W];
	size_t wbytes[H_W];
	uint32_t wtag[H_W];
	int end_how;
	uintptr_t final;
	uintptr_t fault;        /* END_FAULT: where the worker writes */
	size_t newpipe;         /* then make a pipe of this room (0: none) */
};

struct x_rep {
	void *newpipe;
	int rc, err;
	size_t outcount, incount;
	trindle_message_t out[M_OUTMAX + 1], in[M_INMAX];
	int acc[H_Q];
	size_t meas[H_Q];
	uint64_t hash[H_Q];
	bool hashed[H_Q], tail_ok[H_Q];
	bool wrote[H_W];
};

struct w_slot {
	_Atomic(uintptr_t) input;
	sem_t go, done;
	bool alive;
	struct x_cmd cmd;
	struct x_rep rep;
};

static struct {
	struct model m, next;
	struct h_src *src;
	unsigned long step;
	bool log;
	uint32_t tag;
	trindle_pipe_t k;
	char line[2048];
	size_t linelen;
	char *logbuf;
	size_t loglen, logcap;
	bool failed;
	unsigned long limit;
} H;

static struct w_slot slots[M_PROCS];
volatile unsigned long h_step_now;
uint32_t h_drop_last;
static unsigned long h_cycles;
static _Atomic(trindle_pipe_t) hidden_k;

/* ---- choices ------------------------------------------------------------- */

static uint64_t splitmix(uint64_t *x)
{
	uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

void h_src_seed(struct h_src *s, uint64_t seed)
{
	memset(s, 0, sizeof(*s));
	s->state = seed;
}

void h_src_bytes(struct h_src *s, const uint8_t *data, size_t len)
{
	memset(s, 0, sizeof(*s));
	s->bytes = true;
	s->data = data;
	s->len = len;
}

bool h_src_done(const struct h_src *s)
{
	return s->bytes && s->pos >= s->len;
}

/* A choice in [0, n). */
static uint32_t pick(uint32_t n)
{
	struct h_src *s = H.src;
	uint32_t v;

	if (n <= 1)
		return 0;
	if (!s->bytes)
		return (uint32_t)(splitmix(&s->state) % n);
	if (s->pos >= s->len)
		return 0;
	v = s->data[s->pos++];
	if (n > 256 && s->pos < s->len)
		v |= (uint32_t)s->data[s->pos++] << 8;
	return v % n;
}

/* ---- the step log and mismatches --------------------------------------- */

static void say(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(H.line + H.linelen, sizeof(H.line) - H.linelen, fmt, ap);
	va_end(ap);
	if (n > 0)
		H.linelen += (size_t)n;
	if (H.linelen >= sizeof(H.line))
		H.linelen = sizeof(H.line) - 1;
}

static void end_line(void)
{
	h_step_now = H.step + 1;
	size_t need = H.loglen + H.linelen + 32;
	if (H.log && need > H.logcap) {
		size_t cap = H.logcap ? H.logcap * 2 : 65536;
		while (cap < need)
			cap *= 2;
		char *v = realloc(H.logbuf, cap);
		if (v) {
			H.logbuf = v;
			H.logcap = cap;
		}
	}
	if (H.log && need <= H.logcap)
		H.loglen += (size_t)snprintf(H.logbuf + H.loglen,
				H.logcap - H.loglen, "  %4lu %s\n", H.step,
				H.line);
	H.linelen = 0;
	H.line[0] = 0;
}

void h_dump_log(void)
{
	if (H.log && H.logbuf && write(2, H.logbuf, H.loglen) < 0)
		return;
	if (write(2, "  (now) ", 8) < 0 || write(2, H.line, strlen(H.line)) < 0 ||
	    write(2, "\n", 1) < 0)
		return;
}

static bool mismatch(const char *fmt, ...)
{
	va_list ap;
	if (!H.failed) {
		if (H.log && H.loglen)
			fprintf(stderr, "steps so far:\n%s", H.logbuf);
		fprintf(stderr, "  %4lu %s\n", H.step, H.line);
	}
	H.failed = true;
	fprintf(stderr, "MISMATCH at step %lu: ", H.step);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return false;
}

/* A name for an address, for the log: S<id>, P<id>, W<w> (an input). */
static const char *name(uintptr_t a, char *buf)
{
	if (!a)
		return "NULL";
	int id = m_find(&H.m, a);
	if (id < 0) {
		snprintf(buf, 32, "?%lx", (unsigned long)(a & 0xfffff));
		return buf;
	}
	const struct m_obj *o = &H.m.o[id];
	if (o->kind == M_PIPE && o->worker > 0)
		snprintf(buf, 32, "W%d.in#%d", o->worker, id);
	else
		snprintf(buf, 32, "%c%d", o->kind == M_SEG ? 'S' : 'P', id);
	return buf;
}

static void say_msgs(const struct m_msg *v, size_t n)
{
	char a[32], b[32];
	say("[");
	for (size_t i = 0; i < n; i++) {
		const char *x = name(v[i].address, a), *y = name(v[i].content, b);
		if (v[i].address && v[i].content)
			say("%s%s->%s", i ? " " : "", y, x);
		else if (v[i].address)
			say("%srecv %s", i ? " " : "", x);
		else if (v[i].content)
			say("%srel %s", i ? " " : "", y);
		else
			say("%s{NULL,NULL}", i ? " " : "");
	}
	say("]");
}

/* ---- what a process does: one sync, then look and write ----------------- */

static void worker_main(trindle_pipe_t input);

static uintptr_t code_address(void)
{
	return (uintptr_t)&worker_main;
}

static int call(int how, trindle_mailbox_t *o, trindle_mailbox_t *i)
{
	static const int64_t t[CALLS] = { 0, -1, 0, 1000000, 30000000000LL,
					  INT64_MAX };
	if (how == CALL_SYNC)
		return trindle_sync(o, i);
	return trindle_sync_timeout(o, i, t[how]);
}

static void look(const struct x_cmd *c, struct x_rep *r)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);

	for (size_t k = 0; k < c->nq; k++) {
		void *a = (void *)c->q[k];
		r->acc[k] = trindle_access(a);
		r->meas[k] = trindle_measure(a);
		r->hashed[k] = false;
		r->tail_ok[k] = true;
		if (c->qbytes[k] == SIZE_MAX || !(r->acc[k] & TRINDLE_ACCESS_READ) ||
		    r->meas[k] != c->qbytes[k])
			continue;
		r->hash[k] = m_hash_bytes(a, r->meas[k]);
		r->hashed[k] = true;
		size_t end = (r->meas[k] + page - 1) / page * page;
		for (size_t i = r->meas[k]; i < end; i++)
			if (((const uint8_t *)a)[i])
				r->tail_ok[k] = false;
	}
	for (size_t k = 0; k < c->nw; k++) {
		r->wrote[k] = (trindle_access((void *)c->w[k]) &
			       TRINDLE_ACCESS_WRITE) &&
			trindle_measure((void *)c->w[k]) == c->wbytes[k];
		if (r->wrote[k])
			m_pattern((uint8_t *)c->w[k], c->wtag[k], 0, c->wbytes[k]);
	}
}

static void x_exec(const struct x_cmd *c, struct x_rep *r)
{
	trindle_message_t out[M_OUTMAX + 1], in[M_INMAX];
	const struct m_sync *s = &c->s;
	trindle_mailbox_t ob = { s->nout, out }, ib = { s->incap, in };

	for (size_t i = 0; i < s->nout; i++)
		out[i] = (trindle_message_t){ (void *)s->out[i].address,
					      (void *)s->out[i].content };
	memset(in, 0xa5, sizeof(in));
	if (s->out_bad)
		ob = (trindle_mailbox_t){ s->nout ? s->nout : 1, NULL };
	if (s->in_bad)
		ib = (trindle_mailbox_t){ s->incap ? s->incap : 1, NULL };
	errno = 0;
	r->rc = call(c->call, s->out_null ? NULL : &ob, s->in_null ? NULL : &ib);
	r->err = errno;
	r->outcount = ob.count;
	r->incount = ib.count;
	if (ob.address)
		memcpy(r->out, ob.address, sizeof(out[0]) *
		       (ob.count < M_OUTMAX ? ob.count : M_OUTMAX));
	memcpy(r->in, in, sizeof(in));
	look(c, r);
	/* Last: its address may be a dead pipe's that the step still names. */
	r->newpipe = c->newpipe ? trindle_pipe(c->newpipe) : NULL;
}

/* ---- workers -------------------------------------------------------------- */

static void worker_main(trindle_pipe_t input)
{
	trindle_message_t rq = { input, NULL }, got = { NULL, NULL };
	trindle_mailbox_t o = { 1, &rq }, in = { 1, &got };
	struct w_slot *w = NULL;

	/* The hidden pipe comes first; the root waits for it to be taken. */
	if (trindle_sync(&o, &in) != 0 || in.count != 1 ||
	    got.content != atomic_load(&hidden_k))
		trindle_abort(NULL);
	for (int i = 1; i < M_PROCS; i++)
		if (atomic_load(&slots[i].input) == (uintptr_t)input)
			w = &slots[i];
	if (!w)
		trindle_abort(NULL);
	sem_post(&w->done);
	for (;;) {
		while (sem_wait(&w->go) != 0)
			;
		x_exec(&w->cmd, &w->rep);
		int how = w->cmd.end_how;
		void *final = (void *)w->cmd.final;
		volatile uint8_t *fault = (volatile uint8_t *)w->cmd.fault;
		bool end = w->cmd.kind == CMD_END;
		sem_post(&w->done);
		if (!end)
			continue;
		if (how == END_FAULT)
			*fault = 1; /* a segment it shares: the runtime stops it */
		if (how == END_EXIT)
			trindle_exit(final);
		if (how == END_ABORT)
			trindle_abort(final);
		return;
	}
}

static bool await(sem_t *s)
{
	struct timespec t;
	clock_gettime(CLOCK_REALTIME, &t);
	t.tv_sec += H_WAIT_S;
	while (sem_timedwait(s, &t) != 0)
		if (errno != EINTR)
			return false;
	return true;
}

/* ---- checks --------------------------------------------------------------- */

static void add_query(struct x_cmd *c, const struct model *m, int proc,
		      uintptr_t a)
{
	if (c->nq == H_Q)
		return;
	int id = m_find(m, a);
	c->q[c->nq] = a;
	c->qbytes[c->nq] = id >= 0 && m->o[id].kind == M_SEG &&
		m->o[id].live && m->p[proc].hold[id] ? m->o[id].bytes : SIZE_MAX;
	c->nq++;
}

/* What proc will look at (everything named), and which of its segments
 * it writes (half of those the model says it may write).  As many choices
 * are taken for every object, named or not, so that a run takes the same
 * choices whichever addresses the library happens to reuse. */
static void plan_looks(struct x_cmd *c, struct model *m, int proc)
{
	c->nq = c->nw = 0;
	add_query(c, m, proc, 0);
	add_query(c, m, proc, code_address());
	add_query(c, m, proc, 0x1000);
	for (int i = 0; i < m->nobj; i++) {
		const struct m_obj *o = &m->o[i];
		uint32_t mid = pick(4), off = pick(64), wr = pick(2);
		if (!o->named || !o->addr)
			continue;
		add_query(c, m, proc, o->addr);
		if (o->kind == M_SEG && mid == 0)
			add_query(c, m, proc, o->addr + 1 + off);
		if (o->kind == M_SEG && m_holds(m, proc, i) && !o->extended &&
		    m_holders(m, i) == 1 && c->nw < H_W && wr) {
			c->w[c->nw] = o->addr;
			c->wbytes[c->nw] = o->bytes;
			c->wtag[c->nw] = ++H.tag;
			c->nw++;
		}
	}
}

static bool check_looks(const struct x_cmd *c, const struct x_rep *r,
			struct model *m, int proc)
{
	char b[32];
	bool ok = true;

	for (size_t k = 0; k < c->nq; k++) {
		uintptr_t a = c->q[k];
		int acc = a == code_address() ? M_R | M_X : m_access(m, proc, a);
		size_t meas = m_measure(m, proc, a);
		int id = m_find(m, a);
		if (r->acc[k] != acc)
			ok = mismatch("P%d: trindle_access(%s) = %d, model %d",
				      proc, name(a, b), r->acc[k], acc);
		if (r->meas[k] != meas)
			ok = mismatch("P%d: trindle_measure(%s) = %zu, model %zu",
				      proc, name(a, b), r->meas[k], meas);
		if (r->hashed[k] && !m->o[id].opaque && r->hash[k] != m_hash(m, id))
			ok = mismatch("P%d: bytes of %s differ from the model",
				      proc, name(a, b));
		if (!r->tail_ok[k])
			ok = mismatch("P%d: the last page of %s is not zero past its size",
				      proc, name(a, b));
	}
	for (size_t k = 0; k < c->nw; k++) {
		int id = m_find(m, c->w[k]);
		if (!r->wrote[k]) {
			ok = mismatch("P%d: may not write %s, model says it may",
				      proc, name(c->w[k], b));
			continue;
		}
		m->o[id].tag = c->wtag[k];
		m->o[id].zlo = m->o[id].zhi = 0;
		m->o[id].opaque = false;
	}
	return ok;
}

static int by_address(const void *a, const void *b)
{
	uintptr_t x = ((const struct m_msg *)a)->address;
	uintptr_t y = ((const struct m_msg *)b)->address;
	return x < y ? -1 : x > y;
}

/* Is v a closure notice of one of the loose[]-marked ones in want? */
static bool loose_note(const struct m_msg *v, const struct m_msg *want,
		       const bool *loose, size_t nwant)
{
	if (!v->address || v->content || !loose)
		return false;
	for (size_t i = 0; i < nwant; i++)
		if (loose[i] && want[i].address == v->address && !want[i].content)
			return true;
	return false;
}

/* Sorts each run of consecutive loose closure notices by address, so that
 * the order the contract leaves open does not count (see m_note.loose). */
static void canon(struct m_msg *v, size_t n, const struct m_msg *want,
		  const bool *loose, size_t nwant)
{
	for (size_t i = 0; i < n;) {
		size_t j = i;
		while (j < n && loose_note(&v[j], want, loose, nwant))
			j++;
		if (j - i > 1)
			qsort(v + i, j - i, sizeof(v[0]), by_address);
		i = j > i ? j : i + 1;
	}
}

/* loose: the model's m_note.loose for want[], or NULL. */
static bool same_msgs(const char *what, int proc, const trindle_message_t *got,
		      size_t ngot, const struct m_msg *want, size_t nwant,
		      const bool *loose)
{
	static struct m_msg cg[M_INMAX * 4], cw[M_INMAX * 4];
	bool ok = ngot == nwant && nwant <= M_INMAX * 4;
	for (size_t i = 0; ok && i < nwant; i++) {
		cg[i] = (struct m_msg){ (uintptr_t)got[i].address,
					(uintptr_t)got[i].content };
		cw[i] = want[i];
	}
	if (ok) {
		canon(cg, ngot, want, loose, nwant);
		canon(cw, nwant, want, loose, nwant);
	}
	for (size_t i = 0; ok && i < nwant; i++)
		ok = cg[i].address == cw[i].address &&
			(cg[i].content == cw[i].content ||
			 (cw[i].content == M_UNKNOWN && cg[i].content));
	if (ok)
		return true;
	struct m_msg g[M_INMAX * 2];
	size_t n = ngot < M_INMAX * 2 ? ngot : M_INMAX * 2;
	for (size_t i = 0; i < n; i++)
		g[i] = (struct m_msg){ (uintptr_t)got[i].address,
				       (uintptr_t)got[i].content };
	say("\n         %s of P%d: library ", what, proc);
	say_msgs(g, n);
	say(" model ");
	say_msgs(want, nwant);
	return mismatch("P%d: %s differ (library %zu, model %zu)", proc, what,
			ngot, nwant);
}

static bool check_sync(const struct x_cmd *c, const struct x_rep *r,
		       const struct m_sync *want)
{
	const struct m_sync *s = &c->s;
	bool ok = true;
	int p = s->proc;

	if (r->rc != want->rc)
		return mismatch("P%d: sync returned %d (errno %d), model %d", p,
				r->rc, r->err, want->rc);
	if (want->rc) {
		/* Nothing was done: both counts are as they were. */
		size_t oc = s->out_bad ? (s->nout ? s->nout : 1) : s->nout;
		size_t ic = s->in_bad ? (s->incap ? s->incap : 1) : s->incap;
		if (r->err != EINVAL)
			ok = mismatch("P%d: errno %d, not EINVAL", p, r->err);
		if ((!s->out_null && r->outcount != oc) ||
		    (!s->in_null && r->incount != ic))
			ok = mismatch("P%d: a failed sync changed a mailbox count", p);
		return ok;
	}
	if (!s->out_null)
		ok &= same_msgs("failed messages", p, r->out, r->outcount,
				want->failed, want->nfailed, NULL);
	if (!s->in_null)
		ok &= same_msgs("deliveries", p, r->in, r->incount, want->in,
				want->ndelivered, want->in_loose);
	return ok;
}

/* Opaque objects delivered (fault reports): the model learns their
 * address, and the root checks what a report says. */
static bool learn(const struct m_sync *s, const struct x_rep *r)
{
	char b[32];
	bool ok = true;

	for (size_t i = 0; i < s->ndelivered; i++) {
		int id = s->in_obj[i];
		if (id < 0 || s->in[i].content != M_UNKNOWN)
			continue;
		uintptr_t a = (uintptr_t)r->in[i].content;
		m_learn(&H.next, id, a);
		for (int k = 0; k < nfaults; k++) {
			if (faults[k].id != id)
				continue;
			/* A copy: the slot takes the last entry's place. */
			struct fault_want want = faults[k], *f = &want;
			faults[k] = faults[--nfaults];
			if (s->proc != 0 || !(trindle_access((void *)a) &
					      TRINDLE_ACCESS_READ))
				break; /* a worker got it: its bytes unread */
			const trindle_fault_t *t = (const void *)a;
			if ((uintptr_t)t->address != f->address ||
			    t->access != TRINDLE_ACCESS_WRITE ||
			    (t->signal != SIGSEGV && t->signal != SIGBUS) ||
			    (uintptr_t)t->object != f->object ||
			    (uintptr_t)t->process != f->process)
				ok = mismatch("fault report %s: address %p access %d "
					      "signal %d object %p process %p; want "
					      "%p, write, %p, %p", name(a, b),
					      t->address, t->access, t->signal,
					      t->object, t->process,
					      (void *)f->address, (void *)f->object,
					      (void *)f->process);
			break;
		}
	}
	return ok;
}

/* The root looks at everything after a step by someone else. */
static bool root_looks(void)
{
	static struct x_cmd c;
	static struct x_rep r;

	plan_looks(&c, &H.m, 0);
	c.nw = 0;
	look(&c, &r);
	return check_looks(&c, &r, &H.m, 0);
}

/* ---- choosing objects ------------------------------------------------------ */

/* v[0 .. i) is what comes before the release v[i] in the outbox. */
static bool forbidden_release(int proc, const struct m_msg *v, size_t i)
{
	uintptr_t a = v[i].content;
	int id = m_find(&H.m, a);
	if (id < 0 || H.m.o[id].kind != M_PIPE || H.m.o[id].worker <= 0)
		return false;
	int w = H.m.o[id].worker;
	/* The root keeps its SEND on a live worker's input (it learns of the
	 * worker's end from it); a worker never drops its own input, but it
	 * may try to move it (a send of it before: then the release fails). */
	if (proc == 0 && H.m.p[w].alive)
		return true;
	if (proc != w)
		return false;
	if (H.m.known & M_KNOWN_PIPE_MOVE_KILLS)
		return true; /* such a move would kill it */
	for (size_t k = 0; k < i; k++)
		if (v[k].address && v[k].content == a)
			return false;
	return true;
}

static uintptr_t bad_address(void)
{
	int n = 0, ids[M_OBJS];
	for (int i = 0; i < H.m.nobj; i++)
		if (H.m.o[i].addr)
			ids[n++] = i;
	switch (pick(4)) {
	case 0:
		return code_address();
	case 1:
		return n ? H.m.o[ids[pick((uint32_t)n)]].addr + 8 : 0x2000;
	case 2:
		return 0x1000;
	default:
		return (uintptr_t)&H; /* data that is no object */
	}
}

/* An object for proc: mostly one it holds, of kind (0: any). */
static uintptr_t object(int proc, int kind)
{
	int held[M_OBJS], any[M_OBJS], nh = 0, na = 0;

	for (int i = 0; i < H.m.nobj; i++) {
		const struct m_obj *o = &H.m.o[i];
		/* Objects that are gone too (their address may name a newer
		 * one): the choices must not depend on addresses reused. */
		if (!o->addr || (kind && o->kind != kind))
			continue;
		any[na++] = i;
		if (H.m.p[proc].hold[i])
			held[nh++] = i;
	}
	uint32_t r = pick(20);
	if (r == 0 || !na)
		return bad_address();
	if (r < 16 && nh)
		return H.m.o[held[pick((uint32_t)nh)]].addr;
	return H.m.o[any[pick((uint32_t)na)]].addr;
}

/* A pipe proc created (to receive from), or any pipe. */
static uintptr_t own_pipe(int proc)
{
	int v[M_OBJS], n = 0;
	for (int i = 0; i < H.m.nobj; i++)
		if (H.m.o[i].kind == M_PIPE &&
		    H.m.o[i].creator == proc && H.m.p[proc].hold[i])
			v[n++] = i;
	if (n && pick(5))
		return H.m.o[v[pick((uint32_t)n)]].addr;
	return object(proc, M_PIPE);
}

static void put(struct m_sync *s, uintptr_t address, uintptr_t content)
{
	if (s->nout < M_OUTMAX)
		s->out[s->nout++] = (struct m_msg){ address, content };
}

/* M_KNOWN_MOVED_PIPE_KEEPS_STAMP: a pipe whose fairness stamp the model
 * cannot know is requested alone or not at all (the first request of the
 * outbox stays). */
static void unknown_stamps_alone(struct m_sync *s)
{
	size_t nreq = 0, nunknown = 0, k = 0;
	bool first = true;

	for (size_t i = 0; i < s->nout; i++) {
		if (!s->out[i].address || s->out[i].content)
			continue;
		int id = m_find(&H.m, s->out[i].address);
		nreq++;
		nunknown += id >= 0 && H.m.o[id].stamp_unknown;
	}
	if (!nunknown || nreq < 2)
		return;
	for (size_t i = 0; i < s->nout; i++) {
		int id = s->out[i].content ? -1 : m_find(&H.m, s->out[i].address);
		bool req = s->out[i].address && !s->out[i].content;
		if (id < 0 || !H.m.o[id].stamp_unknown ||
		    (first && nunknown == nreq))
			s->out[k++] = s->out[i];
		if (req && id >= 0 && H.m.o[id].stamp_unknown)
			first = false;
	}
	s->nout = k;
}

/* A random outbox of proc: sends, shares, moves (next to their release
 * and not), releases, requests, sends of pipes, double releases, things
 * not held, {NULL, NULL}. */
static void outbox(int proc, struct m_sync *s, size_t most)
{
	size_t n = pick((uint32_t)most + 1);
	uintptr_t later[M_OUTMAX];
	size_t after[M_OUTMAX], nl = 0;

	s->nout = 0;
	for (size_t i = 0; i < n && s->nout + 2 < M_OUTMAX; i++) {
		/* Each choice in a statement of its own: the order in which a
		 * compiler evaluates arguments is unspecified, and the choices
		 * must come in the same order in every build. */
		uint32_t r = H.src->legacy ? pick(100) : pick(118);
		uintptr_t x, y;
		if (r >= 100) {
			/* A pipe it receives from (its input among them),
			 * moved: next to its release or not; now and then
			 * through itself. */
			x = own_pipe(proc);
			y = r >= 115 ? x : object(proc, M_PIPE);
			if (y == x && r < 115)
				y = object(proc, M_PIPE); /* rather another */
			put(s, y, x);
			if (r < 108 || r == 115) {
				put(s, 0, x);
			} else {
				later[nl] = x;
				after[nl++] = s->nout;
			}
		} else if (r < 28) {
			y = object(proc, M_PIPE);
			put(s, y, object(proc, 0));
		} else if (r < 42) {
			x = object(proc, 0);
			put(s, object(proc, M_PIPE), x);
			put(s, 0, x);
		} else if (r < 56) {
			put(s, 0, object(proc, 0));
		} else if (r < 70) {
			put(s, own_pipe(proc), 0);
		} else if (r < 72) {
			put(s, 0, 0);
		} else if (r < 84) {
			x = object(proc, M_SEG);
			put(s, object(proc, M_PIPE), x);
			later[nl] = x;
			after[nl++] = s->nout;
		} else if (r < 90) {
			x = object(proc, 0);
			put(s, 0, x);
			later[nl] = x;
			after[nl++] = s->nout;
		} else {
			y = object(proc, M_PIPE);
			put(s, y, object(proc, M_PIPE));
		}
	}
	/* The releases that come later (non-adjacent moves, doubles). */
	for (size_t k = 0; k < nl && s->nout < M_OUTMAX; k++) {
		size_t at = after[k] + pick((uint32_t)(s->nout - after[k] + 1));
		memmove(&s->out[at + 1], &s->out[at],
			sizeof(s->out[0]) * (s->nout - at));
		s->out[at] = (struct m_msg){ 0, later[k] };
		s->nout++;
		for (size_t j = k + 1; j < nl; j++)
			if (after[j] >= at)
				after[j]++;
	}
	/* Drop what would break the harness (see forbidden_release), and
	 * what a shrinking run leaves out of its last step. */
	size_t k = 0;
	uint32_t drop = H.step == H.limit ? h_drop_last : 0;
	for (size_t i = 0; i < s->nout; i++)
		if (!(drop & (1u << i)))
			s->out[k++] = s->out[i];
	s->nout = k;
	k = 0;
	for (size_t i = 0; i < s->nout; i++)
		if (s->out[i].address || !forbidden_release(proc, s->out, i))
			s->out[k++] = s->out[i];
	s->nout = k;
	unknown_stamps_alone(s);
}

/* ---- steps ----------------------------------------------------------------- */

static int alive_workers(void)
{
	int n = 0;
	for (int i = 1; i < M_PROCS; i++)
		n += H.m.p[i].alive;
	return n;
}

static int some_worker(void)
{
	int v[M_PROCS], n = 0;
	for (int i = 1; i < M_PROCS; i++)
		if (H.m.p[i].alive)
			v[n++] = i;
	return n ? v[pick((uint32_t)n)] : 0;
}

static bool fresh_address(uintptr_t a);

/* Runs c (already planned against H.next) in its process, checks it, and
 * makes H.next the model. */
static bool run_sync(struct x_cmd *c)
{
	static struct x_rep r;
	int p = c->s.proc;
	bool ok;

	say(" in=%s%zu%s %s", c->s.in_null ? "NULL/" : "", c->s.incap,
	    c->s.out_bad || c->s.in_bad ? " BAD-MAILBOX" : "",
	    call_name[c->call]);
	if (p == 0) {
		x_exec(c, &r);
	} else {
		slots[p].cmd = *c;
		sem_post(&slots[p].go);
		if (!await(&slots[p].done))
			return mismatch("worker %d never answered", p);
		r = slots[p].rep;
	}
	/* Where the contract leaves the order of closure notices open (pipes
	 * dying together), the model takes them in the library's order. */
	H.next = H.m;
	H.next.nprefer = 0;
	for (size_t i = 0; !c->s.in_null && !c->s.in_bad && r.rc == 0 &&
	     i < r.incount && i < M_INMAX && H.next.nprefer < 64; i++)
		if (r.in[i].address && !r.in[i].content)
			H.next.prefer[H.next.nprefer++] = (uintptr_t)r.in[i].address;
	m_stats_on = true; /* this is the sync that counts */
	m_sync(&H.next, &c->s);
	H.next.nprefer = 0;
	ok = check_sync(c, &r, &c->s);
	if (ok && !c->s.in_null && !c->s.in_bad)
		ok = learn(&c->s, &r);
	ok &= check_looks(c, &r, &H.next, p);
	H.m = H.next;
	if (c->newpipe) {
		char nb[32];
		if (!r.newpipe)
			return mismatch("P%d: trindle_pipe(%zu) failed", p, c->newpipe);
		if (!fresh_address((uintptr_t)r.newpipe))
			return false;
		m_pipe(&H.m, p, (uintptr_t)r.newpipe, c->newpipe);
		say(" (then made %s)", name((uintptr_t)r.newpipe, nb));
	}
	/* A worker that ends is still letting go of things: the root looks
	 * once its closure notice has come. */
	if (ok && p != 0 && c->kind != CMD_END)
		ok = root_looks();
	return ok;
}

/* A sync by proc of the outbox in c->s; fills in the model's answer. */
static void plan_sync(struct x_cmd *c, int proc)
{
	struct m_sync *s = &c->s;
	s->proc = proc;
	H.next = H.m;
	m_stats_on = false; /* counted when it runs (run_sync) */
	m_sync(&H.next, s);
	m_stats_on = true;
	if (s->would_wait)
		c->call = pick(2) ? CALL_T_ZERO : CALL_T_MS;
	else
		c->call = (int)pick(CALLS);
	plan_looks(c, &H.next, proc);
	say("P%d sync ", proc);
	say_msgs(s->out, s->nout);
}

/* Does worker w hold a live pipe it made (besides its input)? */
static bool made_pipe(int w)
{
	for (int i = 0; i < H.m.nobj; i++)
		if (H.m.o[i].kind == M_PIPE && H.m.o[i].creator == w &&
		    H.m.o[i].live && H.m.o[i].worker != w)
			return true;
	return false;
}

static bool step_sync(int proc)
{
	static struct x_cmd c;
	static const size_t caps[] = { 0, 1, 1, 2, 3, 4, 16, 64 };

	memset(&c.s, 0, sizeof(c.s));
	c.kind = CMD_SYNC;
	/* A worker makes a pipe of its own after its sync now and then (one
	 * at a time, so
	 * that its end kills at most one besides its input: the order of
	 * those deaths is the library's). */
	c.newpipe = 0;
	if (proc && pick(8) == 0 && !made_pipe(proc))
		c.newpipe = 1 + pick(4);
	outbox(proc, &c.s, 10);
	c.s.incap = caps[pick(8)];
	uint32_t r = pick(100);
	c.s.in_null = r < 4;
	c.s.out_null = r >= 4 && r < 6 && c.s.nout == 0;
	c.s.out_bad = r == 6;
	c.s.in_bad = r == 7 && c.s.incap;
	plan_sync(&c, proc);
	/* Pipes queued in each other with their RECEIVE leak by design
	 * (LeakSanitizer would see them): such a step is not taken. */
	if (m_cycle(&H.next)) {
		say(" -- skipped: it would queue pipes in each other");
		h_cycles++;
		return true;
	}
	if (H.next.died_moving &&
	    (H.m.known & M_KNOWN_CARRIER_DIES_BEFORE_RELEASE)) {
		say(" -- skipped: known bug 64");
		return true;
	}
	return run_sync(&c);
}

/* The root takes all its notices (no requests), checked. */
static bool root_notices(void)
{
	static struct x_cmd c;

	memset(&c.s, 0, sizeof(c.s));
	c.kind = CMD_SYNC;
	c.s.incap = M_INMAX;
	plan_sync(&c, 0);
	return run_sync(&c);
}

/* A new object's address must not name a live one. */
static bool fresh_address(uintptr_t a)
{
	char nb[32];
	int old = m_find(&H.m, a);

	if (old < 0 || !H.m.o[old].live)
		return true;
	return mismatch("a new object got the address of live %s", name(a, nb));
}

static bool step_alloc(void)
{
	static uint8_t src[3 * 65536];
	size_t page = H.m.page, total;
	uint32_t tag = ++H.tag;

	switch (pick(4)) {
	case 0: total = 0; break;
	case 1: total = 1 + pick(300); break;
	case 2: total = page + pick((uint32_t)(2 * page)); break;
	default: total = page * (1 + pick(3)); break;
	}
	size_t n1 = total ? pick((uint32_t)total + 1) : 0;
	size_t n2 = total - n1 ? pick((uint32_t)(total - n1) + 1) : 0;
	size_t n3 = total - n1 - n2;
	m_pattern(src, tag, 0, total);
	trindle_buffer_t b[3] = { { n1, src }, { n2, NULL }, { n3, src + n1 + n2 } };
	size_t count = total || pick(2) ? 3 : 0;
	say("P0 allocate %zu bytes (%zu + %zu zeros + %zu)", total, n1, n2, n3);
	void *a = trindle_allocate(count, count ? b : NULL);
	if (!a)
		return mismatch("allocate failed (errno %d)", errno);
	if ((uintptr_t)a % page)
		return mismatch("segment %p is not page-aligned", a);
	if (!fresh_address((uintptr_t)a))
		return false;
	int id = m_segment(&H.m, 0, (uintptr_t)a, total, tag, n1, n1 + n2);
	char nb[32];
	say(" -> %s", name((uintptr_t)a, nb));
	(void)id;
	return root_looks();
}

static bool step_pipe(void)
{
	size_t cap = 1 + pick(4);
	char nb[32];

	say("P0 pipe(%zu)", cap);
	void *p = trindle_pipe(cap);
	if (!p)
		return mismatch("trindle_pipe(%zu) failed (errno %d)", cap, errno);
	if (!fresh_address((uintptr_t)p))
		return false;
	m_pipe(&H.m, 0, (uintptr_t)p, cap);
	say(" -> %s", name((uintptr_t)p, nb));
	return root_looks();
}

/* Calls that must fail, with their errno. */
static bool step_bad(void)
{
	trindle_buffer_t b[2] = { { SIZE_MAX, NULL }, { 2, NULL } };
	void *r = NULL;
	int want = EINVAL;

	errno = 0;
	switch (pick(6)) {
	case 0:
		say("P0 allocate(1, NULL)");
		r = trindle_allocate(1, NULL);
		break;
	case 1:
		say("P0 allocate(SIZE_MAX + 2 bytes)");
		r = trindle_allocate(2, b);
		want = EOVERFLOW;
		break;
	case 2:
		say("P0 allocate(SIZE_MAX - 4096 bytes)");
		b[0].bytes = SIZE_MAX - 4096;
		r = trindle_allocate(1, b);
		want = ENOMEM;
		break;
	case 3:
		say("P0 pipe(0)");
		r = trindle_pipe(0);
		break;
	case 4:
		say("P0 launch(queue 0)");
		r = trindle_launch(worker_main, 0, NULL, NULL);
		break;
	default: {
		uintptr_t out = object(0, 0);
		char nb[32];
		if (m_launch_ok(&H.m, 0, out, 0))
			out = 0x1000;
		say("P0 launch(out %s)", name(out, nb));
		r = trindle_launch(worker_main, 1, (void *)out, NULL);
		break;
	}
	}
	if (r)
		return mismatch("a call that must fail returned %p", r);
	if (errno != want)
		return mismatch("errno %d, want %d", errno, want);
	return root_looks();
}

static bool step_extend(void)
{
	uintptr_t a = object(0, M_SEG);
	char nb[32];

	if (pick(8) == 0)
		a = object(0, M_PIPE);
	int want = m_extend(&H.m, 0, a);
	say("P0 extend(%s)", name(a, nb));
	errno = 0;
	int got = trindle_extend((void *)a);
	if (got != want || (got && errno != EINVAL))
		return mismatch("trindle_extend returned %d (errno %d), model %d",
				got, errno, want);
	return root_looks();
}

static uintptr_t completion_pipe(void)
{
	return pick(10) < 3 ? 0 : object(0, M_PIPE);
}

static bool step_launch(void)
{
	int w = 1;
	char a[32], b[32];

	while (w < M_PROCS && (H.m.p[w].alive || slots[w].alive))
		w++;
	if (w == M_PROCS)
		return true;
	size_t q = 1 + pick(4);
	uintptr_t out = completion_pipe(), err = completion_pipe();
	bool ok = m_launch_ok(&H.m, 0, out, err);
	say("P0 launch W%d queue %zu out %s err %s", w, q, name(out, a),
	    name(err, b));
	errno = 0;
	void *in = trindle_launch(worker_main, q, (void *)out, (void *)err);
	if (!ok)
		return in ? mismatch("launch with a bad out/err succeeded") :
			errno == EINVAL ? root_looks() :
			mismatch("launch: errno %d, not EINVAL", errno);
	if (!in)
		return mismatch("launch failed (errno %d)", errno);
	if (!fresh_address((uintptr_t)in))
		return false;
	struct w_slot *s = &slots[w];
	sem_init(&s->go, 0, 0);
	sem_init(&s->done, 0, 0);
	atomic_store(&s->input, (uintptr_t)in);
	s->alive = true;
	trindle_message_t give = { in, H.k };
	trindle_mailbox_t o = { 1, &give };
	if (trindle_sync(&o, NULL) != 0 || o.count != 0)
		return mismatch("could not give W%d the hidden pipe", w);
	if (!await(&s->done))
		return mismatch("W%d never started", w);
	m_launch(&H.m, 0, w, (uintptr_t)in, q, out, err);
	say(" -> %s", name((uintptr_t)in, a));
	return root_looks();
}

/* Could a notice of the root's come true again while a worker ends? */
static bool root_has_stale_notice(void)
{
	const struct m_proc *p = &H.m.p[0];
	for (int i = 0; i < p->nnotes; i++) {
		int id = p->notes[i].obj;
		if (p->notes[i].kind == M_NOTE_SOLE && p->hold[id] &&
		    m_holders(&H.m, id) > 1)
			return true;
	}
	return false;
}

static bool step_end(int w, bool quiet)
{
	static struct x_cmd c;
	char nb[32];
	uintptr_t input = H.m.o[H.m.p[w].input].addr;

	if (root_has_stale_notice()) {
		say("P0 takes its notices first: ");
		if (!root_notices())
			return false;
		end_line();
		H.step++;
	}
	memset(&c.s, 0, sizeof(c.s));
	c.kind = CMD_END;
	c.fault = 0;
	c.newpipe = 0;
	if (!quiet)
		outbox(w, &c.s, 6);
	put(&c.s, input, 0); /* drain the input before ending */
	unknown_stamps_alone(&c.s);
	c.s.incap = M_INMAX;
	c.end_how = quiet ? END_RETURN : (int)pick(4);
	c.final = c.end_how == END_EXIT || c.end_how == END_ABORT ?
		object(w, 0) : 0;
	/* Now and then a pipe it receives from (not its input): a move by
	 * trindle_exit()/trindle_abort(). */
	int mine[M_OBJS], nmine = 0;
	for (int i = 0; i < H.m.nobj; i++)
		if (H.m.o[i].kind == M_PIPE && H.m.o[i].live &&
		    H.m.o[i].creator == w && H.m.o[i].worker != w)
			mine[nmine++] = i;
	if (c.final && nmine && pick(2) == 0)
		c.final = H.m.o[mine[pick((uint32_t)nmine)]].addr;
	plan_sync(&c, w);
	if (m_cycle(&H.next) || (H.next.died_moving &&
	    (H.m.known & M_KNOWN_CARRIER_DIES_BEFORE_RELEASE))) {
		say(" -- would queue pipes in each other (or known bug 64); only drains:\n         ");
		h_cycles++;
		c.s.nout = 0;
		put(&c.s, input, 0);
		plan_sync(&c, w);
	}
	if (c.final) {
		/* Nor may the final object close such a cycle. */
		static struct model after;
		after = H.next;
		m_end(&after, w, m_find(&after, c.final),
		      c.end_how == END_ABORT);
		if (m_cycle(&after))
			c.final = 0;
	}
	/* A fault: a write to a segment the worker shares (after its sync). */
	int shared[M_OBJS], ns = 0, target = -1;
	for (int i = 0; i < H.next.nobj; i++)
		if (H.next.o[i].kind == M_SEG &&
		    H.next.o[i].bytes && m_holds(&H.next, w, i) &&
		    m_holders(&H.next, i) > 1)
			shared[ns++] = i;
	if (c.end_how == END_FAULT && !ns)
		c.end_how = END_RETURN;
	if (c.end_how == END_FAULT) {
		target = shared[pick((uint32_t)ns)];
		c.fault = H.next.o[target].addr +
			pick((uint32_t)H.next.o[target].bytes);
		say(" then write %s+%lu", name(H.next.o[target].addr, nb),
		    (unsigned long)(c.fault - H.next.o[target].addr));
	} else {
		say(" then %s(%s)", c.end_how == END_RETURN ? "return" :
		    c.end_how == END_EXIT ? "exit" : "abort", name(c.final, nb));
	}
	if (!run_sync(&c))
		return false;
	if (c.end_how == END_FAULT) {
		int id = m_fault_report(&H.m, w, sizeof(trindle_fault_t));
		if (nfaults < M_OBJS)
			faults[nfaults++] = (struct fault_want){ id, c.fault,
				H.m.o[target].addr, input };
		m_end(&H.m, w, id, true);
	} else {
		m_end(&H.m, w, m_find(&H.m, c.final), c.end_how == END_ABORT);
	}

	/* Take the root's notices until the worker's closure notice. */
	static trindle_message_t got[M_INMAX * 4];
	static struct m_msg want[M_INMAX * 4];
	size_t ngot = 0;
	bool closed = false;
	struct timespec t0, t;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (!closed && ngot + 8 <= M_INMAX * 4) {
		trindle_message_t rq = { H.k, NULL };
		trindle_mailbox_t o = { 1, &rq }, in = { 8, got + ngot };
		if (trindle_sync_timeout(&o, &in, 100000000) != 0 || o.count)
			return mismatch("the root's wait for W%d failed", w);
		for (size_t i = 0; i < in.count; i++)
			closed |= (uintptr_t)got[ngot + i].address == input &&
				!got[ngot + i].content;
		ngot += in.count;
		clock_gettime(CLOCK_MONOTONIC, &t);
		if (!closed && t.tv_sec - t0.tv_sec > H_WAIT_S)
			return mismatch("W%d's closure notice never came", w);
	}
	static bool loose[M_INMAX * 4];
	size_t nwant = m_take_notices(&H.m, 0, want, loose, M_INMAX * 4);
	sem_destroy(&slots[w].go);
	sem_destroy(&slots[w].done);
	slots[w].alive = false;
	atomic_store(&slots[w].input, 0);
	if (!same_msgs("notices while a worker ended", 0, got, ngot, want, nwant,
		       loose))
		return false;
	return root_looks();
}

static bool step(void)
{
	uint32_t r = pick(100);
	int segs = 0, pipes = 0;

	for (int i = 0; i < H.m.nobj; i++) {
		const struct m_obj *o = &H.m.o[i];
		if (!o->live)
			continue;
		segs += o->kind == M_SEG;
		pipes += o->kind == M_PIPE && o->worker < 0;
	}
	if (H.m.nobj > M_OBJS - 8)
		return step_sync(0);
	/* Early on, mostly make things to work with. */
	if (H.step <= 8 && r < 60)
		r = segs < 3 ? 0 : pipes < 2 ? 10 : !alive_workers() ? 16 : r;
	if (r < 10 && segs < 10)
		return step_alloc();
	if (r < 16 && pipes < 5)
		return step_pipe();
	if (r < 21 && alive_workers() < M_PROCS - 2)
		return step_launch();
	if (r < 24 && alive_workers())
		return step_end(some_worker(), false);
	if (r < 26)
		return step_bad();
	if (r < 28)
		return step_extend();
	if (r < 62 || !alive_workers())
		return step_sync(0);
	return step_sync(some_worker());
}

/* Lets go of everything: the workers end, the root releases all it holds
 * and takes its notices.  Checked like any step. */
static bool teardown(void)
{
	static struct x_cmd c;

	for (int w = 1; w < M_PROCS; w++) {
		if (!H.m.p[w].alive)
			continue;
		H.step++;
		if (!step_end(w, true))
			return false;
		end_line();
	}
	H.step++;
	memset(&c.s, 0, sizeof(c.s));
	c.kind = CMD_SYNC;
	for (int i = 0; i < H.m.nobj && c.s.nout < M_OUTMAX; i++)
		if (H.m.p[0].hold[i])
			put(&c.s, 0, H.m.o[i].addr);
	c.s.incap = M_INMAX;
	plan_sync(&c, 0);
	if (!run_sync(&c))
		return false;
	end_line();
	H.step++;
	if (!root_notices())
		return false;
	end_line();
	for (int i = 0; i < H.m.nobj; i++)
		if (H.m.p[0].hold[i])
			return mismatch("the root still holds #%d after teardown", i);
	return true;
}

unsigned long h_run(struct h_src *src, unsigned long steps, bool log)
{
	memset(&H.line, 0, sizeof(H.line));
	H.src = src;
	H.step = 0;
	H.limit = steps;
	H.log = log;
	H.loglen = H.linelen = 0;
	H.failed = false;
	H.tag = 0;
	nfaults = 0;
	m_init(&H.m, (size_t)sysconf(_SC_PAGESIZE));
	const char *known = getenv("TRINDLE_MODEL_KNOWN");
	H.m.known = known ? (unsigned)strtoul(known, NULL, 0) : 0;
	H.k = trindle_pipe(1);
	atomic_store(&hidden_k, H.k);
	if (!H.k) {
		mismatch("no hidden pipe");
		return 1;
	}
	while (H.step < steps && !h_src_done(src) && !H.m.overflow) {
		H.step++;
		struct timespec a, b;
		clock_gettime(CLOCK_MONOTONIC, &a);
		if (!step())
			return H.step;
		clock_gettime(CLOCK_MONOTONIC, &b);
		long us = (b.tv_sec - a.tv_sec) * 1000000 + (b.tv_nsec - a.tv_nsec) / 1000;
		if (us > 50000)
			say("  [slow: %ld us]", us);
		end_line();
	}
	if (!teardown())
		return H.step;
	trindle_message_t rel = { NULL, H.k };
	trindle_mailbox_t o = { 1, &rel };
	if (trindle_sync(&o, NULL) != 0 || o.count)
		return mismatch("could not release the hidden pipe"), H.step;
	if (H.log && H.loglen && getenv("TRINDLE_MODEL_LOG"))
		fprintf(stderr, "%s", H.logbuf);
	if (getenv("TRINDLE_MODEL_STATS"))
		fprintf(stderr, "pipe moves %lu (%lu apart from their release), "
			"received by the root %lu, by workers %lu; failed: "
			"through itself %lu, of an input %lu; killed by their "
			"carrier %lu; by a worker's end (pipes it received or "
			"made) %lu; moved by trindle_exit %lu; steps skipped "
			"for a cycle %lu\n", m_stats.moves, m_stats.moves_apart,
			m_stats.to_root, m_stats.to_worker, m_stats.self_fail,
			m_stats.input_fail, m_stats.carrier_kills,
			m_stats.end_kills, m_stats.exit_moves, h_cycles);
	free(H.logbuf);
	H.logbuf = NULL;
	H.logcap = 0;
	return 0;
}
