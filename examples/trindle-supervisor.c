/* SPDX-License-Identifier: MIT */
/*
 * trindle-supervisor - a pipeline that survives a crashing stage.
 *
 * Three stages run under one supervisor (<trindle/supervise.h>):
 *
 *     source (main) -> parse -> weigh -> total -> out pipe (back to main)
 *
 * The source writes N records, one per segment, as lines of text
 * "SEQ CATEGORY VALUE".  parse turns the text into a struct record, in
 * place; weigh multiplies the value by its category's weight; total adds
 * the results up, marks each record seen, and at the end moves its tally
 * to the out pipe.  A zero-length segment after the last record tells each
 * stage to pass it on and end.
 *
 * weigh has a bug: it uses what lookup() returns without checking it.
 * Every P-th record (-p) has a category nobody knows, "quince", and weigh
 * dies on it with a NULL dereference.  The supervisor starts a new weigh
 * on the same mailbox: the records queued there wait for it, parse keeps
 * sending (at most it waits a little for room), and only the record weigh
 * held when it crashed is lost.  So the program knows exactly what to
 * expect: the sum over every record but the poisoned ones, each missing
 * record matched with one fault report from the supervisor.
 *
 * Strategy: one-for-one.  The stages share no state, and total's running
 * sum must survive a crash of weigh.  Rest-for-one would restart total
 * too (it starts after weigh) and lose the sum; it suits children that
 * depend on an earlier one's state, one-for-all children that only work
 * as a set.  Policy: on-failure, so a stage that ends after the end marker
 * stays down, and one that faults or aborts is restarted.  Intensity: as
 * many restarts within a minute as there are poisoned records (-r changes
 * it); one more means a bug we did not plan for, and the supervisor gives
 * up: it stops the stages, its mailboxes die, and the program says so.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <trindle.h>
#include <trindle/supervise.h>
#include <trindle/util.h>

#define RECORD_BYTES 64   /* a record's segment: its line, then its struct */
#define MAILBOX 64        /* each stage's mailbox capacity */
#define INBOX 16          /* what the source takes in one sync */
#define BATCH (2 * 32 + INBOX + 2) /* 32 record moves, releases, receives */

/* What parse makes of a line, written over it. */
struct record {
	uint64_t seq;        /* 1 .. N */
	uint64_t value;
	uint64_t weighted;   /* weigh's result */
	char category[16];
};
_Static_assert(sizeof(struct record) <= RECORD_BYTES, "record too large");

/* total's result: moved to the out pipe at the end. */
struct tally {
	uint64_t records;    /* how many arrived */
	uint64_t total;      /* the sum of their weighted values */
	uint8_t seen[];      /* bit seq set: record seq arrived */
};

static const struct category {
	const char *name;
	uint64_t weight;
} categories[] = {
	{ "apple", 1 }, { "pear", 2 }, { "plum", 3 }, { "fig", 5 },
};

/*
 * Set before the stages start and only read by them afterwards.
 * trindle_supervise() fills mailbox[] (parse, weigh, total: the spec's
 * order) before any child runs; the program's own side sends through it,
 * while the stages find each other by name (trindle_supervise_mailbox()).
 */
static struct {
	trindle_pipe_t mailbox[3];
	trindle_pipe_t out;
	uint64_t records;
} tree;

/* ---- the stages ---------------------------------------------------------- */

static int parse(const trindle_message_t *in, trindle_object_t *out, void *arg)
{
	struct record r = { 0 };

	(void)in, (void)arg;
	if (!*out)
		return 0;            /* a notice: nothing to pass on */
	if (trindle_measure(*out) == 0)
		return 1;            /* the end marker: pass it on, then end */
	if (sscanf(*out, "%" SCNu64 " %15s %" SCNu64, &r.seq, r.category, &r.value) != 3)
		trindle_abort(NULL); /* a failure: the supervisor restarts us */
	memcpy(*out, &r, sizeof r);
	return 0;
}

static void parse_stage(trindle_pipe_t input)
{
	trindle_pipe_t next = trindle_supervise_mailbox("weigh");

	if (!next || trindle_util_stage(input, next, 8, parse, NULL) < 0)
		trindle_abort(NULL);
}

/* Not inlined, so that the compiler cannot see the NULL it may return and
 * put a trap instruction in place of weight_of()'s load. */
__attribute__((noinline)) static const struct category *lookup(const char *name)
{
	for (size_t i = 0; i < sizeof categories / sizeof categories[0]; i++)
		if (strcmp(categories[i].name, name) == 0)
			return &categories[i];
	return NULL;
}

