/* batchnorm2d: CPU twin of cuda/batchnorm2d.cu, torch.nn.BatchNorm2d semantics over [n,c,hw]
 * (batch mean, biased variance to normalise, unbiased variance into running_var). Statistics
 * are summed in double, two-pass, like PyTorch's CPU kernel; no state is kept between calls. */
#include <math.h>

#include "cpu_ops.h"

/* Below this many elements the OpenMP fork costs more than the work. */
#define LV_BN_PAR_MIN (1L << 14)

/* Sum of one channel's n planes of hw floats, in double. */
static double channel_sum(const float *x, const lv_bn_shape *s, int c) {
    double acc = 0.0;
    for (int n = 0; n < s->n; n++) {
        const float *p = x + ((size_t)n * s->c + c) * (size_t)s->hw;
#pragma omp simd reduction(+ : acc)
        for (int i = 0; i < s->hw; i++) acc += (double)p[i];
    }
    return acc;
}

/* Sum of (x - mean)^2 over one channel: the second pass keeps the variance exact when the
 * mean is large against the spread (a one-pass E[x^2] - E[x]^2 would cancel). */
static double channel_sqdev(const float *x, const lv_bn_shape *s, int c, double mean) {
    double acc = 0.0;
    for (int n = 0; n < s->n; n++) {
        const float *p = x + ((size_t)n * s->c + c) * (size_t)s->hw;
#pragma omp simd reduction(+ : acc)
        for (int i = 0; i < s->hw; i++) {
            double d = (double)p[i] - mean;
            acc += d * d;
        }
    }
    return acc;
}

/* out = x * scale + shift over one channel (the folded gamma*invstd, beta - mean*scale). */
static void channel_affine(float *out, const float *x, const lv_bn_shape *s, int c, float scale,
                           float shift) {
    for (int n = 0; n < s->n; n++) {
        size_t off = ((size_t)n * s->c + c) * (size_t)s->hw;
        const float *p = x + off;
        float *o = out + off;
#pragma omp simd
        for (int i = 0; i < s->hw; i++) o[i] = p[i] * scale + shift;
    }
}

void lv_cpu_batchnorm2d_forward(lv_backend *be, float *out, float *save_mean, float *save_invstd,
                                float *running_mean, float *running_var, const float *in,
                                const float *gamma, const float *beta, const lv_bn_shape *s,
                                int training) {
    if (s->n <= 0 || s->c <= 0 || s->hw <= 0) {
        lv_backend_fail(be, LV_ERR_RUNTIME, "batchnorm2d_forward: bad shape n=%d c=%d hw=%d", s->n,
                        s->c, s->hw);
        return;
    }
    /* As PyTorch: without running statistics even eval normalises with the batch's own. */
    int batch_stats = training || !running_mean || !running_var;
    const long count = (long)s->n * s->hw;
    if (batch_stats && training && count < 2) {
        lv_backend_fail(be, LV_ERR_RUNTIME,
                        "batchnorm2d_forward: training needs more than 1 value per channel "
                        "(n=%d hw=%d)", s->n, s->hw);
        return;
    }
    const long total = count * s->c;
#pragma omp parallel for schedule(static) if (total >= LV_BN_PAR_MIN)
    for (int c = 0; c < s->c; c++) {
        double mean, invstd;
        if (batch_stats) {
            mean = channel_sum(in, s, c) / (double)count;
            double sq = channel_sqdev(in, s, c, mean);
            invstd = 1.0 / sqrt(sq / (double)count + (double)s->eps);
            if (training) {
                if (save_mean) save_mean[c] = (float)mean;
                if (save_invstd) save_invstd[c] = (float)invstd;
                if (running_mean && running_var) {
                    double m = s->momentum;
                    double unbiased = count > 1 ? sq / (double)(count - 1) : sq;
                    running_mean[c] = (float)((1.0 - m) * running_mean[c] + m * mean);
                    running_var[c] = (float)((1.0 - m) * running_var[c] + m * unbiased);
                }
            }
        } else {
            mean = running_mean[c];
            invstd = 1.0 / sqrt((double)running_var[c] + (double)s->eps);
        }
        double g = gamma ? gamma[c] : 1.0, b = beta ? beta[c] : 0.0;
        double scale = g * invstd;
        channel_affine(out, in, s, c, (float)scale, (float)(b - mean * scale));
    }
}

void lv_cpu_batchnorm2d_backward(lv_backend *be, float *din, float *dgamma, float *dbeta,
                                 const float *dout, const float *in, const float *gamma,
                                 const float *save_mean, const float *save_invstd,
                                 const lv_bn_shape *s) {
    if (s->n <= 0 || s->c <= 0 || s->hw <= 0) {
        lv_backend_fail(be, LV_ERR_RUNTIME, "batchnorm2d_backward: bad shape n=%d c=%d hw=%d",
                        s->n, s->c, s->hw);
        return;
    }
    if (!din && !dgamma && !dbeta) return;
    const long count = (long)s->n * s->hw;
    const long total = count * s->c;
#pragma omp parallel for schedule(static) if (total >= LV_BN_PAR_MIN)
    for (int c = 0; c < s->c; c++) {
        const double mean = save_mean[c], invstd = save_invstd[c];
        /* sum(dy) and sum(dy * (x - mean)) in one pass, double. */
        double sdy = 0.0, sdyx = 0.0;
        for (int n = 0; n < s->n; n++) {
            size_t off = ((size_t)n * s->c + c) * (size_t)s->hw;
            const float *dy = dout + off, *x = in + off;
#pragma omp simd reduction(+ : sdy, sdyx)
            for (int i = 0; i < s->hw; i++) {
                sdy += (double)dy[i];
                sdyx += (double)dy[i] * ((double)x[i] - mean);
            }
        }
        /* sum(dy * xhat) with xhat = (x - mean) * invstd */
        const double sdy_xhat = sdyx * invstd;
        if (dbeta) dbeta[c] += (float)sdy;
        if (dgamma) dgamma[c] += (float)sdy_xhat;
        if (!din) continue;
        /* din = gamma*invstd * (dy - mean(dy) - xhat * mean(dy*xhat)), with the xhat term
         * folded onto (x - mean) so the element loop is two fused multiply-adds. */
        const double g = gamma ? gamma[c] : 1.0;
        const float k = (float)(g * invstd);
        const float a = (float)(sdy / (double)count);
        const float bcoef = (float)(sdy_xhat * invstd / (double)count);
        const float m = (float)mean;
        for (int n = 0; n < s->n; n++) {
            size_t off = ((size_t)n * s->c + c) * (size_t)s->hw;
            const float *dy = dout + off, *x = in + off;
            float *dx = din + off;
#pragma omp simd
            for (int i = 0; i < s->hw; i++) dx[i] += k * (dy[i] - a - (x[i] - m) * bcoef);
        }
    }
}
