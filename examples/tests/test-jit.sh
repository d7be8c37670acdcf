#!/bin/sh
# SPDX-License-Identifier: MIT
# Checks trindle-jit: expressions give their known values, the code segment
# loses WRITE when extended, a worker can start inside it, a data segment is
# refused as an entry point, a write into the code is reported as a fault,
# and bad input (syntax errors, division by zero) fails with a clear message.
set -eu

. "$(dirname "$0")/common.sh"

exe=$1

"$exe" --help | grep -q '^Usage: trindle-jit' || fail "--help"
if [ "$(uname -m)" != x86_64 ]; then
	echo "trindle-jit generates x86-64 code; this is $(uname -m)"
	exit 77
fi

# expression, expected value (worked out by hand, not by the program)
while read -r expr want; do
	out=$("$exe" "$expr") || fail "'$expr' exited with $?"
	printf '%s\n' "$out" | grep -qxF -- "$expr = $want" \
		|| { printf '%s\n' "$out"; fail "'$expr' should be $want"; }
done <<'LIST'
2*(3+4) 14
1+2*3 7
10-3-2 5
100/10/5 2
-7/2 -3
7/-2 -3
-(2+3)*4 -20
--5 5
(((((42))))) 42
9223372036854775807 9223372036854775807
-9223372036854775807-1 -9223372036854775808
LIST

out=$("$exe" '6*7')
printf '%s\n' "$out"
for line in 'access before trindle_extend: READ|WRITE' \
	    'access after trindle_extend: READ|EXECUTE' \
	    'entry point in a plain data segment: refused (EINVAL)'; do
	printf '%s\n' "$out" | grep -qxF "$line" || fail "missing: $line"
done
printf '%s\n' "$out" | grep -q '^worker with entry point 0x[0-9a-f]* (in the extended segment) ran and ended$' \
	|| fail "the worker started in the extended segment did not run"

# A write into the extended segment is refused by the MMU, in the segment
# the program reported.
out=$("$exe" --poke '1+1') || fail "--poke exited with $?"
printf '%s\n' "$out"
code=$(printf '%s\n' "$out" | sed -n 's/^code: [0-9]* bytes in segment \(0x[0-9a-f]*\)$/\1/p')
[ -n "$code" ] || fail "no code segment line"
printf '%s\n' "$out" | grep -qx "writer faulted: write at $code in segment $code (SIGSEGV)" \
	|| fail "no fault report for the write into $code"

# Bad input: nonzero exit and a message saying what is wrong.
expect_error() {
	if err=$("$exe" "$1" 2>&1 >/dev/null); then
		fail "'$1' was accepted"
	fi
	printf '%s\n' "$err"
	printf '%s\n' "$err" | grep -q -- "$2" || fail "'$1': expected '$2'"
}
expect_error '2*(3+4' "syntax error at column 7: expected ')'"
expect_error '2+' 'syntax error at column 3: unexpected end of expression'
expect_error '3 4' 'syntax error at column 3: unexpected character'
expect_error 'x' "syntax error at column 1: expected a number or '('"
expect_error '' 'syntax error at column 1'
expect_error '99999999999999999999' 'number too large'
expect_error '1/0' 'division by zero'
expect_error '7/(2-2)+1' 'division by zero'
if "$exe" >/dev/null 2>&1; then
	fail "no expression was accepted"
fi
echo "jit: OK"
