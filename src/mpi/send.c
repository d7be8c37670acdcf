/* SPDX-License-Identifier: MIT */
/*
 * send.c - imports, the sending side: messages the comm thread takes out
 * of an imported pipe's X (see proxy.c) go to the exporting rank, one
 * credit each; credits are asked for as a running total (the bound they
 * keep is described in recv.c).
 */
#include <errno.h>
#include <limits.h>
#include <string.h>

#include "comm.h"

/* The bridge's one state (state.c). */
static struct bridge *const bridge = &trindle__mpi_state;

struct import *trindle__mpi_find_import(uint32_t id)
{
	for (size_t i = 0; i < bridge->nim; i++)
		if (bridge->im[i].id == id)
			return &bridge->im[i];
	return NULL;
}

/* The import ends: its pipe dies (holders get the closure notice, what it
 * queued is released). */
void trindle__mpi_import_close(struct import *im)
{
	trindle__mpi_release_later(im->local);
	trindle__mpi_release_later(im->user);
	trindle__mpi_release_later(im->pending);
	if (im->marker && !im->flushed)
		trindle__mpi_release_later(im->marker);
	*im = bridge->im[--bridge->nim];
}

void trindle__mpi_close_imports_of(int rank)
{
	for (size_t i = 0; i < bridge->nim;)
		if (bridge->im[i].rank == rank)
			trindle__mpi_import_close(&bridge->im[i]);
		else
			i++;
}

/* One message out of an imported pipe, with a credit for it. */
void trindle__mpi_forward(struct import *im, trindle_object_t obj)
{
	int access = trindle_access(obj);
	if (!(access & TRINDLE_ACCESS_READ) || (access & TRINDLE_ACCESS_SEND)) {
		trindle__mpi_report(im->rank, EXDEV, 0, "trindle: mpi: a pipe "
			"sent to rank %d tag %u cannot cross ranks; released",
			im->rank, im->tag);
		trindle__mpi_release_later(obj);
		return;
	}
	size_t len = trindle_measure(obj);
	if (len > INT_MAX) {
		trindle__mpi_report(im->rank, EMSGSIZE, 0, "trindle: mpi: a "
			"segment of %zu bytes for rank %d tag %u is too large "
			"for MPI; released", len, im->rank, im->tag);
		trindle__mpi_release_later(obj);
		return;
	}
	im->credit--;
	im->taken++;
	bool inl = len <= INLINE_MAX;
	unsigned char *at = trindle__mpi_frame_room(im->rank,
			sizeof(struct rec) + (inl ? pad8(len) : 0));
	if (!at) {
		trindle__mpi_release_later(obj);
		return;
	}
	memcpy(at, &(struct rec){ .op = OP_DATA, .flags = inl ? REC_INLINE : 0,
				  .tag = im->tag, .id = im->id, .n = len },
	       sizeof(struct rec));
	if (inl) {
		memcpy(at + sizeof(struct rec), obj, len);
		trindle__mpi_release_later(obj);
		return;
	}
	int rc = MPI_Isend(obj, (int)len, MPI_BYTE, im->rank, TAG_PAYLOAD,
			   bridge->comm, trindle__mpi_add_send());
	if (rc != MPI_SUCCESS) {
		trindle__mpi_release_later(obj);
		return;
	}
	/* The segment stays held until MPI has read it. */
	bridge->sinfo[bridge->nsend++] = (struct sendreq){ obj, NULL, im->rank };
}

/* An importer asks for credits for what waits in its pipe beyond the
 * credits it holds, as a running total of all it ever wanted. */
void trindle__mpi_ask_credits(void)
{
	for (size_t i = 0; i < bridge->nim; i++) {
		struct import *im = &bridge->im[i];
		size_t queued = trindle_measure(im->local) +
				trindle_measure(im->user) + (im->pending != NULL);
		uint64_t total = im->taken + queued;
		if (queued > im->credit && total > im->demanded) {
			trindle__mpi_put_rec(im->rank, OP_DEMAND, im->tag,
					     im->id, total);
			im->demanded = total;
		}
	}
}
