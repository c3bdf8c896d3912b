/* grad_norm: CUDA twin of core/cpu/grad_norm.c. PLACEHOLDER: being written; every entry reports
 * "not implemented" as a sticky backend error. */
#include "cuda/cuda_backend.h"

extern "C" void lv_cuda_grad_sumsq(lv_backend *be, float *out, int *nonfinite, const float *g, size_t n) {
    (void)out, (void)nonfinite, (void)g, (void)n;
    lv_op_missing(be, "grad_sumsq");
}

extern "C" void lv_cuda_scale(lv_backend *be, float *x, float scale, size_t n) {
    (void)x, (void)scale, (void)n;
    lv_op_missing(be, "scale");
}
