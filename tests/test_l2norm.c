/* l2norm (F.normalize): finite differences with rows on both sides of the eps clamp, the
 * saved norm, the accumulate/NULL conventions, the OpenMP path, and torch's float32 answers
 * for eps 1e-12 and for eps 0.1 with clamped and zero rows (fixtures/l2norm.safetensors).
 * LV_TEST_SANITIZE */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

enum { ROWS = 6, DIM = 7 };
static const float EPS = 0.05f;

typedef struct fd_ctx {
    lv_backend *be;
    const float *x, *r;
    float *out, *norm;
} fd_ctx;

static double fd_loss(void *p) {
    fd_ctx *c = p;
    lv_l2norm_forward(c->be, c->out, c->norm, c->x, ROWS, DIM, EPS);
    double s = 0;
    for (int i = 0; i < ROWS * DIM; i++) s += (double)c->r[i] * c->out[i];
    return s;
}

static void check_fd(lv_backend *be) {
    float x[ROWS * DIM], r[ROWS * DIM], out[ROWS * DIM], norm[ROWS], din[ROWS * DIM] = {0};
    float din2[ROWS * DIM];
    lv_test_fill_uniform(x, ROWS * DIM, 71, -1, 1);
    lv_test_fill_uniform(r, ROWS * DIM, 72, -1, 1);
    /* Rows 0-2: norm ~1 (gradient through the norm); row 3: norm ~0.1, just above eps;
     * rows 4-5: norm ~0.003, clamped (out = x / eps). */
    for (int j = 0; j < DIM; j++) {
        x[3 * DIM + j] *= 0.07f;
        x[4 * DIM + j] *= 0.002f;
        x[5 * DIM + j] *= 0.002f;
    }
    lv_l2norm_forward(be, out, norm, x, ROWS, DIM, EPS);
    int regimes = norm[3] > EPS && norm[3] < 4 * EPS && norm[4] < 0.2f * EPS && norm[5] < 0.2f * EPS;
    for (int i = 0; i < 3; i++) regimes &= norm[i] > 10 * EPS;
    lv_test_true(regimes, "l2norm test rows cover both sides of eps");
    double nrm0 = 0;
    for (int j = 0; j < DIM; j++) nrm0 += (double)x[j] * x[j];
    lv_test_true(fabs(norm[0] - sqrt(nrm0)) <= 1e-6 * sqrt(nrm0), "l2norm saves the unclamped norm");
    lv_l2norm_backward(be, din, r, x, norm, ROWS, DIM, EPS);
    /* Step 1e-3: rows 4-5 stay clamped (their norm moves by at most 1e-3 < eps - 0.003) and
     * are linear there, so exact; row 3 stays above eps (0.1 - 1e-3 > eps). Smooth rows
     * have truncation error ~(h/|x|)^2 <= 1e-4 relative. The float rounding of a row's
     * outputs (~6e-8 each, 7 of them) over the 2e-3 step is ~1e-4 absolute, ~1e-3 relative
     * on the smallest entries (measured 9e-4 at a gradient of 0.028); tol 5e-3 sits above
     * that, while the missing norm path (or applying it to clamped rows) gives O(1) errors. */
    fd_ctx c = {be, x, r, out, norm};
    lv_test_gradcheck("l2norm din (both sides of eps)", x, din, ROWS * DIM, fd_loss, &c, 1e-3f,
                      5e-3, ROWS * DIM);
    /* Clamped rows are exactly dout / eps. */
    float want[2 * DIM];
    for (int i = 0; i < 2 * DIM; i++) want[i] = r[4 * DIM + i] / EPS;
    lv_test_close("l2norm clamped rows: din = dout / eps", din + 4 * DIM, want, 2 * DIM, 1e-6);
    /* Above eps the output is scale-invariant, so din is orthogonal to x. */
    double worst = 0;
    for (int i = 0; i < 4; i++) {
        double dot = 0, nd = 0;
        for (int j = 0; j < DIM; j++) {
            dot += (double)din[i * DIM + j] * x[i * DIM + j];
            nd += (double)din[i * DIM + j] * din[i * DIM + j];
        }
        worst = fmax(worst, fabs(dot) / (sqrt(nd) * norm[i]));
    }
    lv_test_true(worst < 1e-5, "l2norm din orthogonal to x on unclamped rows");

    lv_l2norm_forward(be, out, norm, x, ROWS, DIM, EPS); /* the gradcheck left it perturbed */
    memcpy(din2, din, sizeof din);
    lv_l2norm_backward(be, din2, r, x, norm, ROWS, DIM, EPS);
    for (int i = 0; i < ROWS * DIM; i++) din[i] *= 2;
    lv_test_close("l2norm backward accumulates (2 calls = 2x)", din2, din, ROWS * DIM, 0.0);
    lv_l2norm_backward(be, NULL, r, x, norm, ROWS, DIM, EPS);
    lv_test_pass("l2norm backward with NULL din is a no-op");
}

