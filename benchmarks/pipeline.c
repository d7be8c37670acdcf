/* SPDX-License-Identifier: MIT */
/*
 * pipeline: 256 MiB flow in 64 KiB chunks through 4 stages; the figure is
 * MiB per second.  The source (the root process, or the main thread) fills
 * each chunk with data derived from its number; every stage checksums the
 * bytes it gets and transforms them in place; the sink checksums the
 * result and recycles the chunk to the source.  32 chunks circulate.
 *
 * Stage loops, each a scenario of its own:
 *   "pipeline": a stage takes at most 4 of the chunks queued for it, works
 *   on them and moves them on with its next take (one sync, or one lock to
 *   pop and one to push);
 *   "pipeline-all": a stage takes everything queued for it each time (the
 *   loop that convoys: one stage works while the others wait);
 *   "pipeline-stage": libtrindle's stages are trindle_util_stage() taking
 *   4 (<trindle/util.h>), against the twin of "pipeline";
 *   "pipeline-stage-small": the same with every stage's queue 4 long on
 *   both sides: what short queues cost (stages run dry and are woken more
 *   often).  A full next stays rare here, as the stages are balanced;
 *   when it happens libtrindle's stage waits in trindle_wait_room(),
 *   the twin's on its condition variable.
 * libtrindle: each stage is a worker moving chunks to the next stage's
 * input pipe.  pthreads: 4 threads and 5 bounded queues, popping the same
 * way and pushing what was popped in one lock.  The source and the sink
 * (the root process, or the main thread) send up to 64 chunks at a time
 * and take back all that returned.  The digest adds up every stage's and
 * the sink's checksums, so both sides must have transformed the same
 * bytes the same way.
 */
#include "bench.h"

#include <stdlib.h>

#define PL_STAGES 4
#define PL_CHUNK (64 * 1024)
#define PL_POOL 32
#define PL_WORDS (PL_CHUNK / sizeof(uint64_t))
#define PL_TAKE_FEW 4             /* "pipeline": chunks per take */
#define PL_SMALL_QUEUE 4          /* "pipeline-stage-small": queue length */

/* Which stage loop libtrindle's workers run (bt_feed_t's arg). */
enum pl_loop { PL_FEW, PL_ALL, PL_STAGE, PL_STAGE_SMALL };

static uint64_t pl_chunks(const bench_opts_t *opts)
{
	return bench_size(opts, 256, 2) * (1024 * 1024 / PL_CHUNK);
}

/* The source's data: a cheap, distinct pattern per chunk. */
static void pl_fill(void *seg, uint64_t chunk, uint64_t arg)
{
	uint64_t *w = seg, v = bench_mix(chunk);

	(void)arg;
	for (size_t i = 0; i < PL_WORDS; i++) {
		v += 0x9e3779b97f4a7c15ULL;
		w[i] = v ^ (v >> 29);
	}
}

/* A Fletcher-style checksum of the words as they are. */
static uint64_t pl_sum(const uint64_t *w)
{
	uint64_t a = 0, b = 0;

	for (size_t i = 0; i < PL_WORDS; i++) {
		a += w[i];
		b += a;
	}
	return a ^ (b * 31);
}

/* A stage's work: checksum the input, then transform every word. */
static uint64_t pl_stage(uint64_t *w, uint64_t stage)
{
	uint64_t a = 0, b = 0, key = bench_mix(stage);

	for (size_t i = 0; i < PL_WORDS; i++) {
		uint64_t x = w[i];

		a += x;
		b += a;
		w[i] = (x ^ key) * 0xff51afd7ed558ccdULL;
	}
	return a ^ (b * 31);
}

/* ---- libtrindle ------------------------------------------------------- */

/* A stage: its work on each chunk, then the chunk moves on. */
static void pl_check(bt_result_t *res, void *seg, uint64_t stage)
{
	res->check += pl_stage(seg, stage);
	res->count++;
}

static void pl_worker_few(trindle_pipe_t input)
{
	bt_relay_take(input, pl_check, true, PL_TAKE_FEW);
}

/* BENCH_BATCH is more than PL_POOL: every take takes all that is queued. */
static void pl_worker_all(trindle_pipe_t input)
{
	bt_relay(input, pl_check, true);
}

