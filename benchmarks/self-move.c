/* SPDX-License-Identifier: MIT */
/*
 * self-move.c - the work of a move with no waiting in it.
 *
 *   trindle-self-move [rounds]
 *
 * One root process, one pipe of its own and 64 segments of 4 KiB: each
 * round moves all 64 into the pipe in one sync (a send and a release
 * each) and takes them back in the next (one receive request), checking
 * every segment came back in order (and, in the last round, writable).  No other thread runs, so under
 * callgrind the difference between two round counts is the library's work
 * per move and receive, free of any spinning (benchmarks/callgrind-stream.sh
 * prints it next to the stream's figure).
 */
#include <stdio.h>
#include <stdlib.h>
#include <trindle.h>

#define BATCH 64

int main(int argc, char **argv)
{
	long rounds = argc > 1 ? atol(argv[1]) : 10000;
	trindle_message_t out[2 * BATCH], in[BATCH];
	trindle_segment_t seg[BATCH];
	trindle_pipe_t pipe = trindle_pipe(BATCH);
	trindle_buffer_t zeros = { 4096, NULL };

	if (!pipe || rounds < 0)
		return 1;
	for (size_t i = 0; i < BATCH; i++)
		if (!(seg[i] = trindle_allocate(1, &zeros)))
			return 1;
	for (long r = 0; r < rounds; r++) {
		trindle_mailbox_t o = { 2 * BATCH, out };
		trindle_mailbox_t req = { 1, out };
		trindle_mailbox_t i = { BATCH, in };

		for (size_t k = 0; k < BATCH; k++) {
			*(volatile char *)seg[k] = (char)r;
			out[2 * k] = (trindle_message_t){ pipe, seg[k] };
			out[2 * k + 1] = (trindle_message_t){ NULL, seg[k] };
		}
		if (trindle_sync(&o, NULL) != 0 || o.count != 0)
			return 2;
		out[0] = (trindle_message_t){ pipe, NULL };
		if (trindle_sync(&req, &i) != 0 || req.count != 0 ||
		    i.count != BATCH)
			return 3;
		for (size_t k = 0; k < BATCH; k++) {
			if (in[k].address != pipe || in[k].content != seg[k])
				return 4;
			/* Once is enough; per round it would be counted as
			 * the move's cost. */
			if (r == rounds - 1 && !(trindle_access(seg[k]) &
					TRINDLE_ACCESS_WRITE))
				return 4;
		}
	}
	trindle_mailbox_t o = { BATCH + 1, out };
	for (size_t k = 0; k < BATCH; k++)
		out[k] = (trindle_message_t){ NULL, seg[k] };
	out[BATCH] = (trindle_message_t){ NULL, pipe };
	if (trindle_sync(&o, NULL) != 0 || o.count != 0)
		return 5;
	return 0;
}
