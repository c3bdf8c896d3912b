/* maxpool2d: finite differences on well-separated values, the ResNet 3x3/2 pad 1 and 2x2/2
 * cases, ties, NaN and -inf windows, padding acting as -inf, the accumulate/NULL conventions,
 * the OpenMP path, and torch's float32 answers (fixtures/maxpool2d.safetensors).
 * LV_TEST_SANITIZE */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "harness.h"

static size_t in_size(const lv_pool2d_shape *s) { return (size_t)s->n * s->c * s->h * s->w; }
static size_t out_size(const lv_pool2d_shape *s) {
    return (size_t)s->n * s->c * lv_pool2d_oh(s) * lv_pool2d_ow(s);
}

typedef struct fd_ctx {
    lv_backend *be;
    const lv_pool2d_shape *s;
    const float *x, *r;
    float *out;
} fd_ctx;

static double fd_loss(void *p) {
    fd_ctx *c = p;
    lv_maxpool2d_forward(c->be, c->out, c->x, c->s);
    double sum = 0;
    for (size_t i = 0; i < out_size(c->s); i++) sum += (double)c->r[i] * c->out[i];
    return sum;
}

/* Distinct values 0.05 apart (a shuffled ramp, centred on 0 so border windows are often all
 * negative and a zero padding would show). A step of 1e-2 cannot reorder any window, so
 * the argmax is fixed and the pool is linear around x: the central difference is exact up
 * to float rounding (~1e-7 / 1e-2), and tol 1e-3 catches a gradient routed to the wrong
 * element (error ~1). */
static void check_fd(lv_backend *be, const char *what, lv_pool2d_shape s) {
    size_t n = in_size(&s), m = out_size(&s);
    float *x = malloc(n * sizeof *x), *r = malloc(m * sizeof *r), *out = malloc(m * sizeof *out);
    float *din = calloc(n, sizeof *din), *twice = malloc(n * sizeof *twice);
    for (size_t i = 0; i < n; i++) x[i] = (float)i;
    for (size_t i = n; i-- > 1;) {
        size_t j = lv_rng_u32(21, 0, i) % (i + 1);
        float t = x[i];
        x[i] = x[j];
        x[j] = t;
    }
    for (size_t i = 0; i < n; i++) x[i] = 0.05f * (x[i] - 0.5f * (float)n);
    lv_test_fill_uniform(r, m, 22, -1.0f, 1.0f);
    lv_maxpool2d_forward(be, out, x, &s);
    lv_maxpool2d_backward(be, din, r, x, &s);
    fd_ctx c = {be, &s, x, r, out};
    char name[128];
    snprintf(name, sizeof name, "maxpool2d %s din", what);
    lv_test_gradcheck(name, x, din, n, fd_loss, &c, 1e-2f, 1e-3, (int)n);

    memcpy(twice, din, n * sizeof *din);
    lv_maxpool2d_backward(be, twice, r, x, &s);
    for (size_t i = 0; i < n; i++) din[i] *= 2.0f;
    snprintf(name, sizeof name, "maxpool2d %s backward accumulates (2 calls = 2x)", what);
    lv_test_close(name, twice, din, n, 0.0);
    lv_maxpool2d_backward(be, NULL, r, x, &s);
    lv_test_pass("maxpool2d %s backward with NULL din is a no-op", what);
    free(x); free(r); free(out); free(din); free(twice);
}

