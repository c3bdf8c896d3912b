/* layernorm: CPU twin, not yet implemented (stub so the op table links). */
#include "cpu_ops.h"

void lv_cpu_layernorm_forward(lv_backend *be, float *out, float *mean, float *rstd, const float *in, const float *w, const float *b, int rows, int c, float eps) {
    (void)be; (void)out; (void)mean; (void)rstd; (void)in; (void)w; (void)b; (void)rows; (void)c; (void)eps;
    lv_op_missing(be, "layernorm_forward");
}

void lv_cpu_layernorm_backward(lv_backend *be, float *din, float *dw, float *db, const float *dout, const float *in, const float *w, const float *mean, const float *rstd, int rows, int c) {
    (void)be; (void)din; (void)dw; (void)db; (void)dout; (void)in; (void)w; (void)mean; (void)rstd; (void)rows; (void)c;
    lv_op_missing(be, "layernorm_backward");
}
