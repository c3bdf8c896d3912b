/* Pixel preprocessing: raw pixels (HU int16, uint8 or float32) -> scaled values -> per-phase
 * normalized floats. The settings are part of the model (saved in the checkpoint as JSON) so
 * evaluation repeats them exactly. No randomness and no threads here (see augment.h). */
#ifndef LV_PREPROCESS_H
#define LV_PREPROCESS_H

#include <stdint.h>

#include "data/dataset.h"

#ifdef __cplusplus
extern "C" {
#endif

/* How raw pixels become scaled values u (before per-phase normalization):
 *   window:    u = clamp((x - lo) / (hi - lo), 0, 1)   (default for HU data)
 *   divide255: u = x / 255                             (default for uint8)
 *   none:      u = x                                   (default for raw float32/int16)
 *   auto:      one of the above chosen from the data's dtype and units by lv_preproc_resolve. */
typedef enum lv_scaling {
    LV_SCALE_AUTO = 0,
    LV_SCALE_WINDOW = 1,
    LV_SCALE_U8 = 2,
    LV_SCALE_NONE = 3,
} lv_scaling;

#define LV_PREPROC_DEFAULT_LO (-100.0f)
#define LV_PREPROC_DEFAULT_HI 250.0f
#define LV_PREPROC_DEFAULT_MEAN 0.5f
#define LV_PREPROC_DEFAULT_STD 0.25f

typedef struct lv_preproc {
    lv_scaling scaling;
    float lo, hi;                 /* window in raw units (HU), hi > lo */
    int n_stats;                  /* 1: mean[0]/std[0] for every phase; else one per phase */
    float mean[LV_MAX_PHASES];    /* subtracted from u */
    float std[LV_MAX_PHASES];     /* u is divided by it, > 0 */
} lv_preproc;

/* auto scaling, window [-100, 250], mean 0.5 and std 0.25 for every phase. */
void lv_preproc_default(lv_preproc *pp);
const char *lv_scaling_name(lv_scaling s); /* "auto", "window", "divide255", "none" */

/* Replaces auto with the concrete scaling for ds (HU -> window, uint8 -> divide255, else
 * none), checks the values, and expands one mean/std to every phase (n_stats = ds->p).
 * LV_ERR_INPUT when the per-phase statistics do not match ds's phase count. */
lv_status lv_preproc_resolve(lv_preproc *pp, const lv_dataset *ds);

/* Sets per-phase mean/std to the statistics of the scaled values u over the samples
 * indices[0..count) (NULL: all), all pixels; at most max_samples of them (evenly spaced,
 * 0: no limit). Resolves pp first. Sums in double in index order, so the result depends on
 * nothing but the data. A constant phase gets std 1 (it is only centred). Reads streamed
 * data through lv_dataset_read_raw: never call it while a loader reads the same dataset. */
lv_status lv_preproc_fit(lv_preproc *pp, const lv_dataset *ds, const int64_t *indices, int64_t count,
                         int64_t max_samples);

/* JSON form (for config.json and the checkpoint's metadata):
 *   {"scaling": "window", "window": [-100, 250], "mean": [..], "std": [..]}
 * mean/std hold one value (every phase) or one per phase. to_json returns a malloc'd string
 * (free with free()) or NULL when out of memory. from_json accepts missing keys (defaults)
 * but rejects unknown keys, wrong types and bad values with a message naming `where` and the
 * key. pp is left unchanged on error. */
char *lv_preproc_to_json(const lv_preproc *pp);
lv_status lv_preproc_from_json(lv_preproc *pp, const char *json, const char *where);
/* Same on an already parsed cJSON object (a `struct cJSON *`, kept opaque here). */
lv_status lv_preproc_from_cjson(lv_preproc *pp, const void *cjson_obj, const char *where);
/* A cJSON object (caller owns it, cJSON_Delete) for embedding in a larger document. */
void *lv_preproc_to_cjson(const lv_preproc *pp);

/* A resolved preprocessing as the per-pixel kernels use it:
 *   out = (clamp?((x - shift) * scale) - mean[p]) * istd[p]. */
typedef struct lv_preproc_plan {
    int p;
    int clamp;                  /* window scaling clamps u to [0, 1] */
    float shift, scale;
    float mean[LV_MAX_PHASES];
    float istd[LV_MAX_PHASES];  /* 1 / std */
} lv_preproc_plan;

/* Plan for ds from a preprocessing (resolved on a copy; pp is not changed). */
lv_status lv_preproc_plan_make(lv_preproc_plan *plan, const lv_preproc *pp, const lv_dataset *ds);

/* Maps n raw pixels (src[off..off+n) of type t) to u = (x - shift) * a + b, clamped to
 * [0, 1] when clamp. The one place raw dtypes are converted; loops the compiler vectorizes. */
void lv_preproc_map_row(const void *src, lv_pixel_type t, size_t off, int n, float shift, float a,
                        float b, int clamp, float *dst);

/* One whole sample [p,h,w] raw -> [p,h,w] normalized floats, no crop, no augmentation. */
void lv_preproc_apply(const lv_preproc_plan *plan, const void *raw, lv_pixel_type t, int h, int w,
                      float *out);

#ifdef __cplusplus
}
#endif
#endif
