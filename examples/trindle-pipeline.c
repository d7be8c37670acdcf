/* SPDX-License-Identifier: MIT */
/*
 * trindle-pipeline - the libtrindle demo: a source, a pool of workers and a
 * sink, passing 64 KiB chunks of data as segments.
 *
 *              chunks (round robin)       results
 *   source ---+--> worker 0 ---+
 *     ^       +--> worker 1 ---+---------> sink
 *     |       +--> ...      ---+            |
 *     +-------------------------------------+
 *          used chunks go back to the source, which refills them
 *
 * The source fills chunks with pseudo-random bytes from a fixed seed; each
 * worker computes a byte histogram and a 64-bit digest of every chunk it gets
 * and writes them into the chunk's header; the sink records the results and
 * hands each chunk back to the source, which refills it.  The main thread
 * (a root process) launches everyone, wires them together and waits.
 *
 * What it shows:
 *
 *  - Every hand-off is a *move*: a send and a release of the same segment in
 *    one trindle_sync().  The receiver becomes the sole holder and may write
 *    at once; no byte is ever copied and no page protection changes.
 *  - Batches: each process sends what it produced and asks for more input in
 *    a single trindle_sync() per round, with an inbox of several slots.
 *  - Flow control without extra messages: only a fixed number of chunk
 *    segments exist (4 per worker), and they circulate.  Every pipe is sized
 *    for all of them at once, so no send can ever fail for a full pipe.
 *  - Ends: after the last chunk the source sends each worker an empty
 *    segment as an end marker; workers end with trindle_exit(), handing a
 *    tally to the launcher; the sink ends with trindle_exit(summary).  The
 *    launcher learns that each process ended from the closure notice of its
 *    input pipe.  A process that hits a problem ends with trindle_abort() and
 *    a text report, which reaches the launcher's err pipe.
 *
 * The checksum folds the per-chunk digests in chunk order, so it is the same
 * whatever the number of workers and the order chunks finish in.  --verify
 * recomputes it sequentially, without the library, and compares.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <trindle.h>
#include <trindle/util.h>

#define CHUNK_BYTES (64 * 1024)
#define MAX_WORKERS 64
#define MAX_CHUNKS 1000000
#define CHUNKS_PER_WORKER 4 /* segments in circulation, per worker */
#define MAX_IN_FLIGHT (CHUNKS_PER_WORKER * MAX_WORKERS)
#define INBOX_SLOTS 16      /* messages taken per trindle_sync() */

/* One chunk segment: a header the workers fill in, then the data. */
struct chunk {
	uint64_t index;          /* position in the stream (source) */
	uint64_t digest;         /* digest of data (worker) */
	uint32_t worker;         /* who transformed it (worker) */
	uint32_t histogram[256]; /* count of each byte value (worker) */
	_Alignas(64) unsigned char data[CHUNK_BYTES]; /* (source) */
};

/* First message to the source; then come the workers' pipes. */
struct source_config {
	uint64_t chunks;
	uint64_t seed;
	uint32_t workers;
	uint32_t in_flight;
};

/* First message to the sink; then comes the source's pipe. */
struct sink_config {
	uint64_t chunks;
};

/* First message to a worker, and what it hands back when it ends (through
 * trindle_exit() to its out pipe); then comes the sink's pipe. */
struct worker_tally {
	uint32_t id;
	uint64_t chunks;
};

/* What the sink hands back when it ends. */
struct summary {
	uint64_t chunks;
	uint64_t checksum;
	uint64_t histogram[256];
	uint64_t digests[]; /* one per chunk, in chunk order */
};

/* The report a process sends with trindle_abort() when it gives up.  The
 * magic number tells it apart from the runtime's fault reports, which
 * arrive on the same err pipe. */
#define FAILURE_MAGIC 0x4641494c55524521u
struct failure {
	uint64_t magic;
	char text[120];
};

/* ---- the data and its digest (shared with --verify) ------------------- */

