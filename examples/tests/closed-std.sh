#!/bin/sh
# SPDX-License-Identifier: MIT
#
# closed-std.sh TOOL BINARY [RUNS] [LINES]
#
# Runs trindle-TOOL (wc, grep or sort) with standard input closed, standard
# output closed, standard output on /dev/full, both closed, and closed
# standard output before a FILE argument (the file must not be written, and
# nothing may go into a descriptor that took number 1), RUNS times each
# under `timeout 10` (a hang fails instead of blocking), and checks the exit
# status and standard output against LC_ALL=C wc, grep -F or sort run the
# same way, and that standard error says what went wrong: "write error"
# and the error's text for output, the error and the name of standard
# input for input.  Then bad option values (usage errors, the reference's
# status for an unknown option) and a directory as FILE.
set -u
export LC_ALL=C
. "$(dirname "$0")/common.sh"

tool=$1 bin=$2 runs=${3:-20} lines=${4:-300000}
dir=$(mktemp -d "${TMPDIR:-/tmp}/trindle-std-XXXXXX") || exit 1
trap 'rm -rf "$dir"' EXIT INT TERM
# More output than two of the tools' 1 MiB output segments.
seq 1 "$lines" >"$dir/big.txt"
cp "$dir/big.txt" "$dir/big.orig"
printf 'one needle\ntwo\n' >"$dir/small.txt"
mkdir "$dir/adir"
pattern=1
fails=0 total=0

ours() {
	case $tool in
	grep) timeout 10 "$bin" -j 2 -- "$pattern" "$@" ;;
	*) timeout 10 "$bin" -j 2 "$@" ;;
	esac
}

# redirected MODE CMD ARGS...: runs the command with MODE's redirections;
# its standard output (when open) goes to $dir/out, standard error to
# $dir/err.
redirected() {
	mode=$1
	shift
	case $mode in
	plain) "$@" >"$dir/out" 2>"$dir/err" ;;
	in-closed) "$@" <&- >"$dir/out" 2>"$dir/err" ;;
	out-closed) "$@" >&- 2>"$dir/err" ;;
	out-full) "$@" >/dev/full 2>"$dir/err" ;;
	both-closed) "$@" <&- >&- 2>"$dir/err" ;;
	in-file-out-closed) "$@" <"$dir/big.txt" >&- 2>"$dir/err" ;;
	esac
}

bad() {
	echo "FAIL $tool $label: $*"
	sed 's/^/    stderr: /' "$dir/err" | head -5
	fails=$((fails + 1))
}

# check LABEL MODE ERROR_TEXT [FILE...]: ERROR_TEXT is what standard error
# must hold when the reference complains (besides "write error" for the
# output modes).
check() {
	label=$1 mode=$2 text=$3
	shift 3
	: >"$dir/out"
	redirected "$mode" reference "$@"
	ref_rc=$?
	cp "$dir/out" "$dir/ref.out"
	cp "$dir/err" "$dir/ref.err"
	i=0
	while [ "$i" -lt "$runs" ]; do
		i=$((i + 1))
		total=$((total + 1))
		: >"$dir/out"
		redirected "$mode" ours "$@"
		rc=$?
		# The one line that says io_uring is not used may come too.
		grep -v '^trindle: .*pread/pwrite$' "$dir/err" >"$dir/err2"
		mv "$dir/err2" "$dir/err"
		if [ "$rc" = 124 ]; then
			bad "run $i timed out"
			continue
		fi
		[ "$rc" = "$ref_rc" ] || { bad "run $i: exit $rc, expected $ref_rc"; continue; }
		cmp -s "$dir/out" "$dir/ref.out" || { bad "run $i: stdout differs"; continue; }
		cmp -s "$dir/big.txt" "$dir/big.orig" || { bad "run $i: input written"; break; }
		if [ ! -s "$dir/ref.err" ]; then
			[ ! -s "$dir/err" ] || bad "run $i: unexpected message"
			continue
		fi
		[ -s "$dir/err" ] || { bad "run $i: no message"; continue; }
		grep -q "$text" "$dir/err" || { bad "run $i: no '$text'"; continue; }
		case $mode in
		out-*|in-file-out-closed)
			grep -q 'write error' "$dir/ref.err" ||
				bad "the reference said no write error"
			grep -q "^trindle-$tool: write error" "$dir/err" ||
				bad "run $i: no write error" ;;
		in-closed)
			grep -q 'standard input\|: -:' "$dir/err" ||
				bad "run $i: standard input not named"
			! grep -q 'standard output' "$dir/err" ||
				bad "run $i: standard output named" ;;
		esac
	done
}

ebadf='Bad file descriptor'
check stdin-closed in-closed "$ebadf"
check stdin-closed-dash in-closed "$ebadf" -
check stdout-closed out-closed "$ebadf" "$dir/big.txt"
check stdout-closed-stdin in-file-out-closed "$ebadf"
check stdout-full out-full 'No space left on device' "$dir/big.txt"
check both-closed both-closed "$ebadf"
check both-closed-file both-closed "$ebadf" "$dir/small.txt"
if [ "$tool" = grep ]; then
	pattern=absent-zz-qq # nothing written: no error, status 1
	check no-match-stdout-closed out-closed "$ebadf" "$dir/big.txt"
	pattern=1
fi
# A directory: the reference's output (wc: a line of zeros) and status.
runs=3 check directory plain 'Is a directory' "$dir/adir"

# Bad option values are usage errors, before anything starts: the
# reference's status for an unknown option, and a message.
reference --no-such-option-zz </dev/null >/dev/null 2>&1
usage_rc=$?
for opt in "--chunk -5" "--chunk 1073741825" "--chunk 12x" "--chunk ''" \
	"-j 0" "-j 257" "-j -1"; do
	label="option $opt"
	total=$((total + 1))
	eval "set -- $opt"
	case $tool in
	grep) timeout 10 "$bin" "$@" -- x "$dir/small.txt" ;;
	*) timeout 10 "$bin" "$@" "$dir/small.txt" ;;
	esac >"$dir/out" 2>"$dir/err"
	rc=$?
	[ "$rc" = "$usage_rc" ] || bad "exit $rc, expected $usage_rc"
	[ ! -s "$dir/out" ] || bad "output written"
	grep -q "^trindle-$tool: invalid" "$dir/err" || bad "no message"
done

echo "$tool: $total runs, $fails failed"
[ "$fails" = 0 ]
