/* CUDA twins of the loss, normalisation and optimizer ops (cosine_ce, cross_entropy, l2norm,
 * clip_loss, adamw, sgd, grad_sumsq, scale) against the CPU on fresh random inputs: forward
 * values and every gradient at 1e-5 (fp32; none of these ops uses TF32), odd sizes, b = 1,
 * NULL outputs, gradients that start non-zero (backward ops ADD), both sides of the logit
 * scale clamp, eps-clamped rows, bad labels, NaN/Inf flags and run-to-run bit equality.
 * SKIP (77) without a device; LV_TEST_TWIN_CPU=1 runs the device side on a second CPU. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "twin.h"

#define RTOL 1e-5

static lv_backend *cpu, *dev;

static void *xmalloc(size_t bytes) {
    void *p = malloc(bytes ? bytes : 1);
    if (!p) {
        fprintf(stderr, "test_cuda_loss: out of memory\n");
        exit(1);
    }
    return p;
}

static float *rnd(size_t n, uint64_t seed, float lo, float hi) {
    float *x = xmalloc(n * sizeof *x);
    lv_test_fill_uniform(x, n, seed, lo, hi);
    return x;
}

static float *dup(const float *x, size_t n) {
    float *y = xmalloc(n * sizeof *y);
    memcpy(y, x, n * sizeof *y);
    return y;
}

static void dfree(void *p) {
    if (p) dev->free(dev, p);
}

/* Downloads n floats from the device (after a sync that must be clean). */
static float *down(const float *d, size_t n, const char *what) {
    float *h = xmalloc(n * sizeof *h);
    memset(h, 0, n * sizeof *h);
    if (lv_twin_sync(dev, what) == 0) dev->copy_d2h(dev, h, d, n * sizeof *h);
    return h;
}

static int down_int(const int *d, const char *what) {
    int v = -1;
    if (lv_twin_sync(dev, what) == 0) dev->copy_d2h(dev, &v, d, sizeof v);
    return v;
}

/* Compares rows [0,row), row, (row,rows) separately when row >= 0: an eps-clamped row's
 * gradient is ~1/eps larger than the others and would hide their errors in one maximum. */
static void expect_rows(const char *what, const float *d, const float *want, int rows, int dim, int row) {
    char w[160];
    if (row < 0) {
        lv_twin_expect(dev, what, d, want, (size_t)rows * dim, RTOL);
        return;
    }
    size_t at = (size_t)row * dim, dd = (size_t)dim;
    if (row > 0) {
        snprintf(w, sizeof w, "%s rows < %d", what, row);
        lv_twin_expect(dev, w, d, want, at, RTOL);
    }
    snprintf(w, sizeof w, "%s row %d (eps-clamped)", what, row);
    lv_twin_expect(dev, w, d + at, want + at, dd, RTOL);
    if (row + 1 < rows) {
        snprintf(w, sizeof w, "%s rows > %d", what, row);
        lv_twin_expect(dev, w, d + at + dd, want + at + dd, (size_t)(rows - row - 1) * dim, RTOL);
    }
}

/* Labels covering every class within each run of c rows, in a shifted order. */
static int *make_labels(int b, int c, uint64_t seed) {
    int *y = xmalloc((size_t)b * sizeof *y);
    for (int i = 0; i < b; i++) y[i] = (int)(((uint64_t)i + (uint64_t)(i / c) + seed) % (uint64_t)c);
    return y;
}

enum { W_LOGITS = 1, W_LOSS = 2, W_DIMG = 4, W_DCLS = 8, W_DSCALE = 16, W_ALL = 31 };

/* ---- cosine_ce ---------------------------------------------------------------------- */

