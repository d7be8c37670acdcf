/* SPDX-License-Identifier: MIT */
/*
 * jit-compile.c - the expression compiler of trindle-jit (see
 * jit-compile.h): a recursive-descent parser that emits x86-64 code for a
 * stack machine as it goes.
 */
#include "jit-compile.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 64  /* deepest nesting of parentheses and unary minus */

/* ---- the code buffer ---- */

static void emit(struct jit_code *c, const void *bytes, size_t n)
{
	if (c->out_of_memory)
		return;
	if (c->length + n > c->capacity) {
		size_t capacity = c->capacity ? 2 * c->capacity : 256;
		unsigned char *grown = realloc(c->bytes, capacity);
		if (!grown) {
			c->out_of_memory = true;
			return;
		}
		c->bytes = grown;
		c->capacity = capacity;
	}
	memcpy(c->bytes + c->length, bytes, n);
	c->length += n;
}

#define EMIT(c, ...) do {                                       \
		static const unsigned char insn_[] = { __VA_ARGS__ };  \
		emit((c), insn_, sizeof insn_);                        \
	} while (0)

/* Pads with int3 (a trap) up to a multiple of 16 bytes. */
static void align16(struct jit_code *c)
{
	while (c->length % 16)
		EMIT(c, 0xcc);
}

/*
 * The generated function is a stack machine: every number is pushed, every
 * operator pops its operands and pushes its result.  It sets up a frame
 * (push rbp; mov rbp, rsp) so that the division-by-zero exit can drop
 * whatever is still on the stack with mov rsp, rbp.
 *
 * Layout: the function starts at offset 0 with a jump over that exit, so
 * the segment's own address is the function pointer, and every division
 * jumps backwards to a place already known when it is emitted.
 */
#define DIVISION_ERROR 5 /* right after the 5-byte jmp at offset 0 */

static void emit_division_error(struct jit_code *c)
{
	EMIT(c, 0xe9, 0, 0, 0, 0); /* jmp rel32, patched below */
	EMIT(c, 0xc7, 0x07, 0x01, 0x00, 0x00, 0x00); /* mov dword [rdi], 1 */
	EMIT(c, 0x31, 0xc0);                         /* xor eax, eax */
	EMIT(c, 0x48, 0x89, 0xec);                   /* mov rsp, rbp */
	EMIT(c, 0x5d);                               /* pop rbp */
	EMIT(c, 0xc3);                               /* ret */
	align16(c);
	if (!c->out_of_memory) {
		int32_t rel = (int32_t)(c->length - DIVISION_ERROR);
		memcpy(c->bytes + 1, &rel, 4);
	}
}

static void emit_prologue(struct jit_code *c)
{
	EMIT(c, 0x55);             /* push rbp */
	EMIT(c, 0x48, 0x89, 0xe5); /* mov rbp, rsp */
}

static void emit_epilogue(struct jit_code *c)
{
	EMIT(c, 0x58); /* pop rax: the value of the whole expression */
	EMIT(c, 0x5d); /* pop rbp */
	EMIT(c, 0xc3); /* ret */
}

static void emit_number(struct jit_code *c, int64_t value)
{
	unsigned char insn[10] = { 0x48, 0xb8 }; /* mov rax, imm64 */

	memcpy(insn + 2, &value, 8); /* x86-64 is little-endian, like imm64 */
	emit(c, insn, sizeof insn);
	EMIT(c, 0x50); /* push rax */
}

static void emit_negate(struct jit_code *c)
{
	EMIT(c, 0x58);             /* pop rax */
	EMIT(c, 0x48, 0xf7, 0xd8); /* neg rax */
	EMIT(c, 0x50);             /* push rax */
}

/* rax / rcx, with the two cases where idiv would trap handled first. */
static void emit_divide(struct jit_code *c)
{
	EMIT(c, 0x48, 0x85, 0xc9); /* test rcx, rcx */
	/* jz DIVISION_ERROR: rel32 counts from the end of the jump. */
	int32_t rel = (int32_t)(DIVISION_ERROR - (int64_t)(c->length + 6));
	unsigned char jz[6] = { 0x0f, 0x84 };
	memcpy(jz + 2, &rel, 4);
	emit(c, jz, sizeof jz);
	/* INT64_MIN / -1 overflows and traps in idiv: negate instead (which
	 * wraps, like the other operators). */
	EMIT(c, 0x48, 0x83, 0xf9, 0xff); /* cmp rcx, -1 */
	EMIT(c, 0x75, 0x05);             /* jne +5 (to cqo) */
	EMIT(c, 0x48, 0xf7, 0xd8);       /* neg rax */
	EMIT(c, 0xeb, 0x05);             /* jmp +5 (past idiv) */
	EMIT(c, 0x48, 0x99);             /* cqo: sign-extend rax into rdx */
	EMIT(c, 0x48, 0xf7, 0xf9);       /* idiv rcx */
}

