/* SPDX-License-Identifier: MIT */
/*
 * trindle-wc - a parallel wc (lines, words, bytes) on libtrindle devices.
 *
 *   file source --chunks--> main --chunk--> worker 0 --counts--+
 *   (line-aware)              |  (least busy) worker 1 --counts--+--> main
 *                             +---------------- ...              |
 *
 * The file source cuts the file at line ends, so no word is ever split
 * between two chunks, and moves each chunk to main.  Main moves it on to
 * the least busy worker (a move: no copy, the worker may even write it).
 * Each worker counts its chunk and moves back a small segment of counts on
 * a reply pipe of its own; main adds them up.  A worker never holds more
 * than QUEUE chunks, and main asks the source for a chunk only when some
 * worker has room, so the source waits on its full pipe and memory stays
 * bounded whatever the file size.
 *
 * Output is the same as coreutils wc in the C locale: whitespace is space,
 * \t, \n, \v, \f and \r; a word is a run of printable characters (other
 * bytes, such as control characters or bytes above 0x7e, neither start nor
 * end a word); the numbers are right-aligned to the width wc uses.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <trindle.h>
#include <trindle/io.h>

#define QUEUE 2          /* chunks a worker may hold at once */
#define MAX_WORKERS 256
#define CHUNK_DEFAULT (1u << 20)

/* ---- counting (runs in the workers) ---- */

struct counts {
	uint64_t lines, words, bytes;
};

enum { NEUTRAL, SPACE, PRINT };

/* The class of every byte in the C locale. */
static unsigned char byte_class[256];

static void init_classes(void)
{
	for (int c = 0; c < 256; c++)
		byte_class[c] = (c >= 0x21 && c <= 0x7e) ? PRINT : NEUTRAL;
	const char *ws = " \t\n\v\f\r";
	for (const char *p = ws; *p; p++)
		byte_class[(unsigned char)*p] = SPACE;
}

/* Counts a chunk that starts outside any word (it starts a line). */
static struct counts count(const unsigned char *p, size_t n)
{
	struct counts c = { 0, 0, n };
	int in_word = 0;

	for (size_t i = 0; i < n; i++) {
		int k = byte_class[p[i]];
		c.lines += p[i] == '\n';
		c.words += k == PRINT && !in_word;
		in_word = k == PRINT || (in_word && k == NEUTRAL);
	}
	return c;
}

/* The next object that came through pipe (NULL: nothing more can come). */
static trindle_object_t next_object(trindle_pipe_t pipe)
{
	for (;;) {
		trindle_message_t req = { pipe, NULL }, got;
		trindle_mailbox_t out = { 1, &req }, in = { 1, &got };
		if (trindle_sync(&out, &in) != 0 || in.count == 0)
			return NULL;
		if (got.address == pipe && got.content)
			return got.content;
	}
}

static void move(trindle_pipe_t pipe, trindle_object_t obj)
{
	trindle_message_t m[2] = { { pipe, obj }, { NULL, obj } };
	trindle_mailbox_t out = { 2, m };
	trindle_sync(&out, NULL);
}

static void release(trindle_object_t obj)
{
	trindle_message_t m = { NULL, obj };
	trindle_mailbox_t out = { 1, &m };
	trindle_sync(&out, NULL);
}

/* A worker: its first message is the pipe to reply on (sending a pipe
 * gives SEND on it); then chunks, until an empty segment says stop.  The
 * reply pipe has room for every chunk the worker may hold, so the move
 * of the counts cannot fail for a full pipe. */
static void wc_worker(trindle_pipe_t input)
{
	trindle_pipe_t reply = next_object(input);
	trindle_segment_t chunk;

	while (reply && (chunk = next_object(input)) && trindle_measure(chunk)) {
		struct counts c = count(chunk, trindle_measure(chunk));
		release(chunk);
		trindle_segment_t res = trindle_allocate(1,
				&(trindle_buffer_t){ sizeof c, &c });
		if (!res)
			trindle_abort(NULL);
		move(reply, res);
	}
	/* Returning ends the worker and releases what it holds (the stop
	 * marker, the reply pipe). */
}

