/* Global gradient-norm clipping (torch.nn.utils.clip_grad_norm_, 2-norm) composed from
 * backend calls only, so one implementation serves every device. It never reads device
 * memory directly and never launches anything but lv_grad_sumsq and lv_scale. */
#ifndef LV_GRAD_CLIP_H
#define LV_GRAD_CLIP_H

#include <stddef.h>

#include "backend.h"
#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Measures total = ||grads||_2 over n floats and, when max_norm > 0 and
 * coef = max_norm / (total + 1e-6) < 1, multiplies every gradient by coef (PyTorch's
 * clamp(coef, max=1) without the no-op multiply). max_norm <= 0 or +Inf only measures,
 * which serves logging and step skipping when clipping is off; NaN max_norm is a usage error.
 * If any gradient is NaN/Inf, *nonfinite_out = 1, *total_norm_out is NaN or Inf and the
 * gradients are left as they are (PyTorch would fill them with NaN): the caller is expected
 * to skip the step. Either out pointer may be NULL. Synchronises the backend, so an error an
 * earlier asynchronous op recorded is returned here. Allocates a 2-word device scratch per
 * call; a trainer clipping every step should hold one and use lv_clip_grad_norm_scratch. */
lv_status lv_clip_grad_norm(lv_backend *be, float *grads, size_t n, float max_norm,
                            float *total_norm_out, int *nonfinite_out);

/* Same, with caller-owned device scratch of at least LV_GRAD_CLIP_SCRATCH_BYTES bytes
 * (be->alloc'd; its contents on entry do not matter). */
#define LV_GRAD_CLIP_SCRATCH_BYTES 16
lv_status lv_clip_grad_norm_scratch(lv_backend *be, float *grads, size_t n, float max_norm,
                                    void *scratch, float *total_norm_out, int *nonfinite_out);

#ifdef __cplusplus
}
#endif
#endif
