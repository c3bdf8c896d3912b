"""PyTorch GPU twin of `liver-vlm bench train` and `liver-vlm bench eval --device cuda`: the same
Liver-VLM model and step as bench/torch_cpu.py (which documents the model), timed on the GPU
with torch.cuda.synchronize, one JSON object per (run, config) so tools/gpu-check.sh can set
each beside the engine's own figure.

Configs (each guarded: one that fails or is unavailable reports an "error" and the rest go on):
  eager-fp32  eager, TF32 off for matmuls and cuDNN (the engine's --precision fp32)
  eager-tf32  eager, TF32 on (the engine's --precision tf32, its CUDA default)
  amp-cl      eager, bf16 autocast + channels_last, TF32 on for what stays fp32
  compile     torch.compile (default mode, static shapes) of amp-cl's model
A step is what the engine times: train = zero_grad + forward/backward + clip_grad_norm_(1.0) +
AdamW (fused where available) + loss.item(); eval = eval-mode forward, softmax and loss.item()
under no_grad. The batch lives on the GPU before timing starts, as the engine's does.

Run: python3 bench/torch_gpu.py [--runs train:64:32,eval:64:128,...] [--configs eager-fp32,...]
     [--steps 20] [--warmup 3] [--deadline-s 0] [--out results.jsonl] [--device cuda|cpu]
(--device cpu only checks this script's plumbing on a machine without a GPU.)
Only a reference for timing: it never writes anything the engine reads.
"""
import argparse
import json
import math
import statistics
import sys
import time
import traceback

CONFIGS = ["eager-fp32", "eager-tf32", "amp-cl", "compile"]
DEFAULT_RUNS = "train:64:32,eval:64:128,train:224:32,eval:224:64"
CLASSES = 5
DIM = 128              # lv_vlm_config_default: joint space D
TEXT_HIDDEN = 128      # lv_bert_config_small: hidden size H of the small text encoder
PROMPTS_PER_CLASS = 4  # encoders/prompts.c: 20 built-in prompts, 4 per class


