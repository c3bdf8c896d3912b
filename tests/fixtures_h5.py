"""Writes tests/fixtures/h5_good_*.h5: small liver-vlm-data/1 files made the way a user would,
with h5py and numpy alone (no liver-vlm code), covering the dtypes, string kinds, byte orders
and storage layouts the reader must accept. Pixel values follow closed formulas that
tests/test_h5.c recomputes, so the C test checks every pixel exactly.

Run: /usr/bin/python3 tests/fixtures_h5.py   (needs h5py + numpy; CI runs only the C test)
"""
import os

import h5py
import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")


def grid(n, p, h, w):
    return np.meshgrid(np.arange(n), np.arange(p), np.arange(h), np.arange(w), indexing="ij")


def good_a(path):
    """int16 HU, int64 labels, int64 patients, lesions, vlen UTF-8 reports, gzip+shuffle."""
    i, p, y, x = grid(6, 3, 8, 8)
    images = ((i * 37 + p * 11 + y * 5 + x * 3) % 400 - 150).astype(np.int16)
    with h5py.File(path, "w") as f:
        f.create_dataset("images", data=images, chunks=(1, 3, 8, 8), compression="gzip",
                         compression_opts=4, shuffle=True)
        f["labels"] = np.array([0, 1, 2, 3, 4, 0], dtype=np.int64)
        f["patients"] = np.array([10, 10, 11, 12, 12, 13], dtype=np.int64)
        f["lesions"] = np.array([0, 1, 0, 0, 0, 0], dtype=np.int64)
        reports = [f"report {k}: hypodense lesion \u2014 {10 + k} mm" for k in range(6)]
        f.create_dataset("reports", data=reports, dtype=h5py.string_dtype())
        f.attrs["classes"] = np.array(["CYST", "FNH", "HCC", "HEM", "METS"], dtype=h5py.string_dtype())
        f.attrs["phases"] = np.array(["NC", "ART", "PV"], dtype=h5py.string_dtype())


def good_b(path):
    """uint8, fixed-length class names, fixed-length string patients, contiguous, units raw."""
    i, p, y, x = grid(5, 2, 6, 7)
    images = ((i * 13 + p * 7 + y * 3 + x) % 256).astype(np.uint8)
    with h5py.File(path, "w") as f:
        f.create_dataset("images", data=images)  # contiguous, no filters
        f["labels"] = np.array([1, 0, 1, 1, 0], dtype=np.int16)
        f["patients"] = np.array([b"P001", b"P002", b"P001", b"P003", b"P002"], dtype="S4")
        f.attrs["classes"] = np.array([b"CYST", b"HCC"], dtype="S4")
        f.attrs["phases"] = np.array([b"ART", b"PV"], dtype="S3")
        f.attrs["units"] = "raw"


def good_c(path):
    """float32 big-endian, big-endian int32 labels, /split, chunks spanning two samples."""
    i, p, y, x = grid(4, 4, 5, 5)
    images = ((i - 2.5) * 0.5 + p * 0.25 + y * 0.125 - x * 0.0625).astype(">f4")
    with h5py.File(path, "w") as f:
        f.create_dataset("images", data=images, chunks=(2, 2, 5, 5), compression="gzip")
        f["labels"] = np.array([2, 0, 1, 2], dtype=">i4")
        f["split"] = np.array([0, 0, 1, 2], dtype=np.int8)
        f.attrs["classes"] = ["CYST", "HCC", "METS"]  # a plain list, as most users write it
        f.attrs["phases"] = ["NC", "ART", "PV", "DL"]


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    for name, fn in (("h5_good_a.h5", good_a), ("h5_good_b.h5", good_b), ("h5_good_c.h5", good_c)):
        fn(os.path.join(OUT, name))
        print("wrote", os.path.join(OUT, name), os.path.getsize(os.path.join(OUT, name)), "bytes")
