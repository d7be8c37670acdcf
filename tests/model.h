/* SPDX-License-Identifier: MIT */
/*
 * model.h - a reference model of the libtrindle contract, in plain C.
 *
 * The model knows nothing of the library: it is fed the same calls the
 * program makes (with the addresses the library returned, since objects
 * are named by them) and says what every call must return and what every
 * process must then see: failed messages, deliveries and notices in order,
 * trindle_access() and trindle_measure() of every object, and the bytes of
 * every segment.  It is exact only while one process acts at a time (the
 * harness in model_run.c makes sure of that).
 *
 * The rules are those of include/trindle.h.  Where the header leaves room
 * the model follows the guesses written next to them below (marked GUESS).
 */
#ifndef T_MODEL_H
#define T_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define M_OBJS 192     /* objects made in one run, dead or alive */
#define M_PROCS 5      /* process 0 is the root; 1.. are workers */
#define M_QMAX 96      /* messages one pipe may hold (with completions) */
#define M_NOTES 256    /* notices one process may have pending */
#define M_OUTMAX 24    /* messages in one outbox */
#define M_INMAX 64     /* inbox capacity */

enum { M_SEG = 1, M_PIPE = 2 };
enum { M_NOTE_SOLE = 1, M_NOTE_DIED = 2 };

/* Access bits, as in trindle.h (kept apart so the model needs no header). */
enum { M_R = 1, M_W = 2, M_X = 4, M_SEND = 8, M_RECV = 16 };

struct m_msg {
	uintptr_t address, content;
};

struct m_obj {
	int kind;
	uintptr_t addr;
	bool named;       /* still the newest object at addr */
	bool opaque;      /* made by the library (a fault report): its bytes
	                   * are not modelled, and its address is learnt when
	                   * it is delivered (0 until then) */
	bool live;        /* segment: not destroyed; pipe: not dead */
	/* segment */
	size_t bytes;
	uint32_t tag;     /* content: pattern(tag), zeros in [zlo, zhi) */
	bool extended;    /* READ|EXECUTE for every holder, for good */
	size_t zlo, zhi;
	int notify;       /* process due a sole-holder notice at the next
	                   * settle of the acting process, or -1 */
	/* pipe */
	size_t cap;
	int creator;      /* the process holding RECEIVE (its creator, or
	                   * whoever received it by a move); -1 while its
	                   * RECEIVE is in flight (a queued message with
	                   * qmove set carries it) and once it is dead */
	int worker;       /* the worker whose input it is, or -1 */
	int q[M_QMAX];    /* queued contents (object ids), oldest first */
	bool qmove[M_QMAX]; /* that message carries the pipe's RECEIVE */
	int qlen;
	uint64_t last_served;
	bool stamp_unknown; /* M_KNOWN_MOVED_PIPE_KEEPS_STAMP: received by a
	                     * move, not served since by its receiver */
};

struct m_note {
	int kind, obj;
	bool loose;       /* a closure notice whose order among its run of
	                   * closure notices the contract leaves open (pipes
	                   * dying together: at a worker's end, or with the
	                   * pipe that carried their RECEIVE) */
};

struct m_proc {
	bool alive;
	int input, out, err;  /* object ids, -1 for none */
	bool forgot_out, forgot_err; /* M_KNOWN_FORGETS_COMPLETION_PIPE */
	bool hold[M_OBJS];    /* holds a capability */
	bool moving[M_OBJS];  /* within a sync: its hold went to a message */
	struct m_note notes[M_NOTES];
	int nnotes;
	uint64_t clock;       /* fairness stamps */
};

struct model {
	struct m_obj o[M_OBJS];
	int nobj;
	struct m_proc p[M_PROCS];
	size_t page;
	bool overflow;        /* ran out of room: the run stops being exact */
	bool loose_now;       /* closure notices posted now are loose */
	bool died_moving;     /* a pipe died between its move's send and its
	                       * release (M_KNOWN_CARRIER_DIES_BEFORE_RELEASE) */
	/* The order in which the library delivered closure notices (their
	 * pipes' addresses): loose notices are taken in that order, where
	 * the contract leaves it open.  Set by the harness, 0 for none. */
	uintptr_t prefer[64];
	size_t nprefer;
	/* Known core bugs the model copies instead of flagging, so a run can
	 * look past them (TRINDLE_MODEL_KNOWN=bits; see model_run.c). */
	unsigned known;
};

