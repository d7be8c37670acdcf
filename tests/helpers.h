/* SPDX-License-Identifier: MIT */
/* Small helpers shared by the cmocka test programs (names start with t_).
 *
 * Two kinds: the test thread's (they assert with cmocka), and the workers'
 * (named t_w_..., plus t_label and t_label_of), which never call cmocka,
 * since its asserts jump back into the test thread.  Workers report what
 * went wrong through what they send, and the test thread asserts. */
#ifndef T_HELPERS_H
#define T_HELPERS_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <trindle.h>
#include <trindle/util.h>

/* ---- test thread: one sync at a time -------------------------------------- */

/* trindle_util_send/release/move(), returning the number of messages that
 * failed (0 or 1; a move 0 or 2).  A call that fails as a whole (ENOMEM)
 * fails the test. */
size_t t_send(trindle_pipe_t pipe, trindle_object_t object);
size_t t_release(trindle_object_t object);
size_t t_move(trindle_pipe_t pipe, trindle_object_t object);

/* trindle_util_receive(), asserted not to fail: returns 1 and fills *msg,
 * or 0 when nothing came within timeout_ns (negative: as long as something
 * could still arrive). */
int t_recv(trindle_pipe_t pipe, trindle_message_t *msg, int64_t timeout_ns);

/* Collect notices only (no receive request): returns how many were stored. */
size_t t_notices(trindle_message_t *msgs, size_t capacity);

/* The next message through pipe, waiting for it; notices are skipped, and
 * one must come. */
trindle_object_t t_next_message(trindle_pipe_t pipe);

/* Setup for each test: drops the notices an earlier (maybe failed) test
 * left behind, so each test counts only its own. */
int t_drop_notices(void **state);

/* ---- test thread: objects --------------------------------------------------- */

/* A fresh segment of size bytes, every byte set to fill. */
trindle_segment_t t_segment(size_t size, unsigned char fill);

/* This process's resident memory, in bytes (from /proc/self/statm). */
size_t t_resident_bytes(void);

/* A new pipe of the given capacity (asserted to exist). */
trindle_pipe_t t_pipe(size_t capacity);

/* A new segment holding one number, its label (asserted to exist). */
trindle_segment_t t_labelled(unsigned long label);

/* Checks that m came through pipe and carries a segment held here alone,
 * labelled label; then releases that segment. */
void t_expect_label(const trindle_message_t *m, trindle_pipe_t pipe,
		    unsigned long label);

/* Checks a fault report field by field.  The signal may be SIGSEGV or
 * SIGBUS; a test that needs one in particular checks that itself. */
void t_check_fault(const trindle_fault_t *f, const void *address, int access,
		   trindle_object_t object, trindle_pipe_t process);

/*
 * Waits until input dies (its worker ended).  wake is a pipe the worker
 * holds SEND on, so the wait can sleep; anything else delivered meanwhile
 * is stored in keep (at most cap).  Returns how many were kept.
 */
size_t t_await_end(trindle_pipe_t input, trindle_pipe_t wake,
		   trindle_message_t *keep, size_t cap);

/* ---- test thread: a box of what came in, messages apart from notices -------- */

/* Waits through a box give up after this long (then the test fails). */
#define T_WAIT_LIMIT_NS (20LL * 1000000000LL)

/* What the root received, notices kept apart from messages so a test can
 * wait for one kind and still count the other. */
struct t_box {
	trindle_message_t note[64];
	size_t notes;
	trindle_message_t msg[64];
	size_t head, tail;
};

/* The next object that arrives through pipe, or NULL past the limit. */
trindle_object_t t_next_from(trindle_pipe_t pipe, struct t_box *b);

/* How many of the notices in b are want. */
size_t t_count_notes(const struct t_box *b, trindle_message_t want);

/* Receives on pipe until the notice want has come (or the limit passed);
 * returns how many such notices came. */
size_t t_await_note(trindle_pipe_t pipe, trindle_message_t want,
		    struct t_box *b);

/* Receives on reply until the worker behind w has ended: the notice that
 * its input died must come exactly once. */
void t_await_gone(trindle_pipe_t w, trindle_pipe_t reply, struct t_box *b);

/* Launches entry with reply as its out and err pipes, and sends it reply
 * as its first message so it knows where to answer. */
trindle_pipe_t t_start(trindle_entrypoint_t entry, trindle_pipe_t reply);

/* Moves an empty segment to w: the signal to go on. */
void t_nudge(trindle_pipe_t w);

/* Takes the next object from reply, which must be a fault report held
 * here alone, checks it with t_check_fault() and releases it. */
void t_expect_fault(trindle_pipe_t reply, struct t_box *b, const void *address,
		    int access, trindle_object_t object, trindle_pipe_t process);

/* ---- workers: no cmocka ------------------------------------------------------ */

/* A new segment holding one number, its label; NULL if allocation failed. */
trindle_segment_t t_label(unsigned long label);

/* The number a segment made by t_label() or t_labelled() holds. */
unsigned long t_label_of(trindle_segment_t s);


/* trindle_util_send/move/release(), returning how many messages failed
 * (a move: 0 or 2). */
size_t t_w_send(trindle_pipe_t pipe, trindle_object_t object);
size_t t_w_move(trindle_pipe_t pipe, trindle_object_t object);
size_t t_w_release(trindle_object_t object);

/* Moves a new segment holding vals[0 .. n) to reply. */
void t_w_report(trindle_pipe_t reply, const uintptr_t *vals, size_t n);

/* ---- anywhere --------------------------------------------------------------- */

/* RUNNING_ON_VALGRIND: nonzero under valgrind (0 where its header is
 * missing), for tests that cannot run there: valgrind keeps its own,
 * smaller table of mappings and takes no huge mappings. */
#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif
#endif
#ifndef RUNNING_ON_VALGRIND
#define RUNNING_ON_VALGRIND 0
#endif

/* Runs the program self again as "self --child NAME" with the environment
 * variable env ("NAME=value", or NULL) set, so that the library starts
 * afresh in it and reads its environment; at most 20 s.  Returns the
 * child's wait status. */
int t_run_child(const char *self, const char *name, const char *env);

/* CLOCK_MONOTONIC in nanoseconds, for wait limits. */
int64_t t_now_ns(void);

/* Stress sizes come from TRINDLE_TEST_SCALE (default 1): tests multiply. */
unsigned long t_scale(void);

#endif
