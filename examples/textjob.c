/* SPDX-License-Identifier: MIT */
/*
 * textjob.c - the driver of the text tools; textjob.h says what it does.
 */
#include "textjob.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- receiving ---- */


/* ---- command line ---- */

/* See textjob_parse(): fds 0-2 that are closed get /dev/null, opened so
 * that using them fails with EBADF.  In order, so each open() takes the
 * lowest free number, the one being filled. */
static void open_closed_std(struct textjob *j)
{
	for (int fd = STDIN_FILENO; fd <= STDERR_FILENO; fd++) {
		if (fcntl(fd, F_GETFD) >= 0 || errno != EBADF)
			continue;
		int got = open("/dev/null", fd == STDIN_FILENO ? O_WRONLY
							       : O_RDONLY);
		if (got != fd) { /* no /dev/null: nothing sensible can run */
			fprintf(stderr, "%s: cannot open /dev/null for a closed "
				"standard descriptor: %s\n", j->tool->name,
				strerror(errno));
			exit(j->tool->fail_status);
		}
		j->std_closed |= 1u << fd;
	}
}

/* The value of -j or --chunk: digits only, from 1 to max.  Returns it, or
 * 0 after a message. */
static unsigned long long option_value(const struct textjob_tool *t,
		const char *what, const char *arg, unsigned long long max)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(arg, &end, 10);
	if (*arg < '0' || *arg > '9' || *end || errno || v == 0 || v > max) {
		fprintf(stderr, "%s: invalid %s '%s' (1 to %llu)\n"
			"Try '%s --help' for more information.\n",
			t->name, what, arg, max, t->name);
		return 0;
	}
	return v;
}

int textjob_finish_stdout(const struct textjob *j)
{
	if (fflush(stdout) == 0 && !ferror(stdout))
		return 0;
	fprintf(stderr, "%s: write error: %s\n", j->tool->name,
		strerror(errno));
	return -1;
}

int textjob_observe(const char *tool, int option, const char *file)
{
	if (option == 'T') {
		if (trindle_trace_start(file, 0) == 0)
			return 0;
		fprintf(stderr, "%s: --trace %s: %s\n", tool, file,
			strerror(errno));
		return -1;
	}
	/* The library reads TRINDLE_GRAPH when it starts, at its first
	 * call: options are parsed before that. */
	if (setenv("TRINDLE_GRAPH", file, 1) == 0)
		return 0;
	fprintf(stderr, "%s: --graph %s: %s\n", tool, file, strerror(errno));
	return -1;
}

