/* avgpool: global average pool, CUDA twin of core/cpu/avgpool.c: in [n,c,hw] -> out [n,c] (not a
 * windowed pool). Plane sums in double like the CPU twin, in a fixed warp tree: no atomics. */
#include "cuda/cuda_backend.h"
#include "cuda/reduce.cuh"

#define AVG_THREADS 256

/* One warp per plane (grid-stride over planes). */
static __global__ void avgpool_fwd(float *out, const float *in, size_t planes, int hw) {
    const size_t warps = ((size_t)gridDim.x * blockDim.x) >> 5;
    const int lane = threadIdx.x & 31;
    for (size_t p = (blockIdx.x * (size_t)blockDim.x + threadIdx.x) >> 5; p < planes; p += warps) {
        const float *x = in + p * (size_t)hw;
        double s = 0.0;
        for (int i = lane; i < hw; i += 32) s += (double)x[i];
        s = lv_warp_sum_down(s);
        if (lane == 0) out[p] = (float)(s / hw);
    }
}

/* din[p, i] += dout[p] / hw, divided in float like the CPU twin (and PyTorch's backward). */
template <typename I>
static __global__ void avgpool_bwd(float *din, const float *dout, I total, I hw) {
    const I step = (I)gridDim.x * blockDim.x;
    const float fhw = (float)hw;
    for (I e = (I)blockIdx.x * blockDim.x + threadIdx.x; e < total; e += step)
        din[e] += dout[e / hw] / fhw;
}

extern "C" void lv_cuda_avgpool_forward(lv_backend *be, float *out, const float *in, int n, int c, int hw) {
    if (n <= 0 || c <= 0 || hw <= 0) {
        lv_backend_fail(be, LV_ERR_RUNTIME, "avgpool_forward: bad shape n=%d c=%d hw=%d", n, c, hw);
        return;
    }
    const size_t planes = (size_t)n * c;
    /* the whole grid is a whole number of warps, so every warp's loop bound is uniform */
    LV_LAUNCH(lv_cuda_blocks(be, planes * 32, AVG_THREADS), AVG_THREADS, 0, lv_cuda_stream(be), avgpool_fwd)(
        out, in, planes, hw);
    LV_CUDA_LAUNCH_CHECK(be, "avgpool_forward");
}

extern "C" void lv_cuda_avgpool_backward(lv_backend *be, float *din, const float *dout, int n, int c, int hw) {
    if (!din) return;
    if (n <= 0 || c <= 0 || hw <= 0) {
        lv_backend_fail(be, LV_ERR_RUNTIME, "avgpool_backward: bad shape n=%d c=%d hw=%d", n, c, hw);
        return;
    }
    const size_t total = (size_t)n * c * hw;
    const unsigned blocks = lv_cuda_blocks(be, total, AVG_THREADS);
    cudaStream_t st = lv_cuda_stream(be);
    /* 32-bit indices only with headroom: an index plus the grid stride must not wrap. */
    if (total <= 0x7fffffffu)
        LV_LAUNCH(blocks, AVG_THREADS, 0, st, avgpool_bwd<unsigned>)(din, dout, (unsigned)total, (unsigned)hw);
    else
        LV_LAUNCH(blocks, AVG_THREADS, 0, st, avgpool_bwd<size_t>)(din, dout, total, (size_t)hw);
    LV_CUDA_LAUNCH_CHECK(be, "avgpool_backward");
}
