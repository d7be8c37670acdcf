/* SPDX-License-Identifier: MIT */
/*
 * mpitest.h - what the MPI bridge's test programs share.  Each program is
 * run by run.sh under mpirun; a failed check prints the rank, the file and
 * line, and ends that rank with status 1, which makes mpirun fail.
 * Included once per program (static functions).
 */
#ifndef MPITEST_H
#define MPITEST_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <trindle.h>
#include <trindle/mpi.h>
#include <trindle/util.h>

static int t_rank = -1;

#define CHECK(cond) do { if (!(cond)) { \
	fprintf(stderr, "rank %d: %s:%d: check failed: %s (errno %d)\n", \
		t_rank, __FILE__, __LINE__, #cond, errno); \
	exit(1); } } while (0)

static inline long t_scale(void)
{
	const char *s = getenv("TRINDLE_TEST_SCALE");
	long v = s ? atol(s) : 1;
	return v > 0 ? v : 1;
}

static inline double t_now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

/* Starts the bridge on this rank, with a new err pipe (*err) and a
 * heartbeat timeout of timeout_ms (0: the default), for a job of two
 * ranks; returns the bridge's pipe and fills *w. */
static inline trindle_pipe_t t_bridge_of_two(int *argc, char ***argv,
		unsigned timeout_ms, trindle_pipe_t *err,
		struct trindle_mpi_world *w)
{
	*err = trindle_pipe(16);
	CHECK(*err);
	struct trindle_mpi_options opt = { argc, argv, timeout_ms };
	trindle_pipe_t bridge = trindle_mpi_bridge(&opt, *err, w);
	CHECK(bridge);
	t_rank = w->rank;
	CHECK(w->size == 2);
	return bridge;
}

static inline void t_release(trindle_object_t obj)
{
	(void)trindle_util_release(obj);
}

static inline trindle_segment_t t_segment(const void *bytes, size_t n)
{
	trindle_segment_t s = trindle_allocate(1,
			&(trindle_buffer_t){ n, bytes });
	CHECK(s);
	return s;
}

/* Moves seg to pipe, retrying while the pipe is full (a short sleep after
 * the first tries, so a stalled receiver costs little).  0, or -1 if the
 * pipe died (seg is then released). */
static inline int t_move(trindle_pipe_t pipe, trindle_segment_t seg)
{
	for (int tries = 0; trindle_util_move(pipe, seg) != 0; tries++) {
		if (errno != EAGAIN) {
			t_release(seg);
			return -1;
		}
		if (tries > 100)
			nanosleep(&(struct timespec){ 0, 20000 }, NULL);
	}
	return 0;
}

/* One message from pipe (or a notice), waiting at most seconds. */
static inline int t_receive(trindle_pipe_t pipe, trindle_message_t *msg,
		     double seconds)
{
	trindle_message_t req = { pipe, NULL };
	trindle_mailbox_t out = { 1, &req }, in = { 1, msg };
	trindle_sync_timeout(&out, &in, (int64_t)(seconds * 1e9));
	return (int)in.count;
}

/* The next report on err, within seconds, or NULL. */
static inline trindle_mpi_report_t *t_report(trindle_pipe_t err, double seconds)
{
	trindle_message_t m;
	double end = t_now() + seconds;
	while (t_now() < end) {
		if (!t_receive(err, &m, end - t_now()))
			continue;
		if (m.address != err || !m.content)
			continue;
		trindle_mpi_report_t *r = m.content;
		if (trindle_measure(r) >= sizeof *r &&
		    r->magic == TRINDLE_MPI_REPORT_MAGIC)
			return r;
		t_release(m.content);
	}
	return NULL;
}

#endif
