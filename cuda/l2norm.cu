/* l2norm: CUDA twin of core/cpu/l2norm.c, F.normalize(x, p=2, dim=-1, eps) on rows, a block
 * per row. Saves the UNclamped norm; the backward compares it with eps itself, so it must get
 * the forward's eps. Sums in double in a fixed tree (no atomics): bit-reproducible. */
#include <math.h>

#include "cuda/cuda_backend.h"
#include "cuda/reduce.cuh"

#define L2_THREADS 256

/* Works in place (out == in): each thread reads x[t] before writing out[t], and the sum is
 * complete (a block barrier) before any write. */
static __global__ void l2norm_fwd(float *out, float *norm, const float *in, int rows, int dim, float eps) {
    __shared__ double red[32];
    for (int r = blockIdx.x; r < rows; r += gridDim.x) {
        const float *x = in + (size_t)r * dim;
        float *o = out + (size_t)r * dim;
        double ss = 0.0;
        for (int t = threadIdx.x; t < dim; t += blockDim.x) ss += (double)x[t] * x[t];
        ss = lv_block_sum(ss, red);
        const float nrm = (float)sqrt(ss);
        /* A comparison, not fmaxf: a NaN norm stays NaN, as torch's clamp_min. */
        const float den = nrm < eps ? eps : nrm;
        if (norm && threadIdx.x == 0) norm[r] = nrm;
        /* Divide (not multiply by a reciprocal) to round exactly as torch's x / denom. */
        for (int t = threadIdx.x; t < dim; t += blockDim.x) o[t] = __fdiv_rn(x[t], den);
    }
}

/* With d = max(n, eps): din += dout/d - [n >= eps] x (dout.x) / (d^2 n); clamp_min's
 * backward cuts the path through the norm while the clamp is active. */
static __global__ void l2norm_bwd(float *din, const float *dout, const float *in, const float *norm,
                                  int rows, int dim, float eps) {
    __shared__ double red[32];
    for (int r = blockIdx.x; r < rows; r += gridDim.x) {
        const float *x = in + (size_t)r * dim;
        const float *g = dout + (size_t)r * dim;
        float *dx = din + (size_t)r * dim;
        const double n = norm[r];
        const int through_norm = n >= (double)eps;
        const double den = through_norm ? n : (double)eps;
        double dot = 0.0;
        for (int t = threadIdx.x; t < dim; t += blockDim.x) dot += (double)g[t] * x[t];
        dot = lv_block_sum(dot, red);
        const double k = (through_norm && n > 0.0) ? dot / (den * den * n) : 0.0;
        for (int t = threadIdx.x; t < dim; t += blockDim.x)
            dx[t] += (float)((double)g[t] / den - k * (double)x[t]);
    }
}

extern "C" void lv_cuda_l2norm_forward(lv_backend *be, float *out, float *norm, const float *in,
                                       int rows, int dim, float eps) {
    if (rows <= 0 || dim <= 0) return;
    LV_LAUNCH(lv_cuda_blocks(be, (size_t)rows, 1), L2_THREADS, 0, lv_cuda_stream(be), l2norm_fwd)(
        out, norm, in, rows, dim, eps);
    LV_CUDA_LAUNCH_CHECK(be, "l2norm_forward");
}

extern "C" void lv_cuda_l2norm_backward(lv_backend *be, float *din, const float *dout,
                                        const float *in, const float *norm, int rows, int dim,
                                        float eps) {
    if (!din || rows <= 0 || dim <= 0) return;
    LV_LAUNCH(lv_cuda_blocks(be, (size_t)rows, 1), L2_THREADS, 0, lv_cuda_stream(be), l2norm_bwd)(
        din, dout, in, norm, rows, dim, eps);
    LV_CUDA_LAUNCH_CHECK(be, "l2norm_backward");
}
