/* layernorm CPU op: finite-difference gradients (din, dw, db) at BERT's eps 1e-12 and
 * torch's 1e-5, += accumulation and NULL-gradient skipping, then PyTorch's fp32 answer
 * (out, saved mean/rstd, gradients) from tests/fixtures/layernorm.safetensors. LV_TEST_SANITIZE */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cpu/cpu_ops.h"
#include "harness.h"

typedef struct ln_case {
    lv_backend *be;
    int rows, c;
    float eps;
    float *x, *w, *b, *out, *mean, *rstd, *r;
} ln_case;

/* loss = sum_i r_i * out_i in double, so the FD noise is the op's own float rounding. */
static double ln_loss(void *p) {
    ln_case *k = p;
    lv_cpu_layernorm_forward(k->be, k->out, k->mean, k->rstd, k->x, k->w, k->b, k->rows, k->c, k->eps);
    double s = 0;
    for (int i = 0; i < k->rows * k->c; i++) s += (double)k->r[i] * k->out[i];
    return s;
}

static void gradcheck_case(lv_backend *be, float eps_ln) {
    enum { ROWS = 4, C = 7 };
    ln_case k = {.be = be, .rows = ROWS, .c = C, .eps = eps_ln};
    size_t n = ROWS * C;
    k.x = malloc(n * sizeof(float));
    k.r = malloc(n * sizeof(float));
    k.out = malloc(n * sizeof(float));
    k.w = malloc(C * sizeof(float));
    k.b = malloc(C * sizeof(float));
    k.mean = malloc(ROWS * sizeof(float));
    k.rstd = malloc(ROWS * sizeof(float));
    float *din = calloc(n, sizeof(float)), *dw = calloc(C, sizeof(float)), *db = calloc(C, sizeof(float));
    lv_test_fill_uniform(k.x, n, 11, -1.0f, 1.0f);
    lv_test_fill_uniform(k.r, n, 12, -1.0f, 1.0f);
    lv_test_fill_uniform(k.w, C, 13, 0.5f, 1.5f);
    lv_test_fill_uniform(k.b, C, 14, -0.5f, 0.5f);
    for (int i = 0; i < C; i++) k.x[C + i] += 5.0f; /* an offset row: mean must be removed exactly */

    ln_loss(&k);
    /* dout = r, the gradient of the loss with respect to out. */
    lv_cpu_layernorm_backward(be, din, dw, db, k.r, k.x, k.w, k.mean, k.rstd, ROWS, C);

    /* Step 3e-3 on O(1) inputs (rstd ~ 2, so f''' ~ 10): truncation h^2 f'''/6 ~ 2e-5 and
     * float rounding of the loss ~ 3e-7 / h ~ 1e-4 against gradients ~ 0.1..1; measured worst
     * 2e-3 (small din entries), tol 1e-2. A wrong term in the formula is an O(1) error. */
    char what[64];
    snprintf(what, sizeof what, "layernorm din (eps %g)", (double)eps_ln);
    lv_test_gradcheck(what, k.x, din, n, ln_loss, &k, 3e-3f, 1e-2, (int)n);
    snprintf(what, sizeof what, "layernorm dw (eps %g)", (double)eps_ln);
    lv_test_gradcheck(what, k.w, dw, C, ln_loss, &k, 3e-3f, 1e-2, C);
    snprintf(what, sizeof what, "layernorm db (eps %g)", (double)eps_ln);
    lv_test_gradcheck(what, k.b, db, C, ln_loss, &k, 3e-3f, 1e-2, C);

    if (eps_ln > 1e-6f) {
        /* Backward adds: a second call on the same buffers doubles them exactly. */
        float *din2 = calloc(n, sizeof(float)), *dw2 = calloc(C, sizeof(float)), *db2 = calloc(C, sizeof(float));
        ln_loss(&k);
        for (int rep = 0; rep < 2; rep++)
            lv_cpu_layernorm_backward(be, din2, dw2, db2, k.r, k.x, k.w, k.mean, k.rstd, ROWS, C);
        for (size_t i = 0; i < n; i++) din[i] *= 2.0f;
        for (int i = 0; i < C; i++) {
            dw[i] *= 2.0f;
            db[i] *= 2.0f;
        }
        lv_test_close("layernorm backward accumulates din", din2, din, n, 1e-6);
        lv_test_close("layernorm backward accumulates dw", dw2, dw, C, 1e-6);
        lv_test_close("layernorm backward accumulates db", db2, db, C, 1e-6);

        /* NULL gradients are skipped; the others are unchanged by the skip. */
        float *din3 = calloc(n, sizeof(float)), *dw3 = calloc(C, sizeof(float));
        lv_cpu_layernorm_backward(be, din3, NULL, NULL, k.r, k.x, k.w, k.mean, k.rstd, ROWS, C);
        lv_cpu_layernorm_backward(be, NULL, dw3, NULL, k.r, k.x, k.w, k.mean, k.rstd, ROWS, C);
        lv_cpu_layernorm_backward(be, NULL, NULL, NULL, k.r, k.x, k.w, k.mean, k.rstd, ROWS, C);
        for (size_t i = 0; i < n; i++) din3[i] *= 2.0f;
        for (int i = 0; i < C; i++) dw3[i] *= 2.0f;
        lv_test_close("layernorm din alone (dw, db NULL)", din3, din, n, 1e-6);
        lv_test_close("layernorm dw alone (din, db NULL)", dw3, dw, C, 1e-6);
        free(din2), free(dw2), free(db2), free(din3), free(dw3);
    }
    free(k.x), free(k.r), free(k.out), free(k.w), free(k.b), free(k.mean), free(k.rstd);
    free(din), free(dw), free(db);
}

