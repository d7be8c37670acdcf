/* SPDX-License-Identifier: MIT */
/* version.c - which libtrindle this is (the header's version, built in). */
#include "compiler.h"
#include "trindle.h"

#define STR(x) #x
#define XSTR(x) STR(x)

TRINDLE_PUBLIC unsigned int trindle_version(void)
{
	return TRINDLE_VERSION_HEX;
}

TRINDLE_PUBLIC const char *trindle_version_string(void)
{
	return XSTR(TRINDLE_VERSION_MAJOR) "." XSTR(TRINDLE_VERSION_MINOR) "."
		XSTR(TRINDLE_VERSION_PATCH);
}
