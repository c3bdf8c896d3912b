/* batchnorm2d_sync: CUDA twin of core/cpu/batchnorm2d_sync.c. PLACEHOLDER: being written; every entry reports
 * "not implemented" as a sticky backend error. */
#include "cuda/cuda_backend.h"

extern "C" void lv_cuda_batchnorm2d_sync_stats(lv_backend *be, float *acc, const float *in, const float *center, const lv_bn_shape *s) {
    (void)acc, (void)in, (void)center, (void)s;
    lv_op_missing(be, "batchnorm2d_sync_stats");
}

extern "C" void lv_cuda_batchnorm2d_sync_forward(lv_backend *be, float *out, const float *save_mean, float *save_invstd, float *running_mean, float *running_var, const float *in, const float *gamma, const float *beta, const float *acc_sq, double count, const lv_bn_shape *s) {
    (void)out, (void)save_mean, (void)save_invstd, (void)running_mean, (void)running_var, (void)in, (void)gamma, (void)beta, (void)acc_sq, (void)count, (void)s;
    lv_op_missing(be, "batchnorm2d_sync_forward");
}

extern "C" void lv_cuda_batchnorm2d_sync_backward_stats(lv_backend *be, float *acc, const float *dout, const float *in, const float *save_mean, const float *save_invstd, const lv_bn_shape *s) {
    (void)acc, (void)dout, (void)in, (void)save_mean, (void)save_invstd, (void)s;
    lv_op_missing(be, "batchnorm2d_sync_backward_stats");
}

extern "C" void lv_cuda_batchnorm2d_sync_backward(lv_backend *be, float *din, float *dgamma, float *dbeta, const float *dout, const float *in, const float *gamma, const float *save_mean, const float *save_invstd, const float *acc, double count, const lv_bn_shape *s) {
    (void)din, (void)dgamma, (void)dbeta, (void)dout, (void)in, (void)gamma, (void)save_mean, (void)save_invstd, (void)acc, (void)count, (void)s;
    lv_op_missing(be, "batchnorm2d_sync_backward");
}
