/* batchnorm2d: CUDA twin of core/cpu/batchnorm2d.c (torch.nn.BatchNorm2d over [n,c,hw]).
 * Own kernels rather than cuDNN, so the statistics are summed in double like the CPU twin and
 * every run is bit-identical: fixed per-channel splits, fixed-order trees, no float atomics. */
#include <stdint.h>

#include "cuda/cuda_backend.h"
#include "cuda/reduce.cuh"

#define BN_THREADS 256
/* Units (floats, or float4s on the vector path) one reduction block covers: small enough that
 * the 64-channel stem at 224 px (n*hw = 32*112*112 per channel) spreads over thousands of
 * blocks, large enough that the partials stay a rounding error of the traffic. The split
 * count depends on the shape only, so the summation order does not change between devices. */
#define BN_CHUNK 1024
#define BN_MAX_SPLITS 4096
#define BN_FINISH_THREADS 128 /* one warp per channel */

template <int V> struct bn_vec;
template <> struct bn_vec<1> {
    static __device__ __forceinline__ void load(const float *p, float *v) { v[0] = *p; }
    static __device__ __forceinline__ void store(float *p, const float *v) { *p = v[0]; }
};
template <> struct bn_vec<4> {
    static __device__ __forceinline__ void load(const float *p, float *v) {
        float4 t = *reinterpret_cast<const float4 *>(p);
        v[0] = t.x, v[1] = t.y, v[2] = t.z, v[3] = t.w;
    }
    static __device__ __forceinline__ void store(float *p, const float *v) {
        *reinterpret_cast<float4 *>(p) = make_float4(v[0], v[1], v[2], v[3]);
    }
};

/* Walks units [j, hi) of one channel in steps of `step` without a division per step: unit j
 * lies in sample j / hwv at unit offset j % hwv, and a step moves q samples and r units. */
struct bn_walk {
    long long j, hi, sample;
    int i, q, r, hwv, step;
    __device__ bn_walk(long long j0, long long hi_, int hwv_, int step_)
        : j(j0), hi(hi_), sample(j0 / hwv_), i((int)(j0 % hwv_)), q(step_ / hwv_), r(step_ % hwv_),
          hwv(hwv_), step(step_) {}
    __device__ bool ok() const { return j < hi; }
    /* float offset of the current unit in [n, C, hw] */
    __device__ size_t at(int C, int c, int hw, int V) const {
        return ((size_t)sample * C + c) * (size_t)hw + (size_t)i * V;
    }
    __device__ void next() {
        j += step;
        i += r;
        sample += q;
        if (i >= hwv) {
            i -= hwv;
            sample++;
        }
    }
};

/* Pass 1 of training statistics, block (c, split): sums of d and d^2 in double with
 * d = x - x[0 of channel c]. The shift makes one pass as exact as the CPU's two (the
 * cancellation in S2 - S1^2/N is of order (mean - shift)^2 / var, and the shift is a sample
 * of the channel), which saves a full read of the activations. */
template <int V>
static __global__ void bn_stats_partial(double *part, const float *in, int C, int hw, long long m,
                                        long long chunk) {
    double *sh = lv_block_scratch();
    const int c = blockIdx.x, sp = blockIdx.y;
    const double shift = in[(size_t)c * hw];
    const long long lo = (long long)sp * chunk, hi = lo + chunk < m ? lo + chunk : m;
    double s1 = 0.0, s2 = 0.0;
    for (bn_walk w(lo + threadIdx.x, hi, hw / V, blockDim.x); w.ok(); w.next()) {
        float v[V];
        bn_vec<V>::load(in + w.at(C, c, hw, V), v);
#pragma unroll
        for (int k = 0; k < V; k++) {
            double d = (double)v[k] - shift;
            s1 += d;
            s2 += d * d;
        }
    }
    s1 = lv_block_sum0(s1, sh);
    s2 = lv_block_sum0(s2, sh);
    if (threadIdx.x == 0) {
        size_t o = ((size_t)c * gridDim.y + sp) * 2;
        part[o] = s1;
        part[o + 1] = s2;
    }
}

/* Pass 2, one warp per channel: batch mean/invstd, the saved statistics and running update
 * (NULL pointers skip them) and the folded affine out = x * scale + shift, all in double as
 * the CPU twin does. */
