/* SPDX-License-Identifier: MIT */
/*
 * graph.c - the process-and-pipe graph in Graphviz dot (see graph.h).
 *
 * Processes are boxes, named after their input pipe (a root: "main" or
 * "root"), with their state when the graph is written (at the end, or on
 * the dump signal); each pipe is an edge from each
 * process that ever held SEND on it (besides its creator) to its
 * receiver, labelled with its capacity, the messages it passed and its
 * high-water mark (the pipe's, on each of its edges); a pipe that was
 * full at some point is drawn bold red, one that never carried a message
 * dashed.
 * A pipe only its creator ever sent into is a loop on its receiver.
 */
#include "graph.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grow.h"
#include "pipe.h"
#include "trace.h"

static char *graph_path;
/* Writes of graph_path: at exit, and on the dump signal (monitor thread). */
static pthread_mutex_t write_lock = PTHREAD_MUTEX_INITIALIZER;

struct node {
	uint32_t track;
	const struct pipe_summary *input; /* a worker's input pipe, or NULL */
};

struct graph {
	struct pipe_summary *pipes;
	size_t npipes, cap;
};

static void gather(const struct pipe_summary *s, void *arg)
{
	struct graph *g = arg;
	struct pipe_summary *v = trindle__grow(g->pipes, &g->cap, g->npipes,
			sizeof(*v), 64);

	if (!v)
		return;
	g->pipes = v;
	g->pipes[g->npipes++] = *s;
}

static void put_quoted(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '\n') {
			fputs("\\n", f); /* dot's line break */
			continue;
		}
		if (*s == '"' || *s == '\\')
			fputc('\\', f);
		if ((unsigned char)*s >= 0x20)
			fputc(*s, f);
	}
	fputc('"', f);
}

static void track_name(uint32_t track, char *out, size_t size)
{
	char n[TRINDLE_NAME_MAX];

	trindle__trace_get_name(track, n);
	if (n[0])
		snprintf(out, size, "%s", n);
	else
		snprintf(out, size, "process #%u", track);
}

static const char *state_of(const struct pipe_summary *input)
{
	static const char *const ends[] = { "ended", "ended: exit",
		"ended: abort", "ended: fault" };

	if (!input)
		return "root";
	if (input->ended_by > 0 && input->ended_by < 4)
		return ends[input->ended_by];
	if (input->dead)
		return "released its input";
	return input->receiver_waits ? "waiting" : "running";
}

/* A box for the process with track, once (seen: those drawn). */
static void node(FILE *f, struct graph *g, uint32_t track, uint32_t *seen,
		size_t *nseen)
{
	for (size_t i = 0; i < *nseen; i++)
		if (seen[i] == track)
			return;
	seen[(*nseen)++] = track;
	const struct pipe_summary *input = NULL;
	for (size_t i = 0; i < g->npipes; i++)
		if (g->pipes[i].worker_input && g->pipes[i].serial == track)
			input = &g->pipes[i];
	char name[TRINDLE_NAME_MAX + 16], label[TRINDLE_NAME_MAX + 64];
	track_name(track, name, sizeof(name));
	snprintf(label, sizeof(label), "%s\n%s", name, state_of(input));
	fprintf(f, "  p%u [label=", track);
	put_quoted(f, label);
	fprintf(f, "%s];\n", input && input->ended_by == TRINDLE_END_FAULT ?
			", color=red" : "");
}

static void edge(FILE *f, const struct pipe_summary *s, uint32_t from)
{
	char label[TRINDLE_NAME_MAX + 96];
	bool full = s->high_water >= s->capacity;

	snprintf(label, sizeof(label), "%s%scap %zu, %llu sent, max %zu%s",
			s->name, s->name[0] ? "\n" : "", s->capacity,
			(unsigned long long)s->sent, s->high_water,
			full ? " (full)" : "");
	fprintf(f, "  p%u -> p%u [label=", from, s->receiver_track);
	put_quoted(f, label);
	fprintf(f, "%s%s];\n", full ? ", color=red, penwidth=2.5, fontcolor=red"
			: "", s->sent ? "" : ", style=dashed");
}

int trindle__graph_write(const char *path)
{
	struct graph g = { 0 };

	trindle__pipe_each_summary(gather, &g);
	FILE *f = fopen(path, "w");
	if (!f) {
		free(g.pipes);
		return -errno;
	}
	uint32_t *seen = malloc((2 * g.npipes * (PIPE_SENDERS_KEPT + 1) + 1) *
			sizeof(*seen));
	size_t nseen = 0;
	fputs("digraph trindle {\n  rankdir=LR;\n  node [shape=box];\n", f);
	for (size_t i = 0; seen && i < g.npipes; i++) {
		const struct pipe_summary *s = &g.pipes[i];
		/* A worker's input pipe that nobody else ever held is no
		 * edge, but its worker is still a node. */
		node(f, &g, s->receiver_track, seen, &nseen);
		for (size_t k = 0; k < s->nsenders; k++)
			node(f, &g, s->senders[k], seen, &nseen);
	}
	for (size_t i = 0; seen && i < g.npipes; i++) {
		const struct pipe_summary *s = &g.pipes[i];
		for (size_t k = 0; k < s->nsenders; k++)
			edge(f, s, s->senders[k]);
		if (!s->nsenders && s->sent)
			edge(f, s, s->receiver_track);
	}
	fputs("}\n", f);
	free(seen);
	free(g.pipes);
	return fclose(f) == 0 ? 0 : -errno;
}

int trindle__graph_write_started(void)
{
	if (!graph_path)
		return 0;
	pthread_mutex_lock(&write_lock);
	int err = trindle__graph_write(graph_path);
	pthread_mutex_unlock(&write_lock);
	return err;
}

static void write_at_exit(void)
{
	(void)trindle__graph_write_started();
}

void trindle__graph_start(const char *path)
{
	graph_path = strdup(path);
	if (!graph_path)
		return;
	trindle__pipe_keep_summaries();
	atexit(write_at_exit);
}