static uint64_t splitmix64(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15u);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

/* Chunk `index` of the stream: it depends only on the seed and the index,
 * so any chunk can be made (or remade) on its own. */
static void generate(unsigned char *data, uint64_t seed, uint64_t index)
{
	uint64_t state = seed ^ (index * 0xd1342543de82ef95u);

	for (size_t i = 0; i < CHUNK_BYTES; i += 8) {
		uint64_t word = splitmix64(&state);
		memcpy(data + i, &word, 8);
	}
}

/* The workers' transform: byte histogram plus a 64-bit digest. */
static uint64_t analyse(const unsigned char *data, uint32_t histogram[256])
{
	uint64_t h = 0xcbf29ce484222325u;

	memset(histogram, 0, 256 * sizeof histogram[0]);
	for (size_t i = 0; i < CHUNK_BYTES; i += 8) {
		uint64_t word;
		memcpy(&word, data + i, 8);
		h = (h ^ word) * 0x100000001b3u;
		h ^= h >> 29;
	}
	for (size_t i = 0; i < CHUNK_BYTES; i++)
		histogram[data[i]]++;
	return h;
}

/* Folds the digests, in chunk order, into the stream's checksum. */
static uint64_t fold(uint64_t h, uint64_t digest)
{
	h = (h ^ digest) * 0x100000001b3u;
	return h ^ (h >> 32);
}

#define FOLD_START 0x6a09e667f3bcc908u

/* ---- batches of outgoing messages -------------------------------------- */

/* Each process fills a trindle_util_batch with what it sends, moves and
 * releases, and runs it with its next receive in one trindle_sync().
 * Capacities are worked out from the protocol up front, so running out of
 * room (or adding a NULL) is a bug in this program: added() stops it. */
static void added(int rc)
{
	if (rc != 0) {
		fprintf(stderr, "trindle-pipeline: batch: %s (a bug)\n",
				strerror(errno));
		abort();
	}
}

/* Runs the batch (and empties it), storing up to `slots` incoming messages
 * in inbox.  Returns how many arrived, or -1 if the call or any outgoing
 * message failed, with what went wrong in why[]. */
static long run_batch(trindle_util_batch_t *b, trindle_message_t *inbox,
		size_t slots, char *why, size_t why_size)
{
	trindle_mailbox_t in = { slots, inbox };
	int failed = trindle_util_flush(b, slots ? &in : NULL);

	if (failed < 0) {
		snprintf(why, why_size, "trindle_sync: %s", strerror(errno));
		return -1;
	}
	if (failed > 0) {
		/* The failed messages are now at the front of the batch. */
		trindle_message_t m = b->message[0];
		snprintf(why, why_size, "%d message(s) failed, first {%p, %p}: %s",
				failed, m.address, m.content,
				strerror(trindle_util_error(&m)));
		return -1;
	}
	return (long)in.count;
}

/* Ends the calling process (source, worker or sink) with a text report,
 * which trindle_abort() delivers to the err pipe it was launched with. */
static _Noreturn void give_up(const char *who, const char *what)
{
	struct failure f = { .magic = FAILURE_MAGIC };
	trindle_buffer_t buf = { sizeof f, &f };

	snprintf(f.text, sizeof f.text, "%s: %s", who, what);
	/* If even this allocation fails, abort with no report: the launcher
	 * still sees the closure notice. */
	trindle_abort(trindle_allocate(1, &buf));
}

/* Waits for the next message on a pipe this process created.  Setup
 * messages come one by one, so a one-message receive keeps the rest
 * queued.  Any notice during setup means something went wrong. */
static trindle_object_t receive_setup(const char *who, trindle_pipe_t pipe)
{
	trindle_message_t msg;
	int got = trindle_util_receive(pipe, &msg, -1);

	if (got < 0)
		give_up(who, "cannot receive");
	/* Nothing delivered means nobody can send any more. */
	if (got == 0)
		give_up(who, "input closed during setup");
	if (trindle_util_kind(&msg) != TRINDLE_UTIL_MESSAGE)
		give_up(who, "unexpected notice during setup");
	return msg.content;
}

