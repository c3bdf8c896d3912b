#!/usr/bin/env bash
# The emulated CUDA suite (tools/test.sh --cuda-emu): cuda/ built by the host compiler against
# the CPU device emulator (emu/), twice: under ThreadSanitizer (build-emu-tsan/: the race
# detector between CUDA threads, over every gpu test but the slowest, cuda_batch_stage) and
# under AddressSanitizer+UBSan (build-emu/: every gpu test, under each schedule). Then every __global__ kernel in cuda/ must have been
# launched (build-emu/kernel-coverage.txt). ctest's summary of the coverage check is last.
#   LV_EMU_SCHEDULES="forward reverse random:7"   the schedules to run the gpu tests under
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
jobs="$(nproc)"
schedules="${LV_EMU_SCHEDULES:-forward reverse random:7}"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
t0=$SECONDS

echo "== emulated CUDA build under ThreadSanitizer (build-emu-tsan): races between CUDA threads"
cmake -S . -B build-emu-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLV_CUDA_EMU=ON -DLV_EMU_SANITIZER=thread \
      -DLV_WERROR=ON >/dev/null
cmake --build build-emu-tsan -j "$jobs"
(cd build-emu-tsan && OMP_NUM_THREADS=1 TSAN_OPTIONS="halt_on_error=1" \
    ctest -L gpu -E '^cuda_batch_stage$' -j "$jobs" --output-on-failure)

echo "== emulated CUDA build under AddressSanitizer+UBSan (build-emu) [$((SECONDS - t0)) s]"
cmake -S . -B build-emu -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLV_CUDA_EMU=ON -DLV_EMU_SANITIZER=address \
      -DLV_WERROR=ON >/dev/null
cmake --build build-emu -j "$jobs"
cov="$root/build-emu/kernel-coverage"
rm -rf "$cov" && mkdir -p "$cov"
for s in $schedules; do
    echo "== gpu tests on the emulator, schedule $s [$((SECONDS - t0)) s]"
    (cd build-emu && LIVER_VLM_EMU_SCHEDULE="$s" LIVER_VLM_EMU_COVERAGE="$cov/${s//:/_}.txt" \
        ASAN_OPTIONS=detect_leaks=0 ctest -L gpu -j "$jobs" --output-on-failure)
done
echo "== kernel coverage [$((SECONDS - t0)) s]"
(cd build-emu && ctest -L coverage -V)
