/* SPDX-License-Identifier: MIT */
/*
 * trindle-supervisor - a supervisor that survives a faulting worker.
 *
 * The supervisor (the main thread) fills a segment with the numbers
 * 1, 2, ..., N and shares it with a pool of worker processes.  It cuts the
 * numbers into chunks and hands one chunk at a time to each worker in a
 * small task segment; the worker sums its chunk, writes the sum into the
 * task and moves the task back.
 *
 * One worker (chosen with -f) misbehaves on purpose: it writes into the
 * shared numbers.  A segment with several holders is read-only for all of
 * them, so the MMU refuses the write.  The runtime stops that worker alone,
 * releases what it held (including its task, which is lost) and sends a
 * trindle_fault_t report to the worker's err pipe.  The supervisor prints
 * the report, notices the worker's end through the closure notice of its
 * input pipe, and launches a fresh worker for the unfinished chunk.  The
 * job still finishes with the right total.
 *
 * What it shows:
 *  - sharing a segment read-only among many processes, enforced by the MMU;
 *  - fault reports on an err pipe: address, access, segment, worker;
 *  - supervision: the launcher tracks which worker holds which chunk and
 *    relaunches lost work;
 *  - one trindle_sync() per step on each side: a worker moves its result
 *    back and asks for the next task in the same call, and the supervisor
 *    sends all its replies and receive requests in one batch.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <trindle.h>
#include <trindle/util.h>

#define MAX_WORKERS 64
#define MAX_CHUNKS 4096
#define INBOX_SLOTS 8
#define NO_CHUNK UINT32_MAX
#define NO_WORKER UINT32_MAX

/* One unit of work, moved to a worker and back. */
struct task {
	uint32_t chunk;    /* which chunk */
	uint32_t worker;   /* which worker it was given to */
	uint64_t first;    /* index of the first number to add */
	uint64_t count;    /* how many numbers */
	uint64_t sum;      /* the answer, filled in by the worker */
	uint32_t sabotage; /* nonzero: write into the shared numbers first */
};

/* ---- the workers -------------------------------------------------------- */

static uint64_t add_up(const uint64_t *numbers, uint64_t first, uint64_t count)
{
	uint64_t sum = 0;

	for (uint64_t i = first; i < first + count; i++)
		sum += numbers[i];
	return sum;
}

/*
 * Input, in order: the results pipe, the shared numbers, then tasks.  An
 * empty segment means "no more tasks".  Each round moves the finished task
 * to the results pipe and asks for the next one in a single trindle_sync().
 */
static void worker_main(trindle_pipe_t input)
{
	trindle_object_t setup[2]; /* the results pipe, the numbers */
	trindle_message_t msgs[3], inbox[1];
	trindle_util_batch_t out;

	/* Nothing more can come (the supervisor is gone), or a notice came
	 * first: either way, setup failed. */
	for (int i = 0; i < 2; i++) {
		if (trindle_util_receive(input, &inbox[0], -1) != 1 ||
				trindle_util_kind(&inbox[0]) != TRINDLE_UTIL_MESSAGE)
			trindle_abort(NULL);
		setup[i] = inbox[0].content;
	}
	trindle_pipe_t results = setup[0];
	uint64_t *numbers = setup[1];
	uint64_t available = trindle_measure(numbers) / sizeof *numbers;

	trindle_util_batch_init(&out, msgs, 3);
	for (;;) {
		trindle_mailbox_t in = { 1, inbox };
		trindle_util_add_receive(&out, input);
		if (trindle_util_flush(&out, &in) != 0 || in.count == 0)
			trindle_abort(NULL); /* supervisor gone, or a send failed */

		struct task *t = inbox[0].content;
		enum trindle_util_kind kind = trindle_util_kind(&inbox[0]);
		if (kind == TRINDLE_UTIL_SOLE)
			continue; /* we hold the numbers alone now */
		if (kind != TRINDLE_UTIL_MESSAGE)
			trindle_abort(NULL); /* notice: the results pipe died */
		if (trindle_measure(t) == 0)
			break; /* the stop marker */
		if (trindle_measure(t) != sizeof *t || t->first + t->count > available)
			trindle_abort(NULL);

		if (t->sabotage) {
			/* The numbers are shared, so they are read-only: this
			 * store faults, and the runtime ends this worker here. */
			*(volatile uint64_t *)&numbers[t->first] = 0;
		}
		t->sum = add_up(numbers, t->first, t->count);
		trindle_util_add_move(&out, results, t);
	}
	trindle_exit(NULL); /* releases the marker, the numbers and the pipe */
}

