/* relu: finite differences away from the kink, the accumulate/NULL conventions of core/ops.h,
 * in-place forward, NaN propagation, the OpenMP path, and torch's float32 answers
 * (fixtures/relu.safetensors). LV_TEST_SANITIZE */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "harness.h"

typedef struct fd_ctx {
    lv_backend *be;
    const float *x, *r;
    float *out;
    size_t n;
} fd_ctx;

static double fd_loss(void *p) {
    fd_ctx *c = p;
    lv_relu_forward(c->be, c->out, c->x, c->n);
    double s = 0;
    for (size_t i = 0; i < c->n; i++) s += (double)c->r[i] * c->out[i];
    return s;
}

static void check_fd(lv_backend *be) {
    enum { N = 300 };
    float *x = calloc(N, sizeof *x), *r = calloc(N, sizeof *r), *out = calloc(N, sizeof *out);
    float *din = calloc(N, sizeof *din);
    /* |x| in [0.1, 1): a step of 1e-3 never crosses the kink at 0, and relu is linear on each
     * side, so the central difference is exact up to float rounding (~1e-7 / 1e-3 = 1e-4 at
     * worst). tol 1e-3 still catches a wrong mask or a missing gradient (error ~1). */
    for (size_t i = 0; i < N; i++) {
        float mag = 0.1f + 0.9f * lv_rng_uniform(11, 0, i);
        x[i] = (lv_rng_u32(11, 1, i) & 1) ? mag : -mag;
    }
    lv_test_fill_uniform(r, N, 12, -1.0f, 1.0f);
    lv_relu_forward(be, out, x, N);
    lv_relu_backward(be, din, r, out, N);
    fd_ctx c = {be, x, r, out, N};
    lv_test_gradcheck("relu din", x, din, N, fd_loss, &c, 1e-3f, 1e-3, N);

    /* Backward adds: a second call on the same buffer doubles it exactly. */
    float *twice = malloc(N * sizeof *twice);
    memcpy(twice, din, N * sizeof *din);
    lv_relu_backward(be, twice, r, out, N);
    for (size_t i = 0; i < N; i++) din[i] *= 2.0f;
    lv_test_close("relu backward accumulates (2 calls = 2x)", twice, din, N, 0.0);

    /* NULL gradient is skipped (would crash otherwise). */
    lv_relu_backward(be, NULL, r, out, N);
    lv_test_pass("relu backward with NULL din is a no-op");

    /* In place: out == in. */
    memcpy(twice, x, N * sizeof *x);
    lv_relu_forward(be, twice, twice, N);
    lv_relu_forward(be, out, x, N);
    lv_test_close("relu forward in place", twice, out, N, 0.0);
    free(x); free(r); free(out); free(din); free(twice);
}

static void check_edge_and_parallel(lv_backend *be) {
    float x[4] = {NAN, -0.0f, 0.0f, -INFINITY}, y[4];
    lv_relu_forward(be, y, x, 4);
    lv_test_true(isnan(y[0]), "relu(NaN) is NaN (torch propagates NaN)");
    lv_test_true(y[1] == 0.0f && y[2] == 0.0f && y[3] == 0.0f, "relu of -0, 0, -inf is 0");
    /* Where out <= 0 the gradient is 0 even for an infinite dout (a select, not a multiply). */
    float dout[4] = {1.0f, INFINITY, INFINITY, 1.0f}, out[4] = {1.0f, 0.0f, -1.0f, 2.0f};
    float din[4] = {0};
    lv_relu_backward(be, din, dout, out, 4);
    lv_test_true(din[0] == 1.0f && din[1] == 0.0f && din[2] == 0.0f && din[3] == 1.0f,
                 "relu backward masks where out <= 0, even an infinite dout");

    /* Large enough to take the OpenMP branch; compared with a plain loop. */
    size_t n = (size_t)1 << 18;
    float *big = malloc(n * sizeof *big), *o = malloc(n * sizeof *o), *want = malloc(n * sizeof *want);
    float *g = malloc(n * sizeof *g), *d = calloc(n, sizeof *d), *dwant = calloc(n, sizeof *dwant);
    lv_test_fill_uniform(big, n, 13, -1.0f, 1.0f);
    lv_test_fill_uniform(g, n, 14, -1.0f, 1.0f);
    for (size_t i = 0; i < n; i++) {
        want[i] = big[i] > 0 ? big[i] : 0.0f;
        dwant[i] = big[i] > 0 ? g[i] : 0.0f;
    }
    lv_relu_forward(be, o, big, n);
    lv_relu_backward(be, d, g, o, n);
    lv_test_close("relu forward, 2^18 elements (OpenMP)", o, want, n, 0.0);
    lv_test_close("relu backward, 2^18 elements (OpenMP)", d, dwant, n, 0.0);
    free(big); free(o); free(want); free(g); free(d); free(dwant);
}

static void check_fixture(lv_backend *be) {
    lv_st_file *f = lv_test_fixture_open("relu");
    if (!f) return;
    size_t n = 0, nd = 0;
    float *x = lv_test_fixture_f32(f, "x", &n), *want = lv_test_fixture_f32(f, "out", NULL);
    float *dout = lv_test_fixture_f32(f, "dout", &nd), *dwant = lv_test_fixture_f32(f, "din", NULL);
    if (x && want && dout && dwant && lv_test_true(nd == n && n == 2 * 3 * 5 * 7, "relu fixture shapes")) {
        float *out = malloc(n * sizeof *out), *din = calloc(n, sizeof *din);
        lv_relu_forward(be, out, x, n);
        lv_relu_backward(be, din, dout, out, n);
        lv_test_close("relu forward vs torch", out, want, n, 1e-5);
        lv_test_close("relu backward vs torch", din, dwant, n, 1e-5);
        free(out); free(din);
    }
    free(x); free(want); free(dout); free(dwant);
    lv_st_close(f);
}

int main(void) {
    lv_backend *be = lv_test_cpu_backend();
    check_fd(be);
    check_edge_and_parallel(be);
    check_fixture(be);
    lv_status st = be->sync(be);
    lv_test_true(st == LV_OK, st == LV_OK ? "no backend error" : lv_error_message());
    lv_backend_destroy(be);
    return lv_test_summary();
}
