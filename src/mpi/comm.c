/* SPDX-License-Identifier: MIT */
/*
 * comm.c - the bridge's comm thread: the only thread that calls MPI.
 *
 * It is a trindle worker (launched by trindle_mpi_bridge()) that loops
 * over three things, never waiting on any of them while another has work:
 *
 *  - local: one trindle_sync with a zero timeout moves what arrived from
 *    other ranks into exported pipes, releases what went out, and takes
 *    control requests and notices; then, for every imported pipe it holds
 *    credits for, one more takes at most that many messages out of it;
 *  - MPI: completed sends are retired, incoming frames are parsed, and
 *    large payloads are received straight into new segments;
 *  - credits, heartbeats, timeouts, and the steps of finishing.
 *
 * When a pass does nothing, it waits in trindle_sync_timeout on its input
 * pipe and the imported pipes it may take from, for a time that doubles
 * up to a millisecond: a local message wakes it at once, a remote one is
 * seen within that time, and an idle rank costs its neighbours almost
 * nothing.
 *
 * Wire format.  Per destination rank, records are packed into frames (one
 * MPI message of at most FRAME_BYTES on TAG_FRAME).  A record is a struct
 * rec, followed, for a DATA record with REC_INLINE, by the payload padded
 * to 8 bytes.  A larger payload goes as a message of its own on
 * TAG_PAYLOAD, sent straight from the segment's memory; the receiver,
 * reading the DATA record, posts the matching receive straight into a new
 * segment.  MPI keeps the order of messages with one source and tag, so
 * the n-th payload is the n-th non-inline DATA record's.
 *
 * Credits.  For each export the receiving bridge keeps
 *     measure(pipe) + held + outstanding <= capacity
 * where held is what it received and could not deliver yet and
 * outstanding the credits it granted that were not used yet.  An importer
 * asks (DEMAND) for credits for the messages its imported pipe holds
 * beyond its credits, as a running total (so a demand crossing a grant
 * asks for nothing twice); the exporter grants what the bound allows, at
 * most a fair share per asking importer at a time, in turn.
 */
#include "bridge.h"

#include <errno.h>
#include <limits.h>
#include <mpi.h>
#include <sched.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TAG_FRAME 1
#define TAG_PAYLOAD 2
#define FRAME_BYTES (64 * 1024)
#define INLINE_MAX 4096   /* payloads up to this travel inside frames */
#define BATCH 64          /* messages per trindle_sync */
#define IDLE_SPINS 16     /* idle passes before the first sleep */
#define IDLE_MAX_NS 1000000
#define FRAMES_PER_PASS 64
#define REL_MAX 256

enum rec_op { OP_HELLO = 1, OP_DEMAND, OP_GRANT, OP_DATA, OP_CLOSED, OP_FIN,
	      OP_BEAT };
#define REC_INLINE 1u

struct rec {
	uint8_t op, flags;
	uint16_t pad;
	uint32_t tag; /* HELLO, DEMAND, DATA: the export's tag */
	uint32_t id;  /* the importer's import id */
	uint32_t pad2;
	uint64_t n;   /* DEMAND: credits wanted in all, a running total;
	               * GRANT: credits given; DATA: bytes */
};

struct peer {
	bool lost, fin_in;
	int64_t heard, spoke;   /* ns, monotonic */
	unsigned char *frame;   /* records not sent yet, or NULL */
	size_t len;
};

/* Demands and grants are running totals, so a demand that crosses a grant
 * on the wire asks for nothing twice. */
struct importer {
	int rank;
	uint32_t id;
	size_t outstanding;      /* granted, not used yet */
	uint64_t wanted, granted;
};

struct held {                 /* a message received for an export */
	trindle_segment_t seg;
	MPI_Request req;      /* its payload's receive, or MPI_REQUEST_NULL */
	int rank;
};

struct export {
	uint32_t tag;
	trindle_pipe_t pipe;
	size_t capacity, outstanding;
	struct importer *imp;
	size_t nimp, rr;
	struct held *q;       /* ring of qcap entries */
	size_t qhead, qlen, qcap;
};

struct import {
	uint32_t id, tag;
	int rank;
	trindle_pipe_t local;     /* X: the proxy moves into it, we take */
	trindle_pipe_t user;      /* the imported pipe (the proxy's input) */
	trindle_object_t pending; /* taken from X without a credit (only
	                           * while flushing), or NULL */
	trindle_segment_t marker; /* finishing: sent through user, seen in
	                           * X once all before it was forwarded */
	bool flushed;
	size_t credit;
	uint64_t taken;     /* messages forwarded with a credit, in all */
	uint64_t demanded;  /* the last running total asked for */
};

struct hello { int rank; uint32_t tag, id; uint64_t wanted; };

struct sendreq { trindle_segment_t seg; void *buf; int rank; };

enum state { RUNNING, FLUSHING, FIN_SENT, DONE };

static struct bridge {
	trindle_pipe_t input, err;
	MPI_Comm comm;
	int rank, size;
	bool owns_mpi;
	int64_t timeout, beat;
	enum state state;
	int64_t flush_deadline;
	int undelivered;
	struct mpi_handoff *finish_answer;
	struct mpi_ctl *ctl;             /* a request whose pipe is coming */
	struct peer *peers;
	struct export *ex;  size_t nex;
	struct import *im;  size_t nim;
	uint32_t next_id;
	struct hello *hellos; size_t nhellos;
	MPI_Request *sreq; struct sendreq *sinfo; size_t nsend, capsend;
	struct held *drain; size_t ndrain;         /* payloads for nobody */
	trindle_segment_t *grave; size_t ngrave;   /* MPI may still touch */
	trindle_message_t out[2 * BATCH + REL_MAX + 1];
	trindle_object_t rel[REL_MAX];     size_t nrel;
	size_t *tried;    size_t ntried;   /* local_sync's scratch */
	int *idx; MPI_Status *st; size_t nidx; /* retire_sends' scratch */
	trindle_segment_t reports[64];     size_t nreports;
	unsigned char *scratch;
	int64_t now;
} B;

