"""PyTorch CPU twin of `liver-vlm bench train` and `liver-vlm bench eval`: the same Liver-VLM
model, step and timing, printed in the same JSON shape so the two sit side by side.

Model: torchvision resnet18 with conv1 taking P phases and fc removed, a Linear(512, D)
projection; the frozen text side is a constant [n_prompts, H] matrix of pooled prompt features
through a trainable Linear(H, D, bias=False) (text.proj), L2-normalised and summed per class;
cosine logits times clamp(exp(logit_scale), max=100), cross-entropy. A training step is
zero_grad + forward/backward + clip_grad_norm_(1.0) + AdamW (wd 0.01 on weights, none on
BN/biases/logit_scale); evaluation is the eval-mode forward with softmax under no_grad.

Run: /usr/bin/python3 bench/torch_cpu.py [train|eval|both] [--size 64] [--batch N] [--phases 3]
     [--head vlm|linear] [--steps N] [--warmup 2] [--threads 2] [--json]
Only a reference for timing: it never writes anything the engine reads.
"""
import argparse
import json
import math
import statistics
import time

import torch
import torch.nn.functional as F
import torchvision

CLASSES = 5
DIM = 128            # lv_vlm_config_default: joint space D
TEXT_HIDDEN = 128    # lv_bert_config_small: hidden size H of the small text encoder
PROMPTS_PER_CLASS = 4  # encoders/prompts.c: 20 built-in prompts, 4 per class
TARGET_S = 8.0       # auto step count, as tools/bench_model.c


class LiverVLM(torch.nn.Module):
    def __init__(self, phases, head):
        super().__init__()
        r = torchvision.models.resnet18()
        r.conv1 = torch.nn.Conv2d(phases, 64, 7, 2, 3, bias=False)
        r.fc = torch.nn.Identity()
        self.visual = r
        self.head = head
        if head == "vlm":
            self.proj = torch.nn.Linear(512, DIM)
            n = CLASSES * PROMPTS_PER_CLASS
            g = torch.Generator().manual_seed(3)
            # The frozen encoder's pooled prompt features: computed once, never trained.
            self.register_buffer("pooled", torch.randn(n, TEXT_HIDDEN, generator=g))
            self.register_buffer("prompt_class", torch.arange(n) // PROMPTS_PER_CLASS)
            self.text_proj = torch.nn.Linear(TEXT_HIDDEN, DIM, bias=False)
            self.logit_scale = torch.nn.Parameter(torch.tensor(math.log(1 / 0.07)))
        else:
            self.fc = torch.nn.Linear(512, CLASSES)

    def forward(self, x):
        f = self.visual(x)
        if self.head != "vlm":
            return self.fc(f)
        img = F.normalize(self.proj(f), dim=-1)
        u = F.normalize(self.text_proj(self.pooled), dim=-1)
        cls = torch.zeros(CLASSES, DIM, dtype=u.dtype).index_add(0, self.prompt_class, u)
        cls = F.normalize(cls, dim=-1)
        return self.logit_scale.exp().clamp(max=100) * img @ cls.t()


def make_batch(batch, phases, size):
    g = torch.Generator().manual_seed(1)
    y = torch.arange(batch) % CLASSES
    x = torch.randn(batch, phases, size, size, generator=g) + 0.2 * y.view(-1, 1, 1, 1)
    return x, y


def param_groups(model):
    decay, no_decay = [], []
    for p in model.parameters():
        (decay if p.ndim > 1 else no_decay).append(p)
    return [{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}]


def timed(step, warmup, steps):
    once = 0.0
    for _ in range(warmup if warmup > 0 else int(steps <= 0)):
        t0 = time.perf_counter()
        step()
        once = time.perf_counter() - t0
    if steps <= 0:
        steps = min(200, max(5, int(TARGET_S / once) if once > 0 else 200))
    t = []
    for _ in range(steps):
        t0 = time.perf_counter()
        loss = step()
        t.append(time.perf_counter() - t0)
    return t, loss


def bench(kind, a):
    batch = a.batch or (32 if kind == "train" else 128)
    torch.manual_seed(1)
    model = LiverVLM(a.phases, a.head)
    x, y = make_batch(batch, a.phases, a.size)
    if kind == "train":
        model.train()
        opt = torch.optim.AdamW(param_groups(model), lr=1e-3, betas=(0.9, 0.999), eps=1e-8)
        params = [p for p in model.parameters() if p.requires_grad]

        def step():
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            return loss.item()
    else:
        model.eval()

        def step():
            with torch.no_grad():
                logits = model(x)
                F.softmax(logits, dim=-1)
                return F.cross_entropy(logits, y).item()

    t, loss = timed(step, a.warmup, a.steps)
    ms = 1e3 * statistics.median(t)
    return {"benchmark": kind, "device": "torch-cpu", "torch": torch.__version__, "threads": a.threads,
            "size": a.size, "batch": batch, "phases": a.phases, "head": a.head, "warmup": a.warmup,
            "steps": len(t), "images_per_s": batch / (ms * 1e-3), "ms_per_step": ms,
            "ms_per_step_mean": 1e3 * statistics.mean(t), "ms_per_step_min": 1e3 * min(t),
            "visual_params": sum(p.numel() for p in model.visual.parameters()) +
            (sum(p.numel() for p in model.proj.parameters()) if a.head == "vlm" else 0),
            "loss_last": loss}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("which", nargs="?", default="both", choices=["train", "eval", "both"])
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--batch", type=int, default=0, help="0: 32 for train, 128 for eval")
    ap.add_argument("--phases", type=int, default=3)
    ap.add_argument("--head", default="vlm", choices=["vlm", "linear"])
    ap.add_argument("--steps", type=int, default=0, help="0: about 8 s of timed steps")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    kinds = ["train", "eval"] if a.which == "both" else [a.which]
    for k in kinds:
        r = bench(k, a)
        if a.json:
            print(json.dumps(r))
        else:
            print(f"torch {r['torch']} cpu ({a.threads} threads) {k}: Liver-VLM ({a.head} head, {a.phases} "
                  f"phases) batch {r['batch']} at {a.size}x{a.size}: median {r['ms_per_step']:.2f} ms/step "
                  f"(mean {r['ms_per_step_mean']:.2f}, {r['steps']} steps) = {r['images_per_s']:.1f} images/s")


if __name__ == "__main__":
    main()
