/* conv2d CPU op: forward against a direct (6-loop, double) convolution, finite-difference
 * gradients (din, dw, dbias) on ResNet's kinds of shapes, += accumulation and NULL skipping,
 * batching samples per GEMM, then PyTorch's fp32 answer from tests/fixtures/conv2d.safetensors.
 * LV_TEST_SANITIZE */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cpu/cpu_ops.h"
#include "harness.h"

typedef struct conv_case {
    const char *name;
    lv_conv2d_shape s;
    int bias;
} conv_case;

/* Small shapes covering every path: 3x3/s1/p1, conv1's 7x7/s2/p3, the 1x1/s2 downsample,
 * 3x3/s2/p1, odd sizes, a non-square kernel, 1x1/s1, stride 3, with and without bias, and
 * one with two samples per GEMM. */
static const conv_case cases[] = {
    {"k3s1p1", {2, 3, 6, 5, 4, 3, 3, 1, 1}, 1},
    {"k7s2p3", {2, 3, 9, 11, 4, 7, 7, 2, 3}, 0},
    {"k1s2p0", {2, 5, 7, 6, 3, 1, 1, 2, 0}, 1},
    {"k3s2p1", {3, 4, 7, 9, 5, 3, 3, 2, 1}, 0},
    {"k3x5s2p2", {2, 3, 5, 8, 2, 3, 5, 2, 2}, 1},
    {"k1s1p0", {2, 6, 5, 3, 4, 1, 1, 1, 0}, 1},
    {"k3s3p0", {1, 2, 10, 10, 3, 3, 3, 3, 0}, 1},
    {"par", {4, 8, 16, 16, 16, 3, 3, 1, 1}, 1},
};
#define N_CASES ((int)(sizeof cases / sizeof cases[0]))

static size_t in_len(const lv_conv2d_shape *s) { return (size_t)s->n * s->c * s->h * s->w; }
static size_t w_len(const lv_conv2d_shape *s) { return (size_t)s->oc * s->c * s->kh * s->kw; }
static size_t out_len(const lv_conv2d_shape *s) {
    return (size_t)s->n * s->oc * lv_conv2d_oh(s) * lv_conv2d_ow(s);
}

/* The definition, summed in double: independent of im2col, GEMM and grouping. */
static void conv_direct(float *out, const float *in, const float *w, const float *b,
                        const lv_conv2d_shape *s) {
    int oh = lv_conv2d_oh(s), ow = lv_conv2d_ow(s);
    for (int n = 0; n < s->n; n++)
        for (int o = 0; o < s->oc; o++)
            for (int y = 0; y < oh; y++)
                for (int x = 0; x < ow; x++) {
                    double acc = b ? b[o] : 0.0;
                    for (int c = 0; c < s->c; c++)
                        for (int ky = 0; ky < s->kh; ky++)
                            for (int kx = 0; kx < s->kw; kx++) {
                                int iy = y * s->stride - s->pad + ky, ix = x * s->stride - s->pad + kx;
                                if (iy < 0 || iy >= s->h || ix < 0 || ix >= s->w) continue;
                                acc += (double)in[(((size_t)n * s->c + c) * s->h + iy) * s->w + ix] *
                                       w[(((size_t)o * s->c + c) * s->kh + ky) * s->kw + kx];
                            }
                    out[(((size_t)n * s->oc + o) * oh + y) * ow + x] = (float)acc;
                }
}

typedef struct fd_ctx {
    lv_backend *be;
    const lv_conv2d_shape *s;
    float *in, *w, *b, *out, *r;
} fd_ctx;

/* loss = sum_i r_i * out_i in double, so the FD noise is the op's own float rounding. */
static double conv_loss(void *p) {
    fd_ctx *k = p;
    lv_cpu_conv2d_forward(k->be, k->out, k->in, k->w, k->b, k->s);
    double acc = 0;
    size_t n = out_len(k->s);
    for (size_t i = 0; i < n; i++) acc += (double)k->r[i] * k->out[i];
    return acc;
}

static float *fvec(size_t n) { return calloc(n ? n : 1, sizeof(float)); }

