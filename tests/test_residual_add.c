/* residual_add: finite differences for both branches, NULL branches, accumulation, the OpenMP
 * path, and torch's float32 answers (fixtures/residual_add.safetensors). LV_TEST_SANITIZE */
#include <stdlib.h>
#include <string.h>

#include "harness.h"

typedef struct fd_ctx {
    lv_backend *be;
    const float *a, *b, *r;
    float *out;
    size_t n;
} fd_ctx;

static double fd_loss(void *p) {
    fd_ctx *c = p;
    lv_residual_add_forward(c->be, c->out, c->a, c->b, c->n);
    double s = 0;
    for (size_t i = 0; i < c->n; i++) s += (double)c->r[i] * c->out[i];
    return s;
}

static void check_fd(lv_backend *be) {
    enum { N = 120 };
    float a[N], b[N], r[N], out[N], da[N] = {0}, db[N] = {0}, da2[N], db2[N];
    lv_test_fill_uniform(a, N, 51, -1, 1);
    lv_test_fill_uniform(b, N, 52, -1, 1);
    lv_test_fill_uniform(r, N, 53, -1, 1);
    lv_residual_add_forward(be, out, a, b, N);
    lv_residual_add_backward(be, da, db, r, N);
    /* Linear: no truncation error; step 0.1 makes the float rounding of a + b (~1e-7)
     * negligible after dividing by 0.2, so tol 1e-3 is loose only against noise. */
    fd_ctx c = {be, a, b, r, out, N};
    lv_test_gradcheck("residual_add da", a, da, N, fd_loss, &c, 1e-1f, 1e-3, N);
    lv_test_gradcheck("residual_add db", b, db, N, fd_loss, &c, 1e-1f, 1e-3, N);

    memcpy(da2, da, sizeof da);
    memcpy(db2, db, sizeof db);
    lv_residual_add_backward(be, da2, db2, r, N);
    for (int i = 0; i < N; i++) {
        da[i] *= 2;
        db[i] *= 2;
    }
    lv_test_close("residual_add da accumulates (2 calls = 2x)", da2, da, N, 0.0);
    lv_test_close("residual_add db accumulates (2 calls = 2x)", db2, db, N, 0.0);

    /* One branch NULL: the other still gets exactly dout. */
    memset(da2, 0, sizeof da2);
    memset(db2, 0, sizeof db2);
    lv_residual_add_backward(be, NULL, db2, r, N);
    lv_residual_add_backward(be, da2, NULL, r, N);
    lv_test_close("residual_add db with da NULL", db2, r, N, 0.0);
    lv_test_close("residual_add da with db NULL", da2, r, N, 0.0);
    lv_residual_add_backward(be, NULL, NULL, r, N);
    lv_test_pass("residual_add backward with both NULL is a no-op");

    /* Writing into one input (out == a) is how a block adds its shortcut in place. */
    /* (out is recomputed: the gradcheck left it at its last perturbed point.) */
    lv_residual_add_forward(be, out, a, b, N);
    memcpy(da2, a, sizeof a);
    lv_residual_add_forward(be, da2, da2, b, N);
    lv_test_close("residual_add forward in place (out == a)", da2, out, N, 0.0);
}

static void check_parallel(lv_backend *be) {
    size_t n = (size_t)1 << 18;
    float *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b), *out = malloc(n * sizeof *out);
    float *want = malloc(n * sizeof *want), *da = calloc(n, sizeof *da);
    lv_test_fill_uniform(a, n, 54, -1, 1);
    lv_test_fill_uniform(b, n, 55, -1, 1);
    for (size_t i = 0; i < n; i++) want[i] = a[i] + b[i];
    lv_residual_add_forward(be, out, a, b, n);
    lv_residual_add_backward(be, da, NULL, b, n);
    lv_test_close("residual_add 2^18 elements (OpenMP) forward", out, want, n, 0.0);
    lv_test_close("residual_add 2^18 elements (OpenMP) backward", da, b, n, 0.0);
    free(a); free(b); free(out); free(want); free(da);
}

static void check_fixture(lv_backend *be) {
    lv_st_file *f = lv_test_fixture_open("residual_add");
    if (!f) return;
    size_t n = 0, nb = 0;
    float *a = lv_test_fixture_f32(f, "a", &n), *b = lv_test_fixture_f32(f, "b", &nb);
    float *want = lv_test_fixture_f32(f, "out", NULL), *dout = lv_test_fixture_f32(f, "dout", NULL);
    float *daw = lv_test_fixture_f32(f, "da", NULL), *dbw = lv_test_fixture_f32(f, "db", NULL);
    if (a && b && want && dout && daw && dbw && lv_test_true(n == 150 && nb == n, "residual_add fixture shapes")) {
        float *out = malloc(n * sizeof *out), *da = calloc(n, sizeof *da), *db = calloc(n, sizeof *db);
        lv_residual_add_forward(be, out, a, b, n);
        lv_residual_add_backward(be, da, db, dout, n);
        lv_test_close("residual_add forward vs torch", out, want, n, 1e-5);
        lv_test_close("residual_add da vs torch", da, daw, n, 1e-5);
        lv_test_close("residual_add db vs torch", db, dbw, n, 1e-5);
        free(out); free(da); free(db);
    }
    free(a); free(b); free(want); free(dout); free(daw); free(dbw);
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
