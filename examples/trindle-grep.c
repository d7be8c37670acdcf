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
 * Output is that of LC_ALL=C grep -F PATTERN FILE: every line holding one
 * of the patterns (PATTERN is split at newlines; an empty one matches every
 * line), in file order, each ended by a newline.  The exit status is 0
 * when a line matched, 1 when none did, 2 on error.  Unlike grep it does
 * not look for binary files: lines with NUL bytes are printed like others.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <trindle.h>
#include <trindle/io.h>

#define QUEUE 2            /* chunks a worker may hold at once */
#define MAX_WORKERS 256
#define WINDOW 1024        /* chunks between the oldest unwritten and newest */
#define CHUNK_DEFAULT (4u << 20)
#define OUT_BYTES (1u << 20)  /* output segment size */
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
	trindle_pipe_t reply = next_object(input);
	trindle_object_t source = reply ? next_object(input) : NULL;
	trindle_segment_t chunk;
	struct found f = { 0 };

	while (source && (chunk = next_object(input)) && trindle_measure(chunk)) {
		trindle_segment_t r = grep_chunk(chunk, trindle_measure(chunk), &f);
		if (try_move(source, chunk) != 0)
			release(chunk); /* the source has ended, or has no room */
		if (!r || try_move(reply, r) != 0)
			trindle_abort(NULL);
	}
	free(f.b);
}

/* ---- main: dispatch, reorder, write ---- */

struct worker {
	trindle_pipe_t in, reply;
	unsigned busy;
	unsigned long seq[QUEUE]; /* the chunks it holds, oldest first */
	int ended;
};

struct job {
	trindle_pipe_t chunks, errp, source, sink, sink_out, back;
	struct worker w[MAX_WORKERS];
	unsigned n;
	unsigned long next_seq;  /* number of the next chunk from the source */
	unsigned long next_out;  /* the next chunk to write, in file order */
	trindle_segment_t ready[WINDOW]; /* replies by seq % WINDOW */
	unsigned char have[WINDOW];
	char *line;              /* the line cut by the chunks, so far */
	size_t line_len, line_cap;
	unsigned char *out;      /* the output segment being filled */
	size_t out_used;
	int source_ended, source_closed, sink_closed, failed, matched;
	int marker_sent;         /* the sink was told to finish */
	int result;              /* the sink's result came */
	const char *name;
};

static int start_workers(struct job *j)
{
	for (unsigned i = 0; i < j->n; i++) {
		struct worker *w = &j->w[i];
		w->reply = trindle_pipe(QUEUE);
		w->in = trindle_launch(grep_worker, QUEUE + 2, NULL, j->errp);
		if (!w->reply || !w->in)
			return -1;
		/* A short file may be read already: its source has ended. */
		trindle_object_t give_back = j->source;
		if (!(trindle_access(j->source) & TRINDLE_ACCESS_SEND))
			give_back = trindle_allocate(0, NULL);
		trindle_message_t m[2] = { { w->in, w->reply }, { w->in, give_back } };
		trindle_mailbox_t out = { 2, m };
		trindle_sync(&out, NULL);
		if (give_back != j->source)
			release(give_back);
		if (out.count)
			return -1;
	}
	return 0;
}

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

static void report(struct job *j, trindle_segment_t seg)
{
	const trindle_io_report_t *r = seg;
	if (trindle_measure(seg) > sizeof *r && r->magic == TRINDLE_IO_REPORT_MAGIC) {
		const char *path = (const char *)seg + r->path_offset;
		fprintf(stderr, "trindle-grep: %s: %s\n",
			strcmp(path, "-") ? j->name : "(standard output)",
			strerror(r->error));
	} else {
		fprintf(stderr, "trindle-grep: a worker failed\n");
	}
	j->failed = 1;
}

static void take_reply(struct job *j, struct worker *w, trindle_segment_t seg)
{
	unsigned long seq = w->seq[0];
	memmove(w->seq, w->seq + 1, (QUEUE - 1) * sizeof w->seq[0]);
	w->busy--;
	j->ready[seq % WINDOW] = seg;
	j->have[seq % WINDOW] = 1;
}

/* Handles one message: a chunk, a reply, a notice, a report, a result. */
static void handle(struct job *j, const trindle_message_t *m, struct worker *room)
{
	if (!m->content) { /* closure notices */
		for (unsigned i = 0; i < j->n; i++)
			j->w[i].ended |= m->address == j->w[i].in;
		j->source_closed |= m->address == j->source;
		j->sink_closed |= m->address == j->sink;
		return;
	}
	if (!m->address)
		return;
	if (m->address == j->chunks && trindle_measure(m->content)) {
		room->seq[room->busy++] = j->next_seq++;
		move(room->in, m->content);
		return;
	}
	for (unsigned i = 0; i < j->n; i++)
		if (m->address == j->w[i].reply) {
			take_reply(j, &j->w[i], m->content);
			return;
		}
	if (m->address == j->errp)
		report(j, m->content);
	else if (m->address == j->sink_out)
		j->result = 1;
	else if (m->address == j->chunks)
		j->source_ended = 1;
	release(m->content);
}

