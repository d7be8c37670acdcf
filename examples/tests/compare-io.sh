#!/bin/sh
# SPDX-License-Identifier: MIT
#
# compare-io.sh TOOL BINARY CORPUS_GENERATOR [CORPUS_MIB]
#
# Runs trindle-TOOL (wc, grep or sort) on the generated corpus and its edge
# cases, with several worker counts and chunk sizes, from a file, from
# standard input redirected from a file, and from a pipe, with io_uring and
# with the pread/pwrite fallback (TRINDLE_IO_URING=0), and checks that its
# standard output and exit status are those of LC_ALL=C wc, grep -F or
# sort, byte for byte.  Its standard error must be empty, except for the
# one line that announces the fallback.
set -u
export LC_ALL=C
. "$(dirname "$0")/common.sh"

tool=$1 bin=$2 gen=$3 mib=${4:-3}
dir=$(mktemp -d "${TMPDIR:-/tmp}/trindle-io-XXXXXX") || exit 1
trap 'rm -rf "$dir"' EXIT INT TERM
"$gen" "$dir" "$mib" || exit 1
fails=0 runs=0
pattern=needle

ours() { # -j N --chunk BYTES [FILE]: the arguments come in that order
	case $tool in
	grep)
		a=$1 b=$2 c=$3 d=$4
		shift 4
		"$bin" "$a" "$b" "$c" "$d" -- "$pattern" "$@" ;;
	*) "$bin" "$@" ;;
	esac
}

# check LABEL JOBS CHUNK MODE FILE: MODE is file, redirect or pipe.
check() {
	label=$1 jobs=$2 chunk=$3 mode=$4 file=$dir/$5
	case $mode in
	file)
		reference "$file" >"$dir/ref.out" 2>/dev/null; ref_rc=$?
		set -- -j "$jobs" --chunk "$chunk" "$file" ;;
	redirect)
		reference <"$file" >"$dir/ref.out" 2>/dev/null; ref_rc=$?
		set -- -j "$jobs" --chunk "$chunk" ;;
	pipe)
		cat "$file" | reference - >"$dir/ref.out" 2>/dev/null; ref_rc=$?
		set -- -j "$jobs" --chunk "$chunk" - ;;
	esac
	case $mode in
	file) ours "$@" >"$dir/our.out" 2>"$dir/our.err"; our_rc=$? ;;
	redirect) ours "$@" <"$file" >"$dir/our.out" 2>"$dir/our.err"; our_rc=$? ;;
	pipe) cat "$file" | ours "$@" >"$dir/our.out" 2>"$dir/our.err"; our_rc=$? ;;
	esac
	runs=$((runs + 1))
	why=
	cmp -s "$dir/ref.out" "$dir/our.out" || why="output differs"
	[ "$ref_rc" = "$our_rc" ] || why="$why exit $our_rc, expected $ref_rc"
	# Allowed on stderr: the one line saying io_uring is not used.
	extra=$(grep -v '^trindle: .*pread/pwrite$' "$dir/our.err")
	notices=$(grep -c '^trindle: .*pread/pwrite$' "$dir/our.err")
	[ -z "$extra" ] || why="$why stderr: $extra"
	[ "$notices" -le 1 ] || why="$why $notices fallback notices"
	if [ "${TRINDLE_IO_URING-}" = 0 ] && [ "$notices" != 1 ]; then
		why="$why no fallback notice"
	fi
	if [ -n "$why" ]; then
		echo "FAIL $tool $label: -j $jobs --chunk $chunk $mode $5:$why"
		cmp "$dir/ref.out" "$dir/our.out" | head -3
		fails=$((fails + 1))
	fi
}

# The corpus, from a file, with several worker counts and chunk sizes
# (4 KiB and 1000 bytes are far below its longest lines).
for jc in "1 1048576" "2 4096" "3 65536" "7 1000"; do
	set -- $jc
	check corpus "$1" "$2" file corpus.txt
done
check stdin 2 4096 redirect corpus.txt
check pipe 2 4096 pipe corpus.txt
check pipe-small 3 1000 pipe longline.txt

# The edge cases, and chunks of a few bytes (words and lines straddle
# almost every cut).
for f in empty.txt nonl.txt newlines.txt blank.txt longline.txt; do
	check edge 2 1000 file "$f"
done
for f in nonl.txt newlines.txt blank.txt; do
	check tiny-chunks 3 7 file "$f"
done

# The same with the fallback forced.
TRINDLE_IO_URING=0 check fallback 2 4096 file corpus.txt
TRINDLE_IO_URING=0 check fallback-pipe 2 4096 pipe corpus.txt

# grep: other patterns (UTF-8, a space inside, none matching, empty,
# two patterns in one argument).
if [ "$tool" = grep ]; then
	for p in "$(printf '\303\251')" "stack hay" absent-zz-qq "" \
		"$(printf 'needle\nZebra')"; do
		pattern=$p
		check pattern 2 4096 file corpus.txt
	done
	pattern=needle
fi

# A missing file: the reference's exit status, and a message.
ours -j 2 --chunk 4096 "$dir/missing" >/dev/null 2>"$dir/our.err"
our_rc=$?
reference "$dir/missing" >/dev/null 2>&1
ref_rc=$?
runs=$((runs + 1))
if [ "$our_rc" != "$ref_rc" ] || ! grep -q 'No such file' "$dir/our.err"; then
	echo "FAIL $tool missing file: exit $our_rc, expected $ref_rc"
	fails=$((fails + 1))
fi

# --help works and exits 0.
"$bin" --help | grep -q "^Usage: trindle-$tool" || {
	echo "FAIL $tool --help"; fails=$((fails + 1)); }

echo "$tool: $runs runs, $fails failed"
[ "$fails" = 0 ]
