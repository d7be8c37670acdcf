/* SPDX-License-Identifier: MIT */
/*
 * Limits: huge segments, a small address-space limit (RLIMIT_AS), and the
 * kernel's limit on memory mappings (vm.max_map_count).
 *
 * Each test runs in a forked child, so that the limit it sets and the
 * address space it uses end with it: fork, set the limit, then the first
 * library call.  The parent never calls the library.  Children check with
 * CHECK (cmocka's asserts would jump into the parent's copy of the test
 * runner) and end with 0 (passed), 77 (skipped, reason on stderr) or 1.
 */
#include "helpers.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANITIZED 1
#else
#define SANITIZED 0
#endif

#define KIB ((size_t)1 << 10)
#define MIB ((size_t)1 << 20)
#define GIB ((size_t)1 << 30)
#define TIB ((size_t)1 << 40)

enum {
	RW = TRINDLE_ACCESS_READ | TRINDLE_ACCESS_WRITE,
	SKIPPED = 77,
	CHILD_SECONDS = 60, /* a child still running then is killed: failed */
};

#define CHECK(cond) do { \
	if (!(cond)) { \
		fprintf(stderr, "%s:%d: check failed: %s (errno %d)\n", \
			__FILE__, __LINE__, #cond, errno); \
		_exit(1); \
	} \
} while (0)

/* Skips the test, saying why (cmocka's skip() prints no reason). */
static void skip_because(const char *why)
{
	fprintf(stderr, "skipped: %s\n", why);
	skip();
}

/* Runs body(arg) in a child under an address-space limit (0: none) and
 * asserts that it passed. */
static void in_child(void (*body)(size_t), size_t arg, size_t as_limit)
{
	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		alarm(CHILD_SECONDS);
		if (as_limit) {
			struct rlimit r = { as_limit, as_limit };
			CHECK(setrlimit(RLIMIT_AS, &r) == 0);
		}
		body(arg);
		_exit(0);
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (WIFEXITED(status) && WEXITSTATUS(status) == SKIPPED)
		skip();
	if (WIFSIGNALED(status))
		fail_msg("child killed by signal %d", WTERMSIG(status));
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* ---- children's helpers (no cmocka) -------------------------------------- */

static size_t resident(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	unsigned long size, pages = 0;
	CHECK(f);
	CHECK(fscanf(f, "%lu %lu", &size, &pages) == 2);
	fclose(f);
	return pages * (size_t)sysconf(_SC_PAGESIZE);
}

static trindle_segment_t zeros(size_t bytes)
{
	return trindle_allocate(1, &(trindle_buffer_t){ bytes, NULL });
}

static void release_many(trindle_segment_t *segs, size_t n, size_t step)
{
	static trindle_message_t m[1000];
	trindle_util_batch_t b;

	trindle_util_batch_init(&b, m, 1000);
	for (size_t i = 0; i < n; i += step) {
		CHECK(trindle_util_add_release(&b, segs[i]) == 0);
		if (b.count == b.capacity || i + step >= n)
			CHECK(trindle_util_flush(&b, NULL) == 0);
	}
}

/* Can this process read the byte at p?  Asked of the kernel (write() from
 * an inaccessible page fails with EFAULT), so nothing faults. */
static int probe_fd[2] = { -1, -1 };

static int readable(const void *p)
{
	if (probe_fd[0] < 0)
		CHECK(pipe(probe_fd) == 0);
	if (write(probe_fd[1], p, 1) != 1) {
		CHECK(errno == EFAULT);
		return 0;
	}
	char c;
	CHECK(read(probe_fd[0], &c, 1) == 1);
	return 1;
}

/* Does touching p end a forked copy of this process with SIGSEGV? */
static int touch_faults(volatile char *p)
{
	fflush(stderr);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		(void)p[0];
		_exit(0);
	}
	int status;
	CHECK(waitpid(pid, &status, 0) == pid);
	return WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV;
}

/* ---- huge segments -------------------------------------------------------- */

/* ThreadSanitizer's runtime admits application mappings only in its own
 * ranges, where a TiB does not always fit (it depends on where the kernel
 * places things): its ENOMEM is right, and the child ends as skipped. */
static int tsan_refused(size_t bytes)
{
#if defined(__SANITIZE_THREAD__)
	if (errno == ENOMEM) {
		fprintf(stderr, "skipped: %zu GiB refused under "
			"ThreadSanitizer\n", bytes / GIB);
		_exit(SKIPPED);
	}
#else
	(void)bytes;
#endif
	return 0;
}

/* A segment of bytes: fast, little resident memory, usable at both ends,
 * and its memory goes back when released. */
