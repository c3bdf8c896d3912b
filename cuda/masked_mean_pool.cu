/* masked_mean_pool: CUDA twin of core/cpu/masked_mean_pool.c. PLACEHOLDER: being written; every entry reports
 * "not implemented" as a sticky backend error. */
#include "cuda/cuda_backend.h"

extern "C" void lv_cuda_masked_mean_pool_forward(lv_backend *be, float *out, const float *in, const int *mask, int b, int t, int c) {
    (void)out, (void)in, (void)mask, (void)b, (void)t, (void)c;
    lv_op_missing(be, "masked_mean_pool_forward");
}

extern "C" void lv_cuda_masked_mean_pool_backward(lv_backend *be, float *din, const float *dout, const int *mask, int b, int t, int c) {
    (void)din, (void)dout, (void)mask, (void)b, (void)t, (void)c;
    lv_op_missing(be, "masked_mean_pool_backward");
}
