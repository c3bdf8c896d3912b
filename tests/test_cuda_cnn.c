/* CUDA twins of the CNN elementwise and normalisation ops (batchnorm2d, synchronized batch norm,
 * relu, maxpool2d, avgpool, residual_add) against the CPU backend at 1e-5 relative (fp32):
 * every forward output and gradient, gradients starting non-zero (backward ops add), NULL
 * gradients, odd sizes, n = 1, unaligned pointers, ties/NaN/-inf in max pooling, and the sync
 * BN chain at the local count against plain batchnorm2d on each backend. SKIPs without a
 * device; LV_TEST_TWIN_CPU=1 runs it against a second CPU backend (then SKIPs). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/backend.h"
#include "harness.h"
#include "twin.h"

#define RTOL 1e-5

static lv_backend *g_cpu, *g_dev;

/* Buffers of one case, released together by release_all(). */
#define MAX_BUFS 256
static void *g_host[MAX_BUFS];
static int g_nhost;
static struct {
    lv_backend *be;
    void *p;
} g_devb[MAX_BUFS];
static int g_ndev;

static void *track_host(void *p) {
    if (p == NULL || g_nhost == MAX_BUFS) {
        fprintf(stderr, "FAIL: test host buffers exhausted\n");
        exit(1);
    }
    return g_host[g_nhost++] = p;
}

/* Zeroed host floats. */
static float *hvec(size_t n) { return track_host(calloc(n ? n : 1, sizeof(float))); }

static float *hrand(size_t n, uint64_t seed, float lo, float hi) {
    float *p = hvec(n);
    lv_test_fill_uniform(p, n, seed, lo, hi);
    return p;
}

static float *hcopy(const float *src, size_t n) {
    float *p = hvec(n);
    memcpy(p, src, n * sizeof(float));
    return p;
}

/* A copy of host[0..n) on `be` (zeros when host is NULL), placed `off` floats into its
 * allocation so that off = 1 gives a pointer that is not 16-byte aligned. */
static float *up_on(lv_backend *be, const float *host, size_t n, size_t off) {
    float *base = be->alloc(be, (n + off) * sizeof(float));
    if (base == NULL || g_ndev == MAX_BUFS) {
        fprintf(stderr, "FAIL: device allocation: %s\n", lv_error_message());
        exit(1);
    }
    g_devb[g_ndev].be = be;
    g_devb[g_ndev++].p = base;
    if (host && n) be->copy_h2d(be, base + off, host, n * sizeof(float));
    return base + off;
}

static float *up(const float *host, size_t n) { return up_on(g_dev, host, n, 0); }

static void release_all(void) {
    for (int i = 0; i < g_ndev; i++) g_devb[i].be->free(g_devb[i].be, g_devb[i].p);
    for (int i = 0; i < g_nhost; i++) free(g_host[i]);
    g_ndev = g_nhost = 0;
}

/* The CPU runs synchronously but reports errors the same sticky way; a check after each CPU
 * call makes a failing (or missing) CPU twin a loud failure instead of stale reference data. */
static int cpu_ok(const char *what) { return lv_twin_sync(g_cpu, what) == 0; }

static void expect(const char *what, const float *d, const float *want, size_t n) {
    (void)lv_twin_expect(g_dev, what, d, want, n, RTOL);
}

/* Bitwise agreement where non-finite values are expected (Inf, NaN, -0.0 aside: == on floats). */
static void expect_same(lv_backend *be, const char *what, const float *d, const float *want, size_t n) {
    if (lv_twin_sync(be, what)) return;
    float *got = hvec(n);
    be->copy_d2h(be, got, d, n * sizeof(float));
    size_t bad = 0, first = 0;
    for (size_t i = 0; i < n; i++) {
        int same = got[i] == want[i] || (isnan(got[i]) && isnan(want[i]));
        if (!same && bad++ == 0) first = i;
    }
    if (bad)
        lv_test_fail("%s: %zu of %zu differ (first [%zu] got %.9g want %.9g)", what, bad, n, first,
                     (double)got[first], (double)want[first]);
    else
        lv_test_pass("%s: identical (n=%zu)", what, n);
}

/* Fails unless the device op left a sticky error naming `op`; clears it. */
static void expect_error(const char *what, const char *op) {
    lv_status s = g_dev->sync(g_dev);
    int ok = s != LV_OK && strstr(lv_error_message(), op) != NULL;
    if (ok) lv_test_pass("%s: refused (%s)", what, lv_error_message());
    else lv_test_fail("%s: expected an error naming %s, got status %d", what, op, (int)s);
}

