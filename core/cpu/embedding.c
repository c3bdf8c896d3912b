/* embedding: CPU twin, not yet implemented (stub so the op table links). */
#include "cpu_ops.h"

void lv_cpu_embedding_forward(lv_backend *be, float *out, const int *ids, const float *table, int n, int c) {
    (void)be; (void)out; (void)ids; (void)table; (void)n; (void)c;
    lv_op_missing(be, "embedding_forward");
}

void lv_cpu_embedding_backward(lv_backend *be, float *dtable, const float *dout, const int *ids, int n, int c) {
    (void)be; (void)dtable; (void)dout; (void)ids; (void)n; (void)c;
    lv_op_missing(be, "embedding_backward");
}
