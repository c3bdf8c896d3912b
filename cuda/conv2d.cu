/* conv2d: CUDA twin of core/cpu/conv2d.c. PLACEHOLDER: being written; every entry reports
 * "not implemented" as a sticky backend error. */
#include "cuda/cuda_backend.h"

extern "C" void lv_cuda_conv2d_forward(lv_backend *be, float *out, const float *in, const float *w, const float *bias, const lv_conv2d_shape *s) {
    (void)out, (void)in, (void)w, (void)bias, (void)s;
    lv_op_missing(be, "conv2d_forward");
}

extern "C" void lv_cuda_conv2d_backward(lv_backend *be, float *din, float *dw, float *dbias, const float *dout, const float *in, const float *w, const lv_conv2d_shape *s) {
    (void)din, (void)dw, (void)dbias, (void)dout, (void)in, (void)w, (void)s;
    lv_op_missing(be, "conv2d_backward");
}
extern "C" void lv_cuda_conv_cache_free(lv_cuda_ctx *c) { (void)c; }