static __global__ void bn_stats_finish(float *scale, float *shift_out, float *save_mean,
                                       float *save_invstd, float *running_mean, float *running_var,
                                       const double *part, int splits, const float *in,
                                       const float *gamma, const float *beta, int C, int hw,
                                       double count, double eps, double momentum) {
    const int c = (int)((blockIdx.x * (size_t)blockDim.x + threadIdx.x) >> 5), lane = threadIdx.x & 31;
    if (c >= C) return; /* whole warps leave together: c is the same across a warp */
    double s1 = 0.0, s2 = 0.0;
    for (int k = lane; k < splits; k += 32) {
        s1 += part[((size_t)c * splits + k) * 2];
        s2 += part[((size_t)c * splits + k) * 2 + 1];
    }
    s1 = lv_warp_sum_down(s1);
    s2 = lv_warp_sum_down(s2);
    if (lane != 0) return;
    const double dmean = s1 / count;
    const double mean = (double)in[(size_t)c * hw] + dmean;
    double sq = s2 - s1 * dmean; /* sum of (x - mean)^2 */
    if (sq < 0.0) sq = 0.0;
    const double invstd = 1.0 / sqrt(sq / count + eps);
    if (save_mean) save_mean[c] = (float)mean;
    if (save_invstd) save_invstd[c] = (float)invstd;
    if (running_mean && running_var) {
        double unbiased = count > 1.0 ? sq / (count - 1.0) : sq;
        running_mean[c] = (float)((1.0 - momentum) * running_mean[c] + momentum * mean);
        running_var[c] = (float)((1.0 - momentum) * running_var[c] + momentum * unbiased);
    }
    const double g = gamma ? gamma[c] : 1.0, b = beta ? beta[c] : 0.0;
    const double sc = g * invstd;
    scale[c] = (float)sc;
    shift_out[c] = (float)(b - mean * sc);
}

/* Eval with running statistics: the same folded affine from running_mean/var. */
static __global__ void bn_eval_coef(float *scale, float *shift_out, const float *running_mean,
                                    const float *running_var, const float *gamma, const float *beta,
                                    int C, double eps) {
    const int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= C) return;
    const double mean = running_mean[c];
    const double invstd = 1.0 / sqrt((double)running_var[c] + eps);
    const double g = gamma ? gamma[c] : 1.0, b = beta ? beta[c] : 0.0;
    const double sc = g * invstd;
    scale[c] = (float)sc;
    shift_out[c] = (float)(b - mean * sc);
}

/* out = in * scale[c] + shift[c]; I is the index type (32-bit where the tensor allows, since
 * the per-unit channel lookup is a division). out may alias in. */
template <int V, typename I>
static __global__ void bn_apply(float *out, const float *in, const float *scale,
                                const float *shift, I units, I hwv, I C) {
    const I stride = (I)gridDim.x * blockDim.x;
    for (I u = (I)blockIdx.x * blockDim.x + threadIdx.x; u < units; u += stride) {
        const I c = (u / hwv) % C;
        const float a = scale[c], b = shift[c];
        float v[V];
        bn_vec<V>::load(in + (size_t)u * V, v);
#pragma unroll
        for (int k = 0; k < V; k++) v[k] = v[k] * a + b;
        bn_vec<V>::store(out + (size_t)u * V, v);
    }
}

/* Backward pass 1, block (c, split): sum(dy) and sum(dy * (x - mean)) in double. */
template <int V>
static __global__ void bn_bwd_partial(double *part, const float *dout, const float *in,
                                      const float *save_mean, int C, int hw, long long m,
                                      long long chunk) {
    double *sh = lv_block_scratch();
    const int c = blockIdx.x, sp = blockIdx.y;
    const double mean = save_mean[c];
    const long long lo = (long long)sp * chunk, hi = lo + chunk < m ? lo + chunk : m;
    double sdy = 0.0, sdyx = 0.0;
    for (bn_walk w(lo + threadIdx.x, hi, hw / V, blockDim.x); w.ok(); w.next()) {
        const size_t off = w.at(C, c, hw, V);
        float dy[V], x[V];
        bn_vec<V>::load(dout + off, dy);
        bn_vec<V>::load(in + off, x);
#pragma unroll
        for (int k = 0; k < V; k++) {
            sdy += (double)dy[k];
            sdyx += (double)dy[k] * ((double)x[k] - mean);
        }
    }
    sdy = lv_block_sum0(sdy, sh);
    sdyx = lv_block_sum0(sdyx, sh);
    if (threadIdx.x == 0) {
        size_t o = ((size_t)c * gridDim.y + sp) * 2;
        part[o] = sdy;
        part[o + 1] = sdyx;
    }
}

