/* SPDX-License-Identifier: MIT */
/*
 * graph_demo - a small pipeline for tests/scripts/check-graph.py, run with
 * TRINDLE_GRAPH set: main -> "stage 1" -> "stage 2" -> main ("back"), 20
 * messages, both stages ending by exit; and "loop", a pipe of two that
 * main fills and drains itself (full once).  Exits 0 when everything
 * arrived.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <trindle.h>

enum { N = 20 };

/* Closure notices main has seen (the stages' input pipes dying). */
static int closures;

static trindle_object_t next(trindle_pipe_t pipe)
{
	for (;;) {
		trindle_message_t req = { pipe, NULL }, m;
		trindle_mailbox_t out = { 1, &req }, in = { 1, &m };
		if (trindle_sync(&out, &in) != 0 || !in.count)
			return NULL;
		if (m.address == pipe && m.content)
			return m.content;
		closures += m.address && !m.content;
	}
}

static int move(trindle_pipe_t pipe, trindle_object_t o)
{
	trindle_message_t m[2] = { { pipe, o }, { NULL, o } };
	trindle_mailbox_t out = { 2, m };
	return trindle_sync(&out, NULL) == 0 && out.count == 0 ? 0 : -1;
}

/* Passes everything on to the pipe that came first; ends at an empty
 * segment, which it passes on too. */
static void stage(trindle_pipe_t input)
{
	trindle_pipe_t to = next(input);
	trindle_object_t o;

	while ((o = next(input)) != NULL) {
		size_t size = trindle_measure(o);
		move(to, o);
		if (!size)
			return;
	}
}

int main(void)
{
	trindle_pipe_t back = trindle_pipe(N + 1), loop = trindle_pipe(2);
	trindle_pipe_t s2 = trindle_launch(stage, 4, NULL, NULL);
	trindle_pipe_t s1 = trindle_launch(stage, 4, NULL, NULL);

	if (!back || !loop || !s1 || !s2)
		return 1;
	trindle_name(back, "back");
	trindle_name(loop, "loop");
	trindle_name(s1, "stage 1");
	trindle_name(s2, "stage 2");
	trindle_message_t give[2] = { { s2, back }, { s1, s2 } };
	trindle_mailbox_t out = { 2, give };
	if (trindle_sync(&out, NULL) != 0 || out.count)
		return 1;
	for (int i = 0; i <= N; i++) {
		/* The last one is empty: the stages' signal to end. */
		trindle_segment_t seg = trindle_allocate(1,
				&(trindle_buffer_t){ i < N ? 64 : 0, NULL });
		while (move(s1, seg) != 0)
			; /* full: stage 1 will make room */
		trindle_object_t o = next(back);
		if (!o || trindle_measure(o) != (i < N ? 64u : 0u))
			return 1;
		trindle_message_t rel = { NULL, o };
		trindle_mailbox_t r = { 1, &rel };
		trindle_sync(&r, NULL);
	}
	for (int i = 0; i < 2; i++)
		if (move(loop, trindle_allocate(0, NULL)) != 0)
			return 1;
	for (int i = 0; i < 2; i++)
		if (!next(loop))
			return 1;
	/* Wait for both stages to end: their input pipes die (main holds
	 * no other pipe that can die).  Bounded: 20 s. */
	for (int tries = 0; closures < 2 && tries < 2000; tries++) {
		trindle_message_t m[4];
		trindle_mailbox_t in = { 4, m };
		trindle_sync(NULL, &in);
		for (size_t i = 0; i < in.count; i++)
			closures += m[i].address && !m[i].content;
		if (closures < 2)
			nanosleep(&(struct timespec){ 0, 10000000 }, NULL);
	}
	return closures == 2 ? 0 : 1;
}
