/* avgpool: CPU twin, not yet implemented (stub so the op table links). */
#include "cpu_ops.h"

void lv_cpu_avgpool_forward(lv_backend *be, float *out, const float *in, int n, int c, int hw) {
    (void)be; (void)out; (void)in; (void)n; (void)c; (void)hw;
    lv_op_missing(be, "avgpool_forward");
}

void lv_cpu_avgpool_backward(lv_backend *be, float *din, const float *dout, int n, int c, int hw) {
    (void)be; (void)din; (void)dout; (void)n; (void)c; (void)hw;
    lv_op_missing(be, "avgpool_backward");
}
