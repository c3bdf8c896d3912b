#!/usr/bin/env bash
# Kernel coverage of the emulated suite: every __global__ function defined in cuda/*.cu (the
# list comes from the sources) must appear with at least one launch in the coverage files the
# emulator wrote (LIVER_VLM_EMU_COVERAGE, one "kernel launches" line per process and kernel).
# Writes the merged table to OUT and exits 1 naming each kernel that never ran.
#   tools/emu-coverage.sh CUDA_DIR COVERAGE_DIR OUT
set -euo pipefail
cuda_dir="$1" cov_dir="$2" out="$3"
kernels="$(perl -0ne 'while (/__global__\s+void\s+(\w+)\s*\(/g) { print "$1\n" }' "$cuda_dir"/*.cu | sort -u)"
shopt -s nullglob
files=("$cov_dir"/*.txt)
if [ ${#files[@]} -eq 0 ]; then
    echo "no coverage files in $cov_dir: run the gpu tests with LIVER_VLM_EMU_COVERAGE first" >&2
    exit 1
fi
awk '{ n[$1] += $2 } END { for (k in n) print k, n[k] }' "${files[@]}" | sort > "$out.all"
missing=0 total=0
: > "$out"
while read -r k; do
    total=$((total + 1))
    n="$(awk -v k="$k" '$1 == k { print $2 }' "$out.all")"
    if [ -z "$n" ]; then
        echo "$k 0" >> "$out"
        echo "never launched: $k" >&2
        missing=$((missing + 1))
    else
        echo "$k $n" >> "$out"
    fi
done <<< "$kernels"
rm -f "$out.all"
echo "$((total - missing)) of $total kernels in cuda/ launched (table: $out)"
[ "$missing" -eq 0 ]
