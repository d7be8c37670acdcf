/* SPDX-License-Identifier: MIT */
/* die.h - the library's own abort, for when its books cannot be kept. */
#ifndef TRINDLE_DIE_H
#define TRINDLE_DIE_H

#include <stdbool.h>

#include "compiler.h"

/* Set on a thread that is ending the program from inside the library: the
 * fault handler then lets its SIGABRT end the program, rather than take
 * it for a worker's own abort() and stop only the worker. */
extern TRINDLE_TLS bool trindle__dying;

/* Ends the program with abort(): a notice, a completion or a holder list
 * could not be recorded, and nothing sane remains. */
_Noreturn void trindle__die(void);

#endif