/* ---- small helpers ---------------------------------------------------- */

static int64_t now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static void sync_out(trindle_message_t *m, size_t n)
{
	trindle_mailbox_t out = { n, m };
	trindle_sync(&out, NULL);
}

static void release_now(trindle_object_t obj)
{
	if (obj)
		sync_out(&(trindle_message_t){ NULL, obj }, 1);
}

/* Releases are batched into the next local sync. */
static void release_later(trindle_object_t obj)
{
	if (!obj)
		return;
	if (B.nrel == REL_MAX) {
		trindle_message_t m[REL_MAX];
		for (size_t i = 0; i < B.nrel; i++)
			m[i] = (trindle_message_t){ NULL, B.rel[i] };
		sync_out(m, B.nrel);
		B.nrel = 0;
	}
	B.rel[B.nrel++] = obj;
}

static void flush_reports(void)
{
	size_t kept = 0;
	for (size_t i = 0; i < B.nreports; i++) {
		trindle_segment_t s = B.reports[i];
		trindle_message_t m[2] = { { B.err, s }, { NULL, s } };
		trindle_mailbox_t out = { 2, m };
		if (B.err)
			trindle_sync(&out, NULL);
		if (!B.err || (out.count &&
		    !(trindle_access(B.err) & TRINDLE_ACCESS_SEND)))
			release_now(s);   /* no err pipe, or a dead one */
		else if (out.count)
			B.reports[kept++] = s; /* full: again next pass */
	}
	B.nreports = kept;
}

