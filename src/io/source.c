/* SPDX-License-Identifier: MIT */
/*
 * source.c - the file source device.
 *
 * A regular file is cut into chunks planned ahead at known offsets: each
 * chunk gets a segment of exactly its size, which the device holds alone
 * (a chunk a consumer gave back, when one of that size is at hand, or else
 * a new one), and the kernel reads straight into it, with up to depth
 * reads in flight.  Chunks leave in file order: the head of the window is
 * moved to out as soon as it is complete.
 *
 * Line-aware cuts on a regular file are found before the chunk is read, by
 * a small pread() just before the chunk's natural end (the "probe"); the
 * probed bytes that belong to the chunk are copied into it, so no byte of
 * the file is read twice except the partial line after the cut.
 *
 * Pipes, terminals and empty-looking files (procfs) are read in turn, one
 * read at a time, each chunk filled before it leaves; a line-aware cut there
 * keeps the partial line in a carry buffer and copies the chunk once.
 */
#include "device.h"

#include "devices.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { CHUNK_READING, CHUNK_DONE };

/* One chunk of a regular file; op comes first, so a completed op is its
 * chunk. */
struct chunk {
	struct io_op op;
	unsigned char *seg; /* held by the device alone until it is moved */
	size_t len;         /* the segment's size */
	size_t want;        /* [0, want) is read; the rest came from the probe */
	size_t done;        /* bytes of [0, want) read so far */
	uint64_t off;       /* file offset of seg[0] */
	int state;          /* CHUNK_READING or CHUNK_DONE */
	bool truncated;     /* the file ended early: only [0, done) is valid */
};

/* Chunks given back on the input pipe, kept until one fits. */
#define STASH 16

struct source {
	trindle_pipe_t input, out;
	trindle_segment_t stash[STASH];
	unsigned nstash;
	struct io_file file;
	bool seekable;      /* a regular file read at offsets */
	bool lines;         /* TRINDLE_SOURCE_LINES */
	size_t chunk;
	unsigned depth;
	uint64_t next, end; /* next chunk's offset; where reading stops */
	struct chunk *win;  /* the chunks in flight, a ring, head first */
	unsigned head, count;
	unsigned char *buf; /* the probe (regular files) or carry (streams) */
	size_t buf_cap, buf_len;
	uint64_t probe_off; /* file offset of buf[0] after a probe */
	bool stopped;       /* out died: end quietly, without a marker */
	bool worth_waiting; /* chunks given back have been reused lately */
};

static size_t min_size(uint64_t a, uint64_t b)
{
	return (size_t)(a < b ? a : b);
}

static int reserve(struct source *s, size_t n)
{
	if (n <= s->buf_cap)
		return 0;
	unsigned char *b = realloc(s->buf, n);
	if (!b)
		return -ENOMEM;
	s->buf = b;
	s->buf_cap = n;
	return 0;
}

static void stash_returns(struct source *s, const trindle_message_t *got,
		size_t n);

#define DELIVER_MAX 16 /* chunks moved out in one sync */
#define EMIT_BYTES ((size_t)256 << 10) /* see run_offsets() */
/* A safety net: a wait for room ends after this even if nothing woke it,
 * and the send is simply tried again. */
#define ROOM_WAIT_NS 2000000000L

/* Moves segs[0 .. n) (at most DELIVER_MAX) to out, in order, picking up
 * the chunks consumers gave back in the same sync.  A pipe that finds no
 * room for one send refuses the rest of that sync too, so what failed is
 * always the tail: the source sleeps until the consumer takes a chunk
 * (the core's wait for room, see devices.h), then sends the rest.  If out
 * died, releases what is left and marks the source stopped (returns 1). */
