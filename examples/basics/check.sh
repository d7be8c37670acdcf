#!/bin/sh
# SPDX-License-Identifier: MIT
#
# check.sh NAME EXE: runs one of the small examples and compares what it
# prints with what it must print.  The expected lines below are worked out
# from each example's design (its constants, the file sizes made here),
# not taken from a run.
set -eu

name=${1:?usage: check.sh NAME EXE}
exe=${2:?usage: check.sh NAME EXE}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

fail() { echo "basics-$name: $*" >&2; exit 1; }

# Runs exe with arguments and compares its standard output with the text
# on standard input; the exit status must be 0.
expect() {
	cat >"$tmp/want"
	"$exe" "$@" >"$tmp/got" || fail "exited with status $?"
	diff -u "$tmp/want" "$tmp/got" || fail "unexpected output"
}

case $name in
move)
	expect <<'OUT'
2 4 6
OUT
	;;
share)
	expect <<'OUT'
main: wrote "hello", access read write
main: shared it, access read only
worker: read "hello", access read only
main: the worker let go, access read write
main: wrote "HELLO"
main: the worker has ended
OUT
	;;
fan-in)
	expect <<'OUT'
producer 0: 500 messages, in order
producer 1: 500 messages, in order
producer 2: 500 messages, in order
producer 3: 500 messages, in order
4 producers ended; 2000 messages, each received once
OUT
	;;
copy)
	# 16 chunks of 64 KiB and a short one; an empty file; a missing one.
	head -c 1052897 /dev/urandom >"$tmp/in"
	expect "$tmp/in" "$tmp/out" <<'OUT'
copied 1052897 bytes
OUT
	cmp "$tmp/in" "$tmp/out" || fail "the copy differs from its input"
	: >"$tmp/empty"
	expect "$tmp/empty" "$tmp/out0" <<'OUT'
copied 0 bytes
OUT
	cmp "$tmp/empty" "$tmp/out0" || fail "the empty copy is not empty"
	if "$exe" "$tmp/missing" "$tmp/out1" >"$tmp/got" 2>"$tmp/err"; then
		fail "copying a missing file succeeded"
	fi
	[ ! -s "$tmp/got" ] || fail "printed a result for a missing file"
	grep -q "^trindle: file source: open $tmp/missing: " "$tmp/err" ||
		{ cat "$tmp/err"; fail "no report of the failed open"; }
	;;
*)
	fail "unknown example"
	;;
esac
echo "basics-$name: as expected"