/* ---------------------------------------------------------------- batchnorm2d */

typedef struct bn_case {
    int n, c, hw;
    int affine;   /* 0: gamma = beta = NULL */
    int misalign; /* 1: device pointers one float off 16-byte alignment */
} bn_case;

/* BN input with per-channel offsets and spreads, so centring and scaling both matter. */
static float *bn_input(const lv_bn_shape *s, uint64_t seed) {
    size_t N = (size_t)s->n * s->c * s->hw;
    float *x = hrand(N, seed, -1.5f, 1.5f);
    for (int b = 0; b < s->n; b++)
        for (int c = 0; c < s->c; c++)
            for (int i = 0; i < s->hw; i++) {
                float *v = &x[((size_t)b * s->c + c) * s->hw + i];
                *v = *v * (0.5f + 0.25f * (float)(c % 5)) + 2.0f * (float)(c % 3) - 1.0f;
            }
    return x;
}

static void bn_twin(const bn_case *k, uint64_t seed) {
    const lv_bn_shape s = {k->n, k->c, k->hw, 1e-5f, 0.1f};
    const size_t N = (size_t)s.n * s.c * s.hw, C = (size_t)s.c, off = (size_t)k->misalign;
    char tag[96], what[160];
    snprintf(tag, sizeof tag, "batchnorm2d n=%d c=%d hw=%d%s%s", s.n, s.c, s.hw,
             k->affine ? "" : " no-affine", k->misalign ? " unaligned" : "");

    float *x = bn_input(&s, seed);
    float *gamma = k->affine ? hrand(C, seed + 1, 0.5f, 1.5f) : NULL;
    float *beta = k->affine ? hrand(C, seed + 2, -0.5f, 0.5f) : NULL;
    float *rm = hrand(C, seed + 3, -0.5f, 0.5f), *rv = hrand(C, seed + 4, 0.5f, 1.5f);
    float *dx = up_on(g_dev, x, N, off), *dg = gamma ? up(gamma, C) : NULL;
    float *db = beta ? up(beta, C) : NULL, *drm = up(rm, C), *drv = up(rv, C);
    float *out = hvec(N), *sm = hvec(C), *si = hvec(C), *dout_ = up_on(g_dev, NULL, N, off);
    float *dsm = up(NULL, C), *dsi = up(NULL, C);

    /* training: batch statistics, saved mean/invstd, running update */
    lv_batchnorm2d_forward(g_cpu, out, sm, si, rm, rv, x, gamma, beta, &s, 1);
    lv_batchnorm2d_forward(g_dev, dout_, dsm, dsi, drm, drv, dx, dg, db, &s, 1);
    if (cpu_ok(tag)) {
        snprintf(what, sizeof what, "%s train out", tag);
        expect(what, dout_, out, N);
        snprintf(what, sizeof what, "%s save_mean", tag);
        expect(what, dsm, sm, C);
        snprintf(what, sizeof what, "%s save_invstd", tag);
        expect(what, dsi, si, C);
        snprintf(what, sizeof what, "%s running_mean", tag);
        expect(what, drm, rm, C);
        snprintf(what, sizeof what, "%s running_var", tag);
        expect(what, drv, rv, C);
    }

    /* eval with the (CPU's) running statistics */
    g_dev->copy_h2d(g_dev, drm, rm, C * sizeof(float));
    g_dev->copy_h2d(g_dev, drv, rv, C * sizeof(float));
    float *eout = hvec(N);
    lv_batchnorm2d_forward(g_cpu, eout, NULL, NULL, rm, rv, x, gamma, beta, &s, 0);
    lv_batchnorm2d_forward(g_dev, dout_, NULL, NULL, drm, drv, dx, dg, db, &s, 0);
    if (cpu_ok(tag)) {
        snprintf(what, sizeof what, "%s eval out", tag);
        expect(what, dout_, eout, N);
    }

    /* eval without running statistics: batch statistics, nothing saved (buffers keep -7) */
    float *sentinel = hvec(C);
    for (size_t i = 0; i < C; i++) sentinel[i] = -7.0f;
    float *sm2 = hcopy(sentinel, C), *dsm2 = up(sentinel, C);
    lv_batchnorm2d_forward(g_cpu, eout, sm2, NULL, NULL, NULL, x, gamma, beta, &s, 0);
    lv_batchnorm2d_forward(g_dev, dout_, dsm2, NULL, NULL, NULL, dx, dg, db, &s, 0);
    if (cpu_ok(tag)) {
        snprintf(what, sizeof what, "%s eval no-running out", tag);
        expect(what, dout_, eout, N);
        snprintf(what, sizeof what, "%s eval no-running leaves save_mean", tag);
        expect(what, dsm2, sm2, C);
    }

    /* backward from the CPU's saved statistics; every gradient starts non-zero */
    float *gy = hrand(N, seed + 5, -1.0f, 1.0f);
    float *din0 = hrand(N, seed + 6, -0.5f, 0.5f), *dg0 = hrand(C, seed + 7, -0.5f, 0.5f);
    float *db0 = hrand(C, seed + 8, -0.5f, 0.5f);
    float *dgy = up_on(g_dev, gy, N, off), *dsm3 = up(sm, C), *dsi3 = up(si, C);
    for (int variant = 0; variant < 3; variant++) {
        /* 0: all gradients; 1: din only; 2: dgamma/dbeta only */
        const int want_din = variant != 2, want_par = variant != 1;
        float *din = hcopy(din0, N), *dgam = hcopy(dg0, C), *dbet = hcopy(db0, C);
        float *ddin = up_on(g_dev, din0, N, off), *ddg = up(dg0, C), *ddb = up(db0, C);
        lv_batchnorm2d_backward(g_cpu, want_din ? din : NULL, want_par ? dgam : NULL,
                                want_par ? dbet : NULL, gy, x, gamma, sm, si, &s);
        lv_batchnorm2d_backward(g_dev, want_din ? ddin : NULL, want_par ? ddg : NULL,
                                want_par ? ddb : NULL, dgy, dx, dg, dsm3, dsi3, &s);
        if (!cpu_ok(tag)) continue;
        static const char *vname[3] = {"all", "din only", "dgamma/dbeta only"};
        snprintf(what, sizeof what, "%s backward (%s) din", tag, vname[variant]);
        expect(what, ddin, din, N); /* unchanged from din0 when not wanted */
        snprintf(what, sizeof what, "%s backward (%s) dgamma", tag, vname[variant]);
        expect(what, ddg, dgam, C);
        snprintf(what, sizeof what, "%s backward (%s) dbeta", tag, vname[variant]);
        expect(what, ddb, dbet, C);
    }
    lv_batchnorm2d_backward(g_dev, NULL, NULL, NULL, dgy, dx, dg, dsm3, dsi3, &s);
    snprintf(what, sizeof what, "%s backward with no gradients is a no-op", tag);
    lv_test_true(lv_twin_sync(g_dev, what) == 0, what);
    release_all();
}

