/* gelu: CPU twin of the exact (erf) GELU, torch.nn.functional.gelu's default and HF BERT's
 * "gelu" activation. Must not be swapped for the tanh approximation: pretrained BERT
 * weights were trained with the erf form and fixtures check it to 1e-5. */
#include <math.h>

#include "cpu_ops.h"

#define LV_INV_SQRT2 0.70710678118654752440    /* 1/sqrt(2) */
#define LV_INV_SQRT2PI 0.39894228040143267794  /* 1/sqrt(2*pi) */

/* out = 0.5 * x * (1 + erf(x / sqrt(2))), evaluated in double then rounded once. */
void lv_cpu_gelu_forward(lv_backend *be, float *out, const float *in, size_t n) {
    (void)be;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) {
        double x = in[i];
        out[i] = (float)(0.5 * x * (1.0 + erf(x * LV_INV_SQRT2)));
    }
}

/* d gelu/dx = Phi(x) + x * phi(x), with Phi the normal CDF and phi its density. */
void lv_cpu_gelu_backward(lv_backend *be, float *din, const float *dout, const float *in, size_t n) {
    (void)be;
    if (!din) return;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) {
        double x = in[i];
        double cdf = 0.5 * (1.0 + erf(x * LV_INV_SQRT2));
        double pdf = LV_INV_SQRT2PI * exp(-0.5 * x * x);
        din[i] += (float)((double)dout[i] * (cdf + x * pdf));
    }
}
