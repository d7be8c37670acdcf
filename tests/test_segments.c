/* SPDX-License-Identifier: MIT */
/*
 * Segments: allocation (contents, zero tail, alignment, sizes), rights that
 * follow the number of holders, moves, notices, trindle_extend(), and the
 * MMU enforcing those rights (checked once per rule, in launched workers).
 */
#include "helpers.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>


enum {
	RW = TRINDLE_ACCESS_READ | TRINDLE_ACCESS_WRITE,
	RX = TRINDLE_ACCESS_READ | TRINDLE_ACCESS_EXECUTE,
	R = TRINDLE_ACCESS_READ,
};

/* ---- the keeper: a worker holding one segment, driven by commands ------- */

/* A command token: op is one of the letters below, arg its operand. */
struct cmd {
	uintptr_t op;
	uintptr_t arg;
};

/* What the keeper tells after each command. */
struct state {
	uintptr_t op;     /* the command just done ('s' on receipt) */
	uintptr_t access; /* trindle_access(kept segment) */
	uintptr_t size;   /* trindle_measure(kept segment) */
	uintptr_t first;  /* its first byte, or 256 when it may not read */
};

static void keeper_report(trindle_pipe_t reply, uintptr_t op,
			  const unsigned char *s)
{
	int a = trindle_access((trindle_object_t)s);
	uintptr_t v[4] = { op, (uintptr_t)a, trindle_measure((void *)s),
			   (a & TRINDLE_ACCESS_READ) && trindle_measure((void *)s)
				   ? s[0] : 256 };
	t_w_report(reply, v, 4);
}

/*
 * Receives the reply pipe, then the segment to keep (and reports on it),
 * then obeys tokens, reporting after each one:
 *   'a' just report;        'd' release the kept segment;
 *   'w' write s[arg];       'p' read the byte at address arg;
 *   'e' extend it;          'b' move it back to the reply pipe;
 *   'q' end now, holding whatever it holds.
 * 'w' and 'p' are expected to fault when the rights forbid them.
 */
static void keeper_entry(trindle_pipe_t input)
{
	trindle_pipe_t reply = trindle_util_next_object(input);
	volatile unsigned char *s = trindle_util_next_object(input);
	keeper_report(reply, 's', (const unsigned char *)s);
	for (;;) {
		const struct cmd *c = trindle_util_next_object(input);
		if (!c)
			return;
		struct cmd k = *c;
		t_w_release((trindle_object_t)c);
		switch (k.op) {
		case 'd': t_w_release((trindle_object_t)s); break;
		case 'w': s[k.arg] = 0x5a; break;
		case 'p': (void)*(volatile unsigned char *)k.arg; break;
		case 'e': trindle_extend((trindle_object_t)s); break;
		case 'b': t_w_move(reply, (trindle_object_t)s); break;
		case 'q': return;
		default: break;
		}
		keeper_report(reply, k.op, (const unsigned char *)s);
	}
}

/* Root side: sends the keeper a command token (moved, so it may write). */
static void command(trindle_pipe_t w, int op, uintptr_t arg)
{
	struct cmd c = { (uintptr_t)op, arg };
	trindle_buffer_t b = { sizeof c, &c };
	trindle_segment_t tok = trindle_allocate(1, &b);
	assert_non_null(tok);
	assert_int_equal(t_move(w, tok), 0);
}

/* Root side: the keeper's next report, which must answer op. */
static struct state report(trindle_pipe_t reply, struct t_box *b, int op)
{
	const struct state *s = t_next_from(reply, b);
	assert_non_null(s);
	assert_int_equal(trindle_measure((void *)s), sizeof *s);
	struct state copy = *s;
	assert_int_equal(t_release((void *)s), 0);
	assert_int_equal(copy.op, op);
	return copy;
}

/* How keep() hands over the segment: shared, or moved (given away). */
enum { SHARE = 0, MOVE = 1 };

/* Starts a keeper and hands it seg: moved when move is set, else shared. */
static trindle_pipe_t keep(trindle_pipe_t reply, trindle_segment_t seg,
			   int move, struct t_box *b, struct state *first)
{
	trindle_pipe_t w = t_start(keeper_entry, reply);
	assert_int_equal(move ? t_move(w, seg) : t_send(w, seg), 0);
	*first = report(reply, b, 's');
	return w;
}

/*
 * What a keeper test works with: the box of what came in, the pipe the
 * keeper answers on, the segment under test, the keeper holding it and its
 * first report.  Kept together so that each test shows only what it does
 * to the segment and what it checks.
 */
struct fixture {
	struct t_box b;
	trindle_pipe_t reply;
	unsigned char *s;
	trindle_pipe_t w;
	struct state st;
};

