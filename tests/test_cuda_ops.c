/* Table-driven twin test of every op in core/ops.h (in the spirit of ggml's test-backend-ops):
 * each row runs one op family at one shape on the CPU and on the device from identical random
 * inputs and compares every output and every gradient. Adding a shape is adding a row. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/backend.h"
#include "harness.h"
#include "twin.h"

#define RTOL 1e-5 /* fp32 on both sides; rows with long float reductions set a looser one */

static lv_backend *g_be[2]; /* [0] the CPU reference, [1] the device under test */

/* A tensor holding the same values on both backends (p[0] is host memory: the CPU backend's). */
typedef struct tw {
    float *p[2];
    size_t n;
} tw;
typedef struct twi {
    int *p[2];
    size_t n;
} twi;

/* Runs the following statement once per backend; BE and P(t) name that side's backend and
 * tensor, so the CPU and device calls cannot drift apart argument by argument. */
#define BOTH for (int k_ = 0; k_ < 2; k_++)
#define BE (g_be[k_])
#define P(t) ((t).p[k_])

/* ---------------------------------------------------------------- per-row state */

#define MAX_BUFS 128
static struct {
    int side;
    void *p;
} g_bufs[MAX_BUFS];
static int g_nbufs;
static uint64_t g_seed;     /* fixed per row, so a row's inputs do not depend on the others */
static double g_rtol;       /* the row's tolerance */
static char g_shape[160];   /* "n=3 c=5 ..." */
static const char *g_entry; /* the lv_ops entry being compared */
static double g_err;        /* worst relative error of that entry */

static void *track(int side, void *p) {
    if (p == NULL || g_nbufs == MAX_BUFS) {
        fprintf(stderr, "FAIL: %s allocation: %s\n", side ? "device" : "cpu", lv_error_message());
        exit(1);
    }
    g_bufs[g_nbufs].side = side;
    g_bufs[g_nbufs++].p = p;
    return p;
}

static void release_all(void) {
    for (int i = 0; i < g_nbufs; i++) g_be[g_bufs[i].side]->free(g_be[g_bufs[i].side], g_bufs[i].p);
    g_nbufs = 0;
}

static void *xmalloc(size_t bytes) {
    void *p = malloc(bytes ? bytes : 1);
    if (p == NULL) {
        fprintf(stderr, "FAIL: out of host memory\n");
        exit(1);
    }
    return p;
}

static float *host_rand(size_t n, float lo, float hi) {
    float *h = xmalloc(n * sizeof *h);
    lv_test_fill_uniform(h, n, g_seed++, lo, hi);
    return h;
}

/* Uploads host[0..n) to both sides and frees it. */
static tw up2(float *host, size_t n) {
    tw t = {{NULL, NULL}, n};
    BOTH P(t) = track(k_, lv_twin_up(BE, host, n));
    free(host);
    return t;
}

static tw T(size_t n, float lo, float hi) { return up2(host_rand(n, lo, hi), n); }

static twi up2_int(int *host, size_t n) {
    twi t = {{NULL, NULL}, n};
    BOTH P(t) = track(k_, lv_twin_up_int(BE, host, n));
    free(host);
    return t;
}

/* An output the op overwrites, NaN on both sides beforehand: an element either twin leaves
 * unwritten fails the comparison (non-finite) instead of matching a stale zero. */
static tw OUT(size_t n) {
    float *poison = xmalloc(n * sizeof *poison);
    for (size_t i = 0; i < n; i++) poison[i] = NAN;
    return up2(poison, n);
}

/* The CPU's values of t times f, on both sides: backward rows take the CPU's saved forward
 * tensors so each op is compared on identical inputs, not on the chain's drift. */
static tw cpu_copy(tw t, float f) {
    float *h = xmalloc(t.n * sizeof *h);
    for (size_t i = 0; i < t.n; i++) h[i] = t.p[0][i] * f;
    return up2(h, t.n);
}

static void flush(void) {
    if (g_entry) printf("%s %s: max rel err %.3g (tol %.0e)\n", g_entry, g_shape, g_err, g_rtol);
    g_entry = NULL;
}

static void entry(const char *name) {
    flush();
    g_entry = name;
    g_err = 0.0;
}

static void cmp(const char *name, tw t) {
    char what[256];
    snprintf(what, sizeof what, "%s %s: %s", g_entry, g_shape, name);
    /* A failing CPU twin must be loud, not silently stale reference data. */
    if (lv_twin_sync(g_be[0], what)) g_err = HUGE_VAL;
    double e = lv_twin_expect(g_be[1], what, t.p[1], t.p[0], t.n, g_rtol);
    if (!(e <= g_err)) g_err = e;
}

