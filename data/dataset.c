/* lv_dataset bookkeeping: allocation with overflow checks, names, patient ids made dense.
 * No I/O here; sources (HDF5, phantom, packer) fill the struct. */
#include "dataset.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t lv_pixel_size(lv_pixel_type t) { return t == LV_PIX_I16 ? 2 : t == LV_PIX_U8 ? 1 : 4; }

const char *lv_pixel_name(lv_pixel_type t) {
    return t == LV_PIX_I16 ? "int16" : t == LV_PIX_U8 ? "uint8" : "float32";
}

void lv_dataset_init(lv_dataset *ds) { memset(ds, 0, sizeof *ds); }

static void free_strs(char **s, int64_t n) {
    if (!s) return;
    for (int64_t i = 0; i < n; i++) free(s[i]);
}

void lv_dataset_free(lv_dataset *ds) {
    if (ds->source_free && ds->source) ds->source_free(ds->source);
    free(ds->path);
    free(ds->images);
    free(ds->labels);
    free(ds->patients);
    free_strs(ds->patient_ids, ds->n_patients);
    free(ds->patient_ids);
    free(ds->lesions);
    free_strs(ds->reports, ds->reports ? ds->n : 0);
    free(ds->reports);
    free(ds->split);
    free_strs(ds->classes, ds->c);
    free_strs(ds->phases, ds->p);
    lv_dataset_init(ds);
}

size_t lv_dataset_sample_bytes(const lv_dataset *ds) {
    return (size_t)ds->p * (size_t)ds->h * (size_t)ds->w * lv_pixel_size(ds->pixel);
}

lv_status lv_dataset_alloc(lv_dataset *ds, int64_t n, int p, int h, int w, lv_pixel_type pixel) {
    LV_CHECK(n >= 1 && p >= 1 && p <= LV_MAX_PHASES && h >= 1 && w >= 1, LV_ERR_INPUT,
             "dataset shape [%" PRId64 ",%d,%d,%d]: expected N >= 1, 1 <= P <= %d, H, W >= 1", n, p,
             h, w, LV_MAX_PHASES);
    size_t per = (size_t)p * (size_t)h * (size_t)w * lv_pixel_size(pixel);
    LV_CHECK((uint64_t)n <= SIZE_MAX / per, LV_ERR_INPUT, "dataset of %" PRId64 " samples overflows memory size", n);
    ds->n = n;
    ds->p = p;
    ds->h = h;
    ds->w = w;
    ds->pixel = pixel;
    ds->hu = pixel == LV_PIX_I16;
    ds->images = calloc((size_t)n, per);
    ds->labels = calloc((size_t)n, sizeof *ds->labels);
    if (!ds->images || !ds->labels)
        return lv_errorf(LV_ERR_RUNTIME, "dataset: out of memory for %" PRId64 " samples of %zu bytes", n, per);
    return LV_OK;
}

static char *dup_str(const char *s) {
    char *d = strdup(s ? s : "");
    return d;
}

lv_status lv_dataset_set_names(lv_dataset *ds, const char *const *classes, int c,
                               const char *const *phases, int p) {
    LV_CHECK(c >= 1 && c <= LV_MAX_CLASSES, LV_ERR_INPUT, "classes: expected 1..%d names, found %d", LV_MAX_CLASSES, c);
    LV_CHECK(p >= 1 && p <= LV_MAX_PHASES, LV_ERR_INPUT, "phases: expected 1..%d names, found %d", LV_MAX_PHASES, p);
    free_strs(ds->classes, ds->c);
    free_strs(ds->phases, ds->p);
    for (int i = 0; i < c; i++) {
        ds->classes[i] = dup_str(classes[i]);
        LV_CHECK_ALLOC(ds->classes[i]);
    }
    ds->c = c;
    for (int i = 0; i < p; i++) {
        ds->phases[i] = dup_str(phases[i]);
        LV_CHECK_ALLOC(ds->phases[i]);
    }
    ds->p = p;
    return LV_OK;
}

/* Dense ids in order of first appearance, so the index is stable for a given file. */
static lv_status set_patients(lv_dataset *ds, const int64_t *ints, const char *const *strs) {
    free(ds->patients);
    free_strs(ds->patient_ids, ds->n_patients);
    free(ds->patient_ids);
    ds->n_patients = 0;
    ds->patients = malloc((size_t)ds->n * sizeof *ds->patients);
    ds->patient_ids = calloc((size_t)ds->n, sizeof *ds->patient_ids);
    LV_CHECK_ALLOC(ds->patients);
    LV_CHECK_ALLOC(ds->patient_ids);
    /* Open-addressing hash from id text to dense index: files hold thousands of samples. */
    size_t cap = 16;
    while (cap < 2 * (size_t)ds->n) cap <<= 1;
    int32_t *slot = malloc(cap * sizeof *slot);
    LV_CHECK_ALLOC(slot);
    for (size_t i = 0; i < cap; i++) slot[i] = -1;
    for (int64_t i = 0; i < ds->n; i++) {
        char buf[32];
        const char *key = strs ? (strs[i] ? strs[i] : "") : buf;
        if (!strs) snprintf(buf, sizeof buf, "%" PRId64, ints[i]);
        uint64_t hsh = 1469598103934665603ull;
        for (const char *q = key; *q; q++) hsh = (hsh ^ (unsigned char)*q) * 1099511628211ull;
        size_t at = (size_t)hsh & (cap - 1);
        while (slot[at] >= 0 && strcmp(ds->patient_ids[slot[at]], key) != 0) at = (at + 1) & (cap - 1);
        if (slot[at] < 0) {
            ds->patient_ids[ds->n_patients] = dup_str(key);
            if (!ds->patient_ids[ds->n_patients]) {
                free(slot);
                return lv_errorf(LV_ERR_RUNTIME, "patients: out of memory");
            }
            slot[at] = ds->n_patients++;
        }
        ds->patients[i] = slot[at];
    }
    free(slot);
    return LV_OK;
}

lv_status lv_dataset_set_patients_int(lv_dataset *ds, const int64_t *ids) { return set_patients(ds, ids, NULL); }
lv_status lv_dataset_set_patients_str(lv_dataset *ds, const char *const *ids) { return set_patients(ds, NULL, ids); }

lv_status lv_dataset_read_raw(const lv_dataset *ds, int64_t index, void *dst) {
    LV_CHECK(index >= 0 && index < ds->n, LV_ERR_RUNTIME, "%s: sample %" PRId64 " outside [0,%" PRId64 ")",
             ds->path ? ds->path : "dataset", index, ds->n);
    size_t bytes = lv_dataset_sample_bytes(ds);
    if (ds->images) {
        memcpy(dst, (const char *)ds->images + (size_t)index * bytes, bytes);
        return LV_OK;
    }
    LV_CHECK(ds->read_sample != NULL, LV_ERR_RUNTIME, "%s: dataset has no pixels and no reader",
             ds->path ? ds->path : "dataset");
    return ds->read_sample(ds, index, dst);
}

int lv_dataset_class_index(const lv_dataset *ds, const char *name) {
    for (int i = 0; i < ds->c; i++)
        if (strcmp(ds->classes[i], name) == 0) return i;
    return -1;
}