static void bn_errors(void) {
    const lv_bn_shape one = {1, 3, 1, 1e-5f, 0.1f};
    float *x = up(NULL, 3), *o = up(NULL, 3), *m = up(NULL, 3), *v = up(NULL, 3);
    lv_batchnorm2d_forward(g_dev, o, m, v, NULL, NULL, x, NULL, NULL, &one, 1);
    expect_error("batchnorm2d training on 1 value per channel", "batchnorm2d_forward");
    const lv_bn_shape bad = {2, 0, 4, 1e-5f, 0.1f};
    lv_batchnorm2d_forward(g_dev, o, m, v, NULL, NULL, x, NULL, NULL, &bad, 1);
    expect_error("batchnorm2d c=0", "batchnorm2d_forward");
    release_all();
}

/* ---------------------------------------------------------------- sync batch norm */

/* Each of the four entries against the CPU twin from identical inputs; `ranks` fakes a
 * global batch of that many copies of this one (count and acc scaled alike). */
static void bn_sync_twin(int n, int c, int hw, int ranks, uint64_t seed) {
    const lv_bn_shape s = {n, c, hw, 1e-5f, 0.1f};
    const size_t N = (size_t)n * c * hw, C = (size_t)c;
    const double count = (double)ranks * n * hw;
    char tag[96], what[160];
    snprintf(tag, sizeof tag, "sync-bn n=%d c=%d hw=%d ranks=%d", n, c, hw, ranks);

    float *x = bn_input(&s, seed), *dx = up(x, N);
    float *gamma = hrand(C, seed + 1, 0.5f, 1.5f), *beta = hrand(C, seed + 2, -0.5f, 0.5f);
    float *dgm = up(gamma, C), *dbt = up(beta, C);

    /* stats: plain sums, then squared deviations around a centre */
    float *acc = hvec(C), *dacc = up(NULL, C);
    lv_batchnorm2d_sync_stats(g_cpu, acc, x, NULL, &s);
    lv_batchnorm2d_sync_stats(g_dev, dacc, dx, NULL, &s);
    if (!cpu_ok(tag)) goto done;
    snprintf(what, sizeof what, "%s stats sum", tag);
    expect(what, dacc, acc, C);
    float *center = hvec(C);
    for (size_t i = 0; i < C; i++) center[i] = acc[i] / (float)(n * hw) + 0.01f * (float)i;
    float *dcenter = up(center, C), *accsq = hvec(C), *daccsq = up(NULL, C);
    lv_batchnorm2d_sync_stats(g_cpu, accsq, x, center, &s);
    lv_batchnorm2d_sync_stats(g_dev, daccsq, dx, dcenter, &s);
    if (!cpu_ok(tag)) goto done;
    snprintf(what, sizeof what, "%s stats centred squares", tag);
    expect(what, daccsq, accsq, C);

    /* forward from the CPU's (globally scaled) acc_sq */
    for (size_t i = 0; i < C; i++) accsq[i] *= (float)ranks;
    float *daccsq_g = up(accsq, C);
    float *rm = hrand(C, seed + 3, -0.5f, 0.5f), *rv = hrand(C, seed + 4, 0.5f, 1.5f);
    float *drm = up(rm, C), *drv = up(rv, C), *out = hvec(N), *dout_ = up(NULL, N);
    float *si = hvec(C), *dsi = up(NULL, C);
    lv_batchnorm2d_sync_forward(g_cpu, out, center, si, rm, rv, x, gamma, beta, accsq, count, &s);
    lv_batchnorm2d_sync_forward(g_dev, dout_, dcenter, dsi, drm, drv, dx, dgm, dbt, daccsq_g, count, &s);
    if (!cpu_ok(tag)) goto done;
    snprintf(what, sizeof what, "%s forward out", tag);
    expect(what, dout_, out, N);
    snprintf(what, sizeof what, "%s forward save_invstd", tag);
    expect(what, dsi, si, C);
    snprintf(what, sizeof what, "%s forward running_mean", tag);
    expect(what, drm, rm, C);
    snprintf(what, sizeof what, "%s forward running_var", tag);
    expect(what, drv, rv, C);

    /* backward_stats, then backward with the globally scaled acc */
    float *gy = hrand(N, seed + 5, -1.0f, 1.0f), *dgy = up(gy, N), *dsi_c = up(si, C);
    float *acc2 = hvec(2 * C), *dacc2 = up(NULL, 2 * C);
    lv_batchnorm2d_sync_backward_stats(g_cpu, acc2, gy, x, center, si, &s);
    lv_batchnorm2d_sync_backward_stats(g_dev, dacc2, dgy, dx, dcenter, dsi_c, &s);
    if (!cpu_ok(tag)) goto done;
    snprintf(what, sizeof what, "%s backward_stats", tag);
    expect(what, dacc2, acc2, 2 * C);
    for (size_t i = 0; i < 2 * C; i++) acc2[i] *= (float)ranks;
    float *dacc2_g = up(acc2, 2 * C);
    float *din0 = hrand(N, seed + 6, -0.5f, 0.5f), *dg0 = hrand(C, seed + 7, -0.5f, 0.5f);
    float *db0 = hrand(C, seed + 8, -0.5f, 0.5f);
    for (int variant = 0; variant < 3; variant++) {
        const int want_din = variant != 2, want_par = variant != 1;
        float *din = hcopy(din0, N), *dgam = hcopy(dg0, C), *dbet = hcopy(db0, C);
        float *ddin = up(din0, N), *ddg = up(dg0, C), *ddb = up(db0, C);
        lv_batchnorm2d_sync_backward(g_cpu, want_din ? din : NULL, want_par ? dgam : NULL,
                                     want_par ? dbet : NULL, gy, x, gamma, center, si, acc2, count, &s);
        lv_batchnorm2d_sync_backward(g_dev, want_din ? ddin : NULL, want_par ? ddg : NULL,
                                     want_par ? ddb : NULL, dgy, dx, dgm, dcenter, dsi_c, dacc2_g,
                                     count, &s);
        if (!cpu_ok(tag)) goto done;
        static const char *vname[3] = {"all", "din only", "dgamma/dbeta only"};
        snprintf(what, sizeof what, "%s backward (%s) din", tag, vname[variant]);
        expect(what, ddin, din, N);
        snprintf(what, sizeof what, "%s backward (%s) dgamma", tag, vname[variant]);
        expect(what, ddg, dgam, C);
        snprintf(what, sizeof what, "%s backward (%s) dbeta", tag, vname[variant]);
        expect(what, ddb, dbet, C);
    }

    /* a count below this rank's own values is a caller bug, refused */
    lv_batchnorm2d_sync_forward(g_dev, dout_, dcenter, dsi, drm, drv, dx, dgm, dbt, daccsq_g,
                                (double)n * hw - 1.0, &s);
    snprintf(what, sizeof what, "%s count too small", tag);
    expect_error(what, "batchnorm2d_sync_forward");
done:
    release_all();
}

