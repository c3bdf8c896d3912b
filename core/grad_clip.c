/* Global gradient-norm clipping (see grad_clip.h), written against the backend interface
 * only: the sum of squares and the flag are reduced on the device, two words come back to
 * the host, and the decision to scale is made here. No device-specific code may appear. */
#include "grad_clip.h"

#include <math.h>

lv_status lv_clip_grad_norm_scratch(lv_backend *be, float *grads, size_t n, float max_norm,
                                    void *scratch, float *total_norm_out, int *nonfinite_out) {
    LV_CHECK(!isnan(max_norm), LV_ERR_USAGE, "gradient clipping: max norm is NaN");
    LV_CHECK(scratch != NULL, LV_ERR_RUNTIME, "gradient clipping: no scratch buffer");
    /* Word 0 holds the float sum, word 1 the int flag: both 4-byte aligned in any
     * be->alloc'd block. */
    float *sumsq_d = (float *)scratch;
    int *flag_d = (int *)((char *)scratch + 8);
    be->memset0(be, scratch, LV_GRAD_CLIP_SCRATCH_BYTES);
    if (n > 0) lv_grad_sumsq(be, sumsq_d, flag_d, grads, n);
    float sumsq = 0.0f;
    int flag = 0;
    be->copy_d2h(be, &sumsq, sumsq_d, sizeof sumsq);
    be->copy_d2h(be, &flag, flag_d, sizeof flag);
    LV_TRY(be->sync(be));

    /* PyTorch does this arithmetic on float tensors: sqrt, + 1e-6, divide, all in float. */
    float total = sqrtf(sumsq);
    int nonfinite = flag != 0 || !isfinite(total);
    if (total_norm_out) *total_norm_out = total;
    if (nonfinite_out) *nonfinite_out = nonfinite;
    if (nonfinite || !(max_norm > 0.0f) || isinf(max_norm)) return LV_OK;
    float coef = max_norm / (total + 1e-6f);
    if (coef < 1.0f) {
        lv_scale(be, grads, coef, n);
        LV_TRY(be->sync(be));
    }
    return LV_OK;
}

lv_status lv_clip_grad_norm(lv_backend *be, float *grads, size_t n, float max_norm,
                            float *total_norm_out, int *nonfinite_out) {
    void *scratch = be->alloc(be, LV_GRAD_CLIP_SCRATCH_BYTES);
    LV_CHECK(scratch != NULL, LV_ERR_RUNTIME,
             "gradient clipping: %s backend could not allocate %d bytes of scratch", be->name,
             LV_GRAD_CLIP_SCRATCH_BYTES);
    lv_status s = lv_clip_grad_norm_scratch(be, grads, n, max_norm, scratch, total_norm_out,
                                            nonfinite_out);
    be->free(be, scratch);
    return s;
}
