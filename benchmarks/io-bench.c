/* SPDX-License-Identifier: MIT */
/*
 * trindle-io-bench - the file devices and the text tools against the
 * pthreads code users would otherwise write, and the tools against GNU's.
 *
 *  1. The file source against a single-threaded read() loop with the same
 *     chunk size, on a file in the page cache.  The source's consumer only
 *     receives and releases the chunks; the loop only reads.
 *  2. trindle-wc, trindle-grep and trindle-sort against their pthreads
 *     twins: the same chunking (fixed-size chunks whose buffers circulate
 *     for wc and grep, line-aware chunks cut at the same places for sort),
 *     the same worker count, the same per-chunk work (the same counting,
 *     matching and sorting code) and the same merge; the twin moves chunks
 *     through mutex-and-condvar queues and writes with write() from its
 *     main thread.  Each program runs as a child process
 *     with its output going to /dev/null, the twins being this program
 *     started again with --twin.  grep looks for the common pattern.
 *  3. The same tools against GNU's, as a user would run them:
 *     LC_ALL=C wc FILE, LC_ALL=C grep -F PATTERN FILE (once with a pattern
 *     that matches no line, once with a common one) and LC_ALL=C sort FILE
 *     with GNU sort's default thread count, the trindle tool with the same
 *     -j and --chunk as in 2.  Both sides write into a file in memory
 *     (memfd_create()), emptied before each run: GNU grep, seeing its
 *     output is /dev/null, stops at the first match.  Each line has a
 *     target for trindle's time as a fraction of GNU's (gnu_peers[]).
 *
 * A and B alternate, --runs times each (9 by default; the source, which
 * takes some 20 ms a pass, three times as many).  The report gives the
 * medians, their ratio, and the median of the ratios of the pairs run back
 * to back with a 95% confidence interval: this machine is shared and its
 * speed drifts from second to second, and a pair sees the same machine, so
 * the verdict follows that figure, and is "even" when the interval holds
 * the target.  Each run finds the file in the page cache, and the source
 * and its read() loop read on the same CPU (see ensure_cached(), cpus[]).
 * Before timing, each tool's output is compared with its twin's (wc: the
 * numbers; the twin does not align them) and with GNU's (byte for byte)
 * on the same file; a difference is a failure.
 *
 * The input file, in /tmp by default, is --size MiB (default 256) of real
 * text: the regular files under --corpus DIR (default /usr/include) that
 * hold no NUL byte (GNU grep would call the input binary), in name order,
 * repeated until the size is reached and cut there.  With --generated, or
 * when there is no /usr/include, it is generated: lines of 0 to 24
 * pseudo-words, about 5% holding the common pattern.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <trindle.h>
#include <trindle/io.h>
#include <trindle/util.h>

/* The tools place their hot functions on 64-byte boundaries (see
 * examples/meson.build); the twins run the same code placed the same way. */
#define SORT_LINES_HOT __attribute__((noinline, aligned(64)))
#define WC_COUNT_HOT __attribute__((noinline, aligned(64)))
#include "grep-find.h"
#include "sort-lines.h"
#include "stats.h"
#include "wc-count.h"

extern char **environ;

#define QUEUE 2 /* chunks per worker in flight, as in the examples */
/* grep's default patterns (--rare, --common): an identifier that no
 * system header holds, and a word on about 3% of their lines. */
#define RARE_PATTERN "trindle_sync"
#define COMMON_PATTERN "return"

/* ==== the work itself: wc's and sort's come from the examples' headers,
 * and so does grep's search (grep-find.h); the line handling around it is
 * copied here, since trindle-grep moves lines inside the chunk it was
 * given, where the twin copies them into a reply of its own ==== */

static struct grep_pattern needle; /* the twin's: the common pattern */

/* grep -F with one pattern, on a fixed-size chunk as trindle-grep sees
 * it: a header, the first piece (to the first newline, or the whole chunk),
 * the last piece (after the last newline) and the matching whole lines in
 * between, copied into out (sizeof(struct reply) + n bytes). */
struct reply {
	uint64_t head, tail, lines;
	uint64_t has_newline;
};

static size_t grep_lines(const char *p, size_t n, char *out)
{
	const char *end = p + n, *hit;
	size_t k = 0;
	while (p < end && (hit = grep_find(&needle, p, end))) {
		const char *start = hit;
		while (start > p && start[-1] != '\n')
			start--;
		const char *nl = memchr(hit, '\n', (size_t)(end - hit));
		const char *stop = nl ? nl + 1 : end;
		memcpy(out + k, start, (size_t)(stop - start));
		k += (size_t)(stop - start);
		p = stop;
	}
	return k;
}

static size_t grep_chunk(const char *p, size_t n, char *out)
{
	struct reply r = { n, 0, 0, 0 };
	const char *first = memchr(p, '\n', n);
	char *o = out + sizeof r;
	if (!first) {
		memcpy(o, p, n);
	} else {
		const char *last = memrchr(p, '\n', n);
		r.has_newline = 1;
		r.head = (uint64_t)(first - p) + 1;
		r.tail = n - (size_t)(last - p) - 1;
		memcpy(o, p, r.head);
		memcpy(o + r.head, last + 1, r.tail);
		r.lines = grep_lines(first + 1, (size_t)(last - first),
				     o + r.head + r.tail);
	}
	memcpy(out, &r, sizeof r);
	return sizeof r + r.head + r.tail + r.lines;
}

/* The sorted run of a chunk, copied into out (n + 1 bytes). */
static size_t sort_chunk(const char *p, size_t n, char *out)
{
	size_t k, o = 0;
	struct line *v = split(p, n, &k);
	if (!v || !sort_lines(v, k))
		exit(3);
	for (size_t i = 0; i < k; i++) {
		memcpy(out + o, v[i].p, v[i].n);
		o += v[i].n;
		out[o++] = '\n';
	}
	free(v);
	return o;
}

/* ==== the pthreads twins ==== */

struct item {
	char *p;
	size_t n;
	unsigned long seq;
	struct counts c;
};

/* A bounded queue with a mutex and two condition variables. */
struct queue {
	pthread_mutex_t m;
	pthread_cond_t not_empty, not_full;
	struct item *items;
	size_t cap, head, count;
	int closed;
};

static void q_init(struct queue *q, size_t cap)
{
	pthread_mutex_init(&q->m, NULL);
	pthread_cond_init(&q->not_empty, NULL);
	pthread_cond_init(&q->not_full, NULL);
	q->items = calloc(cap, sizeof *q->items);
	q->cap = cap;
}

