/* SPDX-License-Identifier: MIT */
/*
 * trindle-mpi-wc - wc (lines, words, bytes) counted on every rank of an
 * MPI job, through the MPI bridge.
 *
 *   mpirun -np N trindle-mpi-wc [-w WORKERS] [--chunk BYTES] FILE
 *
 *   rank 0:  file source --chunk--> main --chunk i--> worker i mod K
 *                                     ^                    |
 *            results <----------------+------ counts ------+
 *
 * Every rank runs WORKERS counting workers (K in all) and exports each
 * one's input pipe; rank 0 imports them all.  Rank 0 reads FILE with the
 * file source and hands chunk i to worker i mod K, local or remote (a
 * remote chunk is copied over MPI and recreated there, its receiver the
 * sole holder).  A worker counts its chunks; at the end marker it ends,
 * moving its counts, in order, to its out pipe: rank 0's results pipe,
 * local or imported.  Rank 0 puts chunk i's counts back in place (worker
 * i mod K, entry i / K), joins them like trindle-wc and prints exactly
 * what `LC_ALL=C wc FILE` prints.
 *
 * A rank that is lost shows up on rank 0's bridge err pipe: rank 0 then
 * prints the report and fails, rather than wait for counts that will
 * never come.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <trindle.h>
#include <trindle/io.h>
#include <trindle/mpi.h>
#include <trindle/util.h>

#include "../wc-count.h"

#define RESULTS_TAG 1u
#define WORKER_TAG 100u  /* + the worker's index on its rank */
#define WORKER_QUEUE 4u

struct result_head {
	uint64_t index;  /* the worker's global index */
	uint64_t chunks; /* struct counts that follow */
};

/* The next message on pipe, or on err when err is not NULL: 0 when both
 * have no sender left. */
static size_t next(trindle_pipe_t pipe, trindle_pipe_t err,
		   trindle_message_t *m)
{
	trindle_message_t req[2] = { { pipe, NULL }, { err, NULL } };
	trindle_mailbox_t out = { err ? 2 : 1, req }, in = { 1, m };
	trindle_sync(&out, &in);
	return in.count;
}

/* Moves seg to pipe, polling while the pipe is full (a program has no
 * way to sleep until there is room).  -1 if it died: seg is released. */
static int move_to(trindle_pipe_t pipe, trindle_segment_t seg)
{
	for (int tries = 0; trindle_util_move(pipe, seg) != 0; tries++) {
		if (errno != EAGAIN) {
			trindle_util_release(seg);
			return -1;
		}
		if (tries > 50)
			nanosleep(&(struct timespec){ 0, 50000 }, NULL);
	}
	return 0;
}

static trindle_segment_t end_marker(void)
{
	return trindle_allocate(0, NULL);
}

/* A counting worker: its global index comes first, then chunks, then the
 * end marker; it ends moving its counts to out. */
static void counter(trindle_pipe_t input)
{
	trindle_message_t m;
	uint64_t index = UINT64_MAX;
	struct counts *per = NULL;
	size_t n = 0, cap = 0;

	while (next(input, NULL, &m)) {
		if (m.address != input || !m.content)
			continue;
		size_t len = trindle_measure(m.content);
		if (index == UINT64_MAX && len == sizeof index) {
			memcpy(&index, m.content, sizeof index);
			trindle_util_release(m.content);
			continue;
		}
		if (len == 0) {
			trindle_util_release(m.content);
			struct result_head h = { index, n };
			trindle_buffer_t b[2] = { { sizeof h, &h },
						  { n * sizeof *per, per } };
			trindle_segment_t r = trindle_allocate(2, b);
			free(per);
			trindle_exit(r);
		}
		if (n == cap) {
			cap = cap ? 2 * cap : 64;
			per = realloc(per, cap * sizeof *per);
			if (!per)
				trindle_abort(NULL);
		}
		per[n++] = count(m.content, len);
		trindle_util_release(m.content);
	}
	free(per);
	trindle_abort(NULL); /* everyone let go of the input: no end marker */
}

static int number_width(const char *path)
{
	struct stat st;
	if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
		return 7;
	int w = 1;
	for (uint64_t v = (uint64_t)st.st_size; v >= 10; v /= 10)
		w++;
	return w;
}

