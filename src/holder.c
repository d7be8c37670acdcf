/* SPDX-License-Identifier: MIT */
/* holder.c - a process's notice queue and wait word (see holder.h). */
#include "holder.h"

#include <stdlib.h>
#include <string.h>

#include "die.h"
#include "grow.h"
#include "wait.h"

void trindle__holder_init(struct holder *h)
{
	memset(h, 0, sizeof(*h));
	pthread_mutex_init(&h->notice_lock, NULL);
}

/* Room for one more notice: reuse the consumed front, else double. */
static void make_room_locked(struct holder *h)
{
	if (h->notice_head + h->notice_count < h->notice_capacity)
		return;
	if (h->notice_head > 0) {
		memmove(h->notices, h->notices + h->notice_head,
			h->notice_count * sizeof(*h->notices));
		h->notice_head = 0;
		return;
	}
	struct notice *v = trindle__grow(h->notices, &h->notice_capacity,
			h->notice_count, sizeof(*v), 16);
	if (!v)
		trindle__die(); /* a lost notice breaks the contract */
	h->notices = v;
}

void trindle__holder_notify(struct holder *h, struct notice n)
{
	pthread_mutex_lock(&h->notice_lock);
	make_room_locked(h);
	h->notices[h->notice_head + h->notice_count++] = n;
	atomic_fetch_add_explicit(&h->notices_pending, 1, memory_order_release);
	pthread_mutex_unlock(&h->notice_lock);
	trindle__holder_wake(h);
}

bool trindle__holder_pop_notice(struct holder *h, struct notice *n)
{
	bool got = false;

	if (!trindle__holder_has_notices(h))
		return false;
	pthread_mutex_lock(&h->notice_lock);
	if (h->notice_count) {
		*n = h->notices[h->notice_head++];
		if (--h->notice_count == 0)
			h->notice_head = 0;
		atomic_fetch_sub_explicit(&h->notices_pending, 1,
				memory_order_relaxed);
		got = true;
	}
	pthread_mutex_unlock(&h->notice_lock);
	return got;
}

void trindle__holder_wake(struct holder *h)
{
	trindle__wake_word(&h->waiting);
}
