/* clip_loss: CUDA twin of core/cpu/clip_loss.c. PLACEHOLDER: being written; every entry reports
 * "not implemented" as a sticky backend error. */
#include "cuda/cuda_backend.h"

extern "C" void lv_cuda_clip_loss(lv_backend *be, float *loss, float *dimg, float *dtxt, float *dscale, const float *img, const float *txt, const float *logit_scale, int b, int d) {
    (void)loss, (void)dimg, (void)dtxt, (void)dscale, (void)img, (void)txt, (void)logit_scale, (void)b, (void)d;
    lv_op_missing(be, "clip_loss");
}