static void q_push(struct queue *q, struct item it)
{
	pthread_mutex_lock(&q->m);
	while (q->count == q->cap)
		pthread_cond_wait(&q->not_full, &q->m);
	q->items[(q->head + q->count++) % q->cap] = it;
	pthread_cond_signal(&q->not_empty);
	pthread_mutex_unlock(&q->m);
}

/* Returns 0 once the queue is closed and empty. */
static int q_pop(struct queue *q, struct item *it)
{
	pthread_mutex_lock(&q->m);
	while (q->count == 0 && !q->closed)
		pthread_cond_wait(&q->not_empty, &q->m);
	int got = q->count > 0;
	if (got) {
		*it = q->items[q->head];
		q->head = (q->head + 1) % q->cap;
		q->count--;
		pthread_cond_signal(&q->not_full);
	}
	pthread_mutex_unlock(&q->m);
	return got;
}

static void q_close(struct queue *q)
{
	pthread_mutex_lock(&q->m);
	q->closed = 1;
	pthread_cond_broadcast(&q->not_empty);
	pthread_mutex_unlock(&q->m);
}

struct twin {
	const char *tool;
	int fd;
	size_t chunk;
	struct queue work, results;
	pthread_mutex_t m;
	unsigned workers_left;
	char **spare;       /* wc: chunk buffers given back, for reuse */
	size_t nspare, spare_cap;
};

/* wc's and grep's buffers circulate, as the file source's chunks do. */
static char *spare_take(struct twin *t)
{
	pthread_mutex_lock(&t->m);
	char *b = t->nspare ? t->spare[--t->nspare] : NULL;
	pthread_mutex_unlock(&t->m);
	return b ? b : malloc(t->chunk);
}

static void spare_give(struct twin *t, char *b)
{
	pthread_mutex_lock(&t->m);
	if (t->nspare < t->spare_cap) {
		t->spare[t->nspare++] = b;
		b = NULL;
	}
	pthread_mutex_unlock(&t->m);
	free(b);
}

/* wc's and grep's reader: fixed-size chunks, as the file source without
 * TRINDLE_SOURCE_LINES cuts them. */
static void *twin_fixed_reader(void *arg)
{
	struct twin *t = arg;
	unsigned long seq = 0;
	for (;;) {
		char *b = spare_take(t);
		size_t filled = 0;
		ssize_t r = 1;
		while (filled < t->chunk &&
		       (r = read(t->fd, b + filled, t->chunk - filled)) > 0)
			filled += (size_t)r;
		if (filled)
			q_push(&t->work, (struct item){ b, filled, seq++, { 0 } });
		else
			spare_give(t, b);
		if (r <= 0)
			break;
	}
	q_close(&t->work);
	return NULL;
}

/* The reader: chunks of the file source's shape, from read(): a chunk is
 * chunk bytes (carried partial line included) cut after its last newline. */
static void *twin_reader(void *arg)
{
	struct twin *t = arg;
	char *carry = NULL;
	size_t carry_n = 0;
	unsigned long seq = 0;
	for (int eof = 0; !eof;) {
		size_t size = carry_n < t->chunk ? t->chunk : carry_n + t->chunk;
		char *b = malloc(size);
		if (carry_n)
			memcpy(b, carry, carry_n);
		size_t filled = carry_n;
		while (filled < size) {
			ssize_t r = read(t->fd, b + filled, size - filled);
			if (r <= 0) {
				eof = 1;
				break;
			}
			filled += (size_t)r;
		}
		size_t cut = filled;
		if (!eof) {
			char *nl = memrchr(b, '\n', filled);
			cut = nl ? (size_t)(nl - b) + 1 : 0;
		}
		free(carry);
		carry_n = filled - cut;
		carry = malloc(carry_n + 1);
		memcpy(carry, b + cut, carry_n);
		if (cut)
			q_push(&t->work, (struct item){ b, cut, seq++, { 0 } });
		else
			free(b);
	}
	free(carry);
	q_close(&t->work);
	return NULL;
}

static void *twin_worker(void *arg)
{
	struct twin *t = arg;
	struct item it;
	while (q_pop(&t->work, &it)) {
		struct item r = { NULL, 0, it.seq, { 0 } };
		if (t->tool[0] == 'w') {
			r.c = count((unsigned char *)it.p, it.n);
			spare_give(t, it.p);
		} else if (t->tool[0] == 'g') {
			r.p = malloc(sizeof(struct reply) + it.n);
			r.n = grep_chunk(it.p, it.n, r.p);
			spare_give(t, it.p);
		} else {
			r.p = malloc(it.n + 1);
			r.n = sort_chunk(it.p, it.n, r.p);
			free(it.p);
		}
		q_push(&t->results, r);
	}
	pthread_mutex_lock(&t->m);
	int last = --t->workers_left == 0;
	pthread_mutex_unlock(&t->m);
	if (last)
		q_close(&t->results);
	return NULL;
}

static void write_all(const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(STDOUT_FILENO, p, n);
		if (w <= 0)
			exit(3);
		p += w;
		n -= (size_t)w;
	}
}

/* Output through a buffer of 1 MiB, as trindle-grep's output segments. */
struct outbuf {
	char *p;
	size_t used;
};

static void out_put(struct outbuf *o, const char *p, size_t n)
{
	enum { OUT = 1 << 20 };
	while (n) {
		size_t k = OUT - o->used < n ? OUT - o->used : n;
		memcpy(o->p + o->used, p, k);
		o->used += k;
		p += k;
		n -= k;
		if (o->used == OUT) {
			write_all(o->p, o->used);
			o->used = 0;
		}
	}
}

/* grep's replies in file order: the lines cut by the chunks are joined
 * and searched here, as trindle-grep's main does. */
struct joiner {
	char *line;
	size_t len, cap;
	struct outbuf out;
};

static void join_add(struct joiner *jn, const char *p, size_t n)
{
	if (jn->len + n > jn->cap)
		jn->line = realloc(jn->line, jn->cap = (jn->len + n) * 2);
	memcpy(jn->line + jn->len, p, n);
	jn->len += n;
}

static void join_done(struct joiner *jn)
{
	if (grep_find(&needle, jn->line, jn->line + jn->len)) {
		out_put(&jn->out, jn->line, jn->len);
		if (jn->line[jn->len - 1] != '\n')
			out_put(&jn->out, "\n", 1);
	}
	jn->len = 0;
}

static void join_reply(struct joiner *jn, const char *p)
{
	struct reply r;
	memcpy(&r, p, sizeof r);
	const char *head = p + sizeof r, *tail = head + r.head;
	join_add(jn, head, r.head);
	if (!r.has_newline)
		return;
	join_done(jn);
	out_put(&jn->out, tail + r.tail, r.lines);
	join_add(jn, tail, r.tail);
}