static void cosine_case(const char *tag, int b, int c, int d, float ls, int want, uint64_t seed, int zero_row) {
    size_t bd = (size_t)b * d, cd = (size_t)c * d, bc = (size_t)b * c;
    float *img = rnd(bd, seed, -1.0f, 1.0f), *cls = rnd(cd, seed + 1, -1.0f, 1.0f);
    if (zero_row >= 0) memset(img + (size_t)zero_row * d, 0, (size_t)d * sizeof *img);
    int *labels = make_labels(b, c, seed);
    const int *lab = (want & ~W_LOGITS) ? labels : NULL;
    /* Gradients start non-zero but small next to their increments, so "+=" is what passes. */
    float *dimg0 = rnd(bd, seed + 2, -1e-3f, 1e-3f), *dcls0 = rnd(cd, seed + 3, -1e-3f, 1e-3f);
    float dscale0 = 0.25f;

    float c_loss = -1.0f, c_dscale = dscale0;
    float *c_logits = (want & W_LOGITS) ? xmalloc(bc * sizeof(float)) : NULL;
    float *c_dimg = (want & W_DIMG) ? dup(dimg0, bd) : NULL, *c_dcls = (want & W_DCLS) ? dup(dcls0, cd) : NULL;
    lv_cosine_ce(cpu, (want & W_LOSS) ? &c_loss : NULL, c_logits, c_dimg, c_dcls,
                 (want & W_DSCALE) ? &c_dscale : NULL, img, cls, &ls, lab, b, c, d);
    if (lv_twin_sync(cpu, "cpu cosine_ce") == 0) {
        float *d_img = lv_twin_up(dev, img, bd), *d_cls = lv_twin_up(dev, cls, cd), *d_ls = lv_twin_up(dev, &ls, 1);
        int *d_lab = lv_twin_up_int(dev, labels, (size_t)b);
        float *d_loss = (want & W_LOSS) ? lv_twin_up(dev, NULL, 1) : NULL;
        float *d_logits = (want & W_LOGITS) ? lv_twin_up(dev, NULL, bc) : NULL;
        float *d_dimg = (want & W_DIMG) ? lv_twin_up(dev, dimg0, bd) : NULL;
        float *d_dcls = (want & W_DCLS) ? lv_twin_up(dev, dcls0, cd) : NULL;
        float *d_dscale = (want & W_DSCALE) ? lv_twin_up(dev, &dscale0, 1) : NULL;
        lv_cosine_ce(dev, d_loss, d_logits, d_dimg, d_dcls, d_dscale, d_img, d_cls, d_ls, lab ? d_lab : NULL, b, c, d);

        char w[128];
#define W(name) (snprintf(w, sizeof w, "cosine_ce %s %s", tag, name), w)
        if (d_loss) lv_twin_expect(dev, W("loss"), d_loss, &c_loss, 1, RTOL);
        if (d_logits) lv_twin_expect(dev, W("logits"), d_logits, c_logits, bc, RTOL);
        if (d_dimg) expect_rows(W("dimg"), d_dimg, c_dimg, b, d, zero_row);
        if (d_dcls) lv_twin_expect(dev, W("dcls"), d_dcls, c_dcls, cd, RTOL);
        if (d_dscale) lv_twin_expect(dev, W("dscale"), d_dscale, &c_dscale, 1, RTOL);
        if (d_dscale && ls > logf(100.0f)) lv_test_true(c_dscale == dscale0, W("clamped scale adds nothing"));

        /* Run-to-run: a second call from the same start must give the same bits. */
        if (want == W_ALL) {
            float *first_dimg = down(d_dimg, bd, W("first run")), *first_dcls = down(d_dcls, cd, W("first run"));
            float *first_loss = down(d_loss, 1, W("first run"));
            dev->copy_h2d(dev, d_dimg, dimg0, bd * sizeof(float));
            dev->copy_h2d(dev, d_dcls, dcls0, cd * sizeof(float));
            lv_cosine_ce(dev, d_loss, d_logits, d_dimg, d_dcls, d_dscale, d_img, d_cls, d_ls, d_lab, b, c, d);
            float *again_dimg = down(d_dimg, bd, W("second run")), *again_dcls = down(d_dcls, cd, W("second run"));
            float *again_loss = down(d_loss, 1, W("second run"));
            lv_test_true(memcmp(first_dimg, again_dimg, bd * sizeof(float)) == 0 &&
                             memcmp(first_dcls, again_dcls, cd * sizeof(float)) == 0 &&
                             memcmp(first_loss, again_loss, sizeof(float)) == 0,
                         W("bit-identical on a second run"));
            free(first_dimg), free(first_dcls), free(first_loss), free(again_dimg), free(again_dcls), free(again_loss);
        }
#undef W
        dfree(d_img), dfree(d_cls), dfree(d_ls), dfree(d_lab), dfree(d_loss), dfree(d_logits);
        dfree(d_dimg), dfree(d_dcls), dfree(d_dscale);
    }
    free(img), free(cls), free(labels), free(dimg0), free(dcls0), free(c_logits), free(c_dimg), free(c_dcls);
}

