/* SPDX-License-Identifier: MIT */
/*
 * jit-compile.h - trindle-jit's expression compiler: arithmetic on 64-bit
 * integers (+ - * /, unary minus, parentheses) to x86-64 machine code in
 * ordinary memory.  Nothing here knows about libtrindle: trindle-jit.c
 * copies the code into a segment and runs it.
 */
#ifndef JIT_COMPILE_H
#define JIT_COMPILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The compiled function, at offset 0 of the code: returns the value, or
 * sets *division_by_zero (and returns 0).  Arithmetic wraps around like
 * the machine's (two's complement). */
typedef int64_t (*jit_expression_fn)(int32_t *division_by_zero);

/* Machine code under construction, in memory from realloc(). */
struct jit_code {
	unsigned char *bytes;
	size_t length;
	size_t capacity;
	bool out_of_memory;
};

/* A compiled program: the expression function starts at offset 0. */
struct jit_program {
	struct jit_code code;
	size_t stub; /* offset of a worker entry point that only returns */
};

/* Compiles text into *prog, which starts zeroed; the caller frees
 * prog->code.bytes (also after a failure).  Returns 0, or -1 after
 * printing the error on stderr: a syntax error (pointing at its column),
 * nesting deeper than 64, a number that does not fit in 64 bits, or no
 * memory. */
int jit_compile(const char *text, struct jit_program *prog);

#endif /* JIT_COMPILE_H */
