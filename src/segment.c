/* SPDX-License-Identifier: MIT */
/* segment.c - arenas, slots, holds and page protection (see segment.h). */
#include "segment.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "process.h"
#include "trindle.h"

#define ARENA_MAX 512
#define ARENA_RESERVE ((size_t)4 << 30) /* 4 GiB of address space each */
#define CLASS_MAX 40
/* Destroyed slots at least this large give their memory back. */
#define GIVE_BACK_BYTES ((size_t)8 << 20)

struct arena {
	char *base;
	size_t size;
	size_t bump;                      /* carved so far (arena_lock) */
	_Atomic(struct segment *) *owner; /* slot descriptor of each page */
};

static struct arena arenas[ARENA_MAX];
static atomic_size_t arena_count;
static pthread_mutex_t arena_lock = PTHREAD_MUTEX_INITIALIZER;
static struct segment *free_slots[CLASS_MAX];
static size_t page_size_cached;
bool trindle__segment_debug_flag;

void trindle__segment_set_debug(bool in_flight)
{
	trindle__segment_debug_flag = in_flight;
}

size_t trindle__page_size(void)
{
	if (unlikely(!page_size_cached))
		page_size_cached = (size_t)sysconf(_SC_PAGESIZE);
	return page_size_cached;
}

static int prot_bits(int prot)
{
	switch (prot) {
	case SEG_READ: return PROT_READ;
	case SEG_READ_WRITE: return PROT_READ | PROT_WRITE;
	case SEG_READ_EXECUTE: return PROT_READ | PROT_EXEC;
	default: return PROT_NONE;
	}
}

bool trindle__segment_lookup(const void *address, struct segment **seg)
{
	uintptr_t a = (uintptr_t)address;
	size_t n = atomic_load_explicit(&arena_count, memory_order_acquire);

	for (size_t i = 0; i < n; i++) {
		uintptr_t base = (uintptr_t)arenas[i].base;
		if (a < base || a - base >= arenas[i].size)
			continue;
		size_t page = (a - base) / trindle__page_size();
		*seg = atomic_load_explicit(&arenas[i].owner[page],
				memory_order_acquire);
		return true;
	}
	*seg = NULL;
	return false;
}

/* The pages a segment of bytes bytes spans (an empty one still has one). */
static size_t pages_for(size_t bytes)
{
	size_t ps = trindle__page_size();

	return bytes ? bytes / ps + (bytes % ps != 0) : 1;
}

static unsigned class_of(size_t pages)
{
	unsigned c = 0;
	while (((size_t)1 << c) < pages)
		c++;
	return c;
}

/* Reserves a new arena of at least bytes.  Called with arena_lock held. */
static struct arena *add_arena(size_t bytes)
{
	size_t n = atomic_load_explicit(&arena_count, memory_order_relaxed);
	size_t size = bytes > ARENA_RESERVE ? bytes : ARENA_RESERVE;
	size_t pages = size / trindle__page_size();

