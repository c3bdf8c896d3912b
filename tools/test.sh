#!/usr/bin/env bash
# The README's test command: installs what is missing, builds (warnings are errors, CUDA
# compiled when nvcc exists), runs the sanitizer subset under ASan+UBSan, then every test.
# Exits non-zero on any failure; ctest's summary is the last thing printed.
#   tools/test.sh              the CPU suite (and the real CUDA build compiled, gpu tests SKIP)
#   tools/test.sh --cuda-emu   every CUDA kernel run on the CPU device emulator (tools/test-emu.sh)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
. tools/deps.sh
lv_install_deps

jobs="$(nproc)"
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-$jobs}"

case "${1:-}" in
    "") ;;
    --cuda-emu) shift; exec tools/test-emu.sh "$@" ;;
    *) echo "usage: tools/test.sh [--cuda-emu]" >&2; exit 2 ;;
esac

echo "== ASan+UBSan build (CPU only) and its tests"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DLV_SANITIZE=ON -DLV_CUDA=OFF -DLV_WERROR=ON >/dev/null
cmake --build build-asan -j "$jobs"
(cd build-asan && ASAN_OPTIONS=detect_leaks=1 ctest -L sanitize --output-on-failure)

echo "== Release build (CUDA when nvcc is present) and every test"
cmake -S . -B build -DLV_WERROR=ON >/dev/null
cmake --build build -j "$jobs"
cd build
ctest --output-on-failure
