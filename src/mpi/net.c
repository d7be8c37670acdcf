/* SPDX-License-Identifier: MIT */
/*
 * net.c - the MPI side of a comm-thread pass: completed sends are
 * retired, incoming frames are taken and parsed, payload receives are
 * finished; and the peers' liveness: heartbeats, silence timeouts, and
 * what a lost rank leaves behind.
 *
 * A rank is lost when it was silent for the timeout (each comm thread
 * sends a BEAT to a rank it has not sent to for a quarter of it), or when
 * a send to it fails; docs/mpi.md says why silence is the signal.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "comm.h"

/* The bridge's one state (state.c). */
static struct bridge *const bridge = &trindle__mpi_state;

static void mpi_error_text(int rc, char *buf, size_t size)
{
	char s[MPI_MAX_ERROR_STRING];
	int len = 0;
	if (MPI_Error_string(rc, s, &len) != MPI_SUCCESS)
		len = snprintf(s, sizeof s, "MPI error %d", rc);
	snprintf(buf, size, "%.*s", len, s);
}

/* A payload the lost rank will never send: the receive is cancelled, and
 * the segment kept until MPI is done (it may not be cancellable). */
static void bury(MPI_Request *req, trindle_segment_t seg)
{
	MPI_Cancel(req);
	MPI_Request_free(req);
	bridge->grave = realloc(bridge->grave,
			(bridge->ngrave + 1) * sizeof *bridge->grave);
	if (!bridge->grave)
		abort();
	bridge->grave[bridge->ngrave++] = seg;
}

static void bury_payloads_of(int rank)
{
	for (size_t k = 0; k < bridge->nex; k++) {
		struct export *e = &bridge->ex[k];
		for (size_t i = 0; i < e->qlen; i++) {
			struct held *h = held_at(e, i);
			if (h->rank == rank && h->req != MPI_REQUEST_NULL) {
				bury(&h->req, h->seg);
				h->seg = NULL; /* delivered as nothing */
			}
		}
	}
	for (size_t i = 0; i < bridge->ndrain;) {
		if (bridge->drain[i].rank == rank) {
			bury(&bridge->drain[i].req, bridge->drain[i].seg);
			bridge->drain[i] = bridge->drain[--bridge->ndrain];
		} else {
			i++;
		}
	}
}

static void peer_lost(int rank, int error, int mpi_rc, const char *why)
{
	struct peer *p = &bridge->peers[rank];
	if (p->lost || rank == bridge->rank)
		return;
	char text[MPI_MAX_ERROR_STRING + 8] = "no MPI error";
	if (mpi_rc != MPI_SUCCESS)
		mpi_error_text(mpi_rc, text, sizeof text);
	int cls = 0;
	if (mpi_rc != MPI_SUCCESS)
		MPI_Error_class(mpi_rc, &cls);
	trindle__mpi_report(rank, error, cls,
			    "trindle: mpi: rank %d lost: %s (%s)", rank, why,
			    text);
	p->lost = true;
	free(p->frame);
	p->frame = NULL;
	p->len = 0;
	trindle__mpi_close_imports_of(rank);
	trindle__mpi_forget_importers_of(rank);
	bury_payloads_of(rank);
}

bool trindle__mpi_retire_sends(void)
{
	if (!bridge->nsend)
		return false;
	int count = 0;
	if (bridge->nidx < bridge->nsend) {
		free(bridge->idx);
		free(bridge->st);
		bridge->nidx = bridge->capsend;
		bridge->idx = malloc(bridge->nidx * sizeof *bridge->idx);
		bridge->st = malloc(bridge->nidx * sizeof *bridge->st);
		if (!bridge->idx || !bridge->st)
			abort();
	}
	int *idx = bridge->idx;
	MPI_Status *st = bridge->st;
	int rc = MPI_Testsome((int)bridge->nsend, bridge->sreq, &count, idx, st);
	if (rc != MPI_SUCCESS && rc != MPI_ERR_IN_STATUS)
		count = 0;
	for (int k = 0; k < count && count != MPI_UNDEFINED; k++) {
		struct sendreq *s = &bridge->sinfo[idx[k]];
		if (rc == MPI_ERR_IN_STATUS && st[k].MPI_ERROR != MPI_SUCCESS)
			peer_lost(s->rank, EPIPE, st[k].MPI_ERROR,
				  "a send to it failed");
		trindle__mpi_release_later(s->seg);
		free(s->buf);
		s->seg = NULL;
		s->buf = NULL;
		s->rank = -1; /* retired: compacted below */
	}
	if (count <= 0 || count == MPI_UNDEFINED)
		return false;
	size_t kept = 0;
	for (size_t i = 0; i < bridge->nsend; i++) {
		if (bridge->sinfo[i].rank < 0)
			continue;
		bridge->sreq[kept] = bridge->sreq[i];
		bridge->sinfo[kept++] = bridge->sinfo[i];
	}
	bridge->nsend = kept;
	return true;
}

bool trindle__mpi_take_frames(void)
{
	bool any = false;
	for (int k = 0; k < FRAMES_PER_PASS; k++) {
		int flag = 0, count = 0;
		MPI_Message msg;
		MPI_Status st;
		if (MPI_Improbe(MPI_ANY_SOURCE, TAG_FRAME, bridge->comm, &flag, &msg,
				&st) != MPI_SUCCESS || !flag)
			break;
		MPI_Get_count(&st, MPI_BYTE, &count);
		if (count < 0 || count > FRAME_BYTES)
			count = FRAME_BYTES;
		MPI_Mrecv(bridge->scratch, count, MPI_BYTE, &msg, MPI_STATUS_IGNORE);
		int src = st.MPI_SOURCE;
		any = true;
		if (src < 0 || src >= bridge->size || bridge->peers[src].lost)
			continue;
		bridge->peers[src].heard = bridge->now;
		trindle__mpi_parse_frame(src, bridge->scratch, (size_t)count);
	}
	return any;
}

bool trindle__mpi_finish_payloads(void)
{
	bool any = false;
	for (size_t i = 0; i < bridge->ndrain;) {
		int done = 0;
		MPI_Test(&bridge->drain[i].req, &done, MPI_STATUS_IGNORE);
		if (done) {
			trindle__mpi_release_later(bridge->drain[i].seg);
			bridge->drain[i] = bridge->drain[--bridge->ndrain];
			any = true;
		} else {
			i++;
		}
	}
	for (size_t k = 0; k < bridge->nex; k++) {
		struct export *e = &bridge->ex[k];
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

void trindle__mpi_heartbeats(void)
{
	for (int r = 0; r < bridge->size; r++) {
		struct peer *p = &bridge->peers[r];
		if (r == bridge->rank || p->lost)
			continue;
		if (!p->fin_in && bridge->now - p->heard > bridge->timeout)
			peer_lost(r, ETIMEDOUT, MPI_SUCCESS, "silent too long");
		else if (!p->fin_in && bridge->now - p->spoke > bridge->beat && !p->len)
			trindle__mpi_put_rec(r, OP_BEAT, 0, 0, 0);
	}
}