/* A segment of exactly `bytes` that the caller may write: what every
 * configuration message and every moved chunk must be. */
static bool owned_segment(trindle_object_t object, size_t bytes)
{
	return trindle_measure(object) == bytes
		&& (trindle_access(object) & TRINDLE_ACCESS_WRITE);
}

/* ---- the source -------------------------------------------------------- */

struct source {
	struct source_config *config;
	trindle_pipe_t workers[MAX_WORKERS];
	uint64_t next;     /* next chunk index to generate */
	uint32_t turn;     /* next worker, round robin */
	bool markers_sent; /* have the end markers gone out? */
	trindle_util_batch_t out;
};

/* Fills a chunk segment with the next chunk and moves it to a worker. */
static void source_dispatch(struct source *s, struct chunk *c)
{
	generate(c->data, s->config->seed, s->next);
	c->index = s->next++;
	c->worker = UINT32_MAX;
	added(trindle_util_add_move(&s->out, s->workers[s->turn], c));
	s->turn = (s->turn + 1) % s->config->workers;
}

/* After the last chunk, one empty segment per worker says "no more". */
static void source_send_markers(struct source *s)
{
	for (uint32_t i = 0; i < s->config->workers; i++) {
		trindle_segment_t marker = trindle_allocate(0, NULL);
		if (!marker)
			give_up("source", "cannot allocate an end marker");
		added(trindle_util_add_move(&s->out, s->workers[i], marker));
	}
	s->markers_sent = true;
}

/* Allocates the circulating chunk segments and sends out the first round. */
static void source_start(struct source *s)
{
	uint64_t first = s->config->in_flight;
	trindle_buffer_t shape = { sizeof(struct chunk), NULL };

	if (first > s->config->chunks)
		first = s->config->chunks;
	for (uint64_t i = 0; i < first; i++) {
		struct chunk *c = trindle_allocate(1, &shape);
		if (!c)
			give_up("source", "cannot allocate chunk segments");
		source_dispatch(s, c);
	}
}

/* One round of a stage: sends what the batch holds, asks for more input
 * in the same call, and waits for it.  Returns how many messages arrived
 * in inbox (INBOX_SLOTS long): at least one. */
static size_t next_round(const char *who, trindle_util_batch_t *b, trindle_pipe_t input,
		trindle_message_t *inbox)
{
	char why[160];

	added(trindle_util_add_receive(b, input));
	long n = run_batch(b, inbox, INBOX_SLOTS, why, sizeof why);
	if (n < 0)
		give_up(who, why);
	/* Nothing delivered: nobody can send to us any more. */
	if (n == 0)
		give_up(who, "input closed too early");
	return (size_t)n;
}

/* Sends (and releases) what the batch holds; does not wait. */
static void flush(const char *who, trindle_util_batch_t *b)
{
	char why[160];

	if (run_batch(b, NULL, 0, why, sizeof why) < 0)
		give_up(who, why);
}

/* Input, in order: the configuration, then one pipe per worker. */
static void source_setup(struct source *s, trindle_pipe_t input)
{
	s->config = receive_setup("source", input);
	if (!owned_segment(s->config, sizeof *s->config)
			|| s->config->workers == 0 || s->config->workers > MAX_WORKERS
			|| s->config->in_flight > MAX_IN_FLIGHT)
		give_up("source", "bad configuration");
	for (uint32_t i = 0; i < s->config->workers; i++)
		s->workers[i] = receive_setup("source", input);
}

/* A chunk came back from the sink: refill it and send it out again, or
 * let it go once every chunk exists.  Returns 1 for a chunk, 0 for a
 * notice. */