static void huge_once(size_t bytes)
{
	size_t before = resident();
	int64_t t0 = t_now_ns();
	char *s = zeros(bytes);
	int64_t took = t_now_ns() - t0;
	CHECK(s != NULL || tsan_refused(bytes));
	size_t after = resident();
	fprintf(stderr, "%zu GiB: allocated in %lld us, resident +%zu KiB\n",
		bytes / GIB, (long long)(took / 1000),
		(after > before ? after - before : 0) / KIB);
	/* Resident memory is the real check; the time bound is loose (the
	 * owner table alone once took seconds per TiB). */
	CHECK(after < before + 16 * MIB);
	CHECK(took < 1000000000LL);
	CHECK(trindle_measure(s) == bytes);
	CHECK(trindle_access(s) == RW);
	CHECK(s[0] == 0 && s[bytes - 1] == 0);
	s[0] = 1;
	s[bytes / 2] = 2;
	s[bytes - 1] = 3;
	CHECK(trindle_access(s + bytes / 2) == 0); /* no name: the middle */
	CHECK(trindle_util_release(s) == 0);
	CHECK(trindle_access(s) == 0);
	CHECK(!readable(s) && !readable(s + bytes - 1));
	CHECK(resident() < before + 16 * MIB);
}

static void huge_segments(size_t unused)
{
	(void)unused;
	/* A small segment first: the library is started and a regular arena
	 * exists, so what follows measures the huge ones alone. */
	trindle_segment_t small = zeros(100);
	CHECK(small != NULL);
	huge_once(TIB);
	huge_once(2 * TIB);
	huge_once(TIB); /* again: the recycled 1 TiB slot */
	/* No address space holds 128 TiB: ENOMEM, at once. */
	int64_t t0 = t_now_ns();
	errno = 0;
	CHECK(zeros((size_t)1 << 47) == NULL && errno == ENOMEM);
	CHECK(t_now_ns() - t0 < 1000000000LL);
	CHECK(trindle_util_release(small) == 0);
}

static void test_huge_segments_cost_little(void **state)
{
	(void)state;
	if (RUNNING_ON_VALGRIND)
		skip_because("valgrind's address-space manager takes no TiB "
			     "mappings");
	in_child(huge_segments, 0, 0);
}

/* A destroyed huge segment touched: the fault handler finds it (a
 * dedicated arena has no per-page table) and reports it destroyed. */
static void huge_touched_after_release(size_t unused)
{
	(void)unused;
	char *s = zeros(TIB);
	CHECK(s != NULL || tsan_refused(TIB));
	CHECK(trindle_util_release(s) == 0);
	CHECK(touch_faults(s + TIB / 2 + 12345));
}

static void test_huge_segment_touch_after_release_faults(void **state)
{
	(void)state;
	if (RUNNING_ON_VALGRIND)
		skip_because("valgrind's address-space manager takes no TiB "
			     "mappings");
	in_child(huge_touched_after_release, 0, 0);
}

/* ---- an address-space limit ----------------------------------------------- */

#define AS_REASON "sanitizer and valgrind runtimes reserve far more " \
	"address space than the limit"

/* Under RLIMIT_AS = limit: small segments work, 1 MiB segments fill a fair
 * share of the limit and no more, a segment the limit cannot hold fails
 * with ENOMEM, and after releasing, allocation works again. */
static void under_limit(size_t limit)
{
	enum { MAX = 4096 };
	static trindle_segment_t segs[MAX];
	char *small = zeros(4 * KIB);
	CHECK(small != NULL);
	small[4 * KIB - 1] = 1;
	size_t n = 0;
	for (; n < MAX; n++) {
		segs[n] = zeros(MIB);
		if (!segs[n]) {
			CHECK(errno == ENOMEM);
			break;
		}
		((char *)segs[n])[0] = 1;
	}
	fprintf(stderr, "limit %zu MiB: %zu segments of 1 MiB\n",
		limit / MIB, n);
	CHECK(n < MAX);
	CHECK(n * MIB < limit);
	CHECK(n * MIB >= limit / 4);
	/* Small ones still fit in what the arenas hold. */
	trindle_segment_t tiny = zeros(10);
	CHECK(tiny != NULL);
	release_many(segs, n, 1);
	errno = 0;
	CHECK(zeros(limit) == NULL && errno == ENOMEM);
	CHECK(zeros(2 * limit) == NULL && errno == ENOMEM);
	/* The freed slots serve again. */
	for (size_t i = 0; i < n; i++)
		CHECK((segs[i] = zeros(MIB)) != NULL);
	release_many(segs, n, 1);
	release_many((trindle_segment_t[]){ small, tiny }, 2, 1);
}