/* A label outside [0,c): the CPU raises a sticky error before touching any output. The CUDA
 * twin cannot raise one without a sync; its contract is a NaN loss and no other output
 * touched (see cuda/cosine_ce.cu), which is what is checked on a real device. */
static void bad_labels_check(const char *op, int bad) {
    enum { B = 4, C = 5, D = 19 };
    int labels[B] = {0, bad, 1, 4};
    float *x = rnd((size_t)B * D, 71, -1.0f, 1.0f), *cls = rnd((size_t)C * D, 72, -1.0f, 1.0f), ls = 2.0f;
    float *g0 = rnd((size_t)B * D, 73, -1.0f, 1.0f), *l0 = rnd((size_t)B * C, 74, -1.0f, 1.0f);
    float loss = 5.0f, dscale = 0.5f;
    char w[128];
    if (strcmp(op, "cosine_ce") == 0)
        lv_cosine_ce(cpu, &loss, l0, g0, NULL, &dscale, x, cls, &ls, labels, B, C, D);
    else lv_cross_entropy(cpu, &loss, g0, NULL, l0, labels, B, C);
    snprintf(w, sizeof w, "%s label %d: the CPU reports a sticky error", op, bad);
    lv_test_true(cpu->sync(cpu) != LV_OK, w);

    float *d_x = lv_twin_up(dev, x, (size_t)B * D), *d_cls = lv_twin_up(dev, cls, (size_t)C * D);
    float *d_ls = lv_twin_up(dev, &ls, 1), *d_loss = lv_twin_up(dev, &loss, 1), *d_ds = lv_twin_up(dev, &dscale, 1);
    float *d_g = lv_twin_up(dev, g0, (size_t)B * D), *d_l = lv_twin_up(dev, l0, (size_t)B * C);
    int *d_lab = lv_twin_up_int(dev, labels, B);
    if (strcmp(op, "cosine_ce") == 0)
        lv_cosine_ce(dev, d_loss, d_l, d_g, NULL, d_ds, d_x, d_cls, d_ls, d_lab, B, C, D);
    else lv_cross_entropy(dev, d_loss, d_g, NULL, d_l, d_lab, B, C);
    if (dev->kind == LV_DEVICE_CPU) {
        snprintf(w, sizeof w, "%s label %d: the stand-in device reports it too", op, bad);
        lv_test_true(dev->sync(dev) != LV_OK, w);
    } else {
        float *got_loss = down(d_loss, 1, op), *got_g = down(d_g, (size_t)B * D, op);
        float *got_l = down(d_l, (size_t)B * C, op), *got_ds = down(d_ds, 1, op);
        snprintf(w, sizeof w, "%s label %d: NaN loss, no output touched", op, bad);
        lv_test_true(isnan(got_loss[0]) && got_ds[0] == dscale &&
                         memcmp(got_g, g0, (size_t)B * D * sizeof(float)) == 0 &&
                         memcmp(got_l, l0, (size_t)B * C * sizeof(float)) == 0,
                     w);
        free(got_loss), free(got_g), free(got_l), free(got_ds);
    }
    dfree(d_x), dfree(d_cls), dfree(d_ls), dfree(d_loss), dfree(d_ds), dfree(d_g), dfree(d_l), dfree(d_lab);
    free(x), free(cls), free(g0), free(l0);
}

