"""PyTorch CPU baseline for the ResNet-18 image encoder (+ projection), the same work as
`liver-vlm bench` measures: training forward+backward (batch statistics) and eval forward.
Run: /usr/bin/python3 bench/torch_cpu_resnet.py [--size 64] [--batch 32] [--threads 2]"""
import argparse
import time

import torch
import torchvision


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=5)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    r = torchvision.models.resnet18()
    r.fc = torch.nn.Linear(512, 128)  # the projection to the joint space
    x = torch.randn(a.batch, 3, a.size, a.size)
    r.train()
    for _ in range(2):
        r(x).sum().backward()
    t0 = time.perf_counter()
    for _ in range(a.reps):
        r(x).sum().backward()
    t1 = time.perf_counter()
    r.eval()
    with torch.no_grad():
        r(x)
        t2 = time.perf_counter()
        for _ in range(a.reps):
            r(x)
        t3 = time.perf_counter()
    print(f"torch {torch.__version__} cpu ({a.threads} threads): resnet18 {a.size}x{a.size} batch {a.batch}: "
          f"train {a.batch * a.reps / (t1 - t0):.1f} img/s, eval {a.batch * a.reps / (t3 - t2):.1f} img/s")


if __name__ == "__main__":
    main()
