/* SPDX-License-Identifier: MIT */
/*
 * model_run.h - drives libtrindle and the model (model.h) side by side.
 *
 * One decoder turns choices into steps (allocate, make a pipe, launch or
 * end a worker, a sync by the root or by a worker); the choices come from
 * a seeded PRNG (test_model.c) or from a fuzzer's input bytes
 * (fuzz/fuzz_sync.c).  Each step runs on the library and on the model,
 * and everything observable is compared right after it.
 *
 * Workers obey commands given in plain memory and answer through
 * semaphores, so only one process acts at a time and the model is exact.
 */
#ifndef T_MODEL_RUN_H
#define T_MODEL_RUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Where choices come from: a PRNG, or bytes (0 once they run out). */
struct h_src {
	bool bytes;
	bool legacy;   /* decode as before pipe moves (issue 14): for inputs
	                * kept as regressions, so that they still make the
	                * calls they were kept for */
	uint64_t state;
	const uint8_t *data;
	size_t len, pos;
};

void h_src_seed(struct h_src *s, uint64_t seed);
void h_src_bytes(struct h_src *s, const uint8_t *data, size_t len);
bool h_src_done(const struct h_src *s);

/* Runs up to steps steps from a fresh universe, then lets everything go.
 * Returns 0, or the (1-based) step whose check failed, having printed
 * what differed and, if log is set, every step up to it. */
unsigned long h_run(struct h_src *src, unsigned long steps, bool log);

/* Messages to leave out of the outbox of the last step (bit i: message i),
 * for shrinking a failure to its fewest messages. */
extern uint32_t h_drop_last;

/* The step h_run() is at, and its steps so far (with the one under way)
 * written to stderr with write() alone: for a watchdog's signal handler. */
extern volatile unsigned long h_step_now;
void h_dump_log(void);

#endif
