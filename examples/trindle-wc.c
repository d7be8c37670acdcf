/* SPDX-License-Identifier: MIT */
/*
 * trindle-wc - a parallel wc (lines, words, bytes) on libtrindle devices.
 *
 *   file source --chunk--> main --chunk--> worker i --counts--> main
 *        ^                                    |
 *        +------------ the chunk, given back -+
 *
 * The file source reads the file into fixed-size chunks and moves each to
 * main, which numbers it and moves it to a worker with room (a move: no
 * copy, and the worker may write it).  The worker counts the chunk, writes
 * the counts over the chunk's first bytes, and moves the chunk back to
 * main on a reply pipe of its own; main reads the counts and gives the
 * chunk's segment back to the source, which reads a later chunk into it.
 * So in the steady state no segment is allocated and no page protection
 * changes: the same few segments go round.
 *
 * A word may straddle two chunks.  So a worker counts as if its chunk
 * started outside a word and also reports the kind of the chunk's first
 * and last bytes that are not neutral; main, knowing the chunks' order,
 * takes one word off a chunk that continues a word begun before it.
 *
 * The driver (the command line, starting the source and the workers, the
 * loop that hands out chunks and takes replies, shutting down) is shared
 * with trindle-grep and trindle-sort: see textjob.h.  This file holds what
 * is wc's own: the worker's counting and main's joining of the counts.
 *
 * Output is the same as coreutils wc in the C locale: whitespace is space,
 * \t, \n, \v, \f and \r; a word is a run of printable characters; other
 * bytes (control characters, bytes above 0x7e) neither start nor end a word;
 * the numbers are right-aligned to the width wc uses.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <trindle.h>
#include <trindle/io.h>
#include <trindle/util.h>

#include "textjob.h"
#include "wc-count.h"

/* A worker's job: the reply is the chunk itself with the counts written
 * over its first bytes, or, for a chunk too short to hold them, a new
 * segment.  (Main gives the chunk back to the source.) */
static trindle_segment_t wc_chunk(trindle_segment_t chunk,
				  trindle_object_t source)
{
	(void)source;
	struct counts c = count(chunk, trindle_measure(chunk));
	if (trindle_measure(chunk) >= sizeof c) {
		memcpy(chunk, &c, sizeof c); /* moved to us: writable */
		return chunk;
	}
	trindle_util_release(chunk);
	return trindle_allocate(1, &(trindle_buffer_t){ sizeof c, &c });
}

/* ---- main: the counts of each chunk, joined in file order ---- */

struct wc_job {
	struct textjob job;       /* first: the hooks get &wc_job.job */
	struct counts *per_chunk; /* by chunk number, to join words */
	size_t cap;
};

/* Files the counts under the chunk's number, and gives the chunk back to
 * the source, which reads a later chunk into it (if the source has ended
 * or has no room, the chunk goes). */
static void take_counts(struct textjob *j, unsigned long seq,
			trindle_segment_t seg)
{
	struct wc_job *wc = (struct wc_job *)j;
	if (seq >= wc->cap) {
		size_t cap = wc->cap ? wc->cap * 2 : 1024;
		struct counts *c = realloc(wc->per_chunk, cap * sizeof *c);
		if (c) {
			/* Zero counts (all NEUTRAL) for chunks whose reply
			 * never comes, after a failure. */
			memset(c + wc->cap, 0, (cap - wc->cap) * sizeof *c);
			wc->per_chunk = c;
			wc->cap = cap;
		}
	}
	if (seq < wc->cap)
		memcpy(&wc->per_chunk[seq], seg, sizeof(struct counts));
	else
		j->failed = 1;
	trindle_util_move_or_release(j->source, seg);
}

/* The source's report: the file could not be read.  wc names standard
 * input "'standard input'" when no FILE was given, "-" when it was. */
static void report(struct textjob *j, const trindle_io_report_t *r)
{
	fprintf(stderr, "trindle-wc: %s: %s\n",
		j->path ? j->path : "'standard input'", strerror(r->error));
}

/* ---- output ---- */

/* wc's column width: the digits of the file size for a regular file, at
 * least 7 for anything else (its size says nothing), 1 on a failed stat
 * (a closed standard input counts as one: see main()). */
static int number_width(const char *path)
{
	struct stat st;
	int rc = path ? stat(path, &st) : fstat(STDIN_FILENO, &st);
	if (rc != 0)
		return 1;
	if (!S_ISREG(st.st_mode))
		return 7;
	int w = 1;
	for (uint64_t v = (uint64_t)st.st_size; v >= 10; v /= 10)
		w++;
	return w;
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: trindle-wc [-j N] [--chunk BYTES] [FILE]\n"
		"Print newline, word and byte counts for FILE, like wc in the C locale.\n"
		"With no FILE, or when FILE is -, read standard input.\n\n"
		"  -j, --jobs N      count with N workers (default: the number of cores)\n"
		"      --chunk BYTES bytes per chunk (default %u)\n"
		"      --help        print this help and exit\n",
		TEXTJOB_CHUNK_DEFAULT);
}

static const struct textjob_tool wc_tool = {
	.name = "trindle-wc",
	.usage = usage,
	.fail_status = 1,
	.work = wc_chunk,
	.take_reply = take_counts,
	.report = report,
};

int main(int argc, char **argv)
{
	struct wc_job *wc = calloc(1, sizeof *wc);
	if (!wc)
		return 1;
	struct textjob *j = &wc->job;
	int at = textjob_parse(j, &wc_tool, argc, argv);
	if (at < 0 || textjob_file(j, argc, argv, at) < 0) {
		free(wc);
		return 1;
	}
	const char *path = j->path;
	int from_stdin = !path || strcmp(path, "-") == 0;
	/* wc's fstat() fails on a closed standard input; ours was opened on
	 * /dev/null meanwhile (see textjob_parse()). */
	int width = from_stdin && (j->std_closed & 1u) ? 1
		    : number_width(from_stdin ? NULL : path);
	wc_init(); /* before any worker starts */
	if (textjob_start(j)) {
		free(wc);
		return 1;
	}
	textjob_collect(j, NULL);
	textjob_shut_down(j);
	int failed = j->failed;
	/* Like wc, a file that could not be read still gets its line: the
	 * counts of what was read (zeros for a directory). */
	if (!failed || j->input_failed) {
		struct counts t = wc_join(wc->per_chunk, wc->job.next_seq);
		printf("%*" PRIu64 " %*" PRIu64 " %*" PRIu64, width, t.lines,
		       width, t.words, width, t.bytes);
		printf(path ? " %s\n" : "\n", path);
	}
	if (textjob_finish_stdout(j) < 0)
		failed = 1;
	free(wc->per_chunk);
	free(wc);
	return failed ? 1 : 0;
}
