#!/usr/bin/env bash
# `liver-vlm eval`: bad usage exits 2 naming the option, a missing or broken checkpoint
# exits 1; with a trainer in the build (`liver-vlm train --help` works; SKIP otherwise, after
# the checks that need no checkpoint), synth -> train 1 tiny epoch -> eval writes every
# output (exact predictions.csv header, metrics.json keys, SVGs, report.md), refuses a
# non-empty DIR without --force, and refuses data whose classes or phases differ.
# --calibrate: a bad validation file exits 1 naming it (no DIR left behind); a good one adds
# the calibration keys to metrics.json, reliability.svg and its link in report.md, and
# leaves predictions.csv as it was.
# Usage: cli_eval.sh <liver-vlm> <fixtures>
set -u
bin="$1"
fixtures="$2"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
fails=0
. "$(dirname "${BASH_SOURCE[0]}")/clicheck.sh"
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

# --- usage and input errors that need no checkpoint ---
check "--help" 0 "--ckpt C.safetensors" "$bin" eval --help
check "no options" 2 "--ckpt, --data and --out are required" "$bin" eval
check "unknown option" 2 "unknown option '--bogus'" "$bin" eval --ckpt a --data b --out "$tmp/o" --bogus
check "missing value" 2 "--batch needs a value" "$bin" eval --ckpt a --data b --out "$tmp/o" --batch
check "bad batch" 2 "--batch: expected an integer in 1..65536, got '0'" "$bin" eval --ckpt a --data b --out "$tmp/o" --batch 0
check "bad device" 2 "--device: expected auto, cpu or cuda" "$bin" eval --ckpt a --data b --out "$tmp/o" --device gpu
check "bad split" 2 "--split: expected all, train, val or test" "$bin" eval --ckpt a --data b --out "$tmp/o" --split dev
check "missing checkpoint" 1 "$tmp/none.safetensors: cannot open" \
    "$bin" eval --ckpt "$tmp/none.safetensors" --data "$fixtures/h5_good_a.h5" --out "$tmp/o" --device cpu
printf 'not a checkpoint\n' >"$tmp/junk.safetensors"
check "junk checkpoint" 1 "$tmp/junk.safetensors" \
    "$bin" eval --ckpt "$tmp/junk.safetensors" --data "$fixtures/h5_good_a.h5" --out "$tmp/o" --device cpu
[ -e "$tmp/o" ] && fail "a refused command left the output directory $tmp/o behind"

if ! "$bin" train --help >/dev/null 2>&1; then
    echo "skip: this build has no 'liver-vlm train' to make a checkpoint with ($fails failures above)"
    [ "$fails" -eq 0 ] && exit 77
    exit 1
fi
if ! "$bin" synth --out "$tmp/train.h5" --per-class 8 --size 32 --seed 1 >"$tmp/log" 2>&1; then
    if grep -q "without HDF5" "$tmp/log"; then echo "skip: built without HDF5"; exit 77; fi
    cat "$tmp/log"
    exit 1
fi

# --- synth -> train one tiny epoch -> eval ---
"$bin" synth --out "$tmp/test.h5" --per-class 6 --size 32 --seed 2 >/dev/null 2>&1 || fail "synth test set"
"$bin" synth --out "$tmp/dl.h5" --per-class 4 --size 32 --seed 3 --phases NC,ART,PV,DL >/dev/null 2>&1 || fail "synth 4 phases"
if ! "$bin" train --data "$tmp/train.h5" --out "$tmp/run" --epochs 1 --batch 16 --device cpu --seed 1 >"$tmp/log" 2>&1; then
    fail "train 1 epoch:"
    tail -20 "$tmp/log"
    exit 1
fi
ckpt="$tmp/run/model.safetensors"
[ -f "$ckpt" ] || { fail "train wrote no $ckpt"; exit 1; }

check "eval runs" 0 "report: $tmp/ev/report.md" \
    "$bin" eval --ckpt "$ckpt" --data "$tmp/test.h5" --out "$tmp/ev" --device cpu --batch 7
for f in predictions.csv metrics.json roc.svg confusion.svg report.md; do
    [ -s "$tmp/ev/$f" ] || fail "eval wrote no $f"
done
header="$(head -n 1 "$tmp/ev/predictions.csv")"
[ "$header" = "index,patient,label,pred,p_CYST,p_FNH,p_HCC,p_HEM,p_METS" ] || fail "predictions.csv header '$header'"
rows="$(($(wc -l <"$tmp/ev/predictions.csv") - 1))"
[ "$rows" -eq 30 ] && echo "ok: one row per sample" || fail "predictions.csv has $rows rows, expected 30"
awk -F, 'NR > 1 { s = 0; for (i = 5; i <= NF; i++) s += $i; if (s < 0.999 || s > 1.001) bad++;
                  if ($3 !~ /^(CYST|FNH|HCC|HEM|METS)$/ || $4 !~ /^(CYST|FNH|HCC|HEM|METS)$/) bad++ }
         END { exit bad > 0 }' "$tmp/ev/predictions.csv" && echo "ok: rows hold class names and probabilities summing to 1" ||
    fail "predictions.csv rows: bad names or probabilities"
for key in '"accuracy"' '"balanced_accuracy"' '"macro_auc"' '"per_class"' '"confusion"' '"auc"' '"precision"' \
    '"recall"' '"f1"' '"support"'; do
    grep -q "$key" "$tmp/ev/metrics.json" || fail "metrics.json lacks $key"
