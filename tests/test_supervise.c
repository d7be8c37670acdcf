/* SPDX-License-Identifier: MIT */
/*
 * test_supervise.c - supervisors (<trindle/supervise.h>): which children
 * each strategy restarts, the restart policies after a normal exit, an
 * abort, a NULL dereference and abort(), the intensity limit climbing two
 * levels of supervisors, messages queued at a crash delivered once each
 * to the next incarnation, the reports, and trindle_supervise_stop().
 *
 * Every child incarnation tells the root it started (a START token on
 * out); a PING in its mailbox is answered with a PONG.  A child's tokens
 * arrive in the order it sent them, so once a child's PONG has come, the
 * START of the incarnation that answered has come before it.
 */
#undef NDEBUG
#include "helpers.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <trindle/supervise.h>

#define MAXKIDS 8

/* What the test thread sends a child (segment labels). */
enum {
	CMD_EXIT = 1,     /* return from entry */
	CMD_ABORT,        /* trindle_abort(NULL) */
	CMD_NULL,         /* write through NULL */
	CMD_LIBC_ABORT,   /* abort() */
	CMD_PING,         /* answer PONG */
};

/* What a child sends to out: kind << 16 | its index in g_mb (for
 * TOKEN_FOUND, the bits of finder's lookups that came out right). */
enum { TOKEN_START = 1, TOKEN_PONG = 2, TOKEN_FOUND = 3 };
#define TOKEN(kind, id) ((unsigned long)(kind) << 16 | (unsigned long)(id))

/* Written before the tree starts (g_out) or by trindle_supervise() before
 * any child runs (g_mb): the children only read them. */
static trindle_pipe_t g_mb[MAXKIDS];
static trindle_pipe_t g_out;

static size_t my_index(trindle_pipe_t input)
{
	for (size_t i = 0; i < MAXKIDS; i++)
		if (g_mb[i] == input)
			return i;
	return MAXKIDS;
}

/* The crashes must reach the CPU: UBSan would stop the program first. */
#define CRASHES __attribute__((no_sanitize_undefined, noinline))

/* NULL, hidden from the compiler: a plain NULL store is undefined, and
 * GCC drops the whole path that reaches it. */
static int *volatile g_null;

CRASHES static void null_write(void)
{
	*g_null = 1;
}

static void send_token(int kind, size_t id)
{
	trindle_segment_t t = t_label(TOKEN(kind, id));
	if (t && t_w_move(g_out, t))
		t_w_release(t);
}

/* A child: START, then obeys its mailbox. */
static void kid(trindle_pipe_t input)
{
	size_t id = my_index(input);
	trindle_object_t o;

	send_token(TOKEN_START, id);
	while ((o = trindle_util_next_object(input)) != NULL) {
		unsigned long cmd = t_label_of(o);
		t_w_release(o);
		switch (cmd) {
		case CMD_EXIT:
			return;
		case CMD_ABORT:
			trindle_abort(NULL);
		case CMD_NULL:
			null_write();
			break;
		case CMD_LIBC_ABORT:
			abort();
		case CMD_PING:
			send_token(TOKEN_PONG, id);
			break;
		}
	}
}

/* A child that passes every message on to out, and crashes on every
 * hundredth (holding it: that one is lost). */
static void relay(trindle_pipe_t input)
{
	trindle_object_t o;

	while ((o = trindle_util_next_object(input)) != NULL) {
		if (t_label_of(o) % 100 == 0)
			null_write();
		if (t_w_move(g_out, o))
			t_w_release(o);
	}
}

/* ---- the test thread's side ---- */

static trindle_message_t g_notes[256];
static size_t g_nnotes;

/* The next message through pipe (notices recorded in g_notes), waiting at
 * most T_WAIT_LIMIT_NS; NULL when none came. */
