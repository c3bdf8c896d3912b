/* CUDA conv2d (cuDNN) and linear (cuBLAS) against their CPU twins: forward and every gradient
 * on ResNet-18's kinds of shapes and odd sizes, gradients that ADD into non-zero buffers, each
 * NULL-gradient path, bit-identical reruns, in fp32 (1e-5) and TF32 (1e-3). SKIP without a device. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/backend.h"
#include "harness.h"
#include "twin.h"

/* How a pass runs the device. TF32 rounds each GEMM operand to a 10-bit mantissa, an error
 * of up to ~5e-4 per product that no code can remove; with operands already representable
 * in TF32 the products are exact, so the 1e-3 check measures our code (layouts, algorithms,
 * accumulation), not the format. The raw pass then bounds what TF32 itself costs. */
typedef struct pass {
    const char *name;
    int tf32;       /* dev->tf32 */
    int tf32_exact; /* round the random operands to TF32 first */
    double rtol;
} pass;

static const pass passes[] = {
    {"fp32", 0, 0, 1e-5},
    {"tf32", 1, 1, 1e-3},
    {"tf32-raw", 1, 0, 5e-3},
};
#define N_PASSES ((int)(sizeof passes / sizeof passes[0]))

static uint64_t next_seed = 4242;

/* Nearest TF32 value (10 explicit mantissa bits, ties to even); inputs are small and finite. */
static float to_tf32(float x) {
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    u += 0x0fffu + ((u >> 13) & 1u);
    u &= 0xffffe000u;
    memcpy(&x, &u, sizeof x);
    return x;
}

/* Fresh uniform values in [lo, hi) (a new seed each call); never NULL (exits on OOM). */
static float *host_rand(size_t n, float lo, float hi, int tf32_exact) {
    float *p = malloc((n ? n : 1) * sizeof *p);
    if (p == NULL) {
        fprintf(stderr, "FAIL: out of host memory\n");
        exit(1);
    }
    lv_test_fill_uniform(p, n, next_seed++, lo, hi);
    if (tf32_exact)
        for (size_t i = 0; i < n; i++) p[i] = to_tf32(p[i]);
    return p;
}

static float *host_copy(const float *src, size_t n) {
    float *p = malloc((n ? n : 1) * sizeof *p);
    if (p == NULL) {
        fprintf(stderr, "FAIL: out of host memory\n");
        exit(1);
    }
    if (n) memcpy(p, src, n * sizeof *p);
    return p;
}

/* Device array back to a malloc'd host copy (after the backend's sync). */
static float *download(lv_backend *be, const float *d, size_t n) {
    float *p = malloc((n ? n : 1) * sizeof *p);
    if (p == NULL) {
        fprintf(stderr, "FAIL: out of host memory\n");
        exit(1);
    }
    memset(p, 0, (n ? n : 1) * sizeof *p);
    if (n) be->copy_d2h(be, p, d, n * sizeof *p);
    return p;
}

/* Two device arrays are bit for bit the same: the determinism promise of the CUDA ops. */
static void expect_identical(lv_backend *be, const char *what, const float *a, const float *b,
                             size_t n) {
    if (lv_twin_sync(be, what)) return;
    float *ha = download(be, a, n), *hb = download(be, b, n);
    lv_test_true(memcmp(ha, hb, (n ? n : 1) * sizeof *ha) == 0, what);
    free(ha);
    free(hb);
}

static void dev_free(lv_backend *be, void *p) {
    if (p) be->free(be, p);
}

/* ---- conv2d --------------------------------------------------------------------------- */

typedef struct conv_case {
    const char *name;
    lv_conv2d_shape s; /* n, c, h, w, oc, kh, kw, stride, pad */
} conv_case;

/* ResNet-18's convolutions at small size: the 7x7/s2/p3 stem on 3 phases, 3x3/s1 and 3x3/s2
 * blocks, the 1x1/s2 downsample, a layer-4-like 2x2 map, odd channel counts and sizes,
 * a non-square image and a one-sample batch. */
static const conv_case conv_cases[] = {
    {"stem k7s2p3", {2, 3, 32, 32, 16, 7, 7, 2, 3}},
    {"stem k7s2p3 odd", {3, 3, 19, 23, 5, 7, 7, 2, 3}},
    {"k3s1p1", {3, 13, 16, 16, 13, 3, 3, 1, 1}},
    {"k3s1p1 n1", {1, 5, 7, 9, 7, 3, 3, 1, 1}},
    {"k3s1p1 2x2", {3, 32, 2, 2, 32, 3, 3, 1, 1}},
    {"k3s2p1", {2, 16, 17, 17, 32, 3, 3, 2, 1}},
    {"k1s2p0", {3, 16, 16, 16, 32, 1, 1, 2, 0}},
    {"k1s2p0 odd", {2, 7, 9, 9, 11, 1, 1, 2, 0}},
};
#define N_CONV ((int)(sizeof conv_cases / sizeof conv_cases[0]))

