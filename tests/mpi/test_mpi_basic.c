/* SPDX-License-Identifier: MIT */
/*
 * test_mpi_basic - the bridge's calls and what crosses, on two ranks.
 *
 * Rank 1 exports a pipe; rank 0 imports it and sends small segments
 * (inside frames), large ones (payloads of their own), a copy (a send
 * without release), a pipe (refused) and an end marker.  Rank 1 checks
 * that everything arrived once, in order, whole, and writable by its
 * sole holder, and sends to itself through an export of its own.  Both
 * check the calls' errors, and that a worker's fault
 * is still reported by libtrindle once MPI has started (Open MPI installs
 * signal handlers of its own).
 */
#include "mpitest.h"

#include <stdint.h>

#define TAG 7
#define COUNT 300
#define BIG 100000

static size_t size_of(int i) { return i % 3 == 0 ? BIG : 16 + (size_t)i; }

static trindle_segment_t make(int i)
{
	size_t n = size_of(i);
	unsigned char *buf = malloc(n);
	CHECK(buf);
	memset(buf, i & 0xff, n);
	memcpy(buf, &i, sizeof i);
	trindle_segment_t s = t_segment(buf, n);
	free(buf);
	return s;
}

static void check(const unsigned char *p, size_t n, int i)
{
	int got;
	CHECK(n == size_of(i));
	memcpy(&got, p, sizeof got);
	CHECK(got == i);
	for (size_t k = sizeof got; k < n; k++)
		CHECK(p[k] == (unsigned char)(i & 0xff));
}

static void faulty(trindle_pipe_t input)
{
	/* A write to a segment it shares with nobody's consent: READ only. */
	trindle_message_t m;
	trindle_mailbox_t out = { 1, &(trindle_message_t){ input, NULL } },
			  in = { 1, &m };
	trindle_sync(&out, &in);
	*(volatile char *)m.content = 1;
}

static void check_faults_still_reported(void)
{
	trindle_pipe_t err = trindle_pipe(2);
	CHECK(err);
	trindle_pipe_t w = trindle_launch(faulty, 1, NULL, err);
	CHECK(w);
	trindle_segment_t s = t_segment("x", 1);
	trindle_message_t sm = { w, s };
	trindle_mailbox_t so = { 1, &sm };
	trindle_sync(&so, NULL); /* shared: the worker may only read it */
	CHECK(so.count == 0);
	trindle_message_t m;
	double end = t_now() + 10;
	int seen = 0;
	while (!seen && t_now() < end) {
		if (!t_receive(err, &m, 1) || m.address != err || !m.content)
			continue;
		const trindle_fault_t *f = m.content;
		CHECK(trindle_measure(m.content) >= sizeof *f);
		CHECK(f->process == w && f->object == s);
		seen = 1;
		t_release(m.content);
	}
	CHECK(seen);
	t_release(s);
	t_release(w);
	t_release(err);
}

