/* residual_add: CUDA twin of core/cpu/residual_add.c. out = a + b elementwise; the backward adds
 * dout into both branches. No broadcasting; elementwise only (grid-stride, float4 if aligned). */
#include <stdint.h>

#include "cuda/cuda_backend.h"

#define RESADD_THREADS 256

/* No __restrict__: out may be a or b (an in-place residual), which elementwise work allows. */
static __global__ void resadd_fwd(float *out, const float *a, const float *b, size_t n, int vec) {
    const size_t tid = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    const size_t stride = (size_t)gridDim.x * blockDim.x;
    size_t head = 0;
    if (vec) {
        const size_t n4 = n / 4;
        for (size_t i = tid; i < n4; i += stride) {
            const float4 x = reinterpret_cast<const float4 *>(a)[i];
            const float4 y = reinterpret_cast<const float4 *>(b)[i];
            reinterpret_cast<float4 *>(out)[i] = make_float4(x.x + y.x, x.y + y.y, x.z + y.z, x.w + y.w);
        }
        head = n4 * 4;
    }
    for (size_t i = head + tid; i < n; i += stride) out[i] = a[i] + b[i];
}

static __device__ __forceinline__ void add4(float4 *d, float4 g) {
    float4 v = *d;
    v.x += g.x, v.y += g.y, v.z += g.z, v.w += g.w;
    *d = v;
}

/* da/db may be NULL. dout is read again after da is written, so a caller passing da == dout
 * gets what the CPU twin's two loops give (db sees the updated values). */
static __global__ void resadd_bwd(float *da, float *db, const float *dout, size_t n, int vec) {
    const size_t tid = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    const size_t stride = (size_t)gridDim.x * blockDim.x;
    size_t head = 0;
    if (vec) {
        const size_t n4 = n / 4;
        const float4 *g = reinterpret_cast<const float4 *>(dout);
        for (size_t i = tid; i < n4; i += stride) {
            if (da) add4(reinterpret_cast<float4 *>(da) + i, g[i]);
            if (db) add4(reinterpret_cast<float4 *>(db) + i, g[i]);
        }
        head = n4 * 4;
    }
    for (size_t i = head + tid; i < n; i += stride) {
        if (da) da[i] += dout[i];
        if (db) db[i] += dout[i];
    }
}

static int resadd_aligned16(const void *p) { return p == NULL || ((uintptr_t)p & 15u) == 0; }

extern "C" void lv_cuda_residual_add_forward(lv_backend *be, float *out, const float *a, const float *b,
                                             size_t n) {
    if (n == 0) return;
    const int vec = resadd_aligned16(out) && resadd_aligned16(a) && resadd_aligned16(b);
    const unsigned blocks = lv_cuda_blocks(be, vec ? n / 4 + 1 : n, RESADD_THREADS);
    LV_LAUNCH(blocks, RESADD_THREADS, 0, lv_cuda_stream(be), resadd_fwd)(out, a, b, n, vec);
    LV_CUDA_LAUNCH_CHECK(be, "residual_add_forward");
}

extern "C" void lv_cuda_residual_add_backward(lv_backend *be, float *da, float *db, const float *dout,
                                              size_t n) {
    if ((!da && !db) || n == 0) return;
    const int vec = resadd_aligned16(da) && resadd_aligned16(db) && resadd_aligned16(dout);
    const unsigned blocks = lv_cuda_blocks(be, vec ? n / 4 + 1 : n, RESADD_THREADS);
    LV_LAUNCH(blocks, RESADD_THREADS, 0, lv_cuda_stream(be), resadd_bwd)(da, db, dout, n, vec);
    LV_CUDA_LAUNCH_CHECK(be, "residual_add_backward");
}
