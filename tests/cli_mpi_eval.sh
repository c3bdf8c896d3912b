#!/usr/bin/env bash
# `liver-vlm eval` under mpirun: 2 and 3 ranks each predict a share and rank 0 gathers;
# predictions.csv must list the same samples in the same order as a single-process run,
# with probabilities equal to 1e-5 (batch composition only changes GEMM rounding), and
# metrics.json must hold the same accuracy. SKIP (77) without mpirun, MPI or HDF5.
# Usage: cli_mpi_eval.sh <liver-vlm> <fixtures>
set -u
bin="$1"
if ! command -v mpirun >/dev/null 2>&1; then echo "skip: mpirun not found"; exit 77; fi
if "$bin" info 2>/dev/null | grep -q "mpi=off"; then echo "skip: liver-vlm was built without MPI"; exit 77; fi
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
unset RANK WORLD_SIZE LOCAL_RANK LOCAL_WORLD_SIZE SLURM_STEP_ID SLURM_PROCID SLURM_NTASKS

if ! "$bin" synth --out "$tmp/train.h5" --per-class 6 --size 32 --seed 1 >"$tmp/log" 2>&1; then
    if grep -q "without HDF5" "$tmp/log"; then echo "skip: built without HDF5"; exit 77; fi
    cat "$tmp/log"; exit 1
fi
# 5 classes x 5 = 25 samples: not a multiple of 2 or 3, so the last rank's share is short.
"$bin" synth --out "$tmp/test.h5" --per-class 5 --size 32 --seed 2 >/dev/null 2>&1 || fail "synth test set"
if ! "$bin" train --data "$tmp/train.h5" --out "$tmp/run" --epochs 1 --batch 10 --device cpu --seed 1 >"$tmp/log" 2>&1; then
    fail "train:"; tail -20 "$tmp/log"; exit 1
fi
ckpt="$tmp/run/model.safetensors"
"$bin" eval --ckpt "$ckpt" --data "$tmp/test.h5" --out "$tmp/one" --device cpu --batch 4 >"$tmp/log" 2>&1 ||
    { fail "single-process eval:"; tail -20 "$tmp/log"; exit 1; }

for np in 2 3; do
    out="$(timeout 120 mpirun --oversubscribe -np "$np" "$bin" eval --ckpt "$ckpt" --data "$tmp/test.h5" \
        --out "$tmp/np$np" --device cpu --batch 4 2>&1)"
    rc=$?
    if [ "$rc" -ne 0 ]; then fail "mpirun -np $np eval: rc=$rc"; tail -20 <<<"$out"; continue; fi
    n="$(grep -c '^eval: 25 samples' <<<"$out")"
    [ "$n" -eq 1 ] && echo "ok: -np $np: one headline, from rank 0" || fail "-np $np: $n headlines, expected 1"
    for f in predictions.csv metrics.json roc.svg confusion.svg report.md; do
        [ -s "$tmp/np$np/$f" ] || fail "-np $np wrote no $f"
    done
    paste -d, "$tmp/one/predictions.csv" "$tmp/np$np/predictions.csv" | awk -F, 'NR > 1 { h = NF / 2
            if ($1 != $(h + 1) || $2 != $(h + 2) || $3 != $(h + 3) || $4 != $(h + 4)) bad++
            for (i = 5; i <= h; i++) { d = $i - $(h + i); if (d < 0) d = -d; if (d > 1e-5) bad++ } }
            END { exit bad > 0 || NR != 26 }' && echo "ok: -np $np predictions equal the single process's" ||
        fail "-np $np predictions.csv differs from the single-process run"
    a1="$(grep -oE '"accuracy":[[:space:]]*[0-9.e-]+' "$tmp/one/metrics.json")"
    a2="$(grep -oE '"accuracy":[[:space:]]*[0-9.e-]+' "$tmp/np$np/metrics.json")"
    [ -n "$a1" ] && [ "$a1" = "$a2" ] && echo "ok: -np $np accuracy $a2" || fail "-np $np accuracy '$a2' vs '$a1'"
done
# A bad checkpoint on every rank: a clean exit 1, no hang.
out="$(timeout 60 mpirun --oversubscribe -np 2 "$bin" eval --ckpt "$tmp/none.safetensors" --data "$tmp/test.h5" \
    --out "$tmp/bad" --device cpu 2>&1)"
rc=$?
[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && grep -q "none.safetensors" <<<"$out" && echo "ok: a bad checkpoint ends the job (rc=$rc)" ||
    fail "bad checkpoint under mpirun: rc=$rc"
[ "$fails" -eq 0 ] && echo "cli_mpi_eval: all passed" && exit 0
exit 1
