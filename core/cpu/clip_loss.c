/* clip_loss: CPU twin, not yet implemented (stub so the op table links). */
#include "cpu_ops.h"

void lv_cpu_clip_loss(lv_backend *be, float *loss, float *dimg, float *dtxt, float *dscale, const float *img, const float *txt, const float *logit_scale, int b, int d) {
    (void)be; (void)loss; (void)dimg; (void)dtxt; (void)dscale; (void)img; (void)txt; (void)logit_scale; (void)b; (void)d;
    lv_op_missing(be, "clip_loss");
}
