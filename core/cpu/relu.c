/* relu: CPU twin, not yet implemented (stub so the op table links). */
#include "cpu_ops.h"

void lv_cpu_relu_forward(lv_backend *be, float *out, const float *in, size_t n) {
    (void)be; (void)out; (void)in; (void)n;
    lv_op_missing(be, "relu_forward");
}

void lv_cpu_relu_backward(lv_backend *be, float *din, const float *dout, const float *out, size_t n) {
    (void)be; (void)din; (void)dout; (void)out; (void)n;
    lv_op_missing(be, "relu_backward");
}
