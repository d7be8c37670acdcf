#!/usr/bin/env bash
# The main job: builds libtrindle and runs its example pipelines end to end:
#  1. trindle-pipeline: a source, workers and a sink moving 64 KiB segments
#     between processes (no byte copied), checksum verified without the
#     library;
#  2. trindle-wc on a generated 64 MiB text file, read by the io_uring file
#     source, counted by parallel workers, and compared with coreutils wc.
# Installs missing Debian packages first (tools/deps.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

tools/deps.sh
if [ ! -d build ]; then
	meson setup build >/dev/null
fi
meson compile -C build >/dev/null

echo "== trindle-pipeline -n 1024 -j 2 --verify"
build/examples/trindle-pipeline -n 1024 -j 2 --verify

input=$(mktemp /tmp/trindle-demo.XXXXXX)
trap 'rm -f "$input"' EXIT
# A text corpus: numbered lines of varying length, some long, some empty.
awk 'BEGIN { srand(7); for (i = 0; i < 1200000; i++) {
	n = int(rand() * 12); line = "line " i;
	for (j = 0; j < n; j++) line = line " word" int(rand() * 1000);
	if (i % 97 == 0) line = "";
	print line } }' > "$input"
echo
echo "== trindle-wc on a generated $(du -h "$input" | cut -f1) file, next to coreutils wc"
time build/examples/trindle-wc "$input"
LC_ALL=C wc "$input"
if [ "$(build/examples/trindle-wc "$input")" = "$(LC_ALL=C wc "$input")" ]; then
	echo "same output as wc"
else
	echo "trindle-wc and wc disagree" >&2
	exit 1
fi
