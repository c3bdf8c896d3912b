/* maxpool2d: CPU twin of cuda/maxpool2d.cu, torch.nn.MaxPool2d(k, stride, padding) semantics
 * (dilation 1, floor mode). No argmax buffer is kept: the backward recomputes it from `in`
 * with the very same scan, so forward and backward can never disagree on ties. */
#include <math.h>

#include "cpu_ops.h"

/* Index (within one h*w plane) of the window's maximum, and the maximum itself. Mirrors
 * PyTorch's CPU kernel: start from the first in-bounds element with max = -inf, take
 * `v > max || isnan(v)` in row-major order. So padding (never visited) acts as -inf, the
 * first of equal maxima wins, a NaN wins (the last NaN, as in PyTorch), and a window of
 * -inf still routes its gradient to its first in-bounds element. */
static inline int window_argmax(const float *plane, const lv_pool2d_shape *s, int oy, int ox,
                                float *maxval) {
    int y0 = oy * s->stride - s->pad, x0 = ox * s->stride - s->pad;
    int y1 = y0 + s->k < s->h ? y0 + s->k : s->h;
    int x1 = x0 + s->k < s->w ? x0 + s->k : s->w;
    if (y0 < 0) y0 = 0;
    if (x0 < 0) x0 = 0;
    int best = y0 * s->w + x0;
    float m = -INFINITY;
    for (int y = y0; y < y1; y++) {
        const float *row = plane + (long)y * s->w;
        for (int x = x0; x < x1; x++) {
            float v = row[x];
            if (v > m || isnan(v)) {
                m = v;
                best = y * s->w + x;
            }
        }
    }
    *maxval = m;
    return best;
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
            for (int ox = 0; ox < ow; ox++) {
                float m;
                (void)window_argmax(plane, s, oy, ox, &m);
                o[oy * ow + ox] = m;
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
     * but only within a plane, so the += never races and its order is fixed. */
#pragma omp parallel for schedule(static) if (planes * hw >= (1L << 14))
    for (long p = 0; p < planes; p++) {
        const float *plane = in + p * hw;
        const float *g = dout + p * ohw;
        float *d = din + p * hw;
        for (int oy = 0; oy < oh; oy++)
            for (int ox = 0; ox < ow; ox++) {
                float m;
                d[window_argmax(plane, s, oy, ox, &m)] += g[oy * ow + ox];
            }
    }
}
