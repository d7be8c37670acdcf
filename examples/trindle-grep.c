/* SPDX-License-Identifier: MIT */
/*
 * trindle-grep - a parallel fixed-string grep on libtrindle devices.
 *
 *   file source --chunk--> main --chunk--> worker i --reply--> main
 *        ^                                    |                  |
 *        +------------ the chunk, given back -+                  |
 *                          (in file order) --matching lines--> file sink
 *
 * The file source reads the file into fixed-size chunks and moves each to
 * main, which numbers it and moves it to the least busy worker.  A chunk
 * mostly holds whole lines, but its first and last pieces belong to lines
 * that straddle the cuts.  The worker searches the whole lines in between,
 * then moves back, on a reply pipe of its own, one segment holding a short
 * header, the two edge pieces and the matching lines (trindle_allocate()
 * gathers them straight from the chunk), and gives the chunk back to the
 * source, which reads a later chunk into it: in the steady state no chunk
 * is allocated and no page protection changes.
 *
 * Each worker handles its chunks in order, so main knows which chunk a
 * reply is for.  Main takes the replies in file order, joins each line cut
 * in two (or more) pieces and searches it, and copies the output into
 * segments of a fixed size that go to the file sink; the sink writes them
 * to standard output and gives them back to be filled again.
 *
 * The driver (the command line, starting the devices and the workers, the
 * loop that hands out chunks and takes replies, the output segments, and
 * shutting down) is shared with trindle-wc and trindle-sort: see
 * textjob.h.  This file holds what is grep's own: the search in the
 * workers, and main putting the replies back in file order.
 *
 * Output is that of LC_ALL=C grep -F PATTERN FILE: every line holding one
 * of the patterns (PATTERN is split at newlines; an empty one matches every
 * line), in file order, each ended by a newline.  The exit status is 0
 * when a line matched, 1 when none did, 2 on error.  Unlike grep it does
 * not look for binary files: lines with NUL bytes are printed like others.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <trindle.h>
#include <trindle/io.h>

#include "textjob.h"

#define WINDOW 1024        /* chunks between the oldest unwritten and newest */
#define MAX_PATTERNS 64

/* ---- matching (runs in the workers; set before any worker starts) ---- */

static struct {
	const char *p;
	size_t n;
} patterns[MAX_PATTERNS];
static size_t npatterns;
static int match_all; /* an empty pattern matches every line */

/* Splits the PATTERN argument at newlines, as grep -F does. */
static int set_patterns(const char *arg)
{
	for (const char *p = arg;;) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);
		if (npatterns == MAX_PATTERNS)
			return -1;
		patterns[npatterns].p = p;
		patterns[npatterns++].n = n;
		match_all |= n == 0;
		if (!nl)
			return 0;
		p = nl + 1;
	}
}

/* The ranges of the matching lines of a chunk, as allocation buffers. */
struct found {
	trindle_buffer_t *b;
	size_t count, cap;
};

static int add(struct found *f, const void *p, size_t n)
{
	if (f->count == f->cap) {
		size_t cap = f->cap ? f->cap * 2 : 256;
		trindle_buffer_t *b = realloc(f->b, cap * sizeof *b);
		if (!b)
			return -1;
		f->b = b;
		f->cap = cap;
	}
	f->b[f->count++] = (trindle_buffer_t){ n, p };
	return 0;
}

/* Adds the line that holds hit (p is a line start at or before it); a
 * last line without a newline gets one.  Returns where the next line
 * starts. */
static const char *add_line(struct found *f, const char *p, const char *hit,
			    const char *end, int *err)
{
	const char *start = hit;
	while (start > p && start[-1] != '\n')
		start--;
	const char *nl = memchr(hit, '\n', (size_t)(end - hit));
	const char *stop = nl ? nl + 1 : end;
	*err |= add(f, start, (size_t)(stop - start));
	if (!nl)
		*err |= add(f, "\n", 1);
	return stop;
}

/* The earliest occurrence of any pattern in [p, end), or NULL.  next[i]
 * caches pattern i's next occurrence, so each pattern scans the chunk
 * once in all. */
static const char *earliest(const char *p, const char *end, const char **next)
{
	const char *best = NULL;
	for (size_t i = 0; i < npatterns; i++) {
		if (next[i] && next[i] < p)
			next[i] = memmem(p, (size_t)(end - p), patterns[i].p,
					 patterns[i].n);
		if (next[i] && (!best || next[i] < best))
			best = next[i];
	}
	return best;
}

