/* SPDX-License-Identifier: MIT */
/*
 * devices.h - what the core offers the I/O devices beyond the public API.
 *
 * The devices (src/io) are processes written against trindle.h like any
 * program, with a few exceptions.  A device that produces data waits for
 * room in its out pipe: the contract has no way to wait for room (a send to
 * a full pipe just fails), and retrying on a timer wakes the device many
 * times per chunk, taking the core from the workers that consume it.  And
 * the file source reads into segments that were not zeroed first, and
 * gives chunks given back the size of the next chunk.
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

/* A new segment of bytes bytes, held by the caller alone, like
 * trindle_allocate(1, &(trindle_buffer_t){ bytes, NULL }) but without
 * zeroing: its bytes are whatever a destroyed segment left there (only the
 * part of its last page beyond bytes is zeroed).  The caller must write
 * every byte before the segment leaves its hands, so that nothing of
 * another process's data is ever seen.  The file source reads into these,
 * since zeroing a large recycled slot first would write every byte twice.
 * NULL with errno on failure. */
void *trindle__allocate_unfilled(size_t bytes);

/* Gives segment, which the caller holds alone and may write, a new size
 * of bytes, as long as it fits the memory the segment was made in (a
 * power of two of pages at least its first size): the file source reads
 * line-aware chunks, all of slightly different sizes, into chunks given
 * back.  Like trindle__allocate_unfilled(), the bytes keep whatever they
 * held, for the caller to overwrite; the rest of the last page is zeroed.
 * Costs no system call unless the number of pages changes.  Returns 0, or
 * -1 (the segment is unchanged). */
int trindle__refit(trindle_segment_t segment, size_t bytes);

#endif
