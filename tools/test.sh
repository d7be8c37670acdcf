#!/usr/bin/env bash
# Builds libtrindle and runs its test suite.
#
#   tools/test.sh         the plain build (build/), warnings as errors
#   tools/test.sh --all   also AddressSanitizer+UBSan (build-asan/) and
#                         ThreadSanitizer (build-tsan/) builds, a valgrind
#                         run, a bounded libFuzzer run (build-fuzz/), and an
#                         installed-package consumer build
#
# Installs missing Debian packages first (tools/deps.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

all=false
[ "${1:-}" = "--all" ] && all=true

tools/deps.sh

build() { # dir, meson options...
	local dir=$1; shift
	if [ -d "$dir" ]; then
		meson setup --reconfigure "$dir" "$@" >/dev/null
	else
		meson setup "$dir" "$@" >/dev/null
	fi
	meson compile -C "$dir"
}

step() { printf '\n=== %s\n' "$*"; }

step "plain build: meson test"
build build -Dwerror=true
meson test -C build --print-errorlogs

$all || exit 0

step "stress at scale 10 (millions of messages): meson test"
TRINDLE_TEST_SCALE=10 meson test -C build --print-errorlogs --suite stress
# The MPI bridge's million messages (its suite runs a tenth in the plain
# step); skipped where MPI is not installed.
if meson test -C build --list 2>/dev/null | grep -q 'mpi-million'; then
	TRINDLE_TEST_SCALE=10 meson test -C build --print-errorlogs mpi-million
fi

step "AddressSanitizer + UBSan: meson test"
build build-asan -Dsanitizers=address -Dbenchmarks=false
meson test -C build-asan --print-errorlogs --timeout-multiplier 3

step "ThreadSanitizer: meson test"
build build-tsan -Dsanitizers=thread -Dbenchmarks=false
meson test -C build-tsan --print-errorlogs --timeout-multiplier 4

step "valgrind (memcheck, leaks): meson test"
meson test -C build --setup valgrind --print-errorlogs \
	--suite objects --suite segments --suite pipes --suite bad_input \
	--suite sync --suite processes --suite faults --suite debug --suite memory \
	--suite retain --suite util --suite roots --suite regress --suite cache \
	--suite inspect --suite stall

step "fuzzer: tests/fuzz/fuzz_sync.c (libFuzzer, clang, ASan+UBSan), 75 s"
tests/fuzz/run.sh 75

step "install, then build an example against the installed package"
dest=$(mktemp -d)
trap 'rm -rf "$dest"' EXIT
meson install -C build --destdir "$dest" >/dev/null
mandir=$(dirname "$(find "$dest" -name trindle.7 | head -n1)")/..
for page in man/*.[0-9]; do # every page, in man3/ or man7/
	[ -f "$mandir/man${page##*.}/${page##*/}" ] ||
		{ echo "not installed: $page"; exit 1; }
done
for page in "$mandir"/man*/*; do # and the links resolve
	[ -e "$page" ] || { echo "dangling man page link: $page"; exit 1; }
done
prefix=$(meson introspect build --buildoptions |
	python3 -c 'import json,sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"]=="prefix"))')
pcdir=$(dirname "$(find "$dest" -name trindle.pc | head -n1)")
export PKG_CONFIG_PATH=$pcdir PKG_CONFIG_SYSROOT_DIR=$dest
cc -std=c11 -Wall -Wextra -Wpedantic -Werror -o "$dest/consumer" tools/consumer.c \
	$(pkg-config --cflags --libs trindle)
LD_LIBRARY_PATH=$(dirname "$(find "$dest" -name 'libtrindle.so' | head -n1)") "$dest/consumer"
echo "consumer built with pkg-config and ran (prefix $prefix)"
