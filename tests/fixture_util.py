"""Shared helpers for the fixture scripts (tests/fixtures_*.py).

Run by hand with Debian's PyTorch: /usr/bin/python3 tests/make_fixtures.py
Fixtures are small safetensors files in tests/fixtures/, committed so CI needs no PyTorch.
The writer here follows the published format directly (8-byte LE header length, JSON header
padded with spaces to 8 bytes, contiguous data) so it needs no extra package.
"""
import json
import os
import struct

import torch

FIXTURE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")

_DTYPES = {
    torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.int64: "I64",
    torch.int32: "I32", torch.int16: "I16", torch.int8: "I8", torch.uint8: "U8", torch.bool: "BOOL",
}


def save(name, tensors, metadata=None):
    """Write tensors (dict name -> torch.Tensor) to tests/fixtures/<name>.safetensors."""
    header = {}
    blobs = []
    offset = 0
    for key in sorted(tensors):
        t = tensors[key].detach().contiguous().cpu()
        raw = t.numpy().tobytes() if t.dtype != torch.bfloat16 else t.view(torch.int16).numpy().tobytes()
        header[key] = {"dtype": _DTYPES[t.dtype], "shape": list(t.shape),
                       "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    hb = json.dumps(header, separators=(",", ":")).encode()
    hb += b" " * ((8 - len(hb) % 8) % 8)
    os.makedirs(FIXTURE_DIR, exist_ok=True)
    path = os.path.join(FIXTURE_DIR, name + ".safetensors")
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hb)))
        f.write(hb)
        for b in blobs:
            f.write(b)
    print(f"wrote {path} ({os.path.getsize(path)} bytes)")


def seeded(seed):
    """A torch.Generator so every fixture is reproducible."""
    g = torch.Generator()
    g.manual_seed(seed)
    return g


def randn(*shape, g, scale=1.0):
    return torch.randn(*shape, generator=g, dtype=torch.float32) * scale
