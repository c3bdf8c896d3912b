/* Synchronized batch norm halves (--sync-bn), CPU twin of cuda/batchnorm2d_sync.cu: the
 * per-channel partial sums a caller all-reduces across ranks, and the forward/backward that
 * use the global sums (contract in core/ops.h). Accumulates in double, two-pass, exactly as
 * core/cpu/batchnorm2d.c; no communication and no state between calls. */
#include <math.h>

#include "cpu_ops.h"

/* Below this many elements the OpenMP fork costs more than the work (as batchnorm2d.c). */
#define LV_BN_SYNC_PAR_MIN (1L << 14)

static int bad_shape(lv_backend *be, const char *op, const lv_bn_shape *s) {
    if (s->n > 0 && s->c > 0 && s->hw > 0) return 0;
    lv_backend_fail(be, LV_ERR_RUNTIME, "%s: bad shape n=%d c=%d hw=%d", op, s->n, s->c, s->hw);
    return 1;
}

/* The global count must cover at least this rank's values; anything else is a caller bug
 * (a count from another layer, or ranks that disagree) that would silently mis-normalise. */
static int bad_count(lv_backend *be, const char *op, double count, const lv_bn_shape *s) {
    if (isfinite(count) && count >= (double)s->n * (double)s->hw && count >= 2.0) return 0;
    lv_backend_fail(be, LV_ERR_RUNTIME,
                    "%s: global count %g per channel, expected at least %ld (n=%d hw=%d) and 2", op, count,
                    (long)s->n * s->hw, s->n, s->hw);
    return 1;
}

void lv_cpu_batchnorm2d_sync_stats(lv_backend *be, float *acc, const float *in, const float *center,
                                   const lv_bn_shape *s) {
    if (bad_shape(be, "batchnorm2d_sync_stats", s)) return;
    const long total = (long)s->n * s->hw * s->c;
#pragma omp parallel for schedule(static) if (total >= LV_BN_SYNC_PAR_MIN)
    for (int c = 0; c < s->c; c++) {
        double sum = 0.0;
        if (center) {
            /* Deviations from the global mean: the second pass that keeps the variance exact
             * when the mean is large against the spread. */
            const double m = center[c];
            for (int n = 0; n < s->n; n++) {
                const float *p = in + ((size_t)n * s->c + c) * (size_t)s->hw;
#pragma omp simd reduction(+ : sum)
                for (int i = 0; i < s->hw; i++) {
                    double d = (double)p[i] - m;
                    sum += d * d;
                }
            }
        } else {
            for (int n = 0; n < s->n; n++) {
                const float *p = in + ((size_t)n * s->c + c) * (size_t)s->hw;
#pragma omp simd reduction(+ : sum)
                for (int i = 0; i < s->hw; i++) sum += (double)p[i];
            }
        }
        acc[c] = (float)sum;
    }
}

void lv_cpu_batchnorm2d_sync_forward(lv_backend *be, float *out, const float *save_mean, float *save_invstd,
                                     float *running_mean, float *running_var, const float *in,
                                     const float *gamma, const float *beta, const float *acc_sq, double count,
                                     const lv_bn_shape *s) {
    if (bad_shape(be, "batchnorm2d_sync_forward", s) || bad_count(be, "batchnorm2d_sync_forward", count, s))
        return;
    const long total = (long)s->n * s->hw * s->c;
#pragma omp parallel for schedule(static) if (total >= LV_BN_SYNC_PAR_MIN)
    for (int c = 0; c < s->c; c++) {
        const double mean = save_mean[c], sq = acc_sq[c];
        const double invstd = 1.0 / sqrt(sq / count + (double)s->eps);
        if (save_invstd) save_invstd[c] = (float)invstd;
        if (running_mean && running_var) {
            /* PyTorch's SyncBatchNorm: the unbiased variance over the global count. */
            const double m = s->momentum;
            running_mean[c] = (float)((1.0 - m) * running_mean[c] + m * mean);
            running_var[c] = (float)((1.0 - m) * running_var[c] + m * (sq / (count - 1.0)));
        }
        const double g = gamma ? gamma[c] : 1.0, b = beta ? beta[c] : 0.0;
        const double scale = g * invstd;
        const float fs = (float)scale, fb = (float)(b - mean * scale);
        for (int n = 0; n < s->n; n++) {
            size_t off = ((size_t)n * s->c + c) * (size_t)s->hw;
            const float *p = in + off;
            float *o = out + off;
#pragma omp simd
            for (int i = 0; i < s->hw; i++) o[i] = p[i] * fs + fb;
        }
    }
}

