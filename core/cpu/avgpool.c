/* avgpool: global average pool, CPU twin of cuda/avgpool.cu (torchvision's
 * AdaptiveAvgPool2d((1,1)) before the fc). in [n,c,hw] -> out [n,c]; the plane is flat, so
 * callers pass h*w. Not a windowed pool: that would be a different op. */
#include "cpu_ops.h"

void lv_cpu_avgpool_forward(lv_backend *be, float *out, const float *in, int n, int c, int hw) {
    (void)be;
    long planes = (long)n * c;
    /* Accumulate in double: the CPU backend is the reference, and a 56x56 plane summed in
     * float loses digits that the CUDA twin's tree reduction would not. */
#pragma omp parallel for schedule(static) if (planes * hw >= (1L << 15))
    for (long p = 0; p < planes; p++) {
        const float *x = in + p * hw;
        double s = 0.0;
        for (int i = 0; i < hw; i++) s += x[i];
        out[p] = (float)(s / hw);
    }
}

void lv_cpu_avgpool_backward(lv_backend *be, float *din, const float *dout, int n, int c, int hw) {
    (void)be;
    if (!din) return;
    long planes = (long)n * c;
#pragma omp parallel for schedule(static) if (planes * hw >= (1L << 15))
    for (long p = 0; p < planes; p++) {
        /* Same rounding as PyTorch's backward, which divides the incoming grad by the count. */
        float g = dout[p] / (float)hw;
        float *d = din + p * hw;
        for (int i = 0; i < hw; i++) d[i] += g;
    }
}