static void cmp_int(const char *name, twi t) {
    char what[256];
    snprintf(what, sizeof what, "%s %s: %s", g_entry, g_shape, name);
    if (lv_twin_sync(g_be[1], what)) return;
    int *got = xmalloc(t.n * sizeof *got);
    g_be[1]->copy_d2h(g_be[1], got, t.p[1], t.n * sizeof *got);
    lv_test_true(memcmp(got, t.p[0], t.n * sizeof *got) == 0, what);
    free(got);
}

/* ---------------------------------------------------------------- CNN ops */

static void run_conv2d(const int *p) {
    const lv_conv2d_shape s = {p[0], p[1], p[2], p[3], p[4], p[5], p[5], p[6], p[7]};
    const int bias = p[8];
    const size_t nin = (size_t)s.n * s.c * s.h * s.w, nw = (size_t)s.oc * s.c * s.kh * s.kw;
    const size_t nout = (size_t)s.n * s.oc * lv_conv2d_oh(&s) * lv_conv2d_ow(&s), C = (size_t)s.oc;
    tw x = T(nin, -1, 1), w = T(nw, -0.5f, 0.5f), b = T(C, -0.5f, 0.5f), y = OUT(nout);
    entry("conv2d_forward");
    BOTH lv_conv2d_forward(BE, P(y), P(x), P(w), bias ? P(b) : NULL, &s);
    cmp("out", y);

    entry("conv2d_backward");
    tw dy = T(nout, -1, 1), dx = T(nin, -1, 1), dw = T(nw, -1, 1), db = T(C, -1, 1);
    BOTH lv_conv2d_backward(BE, P(dx), P(dw), bias ? P(db) : NULL, P(dy), P(x), P(w), &s);
    cmp("din", dx);
    cmp("dw", dw);
    if (bias) cmp("dbias", db);
}

/* Channels with their own offset and spread, so both centring and scaling matter. */
static tw bn_input(const lv_bn_shape *s) {
    const size_t N = (size_t)s->n * s->c * s->hw;
    float *h = host_rand(N, -1.5f, 1.5f);
    for (size_t i = 0; i < N; i++) {
        int c = (int)(i / (size_t)s->hw % (size_t)s->c);
        h[i] = h[i] * (0.5f + 0.25f * (float)(c % 5)) + 2.0f * (float)(c % 3) - 1.0f;
    }
    return up2(h, N);
}

static void run_batchnorm2d(const int *p) {
    const lv_bn_shape s = {p[0], p[1], p[2], 1e-5f, 0.1f};
    const int train = p[3];
    const size_t N = (size_t)s.n * s.c * s.hw, C = (size_t)s.c;
    tw x = bn_input(&s), g = T(C, 0.5f, 1.5f), b = T(C, -0.5f, 0.5f);
    tw rm = T(C, -0.5f, 0.5f), rv = T(C, 0.5f, 1.5f), y = OUT(N), sm = OUT(C), si = OUT(C);
    entry("batchnorm2d_forward");
    BOTH lv_batchnorm2d_forward(BE, P(y), train ? P(sm) : NULL, train ? P(si) : NULL, P(rm), P(rv),
                                P(x), P(g), P(b), &s, train);
    cmp("out", y);
    cmp("running_mean", rm); /* eval: must be left alone on both sides */
    cmp("running_var", rv);
    if (!train) return;
    cmp("save_mean", sm);
    cmp("save_invstd", si);

    entry("batchnorm2d_backward");
    tw m = cpu_copy(sm, 1), is = cpu_copy(si, 1);
    tw dy = T(N, -1, 1), dx = T(N, -1, 1), dg = T(C, -1, 1), db = T(C, -1, 1);
    BOTH lv_batchnorm2d_backward(BE, P(dx), P(dg), P(db), P(dy), P(x), P(g), P(m), P(is), &s);
    cmp("din", dx);
    cmp("dgamma", dg);
    cmp("dbeta", db);
}

/* The four sync entries in the order a step calls them; `ranks` fakes a global batch of that
 * many copies of this one (count and every all-reduced acc scaled alike). */