static int find_lines(const char *p, size_t n, struct found *f)
{
	const char *end = p + n, *next[MAX_PATTERNS];
	int err = 0;

	if (match_all) {
		err |= add(f, p, n);
		if (n && end[-1] != '\n')
			err |= add(f, "\n", 1);
		return err;
	}
	for (size_t i = 0; i < npatterns; i++)
		next[i] = memmem(p, n, patterns[i].p, patterns[i].n);
	for (const char *hit; p < end && (hit = earliest(p, end, next));)
		p = add_line(f, p, hit, end, &err);
	return err;
}

/* ---- the worker ---- */

/* A reply: this header, then the chunk's first piece (up to and with its
 * first newline, or the whole chunk if it has none), its last piece (after
 * its last newline), and the matching whole lines in between. */
struct reply {
	uint64_t head, tail, lines;
	uint64_t has_newline;
};

/* The reply for one chunk, gathered by trindle_allocate() from buffers:
 * [0] the header, [1] the first piece, [2] the last piece, [3...] the
 * matching lines.  The header is filled in last (the buffer points to r). */
static trindle_segment_t grep_chunk(const char *p, size_t n, struct found *f)
{
	struct reply r = { n, 0, 0, 0 };
	const char *first = memchr(p, '\n', n);

	f->count = 0;
	if (add(f, &r, sizeof r) || add(f, p, n) || add(f, p, 0))
		return NULL;
	if (first) { /* else the chunk is all first piece, and nothing else */
		const char *last = memrchr(p, '\n', n);
		r.has_newline = 1;
		r.head = (uint64_t)(first - p) + 1;
		r.tail = n - (size_t)(last - p) - 1;
		f->b[1].bytes = r.head;
		f->b[2] = (trindle_buffer_t){ r.tail, last + 1 };
		if (find_lines(first + 1, (size_t)(last - first), f))
			return NULL;
		for (size_t i = 3; i < f->count; i++)
			r.lines += f->b[i].bytes;
	}
	return trindle_allocate(f->count, f->b);
}

/* First messages: the reply pipe, then the source's input pipe (or an
 * empty segment if the source had already ended).  Then chunks until an
 * empty one; each gets one reply and goes back to the source. */
static void grep_worker(trindle_pipe_t input)
{
	trindle_pipe_t reply = textjob_next_object(input);
	trindle_object_t source = reply ? textjob_next_object(input) : NULL;
	trindle_segment_t chunk;
	struct found f = { 0 };

	while (source && (chunk = textjob_next_object(input)) &&
	       trindle_measure(chunk)) {
		trindle_segment_t r = grep_chunk(chunk, trindle_measure(chunk), &f);
		/* Back to the source, unless it has ended or has no room. */
		if (textjob_try_move(source, chunk) != 0)
			textjob_release(chunk);
		if (!r || textjob_try_move(reply, r) != 0)
			trindle_abort(NULL);
	}
	free(f.b);
}

/* ---- main: the replies in file order ---- */

struct grep_job {
	struct textjob job;      /* first: the hooks get &grep_job.job */
	unsigned long next_out;  /* the next chunk to write, in file order */
	trindle_segment_t ready[WINDOW]; /* replies by seq % WINDOW */
	unsigned char have[WINDOW];
	char *line;              /* the line cut by the chunks, so far */
	size_t line_len, line_cap;
	int matched;
};

/* A reply waits in the window until the replies before it are written. */
static void take_reply(struct textjob *j, unsigned long seq,
		       trindle_segment_t seg)
{
	struct grep_job *g = (struct grep_job *)j;
	g->ready[seq % WINDOW] = seg;
	g->have[seq % WINDOW] = 1;
}

/* No more chunks while WINDOW of them wait to be written. */
static int can_take(const struct textjob *j)
{
	const struct grep_job *g = (const struct grep_job *)j;
	return j->next_seq - g->next_out < WINDOW;
}

static void report(struct textjob *j, const trindle_io_report_t *r,
		   const char *path)
{
	const char *input = "(standard input)";
	if (j->path && strcmp(j->path, "-"))
		input = j->path;
	fprintf(stderr, "trindle-grep: %s: %s\n",
		strcmp(path, "-") ? input : "(standard output)",
		strerror(r->error));
}

/* ---- lines cut by the chunks ---- */

