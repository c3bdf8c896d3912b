"""Writes tests/fixtures/st_python.safetensors with the real PyPI `safetensors` package, so
test_safetensors checks our reader against the reference writer (not our own fixture_util).
Values are arange-based so the C test recomputes them. Needs safetensors only to regenerate:
  /usr/bin/python3 -m pip install --break-system-packages safetensors
  cd tests && /usr/bin/python3 fixtures_safetensors.py
  /usr/bin/python3 fixtures_safetensors.py --check FILE   # load a C-written file, print it
"""
import os
import sys

import torch
from safetensors import safe_open
from safetensors.torch import save_file

FIXTURE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")


def tensors():
    inf = float("inf")
    return {
        "a_f32": torch.arange(12, dtype=torch.float32).reshape(3, 4) * 0.5 - 2.0,
        "b_f16": (torch.arange(6, dtype=torch.float32).reshape(2, 3) * 0.25 - 0.5).half(),
        # normal, max, smallest subnormal (2^-24), smallest normal (2^-14), inf, -0
        "b_f16_special": torch.tensor([1.0, -2.0, 65504.0, 2.0**-24, 2.0**-14, inf, -0.0],
                                      dtype=torch.float16),
        "c_bf16": (torch.arange(8, dtype=torch.float32) * 0.125 - 1.0).bfloat16(),
        "d_i64": torch.arange(5, dtype=torch.int64) - 2,
        "e_scalar": torch.tensor(3.5, dtype=torch.float32),
        "f_empty": torch.zeros(0, 3, dtype=torch.float32),
    }


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--check":
        with safe_open(sys.argv[2], framework="pt") as f:
            print("metadata", f.metadata())
            for k in f.keys():
                t = f.get_tensor(k)
                print(k, t.dtype, list(t.shape), t.flatten()[:8].tolist())
        return
    os.makedirs(FIXTURE_DIR, exist_ok=True)
    path = os.path.join(FIXTURE_DIR, "st_python.safetensors")
    save_file(tensors(), path, metadata={"format": "pt", "note": "written by safetensors"})
    print(f"wrote {path} ({os.path.getsize(path)} bytes)")


if __name__ == "__main__":
    main()
