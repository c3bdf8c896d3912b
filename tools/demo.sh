#!/usr/bin/env bash
# The README's demo command: installs what is missing, builds, and shows what this build can
# do. Phantom data, training and evaluation join here as their issues land; until then the
# demo prints the build facts and the CPU convolution benchmark.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
. tools/deps.sh
lv_install_deps
cmake -S . -B build >/dev/null
cmake --build build -j "$(nproc)"
./build/liver-vlm info
./build/liver-vlm bench ops --size 64 --batch 32
echo "demo: synth/train/eval are not in this build yet (see docs/roadmap in README.md)"
