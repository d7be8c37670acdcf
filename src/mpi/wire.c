/* SPDX-License-Identifier: MIT */
/*
 * wire.c - what goes out to other ranks: records packed into frames, and
 * the send requests in flight (frames and large payloads alike).
 *
 * Wire format.  Per destination rank, records are packed into frames (one
 * MPI message of at most FRAME_BYTES on TAG_FRAME).  A record is a struct
 * rec, followed, for a DATA record with REC_INLINE, by the payload padded
 * to 8 bytes.  A larger payload goes as a message of its own on
 * TAG_PAYLOAD, sent straight from the segment's memory; the receiver,
 * reading the DATA record, posts the matching receive straight into a new
 * segment.  MPI keeps the order of messages with one source and tag, so
 * the n-th payload is the n-th non-inline DATA record's.  The record,
 * its ops and the tags are declared in comm.h.
 *
 * A frame's memory, and a payload's segment, are held until MPI has read
 * them (net.c retires completed sends).
 */
#include <stdlib.h>
#include <string.h>

#include "comm.h"

/* The bridge's one state (state.c). */
static struct bridge *const bridge = &trindle__mpi_state;

/* Room for one more send request; the arrays grow together. */
MPI_Request *trindle__mpi_add_send(void)
{
	if (bridge->nsend == bridge->capsend) {
		size_t n = bridge->capsend ? bridge->capsend * 2 : 64;
		bridge->sreq = realloc(bridge->sreq, n * sizeof *bridge->sreq);
		bridge->sinfo = realloc(bridge->sinfo, n * sizeof *bridge->sinfo);
		if (!bridge->sreq || !bridge->sinfo)
			abort();
		bridge->capsend = n;
	}
	return &bridge->sreq[bridge->nsend];
}

void trindle__mpi_send_frame(int rank)
{
	struct peer *p = &bridge->peers[rank];
	if (!p->len)
		return;
	int rc = MPI_Isend(p->frame, (int)p->len, MPI_BYTE, rank, TAG_FRAME,
			   bridge->comm, trindle__mpi_add_send());
	if (rc != MPI_SUCCESS) {
		free(p->frame);
	} else {
		bridge->sinfo[bridge->nsend++] = (struct sendreq){ NULL, p->frame, rank };
		p->spoke = bridge->now;
	}
	p->frame = NULL;
	p->len = 0;
}

/* Room for a record and extra payload bytes in rank's frame; NULL when the
 * rank is lost (the record is dropped: nobody would read it). */
unsigned char *trindle__mpi_frame_room(int rank, size_t bytes)
{
	struct peer *p = &bridge->peers[rank];
	if (p->lost)
		return NULL;
	if (p->frame && p->len + bytes > FRAME_BYTES)
		trindle__mpi_send_frame(rank);
	if (!p->frame) {
		p->frame = malloc(FRAME_BYTES);
		if (!p->frame)
			abort();
	}
	unsigned char *at = p->frame + p->len;
	p->len += bytes;
	return at;
}

void trindle__mpi_put_rec(int rank, uint8_t op, uint32_t tag, uint32_t id,
		    uint64_t n)
{
	unsigned char *at = trindle__mpi_frame_room(rank, sizeof(struct rec));
	if (at)
		memcpy(at, &(struct rec){ .op = op, .tag = tag, .id = id,
					  .n = n }, sizeof(struct rec));
}