int textjob_parse(struct textjob *j, const struct textjob_tool *t, int argc,
		  char **argv)
{
	static const struct option opts[] = {
		{ "jobs", required_argument, NULL, 'j' },
		{ "chunk", required_argument, NULL, 'c' },
		{ "trace", required_argument, NULL, 'T' },
		{ "graph", required_argument, NULL, 'G' },
		{ "progress", no_argument, NULL, 'P' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	j->tool = t;
	open_closed_std(j);
	j->n = cores > 0 ? (unsigned)cores : 1;
	j->chunk = TEXTJOB_CHUNK_DEFAULT;
	for (int c; (c = getopt_long(argc, argv, "j:", opts, NULL)) != -1;) {
		unsigned long long v;
		switch (c) {
		case 'j':
			v = option_value(t, "worker count", optarg,
					 TEXTJOB_MAX_WORKERS);
			if (!v)
				return -1;
			j->n = (unsigned)v;
			break;
		case 'c':
			/* Checked here: the source would refuse it only once
			 * everything was starting. */
			v = option_value(t, "chunk size", optarg,
					 TRINDLE_SOURCE_CHUNK_MAX);
			if (!v)
				return -1;
			j->chunk = (size_t)v;
			break;
		case 'P':
			j->progress = 1;
			break;
		case 'T':
		case 'G':
			if (textjob_observe(t->name, c, optarg) != 0)
				return -1;
			break;
		case 'h':
			t->usage(stdout);
			exit(textjob_finish_stdout(j) ? t->fail_status : 0);
		default:
			t->usage(stderr);
			return -1;
		}
	}
	return optind;
}

int textjob_file(struct textjob *j, int argc, char **argv, int at)
{
	if (argc - at > 1) {
		fprintf(stderr, "%s: one FILE at most\n", j->tool->name);
		return -1;
	}
	j->path = at < argc ? argv[at] : NULL;
	struct stat st;
	if (j->progress && j->path && strcmp(j->path, "-") != 0 &&
	    stat(j->path, &st) == 0 && S_ISREG(st.st_mode))
		j->total = (unsigned long long)st.st_size;
	return 0;
}

/* ---- starting ---- */

/* The sink writes standard output and gives each segment back once it is
 * written, so the same few output segments go round. */
static int start_sink(struct textjob *j)
{
	if (!j->tool->writes_output)
		return 0;
	j->sink_out = trindle_pipe(1);
	j->sink_err = trindle_pipe(2);
	j->back = trindle_pipe(TRINDLE_SINK_QUEUE_DEFAULT);
	struct trindle_sink_options ko = { .flags = TRINDLE_SINK_NO_FSYNC,
					   .give_back = j->back };
	if (!j->sink_out || !j->sink_err || !j->back)
		return -1;
	/* Its own err pipe: a report there is about the output, whatever
	 * its path says ("-" is standard input for the source too). */
	j->sink = trindle_file_sink(NULL, &ko, j->sink_out, j->sink_err);
	return j->sink ? 0 : -1;
}

static int start_source(struct textjob *j)
{
	/* Few chunks in flight: each is a few MiB of memory to touch. */
	struct trindle_source_options so = { .chunk_bytes = j->chunk,
					     .in_flight = 2,
					     .flags = j->tool->source_flags };
	j->source = trindle_file_source(j->path, &so, j->chunks, j->errp);
	return j->source ? 0 : -1;
}

/* ---- the workers ---- */

/* The tool whose job the workers do: set before the first one starts. */
static const struct textjob_tool *worker_tool;

/* A worker.  Its first message is the pipe to reply on (sending a pipe
 * gives SEND on it); for a tool that gives chunks back, the second is the
 * source's input pipe, or an empty segment if the source has ended
 * already.  Then come chunks, until an empty segment says stop: one reply
 * each, in the order they came.  The reply pipe has room for every chunk
 * the worker may hold, so a reply's move fails only if main is gone.
 * Returning ends the worker and releases what it holds. */
static void worker_main(trindle_pipe_t input)
{
	const struct textjob_tool *t = worker_tool;
	trindle_pipe_t reply = trindle_util_next_object(input);
	trindle_object_t source = NULL;
	trindle_segment_t chunk;

	if (!reply || (t->give_back && !(source = trindle_util_next_object(input))))
		return;
	while ((chunk = trindle_util_next_object(input)) && trindle_measure(chunk)) {
		trindle_segment_t r = t->work(chunk, source);
		if (!r || trindle_util_move(reply, r) != 0)
			trindle_abort(NULL);
	}
}

/* Gives the worker the source's pipe to give chunks back on.  A short file
 * may be read already, and the source may end at any moment: if its pipe
 * is dead by the time it is sent, an empty segment goes in its place. */
static int send_give_back(struct textjob *j, struct textjob_worker *w)
{
	if (trindle_util_send(w->in, j->source) == 0)
		return 0;
	if (trindle_access(j->source) & TRINDLE_ACCESS_SEND)
		return -1; /* not for want of room: the input has it */
	trindle_segment_t none = trindle_allocate(0, NULL);
	if (!none || trindle_util_move(w->in, none) < 0) {
		trindle_util_release(none);
		return -1;
	}
	return 0;
}

/* Launches a worker and sends it its reply pipe (and the source's pipe,
 * to give chunks back on).  Its input pipe has room for those and for the
 * chunks it may hold; its reply pipe, for a reply to each of them, so a
 * worker's reply never finds the pipe full. */
static int start_worker(struct textjob *j, struct textjob_worker *w)
{
	w->reply = trindle_pipe(TEXTJOB_QUEUE);
	w->in = trindle_launch(worker_main,
			       TEXTJOB_QUEUE + 1 + (size_t)j->tool->give_back,
			       NULL, j->errp);
	if (!w->reply || !w->in)
		return -1;
	/* Names for --trace, --graph and stall reports. */
	char name[TRINDLE_NAME_MAX];
	snprintf(name, sizeof(name), "worker %u", (unsigned)(w - j->w));
	trindle_name(w->in, name);
	snprintf(name, sizeof(name), "reply %u", (unsigned)(w - j->w));
	trindle_name(w->reply, name);
	if (trindle_util_send(w->in, w->reply) != 0)
		return -1;
	return j->tool->give_back ? send_give_back(j, w) : 0;
}

static long long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int textjob_start(struct textjob *j)
{
	j->start_ns = now_ns();
	j->chunks = trindle_pipe(1);
	j->errp = trindle_pipe(TEXTJOB_MAX_WORKERS + 4);
	int rc = j->chunks && j->errp ? 0 : -1;
	/* The source first: it reads while the rest starts. */
	if (rc == 0)
		rc = start_source(j);
	worker_tool = j->tool; /* once, before any worker can read it */
	for (unsigned i = 0; rc == 0 && i < j->n; i++)
		rc = start_worker(j, &j->w[i]);
	if (rc == 0)
		rc = start_sink(j);
	if (rc)
		fprintf(stderr, "%s: starting: %s\n", j->tool->name,
			strerror(errno));
	return rc;
}

/* ---- the receive loop ---- */

/*
 * The worker the next chunk goes to, or NULL when all are full: the
 * busiest one that still has room.  A busy worker is running, and takes
 * its next chunk from its own pipe without a wake-up; an idle one sleeps,
 * and waking it costs a context switch and a cold cache, and on a machine
 * with more threads than cores it must wait for a core anyway.  So idle
 * workers are woken only once every running one has a chunk queued, that
 * is, once chunks come faster than the running workers take them.
 * (Handing each chunk to the least busy worker instead woke the idle one
 * for nearly every chunk, and was slower.)
 */
static struct textjob_worker *next_worker(struct textjob *j)
{
	struct textjob_worker *best = NULL;
	for (unsigned i = 0; i < j->n; i++)
		if (j->w[i].busy < TEXTJOB_QUEUE &&
		    (!best || j->w[i].busy > best->busy))
			best = &j->w[i];
	return best;
}

static unsigned busy_total(const struct textjob *j)
{
	unsigned b = 0;
	for (unsigned i = 0; i < j->n; i++)
		b += j->w[i].busy;
	return b;
}

/* What came on an err pipe: the source's report or a worker's fault
 * (errp), or the sink's report (sink_err): a write error, said as the
 * coreutils tools say it. */
static void report(struct textjob *j, trindle_segment_t seg, int output)
{
	const trindle_io_report_t *r = seg;
	int io = trindle_measure(seg) > sizeof *r &&
		 r->magic == TRINDLE_IO_REPORT_MAGIC;
	if (io && output) {
		fprintf(stderr, "%s: write error: %s\n", j->tool->name,
			strerror(r->error));
	} else if (io) {
		j->tool->report(j, r);
		j->input_failed = 1;
	} else {
		fprintf(stderr, "%s: %s failed\n", j->tool->name,
			output ? "the output device" : "a worker");
	}
	j->failed = 1;
}

/* A chunk goes to the worker that had room when we asked for it. */
static void dispatch(struct textjob *j, struct textjob_worker *w,
		     trindle_segment_t chunk)
{
	w->seq[w->busy++] = j->next_seq++;
	if (trindle_util_move_or_release(w->in, chunk) != 0)
		j->failed = 1; /* it had room: it must have died */
}

/* A reply answers the oldest chunk its worker holds. */
static void take_reply(struct textjob *j, struct textjob_worker *w,
		       trindle_segment_t reply)
{
	unsigned long seq = w->seq[0];
	memmove(w->seq, w->seq + 1, (TEXTJOB_QUEUE - 1) * sizeof w->seq[0]);
	w->busy--;
	j->tool->take_reply(j, seq, reply);
}

static void closed(struct textjob *j, trindle_pipe_t pipe)
{
	for (unsigned i = 0; i < j->n; i++)
		j->w[i].ended |= pipe == j->w[i].in;
	j->source_closed |= pipe == j->source;
	j->sink_closed |= j->sink && pipe == j->sink;
}

/* ---- --progress ---- */

/* Rewrites the progress line: bytes read (of the total, when the input
 * is a file), the rate and the time so far; at most four times a second,
 * and only once the input has taken more than a second, as dd
 * status=progress and pv do. */
static void show_progress(struct textjob *j, int last)
{
	long long now = now_ns(), spent = now - j->start_ns;
	if (!j->progress || spent < 1000000000LL ||
	    (!last && now - j->shown_ns < 250000000LL) || (last && !j->shown_ns))
		return;
	double mib = (double)j->bytes_in / 1048576.0, secs = spent / 1e9;
	if (j->total)
		fprintf(stderr, "\r%s: %.1f of %.1f MiB (%.0f%%), %.1f MiB/s, "
			"%.1f s ", j->tool->name, mib, j->total / 1048576.0,
			100.0 * (double)j->bytes_in / (double)j->total,
			mib / secs, secs);
	else
		fprintf(stderr, "\r%s: %.1f MiB read, %.1f MiB/s, %.1f s ",
			j->tool->name, mib, mib / secs, secs);
	if (last)
		fputc('\n', stderr);
	j->shown_ns = now;
}

/* One message: a chunk, a reply, a closure notice, a report, a result. */
static void handle(struct textjob *j, const trindle_message_t *m,
		   struct textjob_worker *room)
{
	if (!m->content) { /* a closure notice: someone ended */
		closed(j, m->address);
		return;
	}
	if (!m->address)
		return; /* we became sole holder of something: nothing to do */
	if (m->address == j->chunks && trindle_measure(m->content)) {
		j->bytes_in += trindle_measure(m->content);
		show_progress(j, 0);
		dispatch(j, room, m->content);
		return;
	}
	for (unsigned i = 0; i < j->n; i++)
		if (m->address == j->w[i].reply) {
			take_reply(j, &j->w[i], m->content);
			return;
		}
	if (m->address == j->errp || (j->sink_err && m->address == j->sink_err))
		report(j, m->content, m->address == j->sink_err);
	else if (j->sink_out && m->address == j->sink_out)
		j->result = 1;
	else if (m->address == j->chunks)
		j->source_ended = 1; /* the empty end marker */
	trindle_util_release(m->content);
}

int textjob_step(struct textjob *j, int wait_briefly)
{
	trindle_message_t req[TEXTJOB_MAX_WORKERS + 4], got;
	size_t k = 0;
	req[k++] = (trindle_message_t){ j->errp, NULL };
	if (j->sink_err)
		req[k++] = (trindle_message_t){ j->sink_err, NULL };
	if (j->sink_out)
		req[k++] = (trindle_message_t){ j->sink_out, NULL };
	struct textjob_worker *room = NULL;
	if (j->chunks && !j->source_ended &&
	    (!j->tool->can_take || j->tool->can_take(j)))
		room = next_worker(j);
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

void textjob_collect(struct textjob *j, void (*after_each)(struct textjob *j))
{
	while (!j->failed && (!j->source_ended || busy_total(j))) {
		if (textjob_step(j, 0) < 0) {
			fprintf(stderr, "%s: the source ended early\n",
				j->tool->name);
			j->failed = 1;
		}
		if (after_each)
			after_each(j);
	}
}

/* ---- output: fixed-size segments that the sink gives back ---- */

/* Moves seg to the sink, waiting while its pipe is full (a sender cannot
 * sleep until a pipe has room: textjob_step() waits briefly meanwhile,
 * and takes what comes). */
static void to_sink(struct textjob *j, trindle_segment_t seg)
{
	while (trindle_util_move(j->sink, seg) != 0) {
		if (!(trindle_access(j->sink) & TRINDLE_ACCESS_SEND)) {
			trindle_util_release(seg);
			j->failed = 1; /* the sink is gone: its report says why */
			return;
		}
		textjob_step(j, 1);
	}
}

/* A segment to fill: one the sink gave back, or a new one while fewer
 * than TEXTJOB_OUT_SEGMENTS were made.  Beyond that, waits for the sink
 * to give one back: it writes them faster than they are filled, and fresh
 * memory costs a page fault per page, far more than the wait.  If the
 * sink can give nothing back any more (it ended), a new one is made. */
static unsigned char *empty_output(struct textjob *j)
{
	for (;;) {
		int wait = j->out_made >= TEXTJOB_OUT_SEGMENTS;
		trindle_message_t got;
		if (trindle_util_receive(j->back, &got, wait ? -1 : 0) != 1)
			break;
		if (trindle_util_kind(&got) == TRINDLE_UTIL_CLOSED) {
			closed(j, got.address); /* someone ended */
			continue;
		}
		if (trindle_measure(got.content) == TEXTJOB_OUT_BYTES &&
		    trindle_access(got.content) ==
		    (TRINDLE_ACCESS_READ | TRINDLE_ACCESS_WRITE))
			return got.content;
		trindle_util_release(got.content);
		if (!wait)
			break;
	}
	j->out_made++;
	return trindle_allocate(1,
		&(trindle_buffer_t){ TEXTJOB_OUT_BYTES, NULL });
}

/* The output goes out in segments of exactly TEXTJOB_OUT_BYTES (lines may
 * run from one into the next: the sink writes a byte stream). */
void textjob_put(struct textjob *j, const void *p, size_t n)
{
	const unsigned char *b = p;
	while (n && !j->failed) {
		if (!j->out && !(j->out = empty_output(j))) {
			j->failed = 1;
			return;
		}
		size_t room = TEXTJOB_OUT_BYTES - j->out_used;
		size_t k = room < n ? room : n;
		memcpy(j->out + j->out_used, b, k);
		j->out_used += k;
		b += k;
		n -= k;
		if (j->out_used == TEXTJOB_OUT_BYTES) {
			to_sink(j, j->out);
			j->out = NULL;
			j->out_used = 0;
		}
	}
}

/* The last, partly filled segment goes out at its exact size. */
static void put_end(struct textjob *j)
{
	if (!j->out)
		return;
	trindle_segment_t fit = NULL;
	if (j->out_used && !j->failed)
		fit = trindle_allocate(1,
			&(trindle_buffer_t){ j->out_used, j->out });
	trindle_util_release(j->out);
	j->out = NULL;
	if (fit)
		to_sink(j, fit);
	else if (j->out_used)
		j->failed = 1;
}

/* Tells the sink to finish, waiting while its pipe is full. */
static void send_marker(struct textjob *j)
{
	trindle_segment_t marker = trindle_allocate(0, NULL);
	j->marker_sent = 1;
	if (marker)
		to_sink(j, marker);
}

void textjob_end_output(struct textjob *j)
{
	put_end(j);
	if (!j->failed)
		send_marker(j);
	while (!j->failed && !j->result)
		if (textjob_step(j, 0) < 0)
			j->failed = 1;
}

/* ---- shutting down ---- */

static int all_ended(const struct textjob *j)
{
	for (unsigned i = 0; i < j->n; i++)
		if (!j->w[i].ended)
			return 0;
	return j->source_closed && (!j->sink || j->sink_closed);
}

/* Takes the reports (and whatever else) still queued on the err pipes.
 * A device's report is its final object, delivered before its input pipe
 * dies: so once every process has ended, their reports are all queued,
 * while the loop that waited for the ends may have stopped at the last
 * closure notice without receiving them. */
static void take_reports(struct textjob *j)
{
	for (;;) {
		trindle_message_t req[2] = { { j->errp, NULL },
					     { j->sink_err, NULL } }, got[4];
		trindle_mailbox_t out = { j->sink_err ? 2 : 1, req };
		trindle_mailbox_t in = { 4, got };
		if (trindle_sync_timeout(&out, &in, 0) != 0 || in.count == 0)
			return;
		for (size_t i = 0; i < in.count; i++)
			handle(j, &got[i], NULL);
	}
}

void textjob_shut_down(struct textjob *j)
{
	show_progress(j, 1);
	/* If we stop early, the source may be waiting on its full pipe:
	 * letting the pipe die tells it to stop. */
	trindle_util_release(j->chunks);
	j->chunks = NULL;
	for (unsigned i = 0; i < j->n; i++)
		if (j->w[i].in && !j->w[i].ended) {
			trindle_util_move_or_release(j->w[i].in,
						trindle_allocate(0, NULL));
		}
	if (j->sink && !j->sink_closed && !j->marker_sent)
		send_marker(j); /* after a failure: the sink stops too */
	while (!all_ended(j) && textjob_step(j, 0) == 0)
		;
	take_reports(j);
	for (unsigned i = 0; i < j->n; i++) {
		trindle_util_release(j->w[i].in);
		trindle_util_release(j->w[i].reply);
	}
	trindle_util_release(j->out);
	trindle_util_release(j->source);
	trindle_util_release(j->sink);
	trindle_util_release(j->sink_out);
	trindle_util_release(j->back);
	trindle_util_release(j->errp);
	trindle_util_release(j->sink_err);
}