/* An empty box, a reply pipe of capacity cap, then the segment under test
 * (size bytes of fill), in that order; no keeper yet, for the tests that
 * change the segment first or start more than one keeper. */
static void open_fixture(struct fixture *f, size_t cap, size_t size,
			 unsigned char fill)
{
	*f = (struct fixture){ .reply = trindle_pipe(cap) };
	f->s = t_segment(size, fill);
}

/* The usual start: open_fixture() with a reply pipe of 8, then a keeper
 * that holds the segment (moved to it, or shared with it). */
static void setup(struct fixture *f, size_t size, unsigned char fill,
		  int move)
{
	open_fixture(f, 8, size, fill);
	f->w = keep(f->reply, f->s, move, &f->b, &f->st);
}

/* Sends f's keeper one command and returns its report on that command. */
static struct state obey(struct fixture *f, int op, uintptr_t arg)
{
	command(f->w, op, arg);
	return report(f->reply, &f->b, op);
}

/* Tells f's keeper to end and waits until it has, so that what its end
 * changes (holders, notices) is settled before the test looks. */
static void quit(struct fixture *f)
{
	command(f->w, 'q', 0);
	t_await_gone(f->w, f->reply, &f->b);
}

/* The notice that this root holds f's segment alone again. */
static trindle_message_t sole(const struct fixture *f)
{
	return (trindle_message_t){ NULL, f->s };
}

/* Waits for that notice, which must come exactly once. */
static void await_sole(struct fixture *f)
{
	assert_int_equal(t_await_note(f->reply, sole(f), &f->b), 1);
}

/* Has f's keeper move the segment back ('b') and checks that it arrives
 * here as a message, held here alone and so writable at once.  The
 * keeper's report on 'b' is left to the test. */
static void take_back(struct fixture *f)
{
	command(f->w, 'b', 0);
	assert_ptr_equal(t_next_from(f->reply, &f->b), f->s);
	assert_int_equal(trindle_access(f->s), RW);
}

/* Has f's keeper write s[at], which its rights forbid: the MMU stops it,
 * the report names that write, and the keeper is gone afterwards. */
static void expect_write_fault(struct fixture *f, uintptr_t at)
{
	command(f->w, 'w', at);
	t_expect_fault(f->reply, &f->b, f->s + at, TRINDLE_ACCESS_WRITE,
		       f->s, f->w);
	t_await_gone(f->w, f->reply, &f->b);
}

/* Releases the segment, then the reply pipe: the end of the tests in which
 * this root still holds the segment. */
static void close_fixture(struct fixture *f)
{
	assert_int_equal(t_release(f->s), 0);
	assert_int_equal(t_release(f->reply), 0);
}

static size_t page_size(void)
{
	return (size_t)sysconf(_SC_PAGESIZE);
}

/* ---- allocation ---------------------------------------------------------- */

static void test_allocate_concatenates_buffers_in_order(void **state)
{
	(void)state;
	unsigned char big[5000];
	for (size_t i = 0; i < sizeof big; i++)
		big[i] = (unsigned char)(i * 7 + 1);
	unsigned char *src = t_segment(3, 'S');
	trindle_buffer_t b[] = {
		{ 3, "abc" }, { sizeof big, big }, { 0, "ignored" },
		{ 3, src }, { 2, "yz" },
	};
	unsigned char *s = trindle_allocate(5, b);
	assert_non_null(s);
	assert_int_equal(trindle_measure(s), 3 + sizeof big + 3 + 2);
	assert_int_equal(trindle_access(s), RW);
	assert_memory_equal(s, "abc", 3);
	assert_memory_equal(s + 3, big, sizeof big);
	assert_memory_equal(s + 3 + sizeof big, "SSSyz", 5);
	/* The source segment is copied, not taken: still held alone. */
	assert_int_equal(trindle_access(src), RW);
	assert_int_equal(t_release(src), 0);
	assert_int_equal(t_release(s), 0);
}

static void test_allocate_null_buffer_gives_zeros(void **state)
{
	(void)state;
	static const unsigned char zero[6000];
	trindle_buffer_t b[] = { { 2, "ab" }, { 6000, NULL }, { 2, "cd" } };
	unsigned char *s = trindle_allocate(3, b);
	assert_non_null(s);
	assert_int_equal(trindle_measure(s), 6004);
	assert_memory_equal(s, "ab", 2);
	assert_memory_equal(s + 2, zero, 6000);
	assert_memory_equal(s + 6002, "cd", 2);
	assert_int_equal(t_release(s), 0);
}

static void assert_tail_zero(const unsigned char *s, size_t size)
{
	size_t end = (size + page_size() - 1) / page_size() * page_size();
	for (size_t i = size; i < end; i++)
		if (s[i] != 0)
			fail_msg("byte %zu of a %zu-byte segment is %d", i, size, s[i]);
}

