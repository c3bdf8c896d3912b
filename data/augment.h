/* Training-time augmentation of one sample: flips, 90-degree turns, small rotation, zoom,
 * translation, random crop (one inverse affine map, bilinear), HU jitter and Gaussian noise.
 * The parameter draw below is header-only and LV_HD so the CUDA twin compiles the very same
 * code; every random number is Philox(seed, stream(epoch), key * 64 + draw), never a
 * function of batch position, thread or device. No allocation and no I/O here. */
#ifndef LV_AUGMENT_H
#define LV_AUGMENT_H

#include <stdint.h>

#include "core/rng.h"
#include "data/dataset.h"
#include "data/preprocess.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Outside the source image: repeat the nearest edge pixel, or use scaled value 0 (the
 * window's low end for HU data) before normalization. */
#define LV_BORDER_EDGE 0
#define LV_BORDER_CONSTANT 1

/* Philox streams: a tag in the high 32 bits, the epoch in the low 32. */
#define LV_AUG_STREAM_TAG 0x4C564147u   /* "LVAG": per-sample parameters */
#define LV_NOISE_STREAM_TAG 0x4C564E5Au /* "LVNZ": per-pixel noise */
#define LV_AUG_DRAWS 64                 /* draw numbers reserved per sample key */
#define LV_NOISE_BLOCK_BITS 24          /* noise block = (key << 24) + pixel / 4 */

/* Draw numbers: index = key * LV_AUG_DRAWS + draw (the docs list them for the GPU twin). */
enum {
    LV_AUG_D_FLIP_H = 0,
    LV_AUG_D_FLIP_V = 1,
    LV_AUG_D_ROT90 = 2,
    LV_AUG_D_ANGLE = 3,
    LV_AUG_D_ZOOM = 4,
    LV_AUG_D_TX = 5,
    LV_AUG_D_TY = 6,
    LV_AUG_D_CROP_Y = 7,
    LV_AUG_D_CROP_X = 8,
    LV_AUG_D_NOISE = 9,
    LV_AUG_D_CONTRAST = 16, /* + 2 * phase */
    LV_AUG_D_OFFSET = 17,   /* + 2 * phase */
};

typedef struct lv_augment_opts {
    int enabled;      /* 0: evaluation: centre crop, nothing random */
    float flip_h;     /* probability of a left-right flip, [0,1] */
    float flip_v;     /* probability of an up-down flip, [0,1] */
    int rot90;        /* 1: turn by a uniform multiple of 90 degrees */
    float rotate_deg; /* small rotation uniform in [-rotate_deg, rotate_deg], [0,180] */
    float scale;      /* zoom uniform in [1 - scale, 1 + scale], [0, 0.5] */
    float translate;  /* shift uniform in [-t, t] * out_size pixels per axis, [0, 0.5] */
    int random_crop;  /* 1: crop origin uniform over the image; 0: centre crop */
    float hu_offset;  /* additive offset uniform in [-o, o] raw units (HU) per phase, >= 0 */
    float contrast;   /* contrast factor uniform in [1 - c, 1 + c] per phase, [0, 0.9] */
    float noise_std;  /* Gaussian noise std in scaled units (fraction of the window), >= 0 */
    float noise_p;    /* probability that a sample gets noise, [0,1] */
    int border;       /* LV_BORDER_EDGE or LV_BORDER_CONSTANT */
} lv_augment_opts;

/* One sample's drawn transform. m maps an output pixel (x, y) to source coordinates:
 *   src_x = m[0]*x + m[1]*y + m[2],  src_y = m[3]*x + m[4]*y + m[5]. */
typedef struct lv_augment_params {
    float m[6];
    int flip_h, flip_v, rot90; /* as drawn (rot90: quarter turns 0..3) */
    float angle_deg, zoom, tx, ty;
    int crop_y, crop_x;        /* source pixel under output pixel (0,0) before rotation/zoom */
    float contrast[LV_MAX_PHASES], offset[LV_MAX_PHASES];
    float noise_std;           /* 0: no noise on this sample */
    int border;
} lv_augment_params;

