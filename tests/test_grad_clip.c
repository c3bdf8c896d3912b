/* Global gradient-norm clipping: lv_clip_grad_norm against torch.nn.utils.clip_grad_norm_
 * (fixtures/grad_clip: clipping, not clipping, a NaN gradient), the grad_sumsq/scale ops
 * it is built from (accumulate, flag, thread-count-independent sums), and measure-only and
 * bad max_norm behaviour. LV_TEST_SANITIZE */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/grad_clip.h"
#include "harness.h"

static void fixture_case(lv_backend *be, lv_st_file *f, const char *name) {
    char key[64];
    size_t n = 0;
#define GETF(k, cnt) (snprintf(key, sizeof key, "%s." k, name), lv_test_fixture_f32(f, key, cnt))
    float *gin = GETF("grads_in", &n), *gout = GETF("grads_out", NULL);
    float *maxn = GETF("max_norm", NULL), *total = GETF("total_norm", NULL);
#undef GETF
    if (gin && gout && maxn && total) {
        float *g = malloc(n * sizeof *g), tn = -1.0f;
        memcpy(g, gin, n * sizeof *g);
        int bad = -1;
        lv_status s = lv_clip_grad_norm(be, g, n, maxn[0], &tn, &bad);
        char what[96];
        snprintf(what, sizeof what, "clip %s: returns LV_OK", name);
        lv_test_true(s == LV_OK, what);
        if (isnan(total[0])) {
            /* torch reports NaN and would fill the grads with NaN; we flag and leave them. */
            snprintf(what, sizeof what, "clip %s: NaN total and nonfinite flag", name);
            lv_test_true(isnan(tn) && bad == 1, what);
            int same = 1;
            for (size_t i = 0; i < n; i++) same &= memcmp(&g[i], &gin[i], sizeof *g) == 0;
            snprintf(what, sizeof what, "clip %s: gradients left untouched for the caller to skip", name);
            lv_test_true(same, what);
        } else {
            snprintf(what, sizeof what, "clip %s: total norm vs torch", name);
            lv_test_close(what, &tn, total, 1, 1e-6);
            snprintf(what, sizeof what, "clip %s: gradients vs torch", name);
            lv_test_close(what, g, gout, n, 1e-6);
            snprintf(what, sizeof what, "clip %s: nonfinite flag clear", name);
            lv_test_true(bad == 0, what);
        }
        free(g);
    }
    free(gin); free(gout); free(maxn); free(total);
}

/* grad_sumsq adds into *out, sets (never clears) the flag, and sums a large buffer to the
 * same bits with 1 and 2 threads, close to a double reference. */
static void check_sumsq(void) {
    size_t n = ((size_t)1 << 20) + 12345; /* several blocks plus a ragged tail */
    float *g = malloc(n * sizeof *g);
    lv_test_fill_uniform(g, n, 91, -2.0f, 2.0f);
    double ref = 0;
    for (size_t i = 0; i < n; i++) ref += (double)g[i] * g[i];
    float got[2];
    for (int t = 1; t <= 2; t++) {
        lv_backend *be = NULL;
        if (lv_cpu_backend_create(&be, t) != LV_OK) {
            lv_test_fail("cpu backend with %d threads: %s", t, lv_error_message());
            free(g);
            return;
        }
        float out = 1.5f;
        int flag = 0;
        lv_grad_sumsq(be, &out, &flag, g, n);
        lv_test_true(be->sync(be) == LV_OK && flag == 0, "grad_sumsq on finite data: no error, no flag");
        got[t - 1] = out - 1.5f;
        lv_backend_destroy(be);
    }
    float want = (float)ref;
    lv_test_close("grad_sumsq (+= onto 1.5) vs double reference", &got[0], &want, 1, 1e-6);
    lv_test_true(memcmp(&got[0], &got[1], sizeof got[0]) == 0,
                 "grad_sumsq identical bits with 1 and 2 threads");

    lv_backend *be = lv_test_cpu_backend();
    float specials[3] = {INFINITY, -INFINITY, NAN};
    for (int k = 0; k < 3; k++) {
        float old = g[n - 7], out = 0;
        g[n - 7] = specials[k];
        int flag = 0;
        lv_grad_sumsq(be, &out, &flag, g, n);
        g[n - 7] = old;
        char what[64];
        snprintf(what, sizeof what, "grad_sumsq flags %g in the last block", (double)specials[k]);
        lv_test_true(flag == 1 && !isfinite(out), what);
    }
    float out = 0;
    int flag = 1;
    lv_grad_sumsq(be, &out, &flag, g, 100);
    lv_test_true(flag == 1, "grad_sumsq never clears a set flag (accumulates over calls)");

    /* scale: exact float multiply, any length. */
    float *x = malloc(n * sizeof *x), *want_x = malloc(n * sizeof *want_x);
    memcpy(x, g, n * sizeof *x);
    for (size_t i = 0; i < n; i++) want_x[i] = g[i] * 0.37f;
    lv_scale(be, x, 0.37f, n);
    lv_test_close("scale multiplies every element", x, want_x, n, 0.0);
    lv_test_true(be->sync(be) == LV_OK, "scale leaves no error");
    free(x); free(want_x); free(g);
    lv_backend_destroy(be);
}

