/* attention: CUDA twin of core/cpu/attention.c. PLACEHOLDER: being written; every entry reports
 * "not implemented" as a sticky backend error. */
#include "cuda/cuda_backend.h"

extern "C" void lv_cuda_attention_forward(lv_backend *be, float *out, float *att, const float *qkv, const int *mask, const lv_attn_shape *s) {
    (void)out, (void)att, (void)qkv, (void)mask, (void)s;
    lv_op_missing(be, "attention_forward");
}

extern "C" void lv_cuda_attention_backward(lv_backend *be, float *dqkv, const float *dout, const float *qkv, const float *att, const int *mask, const lv_attn_shape *s) {
    (void)dqkv, (void)dout, (void)qkv, (void)att, (void)mask, (void)s;
    lv_op_missing(be, "attention_backward");
}