static void run_batchnorm2d_sync(const int *p) {
    const lv_bn_shape s = {p[0], p[1], p[2], 1e-5f, 0.1f};
    const int ranks = p[3];
    const size_t N = (size_t)s.n * s.c * s.hw, C = (size_t)s.c;
    const double count = (double)ranks * s.n * s.hw;
    tw x = bn_input(&s), g = T(C, 0.5f, 1.5f), b = T(C, -0.5f, 0.5f), acc = OUT(C), accsq = OUT(C);
    entry("batchnorm2d_sync_stats");
    BOTH lv_batchnorm2d_sync_stats(BE, P(acc), P(x), NULL, &s);
    cmp("sum", acc);
    /* A centre slightly off the mean, so the centred pass is not a plain variance. */
    float *hc = xmalloc(C * sizeof *hc);
    for (size_t i = 0; i < C; i++) hc[i] = acc.p[0][i] / (float)(s.n * s.hw) + 0.01f * (float)i;
    tw center = up2(hc, C);
    BOTH lv_batchnorm2d_sync_stats(BE, P(accsq), P(x), P(center), &s);
    cmp("centred squares", accsq);

    entry("batchnorm2d_sync_forward");
    tw aq = cpu_copy(accsq, (float)ranks), rm = T(C, -0.5f, 0.5f), rv = T(C, 0.5f, 1.5f);
    tw y = OUT(N), si = OUT(C);
    BOTH lv_batchnorm2d_sync_forward(BE, P(y), P(center), P(si), P(rm), P(rv), P(x), P(g), P(b), P(aq),
                                     count, &s);
    cmp("out", y);
    cmp("save_invstd", si);
    cmp("running_mean", rm);
    cmp("running_var", rv);

    entry("batchnorm2d_sync_backward_stats");
    tw is = cpu_copy(si, 1), dy = T(N, -1, 1), acc2 = OUT(2 * C);
    BOTH lv_batchnorm2d_sync_backward_stats(BE, P(acc2), P(dy), P(x), P(center), P(is), &s);
    cmp("acc", acc2);

    entry("batchnorm2d_sync_backward");
    tw acc2g = cpu_copy(acc2, (float)ranks), dx = T(N, -1, 1), dg = T(C, -1, 1), db = T(C, -1, 1);
    BOTH lv_batchnorm2d_sync_backward(BE, P(dx), P(dg), P(db), P(dy), P(x), P(g), P(center), P(is),
                                      P(acc2g), count, &s);
    cmp("din", dx);
    cmp("dgamma", dg);
    cmp("dbeta", db);
}

static void run_relu(const int *p) {
    const size_t n = (size_t)p[0];
    tw x = T(n, -1, 1), y = OUT(n);
    entry("relu_forward");
    BOTH lv_relu_forward(BE, P(y), P(x), n);
    cmp("out", y);
    entry("relu_backward");
    tw yc = cpu_copy(y, 1), dy = T(n, -1, 1), dx = T(n, -1, 1);
    BOTH lv_relu_backward(BE, P(dx), P(dy), P(yc), n);
    cmp("din", dx);
}

static void run_maxpool2d(const int *p) {
    const lv_pool2d_shape s = {p[0], p[1], p[2], p[3], p[4], p[5], p[6]};
    const size_t nin = (size_t)s.n * s.c * s.h * s.w;
    const size_t nout = (size_t)s.n * s.c * lv_pool2d_oh(&s) * lv_pool2d_ow(&s);
    tw x = T(nin, -2, 2), y = OUT(nout);
    entry("maxpool2d_forward");
    BOTH lv_maxpool2d_forward(BE, P(y), P(x), &s);
    cmp("out", y);
    entry("maxpool2d_backward");
    /* Distinct upstream values, so a gradient routed to the wrong window shows. */
    tw dy = T(nout, 0.5f, 1.5f), dx = T(nin, -0.5f, 0.5f);
    BOTH lv_maxpool2d_backward(BE, P(dx), P(dy), P(x), &s);
    cmp("din", dx);
}

static void run_avgpool(const int *p) {
    const int n = p[0], c = p[1], hw = p[2];
    const size_t N = (size_t)n * c * hw, NC = (size_t)n * c;
    tw x = T(N, -1, 3), y = OUT(NC);
    entry("avgpool_forward");
    BOTH lv_avgpool_forward(BE, P(y), P(x), n, c, hw);
    cmp("out", y);
    entry("avgpool_backward");
    tw dy = T(NC, -1, 1), dx = T(N, -0.5f, 0.5f);
    BOTH lv_avgpool_backward(BE, P(dx), P(dy), n, c, hw);
    cmp("din", dx);
}

static void run_linear(const int *p) {
    const int b = p[0], in_f = p[1], out_f = p[2], bias = p[3];
    const size_t nin = (size_t)b * in_f, nw = (size_t)out_f * in_f, nout = (size_t)b * out_f;
    tw x = T(nin, -1, 1), w = T(nw, -0.5f, 0.5f), bb = T((size_t)out_f, -0.5f, 0.5f), y = OUT(nout);
    entry("linear_forward");
    BOTH lv_linear_forward(BE, P(y), P(x), P(w), bias ? P(bb) : NULL, b, in_f, out_f);
    cmp("out", y);
    entry("linear_backward");
    tw dy = T(nout, -1, 1), dx = T(nin, -1, 1), dw = T(nw, -1, 1), db = T((size_t)out_f, -1, 1);
    BOTH lv_linear_backward(BE, P(dx), P(dw), bias ? P(db) : NULL, P(dy), P(x), P(w), b, in_f, out_f);
    cmp("din", dx);
    cmp("dw", dw);
    if (bias) cmp("dbias", db);
}

