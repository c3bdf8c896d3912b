/* gelu: CPU twin, not yet implemented (stub so the op table links). */
#include "cpu_ops.h"

void lv_cpu_gelu_forward(lv_backend *be, float *out, const float *in, size_t n) {
    (void)be; (void)out; (void)in; (void)n;
    lv_op_missing(be, "gelu_forward");
}

void lv_cpu_gelu_backward(lv_backend *be, float *din, const float *dout, const float *in, size_t n) {
    (void)be; (void)din; (void)dout; (void)in; (void)n;
    lv_op_missing(be, "gelu_backward");
}