/* THE BUG: c may be NULL.  (Not checked by UBSan, which would stop a
 * sanitizer build before the CPU faults.) */
__attribute__((no_sanitize("undefined"))) static uint64_t weight_of(const struct category *c)
{
	return c->weight;
}

static int weigh(const trindle_message_t *in, trindle_object_t *out, void *arg)
{
	struct record *r = *out;

	(void)in, (void)arg;
	if (!r)
		return 0;
	if (trindle_measure(r) == 0)
		return 1;
	r->weighted = r->value * weight_of(lookup(r->category));
	return 0;
}

/* Takes one record per sync: what a stage holds when it crashes is lost,
 * so the stage that may crash holds as little as it can. */
static void weigh_stage(trindle_pipe_t input)
{
	trindle_pipe_t next = trindle_supervise_mailbox("total");

	if (!next || trindle_util_stage(input, next, 1, weigh, NULL) < 0)
		trindle_abort(NULL);
}

static void total_stage(trindle_pipe_t input)
{
	trindle_buffer_t shape = { sizeof(struct tally) + tree.records / 8 + 1, NULL };
	struct tally *t = trindle_allocate(1, &shape);
	trindle_message_t storage[9], got[8];
	trindle_util_batch_t b;

	if (!t)
		trindle_abort(NULL);
	trindle_util_batch_init(&b, storage, 9);
	for (;;) {
		trindle_mailbox_t in = { 8, got };
		trindle_util_add_receive(&b, input); /* after last round's releases */
		if (trindle_util_flush(&b, &in) != 0 || in.count == 0)
			trindle_abort(NULL);
		for (size_t i = 0; i < in.count; i++) {
			struct record *r = got[i].content;
			if (trindle_util_kind(&got[i]) != TRINDLE_UTIL_MESSAGE)
				continue;
			if (trindle_measure(r) == 0)
				trindle_exit(t); /* t to out; the rest is released */
			if (r->seq >= 1 && r->seq <= tree.records) {
				t->seen[r->seq / 8] |= (uint8_t)(1u << r->seq % 8);
				t->records++;
				t->total += r->weighted;
			}
			trindle_util_add_release(&b, got[i].content);
		}
	}
}

static const trindle_child_spec_t stages[] = {
	{ "parse", parse_stage, MAILBOX, TRINDLE_RESTART_ON_FAILURE, NULL },
	{ "weigh", weigh_stage, MAILBOX, TRINDLE_RESTART_ON_FAILURE, NULL },
	{ "total", total_stage, MAILBOX, TRINDLE_RESTART_ON_FAILURE, NULL },
};
static trindle_supervisor_spec_t pipeline = {
	.name = "pipeline", .strategy = TRINDLE_ONE_FOR_ONE,
	.period_ms = 60000, /* .max_restarts: set by main() */
	.count = 3, .children = stages,
};

/* ---- the source, which also collects ------------------------------------ */

struct options {
	uint64_t records, period, restarts;
};

struct source {
	const struct options *opt;
	trindle_pipe_t supervisor, reports;
	uint64_t next;          /* the next record to send; N + 1: the marker */
	bool broken;            /* parse's mailbox died: the tree gave up */
	bool gave_up;
	struct tally *result;
	/* The reports of failed ends, in order.  Each failure is restarted
	 * or makes the supervisor give up: at most restarts + 1 of them. */
	trindle_supervisor_report_t *failures;
	size_t nfailures;
};

static bool poisoned(const struct options *o, uint64_t seq)
{
	return o->period && seq % o->period == 0;
}

static uint64_t value_of(uint64_t seq) { return seq * 7919 % 10007; }

/* Appends the move of the next record (or of the end marker) to b. */
static int queue_record(struct source *s, trindle_util_batch_t *b)
{
	char line[RECORD_BYTES] = { 0 };
	trindle_buffer_t text = { RECORD_BYTES, line };
	uint64_t seq = s->next++;
	const char *category = poisoned(s->opt, seq) ? "quince" : categories[seq % 4].name;

	snprintf(line, sizeof line, "%" PRIu64 " %s %" PRIu64, seq, category, value_of(seq));
	trindle_segment_t seg = trindle_allocate(seq > s->opt->records ? 0 : 1, &text);
	if (!seg) {
		perror("trindle-supervisor: trindle_allocate");
		return -1;
	}
	return trindle_util_add_move(b, tree.mailbox[0], seg);
}

