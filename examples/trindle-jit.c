/* SPDX-License-Identifier: MIT */
/*
 * trindle-jit - compile an arithmetic expression to x86-64 machine code in a
 * segment, make the segment executable with trindle_extend(), and run it in
 * a worker process.
 *
 *   $ trindle-jit '2*(3+4)'
 *
 * What it shows:
 *
 *  - Code in a segment: the compiler writes machine code into a new segment
 *    (which its creator may write), then trindle_extend() turns it into
 *    READ|EXECUTE for good.  trindle_access() shows WRITE gone, and with
 *    --poke a worker that tries to write into it anyway is stopped by the
 *    MMU and reported as a fault.
 *  - Sharing code: the segment is sent (not moved) to a worker, which calls
 *    the compiled function through a plain function pointer and hands the
 *    result back with trindle_exit().  Code is read-only anyway, so both
 *    processes keep running it.
 *  - Entry points in a segment: trindle_launch() accepts an entry point
 *    inside an extended segment the caller holds (here a stub that just
 *    returns), and refuses the very same bytes in a plain data segment.
 *
 * The language: 64-bit integers, + - * /, unary minus, parentheses.
 * Arithmetic wraps around like the machine's (two's complement); dividing by
 * zero is caught by the generated code and reported.  The compiler is in
 * jit-compile.c; this file is the part that uses libtrindle.
 */
#include <errno.h>
#include <ctype.h>
#include <inttypes.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <trindle.h>
#include <trindle/util.h>

#include "jit-compile.h"

#define MAX_TEXT 4096 /* longest expression accepted */

/* What the calculator worker hands back with trindle_exit(). */
struct answer {
	int64_t value;
	int32_t division_by_zero;
};

/* ---- the workers ----------------------------------------------------------- */

/* The code segment, the first thing on a worker's input; NULL unless it
 * came executable and shared with the launcher: READ|EXECUTE, never
 * WRITE. */
static unsigned char *receive_code(trindle_pipe_t input)
{
	const int code_access = TRINDLE_ACCESS_READ | TRINDLE_ACCESS_EXECUTE;
	trindle_message_t m;
	int got = trindle_util_receive(input, &m, -1);

	if (got == 1 && trindle_util_kind(&m) == TRINDLE_UTIL_MESSAGE &&
			trindle_access(m.content) == code_access)
		return m.content;
	return NULL;
}

/* Receives the code segment and runs the expression function at its
 * start. */
static void calculator_main(trindle_pipe_t input)
{
	unsigned char *code = receive_code(input);

	if (!code)
		trindle_abort(NULL);

	/* POSIX lets a data pointer become a function pointer (as dlsym
	 * needs); the function is simply an address inside the segment. */
	jit_expression_fn fn = (jit_expression_fn)code;
	struct answer a = { 0 };
	a.value = fn(&a.division_by_zero);

	trindle_buffer_t buf = { sizeof a, &a };
	trindle_exit(trindle_allocate(1, &buf)); /* moved to our out pipe */
}

/* Tries to write into the code segment it is sent: the MMU refuses, and
 * the runtime stops this worker and reports the fault on its err pipe. */
static void poker_main(trindle_pipe_t input)
{
	volatile unsigned char *code = receive_code(input);

	if (code)
		code[0] = 0xc3;
	trindle_exit(NULL); /* not reached when code was received */
}

/* ---- the launcher ----------------------------------------------------------- */

struct jit {
	unsigned char *code;    /* the extended segment */
	trindle_pipe_t answers; /* workers' out pipe */
	trindle_pipe_t errors;  /* workers' err pipe */
};

/* What became of one worker. */
struct outcome {
	bool ended;
	trindle_segment_t answer; /* from its out pipe, or NULL */
	trindle_segment_t report; /* from its err pipe, or NULL */
};