/* ---- the supervisor ----------------------------------------------------- */

struct options {
	uint64_t numbers;
	uint32_t chunks;
	uint32_t workers;
	uint32_t faulty; /* id of the worker that misbehaves, or NO_WORKER */
};

struct worker {
	trindle_pipe_t input; /* its input pipe: its identity */
	uint32_t chunk;       /* the chunk it is working on, or NO_CHUNK */
	uint32_t tasks;       /* tasks given to it so far */
	bool ended;           /* its closure notice arrived */
	bool settled;         /* no fault report can still come for it */
};

struct supervisor {
	const struct options *opt;
	uint64_t *numbers;             /* the shared segment */
	trindle_pipe_t results;        /* tasks come back here */
	trindle_pipe_t errors;         /* fault reports come here */
	struct worker workers[2 * MAX_WORKERS];
	uint32_t launched;             /* workers launched so far */
	uint32_t alive;                /* launched and not ended */
	uint32_t next_chunk;           /* next chunk never handed out */
	uint32_t chunks_done;
	uint32_t faults;
	bool *done;                    /* per chunk */
	uint64_t total;
	trindle_util_batch_t out;      /* the outgoing batch */
};

/* Takes the result of adding to s->out.  Its capacity covers the worst
 * round (see supervise()), so a full batch is a bug. */
static void queued(int rc)
{
	if (rc != 0) {
		fprintf(stderr, "trindle-supervisor: batch overflow (a bug)\n");
		abort();
	}
}

/* Fills a task segment for a chunk and moves it to worker w. */
static void assign(struct supervisor *s, uint32_t w, struct task *t, uint32_t chunk)
{
	uint64_t per_chunk = s->opt->numbers / s->opt->chunks;

	t->chunk = chunk;
	t->worker = w;
	t->first = chunk * per_chunk;
	/* The last chunk also takes what the division left over. */
	t->count = chunk + 1 == s->opt->chunks ? s->opt->numbers - t->first : per_chunk;
	t->sum = 0;
	/* The chosen worker misbehaves on its first task; its replacement,
	 * with a new id, does not. */
	t->sabotage = w == s->opt->faulty && s->workers[w].tasks == 0;
	s->workers[w].chunk = chunk;
	s->workers[w].tasks++;
	queued(trindle_util_add_move(&s->out, s->workers[w].input, t));
}

/* Launches a worker and queues its setup: the results pipe and the shared
 * numbers are sent (we keep both), and a new task for chunk is moved. */
static int launch(struct supervisor *s, uint32_t chunk)
{
	trindle_buffer_t shape = { sizeof(struct task), NULL };
	uint32_t w = s->launched;

	if (w == sizeof s->workers / sizeof s->workers[0]) {
		fprintf(stderr, "trindle-supervisor: too many relaunches\n");
		return -1;
	}
	struct task *t = trindle_allocate(1, &shape);
	/* Input room: results pipe, numbers, one task, the stop marker. */
	trindle_pipe_t input = t ? trindle_launch(worker_main, 4, NULL, s->errors) : NULL;
	if (!input) {
		perror("trindle-supervisor: launching a worker");
		return -1;
	}
	s->workers[w] = (struct worker){ .input = input, .chunk = NO_CHUNK };
	s->launched++;
	s->alive++;
	queued(trindle_util_add_send(&s->out, input, s->results));
	queued(trindle_util_add_send(&s->out, input, s->numbers));
	assign(s, w, t, chunk);
	return 0;
}

