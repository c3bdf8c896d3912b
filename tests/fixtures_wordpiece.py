"""WordPiece fixtures: HF's own tokenizers are the oracle for encoders/wordpiece*.c.

    /usr/bin/python3 -m pip install --break-system-packages transformers==4.38.2 tokenizers
    /usr/bin/python3 tests/fixtures_wordpiece.py [--bert-dir DIR]

Writes tests/fixtures/wordpiece_vocab.txt (a small test vocabulary made here so that "##"
pieces, accents, CJK and cased tokens all occur) and tests/fixtures/wordpiece.safetensors:
the corpus (UTF-8 bytes + offsets), the ids HF's Python BertTokenizer gives for every
corpus text under several tokenizer_config settings, the ids of BertTokenizerFast (the Rust
`tokenizers` pipeline) for the nfc=0 mode, padded/truncated encodings, and the ids under the
built-in vocabulary (parsed from encoders/vocab_builtin.c, the one source of truth).

With --bert-dir DIR (or LV_BERT_DIR) holding bert-base-uncased's vocab.txt and
tokenizer_config.json (all-MiniLM-L6-v2 ships the same files; see docs/tokenizer.md) it
also writes tests/fixtures/wordpiece_bert_uncased.safetensors: ids only, never the vocab.
"""
import argparse
import os
import re
import sys
import unicodedata

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fixture_util import FIXTURE_DIR, save  # noqa: E402

from transformers import BertTokenizer, BertTokenizerFast  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENC_LEN = 16

CORPUS = [
    # radiology prose
    "Arterial phase hyperenhancement with washout in the portal venous phase.",
    "A well-defined hypodense lesion without enhancement: simple cyst.",
    "Peripheral nodular discontinuous enhancement with centripetal fill-in (hemangioma).",
    "Homogeneous arterial enhancement, central scar; FNH is likely.",
    "Rim enhancement of multiple hypoattenuating metastases, 3.5cm and 12-mm.",
    "The lesion is unaffable and unenhanced",
    # accents, composed and decomposed
    "café naïve Ångström", "cafe\u0301 nai\u0308ve A\u030angstro\u0308m", "\u212bngstr\u00f6m",
    "CAFÉ Café", "résumé façade Zürich", "e\u0301\u0301\u0300", "\u0301\u0302", "Å", "ǅ ǆ Ǆ",
    # case mapping corner cases
    "İstanbul DİYARBAKIR", "Straße STRASSE ẞ", "ΟΔΟΣ ΟΔΟΣ. Σ σς", "Kelvin \u212a", "ＡＢＣ ｆｕｌｌ",
    # punctuation, ASCII and Unicode
    "hello, world! (a) [b] {c} <d> \"e\" 'f' `g` ^h~ $i @j #k %l &m *n +o =p |q \\r /s",
    "en\u2013dash em\u2014dash \u201cquoted\u201d \u2018single\u2019 \u00abguillemets\u00bb \u2026",
    "\u00bfqu\u00e9? \u00a1s\u00ed! \u3001\u3002 \u00b7 \u2022 \u203b", "a_b a-b a.b a/b a:b",
    # numbers and units
    "3.5cm 12-mm 1,000 10^3 2\u00d73 50% \u00b11.2 \u00bd \u00b0C 37\u00b0 \u00b5m \u2153",
    # CJK, kana, hangul
    "肝脏 病变", "肝脏病变是test", "\u3042\u304c\u3044 \u30ac\u30a4", "간암 간 암", "\uf900\u8c48",
    # emoji and symbols
    "emoji \U0001F600 \U0001F3E5 \u2764\ufe0f test", "\u2122 \u00a9 \u00ae \u20ac100", "\u2192 \u221e \u2211",
    # control characters, noncharacters, private use, unassigned
    "\x00abc\x00", "a\x07b", "a\x1fb c\x1cd", "a\x7fb", "a\x85b", "\ufffdab\ufffd", "a\u200bb", "soft\u00adhyphen",
    "\ufeffbom", "priv\ue000ate", "un\u0378assigned", "zw\u200dj", "bi\u202edi",
    # whitespace variants
    "\ttab\tseparated\t", "no\u00a0break", "ideo\u3000space", "em\u2003space", "line\u2028sep para\u2029sep",
    "crlf\r\nline", "vt\x0bff\x0c", "   ", "", " \n\t ", "\u1680ogham\u205fmath",
    # words over 100 characters, and exactly 100
    "x" * 101, "pneumonoultramicroscopicsilicovolcanoconiosis" * 3, "a" * 100, "\u00e9" * 100 + " end",
    "liver" + "\u0301" * 100,
    # not in the vocabulary
    "zzzqqq xylophone \u0444\u0443\u043d\u043a\u0446\u0438\u044f", "qwerty123",
    # literal special tokens
    "[CLS] hello [SEP]", "foo[SEP]bar", "[mask] [MASK] [Mask]", "[UNK][PAD]", "[[CLS]]", "[SEP",
    # mixed case
    "The LIVER Lesion HCC McDonald iPhone", "MRI T2-weighted",
    # long enough to be truncated at 16
    "liver lesion cyst hemangioma hepatocellular carcinoma focal nodular hyperplasia metastasis",
]

