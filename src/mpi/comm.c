/* SPDX-License-Identifier: MIT */
/*
 * comm.c - the bridge's comm thread: the only thread that calls MPI.
 *
 * It is a trindle worker (launched by trindle_mpi_bridge()) that loops
 * over three things, never waiting on any of them while another has work:
 *
 *  - local: one trindle_sync with a zero timeout moves what arrived from
 *    other ranks into exported pipes, releases what went out, and takes
 *    control requests and notices; then, for every imported pipe it holds
 *    credits for, one more takes at most that many messages out of it;
 *  - MPI: completed sends are retired, incoming frames are parsed, and
 *    large payloads are received straight into new segments;
 *  - credits, heartbeats, timeouts, and the steps of finishing.
 *
 * When a pass does nothing, it waits in trindle_sync_timeout on its input
 * pipe and the imported pipes it may take from, for a time that doubles
 * up to a millisecond: a local message wakes it at once, a remote one is
 * seen within that time, and an idle rank costs its neighbours almost
 * nothing.
 *
 * The parts of a pass live in local.c (the local side), net.c (the MPI
 * side, heartbeats, timeouts), recv.c and send.c (credits); this file
 * starts the thread, runs the passes and the steps of finishing, and
 * shuts MPI down.  comm.h lists all the parts and how they layer.
 */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "comm.h"

/* The bridge's one state (state.c). */
static struct bridge *const bridge = &trindle__mpi_state;

static int start_mpi(const struct mpi_ctl *c)
{
	int inited = 0, level = 0;
	MPI_Initialized(&inited);
	if (inited) {
		MPI_Query_thread(&level);
		if (level < MPI_THREAD_MULTIPLE)
			return EINVAL;
	} else {
		if (MPI_Init_thread(c->argc, c->argv, MPI_THREAD_FUNNELED,
				    &level) != MPI_SUCCESS)
			return EIO;
		bridge->owns_mpi = true;
		if (level < MPI_THREAD_FUNNELED) {
			MPI_Finalize();
			return ENOTSUP;
		}
	}
	if (MPI_Comm_dup(MPI_COMM_WORLD, &bridge->comm) != MPI_SUCCESS)
		return EIO;
	MPI_Comm_set_errhandler(bridge->comm, MPI_ERRORS_RETURN);
	MPI_Comm_rank(bridge->comm, &bridge->rank);
	MPI_Comm_size(bridge->comm, &bridge->size);
	uint64_t ms = c->timeout_ms;
	const char *env = getenv("TRINDLE_MPI_TIMEOUT_MS");
	if (!ms && env && atoi(env) > 0)
		ms = (uint64_t)atoi(env);
	if (!ms)
		ms = TRINDLE_MPI_TIMEOUT_DEFAULT;
	bridge->timeout = (int64_t)ms * 1000000;
	bridge->beat = bridge->timeout / 4;
	bridge->peers = calloc((size_t)bridge->size, sizeof *bridge->peers);
	bridge->scratch = malloc(FRAME_BYTES);
	if (!bridge->peers || !bridge->scratch)
		return ENOMEM;
	bridge->now = now_ns();
	for (int r = 0; r < bridge->size; r++)
		bridge->peers[r].heard = bridge->peers[r].spoke = bridge->now;
	return 0;
}

/* Finishing: a marker goes through each imported pipe after what was
 * sent to it; once the marker comes out of X, everything before it has
 * been forwarded.  True when every import is through. */
static bool imports_drained(void)
{
	bool all = true;
	for (size_t i = 0; i < bridge->nim; i++) {
		struct import *im = &bridge->im[i];
		if (im->flushed)
			continue;
		all = false;
		if (im->marker)
			continue;
		if (!(trindle_access(im->user) & TRINDLE_ACCESS_SEND)) {
			im->flushed = true; /* the proxy ended */
			continue;
		}
		trindle_segment_t mk = trindle_allocate(1,
				&(trindle_buffer_t){ 1, NULL });
		if (!mk)
			continue;
		trindle_message_t m = { im->user, mk };
		trindle_mailbox_t out = { 1, &m };
		trindle_sync(&out, NULL); /* a share: we keep the marker */
		if (out.count)
			trindle__mpi_release_now(mk); /* full: next pass */
		else
			im->marker = mk;
	}
	return all;
}

static void send_fins(void)
{
	size_t left = 0;
	for (size_t i = 0; i < bridge->nim; i++)
		if (!bridge->im[i].flushed)
			left += trindle_measure(bridge->im[i].local) +
				trindle_measure(bridge->im[i].user) +
				(bridge->im[i].pending != NULL);
	if (left) {
		bridge->undelivered = 1;
		trindle__mpi_report(bridge->rank, ECANCELED, 0, "trindle: mpi: "
			"finishing: %zu messages on rank %d were not delivered "
			"(no credit for %lld ms); released", left, bridge->rank,
			(long long)(bridge->timeout / 1000000));
	}
	while (bridge->nim)
		trindle__mpi_import_close(&bridge->im[0]);
	while (bridge->nex)
		trindle__mpi_export_close(&bridge->ex[0], true);
	for (int r = 0; r < bridge->size; r++)
		if (!bridge->peers[r].lost)
			trindle__mpi_put_rec(r, OP_FIN, 0, 0, 0);
	bridge->state = FIN_SENT;
}