/*
 * Which worker does a pipe address name?  Addresses of dead objects are
 * reused, so a relaunched worker may get the input pipe address of one that
 * ended.  (The runtime never reuses it before our closure notice for the
 * old pipe was delivered, so there are never two live ones.)
 *
 * A closure notice names the live worker with that address.  A fault
 * report can come after the closure notice (when the inbox was full), so it
 * names the earliest worker with that address that may still be reported:
 * an earlier worker with the same address died first, so its report comes
 * first.
 */
static uint32_t worker_of(const struct supervisor *s, trindle_pipe_t pipe,
		bool for_report)
{
	for (uint32_t w = 0; w < s->launched; w++) {
		const struct worker *k = &s->workers[w];
		if (k->input == pipe && (for_report ? !k->settled : !k->ended))
			return w;
	}
	return NO_WORKER;
}

/* A task came back: record it, then reuse its segment for the next chunk,
 * or tell the worker to stop. */
static int on_result(struct supervisor *s, struct task *t)
{
	if (trindle_measure(t) != sizeof *t || t->worker >= s->launched
			|| t->chunk >= s->opt->chunks || s->done[t->chunk]) {
		fprintf(stderr, "trindle-supervisor: malformed result\n");
		return -1;
	}
	s->done[t->chunk] = true;
	s->chunks_done++;
	s->total += t->sum;
	uint32_t w = t->worker;
	s->workers[w].chunk = NO_CHUNK;

	if (s->next_chunk < s->opt->chunks) {
		assign(s, w, t, s->next_chunk++);
		return 0;
	}
	trindle_segment_t stop = trindle_allocate(0, NULL);
	if (!stop) {
		perror("trindle-supervisor: trindle_allocate");
		return -1;
	}
	queued(trindle_util_add_release(&s->out, t));
	queued(trindle_util_add_move(&s->out, s->workers[w].input, stop));
	return 0;
}

static const char *access_word(int access)
{
	return access == TRINDLE_ACCESS_WRITE ? "write"
		: access == TRINDLE_ACCESS_EXECUTE ? "execute"
		: access == TRINDLE_ACCESS_READ ? "read" : "?";
}

/* Gives the chunk worker w was working on, if any, to a new worker. */
static int relaunch(struct supervisor *s, uint32_t w)
{
	uint32_t chunk = s->workers[w].chunk;

	if (chunk == NO_CHUNK)
		return 0;
	printf("relaunch: chunk %" PRIu32 " of worker %" PRIu32 " goes to new worker %" PRIu32 "\n",
			chunk, w, s->launched);
	s->workers[w].chunk = NO_CHUNK;
	return launch(s, chunk);
}

/* A fault report arrived: the runtime has stopped the worker.  Print the
 * report in one line, let it go, and relaunch the worker's chunk. */
static int on_fault(struct supervisor *s, trindle_segment_t report)
{
	const trindle_fault_t *f = report;

	if (trindle_measure(report) < sizeof *f) {
		fprintf(stderr, "trindle-supervisor: a worker aborted\n");
		return -1;
	}
	uint32_t w = worker_of(s, f->process, true);
	s->faults++;
	if (w != NO_WORKER)
		s->workers[w].settled = true;
	printf("fault: worker %" PRId32 " %s at %p in segment %p%s, %s\n",
			w == NO_WORKER ? -1 : (int32_t)w, access_word(f->access),
			f->address, f->object,
			f->object == s->numbers ? " (the shared numbers)" : "",
			f->signal == SIGBUS ? "SIGBUS" : f->signal == SIGSEGV ? "SIGSEGV" : "signal ?");
	if (trindle_util_release(report) != 0)
		return -1;
	return w == NO_WORKER ? 0 : relaunch(s, w);
}

/* A worker's input pipe died: it ended.  If it still had a chunk (it gave
 * up without a fault report), that chunk goes to a new worker. */
static int on_end(struct supervisor *s, trindle_pipe_t input)
{
	uint32_t w = worker_of(s, input, false);

	if (w == NO_WORKER)
		return 0;
	s->workers[w].ended = true;
	/* Ended between tasks: it stopped when told to, no report follows. */
	if (s->workers[w].chunk == NO_CHUNK)
		s->workers[w].settled = true;
	s->alive--;
	return relaunch(s, w);
}