static void twin_grep_out(struct twin *t)
{
	size_t cap = 64;
	struct item *held = calloc(cap, sizeof *held);
	unsigned char *have = calloc(cap, 1);
	unsigned long next = 0;
	struct joiner jn = { NULL, 0, 0, { malloc(1 << 20), 0 } };
	struct item r;
	while (q_pop(&t->results, &r)) {
		while (r.seq >= next + cap) { /* grow the reorder window */
			struct item *h = calloc(cap * 2, sizeof *h);
			unsigned char *v = calloc(cap * 2, 1);
			for (unsigned long s = next; s < next + cap; s++) {
				h[s % (cap * 2)] = held[s % cap];
				v[s % (cap * 2)] = have[s % cap];
			}
			free(held);
			free(have);
			held = h;
			have = v;
			cap *= 2;
		}
		held[r.seq % cap] = r;
		have[r.seq % cap] = 1;
		for (; have[next % cap]; next++) {
			struct item *x = &held[next % cap];
			join_reply(&jn, x->p);
			free(x->p);
			have[next % cap] = 0;
		}
	}
	if (jn.len)
		join_done(&jn);
	write_all(jn.out.p, jn.out.used);
	free(jn.out.p);
	free(jn.line);
	free(held);
	free(have);
}

/* sort's runs, merged with a heap into 1 MiB writes. */
static void twin_sort_out(struct twin *t)
{
	size_t cap = 64, n = 0, used = 0;
	struct item *runs = malloc(cap * sizeof *runs);
	struct item r;
	while (q_pop(&t->results, &r)) {
		if (n == cap)
			runs = realloc(runs, (cap *= 2) * sizeof *runs);
		runs[n++] = r;
	}
	struct cursor *h = malloc((n + 1) * sizeof *h);
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		h[k] = (struct cursor){ .line.p = runs[i].p, .end = runs[i].p + runs[i].n };
		k += (size_t)cursor_load(&h[k]);
	}
	for (size_t i = k; i-- > 0;)
		sift_down(h, k, i);
	enum { OUT = 1 << 20 };
	char *out = malloc(OUT);
	while (k) {
		struct line *top = &h[0].line;
		if (used + top->n + 1 > OUT) {
			write_all(out, used);
			used = 0;
		}
		if (top->n + 1 > OUT)
			write_all(top->p, top->n + 1);
		else {
			memcpy(out + used, top->p, top->n + 1);
			used += top->n + 1;
		}
		top->p += top->n + 1;
		if (!cursor_load(&h[0]))
			h[0] = h[--k];
		sift_down(h, k, 0);
	}
	write_all(out, used);
	for (size_t i = 0; i < n; i++)
		free(runs[i].p);
	free(runs);
	free(h);
	free(out);
}

/* wc's counts, joined in file order (a word may straddle two chunks). */
static void twin_wc_out(struct twin *t, const char *path)
{
	size_t cap = 1024, n = 0;
	struct counts *per = malloc(cap * sizeof *per);
	struct item r;
	while (q_pop(&t->results, &r)) {
		while (r.seq >= cap)
			per = realloc(per, (cap *= 2) * sizeof *per);
		per[r.seq] = r.c;
		n = r.seq + 1 > n ? r.seq + 1 : n;
	}
	struct counts c = wc_join(per, n);
	printf("%" PRIu64 " %" PRIu64 " %" PRIu64 " %s\n", c.lines, c.words,
	       c.bytes, path);
	free(per);
}

static int run_twin(const char *tool, const char *pattern, const char *path,
		    unsigned jobs, size_t chunk)
{
	struct twin t = { .tool = tool, .chunk = chunk, .workers_left = jobs };
	t.fd = open(path, O_RDONLY);
	if (t.fd < 0)
		return 2;
	wc_init();
	grep_pattern_init(&needle, pattern, strlen(pattern));
	q_init(&t.work, jobs * QUEUE);
	q_init(&t.results, jobs * QUEUE);
	pthread_mutex_init(&t.m, NULL);
	pthread_t reader, workers[256];
	t.spare_cap = 4 + 2 * (size_t)jobs * QUEUE;
	t.spare = calloc(t.spare_cap, sizeof *t.spare);
	pthread_create(&reader, NULL, tool[0] == 's' ? twin_reader : twin_fixed_reader, &t);
	for (unsigned i = 0; i < jobs; i++)
		pthread_create(&workers[i], NULL, twin_worker, &t);
	if (tool[0] == 'g') {
		twin_grep_out(&t);
	} else if (tool[0] == 's') {
		twin_sort_out(&t);
	} else {
		twin_wc_out(&t, path);
	}
	pthread_join(reader, NULL);
	for (unsigned i = 0; i < jobs; i++)
		pthread_join(workers[i], NULL);
	close(t.fd);
	while (t.nspare)
		free(t.spare[--t.nspare]);
	free(t.spare);
	free(t.work.items);
	free(t.results.items);
	return 0;
}

/* ==== the input file ==== */

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint64_t next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* Lines of 0-24 pseudo-words of 1-10 letters; 5% of lines end with
 * pattern. */
static int generate(const char *path, size_t bytes, const char *pattern)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return -1;
	size_t plen = strlen(pattern) < 256 ? strlen(pattern) : 256;
	char line[512];
	for (size_t total = 0; total < bytes;) {
		size_t n = 0, words = next_rand() % 25;
		for (size_t w = 0; w < words; w++) {
			size_t len = 1 + next_rand() % 10;
			for (size_t i = 0; i < len; i++)
				line[n++] = (char)('a' + next_rand() % 26);
			line[n++] = ' ';
		}
		if (next_rand() % 20 == 0) {
			memcpy(line + n, pattern, plen);
			n += plen;
		}
		line[n++] = '\n';
		fwrite(line, 1, n, f);
		total += n;
	}
	return fclose(f);
}

/* The regular files under a directory, in name order. */
struct file_list {
	char **paths;
	size_t n, cap;
};

static void list_files(struct file_list *l, const char *dir)
{
	struct dirent **names;
	int n = scandir(dir, &names, NULL, alphasort);
	for (int i = 0; i < n; i++) {
		const char *name = names[i]->d_name;
		char *path = NULL;
		struct stat st;
		if (strcmp(name, ".") != 0 && strcmp(name, "..") != 0 &&
		    asprintf(&path, "%s/%s", dir, name) >= 0 &&
		    lstat(path, &st) == 0) {
			if (S_ISDIR(st.st_mode)) {
				list_files(l, path);
			} else if (S_ISREG(st.st_mode)) {
				if (l->n == l->cap)
					l->paths = realloc(l->paths, (l->cap = 2 * l->cap + 64) *
								       sizeof *l->paths);
				l->paths[l->n++] = path;
				path = NULL;
			}
		}
		free(path);
		free(names[i]);
	}
	if (n >= 0)
		free(names);
}

