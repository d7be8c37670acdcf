/* SPDX-License-Identifier: MIT */
/*
 * ctl.c - control requests from the public calls (api.c, proxy.c): each
 * comes to the comm thread's input pipe as a struct mpi_ctl segment, then
 * the pipe it is about, if any (see bridge.h); the comm thread handles it
 * and answers through the caller's struct mpi_handoff.
 */
#include <errno.h>
#include <stdlib.h>

#include "comm.h"

static int do_export(const struct mpi_ctl *c, trindle_pipe_t pipe)
{
	if (B.state != RUNNING)
		return ESHUTDOWN;
	if (!pipe || !(trindle_access(pipe) & TRINDLE_ACCESS_SEND) ||
	    !c->capacity)
		return EINVAL;
	if (trindle__mpi_find_export(c->tag))
		return EEXIST;
	B.ex = realloc(B.ex, (B.nex + 1) * sizeof *B.ex);
	struct held *q = malloc(c->capacity * sizeof *q);
	if (!B.ex || !q) {
		free(q);
		return ENOMEM;
	}
	struct export *e = &B.ex[B.nex++];
	*e = (struct export){ .tag = c->tag, .pipe = pipe,
			      .capacity = c->capacity, .q = q,
			      .qcap = c->capacity };
	for (size_t i = 0; i < B.nhellos;) {
		if (B.hellos[i].tag == c->tag) {
			trindle__mpi_add_importer(e, B.hellos[i].rank,
						  B.hellos[i].id);
			e->imp[e->nimp - 1].wanted = B.hellos[i].wanted;
			B.hellos[i] = B.hellos[--B.nhellos];
		} else {
			i++;
		}
	}
	return 0;
}

/* The proxy's input pipe `user` came with the request: X goes to it. */
static int do_import(const struct mpi_ctl *c, trindle_pipe_t user)
{
	if (B.state != RUNNING)
		return ESHUTDOWN;
	if (!user || c->rank < 0 || c->rank >= B.size || !c->capacity)
		return EINVAL;
	if (B.peers[c->rank].lost || B.peers[c->rank].fin_in)
		return ECONNREFUSED; /* its pipe would die at once */
	trindle_pipe_t x = trindle_pipe(c->capacity);
	if (!x)
		return ENOMEM;
	trindle_message_t m = { user, x };
	trindle_mailbox_t out = { 1, &m };
	trindle_sync(&out, NULL); /* the proxy has taken its parameters */
	if (out.count) {
		trindle__mpi_release_later(x);
		return ESHUTDOWN;
	}
	B.im = realloc(B.im, (B.nim + 1) * sizeof *B.im);
	if (!B.im)
		abort();
	uint32_t id = B.next_id++;
	B.im[B.nim++] = (struct import){ .id = id, .tag = c->tag,
					 .rank = c->rank, .local = x,
					 .user = user };
	trindle__mpi_put_rec(c->rank, OP_HELLO, c->tag, id, 0);
	return 0;
}

static void handle_ctl(struct mpi_ctl *c, trindle_pipe_t arg)
{
	int error = 0;
	switch (c->op) {
	case CTL_EXPORT:
		error = do_export(c, arg);
		if (error && arg && !trindle__mpi_pipe_in_use(arg, NULL))
			trindle__mpi_release_later(arg);
		break;
	case CTL_IMPORT:
		error = do_import(c, arg);
		if (error && arg)
			trindle__mpi_release_later(arg);
		break;
	case CTL_FINISH:
		if (B.state == RUNNING) {
			B.state = FLUSHING;
			B.finish_answer = c->answer;
			B.flush_deadline = B.now + B.timeout;
			return;
		}
		error = ESHUTDOWN;
		break;
	default: /* a second start */
		if (arg)
			trindle__mpi_release_later(arg);
		error = EINVAL;
		break;
	}
	trindle__mpi_answer(c->answer, error, B.rank, B.size);
}

static bool is_ctl(trindle_object_t obj)
{
	const struct mpi_ctl *c = obj;
	return (trindle_access(obj) & TRINDLE_ACCESS_READ) &&
	       !(trindle_access(obj) & TRINDLE_ACCESS_SEND) &&
	       trindle_measure(obj) == sizeof *c && c->magic == MPI_CTL_MAGIC &&
	       c->pipes <= 1 && c->answer;
}

/* A request comes as its segment, then the pipe it is about, if any
 * (see bridge.h).  Returns true when obj completed a request; *arg is
 * then its pipe. */
static bool collect_ctl(trindle_object_t obj, trindle_pipe_t *arg)
{
	*arg = NULL;
	if (!B.ctl) {
		if (!is_ctl(obj)) {
			trindle__mpi_release_later(obj);
			return false;
		}
		B.ctl = obj;
		return B.ctl->pipes == 0;
	}
	if (!(trindle_access(obj) & TRINDLE_ACCESS_SEND)) {
		/* not a pipe: the caller broke the form */
		trindle__mpi_release_later(obj);
		return false;
	}
	*arg = obj;
	return true;
}

void trindle__mpi_take_ctl_part(trindle_object_t obj)
{
	trindle_pipe_t arg;
	if (!collect_ctl(obj, &arg))
		return;
	struct mpi_ctl *c = B.ctl;
	B.ctl = NULL;
	handle_ctl(c, arg);
	trindle__mpi_release_later(c);
}

/* Waits for the start request, whole; *err receives its pipe.  NULL if
 * the caller let go. */
struct mpi_ctl *trindle__mpi_take_start(trindle_pipe_t *err)
{
	for (;;) {
		trindle_message_t req = { B.input, NULL }, in[1];
		trindle_mailbox_t o = { 1, &req }, m = { 1, in };
		if (trindle_sync(&o, &m) < 0 || m.count == 0)
			return NULL;
		if (in[0].address != B.input || !in[0].content)
			continue;
		if (!collect_ctl(in[0].content, err))
			continue;
		struct mpi_ctl *c = B.ctl;
		B.ctl = NULL;
		return c;
	}
}
