/* SPDX-License-Identifier: MIT */
/*
 * trindle-sort - a parallel line sort on libtrindle devices.
 *
 *   file source --chunks--> main --chunk--> worker i --sorted run--> main
 *   (line-aware)                                                      |
 *                     k-way merge of the runs --output segments--> file sink
 *
 * The file source cuts the file at line ends and moves each chunk to main,
 * which moves it to the least busy worker.  A worker sorts the lines of its
 * chunk in place (the chunk was moved to it: it may write it) and moves it
 * back as a *run*, its lines in order, each ended by a newline.  When every run is back, main merges them with a heap and
 * moves the output, in segments of a megabyte, to the file sink, which
 * writes standard output and gives each segment back to be filled again.
 *
 * Output is that of LC_ALL=C sort FILE: lines ordered by their bytes
 * (unsigned), a line that is a prefix of another first, every line ended by
 * a newline.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <trindle.h>
#include <trindle/io.h>

#define QUEUE 2          /* chunks a worker may hold at once */
#define MAX_WORKERS 256
#define CHUNK_DEFAULT (4u << 20)
#define OUT_BYTES (1u << 20)  /* output segment size */

/* ---- lines and their order (used by workers and main) ---- */

struct line {
	uint64_t key;     /* the first 8 bytes, big-endian, zero-padded */
	const char *p;
	size_t n;         /* without the newline */
};

static uint64_t key_of(const char *p, size_t n)
{
	uint64_t k = 0;
	for (size_t i = 0; i < 8; i++)
		k = k << 8 | (i < n ? (unsigned char)p[i] : 0);
	return k;
}

/* Byte order, the shorter first when one is a prefix of the other.  Equal
 * keys say nothing (zero padding and NUL bytes look alike): compare all. */
static int line_cmp(const struct line *a, const struct line *b)
{
	if (a->key != b->key)
		return a->key < b->key ? -1 : 1;
	size_t n = a->n < b->n ? a->n : b->n;
	int r = memcmp(a->p, b->p, n);
	if (r)
		return r;
	return (a->n > b->n) - (a->n < b->n);
}

