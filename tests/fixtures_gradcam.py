"""Grad-CAM fixture for tests/test_gradcam.c: torchvision's resnet18 (eval mode, the hashed
weights of fixtures_resnet18.py, so no weights are stored) with a forward hook on layer4
and a gradient hook on its output; the class logit is back-propagated through the head,
channel weights = spatial mean of d logit / d layer4, cam = relu(sum_k w_k A_k), resized
with F.interpolate(bilinear, align_corners=False) and min-max normalised per sample.
Two heads: the cosine (VLM) head over given class embeddings and the linear head.
Sample 0 explains its predicted class, sample 1 class 3. The input is hashed too.
Run: /usr/bin/python3 tests/fixtures_gradcam.py"""
import math

import numpy as np
import torch
import torch.nn.functional as F

from fixture_util import save, seeded
from fixtures_resnet18 import D, P, build, hash_uniform

B, S, C = 2, 96, 5
X_TENSOR_ID = 4242  # hash stream of the input, mirrored in test_gradcam.c
CONV_GAIN = 4.0


def build_scaled():
    """fixtures_resnet18's weights with every conv weight times CONV_GAIN (a power of two:
    exact on both sides). Its weights are ~1/5 of kaiming's scale, fine for one layer's
    check but here they make layer4 nearly input-independent, and a flat map tests little."""
    m, names, params, _ = build()
    with torch.no_grad():
        for n in names:
            if params[n].dim() == 4:
                params[n].mul_(CONV_GAIN)
    return m


def gradcam(model, head, x, fixed):
    store = {}

    def fwd_hook(_mod, _inp, out):
        store["act"] = out
        out.register_hook(lambda g: store.__setitem__("grad", g))

    h = model.r.layer4.register_forward_hook(fwd_hook)
    feat, emb = model(x)
    logits = head(feat, emb)
    h.remove()
    targets = [int(logits[0].argmax()), fixed]
    sel = logits[torch.arange(B), torch.tensor(targets)]
    sel.sum().backward()  # eval mode: each sample's logit depends on its own image only
    act, grad = store["act"].detach(), store["grad"].detach()
    alpha = grad.mean(dim=(2, 3))
    cam_low = torch.relu((alpha[:, :, None, None] * act).sum(1))
    up = F.interpolate(cam_low[:, None], size=(S, S), mode="bilinear", align_corners=False)[:, 0]
    lo = up.flatten(1).min(1).values[:, None, None]
    hi = up.flatten(1).max(1).values[:, None, None]
    cam = torch.where(hi > lo, (up - lo) / (hi - lo), torch.zeros_like(up))
    return {"logits": logits.detach(), "probs": torch.softmax(logits.detach(), 1), "targets": torch.tensor(targets,
            dtype=torch.int32), "alpha": alpha, "cam_low": cam_low, "cam": cam}


def main():
    torch.set_num_threads(1)
    g = seeded(77)
    x = torch.from_numpy(((hash_uniform(B * P * S * S, X_TENSOR_ID) - np.float32(0.5)) * np.float32(4.0))
                         .reshape(B, P, S, S))
    cls = torch.randn(C, D, generator=g)
    logit_scale = torch.tensor([math.log(1 / 0.07)], dtype=torch.float32)
    head_w = torch.randn(C, 512, generator=g) * 0.05
    head_b = torch.randn(C, generator=g) * 0.1
    out = {"cls": cls, "logit_scale": logit_scale, "head_w": head_w, "head_b": head_b}

    def vlm_head(_feat, emb):
        s = logit_scale.exp().clamp(max=100)
        return s * F.normalize(emb, dim=1) @ F.normalize(cls, dim=1).t()

    def linear_head(feat, _emb):
        return feat @ head_w.t() + head_b

    for name, head in (("vlm", vlm_head), ("linear", linear_head)):
        m = build_scaled()
        m.eval()
        for k, v in gradcam(m, head, x.clone(), 3).items():
            out[name + "." + k] = v
        print(name, "targets", out[name + ".targets"].tolist(), "cam_low", out[name + ".cam_low"].flatten(1)[:, :4])
    save("gradcam", out, {"B": B, "S": S, "C": C, "P": P, "D": D, "x_tensor_id": X_TENSOR_ID, "conv_gain": CONV_GAIN})


if __name__ == "__main__":
    main()