static void test_allocate_zero_fills_tail_to_page_end(void **state)
{
	(void)state;
	/* Dirty whole pages first, so that recycled memory is tested too. */
	enum { N = 16 };
	trindle_segment_t dirty[N];
	for (int i = 0; i < N; i++)
		dirty[i] = t_segment(page_size() * 2, 0xee);
	for (int i = 0; i < N; i++)
		assert_int_equal(t_release(dirty[i]), 0);

	const size_t sizes[] = { 1, 100, page_size() - 1, page_size() + 1,
				 2 * page_size() + 77 };
	for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
		unsigned char *s = t_segment(sizes[i], 0xab);
		assert_tail_zero(s, sizes[i]);
		assert_int_equal(t_release(s), 0);
	}
	for (int i = 0; i < N; i++) {
		trindle_buffer_t b = { 3, "xyz" };
		unsigned char *s = trindle_allocate(1, &b);
		assert_non_null(s);
		assert_tail_zero(s, 3);
		assert_int_equal(t_release(s), 0);
	}
}

static void test_allocate_is_page_aligned(void **state)
{
	(void)state;
	const size_t sizes[] = { 0, 1, 63, 4096, 4097, 100000 };
	for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
		trindle_buffer_t b = { sizes[i], NULL };
		trindle_segment_t s = trindle_allocate(1, &b);
		assert_non_null(s);
		assert_int_equal((uintptr_t)s % page_size(), 0);
		assert_int_equal(trindle_measure(s), sizes[i]);
		assert_int_equal(t_release(s), 0);
	}
}

static void test_zero_length_segments_have_distinct_addresses(void **state)
{
	(void)state;
	trindle_buffer_t empty[2] = { { 0, NULL }, { 0, "x" } };
	trindle_segment_t s[6] = {
		trindle_allocate(0, NULL), trindle_allocate(0, NULL),
		trindle_allocate(0, empty), trindle_allocate(1, empty),
		trindle_allocate(2, empty), t_segment(1, 1),
	};
	for (int i = 0; i < 6; i++) {
		assert_non_null(s[i]);
		assert_int_equal((uintptr_t)s[i] % page_size(), 0);
		assert_int_equal(trindle_access(s[i]), RW);
		assert_int_equal(trindle_measure(s[i]), i == 5);
		for (int j = 0; j < i; j++)
			assert_ptr_not_equal(s[i], s[j]);
	}
	/* Each is an object of its own: releasing one leaves the rest. */
	assert_int_equal(t_release(s[0]), 0);
	assert_int_equal(trindle_access(s[0]), 0);
	for (int i = 1; i < 6; i++) {
		assert_int_equal(trindle_access(s[i]), RW);
		assert_int_equal(t_release(s[i]), 0);
	}
}

static void expect_alloc_fails(const trindle_buffer_t *b, size_t n,
			       int e1, int e2)
{
	errno = 0;
	assert_null(trindle_allocate(n, b));
	if (errno != e1 && errno != e2)
		fail_msg("errno %d, expected %d or %d", errno, e1, e2);
}

static void test_allocate_overflowing_size_fails(void **state)
{
	(void)state;
	const size_t half = SIZE_MAX / 2 + 1;
	/* Sums past SIZE_MAX: EOVERFLOW, before any byte is copied. */
	trindle_buffer_t sum[] = { { SIZE_MAX, "abc" }, { 1, NULL } };
	expect_alloc_fails(sum, 2, EOVERFLOW, EOVERFLOW);
	trindle_buffer_t halves[] = { { half, NULL }, { half, NULL } };
	expect_alloc_fails(halves, 2, EOVERFLOW, EOVERFLOW);
	/* Sizes that fit size_t but no page count or address space. */
	trindle_buffer_t max = { SIZE_MAX, NULL };
	expect_alloc_fails(&max, 1, ENOMEM, EOVERFLOW);
	trindle_buffer_t near = { SIZE_MAX - 100, NULL };
	expect_alloc_fails(&near, 1, ENOMEM, EOVERFLOW);
	trindle_buffer_t huge = { (size_t)1 << 47, NULL };
	expect_alloc_fails(&huge, 1, ENOMEM, ENOMEM);
	trindle_buffer_t pieces[] = { { (size_t)1 << 46, NULL },
				      { (size_t)1 << 46, NULL },
				      { (size_t)1 << 46, NULL } };
	expect_alloc_fails(pieces, 3, ENOMEM, ENOMEM);
	/* The library still works after refusing. */
	trindle_segment_t s = t_segment(10, 1);
	assert_int_equal(t_release(s), 0);
}

/* Is every byte of s[0 .. n) zero?  (memcmp by pages: sanitizers check
 * a whole range at once, where a byte loop would crawl.) */