/* Handles one message (notices == false) or one notice (notices == true). */
static int handle(struct supervisor *s, trindle_message_t m, bool notices)
{
	bool is_notice = m.address == NULL || m.content == NULL;

	if (is_notice != notices)
		return 0; /* the other pass takes it */
	if (m.address == NULL)
		return 0; /* notice: the numbers are ours alone again */
	if (m.content == NULL)
		return on_end(s, m.address);
	if (m.address == s->errors)
		return on_fault(s, m.content);
	if (m.address == s->results)
		return on_result(s, m.content);
	fprintf(stderr, "trindle-supervisor: unexpected message\n");
	return -1;
}

/* Sends what is queued and asks for results and reports, in one call;
 * then handles what came in.  Returns -1 on failure. */
static int step(struct supervisor *s)
{
	trindle_message_t inbox[INBOX_SLOTS];
	trindle_mailbox_t in = { INBOX_SLOTS, inbox };

	queued(trindle_util_add_receive(&s->out, s->results));
	queued(trindle_util_add_receive(&s->out, s->errors));
	int failed = trindle_util_flush(&s->out, &in);
	if (failed < 0) {
		perror("trindle-supervisor: trindle_sync");
		return -1;
	}
	if (failed > 0) {
		fprintf(stderr, "trindle-supervisor: %d message(s) failed, first {%p, %p}\n",
				failed, s->out.message[0].address, s->out.message[0].content);
		return -1;
	}
	if (in.count == 0) {
		/* Nothing can arrive: every worker let go of our pipes.  Only
		 * their closure notices can still be on the way. */
		if (s->alive == 0) {
			fprintf(stderr, "trindle-supervisor: workers ended, work unfinished\n");
			return -1;
		}
		sched_yield();
	}
	/* Notices are delivered before messages, but a worker's fault report
	 * was sent before its end: handle the messages first, so the report
	 * is printed (and the chunk relaunched) before the end is seen. */
	for (size_t i = 0; i < in.count; i++)
		if (handle(s, inbox[i], false) != 0)
			return -1;
	for (size_t i = 0; i < in.count; i++)
		if (handle(s, inbox[i], true) != 0)
			return -1;
	return 0;
}

/* Makes the shared numbers: 1, 2, ..., n. */
static uint64_t *make_numbers(uint64_t n)
{
	trindle_buffer_t shape = { n * sizeof(uint64_t), NULL };
	uint64_t *numbers = trindle_allocate(1, &shape);

	if (numbers)
		for (uint64_t i = 0; i < n; i++)
			numbers[i] = i + 1;
	return numbers;
}

static int supervise(struct supervisor *s)
{
	const struct options *opt = s->opt;
	uint32_t first = opt->workers < opt->chunks ? opt->workers : opt->chunks;

	s->numbers = make_numbers(opt->numbers);
	s->results = trindle_pipe(opt->workers);
	s->errors = trindle_pipe(opt->workers);
	s->done = calloc(opt->chunks, sizeof *s->done);
	/* Worst round: every inbox slot brings a result (a move and a stop
	 * marker: 4 messages) or an end (a relaunch: 4 messages); the first
	 * round launches the pool (4 each); then 2 receive requests. */
	size_t capacity = 4 * (size_t)(first > INBOX_SLOTS ? first : INBOX_SLOTS) + 2;
	trindle_message_t *storage = malloc(capacity * sizeof *storage);
	trindle_util_batch_init(&s->out, storage, capacity);
	if (!s->numbers || !s->results || !s->errors || !s->done || !storage) {
		perror("trindle-supervisor: setup");
		return -1;
	}
	for (uint32_t w = 0; w < first; w++)
		if (launch(s, s->next_chunk++) != 0)
			return -1;
	while (s->chunks_done < opt->chunks || s->alive > 0)
		if (step(s) != 0)
			return -1;
	return 0;
}