static int line_add(struct grep_job *g, const char *p, size_t n)
{
	if (g->line_len + n > g->line_cap) {
		size_t cap = (g->line_len + n) * 2;
		char *l = realloc(g->line, cap);
		if (!l)
			return -1;
		g->line = l;
		g->line_cap = cap;
	}
	memcpy(g->line + g->line_len, p, n);
	g->line_len += n;
	return 0;
}

static int line_matches(const char *p, size_t n)
{
	if (match_all)
		return 1;
	for (size_t i = 0; i < npatterns; i++)
		if (memmem(p, n, patterns[i].p, patterns[i].n))
			return 1;
	return 0;
}

/* Writes the line built so far if it matches ('\n' included or added). */
static void line_done(struct grep_job *g)
{
	if (line_matches(g->line, g->line_len)) {
		textjob_put(&g->job, g->line, g->line_len);
		if (g->line_len && g->line[g->line_len - 1] != '\n')
			textjob_put(&g->job, "\n", 1);
		g->matched = 1;
	}
	g->line_len = 0;
}

/* One reply, in file order: the first piece ends the line begun in the
 * chunks before; the last piece begins the next one. */
static void take_in_order(struct grep_job *g, const struct reply *r)
{
	const char *head = (const char *)(r + 1);
	const char *tail = head + r->head, *lines = tail + r->tail;

	if (line_add(g, head, r->head) != 0) {
		g->job.failed = 1;
		return;
	}
	if (!r->has_newline)
		return; /* the whole chunk was the middle of one line */
	line_done(g);
	textjob_put(&g->job, lines, r->lines);
	g->matched |= r->lines != 0;
	if (line_add(g, tail, r->tail) != 0)
		g->job.failed = 1;
}

/* Takes the replies that are next in file order (after each message). */
static void write_ready(struct textjob *j)
{
	struct grep_job *g = (struct grep_job *)j;
	while (!j->failed && g->have[g->next_out % WINDOW]) {
		unsigned slot = g->next_out % WINDOW;
		g->have[slot] = 0;
		g->next_out++;
		take_in_order(g, g->ready[slot]);
		textjob_release(g->ready[slot]);
	}
}

/* ---- the run ---- */

static void run(struct grep_job *g)
{
	textjob_collect(&g->job, write_ready);
	if (!g->job.failed && g->line_len)
		line_done(g); /* the last line had no newline */
	textjob_end_output(&g->job);
}

/* ---- command line ---- */

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: trindle-grep [-j N] [--chunk BYTES] PATTERN [FILE]\n"
		"Print the lines of FILE that contain PATTERN, a fixed string, like\n"
		"LC_ALL=C grep -F.  PATTERN may hold several strings, one per line.\n"
		"With no FILE, or when FILE is -, read standard input.\n\n"
		"  -j, --jobs N      search with N workers (default: the number of cores)\n"
		"      --chunk BYTES bytes per chunk (default %u)\n"
		"      --help        print this help and exit\n\n"
		"Exit status: 0 if a line matched, 1 if none did, 2 on error.\n",
		TEXTJOB_CHUNK_DEFAULT);
}

static const struct textjob_tool grep_tool = {
	.name = "trindle-grep",
	.usage = usage,
	.worker = grep_worker,
	.give_back = 1,
	.writes_output = 1,
	.take_reply = take_reply,
	.report = report,
	.can_take = can_take,
};

/* PATTERN [FILE] after the options. */
static int parse(struct textjob *j, int argc, char **argv)
{
	int at = textjob_parse(j, &grep_tool, argc, argv);
	if (at < 0)
		return -1;
	if (argc - at < 1 || argc - at > 2) {
		usage(stderr);
		return -1;
	}
	if (set_patterns(argv[at]) < 0) {
		fprintf(stderr, "trindle-grep: at most %d patterns\n", MAX_PATTERNS);
		return -1;
	}
	j->path = at + 1 < argc ? argv[at + 1] : NULL;
	return 0;
}

int main(int argc, char **argv)
{
	struct grep_job *g = calloc(1, sizeof *g);
	if (!g)
		return 2;
	if (parse(&g->job, argc, argv) < 0 || textjob_start(&g->job) < 0) {
		free(g);
		return 2;
	}
	run(g);
	textjob_shut_down(&g->job);
	for (unsigned i = 0; i < WINDOW; i++)
		if (g->have[i])
			textjob_release(g->ready[i]);
	free(g->line);
	int rc = g->job.failed ? 2 : g->matched ? 0 : 1;
	free(g);
	return rc;
}
