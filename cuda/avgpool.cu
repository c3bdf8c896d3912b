/* avgpool: CUDA twin of core/cpu/avgpool.c. PLACEHOLDER: being written; every entry reports
 * "not implemented" as a sticky backend error. */
#include "cuda/cuda_backend.h"

extern "C" void lv_cuda_avgpool_forward(lv_backend *be, float *out, const float *in, int n, int c, int hw) {
    (void)out, (void)in, (void)n, (void)c, (void)hw;
    lv_op_missing(be, "avgpool_forward");
}

extern "C" void lv_cuda_avgpool_backward(lv_backend *be, float *din, const float *dout, int n, int c, int hw) {
    (void)din, (void)dout, (void)n, (void)c, (void)hw;
    lv_op_missing(be, "avgpool_backward");
}
