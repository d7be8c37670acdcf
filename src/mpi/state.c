/* SPDX-License-Identifier: MIT */
/*
 * state.c - the comm thread's state, and what every part of it uses to
 * give objects and reports back to the local side: releases batched into
 * the next local sync, and error reports (trindle_mpi_report_t segments)
 * moved to the err pipe, kept while that pipe is full.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "comm.h"

struct bridge trindle__mpi_state;
static struct bridge *const bridge = &trindle__mpi_state;

static void sync_out(trindle_message_t *m, size_t n)
{
	trindle_mailbox_t out = { n, m };
	trindle_sync(&out, NULL);
}

void trindle__mpi_release_now(trindle_object_t obj)
{
	if (obj)
		sync_out(&(trindle_message_t){ NULL, obj }, 1);
}

/* Releases everything batched so far, now. */
void trindle__mpi_release_pending(void)
{
	while (bridge->nrel) {
		trindle_message_t m[REL_MAX];
		size_t n = bridge->nrel;
		for (size_t i = 0; i < n; i++)
			m[i] = (trindle_message_t){ NULL, bridge->rel[i] };
		bridge->nrel = 0;
		sync_out(m, n);
	}
}

/* Releases are batched into the next local sync. */
void trindle__mpi_release_later(trindle_object_t obj)
{
	if (!obj)
		return;
	if (bridge->nrel == REL_MAX)
		trindle__mpi_release_pending();
	bridge->rel[bridge->nrel++] = obj;
}

void trindle__mpi_flush_reports(void)
{
	size_t kept = 0;
	for (size_t i = 0; i < bridge->nreports; i++) {
		trindle_segment_t s = bridge->reports[i];
		trindle_message_t m[2] = { { bridge->err, s }, { NULL, s } };
		trindle_mailbox_t out = { 2, m };
		if (bridge->err)
			trindle_sync(&out, NULL);
		if (!bridge->err || (out.count &&
		    !(trindle_access(bridge->err) & TRINDLE_ACCESS_SEND)))
			trindle__mpi_release_now(s); /* no err pipe, or dead */
		else if (out.count)
			bridge->reports[kept++] = s; /* full: again next pass */
	}
	bridge->nreports = kept;
}

void trindle__mpi_report(int rank, int error, int mpi_error,
			 const char *fmt, ...)
{
	char msg[400];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	size_t len = n < 0 ? 0 : (size_t)n >= sizeof msg ? sizeof msg - 1
							  : (size_t)n;
	if (!bridge->err || bridge->nreports ==
	    sizeof bridge->reports / sizeof bridge->reports[0])
		return;
	trindle_mpi_report_t head = { TRINDLE_MPI_REPORT_MAGIC, rank, error,
				      mpi_error, { 0 } };
	if (len >= sizeof head.message)
		len = sizeof head.message - 1;
	memcpy(head.message, msg, len);
	trindle_segment_t s = trindle_allocate(1,
			&(trindle_buffer_t){ sizeof head, &head });
	if (s)
		bridge->reports[bridge->nreports++] = s;
}
