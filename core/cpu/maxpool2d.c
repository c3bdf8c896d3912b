/* maxpool2d: CPU twin, not yet implemented (stub so the op table links). */
#include "cpu_ops.h"

void lv_cpu_maxpool2d_forward(lv_backend *be, float *out, const float *in, const lv_pool2d_shape *s) {
    (void)be; (void)out; (void)in; (void)s;
    lv_op_missing(be, "maxpool2d_forward");
}

void lv_cpu_maxpool2d_backward(lv_backend *be, float *din, const float *dout, const float *in, const lv_pool2d_shape *s) {
    (void)be; (void)din; (void)dout; (void)in; (void)s;
    lv_op_missing(be, "maxpool2d_backward");
}