static void run_residual_add(const int *p) {
    const size_t n = (size_t)p[0];
    tw a = T(n, -1, 1), b = T(n, -1, 1), y = OUT(n);
    entry("residual_add_forward");
    BOTH lv_residual_add_forward(BE, P(y), P(a), P(b), n);
    cmp("out", y);
    entry("residual_add_backward");
    tw dy = T(n, -1, 1), da = T(n, -0.5f, 0.5f), db = T(n, -0.5f, 0.5f);
    BOTH lv_residual_add_backward(BE, P(da), P(db), P(dy), n);
    cmp("da", da);
    cmp("db", db);
}

/* ---------------------------------------------------------------- text-encoder ops */

static void run_layernorm(const int *p) {
    const int rows = p[0], c = p[1];
    const size_t n = (size_t)rows * c, C = (size_t)c, R = (size_t)rows;
    /* An offset of 2 against a spread of 1: a one-pass variance would cancel visibly. */
    tw x = T(n, 1, 3), w = T(C, 0.5f, 1.5f), b = T(C, -0.5f, 0.5f);
    tw y = OUT(n), mean = OUT(R), rstd = OUT(R);
    entry("layernorm_forward");
    BOTH lv_layernorm_forward(BE, P(y), P(mean), P(rstd), P(x), P(w), P(b), rows, c, 1e-5f);
    cmp("out", y);
    cmp("mean", mean);
    cmp("rstd", rstd);
    entry("layernorm_backward");
    tw m = cpu_copy(mean, 1), r = cpu_copy(rstd, 1);
    tw dy = T(n, -1, 1), dx = T(n, -1, 1), dw = T(C, -1, 1), db = T(C, -1, 1);
    BOTH lv_layernorm_backward(BE, P(dx), P(dw), P(db), P(dy), P(x), P(w), P(m), P(r), rows, c);
    cmp("din", dx);
    cmp("dw", dw);
    cmp("db", db);
}

static void run_gelu(const int *p) {
    const size_t n = (size_t)p[0];
    tw x = T(n, -6, 6), y = OUT(n);
    entry("gelu_forward");
    BOTH lv_gelu_forward(BE, P(y), P(x), n);
    cmp("out", y);
    entry("gelu_backward");
    tw dy = T(n, -1, 1), dx = T(n, -1, 1);
    BOTH lv_gelu_backward(BE, P(dx), P(dy), P(x), n);
    cmp("din", dx);
}

static void run_softmax(const int *p) {
    const int rows = p[0], cols = p[1];
    const size_t n = (size_t)rows * cols;
    tw x = T(n, -8, 8), y = OUT(n);
    entry("softmax_forward");
    BOTH lv_softmax_forward(BE, P(y), P(x), rows, cols);
    cmp("out", y);
    entry("softmax_backward");
    tw yc = cpu_copy(y, 1), dy = T(n, -1, 1), dx = T(n, -1, 1);
    BOTH lv_softmax_backward(BE, P(dx), P(dy), P(yc), rows, cols);
    cmp("din", dx);
}

/* masked: sequence i keeps its first t - (3i mod t) tokens; the last of three or more is all
 * padding (uniform probabilities, as HF). */
static void run_attention(const int *p) {
    const lv_attn_shape s = {.b = p[0], .t = p[1], .c = p[2], .nh = p[3]};
    const int masked = p[4];
    const size_t nqkv = (size_t)s.b * s.t * 3 * s.c, nout = (size_t)s.b * s.t * s.c;
    const size_t natt = (size_t)s.b * s.nh * s.t * s.t, nm = (size_t)s.b * s.t;
    int *hm = xmalloc(nm * sizeof *hm);
    for (int i = 0; i < s.b; i++) {
        int len = (s.b >= 3 && i == s.b - 1) ? 0 : s.t - (3 * i) % s.t;
        for (int j = 0; j < s.t; j++) hm[(size_t)i * s.t + j] = j < len;
    }
    twi mask = up2_int(hm, nm);
    tw qkv = T(nqkv, -1, 1), y = OUT(nout), att = OUT(natt);
    entry("attention_forward");
    BOTH lv_attention_forward(BE, P(y), P(att), P(qkv), masked ? P(mask) : NULL, &s);
    cmp("out", y);
    cmp("att", att);
    entry("attention_backward");
    tw ac = cpu_copy(att, 1), dy = T(nout, -1, 1), dqkv = T(nqkv, -1, 1);
    BOTH lv_attention_backward(BE, P(dqkv), P(dy), P(qkv), P(ac), masked ? P(mask) : NULL, &s);
    cmp("dqkv", dqkv);
}

