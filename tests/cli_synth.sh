#!/usr/bin/env bash
# `liver-vlm synth`: writes a data file (skipped without HDF5), refuses to replace one
# without --force, rejects bad options with exit 2 naming them, and writes a PNG preview.
# Usage: cli_synth.sh <liver-vlm> <fixtures>
set -u
bin="$1"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
fails=0
. "$(dirname "${BASH_SOURCE[0]}")/clicheck.sh"
check "--help" 0 "--per-class" "$bin" synth --help
check "neither --out nor --preview" 2 "--out is required" "$bin" synth
check "unknown option" 2 "unknown option '--bogus'" "$bin" synth --out "$tmp/x.h5" --bogus
check "missing value" 2 "--per-class needs a value" "$bin" synth --out "$tmp/x.h5" --per-class
check "bad number" 2 "--size: expected an integer" "$bin" synth --out "$tmp/x.h5" --size 7
check "bad difficulty" 2 "--difficulty: expected a number in 0..1" "$bin" synth --out "$tmp/x.h5" --difficulty 1.5
check "unknown phase" 2 "--phases: unknown phase 'XX'" "$bin" synth --out "$tmp/x.h5" --phases NC,XX
check "bad seed" 2 "--seed" "$bin" synth --out "$tmp/x.h5" --seed -3
[ -e "$tmp/x.h5" ] && { echo "FAIL: a rejected command left $tmp/x.h5"; fails=$((fails + 1)); }

# Preview alone needs no HDF5 (only libpng).
if "$bin" synth --preview "$tmp/p.png" --per-class 5 --phases NC,ART,PV,DL >"$tmp/log" 2>&1; then
    sig="$(head -c 8 "$tmp/p.png" | od -An -tx1 | tr -d ' \n')"
    if [ "$sig" = "89504e470d0a1a0a" ]; then echo "ok: --preview writes a PNG"; else
        echo "FAIL: --preview signature '$sig'"; fails=$((fails + 1)); fi
elif grep -q "without libpng" "$tmp/log"; then
    echo "skip: built without libpng"
else
    echo "FAIL: --preview:"; cat "$tmp/log"; fails=$((fails + 1))
fi

hdf5=1
"$bin" info | grep -q "hdf5=on" || hdf5=0
if [ "$hdf5" -eq 1 ]; then
    check "synth writes a file" 0 "60 samples, 5 classes, 3 phases, 32x32" \
        "$bin" synth --out "$tmp/a.h5" --per-class 12 --size 32
    [ -s "$tmp/a.h5" ] || { echo "FAIL: $tmp/a.h5 missing or empty"; fails=$((fails + 1)); }
    check "refuses to overwrite" 1 "exists; use --force" "$bin" synth --out "$tmp/a.h5" --per-class 12 --size 32
    check "--force overwrites" 0 "samples" "$bin" synth --out "$tmp/a.h5" --per-class 6 --size 32 --force
    check "the file reads back" 0 "samples: +30" "$bin" inspect "$tmp/a.h5"
    check "same seed, same data" 0 "samples" "$bin" synth --out "$tmp/b.h5" --per-class 6 --size 32
    if "$bin" inspect "$tmp/b.h5" >"$tmp/ib" 2>&1 && "$bin" inspect "$tmp/a.h5" >"$tmp/ia" 2>&1 &&
        diff <(grep -v '^file' "$tmp/ia") <(grep -v '^file' "$tmp/ib") >/dev/null; then
        echo "ok: same seed gives the same summary"
    else
        echo "FAIL: same seed gives different summaries"; fails=$((fails + 1))
    fi
    # A second later, the same seed must still give the same bytes (no timestamps stored).
    sleep 1.1
    "$bin" synth --out "$tmp/c.h5" --per-class 6 --size 32 >/dev/null 2>&1
    if cmp -s "$tmp/b.h5" "$tmp/c.h5"; then echo "ok: same seed gives a byte-identical file"
    else echo "FAIL: same seed gives different file bytes"; fails=$((fails + 1)); fi
else
    check "without HDF5, --out explains itself" 1 "without HDF5" "$bin" synth --out "$tmp/a.h5" --per-class 2
fi
[ "$fails" -eq 0 ] && echo "all synth CLI checks passed" || echo "$fails synth CLI checks failed"
[ "$fails" -gt 0 ] && exit 1
[ "$hdf5" -eq 0 ] && exit 77
exit 0
