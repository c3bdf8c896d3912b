/* softmax: CUDA twin of core/cpu/softmax.c. PLACEHOLDER: being written; every entry reports
 * "not implemented" as a sticky backend error. */
#include "cuda/cuda_backend.h"

extern "C" void lv_cuda_softmax_forward(lv_backend *be, float *out, const float *in, int rows, int cols) {
    (void)out, (void)in, (void)rows, (void)cols;
    lv_op_missing(be, "softmax_forward");
}

extern "C" void lv_cuda_softmax_backward(lv_backend *be, float *din, const float *dout, const float *out, int rows, int cols) {
    (void)din, (void)dout, (void)out, (void)rows, (void)cols;
    lv_op_missing(be, "softmax_backward");
}
