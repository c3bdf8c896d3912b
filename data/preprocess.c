/* Preprocessing settings: defaults, resolution against a dataset, fitting per-phase
 * statistics, the JSON form stored in checkpoints, and the raw -> float row kernel.
 * No randomness here: augmentation (augment.c) adds jitter through the same row kernel. */
#include "preprocess.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

void lv_preproc_default(lv_preproc *pp) {
    memset(pp, 0, sizeof *pp);
    pp->scaling = LV_SCALE_AUTO;
    pp->lo = LV_PREPROC_DEFAULT_LO;
    pp->hi = LV_PREPROC_DEFAULT_HI;
    pp->n_stats = 1;
    for (int i = 0; i < LV_MAX_PHASES; i++) {
        pp->mean[i] = LV_PREPROC_DEFAULT_MEAN;
        pp->std[i] = LV_PREPROC_DEFAULT_STD;
    }
}

const char *lv_scaling_name(lv_scaling s) {
    switch (s) {
    case LV_SCALE_WINDOW: return "window";
    case LV_SCALE_U8: return "divide255";
    case LV_SCALE_NONE: return "none";
    default: return "auto";
    }
}

static int scaling_parse(const char *name, lv_scaling *out) {
    for (int s = LV_SCALE_AUTO; s <= LV_SCALE_NONE; s++)
        if (!strcmp(name, lv_scaling_name((lv_scaling)s))) {
            *out = (lv_scaling)s;
            return 1;
        }
    return 0;
}

/* Values a user may have set by hand: checked wherever a preproc enters (resolve, JSON). */
static lv_status check_values(const lv_preproc *pp, const char *where) {
    LV_CHECK(pp->scaling >= LV_SCALE_AUTO && pp->scaling <= LV_SCALE_NONE, LV_ERR_INPUT,
             "%s: scaling: expected auto, window, divide255 or none, found code %d", where, (int)pp->scaling);
    LV_CHECK(isfinite(pp->lo) && isfinite(pp->hi) && pp->hi > pp->lo, LV_ERR_INPUT,
             "%s: window: expected finite [lo, hi] with hi > lo, found [%g, %g]", where, (double)pp->lo,
             (double)pp->hi);
    LV_CHECK(pp->n_stats >= 1 && pp->n_stats <= LV_MAX_PHASES, LV_ERR_INPUT,
             "%s: mean/std: expected 1..%d values, found %d", where, LV_MAX_PHASES, pp->n_stats);
    for (int i = 0; i < pp->n_stats; i++) {
        LV_CHECK(isfinite(pp->mean[i]), LV_ERR_INPUT, "%s: mean[%d]: expected a finite number, found %g", where,
                 i, (double)pp->mean[i]);
        LV_CHECK(isfinite(pp->std[i]) && pp->std[i] > 0, LV_ERR_INPUT,
                 "%s: std[%d]: expected a finite number > 0, found %g", where, i, (double)pp->std[i]);
    }
    return LV_OK;
}

lv_status lv_preproc_resolve(lv_preproc *pp, const lv_dataset *ds) {
    const char *src = ds->path ? ds->path : "dataset";
    LV_TRY(check_values(pp, "preprocessing"));
    lv_preproc r = *pp;
    if (r.scaling == LV_SCALE_AUTO)
        r.scaling = ds->hu ? LV_SCALE_WINDOW : ds->pixel == LV_PIX_U8 ? LV_SCALE_U8 : LV_SCALE_NONE;
    if (r.n_stats == 1) {
        for (int i = 1; i < ds->p; i++) r.mean[i] = r.mean[0], r.std[i] = r.std[0];
        r.n_stats = ds->p;
    }
    LV_CHECK(r.n_stats == ds->p, LV_ERR_INPUT,
             "preprocessing: mean/std have %d per-phase values but %s has %d phases (expected 1 or %d)",
             r.n_stats, src, ds->p, ds->p);
    *pp = r;
    return LV_OK;
}

