/* SPDX-License-Identifier: MIT */
/*
 * bench-mpi - the MPI bridge against plain MPI, in one run of two ranks:
 *
 *   mpirun -np 2 trindle-bench-mpi [COUNT]
 *
 *  1. 64 KiB messages, rank 0 to rank 1: MPI_Send/MPI_Recv from and into
 *     one buffer (the baseline), then segments through an imported pipe
 *     (each a new segment, moved, copied over MPI into a new segment on
 *     rank 1, received and released there).  Throughput in MiB/s, and
 *     the bridge's as a fraction of the baseline's.
 *  2. 16-byte messages the same ways, in messages per second.
 *
 * Plain MPI is also timed with CAP messages in flight (MPI_Isend and
 * MPI_Irecv, then MPI_Waitall), which is what MPI does at its best and
 * what the bridge, keeping sends in flight, is closer to.
 *
 * The program initialises MPI itself (MPI_THREAD_MULTIPLE) so that it can
 * time plain MPI in the same run; the bridge then uses that MPI on a
 * communicator of its own.  Plain MPI is timed before the bridge starts
 * (the comm thread's polling would slow it down).  Each measurement
 * starts at a barrier and ends when rank 1 has the last message; the
 * best of REPS runs is kept.  CAP (64) is the capacity of the exported
 * and the imported pipe.
 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <trindle.h>
#include <trindle/mpi.h>

#define BIG (64 * 1024)
#define SMALL 16
#define TAG_DATA 7
#define REPS 3
#define BATCH 64
#ifndef CAP
#define CAP 64
#endif

static int rank;

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

static void die(const char *what)
{
	fprintf(stderr, "rank %d: %s failed\n", rank, what);
	exit(1);
}

static void release(trindle_object_t obj)
{
	trindle_message_t m = { NULL, obj };
	trindle_mailbox_t out = { 1, &m };
	trindle_sync(&out, NULL);
}

/* Seconds for count messages of bytes with MPI_Send/MPI_Recv. */
static double plain(long count, size_t bytes)
{
	char *buf = calloc(1, bytes);
	if (!buf)
		die("calloc");
	MPI_Barrier(MPI_COMM_WORLD);
	double t0 = now();
	for (long i = 0; i < count; i++) {
		if (rank == 0)
			MPI_Send(buf, (int)bytes, MPI_BYTE, 1, 0, MPI_COMM_WORLD);
		else
			MPI_Recv(buf, (int)bytes, MPI_BYTE, 0, 0, MPI_COMM_WORLD,
				 MPI_STATUS_IGNORE);
	}
	double t = now() - t0;
	MPI_Bcast(&t, 1, MPI_DOUBLE, 1, MPI_COMM_WORLD); /* rank 1's time */
	free(buf);
	return t;
}

/* The same with up to CAP messages in flight (MPI_Isend/MPI_Irecv, then
 * MPI_Waitall): what MPI does at its best, kept for comparison. */
static double windowed(long count, size_t bytes)
{
	char *buf = calloc(CAP, bytes);
	MPI_Request req[CAP];
	if (!buf)
		die("calloc");
	MPI_Barrier(MPI_COMM_WORLD);
	double t0 = now();
	for (long i = 0; i < count; i += CAP) {
		int n = count - i < CAP ? (int)(count - i) : CAP;
		for (int k = 0; k < n; k++) {
			if (rank == 0)
				MPI_Isend(buf + (size_t)k * bytes, (int)bytes,
					  MPI_BYTE, 1, 0, MPI_COMM_WORLD, &req[k]);
			else
				MPI_Irecv(buf + (size_t)k * bytes, (int)bytes,
					  MPI_BYTE, 0, 0, MPI_COMM_WORLD, &req[k]);
		}
		MPI_Waitall(n, req, MPI_STATUSES_IGNORE);
	}
	double t = now() - t0;
	MPI_Bcast(&t, 1, MPI_DOUBLE, 1, MPI_COMM_WORLD);
	free(buf);
	return t;
}

/* Seconds for count messages of bytes through the bridge: to (rank 0) and
 * in (rank 1). */
