#!/bin/sh
# The README's example must be examples/basics/move.c, compile against the
# built library and print what its comment says.
# Usage: readme-example.sh SOURCE_ROOT LIBDIR CC
set -eu
root=$1 libdir=$2 cc=$3
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
awk '/^```c$/ { f = 1; next } /^```$/ { f = 0 } f' "$root/README.md" > "$dir/example.c"
[ -s "$dir/example.c" ] || { echo "no C example in README.md"; exit 1; }
# It is examples/basics/move.c, word for word.
diff -u "$root/examples/basics/move.c" "$dir/example.c" ||
	{ echo "README example differs from examples/basics/move.c"; exit 1; }
$cc -std=c11 -Wall -Wextra -Werror -I"$root/include" "$dir/example.c" \
	-L"$libdir" -ltrindle -lpthread -o "$dir/example"
out=$(LD_LIBRARY_PATH=$libdir "$dir/example")
[ "$out" = "2 4 6" ] || { echo "README example printed: $out"; exit 1; }
echo "README example: $out"
