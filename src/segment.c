/* SPDX-License-Identifier: MIT */
/* segment.c - arenas, slots, holds and page protection (see segment.h). */
#include "segment.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "die.h"
#include "holder.h"
#include "trindle.h"

/*
 * Arenas.  A regular arena is one PROT_NONE reservation carved into slots
 * in order, with a table naming the slot of each page.  It tries for
 * ARENA_RESERVE of address space and halves that while the kernel refuses
 * (RLIMIT_AS, a full address space), down to the slot it is made for, so a
 * small limit gives small arenas instead of no memory at all.  A slot of
 * DEDICATED_BYTES or more gets an arena of its own, exactly its size,
 * with no table: the arena's one slot is the slot of every page in it
 * (a table for a 1 TiB slot would be 2 GiB, written page by page).
 *
 * Arenas and slots are never unmapped or freed, so lookups need no lock.
 */
#define ARENA_MAX 4096
#define ARENA_RESERVE ((size_t)4 << 30)
#define DEDICATED_BYTES ((size_t)64 << 20)
#define CLASS_MAX 40
/* Destroyed slots at least this large give their memory back. */
#define GIVE_BACK_BYTES ((size_t)8 << 20)

struct arena {
	char *base;
	size_t size;
	size_t bump;                      /* carved so far (arena_lock) */
	_Atomic(struct segment *) *owner; /* slot of each page, or NULL: */
	struct segment *only;             /* the one slot of the arena */
};

