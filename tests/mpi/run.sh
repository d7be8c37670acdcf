#!/bin/sh
# Runs a test program under mpirun on this machine, the way CI does:
#   run.sh [--recovery] NP PROGRAM [ARGS...]
# Ranks talk over loopback (and shared memory between ranks of one host),
# may outnumber the cores, and may run as root (CI does; Open MPI refuses
# it unless told these two variables).  --recovery keeps mpirun from
# killing the other ranks when one dies (the killed-rank test needs it).
set -eu
recovery=
if [ "${1:-}" = "--recovery" ]; then
	recovery=--enable-recovery
	shift
fi
np=$1
shift
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1
exec timeout -k 10 150 mpirun -np "$np" --oversubscribe \
	--mca btl self,vader,tcp --mca btl_tcp_if_include lo \
	--mca oob_tcp_if_include lo $recovery "$@"