/* The whole of a regular file into *buf (grown as needed); -1 if it
 * cannot be read. */
static ssize_t slurp(const char *path, char **buf, size_t *cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) != 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (*cap < (size_t)st.st_size + 1)
		*buf = realloc(*buf, *cap = (size_t)st.st_size + 1);
	size_t n = 0;
	ssize_t r;
	while ((r = read(fd, *buf + n, *cap - n)) > 0)
		if ((n += (size_t)r) == *cap) /* it grew */
			*buf = realloc(*buf, *cap *= 2);
	close(fd);
	return r < 0 ? -1 : (ssize_t)n;
}

/*
 * Real text: the regular files under dir that hold no NUL byte (GNU grep
 * would call the input binary), in name order, written to path again and
 * again until it has bytes, cut there.  Links are not followed, so no file
 * comes twice in a pass, and path itself is left out if it lies under dir.
 * Says what went in; -1 if nothing could.
 */
static int build_corpus(const char *dir, const char *path, size_t bytes)
{
	struct file_list l = { NULL, 0, 0 };
	list_files(&l, dir);
	FILE *f = fopen(path, "w");
	struct stat self;
	if (!f || fstat(fileno(f), &self) != 0) {
		perror(path);
		if (f)
			fclose(f);
		return -1;
	}
	char *buf = NULL;
	size_t cap = 0, total = 0, files = 0, text = 0;
	int passes = 0;
	for (int wrote = 1; total < bytes && wrote; passes++) {
		wrote = 0;
		for (size_t i = 0; i < l.n && total < bytes; i++) {
			struct stat st;
			ssize_t n = !l.paths[i] || stat(l.paths[i], &st) != 0 ||
				    (st.st_dev == self.st_dev && st.st_ino == self.st_ino)
				    ? -1 : slurp(l.paths[i], &buf, &cap);
			if (n < 0 || memchr(buf, 0, (size_t)n)) {
				free(l.paths[i]); /* left out of every pass */
				l.paths[i] = NULL;
				continue;
			}
			size_t k = (size_t)n < bytes - total ? (size_t)n : bytes - total;
			fwrite(buf, 1, k, f);
			total += k;
			wrote |= n > 0;
			files += passes == 0;
			text += passes == 0 ? (size_t)n : 0;
		}
	}
	for (size_t i = 0; i < l.n; i++)
		free(l.paths[i]);
	free(l.paths);
	free(buf);
	if (fclose(f) != 0 || total < bytes) {
		fprintf(stderr, "trindle-io-bench: %s: %s\n", dir,
			total < bytes ? "no text file to read" : strerror(errno));
		return -1;
	}
	if (passes > 1)
		printf("input: the %zu text file%s under %s (%.1f MiB) in name order, "
		       "repeated to the size\n", files, files == 1 ? "" : "s", dir,
		       (double)text / (1 << 20));
	else
		printf("input: the first %zu text file%s under %s in name order, cut "
		       "at the size\n", files, files == 1 ? "" : "s", dir);
	return 0;
}

/* Reads the file once so that it is in the page cache. */
static void warm(const char *path)
{
	int fd = open(path, O_RDONLY);
	static char buf[1 << 20];
	while (fd >= 0 && read(fd, buf, sizeof buf) > 0)
		;
	if (fd >= 0)
		close(fd);
}

/* Pages of the file that are not in the page cache (0 if unknown). */
static size_t pages_out(const char *path)
{
	int fd = open(path, O_RDONLY);
	struct stat st;
	size_t out = 0;
	if (fd < 0 || fstat(fd, &st) < 0 || st.st_size == 0) {
		if (fd >= 0)
			close(fd);
		return 0;
	}
	size_t len = (size_t)st.st_size, page = (size_t)sysconf(_SC_PAGESIZE);
	size_t pages = (len + page - 1) / page;
	void *map = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
	unsigned char *in = malloc(pages);
	if (map != MAP_FAILED && in && mincore(map, len, in) == 0)
		for (size_t i = 0; i < pages; i++)
			out += !(in[i] & 1);
	free(in);
	if (map != MAP_FAILED)
		munmap(map, len);
	close(fd);
	return out;
}

/*
 * Every timed run must find the whole file in the page cache, as the
 * targets assume.  Reading it once at the start is not enough on every
 * host: this one pages out file pages left unused for some seconds (a
 * DAMON "pageout" scheme), so a run could read part of the file from the
 * disk, and which side of a pair it hit was luck.  So before each run the
 * file's residency is checked (mincore(), about a millisecond) and the
 * file read again if pages left; rewarms counts those re-reads.
 */
static unsigned rewarms;

static void ensure_cached(const char *path)
{
	if (pages_out(path)) {
		warm(path);
		rewarms++;
	}
}

/* ==== timing ==== */

/* Runs argv in envp with its standard output on out_fd; returns seconds,
 * or -1 on failure. */
static double run_child(char *const argv[], char *const envp[], int out_fd)
{
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, out_fd, STDOUT_FILENO);
	pid_t pid;
	int status;
	double t0 = stats_now();
	int rc = posix_spawn(&pid, argv[0], &fa, NULL, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	if (rc != 0 || waitpid(pid, &status, 0) != pid)
		return -1;
	double t = stats_now() - t0;
	/* grep exits 1 when nothing matched: not a failure here. */
	if (!WIFEXITED(status) || WEXITSTATUS(status) > 1)
		return -1;
	return t;
}

struct config {
	const char *file;
	const char *corpus; /* the input's text comes from here; NULL: generated */
	int generated;      /* --generated */
	size_t mib, chunk, source_chunk;
	unsigned jobs;
	int runs;
	int keep;           /* keep the file, and reuse it if its size fits */
	int twins, gnu;     /* run the source and the twins; the GNU peers */
	const char *rare, *common; /* grep's patterns */
	const char *bin[3]; /* trindle-wc, -grep, -sort */
	char *gnu_bin[3];   /* wc, grep, sort found in PATH, or NULL */
	char **gnu_env;     /* the environment with LC_ALL=C */
};

static const char *tools[3] = { "wc", "grep", "sort" };

enum side { TRINDLE, TWIN, GNU };

