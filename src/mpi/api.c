/* SPDX-License-Identifier: MIT */
/*
 * api.c - the public calls of <trindle/mpi.h>.  Each one is a round trip
 * to the comm thread (see bridge.h); none makes an MPI call, so they may
 * run on any thread.
 */
#include "bridge.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

/* MPI starts once per program, so there is one bridge per program. */
static atomic_int bridge_started;

static void release(trindle_object_t obj)
{
	if (!obj)
		return;
	trindle_message_t m = { NULL, obj };
	trindle_mailbox_t out = { 1, &m };
	trindle_sync(&out, NULL);
}

static int may_send(trindle_pipe_t p)
{
	return p && (trindle_access(p) & TRINDLE_ACCESS_SEND);
}

/* Requests are made one at a time, so that the parts of one (sent in one
 * trindle_sync, arriving in order) never interleave with another's. */
static pthread_mutex_t call_lock = PTHREAD_MUTEX_INITIALIZER;

/* One request: ctl, a reply pipe, and arg (a pipe) if not NULL, to the
 * comm thread; then its reply.  *made receives the pipe that came with the
 * reply, if any.  Returns 0 and fills *rep, or a negative errno. */
static int call(trindle_pipe_t bridge, const struct mpi_ctl *ctl,
		trindle_pipe_t arg, struct mpi_reply *rep, trindle_pipe_t *made)
{
	if (!may_send(bridge))
		return -ESHUTDOWN;
	struct mpi_ctl creq = *ctl;
	creq.pipes = arg ? 2 : 1;
	trindle_pipe_t r = trindle_pipe(4);
	trindle_segment_t seg = trindle_allocate(1,
			&(trindle_buffer_t){ sizeof creq, &creq });
	if (!r || !seg) {
		release(seg);
		release(r);
		return -ENOMEM;
	}
	pthread_mutex_lock(&call_lock);
	trindle_message_t m[4] = { { bridge, seg }, { NULL, seg },
				   { bridge, r }, { bridge, arg } };
	trindle_mailbox_t out = { arg ? 4 : 3, m };
	trindle_sync(&out, NULL);
	/* The comm thread takes a request whole before it answers, so the
	 * input pipe has room: a send fails only when the bridge is gone. */
	int rc = -ESHUTDOWN, got = 0;
	if (out.count) {
		for (size_t k = 0; k < out.count; k++)
			if (m[k].address && m[k].content == seg)
				release(seg);
		goto done;
	}
	/* The reply, then possibly a pipe.  The comm thread lets go of r once
	 * it has answered, so the receive stops waiting then, whatever came. */
	for (;;) {
		trindle_message_t req = { r, NULL }, in[2];
		trindle_mailbox_t o = { 1, &req }, i = { 2, in };
		if (trindle_sync(&o, &i) < 0 || i.count == 0)
			break;
		for (size_t k = 0; k < i.count; k++) {
			trindle_object_t c = in[k].content;
			if (in[k].address != r || !c)
				continue; /* a notice of something else */
			if (!got && trindle_measure(c) == sizeof *rep &&
			    (trindle_access(c) & TRINDLE_ACCESS_READ)) {
				memcpy(rep, c, sizeof *rep);
				got = 1;
				rc = 0;
				release(c);
			} else if (got && made && !*made && may_send(c)) {
				*made = c;
			} else {
				release(c);
			}
		}
		if (got && (!made || *made || rep->error))
			break;
	}
done:
	pthread_mutex_unlock(&call_lock);
	release(r);
	return rc;
}

TRINDLE_PUBLIC trindle_pipe_t trindle_mpi_bridge(
		const struct trindle_mpi_options *opt, trindle_pipe_t err,
		struct trindle_mpi_world *world)
{
	if (err && !may_send(err)) {
		errno = EINVAL;
		return NULL;
	}
	int expected = 0;
	if (!atomic_compare_exchange_strong(&bridge_started, &expected, 1)) {
		errno = EBUSY;
		return NULL;
	}
	trindle_pipe_t input = trindle_launch(trindle__mpi_comm_main, 16,
					      NULL, err);
	if (!input) {
		atomic_store(&bridge_started, 0);
		return NULL;
	}
	struct mpi_ctl ctl = { .magic = MPI_CTL_MAGIC, .op = CTL_START };
	if (opt) {
		ctl.argc = opt->argc;
		ctl.argv = opt->argv;
		ctl.timeout_ms = opt->timeout_ms;
	}
	struct mpi_reply rep;
	int rc = call(input, &ctl, err, &rep, NULL);
	if (rc == 0 && rep.error)
		rc = -rep.error;
	if (rc) {
		/* The comm thread ends by itself after a failed start; MPI
		 * cannot start twice, so the bridge stays taken when MPI ran. */
		if (rc == -ESHUTDOWN)
			rc = -EIO;
		release(input);
		errno = -rc;
		return NULL;
	}
	if (world) {
		world->rank = rep.rank;
		world->size = rep.size;
	}
	return input;
}

TRINDLE_PUBLIC int trindle_mpi_export(trindle_pipe_t bridge,
		trindle_pipe_t pipe, uint32_t tag, size_t capacity)
{
	if (!may_send(pipe) || capacity == 0) {
		errno = EINVAL;
		return -1;
	}
	struct mpi_ctl ctl = { .magic = MPI_CTL_MAGIC, .op = CTL_EXPORT,
			       .tag = tag, .capacity = capacity };
	struct mpi_reply rep;
	int rc = call(bridge, &ctl, pipe, &rep, NULL);
	if (rc == 0 && rep.error)
		rc = -rep.error;
	if (rc) {
		errno = -rc;
		return -1;
	}
	return 0;
}

TRINDLE_PUBLIC trindle_pipe_t trindle_mpi_import(trindle_pipe_t bridge,
		int rank, uint32_t tag, size_t queue_items)
{
	if (queue_items == 0 || rank < 0) {
		errno = EINVAL;
		return NULL;
	}
	struct mpi_ctl ctl = { .magic = MPI_CTL_MAGIC, .op = CTL_IMPORT,
			       .tag = tag, .rank = rank,
			       .capacity = queue_items };
	struct mpi_reply rep;
	trindle_pipe_t made = NULL;
	int rc = call(bridge, &ctl, NULL, &rep, &made);
	if (rc == 0 && rep.error)
		rc = -rep.error;
	if (rc == 0 && !made)
		rc = -ESHUTDOWN;
	if (rc) {
		release(made);
		errno = -rc;
		return NULL;
	}
	return made;
}

TRINDLE_PUBLIC int trindle_mpi_finish(trindle_pipe_t bridge)
{
	struct mpi_ctl ctl = { .magic = MPI_CTL_MAGIC, .op = CTL_FINISH };
	struct mpi_reply rep;
	int rc = call(bridge, &ctl, NULL, &rep, NULL);
	if (rc == 0 && rep.error)
		rc = -rep.error;
	if (rc != -ESHUTDOWN)
		release(bridge);
	if (rc) {
		errno = -rc;
		return -1;
	}
	return 0;
}
