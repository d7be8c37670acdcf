/* SPDX-License-Identifier: MIT */
/*
 * trindle-wc - a parallel wc (lines, words, bytes) on libtrindle devices.
 *
 *   file source --chunk--> main --chunk--> worker i --counts--> main
 *        ^                                    |
 *        +------------ the chunk, given back -+
 *
 * The file source reads the file into fixed-size chunks and moves each to
 * main, which numbers it and moves it to the least busy worker (a move: no
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
 * A worker never holds more than QUEUE chunks and main asks the source for
 * a chunk only when some worker has room, so the source waits on its full
 * pipe and memory stays bounded whatever the file size.
 *
 * Output is the same as coreutils wc in the C locale: whitespace is space,
 * \t, \n, \v, \f and \r; a word is a run of printable characters; other
 * bytes (control characters, bytes above 0x7e) neither start nor end a word;
 * the numbers are right-aligned to the width wc uses.
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
#define CHUNK_DEFAULT (4u << 20)

/* ---- counting (runs in the workers) ---- */

enum { NEUTRAL, SPACE, PRINT };

/* What a worker reports about one chunk.  words counts the words that
 * start in the chunk if it starts outside a word; first and last are the
 * kinds of its first and last bytes that are not NEUTRAL (NEUTRAL if
 * there are none). */
struct counts {
	uint64_t lines, words, bytes;
	int first, last;
};

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

static struct counts count(const unsigned char *p, size_t n)
{
	struct counts c = { 0, 0, n, NEUTRAL, NEUTRAL };
	int in_word = 0;