# Small test vocabulary: cased and uncased words, "##" pieces, accented and CJK characters.
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
CHARS = (list("abcdefghijklmnopqrstuvwxyz0123456789") +
         [chr(c) for c in list(range(33, 48)) + list(range(58, 65)) + list(range(91, 97)) + list(range(123, 127))] +
         list("ABCDEFGHIJKLMNOPQRSTUVWXYZ") +
         list("éèàöüïåçßøσςδο×±°µ½—–“”‘’«»…¿¡、。·肝脏病变是간암あかいがガイ\u2122\U0001F600"))
CONT = ["##" + c for c in "abcdefghijklmnopqrstuvwxyz0123456789éöïåü"] + ["##\u0301", "##\u0307"]
WORDS = [
    "the", "a", "an", "of", "in", "with", "without", "is", "and", "phase", "arterial", "portal", "venous",
    "hyper", "##enh", "##ance", "##ment", "##ments", "enhancement", "wash", "##out", "lesion", "hypo",
    "##dense", "##attenuating", "well", "defined", "simple", "cyst", "peripheral", "nodular",
    "dis", "##continuous", "centripetal", "fill", "hem", "##ang", "##ioma", "homogeneous", "central", "scar",
    "likely", "rim", "multiple", "metastases", "cm", "mm", "un", "##aff", "##able", "##en", "##hanced",
    "cafe", "café", "naive", "naïve", "angstrom", "ångström", "Ångström", "Café", "CAFÉ", "resume", "facade",
    "zurich", "istanbul", "straße", "strasse", "οδος", "οδοσ", "kelvin", "test", "hello", "world", "end",
    "liver", "Liver", "LIVER", "The", "Lesion", "HCC", "hcc", "Mc", "##Donald", "i", "##Phone", "MRI", "mri",
    "T2", "t2", "weighted", "emoji", "tab", "separated", "no", "break", "space", "line", "sep", "para", "soft",
    "##hyphen", "hyphen", "bom", "priv", "##ate", "assigned", "crlf", "ogham", "math", "en", "dash", "em",
    "quoted", "single", "guillemets", "qu", "##é", "s", "##í", "si", "zw", "##j", "bi", "##di", "full",
    "hepatocellular", "carcinoma", "focal", "hyperplasia", "metastasis", "x", "##x", "12", "1", "##000",
    "10", "50", "37", "3", "##5",
    # what NFD (Hangul jamo, kana without dakuten), NFC (U+F900 -> U+8C48) and case mapping make
    "\u1100", "##\u1161", "##\u11ab", "\u110b", "##\u1161\u11b7", "##\u304b", "##\u3044", "##\u30a4",
    "\u30ac", "\u8c48", "\u01c6", "\uff41", "##\uff42", "##\uff43", "\u2764", "\u2764\ufe0f",
]


def build_vocab():
    seen, out = set(), []
    for t in SPECIALS + CHARS + CONT + WORDS:
        if t not in seen:
            seen.add(t)
            out.append(t)
    return out


def builtin_vocab():
    src = open(os.path.join(ROOT, "encoders", "vocab_builtin.c"), encoding="utf-8").read()
    body = src[src.index("lv_vocab_builtin[] = {"):]
    body = body[:body.index("};")]
    body = re.sub(r"/\*.*?\*/", "", body, flags=re.S)
    toks = re.findall(r'"((?:[^"\\]|\\.)*)"', body)
    return [re.sub(r"\\(.)", r"\1", t) for t in toks]


def flat(lists):
    ids = [i for row in lists for i in row]
    off = [0]
    for row in lists:
        off.append(off[-1] + len(row))
    return torch.tensor(ids, dtype=torch.int32), torch.tensor(off, dtype=torch.int32)


