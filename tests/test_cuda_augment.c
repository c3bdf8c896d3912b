/* The CUDA batch render (cuda/augment.cu through data/device_data.h) against the CPU render of
 * the same data, indices, keys and epochs: every augmentation on (rotation, zoom, shift, flips,
 * quarter turns, random crop, HU jitter, contrast, noise) at 1e-5 relative, int16 HU / uint8 /
 * float32 pixels, edge and constant border, output smaller and larger than the image; exact
 * (bit-identical) where no libm call is involved: evaluation, integer maps without noise. Labels
 * exactly. Images are smooth like CT, so an ulp of cosf/sinf moves a value by an ulp-sized
 * amount. SKIPs without a device; never passes on the CPU. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "cuda/cuda_data.h"
#include "data/device_data.h"
#include "harness.h"
#include "twin.h"

static const char *classes[] = {"CYST", "FNH", "HCC", "HEM", "METS"};
static const char *phases[] = {"NC", "ART", "PV"};

enum { N = 61, H = 40, W = 36, B = 24, EPOCHS = 4 };
#define RTOL 1e-5

static int make_ds(lv_dataset *ds, int p, lv_pixel_type t) {
    lv_dataset_init(ds);
    if (lv_dataset_alloc(ds, N, p, H, W, t) != LV_OK || lv_dataset_set_names(ds, classes, 5, phases, p) != LV_OK) {
        lv_test_fail("dataset: %s", lv_error_message());
        return 0;
    }
    size_t k = 0;
    for (int64_t i = 0; i < N; i++)
        for (int c = 0; c < p; c++)
            for (int y = 0; y < H; y++)
                for (int x = 0; x < W; x++, k++) {
                    /* Smooth like CT (about 60 HU per pixel at most, partly outside the window)
                     * plus a little pixel noise: white noise would turn the 1-2 ulp libm
                     * differences of the rotation into arbitrary pixel-to-pixel jumps. */
                    float r = (float)(lv_rng_u32(23, (uint64_t)t, k) >> 8) * (1.0f / 16777216.0f);
                    float v = 150.0f * sinf(0.21f * (float)x + 0.37f * (float)c + 0.11f * (float)i) +
                              120.0f * cosf(0.17f * (float)y - 0.05f * (float)i) + 40.0f + 8.0f * (r - 0.5f);
                    if (t == LV_PIX_I16) ((int16_t *)ds->images)[k] = (int16_t)lrintf(v);
                    else if (t == LV_PIX_U8) ((uint8_t *)ds->images)[k] = (uint8_t)lrintf(128.0f + 0.4f * v);
                    else ((float *)ds->images)[k] = v / 300.0f;
                }
    for (int64_t i = 0; i < N; i++) ds->labels[i] = (int32_t)((i * 3) % 5);
    return 1;
}

typedef struct twin_data {
    lv_backend *cpu, *dev;
    lv_device_data *dc, *dd;
    float *xc, *xd;   /* [B, p, s_max, s_max] on each side */
    int32_t *yc, *yd;
    float *host;      /* download of xd */
    int32_t *yhost;
    lv_preproc_plan plan;
} twin_data;

enum { S_MAX = 48 };

static int twin_data_open(twin_data *t, lv_backend *cpu, lv_backend *dev, const lv_dataset *ds) {
    memset(t, 0, sizeof *t);
    t->cpu = cpu;
    t->dev = dev;
    size_t xn = (size_t)B * ds->p * S_MAX * S_MAX;
    lv_preproc pp;
    lv_preproc_default(&pp);
    pp.mean[0] = 0.45f;
    pp.std[0] = 0.3f;
    if (lv_preproc_plan_make(&t->plan, &pp, ds) != LV_OK || lv_device_data_create(&t->dc, cpu, ds) != LV_OK ||
        lv_device_data_create(&t->dd, dev, ds) != LV_OK) {
        lv_test_fail("device data: %s", lv_error_message());
        return 0;
    }
    t->xc = cpu->alloc(cpu, xn * sizeof(float));
    t->xd = dev->alloc(dev, xn * sizeof(float));
    t->yc = cpu->alloc(cpu, B * sizeof(int32_t));
    t->yd = dev->alloc(dev, B * sizeof(int32_t));
    t->host = malloc(xn * sizeof(float));
    t->yhost = malloc(B * sizeof(int32_t));
    if (!t->xc || !t->xd || !t->yc || !t->yd || !t->host || !t->yhost) {
        lv_test_fail("out of memory for the batches");
        return 0;
    }
    return 1;
}

