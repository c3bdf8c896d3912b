/* CPU renderer for one augmented sample: value map (scaling + HU jitter) -> inverse affine
 * warp with bilinear sampling -> noise + per-phase normalization. Parameters come only from
 * lv_augment_draw (augment.h); this file must not draw random numbers of its own except the
 * per-pixel noise through lv_augment_noise4. */
#include "augment.h"

#include <math.h>
#include <string.h>

void lv_augment_opts_default(lv_augment_opts *o) {
    memset(o, 0, sizeof *o);
    o->enabled = 1;
    o->flip_h = 0.5f;
    o->flip_v = 0.5f;
    o->rot90 = 1;
    o->rotate_deg = 15.0f;
    o->scale = 0.1f;
    o->translate = 0.05f;
    o->random_crop = 1;
    o->hu_offset = 10.0f;
    o->contrast = 0.1f;
    o->noise_std = 0.02f;
    o->noise_p = 0.5f;
    o->border = LV_BORDER_EDGE;
}

void lv_augment_opts_eval(lv_augment_opts *o) {
    lv_augment_opts_default(o);
    o->enabled = 0;
}

static lv_status check_range(const char *where, const char *field, float v, float lo, float hi) {
    LV_CHECK(isfinite(v) && v >= lo && v <= hi, LV_ERR_USAGE, "%s: %s: expected a number in [%g, %g], found %g",
             where, field, (double)lo, (double)hi, (double)v);
    return LV_OK;
}

lv_status lv_augment_opts_check(const lv_augment_opts *o, const char *where) {
    if (!where) where = "augmentation";
    LV_TRY(check_range(where, "flip_h", o->flip_h, 0, 1));
    LV_TRY(check_range(where, "flip_v", o->flip_v, 0, 1));
    LV_TRY(check_range(where, "rotate_deg", o->rotate_deg, 0, 180));
    LV_TRY(check_range(where, "scale", o->scale, 0, 0.5f));
    LV_TRY(check_range(where, "translate", o->translate, 0, 0.5f));
    LV_TRY(check_range(where, "hu_offset", o->hu_offset, 0, 1e6f));
    LV_TRY(check_range(where, "contrast", o->contrast, 0, 0.9f));
    LV_TRY(check_range(where, "noise_std", o->noise_std, 0, 10));
    LV_TRY(check_range(where, "noise_p", o->noise_p, 0, 1));
    LV_CHECK(o->border == LV_BORDER_EDGE || o->border == LV_BORDER_CONSTANT, LV_ERR_USAGE,
             "%s: border: expected edge (%d) or constant (%d), found %d", where, LV_BORDER_EDGE, LV_BORDER_CONSTANT,
             o->border);
    return LV_OK;
}

static int is_int(float v) { return v == floorf(v) && fabsf(v) < 1e7f; }

/* Scaled value of source pixel (x, y) of one mapped phase under the border rule. */
static inline float fetch(const float *u, int h, int w, int x, int y, int border) {
    if (x >= 0 && y >= 0 && x < w && y < h) return u[(size_t)y * w + x];
    if (border == LV_BORDER_CONSTANT) return 0.0f;
    x = x < 0 ? 0 : x >= w ? w - 1 : x;
    y = y < 0 ? 0 : y >= h ? h - 1 : y;
    return u[(size_t)y * w + x];
}

/* Bilinear warp of one mapped phase. Weights (1 - f, f) with f = 0 give the pixel itself
 * exactly, so integer maps (flips, quarter turns, crops) are exact permutations. */
static void warp_bilinear(const float *u, int h, int w, const float *m, int s, int border, float *o) {
    for (int y = 0; y < s; y++) {
        float bx = m[1] * (float)y + m[2], by = m[4] * (float)y + m[5];
        float *row = o + (size_t)y * s;
        for (int x = 0; x < s; x++) {
            float sx = m[0] * (float)x + bx, sy = m[3] * (float)x + by;
            float x0 = floorf(sx), y0 = floorf(sy);
            float fx = sx - x0, fy = sy - y0;
            int ix = (int)x0, iy = (int)y0;
            float v00, v01, v10, v11;
            if (ix >= 0 && iy >= 0 && ix + 1 < w && iy + 1 < h) {
                const float *q = u + (size_t)iy * w + ix;
                v00 = q[0], v01 = q[1], v10 = q[w], v11 = q[w + 1];
            } else {
                v00 = fetch(u, h, w, ix, iy, border);
                v01 = fetch(u, h, w, ix + 1, iy, border);
                v10 = fetch(u, h, w, ix, iy + 1, border);
                v11 = fetch(u, h, w, ix + 1, iy + 1, border);
            }
            row[x] = (1.0f - fy) * ((1.0f - fx) * v00 + fx * v01) + fy * ((1.0f - fx) * v10 + fx * v11);
        }
    }
}

