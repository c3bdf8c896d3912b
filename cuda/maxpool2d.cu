/* maxpool2d: CUDA twin of core/cpu/maxpool2d.c. PLACEHOLDER: being written; every entry reports
 * "not implemented" as a sticky backend error. */
#include "cuda/cuda_backend.h"

extern "C" void lv_cuda_maxpool2d_forward(lv_backend *be, float *out, const float *in, const lv_pool2d_shape *s) {
    (void)out, (void)in, (void)s;
    lv_op_missing(be, "maxpool2d_forward");
}

extern "C" void lv_cuda_maxpool2d_backward(lv_backend *be, float *din, const float *dout, const float *in, const lv_pool2d_shape *s) {
    (void)din, (void)dout, (void)in, (void)s;
    lv_op_missing(be, "maxpool2d_backward");
}
