/* SPDX-License-Identifier: MIT */
/*
 * test_mpi_kill - a rank killed in the middle of a stream shows up on the
 * survivor as the closure notice of the pipe it imported from it and as a
 * report on the bridge's err pipe, within seconds; the survivor then
 * finishes and exits cleanly.
 *
 * Both ranks stream to each other.  Rank 1 kills itself with SIGKILL (no
 * goodbye of any kind) after a while.  Run with mpirun --enable-recovery,
 * without which mpirun kills the survivor itself (see docs/mpi.md).  The
 * bridges run with a timeout of TIMEOUT_MS.
 */
#include "mpitest.h"

#include <signal.h>
#include <stdint.h>

#define TAG 31
#define TIMEOUT_MS 2000
#define KILL_AFTER 2000

/* Sends numbered segments to `to` and receives from `in` until the peer
 * is gone (rank 0) or KILL_AFTER messages have arrived (rank 1). */
int main(int argc, char **argv)
{
	trindle_pipe_t err;
	struct trindle_mpi_world w;
	trindle_pipe_t bridge = t_bridge_of_two(&argc, &argv, TIMEOUT_MS, &err, &w);
	int peer = 1 - w.rank;
	trindle_pipe_t in = trindle_pipe(64);
	CHECK(in);
	CHECK(trindle_mpi_export(bridge, in, TAG, 64) == 0);
	trindle_pipe_t to = trindle_mpi_import(bridge, peer, TAG, 16);
	CHECK(to);

	uint64_t sent = 0, got = 0;
	int notice = 0;
	trindle_mpi_report_t *report = NULL;
	double last_heard = t_now(), end = t_now() + 60;
	while (!(notice && report) && t_now() < end) {
		trindle_segment_t s = t_segment(&sent, sizeof sent);
		trindle_message_t m[3] = { { to, s }, { NULL, s }, { NULL, NULL } };
		trindle_mailbox_t o = { 2, m };
		if (!notice) {
			trindle_sync(&o, NULL);
			if (o.count == 0) {
				sent++;
				last_heard = t_now(); /* the peer granted room */
			} else
				t_release(s);
		} else {
			t_release(s);
		}
		/* Receive what came, and notices, and reports. */
		trindle_message_t req[2] = { { in, NULL }, { err, NULL } }, box[16];
		trindle_mailbox_t ro = { 2, req }, ri = { 16, box };
		trindle_sync_timeout(&ro, &ri, 1000000);
		for (size_t k = 0; k < ri.count; k++) {
			trindle_message_t *b = &box[k];
			if (b->address == to && !b->content) {
				notice = 1;
			} else if (b->address == err && b->content) {
				report = b->content;
				CHECK(trindle_measure(report) == sizeof *report);
				CHECK(report->magic == TRINDLE_MPI_REPORT_MAGIC);
			} else if (b->address == in && b->content) {
				CHECK(*(uint64_t *)b->content == got);
				got++;
				last_heard = t_now();
				t_release(b->content);
			}
		}
		if (w.rank == 1 && got >= KILL_AFTER) {
			fprintf(stderr, "rank 1: killing myself\n");
			raise(SIGKILL);
		}
	}
	if (w.rank != 0 || !notice)
		fprintf(stderr, "rank %d: sent %llu got %llu\n", w.rank, (unsigned long long)sent, (unsigned long long)got);
	CHECK(w.rank == 0);
	CHECK(notice);
	CHECK(report);
	/* Rank 1 died after the last sign of life from it. */
	double after = t_now() - last_heard;
	printf("rank 0: notice and report %.1f s after rank 1 was last heard from: %s\n",
	       after, report->message);
	CHECK(report->rank == 1 && report->error == ETIMEDOUT);
	CHECK(strstr(report->message, "rank 1 lost"));
	CHECK(after < TIMEOUT_MS / 1000.0 + 5);
	t_release(report);
	CHECK(!(trindle_access(to) & TRINDLE_ACCESS_SEND));
	t_release(in);
	CHECK(trindle_mpi_finish(bridge) == 0);
	t_release(err);
	printf("rank 0: ok\n");
	fflush(stdout);
	return 0;
}
