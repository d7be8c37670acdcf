#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""check-trace.py FILE [--names A,B] [--dropped N] [--syncs N] [--flows N]
                 [--min-flows N] [--instants KIND=N,...]

Checks a libtrindle trace structurally: valid JSON in the Chrome Trace
Event Format; every event has a name and a phase; every slice has a
duration; every track has a thread_name; timestamps never go back along
a track (nor along the counters); every flow id has exactly one start
and one end, the end not before the start, each inside a sync slice on
its own track.  The options add exact expectations.  Exit 1 on failure,
with one line per problem."""
import json
import sys


def main(argv):
    path, opts = argv[1], {}
    i = 2
    while i < len(argv):
        opts[argv[i].lstrip('-')] = argv[i + 1]
        i += 2
    problems = []
    with open(path) as f:
        doc = json.load(f)
    events = doc['traceEvents']
    thread_names, last_ts, slices = {}, {}, {}
    flows = {}
    counters = set()
    instants = []
    for e in events:
        if not e.get('name') or 'ph' not in e or 'pid' not in e:
            problems.append('event without name, ph or pid: %r' % e)
            continue
        ph = e['ph']
        if ph == 'M':
            if e['name'] == 'thread_name':
                thread_names[e['tid']] = e['args']['name']
            continue
        track = e.get('tid', 'counters')
        ts = e['ts']
        if track != 'counters' and track not in thread_names:
            problems.append('event before its thread_name: %r' % e)
        if ts < last_ts.get(track, -1):
            problems.append('time goes back on track %s: %r' % (track, e))
        last_ts[track] = ts
        if ph == 'X':
            if 'dur' not in e or e['dur'] < 0:
                problems.append('slice without duration: %r' % e)
            if e['name'] == 'sync':
                slices.setdefault(track, []).append((ts, ts + e['dur']))
        elif ph in ('s', 'f'):
            flows.setdefault(e['id'], []).append(e)
        elif ph == 'C':
            counters.add(e['name'])
        elif ph == 'i':
            instants.append(e['name'])
        else:
            problems.append('unexpected phase: %r' % e)

    def inside(e):
        return any(a <= e['ts'] <= b for a, b in slices.get(e['tid'], ()))

    for fid, ends in flows.items():
        phs = sorted(x['ph'] for x in ends)
        if phs != ['f', 's']:
            problems.append('flow %s has ends %s' % (fid, phs))
            continue
        s = next(x for x in ends if x['ph'] == 's')
        f = next(x for x in ends if x['ph'] == 'f')
        if f.get('bp') != 'e':
            problems.append('flow end not bound to its slice: %r' % f)
        if f['ts'] < s['ts']:
            problems.append('flow %s ends before it starts' % fid)
        for x in (s, f):
            if not inside(x):
                problems.append('flow %s end outside a sync: %r' % (fid, x))
    nsyncs = sum(len(v) for v in slices.values())
    dropped = doc['otherData']['dropped_events']
    if 'names' in opts:
        for n in opts['names'].split(','):
            if n not in thread_names.values():
                problems.append('no track named %r (have %r)' %
                                (n, sorted(thread_names.values())))
    if 'counters' in opts:
        for n in opts['counters'].split(','):
            if n not in counters:
                problems.append('no counter %r (have %r)' %
                                (n, sorted(counters)))
    if 'dropped' in opts and dropped != int(opts['dropped']):
        problems.append('dropped %d, expected %s' % (dropped, opts['dropped']))
    if 'syncs' in opts and nsyncs != int(opts['syncs']):
        problems.append('%d sync slices, expected %s' % (nsyncs, opts['syncs']))
    if 'flows' in opts and len(flows) != int(opts['flows']):
        problems.append('%d flows, expected %s' % (len(flows), opts['flows']))
    if 'min-flows' in opts and len(flows) < int(opts['min-flows']):
        problems.append('%d flows, expected at least %s' %
                        (len(flows), opts['min-flows']))
    if 'instants' in opts:
        for kv in opts['instants'].split(','):
            k, n = kv.split('=')
            got = sum(1 for x in instants if x.startswith(k))
            if got != int(n):
                problems.append('%d instants %r, expected %s (have %r)' %
                                (got, k, n, instants))
    for p in problems[:20]:
        print('FAIL:', p)
    return 1 if problems else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