static int deliver_many(struct source *s, trindle_segment_t *segs, size_t n)
{
	size_t done = 0;

	for (;;) {
		trindle_message_t m[2 * DELIVER_MAX + 1], got[STASH];
		trindle_util_batch_t b;
		trindle_mailbox_t in = { STASH, got };
		trindle_util_batch_init(&b, m, 2 * DELIVER_MAX + 1);
		for (size_t i = done; i < n; i++)
			trindle_util_add_move(&b, s->out, segs[i]);
		trindle_util_add_receive(&b, s->input);
		if (trindle_util_flush_timeout(&b, &in, 0) >= 0)
			stash_returns(s, got, in.count);
		/* The first failed message is the send of the first chunk left
		 * (after a failed call, the batch is as it was). */
		while (done < n && (b.count == 0 || m[0].content != segs[done]))
			done++;
		if (done == n)
			return 0;
		if (trindle__wait_for_room(s->out, ROOM_WAIT_NS) < 0) {
			/* out died: nobody will take these */
			while (done < n)
				trindle_util_release(segs[done++]);
			s->stopped = true;
			return 1;
		}
	}
}

static int deliver(struct source *s, trindle_segment_t seg)
{
	return deliver_many(s, &seg, 1);
}

/* --- segments ---------------------------------------------------------- */

static void stash_put(struct source *s, trindle_segment_t seg)
{
	if (s->nstash == STASH) { /* full of sizes nobody wants: drop one */
		trindle_util_release(s->stash[0]);
		memmove(s->stash, s->stash + 1, (STASH - 1) * sizeof s->stash[0]);
		s->nstash--;
	}
	s->stash[s->nstash++] = seg;
}

/* Keeps the chunks consumers gave back among got[0 .. n).  Only segments
 * the source now holds alone (moved back) can be reused. */
static void stash_returns(struct source *s, const trindle_message_t *got,
		size_t n)
{
	for (size_t i = 0; i < n; i++) {
		trindle_object_t obj = got[i].content;
		if (got[i].address != s->input || !obj)
			continue; /* a notice */
		if (trindle_access(obj) == (TRINDLE_ACCESS_READ | TRINDLE_ACCESS_WRITE)
		    && trindle_measure(obj) > 0)
			stash_put(s, obj);
		else
			trindle_util_release(obj);
	}
}

/* Takes what consumers gave back on the input pipe, waiting at most
 * timeout_ns for the first. */
static void collect_returns(struct source *s, int64_t timeout_ns)
{
	trindle_message_t req = { s->input, NULL }, got[STASH];
	trindle_mailbox_t out = { 1, &req }, in = { STASH, got };

	if (trindle_sync_timeout(&out, &in, timeout_ns) == 0)
		stash_returns(s, got, in.count);
}

static unsigned char *stash_remove(struct source *s, unsigned i)
{
	unsigned char *seg = s->stash[i];
	memmove(s->stash + i, s->stash + i + 1,
		(s->nstash - i - 1) * sizeof s->stash[0]);
	s->nstash--;
	return seg;
}

/* A chunk given back, of len bytes: one of that size, or else one the core
 * can give that size (line-aware chunks all differ a little).  The chunk
 * given back last fits best: its memory is the most likely to be still in
 * the cache. */
static unsigned char *stash_take(struct source *s, size_t len)
{
	for (unsigned i = s->nstash; i-- > 0;)
		if (trindle_measure(s->stash[i]) == len)
			return stash_remove(s, i);
	for (unsigned i = s->nstash; i-- > 0;)
		if (trindle__refit(s->stash[i], len) == 0)
			return stash_remove(s, i);
	return NULL;
}

/* A segment of len bytes the source holds alone: a chunk given back, or
 * a new one.  Its contents are stale: the caller overwrites them all. */
static unsigned char *chunk_segment(struct source *s, size_t len)
{
	unsigned char *seg = stash_take(s, len);
	if (!seg) {
		collect_returns(s, 0);
		seg = stash_take(s, len);
	}
	/* Once chunks given back fit, one is worth waiting for about as long
	 * as a new segment would take to fault in (len / 2 ns: fresh memory
	 * taken to fault in at 2 bytes a nanosecond), while a chunk waits in
	 * out for the consumer: the wait usually ends sooner, and the chunks
	 * in circulation stay as few as the consumers need.
	 * With out empty, the consumer may be waiting: no waiting then.  A
	 * wait that brings nothing that fits (the consumer stopped giving
	 * back, or gives back other sizes) ends the waiting until a chunk
	 * given back fits again. */
	if (seg) {
		s->worth_waiting = true;
	} else if (s->worth_waiting && trindle_measure(s->out) > 0) {
		collect_returns(s, (int64_t)(len / 2));
		seg = stash_take(s, len);
		s->worth_waiting = seg != NULL;
	}
	/* Every byte of a chunk is read (or copied from the probe) before
	 * it leaves, and a chunk cut short leaves as an exact copy: so the
	 * new segment need not be zeroed first. */
	return seg ? seg : trindle__allocate_unfilled(len);
}

