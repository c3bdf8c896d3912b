"""Writes tests/fixtures/pack/: tiny NIfTI volumes made with nibabel alone (no liver-vlm
code, so the reader is checked against an independent writer) for tests/test_pack.c and
tests/cli_pack.sh. Voxels follow closed formulas the C test recomputes:
    hu(x, y, z, phase) = x + 20*y + 400*z + 3000*phase - 1000      (20 x 20 x 6 grid)
stored in different ways (int16, gzip, float32 with scl_slope/scl_inter, NIfTI-2 int32,
uint8 with scaling, float64 with values to clamp and round), plus broken files for the
error paths.

Run: /usr/bin/python3 tests/fixtures_pack.py   (needs nibabel + numpy; CI runs only the C test)
"""
import os
import struct

import nibabel as nib
import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "pack")
NX, NY, NZ = 20, 20, 6
AFFINE = np.diag([0.8, 0.8, 2.5, 1.0])


def hu(phase, shape=(NX, NY, NZ)):
    x, y, z = np.meshgrid(*(np.arange(n) for n in shape), indexing="ij")
    return x + 20 * y + 400 * z + 3000 * phase - 1000


def save(img, name):
    path = os.path.join(OUT, name)
    nib.save(img, path)
    return path


def patch_scaling(path, slope, inter, version):
    """nibabel recomputes scl_slope/scl_inter on save; write the ones we want into the header."""
    with open(path, "r+b") as f:
        if version == 1:
            f.seek(112)
            f.write(struct.pack("<ff", slope, inter))
        else:
            f.seek(176)
            f.write(struct.pack("<dd", slope, inter))


def check(path, want):
    got = np.asarray(nib.load(path).get_fdata(), dtype=np.float64)
    assert got.shape == want.shape, (path, got.shape)
    ok = np.isnan(want) | (got == want)
    assert ok.all(), path


def main():
    os.makedirs(OUT, exist_ok=True)
    # NC: plain int16 NIfTI-1.
    p = save(nib.Nifti1Image(hu(0).astype(np.int16), AFFINE), "nc.nii")
    check(p, hu(0).astype(np.float64))
    # ART: int16, gzipped.
    p = save(nib.Nifti1Image(hu(1).astype(np.int16), AFFINE), "art.nii.gz")
    check(p, hu(1).astype(np.float64))
    # PV: float32 raw values with slope 2, intercept -1000 -> exactly hu(2).
    raw = ((hu(2) + 1000) / 2.0).astype(np.float32)
    p = save(nib.Nifti1Image(raw, AFFINE), "pv_scaled.nii")
    patch_scaling(p, 2.0, -1000.0, 1)
    check(p, hu(2).astype(np.float64))
    # PV again as NIfTI-2 with int32 voxels.
    img = nib.Nifti2Image(hu(2).astype(np.int32), AFFINE)
    p = save(img, "pv_n2.nii")
    patch_scaling(p, 1.0, 0.0, 2)
    check(p, hu(2).astype(np.float64))
    # uint8 with slope 10, intercept -1024: hu = 10*(x+y+z) - 1024.
    x, y, z = np.meshgrid(np.arange(NX), np.arange(NY), np.arange(NZ), indexing="ij")
    p = save(nib.Nifti1Image((x + y + z).astype(np.uint8), AFFINE), "u8_scaled.nii")
    patch_scaling(p, 10.0, -1024.0, 1)
    check(p, (10.0 * (x + y + z) - 1024.0))
    # float64: hu(0) but row y=0, z=0 holds values to clamp, round and a NaN.
    f = hu(0).astype(np.float64)
    f[0, 0, 0], f[1, 0, 0], f[2, 0, 0], f[3, 0, 0], f[4, 0, 0] = 40000.0, -40000.0, np.nan, 12.5, -12.5
    p = save(nib.Nifti1Image(f, AFFINE), "f64.nii")
    patch_scaling(p, 1.0, 0.0, 1)
    check(p, f)
    # Broken and mismatched inputs.
    save(nib.Nifti1Image(hu(1, (21, NY, NZ)).astype(np.int16), AFFINE), "wide.nii")
    save(nib.Nifti1Image(np.zeros((NX, NY, NZ, 2), np.int16), AFFINE), "series4d.nii")
    save(nib.Nifti1Image(np.zeros((4, 4, 2), np.complex64), AFFINE), "complex.nii")
    with open(os.path.join(OUT, "not_nifti.nii"), "w") as fh:
        fh.write("patient,label\nthis is a CSV, not a NIfTI volume\n" * 10)
    with open(os.path.join(OUT, "nc.nii"), "rb") as fh:
        whole = fh.read()
    with open(os.path.join(OUT, "truncated.nii"), "wb") as fh:
        fh.write(whole[: 352 + 1000])
    # A manifest with relative paths for the CLI test.
    with open(os.path.join(OUT, "manifest.csv"), "w", newline="") as fh:
        fh.write("patient,label,NC,ART,PV,x,y,z,radius\r\n")
        fh.write("P1,HCC,nc.nii,art.nii.gz,pv_scaled.nii,10,10,3,4\r\n")
        fh.write("P1,CYST,nc.nii,art.nii.gz,pv_scaled.nii,0,19,0,\r\n")
        fh.write("P2,FNH,nc.nii,art.nii.gz,pv_n2.nii,5,6,5,2.5\r\n")
    for name in sorted(os.listdir(OUT)):
        print(f"{name}: {os.path.getsize(os.path.join(OUT, name))} bytes")


if __name__ == "__main__":
    main()
