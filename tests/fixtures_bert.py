"""BERT text encoder fixtures from HF transformers' own BertModel (PyPI transformers, any
4.3x that runs on torch 1.13; made with 4.38.2), eval mode (no dropout).

Run: /usr/bin/python3 tests/fixtures_bert.py   (or tests/make_fixtures.py for all)
Writes, under tests/fixtures/:
- bert.safetensors: a tiny random BertModel's weights exactly as an HF model.safetensors
  holds them (plain names, plus pooler.* and embeddings.position_ids to be ignored), and
  its config.json text in the metadata ("config_json"): the C test builds an HF folder.
- bert_legacy.safetensors: the same weights the way bert-base-uncased stores them
  ("bert." prefix, LayerNorm.gamma/beta, cls.* heads).
- bert_io.safetensors: ids/mask (one sequence padded, one heavily), last_hidden_state,
  CLS- and mean-pooled outputs, a random projection and its embeddings, and the gradients
  of sum(r * proj(pooled)) for every parameter, for each pooling.
- bert_pool.safetensors: the masked mean pooling op alone (sentence-transformers' formula).
The model runs in float64 from float32 weights, so the references carry no float32
rounding of their own: the C test's error is the engine's alone.
"""
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fixture_util import save, seeded, randn  # noqa: E402

from transformers import BertConfig, BertModel  # noqa: E402

V, H, L, NH, I, MAXPOS, D = 100, 32, 2, 4, 64, 16, 8
B, T = 3, 12
LENGTHS = (12, 7, 3)


def make_model(g):
    cfg = BertConfig(vocab_size=V, hidden_size=H, num_hidden_layers=L, num_attention_heads=NH,
                     intermediate_size=I, max_position_embeddings=MAXPOS, type_vocab_size=2,
                     hidden_act="gelu", layer_norm_eps=1e-12, pad_token_id=0,
                     hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    cfg._attn_implementation = "eager"
    m = BertModel(cfg, add_pooling_layer=True).eval()
    # Weights far from HF's std-0.02 init so attention is not uniform and LayerNorm's affine
    # matters; all float32 values, then the model goes float64.
    with torch.no_grad():
        for name, p in m.named_parameters():
            if "LayerNorm.weight" in name:
                p.copy_(1.0 + randn(*p.shape, g=g, scale=0.2))
            elif p.dim() == 1:
                p.copy_(randn(*p.shape, g=g, scale=0.1))
            elif "embeddings" in name:
                p.copy_(randn(*p.shape, g=g, scale=0.5))
            else:
                p.copy_(randn(*p.shape, g=g, scale=1.0 / p.shape[1] ** 0.5))
    return cfg, m


def mean_pool(h, mask):
    """sentence-transformers' Pooling(mean): sum over real tokens / clamp(count, 1e-9)."""
    me = mask.unsqueeze(-1).to(h.dtype)
    return (h * me).sum(1) / torch.clamp(me.sum(1), min=1e-9)


def inputs(g):
    ids = torch.randint(1, V, (B, T), generator=g)
    ids[:, 0] = 2  # a [CLS]-like first token
    ids[0, 5] = 0  # the pad id inside a real sequence: its row still gets no gradient (HF)
    mask = torch.zeros(B, T, dtype=torch.int64)
    for b, n in enumerate(LENGTHS):
        mask[b, :n] = 1
        ids[b, n:] = 0
    return ids, mask


def bert_fixtures():
    g = seeded(4242)
    cfg, m = make_model(g)
    sd = {k: v.detach().clone() for k, v in m.state_dict().items()}
    weights = dict(sd)
    weights["embeddings.position_ids"] = torch.arange(MAXPOS, dtype=torch.int64).unsqueeze(0)
    save("bert", weights, {"config_json": cfg.to_json_string()})

    legacy = {}
    for k, v in sd.items():
        k2 = k.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias", "LayerNorm.beta")
        legacy["bert." + k2] = v
    legacy["cls.predictions.bias"] = torch.zeros(V)
    legacy["cls.predictions.transform.dense.weight"] = randn(H, H, g=g)
    legacy["cls.seq_relationship.weight"] = randn(2, H, g=g)
    save("bert_legacy", legacy)

    ids, mask = inputs(g)
    proj = randn(D, H, g=g, scale=0.3)
    r = randn(B, D, g=g)
    m64 = m.double()
    params = dict(m64.named_parameters())
    out = {"ids": ids.to(torch.int32), "mask": mask.to(torch.int32), "proj": proj, "r": r}
    for pooling in ("cls", "mean"):
        m64.zero_grad()
        w = proj.double().requires_grad_(True)
        h = m64(input_ids=ids, attention_mask=mask).last_hidden_state
        pooled = h[:, 0] if pooling == "cls" else mean_pool(h, mask)
        emb = pooled @ w.t()
        (emb * r.double()).sum().backward()
        out["hidden"] = h.detach().float()
        out[pooling + ".pooled"] = pooled.detach().float()
        out[pooling + ".emb"] = emb.detach().float()
        for name, p in params.items():
            if name.startswith("pooler."):
                continue
            out[f"{pooling}.grad.{name}"] = p.grad.float()
        out[f"{pooling}.grad.proj.weight"] = w.grad.float()
    assert float(out["mean.grad.embeddings.word_embeddings.weight"][0].abs().max()) == 0.0
    save("bert_io", out, {"config": json.dumps({"B": B, "T": T, "D": D, "lengths": LENGTHS})})


def pool_fixture():
    g = seeded(777)
    b, t, c = 4, 6, 5
    x = randn(b, t, c, g=g).requires_grad_(True)
    mask = torch.tensor([[1, 1, 1, 1, 1, 1], [1, 1, 1, 0, 0, 0], [0, 0, 0, 0, 0, 0], [1, 0, 1, 1, 0, 1]])
    y = mean_pool(x, mask)
    dout = randn(b, c, g=g)
    y.backward(dout)
    save("bert_pool", {"in": x, "mask": mask.to(torch.int32), "out": y, "dout": dout, "din": x.grad})


if __name__ == "__main__":
    torch.set_num_threads(1)
    bert_fixtures()
    pool_fixture()
