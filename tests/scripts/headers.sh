#!/bin/sh
# SPDX-License-Identifier: MIT
#
# headers.sh SOURCE_ROOT CC [CXX ...]
#
# Every public header must compile on its own, first in a file, as strict
# C11 and as C++, with the warnings a careful user turns on; a program
# including it must not need anything else.  Each compiler given is tried;
# a C++ compiler that is absent is skipped.
set -eu

root=${1:?usage: headers.sh SOURCE_ROOT CC [CXX ...]}
cc=${2:?usage: headers.sh SOURCE_ROOT CC [CXX ...]}
shift 2

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

headers="trindle.h"
for h in "$root"/include/trindle/*.h; do
	[ -e "$h" ] && headers="$headers trindle/$(basename "$h")"
done

status=0
for h in $headers; do
	printf '#include <%s>\nint main(void) { return 0; }\n' "$h" >"$tmp/c.c"
	if ! $cc -std=c11 -Wall -Wextra -Wpedantic -Werror -I"$root/include" \
		-c "$tmp/c.c" -o "$tmp/c.o"; then
		echo "FAIL: <$h> as C11 with $cc"
		status=1
	fi
	# trindle_io_report_t ends in a flexible array member, which C++
	# compilers take only as an extension: -Wpedantic would refuse it.
	pedantic=-Wpedantic
	[ "$h" = trindle/io.h ] && pedantic=
	for cxx in "$@"; do
		command -v "$cxx" >/dev/null 2>&1 || continue
		printf '#include <%s>\nint main() { return 0; }\n' "$h" >"$tmp/x.cc"
		if ! "$cxx" -std=c++11 -Wall -Wextra $pedantic -Werror \
			-I"$root/include" -c "$tmp/x.cc" -o "$tmp/x.o"; then
			echo "FAIL: <$h> as C++11 with $cxx"
			status=1
		fi
	done
done
[ $status -eq 0 ] && echo "headers compile alone as C11 and C++: $headers"
exit $status
