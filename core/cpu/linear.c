/* linear: CPU twin, not yet implemented (stub so the op table links). */
#include "cpu_ops.h"

void lv_cpu_linear_forward(lv_backend *be, float *out, const float *in, const float *w, const float *bias, int b, int in_f, int out_f) {
    (void)be; (void)out; (void)in; (void)w; (void)bias; (void)b; (void)in_f; (void)out_f;
    lv_op_missing(be, "linear_forward");
}

void lv_cpu_linear_backward(lv_backend *be, float *din, float *dw, float *dbias, const float *dout, const float *in, const float *w, int b, int in_f, int out_f) {
    (void)be; (void)din; (void)dw; (void)dbias; (void)dout; (void)in; (void)w; (void)b; (void)in_f; (void)out_f;
    lv_op_missing(be, "linear_backward");
}
