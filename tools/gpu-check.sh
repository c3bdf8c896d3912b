#!/usr/bin/env bash
# Device check for a lent GPU machine (H100/H200, nvcc 13, PyTorch as python3, no network),
# one command, <= 8 minutes: unpacks the library kit (tools/gpu-kit.sh) under /tmp/lv-kit,
# builds lean (sm_90, Release, only liver-vlm and the gpu tests), runs every `gpu` test,
# `info`, the conv benchmark, `bench train|eval` in fp32 and TF32 at 64x64 and 224x224, the
# same model in PyTorch (bench/torch_gpu.py), the text encoder alone (`bench text` against
# bench/torch_text.py), and prints the tables of images/s (sequences/s) and ratios.
# Finds cuDNN/NCCL itself (toolkit, else PyTorch's wheels); never downloads, never writes
# outside the repo, the build dir, /tmp and $OUT. Logs go to $OUT when set (3 files:
# gpu-check.log, bench.jsonl, summary.md). See docs/gpu-check.md.
#   tools/gpu-check.sh                  the whole check
#   tools/gpu-check.sh --sanitize       the second run: compute-sanitizer memcheck, racecheck and
#                                       synccheck over the gpu tests, one summary line per tool
#   tools/gpu-check.sh --summary FILE   only the table, from a bench.jsonl of an earlier run
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${BUILD:-$root/build-gpu}"
jobs="${JOBS:-16}"
kit_dir="${KIT:-$root/.gpu-kit}"
kit_root="${KIT_ROOT:-/tmp/lv-kit}"
nvcc="$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)"
budget_s="${BUDGET_S:-470}"   # the whole check; torch.compile gets what is left of it
steps="${BENCH_STEPS:-20}"
warmup="${BENCH_WARMUP:-3}"
# kind:size:batch; PyTorch measures the same runs (224: batch 32 train / 64 eval, its usual sizes).
runs="${BENCH_RUNS:-train:64:32 eval:64:128 train:224:32 eval:224:64}"
orig_ld="${LD_LIBRARY_PATH:-}"

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

ld_add() { [[ ":${LD_LIBRARY_PATH:-}:" == *":$1:"* ]] || export LD_LIBRARY_PATH="$1${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"; }
elapsed() { echo "$((SECONDS - t_start))"; }
step() { echo; echo "== $* [$(elapsed) s]"; }

# dpkg-deb -x, or the same in Python where dpkg is missing (a .deb is an ar archive whose
# data.tar.* member holds the files; Debian 12 compresses it with xz).
deb_extract() {
    if command -v dpkg-deb >/dev/null; then dpkg-deb -x "$1" "$2"; return; fi
    python3 - "$1" "$2" <<'PY'
import io, sys, tarfile
deb, dest = sys.argv[1], sys.argv[2]
data = open(deb, "rb").read()
assert data[:8] == b"!<arch>\n", "not an ar archive"
pos = 8
while pos + 60 <= len(data):
    name, size = data[pos:pos + 16].decode().strip().rstrip("/"), int(data[pos + 48:pos + 58])
    body = data[pos + 60:pos + 60 + size]
    if name.startswith("data.tar"):
        tarfile.open(fileobj=io.BytesIO(body)).extractall(dest)
        sys.exit(0)
    pos += 60 + size + (size & 1)
sys.exit("no data.tar member")
PY
}