static void test_cosine_ce(void) {
    const float live = logf(20.0f), clip_init = logf(1.0f / 0.07f), clamped = logf(100.0f) + 0.4f;
    cosine_case("b37 c5 d515", 37, 5, 515, live, W_ALL, 101, -1);
    cosine_case("b1 c5 d512", 1, 5, 512, clip_init, W_ALL, 102, -1);
    cosine_case("b64 c7 d256 clamped", 64, 7, 256, clamped, W_ALL, 103, -1);
    cosine_case("b256 c5 d512", 256, 5, 512, clip_init, W_ALL, 104, -1);
    cosine_case("b70 c64 d130", 70, 64, 130, live, W_ALL, 105, -1);
    cosine_case("b3 c4 d33 zero row", 3, 4, 33, live, W_ALL, 106, 1);
    cosine_case("logits only", 19, 3, 33, live, W_LOGITS, 107, -1);
    cosine_case("loss+logits", 19, 3, 33, live, W_LOSS | W_LOGITS, 108, -1);
    cosine_case("dimg only", 19, 3, 33, live, W_DIMG, 109, -1);
    cosine_case("dcls only", 19, 3, 33, live, W_DCLS, 110, -1);
    cosine_case("dscale only", 19, 3, 33, live, W_DSCALE, 111, -1);
    cosine_case("loss+dimg+dcls", 33, 6, 65, clip_init, W_LOSS | W_DIMG | W_DCLS, 112, -1);
    bad_labels_check("cosine_ce", 5);
    bad_labels_check("cosine_ce", -1);
}

/* ---- cross_entropy ------------------------------------------------------------------ */

enum { CE_LOSS = 1, CE_DLOGITS = 2, CE_PROBS = 4, CE_ALL = 7 };

static void ce_case(const char *tag, int b, int c, int want, uint64_t seed) {
    size_t bc = (size_t)b * c;
    float *z = rnd(bc, seed, -8.0f, 8.0f), *g0 = rnd(bc, seed + 1, -1e-3f, 1e-3f);
    int *labels = make_labels(b, c, seed);
    const int *lab = (want & (CE_LOSS | CE_DLOGITS)) ? labels : NULL;
    float c_loss = -1.0f, *c_g = (want & CE_DLOGITS) ? dup(g0, bc) : NULL;
    float *c_p = (want & CE_PROBS) ? xmalloc(bc * sizeof(float)) : NULL;
    lv_cross_entropy(cpu, (want & CE_LOSS) ? &c_loss : NULL, c_g, c_p, z, lab, b, c);
    if (lv_twin_sync(cpu, "cpu cross_entropy") == 0) {
        float *d_z = lv_twin_up(dev, z, bc);
        int *d_lab = lv_twin_up_int(dev, labels, (size_t)b);
        float *d_loss = (want & CE_LOSS) ? lv_twin_up(dev, NULL, 1) : NULL;
        float *d_g = (want & CE_DLOGITS) ? lv_twin_up(dev, g0, bc) : NULL;
        float *d_p = (want & CE_PROBS) ? lv_twin_up(dev, NULL, bc) : NULL;
        lv_cross_entropy(dev, d_loss, d_g, d_p, d_z, lab ? d_lab : NULL, b, c);
        char w[128];
        if (d_loss) {
            snprintf(w, sizeof w, "cross_entropy %s loss", tag);
            lv_twin_expect(dev, w, d_loss, &c_loss, 1, RTOL);
        }
        if (d_g) {
            snprintf(w, sizeof w, "cross_entropy %s dlogits", tag);
            lv_twin_expect(dev, w, d_g, c_g, bc, RTOL);
        }
        if (d_p) {
            snprintf(w, sizeof w, "cross_entropy %s probs", tag);
            lv_twin_expect(dev, w, d_p, c_p, bc, RTOL);
        }
        dfree(d_z), dfree(d_lab), dfree(d_loss), dfree(d_g), dfree(d_p);
    }
    free(z), free(g0), free(labels), free(c_g), free(c_p);
}

static void test_cross_entropy(void) {
    ce_case("b37 c5", 37, 5, CE_ALL, 201);
    ce_case("b1 c5", 1, 5, CE_ALL, 202);
    ce_case("b300 c1000", 300, 1000, CE_ALL, 203);
    ce_case("b45 c33", 45, 33, CE_ALL, 204);
    ce_case("probs only", 17, 5, CE_PROBS, 205);
    ce_case("loss only", 17, 5, CE_LOSS, 206);
    ce_case("loss+dlogits", 17, 5, CE_LOSS | CE_DLOGITS, 207);
    bad_labels_check("cross_entropy", 5);
    bad_labels_check("cross_entropy", -3);
}

/* ---- l2norm ------------------------------------------------------------------------- */

