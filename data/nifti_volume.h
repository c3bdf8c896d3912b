/* One 3-D CT volume read from NIfTI-1/-2 (.nii, .nii.gz) as int16 Hounsfield units, and ROI
 * cuts from it. Hides nifticlib: callers see plain arrays. Compiled only with nifticlib;
 * does not resample, reorient or register anything. */
#ifndef LV_NIFTI_VOLUME_H
#define LV_NIFTI_VOLUME_H

#include <stdint.h>

#include "core/status.h"

typedef struct lv_volume {
    int64_t nx, ny, nz; /* voxel grid, x fastest */
    int16_t *hu;        /* [nz][ny][nx] */
    int version;        /* NIfTI 1 or 2 */
    const char *dtype;  /* the file's datatype name */
    int64_t clamped;    /* voxels outside the int16 range after scaling, clamped */
    int64_t nonfinite;  /* non-finite after scaling, stored as LV_PACK_PAD_HU (nifticlib
                         * itself loads NaN/Inf floats as 0) */
} lv_volume;

/* Reads path into v (zeroed first). Errors (LV_ERR_INPUT), without the manifest context the
 * caller adds: cannot open / not a regular file, not a NIfTI-1/-2 file, more than one
 * volume (4-D), unsupported datatype, truncated data. Values are raw * scl_slope + scl_inter
 * when scl_slope is non-zero (NIfTI's rule), rounded to nearest and clamped to int16. */
lv_status lv_volume_read(lv_volume *v, const char *path);
void lv_volume_free(lv_volume *v);

/* Cuts the size x size patch of axial slice z centred on (x, y) into dst[size][size] (rows
 * follow y, columns x; column c is voxel x - size/2 + c). Voxels outside the volume, and
 * the whole patch when z is outside, become pad. Returns the number of padded voxels. */
int64_t lv_volume_cut(const lv_volume *v, int64_t x, int64_t y, int64_t z, int size, int16_t pad, int16_t *dst);

#endif
