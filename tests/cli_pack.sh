#!/usr/bin/env bash
# `liver-vlm pack`: packs the committed NIfTI fixtures (tests/fixtures/pack, written by
# tests/fixtures_pack.py) end to end and inspects the result; a bad manifest exits 1 naming
# row and column; bad usage exits 2; --force is needed to replace a file. Skipped (77)
# without HDF5 or nifticlib. Usage: cli_pack.sh <liver-vlm> <fixtures>
set -u
bin="$1"
fix="$2/pack"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
fails=0
. "$(dirname "${BASH_SOURCE[0]}")/clicheck.sh"
check "--help" 0 "--manifest M.csv" "$bin" pack --help
check "missing --out" 2 "--out is required" "$bin" pack --manifest "$fix/manifest.csv"
check "missing --manifest" 2 "--manifest is required" "$bin" pack --out "$tmp/x.h5"
check "unknown option" 2 "unknown option '--bogus'" "$bin" pack --manifest "$fix/manifest.csv" --out "$tmp/x.h5" --bogus
check "bad number" 2 "--size: expected an integer" "$bin" pack --manifest "$fix/manifest.csv" --out "$tmp/x.h5" --size 0
check "missing value" 2 "--slices needs a value" "$bin" pack --manifest "$fix/manifest.csv" --out "$tmp/x.h5" --slices
check "bad --classes list" 2 "classes 'HCC,,FNH': empty name" \
    "$bin" pack --manifest "$fix/manifest.csv" --out "$tmp/x.h5" --classes HCC,,FNH

if ! "$bin" info | grep -q "hdf5=on" || "$bin" pack --manifest "$fix/manifest.csv" --out "$tmp/probe.h5" 2>&1 |
    grep -q "without HDF5 or nifticlib"; then
    check "without nifticlib, pack explains itself" 1 "without HDF5 or nifticlib" \
        "$bin" pack --manifest "$fix/manifest.csv" --out "$tmp/x.h5"
    [ "$fails" -gt 0 ] && exit 1
    exit 77
fi
rm -f "$tmp/probe.h5"

check "pack the fixture manifest" 0 "9 samples from 3 lesions, 32x32 int16 HU, 3 slices each" \
    "$bin" pack --manifest "$fix/manifest.csv" --out "$tmp/a.h5" --size 32
[ -s "$tmp/a.h5" ] || { echo "FAIL: $tmp/a.h5 missing or empty"; fails=$((fails + 1)); }
check "progress per row" 0 "row 3/3 \(manifest row 4\): patient P2" \
    "$bin" pack --manifest "$fix/manifest.csv" --out "$tmp/b.h5" --size 16
check "inspect reads the packed file" 0 "samples: +9" "$bin" inspect "$tmp/a.h5"
check "inspect: classes and phases" 0 "phases: +3 \(NC, ART, PV\)" "$bin" inspect "$tmp/a.h5"
check "refuses to overwrite" 1 "exists; use --force" "$bin" pack --manifest "$fix/manifest.csv" --out "$tmp/a.h5"
check "--force overwrites" 0 "15 samples" \
    "$bin" pack --manifest "$fix/manifest.csv" --out "$tmp/a.h5" --force --slices 5 --size 8 --phases NC,PV --gzip 0
check "--phases reaches the file" 0 "phases: +2 \(NC, PV\)" "$bin" inspect "$tmp/a.h5"

# Bad manifests: exit 1, the message names the manifest, row and column; no file is left.
cp "$fix"/*.nii "$fix"/*.nii.gz "$tmp"/
printf 'patient,label,NC,ART,PV,x,y,z\nP1,HCC,nc.nii,art.nii.gz,pv_scaled.nii,10,10,3\nP2,FNH,nc.nii,gone.nii,pv_scaled.nii,1,1,1\n' \
    >"$tmp/bad1.csv"
check "missing volume" 1 "bad1.csv row 3, column 'ART': .*gone.nii: cannot open" \
    "$bin" pack --manifest "$tmp/bad1.csv" --out "$tmp/bad.h5"
printf 'patient,label,NC,x,y\nP1,HCC,nc.nii,1,2\n' >"$tmp/bad2.csv"
check "missing column" 1 "bad2.csv row 1 \(header\): missing column 'z'" \
    "$bin" pack --manifest "$tmp/bad2.csv" --out "$tmp/bad.h5"
printf 'patient,label,NC,x,y,z\nP1,HCC,nc.nii,1,2,30\n' >"$tmp/bad3.csv"
check "one class" 1 "bad3.csv: only one class \('HCC', the only label in the rows\); a data file needs at least 2" \
    "$bin" pack --manifest "$tmp/bad3.csv" --out "$tmp/bad.h5"
check "centre outside" 1 "bad3.csv row 2, column 'z': centre \(1,2,30\) is outside the volume 20x20x6" \
    "$bin" pack --manifest "$tmp/bad3.csv" --out "$tmp/bad.h5" --classes HCC,FNH
check "unknown label" 1 "bad3.csv row 2, column 'label': unknown label 'HCC'" \
    "$bin" pack --manifest "$tmp/bad3.csv" --out "$tmp/bad.h5" --classes CYST,FNH
check "manifest not found" 1 "nowhere.csv: cannot open" "$bin" pack --manifest "$tmp/nowhere.csv" --out "$tmp/bad.h5"
[ -e "$tmp/bad.h5" ] && { echo "FAIL: a failed pack left $tmp/bad.h5"; fails=$((fails + 1)); }

[ "$fails" -eq 0 ] && echo "all pack CLI checks passed" || echo "$fails pack CLI checks failed"
[ "$fails" -gt 0 ] && exit 1
exit 0
