/* SPDX-License-Identifier: MIT */
/* object.h - what every kernel object starts with. */
#ifndef TRINDLE_OBJECT_H
#define TRINDLE_OBJECT_H

#include <stdint.h>

enum object_kind {
	OBJECT_SEGMENT = 1,
	OBJECT_PIPE = 2,
};

/* The common header of struct segment and struct pipe.  A message in a
 * pipe carries a pointer to this header; the kind says how to read it. */
struct object {
	uint8_t kind;
};

#endif
