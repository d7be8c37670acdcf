/* SPDX-License-Identifier: MIT */
/* lock.h - a small test-and-test-and-set spinlock for short sections.
 *
 * Used for per-segment state, where sections are a few instructions (or one
 * mprotect when sharing changes) and contention is rare.  After a while of
 * spinning it yields, since on two cores the holder may be descheduled. */
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
