#!/bin/sh
# SPDX-License-Identifier: MIT
# Checks trindle-pipeline: with 1, 2 and 4 workers it must print the same
# checksum, that checksum must match the sequential recomputation done by
# --verify (which does not use the library), every chunk must be counted
# once across the workers, and bad arguments must be refused.
set -eu

. "$(dirname "$0")/common.sh"

exe=$1
chunks=${TRINDLE_EXAMPLE_CHUNKS:-48}

"$exe" --help | grep -q '^Usage: trindle-pipeline' || fail "--help"

first=""
for j in 1 2 4; do
	out=$("$exe" -n "$chunks" -j "$j" --verify) || fail "-j $j exited with $?"
	printf '%s\n' "$out"
	printf '%s\n' "$out" | grep -q '^verify: sequential checksum [0-9a-f]*: match$' \
		|| fail "-j $j: checksum differs from the sequential one"
	sum=$(printf '%s\n' "$out" | sed -n 's/^checksum: \([0-9a-f]\{16\}\)$/\1/p')
	[ -n "$sum" ] || fail "-j $j: no checksum line"
	[ -z "$first" ] && first=$sum
	[ "$sum" = "$first" ] || fail "-j $j gave $sum, -j 1 gave $first"
	counted=$(printf '%s\n' "$out" | sed -n 's/^  worker [0-9]*: \([0-9]*\) chunks$/\1/p' \
		| awk '{ s += $1 } END { print s + 0 }')
	[ "$counted" = "$chunks" ] || fail "-j $j: workers counted $counted chunks, not $chunks"
done

# --trace and --graph write their files (checked in depth by the
# library's tests: tests/scripts/check-trace.py, check-graph.py).
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$exe" -n 8 -j 2 --trace "$tmp/t.json" --graph "$tmp/g.dot" >/dev/null ||
	fail "--trace/--graph run failed"
grep -q '"traceEvents"' "$tmp/t.json" || fail "--trace wrote no trace"
grep -q 'worker 1' "$tmp/t.json" || fail "the trace does not name worker 1"
grep -q 'label="source' "$tmp/g.dot" || fail "--graph wrote no source box"
grep -q -- '->' "$tmp/g.dot" || fail "--graph wrote no edge"
if command -v python3 >/dev/null; then
	python3 -c 'import json, sys; json.load(open(sys.argv[1]))' \
		"$tmp/t.json" || fail "--trace wrote invalid JSON"
fi

# Another seed is another stream.
other=$("$exe" -n "$chunks" -j 2 -s 2 | sed -n 's/^checksum: //p')
[ "$other" != "$first" ] || fail "seed 2 gave the same checksum as seed 1"

for bad in "-j 0" "-j 65" "-n 0" "-n x" "extra"; do
	# shellcheck disable=SC2086
	if "$exe" $bad >/dev/null 2>&1; then
		fail "'$bad' was accepted"
	fi
done
echo "pipeline: OK ($first)"