/* ---- the pool (runs in main) ---- */

struct worker {
	trindle_pipe_t in, reply;
	unsigned busy;   /* chunks sent, counts not back yet */
	int ended;
};

struct job {
	trindle_pipe_t chunks, errp, source;
	struct worker w[MAX_WORKERS];
	unsigned n;
	int source_ended, source_closed, failed;
	struct counts total;
	const char *name; /* for messages */
};

static int start_workers(struct job *j)
{
	for (unsigned i = 0; i < j->n; i++) {
		struct worker *w = &j->w[i];
		w->reply = trindle_pipe(QUEUE);
		w->in = trindle_launch(wc_worker, QUEUE + 1, NULL, j->errp);
		if (!w->reply || !w->in)
			return -1;
		trindle_message_t m = { w->in, w->reply };
		trindle_mailbox_t out = { 1, &m };
		trindle_sync(&out, NULL);
		if (out.count)
			return -1;
	}
	return 0;
}

/* The worker with the most room, or NULL when all are full. */
static struct worker *least_busy(struct job *j)
{
	struct worker *best = NULL;
	for (unsigned i = 0; i < j->n; i++)
		if (j->w[i].busy < QUEUE && (!best || j->w[i].busy < best->busy))
			best = &j->w[i];
	return best;
}

static unsigned busy_total(const struct job *j)
{
	unsigned b = 0;
	for (unsigned i = 0; i < j->n; i++)
		b += j->w[i].busy;
	return b;
}

/* Prints what came on the err pipe: a device's report or a fault. */
static void report(struct job *j, trindle_segment_t seg)
{
	const trindle_io_report_t *r = seg;
	if (trindle_measure(seg) > sizeof *r && r->magic == TRINDLE_IO_REPORT_MAGIC)
		fprintf(stderr, "trindle-wc: %s: %s\n", j->name, strerror(r->error));
	else
		fprintf(stderr, "trindle-wc: a worker failed\n");
	j->failed = 1;
}

static void handle(struct job *j, const trindle_message_t *m)
{
	if (!m->content) { /* a closure notice: someone ended */
		for (unsigned i = 0; i < j->n; i++)
			if (m->address == j->w[i].in)
				j->w[i].ended = 1;
		j->source_closed |= m->address == j->source;
		return;
	}
	if (!m->address)
		return; /* we became sole holder of something: nothing to do */
	if (m->address == j->errp) {
		report(j, m->content);
	} else if (m->address == j->chunks) {
		j->source_ended = 1; /* chunks with data never get here */
	} else {
		for (unsigned i = 0; i < j->n; i++)
			if (m->address == j->w[i].reply) {
				const struct counts *c = m->content;
				j->total.lines += c->lines;
				j->total.words += c->words;
				j->total.bytes += c->bytes;
				j->w[i].busy--;
			}
	}
	release(m->content);
}

/* One message: from the err pipe, the source (when a worker has room), or
 * the reply pipe of a worker that owes counts.  Returns 0, or -1 when
 * nothing more can come. */
static int step(struct job *j)
{
	trindle_message_t req[MAX_WORKERS + 2], got;
	size_t k = 0;
	req[k++] = (trindle_message_t){ j->errp, NULL };
	struct worker *room = j->source_ended || !j->chunks ? NULL : least_busy(j);
	if (room)
		req[k++] = (trindle_message_t){ j->chunks, NULL };
	for (unsigned i = 0; i < j->n; i++)
		if (j->w[i].busy || !j->w[i].ended)
			req[k++] = (trindle_message_t){ j->w[i].reply, NULL };
	trindle_mailbox_t out = { k, req }, in = { 1, &got };
	if (trindle_sync(&out, &in) != 0 || in.count == 0)
		return -1;
	if (got.address == j->chunks && got.content &&
	    trindle_measure(got.content)) {
		room->busy++; /* it had room when we asked, and still has */
		move(room->in, got.content);
		return 0;
	}
	handle(j, &got);
	return 0;
}

