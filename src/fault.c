/* SPDX-License-Identifier: MIT */
/* fault.c - the SIGSEGV/SIGBUS handler (see fault.h). */
#include "fault.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <ucontext.h>
#include <unistd.h>

#include "code.h"
#include "die.h"
#include "compiler.h"
#include "segment.h"

/* The signals the handler takes, and the handlers installed before it. */
static const int caught[] = { SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT };
#define NCAUGHT (sizeof(caught) / sizeof(caught[0]))
static struct sigaction previous[NCAUGHT];

/* Whether a worker's faults outside segments are reports too (the
 * default), or only its rights faults on segments (TRINDLE_FAULTS=rights). */
static bool catch_all_faults = true;

/* libtrindle's own code: a fault there is the library's, never a
 * worker's, and is not recovered from. */
static uintptr_t library_start, library_end;

/* The calling thread's recovery point (NULL: disarmed). */
static TRINDLE_TLS sigjmp_buf *tls_recovery;
static TRINDLE_TLS int tls_recovery_value;
static TRINDLE_TLS trindle_fault_t *tls_recovery_report;

void trindle__fault_arm(sigjmp_buf *env, int value, trindle_fault_t *report)
{
	tls_recovery_report = report;
	tls_recovery_value = value;
	tls_recovery = env;
}

void trindle__fault_disarm(void)
{
	tls_recovery = NULL;
}

/* What the faulting instruction tried to do. */
static int access_kind(void *context, const void *address,
		const struct segment *s)
{
#if defined(__x86_64__)
	const ucontext_t *uc = context;
	long err = uc->uc_mcontext.gregs[REG_ERR];
	(void)s;
	/* Jumping into the page is an execute even where the error code is
	 * not filled in (valgrind, for one). */
	if ((err & 16) || (uintptr_t)uc->uc_mcontext.gregs[REG_RIP] ==
			(uintptr_t)address)
		return TRINDLE_ACCESS_EXECUTE;
	return (err & 2) ? TRINDLE_ACCESS_WRITE : TRINDLE_ACCESS_READ;
#else
	/* Without the page-fault error code, guess from what was allowed:
	 * a readable page faults only for writes (or instruction fetches). */
	(void)context;
	(void)address;
	int applied = s ? atomic_load(&s->applied) : SEG_NONE;
	return applied == SEG_READ ? TRINDLE_ACCESS_WRITE : TRINDLE_ACCESS_READ;
#endif
}

/* Retries of the same access in a row; past a bound it counts as a fault,
 * so that no inconsistency can turn into an endless fault loop. */
#define RETRY_LIMIT 1000
static TRINDLE_TLS void *tls_retry_address;
static TRINDLE_TLS unsigned tls_retries;

/* Did the protection change under us so that the access is now allowed?
 * (A process may write as soon as it learns it holds a segment alone.) */
static int now_allowed(const struct segment *s, const void *address,
		int access)
{
	int applied = atomic_load_explicit(&s->applied, memory_order_acquire);

	if (!atomic_load_explicit(&s->live, memory_order_acquire))
		return 0;
	if ((uintptr_t)address - (uintptr_t)s->base >=
			atomic_load_explicit(&s->mapped, memory_order_relaxed))
		return 0; /* past the end: those pages never open */
	if (address == tls_retry_address && ++tls_retries > RETRY_LIMIT)
		return 0;
	if (address != tls_retry_address) {
		tls_retry_address = (void *)address;
		tls_retries = 0;
	}
	switch (access) {
	case TRINDLE_ACCESS_WRITE: return applied == SEG_READ_WRITE;
	case TRINDLE_ACCESS_EXECUTE: return applied == SEG_READ_EXECUTE;
	default: return applied != SEG_NONE && applied != SEG_PARKED;
	}
}

/* Back to the default action, so that re-running the access ends us. */
static void default_action(int sig)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	sigemptyset(&sa.sa_mask);
	sigaction(sig, &sa, NULL);
}

static void chain(int sig, siginfo_t *info, void *context)
{
	struct sigaction *old = &previous[0];

	for (size_t i = 0; i < NCAUGHT; i++)
		if (caught[i] == sig)
			old = &previous[i];

	if (old->sa_flags & SA_SIGINFO) {
		old->sa_sigaction(sig, info, context);
	} else if (old->sa_handler == SIG_IGN) {
		return;
	} else if (old->sa_handler == SIG_DFL) {
		default_action(sig);
		/* A faulting instruction faults again once we return; a signal
		 * that was sent would be lost: send it again, to be taken by
		 * the default action as the handler returns. */
		if (info->si_code <= 0)
			raise(sig);
	} else {
		old->sa_handler(sig);
	}
}

/* Async-signal-safe message building. */
static char *put_str(char *p, const char *s)
{
	while (*s)
		*p++ = *s++;
	return p;
}