/* --- regular files ---------------------------------------------------- */

/* Reads n bytes at off into buf (a short count means the file shrank: end
 * moves back to where it stops).  Synchronous: probes are small. */
static int read_probe(struct source *s, uint64_t off, size_t n)
{
	if (reserve(s, n) < 0)
		return trindle__io_fail(&s->file, "allocate", off, ENOMEM);
	s->probe_off = off;
	s->buf_len = 0;
	while (s->buf_len < n) {
		ssize_t r = pread(s->file.fd, s->buf + s->buf_len, n - s->buf_len,
				  (off_t)(off + s->buf_len));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return trindle__io_fail(&s->file, "read", off + s->buf_len, errno);
		if (r == 0) {
			s->end = off + s->buf_len;
			break;
		}
		s->buf_len += (size_t)r;
	}
	return 0;
}

static size_t probe_window(size_t chunk)
{
	size_t w = chunk / 8;
	return w < 1 ? 1 : w > 4096 ? 4096 : w;
}

/* Backwards from b + chunk: the offset just after the last '\n' in
 * [b, b + chunk), or b when there is none (0 on success, else -errno). */
static int cut_back(struct source *s, uint64_t b, uint64_t *cut)
{
	size_t win = probe_window(s->chunk);
	uint64_t hi = b + s->chunk;

	*cut = b;
	while (hi > b) {
		size_t n = min_size(win, hi - b);
		int rc = read_probe(s, hi - n, n);
		if (rc < 0)
			return rc;
		if (s->buf_len < n) {
			*cut = s->end; /* shrank: the rest is the last chunk */
			return 0;
		}
		unsigned char *nl = memrchr(s->buf, '\n', n);
		if (nl) {
			*cut = hi - n + (uint64_t)(nl - s->buf) + 1;
			return 0;
		}
		hi -= n;
		win = win * 2 < s->chunk ? win * 2 : s->chunk;
	}
	return 0;
}

/* Forwards from b + chunk: one line is longer than a chunk, so the chunk
 * runs to the end of that line (or of the file). */
static int cut_forward(struct source *s, uint64_t b, uint64_t *cut)
{
	size_t win = probe_window(s->chunk), top = s->chunk;
	uint64_t lo = b + s->chunk;

	if (top < ((size_t)1 << 20))
		top = (size_t)1 << 20;
	while (lo < s->end) {
		size_t n = min_size(win, s->end - lo);
		int rc = read_probe(s, lo, n);
		if (rc < 0)
			return rc;
		unsigned char *nl = memchr(s->buf, '\n', s->buf_len);
		if (nl) {
			*cut = lo + (uint64_t)(nl - s->buf) + 1;
			return 0;
		}
		lo += s->buf_len;
		win = win * 2 < top ? win * 2 : top;
	}
	*cut = s->end;
	return 0;
}

/* Queues the rest of c's read (all of it, or what a short read left). */
static void submit_read(struct source *s, struct chunk *c)
{
	c->op = (struct io_op){
		.buf = c->seg + c->done,
		.len = c->want - c->done,
		.offset = (int64_t)(c->off + c->done),
	};
	trindle__io_engine_submit(&s->file.eng, &c->op);
}

/* Plans the next chunk: where it ends, its segment, its read. */
static int plan(struct source *s)
{
	uint64_t b = s->next, cut = b + min_size(s->chunk, s->end - b);
	int rc;

	s->buf_len = 0;
	if (s->lines && s->end - b > s->chunk) {
		rc = cut_back(s, b, &cut);
		if (rc == 0 && cut == b)
			rc = cut_forward(s, b, &cut);
		if (rc < 0)
			return rc;
		if (cut <= b) { /* the file shrank before b */
			s->next = s->end;
			return 0;
		}
	}
	size_t len = (size_t)(cut - b);
	unsigned char *seg = chunk_segment(s, len);
	if (!seg)
		return trindle__io_fail(&s->file, "allocate", b, errno);
	struct chunk *c = &s->win[(s->head + s->count++) % s->depth];
	*c = (struct chunk){ .seg = seg, .len = len, .want = len, .off = b };
	/* The chunk's tail that the probe holds is copied, not read again. */
	if (s->buf_len && s->probe_off >= b && s->probe_off < cut &&
	    s->probe_off + s->buf_len >= cut) {
		c->want = (size_t)(s->probe_off - b);
		memcpy(seg + c->want, s->buf, len - c->want);
	}
	s->next = cut;
	if (c->want == 0)
		c->state = CHUNK_DONE;
	else
		submit_read(s, c);
	return 0;
}

