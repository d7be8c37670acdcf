#!/bin/sh
# SPDX-License-Identifier: MIT
# progress.sh TOOL: --progress shows a line on stderr once the input takes
# more than a second (here: standard input that pauses 1.5 s halfway), and
# the tool's output is unchanged; without --progress, or when the input
# is read in less than a second, stderr stays empty.
set -eu

. "$(dirname "$0")/common.sh"

exe=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
i=0
while [ $i -lt 2000 ]; do
	echo "line $i of the progress test"
	i=$((i + 1))
done >"$tmp/half"

{ cat "$tmp/half"; sleep 1.5; cat "$tmp/half"; } |
	"$exe" --progress >"$tmp/out" 2>"$tmp/err" || fail "--progress run failed"
cat "$tmp/half" "$tmp/half" | "$exe" >"$tmp/want" || fail "plain run failed"
cmp -s "$tmp/out" "$tmp/want" || fail "--progress changed the output"
grep -q 'MiB read, .* MiB/s, .* s' "$tmp/err" ||
	fail "no progress line: $(cat "$tmp/err")"

# A file read within a second: no line, even when asked; and never
# without --progress.
"$exe" --progress "$tmp/half" >/dev/null 2>"$tmp/err2" || fail "file run failed"
[ ! -s "$tmp/err2" ] || fail "a quick input showed progress: $(cat "$tmp/err2")"
{ cat "$tmp/half"; sleep 1.5; cat "$tmp/half"; } | "$exe" >/dev/null 2>"$tmp/err3"
[ ! -s "$tmp/err3" ] || fail "progress without --progress: $(cat "$tmp/err3")"
echo "progress: ok"
