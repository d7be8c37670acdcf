/* SPDX-License-Identifier: MIT */
/*
 * api.c - the public calls of <trindle/mpi.h>.  Each one is a request to
 * the comm thread and a wait for its answer (see bridge.h); none makes an
 * MPI call or receives a message, so they may run on any thread and never
 * take a notice meant for their caller.
 */
#include "bridge.h"

#include <errno.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

/* MPI starts once per program, so there is one bridge per program. */
static atomic_int bridge_started;
static atomic_int world_size;

/* Requests are made one at a time, so that the parts of one never
 * interleave with another's on the bridge's input pipe. */
static pthread_mutex_t call_lock = PTHREAD_MUTEX_INITIALIZER;

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

void trindle__mpi_answer(struct mpi_handoff *h, int error, int rank, int size)
{
	pthread_mutex_lock(&h->lock);
	h->error = error;
	h->rank = rank;
	h->size = size;
	h->done = 1;
	pthread_cond_signal(&h->cond);
	pthread_mutex_unlock(&h->lock);
}

static void handoff_init(struct mpi_handoff *h)
{
	memset(h, 0, sizeof *h);
	pthread_mutex_init(&h->lock, NULL);
	pthread_condattr_t a;
	pthread_condattr_init(&a);
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	pthread_cond_init(&h->cond, &a);
	pthread_condattr_destroy(&a);
}

/* Waits for the answer.  The comm thread answers every request it takes;
 * if it has ended instead (its input pipe, watch, is dead), the answer
 * is ESHUTDOWN.  Returns the answer's error. */
static int handoff_wait(struct mpi_handoff *h, trindle_pipe_t watch)
{
	pthread_mutex_lock(&h->lock);
	while (!h->done) {
		struct timespec t;
		clock_gettime(CLOCK_MONOTONIC, &t);
		t.tv_nsec += 100000000;
		if (t.tv_nsec >= 1000000000) {
			t.tv_sec++;
			t.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&h->cond, &h->lock, &t);
		if (!h->done && !may_send(watch)) {
			h->error = ESHUTDOWN;
			break;
		}
	}
	int error = h->error;
	pthread_mutex_unlock(&h->lock);
	pthread_mutex_destroy(&h->lock);
	pthread_cond_destroy(&h->cond);
	return error;
}

/* Sends a request (ctl, then arg if not NULL) to the bridge. */
static int post(trindle_pipe_t bridge, struct mpi_ctl *ctl,
		trindle_pipe_t arg)
{
	ctl->magic = MPI_CTL_MAGIC;
	ctl->pipes = arg ? 1 : 0;
	trindle_segment_t seg = trindle_allocate(1,
			&(trindle_buffer_t){ sizeof *ctl, ctl });
	if (!seg)
		return ENOMEM;
	trindle_message_t m[3] = { { bridge, seg }, { NULL, seg },
				   { bridge, arg } };
	trindle_mailbox_t out = { arg ? 3 : 2, m };
	trindle_sync(&out, NULL);
	/* The comm thread takes each request whole before it answers, so its
	 * input pipe has room: a send fails only when the bridge is gone. */
	if (out.count) {
		for (size_t k = 0; k < out.count; k++)
			if (out.address[k].address && out.address[k].content == seg)
				release(seg);
		return ESHUTDOWN;
	}
	return 0;
}

/* One request and its answer. */
static int call(trindle_pipe_t bridge, struct mpi_ctl *ctl,
		trindle_pipe_t arg, struct mpi_handoff *h)
{
	if (!may_send(bridge))
		return ESHUTDOWN;
	handoff_init(h);
	ctl->answer = h;
	pthread_mutex_lock(&call_lock);
	int error = post(bridge, ctl, arg);
	if (!error)
		error = handoff_wait(h, bridge);
	pthread_mutex_unlock(&call_lock);
	return error;
}

TRINDLE_MPI_PUBLIC trindle_pipe_t trindle_mpi_bridge(
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
	struct mpi_ctl ctl = { .op = CTL_START };
	if (opt) {
		ctl.argc = opt->argc;
		ctl.argv = opt->argv;
		ctl.timeout_ms = opt->timeout_ms;
	}
	struct mpi_handoff h;
	int error = call(input, &ctl, err, &h);
	if (error) {
		/* The comm thread ends by itself after a failed start.  MPI
		 * cannot start twice, so the bridge stays taken. */
		if (error == ESHUTDOWN)
			error = EIO;
		release(input);
		errno = error;
		return NULL;
	}
	atomic_store(&world_size, h.size);
	if (world) {
		world->rank = h.rank;
		world->size = h.size;
	}
	return input;
}

TRINDLE_MPI_PUBLIC int trindle_mpi_export(trindle_pipe_t bridge,
		trindle_pipe_t pipe, uint32_t tag, size_t capacity)
{
	if (!may_send(pipe) || capacity == 0) {
		errno = EINVAL;
		return -1;
	}
	struct mpi_ctl ctl = { .op = CTL_EXPORT, .tag = tag,
			       .capacity = capacity };
	struct mpi_handoff h;
	int error = call(bridge, &ctl, pipe, &h);
	if (error) {
		errno = error;
		return -1;
	}
	return 0;
}

TRINDLE_MPI_PUBLIC trindle_pipe_t trindle_mpi_import(trindle_pipe_t bridge,
		int rank, uint32_t tag, size_t queue_items)
{
	if (queue_items == 0 || rank < 0 || rank >= atomic_load(&world_size)) {
		errno = may_send(bridge) ? EINVAL : ESHUTDOWN;
		return NULL;
	}
	if (!may_send(bridge)) {
		errno = ESHUTDOWN;
		return NULL;
	}
	/* The proxy's input pipe is the imported pipe: launch hands the
	 * caller SEND on it, and the proxy SEND on the bridge (its out). */
	trindle_pipe_t pipe = trindle_launch(trindle__mpi_proxy_main,
					     queue_items, bridge, NULL);
	if (!pipe)
		return NULL;
	struct mpi_handoff h;
	handoff_init(&h);
	struct mpi_proxy_params p = { .magic = PROXY_MAGIC, .tag = tag,
				      .rank = rank, .capacity = queue_items,
				      .bridge = bridge, .answer = &h };
	trindle_segment_t seg = trindle_allocate(1,
			&(trindle_buffer_t){ sizeof p, &p });
	int error = ENOMEM;
	if (seg) {
		trindle_message_t m[2] = { { pipe, seg }, { NULL, seg } };
		trindle_mailbox_t out = { 2, m };
		pthread_mutex_lock(&call_lock); /* the proxy posts for us */
		trindle_sync(&out, NULL); /* a new, empty pipe: goes through */
		error = out.count ? EAGAIN : handoff_wait(&h, bridge);
		pthread_mutex_unlock(&call_lock);
		if (out.count)
			release(seg);
	}
	if (error) {
		release(pipe); /* the proxy ends once nobody can send to it */
		errno = error;
		return NULL;
	}
	return pipe;
}

TRINDLE_MPI_PUBLIC int trindle_mpi_finish(trindle_pipe_t bridge)
{
	struct mpi_ctl ctl = { .op = CTL_FINISH };
	struct mpi_handoff h;
	int error = call(bridge, &ctl, NULL, &h);
	if (error != ESHUTDOWN)
		release(bridge);
	if (error) {
		errno = error;
		return -1;
	}
	return 0;
}