/* Integer map (entries of the linear part in {-1, 0, 1}, integer offsets): a gather. */
static void warp_integer(const float *u, int h, int w, const float *m, int s, int border, float *o) {
    int m0 = (int)m[0], m1 = (int)m[1], m2 = (int)m[2], m3 = (int)m[3], m4 = (int)m[4], m5 = (int)m[5];
    for (int y = 0; y < s; y++) {
        float *row = o + (size_t)y * s;
        for (int x = 0; x < s; x++) row[x] = fetch(u, h, w, m0 * x + m1 * y + m2, m3 * x + m4 * y + m5, border);
    }
}

/* out[i] = (out[i] + sigma * z_i - mean) * istd over pixels [start, start + n) of the
 * sample, z_i the i-th normal of the sample's noise sequence (4 per Philox block). */
static void noise_normalize(float *o, size_t start, size_t n, float sigma, float mean, float istd, uint64_t seed,
                            uint64_t epoch, uint64_t key) {
    if (sigma > 0.0f) {
        size_t i = 0;
        while (i < n) {
            size_t g = start + i, blk = g >> 2;
            float z[4];
            lv_augment_noise4(seed, epoch, key, blk, z);
            for (size_t lane = g & 3; lane < 4 && i < n; lane++, i++) o[i] += sigma * z[lane];
        }
    }
    for (size_t i = 0; i < n; i++) o[i] = (o[i] - mean) * istd;
}

void lv_augment_render(const lv_preproc_plan *plan, const lv_augment_params *prm, const void *raw,
                       lv_pixel_type t, int h, int w, int s, uint64_t seed, uint64_t epoch, uint64_t key,
                       float *out, float *scratch) {
    const float *m = prm->m;
    size_t hw = (size_t)h * w, ss = (size_t)s * s;
    int integer = is_int(m[0]) && is_int(m[1]) && is_int(m[3]) && is_int(m[4]) && is_int(m[2]) && is_int(m[5]) &&
                  fabsf(m[0]) <= 1 && fabsf(m[1]) <= 1 && fabsf(m[3]) <= 1 && fabsf(m[4]) <= 1;
    /* A plain crop inside the image maps rows straight from the raw pixels, no scratch. */
    int crop = integer && m[0] == 1 && m[1] == 0 && m[3] == 0 && m[4] == 1 && m[2] >= 0 && m[5] >= 0 &&
               m[2] + (float)s <= (float)w && m[5] + (float)s <= (float)h;
    for (int p = 0; p < plan->p; p++) {
        float c = prm->contrast[p];
        /* u = 0.5 + (u0 - 0.5) * c + offset * scale: contrast about the window centre. */
        float a = plan->scale * c, b = 0.5f * (1.0f - c) + prm->offset[p] * plan->scale;
        float *o = out + (size_t)p * ss;
        if (crop) {
            int ox = (int)m[2], oy = (int)m[5];
            for (int y = 0; y < s; y++)
                lv_preproc_map_row(raw, t, (size_t)p * hw + (size_t)(y + oy) * w + (size_t)ox, s, plan->shift, a, b,
                                   plan->clamp, o + (size_t)y * s);
        } else {
            lv_preproc_map_row(raw, t, (size_t)p * hw, (int)hw, plan->shift, a, b, plan->clamp, scratch);
            if (integer) warp_integer(scratch, h, w, m, s, prm->border, o);
            else warp_bilinear(scratch, h, w, m, s, prm->border, o);
        }
        noise_normalize(o, (size_t)p * ss, ss, prm->noise_std, plan->mean[p], plan->istd[p], seed, epoch, key);
    }
}
