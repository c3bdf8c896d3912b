/* linear (OpenBLAS): finite differences for din, dw and dbias, NULL bias and NULL-gradient
 * combinations, accumulation, a ResNet-head-sized case against a double-precision loop, and
 * torch's F.linear float32 answers with the [out,in] weight layout
 * (fixtures/linear.safetensors). LV_TEST_SANITIZE */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

typedef struct fd_ctx {
    lv_backend *be;
    const float *x, *w, *bias, *r;
    float *out;
    int b, in_f, out_f;
} fd_ctx;

static double fd_loss(void *p) {
    fd_ctx *c = p;
    lv_linear_forward(c->be, c->out, c->x, c->w, c->bias, c->b, c->in_f, c->out_f);
    double s = 0;
    for (int i = 0; i < c->b * c->out_f; i++) s += (double)c->r[i] * c->out[i];
    return s;
}

static float *filled(size_t n, uint64_t seed, float lo, float hi) {
    float *p = malloc(n * sizeof *p);
    lv_test_fill_uniform(p, n, seed, lo, hi);
    return p;
}

static void check_fd(lv_backend *be) {
    enum { B = 4, IN = 9, OUT = 7 };
    float *x = filled(B * IN, 41, -1, 1), *w = filled(OUT * IN, 42, -0.5f, 0.5f);
    float *bias = filled(OUT, 43, -1, 1), *r = filled(B * OUT, 44, -1, 1);
    float *out = malloc(B * OUT * sizeof *out);
    float *din = calloc(B * IN, sizeof *din), *dw = calloc(OUT * IN, sizeof *dw);
    float *db = calloc(OUT, sizeof *db);
    lv_linear_forward(be, out, x, w, bias, B, IN, OUT);
    lv_linear_backward(be, din, dw, db, r, x, w, B, IN, OUT);
    /* Linear in each argument, so the central difference has no truncation error and the
     * step can be large: at 0.1 the float rounding of out (~2e-7 per term, summed over up
     * to 7 outputs) divided by the 0.2 step stays ~1e-5 against gradients of ~0.05-1, well
     * under tol 1e-3, while a transposed weight or a missing term is off by O(1). (At step
     * 1e-2 that noise reached 6e-4 relative on the smallest din entries.) */
    fd_ctx c = {be, x, w, bias, r, out, B, IN, OUT};
    lv_test_gradcheck("linear din", x, din, B * IN, fd_loss, &c, 1e-1f, 1e-3, B * IN);
    lv_test_gradcheck("linear dw", w, dw, OUT * IN, fd_loss, &c, 1e-1f, 1e-3, OUT * IN);
    lv_test_gradcheck("linear dbias", bias, db, OUT, fd_loss, &c, 1e-1f, 1e-3, OUT);

    /* Accumulation: a second call doubles every gradient. */
    float *din2 = malloc(B * IN * sizeof *din2), *dw2 = malloc(OUT * IN * sizeof *dw2);
    float *db2 = malloc(OUT * sizeof *db2);
    memcpy(din2, din, B * IN * sizeof *din);
    memcpy(dw2, dw, OUT * IN * sizeof *dw);
    memcpy(db2, db, OUT * sizeof *db);
    lv_linear_backward(be, din2, dw2, db2, r, x, w, B, IN, OUT);
    for (int i = 0; i < B * IN; i++) din[i] *= 2;
    for (int i = 0; i < OUT * IN; i++) dw[i] *= 2;
    for (int i = 0; i < OUT; i++) db[i] *= 2;
    lv_test_close("linear din accumulates (2 calls = 2x)", din2, din, B * IN, 1e-6);
    lv_test_close("linear dw accumulates (2 calls = 2x)", dw2, dw, OUT * IN, 1e-6);
    lv_test_close("linear dbias accumulates (2 calls = 2x)", db2, db, OUT, 1e-6);

    /* NULL gradients are skipped one at a time; the others still come out right. */
    memset(din2, 0, B * IN * sizeof *din2);
    lv_linear_backward(be, din2, NULL, NULL, r, x, w, B, IN, OUT);
    for (int i = 0; i < B * IN; i++) din[i] *= 0.5f;
    lv_test_close("linear din alone (dw, dbias NULL)", din2, din, B * IN, 1e-6);
    memset(dw2, 0, OUT * IN * sizeof *dw2);
    lv_linear_backward(be, NULL, dw2, NULL, r, x, w, B, IN, OUT);
    for (int i = 0; i < OUT * IN; i++) dw[i] *= 0.5f;
    lv_test_close("linear dw alone (din, dbias NULL)", dw2, dw, OUT * IN, 1e-6);
    memset(db2, 0, OUT * sizeof *db2);
    lv_linear_backward(be, NULL, NULL, db2, r, x, w, B, IN, OUT);
    for (int i = 0; i < OUT; i++) db[i] *= 0.5f;
    lv_test_close("linear dbias alone (din, dw NULL)", db2, db, OUT, 1e-6);
    free(x); free(w); free(bias); free(r); free(out); free(din); free(dw); free(db);
    free(din2); free(dw2); free(db2);
}

