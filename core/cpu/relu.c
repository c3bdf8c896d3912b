/* relu: CPU twin of cuda/relu.cu, forward and backward. Elementwise only; the backward reads
 * the forward OUTPUT (not the input) so callers may run the forward in place and drop `in`. */
#include <math.h>

#include "cpu_ops.h"

/* Below this many elements a parallel region costs more than it saves. */
#define RELU_OMP_MIN ((size_t)1 << 15)

void lv_cpu_relu_forward(lv_backend *be, float *out, const float *in, size_t n) {
    (void)be;
    /* torch.relu propagates NaN (clamp_min semantics), so NaN is kept rather than zeroed. */
#pragma omp parallel for schedule(static) if (n >= RELU_OMP_MIN)
    for (size_t i = 0; i < n; i++) {
        float x = in[i];
        out[i] = (x > 0.0f || isnan(x)) ? x : 0.0f;
    }
}

void lv_cpu_relu_backward(lv_backend *be, float *din, const float *dout, const float *out, size_t n) {
    (void)be;
    if (!din) return;
    /* A select, not dout * mask: PyTorch's threshold_backward yields 0 where out <= 0 even if
     * dout is Inf/NaN, and a multiply would turn that into NaN. Written branch-free (it
     * vectorizes to a blend; an `if` mispredicts on mixed signs and measured ~10x slower). */
#pragma omp parallel for schedule(static) if (n >= RELU_OMP_MIN)
    for (size_t i = 0; i < n; i++) din[i] += out[i] > 0.0f ? dout[i] : 0.0f;
}
