/* l2norm: CPU twin, not yet implemented (stub so the op table links). */
#include "cpu_ops.h"

void lv_cpu_l2norm_forward(lv_backend *be, float *out, float *norm, const float *in, int rows, int dim, float eps) {
    (void)be; (void)out; (void)norm; (void)in; (void)rows; (void)dim; (void)eps;
    lv_op_missing(be, "l2norm_forward");
}

void lv_cpu_l2norm_backward(lv_backend *be, float *din, const float *dout, const float *in, const float *norm, int rows, int dim, float eps) {
    (void)be; (void)din; (void)dout; (void)in; (void)norm; (void)rows; (void)dim; (void)eps;
    lv_op_missing(be, "l2norm_backward");
}
