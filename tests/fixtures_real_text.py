"""Reference sentence embeddings of the default class prompts from a published BERT-family
folder (e.g. all-MiniLM-L6-v2), as HF transformers and sentence-transformers compute them.
Reads the model; never writes or commits any of its weights.

Run by hand (transformers 4.38.2 + tokenizers from PyPI on Debian's torch 1.13):
    /usr/bin/python3 tests/fixtures_real_text.py DIR --name all_minilm_l6_v2
Without DIR it takes LV_TEXT_MODEL_DIR, and without either it does nothing (so
tests/make_fixtures.py, which runs every fixture script without arguments, passes by).
Without --name, a folder whose weights already have a fixture keeps that fixture's name.
DIR is what `--text-model DIR` takes: config.json, model.safetensors, vocab.txt,
tokenizer_config.json, and for sentence-transformers folders modules.json + 1_Pooling/.
Writes tests/fixtures/real_text_<name>.safetensors (a few tens of KB):
- ids, mask [np, L] int32: BertTokenizer(prompts, max_length=L, padding="max_length",
  truncation=True), checked equal to BertTokenizerFast (tokenizer.json) when present;
- pooled [np, H]: the folder's pooling (1_Pooling/config.json: mean or CLS; a plain HF
  folder: the [CLS] state, as the engine does) over BertModel's last_hidden_state;
- embeddings [np, H]: pooled L2-normalised (sentence-transformers' Normalize module; the
  engine normalises after its bias-free projection, which gives the same direction);
- class_embeddings [C, H]: per class the normalised mean of its prompts' embeddings.
The model runs in float64 from the file's float32 weights, so the reference carries no
float32 rounding of its own. Metadata identifies the folder (FNV-1a 64 of model.safetensors
and vocab.txt) and the prompts (encoders/prompts.c, parsed here, so C is the one source).
"""
import argparse
import glob
import json
import os
import re
import struct
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fixture_util import FIXTURE_DIR, save  # noqa: E402

import transformers  # noqa: E402
from transformers import BertModel, BertTokenizer, BertTokenizerFast  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MAX_LEN = 32  # lv_vlm_config_default's text_max_len: the length prompts are encoded at


