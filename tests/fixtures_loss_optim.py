"""PyTorch references for the losses, optimizers and gradient clipping: cosine_ce (the
Liver-VLM head), clip_loss, AdamW, SGD, clip_grad_norm_.
Run: cd tests && /usr/bin/python3 fixtures_loss_optim.py

Losses: forward loss, logits and autograd gradients in float32, for a logit scale below
ln(100) (live gradient) and one above it (clamped: zero gradient). Optimizers: a few steps
with a stored gradient sequence, saving the parameter and state trajectory. Hyper-parameters
are rounded to float32 before torch sees them, because the C side receives floats: torch's
double scalar arithmetic (1 - beta, bias corrections) then starts from the same numbers."""
import math

import numpy as np
import torch
import torch.nn.functional as F

from fixture_util import randn, save, seeded


def f32(x):
    """The float32 value the C hparams struct will hold, as the double torch will use."""
    return float(np.float32(x))


def scale_of(ls):
    return ls.exp().clamp(max=100)


def cosine_ce():
    g = seeded(301)
    t = {}
    b, c, d = 7, 5, 16
    # ln(1/0.07) ~ 2.66 is CLIP's initial scale (s ~ 14.3); 4.9 gives exp ~ 134 > 100.
    for name, ls0 in (("live", math.log(1 / 0.07)), ("clamped", 4.9)):
        img = randn(b, d, g=g).requires_grad_(True)
        cls = (randn(c, d, g=g) * 2.0).requires_grad_(True)
        ls = torch.tensor([ls0], dtype=torch.float32, requires_grad=True)
        labels = torch.randint(0, c, (b,), generator=g, dtype=torch.int64)
        logits = scale_of(ls) * (F.normalize(img, dim=-1) @ F.normalize(cls, dim=-1).t())
        logits.retain_grad()
        loss = F.cross_entropy(logits, labels)
        loss.backward()
        t.update({f"{name}.img": img, f"{name}.cls": cls, f"{name}.logit_scale": ls,
                  f"{name}.labels": labels.to(torch.int32), f"{name}.loss": loss.reshape(1),
                  f"{name}.logits": logits, f"{name}.dimg": img.grad, f"{name}.dcls": cls.grad,
                  f"{name}.dscale": ls.grad})
    save("cosine_ce", t)


def clip_loss():
    g = seeded(302)
    t = {}
    b, d = 6, 12
    for name, ls0 in (("live", math.log(1 / 0.07)), ("clamped", 4.9)):
        img = randn(b, d, g=g).requires_grad_(True)
        txt = (randn(b, d, g=g) * 0.5).requires_grad_(True)
        ls = torch.tensor([ls0], dtype=torch.float32, requires_grad=True)
        logits = scale_of(ls) * (F.normalize(img, dim=-1) @ F.normalize(txt, dim=-1).t())
        target = torch.arange(b)
        loss = (F.cross_entropy(logits, target) + F.cross_entropy(logits.t(), target)) / 2
        loss.backward()
        t.update({f"{name}.img": img, f"{name}.txt": txt, f"{name}.logit_scale": ls,
                  f"{name}.loss": loss.reshape(1), f"{name}.dimg": img.grad,
                  f"{name}.dtxt": txt.grad, f"{name}.dscale": ls.grad})
    save("clip_loss", t)


def grad_sequence(g, steps, n):
    """Gradients of mixed magnitude, with exact zeros and tiny values so eps matters."""
    gs = randn(steps, n, g=g) * torch.logspace(-3, 1, n).float()
    gs[:, ::11] = 0.0
    gs[:, 5::13] *= 1e-6
    return gs


def adamw():
    g = seeded(303)
    t = {}
    n, steps = 37, 5  # odd length: no vector-width assumption can hide
    cases = (("default", (1e-3, 0.9, 0.999, 1e-8, 1e-2)),
             ("strong", (5e-2, 0.8, 0.99, 1e-6, 0.1)))
    for name, hp in cases:
        hp = [f32(v) for v in hp]
        p = torch.nn.Parameter(randn(n, g=g))
        t[f"{name}.param0"] = p.detach().clone()
        gs = grad_sequence(g, steps, n)
        opt = torch.optim.AdamW([p], lr=hp[0], betas=(hp[1], hp[2]), eps=hp[3],
                                weight_decay=hp[4], amsgrad=False, foreach=False)
        ps, ms, vs = [], [], []
        for k in range(steps):
            p.grad = gs[k].clone()
            opt.step()
            st = opt.state[p]
            ps.append(p.detach().clone())
            ms.append(st["exp_avg"].clone())
            vs.append(st["exp_avg_sq"].clone())
        t.update({f"{name}.hparams": torch.tensor(hp, dtype=torch.float32),
                  f"{name}.grads": gs, f"{name}.params": torch.stack(ps),
                  f"{name}.m": torch.stack(ms), f"{name}.v": torch.stack(vs)})
    save("adamw", t)


def sgd():
    g = seeded(304)
    t = {}
    n, steps = 37, 4
    # (lr, momentum, dampening, weight_decay, nesterov)
    cases = (("momentum", (0.1, 0.9, 0.0, 1e-4, 0)),
             ("nesterov", (0.05, 0.9, 0.0, 1e-2, 1)),
             ("dampening", (0.1, 0.8, 0.3, 0.0, 0)),
             ("plain", (0.2, 0.0, 0.0, 5e-4, 0)))
    for name, hp in cases:
        hp = [f32(v) for v in hp[:4]] + [hp[4]]
        p = torch.nn.Parameter(randn(n, g=g))
        t[f"{name}.param0"] = p.detach().clone()
        gs = grad_sequence(g, steps, n)
        opt = torch.optim.SGD([p], lr=hp[0], momentum=hp[1], dampening=hp[2],
                              weight_decay=hp[3], nesterov=bool(hp[4]), foreach=False)
        ps, bufs = [], []
        for k in range(steps):
            p.grad = gs[k].clone()
            opt.step()
            ps.append(p.detach().clone())
            buf = opt.state[p].get("momentum_buffer")
            bufs.append(buf.clone() if buf is not None else torch.zeros(n))
        t.update({f"{name}.hparams": torch.tensor(hp, dtype=torch.float32),
                  f"{name}.grads": gs, f"{name}.params": torch.stack(ps),
                  f"{name}.momentum": torch.stack(bufs)})
    save("sgd", t)


def grad_clip():
    g = seeded(305)
    t = {}
    shapes = ((3, 4), (7,), (2, 5), (1,))
    for name, factor, poison in (("clip", 0.3, None), ("noclip", 2.5, None),
                                 ("nan", 1.0, float("nan"))):
        params = [torch.nn.Parameter(torch.zeros(s)) for s in shapes]
        for p in params:
            p.grad = randn(*p.shape, g=g) * 0.7
        if poison is not None:
            params[1].grad[3] = poison
        flat_in = torch.cat([p.grad.reshape(-1) for p in params]).clone()
        clean = torch.cat([p.grad.reshape(-1) for p in params if torch.isfinite(p.grad).all()])
        max_norm = f32(factor * clean.norm().item())
        total = torch.nn.utils.clip_grad_norm_(params, max_norm)
        flat_out = torch.cat([p.grad.reshape(-1) for p in params])
        t.update({f"{name}.grads_in": flat_in, f"{name}.grads_out": flat_out,
                  f"{name}.max_norm": torch.tensor([max_norm], dtype=torch.float32),
                  f"{name}.total_norm": total.reshape(1).float()})
    save("grad_clip", t)


if __name__ == "__main__":
    cosine_ce()
    clip_loss()
    adamw()
    sgd()
    grad_clip()