static int all_zero(const unsigned char *s, size_t n)
{
	static const unsigned char zero[4096];
	for (size_t i = 0; i < n; i += sizeof zero) {
		size_t k = n - i < sizeof zero ? n - i : sizeof zero;
		if (memcmp(s + i, zero, k))
			return 0;
	}
	return 1;
}

static void test_allocate_large_segment(void **state)
{
	(void)state;
	const size_t size = (size_t)64 << 20;
	unsigned char *z = trindle_allocate(1, &(trindle_buffer_t){ size, NULL });
	assert_non_null(z);
	assert_int_equal(trindle_measure(z), size);
	assert_int_equal(trindle_access(z), RW);
	assert_true(all_zero(z, size));
	z[size - 1] = 1;

	/* A pattern that differs from page to page, so a misplaced page
	 * shows. */
	unsigned char *src = malloc(size + 1);
	assert_non_null(src);
	for (size_t i = 0; i < size + 1; i += 4096) {
		size_t k = size + 1 - i < 4096 ? size + 1 - i : 4096;
		memset(src + i, (int)(i >> 12) | 1, k);
	}
	unsigned char *c = trindle_allocate(1, &(trindle_buffer_t){ size + 1, src });
	assert_non_null(c);
	assert_int_equal(trindle_measure(c), size + 1);
	assert_memory_equal(c, src, size + 1);
	assert_true(all_zero(c + size + 1, page_size() - 1));
	free(src);
	assert_int_equal(t_release(z), 0);
	assert_int_equal(t_release(c), 0);
}

static int cmp_ptr(const void *a, const void *b)
{
	uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
	return (x > y) - (x < y);
}

/* Releases n segments, a thousand messages per sync. */
static void release_all(trindle_segment_t *segs, size_t n)
{
	static trindle_message_t m[1000];
	trindle_util_batch_t b;
	trindle_util_batch_init(&b, m, 1000);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(trindle_util_add_release(&b, segs[i]), 0);
		if (b.count == b.capacity || i + 1 == n)
			assert_int_equal(trindle_util_flush(&b, NULL), 0);
	}
}

/* More live segments than the kernel allows mappings (vm.max_map_count is
 * 65530 here): one mapping per segment would fail. */
static void test_many_live_segments(void **state)
{
	(void)state;
	const size_t n = 100000;
	trindle_segment_t *segs = malloc(n * sizeof *segs);
	uintptr_t *sorted = malloc(n * sizeof *sorted);
	assert_non_null(segs);
	assert_non_null(sorted);
	for (size_t i = 0; i < n; i++) {
		trindle_buffer_t b = { sizeof i, &i };
		segs[i] = trindle_allocate(1, &b);
		if (!segs[i])
			fail_msg("allocation %zu failed: errno %d", i, errno);
	}
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(trindle_access(segs[i]), RW);
		assert_memory_equal(segs[i], &i, sizeof i);
		sorted[i] = (uintptr_t)segs[i];
	}
	qsort(sorted, n, sizeof *sorted, cmp_ptr);
	for (size_t i = 1; i < n; i++)
		assert_true(sorted[i] - sorted[i - 1] >= page_size());
	release_all(segs, n);
	for (size_t i = 0; i < n; i += 997)
		assert_int_equal(trindle_access(segs[i]), 0);
	free(sorted);
	free(segs);
}

/* ---- rights follow the number of holders -------------------------------- */

static void test_segment_sole_holder_has_read_write(void **state)
{
	(void)state;
	unsigned char *s = t_segment(100, 1);
	assert_int_equal(trindle_access(s), RW);
	s[99] = 2;
	assert_int_equal(s[99], 2);
	assert_int_equal(t_release(s), 0);
}

static void test_segment_message_in_flight_counts_as_holder(void **state)
{
	(void)state;
	trindle_pipe_t p = trindle_pipe(4);
	unsigned char *s = t_segment(100, 3);
	assert_int_equal(t_send(p, s), 0);
	assert_int_equal(trindle_access(s), R);
	assert_int_equal(trindle_measure(s), 100);
	assert_int_equal(s[50], 3);

	/* Receiving what it holds counts once: sole holder again, with WRITE
	 * as soon as that sync returns, and no notice for it. */
	trindle_message_t got[4];
	trindle_message_t req = { p, NULL };
	trindle_mailbox_t out = { 1, &req }, in = { 4, got };
	assert_int_equal(trindle_sync(&out, &in), 0);
	assert_int_equal(in.count, 1);
	assert_ptr_equal(got[0].address, p);
	assert_ptr_equal(got[0].content, s);
	assert_int_equal(trindle_access(s), RW);
	s[0] = 4;
	assert_int_equal(t_notices(got, 4), 0);
	assert_int_equal(t_release(s), 0);
	assert_int_equal(t_release(p), 0);
}