/* What came in: a report (noted, then released) or total's tally, after
 * which we stop the supervisor (its stages have ended, or are ending). */
static void take(struct source *s, trindle_util_batch_t *b, const trindle_message_t *m)
{
	trindle_supervisor_report_t *r = m->content;

	if (trindle_util_kind(m) != TRINDLE_UTIL_MESSAGE)
		return; /* closure notices of the mailboxes as the tree ends */
	if (m->address == tree.out && !s->result) {
		s->result = m->content;
		if (trindle_supervise_stop(s->supervisor) != 0)
			perror("trindle-supervisor: trindle_supervise_stop");
		return;
	}
	if (m->address == s->reports && trindle_measure(r) >= sizeof *r) {
		if (r->gave_up && !s->gave_up)
			printf("supervisor %s gave up: more than %" PRIu64 " restarts\n",
					r->supervisor, s->opt->restarts);
		s->gave_up |= r->gave_up;
		/* Not a stage's end after the marker, nor the give-up itself. */
		if (r->child[0] && r->ended_by != TRINDLE_END_EXIT
				&& s->nfailures <= s->opt->restarts)
			s->failures[s->nfailures++] = *r;
	}
	trindle_util_add_release(b, m->content);
}

/* Sends the records and takes what comes in, until nothing more can (the
 * supervisor and its stages have all ended). */
static int run(struct source *s)
{
	trindle_message_t storage[BATCH], got[INBOX];
	trindle_util_batch_t b;
	int failed = 0;

	trindle_util_batch_init(&b, storage, BATCH);
	for (;;) {
		bool sending = s->next <= s->opt->records + 1 && !s->broken;
		while (sending && s->next <= s->opt->records + 1 && b.count + 2 <= BATCH - INBOX - 2)
			if (queue_record(s, &b) != 0)
				return -1;
		trindle_util_add_receive(&b, s->reports);
		trindle_util_add_receive(&b, tree.out);
		/* Moves that failed last time found parse's mailbox full: wait
		 * a little before trying again.  Done sending: wait for good. */
		int64_t wait = failed ? 100000 : sending ? 0 : -1;
		trindle_mailbox_t in = { INBOX, got };
		failed = trindle_util_flush_timeout(&b, &in, wait);
		if (failed < 0) {
			perror("trindle-supervisor: trindle_sync");
			return -1;
		}
		if (failed && trindle_util_error(&b.message[0]) != EAGAIN) {
			/* The mailbox died: keep only the releases, letting go of
			 * the records that could not go. */
			size_t k = 0;
			for (size_t i = 0; i < b.count; i++)
				if (!b.message[i].address)
					b.message[k++] = b.message[i];
			b.count = k;
			s->broken = true;
		}
		if (in.count == 0 && wait < 0)
			return 0;
		for (size_t i = 0; i < in.count; i++)
			take(s, &b, &got[i]);
	}
}

static const char *access_word(int a)
{
	return a == TRINDLE_ACCESS_READ ? "read" : a == TRINDLE_ACCESS_WRITE ? "write"
		: a == TRINDLE_ACCESS_EXECUTE ? "execute" : "no access";
}

/* Prints each lost record with its report, and the total; true when all
 * is as expected: only the poisoned records lost, each by a fault of weigh
 * that was restarted. */
static bool check(const struct options *o, const struct source *s)
{
	const struct tally *t = s->result;
	uint64_t expected = 0, kept = 0, lost = 0;
	bool ok = !s->gave_up;

	if (!t) {
		fprintf(stderr, "trindle-supervisor: no result: the pipeline ended early\n");
		return false;
	}
	for (uint64_t seq = 1; seq <= o->records; seq++) {
		if (!poisoned(o, seq)) {
			expected += value_of(seq) * categories[seq % 4].weight;
			kept++;
		}
		if (t->seen[seq / 8] & (1u << seq % 8))
			continue;
		/* weigh takes records in order: its k-th crash lost the k-th
		 * missing record. */
		const trindle_supervisor_report_t *f = lost < s->nfailures ? &s->failures[lost] : NULL;
		if (f)
			printf("lost record %" PRIu64 ": %s %s (%s, %s at %p), restart %" PRIu32 "%s\n",
					seq, f->child, f->ended_by == TRINDLE_END_FAULT ? "faulted" : "aborted",
					strsignal(f->fault.signal), access_word(f->fault.access),
					f->fault.address, f->restarts + 1, f->restarted ? "" : " not done");
		else
			printf("lost record %" PRIu64 ": no report\n", seq);
		ok &= f && poisoned(o, seq) && !strcmp(f->child, "weigh")
			&& f->ended_by == TRINDLE_END_FAULT && f->restarted && f->restarts == lost;
		lost++;
	}
	size_t restarts = 0;
	for (size_t i = 0; i < s->nfailures; i++)
		restarts += s->failures[i].restarted;
	printf("restarts: %zu (poisoned records: %" PRIu64 ")\n", restarts,
			o->period ? o->records / o->period : 0);
	printf("total: %" PRIu64 " over %" PRIu64 " records (expected %" PRIu64 " over %" PRIu64 ")\n",
			t->total, t->records, expected, kept);
	return ok && lost == s->nfailures && lost + kept == o->records
		&& t->records == kept && t->total == expected;
}

