/* SPDX-License-Identifier: MIT */
/*
 * textjob.h - the driver that trindle-wc, trindle-grep and trindle-sort
 * share.  The three tools have one shape:
 *
 *   file source --chunk--> main --chunk--> worker i --reply--> main
 *   (grep, sort)           main --output segments--> file sink
 *
 * What differs is the worker's job (count, search, sort a chunk) and what
 * main does with the replies; that stays in each tool's own file.  This
 * module does the rest:
 *
 *   - the command line: [-j N] [--chunk BYTES] [--help], then the tool's
 *     operands (textjob_parse(), textjob_file()); standard input, output
 *     and error that the tool was started without are opened on /dev/null
 *     first, the wrong way round (see textjob_parse());
 *   - starting the file source on FILE or standard input, the workers,
 *     and for tools that write, a file sink on standard output
 *     (textjob_start());
 *   - the workers' loop: each chunk a worker is given goes through the
 *     tool's job, and the reply it returns goes back to main;
 *   - the receive loop: each chunk from the source goes to a worker with
 *     room, the busiest first (see next_worker() in textjob.c), and each
 *     reply goes to the tool with the chunk's number in file order
 *     (textjob_collect(), textjob_step());
 *   - the output: bytes copied into fixed-size segments that go to the
 *     sink, which gives them back to be filled again; at most
 *     TEXTJOB_OUT_SEGMENTS are made (textjob_put(), textjob_end_output());
 *   - stopping everything and waiting until every process has ended
 *     (textjob_shut_down()), and saying what went wrong: the tool says
 *     why its input failed, textjob says "write error" for the output,
 *     as coreutils do (textjob_finish_stdout() for what the tool printed
 *     itself).
 *
 * Flow control: a worker holds at most TEXTJOB_QUEUE chunks, and main asks
 * the source for a chunk only when some worker has room, so the source
 * sleeps on its full pipe (of one chunk) and memory stays bounded whatever
 * the file size: in the steady state the same few chunk segments go round
 * (every fresh 4 MiB segment costs 1,024 page faults).
 *
 * A tool describes itself in a struct textjob_tool and keeps its own state
 * in a struct that begins with a struct textjob, so its hooks can turn the
 * struct textjob * they get back into a pointer to that struct.
 */
#ifndef TEXTJOB_H
#define TEXTJOB_H

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <trindle.h>
#include <trindle/io.h>
#include <trindle/util.h>

#define TEXTJOB_QUEUE 2              /* chunks a worker may hold at once */
#define TEXTJOB_MAX_WORKERS 256
#define TEXTJOB_CHUNK_DEFAULT (4u << 20)
#define TEXTJOB_OUT_BYTES (1u << 20) /* output segment size */
#define TEXTJOB_OUT_SEGMENTS 2       /* output segments that go round */

/* ---- the tool ---- */

struct textjob;

struct textjob_tool {
	const char *name;       /* "trindle-wc": begins every message */
	void (*usage)(FILE *f); /* prints the --help text */
	int fail_status;        /* exit status on errors and usage errors, as
	                         * the coreutils tool's: wc 1, sort and grep 2 */

	/* A worker's job, run on each chunk it is given, in the order they
	 * come: returns the reply, which textjob moves to main (NULL: out of
	 * memory, and the worker aborts).  The chunk was moved to the
	 * worker, so work may write it; it must keep, move or release it.
	 * With give_back set, source is the source's input pipe, to give
	 * the chunk back on (or an empty segment, if the source had ended
	 * before the worker started: a move there fails); else NULL. */
	trindle_segment_t (*work)(trindle_segment_t chunk,
				  trindle_object_t source);
	int give_back;          /* workers give chunks back to the source */
	unsigned source_flags;  /* TRINDLE_SOURCE_LINES: cut at line ends */
	int writes_output;      /* start a file sink on standard output */

	/* The reply to chunk number seq (0, 1, ... in file order); the tool
	 * holds it now, and must keep, move or release it. */
	void (*take_reply)(struct textjob *j, unsigned long seq,
			   trindle_segment_t reply);
	/* Says why the source failed (reading j->path, or standard input
	 * when it is NULL or "-"), in the coreutils tool's words.  Failures
	 * of the output (the sink) and of workers are said by textjob. */
	void (*report)(struct textjob *j, const trindle_io_report_t *r);
	/* May be NULL.  Returns 0 while main should take no more chunks
	 * from the source (grep: its window of replies to write in order is
	 * full). */
	int (*can_take)(const struct textjob *j);
};

/* ---- the job ---- */

struct textjob_worker {
	trindle_pipe_t in, reply;
	unsigned busy;                    /* chunks sent, replies not back */
	unsigned long seq[TEXTJOB_QUEUE]; /* chunks it holds, oldest first */
	int ended;
};

