#!/bin/sh
# Runs trindle-mpi-wc under mpirun with 1, 2 and 3 ranks on a generated
# corpus and its edge cases, and compares each output with LC_ALL=C wc.
#   test-wc.sh RUN.SH TRINDLE-MPI-WC IO-CORPUS.PY MIB
set -eu
run=$(readlink -f "$1") tool=$(readlink -f "$2") corpus=$3 mib=$4
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
python3 "$corpus" "$dir" "$mib"
fail=0
check() { # ranks, options, file
	want=$(cd "$dir" && LC_ALL=C wc "$3")
	got=$(cd "$dir" && "$run" "$1" "$tool" $2 "$3") || {
		echo "FAIL: -np $1 $2 $3: exit status $?"; fail=1; return; }
	if [ "$got" != "$want" ]; then
		echo "FAIL: -np $1 $2 $3"
		echo "  wc:             $want"
		echo "  trindle-mpi-wc: $got"
		fail=1
	else
		echo "ok: -np $1 $2 $3: $got"
	fi
}
for np in 1 2 3; do
	check $np "" corpus.txt
	check $np "-w 2 --chunk 65536" corpus.txt
done
for f in empty.txt nonl.txt newlines.txt blank.txt longline.txt; do
	check 3 "-w 2 --chunk 4096" $f
done
# A file that is not there: an error on rank 0, and every rank ends.
if (cd "$dir" && "$run" 2 "$tool" missing.txt) >/dev/null 2>"$dir/err"; then
	echo "FAIL: a missing file gave exit status 0"; fail=1
elif ! grep -q "No such file" "$dir/err"; then
	echo "FAIL: a missing file was not reported:"; cat "$dir/err"; fail=1
else
	echo "ok: a missing file is reported"
fi
exit $fail
