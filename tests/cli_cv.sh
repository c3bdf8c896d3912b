#!/usr/bin/env bash
# `liver-vlm cv`: bad usage exits 2 naming the option (folds, heads, lists, options that are
# the sweep's own, mpirun); on a small phantom (HDF5 builds) too many folds or shots exit 2
# naming the fold and class, a 2-fold x shots 2,all x 1 seed x both heads sweep writes every
# run, the tables and cv.json, its predictions equal `liver-vlm eval`'s, a second call
# reuses finished runs (metrics.json untouched) and redoes or resumes interrupted ones, and
# a changed sweep is refused unless --force.
# Usage: cli_cv.sh <liver-vlm> <fixtures>
set -u
bin="$1"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
fails=0
. "$(dirname "${BASH_SOURCE[0]}")/clicheck.sh"
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

d="$tmp/d"
check "--help" 0 "--folds K" "$bin" cv --help
check "no --data" 2 "--data is required" "$bin" cv --out "$d"
check "no --out" 2 "--out is required" "$bin" cv --data x.h5
check "--folds 1" 2 "--folds: expected an integer in 2\.\." "$bin" cv --data x.h5 --out "$d" --folds 1
check "a pretraining objective" 2 "--objective phase-shuffle is a pretraining objective" "$bin" cv --data x.h5 \
    --out "$d" --objective phase-shuffle
check "unknown head" 2 "--head: unknown head 'cnn'" "$bin" cv --data x.h5 --out "$d" --head vlm,cnn
check "malformed shots" 2 "--shots: empty item in '5,,all'" "$bin" cv --data x.h5 --out "$d" --shots 5,,all
check "zero shots" 2 "--shots: expected 'all' or lesions per class" "$bin" cv --data x.h5 --out "$d" --shots 0
check "bad seeds" 2 "--seeds: expected integers .* got 'x'" "$bin" cv --data x.h5 --out "$d" --seeds 1,x
check "--seed is the sweep's" 2 "--seed is not a cv option: each run takes its seed from --seeds" \
    "$bin" cv --data x.h5 --out "$d" --seed 3
check "--val-fraction is refused" 2 "--val-fraction is not a cv option" "$bin" cv --data x.h5 --out "$d" --val-fraction 0.2
check "unknown training option" 2 "unknown option '--bogus'" "$bin" cv --data x.h5 --out "$d" --bogus
check "bad training value" 2 "--epochs: expected an integer" "$bin" cv --data x.h5 --out "$d" --epochs ten
check "mpirun refused" 2 "cv runs its sweep in one process" env OMPI_COMM_WORLD_SIZE=2 "$bin" cv --data x.h5 --out "$d"
[ -e "$d" ] && fail "a rejected command created $d"

if ! "$bin" info | grep -q "hdf5=on"; then
    echo "SKIP: built without HDF5 (the sweep itself is covered by test_cv)"
    [ "$fails" -eq 0 ] && exit 77 || exit 1
fi
check "missing data file" 1 "missing.h5" "$bin" cv --data "$tmp/missing.h5" --out "$d"
"$bin" synth --out "$tmp/a.h5" --per-class 24 --size 32 >/dev/null 2>&1 || fail "synth"
np=$("$bin" inspect "$tmp/a.h5" | awk '/^patients:/ {print $2}')
check "more folds than patients" 2 "--folds $((np + 1)): k-fold: k = $((np + 1)) exceeds the $np patients" \
    "$bin" cv --data "$tmp/a.h5" --out "$d" --folds $((np + 1))
check "too many shots" 2 "--shots 50 does not fit fold 1 of 2 .*class '[A-Z]+' has [0-9]+ lesions" \
    "$bin" cv --data "$tmp/a.h5" --out "$d" --folds 2 --shots 2,50
[ -e "$d" ] && fail "a rejected sweep created $d"

small=(--data "$tmp/a.h5" --out "$d" --folds 2 --shots 2,all --seeds 1 --epochs 1 --batch 8 --dim 32 --threads 2)
"$bin" cv "${small[@]}" >"$tmp/out1" 2>&1
rc=$?
if [ $rc -eq 0 ] && grep -q "8 runs (8 run now, 0 reused)" "$tmp/out1" &&
    [ "$(grep -cE '^cv \[[1-8]/8\] (vlm|linear) +shots (2|all) +seed 1 +fold [12]/2: accuracy [0-9.]+ macro-AUC' "$tmp/out1")" -eq 8 ]; then
    echo "ok: sweep of 8 runs, one progress line each"
