/* batchnorm2d: CUDA twin of core/cpu/batchnorm2d.c. PLACEHOLDER: being written; every entry reports
 * "not implemented" as a sticky backend error. */
#include "cuda/cuda_backend.h"

extern "C" void lv_cuda_batchnorm2d_forward(lv_backend *be, float *out, float *save_mean, float *save_invstd, float *running_mean, float *running_var, const float *in, const float *gamma, const float *beta, const lv_bn_shape *s, int training) {
    (void)out, (void)save_mean, (void)save_invstd, (void)running_mean, (void)running_var, (void)in, (void)gamma, (void)beta, (void)s, (void)training;
    lv_op_missing(be, "batchnorm2d_forward");
}

extern "C" void lv_cuda_batchnorm2d_backward(lv_backend *be, float *din, float *dgamma, float *dbeta, const float *dout, const float *in, const float *gamma, const float *save_mean, const float *save_invstd, const lv_bn_shape *s) {
    (void)din, (void)dgamma, (void)dbeta, (void)dout, (void)in, (void)gamma, (void)save_mean, (void)save_invstd, (void)s;
    lv_op_missing(be, "batchnorm2d_backward");
}