static void check_case(lv_backend *be, const conv_case *cc, uint64_t seed) {
    const lv_conv2d_shape *s = &cc->s;
    size_t ni = in_len(s), nw = w_len(s), no = out_len(s), nb = (size_t)s->oc;
    fd_ctx k = {be, s, fvec(ni), fvec(nw), cc->bias ? fvec(nb) : NULL, fvec(no), fvec(no)};
    float *ref = fvec(no), *din = fvec(ni), *dw = fvec(nw), *db = fvec(nb);
    lv_test_fill_uniform(k.in, ni, seed, -1.0f, 1.0f);
    lv_test_fill_uniform(k.w, nw, seed + 1, -0.5f, 0.5f);
    if (k.b) lv_test_fill_uniform(k.b, nb, seed + 2, -0.5f, 0.5f);
    lv_test_fill_uniform(k.r, no, seed + 3, -1.0f, 1.0f);
    char what[96];

    conv_loss(&k);
    conv_direct(ref, k.in, k.w, k.b, s);
    snprintf(what, sizeof what, "conv2d %s forward vs direct sum", cc->name);
    lv_test_close(what, k.out, ref, no, 1e-5);

    /* dout = r, the gradient of the loss with respect to out. */
    lv_cpu_conv2d_backward(be, din, dw, k.b ? db : NULL, k.r, k.in, k.w, s);
    lv_test_true(be->sync(be) == LV_OK, "conv2d backward records no error");

    /* conv2d is linear in each argument, so central differences carry no truncation error at
     * any step: a large step (0.5) shrinks the float rounding of the ~oc*k*k outputs one
     * element touches (~1e-7 of O(1) values, ~1e-6 in the loss) to ~1e-6 absolute in the
     * quotient, against the floor of 1e-3 * max gradient (O(1)): measured worst ~1e-4, tol
     * 2e-3. A dropped tap, a wrong offset or transposed weights give O(1) errors. */
    snprintf(what, sizeof what, "conv2d %s din", cc->name);
    lv_test_gradcheck(what, k.in, din, ni, conv_loss, &k, 0.5f, 2e-3, 200);
    snprintf(what, sizeof what, "conv2d %s dw", cc->name);
    lv_test_gradcheck(what, k.w, dw, nw, conv_loss, &k, 0.5f, 2e-3, 200);
    if (k.b) {
        snprintf(what, sizeof what, "conv2d %s dbias", cc->name);
        lv_test_gradcheck(what, k.b, db, nb, conv_loss, &k, 0.5f, 2e-3, 200);
    }

    /* Backward adds: from a buffer holding 1, two calls give 1 + 2g. */
    float *din2 = fvec(ni), *dw2 = fvec(nw), *db2 = fvec(nb);
    float *want_in = fvec(ni), *want_w = fvec(nw), *want_b = fvec(nb);
    for (size_t i = 0; i < ni; i++) din2[i] = 1.0f, want_in[i] = 1.0f + 2.0f * din[i];
    for (size_t i = 0; i < nw; i++) dw2[i] = 1.0f, want_w[i] = 1.0f + 2.0f * dw[i];
    for (size_t i = 0; i < nb; i++) db2[i] = 1.0f, want_b[i] = 1.0f + 2.0f * db[i];
    for (int rep = 0; rep < 2; rep++) lv_cpu_conv2d_backward(be, din2, dw2, db2, k.r, k.in, k.w, s);
    snprintf(what, sizeof what, "conv2d %s backward adds into din", cc->name);
    lv_test_close(what, din2, want_in, ni, 1e-6);
    snprintf(what, sizeof what, "conv2d %s backward adds into dw", cc->name);
    lv_test_close(what, dw2, want_w, nw, 1e-6);
    if (k.b) {
        snprintf(what, sizeof what, "conv2d %s backward adds into dbias", cc->name);
        lv_test_close(what, db2, want_b, nb, 1e-6);
    }

    /* NULL gradients are skipped and do not change the others. */
    memset(din2, 0, ni * sizeof(float));
    memset(dw2, 0, nw * sizeof(float));
    memset(db2, 0, nb * sizeof(float));
    lv_cpu_conv2d_backward(be, din2, NULL, NULL, k.r, k.in, k.w, s);
    lv_cpu_conv2d_backward(be, NULL, dw2, NULL, k.r, k.in, k.w, s);
    lv_cpu_conv2d_backward(be, NULL, NULL, db2, k.r, k.in, k.w, s);
    lv_cpu_conv2d_backward(be, NULL, NULL, NULL, k.r, k.in, k.w, s);
    snprintf(what, sizeof what, "conv2d %s din alone (dw, dbias NULL)", cc->name);
    lv_test_close(what, din2, din, ni, 1e-6);
    snprintf(what, sizeof what, "conv2d %s dw alone (din, dbias NULL)", cc->name);
    lv_test_close(what, dw2, dw, nw, 1e-6);
    if (k.b) {
        snprintf(what, sizeof what, "conv2d %s dbias alone (din, dw NULL)", cc->name);
        lv_test_close(what, db2, db, nb, 1e-6);
    }
    lv_test_true(be->sync(be) == LV_OK, "conv2d NULL-gradient calls record no error");

    free(din2), free(dw2), free(db2), free(want_in), free(want_w), free(want_b);
    free(k.in), free(k.w), free(k.b), free(k.out), free(k.r), free(ref), free(din), free(dw), free(db);
}