static void sender(trindle_pipe_t bridge, trindle_pipe_t err)
{
	errno = 0;
	CHECK(!trindle_mpi_import(bridge, 99, TAG, 4) && errno == EINVAL);
	CHECK(!trindle_mpi_import(bridge, 1, TAG, 0) && errno == EINVAL);
	trindle_pipe_t to = trindle_mpi_import(bridge, 1, TAG, 4);
	CHECK(to);
	CHECK(trindle_access(to) == TRINDLE_ACCESS_SEND);
	for (int i = 0; i < COUNT; i++)
		CHECK(t_move(to, make(i)) == 0);

	/* A send without release is a copy: the sender keeps its segment,
	 * and has it alone (with WRITE) again once the bridge let go. */
	trindle_segment_t copy = make(COUNT);
	trindle_message_t m = { to, copy };
	trindle_mailbox_t out = { 1, &m };
	do {
		m = (trindle_message_t){ to, copy };
		out = (trindle_mailbox_t){ 1, &m };
		trindle_sync(&out, NULL);
	} while (out.count);
	double end = t_now() + 10;
	while (!(trindle_access(copy) & TRINDLE_ACCESS_WRITE) && t_now() < end) {
		trindle_message_t n;
		t_receive(NULL, &n, 0); /* takes the notice */
		nanosleep(&(struct timespec){ 0, 1000000 }, NULL);
	}
	CHECK(trindle_access(copy) & TRINDLE_ACCESS_WRITE);
	check(copy, trindle_measure(copy), COUNT);
	t_release(copy);

	/* A pipe does not cross: it is released, and reported. */
	trindle_pipe_t p = trindle_pipe(1);
	CHECK(p);
	m = (trindle_message_t){ to, p };
	out = (trindle_mailbox_t){ 1, &m };
	trindle_sync(&out, NULL);
	CHECK(out.count == 0);
	trindle_mpi_report_t *r = t_report(err, 10);
	t_release(p); /* after: a pipe that died on the way is just dropped */
	CHECK(r);
	CHECK(r->error == EXDEV && r->rank == 1);
	CHECK(strstr(r->message, "cannot cross"));
	t_release(r);

	CHECK(t_move(to, t_segment(NULL, 0)) == 0); /* the end */
	/* Rank 1 lets go of its pipe once it has everything: the export
	 * ends, and so does the imported pipe, with its closure notice. */
	trindle_message_t n;
	end = t_now() + 30;
	int closed = 0;
	while (!closed && t_now() < end) {
		/* No receive request: the sync only hands over notices. */
		if (t_receive(NULL, &n, 0) && n.address == to && !n.content)
			closed = 1;
		else
			nanosleep(&(struct timespec){ 0, 1000000 }, NULL);
	}
	CHECK(closed);
	CHECK(!(trindle_access(to) & TRINDLE_ACCESS_SEND));
}

/* A rank may import its own export: the messages go through MPI all the
 * same, and arrive in order. */
static void self_import(trindle_pipe_t bridge)
{
	trindle_pipe_t in = trindle_pipe(4);
	CHECK(in);
	CHECK(trindle_mpi_export(bridge, in, TAG + 1, 4) == 0);
	trindle_pipe_t to = trindle_mpi_import(bridge, 1, TAG + 1, 2);
	CHECK(to);
	for (int i = 0; i < 10; i++) {
		CHECK(t_move(to, make(i)) == 0);
		trindle_message_t m;
		CHECK(t_receive(in, &m, 30) == 1 && m.address == in);
		check(m.content, trindle_measure(m.content), i);
		t_release(m.content);
	}
	t_release(to);
	t_release(in);
}

static void receiver(trindle_pipe_t bridge)
{
	self_import(bridge);
	trindle_pipe_t in = trindle_pipe(8);
	CHECK(in);
	errno = 0;
	CHECK(trindle_mpi_export(bridge, in, TAG, 0) == -1 && errno == EINVAL);
	CHECK(trindle_mpi_export(bridge, NULL, TAG, 8) == -1 && errno == EINVAL);
	CHECK(trindle_mpi_export(bridge, in, TAG, 8) == 0);
	CHECK(trindle_mpi_export(bridge, in, TAG, 8) == -1 && errno == EEXIST);
	int next = 0;
	for (;;) {
		trindle_message_t m;
		CHECK(t_receive(in, &m, 60) == 1);
		if (m.address != in)
			continue;
		size_t n = trindle_measure(m.content);
		CHECK(trindle_access(m.content) ==
		      (TRINDLE_ACCESS_READ | TRINDLE_ACCESS_WRITE));
		if (n == 0) {
			t_release(m.content);
			break;
		}
		check(m.content, n, next++);
		t_release(m.content);
	}
	CHECK(next == COUNT + 1); /* the copy came too; the pipe did not */
	t_release(in);
}

int main(int argc, char **argv)
{
	trindle_pipe_t err;
	struct trindle_mpi_world w;
	trindle_pipe_t bridge = t_bridge_of_two(&argc, &argv, 0, &err, &w);
	struct trindle_mpi_options again = { &argc, &argv, 0 };
	errno = 0;
	CHECK(!trindle_mpi_bridge(&again, err, NULL) && errno == EBUSY);
	check_faults_still_reported();
	if (w.rank == 0)
		sender(bridge, err);
	else
		receiver(bridge);
	CHECK(trindle_mpi_finish(bridge) == 0);
	errno = 0;
	CHECK(trindle_mpi_export(bridge, err, 1, 1) == -1 && errno == ESHUTDOWN);
	t_release(err);
	printf("rank %d: ok\n", w.rank);
	return 0;
}