static void test_segment_second_holder_loses_write(void **state)
{
	(void)state;
	struct fixture f;
	setup(&f, 10, 42, SHARE);
	/* Both holders see READ only, and the same bytes. */
	assert_int_equal(trindle_access(f.s), R);
	assert_int_equal(f.st.access, R);
	assert_int_equal(f.st.size, 10);
	assert_int_equal(f.st.first, 42);
	quit(&f);
	close_fixture(&f);
}

static void test_segment_sole_holder_regains_write_with_notice(void **state)
{
	(void)state;
	struct fixture f;
	setup(&f, 10, 42, SHARE);
	assert_int_equal(obey(&f, 'd', 0).access, 0);
	await_sole(&f);
	assert_int_equal(trindle_access(f.s), RW);
	f.s[1] = 43;
	quit(&f);
	/* The notice came once. */
	assert_int_equal(t_count_notes(&f.b, sole(&f)), 1);
	close_fixture(&f);
}

static void test_segment_holder_ending_gives_notice(void **state)
{
	(void)state;
	struct fixture f;
	setup(&f, 10, 42, SHARE);
	quit(&f);
	await_sole(&f);
	assert_int_equal(trindle_access(f.s), RW);
	f.s[0] = 1;
	close_fixture(&f);
}

static void test_segment_three_holders_read_only_until_two_leave(void **state)
{
	(void)state;
	struct fixture f;
	struct state st1, st2;
	open_fixture(&f, 16, 10, 9);
	trindle_pipe_t w1 = keep(f.reply, f.s, SHARE, &f.b, &st1);
	trindle_pipe_t w2 = keep(f.reply, f.s, SHARE, &f.b, &st2);
	assert_int_equal(st1.access, R);
	assert_int_equal(st2.access, R);
	command(w1, 'd', 0);
	assert_int_equal(report(f.reply, &f.b, 'd').access, 0);
	/* Still two holders: READ for both, and no notice yet. */
	assert_int_equal(trindle_access(f.s), R);
	command(w2, 'a', 0);
	assert_int_equal(report(f.reply, &f.b, 'a').access, R);
	assert_int_equal(t_count_notes(&f.b, sole(&f)), 0);
	command(w2, 'q', 0);
	await_sole(&f);
	assert_int_equal(trindle_access(f.s), RW);
	command(w1, 'q', 0);
	t_await_gone(w1, f.reply, &f.b);
	t_await_gone(w2, f.reply, &f.b);
	assert_int_equal(t_count_notes(&f.b, sole(&f)), 1);
	close_fixture(&f);
}

static void test_segment_received_while_held_gives_no_notice(void **state)
{
	(void)state;
	struct fixture f;
	setup(&f, 10, 5, SHARE);
	assert_int_equal(f.st.access, R);
	/* It comes back as a message; on receipt this root is the sole
	 * holder and may write at once. */
	take_back(&f);
	f.s[0] = 6;
	assert_int_equal(report(f.reply, &f.b, 'b').access, 0);
	quit(&f);
	assert_int_equal(t_count_notes(&f.b, sole(&f)), 0);
	close_fixture(&f);
}

static void test_segment_move_to_self_keeps_write(void **state)
{
	(void)state;
	trindle_pipe_t p = trindle_pipe(2);
	unsigned char *s = t_segment(100, 8);
	assert_int_equal(t_move(p, s), 0);
	/* Moved away: not held until it comes back. */
	assert_int_equal(trindle_access(s), 0);
	trindle_message_t m;
	assert_int_equal(t_recv(p, &m, 0), 1);
	assert_ptr_equal(m.address, p);
	assert_ptr_equal(m.content, s);
	assert_int_equal(trindle_access(s), RW);
	assert_int_equal(s[99], 8);
	s[99] = 9;
	assert_int_equal(t_release(s), 0);
	assert_int_equal(t_release(p), 0);
}

static void test_segment_move_gives_receiver_write(void **state)
{
	(void)state;
	struct fixture f;
	setup(&f, 10, 5, MOVE);
	assert_int_equal(f.st.access, RW);
	assert_int_equal(f.st.first, 5);
	assert_int_equal(obey(&f, 'w', 0).first, 0x5a);
	take_back(&f);
	assert_int_equal(f.s[0], 0x5a);
	assert_int_equal(report(f.reply, &f.b, 'b').access, 0);
	quit(&f);
	close_fixture(&f);
}

