/* SPDX-License-Identifier: MIT */
/*
 * local.c - the local side of a comm-thread pass: one trindle_sync moves
 * held messages into exported pipes, flushes releases, and takes control
 * requests and notices; then messages are taken out of imported pipes, as
 * far as their credits go; and when a pass did nothing, the comm thread
 * waits here for a local message.
 */
#include <stdlib.h>
#include <time.h>

#include "comm.h"

/* The bridge's one state (state.c). */
static struct bridge *const bridge = &trindle__mpi_state;

static void dispatch(const trindle_message_t *m)
{
	if (!m->address) {
		/* A segment we share became ours alone; whoever holds it in the
		 * bridge (a send in flight) releases it in time. */
		return;
	}
	if (!m->content) { /* a pipe we send on died */
		if (m->address == bridge->err) {
			bridge->err = NULL;
			return;
		}
		for (size_t k = 0; k < bridge->nex;)
			if (bridge->ex[k].pipe == m->address)
				trindle__mpi_export_close(&bridge->ex[k], false);
			else
				k++;
		return;
	}
	if (m->address == bridge->input) {
		trindle__mpi_take_ctl_part(m->content);
		return;
	}
	for (size_t i = 0; i < bridge->nim; i++) {
		struct import *im = &bridge->im[i];
		if (im->local != m->address)
			continue;
		if (m->content == im->marker) {
			im->flushed = true; /* all before it went out */
			trindle__mpi_release_later(m->content);
		} else if (im->credit) {
			trindle__mpi_forward(im, m->content);
		} else if (!im->pending) {
			im->pending = m->content; /* flushing: see take_local */
		} else {
			/* cannot happen */
			trindle__mpi_release_later(m->content);
		}
		return;
	}
	trindle__mpi_release_later(m->content);
}

/* Puts into bridge->out, from each export's head, the held messages whose
 * payload is in: a send and a release each (a message lost in transit,
 * with no segment, needs neither).  bridge->tried[k] counts the entries of
 * export k looked at.  Returns how many messages it put. */
static size_t queue_deliveries(void)
{
	size_t n = 0;
	trindle_message_t *out = bridge->out;
	if (bridge->ntried < bridge->nex) {
		free(bridge->tried);
		bridge->ntried = bridge->nex * 2;
		bridge->tried = malloc(bridge->ntried * sizeof *bridge->tried);
		if (!bridge->tried)
			abort();
	}
	for (size_t k = 0; k < bridge->nex; k++) {
		struct export *e = &bridge->ex[k];
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
		bridge->tried[k] = t;
	}
	return n;
}

/* The sends to one pipe that went through are a prefix of them (a send
 * after a failed one to the same pipe fails too): pop that many from the
 * head, with the entries lost in transit (no segment) among them.  o is
 * what the sync left unsent. */
static bool pop_delivered(const trindle_mailbox_t *o)
{
	bool any = false;
	for (size_t k = 0; k < bridge->nex; k++) {
		struct export *e = &bridge->ex[k];
		size_t sent = 0, failed = 0;
		for (size_t j = 0; j < bridge->tried[k]; j++)
			sent += held_at(e, j)->seg != NULL;
		for (size_t f = 0; f < o->count; f++)
			failed += o->address[f].address == e->pipe;
		sent -= failed < sent ? failed : sent;
		for (size_t j = 0; j < bridge->tried[k]; j++) {
			struct held *h = held_at(e, 0);
			if (h->seg && !sent)
				break;
			sent -= h->seg != NULL;
			e->qhead = (e->qhead + 1) % e->qcap;
			e->qlen--;
			any = true;
		}
	}
	return any;
}

/* Moves held messages into their exported pipes, flushes releases, and
 * takes control requests and notices.  Returns whether anything moved. */
bool trindle__mpi_local_sync(void)
{
	size_t n = queue_deliveries();
	trindle_message_t *out = bridge->out;
	for (size_t i = 0; i < bridge->nrel; i++)
		out[n++] = (trindle_message_t){ NULL, bridge->rel[i] };
	bridge->nrel = 0;
	out[n++] = (trindle_message_t){ bridge->input, NULL };
	trindle_message_t in[32];
	trindle_mailbox_t o = { n, out }, i = { 32, in };
	trindle_sync_timeout(&o, &i, 0);
	bool any = pop_delivered(&o);
	for (size_t k = 0; k < i.count; k++)
		dispatch(&in[k]);
	return any || i.count;
}

bool trindle__mpi_take_local(void)
{
	bool any = false;
	for (size_t i = 0; i < bridge->nim; i++) {
		struct import *im = &bridge->im[i];
		if (im->pending && im->credit) {
			trindle_object_t o = im->pending;
			im->pending = NULL;
			trindle__mpi_forward(im, o);
			any = true;
		}
		/* Without credits nothing is taken, except, while flushing, one
		 * message: it may be the marker that ends the flush. */
		size_t want = im->credit < 32 ? im->credit : 32;
		if (!want && bridge->state == FLUSHING && !im->pending && !im->flushed)
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
void trindle__mpi_idle_wait(int64_t ns)
{
	trindle_message_t out[1 + 64], in[1];
	size_t n = 0;
	out[n++] = (trindle_message_t){ bridge->input, NULL };
	for (size_t i = 0; i < bridge->nim && n < 65; i++) {
		struct import *im = &bridge->im[i];
		if (im->credit || (bridge->state == FLUSHING &&
				!im->pending && !im->flushed))
			out[n++] = (trindle_message_t){ im->local, NULL };
	}
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