static int source_take(struct source *s, trindle_pipe_t input, trindle_message_t m)
{
	struct chunk *c = m.content;

	if (c == NULL) {
		/* A worker ended.  Fine after the end markers, not before. */
		if (!s->markers_sent)
			give_up("source", "a worker ended early");
		return 0;
	}
	if (m.address != input || !owned_segment(c, sizeof *c))
		give_up("source", "unexpected message");
	if (s->next < s->config->chunks)
		source_dispatch(s, c);
	else
		added(trindle_util_add_release(&s->out, c));
	return 1;
}

static void source_main(trindle_pipe_t input)
{
	/* Worst round: every circulating chunk moved (2 messages each), the
	 * end markers, and the receive request. */
	trindle_message_t msgs[2 * MAX_IN_FLIGHT + 2 * MAX_WORKERS + 1];
	struct source s = { 0 };
	trindle_message_t inbox[INBOX_SLOTS];

	trindle_util_batch_init(&s.out, msgs, sizeof msgs / sizeof msgs[0]);

	source_setup(&s, input);
	source_start(&s);
	for (uint64_t back = 0; back < s.config->chunks;) {
		if (s.next == s.config->chunks && !s.markers_sent)
			source_send_markers(&s);
		size_t n = next_round("source", &s.out, input, inbox);
		for (size_t i = 0; i < n; i++)
			back += source_take(&s, input, inbox[i]);
	}
	flush("source", &s.out); /* releases the last chunks */
	trindle_exit(NULL); /* releases the config and the workers' pipes */
}

/* ---- the workers ------------------------------------------------------- */

struct worker {
	trindle_pipe_t input;
	trindle_pipe_t sink;
	struct worker_tally *tally;
	trindle_util_batch_t out;
};

/* Handles one incoming message; returns true at the end marker. */
static bool worker_take(struct worker *w, trindle_message_t m)
{
	struct chunk *c = m.content;

	/* The sink ends once it has every chunk, perhaps before our end
	 * marker arrives: only the marker can follow. */
	if (m.address == w->sink && c == NULL)
		return false;
	if (m.address != w->input || c == NULL)
		give_up("worker", "unexpected notice");
	if (trindle_measure(c) == 0) { /* the end marker */
		added(trindle_util_add_release(&w->out, c));
		return true;
	}
	if (!owned_segment(c, sizeof *c))
		give_up("worker", "unexpected message");
	/* The chunk was moved to us: we are its sole holder and may write. */
	c->digest = analyse(c->data, c->histogram);
	c->worker = w->tally->id;
	w->tally->chunks++;
	added(trindle_util_add_move(&w->out, w->sink, c));
	return false;
}

static void worker_main(trindle_pipe_t input)
{
	trindle_message_t inbox[INBOX_SLOTS];
	trindle_message_t msgs[2 * INBOX_SLOTS + 1];
	struct worker w = { .input = input };
	bool done = false;

	trindle_util_batch_init(&w.out, msgs, sizeof msgs / sizeof msgs[0]);

	/* Input, in order: our tally (with our id), the sink's pipe, chunks. */
	w.tally = receive_setup("worker", input);
	if (!owned_segment(w.tally, sizeof *w.tally))
		give_up("worker", "bad configuration");
	w.sink = receive_setup("worker", input);

	while (!done) {
		/* The results of a round go out with the next request. */
		size_t n = next_round("worker", &w.out, input, inbox);
		for (size_t i = 0; i < n; i++)
			done |= worker_take(&w, inbox[i]);
	}
	flush("worker", &w.out);
	/* Moves the tally to our out pipe, then releases everything else. */
	trindle_exit(w.tally);
}

/* ---- the sink ---------------------------------------------------------- */

struct sink {
	trindle_pipe_t input;
	trindle_pipe_t source;
	uint64_t chunks;       /* how many to expect */
	struct summary *sum;   /* handed back through trindle_exit() */
	bool *seen;            /* per chunk index */
	trindle_util_batch_t out;
};

