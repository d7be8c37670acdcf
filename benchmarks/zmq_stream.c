/* SPDX-License-Identifier: MIT */
/*
 * The stream scenario's off-the-shelf peer: ZeroMQ inproc PUSH/PULL, built
 * when meson finds libzmq (option `zmq`).
 *
 * The same blocks, stamps, pool and checks as stream.c: the producer
 * thread pushes a pointer to each stamped block (an 8-byte message) down
 * one PUSH/PULL pair to the consumer thread, which checks it and pushes it
 * back down a second pair.  This is how ZeroMQ is meant to be used: one
 * message per call, with the library batching on its own; the producer
 * sends while blocks are free and otherwise takes back everything that has
 * returned, waiting only when none is free (as the other sides do).  The
 * high-water marks (1,000 by default) exceed the pool, so sends never
 * block.
 */
#include "bench.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#define ZS_POOL 256                 /* as stream.c's ST_POOL */

typedef struct zs {
	void *ctx;
	uint64_t messages;
	bt_result_t res;             /* the consumer's, read after join */
	int failed;
} zs_t;

static void *zs_socket(zs_t *z, int type, const char *addr, bool bind)
{
	void *s = zmq_socket(z->ctx, type);

	if (!s)
		return NULL;
	if ((bind ? zmq_bind(s, addr) : zmq_connect(s, addr)) != 0) {
		zmq_close(s);
		return NULL;
	}
	return s;
}

static int zs_send(void *sock, void *block)
{
	while (zmq_send(sock, &block, sizeof block, 0) != sizeof block)
		if (zmq_errno() != EINTR)
			return -1;
	return 0;
}

/* Receives one pointer; 1 if got, 0 if none (dontwait), -1 on failure. */
static int zs_recv(void *sock, void **block, bool dontwait)
{
	for (;;) {
		int n = zmq_recv(sock, block, sizeof *block,
				dontwait ? ZMQ_DONTWAIT : 0);

		if (n == sizeof *block)
			return 1;
		if (n < 0 && zmq_errno() == EAGAIN && dontwait)
			return 0;
		if (n >= 0 || zmq_errno() != EINTR)
			return -1;
	}
}

static void *zs_consumer(void *arg)
{
	zs_t *z = arg;
	void *in = zs_socket(z, ZMQ_PULL, "inproc://to-consumer", false);
	void *back = zs_socket(z, ZMQ_PUSH, "inproc://back", false);

	if (!in || !back)
		z->failed = 1;
	while (!z->failed && z->res.count < z->messages) {
		void *block;

		if (zs_recv(in, &block, false) != 1) {
			z->failed = 1;
			break;
		}
		stream_consume(&z->res, block, 0);
		if (zs_send(back, block) != 0)
			z->failed = 1;
	}
	if (in)
		zmq_close(in);
	if (back)
		zmq_close(back);
	return NULL;
}

static int zs_produce(void *out, void *back, void **pool, uint64_t messages)
{
	uint64_t sent = 0, returned = 0;
	size_t nfree = ZS_POOL;

	while (returned < messages) {
		for (size_t k = 0; k < BENCH_BATCH && nfree > 0 &&
				sent < messages; k++) {
			void *block = pool[--nfree];

			stream_stamp(block, sent++, 0);
			if (zs_send(out, block) != 0)
				return -1;
		}
		/* Wait for one only when no block is free, then take back
		 * all that has returned. */
		bool wait = nfree == 0 || sent == messages;
		int got;

		while ((got = zs_recv(back, &pool[nfree], !wait)) == 1) {
			nfree++;
			returned++;
			wait = false;
		}
		if (got < 0)
			return -1;
	}
	return 0;
}

int stream_zmq(const bench_opts_t *opts, bench_sample_t *s)
{
	zs_t z = { .messages = opts->messages ? opts->messages
		: bench_size(opts, 1000000, 2000) };
	void *pool[ZS_POOL], *out = NULL, *back = NULL;
	pthread_t consumer;
	int rc = -1;
	double t0;

	for (size_t i = 0; i < ZS_POOL; i++)
		pool[i] = bench_block(BENCH_BLOCK);
	z.ctx = zmq_ctx_new();
	if (z.ctx) {
		out = zs_socket(&z, ZMQ_PUSH, "inproc://to-consumer", true);
		back = zs_socket(&z, ZMQ_PULL, "inproc://back", true);
	}
	if (!out || !back) {
		bench_fail("stream/zmq", "zmq set-up: %s",
				zmq_strerror(zmq_errno()));
	} else if (bench_thread(&consumer, zs_consumer, &z) == 0) {
		t0 = bench_now();
		rc = zs_produce(out, back, pool, z.messages);
		s->seconds = bench_now() - t0;
		s->ops = z.messages;
		/* On failure the consumer may still wait: shutting the
		 * context down below wakes it with ETERM. */
		if (rc != 0)
			z.failed = 1;
		zmq_close(out);
		out = NULL;
		if (rc != 0)
			zmq_ctx_shutdown(z.ctx);
		pthread_join(consumer, NULL);
		s->check = z.res.check;
		if (rc != 0 || z.failed || z.res.errors ||
				z.res.count != z.messages)
			rc = bench_fail("stream/zmq", "lost or bad blocks");
	}
	if (out)
		zmq_close(out);
	if (back)
		zmq_close(back);
	if (z.ctx)
		zmq_ctx_term(z.ctx);
	for (size_t i = 0; i < ZS_POOL; i++)
		free(pool[i]);
	return rc;
}