static void twin_data_close(twin_data *t) {
    if (t->xc) t->cpu->free(t->cpu, t->xc);
    if (t->yc) t->cpu->free(t->cpu, t->yc);
    if (t->xd) t->dev->free(t->dev, t->xd);
    if (t->yd) t->dev->free(t->dev, t->yd);
    lv_device_data_destroy(t->dc);
    lv_device_data_destroy(t->dd);
    free(t->host);
    free(t->yhost);
}

/* EPOCHS epochs of batches of B samples in a scrambled order (the last one short), rendered on
 * both sides; worst relative error over every batch, labels compared exactly. */
static void compare(twin_data *t, const char *what, int p, const lv_augment_opts *aug, int s, double rtol) {
    size_t per = (size_t)p * s * s;
    double worst = 0;
    int labels_ok = 1, batches = 0, exact = 1;
    for (int e = 0; e < EPOCHS; e++) {
        for (int start = 0; start < N; start += B) {
            int n = N - start < B ? N - start : B;
            int64_t idx[B], keys[B];
            for (int i = 0; i < n; i++) {
                idx[i] = ((int64_t)(start + i) * 17 + e * 5) % N;
                keys[i] = e % 2 ? (int64_t)(start + i) : idx[i]; /* positions (balanced) or indices */
            }
            uint64_t seed = 99;
            lv_status sc = lv_device_data_render(t->dc, t->xc, t->yc, idx, keys, n, &t->plan, aug, s, seed, (uint64_t)e);
            lv_status sd = lv_device_data_render(t->dd, t->xd, t->yd, idx, keys, n, &t->plan, aug, s, seed, (uint64_t)e);
            if (sc != LV_OK || sd != LV_OK || lv_twin_sync(t->dev, what)) {
                lv_test_fail("%s: render: %s", what, lv_error_message());
                return;
            }
            t->dev->copy_d2h(t->dev, t->host, t->xd, (size_t)n * per * sizeof(float));
            t->dev->copy_d2h(t->dev, t->yhost, t->yd, (size_t)n * sizeof(int32_t));
            if (lv_twin_sync(t->dev, what)) return;
            double maxw = 1e-30, maxd = 0;
            for (size_t k = 0; k < (size_t)n * per; k++) {
                double w = t->xc[k] < 0 ? -(double)t->xc[k] : t->xc[k];
                double d = (double)t->host[k] - (double)t->xc[k];
                if (d < 0) d = -d;
                if (w > maxw) maxw = w;
                if (d > maxd || d != d) maxd = d != d ? 1e30 : d;
            }
            exact &= memcmp(t->host, t->xc, (size_t)n * per * sizeof(float)) == 0;
            if (maxd / maxw > worst) worst = maxd / maxw;
            labels_ok &= memcmp(t->yhost, t->yc, (size_t)n * sizeof(int32_t)) == 0;
            batches++;
        }
    }
    char msg[256];
    snprintf(msg, sizeof msg, "%s: %d batches, worst relative error %.3g (<= %g)%s", what, batches, worst, rtol,
             exact ? ", bit-identical" : "");
    if (worst <= rtol) lv_test_pass("%s", msg);
    else lv_test_fail("%s", msg);
    snprintf(msg, sizeof msg, "%s: labels gathered on the device", what);
    lv_test_true(labels_ok, msg);
}

static void train_opts(lv_augment_opts *o) {
    lv_augment_opts_default(o);
    o->noise_p = 0.8f;
    o->noise_std = 0.05f;
    o->hu_offset = 25.0f;
    o->contrast = 0.2f;
}