static void check_edges(lv_backend *be) {
    /* Padding is -inf: an all-negative input must never produce a 0 from the border. */
    lv_pool2d_shape s = {1, 2, 7, 6, 3, 2, 1};
    size_t n = in_size(&s), m = out_size(&s);
    float *x = malloc(n * sizeof *x), *out = malloc(m * sizeof *out);
    lv_test_fill_uniform(x, n, 23, -2.0f, -1.0f);
    lv_maxpool2d_forward(be, out, x, &s);
    int neg = 1;
    for (size_t i = 0; i < m; i++) neg &= out[i] < -1.0f + 1e-6f && out[i] >= -2.0f;
    lv_test_true(neg, "maxpool2d padding never selected (all-negative input)");
    free(x); free(out);

    /* Constant plane: every window ties, so each gradient goes to the window's first
     * in-bounds element (row-major), as PyTorch's `val > max` keeps the first. */
    lv_pool2d_shape t = {1, 1, 5, 5, 3, 2, 1};
    float c[25], g[9], d[25] = {0}, want[25] = {0};
    for (int i = 0; i < 25; i++) c[i] = 0.5f;
    for (int i = 0; i < 9; i++) g[i] = (float)(i + 1);
    lv_maxpool2d_backward(be, d, g, c, &t);
    for (int oy = 0; oy < 3; oy++)
        for (int ox = 0; ox < 3; ox++) {
            int y = oy * 2 - 1 < 0 ? 0 : oy * 2 - 1, xx = ox * 2 - 1 < 0 ? 0 : ox * 2 - 1;
            want[y * 5 + xx] += g[oy * 3 + ox];
        }
    lv_test_close("maxpool2d ties: first maximum in row-major order wins", d, want, 25, 0.0);

    /* NaN and -inf, answers taken from torch 1.13 CPU: NaN at [0] and [5] in one 2x2 window
     * gives NaN and routes to the LAST NaN ([5]); a window of -inf (3x3/2 pad 1 on a 3x3
     * plane of -inf) outputs -inf and routes to its first in-bounds element. */
    lv_pool2d_shape q = {1, 1, 4, 4, 2, 2, 0};
    float xq[16] = {0}, oq[4], gq[4] = {1, 2, 3, 4}, dq[16] = {0};
    xq[0] = NAN;
    xq[5] = NAN;
    xq[10] = 5.0f;
    xq[15] = -INFINITY;
    lv_maxpool2d_forward(be, oq, xq, &q);
    lv_maxpool2d_backward(be, dq, gq, xq, &q);
    lv_test_true(isnan(oq[0]) && oq[1] == 0.0f && oq[2] == 0.0f && oq[3] == 5.0f,
                 "maxpool2d NaN propagates");
    float wq[16] = {0, 0, 2, 0, 0, 1, 0, 0, 3, 0, 4, 0, 0, 0, 0, 0};
    lv_test_close("maxpool2d NaN routes to the last NaN (torch)", dq, wq, 16, 0.0);

    lv_pool2d_shape v = {1, 1, 3, 3, 3, 2, 1};
    float xv[9], ov[4], gv[4] = {1, 1, 1, 1}, dv[9] = {0};
    for (int i = 0; i < 9; i++) xv[i] = -INFINITY;
    lv_maxpool2d_forward(be, ov, xv, &v);
    lv_maxpool2d_backward(be, dv, gv, xv, &v);
    int allinf = 1;
    for (int i = 0; i < 4; i++) allinf &= isinf(ov[i]) && ov[i] < 0;
    lv_test_true(allinf, "maxpool2d window of -inf outputs -inf");
    float wv[9] = {1, 1, 0, 1, 1, 0, 0, 0, 0};
    lv_test_close("maxpool2d -inf window routes to first in-bounds element (torch)", dv, wv, 9, 0.0);
}

/* Large enough for the OpenMP branch: plane p is one small integer plane plus 16*p, so every
 * plane's answer is the single-plane answer (serial path) shifted, exactly, and the
 * gradient pattern is identical. Catches plane-offset and race bugs in the parallel loop. */
