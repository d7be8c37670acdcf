/* SPDX-License-Identifier: MIT */
/* Small helpers shared by the cmocka test programs (names start with t_). */
#ifndef T_HELPERS_H
#define T_HELPERS_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <trindle.h>

/* A one-message sync; returns the number of failed outgoing messages. */
size_t t_send(trindle_pipe_t pipe, trindle_object_t object);
size_t t_release(trindle_object_t object);
size_t t_move(trindle_pipe_t pipe, trindle_object_t object);

/* Receive one message from pipe, waiting up to timeout_ns (negative:
 * forever).  Returns 1 and fills *msg, or 0 when nothing came. */
int t_recv(trindle_pipe_t pipe, trindle_message_t *msg, int64_t timeout_ns);

/* Collect notices only (no receive request): returns how many were stored. */
size_t t_notices(trindle_message_t *msgs, size_t capacity);

/* A fresh segment of size bytes, every byte set to fill. */
trindle_segment_t t_segment(size_t size, unsigned char fill);

/* Stress sizes come from TRINDLE_TEST_SCALE (default 1): tests multiply. */
unsigned long t_scale(void);

#endif