/* Prints a report that came on an err pipe: a bridge's, the source's, or
 * a worker's fault. */
static void print_report(trindle_object_t r)
{
	size_t n = trindle_measure(r);
	const trindle_mpi_report_t *mr = r;
	const trindle_io_report_t *io = r;
	if (n == sizeof *mr && mr->magic == TRINDLE_MPI_REPORT_MAGIC)
		fprintf(stderr, "trindle-mpi-wc: %s\n", mr->message);
	else if (n > sizeof *io && io->magic == TRINDLE_IO_REPORT_MAGIC)
		fprintf(stderr, "trindle-mpi-wc: %s\n", io->message);
	else
		fprintf(stderr, "trindle-mpi-wc: a worker failed\n");
}

struct job {
	trindle_pipe_t bridge, err;
	struct trindle_mpi_world w;
	unsigned workers;   /* per rank */
	size_t chunk;
	const char *path;
	trindle_pipe_t *local; /* this rank's workers' input pipes */
};

/* Starts this rank's workers, sending their results to out, and exports
 * their input pipes. */
static int start_workers(struct job *j, trindle_pipe_t out)
{
	j->local = calloc(j->workers, sizeof *j->local);
	if (!j->local)
		return -1;
	for (unsigned i = 0; i < j->workers; i++) {
		j->local[i] = trindle_launch(counter, WORKER_QUEUE, out, j->err);
		if (!j->local[i])
			return -1;
		uint64_t index = (uint64_t)j->w.rank * j->workers + i;
		trindle_segment_t s = trindle_allocate(1,
				&(trindle_buffer_t){ sizeof index, &index });
		if (!s || move_to(j->local[i], s) < 0)
			return -1;
		if (trindle_mpi_export(j->bridge, j->local[i], WORKER_TAG + i,
				       WORKER_QUEUE) < 0)
			return -1;
	}
	return 0;
}

/* Rank 0: reads the file, hands out the chunks, joins the counts. */
static int rank0(struct job *j)
{
	size_t k_all = (size_t)j->w.size * j->workers;
	trindle_pipe_t results = trindle_pipe(k_all + 1);
	trindle_pipe_t chunks = trindle_pipe(8);
	trindle_pipe_t *target = calloc(k_all, sizeof *target);
	if (!results || !chunks || !target ||
	    trindle_mpi_export(j->bridge, results, RESULTS_TAG, k_all + 1) < 0 ||
	    start_workers(j, results) < 0)
		return -1;
	for (size_t i = 0; i < k_all; i++) {
		int rank = (int)(i / j->workers);
		unsigned w = (unsigned)(i % j->workers);
		target[i] = rank == 0 ? j->local[w]
			: trindle_mpi_import(j->bridge, rank, WORKER_TAG + w,
					     WORKER_QUEUE);
		if (!target[i])
			return -1;
	}
	struct trindle_source_options opt = { .chunk_bytes = j->chunk };
	trindle_pipe_t source = trindle_file_source(j->path, &opt, chunks,
						    j->err);
	if (!source)
		return -1;
	trindle_util_release(source);

	int failed = 0, ended = 0;
	size_t seq = 0;
	trindle_message_t m;
	while (!ended && !failed && next(chunks, j->err, &m)) {
		if (m.address == j->err && m.content) {
			print_report(m.content);
			trindle_util_release(m.content);
			failed = 1;
		} else if (m.address == chunks && m.content) {
			if (trindle_measure(m.content) == 0) {
				trindle_util_release(m.content);
				ended = 1;
			} else if (move_to(target[seq++ % k_all], m.content) < 0) {
				fprintf(stderr, "trindle-mpi-wc: a worker's rank "
					"has gone\n");
				failed = 1;
			}
		}
	}
	/* The end marker to every worker, even after a failure, so that
	 * every rank can finish. */
	for (size_t i = 0; i < k_all; i++) {
		trindle_segment_t e = end_marker();
		if (e)
			move_to(target[i], e);
		if (target[i] != j->local[i % j->workers] || i >= j->workers)
			trindle_util_release(target[i]);
	}
	struct counts *per = calloc(seq ? seq : 1, sizeof *per);
	size_t got = 0;
	while (!failed && got < k_all && next(results, j->err, &m)) {
		if (m.address == j->err && m.content) {
			print_report(m.content);
			trindle_util_release(m.content);
			failed = 1;
			continue;
		}
		if (m.address != results || !m.content)
			continue;
		const struct result_head *h = m.content;
		const struct counts *c = (const void *)(h + 1);
		if (trindle_measure(m.content) < sizeof *h || h->index >= k_all ||
		    trindle_measure(m.content) != sizeof *h + h->chunks * sizeof *c) {
			failed = 1;
		} else {
			for (size_t e = 0; e < h->chunks; e++) {
				size_t i = e * k_all + h->index;
				if (i < seq)
					per[i] = c[e];
				else
					failed = 1;
			}
			got++;
		}
		trindle_util_release(m.content);
	}
	if (!failed && got == k_all) {
		struct counts t = wc_join(per, seq);
		int width = number_width(j->path);
		printf("%*" PRIu64 " %*" PRIu64 " %*" PRIu64 " %s\n", width,
		       t.lines, width, t.words, width, t.bytes, j->path);
	} else {
		failed = 1;
	}
	free(per);
	free(target);
	trindle_util_release(chunks);
	trindle_util_release(results);
	return failed ? -1 : 0;
}