/* "pipeline-stage": the work handed to trindle_util_stage(). */
typedef struct pl_stage_ctx {
	bt_result_t res;
	uint64_t stage, count;
} pl_stage_ctx_t;

static int pl_stage_work(const trindle_message_t *in, trindle_object_t *out,
		void *arg)
{
	pl_stage_ctx_t *c = arg;

	(void)in;
	if (!*out)
		return 0;       /* a notice: none is expected, none matters */
	pl_check(&c->res, *out, c->stage);
	/* Exactly count chunks come, so the take that holds the last one
	 * holds no other. */
	return c->res.count == c->count;
}

static void pl_worker_stage(trindle_pipe_t input)
{
	pl_stage_ctx_t c = { { 0, 0, 0 }, 0, 0 };
	bt_relay_cfg_t cfg;
	trindle_pipe_t next;

	if (bt_start(input, &cfg, sizeof cfg, &next, 1) != 0)
		trindle_abort(NULL);
	c.stage = cfg.arg;
	c.count = cfg.count;
	if (trindle_util_stage(input, next, PL_TAKE_FEW, pl_stage_work,
			&c) != 1)
		trindle_abort(NULL);
	bt_finish(&c.res);
}

/* The sink, in the root: it checksums every chunk that comes back. */
typedef struct pl_sink {
	bt_group_t *g;
	uint64_t check;
} pl_sink_t;

static int pl_take(bt_feed_t *f, const trindle_message_t *m, bt_out_t *out,
		void *sink)
{
	pl_sink_t *k = sink;

	/* Early stages end while the last chunks are still on their way to
	 * us: their end notices go to the group. */
	if (m->address == f->back && m->content)
		k->check += pl_sum(m->content);
	return bt_take_back(f, m, out, k->g);
}

/* Launches the stages and wires each to the next (the last to back). */
static int pl_wire(bt_group_t *g, trindle_pipe_t back, uint64_t chunks,
		trindle_entrypoint_t worker, size_t queue)
{
	for (size_t s = 0; s < PL_STAGES; s++)
		if (!bt_group_launch(g, worker, queue))
			return -1;
	for (size_t s = 0; s < PL_STAGES; s++) {
		trindle_pipe_t next = s + 1 < PL_STAGES ? g->workers[s + 1]
			: back;

		if (bt_relay_setup(g->workers[s], chunks, s + 1, next) != 0)
			return -1;
	}
	return 0;
}

static int pl_run_trindle(bt_feed_t *f, bt_group_t *g, bench_sample_t *s)
{
	pl_sink_t k = { g, 0 };
	double t0;

	static const trindle_entrypoint_t worker[] = {
		[PL_FEW] = pl_worker_few, [PL_ALL] = pl_worker_all,
		[PL_STAGE] = pl_worker_stage, [PL_STAGE_SMALL] = pl_worker_stage,
	};

	/* f->arg: the stage loop. */
	if (pl_wire(g, f->back, f->total, worker[f->arg],
			f->arg == PL_STAGE_SMALL ? PL_SMALL_QUEUE
			: PL_POOL + 4) != 0)
		return -1;
	f->to = g->workers[0];
	t0 = bench_now();
	if (bt_feed_run(f, pl_take, &k) != 0)
		return -1;
	s->seconds = bench_now() - t0;
	s->ops = f->total * PL_CHUNK;
	if (bt_group_verify(g, "pipeline", f->total * PL_STAGES) != 0)
		return -1;
	s->check = k.check + g->sum.check;
	return 0;
}

static int pl_trindle(const bench_opts_t *opts, enum pl_loop loop,
		bench_sample_t *s)
{
	bt_feed_t f = { .total = pl_chunks(opts), .stamp = pl_fill,
		.arg = loop };

	return bt_feed_root(&f, PL_POOL, PL_CHUNK, PL_POOL, PL_STAGES,
			pl_run_trindle, s);
}

int pipeline_trindle(const bench_opts_t *opts, bench_sample_t *s)
{
	return pl_trindle(opts, PL_FEW, s);
}

int pipeline_all_trindle(const bench_opts_t *opts, bench_sample_t *s)
{
	return pl_trindle(opts, PL_ALL, s);
}

int pipeline_stage_trindle(const bench_opts_t *opts, bench_sample_t *s)
{
	return pl_trindle(opts, PL_STAGE, s);
}