static trindle_object_t next_on(trindle_pipe_t pipe, int64_t limit_ns)
{
	int64_t end = t_now_ns() + limit_ns;

	for (;;) {
		trindle_message_t m;
		int got = trindle_util_receive(pipe, &m, 10000000);
		assert_true(got >= 0);
		if (got == 1 && m.address && m.content) {
			assert_ptr_equal(m.address, pipe);
			return m.content;
		}
		if (got == 1) {
			assert_true(g_nnotes < 256);
			g_notes[g_nnotes++] = m;
		}
		if (t_now_ns() > end)
			return NULL;
		if (!got)
			sched_yield();
	}
}

static bool noted(trindle_pipe_t closed)
{
	for (size_t i = 0; i < g_nnotes; i++)
		if (g_notes[i].address == closed && !g_notes[i].content)
			return true;
	return false;
}

/* Waits for the closure notice of pipe (receiving on via, which may
 * deliver nothing else). */
static void await_closed(trindle_pipe_t pipe, trindle_pipe_t via)
{
	int64_t end = t_now_ns() + T_WAIT_LIMIT_NS;

	while (!noted(pipe) && t_now_ns() < end)
		assert_null(next_on(via, 10000000));
	assert_true(noted(pipe));
}

static void command(size_t id, unsigned long cmd)
{
	trindle_segment_t c = t_labelled(cmd);
	assert_int_equal(t_move(g_mb[id], c), 0);
}

/*
 * Takes tokens from out until each child in mask has answered a PING
 * (sent here, or already queued when ping is false); adds the STARTs seen
 * to starts[] (per child).
 */
static void count_until_pong(unsigned mask, unsigned starts[MAXKIDS],
		bool ping)
{
	unsigned pongs = 0;

	for (size_t i = 0; ping && i < MAXKIDS; i++)
		if (mask & (1u << i))
			command(i, CMD_PING);
	while (pongs != mask) {
		trindle_object_t o = next_on(g_out, T_WAIT_LIMIT_NS);
		assert_non_null(o);
		unsigned long t = t_label_of(o);
		size_t id = t & 0xffff;
		assert_true(id < MAXKIDS);
		if (t >> 16 == TOKEN_START)
			starts[id]++;
		else if (t >> 16 == TOKEN_PONG && !(pongs & (1u << id)))
			pongs |= 1u << id;
		else
			fail_msg("unexpected token %lx", t);
		assert_int_equal(t_release(o), 0);
	}
}

static void ping_and_count(unsigned mask, unsigned starts[MAXKIDS])
{
	count_until_pong(mask, starts, true);
}

/* The next report from reports: checks it and returns a copy. */
static trindle_supervisor_report_t expect_report(trindle_pipe_t reports,
		const char *sup, const char *child, int ended_by,
		uint32_t restarts, bool restarted, bool gave_up)
{
	trindle_supervisor_report_t r;
	trindle_object_t o = next_on(reports, T_WAIT_LIMIT_NS);

	assert_non_null(o);
	assert_int_equal(trindle_measure(o), sizeof(r));
	memcpy(&r, o, sizeof(r));
	assert_int_equal(t_release(o), 0);
	assert_string_equal(r.supervisor, sup);
	assert_string_equal(r.child, child);
	assert_int_equal(r.ended_by, ended_by);
	assert_int_equal(r.restarts, restarts);
	assert_int_equal(r.restarted, restarted);
	assert_int_equal(r.gave_up, gave_up);
	return r;
}

struct tree_pipes {
	trindle_pipe_t sup, reports, err;
	size_t n;
};

static struct tree_pipes start_tree(const trindle_supervisor_spec_t *spec,
		size_t leaves)
{
	struct tree_pipes t = { 0 };

	g_nnotes = 0;
	memset(g_mb, 0, sizeof g_mb);
	g_out = t_pipe(4096);
	t.reports = t_pipe(256);
	t.err = t_pipe(8);
	t.n = leaves;
	t.sup = trindle_supervise(spec, g_out, t.err, t.reports, g_mb);
	assert_non_null(t.sup);
	for (size_t i = 0; i < leaves; i++) {
		assert_non_null(g_mb[i]);
		assert_int_equal(trindle_access(g_mb[i]), TRINDLE_ACCESS_SEND);
	}
	return t;
}