/* The command line of tool t on one side; grep looks for pattern. */
static void tool_argv(const struct config *c, int t, enum side side,
		      const char *pattern, char *jobs, char *chunk,
		      char *argv[16])
{
	int k = 0;
	if (side == GNU) {
		argv[k++] = c->gnu_bin[t];
		if (t == 1) {
			argv[k++] = "-F";
			argv[k++] = "--";
			argv[k++] = (char *)pattern;
		}
		argv[k++] = (char *)c->file;
		argv[k] = NULL;
		return;
	}
	if (side == TWIN) {
		argv[k++] = "/proc/self/exe";
		argv[k++] = "--twin";
		argv[k++] = (char *)tools[t];
	} else {
		argv[k++] = (char *)c->bin[t];
	}
	argv[k++] = "-j";
	argv[k++] = jobs;
	argv[k++] = "--chunk";
	argv[k++] = chunk;
	if (t == 1) {
		if (side == TRINDLE) /* the twin takes its arguments by place */
			argv[k++] = "--";
		argv[k++] = (char *)pattern;
	}
	argv[k++] = (char *)c->file;
	argv[k] = NULL;
}

/*
 * Where the runs write: /dev/null for the twins' pairs, and two files in
 * memory (memfd_create()), one a side, for the checks and the GNU pairs.
 * GNU grep stops at its first match when its output is /dev/null, so its
 * output, and trindle's against it, must go somewhere real; a file in
 * memory has no disk behind it to write back to while the next run goes.
 */
static int devnull = -1, outs[2] = { -1, -1 };

/* Empties side i's file (outside the timing) and returns it. */
static int out_reset(int i)
{
	if (ftruncate(outs[i], 0) != 0 || lseek(outs[i], 0, SEEK_SET) != 0)
		return -1;
	return outs[i];
}

/* Whether the two sides' files hold the same bytes. */
static int outs_equal(void)
{
	static char x[1 << 16], y[1 << 16];
	struct stat a, b;
	if (fstat(outs[0], &a) != 0 || fstat(outs[1], &b) != 0 ||
	    a.st_size != b.st_size)
		return 0;
	for (off_t off = 0; off < a.st_size;) {
		ssize_t n = pread(outs[0], x, sizeof x, off);
		if (n <= 0 || pread(outs[1], y, (size_t)n, off) != n ||
		    memcmp(x, y, (size_t)n) != 0)
			return 0;
		off += n;
	}
	return 1;
}

/* wc's line in side i's file, its runs of spaces made one and leading
 * spaces dropped: trindle-wc aligns its columns as GNU's does, the twin
 * does not. */
static size_t wc_squeezed(int i, char *buf, size_t cap)
{
	ssize_t n = pread(outs[i], buf, cap, 0);
	size_t k = 0;
	for (ssize_t j = 0; j < n; j++)
		if (buf[j] != ' ' || (k > 0 && buf[k - 1] != ' '))
			buf[k++] = buf[j];
	return k;
}

static int wc_numbers_equal(void)
{
	char a[4096], b[4096];
	size_t na = wc_squeezed(0, a, sizeof a), nb = wc_squeezed(1, b, sizeof b);
	return na > 0 && na < sizeof a && na == nb && memcmp(a, b, na) == 0;
}

/* The lines in side i's file (its bytes in *bytes). */
static size_t out_lines(int i, size_t *bytes)
{
	static char x[1 << 16];
	size_t lines = 0;
	ssize_t n;
	*bytes = 0;
	while ((n = pread(outs[i], x, sizeof x, (off_t)*bytes)) > 0) {
		for (const char *p = x; (p = memchr(p, '\n', (size_t)(x + n - p))); p++)
			lines++;
		*bytes += (size_t)n;
	}
	return lines;
}

struct pair_times {
	double a, b;      /* the medians: trindle's, the other side's */
	stats_ratio_t pr; /* the pairwise ratio trindle / other */
};

/*
 * Tool t of trindle (A) against its twin or GNU's (B, other), grep
 * looking for pattern: each runs once and their outputs must agree (GNU's
 * byte for byte; a twin's wc line in its numbers), then c->runs times
 * each, A and B in turn, with the file in the page cache before each run.
 * Timed runs write to /dev/null against a twin, to the files in memory
 * against GNU.  -1 on a disagreement or a failed run, said on stderr.
 */
static int time_pair(const struct config *c, int t, enum side other,
		     const char *pattern, struct pair_times *pt)
{
	char jobs[16], chunk[32], *argv[2][16], what[160];
	snprintf(jobs, sizeof jobs, "%u", c->jobs);
	snprintf(chunk, sizeof chunk, "%zu", c->chunk);
	tool_argv(c, t, TRINDLE, pattern, jobs, chunk, argv[0]);
	tool_argv(c, t, other, pattern, jobs, chunk, argv[1]);
	snprintf(what, sizeof what, "%s%s%s%s, trindle's and %s", tools[t],
		 t == 1 ? " \"" : "", t == 1 ? pattern : "", t == 1 ? "\"" : "",
		 other == GNU ? "GNU's" : "the twin's");
	char *const *envp = other == GNU ? c->gnu_env : environ;
	int exact = other == GNU || t != 0, to_memory = other == GNU;
	if (run_child(argv[0], envp, out_reset(0)) < 0 ||
	    run_child(argv[1], envp, out_reset(1)) < 0) {
		fprintf(stderr, "trindle-io-bench: %s: a run failed\n", what);
		return -1;
	}
	if (!(exact ? outs_equal() : wc_numbers_equal())) {
		fprintf(stderr, "trindle-io-bench: %s: the outputs differ\n", what);
		return -1;
	}
	double ta[64], tb[64];
	for (int r = 0; r < c->runs; r++) {
		ensure_cached(c->file);
		ta[r] = run_child(argv[0], envp, to_memory ? out_reset(0) : devnull);
		ensure_cached(c->file);
		tb[r] = run_child(argv[1], envp, to_memory ? out_reset(1) : devnull);
		if (ta[r] < 0 || tb[r] < 0) {
			fprintf(stderr, "trindle-io-bench: %s: a run failed\n", what);
			return -1;
		}
	}
	pt->pr = stats_pairwise(ta, tb, c->runs);
	pt->a = stats_median(ta, c->runs);
	pt->b = stats_median(tb, c->runs);
	return 0;
}

static int bench_tool(const struct config *c, int t)
{
	struct pair_times pt;
	if (time_pair(c, t, TWIN, c->common, &pt) < 0)
		return -1;
	double mib = (double)c->mib;
	printf("%-6s trindle %8.3f s %8.1f MiB/s | pthreads twin %8.3f s %8.1f MiB/s"
	       " | trindle/twin time %.3f, pairwise %.3f [%.3f, %.3f] %s\n",
	       tools[t], pt.a, mib / pt.a, pt.b, mib / pt.b, pt.a / pt.b,
	       pt.pr.median, pt.pr.lo, pt.pr.hi, pt.pr.hi < 1.0 ? "(trindle faster)" :
	       pt.pr.lo > 1.0 ? "(twin faster)" : "(even, within the noise)");
	return 0;
}

