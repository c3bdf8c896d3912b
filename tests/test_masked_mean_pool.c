/* masked_mean_pool CPU op (text pooling): finite-difference din with padding and an
 * all-padding row, += accumulation, NULL din, CLS pooling via a token-0 mask being an exact
 * copy, and sentence-transformers' mean pooling in torch (fixtures/bert_pool.safetensors,
 * from tests/fixtures_bert.py). LV_TEST_SANITIZE */
#include <stdlib.h>
#include <string.h>

#include "harness.h"

enum { B = 3, T = 5, C = 4 };

typedef struct fd_ctx {
    lv_backend *be;
    const int *mask;
    const float *in, *r;
    float *out;
} fd_ctx;

static double fd_loss(void *p) {
    fd_ctx *k = p;
    lv_masked_mean_pool_forward(k->be, k->out, k->in, k->mask, B, T, C);
    double s = 0;
    for (int i = 0; i < B * C; i++) s += (double)k->r[i] * k->out[i];
    return s;
}

static void check_fd(lv_backend *be) {
    /* Row 1 padded after 2 tokens (a gap too: masks need not be prefixes), row 2 all padding. */
    const int mask[B * T] = {1, 1, 1, 1, 1, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0};
    float in[B * T * C], r[B * C], out[B * C], din[B * T * C] = {0}, din2[B * T * C];
    lv_test_fill_uniform(in, B * T * C, 91, -2, 2);
    lv_test_fill_uniform(r, B * C, 92, -1, 1);
    fd_ctx k = {be, mask, in, r, out};
    fd_loss(&k);
    int zero_row = 1;
    for (int i = 0; i < C; i++) zero_row &= out[2 * C + i] == 0.0f;
    lv_test_true(zero_row, "all-padding sequence pools to exactly 0 (clamp(count, 1e-9) semantics)");
    float want1 = (in[(1 * T + 0) * C + 2] + in[(1 * T + 2) * C + 2]) / 2.0f;
    lv_test_close("row 1 mean over its two kept tokens", &out[1 * C + 2], &want1, 1, 1e-6);

    lv_masked_mean_pool_backward(be, din, r, mask, B, T, C);
    /* Linear in `in`: the central difference is exact up to the double loss's rounding, so
     * a tight tolerance only admits noise; padded tokens must get exactly 0. */
    lv_test_gradcheck("masked_mean_pool din", in, din, B * T * C, fd_loss, &k, 0.05f, 1e-3, B * T * C);
    int pads_zero = 1;
    for (int i = 0; i < B * T; i++)
        if (!mask[i])
            for (int j = 0; j < C; j++) pads_zero &= din[i * C + j] == 0.0f;
    lv_test_true(pads_zero, "padded tokens get exactly zero gradient");

    memcpy(din2, din, sizeof din);
    lv_masked_mean_pool_backward(be, din2, r, mask, B, T, C);
    float twice[B * T * C];
    for (int i = 0; i < B * T * C; i++) twice[i] = 2.0f * din[i];
    lv_test_close("backward adds into din", din2, twice, B * T * C, 0.0);
    lv_masked_mean_pool_backward(be, NULL, r, mask, B, T, C);
    lv_test_true(be->sync(be) == LV_OK, "NULL din is skipped without error");

    /* CLS pooling = a mask keeping token 0 only: an exact copy of token 0. */
    const int cls[B * T] = {1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0};
    lv_masked_mean_pool_forward(be, out, in, cls, B, T, C);
    int exact = 1;
    for (int b = 0; b < B; b++) exact &= memcmp(out + b * C, in + b * T * C, C * sizeof(float)) == 0;
    lv_test_true(exact, "token-0 mask gives the CLS hidden state bit for bit");
}

static void check_torch(lv_backend *be) {
    lv_st_file *fx = lv_test_fixture_open("bert_pool");
    if (!fx) return;
    size_t nin = 0, nout = 0, nm = 0;
    float *in = lv_test_fixture_f32(fx, "in", &nin), *want = lv_test_fixture_f32(fx, "out", &nout);
    float *dout = lv_test_fixture_f32(fx, "dout", NULL), *dwant = lv_test_fixture_f32(fx, "din", NULL);
    int *mask = lv_test_fixture_i32(fx, "mask", &nm);
    if (in && want && dout && dwant && mask) {
        const int b = 4, t = 6, c = 5;
        lv_test_true(nin == (size_t)b * t * c && nout == (size_t)b * c && nm == (size_t)b * t, "fixture shapes");
        float *out = malloc(nout * sizeof *out), *din = calloc(nin, sizeof *din);
        lv_masked_mean_pool_forward(be, out, in, mask, b, t, c);
        lv_masked_mean_pool_backward(be, din, dout, mask, b, t, c);
        lv_test_close("torch mean pooling out", out, want, nout, 1e-5);
        lv_test_close("torch mean pooling din", din, dwant, nin, 1e-5);
        free(out);
        free(din);
    }
    free(in), free(want), free(dout), free(dwant), free(mask);
    lv_st_close(fx);
}

int main(void) {
    lv_backend *be = lv_test_cpu_backend();
    check_fd(be);
    check_torch(be);
    lv_test_true(be->sync(be) == LV_OK, "no backend errors");
    lv_backend_destroy(be);
    return lv_test_summary();
}