/* On one backend: stats -> scale to the mean -> centred stats -> forward, backward_stats ->
 * backward at the local count must reproduce plain batchnorm2d (training) on that backend. */
static void bn_sync_equiv(lv_backend *be, int n, int c, int hw, uint64_t seed) {
    const lv_bn_shape s = {n, c, hw, 1e-5f, 0.1f};
    const size_t N = (size_t)n * c * hw, C = (size_t)c;
    const double count = (double)n * hw;
    char tag[96], what[160];
    snprintf(tag, sizeof tag, "sync-bn chain == batchnorm2d on %s n=%d c=%d hw=%d",
             be == g_cpu ? "cpu" : "device", n, c, hw);

    float *hx = bn_input(&s, seed);
    float *hg = hrand(C, seed + 1, 0.5f, 1.5f), *hb = hrand(C, seed + 2, -0.5f, 0.5f);
    float *hrm = hrand(C, seed + 3, -0.5f, 0.5f), *hrv = hrand(C, seed + 4, 0.5f, 1.5f);
    float *hgy = hrand(N, seed + 5, -1.0f, 1.0f), *hdin0 = hrand(N, seed + 6, -0.5f, 0.5f);
    float *hdg0 = hrand(C, seed + 7, -0.5f, 0.5f), *hdb0 = hrand(C, seed + 8, -0.5f, 0.5f);
    float *x = up_on(be, hx, N, 0), *g = up_on(be, hg, C, 0), *b = up_on(be, hb, C, 0);
    float *gy = up_on(be, hgy, N, 0);

    /* plain */
    float *p_out = up_on(be, NULL, N, 0), *p_m = up_on(be, NULL, C, 0), *p_is = up_on(be, NULL, C, 0);
    float *p_rm = up_on(be, hrm, C, 0), *p_rv = up_on(be, hrv, C, 0);
    float *p_din = up_on(be, hdin0, N, 0), *p_dg = up_on(be, hdg0, C, 0), *p_db = up_on(be, hdb0, C, 0);
    lv_batchnorm2d_forward(be, p_out, p_m, p_is, p_rm, p_rv, x, g, b, &s, 1);
    lv_batchnorm2d_backward(be, p_din, p_dg, p_db, gy, x, g, p_m, p_is, &s);

    /* sync chain with this rank as the whole world */
    float *acc = up_on(be, NULL, C, 0), *mean = up_on(be, NULL, C, 0), *accsq = up_on(be, NULL, C, 0);
    float *s_out = up_on(be, NULL, N, 0), *s_is = up_on(be, NULL, C, 0);
    float *s_rm = up_on(be, hrm, C, 0), *s_rv = up_on(be, hrv, C, 0), *acc2 = up_on(be, NULL, 2 * C, 0);
    float *s_din = up_on(be, hdin0, N, 0), *s_dg = up_on(be, hdg0, C, 0), *s_db = up_on(be, hdb0, C, 0);
    lv_batchnorm2d_sync_stats(be, acc, x, NULL, &s);
    be->copy_d2d(be, mean, acc, C * sizeof(float));
    lv_scale(be, mean, (float)(1.0 / count), C);
    lv_batchnorm2d_sync_stats(be, accsq, x, mean, &s);
    lv_batchnorm2d_sync_forward(be, s_out, mean, s_is, s_rm, s_rv, x, g, b, accsq, count, &s);
    lv_batchnorm2d_sync_backward_stats(be, acc2, gy, x, mean, s_is, &s);
    lv_batchnorm2d_sync_backward(be, s_din, s_dg, s_db, gy, x, g, mean, s_is, acc2, count, &s);
    if (lv_twin_sync(be, tag)) goto done;

    struct {
        const char *name;
        const float *plain, *sync;
        size_t n;
    } pairs[] = {{"out", p_out, s_out, N},     {"mean", p_m, mean, C},   {"invstd", p_is, s_is, C},
                 {"running_mean", p_rm, s_rm, C}, {"running_var", p_rv, s_rv, C},
                 {"din", p_din, s_din, N},     {"dgamma", p_dg, s_dg, C}, {"dbeta", p_db, s_db, C}};
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        float *want = hvec(pairs[i].n);
        be->copy_d2h(be, want, pairs[i].plain, pairs[i].n * sizeof(float));
        snprintf(what, sizeof what, "%s: %s", tag, pairs[i].name);
        (void)lv_twin_expect(be, what, pairs[i].sync, want, pairs[i].n, RTOL);
    }
