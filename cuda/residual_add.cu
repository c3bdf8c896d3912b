/* residual_add: CUDA twin of core/cpu/residual_add.c. PLACEHOLDER: being written; every entry reports
 * "not implemented" as a sticky backend error. */
#include "cuda/cuda_backend.h"

extern "C" void lv_cuda_residual_add_forward(lv_backend *be, float *out, const float *a, const float *b, size_t n) {
    (void)out, (void)a, (void)b, (void)n;
    lv_op_missing(be, "residual_add_forward");
}

extern "C" void lv_cuda_residual_add_backward(lv_backend *be, float *da, float *db, const float *dout, size_t n) {
    (void)da, (void)db, (void)dout, (void)n;
    lv_op_missing(be, "residual_add_backward");
}
