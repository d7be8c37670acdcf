/* SPDX-License-Identifier: MIT */
/*
 * recv.c - exports, the receiving side: frames from other ranks are
 * parsed (the records about imports go to send.c), messages for an
 * export are held until its pipe takes them (local.c moves them), and
 * credits are granted to its importers.
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
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "comm.h"

/* The bridge's one state (state.c). */
static struct bridge *const bridge = &trindle__mpi_state;

struct export *trindle__mpi_find_export(uint32_t tag)
{
	for (size_t i = 0; i < bridge->nex; i++)
		if (bridge->ex[i].tag == tag)
			return &bridge->ex[i];
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
		bridge->drain = realloc(bridge->drain,
				(bridge->ndrain + 1) * sizeof *bridge->drain);
		if (!bridge->drain)
			abort();
		bridge->drain[bridge->ndrain++] = *h;
	} else {
		trindle__mpi_release_later(h->seg);
	}
}

void trindle__mpi_add_importer(struct export *e, int rank, uint32_t id)
{
	e->imp = realloc(e->imp, (e->nimp + 1) * sizeof *e->imp);
	if (!e->imp)
		abort();
	e->imp[e->nimp++] = (struct importer){ rank, id, 0, 0, 0 };
}

/* The bridge holds SEND on a pipe once however often it was sent to it:
 * a pipe that another export, or the err pipe, still uses is kept. */
bool trindle__mpi_pipe_in_use(trindle_pipe_t p, const struct export *except)
{
	if (p == bridge->err)
		return true;
	for (size_t k = 0; k < bridge->nex; k++)
		if (&bridge->ex[k] != except && bridge->ex[k].pipe == p)
			return true;
	return false;
}

/* The export ends: its importers are told, what it held is released, the
 * bridge lets go of its SEND (unless the pipe died, which did that). */
void trindle__mpi_export_close(struct export *e, bool pipe_alive)
{
	for (size_t i = 0; i < e->nimp; i++)
		trindle__mpi_put_rec(e->imp[i].rank, OP_CLOSED, e->tag,
				     e->imp[i].id, 0);
	for (size_t i = 0; i < e->qlen; i++)
		drop_held(held_at(e, i));
	free(e->imp);
	free(e->q);
	if (pipe_alive && !trindle__mpi_pipe_in_use(e->pipe, e))
		trindle__mpi_release_later(e->pipe);
	*e = bridge->ex[--bridge->nex];
}

void trindle__mpi_forget_importers_of(int rank)
{
	for (size_t k = 0; k < bridge->nex; k++) {
		struct export *e = &bridge->ex[k];
		for (size_t i = 0; i < e->nimp;) {
			if (e->imp[i].rank == rank) {
				e->outstanding -= e->imp[i].outstanding;
				e->imp[i] = e->imp[--e->nimp];
			} else {
				i++;
			}
		}
	}
	for (size_t i = 0; i < bridge->nhellos;)
		if (bridge->hellos[i].rank == rank)
			bridge->hellos[i] = bridge->hellos[--bridge->nhellos];
		else
			i++;
}

static void on_data(int src, const struct rec *r, const unsigned char *body)
{
	struct export *e = trindle__mpi_find_export(r->tag);
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
		MPI_Irecv(into, (int)len, MPI_BYTE, src, TAG_PAYLOAD, bridge->comm,
			  &h.req);
		if (!h.seg) {
			MPI_Wait(&h.req, MPI_STATUS_IGNORE);
			free(into);
		}
	}
	if (!h.seg)
		trindle__mpi_report(src, ENOMEM, 0, "trindle: mpi: no memory "
			"for a message of %zu bytes from rank %d; dropped",
			len, src);
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
	struct export *e = trindle__mpi_find_export(r->tag);
	if (e) {
		trindle__mpi_add_importer(e, src, r->id);
	} else if (bridge->state >= FIN_SENT) {
		/* Our FIN, already sent, closes every import of ours: nothing
		 * goes to src after it (src may be finalising). */
	} else {
		bridge->hellos = realloc(bridge->hellos, (bridge->nhellos + 1) *
				   sizeof *bridge->hellos);
		if (!bridge->hellos)
			abort();
		bridge->hellos[bridge->nhellos++] = (struct hello){ src, r->tag, r->id, 0 };
	}
}

static void on_demand(int src, const struct rec *r)
{
	struct export *e = trindle__mpi_find_export(r->tag);
	struct importer *imp = e ? find_importer(e, src, r->id) : NULL;
	if (imp) {
		if (r->n > imp->wanted)
			imp->wanted = r->n;
		return;
	}
	for (size_t i = 0; i < bridge->nhellos; i++)
		if (bridge->hellos[i].rank == src && bridge->hellos[i].id == r->id &&
		    r->n > bridge->hellos[i].wanted)
			bridge->hellos[i].wanted = r->n;
}

/* A GRANT or CLOSED from the rank an import of ours sends to. */
static void on_import_rec(int src, const struct rec *r)
{
	struct import *im = trindle__mpi_find_import(r->id);
	if (!im || im->rank != src)
		return;
	if (r->op == OP_GRANT)
		im->credit += (size_t)r->n;
	else
		trindle__mpi_import_close(im);
}

static void on_fin(int src)
{
	bridge->peers[src].fin_in = true;
	trindle__mpi_close_imports_of(src);
	trindle__mpi_forget_importers_of(src);
}

void trindle__mpi_parse_frame(int src, const unsigned char *buf, size_t n)
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
		case OP_DEMAND:
			on_demand(src, &r);
			break;
		case OP_GRANT:
		case OP_CLOSED:
			on_import_rec(src, &r);
			break;
		case OP_FIN:
			on_fin(src);
			break;
		default: /* OP_BEAT: hearing from src was the point */
			break;
		}
	}
}

static size_t want_of(const struct importer *imp)
{
	return imp->wanted > imp->granted ? (size_t)(imp->wanted - imp->granted)
					  : 0;
}

bool trindle__mpi_grant_credits(void)
{
	bool any = false;
	for (size_t k = 0; k < bridge->nex; k++) {
		struct export *e = &bridge->ex[k];
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
			trindle__mpi_put_rec(imp->rank, OP_GRANT, e->tag,
					     imp->id, g);
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
