#!/bin/sh
# Runs a test program under mpirun on this machine, the way CI does:
#   run.sh [--recovery EXPECT] NP PROGRAM [ARGS...]
# Ranks talk over loopback (and shared memory between ranks of one host),
# may outnumber the cores, and may run as root (CI does; Open MPI refuses
# it unless told these two variables).
#
# --recovery keeps mpirun from killing the other ranks when one dies (the
# killed-rank test needs it).  mpirun then also ignores the ranks' exit
# statuses, so the output is checked instead: it must contain the line
# EXPECT and no "check failed".
set -eu
recovery= expect=
if [ "${1:-}" = "--recovery" ]; then
	recovery=--enable-recovery
	expect=$2
	shift 2
fi
np=$1
shift
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1
run() {
	timeout -k 10 150 mpirun -np "$np" --oversubscribe \
		--mca btl self,vader,tcp --mca btl_tcp_if_include lo \
		--mca oob_tcp_if_include lo $recovery "$@"
}
if [ -z "$recovery" ]; then
	run "$@"
	exit
fi
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
run "$@" >"$log" 2>&1 || status=$?
cat "$log"
if grep -q "check failed" "$log" || ! grep -qxF "$expect" "$log"; then
	echo "run.sh: expected the line '$expect' and no failed check" >&2
	exit 1
fi
exit "$status"
