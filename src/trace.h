/* SPDX-License-Identifier: MIT */
/*
 * trace.h - the trace recorder (TRINDLE_TRACE, trindle_trace_start).
 *
 * At the base level: every level records into it, it calls nobody above.
 * Each thread records into a ring of its own (a flight recorder: when it
 * wraps, the oldest events go and are counted); the writer merges the
 * rings into one Chrome JSON trace.  Events name tracks and pipes by
 * serial numbers, never by pointers, so a trace written after objects
 * died still reads right.
 *
 * Cost with tracing off: callers test trindle__trace_on() (one relaxed
 * load and a branch) once per sync and once per batch they send or take
 * from one pipe; everything else happens only when it is on.
 */
#ifndef TRINDLE_TRACE_H
#define TRINDLE_TRACE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "compiler.h"
#include "trindle.h"

extern atomic_bool trindle__trace_flag;
static inline bool trindle__trace_on(void)
{
	return unlikely(atomic_load_explicit(&trindle__trace_flag,
			memory_order_relaxed));
}

enum trace_kind {
	TRACE_SYNC = 1,   /* slice: t0, dur; a = sent, b = received */
	TRACE_WAIT,       /* slice inside a sync: t0, dur */
	TRACE_FLOW_OUT,   /* a = flow id: a message published */
	TRACE_FLOW_IN,    /* a = flow id: the same message taken */
	TRACE_DEPTH,      /* a = pipe serial, b = messages queued */
	TRACE_LAUNCH,     /* a = the new worker's track */
	TRACE_END,        /* b = how (TRINDLE_END_*) */
	TRACE_FAULT,      /* a = the address */
};

/* A new serial number: pipes and tracks (never 0). */
uint32_t trindle__trace_serial(void);

/* The flow id of the message in cell pos of the pipe with serial. */
static inline uint64_t trindle__trace_flow_id(uint32_t serial, size_t pos)
{
	return ((uint64_t)serial << 40) | ((uint64_t)pos & ((1ULL << 40) - 1));
}

struct holder;
/* The track of the process h belongs to: a worker's is set at launch; a
 * root gets one the first time it is asked for, named "main" when that
 * happens on the program's first thread, else "root". */
uint32_t trindle__trace_track(struct holder *h);

/* Records one event on track (when tracing is on). */
void trindle__trace_event(uint32_t track, enum trace_kind kind,
		int64_t t0_ns, int64_t dur_ns, uint64_t a, uint64_t b);

/* Copies the name of serial into out ("" when it has none). */
void trindle__trace_get_name(uint32_t serial, char out[TRINDLE_NAME_MAX]);

/* The name of a track or pipe serial in the trace ("" forgets it). */
void trindle__trace_set_name(uint32_t serial, const char *name);

/* Starts tracing into path with rings of events_per_thread (0: the
 * default); 0 or a negative errno. */
int trindle__trace_start(const char *path, size_t events_per_thread);
/* Writes the trace file now (tracing goes on); 0 or a negative errno. */
int trindle__trace_write(void);
/* Stops tracing and writes the file; 0 or a negative errno. */
int trindle__trace_stop(void);

#endif