done:
    release_all();
}

/* ---------------------------------------------------------------- relu */

static void relu_twin(size_t n, size_t off, uint64_t seed) {
    char tag[64], what[128];
    snprintf(tag, sizeof tag, "relu n=%zu%s", n, off ? " unaligned" : "");
    float *x = hrand(n, seed, -1.0f, 1.0f), *out = hvec(n);
    float *dx = up_on(g_dev, x, n, off), *dout_ = up_on(g_dev, NULL, n, off);
    lv_relu_forward(g_cpu, out, x, n);
    lv_relu_forward(g_dev, dout_, dx, n);
    snprintf(what, sizeof what, "%s forward", tag);
    if (cpu_ok(tag)) expect(what, dout_, out, n);

    float *gy = hrand(n, seed + 1, -1.0f, 1.0f), *din = hrand(n, seed + 2, -0.5f, 0.5f);
    float *dgy = up_on(g_dev, gy, n, off), *ddin = up_on(g_dev, din, n, off);
    lv_relu_backward(g_cpu, din, gy, out, n);
    lv_relu_backward(g_dev, ddin, dgy, dout_, n);
    snprintf(what, sizeof what, "%s backward", tag);
    if (cpu_ok(tag)) expect(what, ddin, din, n);
    lv_relu_backward(g_dev, NULL, dgy, dout_, n);
    snprintf(what, sizeof what, "%s backward din=NULL is a no-op", tag);
    lv_test_true(lv_twin_sync(g_dev, what) == 0, what);

    /* in place, as the encoder runs it */
    lv_relu_forward(g_dev, dx, dx, n);
    snprintf(what, sizeof what, "%s forward in place", tag);
    expect(what, dx, out, n);
    release_all();
}