static int read_done(struct source *s, struct io_op *op)
{
	struct chunk *c = (struct chunk *)op;

	if (op->res == -EINTR || op->res == -EAGAIN) {
		submit_read(s, c);
		return 0;
	}
	if (op->res < 0)
		return trindle__io_fail(&s->file, "read", c->off + c->done, (int)-op->res);
	if (op->res == 0) { /* the file shrank while we read it */
		if (c->off + c->done < s->end)
			s->end = c->off + c->done;
		c->truncated = true;
		c->state = CHUNK_DONE;
		return 0;
	}
	c->done += (size_t)op->res;
	if (c->done < c->want)
		submit_read(s, c); /* a short read: ask for the rest */
	else
		c->state = CHUNK_DONE;
	return 0;
}

/* Takes the head chunk out of the window: *seg is the segment to move
 * out, or NULL when there is nothing to deliver.  Returns 0 or -errno. */
static int take_head(struct source *s, unsigned char **seg_out)
{
	struct chunk *c = &s->win[s->head];
	unsigned char *seg = c->seg;
	size_t valid = c->truncated ? c->done : c->len;

	*seg_out = NULL;
	c->seg = NULL;
	s->head = (s->head + 1) % s->depth;
	s->count--;
	if (c->off >= s->end || valid == 0) {
		trindle_util_release(seg);
		return 0;
	}
	if (valid < c->len) { /* cut short by a shrinking file: exact size */
		unsigned char *fit = trindle_util_allocate(valid, seg);
		trindle_util_release(seg);
		if (!fit)
			return trindle__io_fail(&s->file, "allocate", c->off, errno);
		seg = fit;
	}
	*seg_out = seg;
	return 0;
}

/* Moves the finished chunks at the head of the window out, in file order,
 * several in one sync.  Returns 0, 1 when out died, or -errno. */
static int emit_ready(struct source *s)
{
	trindle_segment_t segs[DELIVER_MAX];
	size_t n = 0;
	int rc = 0;

	while (rc == 0 && n < DELIVER_MAX && s->count &&
	       s->win[s->head].state == CHUNK_DONE) {
		unsigned char *seg;
		rc = take_head(s, &seg);
		if (seg)
			segs[n++] = seg;
	}
	if (n) {
		int d = deliver_many(s, segs, n);
		if (rc == 0)
			rc = d;
	}
	return rc;
}

/* Bytes of the finished chunks at the head of the window. */
static size_t ready_bytes(const struct source *s)
{
	size_t n = 0;
	for (unsigned i = 0; i < s->count; i++) {
		const struct chunk *c = &s->win[(s->head + i) % s->depth];
		if (c->state != CHUNK_DONE)
			break;
		n += c->len;
	}
	return n;
}

/*
 * Reads and deliveries alternate in small steps.  Once the finished chunks
 * at the head of the window add up to EMIT_BYTES, they leave before more
 * are read: reads the page cache serves complete at once, and reading the
 * whole window ahead would only put more chunks in circulation, so that
 * the next read lands in memory that has left the cache, which made
 * reading with 4 MiB chunks markedly slower than a read() loop.  Reads
 * that wait for the disk still keep up to depth in flight.
 */
