#!/usr/bin/env bash
# Builds the libFuzzer target tests/fuzz/fuzz_sync.c with clang (ASan +
# UBSan) and runs it for a bounded time on a copy of tests/fuzz/corpus.
#
#   tests/fuzz/run.sh [SECONDS] [libFuzzer options...]   (default 60 s)
#
# The library goes into build-fuzz/ (meson, clang, -fsanitize=fuzzer-no-link,
# static), the target into build-fuzz/fuzz_sync.  New inputs libFuzzer finds
# stay in build-fuzz/corpus; a crash (a model mismatch aborts) is written
# as build-fuzz/crash-*.  Keep every crash: copy it into tests/fuzz/corpus/
# (named after what it found) so that test_model replays it from then on.
# The library handles SIGSEGV itself: libFuzzer and ASan must leave it be.
set -euo pipefail
cd "$(dirname "$0")/../.."

secs=${1:-60}
[ $# -gt 0 ] && shift
dir=build-fuzz

if [ ! -d "$dir" ]; then
	CC=clang meson setup "$dir" -Dsanitizers=address -Dtests=false \
		-Dexamples=false -Dbenchmarks=false -Ddefault_library=static \
		-Dc_args=-fsanitize=fuzzer-no-link >/dev/null
fi
meson compile -C "$dir" >/dev/null
libs=$(meson introspect "$dir" --dependencies |
	python3 -c 'import json,sys; print(" ".join(a for d in json.load(sys.stdin) if d["name"] in ("liburing",) for a in d.get("link_args", [])))')
clang -std=c11 -D_GNU_SOURCE -g -O1 -Wall \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
	-Iinclude -Itests tests/fuzz/fuzz_sync.c tests/model.c tests/model_run.c \
	"$dir/src/libtrindle.a" $libs -lpthread -o "$dir/fuzz_sync"

mkdir -p "$dir/corpus"
export ASAN_OPTIONS=allow_user_segv_handler=1:handle_segv=0:handle_sigbus=0:detect_leaks=1:abort_on_error=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
# Inputs first from the working corpus (where new ones are written), then
# from the checked-in one (read only).
exec "$dir/fuzz_sync" -handle_segv=0 -handle_bus=0 -max_total_time="$secs" \
	-timeout=60 -max_len=4096 -rss_limit_mb=4096 -print_final_stats=1 \
	-artifact_prefix="$dir/" "$@" "$dir/corpus" tests/fuzz/corpus