static void run_conv(lv_backend *cpu, lv_backend *dev, const conv_case *cc, int with_bias,
                     const pass *p) {
    const lv_conv2d_shape *s = &cc->s;
    const size_t nin = (size_t)s->n * s->c * s->h * s->w;
    const size_t nw = (size_t)s->oc * s->c * s->kh * s->kw;
    const size_t nout = (size_t)s->n * s->oc * lv_conv2d_oh(s) * lv_conv2d_ow(s);
    const size_t nb = (size_t)s->oc;
    char what[160];
#define WHAT(suffix) (snprintf(what, sizeof what, "conv2d %s %s%s: %s", p->name, cc->name, \
                               with_bias ? " +bias" : "", suffix), what)

    float *in = host_rand(nin, -1.0f, 1.0f, p->tf32_exact);
    float *w = host_rand(nw, -1.0f, 1.0f, p->tf32_exact);
    float *bias = with_bias ? host_rand(nb, -1.0f, 1.0f, p->tf32_exact) : NULL;
    float *dout = host_rand(nout, -1.0f, 1.0f, p->tf32_exact);
    float *junk = host_rand(nout, 5.0f, 9.0f, 0); /* forward must overwrite this */
    /* Non-zero starting gradients: the ops must add into them. */
    float *din0 = host_rand(nin, -0.5f, 0.5f, 0);
    float *dw0 = host_rand(nw, -0.5f, 0.5f, 0);
    float *db0 = host_rand(nb, -0.5f, 0.5f, 0);

    /* The CPU twin on host memory is the reference. */
    float *out_ref = host_copy(junk, nout);
    float *din_ref = host_copy(din0, nin), *dw_ref = host_copy(dw0, nw), *db_ref = host_copy(db0, nb);
    lv_conv2d_forward(cpu, out_ref, in, w, bias, s);
    /* dbias depends only on dout, so the reference has it even when the forward had none
     * (the device's "dbias alone" call checks it in both cases). */
    lv_conv2d_backward(cpu, din_ref, dw_ref, db_ref, dout, in, w, s);
    if (lv_twin_sync(cpu, WHAT("cpu reference"))) goto free_host;

    dev->tf32 = p->tf32;
    float *d_in = lv_twin_up(dev, in, nin), *d_w = lv_twin_up(dev, w, nw);
    float *d_b = with_bias ? lv_twin_up(dev, bias, nb) : NULL;
    float *d_dout = lv_twin_up(dev, dout, nout);
    float *d_out = lv_twin_up(dev, junk, nout), *d_out2 = lv_twin_up(dev, junk, nout);
    float *d_din = lv_twin_up(dev, din0, nin), *d_dw = lv_twin_up(dev, dw0, nw);
    float *d_db = lv_twin_up(dev, db0, nb);
    float *d_din2 = lv_twin_up(dev, din0, nin), *d_dw2 = lv_twin_up(dev, dw0, nw);
    float *d_db2 = lv_twin_up(dev, db0, nb);
    float *d_din3 = lv_twin_up(dev, din0, nin), *d_dw3 = lv_twin_up(dev, dw0, nw);
    float *d_db3 = lv_twin_up(dev, db0, nb);
    if (!d_in || !d_w || (with_bias && !d_b) || !d_dout || !d_out || !d_out2 || !d_din || !d_dw ||
        !d_db || !d_din2 || !d_dw2 || !d_db2 || !d_din3 || !d_dw3 || !d_db3) {
        lv_test_fail("%s: %s", WHAT("device allocation"), lv_error_message());
        goto free_dev;
    }

    lv_conv2d_forward(dev, d_out, d_in, d_w, d_b, s);
    lv_twin_expect(dev, WHAT("forward"), d_out, out_ref, nout, p->rtol);
    lv_conv2d_forward(dev, d_out2, d_in, d_w, d_b, s);
    expect_identical(dev, WHAT("forward rerun bit-identical"), d_out, d_out2, nout);

    /* All gradients at once, then the same call again from the same start. */
    lv_conv2d_backward(dev, d_din, d_dw, with_bias ? d_db : NULL, d_dout, d_in, d_w, s);
    lv_twin_expect(dev, WHAT("din"), d_din, din_ref, nin, p->rtol);
    lv_twin_expect(dev, WHAT("dw"), d_dw, dw_ref, nw, p->rtol);
    if (with_bias) lv_twin_expect(dev, WHAT("dbias"), d_db, db_ref, nb, p->rtol);
    lv_conv2d_backward(dev, d_din2, d_dw2, with_bias ? d_db2 : NULL, d_dout, d_in, d_w, s);
    expect_identical(dev, WHAT("din rerun bit-identical"), d_din, d_din2, nin);
    expect_identical(dev, WHAT("dw rerun bit-identical"), d_dw, d_dw2, nw);
    if (with_bias) expect_identical(dev, WHAT("dbias rerun bit-identical"), d_db, d_db2, nb);

    /* One gradient at a time: the others are NULL and must be skipped, not touched. */
    lv_conv2d_backward(dev, d_din3, NULL, NULL, d_dout, d_in, d_w, s);
    lv_twin_expect(dev, WHAT("din alone"), d_din3, din_ref, nin, p->rtol);
    lv_conv2d_backward(dev, NULL, d_dw3, NULL, d_dout, d_in, d_w, s);
    lv_twin_expect(dev, WHAT("dw alone"), d_dw3, dw_ref, nw, p->rtol);
    lv_conv2d_backward(dev, NULL, NULL, d_db3, d_dout, d_in, d_w, s);
    lv_twin_expect(dev, WHAT("dbias alone"), d_db3, db_ref, nb, p->rtol);
    lv_conv2d_backward(dev, NULL, NULL, NULL, d_dout, d_in, d_w, s);
    if (lv_twin_sync(dev, WHAT("no gradients wanted")) == 0)
        lv_test_pass("%s", WHAT("no gradients wanted is a clean no-op"));

