/* SPDX-License-Identifier: MIT */
/* lock.h - a small test-and-test-and-set spinlock for short sections.
 *
 * Used for per-segment state (segment.c), where contention is rare.  What
 * may happen inside a section, and nothing else:
 *  - reads and writes of the locked segments' fields;
 *  - malloc/free of a segment's list of holders (when a third holder
 *    comes, or the segment is destroyed);
 *  - mprotect of the locked segments' own pages: in trindle_extend one;
 *    in a settle one per run of locked neighbours needing the same change,
 *    or, when the kernel refuses a run, one per segment of that run.
 * A settle holds up to 64 of these locks at once, taken in address order.
 * No section takes a library mutex, wakes a thread or posts a notice:
 * settles collect those while locked and do them after unlocking, with
 * madvise and the recycling of destroyed slots.  After a while of spinning
 * a waiter yields, since on two cores the holder may be descheduled. */
#ifndef TRINDLE_LOCK_H
#define TRINDLE_LOCK_H

#include <sched.h>
#include <stdatomic.h>

#include "compiler.h"

typedef struct {
	atomic_int held;
} spinlock_t;

static inline void spin_lock(spinlock_t *l)
{
	unsigned spins = 0;

	for (;;) {
		if (!atomic_exchange_explicit(&l->held, 1, memory_order_acquire))
			return;
		while (atomic_load_explicit(&l->held, memory_order_relaxed)) {
			if (++spins < 256)
				trindle__cpu_relax();
			else
				sched_yield();
		}
	}
}

static inline void spin_unlock(spinlock_t *l)
{
	atomic_store_explicit(&l->held, 0, memory_order_release);
}

#endif