/* Records one transformed chunk and sends it back to the source. */
static void sink_take(struct sink *k, trindle_message_t m)
{
	const struct chunk *c = m.content;

	if (m.address != k->input || !owned_segment(m.content, sizeof *c))
		give_up("sink", "unexpected message or notice");
	if (c->index >= k->chunks || k->seen[c->index])
		give_up("sink", "chunk index out of range or repeated");
	k->seen[c->index] = true;
	k->sum->digests[c->index] = c->digest;
	for (int v = 0; v < 256; v++)
		k->sum->histogram[v] += c->histogram[v];
	k->sum->chunks++;
	added(trindle_util_add_move(&k->out, k->source, m.content)); /* back for reuse */
}

/* Input, in order: the configuration, the source's pipe. */
static void sink_setup(struct sink *k)
{
	struct sink_config *config = receive_setup("sink", k->input);

	if (!owned_segment(config, sizeof *config))
		give_up("sink", "bad configuration");
	k->chunks = config->chunks;
	k->source = receive_setup("sink", k->input);
	added(trindle_util_add_release(&k->out, config)); /* done with it */

	/* Private scratch memory can be a segment too: whatever a process
	 * holds is released when it ends, even through give_up(). */
	trindle_buffer_t shape = { sizeof *k->sum + k->chunks * sizeof(uint64_t), NULL };
	trindle_buffer_t flags = { k->chunks * sizeof(bool), NULL };
	k->sum = trindle_allocate(1, &shape);
	k->seen = trindle_allocate(1, &flags);
	if (!k->sum || !k->seen)
		give_up("sink", "out of memory");
}

static void sink_main(trindle_pipe_t input)
{
	trindle_message_t inbox[INBOX_SLOTS];
	trindle_message_t msgs[2 * INBOX_SLOTS + 1];
	struct sink k = { .input = input };

	trindle_util_batch_init(&k.out, msgs, sizeof msgs / sizeof msgs[0]);

	sink_setup(&k);
	while (k.sum->chunks < k.chunks) {
		size_t n = next_round("sink", &k.out, input, inbox);
		for (size_t i = 0; i < n; i++)
			sink_take(&k, inbox[i]);
	}
	added(trindle_util_add_release(&k.out, k.seen));
	flush("sink", &k.out);

	k.sum->checksum = FOLD_START;
	for (uint64_t i = 0; i < k.chunks; i++)
		k.sum->checksum = fold(k.sum->checksum, k.sum->digests[i]);
	trindle_exit(k.sum);
}

/* ---- the launcher (the main thread, a root process) -------------------- */

struct options {
	uint64_t chunks;
	uint64_t seed;
	uint32_t workers;
	bool verify;
};

struct run {
	const struct options *opt;
	trindle_pipe_t results, tallies, errors; /* pipes we receive on */
	trindle_pipe_t source, sink, workers[MAX_WORKERS];
	unsigned alive;                  /* launched, not yet ended */
	uint64_t done_by[MAX_WORKERS];   /* chunks per worker, from tallies */
	unsigned tallies_in;
	struct summary *summary;
};

static int launch_all(struct run *r)
{
	uint32_t j = r->opt->workers;
	size_t k = (size_t)j * CHUNKS_PER_WORKER;

	r->results = trindle_pipe(1);
	r->tallies = trindle_pipe(j);
	r->errors = trindle_pipe(j + 2);
	if (!r->results || !r->tallies || !r->errors)
		return -1;
	/* Each input pipe has room for its setup messages plus every
	 * circulating chunk, so sends into it never fail for lack of room. */
	r->sink = trindle_launch(sink_main, k + 2, r->results, r->errors);
	if (!r->sink)
		return -1;
	r->alive++;
	for (uint32_t i = 0; i < j; i++) {
		r->workers[i] = trindle_launch(worker_main, k + 3, r->tallies, r->errors);
		if (!r->workers[i])
			return -1;
		r->alive++;
	}
	r->source = trindle_launch(source_main, k + j + 1, NULL, r->errors);
	if (!r->source)
		return -1;
	r->alive++;
	return 0;
}