def build_model_class(torch, torchvision, F):
    class LiverVLM(torch.nn.Module):
        """bench/torch_cpu.py's model (VLM head, frozen text as a constant feature matrix)."""

        def __init__(self, phases):
            super().__init__()
            r = torchvision.models.resnet18()
            r.conv1 = torch.nn.Conv2d(phases, 64, 7, 2, 3, bias=False)
            r.fc = torch.nn.Identity()
            self.visual = r
            self.proj = torch.nn.Linear(512, DIM)
            n = CLASSES * PROMPTS_PER_CLASS
            g = torch.Generator().manual_seed(3)
            self.register_buffer("pooled", torch.randn(n, TEXT_HIDDEN, generator=g))
            self.register_buffer("prompt_class", torch.arange(n) // PROMPTS_PER_CLASS)
            self.text_proj = torch.nn.Linear(TEXT_HIDDEN, DIM, bias=False)
            self.logit_scale = torch.nn.Parameter(torch.tensor(math.log(1 / 0.07)))

        def forward(self, x):
            f = self.visual(x)
            img = F.normalize(self.proj(f).float(), dim=-1)
            u = F.normalize(self.text_proj(self.pooled).float(), dim=-1)
            cls = torch.zeros(CLASSES, DIM, dtype=u.dtype, device=u.device).index_add(0, self.prompt_class, u)
            cls = F.normalize(cls, dim=-1)
            return self.logit_scale.exp().clamp(max=100) * img @ cls.t()

    return LiverVLM


def parse_runs(text):
    runs = []
    for item in text.split(","):
        kind, size, batch = item.strip().split(":")
        if kind not in ("train", "eval"):
            raise SystemExit(f"--runs: '{item}': expected train|eval:SIZE:BATCH")
        runs.append((kind, int(size), int(batch)))
    return runs


def set_precision(torch, config):
    tf32 = config != "eager-fp32"
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    torch.backends.cudnn.benchmark = True  # fixed shapes: PyTorch's usual setting for speed


def make_optimizer(torch, model):
    decay, no_decay = [], []
    for p in model.parameters():
        (decay if p.ndim > 1 else no_decay).append(p)
    groups = [{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}]
    try:
        return torch.optim.AdamW(groups, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, fused=True), "fused"
    except (RuntimeError, TypeError, ValueError):
        return torch.optim.AdamW(groups, lr=1e-3, betas=(0.9, 0.999), eps=1e-8), "foreach"


def sync(torch, dev):
    if dev.type == "cuda":
        torch.cuda.synchronize()


def bench_one(torch, torchvision, F, kind, size, batch, config, a):
    set_precision(torch, config)
    dev = torch.device(a.device)
    torch.manual_seed(1)
    model = build_model_class(torch, torchvision, F)(a.phases).to(dev)
    g = torch.Generator().manual_seed(1)
    labels = torch.arange(batch) % CLASSES
    x = (torch.randn(batch, a.phases, size, size, generator=g) + 0.2 * labels.view(-1, 1, 1, 1)).to(dev)
    y = labels.to(dev)
    amp = config in ("amp-cl", "compile")
    if amp:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    fwd = model
    if config == "compile":
        if not hasattr(torch, "compile"):
            raise RuntimeError("torch.compile is not available in this PyTorch")
        fwd = torch.compile(model, dynamic=False)
    extra = {}

    def forward():
        if amp:
            with torch.autocast(dev.type, dtype=torch.bfloat16):
                return fwd(x).float()
        return fwd(x)

    if kind == "train":
        model.train()
        opt, extra["adamw"] = make_optimizer(torch, model)
        params = [p for p in model.parameters() if p.requires_grad]

        def step():
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(forward(), y)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            return loss.item()
    else:
        model.eval()

        def step():
            with torch.no_grad():
                logits = forward()
                F.softmax(logits, dim=-1)
                return F.cross_entropy(logits, y).item()

    t0 = time.perf_counter()
    loss_first = None
    for _ in range(a.warmup):
        loss = step()
        loss_first = loss if loss_first is None else loss_first
    sync(torch, dev)
    warm_s = time.perf_counter() - t0
    t = []
    for _ in range(a.steps):
        s0 = time.perf_counter()
        loss = step()
        sync(torch, dev)
        t.append(time.perf_counter() - s0)
        loss_first = loss if loss_first is None else loss_first
    ms = 1e3 * statistics.median(t)
    r = {"images_per_s": batch / (ms * 1e-3), "ms_per_step": ms, "ms_per_step_mean": 1e3 * statistics.mean(t),
         "ms_per_step_min": 1e3 * min(t), "steps": len(t), "warmup_s": warm_s, "loss_first": loss_first,
         "loss_last": loss}
    if dev.type == "cuda":
        r["peak_mem_mib"] = torch.cuda.max_memory_allocated() / 2**20
    r.update(extra)
    return r


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", default=DEFAULT_RUNS, help="comma list of train|eval:SIZE:BATCH")
    ap.add_argument("--configs", default=",".join(CONFIGS), help="comma list of " + ", ".join(CONFIGS))
    ap.add_argument("--phases", type=int, default=3)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--deadline-s", type=float, default=0.0,
                    help="skip runs that would start after this many seconds (0: no limit)")
    ap.add_argument("--out", help="also append each JSON line to this file")
    ap.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    a = ap.parse_args()
    configs = [c.strip() for c in a.configs.split(",") if c.strip()]
    for c in configs:
        if c not in CONFIGS:
            raise SystemExit(f"--configs: unknown '{c}' (expected {', '.join(CONFIGS)})")
    runs = parse_runs(a.runs)
    start = time.perf_counter()
    out = open(a.out, "a") if a.out else None

    def emit(obj):
        line = json.dumps(obj)
        print(line, flush=True)
        if out:
            out.write(line + "\n")
            out.flush()

    base = {"engine": "pytorch", "device": "torch-" + a.device, "phases": a.phases, "head": "vlm", "warmup": a.warmup}
    try:
        import torch
        import torch.nn.functional as F
        import torchvision
        base.update({"torch": torch.__version__, "torchvision": torchvision.__version__})
        if a.device == "cuda":
            if not torch.cuda.is_available():
                raise RuntimeError("torch.cuda.is_available() is False")
            base.update({"gpu": torch.cuda.get_device_name(0), "cudnn": torch.backends.cudnn.version()})
    except Exception as e:  # noqa: BLE001 -- report and stop: nothing can run without torch
        for c in configs:
            for kind, size, batch in runs:
                emit(dict(base, benchmark=kind, config=c, size=size, batch=batch, error=f"torch unavailable: {e}"))
        return 1
    failed = 0
    for c in configs:
        for kind, size, batch in runs:
            rec = dict(base, benchmark=kind, config=c, size=size, batch=batch)
            if a.deadline_s > 0 and time.perf_counter() - start > a.deadline_s:
                emit(dict(rec, error=f"skipped: past the {a.deadline_s:.0f} s deadline"))
                continue
            try:
                rec.update(bench_one(torch, torchvision, F, kind, size, batch, c, a))
            except Exception as e:  # noqa: BLE001 -- one config failing must not stop the rest
                failed += 1
                msg = str(e).strip().splitlines()
                rec["error"] = f"{type(e).__name__}: {msg[0] if msg else ''}"[:300]
                traceback.print_exc(limit=3, file=sys.stderr)
            finally:
                if c == "compile":
                    try:
                        torch._dynamo.reset()
                    except Exception:  # noqa: BLE001
                        pass
                if a.device == "cuda":
                    torch.cuda.empty_cache()
                    torch.cuda.reset_peak_memory_stats()
            emit(rec)
    if out:
        out.close()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