static int run_offsets(struct source *s)
{
	int rc = 0;

	while (rc == 0) {
		while (rc == 0 && s->count < s->depth && s->next < s->end &&
		       ready_bytes(s) < EMIT_BYTES) {
			rc = plan(s);
			/* Reads the page cache served are finished now: a
			 * cached read is done at once, and one that io_uring can
			 * do without waiting completes inside the submit. */
			struct io_op *op;
			while (rc == 0 &&
			       (op = trindle__io_engine_reap(&s->file.eng, false)))
				rc = read_done(s, op);
		}
		if (rc || s->count == 0)
			break;
		struct chunk *c = &s->win[s->head];
		if (c->state == CHUNK_DONE) {
			/* Delivery may wait for room: let the reads run. */
			trindle__io_engine_kick(&s->file.eng);
			rc = emit_ready(s);
			continue;
		}
		struct io_op *op = trindle__io_engine_reap(&s->file.eng, true);
		rc = op ? read_done(s, op) : trindle__io_fail(&s->file, "read", c->off, EIO);
	}
	return rc < 0 ? rc : 0;
}

/* --- pipes and terminals ---------------------------------------------- */

/* Reads at the file position until seg is full or the input ends. */
static int read_until_full(struct source *s, unsigned char *seg, size_t size,
		size_t *filled, bool *eof, uint64_t *total)
{
	while (*filled < size) {
		struct io_op op = { .buf = seg + *filled,
					     .len = size - *filled,
					     .offset = -1 };
		trindle__io_engine_submit(&s->file.eng, &op);
		if (!trindle__io_engine_reap(&s->file.eng, true))
			return trindle__io_fail(&s->file, "read", *total, EIO);
		if (op.res == -EINTR)
			continue;
		if (op.res == -EAGAIN) { /* someone left the fd non-blocking */
			trindle__io_wait_ready(s->file.fd, false);
			continue;
		}
		if (op.res < 0)
			return trindle__io_fail(&s->file, "read", *total, (int)-op.res);
		if (op.res == 0) {
			*eof = true;
			return 0;
		}
		*filled += (size_t)op.res;
		*total += (uint64_t)op.res;
	}
	return 0;
}

/* Sends [0, cut) of a filled segment and carries [cut, filled) over. */
static int stream_emit(struct source *s, unsigned char *seg, size_t size,
		size_t filled, bool eof)
{
	size_t cut = filled;

	if (s->lines && !eof) {
		unsigned char *nl = memrchr(seg, '\n', filled);
		cut = nl ? (size_t)(nl - seg) + 1 : 0;
	}
	if (cut < filled) {
		if (reserve(s, filled - cut) < 0) {
			trindle_util_release(seg);
			return trindle__io_fail(&s->file, "allocate", 0, ENOMEM);
		}
		memcpy(s->buf, seg + cut, filled - cut);
		s->buf_len = filled - cut;
	}
	if (cut == 0) {
		trindle_util_release(seg);
		return 0;
	}
	if (cut < size) {
		unsigned char *fit = trindle_util_allocate(cut, seg);
		trindle_util_release(seg);
		if (!fit)
			return trindle__io_fail(&s->file, "allocate", 0, errno);
		seg = fit;
	}
	return deliver(s, seg);
}

static int run_stream(struct source *s)
{
	uint64_t total = 0;

	for (;;) {
		/* A chunk's worth, carried partial line included; once that
		 * line alone is longer, room for it and a chunk more, so it
		 * keeps growing until it ends. */
		size_t size = s->buf_len < s->chunk ? s->chunk
						    : s->buf_len + s->chunk;
		unsigned char *seg = chunk_segment(s, size);
		if (!seg)
			return trindle__io_fail(&s->file, "allocate", total, errno);
		if (s->buf_len)
			memcpy(seg, s->buf, s->buf_len);
		size_t filled = s->buf_len;
		bool eof = false;
		s->buf_len = 0;
		int rc = read_until_full(s, seg, size, &filled, &eof, &total);
		if (rc < 0) {
			trindle_util_release(seg);
			return rc;
		}
		rc = stream_emit(s, seg, size, filled, eof);
		if (rc || eof)
			return rc < 0 ? rc : 0;
	}
}

/* --- the device --------------------------------------------------------- */