/* small_row >= 0: that row is rescaled to eps/10, so the clamp is active there. */
static void l2norm_case(const char *tag, int rows, int dim, float eps, int small_row, int save_norm, uint64_t seed) {
    size_t n = (size_t)rows * dim;
    float *x = rnd(n, seed, -1.0f, 1.0f), *dout = rnd(n, seed + 1, -1.0f, 1.0f);
    float *din0 = rnd(n, seed + 2, -1e-3f, 1e-3f);
    if (small_row >= 0) {
        float *r = x + (size_t)small_row * dim;
        double ss = 0.0;
        for (int t = 0; t < dim; t++) ss += (double)r[t] * r[t];
        for (int t = 0; t < dim; t++) r[t] = (float)(r[t] * (eps / 10.0) / sqrt(ss));
    }
    float *c_out = xmalloc(n * sizeof(float)), *c_norm = xmalloc((size_t)rows * sizeof(float));
    float *c_din = dup(din0, n);
    lv_l2norm_forward(cpu, c_out, save_norm ? c_norm : NULL, x, rows, dim, eps);
    if (save_norm) lv_l2norm_backward(cpu, c_din, dout, x, c_norm, rows, dim, eps);
    if (lv_twin_sync(cpu, "cpu l2norm") == 0) {
        float *d_x = lv_twin_up(dev, x, n), *d_out = lv_twin_up(dev, NULL, n);
        float *d_norm = save_norm ? lv_twin_up(dev, NULL, (size_t)rows) : NULL;
        float *d_dout = lv_twin_up(dev, dout, n), *d_din = lv_twin_up(dev, din0, n);
        lv_l2norm_forward(dev, d_out, d_norm, d_x, rows, dim, eps);
        if (save_norm) lv_l2norm_backward(dev, d_din, d_dout, d_x, d_norm, rows, dim, eps);
        char w[128];
        snprintf(w, sizeof w, "l2norm %s out", tag);
        lv_twin_expect(dev, w, d_out, c_out, n, RTOL);
        if (save_norm) {
            snprintf(w, sizeof w, "l2norm %s norm", tag);
            lv_twin_expect(dev, w, d_norm, c_norm, (size_t)rows, RTOL);
            snprintf(w, sizeof w, "l2norm %s din", tag);
            expect_rows(w, d_din, c_din, rows, dim, small_row);
        }
        /* In place (out == in), as F.normalize's callers may do. */
        lv_l2norm_forward(dev, d_x, NULL, d_x, rows, dim, eps);
        snprintf(w, sizeof w, "l2norm %s in place", tag);
        lv_twin_expect(dev, w, d_x, c_out, n, RTOL);
        dfree(d_x), dfree(d_out), dfree(d_norm), dfree(d_dout), dfree(d_din);
    }
    free(x), free(dout), free(din0), free(c_out), free(c_norm), free(c_din);
}

static void test_l2norm(void) {
    l2norm_case("37x515", 37, 515, 1e-12f, -1, 1, 301);
    l2norm_case("1x512", 1, 512, 1e-12f, -1, 1, 302);
    l2norm_case("9x5", 9, 5, 1e-12f, -1, 1, 303);
    l2norm_case("7x129 clamped row", 7, 129, 1e-3f, 4, 1, 304);
    l2norm_case("33x77 no norm", 33, 77, 1e-12f, -1, 0, 305);
}

/* ---- clip_loss ---------------------------------------------------------------------- */

enum { CL_LOSS = 1, CL_DIMG = 2, CL_DTXT = 4, CL_DSCALE = 8, CL_ALL = 15 };

