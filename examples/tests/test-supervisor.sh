#!/bin/sh
# SPDX-License-Identifier: MIT
# Checks trindle-supervisor: the chosen worker's write into the shared
# numbers is reported as a fault (write, in the numbers segment, by that
# worker), its chunk is relaunched, and the total is still n(n+1)/2.
set -eu

. "$(dirname "$0")/common.sh"

exe=$1

"$exe" --help | grep -q '^Usage: trindle-supervisor' || fail "--help"

# run ARGS... EXPECTED_TOTAL FAULTY_WORKER|none
check() {
	faulty=$1 total=$2
	shift 2
	out=$("$exe" "$@") || { printf '%s\n' "$out"; fail "'$*' exited with $?"; }
	printf '%s\n' "$out"
	printf '%s\n' "$out" | grep -q "^total: $total (expected $total;" \
		|| fail "'$*': total should be $total"
	if [ "$faulty" = none ]; then
		! printf '%s\n' "$out" | grep -q '^fault:' || fail "'$*': unexpected fault"
		return 0
	fi
	printf '%s\n' "$out" | grep -q "^fault: worker $faulty write at 0x[0-9a-f]* in segment 0x[0-9a-f]* (the shared numbers), SIGSEGV$" \
		|| fail "'$*': no fault line for worker $faulty"
	printf '%s\n' "$out" | grep -q "^relaunch: chunk [0-9]* of worker $faulty goes to new worker [0-9]*$" \
		|| fail "'$*': the chunk of worker $faulty was not relaunched"
	printf '%s\n' "$out" | grep -q " 1 fault)$" || fail "'$*': fault count"
}

# 1 + 2 + ... + n = n(n+1)/2
check 1 549756338176              # defaults: n = 2^20, worker 1 faults
check 0 500500 -n 1000 -c 7 -w 3 -f 0
check 2 5000050000 -n 100000 -c 5 -w 3 -f 2
check none 50005000 -n 10000 -c 4 -w 2 -f none

for bad in "-w 0" "-f 4" "-c 0" "-n x" "-f 4 -w 4" "extra"; do
	# shellcheck disable=SC2086
	if "$exe" $bad >/dev/null 2>&1; then
		fail "'$bad' was accepted"
	fi
done
echo "supervisor: OK"
