/* conv2d: CPU twin, not yet implemented (stub so the op table links). */
#include "cpu_ops.h"

void lv_cpu_conv2d_forward(lv_backend *be, float *out, const float *in, const float *w, const float *bias, const lv_conv2d_shape *s) {
    (void)be; (void)out; (void)in; (void)w; (void)bias; (void)s;
    lv_op_missing(be, "conv2d_forward");
}

void lv_cpu_conv2d_backward(lv_backend *be, float *din, float *dw, float *dbias, const float *dout, const float *in, const float *w, const lv_conv2d_shape *s) {
    (void)be; (void)din; (void)dw; (void)dbias; (void)dout; (void)in; (void)w; (void)s;
    lv_op_missing(be, "conv2d_backward");
}