static int qsort_cmp(const void *a, const void *b)
{
	return line_cmp(a, b);
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

/* Splits a chunk into lines (a missing final newline is fine). */
static struct line *split(const char *p, size_t n, size_t *count)
{
	size_t cap = 1024, k = 0;
	struct line *v = malloc(cap * sizeof *v);
	for (const char *end = p + n; v && p < end;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
		if (k == cap) {
			struct line *w = realloc(v, (cap *= 2) * sizeof *v);
			if (!w)
				free(v);
			v = w;
			if (!v)
				break;
		}
		v[k++] = (struct line){ key_of(p, len), p, len };
		p += len + 1;
	}
	*count = k;
	return v;
}

/* Sorts the lines of a chunk in place: a copy of the chunk keeps the
 * lines while they are written back in order.  The chunk was moved to the
 * worker, so the worker may write it, and it becomes the run: no segment
 * is allocated or released, and no page protection changes. */
static int sort_in_place(char *p, size_t n)
{
	char *copy = malloc(n);
	size_t count;
	if (copy)
		memcpy(copy, p, n);
	struct line *v = copy ? split(copy, n, &count) : NULL;
	if (!v) {
		free(copy);
		return -1;
	}
	qsort(v, count, sizeof *v, qsort_cmp);
	for (size_t i = 0, at = 0; i < count; i++) {
		memcpy(p + at, v[i].p, v[i].n);
		at += v[i].n;
		p[at++] = '\n';
	}
	free(v);
	free(copy);
	return 0;
}

/* The sorted run of a chunk: its lines in order, each with a newline.
 * Only the file's last line can lack one: its chunk is copied into a
 * segment a byte longer. */
static trindle_segment_t sort_chunk(trindle_segment_t chunk)
{
	size_t n = trindle_measure(chunk);
	char *p = chunk;
	if (p[n - 1] != '\n') {
		char *run = trindle_allocate(2, (trindle_buffer_t[]){
				{ n, p }, { 1, "\n" } });
		release(chunk);
		p = run;
		n++;
	}
	if (p && sort_in_place(p, n) != 0) {
		release(p);
		p = NULL;
	}
	return p;
}

/* First message: the reply pipe.  Then chunks until an empty one; each
 * comes back sorted, as a run. */
static void sort_worker(trindle_pipe_t input)
{
	trindle_pipe_t reply = next_object(input);
	trindle_segment_t chunk;

	while (reply && (chunk = next_object(input)) && trindle_measure(chunk)) {
		trindle_segment_t run = sort_chunk(chunk);
		if (!run)
			trindle_abort(NULL);
		move(reply, run);
	}
}

/* ---- main: dispatch and collect ---- */

struct worker {
	trindle_pipe_t in, reply;
	unsigned busy;
	int ended;
};

struct job {
	trindle_pipe_t chunks, errp, source, sink, sink_out, back;
	struct worker w[MAX_WORKERS];
	unsigned n;
	trindle_segment_t *runs;
	size_t nruns, runs_cap;
	int source_ended, source_closed, sink_closed, failed;
	int marker_sent, result;
	const char *name;
};

static int start_workers(struct job *j)
{
	for (unsigned i = 0; i < j->n; i++) {
		struct worker *w = &j->w[i];
		w->reply = trindle_pipe(QUEUE);
		w->in = trindle_launch(sort_worker, QUEUE + 1, NULL, j->errp);
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
		if (strcmp(path, "-") == 0 && strcmp(r->operation, "write") == 0)
			fprintf(stderr, "trindle-sort: write failed: %s\n",
				strerror(r->error));
		else
			fprintf(stderr, "trindle-sort: cannot read: %s: %s\n",
				j->name, strerror(r->error));
	} else {
		fprintf(stderr, "trindle-sort: a worker failed\n");
	}
	j->failed = 1;
}

static int keep_run(struct job *j, trindle_segment_t run)
{
	if (j->nruns == j->runs_cap) {
		size_t cap = j->runs_cap ? j->runs_cap * 2 : 64;
		trindle_segment_t *r = realloc(j->runs, cap * sizeof *r);
		if (!r)
			return -1;
		j->runs = r;
		j->runs_cap = cap;
	}
	j->runs[j->nruns++] = run;
	return 0;
}

/* Handles one message: a chunk, a run, a notice, a report, a result. */
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
		room->busy++;
		move(room->in, m->content);
		return;
	}
	for (unsigned i = 0; i < j->n; i++)
		if (m->address == j->w[i].reply) {
			j->w[i].busy--;
			if (keep_run(j, m->content) == 0)
				return;
			j->failed = 1;
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
	if (j->chunks && !j->source_ended)
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

/* Moves seg to the sink, waiting while its pipe is full (and watching the
 * err pipe meanwhile: a sender cannot sleep until a pipe has room). */
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

/* ---- the merge (in main) ---- */

struct cursor {
	struct line line; /* the current line of this run */
	const char *end;
};

static int cursor_load(struct cursor *c)
{
	const char *p = c->line.p;
	if (p >= c->end)
		return 0;
	const char *nl = memchr(p, '\n', (size_t)(c->end - p));
	c->line.n = (size_t)(nl - p); /* runs end every line with '\n' */
	c->line.key = key_of(p, c->line.n);
	return 1;
}

static void sift_down(struct cursor *h, size_t n, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, m = i;
		if (l < n && line_cmp(&h[l].line, &h[m].line) < 0)
			m = l;
		if (l + 1 < n && line_cmp(&h[l + 1].line, &h[m].line) < 0)
			m = l + 1;
		if (m == i)
			return;
		struct cursor t = h[i];
		h[i] = h[m];
		h[m] = t;
		i = m;
	}
}

/* The output goes out in segments of exactly OUT_BYTES (lines may run
 * from one into the next: the sink writes a byte stream), which the sink
 * gives back once written, so the same few segments go round. */
struct output {
	unsigned char *seg; /* being filled, or NULL */
	size_t used;
};

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