static char *put_hex(char *p, uintptr_t v)
{
	char digits[2 * sizeof(v)];
	int n = 0;

	if (!v)
		return put_str(p, "(nil)");
	while (v) {
		digits[n++] = "0123456789abcdef"[v & 15];
		v >>= 4;
	}
	p = put_str(p, "0x");
	while (n)
		*p++ = digits[--n];
	return p;
}

static char *put_dec(char *p, size_t v)
{
	char digits[24];
	int n = 0;

	do {
		digits[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n)
		*p++ = digits[--n];
	return p;
}

static char *put_reason(char *p, const struct segment *s, int access)
{
	if (!s)
		return put_str(p, "(no segment there)");
	if (!atomic_load(&s->live))
		return put_str(p, "(destroyed)");
	if (atomic_load(&s->applied) == SEG_PARKED)
		return put_str(p, "(moved away, in flight)");
	if (access == TRINDLE_ACCESS_WRITE && atomic_load(&s->extended))
		return put_str(p, "(executable, never writable)");
	if (access == TRINDLE_ACCESS_EXECUTE)
		return put_str(p, "(not executable)");
	size_t holds = atomic_load(&s->holds);
	if (access == TRINDLE_ACCESS_WRITE && holds > 1) {
		p = put_str(p, "(shared by ");
		p = put_dec(p, holds);
		return put_str(p, " holders)");
	}
	return put_str(p, "(beyond the segment's end)");
}

static void report_root_fault(const trindle_fault_t *f, const struct segment *s)
{
	char line[256], *p = line;

	p = put_str(p, "trindle: fault: ");
	p = put_str(p, f->access == TRINDLE_ACCESS_WRITE ? "write" :
			f->access == TRINDLE_ACCESS_EXECUTE ? "execute" : "read");
	p = put_str(p, " at ");
	p = put_hex(p, (uintptr_t)f->address);
	p = put_str(p, " in segment ");
	p = put_hex(p, (uintptr_t)f->object);
	p = put_str(p, " ");
	p = put_reason(p, s, f->access);
	p = put_str(p, "\n");
	ssize_t ignored = write(STDERR_FILENO, line, (size_t)(p - line));
	(void)ignored;
}

/* Jumps back to the thread's recovery point with report, if it is armed. */
static void recover(const trindle_fault_t *report)
{
	sigjmp_buf *env = tls_recovery;

	if (!env)
		return;
	*tls_recovery_report = *report;
	tls_recovery = NULL;
	siglongjmp(*env, tls_recovery_value);
}

/* Did the thread raise sig itself: a fault of the instruction it ran
 * (kernel-made, si_code > 0), or raise()/abort() on itself? */
static bool raised_by_this_thread(const siginfo_t *info)
{
	return info->si_code > 0 ||
		(info->si_code == SI_TKILL && info->si_pid == getpid());
}

/* The address of the instruction that faulted, or 0 if unknown. */
static uintptr_t fault_pc(const void *context)
{
#if defined(__x86_64__)
	const ucontext_t *uc = context;
	return (uintptr_t)uc->uc_mcontext.gregs[REG_RIP];
#else
	(void)context;
	return 0;
#endif
}

/* A fault outside any segment: a worker's own (its code, or a library it
 * called) becomes its report; anything else goes where it went before. */
static void handle_other_fault(int sig, siginfo_t *info, void *context)
{
	uintptr_t pc = fault_pc(context);
	bool in_library = pc >= library_start && pc < library_end;

	if (catch_all_faults && tls_recovery && !in_library &&
	    !trindle__dying && raised_by_this_thread(info)) {
		bool memory = sig == SIGSEGV || sig == SIGBUS;
		trindle_fault_t report = {
			.address = memory ? info->si_addr : (void *)pc,
			.access = memory ? access_kind(context, info->si_addr,
					NULL) : 0,
			.signal = sig,
			.object = NULL,
			.process = NULL,
		};
		recover(&report);
	}
	chain(sig, info, context);
}

static void handler(int sig, siginfo_t *info, void *context)
{
	int saved_errno = errno;
	struct segment *s;

	if ((sig != SIGSEGV && sig != SIGBUS) ||
	    !trindle__segment_lookup(info->si_addr, &s)) {
		handle_other_fault(sig, info, context);
		errno = saved_errno;
		return;
	}
	int access = access_kind(context, info->si_addr, s);
	if (s && now_allowed(s, info->si_addr, access)) {
		errno = saved_errno;
		return; /* retry: the protection caught up meanwhile */
	}
	trindle_fault_t report = {
		.address = info->si_addr,
		.access = access,
		.signal = sig,
		.object = s ? s->base : NULL,
		.process = NULL,
	};
	recover(&report);
	report_root_fault(&report, s);
	default_action(sig);
	errno = saved_errno;
}

void trindle__fault_set_catch_all(bool all)
{
	catch_all_faults = all;
}

int trindle__fault_install(void)
{
	struct sigaction sa;

	trindle__code_range((const void *)handler, &library_start,
			&library_end);
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = handler;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < NCAUGHT; i++)
		if (sigaction(caught[i], &sa, &previous[i]) < 0)
			return -errno;
	return 0;
}