lv_status lv_preproc_plan_make(lv_preproc_plan *plan, const lv_preproc *pp, const lv_dataset *ds) {
    lv_preproc r = *pp;
    LV_TRY(lv_preproc_resolve(&r, ds));
    memset(plan, 0, sizeof *plan);
    plan->p = ds->p;
    plan->clamp = r.scaling == LV_SCALE_WINDOW;
    plan->shift = r.scaling == LV_SCALE_WINDOW ? r.lo : 0.0f;
    plan->scale = r.scaling == LV_SCALE_WINDOW ? 1.0f / (r.hi - r.lo) : r.scaling == LV_SCALE_U8 ? 1.0f / 255.0f : 1.0f;
    for (int i = 0; i < ds->p; i++) {
        plan->mean[i] = r.mean[i];
        plan->istd[i] = 1.0f / r.std[i];
    }
    return LV_OK;
}

/* One loop per dtype so each is a plain convert + fma + clamp the compiler vectorizes. */
#define MAP_LOOP(T)                                                                               \
    do {                                                                                          \
        const T *s = (const T *)src + off;                                                        \
        if (clamp) {                                                                              \
            for (int i = 0; i < n; i++) {                                                         \
                float u = ((float)s[i] - shift) * a + b;                                          \
                dst[i] = u < 0.0f ? 0.0f : u > 1.0f ? 1.0f : u;                                   \
            }                                                                                     \
        } else {                                                                                  \
            for (int i = 0; i < n; i++) dst[i] = ((float)s[i] - shift) * a + b;                   \
        }                                                                                         \
    } while (0)

void lv_preproc_map_row(const void *src, lv_pixel_type t, size_t off, int n, float shift, float a,
                        float b, int clamp, float *dst) {
    if (t == LV_PIX_I16) MAP_LOOP(int16_t);
    else if (t == LV_PIX_U8) MAP_LOOP(uint8_t);
    else MAP_LOOP(float);
}

void lv_preproc_apply(const lv_preproc_plan *plan, const void *raw, lv_pixel_type t, int h, int w,
                      float *out) {
    size_t hw = (size_t)h * (size_t)w;
    for (int p = 0; p < plan->p; p++) {
        float *o = out + (size_t)p * hw;
        lv_preproc_map_row(raw, t, (size_t)p * hw, (int)hw, plan->shift, plan->scale, 0.0f, plan->clamp, o);
        float m = plan->mean[p], is = plan->istd[p];
        for (size_t i = 0; i < hw; i++) o[i] = (o[i] - m) * is;
    }
}