/* Threads take groups of samples (several per GEMM when the map is small) and all but the
 * first add dw into partials summed at the end. The batched result must equal one call per
 * sample (one thread, one sample per GEMM): a wrong group offset, a lost last partial group or
 * a dropped partial shows up here. Batches of 37 leave a ragged last group. */
static void check_grouping(lv_backend *be, const lv_conv2d_shape *shape, const char *what_shape) {
    lv_conv2d_shape s = *shape, one = *shape;
    one.n = 1;
    size_t ni = in_len(&s), nw = w_len(&s), no = out_len(&s);
    size_t pi = in_len(&one), po = out_len(&one);
    float *in = fvec(ni), *w = fvec(nw), *b = fvec((size_t)s.oc), *out = fvec(no), *ref = fvec(no);
    float *dw = fvec(nw), *dw_ref = fvec(nw), *din = fvec(ni), *din_ref = fvec(ni);
    lv_test_fill_uniform(in, ni, 91, -1.0f, 1.0f);
    lv_test_fill_uniform(w, nw, 92, -0.2f, 0.2f);
    lv_test_fill_uniform(b, (size_t)s.oc, 93, -0.5f, 0.5f);
    lv_cpu_conv2d_forward(be, out, in, w, b, &s);
    for (int n = 0; n < s.n; n++) lv_cpu_conv2d_forward(be, ref + n * po, in + n * pi, w, b, &one);
    char what[96];
    snprintf(what, sizeof what, "conv2d %s batched forward = per-sample forward", what_shape);
    lv_test_close(what, out, ref, no, 1e-6);
    /* out doubles as dout here: any values do. */
    lv_cpu_conv2d_backward(be, din, dw, NULL, out, in, w, &s);
    for (int n = 0; n < s.n; n++)
        lv_cpu_conv2d_backward(be, din_ref + n * pi, dw_ref, NULL, out + n * po, in + n * pi, w, &one);
    snprintf(what, sizeof what, "conv2d %s batched din = per-sample din", what_shape);
    lv_test_close(what, din, din_ref, ni, 1e-6);
    snprintf(what, sizeof what, "conv2d %s batched dw = sum of per-sample dw", what_shape);
    lv_test_close(what, dw, dw_ref, nw, 1e-5);
    lv_test_true(be->sync(be) == LV_OK, "conv2d batched calls record no error");
    free(in), free(w), free(b), free(out), free(ref), free(dw), free(dw_ref), free(din), free(din_ref);
}