	for (size_t i = 0; i < n; i++) {
		int k = byte_class[p[i]];
		c.lines += p[i] == '\n';
		c.words += k == PRINT && !in_word;
		in_word = k == PRINT || (in_word && k == NEUTRAL);
	}
	for (size_t i = 0; i < n && c.first == NEUTRAL; i++)
		c.first = byte_class[p[i]];
	for (size_t i = n; i-- > 0 && c.last == NEUTRAL;)
		c.last = byte_class[p[i]];
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

static int try_move(trindle_pipe_t pipe, trindle_object_t obj)
{
	trindle_message_t m[2] = { { pipe, obj }, { NULL, obj } };
	trindle_mailbox_t out = { 2, m };
	trindle_sync(&out, NULL);
	return out.count ? -1 : 0;
}

static void release(trindle_object_t obj)
{
	trindle_message_t m = { NULL, obj };
	trindle_mailbox_t out = { 1, &m };
	trindle_sync(&out, NULL);
}

/* A worker: its first message is the pipe to reply on (sending a pipe
 * gives SEND on it); then chunks, until an empty segment says stop.  The
 * reply is the chunk itself with the counts written over its first bytes,
 * or, for a chunk too short to hold them, a new segment.  The reply pipe
 * has room for every chunk the worker may hold, so the move cannot fail
 * for a full pipe. */
static void wc_worker(trindle_pipe_t input)
{
	trindle_pipe_t reply = next_object(input);
	trindle_segment_t chunk;

	while (reply && (chunk = next_object(input)) && trindle_measure(chunk)) {
		struct counts c = count(chunk, trindle_measure(chunk));
		trindle_segment_t res = chunk;
		if (trindle_measure(chunk) >= sizeof c) {
			memcpy(chunk, &c, sizeof c); /* moved to us: writable */
		} else {
			release(chunk);
			res = trindle_allocate(1, &(trindle_buffer_t){ sizeof c, &c });
		}
		if (!res || try_move(reply, res) != 0)
			trindle_abort(NULL);
	}
	/* Returning ends the worker and releases what it holds (the stop
	 * marker, the reply pipe). */
}

/* ---- the pool (runs in main) ---- */

struct worker {
	trindle_pipe_t in, reply;
	unsigned busy;            /* chunks sent, counts not back yet */
	unsigned long seq[QUEUE]; /* the chunks it holds, oldest first */
	int ended;
};

struct job {
	trindle_pipe_t chunks, errp, source;
	struct worker w[MAX_WORKERS];
	unsigned n;
	unsigned long next_seq;
	struct counts *per_chunk; /* by chunk number, to join words */
	size_t cap;
	int source_ended, source_closed, failed;
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

/* Files the counts of a worker's oldest chunk under its number. */
static void take_counts(struct job *j, struct worker *w, trindle_segment_t seg)
{
	unsigned long seq = w->seq[0];
	memmove(w->seq, w->seq + 1, (QUEUE - 1) * sizeof w->seq[0]);
	w->busy--;
	if (seq >= j->cap) {
		size_t cap = j->cap ? j->cap * 2 : 1024;
		struct counts *c = realloc(j->per_chunk, cap * sizeof *c);
		if (!c) {
			j->failed = 1;
			return;
		}
		j->per_chunk = c;
		j->cap = cap;
	}
	memcpy(&j->per_chunk[seq], seg, sizeof(struct counts));
}

static void handle(struct job *j, const trindle_message_t *m, struct worker *room)
{
	if (!m->content) { /* a closure notice: someone ended */
		for (unsigned i = 0; i < j->n; i++)
			j->w[i].ended |= m->address == j->w[i].in;
		j->source_closed |= m->address == j->source;
		return;
	}
	if (!m->address)
		return; /* we became sole holder of something: nothing to do */
	if (m->address == j->chunks && trindle_measure(m->content)) {
		room->seq[room->busy++] = j->next_seq++;
		if (try_move(room->in, m->content) != 0)
			j->failed = 1; /* it had room when we asked: cannot be */
		return;
	}
	for (unsigned i = 0; i < j->n; i++)
		if (m->address == j->w[i].reply) {
			take_counts(j, &j->w[i], m->content);
			/* The source reuses a chunk of its size; if it has ended
			 * or has no room, let the chunk go. */
			if (try_move(j->source, m->content) == 0)
				return;
		}
	if (m->address == j->errp)
		report(j, m->content);
	else if (m->address == j->chunks)
		j->source_ended = 1;
	release(m->content);
}

/* One message: from the err pipe, the source (when a worker has room), or
 * a worker's reply pipe.  Returns 0, or -1 when nothing more can come. */
static int step(struct job *j)
{
	trindle_message_t req[MAX_WORKERS + 2], got;
	size_t k = 0;
	req[k++] = (trindle_message_t){ j->errp, NULL };
	struct worker *room = j->source_ended || !j->chunks ? NULL : least_busy(j);
	if (room)
		req[k++] = (trindle_message_t){ j->chunks, NULL };
	for (unsigned i = 0; i < j->n; i++)
		if (!j->w[i].ended)
			req[k++] = (trindle_message_t){ j->w[i].reply, NULL };
	trindle_mailbox_t out = { k, req }, in = { 1, &got };
	if (trindle_sync(&out, &in) != 0 || in.count == 0)
		return -1;
	handle(j, &got, room);
	return 0;
}

/* Adds up the chunks in file order, joining words across chunks. */
static struct counts total(const struct job *j)
{
	struct counts t = { 0, 0, 0, NEUTRAL, NEUTRAL };
	int in_word = 0;
	for (unsigned long i = 0; i < j->next_seq; i++) {
		const struct counts *c = &j->per_chunk[i];
		t.lines += c->lines;
		t.bytes += c->bytes;
		t.words += c->words - (in_word && c->first == PRINT);
		if (c->last != NEUTRAL) /* all neutral: the state goes through */
			in_word = c->last == PRINT;
	}
	return t;
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
			if (try_move(j->w[i].in, stop) != 0)
				release(stop);
		}
	while (!all_ended(j) && step(j) == 0)
		;
	for (unsigned i = 0; i < j->n; i++) {
		release(j->w[i].in);
		release(j->w[i].reply);
	}
	release(j->source);
	release(j->errp);
	free(j->per_chunk);
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

	/* Few chunks in flight: each is a few MiB of memory to touch. */
	j->chunks = trindle_pipe(2);
	j->errp = trindle_pipe(MAX_WORKERS + 4);
	struct trindle_source_options so = { .chunk_bytes = chunk,
					     .in_flight = 2 };
	if (!j->chunks || !j->errp ||
	    !(j->source = trindle_file_source(path, &so, j->chunks, j->errp)) ||
	    start_workers(j)) {
		perror("trindle-wc: starting");
		return 1;
	}
	while (!j->failed && (!j->source_ended || busy_total(j)))
		if (step(j) < 0) {
			fprintf(stderr, "trindle-wc: the source ended early\n");
			j->failed = 1;
		}
	struct counts t = total(j);
	shut_down(j);
	int failed = j->failed;
	if (!failed) {
		printf("%*" PRIu64 " %*" PRIu64 " %*" PRIu64, width, t.lines,
		       width, t.words, width, t.bytes);
		printf(path ? " %s\n" : "\n", path);
	}
	free(j);
	return failed;
}