/* Waits for one message (at most 200 us when wait_briefly) and handles
 * it.  Returns -1 when nothing more can come. */
static int step(struct job *j, int wait_briefly)
{
	trindle_message_t req[MAX_WORKERS + 3], got;
	size_t k = 0;
	req[k++] = (trindle_message_t){ j->errp, NULL };
	req[k++] = (trindle_message_t){ j->sink_out, NULL };
	struct worker *room = NULL;
	if (j->chunks && !j->source_ended && j->next_seq - j->next_out < WINDOW)
		room = least_busy(j);
	if (room)
		req[k++] = (trindle_message_t){ j->chunks, NULL };
	for (unsigned i = 0; i < j->n; i++)
		if (!j->w[i].ended)
			req[k++] = (trindle_message_t){ j->w[i].reply, NULL };
	trindle_mailbox_t out = { k, req }, in = { 1, &got };
	if (trindle_sync_timeout(&out, &in, wait_briefly ? 200000 : -1) != 0)
		return -1;
	if (in.count == 0)
		return wait_briefly ? 0 : -1;
	handle(j, &got, room);
	return 0;
}

/* ---- output: fixed-size segments that the sink gives back ---- */

/* Moves seg to the sink, waiting while its pipe is full (a sender cannot
 * sleep until a pipe has room: step() waits briefly meanwhile). */
static void to_sink(struct job *j, trindle_segment_t seg)
{
	while (try_move(j->sink, seg) != 0) {
		if (!(trindle_access(j->sink) & TRINDLE_ACCESS_SEND)) {
			release(seg);
			j->failed = 1; /* the sink is gone: its report says why */
			return;
		}
		step(j, 1);
	}
}

static unsigned char *empty_output(struct job *j)
{
	trindle_message_t req = { j->back, NULL }, got;
	trindle_mailbox_t out = { 1, &req }, in = { 1, &got };
	trindle_sync_timeout(&out, &in, 0);
	if (in.count && got.address == j->back && got.content) {
		if (trindle_measure(got.content) == OUT_BYTES &&
		    trindle_access(got.content) ==
		    (TRINDLE_ACCESS_READ | TRINDLE_ACCESS_WRITE))
			return got.content;
		release(got.content);
	}
	return trindle_allocate(1, &(trindle_buffer_t){ OUT_BYTES, NULL });
}

static void put(struct job *j, const char *p, size_t n)
{
	while (n && !j->failed) {
		if (!j->out && !(j->out = empty_output(j))) {
			j->failed = 1;
			return;
		}
		size_t k = OUT_BYTES - j->out_used < n ? OUT_BYTES - j->out_used : n;
		memcpy(j->out + j->out_used, p, k);
		j->out_used += k;
		p += k;
		n -= k;
		if (j->out_used == OUT_BYTES) {
			to_sink(j, j->out);
			j->out = NULL;
			j->out_used = 0;
		}
	}
}

/* The last, partly filled segment goes out at its exact size. */
static void put_end(struct job *j)
{
	if (!j->out)
		return;
	trindle_segment_t fit = NULL;
	if (j->out_used && !j->failed)
		fit = trindle_allocate(1, &(trindle_buffer_t){ j->out_used, j->out });
	release(j->out);
	j->out = NULL;
	if (fit)
		to_sink(j, fit);
	else if (j->out_used)
		j->failed = 1;
}

/* ---- lines cut by the chunks ---- */

