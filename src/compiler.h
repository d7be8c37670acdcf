/* SPDX-License-Identifier: MIT */
/* compiler.h - small compiler helpers shared by every module. */
#ifndef TRINDLE_COMPILER_H
#define TRINDLE_COMPILER_H

#include <errno.h>

#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

/* Thread-local data that the signal handler reads: initial-exec, so that
 * reading it never calls into the dynamic linker (not async-signal-safe). */
#define TRINDLE_TLS __thread __attribute__((tls_model("initial-exec")))

#define TRINDLE_CACHELINE 64
#define TRINDLE_ALIGNED __attribute__((aligned(TRINDLE_CACHELINE)))

/* Internal calls return 0 or a negative errno; the public boundary turns
 * that into -1 (or NULL) plus errno through these two helpers. */
static inline int trindle__fail(int negative_errno)
{
	errno = -negative_errno;
	return -1;
}

static inline void *trindle__fail_ptr(int negative_errno)
{
	errno = -negative_errno;
	return (void *)0;
}

static inline void trindle__cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

#endif