static void fixture_case(lv_backend *be, lv_st_file *f, const char *tag, int rows, int c) {
    char key[32];
#define LN_GET(name) (snprintf(key, sizeof key, "%s.%s", tag, name), lv_test_fixture_f32(f, key, NULL))
    float *x = LN_GET("in"), *w = LN_GET("w"), *b = LN_GET("b"), *want_out = LN_GET("out");
    float *want_mean = LN_GET("mean"), *want_rstd = LN_GET("rstd"), *dout = LN_GET("dout");
    float *want_din = LN_GET("din"), *want_dw = LN_GET("dw"), *want_db = LN_GET("db");
    float *epsv = LN_GET("eps");
#undef LN_GET
    if (x && w && b && want_out && want_mean && want_rstd && dout && want_din && want_dw && want_db && epsv) {
        size_t n = (size_t)rows * c;
        float *out = malloc(n * sizeof(float)), *mean = malloc(rows * sizeof(float));
        float *rstd = malloc(rows * sizeof(float)), *din = calloc(n, sizeof(float));
        float *dw = calloc(c, sizeof(float)), *db = calloc(c, sizeof(float));
        lv_cpu_layernorm_forward(be, out, mean, rstd, x, w, b, rows, c, epsv[0]);
        lv_cpu_layernorm_backward(be, din, dw, db, dout, x, w, mean, rstd, rows, c);
        char what[64];
        const char *names[6] = {"out", "mean", "rstd", "din", "dw", "db"};
        const float *got[6] = {out, mean, rstd, din, dw, db};
        const float *want[6] = {want_out, want_mean, want_rstd, want_din, want_dw, want_db};
        const size_t len[6] = {n, (size_t)rows, (size_t)rows, n, (size_t)c, (size_t)c};
        for (int i = 0; i < 6; i++) {
            snprintf(what, sizeof what, "layernorm %s vs torch (%s)", names[i], tag);
            lv_test_close(what, got[i], want[i], len[i], 1e-5);
        }
        free(out), free(mean), free(rstd), free(din), free(dw), free(db);
    }
    free(x), free(w), free(b), free(want_out), free(want_mean), free(want_rstd), free(dout);
    free(want_din), free(want_dw), free(want_db), free(epsv);
}

int main(void) {
    lv_backend *be = lv_test_cpu_backend();
    gradcheck_case(be, 1e-5f);
    gradcheck_case(be, 1e-12f);

    lv_st_file *f = lv_test_fixture_open("layernorm");
    if (f) {
        int *shape = lv_test_fixture_i32(f, "shape", NULL);
        if (shape) {
            fixture_case(be, f, "e12", shape[0], shape[1]);
            fixture_case(be, f, "e5", shape[0], shape[1]);
        }
        free(shape);
        lv_st_close(f);
    }
    lv_test_true(lv_backend_take_error(be) == LV_OK, "layernorm left no backend error");
    lv_backend_destroy(be);
    return lv_test_summary();
}