/* Defaults for training: flips 0.5, rot90 on, +-15 degrees, zoom +-10%, shift +-5%, random
 * crop, +-10 HU offset, +-10% contrast, noise std 0.02 on half the samples, edge border. */
void lv_augment_opts_default(lv_augment_opts *o);
/* Evaluation: enabled = 0 (centre crop only). */
void lv_augment_opts_eval(lv_augment_opts *o);
/* LV_ERR_USAGE naming the field when a value is out of its range. */
lv_status lv_augment_opts_check(const lv_augment_opts *o, const char *where);

/* The i-th uniform of a sample key in an epoch. */
LV_HD float lv_augment_uniform(uint64_t seed, uint64_t epoch, uint64_t key, int draw) {
    return lv_rng_uniform(seed, ((uint64_t)LV_AUG_STREAM_TAG << 32) | (uint32_t)epoch,
                          key * (uint64_t)LV_AUG_DRAWS + (uint64_t)draw);
}

/* Crop origin along one axis: uniform integer in [0, n - s] when random, else the floor of
 * the centre offset (negative when the output is larger than the image). */
LV_HD int lv_augment_crop(int n, int s, int random, float u) {
    if (n >= s) {
        if (!random) return (n - s) / 2;
        int c = (int)(u * (float)(n - s + 1));
        return c > n - s ? n - s : c;
    }
    return -((s - n + 1) / 2);
}

/* Draws every parameter of sample `key` in `epoch` and builds the inverse map from an
 * s x s output to an h x w source. Disabled options leave exact identity values (zoom 1,
 * angle 0, contrast 1, offset 0), so flips, quarter turns and integer crops map pixel
 * centres to pixel centres exactly. */
