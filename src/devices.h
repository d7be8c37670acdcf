/* SPDX-License-Identifier: MIT */
/*
 * devices.h - what the core offers the I/O devices beyond the public API.
 *
 * The devices (src/io) are processes written against trindle.h like any
 * program, with one exception: a device that produces data waits for room
 * in its out pipe.  The contract has no way to wait for room (a send to a
 * full pipe just fails), and retrying on a timer wakes the device many
 * times per chunk, taking the core from the workers that consume it.
 */
#ifndef TRINDLE_DEVICES_H
#define TRINDLE_DEVICES_H

#include <stdint.h>

#include "trindle.h"

/* Sleeps until pipe (on which the caller holds SEND) may have room: its
 * receiver took a message, or it died.  At most timeout_ns (negative: no
 * limit).  Returns 1 if there may be room now (the caller retries its
 * send; it may find the pipe full again, if another sender came first),
 * 0 on timeout, -1 if the caller does not hold SEND on pipe. */
int trindle__wait_for_room(trindle_pipe_t pipe, int64_t timeout_ns);

#endif
