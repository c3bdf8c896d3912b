/* grad_norm: CPU twin, not yet implemented (stub so the op table links). */
#include "cpu_ops.h"

void lv_cpu_grad_sumsq(lv_backend *be, float *out, int *nonfinite, const float *g, size_t n) {
    (void)be; (void)out; (void)nonfinite; (void)g; (void)n;
    lv_op_missing(be, "grad_sumsq");
}

void lv_cpu_scale(lv_backend *be, float *x, float scale, size_t n) {
    (void)be; (void)x; (void)scale; (void)n;
    lv_op_missing(be, "scale");
}
