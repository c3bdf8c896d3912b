/* gelu: CUDA twin of core/cpu/gelu.c, the exact (erf) GELU of torch and HF BERT "gelu".
 * Elementwise grid-stride loops in fp32 with erfcf/expf (library functions, not fast-math
 * intrinsics); must not become the tanh approximation, which pretrained BERT was not.
 * Phi(x) = erfc(-x/sqrt2)/2 is the same erf form as 1 + erf(x/sqrt2) without its float
 * cancellation for negative x, so the tail stays close to the CPU's double result. */
#include "cuda/cuda_backend.h"

#define GELU_THREADS 256
#define GELU_INV_SQRT2 0.70710678118654752440f   /* 1/sqrt(2) */
#define GELU_INV_SQRT2PI 0.39894228040143267794f /* 1/sqrt(2*pi) */

static __global__ void gelu_forward_kernel(float *out, const float *in, size_t n) {
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        float x = in[i];
        out[i] = 0.5f * x * erfcf(-x * GELU_INV_SQRT2);
    }
}

/* d gelu/dx = Phi(x) + x * phi(x). */
static __global__ void gelu_backward_kernel(float *din, const float *dout, const float *in, size_t n) {
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        float x = in[i];
        float cdf = 0.5f * erfcf(-x * GELU_INV_SQRT2);
        float pdf = GELU_INV_SQRT2PI * expf(-0.5f * x * x);
        din[i] += dout[i] * (cdf + x * pdf);
    }
}

extern "C" void lv_cuda_gelu_forward(lv_backend *be, float *out, const float *in, size_t n) {
    if (n == 0) return;
    LV_LAUNCH(lv_cuda_blocks(be, n, GELU_THREADS), GELU_THREADS, 0, lv_cuda_stream(be), gelu_forward_kernel)(
        out, in, n);
    LV_CUDA_LAUNCH_CHECK(be, "gelu_forward");
}

extern "C" void lv_cuda_gelu_backward(lv_backend *be, float *din, const float *dout, const float *in,
                                      size_t n) {
    if (!din || n == 0) return;
    LV_LAUNCH(lv_cuda_blocks(be, n, GELU_THREADS), GELU_THREADS, 0, lv_cuda_stream(be), gelu_backward_kernel)(
        din, dout, in, n);
    LV_CUDA_LAUNCH_CHECK(be, "gelu_backward");
}