/* Makes a segment holding a copy of a configuration struct. */
static trindle_segment_t config_segment(const void *config, size_t bytes)
{
	trindle_buffer_t buf = { bytes, config };
	return trindle_allocate(1, &buf);
}

/* Tells everyone who to talk to, in one batch: configurations are moved,
 * pipes are sent (we keep SEND on them, to get their closure notices).
 *
 * Order matters.  Messages from different senders into one pipe are not
 * ordered, so a worker could see a chunk from the source before its own
 * configuration from us.  The batch is handled in order, so configuring
 * the sink and the workers first and the source last means everyone is
 * ready before the first chunk exists. */
static int wire_up(struct run *r)
{
	uint32_t j = r->opt->workers;
	struct source_config sc = { r->opt->chunks, r->opt->seed, j, j * CHUNKS_PER_WORKER };
	struct sink_config kc = { r->opt->chunks };
	trindle_message_t msgs[6 + 4 * MAX_WORKERS];
	trindle_util_batch_t out;
	trindle_segment_t seg;
	char why[160];

	trindle_util_batch_init(&out, msgs, sizeof msgs / sizeof msgs[0]);

	if (!(seg = config_segment(&kc, sizeof kc)))
		goto no_memory;
	added(trindle_util_add_move(&out, r->sink, seg));
	added(trindle_util_add_send(&out, r->sink, r->source));

	for (uint32_t i = 0; i < j; i++) {
		struct worker_tally t = { i, 0 };
		if (!(seg = config_segment(&t, sizeof t)))
			goto no_memory;
		added(trindle_util_add_move(&out, r->workers[i], seg));
		added(trindle_util_add_send(&out, r->workers[i], r->sink));
	}

	if (!(seg = config_segment(&sc, sizeof sc)))
		goto no_memory;
	added(trindle_util_add_move(&out, r->source, seg));
	for (uint32_t i = 0; i < j; i++)
		added(trindle_util_add_send(&out, r->source, r->workers[i]));

	if (run_batch(&out, NULL, 0, why, sizeof why) < 0) {
		fprintf(stderr, "trindle-pipeline: setup: %s\n", why);
		return -1;
	}
	return 0;
no_memory:
	perror("trindle-pipeline: configuration segment");
	return -1;
}

/* Prints a report from the err pipe: a process gave up, or broke a rule. */
static void print_report(const void *report)
{
	size_t bytes = trindle_measure((trindle_object_t)report);
	const struct failure *f = report;
	const trindle_fault_t *fault = report;

	if (bytes == sizeof *f && f->magic == FAILURE_MAGIC)
		fprintf(stderr, "trindle-pipeline: %.*s\n", (int)sizeof f->text, f->text);
	else if (bytes >= sizeof *fault)
		fprintf(stderr, "trindle-pipeline: process %p faulted: %s at %p "
				"in segment %p\n", fault->process,
				fault->access == TRINDLE_ACCESS_WRITE ? "write"
				: fault->access == TRINDLE_ACCESS_EXECUTE ? "execute" : "read",
				fault->address, fault->object);
	else
		fprintf(stderr, "trindle-pipeline: unreadable report on err pipe\n");
}

/* Handles one incoming message or notice; returns -1 to stop the run. */
static int handle(struct run *r, trindle_message_t m)
{
	if (m.content == NULL) { /* closure notice: a process ended */
		r->alive--;
		return 0;
	}
	if (m.address == r->errors) {
		print_report(m.content);
		return -1;
	}
	if (m.address == r->tallies
			&& trindle_measure(m.content) == sizeof(struct worker_tally)) {
		const struct worker_tally *t = m.content;
		if (t->id < r->opt->workers)
			r->done_by[t->id] = t->chunks;
		r->tallies_in++;
		return trindle_util_release(m.content);
	}
	if (m.address == r->results && !r->summary) {
		r->summary = m.content;
		return 0;
	}
	fprintf(stderr, "trindle-pipeline: unexpected message {%p, %p}\n",
			m.address, m.content);
	return -1;
}