static bool all_done(void)
{
	for (int r = 0; r < bridge->size; r++)
		if (!bridge->peers[r].lost && !bridge->peers[r].fin_in)
			return false;
	for (size_t i = 0; i < bridge->nsend; i++)
		if (!bridge->peers[bridge->sinfo[i].rank].lost)
			return false;
	return bridge->ndrain == 0;
}

static void advance_finish(bool progress)
{
	if (bridge->state == FLUSHING) {
		if (progress)
			bridge->flush_deadline = bridge->now + bridge->timeout;
		if (imports_drained() || bridge->now > bridge->flush_deadline)
			send_fins();
	}
	if (bridge->state == FIN_SENT && all_done())
		bridge->state = DONE;
}

/* One pass over the local side, the MPI side, credits, heartbeats and
 * finishing; then the frames built go out.  Returns whether anything
 * moved. */
static bool pass(void)
{
	bridge->now = now_ns();
	bool progress = trindle__mpi_local_sync();
	progress |= trindle__mpi_take_local();
	progress |= trindle__mpi_retire_sends();
	progress |= trindle__mpi_take_frames();
	progress |= trindle__mpi_finish_payloads();
	progress |= trindle__mpi_grant_credits();
	trindle__mpi_ask_credits();
	trindle__mpi_heartbeats();
	advance_finish(progress);
	for (int p = 0; p < bridge->size; p++)
		trindle__mpi_send_frame(p);
	trindle__mpi_flush_reports();
	return progress;
}

/* Passes until finished; idle passes yield, then wait, longer each time. */
static void run_passes(void)
{
	int idle = 0;
	int64_t sleep_ns = 16000;
	while (bridge->state != DONE) {
		if (pass()) {
			idle = 0;
			sleep_ns = 16000;
		} else if (++idle < IDLE_SPINS) {
			sched_yield();
		} else {
			trindle__mpi_idle_wait(sleep_ns);
			if (sleep_ns < IDLE_MAX_NS)
				sleep_ns *= 2;
		}
	}
}

/* Frees the comm thread's memory (its objects are released by then). */
static void free_state(void)
{
	for (int r = 0; r < bridge->size; r++)
		free(bridge->peers[r].frame);
	free(bridge->peers);
	free(bridge->ex);
	free(bridge->im);
	free(bridge->hellos);
	free(bridge->sreq);
	free(bridge->sinfo);
	free(bridge->drain);
	free(bridge->grave);
	free(bridge->scratch);
	free(bridge->tried);
	free(bridge->idx);
	free(bridge->st);
}

static void shut_down(void)
{
	for (size_t i = 0; i < bridge->nsend; i++) {
		/* Sends to lost ranks never complete: cancel and keep their
		 * memory until MPI has gone. */
		MPI_Cancel(&bridge->sreq[i]);
		MPI_Request_free(&bridge->sreq[i]);
	}
	bool lost = false;
	for (int r = 0; r < bridge->size; r++)
		lost |= bridge->peers[r].lost;
	if (!lost)
		MPI_Comm_free(&bridge->comm);
	/* After a rank was lost, Open MPI 4.1's MPI_Finalize waits for it in
	 * a collective step of its runtime and sometimes ends the process
	 * from there (about one run in ten here, under mpirun
	 * --enable-recovery): a survivor then leaves MPI unfinalised, which
	 * --enable-recovery accepts, rather than risk being killed. */
	if (bridge->owns_mpi && !lost)
		MPI_Finalize();
	/* What MPI might still write into or read from (sends to, receives
	 * from a lost rank) is let go only once MPI has finalised; without
	 * that, it stays until the process ends. */
	for (size_t i = 0; i < bridge->nsend && !lost; i++) {
		trindle__mpi_release_later(bridge->sinfo[i].seg);
		free(bridge->sinfo[i].buf);
	}
	for (size_t i = 0; i < bridge->ngrave && !lost; i++)
		trindle__mpi_release_later(bridge->grave[i]);
	trindle__mpi_release_pending();
	trindle__mpi_flush_reports();
	for (size_t i = 0; i < bridge->nreports; i++)
		trindle__mpi_release_now(bridge->reports[i]);
	free_state();
}

void trindle__mpi_comm_main(trindle_pipe_t input)
{
	memset(bridge, 0, sizeof *bridge);
	bridge->input = input;
	/* The worker holds SEND on the err pipe given at launch, but cannot
	 * tell which pipe that is: the start request brings it again. */
	struct mpi_ctl *c = trindle__mpi_take_start(&bridge->err);
	if (!c)
		return;
	int error = c->op == CTL_START ? start_mpi(c) : EINVAL;
	trindle__mpi_answer(c->answer, error, bridge->rank, bridge->size);
	trindle__mpi_release_now(c);
	if (error) {
		if (bridge->err)
			trindle__mpi_release_now(bridge->err);
		return;
	}

	run_passes();
	struct mpi_handoff *fa = bridge->finish_answer;
	int undelivered = bridge->undelivered, rank = bridge->rank;
	int size = bridge->size;
	shut_down();
	/* The caller may return (and the program end) once answered: the
	 * comm thread has nothing left to do but end. */
	trindle__mpi_answer(fa, undelivered ? ECANCELED : 0, rank, size);
	if (bridge->err)
		trindle__mpi_release_now(bridge->err);
}
