/* masked_mean_pool: CUDA twin of core/cpu/masked_mean_pool.c (sentence-transformers mean
 * pooling; CLS pooling when the mask keeps token 0 only). One thread per (sequence, column)
 * walks the tokens in order, so no reduction across threads and no atomics are needed. */
#include "cuda/cuda_backend.h"

#define MMP_THREADS 256

static __device__ int kept_tokens(const int *mask, int bi, int t) {
    int n = 0;
    for (int j = 0; j < t; j++) n += mask[(size_t)bi * t + j] != 0;
    return n;
}

/* out [b,c] = sum of kept in[b,t,:] / max(count, 1): an all-padding row gives 0. The double
 * sum in token order is the CPU's, so the twins agree to the last bit or nearly. */
static __global__ void mmp_forward_kernel(float *out, const float *in, const int *mask, int b, int t,
                                          int c) {
    const size_t total = (size_t)b * c;
    for (size_t idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x; idx < total;
         idx += (size_t)gridDim.x * blockDim.x) {
        const int bi = (int)(idx / c), k = (int)(idx % c);
        const int n = kept_tokens(mask, bi, t);
        const double inv = 1.0 / (double)(n > 0 ? n : 1);
        double s = 0;
        for (int j = 0; j < t; j++)
            if (mask[(size_t)bi * t + j]) s += in[((size_t)bi * t + j) * c + k];
        out[idx] = (float)(s * inv);
    }
}

/* din [b,t,c] += dout[b,:] / count at every kept token; divided in float, as autograd does. */
static __global__ void mmp_backward_kernel(float *din, const float *dout, const int *mask, int b,
                                           int t, int c) {
    const size_t total = (size_t)b * c;
    for (size_t idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x; idx < total;
         idx += (size_t)gridDim.x * blockDim.x) {
        const int bi = (int)(idx / c), k = (int)(idx % c);
        const int n = kept_tokens(mask, bi, t);
        if (n == 0) continue;
        const float g = dout[idx] / (float)n;
        for (int j = 0; j < t; j++)
            if (mask[(size_t)bi * t + j]) din[((size_t)bi * t + j) * c + k] += g;
    }
}

extern "C" void lv_cuda_masked_mean_pool_forward(lv_backend *be, float *out, const float *in,
                                                 const int *mask, int b, int t, int c) {
    if (b <= 0 || c <= 0) return;
    if (t < 0) t = 0;
    const size_t total = (size_t)b * c;
    LV_LAUNCH(lv_cuda_blocks(be, total, MMP_THREADS), MMP_THREADS, 0, lv_cuda_stream(be), mmp_forward_kernel)(
        out, in, mask, b, t, c);
    LV_CUDA_LAUNCH_CHECK(be, "masked_mean_pool_forward");
}

extern "C" void lv_cuda_masked_mean_pool_backward(lv_backend *be, float *din, const float *dout,
                                                  const int *mask, int b, int t, int c) {
    if (!din || b <= 0 || t <= 0 || c <= 0) return;
    const size_t total = (size_t)b * c;
    LV_LAUNCH(lv_cuda_blocks(be, total, MMP_THREADS), MMP_THREADS, 0, lv_cuda_stream(be), mmp_backward_kernel)(
        din, dout, mask, b, t, c);
    LV_CUDA_LAUNCH_CHECK(be, "masked_mean_pool_backward");
}
