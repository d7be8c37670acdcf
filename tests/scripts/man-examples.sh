#!/bin/sh
# SPDX-License-Identifier: MIT
#
# man-examples.sh SOURCE_ROOT LIBDIR CC
#
# Every program in the EXAMPLES section of a page in man/ (an .EX block
# that starts with #include) must compile against the built library with
# -Wall -Wextra -Werror, exit 0, and, when the next .EX block of the section
# is not a program, print exactly that block.  Each program runs in an
# empty directory with "one", "two", "three" on standard input.
set -eu
root=${1:?usage: man-examples.sh SOURCE_ROOT LIBDIR CC}
libdir=${2:?} cc=${3:?}
libdir=$(cd "$libdir" && pwd)
command -v perl >/dev/null || { echo "skip: no perl"; exit 77; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
status=0
programs=0

for page in "$root"/man/*.[0-9]; do
	name=$(basename "$page")
	# Writes example-N.c and, when given, example-N.out into $tmp/$name.
	mkdir "$tmp/$name"
	perl -ne '
		BEGIN { $dir = shift @ARGV; }
		if (/^\.SH\s+"?([A-Z ]+)"?/) { $sec = $1; next; }
		next unless $sec eq "EXAMPLES";
		if (/^\.EX/) { $in = 1; $text = ""; next; }
		if (/^\.EE/) {
			$in = 0;
			if ($text =~ /^\s*#include/) {
				$n++; $ext = "c";
			} elsif ($n && !$out{$n}++) {
				$ext = "out";
			} else { next; }
			open my $f, ">", "$dir/example-$n.$ext" or die;
			print $f $text; close $f; next;
		}
		next unless $in;
		s/\\e/\\/g; s/\\\(aq/\x27/g; s/\\-/-/g; s/\\&//g;
		$text .= $_;
	' "$tmp/$name" "$page"
	for src in "$tmp/$name"/example-*.c; do
		[ -e "$src" ] || continue
		programs=$((programs + 1))
		exe=${src%.c}
		label="man/$name $(basename "$exe")"
		if ! $cc -std=c11 -Wall -Wextra -Werror -I"$root/include" "$src" \
			-L"$libdir" -ltrindle -lpthread -o "$exe" 2>"$exe.cc"; then
			echo "FAIL: $label does not compile:"
			sed 's/^/    /' "$exe.cc"
			status=1
			continue
		fi
		mkdir "$exe.d"
		rc=0
		(cd "$exe.d" && printf 'one\ntwo\nthree\n' |
			LD_LIBRARY_PATH=$libdir timeout 30 "$exe" >"$exe.got" 2>"$exe.err") ||
			rc=$?
		if [ $rc -ne 0 ]; then
			echo "FAIL: $label exits with status $rc:"
			sed 's/^/    /' "$exe.err"
			status=1
		elif [ -e "$exe.out" ] && ! cmp -s "$exe.out" "$exe.got"; then
			echo "FAIL: $label prints something else than its page says:"
			diff "$exe.out" "$exe.got" | sed 's/^/    /'
			status=1
		else
			echo "ok: $label"
		fi
	done
done
[ $programs -gt 0 ] || { echo "FAIL: no example programs found in man/"; exit 1; }
exit $status
