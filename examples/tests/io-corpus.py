#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes the test corpus of trindle-wc, trindle-grep and trindle-sort.

Usage: io-corpus.py DIR [MIB]

DIR/corpus.txt is about MIB MiB (default 3) of text built to catch the
mistakes a chunked, parallel text tool can make: empty lines, lines far
longer than any chunk, runs of every kind of whitespace (space, \\t, \\r,
\\v, \\f), control characters and bytes above 0x7f (which wc in the C
locale counts as neither word nor space), UTF-8 sequences, many duplicate
lines (for sort), lines containing "needle" at the start, middle and end
(for grep), and no newline at the very end.  The output is the same for the
same arguments, so a failure can be reproduced.

The small files beside it are the edge cases: empty.txt, nonl.txt (one line,
no newline), newlines.txt (only newlines), blank.txt (only whitespace) and
longline.txt (one 300 KB line between short ones, the last unterminated).
No file contains a NUL byte: grep would call it binary.
"""
import os
import random
import sys

WORDS = [b"alpha", b"beta", b"gamma", b"the", b"a", b"needle", b"needles",
         b"hay", b"stack", b"\xc3\xa9t\xc3\xa9", b"\xc3\xbcber", b"na\xc3\xafve",
         b"x", b"zz", b"Zebra", b"10", b"9", b"-dash", b"tab\x01ctl", b"\x7fdel"]
SEPS = [b" ", b" ", b" ", b"\t", b"  ", b"\r", b"\v", b"\f", b" \t "]


def words_line(rng, count):
    out = []
    for _ in range(count):
        out.append(rng.choice(WORDS))
        out.append(rng.choice(SEPS))
    if out and rng.random() < 0.5:
        out.pop()  # half the lines end on a word, half on whitespace
    return b"".join(out)


def noise_line(rng, length):
    # Any byte but NUL and newline: control characters, high bytes.
    return bytes(rng.choice([i for i in range(1, 256) if i != 10])
                 for _ in range(length))


def needle_line(rng):
    body = words_line(rng, rng.randint(0, 12))
    where = rng.randint(0, 2)
    if where == 0:
        return b"needle" + body
    if where == 1:
        return body + b"needle"
    cut = len(body) // 2
    return body[:cut] + b"needle" + body[cut:]


def one_line(rng, previous):
    r = rng.random()
    if r < 0.08:
        return b""
    if r < 0.081:
        return words_line(rng, rng.randint(3000, 40000))  # 20-300 KB
    if r < 0.14:
        return noise_line(rng, rng.randint(1, 200))
    if r < 0.25:
        return needle_line(rng)
    if r < 0.35 and previous:
        return rng.choice(previous)
    return words_line(rng, rng.randint(1, 20))


def corpus(path, size):
    rng = random.Random(20151022)
    lines, total, recent = [], 0, []
    while total < size:
        line = one_line(rng, recent)
        recent = (recent + [line])[-50:]
        lines.append(line)
        total += len(line) + 1
    data = b"\n".join(lines)  # no newline after the last line
    if data.endswith(b"\n") or not lines[-1]:
        data += b"end"
    with open(path, "wb") as f:
        f.write(data)


def small_files(d):
    rng = random.Random(7)
    files = {
        "empty.txt": b"",
        "nonl.txt": b"one line, needle and no newline",
        "newlines.txt": b"\n" * 17,
        "blank.txt": b" \t\r\v\f \n\n\t\t\n \r\n",
        "longline.txt": b"short\nneedle first\n" + words_line(rng, 40000)
        + b" needle\nzz\n" + words_line(rng, 30000),
    }
    for name, data in files.items():
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    d = sys.argv[1]
    mib = float(sys.argv[2]) if len(sys.argv) > 2 else 3.0
    corpus(os.path.join(d, "corpus.txt"), int(mib * 1024 * 1024))
    small_files(d)


if __name__ == "__main__":
    main()