static void test_segment_shared_write_faults_in_worker(void **state)
{
	(void)state;
	struct fixture f;
	setup(&f, 100, 5, SHARE);
	assert_int_equal(f.st.access, R);
	expect_write_fault(&f, 10);
	/* The faulting worker let go: this root holds it alone again. */
	await_sole(&f);
	assert_int_equal(trindle_access(f.s), RW);
	assert_int_equal(f.s[10], 5);
	close_fixture(&f);
}

/* The kernel's mappings of this process, in address order. */
struct maps {
	size_t n, cap;
	uintptr_t (*range)[2];
	char *writable;
};

static void maps_init(struct maps *m, size_t cap)
{
	m->n = 0;
	m->cap = cap;
	m->range = malloc(cap * sizeof *m->range);
	m->writable = malloc(cap);
	assert_non_null(m->range);
	assert_non_null(m->writable);
}

static void read_maps(struct maps *m)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	assert_non_null(f);
	m->n = 0;
	while (m->n < m->cap && fgets(line, sizeof line, f)) {
		unsigned long lo, hi;
		char perm[8];
		if (sscanf(line, "%lx-%lx %7s", &lo, &hi, perm) != 3)
			continue;
		m->range[m->n][0] = lo;
		m->range[m->n][1] = hi;
		m->writable[m->n++] = perm[1] == 'w';
	}
	fclose(f);
}

/* Does the page at addr accept writes, as the kernel has it mapped? */
static int page_writable(const struct maps *m, const void *addr)
{
	uintptr_t a = (uintptr_t)addr;
	size_t lo = 0, hi = m->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (a < m->range[mid][0])
			hi = mid;
		else if (a >= m->range[mid][1])
			lo = mid + 1;
		else
			return m->writable[mid];
	}
	return 0;
}

/* Half of 100,000 one-page segments shared, every other one: alternating
 * protections need more kernel mappings than vm.max_map_count (65530).
 * Past that limit a send may fail, but a segment reported shared must not
 * be writable: the kernel's own map is the judge (a worker's write cannot
 * be, since near the limit the fault report itself cannot be allocated). */
static void test_segment_rights_enforced_past_mapping_limit(void **state)
{
	(void)state;
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
	/* Their runtimes map memory of their own and abort when they cannot:
	 * running into the mapping limit is not for them. */
	skip();
#endif
	/* Valgrind keeps its own table of mappings, far smaller than the
	 * kernel's. */
	if (RUNNING_ON_VALGRIND)
		skip();
	const size_t n = 100000;
	trindle_pipe_t p = trindle_pipe(n / 2);
	trindle_segment_t *segs = malloc(n * sizeof *segs);
	struct maps m;
	/* Room for the map made now: near the limit, malloc may not map. */
	maps_init(&m, 2 * n);
	assert_non_null(segs);
	for (size_t i = 0; i < n; i++) {
		segs[i] = trindle_allocate(1, &(trindle_buffer_t){ 1, NULL });
		assert_non_null(segs[i]);
	}
	size_t shared = 0, wrong = 0, writable = 0, first_bad = n;
	for (size_t i = 0; i < n; i += 2) {
		int want = t_send(p, segs[i]) == 0 ? R : RW;
		shared += want == R;
		wrong += trindle_access(segs[i]) != want;
	}
	read_maps(&m);
	for (size_t i = 0; i < n; i += 2) {
		if (trindle_access(segs[i]) == R && page_writable(&m, segs[i])) {
			writable++;
			first_bad = first_bad < i ? first_bad : i;
		}
	}
	free(m.range);
	free(m.writable);
	/* Clean up before judging, so a failure here spoils no later test. */
	assert_int_equal(t_release(p), 0);
	release_all(segs, n);
	free(segs);
	assert_true(shared > 0);
	assert_int_equal(wrong, 0);
	if (writable)
		fail_msg("%zu of %zu shared segments still writable, the first "
			 "at index %zu", writable, shared, first_bad);
}

static void test_destroyed_segment_touch_faults_in_worker(void **state)
{
	(void)state;
	/* No segment under test: the keeper keeps an empty one of its own,
	 * and touches d, made below, by address alone. */
	struct fixture f = { .reply = trindle_pipe(8) };
	f.w = keep(f.reply, trindle_allocate(0, NULL), MOVE, &f.b, &f.st);
	/* Beyond the 1 MiB of destroyed slots a process keeps open for its
	 * next allocations (test_cache): this one must fault. */
	unsigned char *d = t_segment((size_t)2 << 20, 1);
	/* The token exists before d dies, so it cannot take d's address. */
	struct cmd c = { 'p', (uintptr_t)(d + 3) };
	trindle_segment_t tok = trindle_allocate(1, &(trindle_buffer_t){ sizeof c, &c });
	assert_non_null(tok);
	assert_int_equal(t_release(d), 0);
	assert_int_equal(trindle_access(d), 0);
	assert_int_equal(trindle_measure(d), 0);
	assert_int_equal(t_move(f.w, tok), 0);
	t_expect_fault(f.reply, &f.b, d + 3, TRINDLE_ACCESS_READ, d, f.w);
	t_await_gone(f.w, f.reply, &f.b);
	assert_int_equal(t_release(f.reply), 0);
}