/* Lets go of the test's pipes once the tree has ended: the supervisor's
 * input and every mailbox died (their closure notices came). */
static void end_tree(struct tree_pipes *t)
{
	await_closed(t->sup, t->reports);
	for (size_t i = 0; i < t->n; i++)
		await_closed(g_mb[i], t->reports);
	assert_null(next_on(g_out, 0));
	assert_null(next_on(t->reports, 0));
	assert_int_equal(t_release(g_out), 0);
	assert_int_equal(t_release(t->reports), 0);
	assert_int_equal(t_release(t->err), 0);
}

/* trindle_supervise_stop(): every running child ends (one report each,
 * not restarted), then the supervisor and the mailboxes. */
static void stop_tree(struct tree_pipes *t, const char *sup, size_t running)
{
	assert_int_equal(trindle_supervise_stop(t->sup), 0);
	for (size_t i = 0; i < running; i++) {
		trindle_object_t o = next_on(t->reports, T_WAIT_LIMIT_NS);
		assert_non_null(o);
		const trindle_supervisor_report_t *r = o;
		assert_string_equal(r->supervisor, sup);
		assert_false(r->restarted);
		assert_false(r->gave_up);
		assert_int_equal(t_release(o), 0);
	}
	end_tree(t);
}

/* ---- strategies ---- */

static const trindle_child_spec_t three[] = {
	{ "a", kid, 16, TRINDLE_RESTART_ALWAYS, NULL },
	{ "b", kid, 16, TRINDLE_RESTART_ALWAYS, NULL },
	{ "c", kid, 16, TRINDLE_RESTART_ALWAYS, NULL },
};

/* b (the middle one) writes through NULL; which children start again? */
static void strategy(trindle_strategy_t how, const unsigned want[3])
{
	trindle_supervisor_spec_t spec = { "top", how, 10, 60000, 3, three };
	struct tree_pipes t = start_tree(&spec, 3);
	unsigned starts[MAXKIDS] = { 0 };

	ping_and_count(7, starts);
	for (size_t i = 0; i < 3; i++)
		assert_int_equal(starts[i], 1);

	command(1, CMD_NULL);
	trindle_supervisor_report_t r = expect_report(t.reports, "top", "b",
			TRINDLE_END_FAULT, 0, true, false);
	assert_ptr_equal(r.mailbox, g_mb[1]);
	assert_int_equal(r.fault.signal, SIGSEGV);
	assert_null(r.fault.address);
	assert_ptr_equal(r.fault.process, g_mb[1]);
	/* The siblings stopped with it, in spec order. */
	if (how == TRINDLE_ONE_FOR_ALL)
		expect_report(t.reports, "top", "a", TRINDLE_END_EXIT, 0,
				true, false);
	if (how != TRINDLE_ONE_FOR_ONE)
		expect_report(t.reports, "top", "c", TRINDLE_END_EXIT, 0,
				true, false);

	memset(starts, 0, sizeof starts);
	ping_and_count(7, starts);
	for (size_t i = 0; i < 3; i++)
		assert_int_equal(starts[i], want[i]);
	stop_tree(&t, "top", 3);
}

static void test_one_for_one_restarts_the_child_alone(void **state)
{
	static const unsigned want[3] = { 0, 1, 0 };
	strategy(TRINDLE_ONE_FOR_ONE, want);
}

static void test_rest_for_one_restarts_the_later_children(void **state)
{
	static const unsigned want[3] = { 0, 1, 1 };
	strategy(TRINDLE_REST_FOR_ONE, want);
}

static void test_one_for_all_restarts_every_child(void **state)
{
	static const unsigned want[3] = { 1, 1, 1 };
	strategy(TRINDLE_ONE_FOR_ALL, want);
}