static void run_embedding(const int *p) {
    const int vocab = p[0], n = p[1], c = p[2];
    const size_t nt = (size_t)vocab * c, no = (size_t)n * c;
    /* n > vocab forces repeated ids: the scatter-add must sum them, not race. */
    float *u = host_rand((size_t)n, 0, 1);
    int *ids = xmalloc((size_t)n * sizeof *ids);
    for (int i = 0; i < n; i++) {
        int v = (int)(u[i] * (float)vocab);
        ids[i] = v < vocab ? v : vocab - 1;
    }
    free(u);
    twi id = up2_int(ids, (size_t)n);
    tw table = T(nt, -1, 1), y = OUT(no);
    entry("embedding_forward");
    BOTH lv_embedding_forward(BE, P(y), P(id), P(table), n, c);
    cmp("out", y);
    entry("embedding_backward");
    tw dy = T(no, -1, 1), dt = T(nt, -1, 1);
    BOTH lv_embedding_backward(BE, P(dt), P(dy), P(id), n, c);
    cmp("dtable", dt);
}

/* Sequence 0 keeps every token, sequence 1 none (when b >= 3: the count clamp), the rest ~60%;
 * mask values other than 1 count as kept too. */
static void run_masked_mean_pool(const int *p) {
    const int b = p[0], t = p[1], c = p[2];
    const size_t nin = (size_t)b * t * c, nout = (size_t)b * c, nm = (size_t)b * t;
    float *u = host_rand(nm, 0, 1);
    int *hm = xmalloc(nm * sizeof *hm);
    for (size_t i = 0; i < nm; i++) {
        size_t seq = i / (size_t)t;
        hm[i] = seq == 0 ? 1 : (seq == 1 && b >= 3) ? 0 : (u[i] < 0.6f) * (1 + (int)(i % 3));
    }
    free(u);
    twi mask = up2_int(hm, nm);
    tw x = T(nin, -1, 1), y = OUT(nout);
    entry("masked_mean_pool_forward");
    BOTH lv_masked_mean_pool_forward(BE, P(y), P(x), P(mask), b, t, c);
    cmp("out", y);
    entry("masked_mean_pool_backward");
    tw dy = T(nout, -1, 1), dx = T(nin, -1, 1);
    BOTH lv_masked_mean_pool_backward(BE, P(dx), P(dy), P(mask), b, t, c);
    cmp("din", dx);
}

/* ---------------------------------------------------------------- losses */

static void run_l2norm(const int *p) {
    const int rows = p[0], dim = p[1];
    const size_t n = (size_t)rows * dim;
    const float eps = 1e-12f;
    tw x = T(n, -1, 1), y = OUT(n), norm = OUT((size_t)rows);
    entry("l2norm_forward");
    BOTH lv_l2norm_forward(BE, P(y), P(norm), P(x), rows, dim, eps);
    cmp("out", y);
    cmp("norm", norm);
    entry("l2norm_backward");
    tw nc = cpu_copy(norm, 1), dy = T(n, -1, 1), dx = T(n, -1e-3f, 1e-3f);
    BOTH lv_l2norm_backward(BE, P(dx), P(dy), P(x), P(nc), rows, dim, eps);
    cmp("din", dx);
}

/* Labels covering every class in each run of c rows, in a shifted order. */
static twi labels(int b, int c) {
    int *y = xmalloc((size_t)b * sizeof *y);
    for (int i = 0; i < b; i++) y[i] = (i + i / c + (int)(g_seed % 7)) % c;
    return up2_int(y, (size_t)b);
}

/* Losses' gradients start small next to their increments (about 1/b), so "+=" is what passes. */
static void run_cosine_ce(const int *p) {
    const int b = p[0], c = p[1], d = p[2];
    const size_t bd = (size_t)b * d, cd = (size_t)c * d, bc = (size_t)b * c;
    float *ls = xmalloc(sizeof *ls);
    *ls = logf(20.0f);
    tw img = T(bd, -1, 1), cls = T(cd, -1, 1), scale = up2(ls, 1);
    twi lab = labels(b, c);
    tw loss = OUT(1), logits = OUT(bc), dimg = T(bd, -1e-3f, 1e-3f), dcls = T(cd, -1e-3f, 1e-3f);
    tw dscale = T(1, 0, 0.5f);
    entry("cosine_ce");
    BOTH lv_cosine_ce(BE, P(loss), P(logits), P(dimg), P(dcls), P(dscale), P(img), P(cls), P(scale),
                      P(lab), b, c, d);
    cmp("loss", loss);
    cmp("logits", logits);
    cmp("dimg", dimg);
    cmp("dcls", dcls);
    cmp("dscale", dscale);
}