static double bridged(long count, size_t bytes, trindle_pipe_t to,
		      trindle_pipe_t in)
{
	MPI_Barrier(MPI_COMM_WORLD);
	double t0 = now();
	if (rank == 0) {
		trindle_message_t out[2 * BATCH];
		size_t n = 0;
		long made = 0;
		while (made < count || n) {
			while (n < 2 * BATCH && made < count) {
				trindle_segment_t s = trindle_allocate(1,
					&(trindle_buffer_t){ bytes, NULL });
				if (!s)
					die("trindle_allocate");
				out[n++] = (trindle_message_t){ to, s };
				out[n++] = (trindle_message_t){ NULL, s };
				made++;
			}
			trindle_mailbox_t o = { n, out };
			trindle_sync(&o, NULL);
			if (!(trindle_access(to) & TRINDLE_ACCESS_SEND))
				die("the imported pipe");
			if (o.count == n)
				nanosleep(&(struct timespec){ 0, 20000 }, NULL);
			n = o.count;
		}
	} else {
		long got = 0;
		trindle_message_t box[BATCH], rel[BATCH];
		while (got < count) {
			trindle_message_t req = { in, NULL };
			trindle_mailbox_t o = { 1, &req }, i = { BATCH, box };
			trindle_sync(&o, &i);
			size_t r = 0;
			for (size_t k = 0; k < i.count; k++)
				if (box[k].address == in && box[k].content) {
					rel[r++] = (trindle_message_t){ NULL, box[k].content };
					got++;
				}
			trindle_mailbox_t ro = { r, rel };
			trindle_sync(&ro, NULL);
		}
	}
	double t = now() - t0;
	MPI_Bcast(&t, 1, MPI_DOUBLE, 1, MPI_COMM_WORLD);
	return t;
}

static double best(double a, double b) { return a < b ? a : b; }

int main(int argc, char **argv)
{
	int level;
	MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &level);
	int size;
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, &size);
	if (size != 2 || level < MPI_THREAD_MULTIPLE) {
		if (rank == 0)
			fprintf(stderr, "trindle-bench-mpi: needs 2 ranks and "
				"MPI_THREAD_MULTIPLE\n");
		MPI_Finalize();
		return 77;
	}
	long big = argc > 1 ? atol(argv[1]) : 20000;
	long small = big * 10;

	/* Plain MPI first, before the bridge starts: its comm thread polls
	 * MPI, and under MPI_THREAD_MULTIPLE that would slow the baseline. */
	double pb = 1e9, bb = 1e9, ps = 1e9, bs = 1e9, wb = 1e9, ws = 1e9;
	for (int r = 0; r < REPS; r++) {
		pb = best(pb, plain(big, BIG));
		wb = best(wb, windowed(big, BIG));
		ps = best(ps, plain(small, SMALL));
		ws = best(ws, windowed(small, SMALL));
	}

	trindle_pipe_t err = trindle_pipe(16);
	struct trindle_mpi_world w;
	trindle_pipe_t bridge = trindle_mpi_bridge(NULL, err, &w);
	if (!bridge)
		die("trindle_mpi_bridge");
	trindle_pipe_t in = NULL, to = NULL;
	if (rank == 1) {
		in = trindle_pipe(CAP);
		if (!in || trindle_mpi_export(bridge, in, TAG_DATA, CAP) < 0)
			die("export");
	} else {
		to = trindle_mpi_import(bridge, 1, TAG_DATA, CAP);
		if (!to)
			die("import");
	}
	for (int r = 0; r < REPS; r++) {
		bb = best(bb, bridged(big, BIG, to, in));
		bs = best(bs, bridged(small, SMALL, to, in));
	}
	if (rank == 0) {
		double mib = (double)big * BIG / (1024.0 * 1024.0);
		printf("64 KiB x %ld, best of %d:\n", big, REPS);
		printf("  MPI_Send/MPI_Recv  %8.0f MiB/s\n", mib / pb);
		printf("  MPI, %d in flight  %8.0f MiB/s\n", CAP, mib / wb);
		printf("  bridge             %8.0f MiB/s  (%.2fx MPI_Send/Recv, "
		       "%.2fx MPI with %d in flight)\n", mib / bb, pb / bb,
		       wb / bb, CAP);
		printf("16 B x %ld, best of %d:\n", small, REPS);
		printf("  MPI_Send/MPI_Recv  %8.0f messages/s\n", small / ps);
		printf("  MPI, %d in flight  %8.0f messages/s\n", CAP, small / ws);
		printf("  bridge             %8.0f messages/s  (%.2fx MPI_Send/Recv, "
		       "%.2fx MPI with %d in flight)\n", small / bs, ps / bs,
		       ws / bs, CAP);
	}
	if (to)
		release(to);
	if (in)
		release(in);
	trindle_mpi_finish(bridge);
	release(err);
	MPI_Finalize();
	return 0;
}