/* ---- what happens inside a segment's lock ------------------------------- */

/* The library's calls to pthread_mutex_lock come here first (a definition
 * in the program wins over libc's), so a test can stall the first mutex
 * its own thread takes and see whether a segment's lock was held
 * meanwhile.  The sanitizers define pthread_mutex_lock themselves. */
static _Thread_local bool stall_next_mutex;
static atomic_bool mutex_stalled;

#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
#define STALL_MUTEX 1
#include <dlfcn.h>
#include <pthread.h>

int pthread_mutex_lock(pthread_mutex_t *m)
{
	static int (*real)(pthread_mutex_t *);
	if (!real)
		real = (int (*)(pthread_mutex_t *))dlsym(RTLD_NEXT,
				"pthread_mutex_lock");
	if (stall_next_mutex) {
		stall_next_mutex = false;
		atomic_store(&mutex_stalled, true);
		nanosleep(&(struct timespec){ 1, 0 }, NULL);
	}
	return real(m);
}
#endif

static atomic_llong holder_release_ns = -1;

/* Holds the shared segment it receives; once the test thread stalls,
 * releases it and records how long that took. */
static void stalled_release_worker(trindle_pipe_t input)
{
	trindle_pipe_t reply = trindle_util_next_object(input);
	trindle_segment_t s = trindle_util_next_object(input);
	t_w_move(reply, trindle_allocate(0, NULL));
#ifdef STALL_MUTEX
	int64_t give_up = t_now_ns() + T_WAIT_LIMIT_NS;
	while (!atomic_load(&mutex_stalled) && t_now_ns() < give_up)
		nanosleep(&(struct timespec){ 0, 100000 }, NULL);
#endif
	int64_t t0 = t_now_ns();
	size_t failed = t_w_release(s);
	atomic_store(&holder_release_ns, failed ? -2 : t_now_ns() - t0);
}

/* Segment locks are held only across state changes and mprotect (lock.h):
 * a release that leaves a fellow holder alone posts that holder's notice,
 * which takes a mutex, only after unlocking.  So when the releasing thread
 * stalls in that mutex, the fellow holder can still release the segment at
 * once (it once waited out the whole stall, spinning on the lock). */
static void test_segment_notice_posted_outside_segment_lock(void **state)
{
	(void)state;
#ifndef STALL_MUTEX
	skip(); /* the sanitizers' own pthread_mutex_lock cannot be stalled */
#endif
	struct t_box b = { .notes = 0 };
	trindle_pipe_t reply = t_pipe(8);
	trindle_pipe_t w = t_start(stalled_release_worker, reply);
	trindle_segment_t s = t_segment(100, 3);
	assert_int_equal(t_send(w, s), 0);
	trindle_segment_t ack = t_next_from(reply, &b);
	assert_non_null(ack);
	assert_int_equal(t_release(ack), 0);
	atomic_store(&mutex_stalled, false);
	stall_next_mutex = true;
	assert_int_equal(t_release(s), 0);
	stall_next_mutex = false;
	t_await_gone(w, reply, &b);
	assert_int_equal(t_release(reply), 0);
	assert_true(atomic_load(&mutex_stalled)); /* the notice took a mutex */
	long long took = atomic_load(&holder_release_ns);
	assert_true(took >= 0);
	if (took > 500000000LL)
		fail_msg("the fellow holder's release took %lld ms: it waited "
			 "for a segment lock held across a mutex", took / 1000000);
}

/* ---- trindle_extend ------------------------------------------------------ */

/* A function returning 42, in this machine's code. */
static const unsigned char *answer_code(size_t *len)
{
#if defined(__x86_64__) || defined(__i386__)
	static const unsigned char code[] = { 0xb8, 0x2a, 0, 0, 0, 0xc3 };
#elif defined(__aarch64__)
	static const unsigned char code[] = { 0x40, 0x05, 0x80, 0x52,
					      0xc0, 0x03, 0x5f, 0xd6 };
#else
	static const unsigned char code[] = { 0 };
	*len = 0;
	return code;
#endif
	*len = sizeof code;
	return code;
}

/* trindle_extend(s) must fail with EINVAL, as for a segment not held here. */
static void expect_extend_einval(trindle_segment_t s)
{
	errno = 0;
	assert_int_equal(trindle_extend(s), -1);
	assert_int_equal(errno, EINVAL);
}