/* ---- restart policies ---- */

static void test_restart_policies(void **state)
{
	static const trindle_child_spec_t kids[] = {
		{ "always", kid, 16, TRINDLE_RESTART_ALWAYS, NULL },
		{ "exits", kid, 16, TRINDLE_RESTART_ON_FAILURE, NULL },
		{ "aborts", kid, 16, TRINDLE_RESTART_ON_FAILURE, NULL },
		{ "crashes", kid, 16, TRINDLE_RESTART_ON_FAILURE, NULL },
		{ "never", kid, 16, TRINDLE_RESTART_NEVER, NULL },
	};
	trindle_supervisor_spec_t spec = { "policies", TRINDLE_ONE_FOR_ONE,
		10, 60000, 5, kids };
	struct tree_pipes t = start_tree(&spec, 5);
	unsigned starts[MAXKIDS] = { 0 };

	ping_and_count(0x1f, starts);

	command(0, CMD_EXIT);
	expect_report(t.reports, "policies", "always", TRINDLE_END_EXIT, 0,
			true, false);
	command(1, CMD_EXIT);
	expect_report(t.reports, "policies", "exits", TRINDLE_END_EXIT, 0,
			false, false);
	command(2, CMD_ABORT);
	expect_report(t.reports, "policies", "aborts", TRINDLE_END_ABORT, 0,
			true, false);
	command(3, CMD_LIBC_ABORT);
	trindle_supervisor_report_t r = expect_report(t.reports, "policies",
			"crashes", TRINDLE_END_FAULT, 0, true, false);
	assert_int_equal(r.fault.signal, SIGABRT);
	assert_ptr_equal(r.fault.process, g_mb[3]);
	command(4, CMD_NULL);
	r = expect_report(t.reports, "policies", "never", TRINDLE_END_FAULT,
			0, false, false);
	assert_int_equal(r.fault.signal, SIGSEGV);

	/* A second failure of a restarted child: its count went up. */
	command(2, CMD_ABORT);
	expect_report(t.reports, "policies", "aborts", TRINDLE_END_ABORT, 1,
			true, false);

	memset(starts, 0, sizeof starts);
	ping_and_count(0x0d, starts);
	assert_int_equal(starts[0], 1);
	assert_int_equal(starts[2], 2);
	assert_int_equal(starts[3], 1);
	/* The children left down keep their mailboxes: a message waits. */
	command(1, CMD_PING);
	assert_int_equal(trindle_access(g_mb[1]), TRINDLE_ACCESS_SEND);
	assert_int_equal(trindle_measure(g_mb[1]), 1);
	assert_int_equal(trindle_access(g_mb[4]), TRINDLE_ACCESS_SEND);
	stop_tree(&t, "policies", 3);
}

/* ---- intensity, two levels ---- */