/* Backward pass 2, one warp per channel: dbeta/dgamma += the sums, and the din coefficients
 * coef[4c..4c+3] = {k, a, bcoef, mean} exactly as the CPU twin folds them. */
static __global__ void bn_bwd_finish(float *coef, float *dgamma, float *dbeta, const double *part,
                                     int splits, const float *gamma, const float *save_mean,
                                     const float *save_invstd, int C, double count) {
    const int c = (int)((blockIdx.x * (size_t)blockDim.x + threadIdx.x) >> 5), lane = threadIdx.x & 31;
    if (c >= C) return;
    double sdy = 0.0, sdyx = 0.0;
    for (int k = lane; k < splits; k += 32) {
        sdy += part[((size_t)c * splits + k) * 2];
        sdyx += part[((size_t)c * splits + k) * 2 + 1];
    }
    sdy = lv_warp_sum_down(sdy);
    sdyx = lv_warp_sum_down(sdyx);
    if (lane != 0) return;
    const double invstd = save_invstd[c];
    const double sdy_xhat = sdyx * invstd;
    if (dbeta) dbeta[c] += (float)sdy;
    if (dgamma) dgamma[c] += (float)sdy_xhat;
    const double g = gamma ? gamma[c] : 1.0;
    coef[4 * (size_t)c] = (float)(g * invstd);
    coef[4 * (size_t)c + 1] = (float)(sdy / count);
    coef[4 * (size_t)c + 2] = (float)(sdy_xhat * invstd / count);
    coef[4 * (size_t)c + 3] = save_mean[c];
}

/* din += k * (dy - a - (x - mean) * bcoef). din may alias dout (each unit is read, then
 * written, by one thread). */
template <int V, typename I>
static __global__ void bn_bwd_apply(float *din, const float *dout, const float *in,
                                    const float *coef, I units, I hwv, I C) {
    const I stride = (I)gridDim.x * blockDim.x;
    for (I u = (I)blockIdx.x * blockDim.x + threadIdx.x; u < units; u += stride) {
        const I c = (u / hwv) % C;
        const float k = coef[4 * (size_t)c], a = coef[4 * (size_t)c + 1];
        const float bc = coef[4 * (size_t)c + 2], mu = coef[4 * (size_t)c + 3];
        float dx[V], dy[V], x[V];
        bn_vec<V>::load(din + (size_t)u * V, dx);
        bn_vec<V>::load(dout + (size_t)u * V, dy);
        bn_vec<V>::load(in + (size_t)u * V, x);
#pragma unroll
        for (int j = 0; j < V; j++) dx[j] += k * (dy[j] - a - (x[j] - mu) * bc);
        bn_vec<V>::store(din + (size_t)u * V, dx);
    }
}

static int bn_aligned16(const void *p) { return p == NULL || ((uintptr_t)p & 15u) == 0; }

/* The partition of one channel's n*hw values into reduction blocks. */
typedef struct bn_plan {
    int vec;          /* 4: float4 units (hw % 4 == 0, pointers 16-byte aligned), else 1 */
    long long m;      /* units per channel */
    long long chunk;  /* units per block */
    int splits;       /* blocks per channel */
    size_t total;     /* units in the whole tensor */
} bn_plan;

static bn_plan bn_make_plan(const lv_bn_shape *s, int vec_ok) {
    bn_plan p;
    p.vec = (vec_ok && s->hw % 4 == 0) ? 4 : 1;
    p.m = (long long)s->n * s->hw / p.vec;
    long long splits = (p.m + BN_CHUNK - 1) / BN_CHUNK;
    if (splits > BN_MAX_SPLITS) splits = BN_MAX_SPLITS;
    if (splits < 1) splits = 1;
    p.chunk = (p.m + splits - 1) / splits;
    p.splits = (int)((p.m + p.chunk - 1) / p.chunk); /* no empty trailing block */
    p.total = (size_t)s->n * s->c * s->hw / p.vec;
    return p;
}