# Unpacks every .deb of the kit into $kit_root (never into /) and appends the cmake hints
# for what it holds to cmake_args: explicit cache entries, so the kit wins over anything a
# system directory may hold; prefix/library/include paths for every other find_*.
use_kit() {
    local f lib inc debs=("$kit_dir"/*.deb)
    rm -rf "$kit_root" && mkdir -p "$kit_root" || return 1
    for f in "${debs[@]}"; do
        deb_extract "$f" "$kit_root" || { echo "kit: cannot unpack $(basename "$f")"; return 1; }
    done
    lib="$kit_root/usr/lib/x86_64-linux-gnu"
    inc="$kit_root/usr/include"
    echo "kit: ${#debs[@]} packages from $kit_dir unpacked into $kit_root"
    cmake_args+=("-DCMAKE_PREFIX_PATH=$kit_root/usr"
                 "-DCMAKE_LIBRARY_PATH=$lib;$lib/openblas-pthread"
                 "-DCMAKE_INCLUDE_PATH=$inc;$inc/x86_64-linux-gnu/openblas-pthread")
    ld_add "$lib"
    if [[ -f "$inc/cjson/cJSON.h" && -e "$lib/libcjson.so" ]]; then
        cmake_args+=("-DCJSON_INCLUDE_DIR=$inc" "-DCJSON_LIBRARY=$lib/libcjson.so")
        echo "cJSON: kit ($lib/libcjson.so)"
    fi
    if [[ -f "$inc/utf8proc.h" && -e "$lib/libutf8proc.so" ]]; then
        cmake_args+=("-DUTF8PROC_INCLUDE_DIR=$inc" "-DUTF8PROC_LIBRARY=$lib/libutf8proc.so")
        echo "utf8proc: kit ($lib/libutf8proc.so)"
    fi
    if [[ -f "$inc/x86_64-linux-gnu/openblas-pthread/cblas.h" && -e "$lib/openblas-pthread/libopenblas.so" ]]; then
        cmake_args+=(-DLV_CPU_GEMM=OPENBLAS "-DOPENBLAS_INCLUDE_DIR=$inc/x86_64-linux-gnu/openblas-pthread"
                     "-DOPENBLAS_LIBRARY=$lib/openblas-pthread/libopenblas.so")
        ld_add "$lib/openblas-pthread"
        echo "OpenBLAS: kit ($lib/openblas-pthread/libopenblas.so), LV_CPU_GEMM=OPENBLAS"
    fi
    # HDF5 is optional: Debian's libhdf5 needs libcurl/libcrypto from the system, so take it
    # only when every library it needs resolves here.
    if [[ -e "$lib/hdf5/serial/libhdf5.so" ]]; then
        local missing
        missing="$(ldd "$lib/hdf5/serial/libhdf5.so" 2>&1 | awk '/not found/{print $1}' | tr '\n' ' ')"
        if [[ -z "$missing" ]]; then
            cmake_args+=("-DHDF5_ROOT=$lib/hdf5/serial" -DLV_HDF5=ON)
            hdf5_done=1
            echo "HDF5: kit ($lib/hdf5/serial)"
        else
            echo "HDF5: the kit's libhdf5 needs what this machine lacks ($missing): -DLV_HDF5=OFF"
            cmake_args+=(-DLV_HDF5=OFF)
            hdf5_done=1
        fi
    fi
    return 0
}

# cuBLAS/cuBLASLt from PyTorch's wheels when the toolkit lacks them (nvidia/cublas/lib or
# CUDA 13's nvidia/cu13/lib, versioned .so.N only): FindCUDAToolkit takes the cached
# CUDA_<lib>_LIBRARY as given; the headers, if only there, go in through the compile flags.
use_pip_cublas() {
    local lib lt inc
    lib="$(python3 -c 'import glob, site
for p in site.getsitepackages():
    for f in sorted(glob.glob(p + "/nvidia/*/lib/libcublas.so.*")):
        print(f); raise SystemExit' 2>/dev/null)"
    if [[ -z "$lib" ]]; then
        echo "cuBLAS: not under /usr/local/cuda nor python3's nvidia/*/lib (configure will fail)"
        return
    fi
    lt="$(compgen -G "$(dirname "$lib")/libcublasLt.so.*" | sort | head -1)"
    inc="$(dirname "$(dirname "$lib")")/include"
    echo "cuBLAS: $lib, $lt (python3's wheel)"
    cmake_args+=("-DCUDA_cublas_LIBRARY=$lib" "-DCUDA_cublasLt_LIBRARY=$lt")
    if [[ -f "$inc/cublas_v2.h" && ! -f /usr/local/cuda/include/cublas_v2.h ]]; then
        cmake_args+=("-DCMAKE_CUDA_FLAGS=-I$inc" "-DCMAKE_C_FLAGS=-I$inc")
    fi
    ld_add "$(dirname "$lib")"
}

# Every built binary must find its libraries: one "not found" would make each test fail
# with a loader error, minutes later and less clearly.
libraries_resolve() {
    local f missing bad=0
    for f in "$build/liver-vlm" "$build"/tests/test_cuda_*; do
        [[ -x "$f" ]] || continue
        missing="$(ldd "$f" 2>&1 | awk '/not found/{print $1}' | sort -u | tr '\n' ' ')"
        if [[ -n "$missing" ]]; then
            echo "ldd $(basename "$f"): not found: $missing(LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-})"
            bad=1
        fi
    done
    ((bad == 0))
}

# The second prepared run: each gpu test binary under compute-sanitizer's memcheck (device
# out-of-bounds and misaligned accesses, API errors), racecheck (shared-memory hazards) and
# synccheck (barrier misuse), six binaries at a time, 60 s each (two rounds for the eleven
# tests), so the three tools fit in 6 minutes after the build. One summary line per tool;
# the logs go to $outdir. A binary over its 60 s is listed, not counted as an error.
run_sanitizers() {
    local cs tool bins=() f name rc clean bad slow skipped line
    # On PATH, in the toolkit (bin/ or its own compute-sanitizer/ folder), else PyTorch's
    # nvidia/cuda_sanitizer_api wheel.
    cs="$(command -v compute-sanitizer || true)"
    for f in /usr/local/cuda/bin/compute-sanitizer /usr/local/cuda*/compute-sanitizer/compute-sanitizer \
             $(python3 -c 'import glob, site
for p in site.getsitepackages(): print(" ".join(glob.glob(p + "/nvidia/*/compute-sanitizer/compute-sanitizer")))' 2>/dev/null); do
        [[ -z "$cs" && -x "$f" ]] && cs="$f"
    done
    [[ -n "$cs" ]] || { echo "compute-sanitizer not found (PATH, /usr/local/cuda*, python3's nvidia wheels)"; return 1; }
    echo "compute-sanitizer: $cs ($("$cs" --version 2>/dev/null | tail -1))"
    for f in "$build"/tests/test_cuda_*; do [[ -x "$f" ]] && bins+=("$f"); done
    ((${#bins[@]})) || { echo "no gpu test binaries in $build/tests"; return 1; }
    local summary=()
    for tool in memcheck racecheck synccheck; do
        step "compute-sanitizer --tool $tool over ${#bins[@]} gpu tests"
        printf '%s\n' "${bins[@]}" | (cd "$build/tests" && OMP_NUM_THREADS=2 xargs -P 6 -I{} bash -c '
            b="{}"; n="$(basename "$b")"; log="$0/sanitize-$1-$n.log"
            timeout 60 "$2" --tool "$1" --error-exitcode 99 --print-limit 20 "$b" >"$log" 2>&1
            echo "$n $?" >>"$0/sanitize-$1.rc"' "$outdir" "$tool" "$cs")
        clean=0 bad="" slow="" skipped=0
        while read -r name rc; do
            case "$rc" in
                0) clean=$((clean + 1)) ;;
                77) skipped=$((skipped + 1)) ;;
                124|137) slow+=" $name" ;;
                *) bad+=" $name(rc=$rc)" ;;
            esac
        done <"$outdir/sanitize-$tool.rc"
        line="$tool: $clean of ${#bins[@]} clean"
        ((skipped)) && line+=", $skipped skipped (no device seen)"
        [[ -n "$bad" ]] && line+=", errors in$bad"
        [[ -n "$slow" ]] && line+=", over 60 s (not checked to the end):$slow"
        summary+=("$line")
        echo "$line"
    done
    step "sanitizer summary (logs: $outdir/sanitize-*.log)"
    printf '%s\n' "${summary[@]}"
    ! printf '%s\n' "${summary[@]}" | grep -q 'errors in\|skipped'
}

# One `liver-vlm bench` run; its JSON (or an error record) becomes one line of $res.
bench_engine() {
    local kind="$1" size="$2" batch="$3" prec="$4" f rc
    f="$tmp/lv-$kind-$size-$prec.json"
    echo "-- liver-vlm bench $kind --device cuda --precision $prec --size $size --batch $batch"
    LIVER_VLM_CUDNN_BENCHMARK=1 timeout 90 "$build/liver-vlm" bench "$kind" --device cuda --precision "$prec" --size "$size" --batch "$batch" \
        --steps "$steps" --warmup "$warmup" --json >"$f" 2>"$f.err"
    rc=$?
    sed 's/^/   /' "$f.err"
    python3 - "$f" "$f.err" "$rc" "$kind" "$size" "$batch" "$prec" >>"$res" <<'PY'
import json, sys
f, ferr, rc, kind, size, batch, prec = sys.argv[1:]
base = {"engine": "liver-vlm", "benchmark": kind, "size": int(size), "batch": int(batch), "precision": prec}
try:
    r = json.load(open(f)) if rc == "0" else None
except ValueError:
    r = None
if r is None:
    lines = [l.strip() for l in open(ferr, errors="replace") if l.strip()]
    why = "timed out" if rc in ("124", "137") else (lines[-1] if lines else "no output")
    r = dict(base, error=f"rc={rc}: {why}"[:300])
else:
    r = dict(base, **r)
print(json.dumps(r))
PY
    if [[ "$rc" == 0 ]]; then
        python3 -c 'import json,sys; r=[json.loads(l) for l in open(sys.argv[1])][-1]; print("   %.1f images/s, %.2f ms/step, loss %.4f -> %.4f" % (r["images_per_s"], r["ms_per_step"], r["loss_first"], r["loss_last"]))' "$res" || true
    else
        echo "   FAILED (rc=$rc)"; bench_fail=$((bench_fail + 1))
    fi
}

# The text encoder alone (bench text, MiniLM-L6's shape, training steps) in fp32 and TF32,
# then the same in PyTorch (bench/torch_text.py); every record becomes one line of $res.
bench_text() {
    local prec f rc
    for prec in fp32 tf32; do
        f="$tmp/lv-text-$prec.json"
        echo "-- liver-vlm bench text --train --preset minilm --device cuda --precision $prec"
        LIVER_VLM_CUDNN_BENCHMARK=1 timeout 90 "$build/liver-vlm" bench text --train --preset minilm --device cuda --precision "$prec" \
            --steps "$steps" --warmup "$warmup" --json >"$f" 2>"$f.err"
        rc=$?
        sed 's/^/   /' "$f.err"
        python3 - "$f" "$rc" "$prec" >>"$res" <<'PY'
import json, sys
f, rc, prec = sys.argv[1:]
base = {"engine": "liver-vlm", "benchmark": "text_train", "precision": prec}
try:
    r = dict(base, **json.load(open(f))) if rc == "0" else None
except ValueError:
    r = None
print(json.dumps(r if r else dict(base, error=f"rc={rc}")))
PY
        [[ "$rc" == 0 ]] || { echo "   FAILED (rc=$rc)"; bench_fail=$((bench_fail + 1)); }
    done
    echo "-- PyTorch bench/torch_text.py --preset minilm --modes train"
    LD_LIBRARY_PATH="$orig_ld" timeout 120 python3 "$root/bench/torch_text.py" --device cuda --preset minilm \
        --modes train --configs eager-fp32,eager-tf32,amp-bf16,sdpa-bf16 --steps "$steps" --warmup "$warmup" |
        python3 -c 'import json,sys
for l in sys.stdin:
    r = json.loads(l); r["engine"] = "pytorch"; print(json.dumps(r))' | tee -a "$res"
}

# The one table: each engine figure beside the PyTorch configuration it is measured against.
summary() {
    python3 - "$1" "$runs" <<'PY'
import json, sys
path, runs = sys.argv[1], [tuple(r.split(":")) for r in sys.argv[2].split()]
recs = []
for line in open(path):
    line = line.strip()
    if line:
        try:
            recs.append(json.loads(line))
        except ValueError:
            pass
def key(r, field):
    return (r.get("benchmark"), int(r.get("size", 0)), int(r.get("batch", 0)), r.get(field))
ours = {key(r, "precision"): r for r in recs if r.get("engine") == "liver-vlm"}
torch = {key(r, "config"): r for r in recs if r.get("engine") == "pytorch"}
def fig(r):
    if r is None:
        return None, "not run"
    if "error" in r:
        e = r["error"]
        return None, "skipped" if e.startswith("skipped") else "failed"
    return r["images_per_s"], f"{r['images_per_s']:.1f}"
pairs = [("fp32", "eager-fp32"), ("tf32", "eager-tf32"), ("tf32", "amp-cl"), ("tf32", "compile")]
gpu = next((r.get("gpu") for r in recs if r.get("gpu")), "?")
tv = next((r.get("torch") for r in recs if r.get("torch")), "?")
print(f"liver-vlm vs PyTorch {tv} on {gpu}: images/s (median step), ratio = liver-vlm / PyTorch")
print()
print("| bench | size | batch | liver-vlm | img/s | PyTorch | img/s | ratio |")
print("|---|---|---|---|---|---|---|---|")
verdict = []
for kind, size, batch in runs:
    k = (kind, int(size), int(batch))
    for prec, cfg in pairs:
        a, at = fig(ours.get(k + (prec,)))
        b, bt = fig(torch.get(k + (cfg,)))
        ratio = f"{a / b:.2f}x" if a and b else "-"
        print(f"| {kind} | {size} | {batch} | {prec} | {at} | {cfg} | {bt} | {ratio} |")
        if prec == "fp32":
            met = "met" if a and b and a >= b else "NOT met" if a and b else "unknown"
            verdict.append(f"{kind} {size}x{size}: liver-vlm fp32 >= PyTorch eager fp32: {met}")
print()
for v in verdict:
    print("target:", v)
errs = {}
for r in recs:
    if "error" in r and not r["error"].startswith("skipped"):
        who = "%s %s %s %s" % (r.get("engine"), r.get("benchmark"), r.get("size"), r.get("precision") or r.get("config"))
        errs.setdefault((r.get("engine"), r["error"]), []).append(who)
tours = {r.get("precision"): r for r in recs if r.get("engine") == "liver-vlm" and r.get("benchmark") == "text_train"}
ttorch = {r.get("config"): r for r in recs if r.get("engine") == "pytorch" and r.get("benchmark") == "text_train"}
if tours or ttorch:
    print()
    print("Text encoder alone (MiniLM-L6 shape, batch 64 x 32 tokens, forward + backward + AdamW): sequences/s")
    print()
    print("| liver-vlm | seq/s | PyTorch | seq/s | ratio |")
    print("|---|---|---|---|---|")
    def tfig(r):
        if r is None:
            return None, "not run"
        return (None, "failed") if "error" in r else (r["sequences_per_s"], f"{r['sequences_per_s']:.1f}")
    for prec, cfg in [("fp32", "eager-fp32"), ("tf32", "eager-tf32"), ("tf32", "amp-bf16"), ("tf32", "sdpa-bf16")]:
        a, at = tfig(tours.get(prec))
        b, bt = tfig(ttorch.get(cfg))
        print(f"| {prec} | {at} | {cfg} | {bt} | " + (f"{a / b:.2f}x" if a and b else "-") + " |")
for (engine, e), whos in errs.items():
    print(f"error ({whos[0]}" + (f" and {len(whos) - 1} more" if len(whos) > 1 else "") + f"): {e}")
PY
}

main() {
    local -A result=([kit]="none (system libraries)" [build]="failed" [tests]="not run" [info]="not run"
                     [ops]="not run" [upload]="not run" [engine]="not run" [text]="not run" [pytorch]="not run")
    local pass=0 skip=0 fail=0 t0 card dep var header lib pkg prefix file rc targets=() f kind size batch prec
    local cmake_args=(-DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90 -DLV_CUDA=ON -DLV_MPI=OFF)
    hdf5_done=0 bench_fail=0
    t_start=$SECONDS
    outdir="${OUT:-$build/gpu-check}"
    mkdir -p "$outdir" "$build"
    res="$outdir/bench.jsonl"
    : >"$res"
    tmp="$(mktemp -d /tmp/lv-gpu-check.XXXXXX)"

    echo "== machine ($(date -u '+%Y-%m-%d %H:%M UTC'))"
    nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv,noheader ||
        echo "nvidia-smi failed (no driver?)"
    "$nvcc" --version | tail -2 || echo "nvcc not found at $nvcc"
    cmake --version | head -1
    cc --version 2>/dev/null | head -1
    echo "cpus: $(nproc), python3: $(command -v python3)"
    card="$(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null | head -1 || true)"

    step "dependencies"
    if compgen -G "$kit_dir/*.deb" >/dev/null; then
        if use_kit; then result[kit]="$kit_root (from $kit_dir)"
        else result[kit]="unpack failed"; fi
    else
        echo "kit: no $kit_dir/*.deb (run tools/gpu-kit.sh before the session and carry .gpu-kit): system libraries"
    fi
    for dep in "CUDNN cudnn.h libcudnn cudnn" "NCCL nccl.h libnccl nccl"; do
        read -r var header lib pkg <<<"$dep"
        if prefix="$(find_prefix "$header" "$lib" "$pkg")"; then
            file="$(lib_file "$prefix" "$lib")"
            echo "$var: $prefix ($file)"
            cmake_args+=("-D${var}_ROOT=$prefix" "-D${var}_INCLUDE_DIR=$prefix/include" "-D${var}_LIBRARY=$file")
            ld_add "$(dirname "$file")"
        else
            echo "$var: not under /usr/local/cuda nor python3's nvidia/$pkg (configure will fail)"
        fi
    done
    if compgen -G "/usr/local/cuda/lib*/libcublas.so*" >/dev/null ||
       compgen -G "/usr/local/cuda/targets/x86_64-linux/lib/libcublas.so*" >/dev/null; then
        echo "cuBLAS: /usr/local/cuda"
    else
        use_pip_cublas
    fi
    # The runtime and cuBLAS folders go on the loader path too: the binaries are linked with
    # their sonames, and a toolkit outside ld.so.conf is not found at run time otherwise.
    for lib in libcudart libcublas libcublasLt; do
        file="$(compgen -G "/usr/local/cuda/lib64/$lib.so*" || compgen -G "/usr/local/cuda/targets/x86_64-linux/lib/$lib.so*" || true)"
        [[ -n "$file" ]] && ld_add "$(dirname "$(head -1 <<<"$file")")"
    done
    if ((!hdf5_done)); then
        if compgen -G "/usr/include/hdf5.h" >/dev/null || compgen -G "/usr/include/hdf5/*/hdf5.h" >/dev/null ||
           compgen -G "/usr/local/include/hdf5.h" >/dev/null; then
            echo "HDF5: system headers found"
        else
            echo "HDF5: no hdf5.h, building with -DLV_HDF5=OFF"
            cmake_args+=(-DLV_HDF5=OFF)
        fi
    fi
    echo "LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}"

    step "configure + build ($build, -j$jobs)"
    t0=$SECONDS
    targets=(liver-vlm)
    for f in "$root"/tests/test_cuda_*.c; do targets+=("$(basename "$f" .c)"); done
    if timeout 120 cmake -S "$root" -B "$build" "${cmake_args[@]}"; then
        grep -E '^((CJSON|UTF8PROC|OPENBLAS|DNNL|CUDNN|NCCL)_(INCLUDE_DIR|LIBRARY)|HDF5_(C_INCLUDE_DIR|hdf5_LIBRARY_RELEASE)|LV_(CPU_GEMM|HDF5|MPI|CUDA)):' \
            "$build/CMakeCache.txt" | sed 's/^/  found: /'
        # liver-vlm must build; a broken test only loses that test (keep going past it).
        local keep=(-k); [[ -f "$build/build.ninja" ]] && keep=(-k 0)
        if timeout 300 cmake --build "$build" -j "$jobs" --target liver-vlm &&
           { timeout 240 cmake --build "$build" -j "$jobs" --target "${targets[@]}" -- "${keep[@]}" ||
             echo "some gpu tests did not build (ctest reports them as not run)"; }; then
            result[build]="ok ($((SECONDS - t0)) s, ${#targets[@]} targets)"
        fi
    fi

    if [[ "${result[build]}" == ok* ]] && ! libraries_resolve; then
        result[build]="built, but libraries missing at run time (see 'not found' above)"
    fi
    if ((sanitize)); then
        [[ "${result[build]}" == ok* ]] || { echo "build: ${result[build]}"; return 1; }
        rm -f "$outdir"/sanitize-*.rc
        run_sanitizers
        return
    fi
    if [[ "${result[build]}" == ok* ]]; then
        # First visit to a card: every op synchronizes and checks (LIVER_VLM_CUDA_SYNC=1), so
        # a fault names the op that made it; each test has 100 s, well inside the step's 240.
        step "GPU tests (ctest -L gpu, LIVER_VLM_CUDA_SYNC=1)"
        t0=$SECONDS
        (cd "$build" && LIVER_VLM_CUDA_SYNC=1 OMP_NUM_THREADS=4 OPENBLAS_NUM_THREADS=4 \
            timeout 240 ctest -L gpu -j 4 --timeout 100 --output-on-failure) 2>&1 | tee "$build/gpu-ctest.log"
        pass=$(grep -cE 'Test +#[0-9]+: .* Passed' "$build/gpu-ctest.log")
        skip=$(grep -cE 'Test +#[0-9]+: .*\*\*\*Skipped' "$build/gpu-ctest.log")
        fail=$(grep -cE 'Test +#[0-9]+: .*(\*\*\*(Failed|Exception|Timeout)|Not Run)' "$build/gpu-ctest.log")
        result[tests]="$pass passed, $skip skipped, $fail failed ($((SECONDS - t0)) s)"
        if ((pass + fail == 0)); then result[tests]+=" -- nothing ran on the GPU: device not seen?"; fi

        step "liver-vlm info"
        if timeout 30 "$build/liver-vlm" info; then result[info]="ok"; else result[info]="failed (rc=$?)"; fi

        step "liver-vlm bench ops --device cuda (conv shapes, 64x64, batch 32)"
        if timeout 60 "$build/liver-vlm" bench ops --device cuda --reps 10; then result[ops]="ok"
        else result[ops]="failed (rc=$?)"; fi

        step "liver-vlm bench data --upload cuda (plain vs pinned double-buffered batch copies, 224x224)"
        if timeout 60 "$build/liver-vlm" bench data --size 224 --batch 64 --samples 512 --seconds 2 --upload cuda; then
            result[upload]="ok"
        else result[upload]="failed (rc=$?)"; fi

        step "liver-vlm bench train|eval --device cuda ($steps steps after $warmup warm-up)"
        t0=$SECONDS
        for run in $runs; do
            IFS=: read -r kind size batch <<<"$run"
            for prec in fp32 tf32; do bench_engine "$kind" "$size" "$batch" "$prec"; done
        done
        result[engine]="$(( $(wc -w <<<"$runs") * 2 - bench_fail )) of $(( $(wc -w <<<"$runs") * 2 )) ran ($((SECONDS - t0)) s)"
        step "text encoder: liver-vlm bench text and bench/torch_text.py (MiniLM-L6 shape)"
        t0=$SECONDS
        local before=$bench_fail
        bench_text
        result[text]="$((2 - (bench_fail - before))) of 2 engine runs ($((SECONDS - t0)) s)"
    fi

    # PyTorch runs even when the build failed: its figures are the baseline either way. Its
    # own libraries, not the kit's, so the original LD_LIBRARY_PATH.
    step "PyTorch (bench/torch_gpu.py): eager fp32, eager TF32, AMP bf16 + channels_last"
    t0=$SECONDS
    local torch_runs run_list
    read -ra run_list <<<"$runs"
    torch_runs="$(IFS=,; echo "${run_list[*]}")"
    LD_LIBRARY_PATH="$orig_ld" PYTHONUNBUFFERED=1 timeout 180 python3 "$root/bench/torch_gpu.py" --runs "$torch_runs" \
        --configs eager-fp32,eager-tf32,amp-cl --steps "$steps" --warmup "$warmup" --out "$res"
    local left=$((budget_s - $(elapsed) - 20))
    step "PyTorch torch.compile (AMP + channels_last), $left s left of the ${budget_s} s budget"
    if ((left >= 60)); then
        LD_LIBRARY_PATH="$orig_ld" PYTHONUNBUFFERED=1 timeout "$left" python3 "$root/bench/torch_gpu.py" \
            --runs "$torch_runs" --configs compile --steps "$steps" --warmup "$warmup" \
            --deadline-s $((left - 45)) --out "$res"
    else
        echo "no time left for torch.compile: skipped"
    fi
    result[pytorch]="$(grep -c '"engine": "pytorch"' "$res") records, $(grep '"engine": "pytorch"' "$res" | grep -c '"error"') failed or skipped ($((SECONDS - t0)) s)"

    step "summary: ${card:-no GPU seen}, $(date -u '+%Y-%m-%d'), $(elapsed) s in all"
    summary "$res" | tee "$outdir/summary.md"
    echo
    printf '| %-7s | %s\n' step result ------- ------
    for k in kit build tests info ops upload engine text pytorch; do printf '| %-7s | %s\n' "$k" "${result[$k]}"; done
    if [[ -f "$build/gpu-ctest.log" ]]; then
        sed -nE 's/^ *[0-9]+\/[0-9]+ +Test +#[0-9]+: +/  /p' "$build/gpu-ctest.log"
    fi
    echo "results: $res, $outdir/summary.md"
    rm -rf "$tmp"
    [[ "${result[build]}" == ok* ]] && ((fail == 0 && pass > 0 && bench_fail == 0))
}

sanitize=0
if [[ "${1:-}" == "--sanitize" ]]; then
    sanitize=1
fi
if [[ "${1:-}" == "--summary" ]]; then
    [[ -f "${2:-}" ]] || { echo "usage: tools/gpu-check.sh --summary bench.jsonl" >&2; exit 2; }
    summary "$2"
    exit
fi
if [[ -n "${OUT:-}" ]]; then
    mkdir -p "$OUT"
    main 2>&1 | tee "$OUT/gpu-check.log"   # pipefail: main's verdict is the exit status
else
    main
fi
