/* relu: CUDA twin of core/cpu/relu.c. PLACEHOLDER: being written; every entry reports
 * "not implemented" as a sticky backend error. */
#include "cuda/cuda_backend.h"

extern "C" void lv_cuda_relu_forward(lv_backend *be, float *out, const float *in, size_t n) {
    (void)out, (void)in, (void)n;
    lv_op_missing(be, "relu_forward");
}

extern "C" void lv_cuda_relu_backward(lv_backend *be, float *din, const float *dout, const float *out, size_t n) {
    (void)din, (void)dout, (void)out, (void)n;
    lv_op_missing(be, "relu_backward");
}