/* Workspace: partials [c][splits][2] doubles, then 4*c floats of per-channel coefficients. */
static double *bn_workspace(lv_backend *be, const lv_bn_shape *s, const bn_plan *p, float **coef) {
    size_t part_bytes = (size_t)s->c * p->splits * 2 * sizeof(double);
    char *ws = (char *)lv_cuda_workspace(be, part_bytes + (size_t)s->c * 4 * sizeof(float));
    if (ws == NULL) return NULL;
    *coef = (float *)(ws + part_bytes);
    return (double *)ws;
}

static void bn_launch_apply(lv_backend *be, float *out, const float *in, const float *scale,
                            const float *shift, const lv_bn_shape *s, const bn_plan *p) {
    cudaStream_t st = lv_cuda_stream(be);
    unsigned blocks = lv_cuda_blocks(be, p->total, BN_THREADS);
    int hwv = s->hw / p->vec;
    /* 32-bit indices only with headroom: u + the grid stride must not wrap. */
    if (p->total <= 0x7fffffffu) {
        unsigned t = (unsigned)p->total, h = (unsigned)hwv, c = (unsigned)s->c;
        if (p->vec == 4) LV_LAUNCH(blocks, BN_THREADS, 0, st, bn_apply<4, unsigned>)(out, in, scale, shift, t, h, c);
        else LV_LAUNCH(blocks, BN_THREADS, 0, st, bn_apply<1, unsigned>)(out, in, scale, shift, t, h, c);
    } else {
        size_t t = p->total, h = (size_t)hwv, c = (size_t)s->c;
        if (p->vec == 4) LV_LAUNCH(blocks, BN_THREADS, 0, st, bn_apply<4, size_t>)(out, in, scale, shift, t, h, c);
        else LV_LAUNCH(blocks, BN_THREADS, 0, st, bn_apply<1, size_t>)(out, in, scale, shift, t, h, c);
    }
    LV_CUDA_LAUNCH_CHECK(be, "batchnorm2d apply");
}

extern "C" void lv_cuda_batchnorm2d_forward(lv_backend *be, float *out, float *save_mean,
                                            float *save_invstd, float *running_mean,
                                            float *running_var, const float *in,
                                            const float *gamma, const float *beta,
                                            const lv_bn_shape *s, int training) {
    if (s->n <= 0 || s->c <= 0 || s->hw <= 0) {
        lv_backend_fail(be, LV_ERR_RUNTIME, "batchnorm2d_forward: bad shape n=%d c=%d hw=%d", s->n,
                        s->c, s->hw);
        return;
    }
    /* As PyTorch: without running statistics even eval normalises with the batch's own. */
    const int batch_stats = training || !running_mean || !running_var;
    const long long count = (long long)s->n * s->hw;
    if (batch_stats && training && count < 2) {
        lv_backend_fail(be, LV_ERR_RUNTIME,
                        "batchnorm2d_forward: training needs more than 1 value per channel "
                        "(n=%d hw=%d)", s->n, s->hw);
        return;
    }
    cudaStream_t st = lv_cuda_stream(be);
    bn_plan p = bn_make_plan(s, bn_aligned16(out) && bn_aligned16(in));
    float *coef = NULL;
    double *part = bn_workspace(be, s, &p, &coef);
    if (part == NULL) return;
    float *scale = coef, *shift = coef + s->c;
    const unsigned cblocks = (unsigned)(((size_t)s->c * 32 + BN_FINISH_THREADS - 1) / BN_FINISH_THREADS);
    if (batch_stats) {
        dim3 grid((unsigned)s->c, (unsigned)p.splits);
        if (p.vec == 4) LV_LAUNCH(grid, BN_THREADS, 0, st, bn_stats_partial<4>)(part, in, s->c, s->hw, p.m, p.chunk);
        else LV_LAUNCH(grid, BN_THREADS, 0, st, bn_stats_partial<1>)(part, in, s->c, s->hw, p.m, p.chunk);
        LV_CUDA_LAUNCH_CHECK(be, "batchnorm2d statistics");
        const int upd = training && running_mean && running_var;
        LV_LAUNCH(cblocks, BN_FINISH_THREADS, 0, st, bn_stats_finish)(
            scale, shift, training ? save_mean : NULL, training ? save_invstd : NULL,
            upd ? running_mean : NULL, upd ? running_var : NULL, part, p.splits, in, gamma, beta,
            s->c, s->hw, (double)count, (double)s->eps, (double)s->momentum);
        LV_CUDA_LAUNCH_CHECK(be, "batchnorm2d statistics finish");
    } else {
        LV_LAUNCH((unsigned)((s->c + 127) / 128), 128, 0, st, bn_eval_coef)(scale, shift, running_mean,
                                                                     running_var, gamma, beta,
                                                                     s->c, (double)s->eps);
        LV_CUDA_LAUNCH_CHECK(be, "batchnorm2d eval coefficients");
    }
    bn_launch_apply(be, out, in, scale, shift, s, &p);
}

