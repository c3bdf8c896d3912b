/* residual_add: CPU twin, not yet implemented (stub so the op table links). */
#include "cpu_ops.h"

void lv_cpu_residual_add_forward(lv_backend *be, float *out, const float *a, const float *b, size_t n) {
    (void)be; (void)out; (void)a; (void)b; (void)n;
    lv_op_missing(be, "residual_add_forward");
}

void lv_cpu_residual_add_backward(lv_backend *be, float *da, float *db, const float *dout, size_t n) {
    (void)be; (void)da; (void)db; (void)dout; (void)n;
    lv_op_missing(be, "residual_add_backward");
}