static void handle(const struct jit *j, trindle_pipe_t worker,
		trindle_message_t m, struct outcome *o)
{
	if (m.content == NULL && m.address == worker)
		o->ended = true; /* closure notice: the worker ended */
	else if (m.address == j->answers && !o->answer)
		o->answer = m.content;
	else if (m.address == j->errors && !o->report)
		o->report = m.content;
	/* Otherwise a notice { NULL, code }: a worker that shared the code
	 * segment ended and we hold it alone again.  It stays READ|EXECUTE. */
}

/* Collects a worker's results until it has ended and, when want_result,
 * something arrived on its out or err pipe. */
static int await_worker(const struct jit *j, trindle_pipe_t worker,
		bool want_result, struct outcome *o)
{
	trindle_message_t inbox[4];

	*o = (struct outcome){ 0 };
	while (!o->ended || (want_result && !o->answer && !o->report)) {
		trindle_message_t req[2];
		trindle_util_batch_t out;
		trindle_mailbox_t in = { 4, inbox };

		trindle_util_batch_init(&out, req, 2);
		trindle_util_add_receive(&out, j->answers);
		trindle_util_add_receive(&out, j->errors);
		if (trindle_util_flush(&out, &in) != 0) {
			perror("trindle-jit: trindle_sync");
			return -1;
		}
		/* Nothing arrived: nobody else can send to our pipes now. */
		if (in.count == 0 && o->ended) {
			fprintf(stderr, "trindle-jit: worker ended without a result\n");
			return -1;
		}
		if (in.count == 0)
			sched_yield(); /* its closure notice is on the way */
		for (size_t i = 0; i < in.count; i++)
			handle(j, worker, inbox[i], o);
	}
	return 0;
}

static const char *access_text(int bits)
{
	static char text[64];

	snprintf(text, sizeof text, "%s%s%s%s",
			bits & TRINDLE_ACCESS_READ ? "|READ" : "",
			bits & TRINDLE_ACCESS_WRITE ? "|WRITE" : "",
			bits & TRINDLE_ACCESS_EXECUTE ? "|EXECUTE" : "",
			bits ? "" : "|none");
	return text + 1;
}

static const char *access_word(int access)
{
	return access == TRINDLE_ACCESS_WRITE ? "write"
		: access == TRINDLE_ACCESS_EXECUTE ? "execute" : "read";
}

/* Copies the program into a segment and makes it executable. */
static int load(const struct jit_program *prog, struct jit *j)
{
	trindle_buffer_t buf = { prog->code.length, prog->code.bytes };

	j->code = trindle_allocate(1, &buf);
	if (!j->code) {
		perror("trindle-jit: trindle_allocate");
		return -1;
	}
	int before = trindle_access(j->code);
	if (trindle_extend(j->code) != 0) {
		perror("trindle-jit: trindle_extend");
		return -1;
	}
	int after = trindle_access(j->code);
	printf("code: %zu bytes in segment %p\n", prog->code.length, (void *)j->code);
	printf("access before trindle_extend: %s\n", access_text(before));
	printf("access after trindle_extend: %s\n", access_text(after));
	if (after & TRINDLE_ACCESS_WRITE || !(after & TRINDLE_ACCESS_EXECUTE)) {
		fprintf(stderr, "trindle-jit: extended segment has access %s\n",
				access_text(after));
		return -1;
	}
	return 0;
}

/* Launches a worker and sends it the code segment (a send, not a move: we
 * keep running the code too). */
static trindle_pipe_t launch_with_code(const struct jit *j, trindle_entrypoint_t entry)
{
	trindle_pipe_t worker = trindle_launch(entry, 1, j->answers, j->errors);
	if (!worker) {
		perror("trindle-jit: trindle_launch");
		return NULL;
	}
	if (trindle_util_send(worker, j->code) != 0) {
		fprintf(stderr, "trindle-jit: could not send the code to the worker\n");
		return NULL;
	}
	return worker;
}

