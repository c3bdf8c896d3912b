#!/usr/bin/env bash
# `liver-vlm train`: bad options exit 2 naming them, a missing data file exits 1; on a small
# phantom (HDF5 builds) a run writes model/best/state/config/log, a second run into the same
# --out refuses (exit 1), --force replaces it, --resume --epochs extends it, --resume with a
# changed setting is refused, and config-file errors name the key. --comm/--comm-timeout:
# bad values exit 2, config.json records them; --comm nccl without a GPU exits 2, and on a
# GPU a 1-rank NCCL run gives the plain run's losses bit for bit.
# --objective: a bad name and phase-shuffle with text options exit 2, phase-shuffle on one
# phase exits 1; a phase-shuffle run trains and a classification run starts from it. clip:
# bad combinations exit 2, data without /reports exits 1 naming the file, a clip run's
# model.safetensors starts a classification run (--init-image).
# Usage: cli_train.sh <liver-vlm> <fixtures>
set -u
bin="$1"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
fails=0
. "$(dirname "${BASH_SOURCE[0]}")/clicheck.sh"
small=(--batch 8 --dim 32 --threads 2 --log-every 1)

check "--help" 0 "--warmup-epochs" "$bin" train --help
check "no --data" 2 "--data is required" "$bin" train --out "$tmp/r"
check "no --out" 2 "--out is required" "$bin" train --data "$tmp/none.h5"
check "unknown option" 2 "unknown option '--bogus'" "$bin" train --data x.h5 --out "$tmp/r" --bogus
check "missing value" 2 "--epochs needs a value" "$bin" train --data x.h5 --out "$tmp/r" --epochs
check "bad number" 2 "--epochs: expected an integer" "$bin" train --data x.h5 --out "$tmp/r" --epochs ten
check "bad choice" 2 "--head: expected vlm\|linear" "$bin" train --data x.h5 --out "$tmp/r" --head cnn
check "bad --objective" 2 "--objective: expected classify\|phase-shuffle\|clip" "$bin" train --data x.h5 \
    --out "$tmp/r" --objective jigsaw
check "phase-shuffle with a text model" 2 "--objective phase-shuffle trains the image encoder alone" "$bin" train \
    --data x.h5 --out "$tmp/r" --objective phase-shuffle --train-text
check "two warmups" 2 "--warmup-epochs and --warmup-steps" "$bin" train --data x.h5 --out "$tmp/r" \
    --warmup-epochs 1 --warmup-steps 5
echo '{"epochs": 1, "lrr": 0.1}' >"$tmp/bad.json"
check "config: unknown key" 1 "bad.json: unknown key 'lrr'" "$bin" train --config "$tmp/bad.json" --data x.h5 --out "$tmp/r"
echo '{"batch": "eight"}' >"$tmp/bad2.json"
check "config: wrong type" 1 "key 'batch': expected an integer" "$bin" train --config "$tmp/bad2.json" --data x.h5 --out "$tmp/r"
check "--resume without a run" 1 "--resume" "$bin" train --resume "$tmp/nothing"
check "--comm nccl on the CPU" 2 "--comm nccl needs GPUs but --device is cpu" \
    "$bin" train --data x.h5 --out "$tmp/r" --device cpu --comm nccl
# Settings that could only fail at the first checkpoint are refused before any work.
check "non-UTF-8 --out" 2 "--out: the path is not valid UTF-8" "$bin" train --data x.h5 --out "$tmp/r$(printf '\377')"
touch "$tmp/afile"
check "--out under a file" 2 "--out .*afile/run: .*afile is not a directory" "$bin" train --data x.h5 --out "$tmp/afile/run"
check "bad --comm" 2 "--comm: expected auto\|nccl\|mpi" "$bin" train --data x.h5 --out "$tmp/r" --comm gloo
for v in 0 -1 abc; do
    check "--comm-timeout $v" 2 "--comm-timeout: expected a number" "$bin" train --data x.h5 --out "$tmp/r" \
        --comm-timeout "$v"
done
check "--objective clip --head linear" 2 "needs the VLM head: drop --head linear" \
    "$bin" train --data x.h5 --out "$tmp/r" --objective clip --head linear
check "--objective clip --batch 1" 2 "--objective clip needs --batch 2 or more" \
    "$bin" train --data x.h5 --out "$tmp/r" --objective clip --batch 1