static void check_parallel(lv_backend *be) {
    lv_pool2d_shape one = {1, 1, 16, 16, 3, 2, 1}, big = {4, 16, 16, 16, 3, 2, 1};
    size_t hw = 256, ohw = out_size(&one), planes = 64;
    float *x = malloc(planes * hw * sizeof *x), *o = malloc(planes * ohw * sizeof *o);
    float *g = malloc(planes * ohw * sizeof *g), *d = calloc(planes * hw, sizeof *d);
    float o1[64], d1[256] = {0}, g1[64];
    for (size_t i = 0; i < hw; i++) x[i] = (float)(lv_rng_u32(24, 0, i) % 8);
    for (size_t i = 0; i < ohw; i++) g1[i] = (float)(i % 5) - 2.0f;
    lv_maxpool2d_forward(be, o1, x, &one);
    lv_maxpool2d_backward(be, d1, g1, x, &one);
    for (size_t p = 0; p < planes; p++) {
        for (size_t i = 0; i < hw; i++) x[p * hw + i] = x[i] + 16.0f * (float)p;
        memcpy(g + p * ohw, g1, ohw * sizeof *g);
    }
    lv_maxpool2d_forward(be, o, x, &big);
    lv_maxpool2d_backward(be, d, g, x, &big);
    int same = 1;
    for (size_t p = 0; p < planes; p++) {
        for (size_t i = 0; i < ohw; i++) same &= o[p * ohw + i] == o1[i] + 16.0f * (float)p;
        for (size_t i = 0; i < hw; i++) same &= d[p * hw + i] == d1[i];
    }
    lv_test_true(same, "maxpool2d 4x16x16x16 (OpenMP) equals the single-plane answer per plane");
    free(x); free(o); free(g); free(d);
}

static void check_fixture_case(lv_backend *be, lv_st_file *f, const char *name, lv_pool2d_shape s) {
    char key[64], what[96];
    size_t n = in_size(&s), m = out_size(&s), nx = 0, no = 0;
    snprintf(key, sizeof key, "%s.x", name);
    float *x = lv_test_fixture_f32(f, key, &nx);
    snprintf(key, sizeof key, "%s.out", name);
    float *want = lv_test_fixture_f32(f, key, &no);
    snprintf(key, sizeof key, "%s.dout", name);
    float *dout = lv_test_fixture_f32(f, key, NULL);
    snprintf(key, sizeof key, "%s.din", name);
    float *dwant = lv_test_fixture_f32(f, key, NULL);
    snprintf(what, sizeof what, "maxpool2d %s fixture shapes", name);
    if (x && want && dout && dwant && lv_test_true(nx == n && no == m, what)) {
        float *out = malloc(m * sizeof *out), *din = calloc(n, sizeof *din);
        lv_maxpool2d_forward(be, out, x, &s);
        lv_maxpool2d_backward(be, din, dout, x, &s);
        snprintf(what, sizeof what, "maxpool2d %s forward vs torch", name);
        lv_test_close(what, out, want, m, 1e-5);
        snprintf(what, sizeof what, "maxpool2d %s backward vs torch", name);
        lv_test_close(what, din, dwant, n, 1e-5);
        free(out); free(din);
    }
    free(x); free(want); free(dout); free(dwant);
}

int main(void) {
    lv_backend *be = lv_test_cpu_backend();
    check_fd(be, "3x3/2 pad 1", (lv_pool2d_shape){2, 3, 7, 8, 3, 2, 1});
    check_fd(be, "2x2/2 pad 0", (lv_pool2d_shape){2, 3, 6, 9, 2, 2, 0});
    check_edges(be);
    check_parallel(be);
    lv_st_file *f = lv_test_fixture_open("maxpool2d");
    if (f) {
        check_fixture_case(be, f, "r18", (lv_pool2d_shape){2, 3, 10, 11, 3, 2, 1});
        check_fixture_case(be, f, "k2", (lv_pool2d_shape){2, 2, 8, 7, 2, 2, 0});
        check_fixture_case(be, f, "tie", (lv_pool2d_shape){1, 2, 8, 9, 3, 2, 1});
        check_fixture_case(be, f, "tie2", (lv_pool2d_shape){1, 2, 6, 6, 2, 2, 0});
        lv_st_close(f);
    }
    lv_status st = be->sync(be);
    lv_test_true(st == LV_OK, st == LV_OK ? "no backend error" : lv_error_message());
    lv_backend_destroy(be);
    return lv_test_summary();
}
