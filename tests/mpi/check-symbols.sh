#!/bin/sh
# SPDX-License-Identifier: MIT
#
# check-symbols.sh LIBTRINDLE-MPI MPI.H
#
# libtrindle-mpi exports exactly the functions <trindle/mpi.h> declares
# with TRINDLE_MPI_PUBLIC (tests/scripts/check-symbols.sh does the same
# for libtrindle and TRINDLE_PUBLIC).
set -eu
lib=$1 header=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
nm -D --defined-only "$lib" | awk '$2 != "A" { print $3 }' |
	sed 's/@.*//' | sort -u >"$tmp/exported"
perl -0777 -ne '
	s{/\*.*?\*/}{ }gs; s{^[ \t]*#[^\n]*}{}gm;
	while (/\bTRINDLE_MPI_PUBLIC\b([^;(]*)\(/g) {
		my ($name) = $1 =~ /([A-Za-z_]\w*)\s*$/;
		print "$name\n" if defined $name;
	}' "$header" | sort -u >"$tmp/declared"
if ! [ -s "$tmp/declared" ] || ! cmp -s "$tmp/exported" "$tmp/declared"; then
	echo "FAIL: exported and declared differ:"
	diff "$tmp/exported" "$tmp/declared" || true
	exit 1
fi
echo "ok: $(wc -l <"$tmp/declared") public symbols, all exported, nothing else"