static void test_intensity_escalates_through_two_levels(void **state)
{
	static const trindle_child_spec_t inner_kids[] = {
		{ "w", kid, 16, TRINDLE_RESTART_ALWAYS, NULL },
	};
	static const trindle_supervisor_spec_t inner = { "inner",
		TRINDLE_ONE_FOR_ONE, 1, 60000, 1, inner_kids };
	static const trindle_child_spec_t outer_kids[] = {
		{ "inner", NULL, 0, TRINDLE_RESTART_ALWAYS, &inner },
	};
	trindle_supervisor_spec_t outer = { "outer", TRINDLE_ONE_FOR_ONE, 1,
		60000, 1, outer_kids };
	struct tree_pipes t = start_tree(&outer, 1);
	trindle_pipe_t w = g_mb[0];
	unsigned starts[MAXKIDS] = { 0 };

	ping_and_count(1, starts);
	assert_int_equal(starts[0], 1);

	/* 1: inner restarts w.  The PING queued behind the crash reaches the
	 * next w. */
	command(0, CMD_NULL);
	command(0, CMD_PING);
	expect_report(t.reports, "inner", "w", TRINDLE_END_FAULT, 0, true,
			false);
	memset(starts, 0, sizeof starts);
	count_until_pong(1, starts, false);
	assert_int_equal(starts[0], 1);

	/* 2: inner's second restart within the period is one too many: it
	 * gives up; outer restarts it (and so w) on the same mailbox. */
	command(0, CMD_NULL);
	command(0, CMD_PING);
	expect_report(t.reports, "inner", "w", TRINDLE_END_FAULT, 1, false,
			true);
	expect_report(t.reports, "inner", "", TRINDLE_END_NONE, 0, false,
			true);
	trindle_supervisor_report_t r = expect_report(t.reports, "outer",
			"inner", TRINDLE_END_ABORT, 0, true, false);
	assert_null(r.mailbox);
	memset(starts, 0, sizeof starts);
	count_until_pong(1, starts, false);
	assert_int_equal(starts[0], 1);
	assert_ptr_equal(g_mb[0], w);

	/* 3: the new inner starts counting afresh. */
	command(0, CMD_NULL);
	expect_report(t.reports, "inner", "w", TRINDLE_END_FAULT, 0, true,
			false);
	memset(starts, 0, sizeof starts);
	ping_and_count(1, starts);
	assert_int_equal(starts[0], 1);

	/* 4: inner gives up again, and outer's second restart is one too
	 * many: outer gives up too, its report to err. */
	command(0, CMD_NULL);
	expect_report(t.reports, "inner", "w", TRINDLE_END_FAULT, 1, false,
			true);
	expect_report(t.reports, "inner", "", TRINDLE_END_NONE, 0, false,
			true);
	expect_report(t.reports, "outer", "inner", TRINDLE_END_ABORT, 1,
			false, true);
	expect_report(t.reports, "outer", "", TRINDLE_END_NONE, 0, false,
			true);
	trindle_object_t o = next_on(t.err, T_WAIT_LIMIT_NS);
	assert_non_null(o);
	assert_int_equal(trindle_measure(o), sizeof r);
	memcpy(&r, o, sizeof r);
	assert_int_equal(t_release(o), 0);
	assert_string_equal(r.supervisor, "outer");
	assert_string_equal(r.child, "");
	assert_true(r.gave_up);
	end_tree(&t);
}

/* ---- the queue survives a crash ---- */

static void test_queued_messages_reach_the_next_incarnation(void **state)
{
	static const trindle_child_spec_t kids[] = {
		{ "relay", relay, 64, TRINDLE_RESTART_ALWAYS, NULL },
	};
	trindle_supervisor_spec_t spec = { "relays", TRINDLE_ONE_FOR_ONE, 0,
		0, 1, kids };
	const unsigned long n = 2000;
	struct tree_pipes t = start_tree(&spec, 1);
	unsigned char *seen = calloc(n + 1, 1);
	assert_non_null(seen);

	/* out has room for all the answers: sending never waits on them. */
	int64_t end = t_now_ns() + 3 * T_WAIT_LIMIT_NS;
	for (unsigned long i = 1; i <= n; i++) {
		trindle_segment_t s = t_labelled(i);
		while (t_move(g_mb[0], s) != 0) {
			assert_true(t_now_ns() < end);
			sched_yield();
		}
	}
	for (unsigned long got = 0; got < n - n / 100; got++) {
		trindle_object_t o = next_on(g_out, T_WAIT_LIMIT_NS);
		assert_non_null(o);
		unsigned long label = t_label_of(o);
		assert_true(label >= 1 && label <= n);
		assert_true(label % 100 != 0);
		assert_int_equal(seen[label], 0);
		seen[label] = 1;
		assert_int_equal(t_release(o), 0);
	}
	/* One restart per poisoned message, counted in the reports. */
	for (uint32_t i = 0; i < n / 100; i++) {
		trindle_supervisor_report_t r = expect_report(t.reports,
				"relays", "relay", TRINDLE_END_FAULT, i, true,
				false);
		assert_ptr_equal(r.mailbox, g_mb[0]);
	}
	free(seen);
	stop_tree(&t, "relays", 1);
}