LV_HD void lv_augment_draw(const lv_augment_opts *o, int p, int h, int w, int s, uint64_t seed,
                           uint64_t epoch, uint64_t key, lv_augment_params *out) {
    int on = o->enabled;
    out->flip_h = on && lv_augment_uniform(seed, epoch, key, LV_AUG_D_FLIP_H) < o->flip_h;
    out->flip_v = on && lv_augment_uniform(seed, epoch, key, LV_AUG_D_FLIP_V) < o->flip_v;
    out->rot90 = 0;
    if (on && o->rot90) {
        out->rot90 = (int)(lv_augment_uniform(seed, epoch, key, LV_AUG_D_ROT90) * 4.0f);
        if (out->rot90 > 3) out->rot90 = 3;
    }
    out->angle_deg = 0.0f;
    if (on && o->rotate_deg > 0.0f)
        out->angle_deg = o->rotate_deg * (2.0f * lv_augment_uniform(seed, epoch, key, LV_AUG_D_ANGLE) - 1.0f);
    out->zoom = 1.0f;
    if (on && o->scale > 0.0f)
        out->zoom = 1.0f + o->scale * (2.0f * lv_augment_uniform(seed, epoch, key, LV_AUG_D_ZOOM) - 1.0f);
    out->tx = out->ty = 0.0f;
    if (on && o->translate > 0.0f) {
        float t = o->translate * (float)s;
        out->tx = t * (2.0f * lv_augment_uniform(seed, epoch, key, LV_AUG_D_TX) - 1.0f);
        out->ty = t * (2.0f * lv_augment_uniform(seed, epoch, key, LV_AUG_D_TY) - 1.0f);
    }
    int rc = on && o->random_crop;
    out->crop_y = lv_augment_crop(h, s, rc, rc ? lv_augment_uniform(seed, epoch, key, LV_AUG_D_CROP_Y) : 0.0f);
    out->crop_x = lv_augment_crop(w, s, rc, rc ? lv_augment_uniform(seed, epoch, key, LV_AUG_D_CROP_X) : 0.0f);
    out->noise_std = 0.0f;
    if (on && o->noise_std > 0.0f && lv_augment_uniform(seed, epoch, key, LV_AUG_D_NOISE) < o->noise_p)
        out->noise_std = o->noise_std;
    for (int c = 0; c < LV_MAX_PHASES; c++) {
        out->contrast[c] = 1.0f;
        out->offset[c] = 0.0f;
        if (!on || c >= p) continue;
        if (o->contrast > 0.0f)
            out->contrast[c] =
                1.0f + o->contrast * (2.0f * lv_augment_uniform(seed, epoch, key, LV_AUG_D_CONTRAST + 2 * c) - 1.0f);
        if (o->hu_offset > 0.0f)
            out->offset[c] =
                o->hu_offset * (2.0f * lv_augment_uniform(seed, epoch, key, LV_AUG_D_OFFSET + 2 * c) - 1.0f);
    }
    out->border = o->border;

    /* A = (1/zoom) * R(angle) * R90^k * F, exact small integers when angle = 0, zoom = 1. */
    float fx = out->flip_h ? -1.0f : 1.0f, fy = out->flip_v ? -1.0f : 1.0f;
    float r00 = 1, r01 = 0, r10 = 0, r11 = 1;
    if (out->rot90 == 1) r00 = 0, r01 = -1, r10 = 1, r11 = 0;
    if (out->rot90 == 2) r00 = -1, r01 = 0, r10 = 0, r11 = -1;
    if (out->rot90 == 3) r00 = 0, r01 = 1, r10 = -1, r11 = 0;
    float q00 = r00 * fx, q01 = r01 * fy, q10 = r10 * fx, q11 = r11 * fy;
    float cs = 1.0f, sn = 0.0f;
    if (out->angle_deg != 0.0f) {
        float rad = out->angle_deg * 0.017453292519943295f;
        cs = cosf(rad);
        sn = sinf(rad);
    }
    float iz = 1.0f / out->zoom;
    float a00 = iz * (cs * q00 - sn * q10), a01 = iz * (cs * q01 - sn * q11);
    float a10 = iz * (sn * q00 + cs * q10), a11 = iz * (sn * q01 + cs * q11);
    /* Output centre (s-1)/2 lands on the crop's centre plus the shift. */
    float cd = 0.5f * (float)(s - 1);
    float csx = (float)out->crop_x + cd + out->tx, csy = (float)out->crop_y + cd + out->ty;
    out->m[0] = a00;
    out->m[1] = a01;
    out->m[2] = csx - a00 * cd - a01 * cd;
    out->m[3] = a10;
    out->m[4] = a11;
    out->m[5] = csy - a10 * cd - a11 * cd;
}

/* Four standard normals for noise block `block` of a sample (pixels 4*block .. 4*block+3 of
 * its [p, s, s] output in row-major order): Box-Muller on both word pairs of one Philox block. */
LV_HD void lv_augment_noise4(uint64_t seed, uint64_t epoch, uint64_t key, uint64_t block, float z[4]) {
    uint32_t r[4];
    lv_rng_block(seed, ((uint64_t)LV_NOISE_STREAM_TAG << 32) | (uint32_t)epoch,
                 (key << LV_NOISE_BLOCK_BITS) + block, r);
    for (int k = 0; k < 2; k++) {
        float u1 = ((float)(r[2 * k] >> 8) + 1.0f) * (1.0f / 16777216.0f);
        float u2 = (float)(r[2 * k + 1] >> 8) * (1.0f / 16777216.0f);
        float rad = sqrtf(-2.0f * logf(u1)), th = 6.283185307179586f * u2;
        z[2 * k] = rad * cosf(th);
        z[2 * k + 1] = rad * sinf(th);
    }
}

/* Renders one sample: raw [p,h,w] pixels of dtype t -> out [p,s,s] normalized floats, under
 * plan (scaling, mean/std) and prm (from lv_augment_draw; key/epoch/seed again for noise).
 * scratch holds h*w floats. Thread-safe: touches only out and scratch. */
void lv_augment_render(const lv_preproc_plan *plan, const lv_augment_params *prm, const void *raw,
                       lv_pixel_type t, int h, int w, int s, uint64_t seed, uint64_t epoch, uint64_t key,
                       float *out, float *scratch);

#ifdef __cplusplus
}
#endif
#endif
