"""PyTorch references for the text-encoder ops: layernorm, gelu, softmax, attention.

Run: cd tests && /usr/bin/python3 fixtures_text_ops.py
Each op gets tests/fixtures/<op>.safetensors with inputs, outputs and autograd gradients,
all float32 as PyTorch computes them (no float64 anywhere: the fixture is torch's fp32 answer).
Attention is built from torch ops exactly as HF BertSelfAttention's eager path does it.
"""
import math
import sys
import os

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fixture_util import save, seeded, randn  # noqa: E402


def layernorm():
    g = seeded(101)
    rows, c = 12, 48
    out = {"shape": torch.tensor([rows, c], dtype=torch.int32)}
    for tag, eps in (("e12", 1e-12), ("e5", 1e-5)):
        # Row offsets as embedding sums have them; in the 1e-5 case one nearly constant row
        # (variance ~ eps) so the eps term visibly matters.
        x = randn(rows, c, g=g, scale=2.0) + randn(rows, 1, g=g, scale=3.0)
        if tag == "e5":
            x[3] = 0.7 + randn(c, g=g, scale=0.003)
        x.requires_grad_(True)
        w = (1.0 + randn(c, g=g, scale=0.2)).requires_grad_(True)
        b = randn(c, g=g, scale=0.2).requires_grad_(True)
        y, mean, rstd = torch.native_layer_norm(x, [c], w, b, eps)
        ref = F.layer_norm(x, [c], w, b, eps)
        assert torch.equal(y, ref)
        dout = randn(rows, c, g=g)
        y.backward(dout)
        out.update({f"{tag}.in": x, f"{tag}.w": w, f"{tag}.b": b, f"{tag}.out": y,
                    f"{tag}.mean": mean.reshape(rows), f"{tag}.rstd": rstd.reshape(rows),
                    f"{tag}.dout": dout, f"{tag}.din": x.grad, f"{tag}.dw": w.grad,
                    f"{tag}.db": b.grad, f"{tag}.eps": torch.tensor([eps], dtype=torch.float32)})
    save("layernorm", out)


def gelu():
    g = seeded(202)
    edge = torch.tensor([-10.0, -6.0, -3.0, -1.0, -0.5, -1e-3, 0.0, 1e-3, 0.5, 1.0, 3.0, 6.0, 10.0])
    x = torch.cat([randn(500, g=g, scale=3.0), edge]).requires_grad_(True)
    y = F.gelu(x)  # default approximate='none': the erf form
    dout = randn(x.numel(), g=g)
    y.backward(dout)
    save("gelu", {"in": x, "out": y, "dout": dout, "din": x.grad})


def softmax():
    g = seeded(303)
    rows, cols = 10, 37
    x = randn(rows, cols, g=g, scale=3.0)
    x[2] += 200.0           # exp would overflow float without the max shift
    x[5] *= 20.0            # nearly one-hot
    x[7] = 0.25             # exactly uniform
    x.requires_grad_(True)
    y = torch.softmax(x, dim=-1)
    dout = randn(rows, cols, g=g)
    y.backward(dout)
    save("softmax", {"shape": torch.tensor([rows, cols], dtype=torch.int32), "in": x, "out": y,
                     "dout": dout, "din": x.grad})


def attention():
    g = seeded(404)
    b, t, c, nh = 3, 20, 48, 4
    hd = c // nh
    # Sequence 0 full, 1 padded after 13 tokens, 2 fully padded (HF then gives uniform rows).
    lengths = [20, 13, 0]
    mask = torch.zeros(b, t, dtype=torch.int32)
    for i, n in enumerate(lengths):
        mask[i, :n] = 1
    qkv = randn(b, t, 3 * c, g=g, scale=1.5).requires_grad_(True)
    q, k, v = qkv.split(c, dim=-1)

    def heads(x):  # BertSelfAttention.transpose_for_scores
        return x.view(b, t, nh, hd).permute(0, 2, 1, 3)

    scores = torch.matmul(heads(q), heads(k).transpose(-1, -2)) / math.sqrt(hd)
    # BertModel.get_extended_attention_mask: (1 - mask) * finfo(float32).min, over keys.
    ext = (1.0 - mask[:, None, None, :].to(torch.float32)) * torch.finfo(torch.float32).min
    probs = torch.softmax(scores + ext, dim=-1)
    probs.retain_grad()
    ctx = torch.matmul(probs, heads(v)).permute(0, 2, 1, 3).reshape(b, t, c)
    dout = randn(b, t, c, g=g)
    ctx.backward(dout)
    assert torch.all(probs[1, :, :, 13:] == 0)
    save("attention", {"shape": torch.tensor([b, t, c, nh], dtype=torch.int32), "qkv": qkv,
                       "mask": mask, "out": ctx, "att": probs, "dout": dout, "dqkv": qkv.grad})


if __name__ == "__main__":
    layernorm()
    gelu()
    softmax()
    attention()
