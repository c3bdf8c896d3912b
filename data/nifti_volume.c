/* NIfTI volumes -> int16 HU through nifticlib's NIfTI-2 API (it reads NIfTI-1 and -2, plain
 * or gzipped, and swaps bytes). The header is checked before the data is loaded so a wrong
 * file fails fast; no resampling, reorientation or registration happens here. */
#include "data/nifti_volume.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <nifti2_io.h>
#include <zlib.h>

#include "data/pack.h"

void lv_volume_free(lv_volume *v) {
    free(v->hu);
    memset(v, 0, sizeof *v);
}

static const char *dtype_name(int dt) {
    switch (dt) {
    case DT_UINT8: return "uint8";
    case DT_INT8: return "int8";
    case DT_INT16: return "int16";
    case DT_UINT16: return "uint16";
    case DT_INT32: return "int32";
    case DT_UINT32: return "uint32";
    case DT_INT64: return "int64";
    case DT_FLOAT32: return "float32";
    case DT_FLOAT64: return "float64";
    default: return NULL;
    }
}

static double raw_at(const void *data, int dt, int64_t i) {
    switch (dt) {
    case DT_UINT8: return ((const uint8_t *)data)[i];
    case DT_INT8: return ((const int8_t *)data)[i];
    case DT_INT16: return ((const int16_t *)data)[i];
    case DT_UINT16: return ((const uint16_t *)data)[i];
    case DT_INT32: return ((const int32_t *)data)[i];
    case DT_UINT32: return ((const uint32_t *)data)[i];
    case DT_INT64: return (double)((const int64_t *)data)[i];
    case DT_FLOAT32: return ((const float *)data)[i];
    default: return ((const double *)data)[i];
    }
}

static uint64_t raw_uint(const unsigned char *p, int bytes, int swap) {
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++) v |= (uint64_t)p[swap ? bytes - 1 - i : i] << (8 * i);
    return v;
}

/* The raw header's dimensions, read before nifticlib sees the file: nifticlib trusts dim[0]
 * (the number of dimensions) as an index into fixed arrays of 8, so a header with dim[0]
 * outside 1..7 or a non-positive used dimension must be refused here. Reads through zlib,
 * which passes plain files through, so .nii and .nii.gz alike. A file that is not NIfTI at
 * all is left to nifticlib's own rejection. */
static lv_status check_raw_header(const char *path) {
    gzFile z = gzopen(path, "rb");
    if (!z) return lv_errorf(LV_ERR_INPUT, "%s: cannot open: %s", path, strerror(errno));
    unsigned char h[540];
    int n = gzread(z, h, sizeof h);
    gzclose(z);
    if (n < 348) return LV_OK;
    int swap = 0, nifti2 = 0;
    const uint64_t le = raw_uint(h, 4, 0), be = raw_uint(h, 4, 1);
    if (le == 348 || be == 348) swap = be == 348;
    else if (le == 540 || be == 540) swap = be == 540, nifti2 = 1;
    else return LV_OK;
    LV_CHECK(!nifti2 || n >= 540, LV_ERR_INPUT, "%s: NIfTI-2 header truncated (%d of 540 bytes)", path, n);
    /* dim[8]: int16 at byte 40 (NIfTI-1), int64 at byte 16 (NIfTI-2). */
    const int width = nifti2 ? 8 : 2, off = nifti2 ? 16 : 40;
    int64_t dim[8];
    for (int i = 0; i < 8; i++) {
        uint64_t u = raw_uint(h + off + i * width, width, swap);
        dim[i] = nifti2 ? (int64_t)u : (int64_t)(int16_t)u;
    }
    LV_CHECK(dim[0] >= 1 && dim[0] <= 7, LV_ERR_INPUT,
             "%s: header field dim[0] (the number of dimensions) is %" PRId64 ": expected 1 to 7", path, dim[0]);
    for (int i = 1; i <= dim[0]; i++)
        LV_CHECK(dim[i] >= 1, LV_ERR_INPUT, "%s: header field dim[%d] is %" PRId64 ": expected >= 1", path, i,
                 dim[i]);
    return LV_OK;
}

/* Header checks that need no voxel data; nim has been read with read_data = 0. */
static lv_status check_header(const nifti_image *nim, const char *path) {
    LV_CHECK(nim->nifti_type != NIFTI_FTYPE_ANALYZE && nim->nifti_type != NIFTI_FTYPE_ASCII, LV_ERR_INPUT,
             "%s: %s file, not NIfTI-1/-2 (convert it, e.g. with dcm2niix or nibabel)", path,
             nim->nifti_type == NIFTI_FTYPE_ANALYZE ? "an ANALYZE 7.5" : "an ASCII NIfTI");
    LV_CHECK(dtype_name(nim->datatype) != NULL, LV_ERR_INPUT,
             "%s: datatype %s (%d) is not supported (expected int16, uint8, int8, uint16, int32, uint32, int64, "
             "float32 or float64)",
             path, nifti_datatype_string(nim->datatype), nim->datatype);
    LV_CHECK(nim->nx >= 1 && nim->ny >= 1 && nim->nz >= 1, LV_ERR_INPUT,
             "%s: dimensions %" PRId64 "x%" PRId64 "x%" PRId64 ": expected >= 1 each", path, nim->nx, nim->ny, nim->nz);
    int64_t extra = 1;
    for (int d = 4; d <= 7; d++) extra *= nim->dim[0] >= d && nim->dim[d] > 1 ? nim->dim[d] : 1;
    LV_CHECK(extra == 1, LV_ERR_INPUT,
             "%s: holds %" PRId64 " volumes (dim = [%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64
             ", ...]); expected one 3-D volume per phase (split 4-D series first)",
             path, extra, nim->dim[0], nim->dim[1], nim->dim[2], nim->dim[3]);
    LV_CHECK(nim->nx <= INT32_MAX && nim->ny <= INT32_MAX && nim->nz <= INT32_MAX &&
                 (uint64_t)nim->nx * (uint64_t)nim->ny <= (uint64_t)1 << 40 &&
                 (uint64_t)nim->nx * (uint64_t)nim->ny * (uint64_t)nim->nz <= (uint64_t)1 << 40,
             LV_ERR_INPUT, "%s: dimensions %" PRId64 "x%" PRId64 "x%" PRId64 " are too large", path, nim->nx, nim->ny,
             nim->nz);
    return LV_OK;
}

