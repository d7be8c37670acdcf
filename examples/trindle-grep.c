/* SPDX-License-Identifier: MIT */
/*
 * trindle-grep - a parallel fixed-string grep on libtrindle devices.
 *
 *   file source --chunk--> main --chunk--> worker i --reply--> main
 *        ^                                                      |
 *        +------------ the reply's segment, given back ---------+
 *                          (in file order) --matching lines--> file sink
 *
 * The file source reads the file into fixed-size chunks and moves each to
 * main, which numbers it and moves it to a worker with room.  A chunk
 * mostly holds whole lines, but its first and last pieces belong to lines
 * that straddle the cuts.  The worker searches the whole lines in between
 * and writes its reply over the chunk itself (it was moved to the worker,
 * so the worker may write it): the first piece, the matching lines moved
 * down behind it, the last piece, and a short trailer.  It moves the chunk
 * back to main on a reply pipe of its own; once main has written the
 * reply out, it gives the segment back to the source, which reads a later
 * chunk into it.  So in the steady state no segment is allocated and no
 * page protection changes.
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
#include <trindle/util.h>

#include "grep-find.h"
#include "textjob.h"

#define WINDOW 1024        /* chunks between the oldest unwritten and newest */
#define MAX_PATTERNS 64

/* ---- matching (runs in the workers; set before any worker starts) ---- */

static struct grep_pattern patterns[MAX_PATTERNS];
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
		grep_pattern_init(&patterns[npatterns++], p, n);
		match_all |= n == 0;
		if (!nl)
			return 0;
		p = nl + 1;
	}
}

/* The earliest occurrence of any pattern in [p, end), or NULL.  next[i]
 * caches pattern i's next occurrence, so each pattern scans the chunk
 * once in all. */
static const char *earliest(const char *p, const char *end, const char **next)
{
	const char *best = NULL;
	for (size_t i = 0; i < npatterns; i++) {
		if (next[i] && next[i] < p)
			next[i] = grep_find(&patterns[i], p, end);
		if (next[i] && (!best || next[i] < best))
			best = next[i];
	}
	return best;
}

/*
 * Moves the matching lines of [p, p + n), whole lines each ended by a
 * newline, down to to, in order, as the search finds them; returns where
 * they end.  A line moves while it is still in the cache from the search,
 * and only ever down into bytes the search has passed: what it has yet to
 * read is never written.  (next[] may keep a stale pointer into a line
 * that moved; it is only compared, and searched again from p.)
 */
static char *move_matching_lines(char *p, size_t n, char *to)
{
	char *end = p + n;
	const char *next[MAX_PATTERNS];

	if (match_all) {
		memmove(to, p, n);
		return to + n;
	}
	for (size_t i = 0; i < npatterns; i++)
		next[i] = grep_find(&patterns[i], p, end);
	for (const char *hit; p < end && (hit = earliest(p, end, next));) {
		char *start = p + (hit - p);
		while (start > p && start[-1] != '\n')
			start--;
		char *nl = memchr(hit, '\n', (size_t)(end - hit));
		char *stop = nl ? nl + 1 : end;
		memmove(to, start, (size_t)(stop - start));
		to += stop - start;
		p = stop;
	}
	return to;
}

/* ---- the worker ---- */

/* A reply is laid out as [first piece][matching lines][last piece] and
 * ends with this trailer, in the segment's last bytes.  The first piece
 * runs up to and with the chunk's first newline (the whole chunk if it has
 * none), the last piece follows its last newline; main joins them with the
 * pieces of the neighbouring chunks. */
struct reply {
	uint64_t head, lines, tail;
	uint64_t has_newline;
};

/*
 * Searches the chunk and writes the reply over it (the chunk was moved to
 * the worker, so it may write it): the matching lines move down behind
 * the first piece as they are found, the last piece follows them, and the
 * trailer takes the chunk's last bytes.  So a reply needs no new segment
 * and no page protection changes.  When it would not fit (nearly every
 * line matches, or the chunk holds no newline), the reply is gathered
 * into a new segment instead, and the chunk goes back to the source (or
 * is released).  Returns the reply, or NULL when out of memory.
 */
