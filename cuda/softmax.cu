/* softmax: CUDA twin of core/cpu/softmax.c over the last dim of [rows,cols]. One warp per
 * row: max first (no overflow), then a double sum in a fixed butterfly, so a row gives the
 * same bits on every run; backward reads only the saved output, never the input. */
#include "cuda/cuda_backend.h"
#include "cuda/reduce.cuh"

#define SM_THREADS 128 /* 4 rows per block */

/* Safe in place (out == in): each lane rewrites only the entries it alone reads. */
static __global__ void softmax_forward_kernel(float *out, const float *in, int rows, int cols) {
    const int lane = threadIdx.x & 31;
    const int warps = gridDim.x * (blockDim.x >> 5);
    for (int r = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5); r < rows; r += warps) {
        const float *x = in + (size_t)r * cols;
        float *y = out + (size_t)r * cols;
        float mx = -INFINITY;
        for (int j = lane; j < cols; j += 32) mx = x[j] > mx ? x[j] : mx;
        mx = lv_warp_max_f(mx);
        double sum = 0;
        for (int j = lane; j < cols; j += 32) sum += (double)expf(x[j] - mx);
        const double inv = 1.0 / lv_warp_sum(sum);
        for (int j = lane; j < cols; j += 32) y[j] = (float)((double)expf(x[j] - mx) * inv);
    }
}

/* din += out * (dout - sum_j dout_j * out_j) */
static __global__ void softmax_backward_kernel(float *din, const float *dout, const float *out,
                                               int rows, int cols) {
    const int lane = threadIdx.x & 31;
    const int warps = gridDim.x * (blockDim.x >> 5);
    for (int r = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5); r < rows; r += warps) {
        const float *y = out + (size_t)r * cols;
        const float *dy = dout + (size_t)r * cols;
        float *dx = din + (size_t)r * cols;
        double dot = 0;
        for (int j = lane; j < cols; j += 32) dot += (double)dy[j] * y[j];
        dot = lv_warp_sum(dot);
        for (int j = lane; j < cols; j += 32) dx[j] += (float)(y[j] * ((double)dy[j] - dot));
    }
}

extern "C" void lv_cuda_softmax_forward(lv_backend *be, float *out, const float *in, int rows, int cols) {
    if (rows <= 0 || cols <= 0) return;
    LV_LAUNCH(lv_cuda_blocks(be, (size_t)rows, SM_THREADS / 32), SM_THREADS, 0,
                             lv_cuda_stream(be), softmax_forward_kernel)(out, in, rows, cols);
    LV_CUDA_LAUNCH_CHECK(be, "softmax_forward");
}

extern "C" void lv_cuda_softmax_backward(lv_backend *be, float *din, const float *dout, const float *out,
                                         int rows, int cols) {
    if (!din || rows <= 0 || cols <= 0) return;
    LV_LAUNCH(lv_cuda_blocks(be, (size_t)rows, SM_THREADS / 32), SM_THREADS, 0,
                              lv_cuda_stream(be), softmax_backward_kernel)(din, dout, out, rows, cols);
    LV_CUDA_LAUNCH_CHECK(be, "softmax_backward");
}