static void check_bad_shape(lv_backend *be) {
    lv_conv2d_shape s = {1, 1, 2, 2, 1, 3, 3, 1, 0}; /* 3x3 kernel on a 2x2 input, no padding */
    float x[4] = {0}, w[9] = {0}, y[1] = {0};
    lv_cpu_conv2d_forward(be, y, x, w, NULL, &s);
    lv_status st = be->sync(be);
    lv_test_true(st != LV_OK && strstr(lv_error_message(), "bad shape") != NULL,
                 "conv2d with an empty output is a reported error, not a crash");
    lv_error_clear();
}

static void check_fixture(lv_backend *be, lv_st_file *f, const char *tag) {
    char key[64];
#define CV_GET(name) (snprintf(key, sizeof key, "%s.%s", tag, name), lv_test_fixture_f32(f, key, NULL))
    snprintf(key, sizeof key, "%s.shape", tag);
    size_t ns = 0;
    int *sh = lv_test_fixture_i32(f, key, &ns);
    float *in = CV_GET("in"), *w = CV_GET("w"), *want_out = CV_GET("out"), *dout = CV_GET("dout");
    float *want_din = CV_GET("din"), *want_dw = CV_GET("dw");
    float *b = NULL, *want_db = NULL;
    if (sh && ns == 10 && sh[9]) {
        b = CV_GET("b");
        want_db = CV_GET("db");
    }
#undef CV_GET
    if (sh && ns == 10 && in && w && want_out && dout && want_din && want_dw && (!sh[9] || (b && want_db))) {
        lv_conv2d_shape s = {sh[0], sh[1], sh[2], sh[3], sh[4], sh[5], sh[6], sh[7], sh[8]};
        size_t ni = in_len(&s), nw = w_len(&s), no = out_len(&s);
        float *out = fvec(no), *din = fvec(ni), *dw = fvec(nw), *db = fvec((size_t)s.oc);
        lv_cpu_conv2d_forward(be, out, in, w, b, &s);
        lv_cpu_conv2d_backward(be, din, dw, b ? db : NULL, dout, in, w, &s);
        char what[96];
        snprintf(what, sizeof what, "conv2d out vs torch (%s)", tag);
        lv_test_close(what, out, want_out, no, 1e-5);
        snprintf(what, sizeof what, "conv2d din vs torch (%s)", tag);
        lv_test_close(what, din, want_din, ni, 1e-5);
        snprintf(what, sizeof what, "conv2d dw vs torch (%s)", tag);
        lv_test_close(what, dw, want_dw, nw, 1e-5);
        if (b) {
            snprintf(what, sizeof what, "conv2d dbias vs torch (%s)", tag);
            lv_test_close(what, db, want_db, (size_t)s.oc, 1e-5);
        }
        free(out), free(din), free(dw), free(db);
    } else if (sh && ns != 10) {
        lv_test_fail("fixture %s.shape has %zu entries, expected 10", tag, ns);
    }
    free(sh), free(in), free(w), free(want_out), free(dout), free(want_din), free(want_dw);
    free(b), free(want_db);
}

int main(void) {
    lv_backend *be = lv_test_cpu_backend();
    for (int i = 0; i < N_CASES; i++) check_case(be, &cases[i], 100 + 10 * (uint64_t)i);
    /* 2x2 maps as in layer4 (19 + 18 samples per GEMM), 4x4 as layer3, 16x16 as layer1. */
    const lv_conv2d_shape g2 = {37, 16, 4, 4, 8, 3, 3, 2, 1}, g4 = {37, 8, 4, 4, 8, 3, 3, 1, 1};
    const lv_conv2d_shape g16 = {5, 4, 16, 16, 6, 3, 3, 1, 1};
    check_grouping(be, &g2, "2x2 maps");
    check_grouping(be, &g4, "4x4 maps");
    check_grouping(be, &g16, "16x16 maps");
    check_bad_shape(be);

    lv_st_file *f = lv_test_fixture_open("conv2d");
    if (f) {
        static const char *tags[] = {"k3s1p1", "k7s2p3", "k1s2p0", "k3s2p1", "odd", "k1s1p0", "par"};
        for (size_t i = 0; i < sizeof tags / sizeof tags[0]; i++) check_fixture(be, f, tags[i]);
        lv_st_close(f);
    }
    lv_backend_destroy(be);
    return lv_test_summary();
}
