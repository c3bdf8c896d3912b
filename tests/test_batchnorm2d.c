/* batchnorm2d CPU op: training forward against the definition (batch mean, biased variance,
 * momentum update with the unbiased one), finite-difference gradients, += accumulation and
 * NULL skipping, eval mode, then PyTorch's fp32 answer from tests/fixtures/batchnorm2d.safetensors.
 * LV_TEST_SANITIZE */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cpu/cpu_ops.h"
#include "harness.h"

static float *fvec(size_t n) { return calloc(n ? n : 1, sizeof(float)); }

typedef struct bn_ctx {
    lv_backend *be;
    lv_bn_shape s;
    float *in, *gamma, *beta, *out, *mean, *invstd, *r;
} bn_ctx;

/* loss = sum_i r_i * out_i in double; training mode without running statistics (they do not
 * affect the output, and each FD evaluation would otherwise drift them). */
static double bn_loss(void *p) {
    bn_ctx *k = p;
    lv_cpu_batchnorm2d_forward(k->be, k->out, k->mean, k->invstd, NULL, NULL, k->in, k->gamma,
                               k->beta, &k->s, 1);
    double acc = 0;
    size_t n = (size_t)k->s.n * k->s.c * k->s.hw;
    for (size_t i = 0; i < n; i++) acc += (double)k->r[i] * k->out[i];
    return acc;
}

static void fill_inputs(bn_ctx *k, uint64_t seed) {
    size_t n = (size_t)k->s.n * k->s.c * k->s.hw;
    lv_test_fill_uniform(k->in, n, seed, -1.5f, 1.5f);
    /* Per-channel offsets and scales, so centring and scaling both matter. */
    for (int b = 0; b < k->s.n; b++)
        for (int c = 0; c < k->s.c; c++)
            for (int i = 0; i < k->s.hw; i++) {
                float *x = &k->in[((size_t)b * k->s.c + c) * k->s.hw + i];
                *x = *x * (0.5f + 0.25f * (float)c) + 2.0f * (float)(c % 3) - 1.0f;
            }
    lv_test_fill_uniform(k->gamma, (size_t)k->s.c, seed + 1, 0.5f, 1.5f);
    lv_test_fill_uniform(k->beta, (size_t)k->s.c, seed + 2, -0.5f, 0.5f);
    lv_test_fill_uniform(k->r, n, seed + 3, -1.0f, 1.0f);
}

