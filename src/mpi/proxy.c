/* SPDX-License-Identifier: MIT */
/*
 * proxy.c - an import proxy: the worker whose input pipe is an imported
 * pipe.
 *
 * trindle_mpi_import() launches it and moves it its parameters.  The
 * proxy asks the comm thread for the import (its request carries the
 * proxy's input pipe, so the comm thread may send to it), and receives
 * back, as the first message after the parameters, a pipe X of the same
 * capacity that the comm thread created and receives from.  Then it moves
 * what arrives to X, in order, never holding more than X has room for:
 * the comm thread takes from X only as far as the receiving rank grants
 * credits, so when that rank stops receiving, X fills, the proxy stops
 * taking, and the imported pipe fills like any pipe whose receiver
 * stopped.  The proxy's only waits are the blocking receive on its input
 * pipe and, while X is full, short sleeps (the public API has no wait for
 * room); it never calls MPI.
 *
 * It ends when X dies (the comm thread ended the import) or when nobody
 * can send to it any more; then its input pipe, the imported pipe, dies,
 * and whoever holds SEND on it gets the closure notice.
 */
#include "bridge.h"

#include <errno.h>
#include <time.h>

#define HAND 32                 /* messages taken from the input at once */
#define SLEEP_MIN_NS 20000
#define SLEEP_MAX_NS 1000000

static void release(trindle_object_t obj)
{
	trindle_message_t m = { NULL, obj };
	trindle_mailbox_t out = { 1, &m };
	trindle_sync(&out, NULL);
}

/* The parameters, then the request to the comm thread, then X.  NULL if
 * anything failed (the caller has its answer then). */
static trindle_pipe_t set_up(trindle_pipe_t input, size_t *capacity)
{
	trindle_message_t req = { input, NULL }, m;
	trindle_mailbox_t o = { 1, &req }, i = { 1, &m };
	if (trindle_sync(&o, &i) < 0 || i.count == 0 || m.address != input)
		return NULL;
	const struct mpi_proxy_params *p = m.content;
	if (trindle_measure(m.content) != sizeof *p || p->magic != PROXY_MAGIC) {
		release(m.content);
		return NULL;
	}
	*capacity = p->capacity;
	struct mpi_ctl ctl = { .magic = MPI_CTL_MAGIC, .op = CTL_IMPORT,
			       .tag = p->tag, .pipes = 1, .rank = p->rank,
			       .capacity = p->capacity, .answer = p->answer };
	trindle_pipe_t bridge = p->bridge;
	struct mpi_handoff *answer = p->answer;
	release(m.content);
	trindle_segment_t seg = trindle_allocate(1,
			&(trindle_buffer_t){ sizeof ctl, &ctl });
	if (!seg) {
		trindle__mpi_answer(answer, ENOMEM, 0, 0);
		return NULL;
	}
	trindle_message_t post[3] = { { bridge, seg }, { NULL, seg },
				      { bridge, input } };
	trindle_mailbox_t out = { 3, post };
	trindle_sync(&out, NULL);
	if (out.count) {
		release(seg);
		trindle__mpi_answer(answer, ESHUTDOWN, 0, 0);
		return NULL;
	}
	/* The comm thread answers the caller, and sends X first if it
	 * accepted; if it refused, everyone lets go and this ends. */
	for (;;) {
		o = (trindle_mailbox_t){ 1, &req };
		i = (trindle_mailbox_t){ 1, &m };
		if (trindle_sync(&o, &i) < 0 || i.count == 0)
			return NULL;
		if (m.address == input && m.content &&
		    (trindle_access(m.content) & TRINDLE_ACCESS_SEND))
			return m.content;
		if (m.address == input && m.content)
			release(m.content);
	}
}

void trindle__mpi_proxy_main(trindle_pipe_t input)
{
	size_t capacity = 0;
	trindle_pipe_t x = set_up(input, &capacity);
	if (!x)
		return;
	trindle_message_t hand[2 * HAND];
	size_t held = 0;
	long sleep_ns = 0;

	for (;;) {
		if (!(trindle_access(x) & TRINDLE_ACCESS_SEND))
			return; /* X died: the import has ended */
		size_t queued = trindle_measure(x);
		size_t room = queued < capacity ? capacity - queued : 0;
		if (held == 0 && room) {
			size_t want = room < HAND ? room : HAND;
			trindle_message_t req = { input, NULL }, in[HAND];
			trindle_mailbox_t o = { 1, &req }, i = { want, in };
			if (trindle_sync(&o, &i) < 0 || i.count == 0)
				return; /* nobody can send to us any more */
			for (size_t k = 0; k < i.count; k++) {
				if (in[k].address == x && !in[k].content)
					return;
				if (in[k].address != input || !in[k].content)
					continue;
				hand[held++] = (trindle_message_t){ x, in[k].content };
				hand[held++] = (trindle_message_t){ NULL, in[k].content };
			}
		}
		if (held) {
			trindle_mailbox_t o = { held, hand };
			trindle_sync(&o, NULL);
			/* The failed moves stay, in order, at the start.  A pipe
			 * that died on the way cannot be sent (nor released): it
			 * is dropped. */
			size_t kept = 0;
			for (size_t k = 0; k + 1 < o.count; k += 2)
				if (trindle_access(hand[k].content)) {
					hand[kept++] = hand[k];
					hand[kept++] = hand[k + 1];
				}
			if (kept < held) {
				held = kept;
				sleep_ns = 0;
				continue;
			}
		}
		if (held || !room) {
			sleep_ns = sleep_ns ? sleep_ns * 2 : SLEEP_MIN_NS;
			if (sleep_ns > SLEEP_MAX_NS)
				sleep_ns = SLEEP_MAX_NS;
			nanosleep(&(struct timespec){ 0, sleep_ns }, NULL);
		}
	}
}
