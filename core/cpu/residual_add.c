/* residual_add: CPU twin of cuda/residual_add.cu. out = a + b elementwise; the backward is a
 * pass-through that adds dout into both branches. No broadcasting: a, b, out share one size. */
#include "cpu_ops.h"

#define RESADD_OMP_MIN ((size_t)1 << 15)

void lv_cpu_residual_add_forward(lv_backend *be, float *out, const float *a, const float *b, size_t n) {
    (void)be;
#pragma omp parallel for schedule(static) if (n >= RESADD_OMP_MIN)
    for (size_t i = 0; i < n; i++) out[i] = a[i] + b[i];
}

/* da and db may each be NULL (branch not trainable); they must not alias each other. */
void lv_cpu_residual_add_backward(lv_backend *be, float *da, float *db, const float *dout, size_t n) {
    (void)be;
    if (da) {
#pragma omp parallel for schedule(static) if (n >= RESADD_OMP_MIN)
        for (size_t i = 0; i < n; i++) da[i] += dout[i];
    }
    if (db) {
#pragma omp parallel for schedule(static) if (n >= RESADD_OMP_MIN)
        for (size_t i = 0; i < n; i++) db[i] += dout[i];
    }
}
