#!/bin/sh
# SPDX-License-Identifier: MIT
# Checks trindle-supervisor: the total over the records that got through is
# the one worked out here with awk (every record but the poisoned ones);
# exactly the poisoned records are listed as lost, in order, each with a
# fault of weigh (a NULL read) and restart numbers 1, 2, ...; the number
# of restarts is the number of poisoned records.  With fewer restarts
# allowed the supervisor gives up and the program fails.  --help and bad
# arguments behave like the other tools (exit 0 and 2, usage on stderr).
set -eu

. "$(dirname "$0")/common.sh"

exe=$1

"$exe" --help | grep -q '^Usage: trindle-supervisor' || fail "--help"

for bad in "-x" "-n 0" "-n x" "-n 1000001" "-p -1" "-r 65537" "-n 1000000 -p 10" "extra"; do
	status=0
	# shellcheck disable=SC2086
	err=$("$exe" $bad 2>&1 >/dev/null) || status=$?
	[ "$status" = 2 ] || fail "'$bad' exited with $status, not 2"
	printf '%s\n' "$err" | grep -q '^Usage: trindle-supervisor' || fail "'$bad': no usage message"
done

# check RECORDS PERIOD: runs the program and compares its output with what
# the records and the period imply.
check() {
	n=$1 p=$2
	out=$("$exe" -n "$n" -p "$p") || { printf '%s\n' "$out"; fail "-n $n -p $p exited with $?"; }
	printf '%s\n' "$out" | sed -n '1p;$p'
	# The records; value and weight as trindle-supervisor.c makes them.
	want=$(awk -v n="$n" -v p="$p" 'BEGIN {
		split("1 2 3 5", w, " ")
		for (s = 1; s <= n; s++) {
			if (p && s % p == 0) { lost[++k] = s; continue }
			sum += (s * 7919 % 10007) * w[s % 4 + 1]; kept++
		}
		for (i = 1; i <= k; i++)
			printf "lost record %d: weigh faulted (Segmentation fault, read at 0x*), restart %d\n", lost[i], i
		printf "restarts: %d (poisoned records: %d)\n", k, k
		printf "total: %.0f over %d records (expected %.0f over %d)\n", sum, kept, sum, kept
	}')
	# The fault address is weight's offset in its struct: not ours to fix.
	got=$(printf '%s\n' "$out" | sed '1d; s/read at 0x[0-9a-f]*)/read at 0x*)/')
	[ "$got" = "$want" ] || {
		printf 'expected:\n%s\ngot:\n%s\n' "$want" "$got" | head -40
		fail "-n $n -p $p: the output differs"
	}
}

check 20000 1000   # the defaults: 20 poisoned
check 5000 333
check 3000 0       # nothing poisoned
check 40 1         # everything poisoned: 40 restarts, an empty total

# One restart fewer than the poisoned records: the supervisor gives up.
status=0
out=$("$exe" -n 3000 -r 2 2>&1) || status=$?
printf '%s\n' "$out"
[ "$status" = 1 ] || fail "-r 2 exited with $status, not 1"
printf '%s\n' "$out" | grep -q '^supervisor pipeline gave up: more than 2 restarts$' \
	|| fail "-r 2: no give-up line"
echo "supervisor: OK"