static void report(int rank, int error, int mpi_error, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void report(int rank, int error, int mpi_error, const char *fmt, ...)
{
	char msg[400];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	size_t len = n < 0 ? 0 : (size_t)n >= sizeof msg ? sizeof msg - 1
							  : (size_t)n;
	if (!B.err || B.nreports == sizeof B.reports / sizeof B.reports[0])
		return;
	trindle_mpi_report_t head = { TRINDLE_MPI_REPORT_MAGIC, rank, error,
				      mpi_error, { 0 } };
	if (len >= sizeof head.message)
		len = sizeof head.message - 1;
	memcpy(head.message, msg, len);
	trindle_segment_t s = trindle_allocate(1,
			&(trindle_buffer_t){ sizeof head, &head });
	if (s)
		B.reports[B.nreports++] = s;
}

static void mpi_error_text(int rc, char *buf, size_t size)
{
	char s[MPI_MAX_ERROR_STRING];
	int len = 0;
	if (MPI_Error_string(rc, s, &len) != MPI_SUCCESS)
		len = snprintf(s, sizeof s, "MPI error %d", rc);
	snprintf(buf, size, "%.*s", len, s);
}

/* Room for one more send request; the arrays grow together. */
static MPI_Request *add_send(void)
{
	if (B.nsend == B.capsend) {
		size_t n = B.capsend ? B.capsend * 2 : 64;
		B.sreq = realloc(B.sreq, n * sizeof *B.sreq);
		B.sinfo = realloc(B.sinfo, n * sizeof *B.sinfo);
		if (!B.sreq || !B.sinfo)
			abort();
		B.capsend = n;
	}
	return &B.sreq[B.nsend];
}

/* ---- frames ----------------------------------------------------------- */

static void send_frame(int rank)
{
	struct peer *p = &B.peers[rank];
	if (!p->len)
		return;
	int rc = MPI_Isend(p->frame, (int)p->len, MPI_BYTE, rank, TAG_FRAME,
			   B.comm, add_send());
	if (rc != MPI_SUCCESS) {
		free(p->frame);
	} else {
		B.sinfo[B.nsend++] = (struct sendreq){ NULL, p->frame, rank };
		p->spoke = B.now;
	}
	p->frame = NULL;
	p->len = 0;
}

/* Room for a record and extra payload bytes in rank's frame; NULL when the
 * rank is lost (the record is dropped: nobody would read it). */
static unsigned char *frame_room(int rank, size_t bytes)
{
	struct peer *p = &B.peers[rank];
	if (p->lost)
		return NULL;
	if (p->frame && p->len + bytes > FRAME_BYTES)
		send_frame(rank);
	if (!p->frame) {
		p->frame = malloc(FRAME_BYTES);
		if (!p->frame)
			abort();
	}
	unsigned char *at = p->frame + p->len;
	p->len += bytes;
	return at;
}

static void put_rec(int rank, uint8_t op, uint32_t tag, uint32_t id,
		    uint64_t n)
{
	unsigned char *at = frame_room(rank, sizeof(struct rec));
	if (at)
		memcpy(at, &(struct rec){ .op = op, .tag = tag, .id = id,
					  .n = n }, sizeof(struct rec));
}

static size_t pad8(size_t n) { return (n + 7) & ~(size_t)7; }

/* ---- imports ---------------------------------------------------------- */

static struct import *find_import(uint32_t id)
{
	for (size_t i = 0; i < B.nim; i++)
		if (B.im[i].id == id)
			return &B.im[i];
	return NULL;
}

/* The import ends: its pipe dies (holders get the closure notice, what it
 * queued is released). */
static void import_close(struct import *im)
{
	release_later(im->local);
	release_later(im->user);
	release_later(im->pending);
	if (im->marker && !im->flushed)
		release_later(im->marker);
	*im = B.im[--B.nim];
}

static void close_imports_of(int rank)
{
	for (size_t i = 0; i < B.nim;)
		if (B.im[i].rank == rank)
			import_close(&B.im[i]);
		else
			i++;
}

/* One message out of an imported pipe, with a credit for it. */
static void forward(struct import *im, trindle_object_t obj)
{
	int access = trindle_access(obj);
	if (!(access & TRINDLE_ACCESS_READ) || (access & TRINDLE_ACCESS_SEND)) {
		report(im->rank, EXDEV, 0, "trindle: mpi: a pipe sent to rank %d "
		       "tag %u cannot cross ranks; released", im->rank, im->tag);
		release_later(obj);
		return;
	}
	size_t len = trindle_measure(obj);
	if (len > INT_MAX) {
		report(im->rank, EMSGSIZE, 0, "trindle: mpi: a segment of %zu "
		       "bytes for rank %d tag %u is too large for MPI; released",
		       len, im->rank, im->tag);
		release_later(obj);
		return;
	}
	im->credit--;
	im->taken++;
	bool inl = len <= INLINE_MAX;
	unsigned char *at = frame_room(im->rank, sizeof(struct rec) +
				       (inl ? pad8(len) : 0));
	if (!at) {
		release_later(obj);
		return;
	}
	memcpy(at, &(struct rec){ .op = OP_DATA, .flags = inl ? REC_INLINE : 0,
				  .tag = im->tag, .id = im->id, .n = len },
	       sizeof(struct rec));
	if (inl) {
		memcpy(at + sizeof(struct rec), obj, len);
		release_later(obj);
		return;
	}
	int rc = MPI_Isend(obj, (int)len, MPI_BYTE, im->rank, TAG_PAYLOAD,
			   B.comm, add_send());
	if (rc != MPI_SUCCESS) {
		release_later(obj);
		return;
	}
	/* The segment stays held until MPI has read it. */
	B.sinfo[B.nsend++] = (struct sendreq){ obj, NULL, im->rank };
}

/* ---- exports ---------------------------------------------------------- */

static struct export *find_export(uint32_t tag)
{
	for (size_t i = 0; i < B.nex; i++)
		if (B.ex[i].tag == tag)
			return &B.ex[i];
	return NULL;
}

static struct importer *find_importer(struct export *e, int rank,
				      uint32_t id)
{
	for (size_t i = 0; i < e->nimp; i++)
		if (e->imp[i].rank == rank && e->imp[i].id == id)
			return &e->imp[i];
	return NULL;
}

static struct held *held_at(struct export *e, size_t i)
{
	return &e->q[(e->qhead + i) % e->qcap];
}

static void hold(struct export *e, struct held h)
{
	if (e->qlen == e->qcap) { /* only past the bound, by a faulty peer */
		size_t ncap = e->qcap * 2;
		struct held *q = malloc(ncap * sizeof *q);
		if (!q)
			abort();
		for (size_t i = 0; i < e->qlen; i++)
			q[i] = *held_at(e, i);
		free(e->q);
		e->q = q;
		e->qcap = ncap;
		e->qhead = 0;
	}
	*held_at(e, e->qlen++) = h;
}

/* A message whose payload may still be arriving is kept until it has. */
static void drop_held(struct held *h)
{
	if (h->req != MPI_REQUEST_NULL) {
		B.drain = realloc(B.drain, (B.ndrain + 1) * sizeof *B.drain);
		if (!B.drain)
			abort();
		B.drain[B.ndrain++] = *h;
	} else {
		release_later(h->seg);
	}
}

static void add_importer(struct export *e, int rank, uint32_t id)
{
	e->imp = realloc(e->imp, (e->nimp + 1) * sizeof *e->imp);
	if (!e->imp)
		abort();
	e->imp[e->nimp++] = (struct importer){ rank, id, 0, 0, 0 };
}

/* The bridge holds SEND on a pipe once however often it was sent to it:
 * a pipe that another export, or the err pipe, still uses is kept. */
static bool pipe_in_use(trindle_pipe_t p, const struct export *except)
{
	if (p == B.err)
		return true;
	for (size_t k = 0; k < B.nex; k++)
		if (&B.ex[k] != except && B.ex[k].pipe == p)
			return true;
	return false;
}

/* The export ends: its importers are told, what it held is released, the
 * bridge lets go of its SEND (unless the pipe died, which did that). */
static void export_close(struct export *e, bool pipe_alive)
{
	for (size_t i = 0; i < e->nimp; i++)
		put_rec(e->imp[i].rank, OP_CLOSED, e->tag, e->imp[i].id, 0);
	for (size_t i = 0; i < e->qlen; i++)
		drop_held(held_at(e, i));
	free(e->imp);
	free(e->q);
	if (pipe_alive && !pipe_in_use(e->pipe, e))
		release_later(e->pipe);
	*e = B.ex[--B.nex];
}

static void forget_importers_of(int rank)
{
	for (size_t k = 0; k < B.nex; k++) {
		struct export *e = &B.ex[k];
		for (size_t i = 0; i < e->nimp;) {
			if (e->imp[i].rank == rank) {
				e->outstanding -= e->imp[i].outstanding;
				e->imp[i] = e->imp[--e->nimp];
			} else {
				i++;
			}
		}
	}
	for (size_t i = 0; i < B.nhellos;)
		if (B.hellos[i].rank == rank)
			B.hellos[i] = B.hellos[--B.nhellos];
		else
			i++;
}

/* ---- peers ------------------------------------------------------------ */

static void peer_lost(int rank, int error, int mpi_rc, const char *why)
{
	struct peer *p = &B.peers[rank];
	if (p->lost || rank == B.rank)
		return;
	char text[MPI_MAX_ERROR_STRING + 8] = "no MPI error";
	if (mpi_rc != MPI_SUCCESS)
		mpi_error_text(mpi_rc, text, sizeof text);
	int cls = 0;
	if (mpi_rc != MPI_SUCCESS)
		MPI_Error_class(mpi_rc, &cls);
	report(rank, error, cls, "trindle: mpi: rank %d lost: %s (%s)", rank,
	       why, text);
	p->lost = true;
	free(p->frame);
	p->frame = NULL;
	p->len = 0;
	close_imports_of(rank);
	forget_importers_of(rank);
	/* Payloads the lost rank will never send: the receive is cancelled,
	 * and the segment kept until MPI is done (it may not be cancellable). */
	for (size_t k = 0; k < B.nex; k++) {
		struct export *e = &B.ex[k];
		for (size_t i = 0; i < e->qlen; i++) {
			struct held *h = held_at(e, i);
			if (h->rank == rank && h->req != MPI_REQUEST_NULL) {
				MPI_Cancel(&h->req);
				MPI_Request_free(&h->req);
				B.grave = realloc(B.grave, (B.ngrave + 1) *
						  sizeof *B.grave);
				if (!B.grave)
					abort();
				B.grave[B.ngrave++] = h->seg;
				h->seg = NULL; /* delivered as nothing */
			}
		}
	}
	for (size_t i = 0; i < B.ndrain;) {
		if (B.drain[i].rank == rank) {
			MPI_Cancel(&B.drain[i].req);
			MPI_Request_free(&B.drain[i].req);
			B.grave = realloc(B.grave, (B.ngrave + 1) *
					  sizeof *B.grave);
			if (!B.grave)
				abort();
			B.grave[B.ngrave++] = B.drain[i].seg;
			B.drain[i] = B.drain[--B.ndrain];
		} else {
			i++;
		}
	}
}

/* ---- incoming frames -------------------------------------------------- */

static void on_data(int src, const struct rec *r, const unsigned char *body)
{
	struct export *e = find_export(r->tag);
	struct importer *imp = e ? find_importer(e, src, r->id) : NULL;
	struct held h = { NULL, MPI_REQUEST_NULL, src };
	size_t len = (size_t)r->n;

	if (r->flags & REC_INLINE) {
		h.seg = trindle_allocate(1, &(trindle_buffer_t){ len, body });
	} else {
		h.seg = trindle_allocate(1, &(trindle_buffer_t){ len, NULL });
		/* The payload must be received whatever happens, or the next
		 * one from src would match this receive. */
		void *into = h.seg ? h.seg : malloc(len ? len : 1);
		if (!into)
			abort();
		MPI_Irecv(into, (int)len, MPI_BYTE, src, TAG_PAYLOAD, B.comm,
			  &h.req);
		if (!h.seg) {
			MPI_Wait(&h.req, MPI_STATUS_IGNORE);
			free(into);
		}
	}
	if (!h.seg)
		report(src, ENOMEM, 0, "trindle: mpi: no memory for a message "
		       "of %zu bytes from rank %d; dropped", len, src);
	if (imp && imp->outstanding) {
		imp->outstanding--;
		e->outstanding--;
	}
	if (h.seg && imp)
		hold(e, h);
	else if (h.seg)
		drop_held(&h);
}

static void on_hello(int src, const struct rec *r)
{
	struct export *e = find_export(r->tag);
	if (e) {
		add_importer(e, src, r->id);
	} else if (B.state >= FIN_SENT) {
		/* Our FIN, already sent, closes every import of ours: nothing
		 * goes to src after it (src may be finalising). */
	} else {
		B.hellos = realloc(B.hellos, (B.nhellos + 1) *
				   sizeof *B.hellos);
		if (!B.hellos)
			abort();
		B.hellos[B.nhellos++] = (struct hello){ src, r->tag, r->id, 0 };
	}
}

static void parse_frame(int src, const unsigned char *buf, size_t n)
{
	size_t at = 0;
	while (at + sizeof(struct rec) <= n) {
		struct rec r;
		memcpy(&r, buf + at, sizeof r);
		at += sizeof r;
		switch (r.op) {
		case OP_DATA: {
			size_t body = (r.flags & REC_INLINE) ? pad8(r.n) : 0;
			if (body > n - at)
				return; /* malformed: stop here */
			on_data(src, &r, buf + at);
			at += body;
			break;
		}
		case OP_HELLO:
			on_hello(src, &r);
			break;
		case OP_DEMAND: {
			struct export *e = find_export(r.tag);
			struct importer *imp = e ? find_importer(e, src, r.id)
						 : NULL;
			if (imp) {
				if (r.n > imp->wanted)
					imp->wanted = r.n;
				break;
			}
			for (size_t i = 0; i < B.nhellos; i++)
				if (B.hellos[i].rank == src &&
				    B.hellos[i].id == r.id &&
				    r.n > B.hellos[i].wanted)
					B.hellos[i].wanted = r.n;
			break;
		}
		case OP_GRANT: {
			struct import *im = find_import(r.id);
			if (im && im->rank == src) {
				im->credit += (size_t)r.n;
			}
			break;
		}
		case OP_CLOSED: {
			struct import *im = find_import(r.id);
			if (im && im->rank == src)
				import_close(im);
			break;
		}
		case OP_FIN:
			B.peers[src].fin_in = true;
			close_imports_of(src);
			forget_importers_of(src);
			break;
		default: /* OP_BEAT: hearing from src was the point */
			break;
		}
	}
}

/* ---- the MPI side of a pass ------------------------------------------- */

static bool retire_sends(void)
{
	if (!B.nsend)
		return false;
	int count = 0;
	if (B.nidx < B.nsend) {
		free(B.idx);
		free(B.st);
		B.nidx = B.capsend;
		B.idx = malloc(B.nidx * sizeof *B.idx);
		B.st = malloc(B.nidx * sizeof *B.st);
		if (!B.idx || !B.st)
			abort();
	}
	int *idx = B.idx;
	MPI_Status *st = B.st;
	int rc = MPI_Testsome((int)B.nsend, B.sreq, &count, idx, st);
	if (rc != MPI_SUCCESS && rc != MPI_ERR_IN_STATUS)
		count = 0;
	for (int k = 0; k < count && count != MPI_UNDEFINED; k++) {
		struct sendreq *s = &B.sinfo[idx[k]];
		if (rc == MPI_ERR_IN_STATUS && st[k].MPI_ERROR != MPI_SUCCESS)
			peer_lost(s->rank, EPIPE, st[k].MPI_ERROR,
				  "a send to it failed");
		release_later(s->seg);
		free(s->buf);
		s->seg = NULL;
		s->buf = NULL;
		s->rank = -1; /* retired: compacted below */
	}
	if (count <= 0 || count == MPI_UNDEFINED)
		return false;
	size_t kept = 0;
	for (size_t i = 0; i < B.nsend; i++) {
		if (B.sinfo[i].rank < 0)
			continue;
		B.sreq[kept] = B.sreq[i];
		B.sinfo[kept++] = B.sinfo[i];
	}
	B.nsend = kept;
	return true;
}

static bool take_frames(void)
{
	bool any = false;
	for (int k = 0; k < FRAMES_PER_PASS; k++) {
		int flag = 0, count = 0;
		MPI_Message msg;
		MPI_Status st;
		if (MPI_Improbe(MPI_ANY_SOURCE, TAG_FRAME, B.comm, &flag, &msg,
				&st) != MPI_SUCCESS || !flag)
			break;
		MPI_Get_count(&st, MPI_BYTE, &count);
		if (count < 0 || count > FRAME_BYTES)
			count = FRAME_BYTES;
		MPI_Mrecv(B.scratch, count, MPI_BYTE, &msg, MPI_STATUS_IGNORE);
		int src = st.MPI_SOURCE;
		any = true;
		if (src < 0 || src >= B.size || B.peers[src].lost)
			continue;
		B.peers[src].heard = B.now;
		parse_frame(src, B.scratch, (size_t)count);
	}
	return any;
}

static bool finish_payloads(void)
{
	bool any = false;
	for (size_t i = 0; i < B.ndrain;) {
		int done = 0;
		MPI_Test(&B.drain[i].req, &done, MPI_STATUS_IGNORE);
		if (done) {
			release_later(B.drain[i].seg);
			B.drain[i] = B.drain[--B.ndrain];
			any = true;
		} else {
			i++;
		}
	}
	for (size_t k = 0; k < B.nex; k++) {
		struct export *e = &B.ex[k];
		for (size_t i = 0; i < e->qlen; i++) {
			struct held *h = held_at(e, i);
			if (h->req == MPI_REQUEST_NULL)
				continue;
			int done = 0;
			MPI_Test(&h->req, &done, MPI_STATUS_IGNORE);
			if (!done)
				break; /* only a finished head can be delivered */
			any = true;
		}
	}
	return any;
}

/* ---- credits ---------------------------------------------------------- */

static size_t want_of(const struct importer *imp)
{
	return imp->wanted > imp->granted ? (size_t)(imp->wanted - imp->granted)
					  : 0;
}

static bool grant_credits(void)
{
	bool any = false;
	for (size_t k = 0; k < B.nex; k++) {
		struct export *e = &B.ex[k];
		size_t wanting = 0;
		for (size_t i = 0; i < e->nimp; i++)
			wanting += want_of(&e->imp[i]) > 0;
		if (!wanting)
			continue;
		size_t used = trindle_measure(e->pipe) + e->qlen + e->outstanding;
		if (used >= e->capacity)
			continue;
		size_t room = e->capacity - used;
		size_t share = e->capacity / wanting ? e->capacity / wanting : 1;
		for (size_t j = 0; j < e->nimp && room; j++) {
			struct importer *imp = &e->imp[(e->rr + j) % e->nimp];
			size_t g = want_of(imp);
			g = g < share ? g : share;
			g = g < room ? g : room;
			if (!g)
				continue;
			put_rec(imp->rank, OP_GRANT, e->tag, imp->id, g);
			imp->granted += g;
			imp->outstanding += g;
			e->outstanding += g;
			room -= g;
			any = true;
		}
		e->rr++;
	}
	return any;
}

/* An importer asks for credits for what waits in its pipe beyond the
 * credits it holds, as a running total of all it ever wanted. */
static void ask_credits(void)
{
	for (size_t i = 0; i < B.nim; i++) {
		struct import *im = &B.im[i];
		size_t queued = trindle_measure(im->local) +
				trindle_measure(im->user) + (im->pending != NULL);
		uint64_t total = im->taken + queued;
		if (queued > im->credit && total > im->demanded) {
			put_rec(im->rank, OP_DEMAND, im->tag, im->id, total);
			im->demanded = total;
		}
	}
}

/* ---- the local side of a pass ----------------------------------------- */

static void take_ctl_part(trindle_object_t obj);

static void dispatch(const trindle_message_t *m)
{
	if (!m->address) {
		/* A segment we share became ours alone; whoever holds it in the
		 * bridge (a send in flight) releases it in time. */
		return;
	}
	if (!m->content) { /* a pipe we send on died */
		if (m->address == B.err) {
			B.err = NULL;
			return;
		}
		for (size_t k = 0; k < B.nex;)
			if (B.ex[k].pipe == m->address)
				export_close(&B.ex[k], false);
			else
				k++;
		return;
	}
	if (m->address == B.input) {
		take_ctl_part(m->content);
		return;
	}
	for (size_t i = 0; i < B.nim; i++) {
		struct import *im = &B.im[i];
		if (im->local != m->address)
			continue;
		if (m->content == im->marker) {
			im->flushed = true; /* all before it went out */
			release_later(m->content);
		} else if (im->credit) {
			forward(im, m->content);
		} else if (!im->pending) {
			im->pending = m->content; /* flushing: see take_local */
		} else {
			release_later(m->content); /* cannot happen */
		}
		return;
	}
	release_later(m->content);
}

/* Moves held messages into their exported pipes, flushes releases, and
 * takes control requests and notices.  Returns whether anything moved. */
static bool local_sync(void)
{
	bool any = false;
	size_t n = 0;
	trindle_message_t *out = B.out;
	if (B.ntried < B.nex) {
		free(B.tried);
		B.ntried = B.nex * 2;
		B.tried = malloc(B.ntried * sizeof *B.tried);
		if (!B.tried)
			abort();
	}
	for (size_t k = 0; k < B.nex; k++) {
		struct export *e = &B.ex[k];
		size_t t = 0;
		while (t < e->qlen && n + 2 <= 2 * BATCH) {
			struct held *h = held_at(e, t);
			if (h->req != MPI_REQUEST_NULL)
				break;
			if (h->seg) {
				out[n++] = (trindle_message_t){ e->pipe, h->seg };
				out[n++] = (trindle_message_t){ NULL, h->seg };
			}
			t++;
		}
		B.tried[k] = t;
	}
	for (size_t i = 0; i < B.nrel; i++)
		out[n++] = (trindle_message_t){ NULL, B.rel[i] };
	B.nrel = 0;
	out[n++] = (trindle_message_t){ B.input, NULL };
	trindle_message_t in[32];
	trindle_mailbox_t o = { n, out }, i = { 32, in };
	trindle_sync_timeout(&o, &i, 0);
	/* The sends to one pipe that went through are a prefix of them (a
	 * send after a failed one to the same pipe fails too): pop that many
	 * from the head, with the entries lost in transit (no segment) among
	 * them. */
	for (size_t k = 0; k < B.nex; k++) {
		struct export *e = &B.ex[k];
		size_t sent = 0, failed = 0;
		for (size_t j = 0; j < B.tried[k]; j++)
			sent += held_at(e, j)->seg != NULL;
		for (size_t f = 0; f < o.count; f++)
			failed += o.address[f].address == e->pipe;
		sent -= failed < sent ? failed : sent;
		for (size_t j = 0; j < B.tried[k]; j++) {
			struct held *h = held_at(e, 0);
			if (h->seg && !sent)
				break;
			sent -= h->seg != NULL;
			e->qhead = (e->qhead + 1) % e->qcap;
			e->qlen--;
			any = true;
		}
	}
	for (size_t k = 0; k < i.count; k++)
		dispatch(&in[k]);
	return any || i.count;
}

static bool take_local(void)
{
	bool any = false;
	for (size_t i = 0; i < B.nim; i++) {
		struct import *im = &B.im[i];
		if (im->pending && im->credit) {
			trindle_object_t o = im->pending;
			im->pending = NULL;
			forward(im, o);
			any = true;
		}
		/* Without credits nothing is taken, except, while flushing, one
		 * message: it may be the marker that ends the flush. */
		size_t want = im->credit < 32 ? im->credit : 32;
		if (!want && B.state == FLUSHING && !im->pending && !im->flushed)
			want = 1;
		if (!want)
			continue;
		trindle_message_t req = { im->local, NULL }, in[32];
		trindle_mailbox_t o = { 1, &req }, m = { want, in };
		trindle_sync_timeout(&o, &m, 0);
		for (size_t k = 0; k < m.count; k++)
			dispatch(&in[k]);
		any |= m.count > 0;
		/* dispatch may have closed imports; i stays in bounds */
	}
	return any;
}

/* Nothing to do: wait for a local message, at most ns. */
static void idle_wait(int64_t ns)
{
	trindle_message_t out[1 + 64], in[1];
	size_t n = 0;
	out[n++] = (trindle_message_t){ B.input, NULL };
	for (size_t i = 0; i < B.nim && n < 65; i++)
		if (B.im[i].credit || (B.state == FLUSHING && !B.im[i].pending &&
				       !B.im[i].flushed))
			out[n++] = (trindle_message_t){ B.im[i].local, NULL };
	trindle_mailbox_t o = { n, out }, m = { 1, in };
	int64_t t0 = now_ns();
	trindle_sync_timeout(&o, &m, ns);
	if (m.count) {
		dispatch(&in[0]);
		return;
	}
	/* The sync returns at once when nobody else can send to these
	 * pipes: sleep the rest. */
	int64_t left = ns - (now_ns() - t0);
	if (left > 0)
		nanosleep(&(struct timespec){ 0, left }, NULL);
}

/* ---- control requests ------------------------------------------------- */

static int do_export(const struct mpi_ctl *c, trindle_pipe_t pipe)
{
	if (B.state != RUNNING)
		return ESHUTDOWN;
	if (!pipe || !(trindle_access(pipe) & TRINDLE_ACCESS_SEND) ||
	    !c->capacity)
		return EINVAL;
	if (find_export(c->tag))
		return EEXIST;
	B.ex = realloc(B.ex, (B.nex + 1) * sizeof *B.ex);
	struct held *q = malloc(c->capacity * sizeof *q);
	if (!B.ex || !q) {
		free(q);
		return ENOMEM;
	}
	struct export *e = &B.ex[B.nex++];
	*e = (struct export){ .tag = c->tag, .pipe = pipe,
			      .capacity = c->capacity, .q = q,
			      .qcap = c->capacity };
	for (size_t i = 0; i < B.nhellos;) {
		if (B.hellos[i].tag == c->tag) {
			add_importer(e, B.hellos[i].rank, B.hellos[i].id);
			e->imp[e->nimp - 1].wanted = B.hellos[i].wanted;
			B.hellos[i] = B.hellos[--B.nhellos];
		} else {
			i++;
		}
	}
	return 0;
}

/* The proxy's input pipe `user` came with the request: X goes to it. */
static int do_import(const struct mpi_ctl *c, trindle_pipe_t user)
{
	if (B.state != RUNNING)
		return ESHUTDOWN;
	if (!user || c->rank < 0 || c->rank >= B.size || !c->capacity)
		return EINVAL;
	if (B.peers[c->rank].lost || B.peers[c->rank].fin_in)
		return ECONNREFUSED; /* its pipe would die at once */
	trindle_pipe_t x = trindle_pipe(c->capacity);
	if (!x)
		return ENOMEM;
	trindle_message_t m = { user, x };
	trindle_mailbox_t out = { 1, &m };
	trindle_sync(&out, NULL); /* the proxy has taken its parameters */
	if (out.count) {
		release_later(x);
		return ESHUTDOWN;
	}
	B.im = realloc(B.im, (B.nim + 1) * sizeof *B.im);
	if (!B.im)
		abort();
	uint32_t id = B.next_id++;
	B.im[B.nim++] = (struct import){ .id = id, .tag = c->tag,
					 .rank = c->rank, .local = x,
					 .user = user };
	put_rec(c->rank, OP_HELLO, c->tag, id, 0);
	return 0;
}

static void handle_ctl(struct mpi_ctl *c, trindle_pipe_t arg)
{
	int error = 0;
	switch (c->op) {
	case CTL_EXPORT:
		error = do_export(c, arg);
		if (error && arg && !pipe_in_use(arg, NULL))
			release_later(arg);
		break;
	case CTL_IMPORT:
		error = do_import(c, arg);
		if (error && arg)
			release_later(arg);
		break;
	case CTL_FINISH:
		if (B.state == RUNNING) {
			B.state = FLUSHING;
			B.finish_answer = c->answer;
			B.flush_deadline = B.now + B.timeout;
			return;
		}
		error = ESHUTDOWN;
		break;
	default: /* a second start */
		if (arg)
			release_later(arg);
		error = EINVAL;
		break;
	}
	trindle__mpi_answer(c->answer, error, B.rank, B.size);
}

static bool is_ctl(trindle_object_t obj)
{
	const struct mpi_ctl *c = obj;
	return (trindle_access(obj) & TRINDLE_ACCESS_READ) &&
	       !(trindle_access(obj) & TRINDLE_ACCESS_SEND) &&
	       trindle_measure(obj) == sizeof *c && c->magic == MPI_CTL_MAGIC &&
	       c->pipes <= 1 && c->answer;
}

/* A request comes as its segment, then the pipe it is about, if any
 * (see bridge.h).  Returns true when obj completed a request; *arg is
 * then its pipe. */
static bool collect_ctl(trindle_object_t obj, trindle_pipe_t *arg)
{
	*arg = NULL;
	if (!B.ctl) {
		if (!is_ctl(obj)) {
			release_later(obj);
			return false;
		}
		B.ctl = obj;
		return B.ctl->pipes == 0;
	}
	if (!(trindle_access(obj) & TRINDLE_ACCESS_SEND)) {
		release_later(obj); /* not a pipe: the caller broke the form */
		return false;
	}
	*arg = obj;
	return true;
}

static void take_ctl_part(trindle_object_t obj)
{
	trindle_pipe_t arg;
	if (!collect_ctl(obj, &arg))
		return;
	struct mpi_ctl *c = B.ctl;
	B.ctl = NULL;
	handle_ctl(c, arg);
	release_later(c);
}

/* ---- starting and finishing ------------------------------------------- */

static int start_mpi(const struct mpi_ctl *c)
{
	int inited = 0, level = 0;
	MPI_Initialized(&inited);
	if (inited) {
		MPI_Query_thread(&level);
		if (level < MPI_THREAD_MULTIPLE)
			return EINVAL;
	} else {
		if (MPI_Init_thread(c->argc, c->argv, MPI_THREAD_FUNNELED,
				    &level) != MPI_SUCCESS)
			return EIO;
		B.owns_mpi = true;
		if (level < MPI_THREAD_FUNNELED) {
			MPI_Finalize();
			return ENOTSUP;
		}
	}
	if (MPI_Comm_dup(MPI_COMM_WORLD, &B.comm) != MPI_SUCCESS)
		return EIO;
	MPI_Comm_set_errhandler(B.comm, MPI_ERRORS_RETURN);
	MPI_Comm_rank(B.comm, &B.rank);
	MPI_Comm_size(B.comm, &B.size);
	uint64_t ms = c->timeout_ms;
	const char *env = getenv("TRINDLE_MPI_TIMEOUT_MS");
	if (!ms && env && atoi(env) > 0)
		ms = (uint64_t)atoi(env);
	if (!ms)
		ms = TRINDLE_MPI_TIMEOUT_DEFAULT;
	B.timeout = (int64_t)ms * 1000000;
	B.beat = B.timeout / 4;
	B.peers = calloc((size_t)B.size, sizeof *B.peers);
	B.scratch = malloc(FRAME_BYTES);
	if (!B.peers || !B.scratch)
		return ENOMEM;
	B.now = now_ns();
	for (int r = 0; r < B.size; r++)
		B.peers[r].heard = B.peers[r].spoke = B.now;
	return 0;
}

/* Waits for the start request, whole; *err receives its pipe.  NULL if
 * the caller let go. */
static struct mpi_ctl *take_start(trindle_pipe_t *err)
{
	for (;;) {
		trindle_message_t req = { B.input, NULL }, in[1];
		trindle_mailbox_t o = { 1, &req }, m = { 1, in };
		if (trindle_sync(&o, &m) < 0 || m.count == 0)
			return NULL;
		if (in[0].address != B.input || !in[0].content)
			continue;
		if (!collect_ctl(in[0].content, err))
			continue;
		struct mpi_ctl *c = B.ctl;
		B.ctl = NULL;
		return c;
	}
}

/* Finishing: a marker goes through each imported pipe after what was
 * sent to it; once the marker comes out of X, everything before it has
 * been forwarded.  True when every import is through. */
static bool imports_drained(void)
{
	bool all = true;
	for (size_t i = 0; i < B.nim; i++) {
		struct import *im = &B.im[i];
		if (im->flushed)
			continue;
		all = false;
		if (im->marker)
			continue;
		if (!(trindle_access(im->user) & TRINDLE_ACCESS_SEND)) {
			im->flushed = true; /* the proxy ended */
			continue;
		}
		trindle_segment_t mk = trindle_allocate(1,
				&(trindle_buffer_t){ 1, NULL });
		if (!mk)
			continue;
		trindle_message_t m = { im->user, mk };
		trindle_mailbox_t out = { 1, &m };
		trindle_sync(&out, NULL); /* a share: we keep the marker */
		if (out.count)
			release_now(mk); /* full: again next pass */
		else
			im->marker = mk;
	}
	return all;
}

static void send_fins(void)
{
	size_t left = 0;
	for (size_t i = 0; i < B.nim; i++)
		if (!B.im[i].flushed)
			left += trindle_measure(B.im[i].local) +
				trindle_measure(B.im[i].user) +
				(B.im[i].pending != NULL);
	if (left) {
		B.undelivered = 1;
		report(B.rank, ECANCELED, 0, "trindle: mpi: finishing: %zu "
		       "messages on rank %d were not delivered (no credit for "
		       "%lld ms); released", left, B.rank,
		       (long long)(B.timeout / 1000000));
	}
	while (B.nim)
		import_close(&B.im[0]);
	while (B.nex)
		export_close(&B.ex[0], true);
	for (int r = 0; r < B.size; r++)
		if (!B.peers[r].lost)
			put_rec(r, OP_FIN, 0, 0, 0);
	B.state = FIN_SENT;
}

static bool all_done(void)
{
	for (int r = 0; r < B.size; r++)
		if (!B.peers[r].lost && !B.peers[r].fin_in)
			return false;
	for (size_t i = 0; i < B.nsend; i++)
		if (!B.peers[B.sinfo[i].rank].lost)
			return false;
	return B.ndrain == 0;
}

static void advance_finish(bool progress)
{
	if (B.state == FLUSHING) {
		if (progress)
			B.flush_deadline = B.now + B.timeout;
		if (imports_drained() || B.now > B.flush_deadline)
			send_fins();
	}
	if (B.state == FIN_SENT && all_done())
		B.state = DONE;
}

static void heartbeats(void)
{
	for (int r = 0; r < B.size; r++) {
		struct peer *p = &B.peers[r];
		if (r == B.rank || p->lost)
			continue;
		if (!p->fin_in && B.now - p->heard > B.timeout)
			peer_lost(r, ETIMEDOUT, MPI_SUCCESS, "silent too long");
		else if (!p->fin_in && B.now - p->spoke > B.beat && !p->len)
			put_rec(r, OP_BEAT, 0, 0, 0);
	}
}

static void shut_down(void)
{
	for (size_t i = 0; i < B.nsend; i++) {
		/* Sends to lost ranks never complete: cancel and keep their
		 * memory until MPI has gone. */
		MPI_Cancel(&B.sreq[i]);
		MPI_Request_free(&B.sreq[i]);
	}
	bool lost = false;
	for (int r = 0; r < B.size; r++)
		lost |= B.peers[r].lost;
	if (!lost)
		MPI_Comm_free(&B.comm);
	/* After a rank was lost, Open MPI 4.1's MPI_Finalize waits for it in
	 * a collective step of its runtime and sometimes ends the process
	 * from there (about one run in ten here, under mpirun
	 * --enable-recovery): a survivor then leaves MPI unfinalised, which
	 * --enable-recovery accepts, rather than risk being killed. */
	if (B.owns_mpi && !lost)
		MPI_Finalize();
	/* What MPI might still write into or read from (sends to, receives
	 * from a lost rank) is let go only once MPI has finalised; without
	 * that, it stays until the process ends. */
	for (size_t i = 0; i < B.nsend && !lost; i++) {
		release_later(B.sinfo[i].seg);
		free(B.sinfo[i].buf);
	}
	for (size_t i = 0; i < B.ngrave && !lost; i++)
		release_later(B.grave[i]);
	while (B.nrel) {
		trindle_message_t m[REL_MAX];
		size_t n = B.nrel;
		for (size_t i = 0; i < n; i++)
			m[i] = (trindle_message_t){ NULL, B.rel[i] };
		B.nrel = 0;
		sync_out(m, n);
	}
	flush_reports();
	for (size_t i = 0; i < B.nreports; i++)
		release_now(B.reports[i]);
	for (int r = 0; r < B.size; r++)
		free(B.peers[r].frame);
	free(B.peers);
	free(B.ex);
	free(B.im);
	free(B.hellos);
	free(B.sreq);
	free(B.sinfo);
	free(B.drain);
	free(B.grave);
	free(B.scratch);
	free(B.tried);
	free(B.idx);
	free(B.st);
}

void trindle__mpi_comm_main(trindle_pipe_t input)
{
	memset(&B, 0, sizeof B);
	B.input = input;
	/* The worker holds SEND on the err pipe given at launch, but cannot
	 * tell which pipe that is: the start request brings it again. */
	struct mpi_ctl *c = take_start(&B.err);
	if (!c)
		return;
	int error = c->op == CTL_START ? start_mpi(c) : EINVAL;
	trindle__mpi_answer(c->answer, error, B.rank, B.size);
	release_now(c);
	if (error) {
		if (B.err)
			release_now(B.err);
		return;
	}

	int idle = 0;
	int64_t sleep_ns = 16000;
	while (B.state != DONE) {
		B.now = now_ns();
		bool progress = local_sync();
		progress |= take_local();
		progress |= retire_sends();
		progress |= take_frames();
		progress |= finish_payloads();
		progress |= grant_credits();
		ask_credits();
		heartbeats();
		advance_finish(progress);
		for (int p = 0; p < B.size; p++)
			send_frame(p);
		flush_reports();
		if (progress) {
			idle = 0;
			sleep_ns = 16000;
		} else if (++idle < IDLE_SPINS) {
			sched_yield();
		} else {
			idle_wait(sleep_ns);
			if (sleep_ns < IDLE_MAX_NS)
				sleep_ns *= 2;
		}
	}
	struct mpi_handoff *fa = B.finish_answer;
	int undelivered = B.undelivered, rank = B.rank, size = B.size;
	shut_down();
	/* The caller may return (and the program end) once answered: the
	 * comm thread has nothing left to do but end. */
	trindle__mpi_answer(fa, undelivered ? ECANCELED : 0, rank, size);
	if (B.err)
		release_now(B.err);
}
