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

/* The bridge's one state (state.c). */
static struct bridge *const bridge = &trindle__mpi_state;

static int do_export(const struct mpi_ctl *c, trindle_pipe_t pipe)
{
	if (bridge->state != RUNNING)
		return ESHUTDOWN;
	if (!pipe || !(trindle_access(pipe) & TRINDLE_ACCESS_SEND) ||
	    !c->capacity)
		return EINVAL;
	if (trindle__mpi_find_export(c->tag))
		return EEXIST;
	bridge->ex = realloc(bridge->ex, (bridge->nex + 1) * sizeof *bridge->ex);
	struct held *q = malloc(c->capacity * sizeof *q);
	if (!bridge->ex || !q) {
		free(q);
		return ENOMEM;
	}
	struct export *e = &bridge->ex[bridge->nex++];
	*e = (struct export){ .tag = c->tag, .pipe = pipe,
			      .capacity = c->capacity, .q = q,
			      .qcap = c->capacity };
	for (size_t i = 0; i < bridge->nhellos;) {
		if (bridge->hellos[i].tag == c->tag) {
			trindle__mpi_add_importer(e, bridge->hellos[i].rank,
						  bridge->hellos[i].id);
			e->imp[e->nimp - 1].wanted = bridge->hellos[i].wanted;
			bridge->hellos[i] = bridge->hellos[--bridge->nhellos];
		} else {
			i++;
		}
	}
	return 0;
}

/* The proxy's input pipe `user` came with the request: X goes to it. */
static int do_import(const struct mpi_ctl *c, trindle_pipe_t user)
{
	if (bridge->state != RUNNING)
		return ESHUTDOWN;
	if (!user || c->rank < 0 || c->rank >= bridge->size || !c->capacity)
		return EINVAL;
	if (bridge->peers[c->rank].lost || bridge->peers[c->rank].fin_in)
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
	bridge->im = realloc(bridge->im, (bridge->nim + 1) * sizeof *bridge->im);
	if (!bridge->im)
		abort();
	uint32_t id = bridge->next_id++;
	bridge->im[bridge->nim++] = (struct import){ .id = id, .tag = c->tag,
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
		if (bridge->state == RUNNING) {
			bridge->state = FLUSHING;
			bridge->finish_answer = c->answer;
			bridge->flush_deadline = bridge->now + bridge->timeout;
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
	trindle__mpi_answer(c->answer, error, bridge->rank, bridge->size);
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
	if (!bridge->ctl) {
		if (!is_ctl(obj)) {
			trindle__mpi_release_later(obj);
			return false;
		}
		bridge->ctl = obj;
		return bridge->ctl->pipes == 0;
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
	struct mpi_ctl *c = bridge->ctl;
	bridge->ctl = NULL;
	handle_ctl(c, arg);
	trindle__mpi_release_later(c);
}

/* Waits for the start request, whole; *err receives its pipe.  NULL if
 * the caller let go. */
struct mpi_ctl *trindle__mpi_take_start(trindle_pipe_t *err)
{
	for (;;) {
		trindle_message_t req = { bridge->input, NULL }, in[1];
		trindle_mailbox_t o = { 1, &req }, m = { 1, in };
		if (trindle_sync(&o, &m) < 0 || m.count == 0)
			return NULL;
		if (in[0].address != bridge->input || !in[0].content)
			continue;
		if (!collect_ctl(in[0].content, err))
			continue;
		struct mpi_ctl *c = bridge->ctl;
		bridge->ctl = NULL;
		return c;
	}
}