static void test_extend_makes_segment_read_execute_for_good(void **state)
{
	(void)state;
	size_t len;
	const unsigned char *code = answer_code(&len);
	unsigned char *s = trindle_allocate(1, &(trindle_buffer_t){ len, code });
	assert_non_null(s);
	assert_int_equal(trindle_extend(s), 0);
	assert_int_equal(trindle_access(s), RX);
	assert_int_equal(trindle_measure(s), len);
	assert_memory_equal(s, code, len);
	if (len) {
		int (*fn)(void) = (int (*)(void))(void *)s;
		assert_int_equal(fn(), 42);
	}
	/* Shared and back again: sole holder, yet never writable again. */
	trindle_pipe_t p = trindle_pipe(1);
	assert_int_equal(t_send(p, s), 0);
	assert_int_equal(trindle_access(s), RX);
	trindle_message_t m;
	assert_int_equal(t_recv(p, &m, 0), 1);
	assert_ptr_equal(m.content, s);
	assert_int_equal(trindle_access(s), RX);
	assert_int_equal(trindle_extend(s), 0);
	assert_int_equal(trindle_access(s), RX);
	assert_int_equal(t_release(s), 0);
	assert_int_equal(t_release(p), 0);
}

static void test_extend_applies_to_every_holder(void **state)
{
	(void)state;
	struct fixture f;
	setup(&f, 10, 0xc3, SHARE);
	assert_int_equal(trindle_extend(f.s), 0);
	assert_int_equal(trindle_access(f.s), RX);
	assert_int_equal(obey(&f, 'a', 0).access, RX);
	quit(&f);
	/* Alone again, but extended for good: no WRITE. */
	assert_int_equal(trindle_access(f.s), RX);
	close_fixture(&f);
}

static void test_extend_by_other_holder_applies_here(void **state)
{
	(void)state;
	struct fixture f;
	setup(&f, 10, 0xc3, SHARE);
	assert_int_equal(obey(&f, 'e', 0).access, RX);
	assert_int_equal(trindle_access(f.s), RX);
	assert_int_equal(obey(&f, 'd', 0).access, 0);
	quit(&f);
	assert_int_equal(trindle_access(f.s), RX);
	close_fixture(&f);
}

static void test_extended_segment_write_faults_in_worker(void **state)
{
	(void)state;
	struct fixture f;
	open_fixture(&f, 8, 10, 0xc3);
	assert_int_equal(trindle_extend(f.s), 0);
	f.w = keep(f.reply, f.s, MOVE, &f.b, &f.st);
	/* The keeper holds it alone, yet only READ|EXECUTE. */
	assert_int_equal(f.st.access, RX);
	expect_write_fault(&f, 2);
	assert_int_equal(t_release(f.reply), 0);
}

static void test_extend_of_segment_not_held_fails_einval(void **state)
{
	(void)state;
	struct fixture f;
	setup(&f, 10, 1, MOVE);
	/* Moved to the keeper: live, but not held here. */
	expect_extend_einval(f.s);
	assert_int_equal(obey(&f, 'a', 0).access, RW);
	quit(&f);
	/* Destroyed with the keeper. */
	expect_extend_einval(f.s);
	assert_int_equal(t_release(f.reply), 0);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup(f, t_drop_notices)
	const struct CMUnitTest tests[] = {
		T(test_allocate_concatenates_buffers_in_order),
		T(test_allocate_null_buffer_gives_zeros),
		T(test_allocate_zero_fills_tail_to_page_end),
		T(test_allocate_is_page_aligned),
		T(test_zero_length_segments_have_distinct_addresses),
		T(test_allocate_overflowing_size_fails),
		T(test_allocate_large_segment),
		T(test_many_live_segments),
		T(test_segment_sole_holder_has_read_write),
		T(test_segment_message_in_flight_counts_as_holder),
		T(test_segment_second_holder_loses_write),
		T(test_segment_sole_holder_regains_write_with_notice),
		T(test_segment_holder_ending_gives_notice),
		T(test_segment_three_holders_read_only_until_two_leave),
		T(test_segment_received_while_held_gives_no_notice),
		T(test_segment_move_to_self_keeps_write),
		T(test_segment_move_gives_receiver_write),
		T(test_segment_shared_write_faults_in_worker),
		T(test_segment_rights_enforced_past_mapping_limit),
		T(test_destroyed_segment_touch_faults_in_worker),
		T(test_segment_notice_posted_outside_segment_lock),
		T(test_extend_makes_segment_read_execute_for_good),
		T(test_extend_applies_to_every_holder),
		T(test_extend_by_other_holder_applies_here),
		T(test_extended_segment_write_faults_in_worker),
		T(test_extend_of_segment_not_held_fails_einval),
	};
	return cmocka_run_group_tests_name("segments", tests, NULL, NULL);
}