static void run_cross_entropy(const int *p) {
    const int b = p[0], c = p[1];
    const size_t bc = (size_t)b * c;
    tw z = T(bc, -8, 8), loss = OUT(1), probs = OUT(bc), dz = T(bc, -1e-3f, 1e-3f);
    twi lab = labels(b, c);
    entry("cross_entropy");
    BOTH lv_cross_entropy(BE, P(loss), P(dz), P(probs), P(z), P(lab), b, c);
    cmp("loss", loss);
    cmp("dlogits", dz);
    cmp("probs", probs);
}

static void run_clip_loss(const int *p) {
    const int b = p[0], d = p[1];
    const size_t bd = (size_t)b * d;
    float *ls = xmalloc(sizeof *ls);
    *ls = logf(1.0f / 0.07f);
    tw img = T(bd, -1, 1), txt = T(bd, -1, 1), scale = up2(ls, 1), loss = OUT(1);
    tw di = T(bd, -1e-3f, 1e-3f), dt = T(bd, -1e-3f, 1e-3f), ds = T(1, 0, 0.5f);
    entry("clip_loss");
    BOTH lv_clip_loss(BE, P(loss), P(di), P(dt), P(ds), P(img), P(txt), P(scale), b, d);
    cmp("loss", loss);
    cmp("dimg", di);
    cmp("dtxt", dt);
    cmp("dscale", ds);
}

/* ---------------------------------------------------------------- optimizers and grad norm */

/* Three steps from non-zero moments, so bias correction and both decays all enter. */
static void run_adamw(const int *p) {
    const size_t n = (size_t)p[0];
    lv_adamw_hparams h = {.lr = 1e-2f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f,
                          .weight_decay = p[1] ? 0.05f : 0.0f};
    tw prm = T(n, -1, 1), m = T(n, -0.1f, 0.1f), v = T(n, 0, 0.01f);
    entry("adamw_update");
    for (h.step = 1; h.step <= 3; h.step++) {
        tw g = T(n, -0.5f, 0.5f);
        BOTH lv_adamw_update(BE, P(prm), P(g), P(m), P(v), n, &h);
    }
    cmp("param", prm);
    cmp("exp_avg", m);
    cmp("exp_avg_sq", v);
}

/* mode 0: no momentum (NULL buffer); 1: momentum, dampening, weight decay; 2: Nesterov. The
 * buffer starts as garbage: the first step must overwrite it. */
static void run_sgd(const int *p) {
    const size_t n = (size_t)p[0];
    const int mode = p[1];
    lv_sgd_hparams h = {.lr = 0.05f, .momentum = mode ? 0.9f : 0.0f, .dampening = mode == 1 ? 0.1f : 0.0f,
                        .weight_decay = 1e-2f, .nesterov = mode == 2};
    tw prm = T(n, -1, 1), buf = T(n, 5, 6);
    entry("sgd_update");
    for (int step = 1; step <= 3; step++) {
        tw g = T(n, -0.5f, 0.5f);
        h.first_step = step == 1;
        BOTH lv_sgd_update(BE, P(prm), P(g), mode ? P(buf) : NULL, n, &h);
    }
    cmp("param", prm);
    if (mode) cmp("momentum_buf", buf);
}

/* plant 1: +Inf at the tail, 2: NaN in the middle (then only the flag is comparable). */
static void run_grad_sumsq(const int *p) {
    const size_t n = (size_t)p[0];
    const int plant = p[1];
    float *h = host_rand(n, -1, 1);
    if (plant == 1) h[n - 1] = INFINITY;
    if (plant == 2) h[n / 2] = NAN;
    int *f = xmalloc(sizeof *f);
    *f = 0;
    tw g = up2(h, n), out = T(1, 1, 2); /* out accumulates */
    twi flag = up2_int(f, 1);
    entry("grad_sumsq");
    BOTH lv_grad_sumsq(BE, P(out), P(flag), P(g), n);
    if (!plant) cmp("sum", out);
    cmp_int("nonfinite flag", flag);
    if (plant) g_err = lv_twin_sync(g_be[1], "grad_sumsq") ? HUGE_VAL : 0.0;
}

static void run_scale(const int *p) {
    const size_t n = (size_t)p[0];
    tw x = T(n, -3, 3);
    entry("scale");
    BOTH lv_scale(BE, P(x), 0.37f, n);
    cmp("x", x);
}

/* ---------------------------------------------------------------- the table */

typedef struct family {
    const char *op;
    void (*run)(const int *p);
    const char *args; /* names of p[0..], space separated */
} family;

