/* Preprocessing: auto scaling per dtype, exact numbers on known pixels (HU window, /255,
 * identity, per-phase mean/std), fitting statistics over a subset, and the JSON form's round
 * trip and its precise errors for wrong keys, types and values. LV_TEST_SANITIZE */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/preprocess.h"
#include "harness.h"

static const char *classes[] = {"A", "B"};
static const char *phases[] = {"NC", "ART", "PV"};

static void make(lv_dataset *ds, int64_t n, int p, int h, int w, lv_pixel_type t) {
    lv_dataset_init(ds);
    if (lv_dataset_alloc(ds, n, p, h, w, t) != LV_OK || lv_dataset_set_names(ds, classes, 2, phases, p) != LV_OK)
        lv_test_fail("dataset alloc: %s", lv_error_message());
}

/* Expects `json` to be rejected with a message containing `want`. */
static void bad_json(const char *json, const char *want) {
    lv_preproc pp;
    lv_preproc_default(&pp);
    pp.lo = 7; /* must survive a failed parse */
    lv_status st = lv_preproc_from_json(&pp, json, "config.json preprocess");
    const char *msg = lv_error_message();
    if (st == LV_ERR_INPUT && strstr(msg, want) && strstr(msg, "config.json preprocess") && pp.lo == 7)
        lv_test_pass("bad JSON %s -> %s", json, msg);
    else
        lv_test_fail("bad JSON %s: status %d, message '%s' (wanted '%s')", json, (int)st, msg, want);
}

