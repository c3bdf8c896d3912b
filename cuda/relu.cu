/* relu: CUDA twin of core/cpu/relu.c. Elementwise only (grid-stride, float4 where aligned); the
 * backward reads the forward OUTPUT, so the forward may run in place (out == in). */
#include <stdint.h>

#include "cuda/cuda_backend.h"

#define RELU_THREADS 256

/* torch.relu keeps NaN (clamp_min semantics), as the CPU twin does. */
static __device__ __forceinline__ float relu1(float x) { return (x > 0.0f || x != x) ? x : 0.0f; }

/* A select rather than dout * mask: where out <= 0 the gradient is 0 even for Inf/NaN dout
 * (PyTorch's threshold_backward). */
static __device__ __forceinline__ float relu_grad(float dx, float dy, float y) {
    return dx + (y > 0.0f ? dy : 0.0f);
}

/* vec: the first n/4*4 elements go as float4 (all pointers 16-byte aligned), the < 4 left
 * over one by one; otherwise everything one by one. */
static __global__ void relu_fwd(float *out, const float *in, size_t n, int vec) {
    const size_t tid = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    const size_t stride = (size_t)gridDim.x * blockDim.x;
    size_t head = 0;
    if (vec) {
        const size_t n4 = n / 4;
        for (size_t i = tid; i < n4; i += stride) {
            float4 v = reinterpret_cast<const float4 *>(in)[i];
            v.x = relu1(v.x), v.y = relu1(v.y), v.z = relu1(v.z), v.w = relu1(v.w);
            reinterpret_cast<float4 *>(out)[i] = v;
        }
        head = n4 * 4;
    }
    for (size_t i = head + tid; i < n; i += stride) out[i] = relu1(in[i]);
}

static __global__ void relu_bwd(float *din, const float *dout, const float *out, size_t n, int vec) {
    const size_t tid = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    const size_t stride = (size_t)gridDim.x * blockDim.x;
    size_t head = 0;
    if (vec) {
        const size_t n4 = n / 4;
        for (size_t i = tid; i < n4; i += stride) {
            float4 d = reinterpret_cast<const float4 *>(din)[i];
            const float4 g = reinterpret_cast<const float4 *>(dout)[i];
            const float4 y = reinterpret_cast<const float4 *>(out)[i];
            d.x = relu_grad(d.x, g.x, y.x), d.y = relu_grad(d.y, g.y, y.y);
            d.z = relu_grad(d.z, g.z, y.z), d.w = relu_grad(d.w, g.w, y.w);
            reinterpret_cast<float4 *>(din)[i] = d;
        }
        head = n4 * 4;
    }
    for (size_t i = head + tid; i < n; i += stride) din[i] = relu_grad(din[i], dout[i], out[i]);
}

static int relu_aligned16(const void *p) { return ((uintptr_t)p & 15u) == 0; }

extern "C" void lv_cuda_relu_forward(lv_backend *be, float *out, const float *in, size_t n) {
    if (n == 0) return;
    const int vec = relu_aligned16(out) && relu_aligned16(in);
    const unsigned blocks = lv_cuda_blocks(be, vec ? n / 4 + 1 : n, RELU_THREADS);
    LV_LAUNCH(blocks, RELU_THREADS, 0, lv_cuda_stream(be), relu_fwd)(out, in, n, vec);
    LV_CUDA_LAUNCH_CHECK(be, "relu_forward");
}

extern "C" void lv_cuda_relu_backward(lv_backend *be, float *din, const float *dout, const float *out,
                                      size_t n) {
    if (!din || n == 0) return;
    const int vec = relu_aligned16(din) && relu_aligned16(dout) && relu_aligned16(out);
    const unsigned blocks = lv_cuda_blocks(be, vec ? n / 4 + 1 : n, RELU_THREADS);
    LV_LAUNCH(blocks, RELU_THREADS, 0, lv_cuda_stream(be), relu_bwd)(din, dout, out, n, vec);
    LV_CUDA_LAUNCH_CHECK(be, "relu_backward");
}