def fnv1a64_file(path):
    """FNV-1a 64 over the whole file, the hash tests/test_real_text.c recomputes. A byte loop:
    a few seconds for 90 MB."""
    h = 14695981039346656037
    with open(path, "rb") as f:
        while True:
            chunk = f.read(1 << 20)
            if not chunk:
                break
            for b in chunk:
                h = ((h ^ b) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return h


def default_prompts():
    """The built-in prompt table of encoders/prompts.c, in order."""
    src = open(os.path.join(ROOT, "encoders", "prompts.c"), encoding="utf-8").read()
    table = src[src.index("default_prompts[][2]"):]
    table = table[:table.index("};")]
    pairs = re.findall(r'\{\s*"((?:[^"\\]|\\.)*)"\s*,\s*"((?:[^"\\]|\\.)*)"\s*\}', table)
    if not pairs:
        sys.exit("encoders/prompts.c: default_prompts table not found")
    for c, t in pairs:
        if "\\" in c or "\\" in t:
            sys.exit(f"encoders/prompts.c: escapes are not parsed here: {t!r}")
    return pairs


def existing_fixture(weights_hash):
    """(name, source) of the committed real_text_* fixture made from these weights, or None."""
    for path in sorted(glob.glob(os.path.join(FIXTURE_DIR, "real_text_*.safetensors"))):
        with open(path, "rb") as f:
            n = struct.unpack("<Q", f.read(8))[0]
            meta = json.loads(f.read(n)).get("__metadata__", {})
        if meta.get("weights_fnv1a64") == weights_hash:
            return meta.get("model_name"), meta.get("source", "")
    return None


def folder_pooling(d):
    """(pooling, normalize) the way the engine and sentence-transformers read the folder."""
    pool = "cls"  # a plain HF folder: lv_bert_load_hf_config's default
    pc = os.path.join(d, "1_Pooling", "config.json")
    if os.path.exists(pc):
        cfg = json.load(open(pc))
        on = [k for k, v in cfg.items() if k.startswith("pooling_mode_") and v is True]
        if on == ["pooling_mode_mean_tokens"]:
            pool = "mean"
        elif on == ["pooling_mode_cls_token"]:
            pool = "cls"
        else:
            sys.exit(f"{pc}: pooling {on} is not one the engine implements")
    normalize = False
    mj = os.path.join(d, "modules.json")
    if os.path.exists(mj):
        normalize = any(m.get("type", "").endswith("Normalize") for m in json.load(open(mj)))
    return pool, normalize


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dir", nargs="?", default=os.environ.get("LV_TEXT_MODEL_DIR"),
                    help="the model folder (what --text-model takes; default: $LV_TEXT_MODEL_DIR)")
    ap.add_argument("--name", help="fixture name: real_text_<name>.safetensors")
    ap.add_argument("--source", help="where the folder came from (recorded in the metadata)")
    a = ap.parse_args()
    d = a.dir
    if not d:
        print("skipped: no model folder (give DIR or set LV_TEXT_MODEL_DIR)")
        return
    weights_hash = f"{fnv1a64_file(os.path.join(d, 'model.safetensors')):016x}"
    known = existing_fixture(weights_hash)
    name = a.name or (known[0] if known else None)
    source = a.source if a.source is not None else (known[1] if known else "")
    if not name:
        sys.exit(f"{d}: no fixture has these weights yet; name the new one with --name")
    if not re.fullmatch(r"[a-z0-9_]+", name):
        sys.exit("--name: lower-case letters, digits and _ only")
    prompts = default_prompts()
    texts = [t for _, t in prompts]
    classes = []
    for c, _ in prompts:
        if c not in classes:
            classes.append(c)

    slow = BertTokenizer.from_pretrained(d)
    enc = slow(texts, max_length=MAX_LEN, padding="max_length", truncation=True, return_tensors="pt")
    ids, mask = enc["input_ids"], enc["attention_mask"]
    if os.path.exists(os.path.join(d, "tokenizer.json")):
        fast = BertTokenizerFast.from_pretrained(d)
        fenc = fast(texts, max_length=MAX_LEN, padding="max_length", truncation=True, return_tensors="pt")
        if not torch.equal(fenc["input_ids"], ids) or not torch.equal(fenc["attention_mask"], mask):
            sys.exit("BertTokenizer and BertTokenizerFast disagree on the prompts")
    full = [len(slow(t)["input_ids"]) for t in texts]
    print(f"prompts: {len(texts)}, tokens with [CLS]/[SEP]: {min(full)}..{max(full)} (encoded at {MAX_LEN})")
    if max(full) > MAX_LEN:
        print(f"note: {sum(n > MAX_LEN for n in full)} prompts are truncated at {MAX_LEN} tokens, as the engine does")

    pool, normalize = folder_pooling(d)
    model = BertModel.from_pretrained(d, add_pooling_layer=False).eval()
    m64 = BertModel.from_pretrained(d, add_pooling_layer=False).eval().double()
    with torch.no_grad():
        h = m64(input_ids=ids, attention_mask=mask).last_hidden_state
        h32 = model(input_ids=ids, attention_mask=mask).last_hidden_state
    def pooled_of(x):
        if pool == "cls":
            return x[:, 0]
        me = mask.unsqueeze(-1).to(x.dtype)  # sentence-transformers' Pooling(mean)
        return (x * me).sum(1) / torch.clamp(me.sum(1), min=1e-9)
    pooled = pooled_of(h)
    emb = torch.nn.functional.normalize(pooled, p=2, dim=1)
    p32 = pooled_of(h32)
    print(f"pooling {pool}, Normalize module: {normalize}; float32 PyTorch vs float64 reference, "
          f"max rel error: {((p32.double() - pooled).abs().max() / pooled.abs().max()).item():.2e}")
    cls_emb = []
    for c in classes:
        rows = [i for i, (pc, _) in enumerate(prompts) if pc == c]
        cls_emb.append(torch.nn.functional.normalize(emb[rows].mean(0), p=2, dim=0))
    cls_emb = torch.stack(cls_emb)

    tsv = "".join(f"{c}\t{t}\n" for c, t in prompts)
    meta = {
        "model_name": name,
        "source": source,
        "weights_fnv1a64": weights_hash,
        "vocab_fnv1a64": f"{fnv1a64_file(os.path.join(d, 'vocab.txt')):016x}",
        "pooling": pool,
        "normalize": "1" if normalize else "0",
        "max_len": str(MAX_LEN),
        "classes": ",".join(classes),
        "prompts_tsv": tsv,
        "transformers_version": transformers.__version__,
        "torch_version": torch.__version__,
    }
    save("real_text_" + name, {
        "ids": ids.to(torch.int32),
        "mask": mask.to(torch.int32),
        "pooled": pooled.float(),
        "embeddings": emb.float(),
        "class_embeddings": cls_emb.float(),
    }, meta)


if __name__ == "__main__":
    main()