/* Waits until every process has ended and every result is in. */
static int collect(struct run *r)
{
	trindle_message_t inbox[INBOX_SLOTS];

	while (r->alive > 0 || !r->summary || r->tallies_in < r->opt->workers) {
		trindle_message_t req[3];
		trindle_util_batch_t out;
		trindle_mailbox_t in = { INBOX_SLOTS, inbox };

		trindle_util_batch_init(&out, req, 3);
		added(trindle_util_add_receive(&out, r->results));
		added(trindle_util_add_receive(&out, r->tallies));
		added(trindle_util_add_receive(&out, r->errors));
		if (trindle_util_flush(&out, &in) != 0) {
			perror("trindle-pipeline: trindle_sync");
			return -1;
		}
		if (in.count == 0) {
			/* Nothing can arrive on our pipes any more.  Everything a
			 * process delivers is queued before it ends, so if all have
			 * ended, something was lost; otherwise the last closure
			 * notices are on their way. */
			if (r->alive == 0) {
				fprintf(stderr, "trindle-pipeline: processes ended without results\n");
				return -1;
			}
			sched_yield();
			continue;
		}
		for (size_t i = 0; i < in.count; i++)
			if (handle(r, inbox[i]) != 0)
				return -1;
	}
	return 0;
}

/* Lets go of what the launcher still holds. */
static void release_all(struct run *r)
{
	trindle_message_t msgs[4];
	trindle_util_batch_t out;

	trindle_util_batch_init(&out, msgs, 4);
	added(trindle_util_add_release(&out, r->summary)); /* NULL: skipped */
	added(trindle_util_add_release(&out, r->results));
	added(trindle_util_add_release(&out, r->tallies));
	added(trindle_util_add_release(&out, r->errors));
	if (trindle_util_flush(&out, NULL) != 0)
		fprintf(stderr, "trindle-pipeline: could not release everything\n");
	r->summary = NULL;
}

static double seconds_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

/* Bits of information per byte, from the histogram (8.0 for random data). */
static double entropy(const uint64_t histogram[256], uint64_t bytes)
{
	double bits = 0;

	for (int v = 0; v < 256; v++) {
		if (histogram[v] == 0)
			continue;
		double p = (double)histogram[v] / (double)bytes;
		bits -= p * log2(p);
	}
	return bits;
}

static void print_results(const struct run *r, double secs)
{
	uint64_t bytes = r->opt->chunks * CHUNK_BYTES;
	double mib = (double)bytes / (1024.0 * 1024.0);

	printf("chunks: %" PRIu64 " of %d KiB (%.1f MiB), %u worker(s)\n",
			r->opt->chunks, CHUNK_BYTES / 1024, mib, r->opt->workers);
	for (uint32_t i = 0; i < r->opt->workers; i++)
		printf("  worker %u: %" PRIu64 " chunks\n", i, r->done_by[i]);
	printf("checksum: %016" PRIx64 "\n", r->summary->checksum);
	printf("entropy: %.4f bits/byte\n", entropy(r->summary->histogram, bytes));
	printf("time: %.1f ms, %.0f MiB/s\n", secs * 1e3, mib / secs);
}

/* The whole computation again, sequentially and without the library. */
static int verify(const struct options *opt, const struct summary *got)
{
	unsigned char *data = malloc(CHUNK_BYTES);
	uint32_t histogram[256];
	uint64_t h = FOLD_START;

	if (!data)
		return -1;
	for (uint64_t i = 0; i < opt->chunks; i++) {
		generate(data, opt->seed, i);
		h = fold(h, analyse(data, histogram));
	}
	free(data);
	printf("verify: sequential checksum %016" PRIx64 ": %s\n", h,
			h == got->checksum ? "match" : "MISMATCH");
	return h == got->checksum ? 0 : -1;
}

