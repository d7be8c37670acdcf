/* SPDX-License-Identifier: MIT */
/*
 * bridge.h - what the public calls (api.c) and the comm thread (comm.c)
 * share: the control requests a caller hands the comm thread.
 *
 * A call reaches the comm thread without sharing memory: in one
 * trindle_sync the caller moves the request segment (struct mpi_ctl) to
 * the bridge's input pipe and sends after it a reply pipe R and, for an
 * export, the exported pipe.  Calls take a lock around the request and
 * its reply, so one request's parts never interleave with another's.  The
 * comm thread answers on R: a struct mpi_reply segment, then (import) the
 * new pipe, and lets go of R.
 */
#ifndef TRINDLE_MPI_BRIDGE_H
#define TRINDLE_MPI_BRIDGE_H

#include <stdint.h>

#include "trindle.h"
#include "trindle/mpi.h"

#define MPI_CTL_MAGIC 0x4c54434du /* "MCTL" */

enum mpi_ctl_op { CTL_START = 1, CTL_EXPORT, CTL_IMPORT, CTL_FINISH };

struct mpi_ctl {
	uint32_t magic;
	uint32_t op;
	uint32_t tag;       /* export, import */
	uint32_t pipes;     /* pipes following: the reply pipe, then an
	                     * exported pipe (export) or err (start) */
	int32_t rank;       /* import */
	uint32_t pad;
	uint64_t capacity;  /* export: the credit window; import: queue_items */
	uint64_t timeout_ms;/* start */
	int *argc;          /* start: same address space, so pointers are fine */
	char ***argv;
};

struct mpi_reply {
	int32_t error; /* 0 or an errno value */
	int32_t rank;
	int32_t size;
	int32_t pad;
};

/* The comm thread's entry point (comm.c). */
void trindle__mpi_comm_main(trindle_pipe_t input);

#endif
