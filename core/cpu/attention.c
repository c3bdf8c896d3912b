/* attention: CPU twin, not yet implemented (stub so the op table links). */
#include "cpu_ops.h"

void lv_cpu_attention_forward(lv_backend *be, float *out, float *att, const float *qkv, const int *mask, const lv_attn_shape *s) {
    (void)be; (void)out; (void)att; (void)qkv; (void)mask; (void)s;
    lv_op_missing(be, "attention_forward");
}

void lv_cpu_attention_backward(lv_backend *be, float *dqkv, const float *dout, const float *qkv, const float *att, const int *mask, const lv_attn_shape *s) {
    (void)be; (void)dqkv; (void)dout; (void)qkv; (void)att; (void)mask; (void)s;
    lv_op_missing(be, "attention_backward");
}
