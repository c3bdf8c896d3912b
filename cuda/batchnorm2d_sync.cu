/* batchnorm2d_sync: CUDA twin of core/cpu/batchnorm2d_sync.c, the halves of synchronized batch
 * norm around the caller's all-reduce (contract in core/ops.h). Per-channel sums in double,
 * fixed splits and fixed-order trees as in batchnorm2d.cu: deterministic, no float atomics. */
#include <math.h>
#include <stdint.h>

#include "cuda/cuda_backend.h"
#include "cuda/reduce.cuh"

#define SBN_THREADS 256
/* Same partition as batchnorm2d.cu: it depends on the shape only, so the summation order is
 * the same on every device and every rank. */
#define SBN_CHUNK 1024
#define SBN_MAX_SPLITS 4096
#define SBN_FINISH_THREADS 128 /* one warp per channel */

template <int V> struct sbn_vec;
template <> struct sbn_vec<1> {
    static __device__ __forceinline__ void load(const float *p, float *v) { v[0] = *p; }
    static __device__ __forceinline__ void store(float *p, const float *v) { *p = v[0]; }
};
template <> struct sbn_vec<4> {
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
struct sbn_walk {
    long long j, hi, sample;
    int i, q, r, hwv, step;
    __device__ sbn_walk(long long j0, long long hi_, int hwv_, int step_)
        : j(j0), hi(hi_), sample(j0 / hwv_), i((int)(j0 % hwv_)), q(step_ / hwv_), r(step_ % hwv_),
          hwv(hwv_), step(step_) {}
    __device__ bool ok() const { return j < hi; }
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

/* Block (c, split): sum of x, or of (x - center[c])^2 when center is given, in double. */
template <int V>
static __global__ void sbn_stats_partial(double *part, const float *in, const float *center, int C,
                                         int hw, long long m, long long chunk) {
    double *sh = lv_block_scratch();
    const int c = blockIdx.x, sp = blockIdx.y;
    const double ctr = center ? (double)center[c] : 0.0;
    const long long lo = (long long)sp * chunk, hi = lo + chunk < m ? lo + chunk : m;
    double acc = 0.0;
    for (sbn_walk w(lo + threadIdx.x, hi, hw / V, blockDim.x); w.ok(); w.next()) {
        float v[V];
        sbn_vec<V>::load(in + w.at(C, c, hw, V), v);
        if (center) {
#pragma unroll
            for (int k = 0; k < V; k++) {
                double d = (double)v[k] - ctr;
                acc += d * d;
            }
        } else {
#pragma unroll
            for (int k = 0; k < V; k++) acc += (double)v[k];
        }
    }
    acc = lv_block_sum0(acc, sh);
    if (threadIdx.x == 0) part[(size_t)c * gridDim.y + sp] = acc;
}

/* One warp per channel: acc[c] = the channel's total, overwritten. */
static __global__ void sbn_stats_finish(float *acc, const double *part, int splits, int C) {
    const int c = (int)((blockIdx.x * (size_t)blockDim.x + threadIdx.x) >> 5), lane = threadIdx.x & 31;
    if (c >= C) return; /* whole warps leave together */
    double s = 0.0;
    for (int k = lane; k < splits; k += 32) s += part[(size_t)c * splits + k];
    s = lv_warp_sum_down(s);
    if (lane == 0) acc[c] = (float)s;
}

/* Per channel: invstd from the global acc_sq / count, the saved invstd and the running update
 * (unbiased acc_sq / (count - 1), as batchnorm2d_forward), and the folded affine. */
static __global__ void sbn_fwd_coef(float *scale, float *shift, float *save_invstd,
                                    float *running_mean, float *running_var, const float *save_mean,
                                    const float *acc_sq, const float *gamma, const float *beta,
                                    int C, double count, double eps, double momentum) {
    const int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= C) return;
    const double mean = save_mean[c], sq = acc_sq[c];
    const double invstd = 1.0 / sqrt(sq / count + eps);
    if (save_invstd) save_invstd[c] = (float)invstd;
    if (running_mean && running_var) {
        /* PyTorch's SyncBatchNorm: the unbiased variance over the global count (>= 2). */
        running_mean[c] = (float)((1.0 - momentum) * running_mean[c] + momentum * mean);
        running_var[c] = (float)((1.0 - momentum) * running_var[c] + momentum * (sq / (count - 1.0)));
    }
    const double g = gamma ? gamma[c] : 1.0, b = beta ? beta[c] : 0.0;
    const double sc = g * invstd;
    scale[c] = (float)sc;
    shift[c] = (float)(b - mean * sc);
}

/* out = in * scale[c] + shift[c] (out may alias in). */
template <int V, typename I>
static __global__ void sbn_apply(float *out, const float *in, const float *scale,
                                 const float *shift, I units, I hwv, I C) {
    const I stride = (I)gridDim.x * blockDim.x;
    for (I u = (I)blockIdx.x * blockDim.x + threadIdx.x; u < units; u += stride) {
        const I c = (u / hwv) % C;
        const float a = scale[c], b = shift[c];
        float v[V];
        sbn_vec<V>::load(in + (size_t)u * V, v);
#pragma unroll
        for (int k = 0; k < V; k++) v[k] = v[k] * a + b;
        sbn_vec<V>::store(out + (size_t)u * V, v);
    }
}

/* Block (c, split): this rank's sum(dy) and sum(dy * (x - mean)) in double. */
template <int V>
static __global__ void sbn_bwd_partial(double *part, const float *dout, const float *in,
                                       const float *save_mean, int C, int hw, long long m,
                                       long long chunk) {
    double *sh = lv_block_scratch();
    const int c = blockIdx.x, sp = blockIdx.y;
    const double mean = save_mean[c];
    const long long lo = (long long)sp * chunk, hi = lo + chunk < m ? lo + chunk : m;
    double sdy = 0.0, sdyx = 0.0;
    for (sbn_walk w(lo + threadIdx.x, hi, hw / V, blockDim.x); w.ok(); w.next()) {
        const size_t off = w.at(C, c, hw, V);
        float dy[V], x[V];
        sbn_vec<V>::load(dout + off, dy);
        sbn_vec<V>::load(in + off, x);
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

/* One warp per channel over the local partials: {sum dy, sum dy * xhat} either into
 * acc[c], acc[C + c] (backward_stats; acc non-NULL) or added into dbeta/dgamma (backward). */
static __global__ void sbn_bwd_finish(float *acc, float *dgamma, float *dbeta, const double *part,
                                      int splits, const float *save_invstd, int C) {
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
    const double sdy_xhat = sdyx * (double)save_invstd[c];
    if (acc) {
        acc[c] = (float)sdy;
        acc[C + c] = (float)sdy_xhat;
    }
    if (dbeta) dbeta[c] += (float)sdy;
    if (dgamma) dgamma[c] += (float)sdy_xhat;
}

/* din coefficients from the global acc, folded as batchnorm2d's backward does:
 * coef[4c..4c+3] = {gamma*invstd, acc[c]/count, acc[C+c]*invstd/count, mean}. */
static __global__ void sbn_bwd_coef(float *coef, const float *acc, const float *gamma,
                                    const float *save_mean, const float *save_invstd, int C,
                                    double count) {
    const int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= C) return;
    const double invstd = save_invstd[c], g = gamma ? gamma[c] : 1.0;
    coef[4 * (size_t)c] = (float)(g * invstd);
    coef[4 * (size_t)c + 1] = (float)((double)acc[c] / count);
    coef[4 * (size_t)c + 2] = (float)((double)acc[C + c] * invstd / count);
    coef[4 * (size_t)c + 3] = save_mean[c];
}

/* din += k * (dy - a - (x - mean) * bcoef) (din may alias dout: one thread per unit). */
template <int V, typename I>
static __global__ void sbn_bwd_apply(float *din, const float *dout, const float *in,
                                     const float *coef, I units, I hwv, I C) {
    const I stride = (I)gridDim.x * blockDim.x;
    for (I u = (I)blockIdx.x * blockDim.x + threadIdx.x; u < units; u += stride) {
        const I c = (u / hwv) % C;
        const float k = coef[4 * (size_t)c], a = coef[4 * (size_t)c + 1];
        const float bc = coef[4 * (size_t)c + 2], mu = coef[4 * (size_t)c + 3];
        float dx[V], dy[V], x[V];
        sbn_vec<V>::load(din + (size_t)u * V, dx);
        sbn_vec<V>::load(dout + (size_t)u * V, dy);
        sbn_vec<V>::load(in + (size_t)u * V, x);
#pragma unroll
        for (int j = 0; j < V; j++) dx[j] += k * (dy[j] - a - (x[j] - mu) * bc);
        sbn_vec<V>::store(din + (size_t)u * V, dx);
    }
}

static int sbn_aligned16(const void *p) { return p == NULL || ((uintptr_t)p & 15u) == 0; }

typedef struct sbn_plan {
    int vec;         /* 4: float4 units (hw % 4 == 0, pointers 16-byte aligned), else 1 */
    long long m;     /* units per channel */
    long long chunk; /* units per reduction block */
    int splits;      /* reduction blocks per channel */
    size_t total;    /* units in the whole tensor */
} sbn_plan;

static sbn_plan sbn_make_plan(const lv_bn_shape *s, int vec_ok) {
    sbn_plan p;
    p.vec = (vec_ok && s->hw % 4 == 0) ? 4 : 1;
    p.m = (long long)s->n * s->hw / p.vec;
    long long splits = (p.m + SBN_CHUNK - 1) / SBN_CHUNK;
    if (splits > SBN_MAX_SPLITS) splits = SBN_MAX_SPLITS;
    if (splits < 1) splits = 1;
    p.chunk = (p.m + splits - 1) / splits;
    p.splits = (int)((p.m + p.chunk - 1) / p.chunk);
    p.total = (size_t)s->n * s->c * s->hw / p.vec;
    return p;
}

static int sbn_bad_shape(lv_backend *be, const char *op, const lv_bn_shape *s) {
    if (s->n > 0 && s->c > 0 && s->hw > 0) return 0;
    lv_backend_fail(be, LV_ERR_RUNTIME, "%s: bad shape n=%d c=%d hw=%d", op, s->n, s->c, s->hw);
    return 1;
}

/* As the CPU twin: the global count must cover at least this rank's values (and 2, for the
 * unbiased variance); anything else is a caller bug that would silently mis-normalise. */
static int sbn_bad_count(lv_backend *be, const char *op, double count, const lv_bn_shape *s) {
    if (isfinite(count) && count >= (double)s->n * (double)s->hw && count >= 2.0) return 0;
    lv_backend_fail(be, LV_ERR_RUNTIME,
                    "%s: global count %g per channel, expected at least %ld (n=%d hw=%d) and 2", op,
                    count, (long)s->n * s->hw, s->n, s->hw);
    return 1;
}

static unsigned sbn_warp_blocks(int C) {
    return (unsigned)(((size_t)C * 32 + SBN_FINISH_THREADS - 1) / SBN_FINISH_THREADS);
}

/* Launches the local backward sums into `part` (workspace: [c][splits][2] doubles); nonzero
 * (with the sticky error set) when the launch failed. */
static int sbn_launch_bwd_partial(lv_backend *be, double *part, const float *dout, const float *in,
                                  const float *save_mean, const lv_bn_shape *s, const sbn_plan *p) {
    dim3 grid((unsigned)s->c, (unsigned)p->splits);
    cudaStream_t st = lv_cuda_stream(be);
    if (p->vec == 4) LV_LAUNCH(grid, SBN_THREADS, 0, st, sbn_bwd_partial<4>)(part, dout, in, save_mean, s->c, s->hw, p->m, p->chunk);
    else LV_LAUNCH(grid, SBN_THREADS, 0, st, sbn_bwd_partial<1>)(part, dout, in, save_mean, s->c, s->hw, p->m, p->chunk);
    return lv_cuda_launch_check(be, "batchnorm2d_sync backward sums", __func__, __FILE__, __LINE__);
}

extern "C" void lv_cuda_batchnorm2d_sync_stats(lv_backend *be, float *acc, const float *in,
                                               const float *center, const lv_bn_shape *s) {
    if (sbn_bad_shape(be, "batchnorm2d_sync_stats", s)) return;
    cudaStream_t st = lv_cuda_stream(be);
    sbn_plan p = sbn_make_plan(s, sbn_aligned16(in));
    double *part = (double *)lv_cuda_workspace(be, (size_t)s->c * p.splits * sizeof(double));
    if (part == NULL) return;
    dim3 grid((unsigned)s->c, (unsigned)p.splits);
    if (p.vec == 4) LV_LAUNCH(grid, SBN_THREADS, 0, st, sbn_stats_partial<4>)(part, in, center, s->c, s->hw, p.m, p.chunk);
    else LV_LAUNCH(grid, SBN_THREADS, 0, st, sbn_stats_partial<1>)(part, in, center, s->c, s->hw, p.m, p.chunk);
    LV_CUDA_LAUNCH_CHECK(be, "batchnorm2d_sync_stats sums");
    LV_LAUNCH(sbn_warp_blocks(s->c), SBN_FINISH_THREADS, 0, st, sbn_stats_finish)(acc, part, p.splits, s->c);
    LV_CUDA_LAUNCH_CHECK(be, "batchnorm2d_sync_stats finish");
}

extern "C" void lv_cuda_batchnorm2d_sync_forward(lv_backend *be, float *out, const float *save_mean,
                                                 float *save_invstd, float *running_mean,
                                                 float *running_var, const float *in,
                                                 const float *gamma, const float *beta,
                                                 const float *acc_sq, double count,
                                                 const lv_bn_shape *s) {
    if (sbn_bad_shape(be, "batchnorm2d_sync_forward", s)) return;
    if (sbn_bad_count(be, "batchnorm2d_sync_forward", count, s)) return;
    cudaStream_t st = lv_cuda_stream(be);
    sbn_plan p = sbn_make_plan(s, sbn_aligned16(out) && sbn_aligned16(in));
    float *coef = (float *)lv_cuda_workspace(be, (size_t)s->c * 2 * sizeof(float));
    if (coef == NULL) return;
    float *scale = coef, *shift = coef + s->c;
    const int upd = running_mean && running_var;
    LV_LAUNCH((unsigned)((s->c + 127) / 128), 128, 0, st, sbn_fwd_coef)(
        scale, shift, save_invstd, upd ? running_mean : NULL, upd ? running_var : NULL, save_mean,
        acc_sq, gamma, beta, s->c, count, (double)s->eps, (double)s->momentum);
    LV_CUDA_LAUNCH_CHECK(be, "batchnorm2d_sync_forward coefficients");
    unsigned blocks = lv_cuda_blocks(be, p.total, SBN_THREADS);
    int hwv = s->hw / p.vec;
    /* 32-bit indices only with headroom: u + the grid stride must not wrap. */
    if (p.total <= 0x7fffffffu) {
        unsigned t = (unsigned)p.total, h = (unsigned)hwv, c = (unsigned)s->c;
        if (p.vec == 4) LV_LAUNCH(blocks, SBN_THREADS, 0, st, sbn_apply<4, unsigned>)(out, in, scale, shift, t, h, c);
        else LV_LAUNCH(blocks, SBN_THREADS, 0, st, sbn_apply<1, unsigned>)(out, in, scale, shift, t, h, c);
    } else {
        size_t t = p.total, h = (size_t)hwv, c = (size_t)s->c;
        if (p.vec == 4) LV_LAUNCH(blocks, SBN_THREADS, 0, st, sbn_apply<4, size_t>)(out, in, scale, shift, t, h, c);
        else LV_LAUNCH(blocks, SBN_THREADS, 0, st, sbn_apply<1, size_t>)(out, in, scale, shift, t, h, c);
    }
    LV_CUDA_LAUNCH_CHECK(be, "batchnorm2d_sync_forward apply");
}

extern "C" void lv_cuda_batchnorm2d_sync_backward_stats(lv_backend *be, float *acc, const float *dout,
                                                        const float *in, const float *save_mean,
                                                        const float *save_invstd,
                                                        const lv_bn_shape *s) {
    if (sbn_bad_shape(be, "batchnorm2d_sync_backward_stats", s)) return;
    sbn_plan p = sbn_make_plan(s, sbn_aligned16(dout) && sbn_aligned16(in));
    double *part = (double *)lv_cuda_workspace(be, (size_t)s->c * p.splits * 2 * sizeof(double));
    if (part == NULL) return;
    if (sbn_launch_bwd_partial(be, part, dout, in, save_mean, s, &p)) return;
    LV_LAUNCH(sbn_warp_blocks(s->c), SBN_FINISH_THREADS, 0, lv_cuda_stream(be), sbn_bwd_finish)(
        acc, NULL, NULL, part, p.splits, save_invstd, s->c);
    LV_CUDA_LAUNCH_CHECK(be, "batchnorm2d_sync_backward_stats finish");
}

extern "C" void lv_cuda_batchnorm2d_sync_backward(lv_backend *be, float *din, float *dgamma,
                                                  float *dbeta, const float *dout, const float *in,
                                                  const float *gamma, const float *save_mean,
                                                  const float *save_invstd, const float *acc,
                                                  double count, const lv_bn_shape *s) {
    if (sbn_bad_shape(be, "batchnorm2d_sync_backward", s)) return;
    if (sbn_bad_count(be, "batchnorm2d_sync_backward", count, s)) return;
    if (!din && !dgamma && !dbeta) return;
    cudaStream_t st = lv_cuda_stream(be);
    sbn_plan p = sbn_make_plan(s, sbn_aligned16(din) && sbn_aligned16(dout) && sbn_aligned16(in));
    const int local = dgamma || dbeta;
    size_t part_bytes = local ? (size_t)s->c * p.splits * 2 * sizeof(double) : 0;
    char *ws = (char *)lv_cuda_workspace(be, part_bytes + (size_t)s->c * 4 * sizeof(float));
    if (ws == NULL) return;
    double *part = (double *)ws;
    float *coef = (float *)(ws + part_bytes);
    if (local) {
        /* The acc the caller passes is global; the parameter gradients want this rank's own
         * sums (the gradient all-reduce averages them), so they are summed again here. */
        if (sbn_launch_bwd_partial(be, part, dout, in, save_mean, s, &p)) return;
        LV_LAUNCH(sbn_warp_blocks(s->c), SBN_FINISH_THREADS, 0, st, sbn_bwd_finish)(
            NULL, dgamma, dbeta, part, p.splits, save_invstd, s->c);
        LV_CUDA_LAUNCH_CHECK(be, "batchnorm2d_sync_backward parameter sums");
    }
    if (!din) return;
    LV_LAUNCH((unsigned)((s->c + 127) / 128), 128, 0, st, sbn_bwd_coef)(coef, acc, gamma, save_mean,
                                                                 save_invstd, s->c, count);
    LV_CUDA_LAUNCH_CHECK(be, "batchnorm2d_sync_backward coefficients");
    unsigned blocks = lv_cuda_blocks(be, p.total, SBN_THREADS);
    int hwv = s->hw / p.vec;
    if (p.total <= 0x7fffffffu) {
        unsigned t = (unsigned)p.total, h = (unsigned)hwv, c = (unsigned)s->c;
        if (p.vec == 4) LV_LAUNCH(blocks, SBN_THREADS, 0, st, sbn_bwd_apply<4, unsigned>)(din, dout, in, coef, t, h, c);
        else LV_LAUNCH(blocks, SBN_THREADS, 0, st, sbn_bwd_apply<1, unsigned>)(din, dout, in, coef, t, h, c);
    } else {
        size_t t = p.total, h = (size_t)hwv, c = (size_t)s->c;
        if (p.vec == 4) LV_LAUNCH(blocks, SBN_THREADS, 0, st, sbn_bwd_apply<4, size_t>)(din, dout, in, coef, t, h, c);
        else LV_LAUNCH(blocks, SBN_THREADS, 0, st, sbn_bwd_apply<1, size_t>)(din, dout, in, coef, t, h, c);
    }
    LV_CUDA_LAUNCH_CHECK(be, "batchnorm2d_sync_backward din");
}
