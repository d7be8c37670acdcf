/* SPDX-License-Identifier: MIT */
/*
 * test_mpi_million - many small messages from two senders on rank 0 to one
 * receiver on rank 1: each arrives once, in order per sender, and neither
 * rank's memory grows with the number of messages.
 *
 * 50,000 messages per sender, times TRINDLE_TEST_SCALE (tools/test.sh
 * runs the stress scale, 10: a million messages in all).  The
 * receiver waits a second before it starts, so that a bridge that
 * buffered without bound would have piled up the senders' backlog.
 */
#include "mpitest.h"

#include <stdint.h>
#include <unistd.h>

#define TAG 11
#define CAPACITY 256
#define BATCH 64

struct msg { uint64_t sender, seq; };

static long per_sender;

/* Resident memory, in KiB. */
static long rss_kib(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long v = -1;
	while (f && fgets(line, sizeof line, f))
		if (sscanf(line, "VmRSS: %ld", &v) == 1)
			break;
	if (f)
		fclose(f);
	return v;
}

static void sender(trindle_pipe_t input)
{
	trindle_message_t m;
	trindle_mailbox_t o = { 1, &(trindle_message_t){ input, NULL } },
			  i = { 1, &m };
	trindle_sync(&o, &i);
	uint64_t id = *(const uint64_t *)m.content;
	t_release(m.content);
	CHECK(t_receive(input, &m, 10) == 1); /* the imported pipe */
	trindle_pipe_t to = m.content;
	CHECK(trindle_access(to) == TRINDLE_ACCESS_SEND);
	uint64_t seq = 0;
	trindle_message_t out[2 * BATCH];
	size_t n = 0;
	for (int spins = 0; seq < (uint64_t)per_sender || n;) {
		while (n < 2 * BATCH && seq < (uint64_t)per_sender) {
			struct msg v = { id, seq++ };
			trindle_segment_t s = t_segment(&v, sizeof v);
			out[n++] = (trindle_message_t){ to, s };
			out[n++] = (trindle_message_t){ NULL, s };
		}
		trindle_mailbox_t ob = { n, out };
		trindle_sync(&ob, NULL);
		CHECK(trindle_access(to) & TRINDLE_ACCESS_SEND);
		n = ob.count; /* the failed moves, in order, at the start */
		if (n && ++spins > 50)
			nanosleep(&(struct timespec){ 0, 20000 }, NULL);
		else if (!n)
			spins = 0;
	}
	t_release(to);
}

static void receiver(trindle_pipe_t bridge)
{
	trindle_pipe_t in = trindle_pipe(CAPACITY);
	CHECK(in);
	CHECK(trindle_mpi_export(bridge, in, TAG, CAPACITY) == 0);
	sleep(1);
	uint64_t next[2] = { 0, 0 };
	long total = 0, rss0 = 0;
	trindle_message_t box[BATCH], rel[BATCH];
	while (total < 2 * per_sender) {
		trindle_message_t req = { in, NULL };
		trindle_mailbox_t o = { 1, &req }, i = { BATCH, box };
		trindle_sync_timeout(&o, &i, 30000000000);
		CHECK(i.count > 0);
		size_t nrel = 0;
		for (size_t k = 0; k < i.count; k++) {
			if (box[k].address != in)
				continue;
			const struct msg *v = box[k].content;
			CHECK(trindle_measure(box[k].content) == sizeof *v);
			CHECK(v->sender < 2);
			CHECK(v->seq == next[v->sender]);
			next[v->sender]++;
			total++;
			rel[nrel++] = (trindle_message_t){ NULL, box[k].content };
		}
		trindle_mailbox_t r = { nrel, rel };
		trindle_sync(&r, NULL);
		if (total == per_sender / 10)
			rss0 = rss_kib();
		CHECK(trindle_measure(in) <= CAPACITY);
	}
	CHECK(next[0] == (uint64_t)per_sender && next[1] == (uint64_t)per_sender);
	/* Nothing more comes: a message too many would be in the pipe now. */
	t_release(in);
	long grown = rss_kib() - rss0;
	printf("rank 1: %ld messages; resident memory grew %ld KiB after the first tenth\n",
	       total, grown);
	CHECK(grown < 32 * 1024);
}

int main(int argc, char **argv)
{
	per_sender = 50000 * t_scale();
	trindle_pipe_t err;
	struct trindle_mpi_world w;
	trindle_pipe_t bridge = t_bridge_of_two(&argc, &argv, 0, &err, &w);
	double t0 = t_now();
	if (w.rank == 0) {
		long rss_start = rss_kib();
		trindle_pipe_t done = trindle_pipe(4);
		trindle_pipe_t s[2];
		for (uint64_t k = 0; k < 2; k++) {
			s[k] = trindle_launch(sender, 2, done, err);
			CHECK(s[k]);
			CHECK(t_move(s[k], t_segment(&k, sizeof k)) == 0);
			/* Each sender its own imported pipe: order is kept per
			 * sender through one pipe. */
			trindle_pipe_t to = trindle_mpi_import(bridge, 1, TAG,
							       CAPACITY);
			CHECK(to);
			trindle_message_t m[2] = { { s[k], to }, { NULL, to } };
			trindle_mailbox_t o = { 2, m };
			trindle_sync(&o, NULL);
			CHECK(o.count == 0);
		}
		int ended = 0;
		while (ended < 2) {
			trindle_message_t m;
			CHECK(t_receive(done, &m, 120) == 1);
			if (!m.content && (m.address == s[0] || m.address == s[1]))
				ended++;
			else if (m.address == err)
				CHECK(!"a report on err");
		}
		t_release(done);
		long grown = rss_kib() - rss_start;
		printf("rank 0: resident memory grew %ld KiB\n", grown);
		CHECK(grown < 32 * 1024);
	} else {
		receiver(bridge);
	}
	CHECK(trindle_mpi_finish(bridge) == 0);
	double secs = t_now() - t0;
	printf("rank %d: ok, %ld messages in %.2f s (%.0f/s)\n", w.rank,
	       2 * per_sender, secs, 2 * per_sender / secs);
	t_release(err);
	return 0;
}