def fnv1a64(data):
    h = 14695981039346656037
    for b in data:
        h = ((h ^ b) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return h


def corpus_tensors(tensors):
    raw = [t.encode("utf-8") for t in CORPUS]
    tensors["corpus"] = torch.tensor(list(b"".join(raw)), dtype=torch.uint8)
    off = [0]
    for r in raw:
        off.append(off[-1] + len(r))
    tensors["corpus_off"] = torch.tensor(off, dtype=torch.int32)
    # Encodings go through NUL-terminated C strings: skip texts holding a NUL.
    enc_idx = [i for i, t in enumerate(CORPUS) if "\x00" not in t]
    tensors["enc_index"] = torch.tensor(enc_idx, dtype=torch.int32)
    return enc_idx


def record(tensors, name, tok, enc_idx, encode=False):
    ids = [tok.encode(t, add_special_tokens=False) for t in CORPUS]
    tensors[f"ids_{name}"], tensors[f"off_{name}"] = flat(ids)
    if encode:
        e = tok([CORPUS[i] for i in enc_idx], max_length=ENC_LEN, truncation=True, padding="max_length")
        assert all(v == 0 for row in e["token_type_ids"] for v in row)
        tensors[f"enc_ids_{name}"] = torch.tensor(e["input_ids"], dtype=torch.int32)
        tensors[f"enc_mask_{name}"] = torch.tensor(e["attention_mask"], dtype=torch.int32)
    return ids


CONFIGS = {  # name: BertTokenizer keyword arguments (tokenizer_config.json keys)
    "lower": dict(do_lower_case=True),
    "cased": dict(do_lower_case=False),
    "lower_keep": dict(do_lower_case=True, strip_accents=False),
    "cased_strip": dict(do_lower_case=False, strip_accents=True),
    "nocjk": dict(do_lower_case=True, tokenize_chinese_chars=False),
    "nobasic": dict(do_lower_case=True, do_basic_tokenize=False),
}
FAST = ["lower", "cased", "lower_keep", "cased_strip"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bert-dir", default=os.environ.get("LV_BERT_DIR"))
    args = ap.parse_args()

    vocab = build_vocab()
    vocab_path = os.path.join(FIXTURE_DIR, "wordpiece_vocab.txt")
    with open(vocab_path, "w", encoding="utf-8", newline="\n") as f:
        f.write("".join(t + "\n" for t in vocab))
    print(f"wrote {vocab_path} ({len(vocab)} tokens)")

    tensors = {}
    enc_idx = corpus_tensors(tensors)
    slow = {}
    for name, kw in CONFIGS.items():
        tok = BertTokenizer(vocab_path, **kw)
        slow[name] = record(tensors, name, tok, enc_idx, encode=(name == "lower"))
    for name in FAST:
        tok = BertTokenizerFast(vocab_path, **CONFIGS[name])
        fast = record(tensors, "fast_" + name, tok, enc_idx)
        diff = [CORPUS[i] for i in range(len(CORPUS)) if fast[i] != slow[name][i]]
        print(f"{name}: BertTokenizerFast differs from BertTokenizer on {len(diff)} texts: {diff!r}")
    # BertTokenizerFast keeps unassigned code points (Cn) that BertTokenizer drops as control
    # characters; we follow BertTokenizer, so the fast comparison skips those texts.
    tensors["fast_skip"] = torch.tensor([int(any(unicodedata.category(c) == "Cn" for c in t)) for t in CORPUS],
                                        dtype=torch.int32)

    bv = builtin_vocab()
    bpath = "/tmp/lv_wordpiece_builtin_vocab.txt"
    with open(bpath, "w", encoding="utf-8", newline="\n") as f:
        f.write("".join(t + "\n" for t in bv))
    record(tensors, "builtin", BertTokenizer(bpath), enc_idx, encode=True)
    n_unk = sum(1 for row in tensors["ids_builtin"].tolist() if row == 1)
    print(f"built-in vocabulary: {len(bv)} tokens, {n_unk} [UNK] over the corpus")
    save("wordpiece", tensors, metadata={"builtin_vocab": "\n".join(bv), "enc_len": ENC_LEN,
                                         "transformers": __import__("transformers").__version__})

    if args.bert_dir:
        vpath = os.path.join(args.bert_dir, "vocab.txt")
        data = open(vpath, "rb").read()
        tok = BertTokenizer.from_pretrained(args.bert_dir, local_files_only=True)
        t = {}
        enc_idx = corpus_tensors(t)
        record(t, "bert", tok, enc_idx, encode=True)
        save("wordpiece_bert_uncased", t, metadata={"vocab_fnv1a64": f"{fnv1a64(data):016x}",
                                                    "vocab_bytes": len(data), "enc_len": ENC_LEN})


if __name__ == "__main__":
    main()