/*
 * The GNU lines, in the order they run: the tool, which grep pattern,
 * and the target for trindle's time as a fraction of GNU's, all three
 * issue 12's: grep at GNU's speed or better, wc and sort kept where an
 * outside test found them (benchmarks/RESULTS.md has the figures).
 */
static const struct gnu_peer {
	const char *name;
	int tool;
	int rare; /* grep: the rare pattern, not the common one */
	double target;
} gnu_peers[] = {
	{ "wc", 0, 0, 0.28 },
	{ "grep rare", 1, 1, 1.0 },
	{ "grep common", 1, 0, 1.0 },
	{ "sort", 2, 0, 0.36 },
};

static int bench_gnu(const struct config *c, const struct gnu_peer *p)
{
	int t = p->tool;
	if (!c->bin[t])
		return 0;
	if (!c->gnu_bin[t]) {
		printf("GNU %-11s no %s in PATH: skipped\n", p->name, tools[t]);
		return 0;
	}
	const char *pattern = p->rare ? c->rare : c->common;
	struct pair_times pt;
	if (time_pair(c, t, GNU, pattern, &pt) < 0)
		return -1;
	double mib = (double)c->mib;
	printf("GNU %-11s trindle %8.3f s %8.1f MiB/s | GNU %8.3f s %8.1f MiB/s"
	       " | trindle/GNU time %.3f, pairwise %.3f [%.3f, %.3f] target %.2f: %s\n",
	       p->name, pt.a, mib / pt.a, pt.b, mib / pt.b, pt.a / pt.b,
	       pt.pr.median, pt.pr.lo, pt.pr.hi, p->target,
	       pt.pr.hi <= p->target ? "met" :
	       pt.pr.lo > p->target ? "MISS" : "even, within the noise");
	if (t == 1) {
		size_t bytes, lines = out_lines(1, &bytes);
		printf("    \"%s\" is on %zu lines, %.1f MiB of output%s\n", pattern,
		       lines, (double)bytes / (1 << 20), p->rare && lines ?
		       " (not rare in this input: pick another with --rare)" : "");
	}
	return 0;
}

/* The command's first executable file in PATH, as posix_spawnp() would
 * find it (malloc'd), or NULL. */
static char *find_in_path(const char *name)
{
	const char *path = getenv("PATH");
	for (const char *p = path ? path : "/usr/bin:/bin";; p++) {
		size_t n = strcspn(p, ":");
		char *full;
		struct stat st;
		/* An empty entry is the current directory. */
		if (asprintf(&full, "%.*s/%s", n ? (int)n : 1, n ? p : ".", name) >= 0) {
			if (stat(full, &st) == 0 && S_ISREG(st.st_mode) &&
			    access(full, X_OK) == 0)
				return full;
			free(full);
		}
		p += n;
		if (!*p)
			return NULL;
	}
}

/* environ with LC_ALL=C, and without what would change GNU sort's default
 * thread count (OMP_NUM_THREADS, OMP_THREAD_LIMIT). */
static char **gnu_environment(void)
{
	static const char *drop[] = { "LC_ALL=", "OMP_NUM_THREADS=", "OMP_THREAD_LIMIT=" };
	size_t n = 0, k = 0;
	while (environ[n])
		n++;
	char **env = calloc(n + 2, sizeof *env);
	for (size_t i = 0; i < n; i++) {
		int keep = 1;
		for (size_t d = 0; d < sizeof drop / sizeof *drop; d++)
			keep &= strncmp(environ[i], drop[d], strlen(drop[d])) != 0;
		if (keep)
			env[k++] = environ[i];
	}
	env[k++] = "LC_ALL=C";
	return env;
}

/*
 * Which CPU each side of a source pair runs on.  The two virtual CPUs of
 * this shared host are not always equally fast: at the same moment one
 * read() loop ran at 8.5 GB/s and another at 12 GB/s.  The source's own
 * thread reads while main consumes, so it lands on the CPU main leaves
 * free, while the read() loop runs on main's: the ratio measured the two
 * CPUs as much as the device (0.7x to 1.3x from one run to the next).  So
 * within a pair the read() loop and the source's reads use the same CPU:
 * main is pinned to that CPU for the loop, and to the other one while it
 * consumes the source's chunks (after the source started, so that the
 * source's thread is not pinned with it).  Pairs alternate between the two
 * CPUs.  cpus[] holds the first two CPUs the benchmark may use, or -1s
 * when it has only one.
 */
static int cpus[2] = { -1, -1 };

static void find_cpus(void)
{
	cpu_set_t set;
	int k = 0;
	if (sched_getaffinity(0, sizeof set, &set) != 0)
		return;
	for (int c = 0; c < CPU_SETSIZE && k < 2; c++)
		if (CPU_ISSET(c, &set))
			cpus[k++] = c;
	if (k < 2)
		cpus[0] = cpus[1] = -1;
}

static cpu_set_t all_cpus;

/* Pins the calling thread to cpu, or lets it run anywhere again (-1). */
static void pin(int cpu)
{
	cpu_set_t one;
	CPU_ZERO(&one);
	if (cpu >= 0)
		CPU_SET(cpu, &one);
	sched_setaffinity(0, sizeof one, cpu >= 0 ? &one : &all_cpus);
}

/* The file source feeding a consumer that releases each chunk, or gives
 * it back to the source for reuse (recycle).  main_cpu: where main runs
 * once the source started (-1: anywhere). */
static double time_source(const char *path, size_t chunk, int recycle,
			  int main_cpu)
{
	trindle_pipe_t out = trindle_pipe(8);
	struct trindle_source_options o = { .chunk_bytes = chunk };
	double t0 = stats_now();
	trindle_pipe_t dev = trindle_file_source(path, &o, out, NULL);
	if (!dev)
		return -1;
	if (main_cpu >= 0)
		pin(main_cpu);
	int failed = 0;
	/* Two syncs a round, as a consumer would: take up to 8 chunks, then
	 * give them back (recycle) or let them go.  What fails is dropped. */
	trindle_message_t storage[16], got[8];
	trindle_util_batch_t b;
	trindle_util_batch_init(&b, storage, 16);
	while (!failed) {
		trindle_mailbox_t in = { 8, got };
		trindle_util_add_receive(&b, out);
		if (trindle_util_flush(&b, &in) < 0 || in.count == 0) {
			failed = 1;
			break;
		}
		b.count = 0;
		size_t end = 0;
		for (size_t i = 0; i < in.count; i++)
			if (trindle_util_kind(&got[i]) == TRINDLE_UTIL_MESSAGE) {
				size_t n = trindle_measure(got[i].content);
				end |= n == 0;
				if (recycle && n == chunk)
					trindle_util_add_move(&b, dev, got[i].content);
				else
					trindle_util_add_release(&b, got[i].content);
			}
		trindle_util_flush(&b, NULL);
		b.count = 0;
		if (end)
			break;
	}
	double t = failed ? -1 : stats_now() - t0;
	pin(-1);
	b.count = 0;
	trindle_util_add_release(&b, out);
	trindle_util_add_release(&b, dev);
	trindle_util_flush(&b, NULL);
	return t;
}