/* Forward against the definition in double, including the running-statistics update. */
static void check_forward_definition(lv_backend *be, bn_ctx *k, const char *tag) {
    const lv_bn_shape *s = &k->s;
    size_t n = (size_t)s->n * s->c * s->hw, cnt = (size_t)s->n * s->hw;
    float *ref = fvec(n), *rm = fvec((size_t)s->c), *rv = fvec((size_t)s->c);
    float *want_mean = fvec((size_t)s->c), *want_invstd = fvec((size_t)s->c);
    float *want_rm = fvec((size_t)s->c), *want_rv = fvec((size_t)s->c);
    for (int c = 0; c < s->c; c++) {
        rm[c] = 0.1f * (float)c;
        rv[c] = 1.0f + 0.2f * (float)c;
        double sum = 0, sq = 0;
        for (int b = 0; b < s->n; b++)
            for (int i = 0; i < s->hw; i++) sum += k->in[((size_t)b * s->c + c) * s->hw + i];
        double mean = sum / (double)cnt;
        for (int b = 0; b < s->n; b++)
            for (int i = 0; i < s->hw; i++) {
                double d = k->in[((size_t)b * s->c + c) * s->hw + i] - mean;
                sq += d * d;
            }
        double invstd = 1.0 / sqrt(sq / (double)cnt + (double)s->eps);
        want_mean[c] = (float)mean;
        want_invstd[c] = (float)invstd;
        want_rm[c] = (float)(0.9 * rm[c] + 0.1 * mean);
        want_rv[c] = (float)(0.9 * rv[c] + 0.1 * sq / (double)(cnt - 1));
        for (int b = 0; b < s->n; b++)
            for (int i = 0; i < s->hw; i++) {
                size_t j = ((size_t)b * s->c + c) * s->hw + i;
                ref[j] = (float)((k->in[j] - mean) * invstd * k->gamma[c] + k->beta[c]);
            }
    }
    lv_cpu_batchnorm2d_forward(be, k->out, k->mean, k->invstd, rm, rv, k->in, k->gamma, k->beta, s, 1);
    char what[96];
    snprintf(what, sizeof what, "batchnorm2d %s train out vs definition", tag);
    lv_test_close(what, k->out, ref, n, 1e-5);
    snprintf(what, sizeof what, "batchnorm2d %s save_mean vs definition", tag);
    lv_test_close(what, k->mean, want_mean, (size_t)s->c, 1e-6);
    snprintf(what, sizeof what, "batchnorm2d %s save_invstd vs definition", tag);
    lv_test_close(what, k->invstd, want_invstd, (size_t)s->c, 1e-6);
    snprintf(what, sizeof what, "batchnorm2d %s running_mean (momentum 0.1)", tag);
    lv_test_close(what, rm, want_rm, (size_t)s->c, 1e-6);
    snprintf(what, sizeof what, "batchnorm2d %s running_var (unbiased, momentum 0.1)", tag);
    lv_test_close(what, rv, want_rv, (size_t)s->c, 1e-6);

    /* Eval: running statistics, nothing saved (NULL save pointers), running stats untouched. */
    float *rm_before = fvec((size_t)s->c), *rv_before = fvec((size_t)s->c);
    memcpy(rm_before, rm, (size_t)s->c * sizeof(float));
    memcpy(rv_before, rv, (size_t)s->c * sizeof(float));
    for (int c = 0; c < s->c; c++) {
        double inv = 1.0 / sqrt((double)rv[c] + (double)s->eps);
        for (int b = 0; b < s->n; b++)
            for (int i = 0; i < s->hw; i++) {
                size_t j = ((size_t)b * s->c + c) * s->hw + i;
                ref[j] = (float)((k->in[j] - rm[c]) * inv * k->gamma[c] + k->beta[c]);
            }
    }
    lv_cpu_batchnorm2d_forward(be, k->out, NULL, NULL, rm, rv, k->in, k->gamma, k->beta, s, 0);
    snprintf(what, sizeof what, "batchnorm2d %s eval out vs definition", tag);
    lv_test_close(what, k->out, ref, n, 1e-5);
    snprintf(what, sizeof what, "batchnorm2d %s eval leaves running stats alone", tag);
    lv_test_true(!memcmp(rm, rm_before, (size_t)s->c * sizeof(float)) &&
                     !memcmp(rv, rv_before, (size_t)s->c * sizeof(float)), what);
    free(ref), free(rm), free(rv), free(want_mean), free(want_invstd), free(want_rm), free(want_rv);
    free(rm_before), free(rv_before);
}

