/* The phantom's PNG preview: one row per class, one column per phase, an HU window mapped
 * to gray. Picks a showcase sample per class from the truth; writes through png_image.c
 * and never changes the dataset. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "data/phantom_model.h"
#include "data/png_image.h"

#define PREVIEW_GAP 2

/* The feature the docs point at for each class: FNH scar, HCC capsule, HEM nodules. */
static int showcase(int cls, int flags) {
    if (cls == LV_PHANTOM_FNH) return (flags & LV_PHANTOM_SCAR) != 0;
    if (cls == LV_PHANTOM_HCC) return (flags & LV_PHANTOM_CAPSULE) != 0;
    if (cls == LV_PHANTOM_HEM) return !(flags & LV_PHANTOM_FLASH);
    return 1;
}

/* The middle cut of the first typical lesion of class c with its showcase feature and big
 * enough to see; falls back to any typical lesion, then to any sample of the class. */
static int64_t pick(const lv_dataset *ds, const lv_phantom_truth *t, int c) {
    int64_t typical = -1, any = -1;
    for (int64_t i = 0; i < ds->n;) {
        int64_t j = i + 1; /* [i, j): the cuts of one lesion */
        while (ds->lesions && j < ds->n && ds->lesions[j] == ds->lesions[i]) j++;
        int64_t mid = i + (j - i) / 2;
        if (ds->labels[i] == c) {
            if (any < 0) any = mid;
            if (!t) break;
            const lv_phantom_sample_truth *s = &t->samples[mid];
            if (!(s->flags & LV_PHANTOM_ATYPICAL)) {
                if (typical < 0) typical = mid;
                if (showcase(c, s->flags) && s->radius3d >= 0.18f * (float)ds->w) return mid;
            }
        }
        i = j;
    }
    return typical >= 0 ? typical : any;
}

lv_status lv_phantom_preview(const lv_dataset *ds, const lv_phantom_truth *truth, const char *path, float lo,
                             float hi, int scale) {
    LV_CHECK(ds && ds->images && ds->pixel == LV_PIX_I16, LV_ERR_RUNTIME,
             "preview: expected an in-memory int16 dataset");
    LV_CHECK(hi > lo, LV_ERR_USAGE, "preview: HU window [%g, %g] is empty", (double)lo, (double)hi);
    LV_CHECK(scale >= 1 && scale <= 8, LV_ERR_USAGE, "preview: scale %d: expected 1..8", scale);
    int tw = ds->w * scale, th = ds->h * scale;
    int W = ds->p * tw + (ds->p + 1) * PREVIEW_GAP, H = ds->c * th + (ds->c + 1) * PREVIEW_GAP;
    uint8_t *img = malloc((size_t)W * (size_t)H);
    LV_CHECK_ALLOC(img);
    memset(img, 255, (size_t)W * (size_t)H);
    size_t plane = (size_t)ds->h * (size_t)ds->w;
    for (int c = 0; c < ds->c; c++) {
        int64_t i = pick(ds, truth, c);
        if (i < 0) continue;
        const int16_t *s = (const int16_t *)ds->images + (size_t)i * (size_t)ds->p * plane;
        for (int p = 0; p < ds->p; p++) {
            int ox = PREVIEW_GAP + p * (tw + PREVIEW_GAP), oy = PREVIEW_GAP + c * (th + PREVIEW_GAP);
            for (int y = 0; y < th; y++)
                for (int x = 0; x < tw; x++) {
                    float v = ((float)s[(size_t)p * plane + (size_t)(y / scale) * ds->w + x / scale] - lo) / (hi - lo);
                    v = v < 0.0f ? 0.0f : v > 1.0f ? 1.0f : v;
                    img[(size_t)(oy + y) * W + ox + x] = (uint8_t)(v * 255.0f + 0.5f);
                }
        }
    }
    lv_status st = lv_png_write(path, img, W, H, 1);
    free(img);
    return st;
}
