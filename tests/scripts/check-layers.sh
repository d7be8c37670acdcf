#!/bin/sh
# SPDX-License-Identifier: MIT
# check-layers.sh - fails when the library's modules call each other in a
# cycle.  Reads the built objects with nm: a module (one .c file) calls
# another when it has an undefined symbol that the other defines.  Every
# strongly connected group of two or more modules is printed with the
# calls that tie it together.
#
#   check-layers.sh OBJDIR      (the libtrindle.so.*.p directory of a build)
set -eu
dir=$1
cd "$dir"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for o in *.o; do
	m=${o%.c.o}
	nm --defined-only "$o" | awk -v m="$m" '$2 ~ /^[TDBRtdbr]$/ { print $3, m }'
done >"$tmp/defs"
for o in *.o; do
	nm -u "$o" | awk -v m="${o%.c.o}" '{ print m, $2 }'
done >"$tmp/uses"
python3 - "$tmp/defs" "$tmp/uses" <<'PY'
import sys
defs = {}
for line in open(sys.argv[1]):
    sym, mod = line.split()
    defs.setdefault(sym, mod)
edges, why = {}, {}
for line in open(sys.argv[2]):
    mod, sym = line.split()
    to = defs.get(sym)
    if to and to != mod:
        edges.setdefault(mod, set()).add(to)
        why.setdefault((mod, to), sym)
# Tarjan's strongly connected components.
index, low, stack, on, sccs, n = {}, {}, [], set(), [], [0]
def visit(v):
    index[v] = low[v] = n[0]; n[0] += 1
    stack.append(v); on.add(v)
    for w in sorted(edges.get(v, ())):
        if w not in index:
            visit(w); low[v] = min(low[v], low[w])
        elif w in on:
            low[v] = min(low[v], index[w])
    if low[v] == index[v]:
        comp = []
        while True:
            w = stack.pop(); on.discard(w); comp.append(w)
            if w == v: break
        sccs.append(sorted(comp))
mods = sorted(set(edges) | {t for ts in edges.values() for t in ts})
for v in mods:
    if v not in index:
        visit(v)
cycles = [c for c in sccs if len(c) > 1]
for c in cycles:
    print("call cycle between modules:", ", ".join(c))
    for a in c:
        for b in sorted(edges.get(a, ())):
            if b in c:
                print("  %s -> %s (%s)" % (a, b, why[(a, b)]))
if cycles:
    sys.exit(1)
print("no call cycle between %d modules" % len(mods))
PY
