/* softmax CPU op (last dim): finite-difference din, rows summing to 1, no overflow for huge
 * logits, += accumulation, NULL skipping, then torch.softmax's fp32 answer from
 * tests/fixtures/softmax.safetensors. LV_TEST_SANITIZE */
#include <math.h>
#include <stdlib.h>

#include "core/cpu/cpu_ops.h"
#include "harness.h"

typedef struct sm_case {
    lv_backend *be;
    int rows, cols;
    float *x, *out, *r;
} sm_case;

static double sm_loss(void *p) {
    sm_case *k = p;
    lv_cpu_softmax_forward(k->be, k->out, k->x, k->rows, k->cols);
    double s = 0;
    for (int i = 0; i < k->rows * k->cols; i++) s += (double)k->r[i] * k->out[i];
    return s;
}

int main(void) {
    lv_backend *be = lv_test_cpu_backend();
    enum { ROWS = 3, COLS = 6, N = ROWS * COLS };
    sm_case k = {.be = be, .rows = ROWS, .cols = COLS};
    k.x = malloc(N * sizeof(float));
    k.out = malloc(N * sizeof(float));
    k.r = malloc(N * sizeof(float));
    float *din = calloc(N, sizeof(float)), *din2 = calloc(N, sizeof(float));
    lv_test_fill_uniform(k.x, N, 31, -2.0f, 2.0f);
    lv_test_fill_uniform(k.r, N, 32, -1.0f, 1.0f);

    sm_loss(&k);
    double worst = 0;
    for (int i = 0; i < ROWS; i++) {
        double s = 0;
        for (int j = 0; j < COLS; j++) s += k.out[i * COLS + j];
        worst = fmax(worst, fabs(s - 1.0));
    }
    lv_test_true(worst < 1e-6, "softmax rows sum to 1");

    lv_cpu_softmax_backward(be, din, k.r, k.out, ROWS, COLS);
    /* Step 1e-3 on logits in [-2,2]: truncation ~ 1e-7, loss rounding ~ 1e-7/1e-3 = 1e-4
     * against gradients ~ 0.1; tol 1e-2 leaves room and a wrong Jacobian is O(1) off. */
    lv_test_gradcheck("softmax din", k.x, din, N, sm_loss, &k, 1e-3f, 1e-2, N);

    sm_loss(&k);
    lv_cpu_softmax_backward(be, din2, k.r, k.out, ROWS, COLS);
    lv_cpu_softmax_backward(be, din2, k.r, k.out, ROWS, COLS);
    lv_cpu_softmax_backward(be, NULL, k.r, k.out, ROWS, COLS);
    for (int i = 0; i < N; i++) din[i] *= 2.0f;
    lv_test_close("softmax backward accumulates", din2, din, N, 1e-6);

    /* Logits far beyond exp's float range: the max shift keeps the answer exact. */
    float big[4] = {1000.0f, 999.0f, 998.0f, -1000.0f}, pbig[4];
    double e1 = exp(-1.0), e2 = exp(-2.0), z = 1.0 + e1 + e2;
    float want_big[4] = {(float)(1.0 / z), (float)(e1 / z), (float)(e2 / z), 0.0f};
    lv_cpu_softmax_forward(be, pbig, big, 1, 4);
    lv_test_close("softmax of huge logits", pbig, want_big, 4, 1e-6);

    lv_st_file *f = lv_test_fixture_open("softmax");
    if (f) {
        int *shape = lv_test_fixture_i32(f, "shape", NULL);
        float *x = lv_test_fixture_f32(f, "in", NULL), *y = lv_test_fixture_f32(f, "out", NULL);
        float *dout = lv_test_fixture_f32(f, "dout", NULL), *want_din = lv_test_fixture_f32(f, "din", NULL);
        if (shape && x && y && dout && want_din) {
            size_t n = (size_t)shape[0] * shape[1];
            float *out = malloc(n * sizeof(float)), *g = calloc(n, sizeof(float));
            lv_cpu_softmax_forward(be, out, x, shape[0], shape[1]);
            lv_cpu_softmax_backward(be, g, dout, out, shape[0], shape[1]);
            lv_test_close("softmax out vs torch", out, y, n, 1e-5);
            lv_test_close("softmax din vs torch", g, want_din, n, 1e-5);
            free(out), free(g);
        }
        free(shape), free(x), free(y), free(dout), free(want_din);
        lv_st_close(f);
    }
    lv_test_true(lv_backend_take_error(be) == LV_OK, "softmax left no backend error");
    free(k.x), free(k.out), free(k.r), free(din), free(din2);
    lv_backend_destroy(be);
    return lv_test_summary();
}