static void clip_case(const char *tag, int b, int d, float ls, int want, uint64_t seed) {
    size_t bd = (size_t)b * d;
    float *img = rnd(bd, seed, -1.0f, 1.0f), *txt = rnd(bd, seed + 1, -1.0f, 1.0f);
    float *di0 = rnd(bd, seed + 2, -1e-3f, 1e-3f), *dt0 = rnd(bd, seed + 3, -1e-3f, 1e-3f);
    float dscale0 = 0.25f, c_loss = -1.0f, c_dscale = dscale0;
    float *c_di = (want & CL_DIMG) ? dup(di0, bd) : NULL, *c_dt = (want & CL_DTXT) ? dup(dt0, bd) : NULL;
    lv_clip_loss(cpu, (want & CL_LOSS) ? &c_loss : NULL, c_di, c_dt, (want & CL_DSCALE) ? &c_dscale : NULL,
                 img, txt, &ls, b, d);
    if (lv_twin_sync(cpu, "cpu clip_loss") == 0) {
        float *d_img = lv_twin_up(dev, img, bd), *d_txt = lv_twin_up(dev, txt, bd), *d_ls = lv_twin_up(dev, &ls, 1);
        float *d_loss = (want & CL_LOSS) ? lv_twin_up(dev, NULL, 1) : NULL;
        float *d_di = (want & CL_DIMG) ? lv_twin_up(dev, di0, bd) : NULL;
        float *d_dt = (want & CL_DTXT) ? lv_twin_up(dev, dt0, bd) : NULL;
        float *d_ds = (want & CL_DSCALE) ? lv_twin_up(dev, &dscale0, 1) : NULL;
        lv_clip_loss(dev, d_loss, d_di, d_dt, d_ds, d_img, d_txt, d_ls, b, d);
        char w[128];
        if (d_loss) {
            snprintf(w, sizeof w, "clip_loss %s loss", tag);
            lv_twin_expect(dev, w, d_loss, &c_loss, 1, RTOL);
        }
        if (d_di) {
            snprintf(w, sizeof w, "clip_loss %s dimg", tag);
            lv_twin_expect(dev, w, d_di, c_di, bd, RTOL);
        }
        if (d_dt) {
            snprintf(w, sizeof w, "clip_loss %s dtxt", tag);
            lv_twin_expect(dev, w, d_dt, c_dt, bd, RTOL);
        }
        if (d_ds) {
            snprintf(w, sizeof w, "clip_loss %s dscale", tag);
            lv_twin_expect(dev, w, d_ds, &c_dscale, 1, RTOL);
        }
        dfree(d_img), dfree(d_txt), dfree(d_ls), dfree(d_loss), dfree(d_di), dfree(d_dt), dfree(d_ds);
    }
    free(img), free(txt), free(di0), free(dt0), free(c_di), free(c_dt);
}

static void test_clip_loss(void) {
    const float live = logf(1.0f / 0.07f), clamped = logf(100.0f) + 0.4f;
    clip_case("b37 d67", 37, 67, live, CL_ALL, 401);
    clip_case("b1 d512", 1, 512, live, CL_ALL, 402);
    clip_case("b256 d512", 256, 512, live, CL_ALL, 403);
    clip_case("b50 d33 clamped", 50, 33, clamped, CL_ALL, 404);
    clip_case("loss only", 21, 40, live, CL_LOSS, 405);
    clip_case("dimg only", 21, 40, live, CL_DIMG, 406);
    clip_case("dtxt only", 21, 40, live, CL_DTXT, 407);
    clip_case("dscale only", 21, 40, live, CL_DSCALE, 408);
}

/* ---- optimizers --------------------------------------------------------------------- */

/* Counts exact matches: the twins use the same rounded float operations, so a mismatch is
 * worth a line in the log even when it passes the tolerance. */
static void note_bits(const char *what, const float *d, const float *want, size_t n) {
    float *got = down(d, n, what);
    size_t diff = 0;
    for (size_t i = 0; i < n; i++) diff += memcmp(&got[i], &want[i], sizeof(float)) != 0;
    printf("  %s: %zu of %zu elements differ in their bits\n", what, diff, n);
    free(got);
}