extern "C" void lv_cuda_batchnorm2d_backward(lv_backend *be, float *din, float *dgamma, float *dbeta,
                                             const float *dout, const float *in, const float *gamma,
                                             const float *save_mean, const float *save_invstd,
                                             const lv_bn_shape *s) {
    if (s->n <= 0 || s->c <= 0 || s->hw <= 0) {
        lv_backend_fail(be, LV_ERR_RUNTIME, "batchnorm2d_backward: bad shape n=%d c=%d hw=%d",
                        s->n, s->c, s->hw);
        return;
    }
    if (!din && !dgamma && !dbeta) return;
    cudaStream_t st = lv_cuda_stream(be);
    bn_plan p = bn_make_plan(s, bn_aligned16(din) && bn_aligned16(dout) && bn_aligned16(in));
    float *coef = NULL;
    double *part = bn_workspace(be, s, &p, &coef);
    if (part == NULL) return;
    dim3 grid((unsigned)s->c, (unsigned)p.splits);
    if (p.vec == 4) LV_LAUNCH(grid, BN_THREADS, 0, st, bn_bwd_partial<4>)(part, dout, in, save_mean, s->c, s->hw, p.m, p.chunk);
    else LV_LAUNCH(grid, BN_THREADS, 0, st, bn_bwd_partial<1>)(part, dout, in, save_mean, s->c, s->hw, p.m, p.chunk);
    LV_CUDA_LAUNCH_CHECK(be, "batchnorm2d backward sums");
    const unsigned cblocks = (unsigned)(((size_t)s->c * 32 + BN_FINISH_THREADS - 1) / BN_FINISH_THREADS);
    LV_LAUNCH(cblocks, BN_FINISH_THREADS, 0, st, bn_bwd_finish)(coef, dgamma, dbeta, part, p.splits, gamma,
                                                         save_mean, save_invstd, s->c,
                                                         (double)((long long)s->n * s->hw));
    LV_CUDA_LAUNCH_CHECK(be, "batchnorm2d backward finish");
    if (!din) return;
    unsigned blocks = lv_cuda_blocks(be, p.total, BN_THREADS);
    int hwv = s->hw / p.vec;
    if (p.total <= 0x7fffffffu) {
        unsigned t = (unsigned)p.total, h = (unsigned)hwv, c = (unsigned)s->c;
        if (p.vec == 4) LV_LAUNCH(blocks, BN_THREADS, 0, st, bn_bwd_apply<4, unsigned>)(din, dout, in, coef, t, h, c);
        else LV_LAUNCH(blocks, BN_THREADS, 0, st, bn_bwd_apply<1, unsigned>)(din, dout, in, coef, t, h, c);
    } else {
        size_t t = p.total, h = (size_t)hwv, c = (size_t)s->c;
        if (p.vec == 4) LV_LAUNCH(blocks, BN_THREADS, 0, st, bn_bwd_apply<4, size_t>)(din, dout, in, coef, t, h, c);
        else LV_LAUNCH(blocks, BN_THREADS, 0, st, bn_bwd_apply<1, size_t>)(din, dout, in, coef, t, h, c);
    }
    LV_CUDA_LAUNCH_CHECK(be, "batchnorm2d backward din");
}
