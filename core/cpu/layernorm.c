/* layernorm: CPU twin of torch.nn.functional.layer_norm over the last dim (HF BERT's
 * LayerNorm, eps 1e-12). Row statistics are accumulated in double so the reference stays
 * exact even with BERT's tiny eps; it must not change the saved mean/rstd meaning
 * (rstd = 1/sqrt(biased var + eps)) that the CUDA twin and backward rely on. */
#include <math.h>

#include "cpu_ops.h"

/* out [rows,c] = (in - mean) * rstd * w + b; saves mean, rstd [rows]. */
void lv_cpu_layernorm_forward(lv_backend *be, float *out, float *mean, float *rstd, const float *in,
                              const float *w, const float *b, int rows, int c, float eps) {
    (void)be;
#pragma omp parallel for schedule(static)
    for (int r = 0; r < rows; r++) {
        const float *x = in + (size_t)r * c;
        float *y = out + (size_t)r * c;
        /* Two passes rather than E[x^2]-E[x]^2: rows with a large offset (embedding sums)
         * would otherwise lose the variance to cancellation. */
        double m = 0;
        for (int i = 0; i < c; i++) m += x[i];
        m /= c;
        double v = 0;
        for (int i = 0; i < c; i++) {
            double d = x[i] - m;
            v += d * d;
        }
        v /= c; /* biased, as PyTorch's layer_norm */
        double rs = 1.0 / sqrt(v + (double)eps);
        for (int i = 0; i < c; i++) y[i] = (float)(((double)x[i] - m) * rs * w[i] + b[i]);
        if (mean) mean[r] = (float)m;
        if (rstd) rstd[r] = (float)rs;
    }
}

/* With xhat = (x - mean) * rstd and g = dout * w:
 *   din += rstd * (g - mean(g) - xhat * mean(g * xhat)),
 *   dw  += sum_rows dout * xhat,   db += sum_rows dout. */
void lv_cpu_layernorm_backward(lv_backend *be, float *din, float *dw, float *db, const float *dout,
                               const float *in, const float *w, const float *mean,
                               const float *rstd, int rows, int c) {
    (void)be;
    if (din) {
#pragma omp parallel for schedule(static)
        for (int r = 0; r < rows; r++) {
            const float *x = in + (size_t)r * c;
            const float *dy = dout + (size_t)r * c;
            float *dx = din + (size_t)r * c;
            double m = mean[r], rs = rstd[r];
            double sum_g = 0, sum_gx = 0;
            for (int i = 0; i < c; i++) {
                double g = (double)dy[i] * w[i];
                sum_g += g;
                sum_gx += g * ((x[i] - m) * rs);
            }
            double mg = sum_g / c, mgx = sum_gx / c;
            for (int i = 0; i < c; i++) {
                double g = (double)dy[i] * w[i];
                double xhat = (x[i] - m) * rs;
                dx[i] += (float)(rs * (g - mg - xhat * mgx));
            }
        }
    }
    if (dw || db) {
        /* Columns in parallel, rows inside: each thread owns its dw/db entries, no race. */
#pragma omp parallel for schedule(static)
        for (int i = 0; i < c; i++) {
            double sw = 0, sb = 0;
            for (int r = 0; r < rows; r++) {
                double dy = dout[(size_t)r * c + i];
                sw += dy * (((double)in[(size_t)r * c + i] - mean[r]) * rstd[r]);
                sb += dy;
            }
            if (dw) dw[i] += (float)sw;
            if (db) db[i] += (float)sb;
        }
    }
}
