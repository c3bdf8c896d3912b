/* l2norm: CUDA twin of core/cpu/l2norm.c. PLACEHOLDER: being written; every entry reports
 * "not implemented" as a sticky backend error. */
#include "cuda/cuda_backend.h"

extern "C" void lv_cuda_l2norm_forward(lv_backend *be, float *out, float *norm, const float *in, int rows, int dim, float eps) {
    (void)out, (void)norm, (void)in, (void)rows, (void)dim, (void)eps;
    lv_op_missing(be, "l2norm_forward");
}

extern "C" void lv_cuda_l2norm_backward(lv_backend *be, float *din, const float *dout, const float *in, const float *norm, int rows, int dim, float eps) {
    (void)din, (void)dout, (void)in, (void)norm, (void)rows, (void)dim, (void)eps;
    lv_op_missing(be, "l2norm_backward");
}