/* A read() loop on cpu (-1: anywhere). */
static double time_read_loop(const char *path, size_t chunk, int cpu)
{
	char *buf = malloc(chunk);
	if (cpu >= 0)
		pin(cpu);
	double t0 = stats_now();
	int fd = open(path, O_RDONLY);
	while (fd >= 0 && buf && read(fd, buf, chunk) > 0)
		;
	double t = fd >= 0 && buf ? stats_now() - t0 : -1;
	if (fd >= 0)
		close(fd);
	free(buf);
	pin(-1);
	return t;
}

/* The source against the read() loop, in pairs; returns the loop's median
 * time, for bench_released(). */
static double bench_source(const struct config *c, size_t chunk)
{
	/* A pass takes some 20 ms: three times the runs, after a warm-up. */
	double a[64], b[64];
	int n = c->runs * 3 > 63 ? 63 : c->runs * 3;
	time_source(c->file, chunk, 1, -1);
	time_read_loop(c->file, chunk, -1);
	for (int r = 0; r < n; r++) {
		/* The reads of both sides on cpus[r % 2], main's consuming on
		 * the other one (see cpus[]). */
		int reads = cpus[r % 2], consumer = cpus[(r + 1) % 2];
		ensure_cached(c->file);
		a[r] = time_source(c->file, chunk, 1, consumer);
		ensure_cached(c->file);
		b[r] = time_read_loop(c->file, chunk, reads);
	}
	stats_ratio_t pr = stats_pairwise(b, a, n); /* throughput: read / source time */
	double ma = stats_median(a, n), mb = stats_median(b, n), mib = (double)c->mib;
	printf("source %4zu KiB chunks: trindle %8.1f MiB/s | read() loop %8.1f MiB/s"
	       " | trindle/read throughput %.3f, pairwise %.3f [%.3f, %.3f] %s\n",
	       chunk >> 10, mib / ma, mib / mb, mb / ma, pr.median, pr.lo, pr.hi,
	       pr.lo >= 0.9 ? "(meets 0.9)" : pr.hi < 0.9 ? "(below 0.9)" :
	       "(near 0.9, within the noise)");
	return mb;
}

/*
 * The source whose consumer releases its chunks instead of giving them
 * back, so that every chunk is a new segment: what giving back saves.
 * It runs last, after every paired measurement, because each pass takes
 * 256 MiB of fresh memory, and the kernel's work after it slowed the
 * source pass that followed by up to a quarter (measured: 4 MiB chunks at
 * 0.70-0.77x of the read() loop with such passes in between, 0.89-0.93x
 * without).
 */
static void bench_released(const struct config *c, size_t chunk,
			   double read_time)
{
	double d[64];
	int n = c->runs * 3 > 63 ? 63 : c->runs * 3;
	for (int r = 0; r < n; r++) {
		ensure_cached(c->file);
		d[r] = time_source(c->file, chunk, 0, cpus[(r + 1) % 2]);
	}
	double md = stats_median(d, n);
	printf("source %4zu KiB chunks released, not given back: %8.1f MiB/s,"
	       " %.3f of the read() loop\n", chunk >> 10, (double)c->mib / md,
	       read_time / md);
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: trindle-io-bench [--size MIB] [--runs N] [-j N] [--chunk BYTES]\n"
		"                        [--source-chunk BYTES] [--file PATH] [--keep]\n"
		"                        [--corpus DIR | --generated]\n"
		"                        [--rare PATTERN] [--common PATTERN]\n"
		"                        [--gnu-only | --no-gnu]\n"
		"                        [--wc BIN --grep BIN --sort BIN]\n"
		"Times the file source against a read() loop (64 KiB to 4 MiB chunks, or\n"
		"--source-chunk alone); trindle-wc, -grep and -sort against pthreads\n"
		"twins (-j workers each, --chunk bytes a chunk); and the same tools against\n"
		"LC_ALL=C GNU wc, grep -F and sort (found in PATH; sort with its default\n"
		"thread count), grep with a pattern on no line (--rare, default \"%s\")\n"
		"and a common one (--common, default \"%s\"; also the twins').\n"
		"Without the tool paths, only the source is timed.  --gnu-only leaves out\n"
		"the source and the twins, --no-gnu the GNU tools.\n"
		"The input (default 256 MiB, in /tmp) is the text files under --corpus DIR\n"
		"(default /usr/include) in name order, repeated to the size; with\n"
		"--generated, or without /usr/include, lines of pseudo-words, 5%% holding\n"
		"the common pattern.  --keep leaves the file in place, and reuses it next\n"
		"time (whatever made it) if its size fits.\n"
		"Runs alternate (A B A B ...; the source 3 times --runs); each line gives\n"
		"the ratio of the medians and the median of the ratios of pairs run back\n"
		"to back, which drift of a shared machine disturbs less, with a 95%%\n"
		"confidence interval; the verdict follows the interval.  The outputs of\n"
		"the two sides must agree (GNU's: byte for byte) before they are timed.\n",
		RARE_PATTERN, COMMON_PATTERN);
}

