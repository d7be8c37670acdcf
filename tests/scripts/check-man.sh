#!/bin/sh
# SPDX-License-Identifier: MIT
#
# check-man.sh SOURCE_ROOT
#
# Keeps the manual pages in man/ and the public headers from drifting apart:
#  1. every function declared TRINDLE_PUBLIC in include/trindle.h and
#     include/trindle/*.h has a page: a file man/NAME.3, or NAME in the
#     NAME section of another page that man/meson.build installs NAME.3 as
#     a link to; and no page names a call the headers do not declare;
#  2. the SYNOPSIS of the page that names a call shows the header's
#     prototype (same types, same parameter names);
#  3. every page renders with groff -ww without a single warning, no wider
#     than 80 columns, and its .TH line agrees with its file name;
#  4. every TRINDLE_* environment variable the headers mention is in the
#     ENVIRONMENT section of trindle.7, and that section lists no other;
#  5. man/meson.build installs exactly the pages in man/, and each link
#     it installs points at a page whose NAME section names the link.
# Exit 1 on any failure; 77 (skipped) when only the rendering check could
# not run because groff is missing.
set -eu

root=${1:?usage: check-man.sh SOURCE_ROOT}
man=$root/man
command -v perl >/dev/null || { echo "skip: no perl"; exit 77; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
status=0
fail() {
	echo "FAIL: $*"
	status=1
}

headers="$root/include/trindle.h"
for h in "$root"/include/trindle/*.h; do
	[ -e "$h" ] && headers="$headers $h"
done

# The text of a prototype with its spacing made canonical, so that a
# header declaration and a SYNOPSIS line compare equal when they declare
# the same thing.  TRINDLE_NORETURN is spelled _Noreturn in the pages.
# shellcheck disable=SC2016 # perl code, expanded by perl
norm='sub norm { my $s = shift;
	$s =~ s/\bTRINDLE_PUBLIC\b//g; $s =~ s/\bTRINDLE_NORETURN\b/_Noreturn/g;
	$s =~ s/\s+/ /g; $s =~ s/\s*([(),;*\[\]])\s*/$1/g;
	$s =~ s/^ //; $s =~ s/ $//; return $s; }'

# Declared calls: "name<TAB>canonical prototype", from the headers with
# comments and preprocessor lines removed (check-symbols.sh does the same).
# shellcheck disable=SC2086
cat $headers | perl -0777 -ne "$norm"'
	s{/\*.*?\*/}{ }gs; s{//[^\n]*}{}g; s{^[ \t]*#[^\n]*}{}gm;
	while (/\bTRINDLE_PUBLIC\b([^;]*;)/g) {
		my $decl = $1;
		my ($name) = $decl =~ /([A-Za-z_]\w*)\s*\(/;
		print "$name\t", norm($decl), "\n" if defined $name;
	}' | sort -u >"$tmp/declared"
cut -f1 "$tmp/declared" >"$tmp/declared-names"
if ! [ -s "$tmp/declared-names" ]; then
	fail "no TRINDLE_PUBLIC declarations found under $root/include"
	exit 1
fi

# For each page: "page<TAB>name<TAB>call" for the names of its NAME
# section, and "page<TAB>synopsis<TAB>canonical SYNOPSIS" (its .B/.BI/...
# lines joined as roff joins them).
for page in "$man"/*.[0-9]; do
	perl -ne "$norm"'
		BEGIN { ($page) = $ARGV[0] =~ m{([^/]+)$}; }
		sub unroff { my $s = shift; $s =~ s/\\-/-/g; $s =~ s/\\\(aq/\x27/g;
			$s =~ s/\\e/\\/g; $s =~ s/\\&//g; $s =~ s/\\ / /g; return $s; }
		sub args { my $s = shift; my @a;
			push @a, defined $1 ? $1 : $2 while $s =~ /"([^"]*)"|(\S+)/g;
			return @a; }
		if ($. == 1 && /^\.so\s/) { print "$page\tso\n"; next; }
		if (/^\.SH\s+"?([A-Z ]+)"?/) { $sec = $1; next; }
		if ($sec eq "NAME" && !/^\./) {
			my ($names) = /^(.*?)\s*\\-/;
			print "$page\tname\t$_\n" for split /\s*,\s*/, unroff($names // "");
		}
		if ($sec eq "SYNOPSIS") {
			if (/^\.(B|I)\s+(.*)$/) { $syn .= " " . join(" ", args($2)); }
			elsif (/^\.(BI|IB|BR|RB|IR|RI)\s+(.*)$/) { $syn .= " " . join("", args($2)); }
			elsif (!/^\./) { $syn .= " $_"; }
		}
		END { print "$page\tsynopsis\t", norm(unroff($syn // "")), "\n"; }
	' "$page"
done >"$tmp/pages"

# What man/meson.build installs: "link<TAB>page" for each entry of its
# man_links dictionary, and every other quoted page name.
perl -0777 -ne 'print "$1\t$2\n" while /\x27([^\x27]+\.[0-9])\x27\s*:\s*\x27([^\x27]+\.[0-9])\x27/g' \
	"$man/meson.build" | sort -u >"$tmp/links"
perl -0777 -ne 's/\x27[^\x27]+\.[0-9]\x27\s*://g; print "$1\n" while /\x27([^\x27]+\.[0-9])\x27/g' \
	"$man/meson.build" | sort -u >"$tmp/installed"
cut -f1 "$tmp/links" >"$tmp/link-names"

# 1. Every declared call has a page, and every page names declared calls.
awk -F'\t' '$2 == "name" { print $3 }' "$tmp/pages" | sort -u >"$tmp/named"
while read -r name; do
	if [ -e "$man/$name.3" ]; then
		continue
	elif ! grep -qx "$name" "$tmp/named"; then
		fail "$name is declared TRINDLE_PUBLIC but has no man page (add man/$name.3, or name it in a page's NAME line and link it in man/meson.build)"
	elif ! grep -qx "$name.3" "$tmp/link-names"; then
		fail "$name is named in a page's NAME line, but man/meson.build installs no $name.3 link to that page"
	fi
done <"$tmp/declared-names"
awk -F'\t' '$2 == "name" && $1 ~ /\.3$/ { print $1 "\t" $3 }' "$tmp/pages" |
while IFS='	' read -r page name; do
	grep -qx "$name" "$tmp/declared-names" ||
		echo "FAIL: man/$page documents $name, which no public header declares"
done >"$tmp/undeclared"
[ -s "$tmp/undeclared" ] && { cat "$tmp/undeclared"; status=1; }
for page in "$man"/*.3; do
	base=$(basename "$page" .3)
	grep -qx "$base" "$tmp/declared-names" ||
		fail "man/$base.3 is a page for $base, which no public header declares"
done

# 2. The page naming a call shows the header's prototype in its SYNOPSIS.
while IFS='	' read -r name decl; do
	page=$(awk -F'\t' -v n="$name" '$2 == "name" && $3 == n { print $1; exit }' "$tmp/pages")
	[ -n "$page" ] || continue # reported above
	syn=$(awk -F'\t' -v p="$page" '$1 == p && $2 == "synopsis" { print $3 }' "$tmp/pages")
	case $syn in
	*"$decl"*) ;;
	*) fail "man/$page: SYNOPSIS does not show the header's prototype of $name:
      header: $decl
      page:   $syn" ;;
	esac
done <"$tmp/declared"

# 3a. No .so pages: a call described elsewhere is a link (see 1.).
awk -F'\t' '$2 == "so" { print "FAIL: man/" $1 " is a .so page; list it in man_links in man/meson.build instead" }' \
	"$tmp/pages" >"$tmp/so"
[ -s "$tmp/so" ] && { cat "$tmp/so"; status=1; }

# 3b. .TH names the page and its section, like the file name.
for page in "$man"/*.[0-9]; do
	head -n1 "$page" | grep -q '^\.so ' && continue # reported in 3a.
	base=$(basename "$page")
	th=$(awk '/^\.TH / { print $2 "." $3; exit }' "$page")
	[ "$th" = "$base" ] || fail "man/$base: .TH says $th"
done

# 4. The environment variables.  A TRINDLE_* word that the headers mention
# only in comments (never declare or define) is an environment variable;
# a word ending in "_" is a prefix ("TRINDLE_ACCESS_* bits").
# shellcheck disable=SC2086
cat $headers | perl -0777 -ne '
	my @c = /\/\*.*?\*\//gs; my $code = $_; $code =~ s{/\*.*?\*/}{ }gs;
	my %code = map { $_ => 1 } $code =~ /\b(TRINDLE_[A-Z0-9_]+)\b/g;
	my %env = map { $_ => 1 } grep { !$code{$_} && !/_$/ }
		map { /\b(TRINDLE_[A-Z0-9_]+)\b/g } @c;
	print "$_\n" for sort keys %env;' >"$tmp/env-headers"
perl -ne '
	if (/^\.SH\s+"?([A-Z ]+)"?/) { $sec = $1; next; }
	print "$1\n" if $sec eq "ENVIRONMENT" && /^\.(?:B|BI|BR|I|IR)\s+"?(TRINDLE_[A-Z0-9_]+)/;
' "$man/trindle.7" | sort -u >"$tmp/env-page"
[ -s "$tmp/env-headers" ] || fail "no TRINDLE_* environment variable found in the headers' comments"
for v in $(comm -23 "$tmp/env-headers" "$tmp/env-page"); do
	fail "$v is mentioned in the headers but not in the ENVIRONMENT section of man/trindle.7"
done
for v in $(comm -13 "$tmp/env-headers" "$tmp/env-page"); do
	fail "man/trindle.7 lists $v under ENVIRONMENT, but no header mentions it"
done

# 5. man/meson.build installs every page, and only pages that exist; each
# link is a declared call and points at a page that names it.
(cd "$man" && ls -- *.[0-9]) | sort -u >"$tmp/present"
for p in $(comm -13 "$tmp/installed" "$tmp/present"); do
	fail "man/$p is not installed by man/meson.build"
done
for p in $(comm -23 "$tmp/installed" "$tmp/present"); do
	fail "man/meson.build installs $p, which is not in man/"
done
while IFS='	' read -r link page; do
	[ -e "$man/$link" ] && fail "man/meson.build links $link, but man/$link is a page of its own"
	grep -qx "${link%.*}" "$tmp/declared-names" ||
		fail "man/meson.build links $link, but no public header declares ${link%.*}"
	awk -F'\t' -v p="$page" -v n="${link%.*}" \
		'$1 == p && $2 == "name" && $3 == n { f = 1 } END { exit !f }' "$tmp/pages" ||
		fail "man/meson.build links $link to $page, whose NAME line does not name ${link%.*}"
done <"$tmp/links"

# 3c. Rendering.
if ! command -v groff >/dev/null; then
	echo "skip: rendering not checked (no groff; tools/deps.sh installs groff-base)"
	[ $status -eq 0 ] && exit 77
	exit $status
fi
for page in "$man"/*.[0-9]; do
	rel=man/${page##*/}
	warnings=$(LC_ALL=C.UTF-8 groff -man -Tutf8 -ww -z "$page" 2>&1) ||
		fail "$rel: groff failed"
	[ -z "$warnings" ] || fail "$rel: groff -ww warns:
$warnings"
	wide=$(LC_ALL=C.UTF-8 groff -man -Tutf8 -P-cbou "$page" 2>/dev/null |
		perl -CS -ne 'chomp; print "      $_\n" if length > 80')
	[ -z "$wide" ] || fail "$rel: rendered lines wider than 80 columns:
$wide"
done

n=$(wc -l <"$tmp/declared-names")
p=$(wc -l <"$tmp/present")
[ $status -ne 0 ] || echo "ok: $p pages cover the $n public calls and $(wc -l <"$tmp/env-headers") environment variables, and render without warnings"
exit $status