check "bad --objective" 2 "--objective: expected classify\|phase-shuffle\|clip" \
    "$bin" train --data x.h5 --out "$tmp/r" --objective contrastive
[ -e "$tmp/r" ] && { echo "FAIL: a rejected command created $tmp/r"; fails=$((fails + 1)); }

hdf5=1
"$bin" info | grep -q "hdf5=on" || hdf5=0
if [ "$hdf5" -eq 1 ]; then
    check "missing data file" 1 "missing.h5" "$bin" train --data "$tmp/missing.h5" --out "$tmp/r"
    "$bin" synth --out "$tmp/a.h5" --per-class 8 --size 32 >/dev/null 2>&1 || { echo "FAIL: synth"; fails=$((fails + 1)); }
    "$bin" synth --out "$tmp/one.h5" --per-class 4 --size 32 --phases PV >/dev/null 2>&1 ||
        { echo "FAIL: synth one phase"; fails=$((fails + 1)); }
    check "phase-shuffle on one phase" 1 "one.h5: --objective phase-shuffle needs at least 2 phases" \
        "$bin" train --data "$tmp/one.h5" --out "$tmp/r1" --objective phase-shuffle "${small[@]}"
    check "phase-shuffle 1 epoch" 0 "phase-shuffle pretext task \\(6 permutations" "$bin" train --data "$tmp/a.h5" \
        --out "$tmp/ps" --objective phase-shuffle --epochs 1 "${small[@]}"
    check "classify from the phase-shuffle encoder" 0 "1 of 1 epochs" "$bin" train --data "$tmp/a.h5" \
        --out "$tmp/fs" --init-image "$tmp/ps/model.safetensors" --epochs 1 "${small[@]}"
    check "train 1 epoch" 0 "1 of 1 epochs" "$bin" train --data "$tmp/a.h5" --out "$tmp/r" --epochs 1 "${small[@]}"
    for f in model.safetensors best.safetensors state.safetensors config.json log.jsonl; do
        [ -s "$tmp/r/$f" ] || { echo "FAIL: $tmp/r/$f missing"; fails=$((fails + 1)); }
    done
    if grep -q '"type":"step","step":1,"epoch":1,"loss":' "$tmp/r/log.jsonl" &&
        grep -q '"type":"epoch","epoch":1,"train_loss":' "$tmp/r/log.jsonl" &&
        grep -q '"val_macro_auc"' "$tmp/r/log.jsonl"; then
        echo "ok: log.jsonl has step and epoch lines"
    else
        echo "FAIL: log.jsonl:"; head -5 "$tmp/r/log.jsonl"; fails=$((fails + 1))
    fi
    grep -q '"batch":[[:space:]]*8' "$tmp/r/config.json" && grep -q '"lr":' "$tmp/r/config.json" &&
        echo "ok: config.json records the settings" || { echo "FAIL: config.json"; fails=$((fails + 1)); }
    grep -q '"comm":[[:space:]]*"auto"' "$tmp/r/config.json" &&
        grep -q '"comm_timeout":[[:space:]]*600' "$tmp/r/config.json" &&
        grep -q '"type":"start".*"comm":"none"' "$tmp/r/log.jsonl" &&
        echo "ok: config.json records comm and comm_timeout, log.jsonl the transport" ||
        { echo "FAIL: comm/comm_timeout missing from config.json or log.jsonl"; fails=$((fails + 1)); }
    if "$bin" info 2>/dev/null | grep -q "auto selects cuda"; then
        # A 1-rank NCCL communicator runs the whole NCCL path and must not change a bit.
        for m in plain nccl; do
            extra=()
            [ "$m" = nccl ] && extra=(--comm nccl)
            timeout 300 "$bin" train --data "$tmp/a.h5" --out "$tmp/g_$m" --epochs 1 --device cuda \
                --precision fp32 "${small[@]}" "${extra[@]}" >"$tmp/g_$m.out" 2>&1 ||
                { echo "FAIL: GPU run ($m):"; tail -5 "$tmp/g_$m.out"; fails=$((fails + 1)); }
        done
        lp="$(grep -o '"loss":[^,]*' "$tmp/g_plain/log.jsonl" 2>/dev/null)"
        ln="$(grep -o '"loss":[^,]*' "$tmp/g_nccl/log.jsonl" 2>/dev/null)"
        if [ -n "$lp" ] && [ "$lp" = "$ln" ] && grep -q "NCCL all-reduce" "$tmp/g_nccl.out"; then
            echo "ok: --comm nccl on one GPU gives the plain run's losses bit for bit ($(wc -l <<<"$lp") values)"
        else
            echo "FAIL: --comm nccl on one GPU differs from the plain run:"
            paste <(echo "$lp") <(echo "$ln") | head
            fails=$((fails + 1))
        fi
    else
        check "--comm nccl without a GPU" 2 "--comm nccl needs a GPU" \
            "$bin" train --data "$tmp/a.h5" --out "$tmp/r5" --epochs 1 --comm nccl "${small[@]}"
    fi
    check "second run into the same --out refuses" 1 "already holds a training run" \
        "$bin" train --data "$tmp/a.h5" --out "$tmp/r" --epochs 1 "${small[@]}"
    check "--resume refuses a changed setting" 2 "--lr 0.5 differs" "$bin" train --resume "$tmp/r" --lr 0.5
    check "--resume --epochs 2 extends the run" 0 "2 of 2 epochs" "$bin" train --resume "$tmp/r" --epochs 2
    grep -q '"type":"epoch","epoch":2,' "$tmp/r/log.jsonl" && grep -q '"type":"resume"' "$tmp/r/log.jsonl" &&
        echo "ok: the resumed epoch is logged" || { echo "FAIL: no epoch 2 in log.jsonl"; fails=$((fails + 1)); }
    check "--force replaces the run" 0 "1 of 1 epochs" \
        "$bin" train --data "$tmp/a.h5" --out "$tmp/r" --epochs 1 --force --head linear "${small[@]}"
    [ "$(grep -c '"type":"epoch"' "$tmp/r/log.jsonl")" -eq 1 ] && echo "ok: --force starts a fresh log" ||
        { echo "FAIL: --force kept the old log"; fails=$((fails + 1)); }
    echo '{"epochs": 1, "batch": 8, "dim": 32, "head": "linear"}' >"$tmp/c.json"
    check "--config with a flag override" 0 "1 of 1 epochs" \
        "$bin" train --config "$tmp/c.json" --data "$tmp/a.h5" --out "$tmp/r2" --batch 10 --threads 2
    grep -q '"batch":[[:space:]]*10' "$tmp/r2/config.json" && grep -q '"head":[[:space:]]*"linear"' "$tmp/r2/config.json" &&
        echo "ok: the flag beat the file, the file beat the default" || { echo "FAIL: precedence"; fails=$((fails + 1)); }
    # --objective clip: /reports is required (h5_good_b.h5 has none) and the run writes the usual files.
    check "--objective clip without /reports" 1 "h5_good_b.h5 has no /reports" \
        "$bin" train --data "$2/h5_good_b.h5" --out "$tmp/c0" --objective clip "${small[@]}"
    [ -e "$tmp/c0" ] && { echo "FAIL: the refused clip run created $tmp/c0"; fails=$((fails + 1)); }
    check "--objective clip --val without /reports" 1 "h5_good_b.h5 has no /reports" \
        "$bin" train --data "$tmp/a.h5" --val "$2/h5_good_b.h5" --out "$tmp/c0" --objective clip "${small[@]}"
    check "--objective clip trains" 0 "best validation image->report retrieval accuracy" \
        "$bin" train --data "$tmp/a.h5" --out "$tmp/c1" --objective clip --epochs 1 "${small[@]}"
    grep -q '"objective":[[:space:]]*"clip"' "$tmp/c1/config.json" && [ -s "$tmp/c1/best.safetensors" ] &&
        echo "ok: the clip run writes its config and checkpoints" || { echo "FAIL: clip run files"; fails=$((fails + 1)); }
    check "classification from the clip run's image encoder" 0 "1 of 1 epochs" \
        "$bin" train --data "$tmp/a.h5" --out "$tmp/c2" --init-image "$tmp/c1/model.safetensors" --epochs 1 "${small[@]}"
    check "--size larger than the data" 2 "--size 64 is larger" \
        "$bin" train --data "$tmp/a.h5" --out "$tmp/r3" --size 64 "${small[@]}"
fi
[ "$fails" -eq 0 ] && echo "all train CLI checks passed" || echo "$fails train CLI checks failed"
[ "$fails" -gt 0 ] && exit 1
[ "$hdf5" -eq 0 ] && exit 77
exit 0
