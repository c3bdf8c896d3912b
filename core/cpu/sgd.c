/* sgd: CPU twin, not yet implemented (stub so the op table links). */
#include "cpu_ops.h"

void lv_cpu_sgd_update(lv_backend *be, float *param, const float *grad, float *momentum_buf, size_t n, const lv_sgd_hparams *h) {
    (void)be; (void)param; (void)grad; (void)momentum_buf; (void)n; (void)h;
    lv_op_missing(be, "sgd_update");
}
