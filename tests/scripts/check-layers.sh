#!/bin/sh
# SPDX-License-Identifier: MIT
# check-layers.sh - fails when the library's modules call each other in a
# cycle, or a module calls one on a higher level.  Reads the built objects
# with nm: a module (one .c file) calls another when it has an undefined
# symbol that the other defines.  Every strongly connected group of two or
# more modules is printed with the calls that tie it together, and every
# call up a level with the symbol it uses.  The levels are those of
# docs/design.md (Modules), kept in LEVELS below; a module missing there
# fails too, so a new module gets its level when it is added.
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
# docs/design.md, Modules: bottom to top.  A module calls only modules on
# its own level or below; those in TOP, nothing else calls at all.
LEVELS = [
    ("base", "cap code wait holder version trace die"),
    ("objects", "segment pipe"),
    ("processes", "fault runtime process stall graph"),
    ("calls", "object_calls sync launch devices inspect supervise "
              "supervise_tree supervise_report supervise_watch "
              "supervise_start supervise_loop"),
    ("devices", "io_device io_engine io_sink io_source"),
]
TOP = {"supervise"}
level = {m: i for i, (_, ms) in enumerate(LEVELS) for m in ms.split()}
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
bad = False
for m in mods:
    if m not in level:
        print("module %s has no level in check-layers.sh (see docs/design.md)" % m)
        bad = True
for a in mods:
    for b in sorted(edges.get(a, ())):
        if a in level and b in level and level[b] > level[a]:
            print("call up a level: %s (%s) -> %s (%s) (%s)" % (a,
                LEVELS[level[a]][0], b, LEVELS[level[b]][0], why[(a, b)]))
            bad = True
        if b in TOP:
            print("call into a top module: %s -> %s (%s)" % (a, b, why[(a, b)]))
            bad = True
cycles = [c for c in sccs if len(c) > 1]
for c in cycles:
    print("call cycle between modules:", ", ".join(c))
    for a in c:
        for b in sorted(edges.get(a, ())):
            if b in c:
                print("  %s -> %s (%s)" % (a, b, why[(a, b)]))
if cycles or bad:
    sys.exit(1)
print("no call cycle and no call up a level between %d modules" % len(mods))
PY
