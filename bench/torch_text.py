"""PyTorch twin of `liver-vlm bench text`: the same BERT text encoder (HF BertModel's
architecture written in plain torch: embeddings + LayerNorm, post-LN layers with fused-free
q/k/v projections, erf GELU, CLS pooling, a bias-free projection to D), the same shapes and
the same step, so the two figures can be set side by side.

A step: train = zero_grad + forward + backward from a fixed output gradient + AdamW (fused
where available) + synchronize; eval = forward under no_grad + synchronize. Random token ids,
every sequence exactly L tokens (no padding), as the engine's benchmark.

Configs (each guarded: one that fails reports an "error" and the rest go on):
  eager-fp32  TF32 off (the engine's --precision fp32; the only config on the CPU)
  eager-tf32  TF32 on (the engine's CUDA default)
  amp-bf16    bf16 autocast (CUDA only)
  sdpa-bf16   amp-bf16 with F.scaled_dot_product_attention (flash attention) (CUDA only)

Run: /usr/bin/python3 bench/torch_text.py [--device cpu|cuda] [--threads 2] [--preset minilm]
     [--batch 64] [--seq 32] [--modes train,eval] [--configs ...] [--steps 20] [--warmup 2]
One JSON object per (mode, config) on stdout. Only a reference for timing.
"""
import argparse
import contextlib
import json
import math
import statistics
import sys
import time
import traceback

PRESETS = {  # tools/bench_text.c
    "small": dict(layers=2, hidden=128, heads=4, inter=512, max_pos=128),
    "minilm": dict(layers=6, hidden=384, heads=12, inter=1536, max_pos=512),
    "base": dict(layers=12, hidden=768, heads=12, inter=3072, max_pos=512),
}
VOCAB, DIM = 30522, 128


def build(torch, F, p, sdpa):
    nn = torch.nn
    H, nh = p["hidden"], p["heads"]

    class Layer(nn.Module):
        def __init__(self):
            super().__init__()
            self.q, self.k, self.v = nn.Linear(H, H), nn.Linear(H, H), nn.Linear(H, H)
            self.o = nn.Linear(H, H)
            self.ln1 = nn.LayerNorm(H, eps=1e-12)
            self.i = nn.Linear(H, p["inter"])
            self.out = nn.Linear(p["inter"], H)
            self.ln2 = nn.LayerNorm(H, eps=1e-12)

        def forward(self, x):
            b, t, _ = x.shape
            split = lambda y: y.view(b, t, nh, H // nh).transpose(1, 2)
            q, k, v = split(self.q(x)), split(self.k(x)), split(self.v(x))
            if sdpa:
                c = F.scaled_dot_product_attention(q, k, v)
            else:
                a = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(H // nh), dim=-1)
                c = a @ v
            c = c.transpose(1, 2).reshape(b, t, H)
            h1 = self.ln1(self.o(c) + x)
            return self.ln2(self.out(F.gelu(self.i(h1))) + h1)

    class Bert(nn.Module):
        def __init__(self):
            super().__init__()
            self.word = nn.Embedding(VOCAB, H, padding_idx=0)
            self.pos = nn.Embedding(p["max_pos"], H)
            self.tok_type = nn.Embedding(2, H)
            self.ln = nn.LayerNorm(H, eps=1e-12)
            self.layers = nn.ModuleList(Layer() for _ in range(p["layers"]))
            self.proj = nn.Linear(H, DIM, bias=False)

        def forward(self, ids):
            t = ids.shape[1]
            pos = torch.arange(t, device=ids.device)
            x = self.ln(self.word(ids) + self.tok_type(torch.zeros_like(ids)) + self.pos(pos)[None])
            for layer in self.layers:
                x = layer(x)
            return self.proj(x[:, 0])

    return Bert()


def run(torch, F, args, mode, config):
    dev = torch.device(args.device)
    cuda = dev.type == "cuda"
    if not cuda and config != "eager-fp32":
        return {"error": "CUDA only"}
    if cuda:
        torch.backends.cuda.matmul.allow_tf32 = config != "eager-fp32"
    torch.manual_seed(1)
    model = build(torch, F, PRESETS[args.preset], config == "sdpa-bf16").to(dev)
    g = torch.Generator().manual_seed(3)
    ids = torch.randint(1000, VOCAB, (args.batch, args.seq), generator=g)
    ids[:, 0] = 101
    ids = ids.to(dev)
    gout = (0.01 * torch.randn(args.batch, DIM, generator=g)).to(dev)
    opt = None
    if mode == "train":
        try:
            opt = torch.optim.AdamW(model.parameters(), lr=1e-3, fused=cuda)
        except (TypeError, RuntimeError):
            opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    amp = config in ("amp-bf16", "sdpa-bf16")
    # autocast("cuda", enabled=False) still needs a CUDA build of torch: no context at all.
    autocast = (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if amp else contextlib.nullcontext

    def step():
        if mode == "train":
            opt.zero_grad(set_to_none=True)
            with autocast():
                out = model(ids)
            out.float().backward(gout)
            opt.step()
        else:
            with torch.no_grad(), autocast():
                model(ids)
        if cuda:
            torch.cuda.synchronize()

    for _ in range(args.warmup):
        step()
    times = []
    for _ in range(args.steps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    ms = 1e3 * statistics.median(times)
    return {"ms_per_step": ms, "sequences_per_s": args.batch / (ms * 1e-3),
            "params": sum(q.numel() for q in model.parameters())}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--preset", default="minilm", choices=sorted(PRESETS))
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--seq", type=int, default=32)
    ap.add_argument("--modes", default="train,eval")
    ap.add_argument("--configs", default="eager-fp32,eager-tf32,amp-bf16,sdpa-bf16")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=2)
    args = ap.parse_args()
    import torch
    import torch.nn.functional as F
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    for mode in args.modes.split(","):
        for config in args.configs.split(","):
            rec = {"benchmark": "text_" + mode, "framework": "pytorch " + torch.__version__, "config": config,
                   "device": args.device, "preset": args.preset, "batch": args.batch, "seq": args.seq,
                   "threads": torch.get_num_threads()}
            if args.device == "cpu" and config != "eager-fp32":
                continue
            try:
                rec.update(run(torch, F, args, mode, config))
            except Exception as e:  # one failing config must not hide the others
                rec["error"] = "%s: %s" % (type(e).__name__, e)
                traceback.print_exc(file=sys.stderr)
            print(json.dumps(rec), flush=True)


if __name__ == "__main__":
    main()