static void usage(FILE *to)
{
	fprintf(to,
		"Usage: trindle-supervisor [-n RECORDS] [-p PERIOD] [-r RESTARTS]\n\n"
		"Streams RECORDS records through three supervised stages; every\n"
		"PERIOD-th one crashes the middle stage, which is restarted.  Prints\n"
		"each lost record with its fault report, and the total.\n\n"
		"  -n, --records N    records to send (default 20000, at most 1000000)\n"
		"  -p, --period P     poison every P-th record (default 1000; 0: none)\n"
		"  -r, --restarts R   restarts allowed within a minute (default: one\n"
		"                     per poisoned record; fewer makes it give up)\n"
		"  -h, --help         show this help\n\n"
		"Exit status: 0 when the total and the lost records are as expected,\n"
		"1 otherwise, 2 for bad usage.\n");
}

static bool number(const char *s, uint64_t max, uint64_t *value)
{
	char *end;

	errno = 0;
	*value = strtoull(s, &end, 10);
	return !errno && end != s && !*end && s[0] != '-' && *value <= max;
}

static int parse_options(int argc, char **argv, struct options *o)
{
	static const struct option longs[] = {
		{ "records", required_argument, NULL, 'n' },
		{ "period", required_argument, NULL, 'p' },
		{ "restarts", required_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool ok = true, given = false;
	int c;

	*o = (struct options){ .records = 20000, .period = 1000 };
	while (ok && (c = getopt_long(argc, argv, "n:p:r:h", longs, NULL)) != -1) {
		switch (c) {
		case 'n': ok = number(optarg, 1000000, &o->records) && o->records; break;
		case 'p': ok = number(optarg, UINT32_MAX, &o->period); break;
		case 'r': ok = given = number(optarg, 65536, &o->restarts); break;
		case 'h': usage(stdout); exit(EXIT_SUCCESS);
		default: ok = false;
		}
	}
	if (!given)
		o->restarts = o->period ? o->records / o->period : 0;
	/* The library's bound on restarts within a period. */
	if (ok && optind == argc && o->restarts <= 65536)
		return 0;
	fprintf(stderr, "trindle-supervisor: bad arguments\n");
	usage(stderr);
	return -1;
}

int main(int argc, char **argv)
{
	struct options opt;
	struct source s = { .opt = &opt, .next = 1 };

	if (parse_options(argc, argv, &opt) != 0)
		return 2;
	printf("%" PRIu64 " records through parse, weigh, total; %" PRIu64 " poisoned\n",
			opt.records, opt.period ? opt.records / opt.period : 0);
	fflush(stdout);
	tree.records = opt.records;
	tree.out = trindle_pipe(4);
	s.reports = trindle_pipe(64);
	s.failures = calloc(opt.restarts + 1, sizeof *s.failures);
	pipeline.max_restarts = (unsigned)opt.restarts;
	if (tree.out && s.reports && s.failures)
		s.supervisor = trindle_supervise(&pipeline, tree.out, NULL, s.reports, tree.mailbox);
	if (!s.supervisor) {
		perror("trindle-supervisor: starting the pipeline");
		return EXIT_FAILURE;
	}
	/* On failure we simply exit: that ends every worker too. */
	if (run(&s) != 0)
		return EXIT_FAILURE;
	bool ok = check(&opt, &s);
	ok &= trindle_util_release(s.result) == 0 && trindle_util_release(s.reports) == 0
		&& trindle_util_release(tree.out) == 0;
	free(s.failures);
	return ok ? EXIT_SUCCESS : EXIT_FAILURE;
}