static int parse(int argc, char **argv, struct config *c)
{
	static const struct option opts[] = {
		{ "size", required_argument, NULL, 's' },
		{ "runs", required_argument, NULL, 'r' },
		{ "jobs", required_argument, NULL, 'j' },
		{ "chunk", required_argument, NULL, 'c' },
		{ "source-chunk", required_argument, NULL, 'S' },
		{ "file", required_argument, NULL, 'f' },
		{ "keep", no_argument, NULL, 'k' },
		{ "corpus", required_argument, NULL, 'C' },
		{ "generated", no_argument, NULL, 'g' },
		{ "rare", required_argument, NULL, 'R' },
		{ "common", required_argument, NULL, 'M' },
		{ "gnu-only", no_argument, NULL, 'o' },
		{ "no-gnu", no_argument, NULL, 'n' },
		{ "wc", required_argument, NULL, 'W' },
		{ "grep", required_argument, NULL, 'G' },
		{ "sort", required_argument, NULL, 'O' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	for (int o; (o = getopt_long(argc, argv, "j:", opts, NULL)) != -1;) {
		switch (o) {
		case 's': c->mib = strtoul(optarg, NULL, 10); break;
		case 'r': c->runs = atoi(optarg); break;
		case 'j': c->jobs = (unsigned)atoi(optarg); break;
		case 'c': c->chunk = strtoul(optarg, NULL, 10); break;
		case 'S': c->source_chunk = strtoul(optarg, NULL, 10); break;
		case 'f': c->file = optarg; break;
		case 'k': c->keep = 1; break;
		case 'C': c->corpus = optarg; break;
		case 'g': c->generated = 1; break;
		case 'R': c->rare = optarg; break;
		case 'M': c->common = optarg; break;
		case 'o': c->twins = 0; break;
		case 'n': c->gnu = 0; break;
		case 'W': c->bin[0] = optarg; break;
		case 'G': c->bin[1] = optarg; break;
		case 'O': c->bin[2] = optarg; break;
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); return -1;
		}
	}
	/* The twin looks for one string: no newline in the patterns. */
	if (c->runs < 1 || c->runs > 64 || !c->mib || !c->jobs || c->jobs > 256 ||
	    !c->chunk || optind != argc || (c->corpus && c->generated) ||
	    (!c->twins && !c->gnu) || strchr(c->rare, '\n') ||
	    strchr(c->common, '\n')) {
		usage(stderr);
		return -1;
	}
	return 0;
}

/* Writes the input file, or says why it could not. */
static int make_input(const struct config *c)
{
	struct stat st;
	if (c->keep && stat(c->file, &st) == 0 &&
	    (size_t)st.st_size >= c->mib << 20 &&
	    (size_t)st.st_size < (c->mib << 20) + 4096) {
		printf("input: the file kept from an earlier run\n");
		return 0;
	}
	if (c->corpus)
		return build_corpus(c->corpus, c->file, c->mib << 20);
	if (generate(c->file, c->mib << 20, c->common) != 0) {
		perror(c->file);
		return -1;
	}
	printf("input: generated, lines of 0 to 24 pseudo-words, 5%% of them "
	       "ending with \"%s\"\n", c->common);
	return 0;
}

int main(int argc, char **argv)
{
	/* TOOL -j N --chunk B [P] F */
	if (argc >= 8 && strcmp(argv[1], "--twin") == 0)
		return run_twin(argv[2], argc > 8 ? argv[argc - 2] : "",
				argv[argc - 1], (unsigned)atoi(argv[4]),
				strtoul(argv[6], NULL, 10));

	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	char file[64];
	snprintf(file, sizeof file, "/tmp/trindle-io-bench-%d.txt", (int)getpid());
	struct config c = {
		.file = file, .mib = 256, .runs = 9,
		.chunk = 4 << 20,
		.jobs = cores > 0 ? (unsigned)cores : 1,
		.twins = 1, .gnu = 1,
		.rare = RARE_PATTERN, .common = COMMON_PATTERN,
	};
	if (parse(argc, argv, &c))
		return 2;
	struct stat st;
	if (!c.corpus && !c.generated && stat("/usr/include", &st) == 0 &&
	    S_ISDIR(st.st_mode))
		c.corpus = "/usr/include";
	sched_getaffinity(0, sizeof all_cpus, &all_cpus);
	find_cpus();
	printf("trindle-io-bench: %zu MiB file %s, %u workers, %zu KiB chunks, "
	       "%d runs each%s\n", c.mib, c.file, c.jobs, c.chunk >> 10, c.runs,
	       c.twins ? ", the source 3 times as many" : "");
	fflush(stdout);
	if (make_input(&c) != 0) {
		unlink(c.file); /* what was written of it, if anything */
		return 2;
	}
	fflush(stdout);
	warm(c.file);
	devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
	outs[0] = memfd_create("trindle-io-bench-a", MFD_CLOEXEC);
	outs[1] = memfd_create("trindle-io-bench-b", MFD_CLOEXEC);
	if (devnull < 0 || outs[0] < 0 || outs[1] < 0) {
		perror("trindle-io-bench: /dev/null or memfd_create");
		return 2;
	}
	size_t sizes[4] = { c.source_chunk, 0, 0, 0 };
	double read_time[4];
	int nsizes = 0;
	if (c.twins)
		nsizes = c.source_chunk ? 1 : 4;
	for (int i = 0; i < nsizes; i++) {
		sizes[i] = c.source_chunk ? c.source_chunk : (size_t)64 << (10 + 2 * i);
		read_time[i] = bench_source(&c, sizes[i]);
		fflush(stdout);
	}
	int rc = 0;
	for (int t = 0; t < 3 && c.twins; t++) {
		if (c.bin[t] && bench_tool(&c, t) < 0)
			rc = 1;
		fflush(stdout);
	}
	if (c.gnu && (c.bin[0] || c.bin[1] || c.bin[2])) {
		/* GNU sort's default: the CPUs it may use, at most 8. */
		int threads = CPU_COUNT(&all_cpus);
		threads = threads < 1 ? 1 : threads > 8 ? 8 : threads;
		c.gnu_env = gnu_environment();
		for (int t = 0; t < 3; t++)
			c.gnu_bin[t] = find_in_path(tools[t]);
		printf("GNU peers, LC_ALL=C: %s FILE, %s -F PATTERN FILE, %s FILE "
		       "(its default %d threads: the CPUs it may use, at most 8); "
		       "both sides write into a file in memory; time ratio "
		       "trindle/GNU, and its target (at most)\n",
		       c.gnu_bin[0] ? c.gnu_bin[0] : "(no wc)",
		       c.gnu_bin[1] ? c.gnu_bin[1] : "(no grep)",
		       c.gnu_bin[2] ? c.gnu_bin[2] : "(no sort)", threads);
		fflush(stdout);
		for (size_t i = 0; i < sizeof gnu_peers / sizeof *gnu_peers; i++) {
			if (bench_gnu(&c, &gnu_peers[i]) < 0)
				rc = 1;
			fflush(stdout);
		}
		for (int t = 0; t < 3; t++)
			free(c.gnu_bin[t]);
		free(c.gnu_env);
	}
	for (int i = 0; i < nsizes; i++)
		bench_released(&c, sizes[i], read_time[i]);
	printf("(the file had left the page cache in part, and was read again, "
	       "before %u of the timed runs)\n", rewarms);
	if (!c.keep)
		unlink(c.file);
	return rc;
}