static const family families[] = {
    {"conv2d", run_conv2d, "n c h w oc k stride pad bias"},
    {"batchnorm2d", run_batchnorm2d, "n c hw train"},
    {"batchnorm2d_sync", run_batchnorm2d_sync, "n c hw ranks"},
    {"relu", run_relu, "n"},
    {"maxpool2d", run_maxpool2d, "n c h w k stride pad"},
    {"avgpool", run_avgpool, "n c hw"},
    {"linear", run_linear, "b in out bias"},
    {"residual_add", run_residual_add, "n"},
    {"layernorm", run_layernorm, "rows c"},
    {"gelu", run_gelu, "n"},
    {"softmax", run_softmax, "rows cols"},
    {"attention", run_attention, "b t c nh masked"},
    {"embedding", run_embedding, "vocab n c"},
    {"masked_mean_pool", run_masked_mean_pool, "b t c"},
    {"l2norm", run_l2norm, "rows dim"},
    {"cosine_ce", run_cosine_ce, "b c d"},
    {"cross_entropy", run_cross_entropy, "b c"},
    {"clip_loss", run_clip_loss, "b d"},
    {"adamw", run_adamw, "n wd"},
    {"sgd", run_sgd, "n mode"},
    {"grad_sumsq", run_grad_sumsq, "n plant"},
    {"scale", run_scale, "n"},
};

typedef struct row {
    const char *op;
    int p[9];
    double rtol; /* 0: RTOL */
} row;

/* Per op: size 1 where the op allows it, odd sizes, and sizes past one CUDA block (rows or
 * channels longer than 1024, n*hw > 4096 per channel, grids that stride) so multi-block
 * reductions run. Every tensor stays below ~200k elements: the device may be an emulator. */
static const row rows[] = {
    {"conv2d", {1, 1, 1, 1, 1, 1, 1, 0, 1}, 0},
    {"conv2d", {3, 5, 7, 9, 13, 3, 1, 1, 1}, 0},
    {"conv2d", {2, 3, 33, 33, 7, 7, 2, 3, 0}, 0},
    {"conv2d", {2, 13, 17, 17, 33, 3, 2, 1, 1}, 2e-5},
    {"conv2d", {1, 16, 13, 13, 31, 1, 2, 0, 1}, 0},
    {"conv2d", {2, 8, 32, 32, 8, 3, 1, 1, 1}, 2e-5},

    {"batchnorm2d", {2, 1, 1, 1}, 0},    /* the fewest values training allows */
    {"batchnorm2d", {1, 3, 7, 1}, 0},
    {"batchnorm2d", {3, 5, 13, 1}, 0},
    {"batchnorm2d", {2, 3, 4099, 1}, 0}, /* scalar path, 8 blocks per channel */
    {"batchnorm2d", {3, 2, 2048, 1}, 0}, /* float4 path, 2 blocks */
    {"batchnorm2d", {1, 2, 20000, 1}, 0},
    {"batchnorm2d", {1, 1, 1, 0}, 0},    /* eval takes a single value */
    {"batchnorm2d", {4, 7, 1031, 0}, 0},
    {"batchnorm2d", {2, 33, 49, 0}, 0},

    {"batchnorm2d_sync", {4, 3, 49, 1}, 0},
    {"batchnorm2d_sync", {1, 3, 1, 2}, 0}, /* one local value per channel, count 2 */
    {"batchnorm2d_sync", {3, 1, 13, 2}, 0},
    {"batchnorm2d_sync", {2, 5, 3136, 3}, 0},
    {"batchnorm2d_sync", {16, 3, 1025, 1}, 0},

    {"relu", {1}, 0}, {"relu", {7}, 0}, {"relu", {1025}, 0}, {"relu", {70001}, 0},

    {"maxpool2d", {1, 1, 1, 1, 1, 1, 0}, 0},
    {"maxpool2d", {1, 5, 7, 9, 3, 2, 1}, 0},
    {"maxpool2d", {2, 3, 13, 11, 3, 2, 1}, 0},
    {"maxpool2d", {3, 2, 8, 8, 2, 2, 0}, 0},
    {"maxpool2d", {2, 4, 64, 64, 3, 2, 1}, 0},

    {"avgpool", {1, 1, 1}, 0}, {"avgpool", {3, 7, 13}, 0},
    {"avgpool", {2, 5, 1031}, 0}, {"avgpool", {2, 512, 49}, 0},

    {"linear", {1, 1, 1, 1}, 0},
    {"linear", {3, 7, 13, 1}, 0},
    {"linear", {33, 65, 17, 0}, 0},
    {"linear", {8, 1031, 33, 1}, 3e-5},
    {"linear", {64, 128, 129, 1}, 2e-5},

    {"residual_add", {1}, 0}, {"residual_add", {13}, 0}, {"residual_add", {70001}, 0},

    {"layernorm", {1, 1}, 0},
    {"layernorm", {2, 37}, 0},
    {"layernorm", {13, 77}, 0},
    {"layernorm", {5, 1031}, 2e-5},
    {"layernorm", {1100, 33}, 2e-5}, /* dw/db over more rows than a block */

    {"gelu", {1}, 0}, {"gelu", {33}, 0}, {"gelu", {70001}, 0},

    {"softmax", {1, 1}, 0}, {"softmax", {7, 13}, 0},
    {"softmax", {3, 2053}, 2e-5}, {"softmax", {1100, 5}, 0},

    {"attention", {1, 1, 8, 1, 1}, 0},
    {"attention", {2, 7, 24, 2, 1}, 0},
    {"attention", {3, 13, 36, 4, 1}, 0},  /* head dim 9, an all-padding sequence */
    {"attention", {1, 33, 32, 1, 0}, 0},  /* no mask */
    {"attention", {2, 65, 64, 2, 1}, 2e-5}, /* t > 64: each lane loops over a row */

    {"embedding", {1, 1, 1}, 0},
    {"embedding", {5, 13, 7}, 0},
    {"embedding", {50, 37, 19}, 0},
    {"embedding", {1000, 300, 64}, 0},
    {"embedding", {7, 2000, 3}, 0}, /* ~300 repeats of each id */

    {"masked_mean_pool", {1, 1, 1}, 0},
    {"masked_mean_pool", {4, 7, 37}, 0},
    {"masked_mean_pool", {3, 13, 77}, 0},
    {"masked_mean_pool", {2, 33, 1031}, 0},

    {"l2norm", {1, 1}, 0}, {"l2norm", {9, 5}, 0}, {"l2norm", {37, 515}, 0},
    {"l2norm", {3, 2053}, 2e-5}, {"l2norm", {1100, 7}, 0},

    {"cosine_ce", {1, 5, 33}, 0},
    {"cosine_ce", {7, 3, 13}, 0},
    {"cosine_ce", {37, 33, 65}, 2e-5},
    {"cosine_ce", {64, 7, 512}, 2e-5},
    {"cosine_ce", {13, 1024, 7}, 2e-5}, /* the most classes the CUDA kernel takes */

    {"cross_entropy", {1, 1}, 0},
    {"cross_entropy", {1, 5}, 0},
    {"cross_entropy", {37, 13}, 0},
    {"cross_entropy", {100, 1031}, 2e-5},
    {"cross_entropy", {1100, 7}, 2e-5},

    {"clip_loss", {1, 7}, 0},
    {"clip_loss", {7, 13}, 0},
    {"clip_loss", {37, 67}, 2e-5},
    {"clip_loss", {129, 33}, 2e-5},
    {"clip_loss", {33, 1031}, 2e-5},

    {"adamw", {1, 0}, 0}, {"adamw", {13, 1}, 0}, {"adamw", {70001, 1}, 0},

    {"sgd", {1, 2}, 0}, {"sgd", {33, 0}, 0}, {"sgd", {13, 1}, 0}, {"sgd", {70001, 2}, 0},

    {"grad_sumsq", {1, 0}, 0}, {"grad_sumsq", {13, 0}, 0}, {"grad_sumsq", {70001, 0}, 2e-5},
    {"grad_sumsq", {4099, 1}, 0}, {"grad_sumsq", {33, 2}, 0},

    {"scale", {1}, 0}, {"scale", {13}, 0}, {"scale", {70001}, 0},
};

