/* grad_norm: CUDA twin of core/cpu/grad_norm.c: the sum of squares (for the global gradient
 * norm) with a non-finite flag, and an in-place scale. Two passes in double with a fixed
 * grid and fixed trees, never atomics, so the sum is bit-reproducible on one device. */
#include <math.h>

#include "cuda/cuda_backend.h"
#include "cuda/reduce.cuh"

#define SUMSQ_THREADS 256
#define SCALE_THREADS 256

/* Pass 1: one double partial per block. A float squared is exact in double, so the only
 * rounding is in the additions, whose order depends on n and the grid alone (the grid is
 * lv_cuda_blocks(n), fixed for a given device). */
static __global__ void sumsq_partial(double *part, const float *g, size_t n) {
    __shared__ double red[32];
    const size_t stride = (size_t)gridDim.x * blockDim.x;
    double acc = 0.0;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
        double v = g[i];
        acc += v * v;
    }
    acc = lv_block_sum(acc, red);
    if (threadIdx.x == 0) part[blockIdx.x] = acc;
}

/* Pass 2: one block adds the partials. In double no float square overflows (FLT_MAX^2 is
 * about 1e77), so the total is non-finite exactly when some element is NaN or +-Inf. */
static __global__ void sumsq_finish(float *out, int *nonfinite, const double *part, unsigned nparts) {
    __shared__ double red[32];
    double acc = 0.0;
    for (unsigned k = threadIdx.x; k < nparts; k += blockDim.x) acc += part[k];
    acc = lv_block_sum(acc, red);
    if (threadIdx.x == 0) {
        if (!isfinite(acc) && nonfinite) *nonfinite = 1;
        if (out) *out = (float)((double)*out + acc);
    }
}

static __global__ void scale_kernel(float *x, float s, size_t n) {
    const size_t stride = (size_t)gridDim.x * blockDim.x;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride)
        x[i] = __fmul_rn(x[i], s);
}

extern "C" void lv_cuda_grad_sumsq(lv_backend *be, float *out, int *nonfinite, const float *g, size_t n) {
    if (n == 0 || (!out && !nonfinite)) return; /* the CPU adds 0.0, which changes nothing */
    const unsigned nparts = lv_cuda_blocks(be, n, SUMSQ_THREADS);
    double *part = (double *)lv_cuda_workspace(be, (size_t)nparts * sizeof(double));
    if (!part) return; /* lv_cuda_workspace recorded the error */
    cudaStream_t stream = lv_cuda_stream(be);
    LV_LAUNCH(nparts, SUMSQ_THREADS, 0, stream, sumsq_partial)(part, g, n);
    LV_CUDA_LAUNCH_CHECK(be, "grad_sumsq partial");
    LV_LAUNCH(1, SUMSQ_THREADS, 0, stream, sumsq_finish)(out, nonfinite, part, nparts);
    LV_CUDA_LAUNCH_CHECK(be, "grad_sumsq finish");
}

extern "C" void lv_cuda_scale(lv_backend *be, float *x, float scale, size_t n) {
    if (n == 0) return;
    LV_LAUNCH(lv_cuda_blocks(be, n, SCALE_THREADS), SCALE_THREADS, 0, lv_cuda_stream(be), scale_kernel)(x, scale, n);
    LV_CUDA_LAUNCH_CHECK(be, "scale");
}
