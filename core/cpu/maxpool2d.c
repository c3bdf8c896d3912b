/* maxpool2d: CPU twin of cuda/maxpool2d.cu, torch.nn.MaxPool2d(k, stride, padding) semantics
 * (dilation 1, floor mode). No argmax buffer is kept: the backward recomputes it from `in`
 * with the very same scan, so forward and backward can never disagree on ties. */
#include <math.h>

#include "cpu_ops.h"

/* Output columns handled per pass; their running maxima live on the stack. */
#define POOL_CHUNK 256

/* Maxima (and, when idx is given, their indices within the h*w plane) of the windows of
 * output row oy, columns [ox0, ox0+n). Mirrors PyTorch's CPU kernel: start from the first
 * in-bounds element with max = -inf and take `v > max || isnan(v)` in row-major window
 * order, so padding (never visited) acts as -inf, the first of equal maxima wins, the last
 * NaN wins, and a window of -inf routes its gradient to its first in-bounds element. The
 * loops visit every window in that same order (row y, then kx) but run along the output
 * row innermost, which makes them branch-free and vectorizable. */
static void row_windows(const float *plane, const lv_pool2d_shape *s, int oy, int ox0, int n, float *m,
                        int *idx) {
    int y0 = oy * s->stride - s->pad, y1 = y0 + s->k < s->h ? y0 + s->k : s->h;
    if (y0 < 0) y0 = 0;
    for (int i = 0; i < n; i++) {
        int x0 = (ox0 + i) * s->stride - s->pad;
        m[i] = -INFINITY;
        if (idx) idx[i] = y0 * s->w + (x0 < 0 ? 0 : x0);
    }
    for (int y = y0; y < y1; y++) {
        const float *row = plane + (long)y * s->w;
        for (int kx = 0; kx < s->k; kx++) {
            int off = kx - s->pad; /* input column = ox*stride + off, must lie in [0, w) */
            int lo = off >= 0 ? 0 : (-off + s->stride - 1) / s->stride;
            int hi = s->w - 1 - off < 0 ? 0 : (s->w - 1 - off) / s->stride + 1;
            if (lo < ox0) lo = ox0;
            if (hi > ox0 + n) hi = ox0 + n;
            if (idx) {
                for (int ox = lo; ox < hi; ox++) {
                    int x = ox * s->stride + off;
                    float v = row[x], cur = m[ox - ox0];
                    int take = v > cur || v != v;
                    m[ox - ox0] = take ? v : cur;
                    idx[ox - ox0] = take ? y * s->w + x : idx[ox - ox0];
                }
            } else {
                for (int ox = lo; ox < hi; ox++) {
                    float v = row[ox * s->stride + off], cur = m[ox - ox0];
                    m[ox - ox0] = (v > cur || v != v) ? v : cur;
                }
            }
        }
    }
}

void lv_cpu_maxpool2d_forward(lv_backend *be, float *out, const float *in, const lv_pool2d_shape *s) {
    (void)be;
    int oh = lv_pool2d_oh(s), ow = lv_pool2d_ow(s);
    long planes = (long)s->n * s->c, hw = (long)s->h * s->w, ohw = (long)oh * ow;
#pragma omp parallel for schedule(static) if (planes * hw >= (1L << 14))
    for (long p = 0; p < planes; p++) {
        const float *plane = in + p * hw;
        float *o = out + p * ohw;
        for (int oy = 0; oy < oh; oy++)
            for (int ox0 = 0; ox0 < ow; ox0 += POOL_CHUNK) {
                int n = ow - ox0 < POOL_CHUNK ? ow - ox0 : POOL_CHUNK;
                row_windows(plane, s, oy, ox0, n, o + (long)oy * ow + ox0, NULL);
            }
    }
}

void lv_cpu_maxpool2d_backward(lv_backend *be, float *din, const float *dout, const float *in,
                               const lv_pool2d_shape *s) {
    (void)be;
    if (!din) return;
    int oh = lv_pool2d_oh(s), ow = lv_pool2d_ow(s);
    long planes = (long)s->n * s->c, hw = (long)s->h * s->w, ohw = (long)oh * ow;
    /* One thread per plane: overlapping windows (k > stride) may route to the same input,
     * but only within a plane, so the += never races and its order (row-major over the
     * outputs) is fixed. */
#pragma omp parallel for schedule(static) if (planes * hw >= (1L << 14))
    for (long p = 0; p < planes; p++) {
        const float *plane = in + p * hw;
        const float *g = dout + p * ohw;
        float *d = din + p * hw;
        float m[POOL_CHUNK];
        int idx[POOL_CHUNK];
        for (int oy = 0; oy < oh; oy++)
            for (int ox0 = 0; ox0 < ow; ox0 += POOL_CHUNK) {
                int n = ow - ox0 < POOL_CHUNK ? ow - ox0 : POOL_CHUNK;
                row_windows(plane, s, oy, ox0, n, m, idx);
                for (int i = 0; i < n; i++) d[idx[i]] += g[(long)oy * ow + ox0 + i];
            }
    }
}
