#!/usr/bin/env bash
# Device check for a lent GPU machine (H100/H200, nvcc 13, PyTorch as python3, no network):
# lean CUDA build (sm_90, Release), every GPU test, `info`, the ops benchmark, one summary
# table. Finds cuDNN/NCCL itself (toolkit, else PyTorch's wheels); never downloads anything.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${BUILD:-$root/build-gpu}"
jobs="${JOBS:-16}"
nvcc="$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)"

# Prints the prefix holding include/<header> and lib*/<lib>.so*: /usr/local/cuda first, else
# PyTorch's nvidia/<pkg> wheel directory (versioned .so.N files only there).
find_prefix() {
    local header="$1" lib="$2" pkg="$3" d
    for d in /usr/local/cuda /usr/local/cuda/targets/x86_64-linux; do
        if [[ -f "$d/include/$header" ]] && compgen -G "$d/lib*/$lib.so*" >/dev/null; then
            echo "$d"; return 0
        fi
    done
    d="$(python3 - "$pkg" 2>/dev/null <<'PY' || true
import importlib.util, os, site, sys
name, dirs = sys.argv[1], []
try:
    spec = importlib.util.find_spec("nvidia." + name)
    dirs += list(spec.submodule_search_locations or []) if spec else []
except Exception:
    pass
dirs += [os.path.join(p, "nvidia", name) for p in site.getsitepackages()]
print(next((d for d in dirs if os.path.isdir(os.path.join(d, "include"))), ""))
PY
)"
    if [[ -n "$d" && -f "$d/include/$header" ]] && compgen -G "$d/lib*/$lib.so*" >/dev/null; then
        echo "$d"; return 0
    fi
    return 1
}
# The library file itself, passed explicitly: find_library searches names first, so an
# unversioned libcudnn.so in a system directory would beat our prefix's libcudnn.so.9.
lib_file() { compgen -G "$1/lib*/$2.so*" | sort | head -1; }

main() {
    local -A result=([build]="failed" [tests]="not run" [info]="not run" [bench]="not run")
    local pass=0 skip=0 fail=0 t0 card dep var header lib pkg prefix file rc
    local cmake_args=(-DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90 -DLV_CUDA=ON)
    local ld_dirs=()

    echo "== machine ($(date -u '+%Y-%m-%d %H:%M UTC'))"
    nvidia-smi -L || echo "nvidia-smi failed (no driver?)"
    "$nvcc" --version || echo "nvcc not found at $nvcc"
    cmake --version | head -1
    card="$(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null | head -1 || true)"

    echo "== dependencies"
    for dep in "CUDNN cudnn.h libcudnn cudnn" "NCCL nccl.h libnccl nccl"; do
        read -r var header lib pkg <<<"$dep"
        if prefix="$(find_prefix "$header" "$lib" "$pkg")"; then
            file="$(lib_file "$prefix" "$lib")"
            echo "$var: $prefix ($file)"
            cmake_args+=("-D${var}_ROOT=$prefix" "-D${var}_INCLUDE_DIR=$prefix/include" "-D${var}_LIBRARY=$file")
            [[ " ${ld_dirs[*]:-} " == *" $(dirname "$file") "* ]] || ld_dirs+=("$(dirname "$file")")
        else
            echo "$var: not under /usr/local/cuda nor python3's nvidia/$pkg (configure will fail)"
        fi
    done
    compgen -G "/usr/local/cuda/lib*/libcublas.so*" >/dev/null || echo "cuBLAS: not under /usr/local/cuda"
    if compgen -G "/usr/include/hdf5.h" >/dev/null || compgen -G "/usr/include/hdf5/*/hdf5.h" >/dev/null ||
       compgen -G "/usr/local/include/hdf5.h" >/dev/null; then
        echo "HDF5: headers found"
    else
        echo "HDF5: no hdf5.h, building with -DLV_HDF5=OFF"
        cmake_args+=(-DLV_HDF5=OFF)
    fi

    echo "== configure + build ($build, -j$jobs)"
    t0=$SECONDS
    if cmake -S "$root" -B "$build" "${cmake_args[@]}" && cmake --build "$build" -j "$jobs"; then
        result[build]="ok ($((SECONDS - t0)) s)"
    fi
    if ((${#ld_dirs[@]})); then
        LD_LIBRARY_PATH="$(IFS=:; echo "${ld_dirs[*]}")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
        export LD_LIBRARY_PATH
    fi
    echo "LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}"

    if [[ "${result[build]}" == ok* ]]; then
        echo "== GPU tests (ctest -L gpu)"
        t0=$SECONDS
        (cd "$build" && ctest -L gpu --output-on-failure) 2>&1 | tee "$build/gpu-ctest.log" || true
        pass=$(grep -cE 'Test +#[0-9]+: .* Passed' "$build/gpu-ctest.log" || true)
        skip=$(grep -cE 'Test +#[0-9]+: .*\*\*\*Skipped' "$build/gpu-ctest.log" || true)
        fail=$(grep -cE 'Test +#[0-9]+: .*(\*\*\*(Failed|Exception|Timeout)|Not Run)' "$build/gpu-ctest.log" || true)
        result[tests]="$pass passed, $skip skipped, $fail failed ($((SECONDS - t0)) s)"
        if ((pass + fail == 0)); then result[tests]+=" -- nothing ran on the GPU: device not seen?"; fi

        echo "== liver-vlm info"
        if "$build/liver-vlm" info; then result[info]="ok"; else result[info]="failed (rc=$?)"; fi

        echo "== liver-vlm bench ops --device cuda --json"
        file="${OUT:-$build}/bench-ops.json"
        if "$build/liver-vlm" bench ops --device cuda --json >"$file"; then
            cat "$file"; result[bench]="ok ($file)"
        else
            rc=$?; cat "$file"; [[ -s "$file" ]] || rm -f "$file"
            result[bench]="failed (rc=$rc; expected until the CUDA kernels land)"
        fi
    fi

    echo
    echo "== summary: ${card:-no GPU seen}, $(date -u '+%Y-%m-%d')"
    printf '| %-6s | %s\n' step result ------ ------
    for k in build tests info bench; do printf '| %-6s | %s\n' "$k" "${result[$k]}"; done
    if [[ -f "$build/gpu-ctest.log" ]]; then
        sed -nE 's/^ *[0-9]+\/[0-9]+ +Test +#[0-9]+: +/  /p' "$build/gpu-ctest.log"
    fi
    [[ "${result[build]}" == ok* ]] && ((fail == 0))
}

if [[ -n "${OUT:-}" ]]; then
    mkdir -p "$OUT"
    main 2>&1 | tee "$OUT/gpu-check.log"   # pipefail: main's verdict is the exit status
else
    main
fi