/* NaN kept forward (torch.relu), signed zeros and infinities, and a zero gradient where
 * out <= 0 even for Inf/NaN dout. */
static void relu_special(void) {
    const float nan = NAN, inf = INFINITY;
    float x[9] = {nan, -0.0f, 0.0f, inf, -inf, 1e-30f, -1e-30f, 3.0f, -2.0f};
    float gy[9] = {1.0f, nan, inf, 2.0f, -inf, 0.5f, nan, -1.0f, inf};
    float *out = hvec(9), *din = hvec(9);
    for (int i = 0; i < 9; i++) din[i] = 0.25f * (float)i;
    float *dx = up(x, 9), *dout_ = up(NULL, 9), *dgy = up(gy, 9), *ddin = up(din, 9);
    lv_relu_forward(g_cpu, out, x, 9);
    lv_relu_forward(g_dev, dout_, dx, 9);
    lv_relu_backward(g_cpu, din, gy, out, 9);
    lv_relu_backward(g_dev, ddin, dgy, dout_, 9);
    if (cpu_ok("relu special values")) {
        expect_same(g_dev, "relu special values forward", dout_, out, 9);
        expect_same(g_dev, "relu special values backward", ddin, din, 9);
    }
    release_all();
}

/* ---------------------------------------------------------------- maxpool2d */

typedef struct pool_case {
    int n, c, h, w, k, stride, pad;
    int quant; /* 0: uniform; 1: three levels (ties); 2: three levels plus -inf and NaN */
} pool_case;

