#!/bin/sh
# SPDX-License-Identifier: MIT
# callgrind-stream.sh - instructions per message in the stream scenario.
#
#   benchmarks/callgrind-stream.sh [path/to/trindle-bench] [messages]
#
# Runs one side of the stream scenario at a time under callgrind (all
# threads counted), once with N and once with 2N messages, and prints
# (Ir(2N) - Ir(N)) / N: the difference cancels start-up, thread creation,
# pool allocation and teardown, leaving the cost of N more messages.  The
# sides: libtrindle, the pthreads queue with one lock per item (stream) and
# with up to 64 items pushed and everything queued popped per lock
# (stream-batched), and ZeroMQ when the binary was built with it.
#
# Valgrind runs one thread at a time, so a side that spins while it waits
# (libtrindle's sync spins before it sleeps) is charged for its spinning
# too; --fair-sched=yes hands the CPU round evenly, which keeps the figures
# repeatable.  The program total and the five costliest functions of the
# libtrindle run follow.
set -eu

bench=${1:-build/benchmarks/trindle-bench}
n=${2:-20000}
[ -x "$bench" ] || {
	echo "callgrind-stream.sh: no $bench (build first, or pass its path)" >&2
	exit 1
}
command -v valgrind >/dev/null 2>&1 || {
	echo "callgrind-stream.sh: valgrind is missing" >&2
	exit 1
}

dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

# ir SCENARIO SIDE MESSAGES: total instructions of one run.
ir() {
	out="$dir/$1.$2.$3"
	valgrind --tool=callgrind --fair-sched=yes --callgrind-out-file="$out" \
		"$bench" --only "$1" --side "$2" --messages "$3" \
		>"$out.log" 2>&1 || {
		echo "callgrind-stream.sh: $1 $2 failed:" >&2
		cat "$out.log" >&2
		exit 1
	}
	sed -n 's/^summary: *\([0-9]*\).*/\1/p' "$out"
}

# per_message SCENARIO SIDE LABEL
per_message() {
	a=$(ir "$1" "$2" "$n")
	b=$(ir "$1" "$2" $((2 * n)))
	printf '%-34s %10d instructions/message\n' "$3" $(((b - a) / n))
}

echo "stream scenario under callgrind, (Ir(2N) - Ir(N)) / N with N = $n"
per_message stream trindle "libtrindle (64 moves per sync)"
per_message stream pthreads "pthreads, one lock per item"
per_message stream-batched pthreads "pthreads, 64 per push, pop all"
if "$bench" --only stream --side peer --messages 10 >/dev/null 2>&1; then
	per_message stream peer "ZeroMQ inproc PUSH/PULL"
fi

# The same without waiting: one thread moves 64 segments through its own
# pipe and takes them back (trindle-self-move, built next to the bench);
# a "message" there is one move and one receive, half a stream message.
self=$(dirname "$bench")/trindle-self-move
if [ -x "$self" ]; then
	rounds=$((n / 64))
	for r in "$rounds" $((2 * rounds)); do
		valgrind --tool=callgrind --callgrind-out-file="$dir/self.$r" \
			"$self" "$r" >"$dir/self.$r.log" 2>&1 || {
			echo "callgrind-stream.sh: trindle-self-move failed:" >&2
			cat "$dir/self.$r.log" >&2
			exit 1
		}
	done
	a=$(sed -n 's/^summary: *\([0-9]*\).*/\1/p' "$dir/self.$rounds")
	b=$(sed -n 's/^summary: *\([0-9]*\).*/\1/p' "$dir/self.$((2 * rounds))")
	printf '%-34s %10d instructions/move\n' "one thread, own pipe, no waiting" \
		$(((b - a) / (64 * rounds)))
fi

if command -v callgrind_annotate >/dev/null 2>&1; then
	echo
	echo "costliest functions, libtrindle side, $((2 * n)) messages:"
	callgrind_annotate "$dir/stream.trindle.$((2 * n))" 2>/dev/null |
		grep -E '^ *[0-9,]+ +\([ 0-9.]+%\) ' | head -6
fi