/* ---- mailboxes by name ---- */

/* Looks its tree's mailboxes up by name, says which lookups came out
 * right (TOKEN_FOUND), pings the answerer through what it found, then
 * obeys its mailbox like kid. */
static void finder(trindle_pipe_t input)
{
	unsigned long bits = 0;

	bits |= trindle_supervise_mailbox("answerer") == g_mb[1] ? 1 : 0;
	bits |= trindle_supervise_mailbox("deep") == g_mb[2] ? 2 : 0;
	bits |= trindle_supervise_mailbox("finder") == input ? 4 : 0;
	errno = 0;
	bits |= !trindle_supervise_mailbox("inner") && errno == ENOENT ? 8 : 0;
	errno = 0;
	bits |= !trindle_supervise_mailbox("nobody") && errno == ENOENT ? 16
		: 0;
	errno = 0;
	bits |= !trindle_supervise_mailbox(NULL) && errno == EINVAL ? 32 : 0;
	trindle_segment_t ping = t_label(CMD_PING);
	if (ping && t_w_move(trindle_supervise_mailbox("answerer"), ping))
		t_w_release(ping);
	send_token(TOKEN_FOUND, bits);
	kid(input);
}

/* A worker finds any mailbox of its tree by its child's name, a nested
 * supervisor's workers included (a supervisor has no mailbox); outside a
 * tree there is none to find. */
static void test_a_child_finds_mailboxes_by_name(void **state)
{
	static const trindle_child_spec_t inner_kids[] = {
		{ "deep", kid, 16, TRINDLE_RESTART_ALWAYS, NULL },
	};
	static const trindle_supervisor_spec_t inner = { "inner",
		TRINDLE_ONE_FOR_ONE, 10, 60000, 1, inner_kids };
	static const trindle_child_spec_t kids[] = {
		{ "finder", finder, 16, TRINDLE_RESTART_ALWAYS, NULL },
		{ "answerer", kid, 16, TRINDLE_RESTART_ALWAYS, NULL },
		{ "inner", NULL, 0, TRINDLE_RESTART_ALWAYS, &inner },
	};
	trindle_supervisor_spec_t spec = { "top", TRINDLE_ONE_FOR_ONE, 10,
		60000, 3, kids };

	errno = 0;
	assert_null(trindle_supervise_mailbox("finder")); /* not a worker */
	assert_int_equal(errno, EPERM);

	struct tree_pipes t = start_tree(&spec, 3);
	unsigned found = 0, pongs = 0, starts = 0;
	/* finder's result, the answerer's PONG, and each worker's START. */
	for (int i = 0; i < 5; i++) {
		trindle_object_t o = next_on(g_out, T_WAIT_LIMIT_NS);
		assert_non_null(o);
		unsigned long token = t_label_of(o);
		assert_int_equal(t_release(o), 0);
		if (token >> 16 == TOKEN_FOUND) {
			assert_int_equal(token & 0xffff, 63);
			found++;
		}
		pongs += token == TOKEN(TOKEN_PONG, 1);
		starts += token >> 16 == TOKEN_START;
	}
	assert_int_equal(found, 1);
	assert_int_equal(pongs, 1);
	assert_int_equal(starts, 3);
	/* Stopped: top reports finder, answerer and inner; inner deep. */
	assert_int_equal(trindle_supervise_stop(t.sup), 0);
	for (int i = 0; i < 4; i++) {
		trindle_object_t o = next_on(t.reports, T_WAIT_LIMIT_NS);
		assert_non_null(o);
		const trindle_supervisor_report_t *r = o;
		assert_false(r->restarted);
		assert_false(r->gave_up);
		assert_int_equal(t_release(o), 0);
	}
	end_tree(&t);
}

