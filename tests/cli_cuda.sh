#!/usr/bin/env bash
# `train` and `eval` with --device cuda end to end on a phantom, against the CPU backend:
# per-step losses of a short fp32 run within 1e-3 relative of the CPU run's, and eval of one
# checkpoint on both devices giving the same predicted classes and probabilities within 1e-4.
# With MPI, `mpirun -np 2 train --device cuda --comm nccl` trains and its ranks agree.
# Runs wherever a CUDA device is present: a real card, or the CPU device emulator of an
# LV_CUDA_EMU build (where it is how the whole CUDA path runs in CI); SKIP (77) otherwise.
# Usage: cli_cuda.sh <liver-vlm> <fixtures>
set -u
bin="$1"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
if ! "$bin" info 2>/dev/null | grep -q "auto selects cuda"; then
    echo "skip: no CUDA device (real or emulated)"
    exit 77
fi
if "$bin" info 2>/dev/null | grep -q "hdf5=off"; then
    echo "skip: built without HDF5"
    exit 77
fi
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
unset RANK WORLD_SIZE LOCAL_RANK LOCAL_WORLD_SIZE SLURM_STEP_ID SLURM_PROCID SLURM_NTASKS
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

"$bin" synth --out "$tmp/a.h5" --per-class 4 --size 32 --seed 3 >/dev/null 2>&1 || fail "synth"
run=(--data "$tmp/a.h5" --epochs 1 --batch 8 --dim 16 --threads 1 --log-every 1 --precision fp32 --seed 5)
for dev in cpu cuda; do
    timeout 900 "$bin" train "${run[@]}" --device "$dev" --out "$tmp/$dev" >"$tmp/$dev.out" 2>&1 ||
        { fail "train --device $dev:"; tail -20 "$tmp/$dev.out"; }
done
losses() { grep '"type":"step"' "$1/log.jsonl" 2>/dev/null | grep -o '"loss":[-0-9.eE+naif]*' | cut -d: -f2; }
paste <(losses "$tmp/cpu") <(losses "$tmp/cuda") > "$tmp/losses"
if [ -s "$tmp/losses" ] && awk '{ d = $1 - $2; if (d < 0) d = -d; s = ($1 < 0 ? -$1 : $1); if (s < 1e-6) s = 1e-6;
        r = d / s; if (r > m) m = r; if (r > 1e-3 || $2 == "") bad = 1 }
        END { printf "worst relative loss difference %.2e over %d steps\n", m, NR; exit bad }' "$tmp/losses"; then
    echo "ok: train --device cuda follows the CPU run step by step"
else
    fail "train --device cuda losses differ from the CPU run:"
    head "$tmp/losses"
fi

for dev in cpu cuda; do
    timeout 600 "$bin" eval --ckpt "$tmp/cpu/model.safetensors" --data "$tmp/a.h5" --out "$tmp/ev_$dev" \
        --device "$dev" --precision fp32 >"$tmp/ev_$dev.out" 2>&1 || { fail "eval --device $dev:"; tail -20 "$tmp/ev_$dev.out"; }
done
if [ -f "$tmp/ev_cpu/predictions.csv" ] && [ -f "$tmp/ev_cuda/predictions.csv" ] &&
    paste -d, "$tmp/ev_cpu/predictions.csv" "$tmp/ev_cuda/predictions.csv" | awk -F, '
        NR == 1 { half = NF / 2; next }
        { if ($4 != $(half + 4)) bad = 1
          for (i = 5; i <= half; i++) { d = $i - $(half + i); if (d < 0) d = -d; if (d > m) m = d } }
        END { printf "largest probability difference %.2e\n", m; exit bad || m > 1e-4 }'; then
    echo "ok: eval --device cuda predicts what the CPU predicts"
else
    fail "eval --device cuda differs from eval --device cpu"
fi

if command -v mpirun >/dev/null 2>&1 && ! "$bin" info 2>/dev/null | grep -q "mpi=off"; then
    timeout 900 mpirun --oversubscribe -np 2 "$bin" train "${run[@]}" --batch 4 --device cuda --comm nccl \
        --out "$tmp/nccl" >"$tmp/nccl.out" 2>&1 || { fail "mpirun -np 2 --comm nccl:"; tail -20 "$tmp/nccl.out"; }
    if grep -q '"comm":"nccl"' "$tmp/nccl/log.jsonl" 2>/dev/null && [ -f "$tmp/nccl/model.safetensors" ]; then
        echo "ok: mpirun -np 2 train --device cuda --comm nccl trains ($(losses "$tmp/nccl" | wc -l) steps logged)"
    else
        fail "mpirun -np 2 --comm nccl wrote no NCCL run:"
        tail -20 "$tmp/nccl.out"
    fi
fi
[ "$fails" -eq 0 ] && echo "all cuda CLI checks passed" || echo "$fails cuda CLI check(s) failed"
[ "$fails" -eq 0 ]
