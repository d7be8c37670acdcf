#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""check-graph.py DEMO

Runs DEMO (tests/graph_demo.c) with TRINDLE_GRAPH set and checks the dot
file it leaves: the boxes (main, stage 1 and stage 2, each ended by exit),
the edges main -> stage 1 -> stage 2 -> main with their pipes' names,
capacities and counts, and the pipe "loop", full once, drawn red as a loop
on main.  Renders it with `dot -Tsvg` when Graphviz is installed.  Exit 1
on failure."""
import os
import re
import shutil
import subprocess
import sys
import tempfile


def main(demo):
    problems = []
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, 'graph.dot')
        env = dict(os.environ, TRINDLE_GRAPH=path)
        r = subprocess.run([demo], env=env, timeout=60)
        if r.returncode != 0:
            print('FAIL: the demo exited with', r.returncode)
            return 1
        text = open(path).read()
        nodes = dict(re.findall(r'^  (p\d+) \[label="([^"]*)"', text, re.M))
        edges = re.findall(r'^  (p\d+) -> (p\d+) \[label="([^"]*)"(.*)\];$',
                           text, re.M)
        names = {v.split('\\n')[0]: k for k, v in nodes.items()}
        want_nodes = {'main': 'root', 'stage 1': 'ended: exit',
                      'stage 2': 'ended: exit'}
        for n, state in want_nodes.items():
            if n not in names or nodes[names[n]] != n + '\\n' + state:
                problems.append('no box %r with state %r in %r' %
                                (n, state, nodes))
        if len(nodes) != 3:
            problems.append('%d boxes, expected 3: %r' % (len(nodes), nodes))

        def edge(a, b, label_start):
            for f, t, label, attrs in edges:
                if (f, t) == (names.get(a), names.get(b)) and \
                        label.startswith(label_start):
                    return label, attrs
            problems.append('no edge %s -> %s labelled %r...' %
                            (a, b, label_start))
            return '', ''
        # 20 segments, the empty one, and the pipe given to each stage.
        edge('main', 'stage 1', 'stage 1\\ncap 4, 22 sent')
        edge('stage 1', 'stage 2', 'stage 2\\ncap 4, 22 sent')
        edge('main', 'stage 2', 'stage 2\\ncap 4, 22 sent')
        edge('stage 2', 'main', 'back\\ncap 21, 21 sent')
        label, attrs = edge('main', 'main', 'loop\\ncap 2, 2 sent, max 2 (full)')
        if 'color=red' not in attrs:
            problems.append('the full pipe is not red: %r' % attrs)
        if len(edges) != 5:
            problems.append('%d edges, expected 5: %r' % (len(edges), edges))
        if shutil.which('dot'):
            svg = subprocess.run(['dot', '-Tsvg', path], capture_output=True,
                                 text=True, timeout=60)
            if svg.returncode != 0 or 'stage 1' not in svg.stdout:
                problems.append('dot -Tsvg failed: %s' % svg.stderr)
        else:
            print('note: no Graphviz dot; the file was not rendered')
        if problems:
            print(text)
    for p in problems:
        print('FAIL:', p)
    return 1 if problems else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1]))