static void maxpool_twin(const pool_case *k, uint64_t seed) {
    const lv_pool2d_shape s = {k->n, k->c, k->h, k->w, k->k, k->stride, k->pad};
    const size_t nin = (size_t)s.n * s.c * s.h * s.w;
    const size_t nout = (size_t)s.n * s.c * lv_pool2d_oh(&s) * lv_pool2d_ow(&s);
    char tag[128], what[192];
    snprintf(tag, sizeof tag, "maxpool2d n=%d c=%d %dx%d k=%d s=%d p=%d%s", s.n, s.c, s.h, s.w, s.k,
             s.stride, s.pad, k->quant == 1 ? " ties" : k->quant == 2 ? " ties+inf+nan" : "");
    float *x = hrand(nin, seed, -2.0f, 2.0f);
    if (k->quant)
        for (size_t i = 0; i < nin; i++) {
            float q = floorf(x[i] * 0.75f); /* -2..1: few levels, many equal maxima */
            /* half the inputs -inf: whole windows of -inf (route to their first element) */
            if (k->quant == 2 && q < 0.0f) q = -INFINITY;
            if (k->quant == 2 && i % 97 == 5) q = NAN;
            x[i] = q;
        }
    float *out = hvec(nout), *dx = up(x, nin), *dout_ = up(NULL, nout);
    lv_maxpool2d_forward(g_cpu, out, x, &s);
    lv_maxpool2d_forward(g_dev, dout_, dx, &s);
    if (cpu_ok(tag)) {
        snprintf(what, sizeof what, "%s forward", tag);
        if (k->quant == 2) expect_same(g_dev, what, dout_, out, nout);
        else expect(what, dout_, out, nout);
    }
    /* Distinct upstream gradients, so routing to the wrong one of equal maxima shows. */
    float *gy = hrand(nout, seed + 1, 0.5f, 1.5f), *din = hrand(nin, seed + 2, -0.5f, 0.5f);
    float *dgy = up(gy, nout), *ddin = up(din, nin);
    lv_maxpool2d_backward(g_cpu, din, gy, x, &s);
    lv_maxpool2d_backward(g_dev, ddin, dgy, dx, &s);
    if (cpu_ok(tag)) {
        snprintf(what, sizeof what, "%s backward", tag);
        expect(what, ddin, din, nin);
    }
    lv_maxpool2d_backward(g_dev, NULL, dgy, dx, &s);
    snprintf(what, sizeof what, "%s backward din=NULL is a no-op", tag);
    lv_test_true(lv_twin_sync(g_dev, what) == 0, what);
    release_all();
}

/* ---------------------------------------------------------------- avgpool */

static void avgpool_twin(int n, int c, int hw, uint64_t seed) {
    const size_t N = (size_t)n * c * hw, P = (size_t)n * c;
    char tag[64], what[128];
    snprintf(tag, sizeof tag, "avgpool n=%d c=%d hw=%d", n, c, hw);
    float *x = hrand(N, seed, -1.0f, 3.0f), *out = hvec(P), *dx = up(x, N), *dout_ = up(NULL, P);
    lv_avgpool_forward(g_cpu, out, x, n, c, hw);
    lv_avgpool_forward(g_dev, dout_, dx, n, c, hw);
    snprintf(what, sizeof what, "%s forward", tag);
    if (cpu_ok(tag)) expect(what, dout_, out, P);
    float *gy = hrand(P, seed + 1, -1.0f, 1.0f), *din = hrand(N, seed + 2, -0.5f, 0.5f);
    float *dgy = up(gy, P), *ddin = up(din, N);
    lv_avgpool_backward(g_cpu, din, gy, n, c, hw);
    lv_avgpool_backward(g_dev, ddin, dgy, n, c, hw);
    snprintf(what, sizeof what, "%s backward", tag);
    if (cpu_ok(tag)) expect(what, ddin, din, N);
    lv_avgpool_backward(g_dev, NULL, dgy, n, c, hw);
    snprintf(what, sizeof what, "%s backward din=NULL is a no-op", tag);
    lv_test_true(lv_twin_sync(g_dev, what) == 0, what);
    release_all();
}

/* ---------------------------------------------------------------- residual_add */