static int all_ended(const struct job *j)
{
	for (unsigned i = 0; i < j->n; i++)
		if (!j->w[i].ended)
			return 0;
	return j->source_closed;
}

/* Stops the workers and waits until every process has ended, so nothing
 * is left running when main returns. */
static void shut_down(struct job *j)
{
	/* If we stop early, the source may be waiting on its full pipe:
	 * letting the pipe die tells it to stop. */
	release(j->chunks);
	j->chunks = NULL;
	for (unsigned i = 0; i < j->n; i++)
		if (j->w[i].in && !j->w[i].ended) {
			trindle_segment_t stop = trindle_allocate(0, NULL);
			move(j->w[i].in, stop);
		}
	while (!all_ended(j) && step(j) == 0)
		;
	for (unsigned i = 0; i < j->n; i++) {
		release(j->w[i].in);
		release(j->w[i].reply);
	}
	release(j->source);
	release(j->errp);
}

/* ---- output ---- */

/* wc's column width: the digits of the file size for a regular file, at
 * least 7 for anything else (its size says nothing), 1 on a failed stat. */
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
		CHUNK_DEFAULT);
}

static int parse(int argc, char **argv, unsigned *jobs, size_t *chunk,
		 const char **path)
{
	static const struct option opts[] = {
		{ "jobs", required_argument, NULL, 'j' },
		{ "chunk", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	*jobs = n > 0 ? (unsigned)n : 1;
	*chunk = CHUNK_DEFAULT;
	for (int c; (c = getopt_long(argc, argv, "j:", opts, NULL)) != -1;) {
		char *end;
		unsigned long v;
		switch (c) {
		case 'j':
		case 'c':
			v = strtoul(optarg, &end, 10);
			if (*end || v == 0 || (c == 'j' && v > MAX_WORKERS)) {
				fprintf(stderr, "trindle-wc: invalid %s '%s'\n",
					c == 'j' ? "worker count" : "chunk size", optarg);
				return 1;
			}
			if (c == 'j')
				*jobs = (unsigned)v;
			else
				*chunk = v;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return 1;
		}
	}
	if (argc - optind > 1) {
		fprintf(stderr, "trindle-wc: one FILE at most\n");
		return 1;
	}
	*path = optind < argc ? argv[optind] : NULL;
	return 0;
}

int main(int argc, char **argv)
{
	struct job *j = calloc(1, sizeof *j);
	size_t chunk;
	const char *path;
	if (!j || parse(argc, argv, &j->n, &chunk, &path))
		return 1;
	init_classes();
	j->name = path ? path : "standard input";
	int width = number_width(path && strcmp(path, "-") ? path : NULL);

	j->chunks = trindle_pipe(4);
	j->errp = trindle_pipe(MAX_WORKERS + 4);
	struct trindle_source_options so = { .chunk_bytes = chunk,
					     .flags = TRINDLE_SOURCE_LINES };
	if (!j->chunks || !j->errp || start_workers(j) ||
	    !(j->source = trindle_file_source(path, &so, j->chunks, j->errp))) {
		perror("trindle-wc: starting");
		return 1;
	}
	while (!j->failed && (!j->source_ended || busy_total(j)))
		if (step(j) < 0) {
			fprintf(stderr, "trindle-wc: the source ended early\n");
			j->failed = 1;
		}
	shut_down(j);
	int failed = j->failed;
	if (!failed) {
		printf("%*" PRIu64 " %*" PRIu64 " %*" PRIu64, width, j->total.lines,
		       width, j->total.words, width, j->total.bytes);
		printf(path ? " %s\n" : "\n", path);
	}
	free(j);
	return failed;
}