static void print_fault(const char *who, trindle_segment_t report)
{
	const trindle_fault_t *f = report;

	if (trindle_measure(report) < sizeof *f) {
		fprintf(stderr, "trindle-jit: %s aborted\n", who);
		return;
	}
	printf("%s faulted: %s at %p in segment %p (%s)\n", who,
			access_word(f->access), f->address, f->object,
			f->signal == SIGSEGV ? "SIGSEGV" : f->signal == SIGBUS ? "SIGBUS" : "?");
}

/* Runs the expression in a worker; prints the value.  Returns 0, or -1. */
static int calculate(const struct jit *j, const char *text)
{
	struct outcome o;
	trindle_pipe_t worker = launch_with_code(j, calculator_main);

	if (!worker || await_worker(j, worker, true, &o) != 0)
		return -1;
	int status = -1;
	if (o.report) {
		print_fault("calculator", o.report);
	} else if (trindle_measure(o.answer) != sizeof(struct answer)) {
		fprintf(stderr, "trindle-jit: malformed answer\n");
	} else if (((struct answer *)o.answer)->division_by_zero) {
		fprintf(stderr, "trindle-jit: division by zero in '%s'\n", text);
	} else {
		printf("%s = %" PRId64 "\n", text, ((struct answer *)o.answer)->value);
		status = 0;
	}
	if (trindle_util_release(o.answer) || trindle_util_release(o.report))
		return -1;
	return status;
}

/* Launches a worker whose entry point is the stub inside the extended
 * segment, then shows the same bytes are refused as data. */
static int run_stub(const struct jit *j, const struct jit_program *prog)
{
	trindle_entrypoint_t entry = (trindle_entrypoint_t)(j->code + prog->stub);
	struct outcome o;

	trindle_pipe_t worker = trindle_launch(entry, 1, NULL, j->errors);
	if (!worker) {
		perror("trindle-jit: launching the stub in the extended segment");
		return -1;
	}
	if (await_worker(j, worker, false, &o) != 0)
		return -1;
	if (o.report) {
		print_fault("stub worker", o.report);
		trindle_util_release(o.report);
		return -1;
	}
	printf("worker with entry point %p (in the extended segment) ran and ended\n",
			(void *)entry);

	/* The same single ret instruction in a segment that is not extended. */
	trindle_buffer_t buf = { 1, prog->code.bytes + prog->stub };
	unsigned char *data = trindle_allocate(1, &buf);
	if (!data) {
		perror("trindle-jit: trindle_allocate");
		return -1;
	}
	errno = 0;
	worker = trindle_launch((trindle_entrypoint_t)data, 1, NULL, j->errors);
	int refused = worker == NULL && errno == EINVAL;
	printf("entry point in a plain data segment: %s\n",
			refused ? "refused (EINVAL)" : "ACCEPTED");
	if (trindle_util_release(data) != 0 || !refused)
		return -1;
	return 0;
}

/* Shows that writing into the extended segment is refused by the MMU. */
static int poke(const struct jit *j)
{
	struct outcome o;
	trindle_pipe_t worker = launch_with_code(j, poker_main);

	if (!worker || await_worker(j, worker, true, &o) != 0)
		return -1;
	if (!o.report || o.answer) {
		fprintf(stderr, "trindle-jit: the write into the code was not refused\n");
		return -1;
	}
	print_fault("writer", o.report);
	const trindle_fault_t *f = o.report;
	int ok = trindle_measure(o.report) >= sizeof *f && f->object == j->code
		&& f->access == TRINDLE_ACCESS_WRITE;
	trindle_util_release(o.report);
	return ok ? 0 : -1;
}

static void dump(const struct jit_program *prog)
{
	for (size_t i = 0; i < prog->code.length; i++)
		printf("%02x%s", prog->code.bytes[i], i % 16 == 15 ? "\n" : " ");
	if (prog->code.length % 16)
		printf("\n");
}