free_dev:
    dev_free(dev, d_in), dev_free(dev, d_w), dev_free(dev, d_b), dev_free(dev, d_dout);
    dev_free(dev, d_out), dev_free(dev, d_out2);
    dev_free(dev, d_din), dev_free(dev, d_dw), dev_free(dev, d_db);
    dev_free(dev, d_din2), dev_free(dev, d_dw2), dev_free(dev, d_db2);
    dev_free(dev, d_din3), dev_free(dev, d_dw3), dev_free(dev, d_db3);
    dev->tf32 = 0;
free_host:
    free(in), free(w), free(bias), free(dout), free(junk), free(din0), free(dw0), free(db0);
    free(out_ref), free(din_ref), free(dw_ref), free(db_ref);
#undef WHAT
}

/* ---- linear --------------------------------------------------------------------------- */

typedef struct lin_case {
    const char *name;
    int b, in_f, out_f;
} lin_case;

/* One-row batches, sizes that are no multiple of 4 or 32, the 512 -> classes head, a wide
 * projection, and an empty reduction (out = bias). */
static const lin_case lin_cases[] = {
    {"b1", 1, 37, 19},
    {"odd", 7, 45, 10},
    {"mid", 33, 129, 65},
    {"head", 64, 512, 5},
    {"wide", 5, 96, 384},
    {"in_f0", 3, 0, 5},
};
#define N_LIN ((int)(sizeof lin_cases / sizeof lin_cases[0]))

