/* avgpool (global average pool): finite differences, the accumulate/NULL conventions, the
 * OpenMP path on a ResNet-sized map, and torch's float32 answers for
 * AdaptiveAvgPool2d(1) + flatten (fixtures/avgpool.safetensors). LV_TEST_SANITIZE */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

typedef struct fd_ctx {
    lv_backend *be;
    const float *x, *r;
    float *out;
    int n, c, hw;
} fd_ctx;

static double fd_loss(void *p) {
    fd_ctx *k = p;
    lv_avgpool_forward(k->be, k->out, k->x, k->n, k->c, k->hw);
    double s = 0;
    for (int i = 0; i < k->n * k->c; i++) s += (double)k->r[i] * k->out[i];
    return s;
}

static void check_fd(lv_backend *be) {
    enum { N = 2, C = 3, HW = 35 };
    size_t n = N * C * HW, m = N * C;
    float *x = malloc(n * sizeof *x), *r = malloc(m * sizeof *r), *out = malloc(m * sizeof *out);
    float *din = calloc(n, sizeof *din), *twice = malloc(n * sizeof *twice);
    lv_test_fill_uniform(x, n, 31, -1.0f, 1.0f);
    lv_test_fill_uniform(r, m, 32, -1.0f, 1.0f);
    lv_avgpool_forward(be, out, x, N, C, HW);
    lv_avgpool_backward(be, din, r, N, C, HW);
    /* The pool is linear, so the central difference has no truncation error; step 1e-2
     * keeps float rounding of the mean (~1e-7) well under tol 1e-3 after dividing by 2e-2,
     * while a wrong scale (1 instead of 1/hw) or plane is off by O(1). */
    fd_ctx k = {be, x, r, out, N, C, HW};
    lv_test_gradcheck("avgpool din", x, din, n, fd_loss, &k, 1e-2f, 1e-3, (int)n);

    memcpy(twice, din, n * sizeof *din);
    lv_avgpool_backward(be, twice, r, N, C, HW);
    for (size_t i = 0; i < n; i++) din[i] *= 2.0f;
    lv_test_close("avgpool backward accumulates (2 calls = 2x)", twice, din, n, 0.0);
    lv_avgpool_backward(be, NULL, r, N, C, HW);
    lv_test_pass("avgpool backward with NULL din is a no-op");
    free(x); free(r); free(out); free(din); free(twice);
}

/* ResNet-18's last map for batch 4: [4,512,7x7]; plane p holds the constant p/8 + its own
 * ramp with zero mean, so every mean is known exactly and a plane mix-up shows. */
static void check_parallel(lv_backend *be) {
    enum { N = 4, C = 512, HW = 49 };
    size_t m = N * C, n = m * HW;
    float *x = malloc(n * sizeof *x), *out = malloc(m * sizeof *out), *want = malloc(m * sizeof *want);
    float *g = malloc(m * sizeof *g), *din = calloc(n, sizeof *din);
    for (size_t p = 0; p < m; p++) {
        want[p] = (float)p / 8.0f;
        g[p] = (float)(p % 7) * 49.0f; /* g / 49 is exact */
        for (int i = 0; i < HW; i++) x[p * HW + i] = want[p] + (float)(i - 24) * 0.25f;
    }
    lv_avgpool_forward(be, out, x, N, C, HW);
    lv_avgpool_backward(be, din, g, N, C, HW);
    lv_test_close("avgpool 4x512x49 (OpenMP) forward", out, want, m, 1e-6);
    int ok = 1;
    for (size_t p = 0; p < m; p++)
        for (int i = 0; i < HW; i++) ok &= din[p * HW + i] == (float)(p % 7);
    lv_test_true(ok, "avgpool 4x512x49 (OpenMP) backward spreads dout/hw over its own plane");
    free(x); free(out); free(want); free(g); free(din);
}

static void check_fixture(lv_backend *be) {
    lv_st_file *f = lv_test_fixture_open("avgpool");
    if (!f) return;
    enum { N = 2, C = 4, HW = 30 };
    size_t nx = 0, no = 0;
    float *x = lv_test_fixture_f32(f, "x", &nx), *want = lv_test_fixture_f32(f, "out", &no);
    float *dout = lv_test_fixture_f32(f, "dout", NULL), *dwant = lv_test_fixture_f32(f, "din", NULL);
    if (x && want && dout && dwant && lv_test_true(nx == N * C * HW && no == N * C, "avgpool fixture shapes")) {
        float out[N * C], *din = calloc(nx, sizeof *din);
        lv_avgpool_forward(be, out, x, N, C, HW);
        lv_avgpool_backward(be, din, dout, N, C, HW);
        lv_test_close("avgpool forward vs torch", out, want, no, 1e-5);
        lv_test_close("avgpool backward vs torch", din, dwant, nx, 1e-5);
        free(din);
    }
    free(x); free(want); free(dout); free(dwant);
    lv_st_close(f);
}

int main(void) {
    lv_backend *be = lv_test_cpu_backend();
    check_fd(be);
    check_parallel(be);
    check_fixture(be);
    lv_status st = be->sync(be);
    lv_test_true(st == LV_OK, st == LV_OK ? "no backend error" : lv_error_message());
    lv_backend_destroy(be);
    return lv_test_summary();
}