	if (n == ARENA_MAX)
		return NULL;
	void *base = mmap(NULL, size, PROT_NONE,
			MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (base == MAP_FAILED)
		return NULL;
	void *owner = mmap(NULL, pages * sizeof(struct segment *),
			PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (owner == MAP_FAILED) {
		munmap(base, size);
		return NULL;
	}
	struct arena *a = &arenas[n];
	a->base = base;
	a->size = size;
	a->bump = 0;
	a->owner = owner;
	atomic_store_explicit(&arena_count, n + 1, memory_order_release);
	return a;
}

/* Carves a fresh slot of 2^cls pages.  Called with arena_lock held. */
static struct segment *carve(unsigned cls)
{
	size_t ps = trindle__page_size();
	size_t pages = (size_t)1 << cls;
	size_t bytes = pages * ps;
	size_t n = atomic_load_explicit(&arena_count, memory_order_relaxed);
	struct arena *a = n ? &arenas[n - 1] : NULL;

	if (!a || a->size - a->bump < bytes)
		a = add_arena(bytes);
	if (!a)
		return NULL;
	struct segment *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->obj.kind = OBJECT_SEGMENT;
	s->base = a->base + a->bump;
	s->slot_pages = pages;
	s->slot_class = cls;
	s->procs = s->inline_procs;
	s->procs_capacity = 2;
	size_t first = a->bump / ps;
	for (size_t i = 0; i < pages; i++)
		atomic_store_explicit(&a->owner[first + i], s,
				memory_order_release);
	a->bump += bytes;
	return s;
}

static struct segment *take_slot(unsigned cls)
{
	struct segment *s;

	pthread_mutex_lock(&arena_lock);
	s = free_slots[cls];
	if (s)
		free_slots[cls] = s->next_free;
	else
		s = carve(cls);
	pthread_mutex_unlock(&arena_lock);
	return s;
}

static void give_slot(struct segment *s)
{
	pthread_mutex_lock(&arena_lock);
	s->next_free = free_slots[s->slot_class];
	free_slots[s->slot_class] = s;
	pthread_mutex_unlock(&arena_lock);
}

/*
 * Memory policy.  Destroyed slots keep their pages, so that the next
 * allocation of the size reuses them with a memset instead of page faults
 * (~40x dearer here), up to a limit in all (1 GiB, or TRINDLE_RETAIN_MIB).
 * Beyond it, and for any slot of 8 MiB or more, a destroyed slot gives its
 * pages back to the kernel (neighbours doing so together, with one
 * madvise); such a slot comes back zero-filled.
 */
static size_t retain_limit = (size_t)1 << 30;
static atomic_size_t retained_bytes;

void trindle__segment_set_retain_limit(size_t bytes)
{
	retain_limit = bytes;
}

/* A recycled slot is taken: its memory no longer counts as retained. */
static void reuse(struct segment *s)
{
	atomic_fetch_sub_explicit(&retained_bytes, s->retained,
			memory_order_relaxed);
	s->retained = 0;
}

int trindle__segment_create(size_t bytes, struct process *proc,
		struct segment **out)
{
	size_t ps = trindle__page_size();
	size_t pages = pages_for(bytes);
	unsigned cls = class_of(pages);

	if (cls >= CLASS_MAX)
		return -ENOMEM;
	struct segment *s = take_slot(cls);
	if (!s)
		return -ENOMEM;
	if (mprotect(s->base, pages * ps, PROT_READ | PROT_WRITE) < 0) {
		give_slot(s);
		return -ENOMEM;
	}
	reuse(s);
	s->bytes = bytes;
	s->pages = pages;
	atomic_store_explicit(&s->mapped, pages * ps, memory_order_relaxed);
	s->in_flight = 0;
	s->nprocs = 1;
	s->procs[0] = proc;
	s->notify = NULL;
	atomic_store_explicit(&s->holds, 1, memory_order_relaxed);
	atomic_store_explicit(&s->extended, false, memory_order_relaxed);
	atomic_store_explicit(&s->applied, SEG_READ_WRITE, memory_order_relaxed);
	atomic_store_explicit(&s->live, true, memory_order_release);
	*out = s;
	return 0;
}

/*
 * Hold bookkeeping.
 *
 * While a segment has one holder, only that holder can change anything
 * about it, so moving it needs no lock and writes nothing: the hold just
 * passes from process to message to process, and the descriptor's cache
 * line stays clean on both cores.  The list of holding processes (and the
 * count of messages in flight) is kept only while there are two holders
 * or more; whoever makes the second hold writes the first one down.
 */

static size_t holds_of(const struct segment *s)
{
	return atomic_load_explicit(&s->holds, memory_order_acquire);
}

static void add_proc(struct segment *s, struct process *p)
{
	if (s->nprocs == s->procs_capacity) {
		size_t cap = s->procs_capacity * 2;
		struct process **v = malloc(cap * sizeof(*v));
		if (!v)
			abort(); /* cannot keep the books: nothing sane remains */
		memcpy(v, s->procs, s->nprocs * sizeof(*v));
		if (s->procs != s->inline_procs)
			free(s->procs);
		s->procs = v;
		s->procs_capacity = cap;
	}
	s->procs[s->nprocs++] = p;
}

static void remove_proc(struct segment *s, struct process *p)
{
	for (size_t i = 0; i < s->nprocs; i++) {
		if (s->procs[i] == p) {
			s->procs[i] = s->procs[--s->nprocs];
			return;
		}
	}
}

static void set_holds(struct segment *s, size_t holds)
{
	atomic_store_explicit(&s->holds, holds, memory_order_release);
}

/* The single holder, proc, is about to get company: write it down. */
static void note_first_holder(struct segment *s, struct process *proc)
{
	if (holds_of(s) == 1) {
		s->nprocs = 0;
		s->in_flight = 0;
		add_proc(s, proc);
	}
}

/* After a hold went away: is one process now alone with it?  Only those
 * whose fellow holders left are told, not a process receiving its own. */
static void note_sole_holder(struct segment *s, struct process *receiver)
{
	if (holds_of(s) == 1 && s->nprocs == 1 && s->procs[0] != receiver)
		s->notify = s->procs[0];
	else
		s->notify = NULL;
}

void trindle__segment_charge(struct segment *s, struct process *sender,
		bool move)
{
	if (move && holds_of(s) == 1) {
		if (trindle__segment_debug_flag)
			atomic_store_explicit(&s->parked, true,
					memory_order_relaxed);
		return; /* the hold passes to the message as it is */
	}
	spin_lock(&s->lock);
	note_first_holder(s, sender);
	s->in_flight++;
	if (move)
		remove_proc(s, sender);
	else
		set_holds(s, holds_of(s) + 1);
	s->notify = NULL;
	spin_unlock(&s->lock);
}

void trindle__segment_uncharge(struct segment *s)
{
	spin_lock(&s->lock);
	s->in_flight--;
	set_holds(s, holds_of(s) - 1);
	spin_unlock(&s->lock);
}

bool trindle__segment_receive(struct segment *s, struct process *receiver,
		bool already_held)
{
	if (unlikely(atomic_load_explicit(&s->parked, memory_order_relaxed))) {
		atomic_store_explicit(&s->parked, false, memory_order_relaxed);
		return true; /* debug mode: open the pages again */
	}
	if (!already_held && holds_of(s) == 1) {
		/* The message was the only holder: now the receiver is.  The
		 * pages may still be catching up with a fellow holder's
		 * release; they must be writable before this sync returns. */
		return atomic_load_explicit(&s->applied, memory_order_acquire) ==
			SEG_READ && !atomic_load_explicit(&s->extended,
					memory_order_relaxed);
	}
	spin_lock(&s->lock);
	s->in_flight--;
	if (already_held) {
		set_holds(s, holds_of(s) - 1);
		note_sole_holder(s, receiver);
	} else {
		add_proc(s, receiver);
	}
	spin_unlock(&s->lock);
	return already_held;
}

void trindle__segment_release(struct segment *s, struct process *proc)
{
	spin_lock(&s->lock);
	if (holds_of(s) > 1)
		remove_proc(s, proc);
	set_holds(s, holds_of(s) - 1);
	note_sole_holder(s, NULL);
	spin_unlock(&s->lock);
}

void trindle__segment_drop_message(struct segment *s, struct process *actor)
{
	(void)actor; /* even the one who killed the pipe is told: its fellow
	              * holder, the message, let go */
	spin_lock(&s->lock);
	if (holds_of(s) > 1)
		s->in_flight--;
	set_holds(s, holds_of(s) - 1);
	note_sole_holder(s, NULL);
	spin_unlock(&s->lock);
}

void trindle__segment_add_holder(struct segment *s, struct process *holder,
		struct process *proc)
{
	spin_lock(&s->lock);
	note_first_holder(s, holder);
	add_proc(s, proc);
	set_holds(s, holds_of(s) + 1);
	s->notify = NULL;
	spin_unlock(&s->lock);
}

/* Nobody holds s any more and its pages are PROT_NONE (if protected):
 * recycle the slot.  Called with s->lock held; the caller hands the slot
 * back after unlocking. */
static void destroy_locked(struct segment *s, bool protected)
{
	atomic_store_explicit(&s->live, false, memory_order_release);
	if (protected)
		atomic_store_explicit(&s->applied, SEG_NONE,
				memory_order_release);
	s->generation++;
	s->notify = NULL;
	atomic_store_explicit(&s->parked, false, memory_order_relaxed);
	if (s->procs != s->inline_procs) {
		free(s->procs);
		s->procs = s->inline_procs;
		s->procs_capacity = 2;
	}
}

/* The protection s should have now (SEG_NONE: nobody holds it). */
static int wanted_locked(const struct segment *s)
{
	size_t holds = atomic_load_explicit(&s->holds, memory_order_relaxed);

	if (!holds)
		return SEG_NONE;
	if (atomic_load_explicit(&s->extended, memory_order_relaxed))
		return SEG_READ_EXECUTE;
	if (atomic_load_explicit(&s->parked, memory_order_relaxed))
		return SEG_PARKED;
	return holds == 1 ? SEG_READ_WRITE : SEG_READ;
}

/* After the pages of s got want (or not: changed false): record it, then
 * destroy s or send its due notice.  Returns true if the slot is free. */
static bool finish_locked(struct segment *s, int want, bool changed)
{
	if (changed)
		atomic_store_explicit(&s->applied, want, memory_order_release);
	if (want == SEG_NONE) {
		destroy_locked(s, changed);
		return true;
	}
	/* The notice goes out only once the pages are writable, so that its
	 * receiver can write at once. */
	struct process *target = s->notify;
	s->notify = NULL;
	if (target && atomic_load_explicit(&s->applied, memory_order_relaxed)
			== SEG_READ_WRITE)
		trindle__process_notify_segment(target, s, s->generation);
	return false;
}

/* Whether a destroyed slot keeps its pages for reuse.  A slot of
 * GIVE_BACK_BYTES or more never does: such sizes come and go, and a few
 * of them would use up the limit.  Decided slot by slot, not for a run of
 * neighbours: two 4 MiB chunks destroyed side by side in one sync stay as
 * cheap to reuse as one (as a run they went back, and the next two chunks
 * took 2,048 page faults, ~4 ms). */
static bool keep_pages(const struct segment *s, size_t ps)
{
	size_t bytes = s->slot_pages * ps;

	return bytes < GIVE_BACK_BYTES &&
		atomic_load_explicit(&retained_bytes, memory_order_relaxed) +
			bytes <= retain_limit;
}

static void keep(struct segment *s, size_t ps)
{
	s->dirty_memory = true;
	s->retained = s->slot_pages * ps;
	atomic_fetch_add_explicit(&retained_bytes, s->retained,
			memory_order_relaxed);
}

/* v[0 .. n) are destroyed neighbours, in address order.  Each keeps its
 * pages or gives them back; neighbours that give them back do it with one
 * madvise. */
static void keep_or_give_back(struct segment **v, size_t n)
{
	size_t ps = trindle__page_size();

	for (size_t i = 0; i < n;) {
		size_t j = i + 1;
		if (keep_pages(v[i], ps)) {
			keep(v[i], ps);
			i = j;
			continue;
		}
		while (j < n && !keep_pages(v[j], ps))
			j++;
		size_t run = (size_t)(v[j - 1]->base - v[i]->base) +
			v[j - 1]->slot_pages * ps;
		bool given = madvise(v[i]->base, run, MADV_DONTNEED) == 0;
		for (size_t k = i; k < j; k++) {
			if (given)
				v[k]->dirty_memory = false;
			else
				keep(v[k], ps);
		}
		i = j;
	}
}

static int by_base(const void *a, const void *b)
{
	const struct segment *x = *(struct segment *const *)a;
	const struct segment *y = *(struct segment *const *)b;

	return x->base < y->base ? -1 : x->base > y->base;
}

/* Settles up to SETTLE_CHUNK segments sorted by address: locks them all
 * (in address order, so two settles never deadlock), changes the
 * protection of each run of neighbours with one mprotect, finishes each. */
#define SETTLE_CHUNK 64

static void settle_chunk(struct segment **v, size_t n)
{
	size_t ps = trindle__page_size();
	int want[SETTLE_CHUNK];
	bool live[SETTLE_CHUNK], freed[SETTLE_CHUNK];

	for (size_t i = 0; i < n; i++) {
		spin_lock(&v[i]->lock);
		live[i] = atomic_load_explicit(&v[i]->live, memory_order_relaxed);
		want[i] = live[i] ? wanted_locked(v[i]) : SEG_NONE;
	}
	for (size_t i = 0; i < n;) {
		size_t j = i + 1;
		bool change = live[i] && want[i] != atomic_load_explicit(
				&v[i]->applied, memory_order_relaxed);
		/* Extend the run over neighbours needing the same change. */
		while (change && j < n && live[j] && want[j] == want[i] &&
		       v[j - 1]->base + v[j - 1]->pages * ps == v[j]->base &&
		       atomic_load_explicit(&v[j]->applied,
				memory_order_relaxed) != want[i])
			j++;
		bool ok = change && mprotect(v[i]->base,
				(size_t)(v[j - 1]->base - v[i]->base) +
				v[j - 1]->pages * ps, prot_bits(want[i])) == 0;
		for (size_t k = i; k < j; k++)
			freed[k] = live[k] && finish_locked(v[k], want[k], ok);
		if (freed[i])
			keep_or_give_back(v + i, j - i);
		i = j;
	}
	for (size_t i = 0; i < n; i++)
		spin_unlock(&v[i]->lock);
	for (size_t i = 0; i < n; i++)
		if (freed[i])
			give_slot(v[i]);
}

void trindle__segment_settle_many(struct segment **v, size_t n)
{
	size_t unique = 0;

	if (n > 1)
		qsort(v, n, sizeof(*v), by_base);
	for (size_t i = 0; i < n; i++)
		if (!unique || v[unique - 1] != v[i])
			v[unique++] = v[i];
	for (size_t i = 0; i < unique; i += SETTLE_CHUNK)
		settle_chunk(v + i, unique - i < SETTLE_CHUNK ?
				unique - i : SETTLE_CHUNK);
}

bool trindle__segment_settle(struct segment *s)
{
	trindle__segment_settle_many(&s, 1);
	int have = atomic_load_explicit(&s->applied, memory_order_acquire);
	return have != SEG_READ_WRITE ||
		atomic_load_explicit(&s->holds, memory_order_acquire) <= 1;
}

int trindle__segment_rights(const struct segment *s)
{
	if (!atomic_load_explicit(&s->live, memory_order_acquire))
		return 0;
	if (atomic_load_explicit(&s->extended, memory_order_acquire))
		return TRINDLE_ACCESS_READ | TRINDLE_ACCESS_EXECUTE;
	if (atomic_load_explicit(&s->holds, memory_order_acquire) == 1 &&
	    atomic_load_explicit(&s->applied, memory_order_acquire) ==
			SEG_READ_WRITE)
		return TRINDLE_ACCESS_READ | TRINDLE_ACCESS_WRITE;
	return TRINDLE_ACCESS_READ;
}

int trindle__segment_extend(struct segment *s)
{
	int err = 0;

	spin_lock(&s->lock);
	if (!atomic_load_explicit(&s->extended, memory_order_relaxed)) {
		if (mprotect(s->base, s->pages * trindle__page_size(),
				PROT_READ | PROT_EXEC) < 0) {
			err = -ENOMEM;
		} else {
			atomic_store_explicit(&s->extended, true,
					memory_order_release);
			atomic_store_explicit(&s->applied, SEG_READ_EXECUTE,
					memory_order_release);
		}
	}
	spin_unlock(&s->lock);
	return err;
}

int trindle__segment_refit(struct segment *s, size_t bytes)
{
	size_t ps = trindle__page_size();
	size_t pages = pages_for(bytes);

	if (pages > s->slot_pages)
		return -ENOSPC;
	/* The pages past the segment's end are PROT_NONE in the slot: those
	 * it gains become writable, those it loses fault again. */
	if (pages != s->pages) {
		size_t lo = pages < s->pages ? pages : s->pages;
		size_t hi = pages < s->pages ? s->pages : pages;
		int prot = pages > s->pages ? PROT_READ | PROT_WRITE : PROT_NONE;
		if (mprotect(s->base + lo * ps, (hi - lo) * ps, prot) < 0)
			return -ENOMEM;
	}
	/* What lies past the end in the last page must read as zeros. */
	memset(s->base + bytes, 0, pages * ps - bytes);
	s->bytes = bytes;
	s->pages = pages;
	atomic_store_explicit(&s->mapped, pages * ps, memory_order_relaxed);
	return 0;
}

struct segment *trindle__segment_slot(const void *address)
{
	struct segment *s;

	if (!trindle__segment_lookup(address, &s))
		return NULL;
	return s;
}

bool trindle__segment_covers(const struct segment *s, const void *address)
{
	return (uintptr_t)address - (uintptr_t)s->base <
		s->pages * trindle__page_size();
}
