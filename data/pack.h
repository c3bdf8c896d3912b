/* liver-vlm pack: real multi-phase CT (co-registered NIfTI volumes listed in a CSV manifest)
 * -> lesion ROI slices in a "liver-vlm-data/1" HDF5 file. docs/pack.md is the user's view:
 * manifest columns, what is cut, and that nothing is resampled or registered. */
#ifndef LV_PACK_H
#define LV_PACK_H

#include <stdint.h>

#include "core/status.h"
#include "data/dataset.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Value of ROI voxels outside the volume (air): int16 HU. */
#define LV_PACK_PAD_HU (-1024)

typedef struct lv_pack_opts {
    int roi_size;        /* ROI side in voxels (default 64) */
    int slices;          /* axial slices per lesion, centred on z (default 3) */
    int gzip_level;      /* output compression, 0..9 (default 4) */
    const char *phases;  /* comma list of phase columns to use, in this order; NULL: every
                            column that is not patient/label/x/y/z/radius/lesion/report */
    const char *classes; /* comma list fixing the class order; NULL: distinct labels sorted
                            by byte value */
    int force;           /* replace an existing output file */
    int progress;        /* one info line per manifest row */
} lv_pack_opts;

typedef struct lv_pack_stats {
    int64_t rows;           /* manifest rows (lesions) packed */
    int64_t samples;        /* rows x slices */
    int64_t padded_samples; /* samples whose ROI reached outside the volume */
    int64_t volumes_read;   /* NIfTI files read (a file shared by rows is read once) */
    int64_t clamped;        /* voxels clamped to the int16 range */
} lv_pack_stats;

void lv_pack_opts_default(lv_pack_opts *o);
/* Reads the manifest and cuts every ROI into ds (freshly initialised; int16 HU, classes,
 * phases, patients, lesions, reports when the manifest has a report column). stats may be
 * NULL. Errors (LV_ERR_INPUT) name the manifest, the row (header = row 1) and the column;
 * bad options are LV_ERR_USAGE. */
lv_status lv_pack_build(lv_dataset *ds, const char *manifest, const lv_pack_opts *o, lv_pack_stats *stats);
/* lv_pack_build, then writes out atomically (refusing to replace it unless o->force). */
lv_status lv_pack_manifest(const char *manifest, const char *out, const lv_pack_opts *o, lv_pack_stats *stats);
/* 1 when this build has HDF5 and nifticlib. */
int lv_pack_available(void);

#ifdef __cplusplus
}
#endif
#endif