static void adamw_case(const char *tag, size_t n, lv_adamw_hparams h, uint64_t seed) {
    float *p = rnd(n, seed, -1.0f, 1.0f), *m = xmalloc(n * sizeof(float)), *v = xmalloc(n * sizeof(float));
    memset(m, 0, n * sizeof(float));
    memset(v, 0, n * sizeof(float));
    float *d_p = lv_twin_up(dev, p, n), *d_m = lv_twin_up(dev, NULL, n), *d_v = lv_twin_up(dev, NULL, n);
    float *d_g = lv_twin_up(dev, NULL, n);
    for (int step = 1; step <= 5; step++) {
        float *g = rnd(n, seed + 10 + (uint64_t)step, -0.5f, 0.5f);
        h.step = step;
        lv_adamw_update(cpu, p, g, m, v, n, &h);
        dev->copy_h2d(dev, d_g, g, n * sizeof(float));
        lv_adamw_update(dev, d_p, d_g, d_m, d_v, n, &h);
        free(g);
        if (lv_twin_sync(cpu, "cpu adamw")) break;
        if (step != 1 && step != 5) continue;
        char w[128];
        snprintf(w, sizeof w, "adamw %s step %d param", tag, step);
        lv_twin_expect(dev, w, d_p, p, n, RTOL);
        note_bits(w, d_p, p, n);
        snprintf(w, sizeof w, "adamw %s step %d exp_avg", tag, step);
        lv_twin_expect(dev, w, d_m, m, n, RTOL);
        snprintf(w, sizeof w, "adamw %s step %d exp_avg_sq", tag, step);
        lv_twin_expect(dev, w, d_v, v, n, RTOL);
    }
    dfree(d_p), dfree(d_m), dfree(d_v), dfree(d_g);
    free(p), free(m), free(v);
}

static void sgd_case(const char *tag, size_t n, lv_sgd_hparams h, uint64_t seed) {
    int use_buf = h.momentum != 0.0f;
    float *p = rnd(n, seed, -1.0f, 1.0f), *buf = use_buf ? rnd(n, seed + 1, 5.0f, 6.0f) : NULL;
    float *d_p = lv_twin_up(dev, p, n), *d_buf = use_buf ? lv_twin_up(dev, buf, n) : NULL;
    float *d_g = lv_twin_up(dev, NULL, n);
    /* The buffer starts as garbage: the first step must overwrite it, not decay it. */
    for (int step = 1; step <= 5; step++) {
        float *g = rnd(n, seed + 10 + (uint64_t)step, -0.5f, 0.5f);
        h.first_step = step == 1;
        lv_sgd_update(cpu, p, g, buf, n, &h);
        dev->copy_h2d(dev, d_g, g, n * sizeof(float));
        lv_sgd_update(dev, d_p, d_g, d_buf, n, &h);
        free(g);
        if (lv_twin_sync(cpu, "cpu sgd")) break;
        if (step != 1 && step != 5) continue;
        char w[128];
        snprintf(w, sizeof w, "sgd %s step %d param", tag, step);
        lv_twin_expect(dev, w, d_p, p, n, RTOL);
        note_bits(w, d_p, p, n);
        if (use_buf) {
            snprintf(w, sizeof w, "sgd %s step %d momentum", tag, step);
            lv_twin_expect(dev, w, d_buf, buf, n, RTOL);
        }
    }
    dfree(d_p), dfree(d_buf), dfree(d_g);
    free(p), free(buf);
}

static void test_optimizers(void) {
    lv_adamw_hparams a = {.lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = 0.05f};
    adamw_case("n100003 wd", 100003, a, 501);
    lv_adamw_hparams a2 = {.lr = 0.1f, .beta1 = 0.8f, .beta2 = 0.99f, .eps = 1e-6f, .weight_decay = 0.0f};
    adamw_case("n1 no wd", 1, a2, 502);
    adamw_case("n4099 no wd", 4099, a2, 503);

    lv_sgd_hparams s1 = {.lr = 0.05f, .momentum = 0.9f, .dampening = 0.0f, .weight_decay = 1e-4f, .nesterov = 1};
    sgd_case("nesterov wd", 100003, s1, 601);
    lv_sgd_hparams s2 = {.lr = 0.05f, .momentum = 0.9f, .dampening = 0.1f, .weight_decay = 0.05f, .nesterov = 0};
    sgd_case("dampening wd", 4099, s2, 602);
    lv_sgd_hparams s3 = {.lr = 0.1f, .momentum = 0.0f, .dampening = 0.0f, .weight_decay = 0.01f, .nesterov = 0};
    sgd_case("plain, no buffer", 1001, s3, 603);
    sgd_case("n1 nesterov", 1, s1, 604);
}

/* ---- grad_sumsq and scale ----------------------------------------------------------- */