/* sum(dy) and sum(dy * (x - mean)) over one channel of this rank, in double. */
static void channel_grad_sums(const float *dout, const float *in, const lv_bn_shape *s, int c, double mean,
                              double *sdy, double *sdyx) {
    double a = 0.0, b = 0.0;
    for (int n = 0; n < s->n; n++) {
        size_t off = ((size_t)n * s->c + c) * (size_t)s->hw;
        const float *dy = dout + off, *x = in + off;
#pragma omp simd reduction(+ : a, b)
        for (int i = 0; i < s->hw; i++) {
            a += (double)dy[i];
            b += (double)dy[i] * ((double)x[i] - mean);
        }
    }
    *sdy = a;
    *sdyx = b;
}

void lv_cpu_batchnorm2d_sync_backward_stats(lv_backend *be, float *acc, const float *dout, const float *in,
                                            const float *save_mean, const float *save_invstd,
                                            const lv_bn_shape *s) {
    if (bad_shape(be, "batchnorm2d_sync_backward_stats", s)) return;
    const long total = (long)s->n * s->hw * s->c;
#pragma omp parallel for schedule(static) if (total >= LV_BN_SYNC_PAR_MIN)
    for (int c = 0; c < s->c; c++) {
        double sdy, sdyx;
        channel_grad_sums(dout, in, s, c, save_mean[c], &sdy, &sdyx);
        acc[c] = (float)sdy;
        acc[s->c + c] = (float)(sdyx * (double)save_invstd[c]); /* sum(dy * xhat) */
    }
}

void lv_cpu_batchnorm2d_sync_backward(lv_backend *be, float *din, float *dgamma, float *dbeta, const float *dout,
                                      const float *in, const float *gamma, const float *save_mean,
                                      const float *save_invstd, const float *acc, double count,
                                      const lv_bn_shape *s) {
    if (bad_shape(be, "batchnorm2d_sync_backward", s) || bad_count(be, "batchnorm2d_sync_backward", count, s))
        return;
    if (!din && !dgamma && !dbeta) return;
    const long total = (long)s->n * s->hw * s->c;
#pragma omp parallel for schedule(static) if (total >= LV_BN_SYNC_PAR_MIN)
    for (int c = 0; c < s->c; c++) {
        const double mean = save_mean[c], invstd = save_invstd[c];
        if (dgamma || dbeta) {
            /* This rank's own sums: acc holds the global ones, and the gradient all-reduce
             * averages dgamma/dbeta like every other parameter. */
            double sdy, sdyx;
            channel_grad_sums(dout, in, s, c, mean, &sdy, &sdyx);
            if (dbeta) dbeta[c] += (float)sdy;
            if (dgamma) dgamma[c] += (float)(sdyx * invstd);
        }
        if (!din) continue;
        /* din = gamma*invstd * (dy - mean(dy) - xhat * mean(dy*xhat)) over the global batch,
         * the xhat term folded onto (x - mean) as in batchnorm2d.c. */
        const double g = gamma ? gamma[c] : 1.0;
        const float k = (float)(g * invstd);
        const float a = (float)((double)acc[c] / count);
        const float bcoef = (float)((double)acc[s->c + c] * invstd / count);
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