static void usage(FILE *to)
{
	fprintf(to,
		"Usage: trindle-pipeline [-n CHUNKS] [-j WORKERS] [-s SEED] [--verify]\n"
		"\n"
		"Streams CHUNKS chunks of 64 KiB of pseudo-random bytes from a source\n"
		"process through WORKERS worker processes (each computes a byte\n"
		"histogram and a digest per chunk) to a sink process.  Chunks move\n"
		"between processes as libtrindle segments and are never copied.\n"
		"\n"
		"  -n, --chunks N    chunks to stream (default 256, at most %d)\n"
		"  -j, --workers N   worker processes (default 2, at most %d)\n"
		"  -s, --seed N      seed of the data (default 1)\n"
		"      --verify      recompute the checksum sequentially and compare\n"
		"  -h, --help        show this help\n"
		"\n"
		"The checksum depends only on CHUNKS and SEED, not on WORKERS.\n",
		MAX_CHUNKS, MAX_WORKERS);
}

/* Parses an unsigned number in [min, max]; returns false if it is not. */
static bool parse_number(const char *s, uint64_t min, uint64_t max, uint64_t *value)
{
	char *end;

	errno = 0;
	unsigned long long v = strtoull(s, &end, 0);
	if (errno || end == s || *end || s[0] == '-' || v < min || v > max)
		return false;
	*value = v;
	return true;
}

static int parse_options(int argc, char **argv, struct options *opt)
{
	static const struct option longs[] = {
		{ "chunks", required_argument, NULL, 'n' },
		{ "workers", required_argument, NULL, 'j' },
		{ "seed", required_argument, NULL, 's' },
		{ "verify", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t v;
	int c;

	*opt = (struct options){ .chunks = 256, .seed = 1, .workers = 2 };
	while ((c = getopt_long(argc, argv, "n:j:s:h", longs, NULL)) != -1) {
		switch (c) {
		case 'n':
			if (!parse_number(optarg, 1, MAX_CHUNKS, &opt->chunks))
				goto bad;
			break;
		case 'j':
			if (!parse_number(optarg, 1, MAX_WORKERS, &v))
				goto bad;
			opt->workers = (uint32_t)v;
			break;
		case 's':
			if (!parse_number(optarg, 0, UINT64_MAX, &opt->seed))
				goto bad;
			break;
		case 'v':
			opt->verify = true;
			break;
		case 'h':
			usage(stdout);
			exit(EXIT_SUCCESS);
		default:
			usage(stderr);
			return -1;
		}
	}
	if (optind == argc)
		return 0;
	fprintf(stderr, "trindle-pipeline: unexpected argument: %s\n", argv[optind]);
	usage(stderr);
	return -1;
bad:
	fprintf(stderr, "trindle-pipeline: bad value for -%c: %s\n", c, optarg);
	usage(stderr);
	return -1;
}

int main(int argc, char **argv)
{
	struct options opt;
	struct run r = { .opt = &opt };
	struct timespec t0;

	if (parse_options(argc, argv, &opt) != 0)
		return EXIT_FAILURE;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (launch_all(&r) != 0) {
		perror("trindle-pipeline: launching the processes");
		return EXIT_FAILURE;
	}
	if (wire_up(&r) != 0)
		return EXIT_FAILURE;
	/* On failure we simply exit: ending the Unix process ends every
	 * Trindle process in it. */
	if (collect(&r) != 0)
		return EXIT_FAILURE;
	double secs = seconds_since(&t0);

	print_results(&r, secs);
	int status = opt.verify && verify(&opt, r.summary) != 0;
	release_all(&r);
	return status ? EXIT_FAILURE : EXIT_SUCCESS;
}