static void usage(FILE *to)
{
	fprintf(to,
		"Usage: trindle-supervisor [-n NUMBERS] [-c CHUNKS] [-w WORKERS] [-f WORKER|none]\n"
		"\n"
		"Sums the numbers 1..NUMBERS in CHUNKS chunks on a pool of WORKERS\n"
		"worker processes that share the numbers read-only.  Worker WORKER\n"
		"writes into them on purpose; the MMU stops it, the supervisor prints\n"
		"the fault report and gives its chunk to a new worker.\n"
		"\n"
		"  -n, --numbers N   how many numbers (default 1048576)\n"
		"  -c, --chunks N    how many chunks (default 16, at most %d)\n"
		"  -w, --workers N   worker pool size (default 4, at most %d)\n"
		"  -f, --faulty ID   the worker that misbehaves, 0..WORKERS-1, or\n"
		"                    'none' (default 1)\n"
		"  -h, --help        show this help\n",
		MAX_CHUNKS, MAX_WORKERS);
}

static bool parse_number(const char *s, uint64_t min, uint64_t max, uint64_t *value)
{
	char *end;

	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || v < min || v > max)
		return false;
	*value = v;
	return true;
}

static int parse_options(int argc, char **argv, struct options *opt)
{
	static const struct option longs[] = {
		{ "numbers", required_argument, NULL, 'n' },
		{ "chunks", required_argument, NULL, 'c' },
		{ "workers", required_argument, NULL, 'w' },
		{ "faulty", required_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t v, faulty = 1;
	bool ok = true;
	int c;

	*opt = (struct options){ .numbers = 1u << 20, .chunks = 16, .workers = 4 };
	while (ok && (c = getopt_long(argc, argv, "n:c:w:f:h", longs, NULL)) != -1) {
		switch (c) {
		case 'n':
			/* Small enough that the sum fits in 64 bits. */
			ok = parse_number(optarg, 1, UINT64_C(1) << 30, &opt->numbers);
			break;
		case 'c':
			ok = parse_number(optarg, 1, MAX_CHUNKS, &v);
			opt->chunks = (uint32_t)v;
			break;
		case 'w':
			ok = parse_number(optarg, 1, MAX_WORKERS, &v);
			opt->workers = (uint32_t)v;
			break;
		case 'f':
			if (!strcmp(optarg, "none"))
				faulty = NO_WORKER;
			else
				ok = parse_number(optarg, 0, MAX_WORKERS - 1, &faulty);
			break;
		case 'h':
			usage(stdout);
			exit(EXIT_SUCCESS);
		default:
			ok = false;
		}
	}
	opt->faulty = (uint32_t)faulty;
	if (ok && optind == argc && opt->chunks <= opt->numbers
			&& (faulty == NO_WORKER || faulty < opt->workers))
		return 0;
	fprintf(stderr, "trindle-supervisor: bad arguments\n");
	usage(stderr);
	return -1;
}

int main(int argc, char **argv)
{
	struct options opt;
	struct supervisor s = { .opt = &opt };

	if (parse_options(argc, argv, &opt) != 0)
		return EXIT_FAILURE;
	printf("sum of 1..%" PRIu64 " in %" PRIu32 " chunks on %" PRIu32 " workers\n",
			opt.numbers, opt.chunks, opt.workers);
	fflush(stdout);

	/* On failure we simply exit: that ends every worker too. */
	if (supervise(&s) != 0)
		return EXIT_FAILURE;

	uint64_t expected = opt.numbers * (opt.numbers + 1) / 2;
	printf("total: %" PRIu64 " (expected %" PRIu64 "; %" PRIu32 " workers launched, %"
			PRIu32 " fault%s)\n", s.total, expected, s.launched, s.faults,
			s.faults == 1 ? "" : "s");

	trindle_message_t rel[3];
	trindle_util_batch_t out;
	trindle_util_batch_init(&out, rel, 3);
	trindle_util_add_release(&out, s.numbers);
	trindle_util_add_release(&out, s.results);
	trindle_util_add_release(&out, s.errors);
	int status = trindle_util_flush(&out, NULL) == 0 && s.total == expected;
	free(s.done);
	free(s.out.message);
	return status ? EXIT_SUCCESS : EXIT_FAILURE;
}