static void test_address_space_limit_1gib(void **state)
{
	(void)state;
	if (SANITIZED || RUNNING_ON_VALGRIND)
		skip_because(AS_REASON);
	in_child(under_limit, GIB, GIB);
}

static void test_address_space_limit_512mib(void **state)
{
	(void)state;
	if (SANITIZED || RUNNING_ON_VALGRIND)
		skip_because(AS_REASON);
	in_child(under_limit, 512 * MIB, 512 * MIB);
}

/* ---- the mapping limit ------------------------------------------------------ */

static size_t max_map_count(void)
{
	FILE *f = fopen("/proc/sys/vm/max_map_count", "r");
	unsigned long v = 0;
	if (f) {
		if (fscanf(f, "%lu", &v) != 1)
			v = 0;
		fclose(f);
	}
	return v;
}

/* 200,000 one-page neighbours (few mappings: equal protections merge),
 * then every other one released: the holes need more mappings than the
 * kernel allows.  Every destroyed segment must still be inaccessible, and
 * a slot the kernel refused to protect must not come back as new. */
static void past_mapping_limit(size_t n)
{
	/* Every destroyed segment, not only those beyond the few a process
	 * keeps open for itself: this child has not started the library. */
	setenv("TRINDLE_DEBUG", "strict", 1);
	trindle_segment_t *segs = malloc(n * sizeof *segs);
	CHECK(segs != NULL);
	CHECK(pipe(probe_fd) == 0); /* before the limit: a pipe maps nothing,
	                             * but be early anyway */
	int64_t t0 = t_now_ns();
	for (size_t i = 0; i < n; i++)
		CHECK((segs[i] = zeros(1)) != NULL);
	release_many(segs, n, 2);
	int64_t t1 = t_now_ns();
	size_t open = 0, first_open = n;
	for (size_t i = 0; i < n; i += 2) {
		if (readable(segs[i])) {
			open++;
			first_open = first_open < i ? first_open : i;
		}
	}
	fprintf(stderr, "%zu segments allocated, half released in %lld ms; "
		"%zu released still readable (first at %zu)\n", n,
		(long long)((t1 - t0) / 1000000), open, first_open);
	CHECK(open == 0);
	CHECK(touch_faults(segs[n - 2]));
	/* New segments: each writable and zero-filled (none is a slot the
	 * kernel would not protect, handed out as if it were clean). */
	enum { AGAIN = 1000 };
	static trindle_segment_t again[AGAIN];
	size_t made = 0;
	for (; made < AGAIN; made++) {
		char *s = zeros(1);
		if (!s) {
			CHECK(errno == ENOMEM); /* the kernel may refuse RW */
			break;
		}
		CHECK(trindle_access(s) == RW && s[0] == 0 && s[4095] == 0);
		s[0] = 1;
		again[made] = s;
	}
	for (size_t i = 0; i < n; i += 2)
		CHECK(!readable(segs[i]) || trindle_access(segs[i]) == RW);
	release_many(again, made, 1);
	release_many(segs + 1, n - 1, 2);
	/* Everything released: the holes merged, so allocations succeed
	 * again, and the slots that waited unprotected come back (after
	 * being protected) writable and zero-filled. */
	for (size_t i = 0; i < AGAIN; i++) {
		char *s = zeros(1);
		CHECK(s != NULL);
		CHECK(trindle_access(s) == RW && s[0] == 0 && s[4095] == 0);
		s[4095] = 1;
		again[i] = s;
	}
	release_many(again, AGAIN, 1);
	CHECK(t_now_ns() - t0 < 30 * 1000000000LL);
	free(segs);
}

static void test_destroyed_segments_stay_closed_past_mapping_limit(void **state)
{
	(void)state;
	if (SANITIZED)
		skip_because("sanitizer runtimes map memory of their own and "
			     "abort when the mapping limit refuses them");
	if (RUNNING_ON_VALGRIND)
		skip_because("valgrind keeps a far smaller table of mappings");
	size_t limit = max_map_count();
	if (!limit || limit > 150000)
		skip_because("vm.max_map_count is unknown or too high for "
			     "200,000 segments to reach it");
	in_child(past_mapping_limit, 200000, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_huge_segments_cost_little),
		cmocka_unit_test(test_huge_segment_touch_after_release_faults),
		cmocka_unit_test(test_address_space_limit_1gib),
		cmocka_unit_test(test_address_space_limit_512mib),
		cmocka_unit_test(test_destroyed_segments_stay_closed_past_mapping_limit),
	};
	return cmocka_run_group_tests_name("limits", tests, NULL, NULL);
}