/* The other ranks: workers whose counts go to rank 0's results pipe. */
static int rank_other(struct job *j)
{
	trindle_pipe_t results = trindle_mpi_import(j->bridge, 0, RESULTS_TAG,
						    j->workers);
	if (!results || start_workers(j, results) < 0)
		return -1;
	trindle_util_release(results); /* the workers hold their own SEND */
	/* Wait for the workers to end (their input pipes die), or for a
	 * report (rank 0 lost, a worker's fault). */
	unsigned ended = 0;
	int failed = 0;
	trindle_message_t m;
	while (ended < j->workers && next(j->err, NULL, &m)) {
		if (m.address == j->err && m.content) {
			print_report(m.content);
			trindle_util_release(m.content);
			failed = 1;
			break;
		}
		for (unsigned i = 0; i < j->workers; i++)
			if (m.address == j->local[i] && !m.content)
				ended++;
	}
	return failed ? -1 : 0;
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: mpirun -np N trindle-mpi-wc [-w WORKERS] [--chunk BYTES] FILE\n"
		"Print newline, word and byte counts for FILE, like wc in the C locale,\n"
		"counted by WORKERS workers (default 1) on each of the N ranks.\n");
}

int main(int argc, char **argv)
{
	struct job j = { .workers = 1, .chunk = 256 * 1024 };
	int at = 1;
	for (; at < argc && argv[at][0] == '-' && argv[at][1]; at++) {
		if (!strcmp(argv[at], "--help")) {
			usage(stdout);
			return 0;
		} else if (!strcmp(argv[at], "-w") && at + 1 < argc) {
			j.workers = (unsigned)strtoul(argv[++at], NULL, 10);
		} else if (!strcmp(argv[at], "--chunk") && at + 1 < argc) {
			j.chunk = strtoull(argv[++at], NULL, 10);
		} else {
			usage(stderr);
			return 2;
		}
	}
	if (at != argc - 1 || j.workers == 0 || j.workers > 64 || j.chunk == 0) {
		usage(stderr);
		return 2;
	}
	j.path = argv[at];
	wc_init(); /* before any worker starts */

	j.err = trindle_pipe(16);
	struct trindle_mpi_options opt = { &argc, &argv, 0 };
	j.bridge = j.err ? trindle_mpi_bridge(&opt, j.err, &j.w) : NULL;
	if (!j.bridge) {
		fprintf(stderr, "trindle-mpi-wc: starting the bridge: %s\n",
			strerror(errno));
		return 1;
	}
	int rc = j.w.rank == 0 ? rank0(&j) : rank_other(&j);
	if (rc < 0 && errno)
		fprintf(stderr, "trindle-mpi-wc: rank %d failed\n", j.w.rank);
	for (unsigned i = 0; j.local && i < j.workers; i++)
		if (j.local[i])
			trindle_util_release(j.local[i]);
	free(j.local);
	if (trindle_mpi_finish(j.bridge) < 0)
		rc = -1;
	trindle_util_release(j.err);
	return rc < 0;
}
