#!/usr/bin/env bash
# The __shared__ variables of the emulated cuda/ library must sit in the lv_emu_shared section,
# where the emulator refills shared memory with garbage before each block and, under TSan,
# forgets the last block's accesses. GCC drops the section attribute of statics inside function
# templates, so a __shared__ array declared in a template kernel would silently become one
# plain global: this fails on any static object of a function template outside the section.
#   tests/emu/shared_placement.sh LIBRARY.a
set -euo pipefail
lib="$1"
bad="$(objdump -t "$lib" | awk '$NF ~ /^_ZZ/ && $NF !~ /^_ZZNSt/ && $NF !~ /lv_emu/ && / O / && $(NF-2) != "lv_emu_shared" { print $NF }' |
       c++filt | grep -E '^[^(]*<' || true)"
n="$(objdump -t "$lib" | awk '$NF ~ /^_ZZ/ && / O / && $(NF-2) == "lv_emu_shared"' | wc -l)"
if [ -n "$bad" ]; then
    echo "function-local statics outside the lv_emu_shared section (declare such __shared__ arrays in a plain" >&2
    echo "__device__ function, as lv_block_scratch in cuda/reduce.cuh does):" >&2
    echo "$bad" >&2
    exit 1
fi
[ "$n" -gt 0 ] || { echo "no __shared__ variables found in $lib: is it the emulated build?" >&2; exit 1; }
echo "all $n __shared__ variables of $lib are in the lv_emu_shared section"
