#!/bin/sh
# SPDX-License-Identifier: MIT
#
# check-symbols.sh LIBRARY SOURCE_ROOT
#
# The dynamic symbols libtrindle exports must be exactly the functions its
# public headers (include/trindle.h and include/trindle/*.h) declare with
# TRINDLE_PUBLIC: nothing internal leaks out, and nothing declared is
# missing.  Exit 77 (skipped) when the library is not a shared object.
set -eu

lib=${1:?usage: check-symbols.sh LIBRARY SOURCE_ROOT}
root=${2:?usage: check-symbols.sh LIBRARY SOURCE_ROOT}

case $lib in
*.so | *.so.*) ;;
*) echo "skip: $lib is not a shared library"; exit 77 ;;
esac
command -v nm >/dev/null || { echo "skip: no nm"; exit 77; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Exported: defined dynamic symbols, less the version nodes (type A).
nm -D --defined-only "$lib" | awk '$2 != "A" { print $3 }' |
	sed 's/@.*//' | sort -u >"$tmp/exported"

# Declared: the name before the first '(' after each TRINDLE_PUBLIC, once
# comments and preprocessor lines are gone (the macro's own #define).
headers="$root/include/trindle.h"
for h in "$root"/include/trindle/*.h; do
	[ -e "$h" ] && headers="$headers $h"
done
# shellcheck disable=SC2086
cat $headers | perl -0777 -ne '
	s{/\*.*?\*/}{ }gs; s{//[^\n]*}{}g; s{^[ \t]*#[^\n]*}{}gm;
	while (/\bTRINDLE_PUBLIC\b([^;(]*)\(/g) {
		my ($name) = $1 =~ /([A-Za-z_]\w*)\s*$/;
		print "$name\n" if defined $name;
	}' | sort -u >"$tmp/declared"

if ! [ -s "$tmp/declared" ]; then
	echo "FAIL: no TRINDLE_PUBLIC declarations found under $root/include"
	exit 1
fi

status=0
extra=$(comm -23 "$tmp/exported" "$tmp/declared")
missing=$(comm -13 "$tmp/exported" "$tmp/declared")
if [ -n "$extra" ]; then
	echo "FAIL: exported but not declared TRINDLE_PUBLIC:"
	echo "$extra" | sed 's/^/  /'
	status=1
fi
if [ -n "$missing" ]; then
	echo "FAIL: declared TRINDLE_PUBLIC but not exported:"
	echo "$missing" | sed 's/^/  /'
	status=1
fi
n=$(wc -l <"$tmp/declared")
[ $status -ne 0 ] || echo "ok: $n public symbols, all exported, nothing else"
exit $status
