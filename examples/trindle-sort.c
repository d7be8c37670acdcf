/* SPDX-License-Identifier: MIT */
/*
 * trindle-sort - a parallel line sort on libtrindle devices.
 *
 *   file source --chunks--> main --chunk--> worker i --sorted run--> main
 *   (line-aware)                                                      |
 *                     k-way merge of the runs --output segments--> file sink
 *
 * The file source cuts the file at line ends and moves each chunk to main,
 * which moves it to a worker with room.  A worker sorts the lines of its
 * chunk, writes them into a new segment, a *run*, its lines in order, each
 * ended by a newline, and moves the run back; the chunk goes back to the
 * source, which reads a later chunk into it.  When
 * every run is back, main merges them with a heap and moves the output, in
 * segments of a megabyte, to the file sink, which writes standard output
 * and gives each segment back to be filled again.
 *
 * The driver (the command line, starting the devices and the workers, the
 * loop that hands out chunks and takes replies, the output segments, and
 * shutting down) is shared with trindle-wc and trindle-grep: see
 * textjob.h.  This file holds what is sort's own: sorting a chunk in the
 * workers, and main's merge of the sorted runs.
 *
 * Output is that of LC_ALL=C sort FILE: lines ordered by their bytes
 * (unsigned), a line that is a prefix of another first, every line ended by
 * a newline.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <trindle.h>
#include <trindle/io.h>
#include <trindle/util.h>

#include "sort-lines.h"
#include "textjob.h"

/* ---- the worker ---- */

/* The sorted run of a chunk: its lines in order, each ended by a newline
 * (only the file's last line can lack one: then the run is a byte longer),
 * written into a new segment.  The chunk goes back to the source, which
 * reads a later chunk into it (or is released if the source cannot take
 * it), so chunks go round while the runs are kept for the merge.  NULL
 * when out of memory. */
static trindle_segment_t sort_chunk(trindle_segment_t chunk,
				    trindle_object_t source)
{
	size_t n = trindle_measure(chunk), count;
	const char *p = chunk;
	struct line *v = split(p, n, &count);
	char *run = NULL;
	if (v && sort_lines(v, count)) {
		size_t size = n + (p[n - 1] != '\n');
		run = trindle_allocate(1, &(trindle_buffer_t){ size, NULL });
	}
	for (size_t i = 0, at = 0; run && i < count; i++) {
		memcpy(run + at, v[i].p, v[i].n);
		at += v[i].n;
		run[at++] = '\n';
	}
	free(v);
	trindle_util_move_or_release(source, chunk);
	return run;
}

/* ---- main: collect the runs ---- */

struct sort_job {
	struct textjob job;     /* first: the hooks get &sort_job.job */
	trindle_segment_t *runs;
	size_t nruns, runs_cap;
};

static void keep_run(struct textjob *j, unsigned long seq,
		     trindle_segment_t run)
{
	struct sort_job *s = (struct sort_job *)j;
	if (s->nruns == s->runs_cap) {
		size_t cap = s->runs_cap ? s->runs_cap * 2 : 64;
		trindle_segment_t *r = realloc(s->runs, cap * sizeof *r);
		if (!r) {
			trindle_util_release(run);
			j->failed = 1;
			return;
		}
		s->runs = r;
		s->runs_cap = cap;
	}
	s->runs[s->nruns++] = run;
}

/* The source's report, in sort's words: "cannot read" when the file
 * would not open, "read failed" when reading it did. */
static void report(struct textjob *j, const trindle_io_report_t *r)
{
	fprintf(stderr, "trindle-sort: %s: %s: %s\n",
		strcmp(r->operation, "open") ? "read failed" : "cannot read",
		j->path ? j->path : "-", strerror(r->error));
}

/* ---- the merge (in main) ---- */

/* Merges the runs with a heap, into the output (see textjob_put()). */
static void merge(struct sort_job *s)
{
	struct cursor *h = malloc((s->nruns + 1) * sizeof *h);
	size_t n = 0;
	if (!h) {
		s->job.failed = 1;
		return;
	}
	for (size_t i = 0; i < s->nruns; i++) {
		h[n] = (struct cursor){ .line.p = s->runs[i],
					.end = (const char *)s->runs[i] +
					       trindle_measure(s->runs[i]) };
		n += (size_t)cursor_load(&h[n]);
	}
	for (size_t i = n; i-- > 0;)
		sift_down(h, n, i);
	while (n && !s->job.failed) {
		struct line *top = &h[0].line;
		textjob_put_short(&s->job, top->p, top->n + 1);
		top->p += top->n + 1;
		if (!cursor_load(&h[0]))
			h[0] = h[--n];
		sift_down(h, n, 0);
	}
	free(h);
}

/* ---- command line ---- */

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: trindle-sort [-j N] [--chunk BYTES] [FILE]\n"
		"Write the lines of FILE sorted by their bytes, like LC_ALL=C sort.\n"
		"With no FILE, or when FILE is -, read standard input.\n\n"
		"  -j, --jobs N      sort with N workers (default: the number of cores)\n"
		"      --chunk BYTES bytes per chunk (default %u)\n"
		"      --trace FILE  write a trace of the run to FILE (open it in\n"
		"                    ui.perfetto.dev), like TRINDLE_TRACE=FILE\n"
		"      --graph FILE  write the graph of processes and pipes to FILE\n"
		"                    (Graphviz dot), like TRINDLE_GRAPH=FILE\n"
		"      --progress    show progress on stderr once it takes over a second\n"
		"      --help        print this help and exit\n",
		TEXTJOB_CHUNK_DEFAULT);
}

static const struct textjob_tool sort_tool = {
	.name = "trindle-sort",
	.usage = usage,
	.fail_status = 2,
	.work = sort_chunk,
	.give_back = 1,
	.source_flags = TRINDLE_SOURCE_LINES,
	.writes_output = 1,
	.take_reply = keep_run,
	.report = report,
};

/* Lets go of the runs, many in one sync: the library then changes the
 * protection of their pages in one batch. */
static void release_runs(struct sort_job *s)
{
	trindle_message_t storage[64];
	trindle_util_batch_t b;

	trindle_util_batch_init(&b, storage, sizeof storage / sizeof storage[0]);
	for (size_t i = 0; i < s->nruns; i++) {
		if (b.count == b.capacity) {
			trindle_util_flush(&b, NULL);
			b.count = 0; /* nothing to do about a failure now */
		}
		trindle_util_add_release(&b, s->runs[i]);
	}
	trindle_util_flush(&b, NULL);
}

int main(int argc, char **argv)
{
	struct sort_job *s = calloc(1, sizeof *s);
	if (!s)
		return 2;
	struct textjob *j = &s->job;
	int at = textjob_parse(j, &sort_tool, argc, argv);
	if (at < 0 || textjob_file(j, argc, argv, at) < 0 ||
	    textjob_start(j) < 0) {
		free(s);
		return 2;
	}
	textjob_collect(j, NULL);
	if (!j->failed)
		merge(s);
	textjob_end_output(j);
	textjob_shut_down(j);
	release_runs(s);
	free(s->runs);
	int rc = j->failed ? 2 : 0;
	free(s);
	return rc;
}