static void usage(FILE *to)
{
	fprintf(to,
		"Usage: trindle-jit [--dump] [--poke] [--] EXPRESSION\n"
		"\n"
		"Compiles EXPRESSION (64-bit integers, + - * /, unary minus and\n"
		"parentheses) to x86-64 machine code in a libtrindle segment, makes\n"
		"the segment executable with trindle_extend() and runs the code in a\n"
		"worker process, which sends back the value.  Then it launches a worker\n"
		"whose entry point is inside that segment.\n"
		"\n"
		"  -d, --dump   print the generated machine code\n"
		"  -p, --poke   also let a worker try to write into the code segment\n"
		"               (the MMU refuses; the fault report is printed)\n"
		"  -h, --help   show this help\n"
		"\n"
		"Exit status: 0 on success, 1 for a syntax error, a division by zero\n"
		"or a failure of the runtime, 2 for bad usage.\n");
}

/* "-x" or "--xyz": an option; "-3+4" or "--5": an expression. */
static bool looks_like_option(const char *arg)
{
	if (arg[0] != '-')
		return false;
	while (*arg == '-')
		arg++;
	return *arg == '\0' || isalpha((unsigned char)*arg);
}

struct arguments {
	bool dump;
	bool poke;
	const char *text;
};

/* Returns 0 to go on, 1 when --help was shown, -1 for bad usage.  Options
 * are read by hand rather than with getopt, so that an expression such as
 * "-3+4" is not taken for an option. */
static int parse_arguments(int argc, char **argv, struct arguments *args)
{
	*args = (struct arguments){ 0 };
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i];
		if (!strcmp(arg, "-h") || !strcmp(arg, "--help")) {
			usage(stdout);
			return 1;
		} else if (!strcmp(arg, "-d") || !strcmp(arg, "--dump")) {
			args->dump = true;
		} else if (!strcmp(arg, "-p") || !strcmp(arg, "--poke")) {
			args->poke = true;
		} else if (!strcmp(arg, "--") && i == argc - 2 && !args->text) {
			args->text = argv[++i];
		} else if (!args->text && !looks_like_option(arg)) {
			args->text = arg;
		} else {
			usage(stderr);
			return -1;
		}
	}
	if (!args->text || strlen(args->text) > MAX_TEXT) {
		usage(stderr);
		return -1;
	}
	return 0;
}

/* Loads the program and runs each demonstration in turn. */
static int run(const struct arguments *args, const struct jit_program *prog)
{
	struct jit j = { 0 };

	j.answers = trindle_pipe(1);
	j.errors = trindle_pipe(1);
	if (!j.answers || !j.errors) {
		perror("trindle-jit: trindle_pipe");
		return -1;
	}
	int status = load(prog, &j);
	if (status == 0)
		status = calculate(&j, args->text);
	if (status == 0)
		status = run_stub(&j, prog);
	if (status == 0 && args->poke)
		status = poke(&j);

	trindle_message_t rel[3];
	trindle_util_batch_t out;

	trindle_util_batch_init(&out, rel, 3);
	trindle_util_add_release(&out, j.answers);
	trindle_util_add_release(&out, j.errors);
	trindle_util_add_release(&out, j.code); /* NULL: skipped */
	if (trindle_util_flush(&out, NULL) != 0)
		status = -1;
	return status;
}

int main(int argc, char **argv)
{
	struct arguments args;
	struct jit_program prog = { 0 };

	int parsed = parse_arguments(argc, argv, &args);
	if (parsed != 0)
		return parsed > 0 ? 0 : 2;
#if !defined(__x86_64__)
	printf("trindle-jit: this example generates x86-64 machine code, and this "
			"machine is not x86-64: nothing to run.\n");
	return 0;
#endif
	int status = jit_compile(args.text, &prog);
	if (status == 0 && args.dump)
		dump(&prog);
	if (status == 0)
		status = run(&args, &prog);
	free(prog.code.bytes);
	return status == 0 ? 0 : 1;
}