static void resadd_twin(size_t n, size_t off, uint64_t seed) {
    char tag[64], what[128];
    snprintf(tag, sizeof tag, "residual_add n=%zu%s", n, off ? " unaligned" : "");
    float *a = hrand(n, seed, -1.0f, 1.0f), *b = hrand(n, seed + 1, -1.0f, 1.0f), *out = hvec(n);
    /* only `a` is offset, so the mixed-alignment case takes the scalar path */
    float *da = up_on(g_dev, a, n, off), *db = up(b, n), *dout_ = up(NULL, n);
    lv_residual_add_forward(g_cpu, out, a, b, n);
    lv_residual_add_forward(g_dev, dout_, da, db, n);
    snprintf(what, sizeof what, "%s forward", tag);
    if (cpu_ok(tag)) expect(what, dout_, out, n);
    lv_residual_add_forward(g_dev, da, da, db, n); /* in place into the skip branch */
    snprintf(what, sizeof what, "%s forward in place", tag);
    expect(what, da, out, n);

    float *gy = hrand(n, seed + 2, -1.0f, 1.0f), *ga0 = hrand(n, seed + 3, -0.5f, 0.5f);
    float *gb0 = hrand(n, seed + 4, -0.5f, 0.5f), *dgy = up_on(g_dev, gy, n, off);
    for (int variant = 0; variant < 3; variant++) {
        /* 0: both; 1: da NULL; 2: db NULL */
        float *ga = hcopy(ga0, n), *gb = hcopy(gb0, n);
        float *dga = up_on(g_dev, ga0, n, off), *dgb = up(gb0, n);
        lv_residual_add_backward(g_cpu, variant == 1 ? NULL : ga, variant == 2 ? NULL : gb, gy, n);
        lv_residual_add_backward(g_dev, variant == 1 ? NULL : dga, variant == 2 ? NULL : dgb, dgy, n);
        if (!cpu_ok(tag)) continue;
        static const char *vname[3] = {"both", "da NULL", "db NULL"};
        snprintf(what, sizeof what, "%s backward (%s) da", tag, vname[variant]);
        expect(what, dga, ga, n);
        snprintf(what, sizeof what, "%s backward (%s) db", tag, vname[variant]);
        expect(what, dgb, gb, n);
    }
    release_all();
}

int main(void) {
    int rc = lv_twin_open(&g_cpu, &g_dev);
    if (rc) return rc;

    /* hw = 49 (7x7), 3136 (56x56), 1, 12544 (several reduction blocks per channel, float4),
     * 1025 (several blocks, scalar, hw above the block size), unaligned, n = 1 and 2. */
    static const bn_case bn[] = {
        {4, 3, 49, 1, 0},   {1, 5, 3136, 1, 0}, {7, 17, 1, 1, 0},  {2, 3, 12544, 1, 0},
        {16, 3, 1025, 0, 0}, {3, 33, 196, 1, 1}, {32, 8, 49, 1, 0}, {2, 1, 1, 1, 0},
    };
    for (size_t i = 0; i < sizeof bn / sizeof bn[0]; i++) bn_twin(&bn[i], 100 + 10 * i);
    bn_errors();

    bn_sync_twin(4, 3, 49, 1, 300);
    bn_sync_twin(2, 5, 3136, 3, 310);
    bn_sync_twin(7, 17, 1, 2, 320);
    bn_sync_twin(16, 3, 1025, 1, 330);
    bn_sync_equiv(g_dev, 4, 3, 49, 400);
    bn_sync_equiv(g_dev, 2, 5, 12544, 410);
    bn_sync_equiv(g_dev, 7, 17, 1, 420);
    bn_sync_equiv(g_cpu, 4, 3, 49, 400);

    relu_twin(1000003, 0, 500);
    relu_twin(5, 0, 510);
    relu_twin(1, 0, 520);
    relu_twin(4099, 1, 530);
    relu_special();

    static const pool_case pools[] = {
        {2, 3, 112, 112, 3, 2, 1, 0}, {2, 3, 56, 56, 3, 2, 1, 1}, {1, 5, 7, 9, 3, 2, 1, 0},
        {3, 2, 8, 8, 2, 2, 0, 1},     {1, 1, 5, 5, 3, 1, 1, 1},   {2, 3, 13, 11, 3, 2, 1, 2},
        {1, 2, 7, 7, 5, 2, 2, 1},     {1, 1, 1, 1, 1, 1, 0, 0},
    };
    for (size_t i = 0; i < sizeof pools / sizeof pools[0]; i++) maxpool_twin(&pools[i], 600 + 10 * i);

    avgpool_twin(2, 512, 49, 700);
    avgpool_twin(3, 7, 1, 710);
    avgpool_twin(1, 5, 3136, 720);
    avgpool_twin(4, 3, 50, 730);

    resadd_twin(1000003, 0, 800);
    resadd_twin(7, 0, 810);
    resadd_twin(4099, 1, 820);

    return lv_twin_close(g_cpu, g_dev);
}