lv_status lv_volume_read(lv_volume *v, const char *path) {
    memset(v, 0, sizeof *v);
    struct stat sb;
    if (stat(path, &sb) != 0) return lv_errorf(LV_ERR_INPUT, "%s: cannot open: %s", path, strerror(errno));
    LV_CHECK(S_ISREG(sb.st_mode), LV_ERR_INPUT, "%s: not a regular file", path);
    FILE *f = fopen(path, "rb");
    if (!f) return lv_errorf(LV_ERR_INPUT, "%s: cannot open: %s", path, strerror(errno));
    fclose(f);
    lv_status raw = check_raw_header(path);
    if (raw != LV_OK) return raw;
    /* nifticlib reports on stderr unless quiet; our message carries the context instead. */
    nifti_set_debug_level(0);
    nifti_image *nim = nifti_image_read(path, 0);
    if (!nim)
        return lv_errorf(LV_ERR_INPUT, "%s: not a NIfTI-1/-2 file (no valid header; expected .nii or .nii.gz)", path);
    lv_status st = check_header(nim, path);
    /* Computed only once check_header bounded the dimensions (no signed overflow), and it must
     * be what nifticlib loads: the loop below reads nvox voxels from its buffer. */
    int64_t nvox = st == LV_OK ? nim->nx * nim->ny * nim->nz : 0;
    if (st == LV_OK && (nim->nvox < 0 || (int64_t)nim->nvox != nvox))
        st = lv_errorf(LV_ERR_INPUT, "%s: header holds %" PRId64 " voxels but dimensions %" PRId64 "x%" PRId64 "x%" PRId64
                       " (inconsistent dim fields)", path, (int64_t)nim->nvox, nim->nx, nim->ny, nim->nz);
    if (st == LV_OK && nifti_image_load(nim) < 0)
        st = lv_errorf(LV_ERR_INPUT, "%s: cannot read the voxel data (%" PRId64 " voxels of %d bytes): truncated file?",
                       path, nim->nvox, nim->nbyper);
    if (st == LV_OK) {
        v->hu = malloc((size_t)nvox * sizeof *v->hu);
        if (!v->hu) st = lv_errorf(LV_ERR_RUNTIME, "%s: out of memory for %" PRId64 " voxels", path, nvox);
    }
    if (st == LV_OK) {
        v->nx = nim->nx;
        v->ny = nim->ny;
        v->nz = nim->nz;
        v->version = nim->nifti_type >= NIFTI_FTYPE_NIFTI2_1 ? 2 : 1;
        v->dtype = dtype_name(nim->datatype);
        /* NIfTI: scl_slope == 0 means the stored values are already the data values. */
        int scaled = nim->scl_slope != 0.0 && isfinite(nim->scl_slope);
        double slope = scaled ? nim->scl_slope : 1.0, inter = scaled && isfinite(nim->scl_inter) ? nim->scl_inter : 0.0;
        for (int64_t i = 0; i < nvox; i++) {
            double x = raw_at(nim->data, nim->datatype, i) * slope + inter;
            /* nifticlib already turns NaN/Inf floats into 0 while loading; this catches
             * what scaling makes non-finite (a huge slope). */
            if (!isfinite(x)) {
                v->hu[i] = LV_PACK_PAD_HU;
                v->nonfinite++;
                continue;
            }
            x = floor(x + 0.5);
            if (x < -32768.0 || x > 32767.0) {
                v->clamped++;
                x = x < 0 ? -32768.0 : 32767.0;
            }
            v->hu[i] = (int16_t)x;
        }
    }
    nifti_image_free(nim);
    if (st != LV_OK) lv_volume_free(v);
    return st;
}

int64_t lv_volume_cut(const lv_volume *v, int64_t x, int64_t y, int64_t z, int size, int16_t pad, int16_t *dst) {
    int64_t x0 = x - size / 2, y0 = y - size / 2, padded = 0;
    for (int r = 0; r < size; r++) {
        int64_t vy = y0 + r;
        int16_t *row = dst + (size_t)r * (size_t)size;
        if (z < 0 || z >= v->nz || vy < 0 || vy >= v->ny) {
            for (int c = 0; c < size; c++) row[c] = pad;
            padded += size;
            continue;
        }
        const int16_t *src = v->hu + (size_t)((z * v->ny + vy) * v->nx);
        for (int c = 0; c < size; c++) {
            int64_t vx = x0 + c;
            if (vx < 0 || vx >= v->nx) {
                row[c] = pad;
                padded++;
            } else {
                row[c] = src[vx];
            }
        }
    }
    return padded;
}
