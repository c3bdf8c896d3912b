#!/usr/bin/env bash
# CPU data-parallel under a real mpirun: runs tests/mpi_allreduce_check.c on 2 ranks (exact
# collectives, bit-identical weights after every step, single-process reference) and on 3
# (a world that is not a power of two), then checks that a rank failing alone ends the job
# instead of leaving the others in a collective. With HDF5, the --sync-bn acceptance check:
# `mpirun -np 2 liver-vlm train --sync-bn --batch B` writes the same model.safetensors as one
# process with --batch 2B (weights and BN running statistics within 1e-5 relative, per
# tensor), and without --sync-bn the BN statistics differ by more than that; the 2 CPU ranks
# report "comm":"mpi". With a GPU: 2 ranks sharing it through --comm mpi match 1 rank the same
# way, and --comm nccl refuses two ranks on one GPU.
# SKIP (77) without mpirun or MPI in the build.
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

# --sync-bn: same seed, same data order (rank r takes positions r, r + 2, ... of the epoch, so
# the two ranks' batches of B together are the single process's batch of 2B) and the same
# augmentation (keyed by seed, epoch and sample, never by rank): only BN's batch can differ.
# 64x64 so layer4 still normalises 4 values per sample: at 1x1 the BN gradients are so
# ill-conditioned that thread count alone moves them by ~3e-6.
if "$bin" info 2>/dev/null | grep -q "hdf5=on"; then
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' EXIT
    "$bin" synth --out "$tmp/a.h5" --per-class 4 --size 64 >/dev/null 2>&1 &&
        "$bin" synth --out "$tmp/v.h5" --per-class 1 --size 64 --seed 5 >/dev/null 2>&1 ||
        { echo "FAIL: synth"; fails=$((fails + 1)); }
    # 20 samples: 2 steps of 8 (or 2 x 4); SGD so the update is linear in the gradient.
    common=(--data "$tmp/a.h5" --val "$tmp/v.h5" --epochs 1 --optimizer sgd --lr 0.05 --dim 16 --threads 1
        --seed 3 --log-every 1)
    run_ok() { # what, command...: runs it, fails the test on a non-zero exit
        local what="$1" out
        shift
        if ! out="$(timeout 120 "$@" 2>&1)"; then
            echo "FAIL: $what:"
            tail -20 <<<"$out"
            fails=$((fails + 1))
            return 1
        fi
        printf '%s\n' "$out"
    }
    one="$(run_ok "1 process, batch 8" "$bin" train "${common[@]}" --batch 8 --sync-bn --out "$tmp/one")"
    grep -q "sync-bn with one process changes nothing" <<<"$one" && echo "ok: --sync-bn with one process is a noted no-op" ||
        { echo "FAIL: no note for --sync-bn with one process: $one"; fails=$((fails + 1)); }
    sync_out="$(run_ok "2 ranks, batch 4, --sync-bn" mpirun --oversubscribe -np 2 "$bin" train "${common[@]}" --batch 4 \
        --sync-bn --out "$tmp/sync")"
    grep -q "2 processes with synchronized BatchNorm" <<<"$sync_out" ||
        { echo "FAIL: the 2-rank --sync-bn run does not say it synchronizes BN"; fails=$((fails + 1)); }
    grep -q '"sync_bn":[[:space:]]*true' "$tmp/sync/config.json" 2>/dev/null ||
        { echo "FAIL: sync_bn missing from $tmp/sync/config.json"; fails=$((fails + 1)); }
    run_ok "2 ranks, batch 4, plain BN" mpirun --oversubscribe -np 2 "$bin" train "${common[@]}" --batch 4 \
        --out "$tmp/plain" >/dev/null
    cmp_sync="$("$check" --compare "$tmp/sync/model.safetensors" "$tmp/one/model.safetensors" 2>&1)"
    cmp_plain="$("$check" --compare "$tmp/plain/model.safetensors" "$tmp/one/model.safetensors" 2>&1)"
    value() { awk -v k="$2" '$1 == "compare" && $2 == k { print $3 }' <<<"$1"; }
    below() { [ -n "$1" ] && awk -v x="$1" -v t="$2" 'BEGIN { exit !(x <= t) }'; }
    w="$(value "$cmp_sync" weights)" bn="$(value "$cmp_sync" bn_stats)" pbn="$(value "$cmp_plain" bn_stats)"
    pw="$(value "$cmp_plain" weights)"
    if below "$w" 1e-5 && below "$bn" 1e-5; then
        echo "ok: --sync-bn 2 x 4 vs 1 x 8: weights within $w, BN statistics within $bn (relative, worst tensor)"
    else
        echo "FAIL: --sync-bn 2 x 4 differs from 1 x 8 by more than 1e-5:"
        echo "$cmp_sync"
        fails=$((fails + 1))
    fi
    if [ -n "$pbn" ] && ! below "$pbn" 1e-5; then
        echo "ok: without --sync-bn 2 x 4 differs from 1 x 8 (BN statistics $pbn, weights $pw): the check can fail"
    else
        echo "FAIL: without --sync-bn the BN statistics should differ by more than 1e-5:"
        echo "$cmp_plain"
        fails=$((fails + 1))
    fi
    grep -q '"type":"start".*"comm":"mpi"' "$tmp/sync/log.jsonl" &&
        echo "ok: 2 CPU ranks average through MPI (the start event says \"comm\":\"mpi\")" ||
        { echo "FAIL: no \"comm\":\"mpi\" in $tmp/sync/log.jsonl's start event"; fails=$((fails + 1)); }
    # One GPU is enough for the GPU side: 2 ranks sharing it with --comm mpi match 1 rank with
    # the same global batch (--sync-bn), and --comm nccl refuses the sharing, naming the ranks.
    if "$bin" info 2>/dev/null | grep -q "auto selects cuda"; then
        gpu=(--device cuda --precision fp32)
        run_ok "GPU, 1 process, batch 8" "$bin" train "${common[@]}" "${gpu[@]}" --batch 8 --sync-bn --out "$tmp/g1" >/dev/null
        run_ok "GPU, 2 ranks on one GPU, --comm mpi" mpirun --oversubscribe -np 2 "$bin" train "${common[@]}" "${gpu[@]}" \
            --batch 4 --sync-bn --comm mpi --out "$tmp/g2" >/dev/null
        cmp_g="$("$check" --compare "$tmp/g2/model.safetensors" "$tmp/g1/model.safetensors" 2>&1)"
        gw="$(value "$cmp_g" weights)" gbn="$(value "$cmp_g" bn_stats)"
        if below "$gw" 1e-5 && below "$gbn" 1e-5; then
            echo "ok: GPU, 2 ranks sharing it (--comm mpi --sync-bn) vs 1 rank: weights within $gw, BN within $gbn"
        else
            echo "FAIL: GPU, 2 ranks sharing it differ from 1 rank by more than 1e-5:"
            echo "$cmp_g"
            fails=$((fails + 1))
        fi
        nout="$(timeout 120 mpirun --oversubscribe -np 2 "$bin" train "${common[@]}" "${gpu[@]}" --batch 4 --comm nccl \
            --out "$tmp/g3" 2>&1)"
        rc=$?
        if [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && grep -q "ranks 0 and 1 share a GPU" <<<"$nout"; then
            echo "ok: --comm nccl with 2 ranks on one GPU is refused, naming them (rc=$rc)"
        else
            echo "FAIL: --comm nccl with 2 ranks on one GPU: rc=$rc (124 = hung):"
            tail -10 <<<"$nout"
            fails=$((fails + 1))
        fi
    fi
fi
[ "$fails" -eq 0 ] || exit 1
echo "cli_mpi: all passed"
