/* SPDX-License-Identifier: MIT */
/*
 * bridge.h - what the public calls (api.c), the comm thread (comm.c and
 * the parts comm.h lists) and the import proxies (proxy.c) share.
 *
 * No call ever receives on its caller's behalf: trindle_sync() delivers a
 * process's notices before anything else, so a receive inside a library
 * call would swallow the notices its caller waits for.  So:
 *
 *  - A request goes to the comm thread as a segment (struct mpi_ctl) moved
 *    to the bridge's input pipe, followed in the same trindle_sync by the
 *    pipe it is about, if any.  Calls take a lock around a request and its
 *    answer, so one request's parts never interleave with another's.
 *  - The answer comes back through shared memory: the request carries the
 *    address of the caller's struct mpi_handoff, which the comm thread
 *    fills before it signals the condition variable.
 *  - An imported pipe is the input pipe of a proxy worker the caller
 *    launches (trindle_launch() hands the caller SEND without a receive).
 *    The proxy asks the comm thread for the import itself, gets back a
 *    pipe the comm thread receives from, and moves what arrives into it.
 */
#ifndef TRINDLE_MPI_BRIDGE_H
#define TRINDLE_MPI_BRIDGE_H

#include <pthread.h>
#include <stdint.h>

#include "trindle.h"
#include "trindle/mpi.h"

#define MPI_CTL_MAGIC 0x4c54434du   /* "MCTL" */
#define PROXY_MAGIC 0x59585250u     /* "PRXY" */

enum mpi_ctl_op { CTL_START = 1, CTL_EXPORT, CTL_IMPORT, CTL_FINISH };

/* The caller's side of an answer; lives on the caller's stack until done. */
struct mpi_handoff {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int done;
	int error;       /* 0 or an errno value */
	int rank, size;  /* start */
};

struct mpi_ctl {
	uint32_t magic;
	uint32_t op;
	uint32_t tag;        /* export, import */
	uint32_t pipes;      /* pipes following: 0, or 1: the exported pipe
	                      * (export), the proxy's input (import), err
	                      * (start) */
	int32_t rank;        /* import */
	uint32_t pad;
	uint64_t capacity;   /* export: the credit window; import: the
	                      * proxy's queue_items */
	uint64_t timeout_ms; /* start */
	int *argc;           /* start: one address space, so pointers work */
	char ***argv;
	struct mpi_handoff *answer;
};

/* What a proxy is told first, by the caller that launched it. */
struct mpi_proxy_params {
	uint32_t magic;      /* PROXY_MAGIC */
	uint32_t tag;
	int32_t rank;
	uint32_t pad;
	uint64_t capacity;   /* the imported pipe's queue_items */
	trindle_pipe_t bridge; /* the proxy holds SEND on it (launch's out) */
	struct mpi_handoff *answer;
};

/* The comm thread's entry point (comm.c). */
void trindle__mpi_comm_main(trindle_pipe_t input);
/* An import proxy's entry point (proxy.c). */
void trindle__mpi_proxy_main(trindle_pipe_t input);
/* Fills h and wakes its waiter (comm.c, ctl.c, proxy.c). */
void trindle__mpi_answer(struct mpi_handoff *h, int error, int rank,
			 int size);

#endif
