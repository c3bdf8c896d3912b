#!/usr/bin/env bash
# CPU data-parallel under a real mpirun: runs tests/mpi_allreduce_check.c on 2 ranks (exact
# collectives, bit-identical weights after every step, single-process reference) and on 3
# (a world that is not a power of two), then checks that a rank failing alone ends the job
# instead of leaving the others in a collective. SKIP (77) without mpirun or MPI in the build.
# Usage: cli_mpi.sh <liver-vlm> <fixtures>; LV_MPI_CHECK_BIN names the check program.
set -u
bin="$1"
check="${LV_MPI_CHECK_BIN:-$(dirname "$bin")/tests/mpi_allreduce_check}"
if ! command -v mpirun >/dev/null 2>&1; then
    echo "skip: mpirun not found (apt-get install openmpi-bin libopenmpi-dev)"
    exit 77
fi
if "$bin" info 2>/dev/null | grep -q "mpi=off"; then
    echo "skip: liver-vlm was built without MPI"
    exit 77
fi
if [ ! -x "$check" ]; then
    echo "FAIL: check program $check is missing (build the mpi_allreduce_check target)"
    exit 1
fi
# Open MPI refuses to run as root without these; more ranks than cores needs --oversubscribe.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# One math thread per rank: the ranks share the cores and the check compares exact bits.
export OMP_NUM_THREADS=1
# Launch variables inherited from an enclosing job would confuse the ranks' detection.
unset RANK WORLD_SIZE LOCAL_RANK LOCAL_WORLD_SIZE SLURM_STEP_ID SLURM_PROCID SLURM_NTASKS
fails=0
for np in 2 3; do
    out="$(timeout 240 mpirun --oversubscribe -np "$np" "$check" 2>&1)"
    rc=$?
    if [ "$rc" -eq 0 ] && grep -q "all $np ranks hold bit-identical weights" <<<"$out"; then
        echo "ok: mpirun -np $np: $(grep -E '^worst over' <<<"$out" | head -1)"
    else
        echo "FAIL: mpirun -np $np: rc=$rc, output:"
        grep -vE '^ok: ' <<<"$out" | tail -40
        fails=$((fails + 1))
    fi
done
# A rank that fails alone ends the job through lv_dist_abort: no rank hangs in a collective.
out="$(timeout 60 mpirun --oversubscribe -np 2 "$check" --abort 2>&1)"
rc=$?
if [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && ! grep -q "barrier returned" <<<"$out"; then
    echo "ok: a lone failing rank aborts the job (rc=$rc, no hang)"
else
    echo "FAIL: lone failure: rc=$rc (124 = hung), output:"
    tail -20 <<<"$out"
    fails=$((fails + 1))
fi
# A plain run of the same program must not need mpirun: it reports world 1 and refuses.
out="$("$check" 2>&1)"
rc=$?
if [ "$rc" -eq 2 ] && grep -q "world is 1" <<<"$out"; then echo "ok: without mpirun the check runs as world 1"; else
    echo "FAIL: plain run: rc=$rc: $out"; fails=$((fails + 1)); fi
[ "$fails" -eq 0 ] || exit 1
echo "cli_mpi: all passed"