/* plant: index of a planted value (or -1), value: what is planted there. */
static void sumsq_case(const char *tag, size_t n, long plant, float value, uint64_t seed) {
    float *g = rnd(n, seed, -1.0f, 1.0f);
    if (plant >= 0) g[plant] = value;
    float c_out = 2.5f;
    int c_flag = 0;
    lv_grad_sumsq(cpu, &c_out, &c_flag, g, n);
    if (lv_twin_sync(cpu, "cpu grad_sumsq") == 0) {
        float out0 = 2.5f;
        int flag0 = 0;
        float *d_g = lv_twin_up(dev, g, n), *d_out = lv_twin_up(dev, &out0, 1);
        int *d_flag = lv_twin_up_int(dev, &flag0, 1);
        lv_grad_sumsq(dev, d_out, d_flag, d_g, n);
        char w[128];
        snprintf(w, sizeof w, "grad_sumsq %s nonfinite flag (%d)", tag, c_flag);
        lv_test_true(down_int(d_flag, w) == c_flag, w);
        snprintf(w, sizeof w, "grad_sumsq %s sum", tag);
        if (c_flag) {
            float *got = down(d_out, 1, w);
            lv_test_true(!isfinite(got[0]), "grad_sumsq: a non-finite element makes the sum non-finite");
            free(got);
        } else {
            lv_twin_expect(dev, w, d_out, &c_out, 1, RTOL);
            /* Run-to-run bits, and a flag that is only ever set, never cleared. */
            float *first = down(d_out, 1, w);
            int one = 1;
            dev->copy_h2d(dev, d_out, &out0, sizeof out0);
            dev->copy_h2d(dev, d_flag, &one, sizeof one);
            lv_grad_sumsq(dev, d_out, d_flag, d_g, n);
            float *again = down(d_out, 1, w);
            snprintf(w, sizeof w, "grad_sumsq %s bit-identical on a second run, flag left set", tag);
            lv_test_true(memcmp(first, again, sizeof(float)) == 0 && down_int(d_flag, w) == 1, w);
            free(first), free(again);
        }
        dfree(d_g), dfree(d_out), dfree(d_flag);
    }
    free(g);
}

static void test_grad_norm(void) {
    const size_t big = 1000003;
    sumsq_case("n1000003", big, -1, 0.0f, 701);
    sumsq_case("n5", 5, -1, 0.0f, 702);
    sumsq_case("n1000003 NaN", big, 777777, NAN, 703);
    sumsq_case("n1000003 Inf at the tail", big, (long)big - 1, INFINITY, 704);
    sumsq_case("n1000003 -Inf at 0", big, 0, -INFINITY, 705);

    /* NULL out with a flag only, and the reverse. */
    float *g = rnd(1000, 706, -1.0f, 1.0f);
    g[500] = NAN;
    float *d_g = lv_twin_up(dev, g, 1000), out0 = 1.0f, *d_out = lv_twin_up(dev, &out0, 1);
    int zero = 0, *d_flag = lv_twin_up_int(dev, &zero, 1);
    lv_grad_sumsq(dev, NULL, d_flag, d_g, 1000);
    lv_test_true(down_int(d_flag, "grad_sumsq flag only") == 1, "grad_sumsq with out NULL still flags");
    lv_grad_sumsq(dev, d_out, NULL, d_g, 1);
    float *got = down(d_out, 1, "grad_sumsq out only");
    float want = (float)(1.0 + (double)g[0] * g[0]);
    lv_test_true(got[0] == want, "grad_sumsq with nonfinite NULL adds n=1");
    free(got);
    dfree(d_g), dfree(d_out), dfree(d_flag);
    free(g);

    float *x = rnd(big, 707, -3.0f, 3.0f), *y = dup(x, big);
    float *d_x = lv_twin_up(dev, x, big);
    lv_scale(cpu, y, 0.37f, big);
    lv_scale(dev, d_x, 0.37f, big);
    lv_twin_expect(dev, "scale n1000003", d_x, y, big, RTOL);
    float *back = down(d_x, big, "scale");
    lv_test_true(memcmp(back, y, big * sizeof(float)) == 0, "scale is bit-identical to the CPU");
    free(back), free(x), free(y);
    dfree(d_x);
}

int main(void) {
    int rc = lv_twin_open(&cpu, &dev);
    if (rc) return rc;
    test_cosine_ce();
    test_cross_entropy();
    test_l2norm();
    test_clip_loss();
    test_optimizers();
    test_grad_norm();
    return lv_twin_close(cpu, dev);
}
