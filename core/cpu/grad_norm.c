/* grad_norm: CPU twin of cuda/grad_norm.cu: the sum of squares (for the global gradient
 * norm) with a non-finite flag, and an in-place scale. The sum must not depend on the thread
 * count, so that runs with different OMP settings clip and skip steps identically. */
#include <math.h>

#include "cpu_ops.h"

/* Fixed-size blocks, each summed in double, then the block sums added in index order: the
 * result is bit-identical whatever the thread count or schedule. 64K floats per block keep
 * the partials array tiny (1.7K doubles for BERT-base) while giving every thread work. */
#define SUMSQ_BLOCK ((size_t)1 << 16)
#define SCALE_OMP_MIN ((size_t)1 << 15)

void lv_cpu_grad_sumsq(lv_backend *be, float *out, int *nonfinite, const float *g, size_t n) {
    size_t nb = (n + SUMSQ_BLOCK - 1) / SUMSQ_BLOCK;
    double total = 0.0;
    if (nb > 1) {
        /* Scratch is float-typed but 64-byte aligned and never read as float here. */
        double *part = (double *)lv_cpu_scratch(be, 0, 2 * nb);
        if (!part) return; /* lv_cpu_scratch recorded the error */
#pragma omp parallel for schedule(static)
        for (size_t bi = 0; bi < nb; bi++) {
            size_t lo = bi * SUMSQ_BLOCK, hi = lo + SUMSQ_BLOCK < n ? lo + SUMSQ_BLOCK : n;
            double acc = 0.0;
            for (size_t i = lo; i < hi; i++) acc += (double)g[i] * g[i];
            part[bi] = acc;
        }
        for (size_t bi = 0; bi < nb; bi++) total += part[bi];
    } else {
        for (size_t i = 0; i < n; i++) total += (double)g[i] * g[i];
    }
    /* In double no float square can overflow (FLT_MAX^2 ~ 1e77), so the sum is non-finite
     * exactly when some element is NaN or +-Inf: no per-element test is needed. */
    if (!isfinite(total) && nonfinite) *nonfinite = 1;
    if (out) *out = (float)((double)*out + total);
}

void lv_cpu_scale(lv_backend *be, float *x, float scale, size_t n) {
    (void)be;
#pragma omp parallel for schedule(static) if (n >= SCALE_OMP_MIN)
    for (size_t i = 0; i < n; i++) x[i] *= scale;
}
