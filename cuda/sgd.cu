/* sgd: CUDA twin of core/cpu/sgd.c. PLACEHOLDER: being written; every entry reports
 * "not implemented" as a sticky backend error. */
#include "cuda/cuda_backend.h"

extern "C" void lv_cuda_sgd_update(lv_backend *be, float *param, const float *grad, float *momentum_buf, size_t n, const lv_sgd_hparams *h) {
    (void)param, (void)grad, (void)momentum_buf, (void)n, (void)h;
    lv_op_missing(be, "sgd_update");
}