int pipeline_stage_small_trindle(const bench_opts_t *opts, bench_sample_t *s)
{
	return pl_trindle(opts, PL_STAGE_SMALL, s);
}

/* ---- pthreads --------------------------------------------------------- */

typedef struct pl_twin {
	bq_t q[PL_STAGES + 1];       /* q[s]: into stage s; q[4]: to main */
	uint64_t chunks;
	size_t take;                 /* chunks a stage takes at a time */
} pl_twin_t;

typedef struct pl_thread {
	pl_twin_t *twin;
	uint64_t stage, check;
} pl_thread_t;

static void *pl_twin_stage(void *arg)
{
	pl_thread_t *th = arg;
	pl_twin_t *t = th->twin;
	void *batch[PL_POOL];
	uint64_t done = 0;

	while (done < t->chunks) {
		size_t n = bq_pop_many(&t->q[th->stage], batch, t->take);

		for (size_t k = 0; k < n; k++)
			th->check += pl_stage(batch[k], th->stage + 1);
		done += n;
		bq_push_many(&t->q[th->stage + 1], batch, n);
	}
	return NULL;
}

static uint64_t pl_twin_source(pl_twin_t *t, void **pool)
{
	uint64_t sent = 0, returned = 0, check = 0;
	size_t nfree = PL_POOL;
	void *batch[BENCH_BATCH];

	while (returned < t->chunks) {
		size_t k = 0, n;

		while (k < BENCH_BATCH && nfree > 0 && sent < t->chunks) {
			batch[k] = pool[--nfree];
			pl_fill(batch[k++], sent++, 0);
		}
		if (k)
			bq_push_many(&t->q[0], batch, k);
		if (nfree > 0 && sent < t->chunks)
			n = bq_try_pop_many(&t->q[PL_STAGES], pool + nfree,
					PL_POOL - nfree);
		else
			n = bq_pop_many(&t->q[PL_STAGES], pool + nfree,
					PL_POOL - nfree);
		for (size_t i = 0; i < n; i++)
			check += pl_sum(pool[nfree + i]);
		nfree += n;
		returned += n;
	}
	return check;
}

static int pl_pthreads(const bench_opts_t *opts, size_t take, size_t queue,
		bench_sample_t *s)
{
	pl_twin_t t = { .chunks = pl_chunks(opts), .take = take };
	pl_thread_t th[PL_STAGES];
	pthread_t tid[PL_STAGES];
	void *pool[PL_POOL];
	size_t started = 0;
	double t0;
	int rc = -1;

	for (size_t i = 0; i < PL_POOL; i++)
		pool[i] = bench_block(PL_CHUNK);
	for (size_t q = 0; q <= PL_STAGES; q++)
		bq_init(&t.q[q], q < PL_STAGES ? queue : PL_POOL);
	for (; started < PL_STAGES; started++) {
		th[started] = (pl_thread_t){ &t, started, 0 };
		if (bench_thread(&tid[started], pl_twin_stage,
				&th[started]) != 0)
			break;
	}
	if (started == PL_STAGES) {
		t0 = bench_now();
		s->check = pl_twin_source(&t, pool);
		s->seconds = bench_now() - t0;
		s->ops = t.chunks * PL_CHUNK;
		rc = 0;
	}
	for (size_t i = 0; i < started; i++) {
		pthread_join(tid[i], NULL);
		s->check += th[i].check;
	}
	for (size_t q = 0; q <= PL_STAGES; q++)
		bq_destroy(&t.q[q]);
	for (size_t i = 0; i < PL_POOL; i++)
		free(pool[i]);
	return rc;
}

int pipeline_pthreads(const bench_opts_t *opts, bench_sample_t *s)
{
	return pl_pthreads(opts, PL_TAKE_FEW, PL_POOL + 4, s);
}

int pipeline_all_pthreads(const bench_opts_t *opts, bench_sample_t *s)
{
	return pl_pthreads(opts, PL_POOL, PL_POOL + 4, s);
}

/* "pipeline-stage" is the twin of "pipeline". */
int pipeline_stage_pthreads(const bench_opts_t *opts, bench_sample_t *s)
{
	return pipeline_pthreads(opts, s);
}

int pipeline_stage_small_pthreads(const bench_opts_t *opts, bench_sample_t *s)
{
	return pl_pthreads(opts, PL_TAKE_FEW, PL_SMALL_QUEUE, s);
}
