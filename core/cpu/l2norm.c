/* l2norm: CPU twin of cuda/l2norm.cu, F.normalize(x, p=2, dim=-1, eps) on rows:
 * out = x / max(||x||, eps). Saves the UNclamped norm [rows]; the backward compares it with
 * eps itself, so it must be given the same eps as the forward. */
#include <math.h>

#include "cpu_ops.h"

void lv_cpu_l2norm_forward(lv_backend *be, float *out, float *norm, const float *in, int rows,
                           int dim, float eps) {
    (void)be;
#pragma omp parallel for schedule(static) if ((long)rows * dim >= (1L << 15))
    for (int r = 0; r < rows; r++) {
        const float *x = in + (size_t)r * dim;
        float *o = out + (size_t)r * dim;
        double ss = 0.0;
        for (int j = 0; j < dim; j++) ss += (double)x[j] * x[j];
        float nrm = (float)sqrt(ss);
        /* fmaxf would drop a NaN norm; PyTorch's clamp_min keeps it, so compare explicitly. */
        float den = nrm < eps ? eps : nrm;
        if (norm) norm[r] = nrm;
        /* Divide (not multiply by a reciprocal) to round exactly as x / denom does in torch. */
        for (int j = 0; j < dim; j++) o[j] = x[j] / den;
    }
}

/* With d = max(n, eps), n = ||x||:
 *   din = dout / d - [n >= eps] * x * (dout . x) / (d^2 * n)
 * The second term is the path through the norm; clamp_min's backward (PyTorch: grad where
 * self >= min) cuts it while the clamp is active, leaving the constant-scale dout / eps. */
void lv_cpu_l2norm_backward(lv_backend *be, float *din, const float *dout, const float *in,
                            const float *norm, int rows, int dim, float eps) {
    (void)be;
    if (!din) return;
#pragma omp parallel for schedule(static) if ((long)rows * dim >= (1L << 15))
    for (int r = 0; r < rows; r++) {
        const float *x = in + (size_t)r * dim;
        const float *g = dout + (size_t)r * dim;
        float *d = din + (size_t)r * dim;
        double n = norm[r];
        int through_norm = n >= eps;
        double den = through_norm ? n : (double)eps;
        double k = 0.0;
        if (through_norm && n > 0.0) {
            double dot = 0.0;
            for (int j = 0; j < dim; j++) dot += (double)g[j] * x[j];
            k = dot / (den * den * n);
        }
        for (int j = 0; j < dim; j++) d[j] += (float)((double)g[j] / den - k * x[j]);
    }
}