static void run_linear(lv_backend *cpu, lv_backend *dev, const lin_case *lc, int with_bias,
                       const pass *p) {
    const int b = lc->b, in_f = lc->in_f, out_f = lc->out_f;
    const size_t nin = (size_t)b * in_f, nw = (size_t)out_f * in_f, nout = (size_t)b * out_f;
    const size_t nb = (size_t)out_f;
    char what[160];
#define WHAT(suffix) (snprintf(what, sizeof what, "linear %s %s%s: %s", p->name, lc->name, \
                               with_bias ? " +bias" : "", suffix), what)

    float *in = host_rand(nin, -1.0f, 1.0f, p->tf32_exact);
    float *w = host_rand(nw, -1.0f, 1.0f, p->tf32_exact);
    float *bias = with_bias ? host_rand(nb, -1.0f, 1.0f, p->tf32_exact) : NULL;
    float *dout = host_rand(nout, -1.0f, 1.0f, p->tf32_exact);
    float *junk = host_rand(nout, 5.0f, 9.0f, 0);
    float *din0 = host_rand(nin, -0.5f, 0.5f, 0);
    float *dw0 = host_rand(nw, -0.5f, 0.5f, 0);
    float *db0 = host_rand(nb, -0.5f, 0.5f, 0);

    float *out_ref = host_copy(junk, nout);
    float *din_ref = host_copy(din0, nin), *dw_ref = host_copy(dw0, nw), *db_ref = host_copy(db0, nb);
    lv_linear_forward(cpu, out_ref, in, w, bias, b, in_f, out_f);
    lv_linear_backward(cpu, din_ref, dw_ref, db_ref, dout, in, w, b, in_f, out_f);
    if (lv_twin_sync(cpu, WHAT("cpu reference"))) goto free_host;

    dev->tf32 = p->tf32;
    float *d_in = lv_twin_up(dev, in, nin), *d_w = lv_twin_up(dev, w, nw);
    float *d_b = with_bias ? lv_twin_up(dev, bias, nb) : NULL;
    float *d_dout = lv_twin_up(dev, dout, nout);
    float *d_out = lv_twin_up(dev, junk, nout), *d_out2 = lv_twin_up(dev, junk, nout);
    float *d_din = lv_twin_up(dev, din0, nin), *d_dw = lv_twin_up(dev, dw0, nw);
    float *d_db = lv_twin_up(dev, db0, nb);
    float *d_din2 = lv_twin_up(dev, din0, nin), *d_dw2 = lv_twin_up(dev, dw0, nw);
    float *d_db2 = lv_twin_up(dev, db0, nb);
    float *d_din3 = lv_twin_up(dev, din0, nin), *d_dw3 = lv_twin_up(dev, dw0, nw);
    float *d_db3 = lv_twin_up(dev, db0, nb);
    if (!d_in || !d_w || (with_bias && !d_b) || !d_dout || !d_out || !d_out2 || !d_din || !d_dw ||
        !d_db || !d_din2 || !d_dw2 || !d_db2 || !d_din3 || !d_dw3 || !d_db3) {
        lv_test_fail("%s: %s", WHAT("device allocation"), lv_error_message());
        goto free_dev;
    }

    lv_linear_forward(dev, d_out, d_in, d_w, d_b, b, in_f, out_f);
    lv_twin_expect(dev, WHAT("forward"), d_out, out_ref, nout, p->rtol);
    lv_linear_forward(dev, d_out2, d_in, d_w, d_b, b, in_f, out_f);
    expect_identical(dev, WHAT("forward rerun bit-identical"), d_out, d_out2, nout);

    lv_linear_backward(dev, d_din, d_dw, with_bias ? d_db : NULL, d_dout, d_in, d_w, b, in_f, out_f);
    lv_twin_expect(dev, WHAT("din"), d_din, din_ref, nin, p->rtol);
    lv_twin_expect(dev, WHAT("dw"), d_dw, dw_ref, nw, p->rtol);
    if (with_bias) lv_twin_expect(dev, WHAT("dbias"), d_db, db_ref, nb, p->rtol);
    lv_linear_backward(dev, d_din2, d_dw2, with_bias ? d_db2 : NULL, d_dout, d_in, d_w, b, in_f, out_f);
    expect_identical(dev, WHAT("din rerun bit-identical"), d_din, d_din2, nin);
    expect_identical(dev, WHAT("dw rerun bit-identical"), d_dw, d_dw2, nw);
    if (with_bias) expect_identical(dev, WHAT("dbias rerun bit-identical"), d_db, d_db2, nb);

    lv_linear_backward(dev, d_din3, NULL, NULL, d_dout, d_in, d_w, b, in_f, out_f);
    lv_twin_expect(dev, WHAT("din alone"), d_din3, din_ref, nin, p->rtol);
    lv_linear_backward(dev, NULL, d_dw3, NULL, d_dout, d_in, d_w, b, in_f, out_f);
    lv_twin_expect(dev, WHAT("dw alone"), d_dw3, dw_ref, nw, p->rtol);
    lv_linear_backward(dev, NULL, NULL, d_db3, d_dout, d_in, d_w, b, in_f, out_f);
    lv_twin_expect(dev, WHAT("dbias alone"), d_db3, db_ref, nb, p->rtol);
    lv_linear_backward(dev, NULL, NULL, NULL, d_dout, d_in, d_w, b, in_f, out_f);
    if (lv_twin_sync(dev, WHAT("no gradients wanted")) == 0)
        lv_test_pass("%s", WHAT("no gradients wanted is a clean no-op"));

