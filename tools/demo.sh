#!/usr/bin/env bash
# The README's demo command, on a fresh machine: installs what is missing, builds, makes a
# phantom training set and a held-out test set (different patients: another seed), trains
# Liver-VLM on the CPU, evaluates the best checkpoint on the held-out patients and prints
# the metrics and where the report is. About 3-5 minutes on a 2-core machine.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
. tools/deps.sh
lv_install_deps

echo "== build"
cmake -S . -B build >/dev/null
cmake --build build -j "$(nproc)"
bin="$root/build/liver-vlm"
"$bin" info

out="${LV_DEMO_DIR:-$root/out/demo}"
mkdir -p "$out"
echo "== phantom data in $out"
"$bin" synth --out "$out/train.h5" --per-class 200 --seed 1 --force --preview "$out/preview.png"
"$bin" synth --out "$out/test.h5" --per-class 60 --seed 2 --force
"$bin" inspect "$out/test.h5"

echo "== train (CPU, VLM head, frozen text encoder; validation = a patient-level split of train.h5)"
start=$(date +%s)
"$bin" train --data "$out/train.h5" --out "$out/run" --epochs 12 --batch 32 --device cpu --force
echo "trained in $(( $(date +%s) - start )) s"

echo "== evaluate the best checkpoint on held-out patients"
"$bin" eval --ckpt "$out/run/best.safetensors" --data "$out/test.h5" --out "$out/eval" --force
echo
echo "metrics: $out/eval/metrics.json"
echo "report:  $out/eval/report.md (predictions.csv, roc.svg, confusion.svg beside it)"
echo "run:     $out/run (model.safetensors, best.safetensors, config.json, log.jsonl)"
