/* linear: CPU twin of cuda/linear.cu (cuBLAS there, OpenBLAS here). out [b,out_f] =
 * in [b,in_f] @ w^T + bias with PyTorch's weight layout w [out_f,in_f], so nn.Linear and
 * HF checkpoints load without transposes. All sizes row-major; nothing is transposed in memory. */
#include <string.h>


#include "cpu_ops.h"
#include "gemm.h"

void lv_cpu_linear_forward(lv_backend *be, float *out, const float *in, const float *w,
                           const float *bias, int b, int in_f, int out_f) {
    (void)be;
    if (b <= 0 || out_f <= 0) return;
    /* Seed out with the bias and let the GEMM accumulate (beta = 1): one pass over out. */
    float beta = 0.0f;
    if (bias) {
        for (int i = 0; i < b; i++) memcpy(out + (size_t)i * out_f, bias, (size_t)out_f * sizeof *out);
        beta = 1.0f;
    } else if (in_f <= 0) {
        memset(out, 0, (size_t)b * out_f * sizeof *out);
    }
    /* BLAS rejects a leading dimension of 0, so an empty reduction stops at the bias. */
    if (in_f <= 0) return;
    lv_cpu_sgemm(be, 0, 1, b, out_f, in_f, 1.0f, in, in_f, w, in_f,
                beta, out, out_f);
}

void lv_cpu_linear_backward(lv_backend *be, float *din, float *dw, float *dbias, const float *dout,
                            const float *in, const float *w, int b, int in_f, int out_f) {
    (void)be;
    if (b <= 0 || out_f <= 0) return;
    if (in_f > 0) {
        /* din [b,in_f] += dout [b,out_f] @ w [out_f,in_f] */
        if (din)
            lv_cpu_sgemm(be, 0, 0, b, in_f, out_f, 1.0f, dout,
                        out_f, w, in_f, 1.0f, din, in_f);
        /* dw [out_f,in_f] += dout^T [out_f,b] @ in [b,in_f] */
        if (dw)
            lv_cpu_sgemm(be, 1, 0, out_f, in_f, b, 1.0f, dout, out_f,
                        in, in_f, 1.0f, dw, in_f);
    }
    if (dbias) {
        /* Column sums in double so the reference does not depend on the batch order. */
#pragma omp parallel for schedule(static) if ((long)b * out_f >= (1L << 16))
        for (int o = 0; o < out_f; o++) {
            double s = 0.0;
            for (int i = 0; i < b; i++) s += dout[(size_t)i * out_f + o];
            dbias[o] += (float)s;
        }
    }
}