/* CLIP-sized: 128 rows of 512 takes the OpenMP branch; every row must come out unit-norm
 * and parallel to its input. */
static void check_parallel(lv_backend *be) {
    enum { R = 128, D = 512 };
    float *x = malloc(R * D * sizeof *x), *out = malloc(R * D * sizeof *out), *norm = malloc(R * sizeof *norm);
    lv_test_fill_uniform(x, R * D, 73, -2, 2);
    lv_l2norm_forward(be, out, norm, x, R, D, 1e-12f);
    double worst = 0;
    for (int i = 0; i < R; i++) {
        double s = 0;
        for (int j = 0; j < D; j++) {
            s += (double)out[i * D + j] * out[i * D + j];
            worst = fmax(worst, fabs(out[i * D + j] * norm[i] - x[i * D + j]));
        }
        worst = fmax(worst, fabs(sqrt(s) - 1.0));
    }
    lv_test_true(worst < 1e-5, "l2norm 128x512 (OpenMP): unit rows, out * norm = x");
    free(x); free(out); free(norm);
}

static void check_fixture_case(lv_backend *be, lv_st_file *f, const char *name, int rows, int dim) {
    char key[32], what[96];
    size_t nx = 0;
    snprintf(key, sizeof key, "%s.x", name);
    float *x = lv_test_fixture_f32(f, key, &nx);
    snprintf(key, sizeof key, "%s.out", name);
    float *want = lv_test_fixture_f32(f, key, NULL);
    snprintf(key, sizeof key, "%s.dout", name);
    float *dout = lv_test_fixture_f32(f, key, NULL);
    snprintf(key, sizeof key, "%s.din", name);
    float *dwant = lv_test_fixture_f32(f, key, NULL);
    snprintf(key, sizeof key, "%s.norm", name);
    float *nwant = lv_test_fixture_f32(f, key, NULL);
    snprintf(key, sizeof key, "%s.eps", name);
    float *eps = lv_test_fixture_f32(f, key, NULL);
    snprintf(what, sizeof what, "l2norm %s fixture shapes", name);
    if (x && want && dout && dwant && nwant && eps && lv_test_true(nx == (size_t)rows * dim, what)) {
        size_t n = nx;
        float *out = malloc(n * sizeof *out), *din = calloc(n, sizeof *din);
        float *norm = malloc((size_t)rows * sizeof *norm);
        lv_l2norm_forward(be, out, norm, x, rows, dim, eps[0]);
        lv_l2norm_backward(be, din, dout, x, norm, rows, dim, eps[0]);
        snprintf(what, sizeof what, "l2norm %s (eps %g) forward vs torch", name, eps[0]);
        lv_test_close(what, out, want, n, 1e-5);
        snprintf(what, sizeof what, "l2norm %s (eps %g) norm vs torch", name, eps[0]);
        lv_test_close(what, norm, nwant, (size_t)rows, 1e-5);
        snprintf(what, sizeof what, "l2norm %s (eps %g) backward vs torch", name, eps[0]);
        lv_test_close(what, din, dwant, n, 1e-5);
        free(out); free(din); free(norm);
    }
    free(x); free(want); free(dout); free(dwant); free(nwant); free(eps);
}

int main(void) {
    lv_backend *be = lv_test_cpu_backend();
    check_fd(be);
    check_parallel(be);
    lv_st_file *f = lv_test_fixture_open("l2norm");
    if (f) {
        check_fixture_case(be, f, "a", 4, 16);
        check_fixture_case(be, f, "b", 6, 8);
        lv_st_close(f);
    }
    lv_status st = be->sync(be);
    lv_test_true(st == LV_OK, st == LV_OK ? "no backend error" : lv_error_message());
    lv_backend_destroy(be);
    return lv_test_summary();
}
