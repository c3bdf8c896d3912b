"""PyTorch fp32 references for the conv2d and batchnorm2d CPU ops.

Run: cd tests && /usr/bin/python3 fixtures_conv_bn.py  (writes fixtures/conv2d.safetensors and
fixtures/batchnorm2d.safetensors). Autograd on float32 only, so each file holds PyTorch's own
float32 answer; shapes are small so each file stays well under 200 KB.
"""
import torch
import torch.nn.functional as F

from fixture_util import randn, save, seeded

torch.set_num_threads(1)

# tag: (n, c, h, w, oc, kh, kw, stride, pad, bias) -- the kinds of convs ResNet-18 has, plus
# odd sizes, a non-square kernel and a 1x1/s1 conv.
CONV_CASES = {
    "k3s1p1": (2, 3, 6, 5, 4, 3, 3, 1, 1, 1),
    "k7s2p3": (2, 3, 9, 11, 4, 7, 7, 2, 3, 0),
    "k1s2p0": (2, 5, 7, 6, 3, 1, 1, 2, 0, 1),
    "k3s2p1": (3, 4, 7, 9, 5, 3, 3, 2, 1, 0),
    "odd": (2, 3, 5, 8, 2, 3, 5, 2, 2, 1),
    "k1s1p0": (2, 6, 5, 3, 4, 1, 1, 1, 0, 1),
    "par": (2, 8, 16, 16, 8, 3, 3, 1, 1, 1),
}


def conv_fixtures():
    g = seeded(2024)
    out = {}
    for tag, (n, c, h, w, oc, kh, kw, stride, pad, has_bias) in CONV_CASES.items():
        x = randn(n, c, h, w, g=g).requires_grad_()
        wt = randn(oc, c, kh, kw, g=g, scale=0.3).requires_grad_()
        b = randn(oc, g=g, scale=0.5).requires_grad_() if has_bias else None
        y = F.conv2d(x, wt, b, stride=stride, padding=pad)
        dy = randn(*y.shape, g=g)
        y.backward(dy)
        out[f"{tag}.shape"] = torch.tensor([n, c, h, w, oc, kh, kw, stride, pad, has_bias],
                                           dtype=torch.int64)
        out[f"{tag}.in"] = x
        out[f"{tag}.w"] = wt
        out[f"{tag}.out"] = y
        out[f"{tag}.dout"] = dy
        out[f"{tag}.din"] = x.grad
        out[f"{tag}.dw"] = wt.grad
        if has_bias:
            out[f"{tag}.b"] = b
            out[f"{tag}.db"] = b.grad
    save("conv2d", out)


# tag: (n, c, h, w); means and scales far from 0/1 so centring and scaling both matter.
BN_CASES = {
    "small": (4, 3, 5, 5),
    "wide": (2, 16, 8, 8),
    "single": (3, 2, 1, 1),
}


def bn_fixtures():
    g = seeded(77)
    out = {}
    momentum, eps = 0.1, 1e-5
    for tag, (n, c, h, w) in BN_CASES.items():
        shift = randn(1, c, 1, 1, g=g, scale=3.0)
        x = (randn(n, c, h, w, g=g, scale=2.0) + shift).requires_grad_()
        gamma = (1.0 + randn(c, g=g, scale=0.3)).requires_grad_()
        beta = randn(c, g=g, scale=0.5).requires_grad_()
        rmean0 = randn(c, g=g, scale=0.5)
        rvar0 = 0.5 + randn(c, g=g).abs()
        rmean, rvar = rmean0.clone(), rvar0.clone()
        y = F.batch_norm(x, rmean, rvar, gamma, beta, training=True, momentum=momentum, eps=eps)
        # The saved statistics torch's own backward uses (batch mean, 1/sqrt(var + eps)).
        with torch.no_grad():
            _, save_mean, save_invstd = torch.native_batch_norm(
                x, gamma, beta, rmean0.clone(), rvar0.clone(), True, momentum, eps)
        dy = randn(*y.shape, g=g)
        y.backward(dy)
        with torch.no_grad():
            y_eval = F.batch_norm(x, rmean0, rvar0, gamma, beta, training=False, eps=eps)
        out[f"{tag}.shape"] = torch.tensor([n, c, h * w], dtype=torch.int64)
        out[f"{tag}.in"] = x
        out[f"{tag}.gamma"] = gamma
        out[f"{tag}.beta"] = beta
        out[f"{tag}.running_mean0"] = rmean0
        out[f"{tag}.running_var0"] = rvar0
        out[f"{tag}.out"] = y
        out[f"{tag}.save_mean"] = save_mean
        out[f"{tag}.save_invstd"] = save_invstd
        out[f"{tag}.running_mean"] = rmean
        out[f"{tag}.running_var"] = rvar
        out[f"{tag}.dout"] = dy
        out[f"{tag}.din"] = x.grad
        out[f"{tag}.dgamma"] = gamma.grad
        out[f"{tag}.dbeta"] = beta.grad
        out[f"{tag}.out_eval"] = y_eval
    save("batchnorm2d", out, {"momentum": momentum, "eps": eps})


if __name__ == "__main__":
    conv_fixtures()
    bn_fixtures()