free_dev:
    dev_free(dev, d_in), dev_free(dev, d_w), dev_free(dev, d_b), dev_free(dev, d_dout);
    dev_free(dev, d_out), dev_free(dev, d_out2);
    dev_free(dev, d_din), dev_free(dev, d_dw), dev_free(dev, d_db);
    dev_free(dev, d_din2), dev_free(dev, d_dw2), dev_free(dev, d_db2);
    dev_free(dev, d_din3), dev_free(dev, d_dw3), dev_free(dev, d_db3);
    dev->tf32 = 0;
free_host:
    free(in), free(w), free(bias), free(dout), free(junk), free(din0), free(dw0), free(db0);
    free(out_ref), free(din_ref), free(dw_ref), free(db_ref);
#undef WHAT
}

/* More shapes than the cuDNN cache keeps (64): the oldest are evicted and made again on
 * their next use, with the same answers. */
static void check_cache_eviction(lv_backend *cpu, lv_backend *dev) {
    enum { SHAPES = 70 };
    char what[96];
    for (int round = 0; round < 2; round++)
        for (int i = 0; i < SHAPES; i++) {
            if (round == 1 && i >= 4) break; /* the first few were evicted by the last few */
            lv_conv2d_shape s = {1, 2, 3 + i, 5, 3, 3, 3, 1, 1};
            const size_t nin = (size_t)2 * s.h * s.w, nw = 2 * 3 * 9, nout = (size_t)3 * s.h * s.w;
            float *in = host_rand(nin, -1.0f, 1.0f, 0), *w = host_rand(nw, -1.0f, 1.0f, 0);
            float *ref = host_rand(nout, 0.0f, 1.0f, 0); /* overwritten by the forward */
            lv_conv2d_forward(cpu, ref, in, w, NULL, &s);
            float *d_in = lv_twin_up(dev, in, nin), *d_w = lv_twin_up(dev, w, nw);
            float *d_out = lv_twin_up(dev, NULL, nout);
            snprintf(what, sizeof what, "conv2d cache %s shape %d (h=%d)", round ? "re-made" : "new", i, s.h);
            if (d_in && d_w && d_out) {
                lv_conv2d_forward(dev, d_out, d_in, d_w, NULL, &s);
                lv_twin_expect(dev, what, d_out, ref, nout, 1e-5);
            } else {
                lv_test_fail("%s: device allocation: %s", what, lv_error_message());
            }
            dev_free(dev, d_in), dev_free(dev, d_w), dev_free(dev, d_out);
            free(in), free(w), free(ref);
        }
}

/* A shape the CPU twin refuses is a sticky error on the device too, and the op after it
 * works again once sync has reported it. */
static void check_bad_shape(lv_backend *dev) {
    lv_conv2d_shape bad = {1, 1, 4, 4, 1, 3, 3, 0, 1}; /* stride 0 */
    float *d = lv_twin_up(dev, NULL, 64);
    lv_conv2d_forward(dev, d, d, d, NULL, &bad);
    lv_status st = dev->sync(dev);
    lv_test_true(st != LV_OK, "conv2d with stride 0 is a sticky error");
    if (st != LV_OK) printf("  refused: %s\n", lv_error_message());
    dev_free(dev, d);
    (void)lv_twin_sync(dev, "sync after the refused shape");
}

int main(void) {
    lv_backend *cpu = NULL, *dev = NULL;
    int rc = lv_twin_open(&cpu, &dev);
    if (rc != 0) return rc;
    for (int pi = 0; pi < N_PASSES; pi++) {
        printf("-- %s (dev->tf32 = %d, rtol %g)\n", passes[pi].name, passes[pi].tf32, passes[pi].rtol);
        for (int i = 0; i < N_CONV; i++)
            for (int bias = 0; bias <= 1; bias++) run_conv(cpu, dev, &conv_cases[i], bias, &passes[pi]);
        for (int i = 0; i < N_LIN; i++)
            for (int bias = 0; bias <= 1; bias++) run_linear(cpu, dev, &lin_cases[i], bias, &passes[pi]);
    }
    /* Back to fp32 after TF32: entries of both precisions coexist, keyed apart. */
    printf("-- fp32 again\n");
    run_conv(cpu, dev, &conv_cases[2], 1, &passes[0]);
    run_linear(cpu, dev, &lin_cases[2], 1, &passes[0]);
    check_cache_eviction(cpu, dev);
    check_bad_shape(dev);
    return lv_twin_close(cpu, dev);
}