static void run_dataset(lv_backend *cpu, lv_backend *dev, int p, lv_pixel_type t, const char *name) {
    lv_dataset ds;
    if (!make_ds(&ds, p, t)) return;
    twin_data td;
    char what[160];
    if (twin_data_open(&td, cpu, dev, &ds)) {
        lv_augment_opts o;
        train_opts(&o);
        snprintf(what, sizeof what, "%s train, every augmentation, edge border, 32x32 crop", name);
        compare(&td, what, p, &o, 32, RTOL);
        o.border = LV_BORDER_CONSTANT;
        o.rotate_deg = 60.0f;
        o.scale = 0.4f;
        o.translate = 0.25f;
        o.noise_p = 1.0f;
        snprintf(what, sizeof what, "%s train, strong warps, constant border, 45x45 (larger than the image)", name);
        compare(&td, what, p, &o, 45, RTOL);
        train_opts(&o);
        o.rotate_deg = 0.0f;
        o.noise_std = 0.0f;
        snprintf(what, sizeof what, "%s train, zoom and shift without rotation or noise, 31x31", name);
        compare(&td, what, p, &o, 31, RTOL);
        o.scale = 0.0f;
        o.translate = 0.0f;
        snprintf(what, sizeof what, "%s train, integer maps (flips, quarter turns, crops, jitter), no noise: exact",
                 name);
        compare(&td, what, p, &o, 29, 0.0);
        o.border = LV_BORDER_CONSTANT;
        snprintf(what, sizeof what, "%s train, integer maps with constant padding, 47x47: exact", name);
        compare(&td, what, p, &o, 47, 0.0);
        lv_augment_opts_eval(&o);
        snprintf(what, sizeof what, "%s eval, centre crop 33x33: exact", name);
        compare(&td, what, p, &o, 33, 0.0);
        snprintf(what, sizeof what, "%s eval, padded centre 48x48: exact", name);
        compare(&td, what, p, &o, 48, 0.0);
    }
    twin_data_close(&td);
    lv_dataset_free(&ds);
}

static void test_errors(lv_backend *dev) {
    lv_dataset ds;
    if (!make_ds(&ds, 2, LV_PIX_I16)) return;
    lv_device_data *dd = NULL;
    if (lv_device_data_create(&dd, dev, &ds) != LV_OK) {
        lv_test_fail("create: %s", lv_error_message());
        lv_dataset_free(&ds);
        return;
    }
    lv_preproc pp;
    lv_preproc_default(&pp);
    lv_preproc_plan plan;
    lv_preproc_plan_make(&plan, &pp, &ds);
    lv_augment_opts aug;
    lv_augment_opts_default(&aug);
    float *x = dev->alloc(dev, 2 * 2 * 16 * 16 * sizeof(float));
    int32_t *y = dev->alloc(dev, 2 * sizeof(int32_t));
    int64_t bad[2] = {3, N}, keys[2] = {0, 1};
    lv_status s = lv_device_data_render(dd, x, y, bad, keys, 2, &plan, &aug, 16, 1, 0);
    lv_test_true(s == LV_ERR_USAGE && strstr(lv_error_message(), "outside"), "device: an index past the end is refused");
    lv_test_true(lv_device_data_render(dd, x, y, NULL, NULL, 0, &plan, &aug, 16, 1, 0) == LV_OK,
                 "device: an empty batch is fine");
    lv_test_true(lv_twin_sync(dev, "after refused renders") == 0, "device: refused renders leave no sticky error");
    if (dev->kind == LV_DEVICE_CUDA) {
        size_t fr = 0, tot = 0;
        s = lv_cuda_mem_info(dev, &fr, &tot);
        lv_test_true(s == LV_OK && fr > 0 && tot >= fr, "device memory query");
        printf("device memory: %.0f MiB free of %.0f MiB\n", (double)fr / 1048576.0, (double)tot / 1048576.0);
    } else {
        lv_test_true(lv_cuda_mem_info(dev, NULL, NULL) != LV_OK, "memory query refuses a CPU backend");
    }
    dev->free(dev, x);
    dev->free(dev, y);
    lv_device_data_destroy(dd);
    lv_dataset_free(&ds);
}

int main(void) {
    lv_backend *cpu = NULL, *dev = NULL;
    int rc = lv_twin_open(&cpu, &dev);
    if (rc) return rc;
    run_dataset(cpu, dev, 3, LV_PIX_I16, "int16 HU");
    run_dataset(cpu, dev, 2, LV_PIX_U8, "uint8");
    run_dataset(cpu, dev, 1, LV_PIX_F32, "float32");
    test_errors(dev);
    return lv_twin_close(cpu, dev);
}