static void check_case(lv_backend *be, const char *tag, int n, int c, int hw, float fd_step,
                       uint64_t seed) {
    bn_ctx k = {.be = be, .s = {n, c, hw, 1e-5f, 0.1f}};
    size_t len = (size_t)n * c * hw;
    k.in = fvec(len), k.out = fvec(len), k.r = fvec(len);
    k.gamma = fvec((size_t)c), k.beta = fvec((size_t)c), k.mean = fvec((size_t)c), k.invstd = fvec((size_t)c);
    float *din = fvec(len), *dg = fvec((size_t)c), *db = fvec((size_t)c);
    fill_inputs(&k, seed);
    check_forward_definition(be, &k, tag);

    bn_loss(&k);
    /* dout = r, the gradient of the loss with respect to out. */
    lv_cpu_batchnorm2d_backward(be, din, dg, db, k.r, k.in, k.gamma, k.mean, k.invstd, &k.s);
    char what[96];
    /* The output is linear in gamma and beta (exact differences at any step, so 0.5). In x it
     * is smooth, and one element's curvature shrinks as 1/(n*hw) while the float rounding of
     * the n*hw outputs it moves grows as sqrt(n*hw): so the step grows with the channel, 1e-2
     * for ~20 values (truncation ~1e-5, rounding ~5e-5 against gradients ~0.1..1), 0.1 for
     * 4096. Measured worst ~1e-3 on small entries, tol 1e-2; dropping the mean or variance
     * term of din is an O(1) error. */
    snprintf(what, sizeof what, "batchnorm2d %s din", tag);
    lv_test_gradcheck(what, k.in, din, len, bn_loss, &k, fd_step, 1e-2, 200);
    snprintf(what, sizeof what, "batchnorm2d %s dgamma", tag);
    lv_test_gradcheck(what, k.gamma, dg, (size_t)c, bn_loss, &k, 0.5f, 1e-3, c);
    snprintf(what, sizeof what, "batchnorm2d %s dbeta", tag);
    lv_test_gradcheck(what, k.beta, db, (size_t)c, bn_loss, &k, 0.5f, 1e-3, c);

    /* Backward adds: from buffers holding 1, two calls give 1 + 2g. */
    bn_loss(&k);
    float *din2 = fvec(len), *dg2 = fvec((size_t)c), *db2 = fvec((size_t)c);
    float *w_in = fvec(len), *w_g = fvec((size_t)c), *w_b = fvec((size_t)c);
    for (size_t i = 0; i < len; i++) din2[i] = 1.0f, w_in[i] = 1.0f + 2.0f * din[i];
    for (int i = 0; i < c; i++) {
        dg2[i] = db2[i] = 1.0f;
        w_g[i] = 1.0f + 2.0f * dg[i];
        w_b[i] = 1.0f + 2.0f * db[i];
    }
    for (int rep = 0; rep < 2; rep++)
        lv_cpu_batchnorm2d_backward(be, din2, dg2, db2, k.r, k.in, k.gamma, k.mean, k.invstd, &k.s);
    snprintf(what, sizeof what, "batchnorm2d %s backward adds into din", tag);
    lv_test_close(what, din2, w_in, len, 1e-6);
    snprintf(what, sizeof what, "batchnorm2d %s backward adds into dgamma", tag);
    lv_test_close(what, dg2, w_g, (size_t)c, 1e-6);
    snprintf(what, sizeof what, "batchnorm2d %s backward adds into dbeta", tag);
    lv_test_close(what, db2, w_b, (size_t)c, 1e-6);

    /* NULL gradients are skipped and do not change the others. */
    memset(din2, 0, len * sizeof(float));
    memset(dg2, 0, (size_t)c * sizeof(float));
    memset(db2, 0, (size_t)c * sizeof(float));
    lv_cpu_batchnorm2d_backward(be, din2, NULL, NULL, k.r, k.in, k.gamma, k.mean, k.invstd, &k.s);
    lv_cpu_batchnorm2d_backward(be, NULL, dg2, NULL, k.r, k.in, k.gamma, k.mean, k.invstd, &k.s);
    lv_cpu_batchnorm2d_backward(be, NULL, NULL, db2, k.r, k.in, k.gamma, k.mean, k.invstd, &k.s);
    lv_cpu_batchnorm2d_backward(be, NULL, NULL, NULL, k.r, k.in, k.gamma, k.mean, k.invstd, &k.s);
    snprintf(what, sizeof what, "batchnorm2d %s din alone", tag);
    lv_test_close(what, din2, din, len, 1e-6);
    snprintf(what, sizeof what, "batchnorm2d %s dgamma alone", tag);
    lv_test_close(what, dg2, dg, (size_t)c, 1e-6);
    snprintf(what, sizeof what, "batchnorm2d %s dbeta alone", tag);
    lv_test_close(what, db2, db, (size_t)c, 1e-6);
    lv_test_true(be->sync(be) == LV_OK, "batchnorm2d calls record no error");

    free(din2), free(dg2), free(db2), free(w_in), free(w_g), free(w_b);
    free(k.in), free(k.out), free(k.r), free(k.gamma), free(k.beta), free(k.mean), free(k.invstd);
    free(din), free(dg), free(db);
}

