/* gelu: CUDA twin of core/cpu/gelu.c. PLACEHOLDER: being written; every entry reports
 * "not implemented" as a sticky backend error. */
#include "cuda/cuda_backend.h"

extern "C" void lv_cuda_gelu_forward(lv_backend *be, float *out, const float *in, size_t n) {
    (void)out, (void)in, (void)n;
    lv_op_missing(be, "gelu_forward");
}

extern "C" void lv_cuda_gelu_backward(lv_backend *be, float *din, const float *dout, const float *in, size_t n) {
    (void)din, (void)dout, (void)in, (void)n;
    lv_op_missing(be, "gelu_backward");
}