static void check_modes(lv_backend *be) {
    float g[6] = {3, 4, 0, 0, 0, 0}, tn = 0; /* norm 5 */
    int bad = -1;
    lv_test_true(lv_clip_grad_norm(be, g, 6, 0.0f, &tn, &bad) == LV_OK && tn == 5.0f &&
                     g[0] == 3.0f && bad == 0,
                 "max_norm 0 measures the norm without clipping");
    lv_test_true(lv_clip_grad_norm(be, g, 6, INFINITY, &tn, NULL) == LV_OK && g[1] == 4.0f,
                 "max_norm +Inf measures without clipping (NULL flag accepted)");
    lv_test_true(lv_clip_grad_norm(be, g, 6, NAN, &tn, &bad) == LV_ERR_USAGE,
                 "max_norm NaN is a usage error");
    /* coef = 1 / (5 + 1e-6): both entries scaled, norm now just under 1. */
    lv_test_true(lv_clip_grad_norm(be, g, 6, 1.0f, NULL, NULL) == LV_OK &&
                     fabsf(g[0] - 0.6f) < 1e-6f && fabsf(g[1] - 0.8f) < 1e-6f,
                 "clip to 1 scales (3,4) to (0.6,0.8)");
    float e = 0;
    lv_test_true(lv_clip_grad_norm(be, g, 0, 1.0f, &e, &bad) == LV_OK && e == 0.0f && bad == 0,
                 "empty gradient: norm 0, nothing to do");
    /* An earlier op's sticky error surfaces here, since clipping syncs. */
    lv_backend_fail(be, LV_ERR_RUNTIME, "earlier failure");
    lv_test_true(lv_clip_grad_norm(be, g, 6, 1.0f, &e, &bad) == LV_ERR_RUNTIME &&
                     strstr(lv_error_message(), "earlier failure"),
                 "a pending backend error is returned by clipping");

    /* The caller-scratch variant, reusing one 2-word buffer across calls. */
    void *scratch = be->alloc(be, LV_GRAD_CLIP_SCRATCH_BYTES);
    float h[3] = {2, 0, 0};
    lv_test_true(lv_clip_grad_norm_scratch(be, h, 3, 10.0f, scratch, &tn, &bad) == LV_OK &&
                     tn == 2.0f && lv_clip_grad_norm_scratch(be, h, 3, 10.0f, scratch, &tn, &bad) == LV_OK &&
                     tn == 2.0f && h[0] == 2.0f,
                 "scratch variant: scratch reset each call, no clipping below max");
    be->free(be, scratch);
}

int main(void) {
    lv_backend *be = lv_test_cpu_backend();
    lv_st_file *f = lv_test_fixture_open("grad_clip");
    if (f) {
        fixture_case(be, f, "clip");
        fixture_case(be, f, "noclip");
        fixture_case(be, f, "nan");
        lv_st_close(f);
    }
    check_modes(be);
    lv_backend_destroy(be);
    check_sumsq();
    return lv_test_summary();
}