static void put(struct job *j, struct output *o, const char *p, size_t n)
{
	while (n && !j->failed) {
		if (!o->seg && !(o->seg = empty_output(j))) {
			j->failed = 1;
			return;
		}
		size_t k = OUT_BYTES - o->used < n ? OUT_BYTES - o->used : n;
		memcpy(o->seg + o->used, p, k);
		o->used += k;
		p += k;
		n -= k;
		if (o->used == OUT_BYTES) {
			to_sink(j, o->seg);
			o->seg = NULL;
			o->used = 0;
		}
	}
}

/* The last, partly filled segment goes out at its exact size. */
static void put_end(struct job *j, struct output *o)
{
	if (!o->seg)
		return;
	trindle_segment_t fit = NULL;
	if (o->used && !j->failed)
		fit = trindle_allocate(1, &(trindle_buffer_t){ o->used, o->seg });
	release(o->seg);
	o->seg = NULL;
	if (fit)
		to_sink(j, fit);
	else if (o->used)
		j->failed = 1;
}

static void merge(struct job *j)
{
	struct cursor *h = malloc((j->nruns + 1) * sizeof *h);
	struct output o = { NULL, 0 };
	size_t n = 0;
	if (!h) {
		j->failed = 1;
		return;
	}
	for (size_t i = 0; i < j->nruns; i++) {
		h[n] = (struct cursor){ .line.p = j->runs[i],
					.end = (const char *)j->runs[i] +
					       trindle_measure(j->runs[i]) };
		n += (size_t)cursor_load(&h[n]);
	}
	for (size_t i = n; i-- > 0;)
		sift_down(h, n, i);
	while (n && !j->failed) {
		struct line *top = &h[0].line;
		put(j, &o, top->p, top->n + 1);
		top->p += top->n + 1;
		if (!cursor_load(&h[0]))
			h[0] = h[--n];
		sift_down(h, n, 0);
	}
	put_end(j, &o);
	free(h);
}

/* ---- the run ---- */

static void send_marker(struct job *j)
{
	j->marker_sent = 1;
	trindle_segment_t marker = trindle_allocate(0, NULL);
	if (marker)
		to_sink(j, marker);
}

static void run(struct job *j)
{
	while (!j->failed && (!j->source_ended || busy_total(j)))
		if (step(j, 0) < 0) {
			fprintf(stderr, "trindle-sort: the source ended early\n");
			j->failed = 1;
		}
	if (!j->failed)
		merge(j);
	if (!j->failed)
		send_marker(j);
	while (!j->failed && !j->result)
		if (step(j, 0) < 0)
			j->failed = 1;
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
	for (size_t i = 0; i < j->nruns; i++)
		release(j->runs[i]);
	free(j->runs);
	for (unsigned i = 0; i < j->n; i++) {
		release(j->w[i].in);
		release(j->w[i].reply);
	}
	release(j->source);
	release(j->sink);
	release(j->sink_out);
	release(j->back);
	release(j->errp);
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
				fprintf(stderr, "trindle-sort: invalid %s '%s'\n",
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
	if (argc - optind > 1) {
		fprintf(stderr, "trindle-sort: one FILE at most\n");
		return 2;
	}
	*path = optind < argc ? argv[optind] : NULL;
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
	j->name = path ? path : "-";

	/* Few chunks in flight: each is a few MiB of memory to touch. */
	j->chunks = trindle_pipe(2);
	j->errp = trindle_pipe(MAX_WORKERS + 4);
	j->sink_out = trindle_pipe(1);
	j->back = trindle_pipe(TRINDLE_SINK_QUEUE_DEFAULT);
	struct trindle_source_options so = { .chunk_bytes = chunk,
					     .in_flight = 2,
					     .flags = TRINDLE_SOURCE_LINES };
	struct trindle_sink_options ko = { .flags = TRINDLE_SINK_NO_FSYNC,
					   .give_back = j->back };
	if (!j->chunks || !j->errp || !j->sink_out || !j->back || start_workers(j) ||
	    !(j->sink = trindle_file_sink(NULL, &ko, j->sink_out, j->errp)) ||
	    !(j->source = trindle_file_source(path, &so, j->chunks, j->errp))) {
		perror("trindle-sort: starting");
		return 2;
	}
	run(j);
	shut_down(j);
	rc = j->failed ? 2 : 0;
	free(j);
	return rc;
}