static struct arena arenas[ARENA_MAX];
static atomic_size_t arena_count;
static pthread_mutex_t arena_lock = PTHREAD_MUTEX_INITIALIZER;
static struct arena *carving;             /* the regular arena in use */
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
		const struct arena *ar = &arenas[i];
		uintptr_t base = (uintptr_t)ar->base;
		if (a < base || a - base >= ar->size)
			continue;
		if (!ar->owner) {
			*seg = ar->only;
			return true;
		}
		size_t page = (a - base) / trindle__page_size();
		*seg = atomic_load_explicit(&ar->owner[page],
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

static void *reserve(size_t bytes, int prot)
{
	void *p = mmap(NULL, bytes, prot,
			MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

/* Maps a new arena into the next free entry, not yet published: a
 * dedicated one of exactly bytes, or a regular one of ARENA_RESERVE,
 * halved while the kernel refuses, down to bytes.  arena_lock held. */
static struct arena *add_arena(size_t bytes, bool dedicated)
{
	size_t n = atomic_load_explicit(&arena_count, memory_order_relaxed);
	struct arena *a = &arenas[n];
	size_t size = dedicated ? bytes : ARENA_RESERVE;

	if (n == ARENA_MAX)
		return NULL;
	for (; size >= bytes; size /= 2) {
		void *base = reserve(size, PROT_NONE);
		if (!base)
			continue;
		void *owner = NULL;
		if (!dedicated) {
			owner = reserve(size / trindle__page_size() *
					sizeof(*a->owner), PROT_READ | PROT_WRITE);
			if (!owner) {
				munmap(base, size);
				continue;
			}
		}
		a->base = base;
		a->size = size;
		a->bump = 0;
		a->owner = owner;
		a->only = NULL;
		return a;
	}
	return NULL;
}

/* Makes arenas[0 .. n] visible to lookups (after their fields are set). */
static void publish(struct arena *a)
{
	atomic_store_explicit(&arena_count, (size_t)(a - arenas) + 1,
			memory_order_release);
}

static struct segment *new_slot(char *base, unsigned cls)
{
	struct segment *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->obj.kind = OBJECT_SEGMENT;
	s->base = base;
	s->slot_pages = (size_t)1 << cls;
	s->slot_class = cls;
	s->procs = s->inline_procs;
	s->procs_capacity = 2;
	return s;
}

/* A slot of bytes in an arena of its own.  arena_lock held. */
static struct segment *carve_dedicated(unsigned cls, size_t bytes)
{
	struct arena *a = add_arena(bytes, true);

	if (!a)
		return NULL;
	struct segment *s = new_slot(a->base, cls);
	if (!s) {
		munmap(a->base, a->size);
		return NULL;
	}
	a->only = s;
	a->bump = bytes;
	publish(a);
	return s;
}

/* Carves a fresh slot of 2^cls pages.  Called with arena_lock held. */
static struct segment *carve(unsigned cls)
{
	size_t ps = trindle__page_size();
	size_t pages = (size_t)1 << cls;
	size_t bytes = pages * ps;
	struct arena *a = carving;

	if (bytes >= DEDICATED_BYTES)
		return carve_dedicated(cls, bytes);
	if (!a || a->size - a->bump < bytes) {
		a = add_arena(bytes, false);
		if (!a)
			return NULL;
		publish(a);
		carving = a;
	}
	struct segment *s = new_slot(a->base + a->bump, cls);
	if (!s)
		return NULL;
	size_t first = a->bump / ps;
	for (size_t i = 0; i < pages; i++)
		atomic_store_explicit(&a->owner[first + i], s,
				memory_order_release);
	a->bump += bytes;
	return s;
}

/*
 * Quarantine.  Past vm.max_map_count the kernel may refuse to make the
 * pages of a destroyed segment PROT_NONE (the hole would split a mapping).
 * Such a slot is never recycled as it is.  Its pages get guard markers
 * instead (MADV_GUARD_INSTALL, Linux 6.13): a touch faults just as on
 * PROT_NONE, and the markers live in the page tables, splitting nothing.
 * A kernel without them gets the pages emptied (they read as zeros and
 * stay accessible).  Either way the slot waits here until it can be
 * protected: a few tries per allocation and per settle that closed a
 * destroyed slot (which may have merged mappings), while any wait.
 */
#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#define MADV_GUARD_REMOVE 103
#endif
#define QUARANTINE_TRIES 4

static struct segment *quarantine; /* arena_lock */
static atomic_bool quarantine_waits;   /* quarantine != NULL, for settles */

static int advise(void *base, size_t bytes, int advice)
{
	int rc;
	int tries = 0;

	do
		rc = madvise(base, bytes, advice);
	while (rc < 0 && (errno == EINTR || errno == EAGAIN) && ++tries < 8);
	return rc;
}

/* A destroyed slot the kernel would not protect: closes it as well as it
 * can and keeps it out of reuse. */
static void seal(struct segment *s)
{
	/* The pages of its last incarnation: the rest of the slot never
	 * opened.  (Markers are page-table entries: not a whole huge slot.) */
	size_t bytes = s->pages * trindle__page_size();
	int saved_errno = errno;

	s->guarded = advise(s->base, bytes, MADV_GUARD_INSTALL) == 0;
	if (!s->guarded)
		advise(s->base, bytes, MADV_DONTNEED);
	errno = saved_errno;
	pthread_mutex_lock(&arena_lock);
	s->next_free = quarantine;
	quarantine = s;
	atomic_store_explicit(&quarantine_waits, true, memory_order_relaxed);
	pthread_mutex_unlock(&arena_lock);
}

/* Tries to protect quarantined slots; those it can join the free lists,
 * their pages empty.  Stops at the first refusal: the kernel's mapping
 * count is still too high.  Called with arena_lock held. */
static void retry_quarantine(void)
{
	size_t ps = trindle__page_size();
	int saved_errno = errno;

	for (int i = 0; i < QUARANTINE_TRIES && quarantine; i++) {
		struct segment *s = quarantine;
		size_t bytes = s->slot_pages * ps;
		if (mprotect(s->base, bytes, PROT_NONE) < 0)
			break;
		if (s->guarded && advise(s->base, s->pages * ps,
				MADV_GUARD_REMOVE) < 0)
			break;
		s->guarded = false;
		atomic_store_explicit(&s->applied, SEG_NONE,
				memory_order_release);
		s->dirty_memory = advise(s->base, bytes, MADV_DONTNEED) < 0;
		quarantine = s->next_free;
		s->next_free = free_slots[s->slot_class];
		free_slots[s->slot_class] = s;
	}
	atomic_store_explicit(&quarantine_waits, quarantine != NULL,
			memory_order_relaxed);
	errno = saved_errno;
}

static struct segment *take_slot(unsigned cls)
{
	struct segment *s;

	pthread_mutex_lock(&arena_lock);
	if (unlikely(quarantine != NULL))
		retry_quarantine();
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
 * (a fault per page costs far more than clearing it), up to a limit in
 * all (1 GiB, or TRINDLE_RETAIN_MIB).
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

/* A slot of the cache with exactly pages pages open (so no protection
 * changes), taken out of it; or NULL. */
static struct segment *take_cached(struct slot_cache *c, size_t pages)
{
	if (!c)
		return NULL;
	for (size_t i = c->count; i-- > 0;) {
		struct segment *s = c->slot[i];
		if (s->pages != pages)
			continue;
		memmove(&c->slot[i], &c->slot[i + 1],
			(c->count - i - 1) * sizeof(*c->slot));
		c->count--;
		c->bytes -= pages * trindle__page_size();
		return s;
	}
	return NULL;
}

int trindle__segment_create(size_t bytes, struct holder *proc,
		struct slot_cache *cache, struct segment **out)
{
	size_t ps = trindle__page_size();
	size_t pages = pages_for(bytes);
	unsigned cls = class_of(pages);

	if (cls >= CLASS_MAX)
		return -ENOMEM;
	struct segment *s = take_cached(cache, pages);
	if (!s) {
		s = take_slot(cls);
		if (!s)
			return -ENOMEM;
		if (mprotect(s->base, pages * ps, PROT_READ | PROT_WRITE) < 0) {
			give_slot(s);
			return -ENOMEM;
		}
		reuse(s);
	}
	s->bytes = bytes;
	s->pages = pages;
	atomic_store_explicit(&s->mapped, pages * ps, memory_order_relaxed);
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
 * line stays clean on both cores.  The list of holding processes is kept
 * only while there are two holders or more (holds counts the messages in
 * flight too); whoever makes the second hold writes the first one down.
 */

static size_t holds_of(const struct segment *s)
{
	return atomic_load_explicit(&s->holds, memory_order_acquire);
}

static void add_proc(struct segment *s, struct holder *p)
{
	if (s->nprocs == s->procs_capacity) {
		size_t cap = s->procs_capacity * 2;
		struct holder **v = malloc(cap * sizeof(*v));
		if (!v)
			trindle__die(); /* cannot keep the books: nothing sane remains */
		memcpy(v, s->procs, s->nprocs * sizeof(*v));
		if (s->procs != s->inline_procs)
			free(s->procs);
		s->procs = v;
		s->procs_capacity = cap;
	}
	s->procs[s->nprocs++] = p;
}

static void remove_proc(struct segment *s, struct holder *p)
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
static void note_first_holder(struct segment *s, struct holder *proc)
{
	if (holds_of(s) == 1) {
		s->nprocs = 0;
		add_proc(s, proc);
	}
}

/* After a hold went away: is one process now alone with it?  Only those
 * whose fellow holders left are told, not a process receiving its own. */
static void note_sole_holder(struct segment *s, struct holder *receiver)
{
	if (holds_of(s) == 1 && s->nprocs == 1 && s->procs[0] != receiver)
		s->notify = s->procs[0];
	else
		s->notify = NULL;
}

void trindle__segment_charge(struct segment *s, struct holder *sender,
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
	set_holds(s, holds_of(s) - 1);
	spin_unlock(&s->lock);
}

bool trindle__segment_receive(struct segment *s, struct holder *receiver,
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
	if (already_held) {
		set_holds(s, holds_of(s) - 1);
		note_sole_holder(s, receiver);
	} else {
		add_proc(s, receiver);
	}
	spin_unlock(&s->lock);
	return already_held;
}

void trindle__segment_release(struct segment *s, struct holder *proc)
{
	spin_lock(&s->lock);
	if (holds_of(s) > 1)
		remove_proc(s, proc);
	set_holds(s, holds_of(s) - 1);
	note_sole_holder(s, NULL);
	spin_unlock(&s->lock);
}

void trindle__segment_drop_message(struct segment *s, struct holder *actor)
{
	(void)actor; /* even the one who killed the pipe is told: its fellow
	              * holder, the message, let go */
	spin_lock(&s->lock);
	set_holds(s, holds_of(s) - 1);
	note_sole_holder(s, NULL);
	spin_unlock(&s->lock);
}

void trindle__segment_add_holder(struct segment *s, struct holder *holder,
		struct holder *proc)
{
	spin_lock(&s->lock);
	note_first_holder(s, holder);
	add_proc(s, proc);
	set_holds(s, holds_of(s) + 1);
	s->notify = NULL;
	spin_unlock(&s->lock);
}

/* Nobody holds s any more: the incarnation ends.  closed: its pages are
 * PROT_NONE.  Called with s->lock held; after unlocking, the caller
 * recycles the slot (closed) or seals it. */
static void destroy_locked(struct segment *s, bool closed)
{
	atomic_store_explicit(&s->live, false, memory_order_release);
	if (closed)
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

/* What a settle did with a segment, for what follows the unlocking. */
enum fate {
	FATE_CACHED, /* destroyed, pages left open: into the settler's cache */
	FATE_LIVE,   /* still held (or not live when locked): nothing */
	FATE_FREED,  /* destroyed, PROT_NONE: recycle */
	FATE_SEALED, /* destroyed, but the kernel refused PROT_NONE: seal */
};

/* A sole-holder notice, posted once the locks are released. */
struct due {
	struct holder *to;
	uint32_t generation;
};

/* After the pages of s got want (or not: changed false): record it and
 * end the incarnation or note its due notice in *due. */
static enum fate finish_locked(struct segment *s, int want, bool changed,
		struct due *due)
{
	due->to = NULL;
	if (changed)
		atomic_store_explicit(&s->applied, want, memory_order_release);
	if (want == SEG_NONE) {
		bool closed = atomic_load_explicit(&s->applied,
				memory_order_relaxed) == SEG_NONE;
		destroy_locked(s, closed);
		return closed ? FATE_FREED : FATE_SEALED;
	}
	/* The notice goes out only once the pages are writable, so that its
	 * receiver can write at once. */
	struct holder *target = s->notify;
	s->notify = NULL;
	if (target && atomic_load_explicit(&s->applied, memory_order_relaxed)
			== SEG_READ_WRITE)
		*due = (struct due){ target, s->generation };
	return FATE_LIVE;
}

/* Whether a destroyed slot keeps its pages for reuse.  A slot of
 * GIVE_BACK_BYTES or more never does: such sizes come and go, and a few
 * of them would use up the limit.  Decided slot by slot, not for a run of
 * neighbours: two 4 MiB chunks destroyed side by side in one sync stay as
 * cheap to reuse as one (as a run they went back, and the next two chunks
 * faulted in every page again: commit 6d09729 has the figures). */
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
 * protection of each run of neighbours with one mprotect, records what
 * was done, unlocks.  Then, with no lock held, it posts the notices that
 * fell due, gives destroyed pages back or keeps them, and recycles or
 * seals the destroyed slots: inside the spinlocks only mprotect runs (see
 * lock.h). */
#define SETTLE_CHUNK 64

/* Sets the pages of v[0 .. n), neighbours, to want with one mprotect; if
 * the kernel refuses, each alone (a run refused as a whole may have
 * changed in part, and one refused hole must not keep its neighbours
 * open).  Records the outcome of each in fate and due. */
static void protect_run(struct segment **v, size_t n, int want,
		enum fate *fate, struct due *due)
{
	size_t ps = trindle__page_size();
	size_t bytes = (size_t)(v[n - 1]->base - v[0]->base) +
		v[n - 1]->pages * ps;
	bool ok = mprotect(v[0]->base, bytes, prot_bits(want)) == 0;

	for (size_t k = 0; k < n; k++) {
		bool done = ok || (n > 1 && mprotect(v[k]->base,
				v[k]->pages * ps, prot_bits(want)) == 0);
		fate[k] = finish_locked(v[k], want, done, &due[k]);
	}
}

/* The destroyed slots f[0 .. n), in address order: neighbours keep or
 * give back their pages together, then each slot is recycled. */
static void recycle(struct segment **f, size_t n)
{
	size_t ps = trindle__page_size();

	for (size_t i = 0; i < n;) {
		size_t j = i + 1;
		while (j < n && f[j - 1]->base + f[j - 1]->slot_pages * ps ==
				f[j]->base)
			j++;
		keep_or_give_back(f + i, j - i);
		i = j;
	}
	for (size_t i = 0; i < n; i++)
		give_slot(f[i]);
	if (n && unlikely(atomic_load_explicit(&quarantine_waits,
			memory_order_relaxed))) {
		pthread_mutex_lock(&arena_lock);
		retry_quarantine();
		pthread_mutex_unlock(&arena_lock);
	}
}

static bool strict_mode;

void trindle__segment_set_strict(bool strict)
{
	strict_mode = strict;
}

/* The cache's bound in bytes: it keeps no more than the retention limit
 * lets destroyed memory stay (TRINDLE_RETAIN_MIB=0: no cache). */
static size_t cache_limit(void)
{
	return retain_limit < SLOT_CACHE_BYTES ? retain_limit : SLOT_CACHE_BYTES;
}

/* Can s, destroyed now, go into cache instead of being closed?  Only a
 * segment its last holder could write (pages open, nothing to protect in
 * between), and only while the cache has room: a settle never evicts, so
 * that a bulk release still closes its neighbours with one mprotect per
 * run.  *slots and *bytes count what this settle already put aside. */
static bool cacheable_locked(const struct slot_cache *c, struct segment *s,
		size_t *slots, size_t *bytes)
{
	size_t b = s->pages * trindle__page_size();

	if (!c || c->closed || strict_mode ||
	    c->count + *slots == SLOT_CACHE_SLOTS ||
	    c->bytes + *bytes + b > cache_limit())
		return false;
	if (atomic_load_explicit(&s->applied, memory_order_relaxed) !=
			SEG_READ_WRITE ||
	    atomic_load_explicit(&s->parked, memory_order_relaxed))
		return false;
	*slots += 1;
	*bytes += b;
	return true;
}

/* Closes a destroyed slot whose pages are still open (a cache's, as its
 * process ends) and recycles it; if the kernel refuses, it is sealed
 * instead. */
static void close_and_recycle(struct segment *s)
{
	if (mprotect(s->base, s->pages * trindle__page_size(), PROT_NONE) == 0) {
		atomic_store_explicit(&s->applied, SEG_NONE, memory_order_release);
		recycle(&s, 1);
	} else {
		seal(s);
	}
}

/* Puts s, just destroyed with its pages open, into cache (which has room:
 * cacheable_locked() saw to it). */
static void cache_put(struct slot_cache *c, struct segment *s)
{
	size_t bytes = s->pages * trindle__page_size();

	s->dirty_memory = true; /* the next incarnation is cleared first */
	c->slot[c->count++] = s;
	c->bytes += bytes;
}

void trindle__slot_cache_flush(struct slot_cache *c)
{
	for (size_t i = 0; i < c->count; i++)
		close_and_recycle(c->slot[i]);
	c->count = 0;
	c->bytes = 0;
}

void trindle__slot_cache_close(struct slot_cache *c)
{
	trindle__slot_cache_flush(c);
	c->closed = true;
}

static void settle_chunk(struct segment **v, size_t n,
		struct slot_cache *cache)
{
	size_t ps = trindle__page_size();
	int want[SETTLE_CHUNK];
	bool live[SETTLE_CHUNK];
	enum fate fate[SETTLE_CHUNK];
	struct due due[SETTLE_CHUNK];
	struct segment *freed[SETTLE_CHUNK];
	size_t nfreed = 0, cached_slots = 0, cached_bytes = 0;

	for (size_t i = 0; i < n; i++) {
		spin_lock(&v[i]->lock);
		/* Acquire: a stale dirty entry may name a slot that another
		 * thread destroyed and created again meanwhile; this pairs with
		 * create's release of live, so its fields are seen whole. */
		live[i] = atomic_load_explicit(&v[i]->live, memory_order_acquire);
		want[i] = live[i] ? wanted_locked(v[i]) : SEG_NONE;
		fate[i] = FATE_LIVE;
		due[i].to = NULL;
		if (live[i] && want[i] == SEG_NONE &&
		    cacheable_locked(cache, v[i], &cached_slots,
				     &cached_bytes)) {
			destroy_locked(v[i], false);
			fate[i] = FATE_CACHED;
			live[i] = false; /* nothing more to do under the lock */
		}
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
		if (change)
			protect_run(v + i, j - i, want[i], fate + i, due + i);
		else if (live[i])
			fate[i] = finish_locked(v[i], want[i], false, &due[i]);
		i = j;
	}
	for (size_t i = 0; i < n; i++)
		spin_unlock(&v[i]->lock);
	for (size_t i = 0; i < n; i++) {
		if (due[i].to)
			trindle__holder_notify(due[i].to, (struct notice){
					NOTICE_SOLE_HOLDER, due[i].generation,
					v[i] });
		if (fate[i] == FATE_FREED)
			freed[nfreed++] = v[i];
		else if (fate[i] == FATE_SEALED)
			seal(v[i]);
		else if (fate[i] == FATE_CACHED)
			cache_put(cache, v[i]);
	}
	recycle(freed, nfreed);
}

void trindle__segment_settle_many(struct segment **v, size_t n,
		struct slot_cache *cache)
{
	size_t unique = 0;

	if (n > 1)
		qsort(v, n, sizeof(*v), by_base);
	for (size_t i = 0; i < n; i++)
		if (!unique || v[unique - 1] != v[i])
			v[unique++] = v[i];
	for (size_t i = 0; i < unique; i += SETTLE_CHUNK)
		settle_chunk(v + i, unique - i < SETTLE_CHUNK ?
				unique - i : SETTLE_CHUNK, cache);
}

bool trindle__segment_settle(struct segment *s)
{
	trindle__segment_settle_many(&s, 1, NULL);
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