/* A ResNet projection-sized layer (512 -> 256, batch 32), big enough for OpenBLAS's
 * threaded kernels, against a double loop. 1e-5 relative is float32 GEMM rounding. */
static void check_large(lv_backend *be) {
    enum { B = 32, IN = 512, OUT = 256 };
    float *x = filled(B * IN, 45, -1, 1), *w = filled(OUT * IN, 46, -0.05f, 0.05f);
    float *g = filled(B * OUT, 47, -1, 1), *out = malloc(B * OUT * sizeof *out);
    float *want = malloc(B * OUT * sizeof *want), *din = calloc(B * IN, sizeof *din);
    float *dw = calloc(OUT * IN, sizeof *dw), *dinw = malloc(B * IN * sizeof *dinw);
    float *dww = malloc(OUT * IN * sizeof *dww);
    lv_linear_forward(be, out, x, w, NULL, B, IN, OUT);
    lv_linear_backward(be, din, dw, NULL, g, x, w, B, IN, OUT);
    for (int i = 0; i < B; i++)
        for (int o = 0; o < OUT; o++) {
            double s = 0;
            for (int k = 0; k < IN; k++) s += (double)x[i * IN + k] * w[o * IN + k];
            want[i * OUT + o] = (float)s;
        }
    for (int i = 0; i < B; i++)
        for (int k = 0; k < IN; k++) {
            double s = 0;
            for (int o = 0; o < OUT; o++) s += (double)g[i * OUT + o] * w[o * IN + k];
            dinw[i * IN + k] = (float)s;
        }
    for (int o = 0; o < OUT; o++)
        for (int k = 0; k < IN; k++) {
            double s = 0;
            for (int i = 0; i < B; i++) s += (double)g[i * OUT + o] * x[i * IN + k];
            dww[o * IN + k] = (float)s;
        }
    lv_test_close("linear 32x512->256 forward (no bias) vs double loop", out, want, B * OUT, 1e-5);
    lv_test_close("linear 32x512->256 din vs double loop", din, dinw, B * IN, 1e-5);
    lv_test_close("linear 32x512->256 dw vs double loop", dw, dww, OUT * IN, 1e-5);
    free(x); free(w); free(g); free(out); free(want); free(din); free(dw); free(dinw); free(dww);
}

static void check_fixture(lv_backend *be) {
    lv_st_file *f = lv_test_fixture_open("linear");
    if (!f) return;
    enum { B = 5, IN = 13, OUT = 6 };
    size_t nx = 0, nw = 0, no = 0;
    float *x = lv_test_fixture_f32(f, "x", &nx), *w = lv_test_fixture_f32(f, "w", &nw);
    float *bias = lv_test_fixture_f32(f, "b", NULL), *want = lv_test_fixture_f32(f, "out", &no);
    float *want_nb = lv_test_fixture_f32(f, "out_nobias", NULL);
    float *dout = lv_test_fixture_f32(f, "dout", NULL), *dxw = lv_test_fixture_f32(f, "din", NULL);
    float *dww = lv_test_fixture_f32(f, "dw", NULL), *dbw = lv_test_fixture_f32(f, "db", NULL);
    if (x && w && bias && want && want_nb && dout && dxw && dww && dbw &&
        lv_test_true(nx == B * IN && nw == OUT * IN && no == B * OUT, "linear fixture shapes")) {
        float out[B * OUT], din[B * IN] = {0}, dw[OUT * IN] = {0}, db[OUT] = {0};
        lv_linear_forward(be, out, x, w, bias, B, IN, OUT);
        lv_test_close("linear forward vs torch", out, want, B * OUT, 1e-5);
        lv_linear_forward(be, out, x, w, NULL, B, IN, OUT);
        lv_test_close("linear forward without bias vs torch", out, want_nb, B * OUT, 1e-5);
        lv_linear_backward(be, din, dw, db, dout, x, w, B, IN, OUT);
        lv_test_close("linear din vs torch", din, dxw, B * IN, 1e-5);
        lv_test_close("linear dw vs torch", dw, dww, OUT * IN, 1e-5);
        lv_test_close("linear dbias vs torch", db, dbw, OUT, 1e-5);
    }
    free(x); free(w); free(bias); free(want); free(want_nb); free(dout); free(dxw); free(dww); free(dbw);
    lv_st_close(f);
}

int main(void) {
    lv_backend *be = lv_test_cpu_backend();
    check_fd(be);
    check_large(be);
    check_fixture(be);
    lv_status st = be->sync(be);
    lv_test_true(st == LV_OK, st == LV_OK ? "no backend error" : lv_error_message());
    lv_backend_destroy(be);
    return lv_test_summary();
}
