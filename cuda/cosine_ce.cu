/* cosine_ce: CUDA twin of core/cpu/cosine_ce.c. PLACEHOLDER: being written; every entry reports
 * "not implemented" as a sticky backend error. */
#include "cuda/cuda_backend.h"

extern "C" void lv_cuda_cosine_ce(lv_backend *be, float *loss, float *logits, float *dimg, float *dcls, float *dscale, const float *img, const float *cls, const float *logit_scale, const int *labels, int b, int c, int d) {
    (void)loss, (void)logits, (void)dimg, (void)dcls, (void)dscale, (void)img, (void)cls, (void)logit_scale, (void)labels, (void)b, (void)c, (void)d;
    lv_op_missing(be, "cosine_ce");
}
