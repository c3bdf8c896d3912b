/* adamw: CUDA twin of core/cpu/adamw.c. PLACEHOLDER: being written; every entry reports
 * "not implemented" as a sticky backend error. */
#include "cuda/cuda_backend.h"

extern "C" void lv_cuda_adamw_update(lv_backend *be, float *param, const float *grad, float *m, float *v, size_t n, const lv_adamw_hparams *h) {
    (void)param, (void)grad, (void)m, (void)v, (void)n, (void)h;
    lv_op_missing(be, "adamw_update");
}