lv_status lv_preproc_fit(lv_preproc *pp, const lv_dataset *ds, const int64_t *indices, int64_t count,
                         int64_t max_samples) {
    const char *src = ds->path ? ds->path : "dataset";
    if (!indices) count = ds->n;
    LV_CHECK(count >= 1, LV_ERR_INPUT, "preprocessing fit on %s: no samples selected", src);
    lv_preproc r = *pp;
    LV_TRY(lv_preproc_resolve(&r, ds));
    lv_preproc_plan plan;
    LV_TRY(lv_preproc_plan_make(&plan, &r, ds));
    int64_t take = max_samples > 0 && max_samples < count ? max_samples : count;
    size_t hw = (size_t)ds->h * (size_t)ds->w;
    void *raw = malloc(lv_dataset_sample_bytes(ds));
    float *row = malloc(hw * sizeof *row);
    double sum[LV_MAX_PHASES] = {0}, sq[LV_MAX_PHASES] = {0};
    lv_status st = raw && row ? LV_OK : lv_errorf(LV_ERR_RUNTIME, "preprocessing fit: out of memory");
    for (int64_t k = 0; k < take && st == LV_OK; k++) {
        int64_t at = take == count ? k : (int64_t)((double)k * (double)count / (double)take);
        int64_t idx = indices ? indices[at] : at;
        if (idx < 0 || idx >= ds->n) {
            st = lv_errorf(LV_ERR_INPUT, "preprocessing fit on %s: sample index %" PRId64 " outside [0,%" PRId64 ")",
                           src, idx, ds->n);
            break;
        }
        if ((st = lv_dataset_read_raw(ds, idx, raw)) != LV_OK) break;
        for (int p = 0; p < ds->p; p++) {
            lv_preproc_map_row(raw, ds->pixel, (size_t)p * hw, (int)hw, plan.shift, plan.scale, 0.0f, plan.clamp, row);
            /* Per-sample partial sums keep the double accumulation short and order-fixed. */
            double s1 = 0, s2 = 0;
            for (size_t i = 0; i < hw; i++) s1 += row[i], s2 += (double)row[i] * row[i];
            sum[p] += s1;
            sq[p] += s2;
        }
    }
    free(raw);
    free(row);
    if (st != LV_OK) return lv_error_wrap(st, "preprocessing fit");
    double n = (double)take * (double)hw;
    for (int p = 0; p < ds->p; p++) {
        double m = sum[p] / n, var = sq[p] / n - m * m;
        double sd = var > 0 ? sqrt(var) : 0;
        r.mean[p] = (float)m;
        r.std[p] = sd > 1e-6 ? (float)sd : 1.0f;
    }
    r.n_stats = ds->p;
    *pp = r;
    return LV_OK;
}

void *lv_preproc_to_cjson(const lv_preproc *pp) {
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    int n = pp->n_stats >= 1 && pp->n_stats <= LV_MAX_PHASES ? pp->n_stats : 1;
    cJSON *win = cJSON_CreateArray(), *mean = cJSON_CreateArray(), *sd = cJSON_CreateArray();
    int ok = win && mean && sd && cJSON_AddStringToObject(o, "scaling", lv_scaling_name(pp->scaling)) != NULL;
    ok = ok && cJSON_AddItemToArray(win, cJSON_CreateNumber(pp->lo)) && cJSON_AddItemToArray(win, cJSON_CreateNumber(pp->hi));
    for (int i = 0; ok && i < n; i++)
        ok = cJSON_AddItemToArray(mean, cJSON_CreateNumber(pp->mean[i])) &&
             cJSON_AddItemToArray(sd, cJSON_CreateNumber(pp->std[i]));
    if (!ok) {
        cJSON_Delete(win);
        cJSON_Delete(mean);
        cJSON_Delete(sd);
        cJSON_Delete(o);
        return NULL;
    }
    cJSON_AddItemToObject(o, "window", win);
    cJSON_AddItemToObject(o, "mean", mean);
    cJSON_AddItemToObject(o, "std", sd);
    return o;
}

char *lv_preproc_to_json(const lv_preproc *pp) {
    cJSON *o = lv_preproc_to_cjson(pp);
    if (!o) return NULL;
    char *txt = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!txt) return NULL;
    /* cJSON's allocator may differ from malloc under cJSON_InitHooks: hand back our own copy. */
    char *out = strdup(txt);
    cJSON_free(txt);
    return out;
}

static const char *json_type(const cJSON *v) {
    if (cJSON_IsNumber(v)) return "a number";
    if (cJSON_IsString(v)) return "a string";
    if (cJSON_IsArray(v)) return "an array";
    if (cJSON_IsObject(v)) return "an object";
    if (cJSON_IsBool(v)) return "a boolean";
    if (cJSON_IsNull(v)) return "null";
    return "an invalid value";
}

