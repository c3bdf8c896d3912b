/* cosine_ce: CPU twin, not yet implemented (stub so the op table links). */
#include "cpu_ops.h"

void lv_cpu_cosine_ce(lv_backend *be, float *loss, float *logits, float *dimg, float *dcls, float *dscale, const float *img, const float *cls, const float *logit_scale, const int *labels, int b, int c, int d) {
    (void)be; (void)loss; (void)logits; (void)dimg; (void)dcls; (void)dscale; (void)img; (void)cls; (void)logit_scale; (void)labels; (void)b; (void)c; (void)d;
    lv_op_missing(be, "cosine_ce");
}
