/* SPDX-License-Identifier: MIT */
/*
 * comm.h - what the parts of the comm thread share (comm.c and the files
 * it calls: local.c, ctl.c, net.c, recv.c, send.c, wire.c, state.c).
 * Only the comm thread includes it, and only the comm thread touches what
 * it declares; nothing here is exported from libtrindle-mpi.
 *
 * The parts form layers; each calls only those below it:
 *
 *   comm.c   the thread: start, the loop of passes, finishing, shut-down
 *   local.c  the local side of a pass (trindle_sync on the bridge's pipes)
 *   ctl.c    control requests from the public calls (see bridge.h)
 *   net.c    the MPI side of a pass, and the peers' liveness
 *   recv.c   exports: messages from other ranks, and the credits granted
 *   send.c   imports: messages to other ranks, and the credits asked for
 *   wire.c   frames of records, and the send requests in flight
 *   state.c  the state, batched releases, reports to the err pipe
 */
#ifndef TRINDLE_MPI_COMM_H
#define TRINDLE_MPI_COMM_H

#include "bridge.h"

#include <mpi.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>


#define TAG_FRAME 1
#define TAG_PAYLOAD 2
#define FRAME_BYTES (64 * 1024)
#define INLINE_MAX 4096   /* payloads up to this travel inside frames */
#define BATCH 64          /* messages per trindle_sync */
#define IDLE_SPINS 16     /* idle passes before the first sleep */
#define IDLE_MAX_NS 1000000
#define FRAMES_PER_PASS 64
#define REL_MAX 256

enum rec_op { OP_HELLO = 1, OP_DEMAND, OP_GRANT, OP_DATA, OP_CLOSED, OP_FIN,
	      OP_BEAT };
#define REC_INLINE 1u

struct rec {
	uint8_t op, flags;
	uint16_t pad;
	uint32_t tag; /* HELLO, DEMAND, DATA: the export's tag */
	uint32_t id;  /* the importer's import id */
	uint32_t pad2;
	uint64_t n;   /* DEMAND: credits wanted in all, a running total;
	               * GRANT: credits given; DATA: bytes */
};

struct peer {
	bool lost, fin_in;
	int64_t heard, spoke;   /* ns, monotonic */
	unsigned char *frame;   /* records not sent yet, or NULL */
	size_t len;
};

/* Demands and grants are running totals, so a demand that crosses a grant
 * on the wire asks for nothing twice. */
struct importer {
	int rank;
	uint32_t id;
	size_t outstanding;      /* granted, not used yet */
	uint64_t wanted, granted;
};

struct held {                 /* a message received for an export */
	trindle_segment_t seg;
	MPI_Request req;      /* its payload's receive, or MPI_REQUEST_NULL */
	int rank;
};

struct export {
	uint32_t tag;
	trindle_pipe_t pipe;
	size_t capacity, outstanding;
	struct importer *imp;
	size_t nimp, rr;
	struct held *q;       /* ring of qcap entries */
	size_t qhead, qlen, qcap;
};

struct import {
	uint32_t id, tag;
	int rank;
	trindle_pipe_t local;     /* X: the proxy moves into it, we take */
	trindle_pipe_t user;      /* the imported pipe (the proxy's input) */
	trindle_object_t pending; /* taken from X without a credit (only
	                           * while flushing), or NULL */
	trindle_segment_t marker; /* finishing: sent through user, seen in
	                           * X once all before it was forwarded */
	bool flushed;
	size_t credit;
	uint64_t taken;     /* messages forwarded with a credit, in all */
	uint64_t demanded;  /* the last running total asked for */
};

struct hello { int rank; uint32_t tag, id; uint64_t wanted; };

struct sendreq { trindle_segment_t seg; void *buf; int rank; };

enum state { RUNNING, FLUSHING, FIN_SENT, DONE };

struct bridge {
	trindle_pipe_t input, err;
	MPI_Comm comm;
	int rank, size;
	bool owns_mpi;
	int64_t timeout, beat;
	enum state state;
	int64_t flush_deadline;
	int undelivered;
	struct mpi_handoff *finish_answer;
	struct mpi_ctl *ctl;             /* a request whose pipe is coming */
	struct peer *peers;
	struct export *ex;  size_t nex;
	struct import *im;  size_t nim;
	uint32_t next_id;
	struct hello *hellos; size_t nhellos;
	MPI_Request *sreq; struct sendreq *sinfo; size_t nsend, capsend;
	struct held *drain; size_t ndrain;         /* payloads for nobody */
	trindle_segment_t *grave; size_t ngrave;   /* MPI may still touch */
	trindle_message_t out[2 * BATCH + REL_MAX + 1];
	trindle_object_t rel[REL_MAX];     size_t nrel;
	size_t *tried;    size_t ntried;   /* local_sync's scratch */
	int *idx; MPI_Status *st; size_t nidx; /* retire_sends' scratch */
	trindle_segment_t reports[64];     size_t nreports;
	unsigned char *scratch;
	int64_t now;
};

/* The comm thread's one state (state.c); each part names it through a
 * file-scope pointer, bridge. */
extern struct bridge trindle__mpi_state;

static inline int64_t now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static inline size_t pad8(size_t n) { return (n + 7) & ~(size_t)7; }

static inline struct held *held_at(struct export *e, size_t i)
{
	return &e->q[(e->qhead + i) % e->qcap];
}

/* state.c */
void trindle__mpi_release_now(trindle_object_t obj);
void trindle__mpi_release_later(trindle_object_t obj);
void trindle__mpi_release_pending(void);
void trindle__mpi_flush_reports(void);
void trindle__mpi_report(int rank, int error, int mpi_error,
			 const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* wire.c */
MPI_Request *trindle__mpi_add_send(void);
void trindle__mpi_send_frame(int rank);
unsigned char *trindle__mpi_frame_room(int rank, size_t bytes);
void trindle__mpi_put_rec(int rank, uint8_t op, uint32_t tag, uint32_t id,
			  uint64_t n);

/* send.c */
struct import *trindle__mpi_find_import(uint32_t id);
void trindle__mpi_import_close(struct import *im);
void trindle__mpi_close_imports_of(int rank);
void trindle__mpi_forward(struct import *im, trindle_object_t obj);
void trindle__mpi_ask_credits(void);

/* recv.c */
struct export *trindle__mpi_find_export(uint32_t tag);
void trindle__mpi_add_importer(struct export *e, int rank, uint32_t id);
bool trindle__mpi_pipe_in_use(trindle_pipe_t p, const struct export *except);
void trindle__mpi_export_close(struct export *e, bool pipe_alive);
void trindle__mpi_forget_importers_of(int rank);
void trindle__mpi_parse_frame(int src, const unsigned char *buf, size_t n);
bool trindle__mpi_grant_credits(void);

/* net.c */
bool trindle__mpi_retire_sends(void);
bool trindle__mpi_take_frames(void);
bool trindle__mpi_finish_payloads(void);
void trindle__mpi_heartbeats(void);

/* ctl.c */
void trindle__mpi_take_ctl_part(trindle_object_t obj);
struct mpi_ctl *trindle__mpi_take_start(trindle_pipe_t *err);

/* local.c */
bool trindle__mpi_local_sync(void);
bool trindle__mpi_take_local(void);
void trindle__mpi_idle_wait(int64_t ns);

#endif
