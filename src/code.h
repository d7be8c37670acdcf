/* SPDX-License-Identifier: MIT */
/* code.h - is an address inside the program's or a library's code? */
#ifndef TRINDLE_CODE_H
#define TRINDLE_CODE_H

#include <stdbool.h>
#include <stdint.h>

/* True if address lies in an executable PT_LOAD segment of the program or
 * of a loaded shared object (the vDSO included).  Not for signal handlers:
 * it takes the dynamic linker's lock. */
bool trindle__code_contains(const void *address);

/* The executable range [*start, *end) that address lies in; false if it
 * lies in none.  Not for signal handlers either. */
bool trindle__code_range(const void *address, uintptr_t *start,
		uintptr_t *end);

#endif
