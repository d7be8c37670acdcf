/* Fan-in: several producer workers send into one pipe, which only main
 * receives from.  Every message arrives exactly once, and the messages of
 * each producer arrive in the order it sent them.
 *
 * Each producer learns its number and the shared pipe from two messages
 * on its input, then moves COUNT small segments into the pipe, filling a
 * batch (trindle_util_batch_t) and flushing it with one trindle_sync().
 * A full pipe refuses a send rather than wait, so the pipe is made with
 * room for every message: no send can fail for want of room. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <trindle.h>
#include <trindle/util.h>

#define PRODUCERS 4
#define COUNT 500

struct item {
	uint32_t producer, seq;
};

/* The next message on input (notices are not expected here); NULL if
 * nothing can come. */
static trindle_object_t next(trindle_pipe_t input)
{
	trindle_message_t m;
	if (trindle_util_receive(input, &m, -1) != 1 ||
	    trindle_util_kind(&m) != TRINDLE_UTIL_MESSAGE)
		return NULL;
	return m.content;
}

static void producer(trindle_pipe_t input)
{
	const uint32_t *id = next(input);
	trindle_pipe_t shared = next(input);
	trindle_message_t room[64];
	trindle_util_batch_t batch;

	trindle_util_batch_init(&batch, room, 64);
	if (!id || !shared)
		return;
	for (uint32_t seq = 0; seq < COUNT; seq++) {
		struct item it = { *id, seq };
		trindle_segment_t s = trindle_util_allocate(sizeof it, &it);
		if (!s || trindle_util_add_move(&batch, shared, s) != 0)
			trindle_abort(NULL); /* main sees messages missing */
		if (batch.count == batch.capacity || seq == COUNT - 1)
			if (trindle_util_flush(&batch, NULL) != 0)
				trindle_abort(NULL);
	}
}

int main(void)
{
	static bool seen[PRODUCERS][COUNT];
	uint32_t got[PRODUCERS] = { 0 }, late[PRODUCERS] = { 0 };
	trindle_pipe_t shared = trindle_pipe(PRODUCERS * COUNT);
	trindle_message_t room[64];
	trindle_util_batch_t batch;

	trindle_util_batch_init(&batch, room, 64);

	for (uint32_t p = 0; shared && p < PRODUCERS; p++) {
		trindle_pipe_t w = trindle_launch(producer, 2, NULL, NULL);
		trindle_segment_t id = trindle_util_allocate(sizeof p, &p);
		/* Move the number, share the pipe (the producer gets SEND);
		 * we keep SEND on w, to be told when the producer ends. */
		if (!w || !id || trindle_util_add_move(&batch, w, id) != 0 ||
		    trindle_util_add_send(&batch, w, shared) != 0 ||
		    trindle_util_flush(&batch, NULL) != 0) {
			fprintf(stderr, "fan-in: cannot start producer %u\n", p);
			return 1;
		}
	}

	unsigned ended = 0, total = 0, bad = 0;
	trindle_message_t m;
	/* Until every producer has let go of the pipe and it is empty. */
	while (trindle_util_receive(shared, &m, -1) == 1) {
		const struct item *it = m.content;
		switch (trindle_util_kind(&m)) {
		case TRINDLE_UTIL_MESSAGE:
			if (it->producer >= PRODUCERS || it->seq >= COUNT ||
			    seen[it->producer][it->seq]) {
				bad++;
			} else {
				seen[it->producer][it->seq] = true;
				late[it->producer] += it->seq != got[it->producer];
				got[it->producer]++;
				total++;
			}
			break;
		case TRINDLE_UTIL_CLOSED:
			ended++; /* a producer's input died: it ended */
			break;
		default:
			break;
		}
		trindle_util_release(m.content);
	}
	for (int p = 0; p < PRODUCERS; p++)
		printf("producer %d: %u messages, %s\n", p, got[p],
		       late[p] ? "out of order" : "in order");
	printf("%u producers ended; %u messages, %s\n", ended, total,
	       bad ? "some twice or unknown" : "each received once");
	trindle_util_release(shared);
	return ended == PRODUCERS && total == PRODUCERS * COUNT && !bad ? 0 : 1;
}