static void emit_operator(struct jit_code *c, char op)
{
	EMIT(c, 0x59); /* pop rcx: right operand */
	EMIT(c, 0x58); /* pop rax: left operand */
	switch (op) {
	case '+': EMIT(c, 0x48, 0x01, 0xc8); break;       /* add rax, rcx */
	case '-': EMIT(c, 0x48, 0x29, 0xc8); break;       /* sub rax, rcx */
	case '*': EMIT(c, 0x48, 0x0f, 0xaf, 0xc1); break; /* imul rax, rcx */
	case '/': emit_divide(c); break;
	}
	EMIT(c, 0x50); /* push rax */
}

/* A worker entry point that does nothing: returning from the entry ends the
 * worker like trindle_exit(NULL). */
static void emit_stub_entry(struct jit_code *c)
{
	align16(c);
	EMIT(c, 0xc3); /* ret */
}

/* ---- the parser (recursive descent, emitting as it goes) ---- */

struct parser {
	const char *text;  /* the whole expression */
	const char *at;    /* next character to read */
	int depth;         /* current nesting */
	struct jit_code *code;
	const char *error; /* the first error, or NULL */
	size_t error_at;   /* its offset in text */
};

static void parse_error(struct parser *p, const char *message)
{
	if (!p->error) {
		p->error = message;
		p->error_at = (size_t)(p->at - p->text);
	}
}

/* Returns the next non-blank character without consuming it. */
static char peek(struct parser *p)
{
	while (*p->at == ' ' || *p->at == '\t')
		p->at++;
	return *p->at;
}

static void parse_expression(struct parser *p);
static void parse_term(struct parser *p);

static void parse_number(struct parser *p)
{
	const char *start = p->at;
	int64_t value = 0;

	while (*p->at >= '0' && *p->at <= '9') {
		int digit = *p->at - '0';
		if (value > (INT64_MAX - digit) / 10) {
			p->at = start; /* point at the number, not into it */
			parse_error(p, "number too large for 64 bits");
			return;
		}
		value = value * 10 + digit;
		p->at++;
	}
	emit_number(p->code, value);
}

/* primary := number | '(' expression ')' */
static void parse_primary(struct parser *p)
{
	char ch = peek(p);

	if (ch >= '0' && ch <= '9') {
		parse_number(p);
	} else if (ch == '(') {
		p->at++;
		parse_expression(p);
		if (peek(p) != ')')
			parse_error(p, "expected ')'");
		else
			p->at++;
	} else {
		parse_error(p, ch ? "expected a number or '('" : "unexpected end of expression");
	}
}

/* unary := '-' unary | '+' unary | primary */
static void parse_unary(struct parser *p)
{
	char ch = peek(p);

	if (++p->depth > MAX_DEPTH) {
		parse_error(p, "nested too deeply");
	} else if (ch == '-' || ch == '+') {
		p->at++;
		parse_unary(p);
		if (ch == '-')
			emit_negate(p->code);
	} else {
		parse_primary(p);
	}
	p->depth--;
}

/*
 * expression := term (('+' | '-') term)*
 * term       := unary (('*' | '/') unary)*
 *
 * Both are a chain of left-associative operators of one precedence: level
 * 0 is an expression, level 1 a term.
 */
static void parse_chain(struct parser *p, int level)
{
	static const char *const operators[] = { "+-", "*/" };
	/* An operand of an expression is a term; of a term, a unary. */
	void (*operand)(struct parser *) = level == 0 ? parse_term : parse_unary;

	operand(p);
	for (char op = peek(p); !p->error && op && strchr(operators[level], op);
			op = peek(p)) {
		p->at++;
		operand(p);
		emit_operator(p->code, op);
	}
}

static void parse_term(struct parser *p)
{
	parse_chain(p, 1);
}

static void parse_expression(struct parser *p)
{
	parse_chain(p, 0);
}

int jit_compile(const char *text, struct jit_program *prog)
{
	struct parser p = { .text = text, .at = text, .code = &prog->code };

	emit_division_error(&prog->code);
	emit_prologue(&prog->code);
	parse_expression(&p);
	if (!p.error && peek(&p) != '\0')
		parse_error(&p, "unexpected character");
	emit_epilogue(&prog->code);
	emit_stub_entry(&prog->code);
	prog->stub = prog->code.length - 1;

	if (p.error) {
		fprintf(stderr, "trindle-jit: syntax error at column %zu: %s\n"
				"  %s\n  %*s^\n", p.error_at + 1, p.error, text,
				(int)p.error_at, "");
		return -1;
	}
	if (prog->code.out_of_memory) {
		fprintf(stderr, "trindle-jit: out of memory\n");
		return -1;
	}
	return 0;
}