static int line_add(struct job *j, const char *p, size_t n)
{
	if (j->line_len + n > j->line_cap) {
		size_t cap = (j->line_len + n) * 2;
		char *l = realloc(j->line, cap);
		if (!l)
			return -1;
		j->line = l;
		j->line_cap = cap;
	}
	memcpy(j->line + j->line_len, p, n);
	j->line_len += n;
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
static void line_done(struct job *j)
{
	if (line_matches(j->line, j->line_len)) {
		put(j, j->line, j->line_len);
		if (j->line_len && j->line[j->line_len - 1] != '\n')
			put(j, "\n", 1);
		j->matched = 1;
	}
	j->line_len = 0;
}

/* One reply, in file order: the first piece ends the line begun in the
 * chunks before; the last piece begins the next one. */
static void take_in_order(struct job *j, const struct reply *r)
{
	const char *head = (const char *)(r + 1);
	const char *tail = head + r->head, *lines = tail + r->tail;

	if (line_add(j, head, r->head) != 0) {
		j->failed = 1;
		return;
	}
	if (!r->has_newline)
		return; /* the whole chunk was the middle of one line */
	line_done(j);
	put(j, lines, r->lines);
	j->matched |= r->lines != 0;
	if (line_add(j, tail, r->tail) != 0)
		j->failed = 1;
}

/* Takes the replies that are next in file order. */
static void write_ready(struct job *j)
{
	while (!j->failed && j->have[j->next_out % WINDOW]) {
		unsigned slot = j->next_out % WINDOW;
		j->have[slot] = 0;
		j->next_out++;
		take_in_order(j, j->ready[slot]);
		release(j->ready[slot]);
	}
}

/* ---- the run ---- */

/* Tells the sink to finish, waiting while its pipe is full. */
static void send_marker(struct job *j)
{
	trindle_segment_t marker = trindle_allocate(0, NULL);
	j->marker_sent = 1;
	if (marker)
		to_sink(j, marker);
}

static int all_ended(const struct job *j)
{
	for (unsigned i = 0; i < j->n; i++)
		if (!j->w[i].ended)
			return 0;
	return j->source_closed && j->sink_closed;
}

static void shut_down(struct job *j)
{
	release(j->chunks); /* stops the source if it is still going */
	j->chunks = NULL;
	for (unsigned i = 0; i < j->n; i++)
		if (j->w[i].in && !j->w[i].ended)
			move(j->w[i].in, trindle_allocate(0, NULL));
	if (!j->sink_closed && !j->marker_sent)
		send_marker(j); /* after a failure: the sink stops too */
	while (!all_ended(j) && step(j, 0) == 0)
		;
	for (unsigned i = 0; i < WINDOW; i++)
		if (j->have[i])
			release(j->ready[i]);
	for (unsigned i = 0; i < j->n; i++) {
		release(j->w[i].in);
		release(j->w[i].reply);
	}
	release(j->out);
	release(j->source);
	release(j->sink);
	release(j->sink_out);
	release(j->back);
	release(j->errp);
	free(j->line);
}

static void run(struct job *j)
{
	while (!j->failed && (!j->source_ended || busy_total(j))) {
		if (step(j, 0) < 0) {
			fprintf(stderr, "trindle-grep: the source ended early\n");
			j->failed = 1;
		}
		write_ready(j);
	}
	if (!j->failed && j->line_len)
		line_done(j); /* the last line had no newline */
	put_end(j);
	if (!j->failed)
		send_marker(j);
	while (!j->failed && !j->result)
		if (step(j, 0) < 0)
			j->failed = 1;
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
				fprintf(stderr, "trindle-grep: invalid %s '%s'\n",
					c == 'j' ? "worker count" : "chunk size", optarg);
				return 2;
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
			return 2;
		}
	}
	if (argc - optind < 1 || argc - optind > 2) {
		usage(stderr);
		return 2;
	}
	if (set_patterns(argv[optind]) < 0) {
		fprintf(stderr, "trindle-grep: at most %d patterns\n", MAX_PATTERNS);
		return 2;
	}
	*path = optind + 1 < argc ? argv[optind + 1] : NULL;
	return 0;
}

int main(int argc, char **argv)
{
	struct job *j = calloc(1, sizeof *j);
	size_t chunk;
	const char *path;
	if (!j)
		return 2;
	int rc = parse(argc, argv, &j->n, &chunk, &path);
	if (rc)
		return rc;
	j->name = path && strcmp(path, "-") ? path : "(standard input)";

	/* Few chunks in flight: each is a few MiB of memory to touch. */
	j->chunks = trindle_pipe(2);
	j->errp = trindle_pipe(MAX_WORKERS + 4);
	j->sink_out = trindle_pipe(1);
	j->back = trindle_pipe(TRINDLE_SINK_QUEUE_DEFAULT);
	struct trindle_source_options so = { .chunk_bytes = chunk,
					     .in_flight = 2 };
	struct trindle_sink_options ko = { .flags = TRINDLE_SINK_NO_FSYNC,
					   .give_back = j->back };
	if (!j->chunks || !j->errp || !j->sink_out || !j->back ||
	    !(j->sink = trindle_file_sink(NULL, &ko, j->sink_out, j->errp)) ||
	    !(j->source = trindle_file_source(path, &so, j->chunks, j->errp)) ||
	    start_workers(j)) {
		perror("trindle-grep: starting");
		return 2;
	}
	run(j);
	shut_down(j);
	rc = j->failed ? 2 : j->matched ? 0 : 1;
	free(j);
	return rc;
}
