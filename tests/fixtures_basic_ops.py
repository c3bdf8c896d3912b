"""PyTorch references for the basic CPU ops: relu, maxpool2d, avgpool, linear, residual_add,
embedding, l2norm. Run: cd tests && /usr/bin/python3 fixtures_basic_ops.py

Each fixture holds inputs, an upstream gradient `dout`, the forward output and the gradients
torch's float32 autograd gives for loss = sum(out * dout). Shapes are deliberately
non-square and odd so a swapped h/w or in/out dimension cannot pass."""
import torch
import torch.nn.functional as F

from fixture_util import randn, save, seeded


def grads(out, dout, *leaves):
    (out * dout).sum().backward()
    return [t.grad for t in leaves]


def relu():
    g = seeded(101)
    x = randn(2, 3, 5, 7, g=g)
    x.view(-1)[::9] = 0.0  # exact zeros: torch's backward passes no gradient at 0
    x.requires_grad_(True)
    out = torch.relu(x)
    dout = randn(*out.shape, g=g)
    (dx,) = grads(out, dout, x)
    save("relu", {"x": x, "out": out, "dout": dout, "din": dx})


def maxpool2d():
    g = seeded(102)
    t = {}

    def case(name, x, k, stride, pad):
        x = x.clone().requires_grad_(True)
        out = F.max_pool2d(x, k, stride, pad)
        dout = randn(*out.shape, g=g)
        (dx,) = grads(out, dout, x)
        t.update({f"{name}.x": x, f"{name}.out": out, f"{name}.dout": dout, f"{name}.din": dx})

    # ResNet stem 3x3/2 pad 1; shifted negative so border windows must ignore the padding.
    case("r18", randn(2, 3, 10, 11, g=g) - 0.5, 3, 2, 1)
    case("k2", randn(2, 2, 8, 7, g=g), 2, 2, 0)
    # Ties: few distinct values plus a constant negative block at the padded corner, so the
    # backward's choice among equal maxima (first in row-major order) is visible.
    tie = torch.randint(-2, 2, (1, 2, 8, 9), generator=g).float()
    tie[:, :, :4, :5] = -1.0
    case("tie", tie, 3, 2, 1)
    case("tie2", torch.randint(0, 2, (1, 2, 6, 6), generator=g).float(), 2, 2, 0)
    save("maxpool2d", t)


def avgpool():
    g = seeded(103)
    x = randn(2, 4, 5, 6, g=g).requires_grad_(True)
    out = F.adaptive_avg_pool2d(x, 1).flatten(1)  # torchvision resnet: avgpool + flatten
    dout = randn(*out.shape, g=g)
    (dx,) = grads(out, dout, x)
    save("avgpool", {"x": x, "out": out, "dout": dout, "din": dx})


def linear():
    g = seeded(104)
    x = randn(5, 13, g=g).requires_grad_(True)
    w = randn(6, 13, g=g, scale=0.3).requires_grad_(True)
    b = randn(6, g=g).requires_grad_(True)
    out = F.linear(x, w, b)
    out_nobias = F.linear(x.detach(), w.detach())
    dout = randn(*out.shape, g=g)
    dx, dw, db = grads(out, dout, x, w, b)
    save("linear", {"x": x, "w": w, "b": b, "out": out, "out_nobias": out_nobias, "dout": dout,
                    "din": dx, "dw": dw, "db": db})


def residual_add():
    g = seeded(105)
    a = randn(3, 50, g=g).requires_grad_(True)
    b = randn(3, 50, g=g).requires_grad_(True)
    out = a + b
    dout = randn(*out.shape, g=g)
    da, db = grads(out, dout, a, b)
    save("residual_add", {"a": a, "b": b, "out": out, "dout": dout, "da": da, "db": db})


def embedding():
    g = seeded(106)
    table = randn(10, 6, g=g).requires_grad_(True)
    # Repeats (3 four times, 7 twice) must accumulate; rows 1, 4, 8, 9 get no gradient.
    ids = torch.tensor([3, 0, 7, 3, 2, 3, 5, 7, 6, 3, 0, 2], dtype=torch.int64)
    out = F.embedding(ids, table)
    dout = randn(*out.shape, g=g)
    (dt,) = grads(out, dout, table)
    save("embedding", {"table": table, "ids": ids, "out": out, "dout": dout, "dtable": dt})


def l2norm():
    g = seeded(107)
    t = {}

    def case(name, x, eps):
        x = x.clone().requires_grad_(True)
        out = F.normalize(x, p=2.0, dim=1, eps=eps)
        dout = randn(*out.shape, g=g)
        (dx,) = grads(out, dout, x)
        t.update({f"{name}.x": x, f"{name}.out": out, f"{name}.dout": dout, f"{name}.din": dx,
                  f"{name}.norm": x.detach().norm(dim=1), f"{name}.eps": torch.tensor([eps])})

    case("a", randn(4, 16, g=g), 1e-12)  # CLIP's default: the clamp never acts
    # eps = 0.1: rows 0-2 have norm ~3 (through the norm), rows 3-4 ~0.03 and row 5 is zero
    # (clamped: out = x / eps), so both branches of the backward are compared.
    x = randn(6, 8, g=g)
    x[3:5] *= 0.01
    x[5] = 0.0
    case("b", x, 0.1)
    save("l2norm", t)


if __name__ == "__main__":
    relu()
    maxpool2d()
    avgpool()
    linear()
    residual_add()
    embedding()
    l2norm()
