/* On-device data (see device_data.h): one upload of the raw pixels and labels, then per batch
 * the loader's own render loop on the CPU backend or the cuda/augment.cu kernel on CUDA. The
 * CPU path must stay the exact loop of data/loader.c's fill(), so the two paths can be tested
 * bit for bit; it draws nothing itself (parameters and noise come from augment.h). */
#include "device_data.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "cuda/cuda_data.h"

#define DD_MAX_BATCH (1 << 20) /* the loader's batch limit */
#define DD_MAX_SIDE 8192       /* the loader's out_size limit */

struct lv_device_data {
    lv_backend *be;
    void *images;    /* backend [n, p, h, w] of pixel */
    int32_t *labels; /* backend [n] */
    int64_t n;
    int p, h, w;
    lv_pixel_type pixel;
    size_t bytes;    /* images + labels */
    float *scratch;  /* CPU backend: [nthreads, h*w], made on the first render */
    int nthreads;
};

/* "12.3 MiB", "1.5 GiB", or plain bytes below a MiB (where MiB would round both sides alike). */
typedef struct size_text {
    char s[32];
} size_text;
static size_text size_str(size_t b) {
    size_text t;
    if (b >= ((size_t)1 << 30)) snprintf(t.s, sizeof t.s, "%.2f GiB", (double)b / (1024.0 * 1024.0 * 1024.0));
    else if (b >= ((size_t)1 << 20)) snprintf(t.s, sizeof t.s, "%.1f MiB", (double)b / (1024.0 * 1024.0));
    else snprintf(t.s, sizeof t.s, "%zu bytes", b);
    return t;
}

static const char *name_of(const lv_dataset *ds) { return ds->path ? ds->path : "dataset"; }

size_t lv_device_data_bytes(const lv_dataset *ds) {
    if (!ds || ds->n < 1 || ds->p < 1 || ds->p > LV_MAX_PHASES || ds->h < 1 || ds->w < 1) return 0;
    size_t per = lv_pixel_size(ds->pixel);
    size_t dims[3] = {(size_t)ds->p, (size_t)ds->h, (size_t)ds->w};
    for (int i = 0; i < 3; i++) {
        if (per > SIZE_MAX / dims[i]) return 0;
        per *= dims[i];
    }
    size_t n = (size_t)ds->n;
    if ((uint64_t)ds->n > (uint64_t)SIZE_MAX || per + sizeof(int32_t) < per || n > SIZE_MAX / (per + sizeof(int32_t)))
        return 0;
    return n * (per + sizeof(int32_t));
}

lv_status lv_device_data_fits(const lv_dataset *ds, size_t budget) {
    LV_CHECK(ds, LV_ERR_USAGE, "device data: no data set");
    const char *src = name_of(ds);
    LV_CHECK(ds->images, LV_ERR_INPUT,
             "device data: %s is streamed from disk, not held in memory (only in-memory data are uploaded)", src);
    LV_CHECK(ds->labels, LV_ERR_INPUT, "device data: %s has no labels", src);
    size_t need = lv_device_data_bytes(ds);
    LV_CHECK(need > 0, LV_ERR_INPUT, "device data: %s: shape [%" PRId64 ",%d,%d,%d] of %s cannot be uploaded", src,
             ds->n, ds->p, ds->h, ds->w, lv_pixel_name(ds->pixel));
    LV_CHECK(need <= budget, LV_ERR_INPUT,
             "device data: %s needs %s (%" PRId64 " samples of %dx%dx%d %s, and labels) but the budget is %s", src,
             size_str(need).s, ds->n, ds->p, ds->h, ds->w, lv_pixel_name(ds->pixel), size_str(budget).s);
    return LV_OK;
}

void lv_device_data_destroy(lv_device_data *dd) {
    if (!dd) return;
    if (dd->images) dd->be->free(dd->be, dd->images);
    if (dd->labels) dd->be->free(dd->be, dd->labels);
    free(dd->scratch);
    free(dd);
}

/* A failed backend allocation left a sticky error: take it (so the backend stays usable) and
 * report it with what was being allocated. */
static lv_status alloc_failed(lv_device_data *dd, const lv_dataset *ds, size_t bytes) {
    lv_status st = dd->be->sync(dd->be);
    if (st != LV_OK)
        return lv_error_wrap(LV_ERR_RUNTIME, "device data: uploading %s (%s) to the %s backend", name_of(ds),
                             size_str(bytes).s, dd->be->name);
    return lv_errorf(LV_ERR_RUNTIME, "device data: uploading %s: the %s backend has no %s free", name_of(ds),
                     dd->be->name, size_str(bytes).s);
}