int main(void) {
    lv_preproc pp;
    lv_preproc_default(&pp);
    lv_test_true(pp.scaling == LV_SCALE_AUTO && pp.lo == -100.0f && pp.hi == 250.0f && pp.n_stats == 1 &&
                     pp.mean[0] == 0.5f && pp.std[0] == 0.25f,
                 "defaults: auto, window [-100, 250], mean 0.5, std 0.25");

    /* HU int16: window then normalize. */
    lv_dataset ds;
    make(&ds, 1, 1, 1, 6, LV_PIX_I16);
    int16_t hu[6] = {-1000, -100, 75, 250, 3000, -30};
    memcpy(ds.images, hu, sizeof hu);
    lv_preproc r = pp;
    lv_test_true(lv_preproc_resolve(&r, &ds) == LV_OK && r.scaling == LV_SCALE_WINDOW && r.n_stats == 1,
                 "int16 HU resolves to window");
    lv_preproc_plan plan;
    float out[6];
    lv_test_true(lv_preproc_plan_make(&plan, &pp, &ds) == LV_OK, "plan for HU");
    lv_preproc_apply(&plan, ds.images, ds.pixel, 1, 6, out);
    float want_hu[6] = {-2, -2, 0, 2, 2, (70.0f / 350.0f - 0.5f) / 0.25f};
    lv_test_close("HU window [-100,250] clamps then (u-0.5)/0.25", out, want_hu, 6, 1e-6);
    lv_test_true(out[0] == -2.0f && out[3] == 2.0f && out[4] == 2.0f, "clamped ends are exact");
    lv_dataset_free(&ds);

    /* uint8: /255. */
    make(&ds, 1, 1, 1, 4, LV_PIX_U8);
    uint8_t u8[4] = {0, 51, 128, 255};
    memcpy(ds.images, u8, sizeof u8);
    r = pp;
    lv_test_true(lv_preproc_resolve(&r, &ds) == LV_OK && r.scaling == LV_SCALE_U8, "uint8 resolves to divide255");
    lv_preproc_plan_make(&plan, &pp, &ds);
    lv_preproc_apply(&plan, ds.images, ds.pixel, 1, 4, out);
    float want_u8[4] = {-2, (0.2f - 0.5f) * 4, (128.0f / 255 - 0.5f) * 4, 2};
    lv_test_close("uint8 /255 then (u-0.5)/0.25", out, want_u8, 4, 1e-6);
    lv_dataset_free(&ds);

    /* float32 raw: identity by default, window when asked; two phases with own mean/std. */
    make(&ds, 1, 2, 1, 3, LV_PIX_F32);
    float f[6] = {-1.5f, 0.0f, 2.5f, 100.0f, 200.0f, 300.0f};
    memcpy(ds.images, f, sizeof f);
    lv_preproc q = pp;
    q.n_stats = 2;
    q.mean[0] = 1.0f, q.std[0] = 2.0f;
    q.mean[1] = 0.25f, q.std[1] = 0.5f;
    r = q;
    lv_test_true(lv_preproc_resolve(&r, &ds) == LV_OK && r.scaling == LV_SCALE_NONE, "float32 resolves to none");
    lv_preproc_plan_make(&plan, &q, &ds);
    lv_preproc_apply(&plan, ds.images, ds.pixel, 1, 3, out);
    float want_f[6] = {-1.25f, -0.5f, 0.75f, 199.5f, 399.5f, 599.5f};
    lv_test_close("float32 identity with per-phase mean/std", out, want_f, 6, 1e-6);
    q.scaling = LV_SCALE_WINDOW;
    q.lo = 100, q.hi = 300;
    lv_preproc_plan_make(&plan, &q, &ds);
    lv_preproc_apply(&plan, ds.images, ds.pixel, 1, 3, out);
    float want_w[6] = {-0.5f, -0.5f, -0.5f, -0.5f, 0.5f, 1.5f};
    lv_test_close("float32 with an explicit window", out, want_w, 6, 1e-6);
    q.n_stats = 3;
    lv_test_true(lv_preproc_resolve(&q, &ds) == LV_ERR_INPUT && strstr(lv_error_message(), "3 per-phase values") &&
                     strstr(lv_error_message(), "2 phases"),
                 "3 per-phase stats on 2-phase data rejected");
    q = pp;
    q.std[0] = 0;
    lv_test_true(lv_preproc_resolve(&q, &ds) == LV_ERR_INPUT && strstr(lv_error_message(), "std[0]"),
                 "std 0 rejected by resolve");
    q = pp;
    q.hi = q.lo;
    lv_test_true(lv_preproc_resolve(&q, &ds) == LV_ERR_INPUT && strstr(lv_error_message(), "window"),
                 "empty window rejected");
    lv_dataset_free(&ds);

    /* Fit: phase 0 alternates 75 HU (u 0.5) and -100 HU (u 0) by sample, phase 1 constant. */
    make(&ds, 8, 2, 4, 4, LV_PIX_I16);
    int16_t *px = ds.images;
    for (int i = 0; i < 8; i++)
        for (int k = 0; k < 16; k++) {
            px[(i * 2 + 0) * 16 + k] = i % 2 ? -100 : 75;
            px[(i * 2 + 1) * 16 + k] = 250;
        }
    lv_preproc fit = pp;
    lv_test_true(lv_preproc_fit(&fit, &ds, NULL, 0, 0) == LV_OK, "fit over all samples");
    lv_test_true(fit.n_stats == 2 && fit.scaling == LV_SCALE_WINDOW && fabsf(fit.mean[0] - 0.25f) < 1e-7f &&
                     fabsf(fit.std[0] - 0.25f) < 1e-7f && fit.mean[1] == 1.0f && fit.std[1] == 1.0f,
                 "fit: phase 0 mean 0.25 std 0.25; constant phase 1 mean 1, std 1");
    int64_t even[3] = {0, 2, 4};
    fit = pp;
    lv_test_true(lv_preproc_fit(&fit, &ds, even, 3, 0) == LV_OK && fabsf(fit.mean[0] - 0.5f) < 1e-7f &&
                     fit.std[0] == 1.0f,
                 "fit over a subset uses only its samples");
    fit = pp;
    lv_test_true(lv_preproc_fit(&fit, &ds, NULL, 0, 4) == LV_OK && fabsf(fit.mean[0] - 0.5f) < 1e-7f &&
                     fit.std[0] == 1.0f,
                 "fit with max_samples 4 of 8 takes samples 0,2,4,6 (all 75 HU)");
    int64_t bad[2] = {1, 99};
    fit = pp;
    lv_test_true(lv_preproc_fit(&fit, &ds, bad, 2, 0) == LV_ERR_INPUT && strstr(lv_error_message(), "99") &&
                     fit.n_stats == 1,
                 "fit rejects an index outside the dataset and leaves pp unchanged");
    lv_dataset_free(&ds);

    /* JSON round trip. */
    lv_preproc a = pp, b;
    a.scaling = LV_SCALE_WINDOW;
    a.lo = -160.5f, a.hi = 240.25f;
    a.n_stats = 3;
    for (int i = 0; i < 3; i++) a.mean[i] = 0.1f * (float)i + 0.123456789f, a.std[i] = 0.3f / (float)(i + 1);
    char *txt = lv_preproc_to_json(&a);
    lv_test_true(txt != NULL, "to_json gives text");
    lv_preproc_default(&b);
    lv_status st = lv_preproc_from_json(&b, txt, "round trip");
    int same = st == LV_OK && b.scaling == a.scaling && b.lo == a.lo && b.hi == a.hi && b.n_stats == 3;
    for (int i = 0; i < 3; i++) same &= b.mean[i] == a.mean[i] && b.std[i] == a.std[i];
    if (same) lv_test_pass("JSON round trip is exact: %s", txt);
    else lv_test_fail("JSON round trip differs: %s (%s)", txt, lv_error_message());
    free(txt);
    lv_test_true(lv_preproc_from_json(&b, "{}", "x") == LV_OK && b.scaling == LV_SCALE_AUTO && b.n_stats == 1,
                 "empty object gives the defaults");
    lv_test_true(lv_preproc_from_json(&b, "{\"scaling\":\"divide255\",\"std\":[0.2,0.3]}", "x") == LV_OK &&
                     b.scaling == LV_SCALE_U8 && b.n_stats == 2 && b.mean[1] == 0.5f && b.std[1] == 0.3f,
                 "std alone pairs with default means");

    bad_json("{\"window\":[-100,250],\"colour\":1}", "unknown key \"colour\"");
    bad_json("{\"scaling\":3}", "\"scaling\": expected a string, found a number");
    bad_json("{\"scaling\":\"log\"}", "found \"log\"");
    bad_json("{\"window\":\"wide\"}", "\"window\": expected an array of numbers, found a string");
    bad_json("{\"window\":[1,2,3]}", "\"window\": expected 2 numbers, found 3");
    bad_json("{\"window\":[250,-100]}", "hi > lo");
    bad_json("{\"mean\":[0.5,\"x\"]}", "\"mean\"[1]: expected a number, found a string");
    bad_json("{\"mean\":[0.5,0.5],\"std\":[0.25]}", "\"mean\" has 2 values but \"std\" has 1");
    bad_json("{\"std\":[0.25,0]}", "std[1]");
    bad_json("{\"std\":[1e300]}", "finite float");
    bad_json("{\"mean\":[1,2,3,4,5,6,7,8,9]}", "expected 1..8 numbers, found 9");
    bad_json("[1,2]", "expected a JSON object, found an array");
    bad_json("{\"scaling\":\"window\",", "not valid JSON");
    return lv_test_summary();
}