done
for f in roc.svg confusion.svg; do
    head -c 5 "$tmp/ev/$f" | grep -q '<?xml' && grep -q '</svg>' "$tmp/ev/$f" || fail "$f is not an SVG document"
done
grep -q "roc.svg" "$tmp/ev/report.md" && grep -q "confusion.svg" "$tmp/ev/report.md" && grep -q "macro-AUC" "$tmp/ev/report.md" ||
    fail "report.md lacks the links or the headline"
ls "$tmp/ev" | grep -q '\.tmp\.' && fail "temporary files left in the output directory"

check "non-empty DIR refused" 1 "is not empty; use --force" \
    "$bin" eval --ckpt "$ckpt" --data "$tmp/test.h5" --out "$tmp/ev" --device cpu
cp "$tmp/ev/predictions.csv" "$tmp/first.csv"
check "--force rewrites" 0 "macro-AUC" "$bin" eval --ckpt "$ckpt" --data "$tmp/test.h5" --out "$tmp/ev" --device cpu --force
# Another batch size changes only float rounding (GEMM blocking), never the numbers' meaning.
paste -d, "$tmp/first.csv" "$tmp/ev/predictions.csv" | awk -F, 'NR > 1 { h = NF / 2
        if ($1 != $(h + 1) || $3 != $(h + 3)) bad++
        for (i = 5; i <= h; i++) { d = $i - $(h + i); if (d < 0) d = -d; if (d > 1e-5) bad++ } }
        END { exit bad > 0 }' && echo "ok: --batch 7 and --batch 128 agree to 1e-5" ||
    fail "predictions differ between --batch 7 and --batch 128"
check "mismatched classes" 1 "classes are \[CYST,HCC\], but the checkpoint was trained on \[CYST,FNH,HCC,HEM,METS\]" \
    "$bin" eval --ckpt "$ckpt" --data "$fixtures/h5_good_b.h5" --out "$tmp/ev2" --device cpu
check "mismatched phases" 1 "phases are \[NC,ART,PV,DL\], but the checkpoint was trained on \[NC,ART,PV\]" \
    "$bin" eval --ckpt "$ckpt" --data "$tmp/dl.h5" --out "$tmp/ev2" --device cpu
check "split without /split" 1 "has none" \
    "$bin" eval --ckpt "$ckpt" --data "$tmp/test.h5" --out "$tmp/ev2" --device cpu --split test
[ -e "$tmp/ev2" ] && fail "a refused evaluation left $tmp/ev2 behind"

# --- --calibrate: temperature scaling on a validation file ---
check "bad --calibrate-split" 2 "--calibrate-split: expected all, train, val or test" \
    "$bin" eval --ckpt "$ckpt" --data "$tmp/test.h5" --out "$tmp/cal" --calibrate x --calibrate-split dev
check "missing --calibrate file" 1 "$tmp/none.h5" \
    "$bin" eval --ckpt "$ckpt" --data "$tmp/test.h5" --out "$tmp/cal" --device cpu --calibrate "$tmp/none.h5"
printf 'not hdf5\n' >"$tmp/junk.h5"
check "junk --calibrate file" 1 "$tmp/junk.h5" \
    "$bin" eval --ckpt "$ckpt" --data "$tmp/test.h5" --out "$tmp/cal" --device cpu --calibrate "$tmp/junk.h5"
check "--calibrate file with other phases" 1 "dl.h5: phases are \[NC,ART,PV,DL\]" \
    "$bin" eval --ckpt "$ckpt" --data "$tmp/test.h5" --out "$tmp/cal" --device cpu --calibrate "$tmp/dl.h5"
[ -e "$tmp/cal" ] && fail "a refused calibration left $tmp/cal behind"
"$bin" synth --out "$tmp/val.h5" --per-class 6 --size 32 --seed 4 >/dev/null 2>&1 || fail "synth validation set"
check "eval --calibrate runs" 0 "calibration: T [0-9.]+  ECE [0-9.]+ -> [0-9.]+" \
    "$bin" eval --ckpt "$ckpt" --data "$tmp/test.h5" --out "$tmp/cal" --device cpu --calibrate "$tmp/val.h5"
for key in '"calibration"' '"temperature"' '"ece_before"' '"ece_after"' '"bins":	15' '"nll_before"' '"nll_after"'; do
    grep -q "$key" "$tmp/cal/metrics.json" || fail "metrics.json lacks $key"
done
head -c 5 "$tmp/cal/reliability.svg" | grep -q '<?xml' && grep -q '</svg>' "$tmp/cal/reliability.svg" &&
    echo "ok: reliability.svg is an SVG document" || fail "reliability.svg missing or not an SVG document"
grep -q "reliability.svg" "$tmp/cal/report.md" && grep -q "## Calibration" "$tmp/cal/report.md" &&
    echo "ok: report.md links the reliability diagram" || fail "report.md lacks the calibration section"
cmp -s "$tmp/cal/predictions.csv" "$tmp/ev/predictions.csv" && echo "ok: predictions.csv keeps the raw probabilities" ||
    fail "predictions.csv changed under --calibrate"
grep -q "reliability.svg" "$tmp/ev/report.md" && fail "report.md without --calibrate mentions reliability.svg"
[ -e "$tmp/ev/reliability.svg" ] && fail "eval without --calibrate wrote reliability.svg"

[ "$fails" -eq 0 ] && echo "all eval CLI checks passed" && exit 0
echo "$fails eval CLI checks failed"
exit 1