lv_status lv_device_data_create(lv_device_data **out, lv_backend *be, const lv_dataset *ds) {
    LV_CHECK(out, LV_ERR_USAGE, "device data: no output pointer");
    *out = NULL;
    LV_CHECK(be, LV_ERR_USAGE, "device data: no backend");
    LV_TRY(lv_device_data_fits(ds, SIZE_MAX));
    lv_device_data *dd = calloc(1, sizeof *dd);
    LV_CHECK_ALLOC(dd);
    dd->be = be;
    dd->n = ds->n;
    dd->p = ds->p;
    dd->h = ds->h;
    dd->w = ds->w;
    dd->pixel = ds->pixel;
    dd->bytes = lv_device_data_bytes(ds);
    size_t img = (size_t)ds->n * lv_dataset_sample_bytes(ds), lab = (size_t)ds->n * sizeof(int32_t);
    dd->images = be->alloc(be, img);
    if (!dd->images) {
        lv_status st = alloc_failed(dd, ds, dd->bytes);
        lv_device_data_destroy(dd);
        return st;
    }
    dd->labels = be->alloc(be, lab);
    if (!dd->labels) {
        lv_status st = alloc_failed(dd, ds, dd->bytes);
        lv_device_data_destroy(dd);
        return st;
    }
    be->copy_h2d(be, dd->images, ds->images, img);
    be->copy_h2d(be, dd->labels, ds->labels, lab);
    lv_status st = be->sync(be);
    if (st != LV_OK) {
        st = lv_error_wrap(st, "device data: uploading %s (%s)", name_of(ds), size_str(dd->bytes).s);
        lv_device_data_destroy(dd);
        return st;
    }
    *out = dd;
    return LV_OK;
}

int64_t lv_device_data_count(const lv_device_data *dd) { return dd ? dd->n : 0; }
size_t lv_device_data_size(const lv_device_data *dd) { return dd ? dd->bytes : 0; }

/* data/loader.c's fill() render loop, on backend memory that is host memory. */
static lv_status render_cpu(lv_device_data *dd, float *x, int32_t *y, const int64_t *indices, const int64_t *keys,
                            int n, const lv_preproc_plan *plan, const lv_augment_opts *aug, int s, uint64_t seed,
                            uint64_t epoch) {
    size_t hw = (size_t)dd->h * (size_t)dd->w, per = (size_t)dd->p * (size_t)s * (size_t)s;
    size_t bytes = (size_t)dd->p * hw * lv_pixel_size(dd->pixel);
    if (!dd->scratch) {
        int nt = 1;
#ifdef _OPENMP
        nt = dd->be->threads > 0 ? dd->be->threads : omp_get_max_threads();
#endif
        dd->scratch = malloc((size_t)nt * hw * sizeof *dd->scratch);
        LV_CHECK(dd->scratch, LV_ERR_RUNTIME, "device data: out of memory for %d render buffers of %zu floats", nt,
                 hw);
        dd->nthreads = nt;
    }
    const unsigned char *images = dd->images;
    int p = dd->p, h = dd->h, w = dd->w;
    lv_pixel_type t = dd->pixel;
#pragma omp parallel for num_threads(dd->nthreads) schedule(dynamic, 1)
    for (int i = 0; i < n; i++) {
        int tid = 0;
#ifdef _OPENMP
        tid = omp_get_thread_num();
#endif
        lv_augment_params prm;
        uint64_t key = (uint64_t)keys[i];
        lv_augment_draw(aug, p, h, w, s, seed, epoch, key, &prm);
        lv_augment_render(plan, &prm, images + (size_t)indices[i] * bytes, t, h, w, s, seed, epoch, key,
                          x + (size_t)i * per, dd->scratch + (size_t)tid * hw);
        y[i] = dd->labels[indices[i]];
    }
    return LV_OK;
}

lv_status lv_device_data_render(lv_device_data *dd, float *x_dev, int32_t *y_dev, const int64_t *indices,
                                const int64_t *keys, int n, const lv_preproc_plan *plan, const lv_augment_opts *aug,
                                int s, uint64_t seed, uint64_t epoch) {
    LV_CHECK(dd, LV_ERR_USAGE, "device data render: no device data");
    LV_CHECK(plan && aug, LV_ERR_USAGE, "device data render: missing preprocessing plan or augmentation options");
    LV_CHECK(n >= 0 && n <= DD_MAX_BATCH, LV_ERR_USAGE, "device data render: batch of %d samples: expected 0..%d", n,
             DD_MAX_BATCH);
    LV_CHECK(s >= 1 && s <= DD_MAX_SIDE, LV_ERR_USAGE, "device data render: output side %d: expected 1..%d", s,
             DD_MAX_SIDE);
    LV_CHECK(plan->p == dd->p, LV_ERR_USAGE,
             "device data render: preprocessing plan for %d phases, but the data have %d", plan->p, dd->p);
    if (aug->enabled) LV_TRY(lv_augment_opts_check(aug, "device data render: augmentation"));
    if (n == 0) return LV_OK;
    LV_CHECK(x_dev && y_dev && indices && keys, LV_ERR_USAGE,
             "device data render: missing %s", !x_dev ? "image buffer" : !y_dev ? "label buffer"
                                               : !indices ? "indices" : "augmentation keys");
    for (int i = 0; i < n; i++)
        LV_CHECK(indices[i] >= 0 && indices[i] < dd->n, LV_ERR_USAGE,
                 "device data render: batch sample %d: index %" PRId64 " outside [0,%" PRId64 ")", i, indices[i],
                 dd->n);
    if (dd->be->kind == LV_DEVICE_CPU)
        return render_cpu(dd, x_dev, y_dev, indices, keys, n, plan, aug, s, seed, epoch);
    lv_cuda_raw raw = {dd->images, dd->labels, dd->n, dd->p, dd->h, dd->w, dd->pixel};
    return lv_cuda_augment_render(dd->be, &raw, indices, keys, n, plan, aug, s, seed, epoch, x_dev, y_dev);
}