/* Reads an array of 1..max numbers that fit a float into out; returns the count in *n. */
static lv_status number_array(const cJSON *v, const char *where, const char *key, int lo, int max, float *out,
                              int *n) {
    LV_CHECK(cJSON_IsArray(v), LV_ERR_INPUT, "%s: \"%s\": expected an array of numbers, found %s", where, key,
             json_type(v));
    int len = cJSON_GetArraySize(v);
    if (lo == max)
        LV_CHECK(len == lo, LV_ERR_INPUT, "%s: \"%s\": expected %d numbers, found %d", where, key, lo, len);
    LV_CHECK(len >= lo && len <= max, LV_ERR_INPUT, "%s: \"%s\": expected %d..%d numbers, found %d", where, key,
             lo, max, len);
    int i = 0;
    for (const cJSON *e = v->child; e; e = e->next, i++) {
        LV_CHECK(cJSON_IsNumber(e), LV_ERR_INPUT, "%s: \"%s\"[%d]: expected a number, found %s", where, key, i,
                 json_type(e));
        double d = e->valuedouble;
        LV_CHECK(isfinite(d) && fabs(d) <= 3.0e38, LV_ERR_INPUT, "%s: \"%s\"[%d]: expected a finite float, found %g",
                 where, key, i, d);
        out[i] = (float)d;
    }
    *n = len;
    return LV_OK;
}

lv_status lv_preproc_from_cjson(lv_preproc *pp, const void *cjson_obj, const char *where) {
    const cJSON *o = (const cJSON *)cjson_obj;
    if (!where) where = "preprocessing";
    LV_CHECK(cJSON_IsObject(o), LV_ERR_INPUT, "%s: expected a JSON object, found %s", where, json_type(o));
    lv_preproc r;
    lv_preproc_default(&r);
    int n_mean = 0, n_std = 0;
    for (const cJSON *e = o->child; e; e = e->next) {
        const char *k = e->string ? e->string : "";
        if (!strcmp(k, "scaling")) {
            LV_CHECK(cJSON_IsString(e), LV_ERR_INPUT, "%s: \"scaling\": expected a string, found %s", where,
                     json_type(e));
            LV_CHECK(scaling_parse(e->valuestring, &r.scaling), LV_ERR_INPUT,
                     "%s: \"scaling\": expected auto, window, divide255 or none, found \"%s\"", where, e->valuestring);
        } else if (!strcmp(k, "window")) {
            float w[2];
            int n = 0;
            LV_TRY(number_array(e, where, k, 2, 2, w, &n));
            r.lo = w[0];
            r.hi = w[1];
        } else if (!strcmp(k, "mean")) {
            LV_TRY(number_array(e, where, k, 1, LV_MAX_PHASES, r.mean, &n_mean));
        } else if (!strcmp(k, "std")) {
            LV_TRY(number_array(e, where, k, 1, LV_MAX_PHASES, r.std, &n_std));
        } else {
            return lv_errorf(LV_ERR_INPUT, "%s: unknown key \"%s\" (expected scaling, window, mean, std)", where, k);
        }
    }
    if (n_mean || n_std) {
        /* One given alone pairs with the other's default, which fills every phase. */
        if (!n_mean) n_mean = n_std;
        if (!n_std) n_std = n_mean;
        LV_CHECK(n_mean == n_std, LV_ERR_INPUT, "%s: \"mean\" has %d values but \"std\" has %d (expected equal)",
                 where, n_mean, n_std);
        r.n_stats = n_mean;
    }
    LV_TRY(check_values(&r, where));
    *pp = r;
    return LV_OK;
}

lv_status lv_preproc_from_json(lv_preproc *pp, const char *json, const char *where) {
    if (!where) where = "preprocessing";
    LV_CHECK(json != NULL, LV_ERR_INPUT, "%s: no JSON text", where);
    cJSON *o = cJSON_Parse(json);
    if (!o) {
        const char *at = cJSON_GetErrorPtr();
        long off = at && at >= json ? (long)(at - json) : -1;
        return lv_errorf(LV_ERR_INPUT, "%s: not valid JSON (error near byte %ld)", where, off);
    }
    lv_status st = lv_preproc_from_cjson(pp, o, where);
    cJSON_Delete(o);
    return st;
}