else
    fail "sweep: rc=$rc"; tail -20 "$tmp/out1"
fi
for f in table.md table.csv cv.json cv_config.json; do [ -s "$d/$f" ] || fail "$d/$f missing"; done
for h in vlm linear; do
    for k in 2 all; do
        for fo in 1 2; do
            r="$d/runs/${h}_${k}_s1_f$fo"
            for f in model.safetensors config.json log.jsonl run.json predictions.csv metrics.json; do
                [ -s "$r/$f" ] || fail "$r/$f missing"
            done
        done
        grep -qE "^$h,$k,2,0\.[0-9]+,[0-9.]+,0\.[0-9]+,[0-9.]+,0\.[0-9]+,[0-9.]+,2$" "$d/table.csv" ||
            fail "table.csv has no row $h,$k with 2 runs"
        grep -qE "^\| $h \| $k \| 0\.[0-9]{3} ± [0-9.]+ \|.* 2 \|$" "$d/table.md" || fail "table.md has no row $h $k"
    done
done
grep -q "n − 1" "$d/table.md" && echo "ok: tables written" || fail "table.md does not say which std"
grep -q '"shots":[[:space:]]*2' "$d/runs/vlm_2_s1_f1/config.json" && echo "ok: the run's config records its shots" ||
    fail "config.json of a 2-shot run"

# The held-out fold's predictions are what `liver-vlm eval` gives for those samples.
r="$d/runs/linear_all_s1_f2"
"$bin" eval --ckpt "$r/model.safetensors" --data "$tmp/a.h5" --out "$tmp/e" --device cpu >/dev/null 2>&1 || fail "eval"
if awk -F, 'NR == FNR { row[$1] = $0; next } FNR > 1 { n++; if (row[$1] != $0) bad++ }
            END { exit (n > 0 && bad == 0) ? 0 : 1 }' "$tmp/e/predictions.csv" "$r/predictions.csv"; then
    echo "ok: held-out predictions equal liver-vlm eval's rows"
else
    fail "held-out predictions differ from eval's"
fi

# Resume: one run lost its metrics.json (stopped while evaluating: resumed), one lost its
# checkpoints (stopped before an epoch ended: started again); the other six are reused.
for x in "$d"/runs/*; do stat -c '%n %y' "$x/metrics.json"; done | sort >"$tmp/m1"
rm "$d/runs/vlm_all_s1_f1/metrics.json"
rm "$d/runs/linear_2_s1_f2/metrics.json" "$d/runs/linear_2_s1_f2/model.safetensors" "$d/runs/linear_2_s1_f2/state.safetensors"
"$bin" cv "${small[@]}" >"$tmp/out2" 2>&1
rc=$?
grep -q "8 runs (2 run now, 6 reused)" "$tmp/out2" && [ $rc -eq 0 ] && echo "ok: second call reuses 6, redoes 2" ||
    { fail "second call: rc=$rc"; tail -12 "$tmp/out2"; }
[ "$(grep -c 'finished earlier, reused' "$tmp/out2")" -eq 6 ] || fail "six 'reused' progress lines"
grep -q '"type":"resume"' "$d/runs/vlm_all_s1_f1/log.jsonl" && echo "ok: the run stopped after training was resumed" ||
    fail "vlm_all_s1_f1 was not resumed"
grep -q '"type":"resume"' "$d/runs/linear_2_s1_f2/log.jsonl" && fail "linear_2_s1_f2 resumed without a checkpoint"
for x in "$d"/runs/*; do stat -c '%n %y' "$x/metrics.json"; done | sort >"$tmp/m2"
changed=$(diff "$tmp/m1" "$tmp/m2" | grep -c '^>')
[ "$changed" -eq 2 ] && echo "ok: the reused runs' metrics.json are untouched" || fail "$changed metrics.json changed (want 2)"

check "changed setting refused" 2 "describes another sweep \(train setting 'epochs' is 1 there, 2 now\)" \
    "$bin" cv "${small[@]}" --epochs 2
check "changed folds refused" 2 "'folds' is 2 there, 3 now.*--force" "$bin" cv "${small[@]}" --folds 3
check "--force: a smaller sweep reuses its runs" 0 "4 runs \(0 run now, 4 reused\)" \
    "$bin" cv "${small[@]}" --head linear --force
grep -q "^vlm," "$d/table.csv" && fail "table.csv still lists vlm after --head linear"

[ "$fails" -eq 0 ] || { echo "$fails failure(s)"; exit 1; }
echo "all cv CLI checks passed"
