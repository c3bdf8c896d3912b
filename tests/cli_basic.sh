#!/usr/bin/env bash
# CLI contract: exit codes (0 ok, 1 bad input, 2 bad usage), messages that name the problem,
# and `info` reporting every library it promises. Usage: cli_basic.sh <liver-vlm> <fixtures>
set -u
bin="$1"
fails=0
. "$(dirname "${BASH_SOURCE[0]}")/clicheck.sh"
check "no arguments is usage" 2 "usage: liver-vlm" "$bin"
check "--help" 0 "commands:" "$bin" --help
check "unknown command" 2 "unknown command 'frobnicate'" "$bin" frobnicate
check "info" 0 "hdf5:.*[0-9]" "$bin" info
check "info lists the CPU GEMM" 0 "cpu gemm: +(oneDNN|OpenBLAS)" "$bin" info
check "info lists cuda" 0 "cuda:" "$bin" info
check "info rejects options" 2 "unknown option '--bogus'" "$bin" info --bogus
check "bench without benchmark" 2 "bench" "$bin" bench
check "bench unknown benchmark" 2 "nope" "$bin" bench nope
check "bench ops bad device" 2 "expected auto, cpu or cuda" "$bin" bench ops --device tpu --reps 1
check "bench text bad preset" 2 "--preset: expected small, minilm or base" "$bin" bench text --preset huge
check "bench text bad --seq" 2 "--seq" "$bin" bench text --seq 1
check "bench text bad device" 2 "expected auto, cpu or cuda" "$bin" bench text --device tpu
check "bench text train (small, CPU)" 0 '"sequences_per_s"' "$bin" bench text --train --preset small --device cpu \
    --batch 2 --seq 8 --steps 1 --warmup 0 --json
check "bench text eval (small, CPU)" 0 "forward, batch 2 x 8 tokens" "$bin" bench text --eval --preset small \
    --device cpu --batch 2 --seq 8 --steps 1 --warmup 0
check "bench data --upload bad device" 2 "--upload expects auto, cpu or cuda" "$bin" bench data --upload tpu
check "bench data --upload cpu: plain vs pinned" 0 "to cpu: plain copies [0-9]+ samples/s, pinned double-buffered [0-9]+" \
    "$bin" bench data --samples 40 --seconds 0.1 --upload cpu
if ! "$bin" info | grep -q "cuda=on"; then
    check "cuda without a CUDA build is exit 1" 1 "built without CUDA" "$bin" bench ops --device cuda --reps 1
elif ! nvidia-smi -L >/dev/null 2>&1; then
    check "cuda without a device is exit 1" 1 "no CUDA device" "$bin" bench ops --device cuda --reps 1
fi
[ "$fails" -eq 0 ] && echo "all CLI checks passed" || echo "$fails CLI checks failed"
exit $((fails > 0))
