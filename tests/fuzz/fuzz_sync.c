/* SPDX-License-Identifier: MIT */
/*
 * fuzz_sync.c - libFuzzer target: the input's bytes are the choices of the
 * model tester's step decoder (model_run.c), so every input is a sequence
 * of API calls - allocations (huge sizes among them), pipes, launches and
 * ends of workers, syncs of every kind (bad addresses, NULL and broken
 * mailboxes) - checked step by step against the model (model.h).  A
 * mismatch prints the steps and aborts, which libFuzzer keeps as a crash.
 *
 * Build and run with tests/fuzz/run.sh; replay the corpus with
 * test_model --replay FILE... (the model test replays the corpus).
 */
#include <stdint.h>
#include <stdlib.h>

#include "model_run.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct h_src src;

	h_src_bytes(&src, data, size);
	if (h_run(&src, 1000, true))
		abort();
	return 0;
}
