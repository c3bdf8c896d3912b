/* masked_mean_pool: CPU twin of cuda/masked_mean_pool.cu. Mean of the kept tokens of each
 * sequence (sentence-transformers' mean pooling; CLS pooling when the mask keeps token 0
 * only). in [b,t,c], mask [b,t] (nonzero = kept), out [b,c]. No learnable state here. */
#include "cpu_ops.h"

static int kept(const int *mask, int bi, int t) {
    int n = 0;
    for (int j = 0; j < t; j++) n += mask[(size_t)bi * t + j] != 0;
    return n;
}

void lv_cpu_masked_mean_pool_forward(lv_backend *be, float *out, const float *in, const int *mask,
                                     int b, int t, int c) {
    (void)be;
#pragma omp parallel for schedule(static) if ((long)b * t * c >= (1L << 16))
    for (int bi = 0; bi < b; bi++) {
        /* sentence-transformers divides by clamp(count, min=1e-9): an all-padding sequence
         * has a zero sum, so dividing by 1 instead gives the same 0 without a tiny float. */
        int n = kept(mask, bi, t);
        double inv = 1.0 / (double)(n > 0 ? n : 1);
        for (int k = 0; k < c; k++) {
            /* Double sum: the reference must not lose digits a CUDA tree reduction keeps. */
            double s = 0;
            for (int j = 0; j < t; j++)
                if (mask[(size_t)bi * t + j]) s += in[((size_t)bi * t + j) * c + k];
            out[(size_t)bi * c + k] = (float)(s * inv);
        }
    }
}

void lv_cpu_masked_mean_pool_backward(lv_backend *be, float *din, const float *dout,
                                      const int *mask, int b, int t, int c) {
    (void)be;
    if (!din) return;
#pragma omp parallel for schedule(static) if ((long)b * t * c >= (1L << 16))
    for (int bi = 0; bi < b; bi++) {
        int n = kept(mask, bi, t);
        if (n == 0) continue;
        for (int j = 0; j < t; j++) {
            if (!mask[(size_t)bi * t + j]) continue;
            float *d = din + ((size_t)bi * t + j) * c;
            /* PyTorch's autograd divides the incoming gradient by the count in float. */
            for (int k = 0; k < c; k++) d[k] += dout[(size_t)bi * c + k] / (float)n;
        }
    }
}
