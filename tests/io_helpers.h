/* SPDX-License-Identifier: MIT */
/*
 * io_helpers.h - what test_source.c and test_sink.c share: test files,
 * text to put in them, a struct stream that collects what a device
 * delivered, and the setups that run each device test with io_uring and
 * with the pread/pwrite fallback.  These assert with cmocka: test thread
 * only.
 */
#ifndef T_IO_HELPERS_H
#define T_IO_HELPERS_H

#include "helpers.h"

#include <trindle/io.h>

#define RW (TRINDLE_ACCESS_READ | TRINDLE_ACCESS_WRITE)
#define WAIT_NS (20LL * 1000 * 1000 * 1000)

/* ---- files and data ---- */

/* A pseudo-random number below n (a fixed sequence, so runs repeat). */
unsigned rnd(unsigned n);

/* Text with empty lines, lines longer than long_len, bytes above 0x7f, and
 * no newline at the end (malloc'd). */
unsigned char *make_text(size_t len, size_t long_len);

/* A new file in /tmp holding data[0 .. len); returns its path, which the
 * next call overwrites. */
const char *write_file(const void *data, size_t len);

/* The whole of the file at path (malloc'd), its size in *len. */
void *read_file(const char *path, size_t *len);

/* ---- what a device delivered ---- */

struct stream {
	unsigned char *data;
	size_t len, cap;
	size_t sizes[4096];
	size_t chunks;
	int markers;      /* zero-length end markers seen */
	int all_writable; /* every chunk arrived with READ|WRITE */
	int reports;
	int error;        /* the last report's fields */
	char op[16], path[256], message[512];
	int closed;       /* the device's input pipe died */
	uint64_t result;  /* a sink's result */
	int results;
};

/* Checks an I/O report segment and keeps its fields in st. */
void take_report(struct stream *st, trindle_segment_t seg);
/* Appends a chunk to st's data (a zero-length one is the end marker). */
void take_chunk(struct stream *st, trindle_segment_t seg);
/* Files one delivery from a device dev writing to out and err: a chunk, a
 * report, or the notice that dev's input died.  Releases what it took. */
void take(struct stream *st, const trindle_message_t *m,
	  trindle_pipe_t dev, trindle_pipe_t out, trindle_pipe_t err);
/* An empty stream. */
void stream_init(struct stream *st);

/* ---- receiving ---- */

/* The next object through pipe, skipping notices, within WAIT_NS.
 * Returns 1 and fills *m, or 0. */
int recv_object(trindle_pipe_t pipe, trindle_message_t *m);

/* One sync with receive requests on a device's out and err pipes, waiting
 * at most 100 ms; stores up to cap deliveries (notices too) in got and
 * returns how many came. */
size_t receive_both(trindle_pipe_t out, trindle_pipe_t err,
		    trindle_message_t *got, size_t cap);

/* ---- the two I/O modes ---- */

/* Setups: the devices use io_uring where it works, or the fallback. */
int use_uring(void **state);
int use_fallback(void **state);

/* A test run twice: with io_uring and with the fallback forced. */
#define BOTH(fn) \
	cmocka_unit_test_setup(fn, use_uring), \
	cmocka_unit_test_setup(fn, use_fallback)

#endif
