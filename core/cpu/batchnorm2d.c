/* batchnorm2d: CPU twin, not yet implemented (stub so the op table links). */
#include "cpu_ops.h"

void lv_cpu_batchnorm2d_forward(lv_backend *be, float *out, float *save_mean, float *save_invstd, float *running_mean, float *running_var, const float *in, const float *gamma, const float *beta, const lv_bn_shape *s, int training) {
    (void)be; (void)out; (void)save_mean; (void)save_invstd; (void)running_mean; (void)running_var; (void)in; (void)gamma; (void)beta; (void)s; (void)training;
    lv_op_missing(be, "batchnorm2d_forward");
}

void lv_cpu_batchnorm2d_backward(lv_backend *be, float *din, float *dgamma, float *dbeta, const float *dout, const float *in, const float *gamma, const float *save_mean, const float *save_invstd, const lv_bn_shape *s) {
    (void)be; (void)din; (void)dgamma; (void)dbeta; (void)dout; (void)in; (void)gamma; (void)save_mean; (void)save_invstd; (void)s;
    lv_op_missing(be, "batchnorm2d_backward");
}