/* Bits of model.known. */
enum {
	/* a creator's release of a pipe that fails (a send of that pipe
	 * failed earlier in the call) still drops its receive request */
	M_KNOWN_FAILED_RELEASE_DROPS_REQUEST = 1,
	/* a request dropped with its pipe is replaced by the last request,
	 * so pipes served equally long ago are no longer in request order */
	M_KNOWN_DROP_REORDERS_REQUESTS = 2,
	/* a worker's out or err is remembered by address: once that pipe is
	 * gone and a pipe the worker holds got its address, the final object
	 * goes there */
	M_KNOWN_STALE_COMPLETION_PIPE = 4,
	/* a worker whose hold on its out (err) pipe ended forgets that pipe
	 * for good: its completion is released even if it got SEND on the
	 * pipe again (main b389744; trindle_exit() says "no longer holds") */
	M_KNOWN_FORGETS_COMPLETION_PIPE = 8,
	/* the library before issue 14 A: a pipe's send and release by its
	 * receiver is a share then a release, which kills it (the message
	 * carries a dead pipe); trindle_exit(X) gives SEND and X dies */
	M_KNOWN_PIPE_MOVE_KILLS = 16,
	/* a pipe received by a move keeps the fairness stamp its previous
	 * receiver's clock gave it, so the new receiver serves it in an
	 * order that depends on another process's count of serves (which
	 * the model cannot know: the harness then never requests such a
	 * pipe with others until it was served once) */
	M_KNOWN_MOVED_PIPE_KEEPS_STAMP = 32,
	/* a pipe moved (send, then its release later in the outbox) whose
	 * carrier dies in between: the library frees it while the mover's
	 * capability still names it (a use after free at the release, or
	 * at a send through it), or, when others hold SEND on it, fails the
	 * release and never gives the mover a notice (main 8888af7).  The
	 * harness does not take such a step (model.died_moving). */
	M_KNOWN_CARRIER_DIES_BEFORE_RELEASE = 64,
};

/* One sync as the model sees it (input) and what it must do (output). */
struct m_sync {
	/* in */
	int proc;
	struct m_msg out[M_OUTMAX];
	size_t nout;
	bool out_null, in_null;   /* mailbox pointer NULL */
	bool out_bad, in_bad;     /* count > 0 with a NULL address */
	size_t incap;
	/* out */
	int rc;                   /* 0 or -1 (EINVAL) */
	size_t nfailed;
	struct m_msg failed[M_OUTMAX];
	size_t ndelivered;
	struct m_msg in[M_INMAX];    /* content M_UNKNOWN: an opaque object */
	bool in_loose[M_INMAX];      /* see m_note.loose */
	int in_obj[M_INMAX];         /* the object each delivery carries */
	bool would_wait;          /* a blocking call would block for ever */
};

void m_init(struct model *m, size_t page);

/* Object names (the newest object at an address), -1 for none. */
int m_find(const struct model *m, uintptr_t addr);

/* New objects, made by proc.  Returns the id. */
int m_segment(struct model *m, int proc, uintptr_t addr, size_t bytes,
	      uint32_t tag, size_t zlo, size_t zhi);
int m_pipe(struct model *m, int proc, uintptr_t addr, size_t cap);

/* Would trindle_launch() by proc with these out/err accept them? */
bool m_launch_ok(const struct model *m, int proc, uintptr_t out,
		 uintptr_t err);
/* A worker launched by proc: w is its process slot, input its pipe.  The
 * harness's worker takes one message from its input first (served once). */
void m_launch(struct model *m, int proc, int w, uintptr_t input, size_t cap,
	      uintptr_t out, uintptr_t err);

/* The worker w ends: final (an object id, or -1) goes to out (to_err
 * false) or err, if w holds it. */
void m_end(struct model *m, int w, int final, bool to_err);

/* A fault report the runtime makes for worker w (held by w), of bytes. */
int m_fault_report(struct model *m, int w, size_t bytes);
/* The address of an opaque object, seen when it was delivered. */
void m_learn(struct model *m, int id, uintptr_t addr);

/* The content of a delivery whose address the model does not know. */
#define M_UNKNOWN ((uintptr_t)1)

/* trindle_sync() by s->proc. */
void m_sync(struct model *m, struct m_sync *s);

/* Notices and messages a proc would get if it took its notices with an
 * inbox of capacity cap and no requests (used by the harness's waits).
 * loose (may be NULL) gets each notice's m_note.loose. */
size_t m_take_notices(struct model *m, int proc, struct m_msg *in, bool *loose,
		      size_t cap);

/* Is some pipe's RECEIVE queued, through a chain of pipes whose RECEIVE
 * is queued in the next, in itself?  Such pipes can never be received
 * nor die: a leak by design (the harness never makes one). */
bool m_cycle(const struct model *m);

/* trindle_extend() by proc: 0, or -1 (EINVAL). */
int m_extend(struct model *m, int proc, uintptr_t addr);

/* What proc sees of an address. */
int m_access(const struct model *m, int proc, uintptr_t addr);
size_t m_measure(const struct model *m, int proc, uintptr_t addr);

/* Segment contents: byte i of a segment made with tag/zeros. */
uint8_t m_byte(const struct m_obj *o, size_t i);
uint64_t m_hash(const struct model *m, int id);
uint64_t m_hash_bytes(const uint8_t *b, size_t n);
void m_pattern(uint8_t *dst, uint32_t tag, size_t from, size_t n);

/* How often the pipe-move rules came into play (for TRINDLE_MODEL_STATS:
 * does the generator reach them?).  Counted across runs in one process. */
struct m_stats {
	unsigned long moves, moves_apart, to_root, to_worker, self_fail,
		input_fail, carrier_kills, end_kills, exit_moves;
};
extern struct m_stats m_stats;
extern bool m_stats_on; /* count (the harness plans with it off) */

/* Holders of a segment: processes plus messages in flight. */
int m_holders(const struct model *m, int id);
/* Is proc a holder (in the counting sense) of id? */
bool m_holds(const struct model *m, int proc, int id);

#endif