struct textjob {
	const struct textjob_tool *tool;
	const char *path;       /* FILE as given, or NULL: standard input */
	size_t chunk;           /* --chunk */
	unsigned n;             /* -j: the number of workers */
	struct textjob_worker w[TEXTJOB_MAX_WORKERS];
	trindle_pipe_t chunks;  /* chunks come from the source on it */
	trindle_pipe_t source;  /* the source's input: chunks go back there */
	trindle_pipe_t errp;    /* the source's report and worker faults */
	trindle_pipe_t sink_err; /* the sink's report (NULL: no sink) */
	trindle_pipe_t sink;    /* output segments go there (NULL: none) */
	trindle_pipe_t sink_out, back; /* the sink's result; its give-back */
	unsigned long next_seq; /* the number of the next chunk */
	unsigned char *out;     /* the output segment being filled, or NULL */
	size_t out_used;
	unsigned out_made;      /* output segments allocated so far */
	int source_ended, source_closed, sink_closed;
	int marker_sent;        /* the sink was told to finish */
	int result;             /* the sink's result came */
	int failed;
	int input_failed;       /* the source's report came (and was said) */
	unsigned std_closed;    /* bit fd: fd 0, 1 or 2 was closed at start */
	/* --progress: a line on stderr once the input takes over a second. */
	int progress;
	unsigned long long bytes_in, total; /* total: 0 when unknown */
	long long start_ns, shown_ns;       /* shown_ns: 0 before any line */
};

/* Sets j up for tool t and parses the options, -j N (1 to
 * TEXTJOB_MAX_WORKERS), --chunk BYTES (1 to TRINDLE_SOURCE_CHUNK_MAX) and
 * --help (which prints the usage and exits 0).  Returns the index in argv
 * of the first operand, or -1 after a message (a usage error: the tool
 * exits with t->fail_status).
 *
 * First of all, each of fds 0, 1 and 2 that is closed is opened on
 * /dev/null the wrong way round (input for writing, outputs for reading),
 * as gnulib's stdopen() does: then no file or device later takes those
 * numbers, and reading or writing them fails with EBADF, which is what the
 * coreutils tools report.  j->std_closed says which were closed. */
/* --trace FILE (option 'T': tracing starts now, see
 * trindle_trace_start()) and --graph FILE (option 'G': TRINDLE_GRAPH, for
 * the library to read when it starts, so before any library call).
 * Returns 0, or -1 after a message on stderr. */
int textjob_observe(const char *tool, int option, const char *file);

int textjob_parse(struct textjob *j, const struct textjob_tool *t, int argc,
		  char **argv);

/* Takes argv[at], if there, as FILE: one at most.  Returns 0, or -1 after
 * a message. */
int textjob_file(struct textjob *j, int argc, char **argv, int at);

/* Starts the sink (if the tool writes), the source on j->path and the
 * workers.  Returns 0, or -1 after a message. */
int textjob_start(struct textjob *j);

/* Hands out chunks and takes replies until the source has ended and every
 * chunk's reply came (or something failed).  after_each, if not NULL,
 * runs after each message. */
void textjob_collect(struct textjob *j, void (*after_each)(struct textjob *j));

/* Waits for one message (at most 200 us when wait_briefly) and handles
 * it.  Returns 0, or -1 when nothing more can come. */
int textjob_step(struct textjob *j, int wait_briefly);

/* Appends n bytes to the output; full segments go to the sink. */
void textjob_put(struct textjob *j, const void *p, size_t n);

/* The same, for the many short pieces of a merge (sort writes a line at a
 * time): bytes that fit in the current segment are copied here, without
 * a call, and the rest takes textjob_put()'s way. */
static inline void textjob_put_short(struct textjob *j, const void *p,
				     size_t n)
{
	if (j->out && n < TEXTJOB_OUT_BYTES - j->out_used) {
		memcpy(j->out + j->out_used, p, n);
		j->out_used += n;
	} else {
		textjob_put(j, p, n);
	}
}

/* Sends the last output segment and the end marker, and waits for the
 * sink's result. */
void textjob_end_output(struct textjob *j);

/* Flushes what the tool printed on stdout itself.  Returns 0, or -1 after
 * saying "write error" (closed standard output, a full disk). */
int textjob_finish_stdout(const struct textjob *j);

/* Stops the source, the workers and the sink, and waits until each has
 * ended, so nothing is left running when main returns.  Replies that come
 * meanwhile still go to the tool's take_reply, and a device's report,
 * still queued when the notice that it ended arrives, is still said. */
void textjob_shut_down(struct textjob *j);

#endif /* TEXTJOB_H */
