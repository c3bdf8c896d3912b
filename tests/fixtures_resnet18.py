"""ResNet-18 image encoder fixture: torchvision's resnet18 (P=3 phases, fc removed) plus a
Linear(512, D) projection, forward in training and eval mode and backward from a fixed
d(embedding). Weights are not stored (47 MB): both sides fill every tensor from the same
integer hash (hash_uniform below, mirrored in tests/test_resnet18.c), exact in float32.
Run: /usr/bin/python3 tests/fixtures_resnet18.py"""
import numpy as np
import torch
import torchvision

from fixture_util import save, seeded

P, D, B, S = 3, 16, 2, 64
SAMPLE_STRIDE = 997  # large tensors are compared on every 997th element


def hash_uniform(n, t):
    """u in [0,1) from (element i, tensor t): integer mixing, then 24 bits -> float32."""
    i = np.arange(n, dtype=np.uint64)
    h = (((i + 1) * np.uint64(2654435761)) ^ np.uint64((t * 0x9E3779B9) & 0xFFFFFFFF)) & np.uint64(0xFFFFFFFF)
    h ^= h >> np.uint64(15)
    h = (h * np.uint64(0x2C1B3C6D)) & np.uint64(0xFFFFFFFF)
    h ^= h >> np.uint64(12)
    return (h >> np.uint64(8)).astype(np.float32) * np.float32(1.0 / 16777216.0)


def fan_shift(fan_in):
    """Weights scale as 2^-floor(log2(fan_in)/2): a power of two keeps the product exact."""
    return int(fan_in).bit_length() // 2


def fill(name, shape, t, state):
    n = int(np.prod(shape))
    u = hash_uniform(n, t)
    if state:  # running_mean in [-1/16, 1/16), running_var in [1, 1.5)
        v = (u - np.float32(0.5)) * np.float32(0.125) if name.endswith("running_mean") else np.float32(1) + u * np.float32(0.5)
    elif len(shape) == 1:  # BN weight around 1, biases small
        v = (u - np.float32(0.5)) * np.float32(0.25)
        if name.endswith("weight"):
            v = v + np.float32(1)
    else:
        fan_in = int(np.prod(shape[1:]))
        v = np.ldexp(u - np.float32(0.5), -fan_shift(fan_in)).astype(np.float32)
    return torch.from_numpy(v.astype(np.float32).reshape(shape))


class Encoder(torch.nn.Module):
    def __init__(self):
        super().__init__()
        r = torchvision.models.resnet18()
        r.conv1 = torch.nn.Conv2d(P, 64, 7, 2, 3, bias=False)
        r.fc = torch.nn.Identity()
        self.r = r
        self.proj = torch.nn.Linear(512, D)

    def forward(self, x):
        f = self.r(x)
        return f, self.proj(f)


def build():
    m = Encoder()
    names = [n for n, _ in m.r.named_parameters()] + ["proj.weight", "proj.bias"]
    params = dict(m.r.named_parameters())
    params.update({"proj.weight": m.proj.weight, "proj.bias": m.proj.bias})
    with torch.no_grad():
        for t, n in enumerate(names):
            params[n].copy_(fill(n, tuple(params[n].shape), t, False))
        states = [(n, b) for n, b in m.r.named_buffers() if "running" in n]
        for t, (n, b) in enumerate(states):
            b.copy_(fill(n, tuple(b.shape), 1000 + t, True))
    return m, names, params, states


def sample(t):
    flat = t.detach().reshape(-1)
    return flat if flat.numel() <= 20000 else flat[::SAMPLE_STRIDE].clone()


def main():
    torch.set_num_threads(1)
    g = seeded(18)
    x = torch.randn(B, P, S, S, generator=g)
    demb = torch.randn(B, D, generator=g)
    out = {"x": x, "demb": demb}

    m, names, params, states = build()
    m.train()
    feat, emb = m(x)
    (emb * demb).sum().backward()
    out["train.features"] = feat
    out["train.emb"] = emb
    for n in names:
        out["grad." + n] = sample(params[n].grad)
    for n, b in states:
        out["state." + n] = sample(b)

    m2, _, _, _ = build()
    m2.eval()
    with torch.no_grad():
        f2, e2 = m2(x)
    out["eval.features"] = f2
    out["eval.emb"] = e2
    save("resnet18", out, {"P": P, "D": D, "B": B, "S": S, "sample_stride": SAMPLE_STRIDE})


if __name__ == "__main__":
    main()
