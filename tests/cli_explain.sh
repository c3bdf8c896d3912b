#!/usr/bin/env bash
# `liver-vlm explain`: bad usage exits 2 naming the option; then (with a trainer, HDF5 and
# libpng in the build; SKIP otherwise) synth -> train 1 tiny epoch -> explain writes one PNG
# per index with the documented size (3 phases of 32x32: 400x308), an explain.csv row per
# sample, honours --class, and refuses an out-of-range index (exit 1 naming it), an unknown
# class name (exit 2) and a non-empty DIR, leaving no DIR behind when refused.
# Usage: cli_explain.sh <liver-vlm> <fixtures>
set -u
bin="$1"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
fails=0
. "$(dirname "${BASH_SOURCE[0]}")/clicheck.sh"
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

check "--help" 0 "--index I,J" "$bin" explain --help
check "no options" 2 "--ckpt, --data, --index and --out are required" "$bin" explain
check "unknown option" 2 "unknown option '--bogus'" "$bin" explain --ckpt a --data b --index 0 --out "$tmp/o" --bogus
check "missing value" 2 "--index needs a value" "$bin" explain --ckpt a --data b --out "$tmp/o" --index
check "bad index list" 2 "--index: expected comma-separated sample rows .* got 'x'" \
    "$bin" explain --ckpt a --data b --index 1,x --out "$tmp/o"
check "negative index" 2 "--index: expected comma-separated" "$bin" explain --ckpt a --data b --index -3 --out "$tmp/o"
check "repeated index" 2 "--index: sample 2 given twice" "$bin" explain --ckpt a --data b --index 2,5,2 --out "$tmp/o"
check "bad device" 2 "--device: expected auto, cpu or cuda" "$bin" explain --ckpt a --data b --index 0 --out "$tmp/o" --device gpu
check "missing checkpoint" 1 "$tmp/none.safetensors" \
    "$bin" explain --ckpt "$tmp/none.safetensors" --data b --index 0 --out "$tmp/o" --device cpu
[ -e "$tmp/o" ] && fail "a refused command left $tmp/o behind"

if ! "$bin" train --help >/dev/null 2>&1; then
    echo "skip: this build has no 'liver-vlm train' ($fails failures above)"
    [ "$fails" -eq 0 ] && exit 77
    exit 1
fi
if ! "$bin" synth --out "$tmp/d.h5" --per-class 4 --size 32 --seed 1 >"$tmp/log" 2>&1; then
    if grep -q "without HDF5" "$tmp/log"; then echo "skip: built without HDF5"; exit 77; fi
    cat "$tmp/log"
    exit 1
fi
if ! "$bin" train --data "$tmp/d.h5" --out "$tmp/run" --epochs 1 --batch 10 --device cpu --seed 1 >"$tmp/log" 2>&1; then
    fail "train 1 epoch:"
    tail -20 "$tmp/log"
    exit 1
fi
ckpt="$tmp/run/model.safetensors"

check "out-of-range index" 1 "--index 99: .*d.h5 has 20 samples \(rows 0..19\)" \
    "$bin" explain --ckpt "$ckpt" --data "$tmp/d.h5" --index 1,99 --out "$tmp/o" --device cpu
check "unknown class" 2 "--class: expected pred, true or one of the checkpoint's classes \(CYST, FNH, HCC, HEM, METS\), got 'FOO'" \
    "$bin" explain --ckpt "$ckpt" --data "$tmp/d.h5" --index 1 --out "$tmp/o" --device cpu --class FOO
[ -e "$tmp/o" ] && fail "a refused command left $tmp/o behind"

out="$("$bin" explain --ckpt "$ckpt" --data "$tmp/d.h5" --index 0,7,19 --out "$tmp/ex" --device cpu 2>&1)"
rc=$?
if [ "$rc" -ne 0 ]; then
    if grep -q "no libpng" <<<"$out"; then echo "skip: built without libpng"; exit 77; fi
    fail "explain exited $rc: $out"
fi
# PNG: 8-byte signature, then the IHDR chunk with width and height as big-endian uint32.
png_size() { od -An -tu1 -j16 -N8 "$1" | awk '{ printf "%dx%d", (($1*256+$2)*256+$3)*256+$4, (($5*256+$6)*256+$7)*256+$8 }'; }
for i in 0 7 19; do
    f="$tmp/ex/sample_$i.png"
    if [ ! -s "$f" ]; then fail "no $f"; continue; fi
    [ "$(head -c 8 "$f" | od -An -tx1 | tr -d ' \n')" = "89504e470d0a1a0a" ] || fail "$f is not a PNG"
    size="$(png_size "$f")"
    [ "$size" = "400x308" ] && echo "ok: sample_$i.png is 400x308" || fail "sample_$i.png is $size, expected 400x308"
done
[ "$(head -n 1 "$tmp/ex/explain.csv")" = "index,patient,label,pred,p_pred,explained,p_explained,png" ] ||
    fail "explain.csv header: $(head -n 1 "$tmp/ex/explain.csv")"
awk -F, 'NR > 1 { n++; if ($4 != $6 || $5 != $7 || $8 != "sample_" $1 ".png") bad++ } END { exit !(n == 3 && !bad) }' \
    "$tmp/ex/explain.csv" && echo "ok: explain.csv has 3 rows, each map for the predicted class" ||
    fail "explain.csv rows: $(cat "$tmp/ex/explain.csv")"

check "--class true" 0 "3 pictures" \
    "$bin" explain --ckpt "$ckpt" --data "$tmp/d.h5" --index 0,7,19 --out "$tmp/ex2" --device cpu --class true
awk -F, 'NR > 1 && $3 != $6 { bad++ } END { exit bad > 0 }' "$tmp/ex2/explain.csv" &&
    echo "ok: --class true explains the labelled class" || fail "--class true: $(cat "$tmp/ex2/explain.csv")"
check "--class HCC" 0 "1 pictures" \
    "$bin" explain --ckpt "$ckpt" --data "$tmp/d.h5" --index 3 --out "$tmp/ex3" --device cpu --class HCC
awk -F, 'NR == 2 && $6 == "HCC" { ok = 1 } END { exit !ok }' "$tmp/ex3/explain.csv" &&
    echo "ok: --class HCC explains HCC" || fail "--class HCC: $(cat "$tmp/ex3/explain.csv")"
check "non-empty DIR refused" 1 "is not empty; use --force" \
    "$bin" explain --ckpt "$ckpt" --data "$tmp/d.h5" --index 0 --out "$tmp/ex" --device cpu

[ "$fails" -eq 0 ] && echo "all explain CLI checks passed" && exit 0
echo "$fails explain CLI checks failed"
exit 1
