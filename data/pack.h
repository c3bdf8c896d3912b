/* liver-vlm pack: real multi-phase CT (co-registered NIfTI volumes listed in a CSV manifest)
 * -> lesion ROI slices in a "liver-vlm-data/1" HDF5 file. */
#ifndef LV_PACK_H
#define LV_PACK_H

#include "core/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lv_pack_opts {
    int roi_size;   /* ROI side in voxels (default 64) */
    int slices;     /* axial slices per lesion, centred on z (default 3) */
    int gzip_level; /* output compression, 0..9 (default 4) */
} lv_pack_opts;

void lv_pack_opts_default(lv_pack_opts *o);
/* Reads the manifest, cuts ROIs and writes out (atomically). Errors name the manifest row
 * and column. */
lv_status lv_pack_manifest(const char *manifest, const char *out, const lv_pack_opts *o);
/* 1 when this build has HDF5 and nifticlib. */
int lv_pack_available(void);

#ifdef __cplusplus
}
#endif
#endif