static trindle_segment_t grep_chunk(trindle_segment_t chunk,
				    trindle_object_t source)
{
	char *p = chunk;
	size_t n = trindle_measure(chunk);
	struct reply r = { n, 0, 0, 0 };
	char *first = memchr(p, '\n', n), *tail = p + n;

	if (first) { /* else the chunk is all first piece, and nothing else */
		char *last = memrchr(p, '\n', n);
		r.has_newline = 1;
		r.head = (uint64_t)(first - p) + 1;
		r.tail = n - (size_t)(last - p) - 1;
		tail = last + 1;
		char *end = move_matching_lines(first + 1,
				(size_t)(last - first), first + 1);
		r.lines = (uint64_t)(end - (first + 1));
	}
	size_t used = (size_t)(r.head + r.lines + r.tail);
	if (used + sizeof r <= n) {
		memmove(p + r.head + r.lines, tail, r.tail);
		memcpy(p + n - sizeof r, &r, sizeof r);
		return p;
	}
	trindle_segment_t copy = trindle_allocate(3, (trindle_buffer_t[]){
		{ (size_t)(r.head + r.lines), p },
		{ (size_t)r.tail, tail },
		{ sizeof r, &r } });
	if (copy)
		trindle_util_move_or_release(source, p);
	return copy;
}

/* ---- main: the replies in file order ---- */

/* A reply waiting for its turn: its segment, or a copy of its bytes. */
struct held {
	const char *bytes;
	size_t size;
	trindle_segment_t seg; /* NULL: bytes is a copy, to free */
};

struct grep_job {
	struct textjob job;      /* first: the hooks get &grep_job.job */
	unsigned long next_out;  /* the next chunk to write, in file order */
	struct held ready[WINDOW]; /* replies by seq % WINDOW */
	unsigned char have[WINDOW];
	char *line;              /* the line cut by the chunks, so far */
	size_t line_len, line_cap;
	int matched;
};

static void give_back(struct textjob *j, trindle_segment_t seg);

/* The reply's trailer, in its last bytes. */
static struct reply trailer(const char *bytes, size_t size)
{
	struct reply r;
	memcpy(&r, bytes + size - sizeof r, sizeof r);
	return r;
}

/* A reply waits in the window until the replies before it are written.
 * One that came early is copied (its pieces and matching lines are a
 * small part of the chunk), so that its segment goes back to the source at
 * once instead of waiting for its turn: the source reads into chunks that
 * come back, and makes new ones only when none does. */
static void take_reply(struct textjob *j, unsigned long seq,
		       trindle_segment_t seg)
{
	struct grep_job *g = (struct grep_job *)j;
	struct held h = { seg, trindle_measure(seg), seg };
	if (seq != g->next_out) {
		struct reply r = trailer(seg, h.size);
		size_t used = (size_t)(r.head + r.lines + r.tail);
		char *copy = malloc(used + sizeof r);
		if (copy) {
			memcpy(copy, seg, used);
			memcpy(copy + used, &r, sizeof r);
			h = (struct held){ copy, used + sizeof r, NULL };
			give_back(j, seg);
		}
	}
	g->ready[seq % WINDOW] = h;
	g->have[seq % WINDOW] = 1;
}

/* Lets go of a reply once written (or never to be). */
static void drop_held(struct textjob *j, struct held *h)
{
	if (h->seg)
		give_back(j, h->seg);
	else
		free((void *)h->bytes);
}

/* No more chunks while WINDOW of them wait to be written. */
static int can_take(const struct textjob *j)
{
	const struct grep_job *g = (const struct grep_job *)j;
	return j->next_seq - g->next_out < WINDOW;
}

/* The source's report, in grep's words. */
static void report(struct textjob *j, const trindle_io_report_t *r)
{
	const char *input = "(standard input)";
	if (j->path && strcmp(j->path, "-"))
		input = j->path;
	fprintf(stderr, "trindle-grep: %s: %s\n", input, strerror(r->error));
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
		if (grep_find(&patterns[i], p, p + n))
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
static void take_in_order(struct grep_job *g, const struct held *h)
{
	struct reply rr = trailer(h->bytes, h->size), *r = &rr;
	const char *head = h->bytes;
	const char *lines = head + r->head, *tail = lines + r->lines;

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

/* A reply written over its chunk goes back to the source, which reads a
 * later chunk into it; other replies (and chunks the source cannot take
 * back: it has ended, or has no room) are released. */
static void give_back(struct textjob *j, trindle_segment_t seg)
{
	if (trindle_measure(seg) == j->chunk)
		trindle_util_move_or_release(j->source, seg);
	else
		trindle_util_release(seg);
}

/* Takes the replies that are next in file order (after each message). */
static void write_ready(struct textjob *j)
{
	struct grep_job *g = (struct grep_job *)j;
	while (!j->failed && g->have[g->next_out % WINDOW]) {
		unsigned slot = g->next_out % WINDOW;
		g->have[slot] = 0;
		g->next_out++;
		take_in_order(g, &g->ready[slot]);
		drop_held(j, &g->ready[slot]);
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
	.fail_status = 2,
	.work = grep_chunk,
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
			drop_held(&g->job, &g->ready[i]);
	free(g->line);
	int rc = g->job.failed ? 2 : g->matched ? 0 : 1;
	free(g);
	return rc;
}