static void check_single_value(lv_backend *be) {
    /* torch refuses training with one value per channel (the unbiased variance divides by 0). */
    lv_bn_shape s = {1, 2, 1, 1e-5f, 0.1f};
    float x[2] = {1, 2}, y[2], g[2] = {1, 1}, b[2] = {0, 0}, m[2], v[2];
    lv_cpu_batchnorm2d_forward(be, y, m, v, NULL, NULL, x, g, b, &s, 1);
    lv_test_true(be->sync(be) != LV_OK, "batchnorm2d training on one value per channel is an error");
    lv_error_clear();
}

static void check_fixture(lv_backend *be, lv_st_file *f, const char *tag) {
    char key[64];
#define BN_GET(name) (snprintf(key, sizeof key, "%s.%s", tag, name), lv_test_fixture_f32(f, key, NULL))
    snprintf(key, sizeof key, "%s.shape", tag);
    size_t ns = 0;
    int *sh = lv_test_fixture_i32(f, key, &ns);
    enum { IN, GAMMA, BETA, RM0, RV0, OUT, SMEAN, SINV, RM, RV, DOUT, DIN, DG, DB, OUTE, NK };
    static const char *names[NK] = {"in", "gamma", "beta", "running_mean0", "running_var0", "out",
                                    "save_mean", "save_invstd", "running_mean", "running_var",
                                    "dout", "din", "dgamma", "dbeta", "out_eval"};
    float *t[NK];
    int ok = sh && ns == 3;
    for (int i = 0; i < NK; i++) ok &= (t[i] = BN_GET(names[i])) != NULL;
#undef BN_GET
    if (ok) {
        lv_bn_shape s = {sh[0], sh[1], sh[2], 1e-5f, 0.1f};
        size_t len = (size_t)s.n * s.c * s.hw, c = (size_t)s.c;
        float *out = fvec(len), *mean = fvec(c), *inv = fvec(c), *din = fvec(len);
        float *dg = fvec(c), *db = fvec(c), *rm = fvec(c), *rv = fvec(c), *oute = fvec(len);
        memcpy(rm, t[RM0], c * sizeof(float));
        memcpy(rv, t[RV0], c * sizeof(float));
        lv_cpu_batchnorm2d_forward(be, out, mean, inv, rm, rv, t[IN], t[GAMMA], t[BETA], &s, 1);
        lv_cpu_batchnorm2d_backward(be, din, dg, db, t[DOUT], t[IN], t[GAMMA], mean, inv, &s);
        lv_cpu_batchnorm2d_forward(be, oute, NULL, NULL, t[RM0], t[RV0], t[IN], t[GAMMA], t[BETA], &s, 0);
        const float *got[] = {out, mean, inv, rm, rv, din, dg, db, oute};
        const int want[] = {OUT, SMEAN, SINV, RM, RV, DIN, DG, DB, OUTE};
        for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
            size_t n = (want[i] == OUT || want[i] == DIN || want[i] == OUTE) ? len : c;
            char what[96];
            snprintf(what, sizeof what, "batchnorm2d %s vs torch (%s)", names[want[i]], tag);
            lv_test_close(what, got[i], t[want[i]], n, 1e-5);
        }
        free(out), free(mean), free(inv), free(din), free(dg), free(db), free(rm), free(rv), free(oute);
    } else if (sh && ns != 3) {
        lv_test_fail("fixture %s.shape has %zu entries, expected 3", tag, ns);
    }
    free(sh);
    for (int i = 0; i < NK; i++) free(t[i]);
}

int main(void) {
    lv_backend *be = lv_test_cpu_backend();
    check_case(be, "small", 3, 4, 6, 1e-2f, 300);
    /* hw = 1, as a 1x1 feature map; n = 3 since two values normalise to exactly +-1 (no gradient). */
    check_case(be, "odd", 3, 3, 1, 1e-2f, 310);
    check_case(be, "parallel", 4, 8, 1024, 0.1f, 320); /* big enough for the OpenMP loops to fork */
    check_single_value(be);

    lv_st_file *f = lv_test_fixture_open("batchnorm2d");
    if (f) {
        static const char *tags[] = {"small", "wide", "single"};
        for (size_t i = 0; i < sizeof tags / sizeof tags[0]; i++) check_fixture(be, f, tags[i]);
        lv_st_close(f);
    }
    lv_backend_destroy(be);
    return lv_test_summary();
}