/* ---- errors ---- */

static void test_bad_specs_are_einval(void **state)
{
	trindle_child_spec_t c[2] = {
		{ "a", kid, 4, TRINDLE_RESTART_ALWAYS, NULL },
		{ "b", kid, 4, TRINDLE_RESTART_ALWAYS, NULL },
	};
	trindle_supervisor_spec_t spec = { "s", TRINDLE_ONE_FOR_ONE, 1, 1000,
		2, c };
	trindle_pipe_t mb[2];
	trindle_pipe_t mine = t_pipe(1);

	memset(g_mb, 0, sizeof g_mb);
	assert_null(trindle_supervise(NULL, NULL, NULL, NULL, mb));
	assert_int_equal(errno, EINVAL);
	assert_null(trindle_supervise(&spec, NULL, NULL, NULL, NULL));
	assert_int_equal(errno, EINVAL);
	/* A pipe the caller cannot send on. */
	assert_null(trindle_supervise(&spec, (void *)&spec, NULL, NULL, mb));
	assert_int_equal(errno, EINVAL);

	spec.count = 0;
	assert_null(trindle_supervise(&spec, NULL, NULL, NULL, mb));
	assert_int_equal(errno, EINVAL);
	spec.count = 2;
	spec.strategy = (trindle_strategy_t)3;
	assert_null(trindle_supervise(&spec, NULL, NULL, NULL, mb));
	assert_int_equal(errno, EINVAL);
	spec.strategy = TRINDLE_ONE_FOR_ALL;
	c[1].queue_count = 0;
	assert_null(trindle_supervise(&spec, NULL, NULL, NULL, mb));
	assert_int_equal(errno, EINVAL);
	c[1].queue_count = 4;
	c[1].restart = (trindle_restart_t)7;
	assert_null(trindle_supervise(&spec, NULL, NULL, NULL, mb));
	assert_int_equal(errno, EINVAL);
	c[1].restart = TRINDLE_RESTART_NEVER;
	c[1].supervisor = &spec; /* both entry and supervisor */
	assert_null(trindle_supervise(&spec, NULL, NULL, NULL, mb));
	assert_int_equal(errno, EINVAL);
	c[1].entry = NULL; /* a spec that contains itself */
	assert_null(trindle_supervise(&spec, NULL, NULL, NULL, mb));
	assert_int_equal(errno, EINVAL);
	c[1].supervisor = NULL; /* neither */
	assert_null(trindle_supervise(&spec, NULL, NULL, NULL, mb));
	assert_int_equal(errno, EINVAL);
	/* An entry that is not code. */
	c[1].entry = (trindle_entrypoint_t)(uintptr_t)&spec;
	assert_null(trindle_supervise(&spec, NULL, NULL, NULL, mb));
	assert_int_equal(errno, EINVAL);

	/* trindle_supervise_stop() takes only a supervisor. */
	assert_int_equal(trindle_supervise_stop(mine), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(trindle_supervise_stop(NULL), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(t_release(mine), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_one_for_one_restarts_the_child_alone, t_drop_notices),
		cmocka_unit_test_setup(test_rest_for_one_restarts_the_later_children, t_drop_notices),
		cmocka_unit_test_setup(test_one_for_all_restarts_every_child, t_drop_notices),
		cmocka_unit_test_setup(test_restart_policies, t_drop_notices),
		cmocka_unit_test_setup(test_intensity_escalates_through_two_levels, t_drop_notices),
		cmocka_unit_test_setup(test_queued_messages_reach_the_next_incarnation, t_drop_notices),
		cmocka_unit_test_setup(test_a_child_finds_mailboxes_by_name, t_drop_notices),
		cmocka_unit_test_setup(test_bad_specs_are_einval, t_drop_notices),
	};
	return cmocka_run_group_tests_name("supervise", tests, NULL, NULL);
}
