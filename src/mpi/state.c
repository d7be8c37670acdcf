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
	while (B.nrel) {
		trindle_message_t m[REL_MAX];
		size_t n = B.nrel;
		for (size_t i = 0; i < n; i++)
			m[i] = (trindle_message_t){ NULL, B.rel[i] };
		B.nrel = 0;
		sync_out(m, n);
	}
}

/* Releases are batched into the next local sync. */
void trindle__mpi_release_later(trindle_object_t obj)
{
	if (!obj)
		return;
	if (B.nrel == REL_MAX)
		trindle__mpi_release_pending();
	B.rel[B.nrel++] = obj;
}

void trindle__mpi_flush_reports(void)
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
			trindle__mpi_release_now(s); /* no err pipe, or dead */
		else if (out.count)
			B.reports[kept++] = s; /* full: again next pass */
	}
	B.nreports = kept;
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
