#!/usr/bin/env bash
# `liver-vlm inspect`: valid h5py-written fixtures print their counts (exit 0, text and JSON);
# a bad file is exit 1 with a message naming it; a missing argument is exit 2.
# Usage: cli_inspect.sh <liver-vlm> <fixtures>
set -u
bin="$1"
fix="$2"
fails=0
. "$(dirname "${BASH_SOURCE[0]}")/clicheck.sh"
if ! "$bin" info | grep -q "hdf5=on"; then
    check "without HDF5 inspect explains itself" 1 "built without HDF5" "$bin" inspect "$fix/h5_good_a.h5"
    echo "SKIP: built without HDF5"
    exit 77
fi
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

check "inspect --help" 0 "usage: liver-vlm inspect" "$bin" inspect --help
check "no argument is usage" 2 "missing the data file" "$bin" inspect
check "unknown option" 2 "unknown option '--bogus'" "$bin" inspect "$fix/h5_good_a.h5" --bogus
check "two files" 2 "expected one data file" "$bin" inspect "$fix/h5_good_a.h5" "$fix/h5_good_b.h5"

a="$fix/h5_good_a.h5"
check "a: samples" 0 "^samples: +6$" "$bin" inspect "$a"
check "a: shape and dtype" 0 "size: +8 x 8" "$bin" inspect "$a"
check "a: int16 HU" 0 "dtype: +int16, units HU" "$bin" inspect "$a"
check "a: per-class counts" 0 "CYST +2" "$bin" inspect "$a"
check "a: patients" 0 "patients: +4" "$bin" inspect "$a"
check "a: lesions" 0 "lesions: +5" "$bin" inspect "$a"
check "a: HU range" 0 "values: +min -150, max 113 HU" "$bin" inspect "$a"
check "a: reports" 0 "reports: +yes" "$bin" inspect "$a"
check "a: storage" 0 "in memory.*chunked \[1,3,8,8\], filters shuffle\+gzip\(4\)" "$bin" inspect "$a"
check "b: string patients, contiguous" 0 "patients: +3" "$bin" inspect "$fix/h5_good_b.h5"
check "b: contiguous" 0 "contiguous, filters none" "$bin" inspect "$fix/h5_good_b.h5"
check "c: split counts" 0 "split: +train 2, val 1, test 1" "$bin" inspect "$fix/h5_good_c.h5"
check "c: float range" 0 "values: +min -1.5, max 1.5$" "$bin" inspect "$fix/h5_good_c.h5"
check "a: --json" 0 '"samples":6,.*"name":"CYST","count":2' "$bin" inspect "$a" --json
check "c: --json split" 0 '"split":\{"train":2,"val":1,"test":1\}' "$bin" inspect --json "$fix/h5_good_c.h5"
if command -v /usr/bin/python3 >/dev/null 2>&1; then
    check "--json is one valid JSON object" 0 "^6 5$" bash -c \
        "'$bin' inspect --json '$a' | /usr/bin/python3 -c 'import json,sys; o=json.load(sys.stdin); print(o[\"samples\"], len(o[\"classes\"]))'"
fi

printf 'not,hdf5\n' >"$tmp/bad.h5"
check "text file is exit 1 naming it" 1 "$tmp/bad.h5: not an HDF5 file" "$bin" inspect "$tmp/bad.h5"
head -c 2000 "$a" >"$tmp/cut.h5"
check "truncated file is exit 1" 1 "$tmp/cut.h5: cannot open as HDF5.*truncated" "$bin" inspect "$tmp/cut.h5"
check "missing file is exit 1" 1 "$tmp/none.h5: cannot open: No such file" "$bin" inspect "$tmp/none.h5"
check "directory is exit 1" 1 "is a directory" "$bin" inspect "$tmp"

[ "$fails" -eq 0 ] && echo "all inspect checks passed" || echo "$fails inspect checks failed"
exit $((fails > 0))