static const family *find_family(const char *op) {
    for (size_t i = 0; i < sizeof families / sizeof families[0]; i++)
        if (strcmp(families[i].op, op) == 0) return &families[i];
    return NULL;
}

static void run_row(size_t i) {
    const row *r = &rows[i];
    const family *f = find_family(r->op);
    if (f == NULL) {
        lv_test_fail("row %zu: no op family named %s", i, r->op);
        return;
    }
    /* "n c hw" + {3, 5, 7} -> "n=3 c=5 hw=7" */
    size_t len = 0;
    int k = 0;
    g_shape[0] = '\0';
    for (const char *a = f->args; *a && len < sizeof g_shape; k++) {
        size_t w = strcspn(a, " ");
        len += (size_t)snprintf(g_shape + len, sizeof g_shape - len, "%s%.*s=%d", k ? " " : "", (int)w,
                                a, r->p[k]);
        a += w + (a[w] == ' ');
    }
    g_seed = 1000u * (i + 1);
    g_rtol = r->rtol > 0 ? r->rtol : RTOL;
    f->run(r->p);
    flush();
    char what[200];
    snprintf(what, sizeof what, "%s %s: sticky error after the row", r->op, g_shape);
    BOTH (void)lv_twin_sync(BE, what);
    release_all();
}

int main(void) {
    int rc = lv_twin_open(&g_be[0], &g_be[1]);
    if (rc) return rc;
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) run_row(i);
    printf("%zu rows over %zu op families\n", sizeof rows / sizeof rows[0],
           sizeof families / sizeof families[0]);
    return lv_twin_close(g_be[0], g_be[1]);
}
