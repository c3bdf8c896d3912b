/* softmax: CPU twin, not yet implemented (stub so the op table links). */
#include "cpu_ops.h"

void lv_cpu_softmax_forward(lv_backend *be, float *out, const float *in, int rows, int cols) {
    (void)be; (void)out; (void)in; (void)rows; (void)cols;
    lv_op_missing(be, "softmax_forward");
}

void lv_cpu_softmax_backward(lv_backend *be, float *din, const float *dout, const float *out, int rows, int cols) {
    (void)be; (void)din; (void)dout; (void)out; (void)rows; (void)cols;
    lv_op_missing(be, "softmax_backward");
}
