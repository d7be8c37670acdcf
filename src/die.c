/* SPDX-License-Identifier: MIT */
/* die.c - the library's own abort (see die.h). */
#include "die.h"

#include <stdlib.h>

TRINDLE_TLS bool trindle__dying;

void trindle__die(void)
{
	trindle__dying = true;
	abort();
}
