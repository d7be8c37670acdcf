/* SPDX-License-Identifier: MIT */
/*
 * test_mpi_credits - a receiver that stops receiving stalls its remote
 * sender at the exported pipe's capacity plus what the sending rank holds
 * locally (the imported pipe and, behind its proxy, the pipe of the same
 * capacity the comm thread takes from: twice the imported pipe's
 * capacity), never beyond; once it receives again, everything arrives,
 * in order.
 *
 * Rank 1 exports a pipe of CAPACITY and does not receive.  Rank 0 sends
 * through an imported pipe of LOCAL until no send has gone through for
 * QUIET seconds, checks that exactly CAPACITY + 2 * LOCAL went through, and
 * says so on a second pipe rank 1 exported.  Rank 1 then checks its pipe
 * holds exactly CAPACITY, and receives: the CAPACITY + 2 * LOCAL messages in
 * order, the one that waited, and the end marker.
 */
#include "mpitest.h"

#include <stdint.h>

#define DATA 21
#define BACK 22
#define CAPACITY 16
#define LOCAL 8
#define QUIET 3.0

static void rank0(trindle_pipe_t bridge)
{
	trindle_pipe_t to = trindle_mpi_import(bridge, 1, DATA, LOCAL);
	trindle_pipe_t back = trindle_mpi_import(bridge, 1, BACK, 1);
	CHECK(to && back);
	uint64_t sent = 0;
	trindle_segment_t s = NULL;
	double last = t_now();
	while (t_now() - last < QUIET) {
		if (!s)
			s = t_segment(&sent, sizeof sent);
		trindle_message_t m[2] = { { to, s }, { NULL, s } };
		trindle_mailbox_t o = { 2, m };
		trindle_sync(&o, NULL);
		CHECK(trindle_access(to) & TRINDLE_ACCESS_SEND);
		if (o.count == 0) {
			sent++;
			s = NULL;
			last = t_now();
			CHECK(sent <= CAPACITY + 2 * LOCAL);
		} else {
			nanosleep(&(struct timespec){ 0, 1000000 }, NULL);
		}
	}
	printf("rank 0: stalled after %llu sends\n", (unsigned long long)sent);
	CHECK(sent == CAPACITY + 2 * LOCAL);
	/* Tell rank 1, which then receives: the send that waited goes. */
	CHECK(t_move(back, t_segment(NULL, 0)) == 0);
	CHECK(t_move(to, s) == 0);
	CHECK(t_move(to, t_segment(NULL, 0)) == 0);
	t_release(to);
	t_release(back);
}

static void rank1(trindle_pipe_t bridge)
{
	trindle_pipe_t in = trindle_pipe(CAPACITY), back = trindle_pipe(1);
	CHECK(in && back);
	CHECK(trindle_mpi_export(bridge, in, DATA, CAPACITY) == 0);
	CHECK(trindle_mpi_export(bridge, back, BACK, 1) == 0);
	trindle_message_t m;
	CHECK(t_receive(back, &m, 60) == 1 && m.address == back);
	t_release(m.content);
	CHECK(trindle_measure(in) == CAPACITY);
	uint64_t next = 0;
	for (;;) {
		CHECK(t_receive(in, &m, 30) == 1);
		if (m.address != in)
			continue;
		size_t n = trindle_measure(m.content);
		if (n == 0) {
			t_release(m.content);
			break;
		}
		CHECK(n == sizeof next && *(uint64_t *)m.content == next);
		next++;
		t_release(m.content);
	}
	CHECK(next == CAPACITY + 2 * LOCAL + 1);
	t_release(back);
	t_release(in);
}

int main(int argc, char **argv)
{
	trindle_pipe_t err;
	struct trindle_mpi_world w;
	trindle_pipe_t bridge = t_bridge_of_two(&argc, &argv, 0, &err, &w);
	if (w.rank == 0)
		rank0(bridge);
	else
		rank1(bridge);
	CHECK(trindle_mpi_finish(bridge) == 0);
	trindle_message_t m;
	if (t_receive(err, &m, 0) && m.content) {
		fprintf(stderr, "rank %d: unexpected report: %s\n", w.rank,
			((trindle_mpi_report_t *)m.content)->message);
		CHECK(!"no report");
	}
	t_release(err);
	printf("rank %d: ok\n", w.rank);
	return 0;
}