static int open_input(struct source *s, const struct io_params *p)
{
	struct stat st;
	int rc = trindle__io_open(&s->file, p, O_RDONLY, &st);
	if (rc < 0)
		return rc;
	/* Standard input redirected from a file is read from where it
	 * stands; a size of 0 may hide content (procfs): read it in turn. */
	off_t pos = 0;
	if (s->file.standard && S_ISREG(st.st_mode))
		pos = lseek(s->file.fd, 0, SEEK_CUR);
	s->seekable = S_ISREG(st.st_mode) && st.st_size > 0 && pos >= 0;
	if (s->seekable) {
		s->next = (uint64_t)pos;
		s->end = st.st_size > pos ? (uint64_t)st.st_size : (uint64_t)pos;
		posix_fadvise(s->file.fd, pos, 0, POSIX_FADV_SEQUENTIAL);
	}
	return 0;
}

static int start_source(struct source *s, const struct io_params *p)
{
	s->out = p->out;
	s->chunk = p->chunk;
	s->lines = (p->flags & TRINDLE_SOURCE_LINES) != 0;
	int rc = open_input(s, p);
	if (rc < 0)
		return rc;
	s->depth = s->seekable ? p->depth : 1;
	if (s->seekable) {
		s->win = calloc(s->depth, sizeof *s->win);
		if (!s->win)
			return trindle__io_fail(&s->file, "allocate", 0, ENOMEM);
	}
	return trindle__io_engine_start(&s->file, s->depth);
}

/*
 * Waits for the reads still in flight (they must land before their
 * segments can go) and frees the device's own memory.  The segments it
 * still holds, chunks given back and, after an early stop, the unfinished
 * window, are left to the end of the process, which releases what a
 * process holds only once its final object went out: so the end marker
 * reaches the consumer without waiting for their release (a protection
 * change each, and for slots of 8 MiB or more giving their pages back,
 * which took far longer than the marker's trip).
 */
static void stop_source(struct source *s)
{
	trindle__io_close(&s->file);
	free(s->win);
	free(s->buf);
}

/* Finishes a complete stream: leaves standard input after what was read,
 * and makes the end marker. */
static int make_end_marker(struct source *s, trindle_segment_t *marker)
{
	if (s->seekable && s->file.standard)
		lseek(s->file.fd, (off_t)s->end, SEEK_SET);
	*marker = trindle_allocate(0, NULL);
	return *marker ? 0 : trindle__io_fail(&s->file, "allocate", 0, errno);
}

static void source_main(trindle_pipe_t input)
{
	const struct io_params *p =
		trindle__io_params_take(input, IO_SOURCE);
	if (!p)
		return;

	struct source s = { .input = input, .file.fd = -1 };
	trindle_segment_t marker = NULL;
	int rc = start_source(&s, p);
	if (rc == 0)
		rc = s.seekable ? run_offsets(&s) : run_stream(&s);
	if (rc == 0 && !s.stopped)
		rc = make_end_marker(&s, &marker);
	stop_source(&s);
	/* The marker goes as the final object: delivery past a full pipe. */
	trindle__io_end(p, &s.file, rc, marker);
}

TRINDLE_PUBLIC trindle_pipe_t trindle_file_source(const char *path,
		const struct trindle_source_options *opt,
		trindle_pipe_t out, trindle_pipe_t err)
{
	struct trindle_source_options o = { 0 };
	if (opt)
		o = *opt;
	if (!o.chunk_bytes)
		o.chunk_bytes = TRINDLE_SOURCE_CHUNK_DEFAULT;
	if (!o.in_flight)
		o.in_flight = TRINDLE_IO_IN_FLIGHT_DEFAULT;
	if (o.chunk_bytes > TRINDLE_SOURCE_CHUNK_MAX ||
	    o.in_flight > TRINDLE_IO_IN_FLIGHT_MAX ||
	    (o.flags & ~TRINDLE_SOURCE_LINES) ||
	    !(trindle_access(out) & TRINDLE_ACCESS_SEND) ||
	    (err && !(trindle_access(err) & TRINDLE_ACCESS_SEND))) {
		errno = EINVAL;
		return NULL;
	}
	struct io_params p = {
		.kind = IO_SOURCE, .out = out, .err = err,
		.chunk = o.chunk_bytes, .depth = o.in_flight, .flags = o.flags,
	};
	/* Room for the parameters and for chunks given back. */
	return trindle__io_start(source_main, 1 + TRINDLE_SOURCE_RETURNS, &p, path);
}
