/* adamw: CPU twin, not yet implemented (stub so the op table links). */
#include "cpu_ops.h"

void lv_cpu_adamw_update(lv_backend *be, float *param, const float *grad, float *m, float *v, size_t n, const lv_adamw_hparams *h) {
    (void)be; (void)param; (void)grad; (void)m; (void)v; (void)n; (void)h;
    lv_op_missing(be, "adamw_update");
}
