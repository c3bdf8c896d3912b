/* linear: CUDA twin of core/cpu/linear.c. PLACEHOLDER: being written; every entry reports
 * "not implemented" as a sticky backend error. */
#include "cuda/cuda_backend.h"

extern "C" void lv_cuda_linear_forward(lv_backend *be, float *out, const float *in, const float *w, const float *bias, int b, int in_f, int out_f) {
    (void)out, (void)in, (void)w, (void)bias, (void)b, (void)in_f, (void)out_f;
    lv_op_missing(be, "linear_forward");
}

extern "C" void lv_cuda_linear_backward(lv_backend *be, float *din, float *dw, float *dbias, const float *dout, const float *in, const float *w, int b, int in_f, int out_f) {
    (void)din, (void)dw, (void)dbias, (void)dout, (void)in, (void)w, (void)b, (void)in_f, (void)out_f;
    lv_op_missing(be, "linear_backward");
}
