"""PyTorch CPU twin of `liver-vlm bench ops`: conv2d forward and backward (dgrad + wgrad) on
every distinct ResNet-18 conv shape, printed as the same table so the two sit side by side.

Run: /usr/bin/python3 bench/torch_cpu_ops.py [--size 64] [--batch 32] [--reps R] [--threads 2] [--json]
Only a reference for timing: it never writes anything the engine reads.
"""
import argparse
import json
import statistics
import time

import torch
import torch.nn.functional as F


def resnet18_convs(size, batch):
    """(name, n, c, h, oc, k, stride, pad, count) for each distinct conv shape, in
    network order, exactly as tools/cmd_bench.c enumerates them."""
    shapes = []

    def add(name, c, h, oc, k, stride, pad):
        key = (batch, c, h, oc, k, stride, pad)
        for e in shapes:
            if e["key"] == key:
                e["count"] += 1
                return
        shapes.append({"name": name, "key": key, "count": 1})

    add("conv1", 3, size, 64, 7, 2, 3)
    h = (size + 6 - 7) // 2 + 1
    h = (h + 2 - 3) // 2 + 1  # maxpool 3/2/1
    inplanes = 64
    for stage in range(1, 5):
        planes, stride = 64 << (stage - 1), 1 if stage == 1 else 2
        for blk in range(2):
            st = stride if blk == 0 else 1
            ho = (h + 2 - 3) // st + 1
            add(f"layer{stage}.{blk}.conv1", inplanes, h, planes, 3, st, 1)
            add(f"layer{stage}.{blk}.conv2", planes, ho, planes, 3, 1, 1)
            if st != 1 or inplanes != planes:
                add(f"layer{stage}.{blk}.down", inplanes, h, planes, 1, st, 0)
            inplanes, h = planes, ho
    return shapes


def gflop(n, c, h, oc, k, stride, pad):
    o = (h + 2 * pad - k) // stride + 1
    return 2.0 * n * oc * o * o * c * k * k * 1e-9


def time_shape(key, reps):
    n, c, h, oc, k, stride, pad = key
    g = torch.Generator().manual_seed(1)
    x = torch.rand(n, c, h, h, generator=g) * 2 - 1
    w = (torch.rand(oc, c, k, k, generator=g) * 2 - 1) * 0.05
    with torch.no_grad():
        y = F.conv2d(x, w, None, stride, pad)
    dy = (torch.rand(y.shape, generator=g) * 2 - 1) * 0.01

    def fwd():
        with torch.no_grad():
            F.conv2d(x, w, None, stride, pad)

    def bwd():  # dgrad + wgrad, no bias: what autograd runs for a ResNet conv
        torch.ops.aten.convolution_backward(dy, x, w, None, [stride, stride], [pad, pad], [1, 1],
                                            False, [0, 0], 1, [True, True, False])

    t0 = time.perf_counter()
    fwd()
    bwd()
    once = time.perf_counter() - t0
    if reps <= 0:
        reps = min(64, max(3, int(0.3 / once) if once > 0 else 64))
    tf, tb = [], []
    for _ in range(reps):
        a = time.perf_counter()
        fwd()
        m = time.perf_counter()
        bwd()
        tf.append(m - a)
        tb.append(time.perf_counter() - m)
    return 1e3 * statistics.median(tf), 1e3 * statistics.median(tb)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--reps", type=int, default=0, help="0: ~0.3 s per shape, 3..64 reps")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    shapes = resnet18_convs(a.size, a.batch)
    for e in shapes:
        e["fwd_ms"], e["bwd_ms"] = time_shape(e["key"], a.reps)
        e["gflop"] = gflop(*e["key"])
    tf = sum(e["count"] * e["fwd_ms"] for e in shapes)
    tb = sum(e["count"] * e["bwd_ms"] for e in shapes)
    layers = sum(e["count"] for e in shapes)
    if a.json:
        out = {"benchmark": "ops", "op": "conv2d", "device": "torch-cpu", "torch": torch.__version__,
               "threads": a.threads, "size": a.size, "batch": a.batch, "shapes": [],
               "resnet18_convs": {"fwd_ms": tf, "bwd_ms": tb, "fwd_bwd_ms": tf + tb,
                                  "train_img_per_s": a.batch / ((tf + tb) * 1e-3),
                                  "eval_img_per_s": a.batch / (tf * 1e-3)}}
        for e in shapes:
            n, c, h, oc, k, s, p = e["key"]
            out["shapes"].append({"layer": e["name"], "shape": f"{k}x{k}/{s} {c}->{oc} @{h}x{h}",
                                  "n": n, "c": c, "h": h, "w": h, "oc": oc, "k": k, "stride": s,
                                  "pad": p, "count": e["count"], "gflop_fwd": e["gflop"],
                                  "fwd_ms": e["fwd_ms"], "fwd_gflops": e["gflop"] / (e["fwd_ms"] * 1e-3),
                                  "bwd_ms": e["bwd_ms"],
                                  "bwd_gflops": 2 * e["gflop"] / (e["bwd_ms"] * 1e-3)})
        print(json.dumps(out, indent=2))
        return
    print(f"bench ops: conv2d on torch {torch.__version__} cpu ({a.threads} threads, mkldnn "
          f"{torch.backends.mkldnn.is_available()}), ResNet-18 shapes at {a.size}x{a.size}, "
          f"batch {a.batch}\n")
    print(f"{'layer':<16} {'shape':<24} {'count':>5} {'fwd ms':>9} {'fwd GF/s':>9} {'bwd ms':>9} {'bwd GF/s':>9}")
    for e in shapes:
        n, c, h, oc, k, s, p = e["key"]
        label = f"{k}x{k}/{s} {c}->{oc} @{h}x{h}"
        print(f"{e['name']:<16} {label:<24} {e['count']:>5} {e['fwd_ms']:>9.3f} "
              f"{e['gflop'] / (e['fwd_ms'] * 1e-3):>9.1f} {e['bwd_ms']:>9.3f} "
              f"{2 * e['gflop'] / (e['bwd_ms'] * 1e-3):>9.1f}")
    print(f"\nResNet-18 convs, all {layers} layers (count x median): forward {tf:.1f} ms, backward "
          f"{tb:.1f} ms, forward+backward {tf + tb:.1f} ms per batch of {a.batch}\n"
          f"  = {a.batch / ((tf + tb) * 1e-3):.1f} img/s train, {a.batch / (tf * 1e-3):.1f} img/s eval (conv only)")


if __name__ == "__main__":
    main()
