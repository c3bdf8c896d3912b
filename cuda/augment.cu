/* Batch render of on-device data: the CUDA twin of data/augment.c (lv_augment_render), with the
 * parameters and the noise from the very same header-only lv_augment_draw/lv_augment_noise4.
 * It must keep augment.c's arithmetic order (this file is built with --fmad=false, so nothing
 * is fused into an FMA the CPU does not do) and must draw no random number of its own. */
#include <stdint.h>

#include "cuda/cuda_backend.h"
#include "cuda/cuda_data.h"

#define AUG_THREADS 256
#define AUG_DRAW_THREADS 128
#define AUG_MAX_BATCH (1 << 20) /* the loader's batch limit */
#define AUG_MAX_SIDE 8192       /* the loader's out_size limit */

/* One sample's drawn parameters plus the warp augment.c would pick for them. */
typedef struct aug_sample {
    lv_augment_params prm;
    int integer; /* linear part in {-1, 0, 1} and integer offsets: warp_integer's gather */
} aug_sample;

static __device__ __forceinline__ int aug_is_int(float v) { return v == floorf(v) && fabsf(v) < 1e7f; }

/* Thread per sample: parameters (into the workspace) and the label gather. */
static __global__ void aug_draw_kernel(aug_sample *out, int32_t *y, const int32_t *labels, const int64_t *idx,
                                       const int64_t *keys, int n, lv_augment_opts o, int p, int h, int w, int s,
                                       uint64_t seed, uint64_t epoch) {
    const int stride = (int)(gridDim.x * blockDim.x);
    for (int i = (int)(blockIdx.x * blockDim.x + threadIdx.x); i < n; i += stride) {
        aug_sample a;
        lv_augment_draw(&o, p, h, w, s, seed, epoch, (uint64_t)keys[i], &a.prm);
        const float *m = a.prm.m;
        a.integer = aug_is_int(m[0]) && aug_is_int(m[1]) && aug_is_int(m[3]) && aug_is_int(m[4]) &&
                    aug_is_int(m[2]) && aug_is_int(m[5]) && fabsf(m[0]) <= 1 && fabsf(m[1]) <= 1 &&
                    fabsf(m[3]) <= 1 && fabsf(m[4]) <= 1;
        out[i] = a;
        y[i] = labels[idx[i]];
    }
}

/* lv_preproc_map_row for one pixel: u = (x - shift) * a + b, clamped with the same selects
 * (a NaN passes through, as on the CPU). */
template <typename T>
static __device__ __forceinline__ float aug_map(T v, float shift, float a, float b, int clamp) {
    float u = ((float)v - shift) * a + b;
    if (clamp) u = u < 0.0f ? 0.0f : u > 1.0f ? 1.0f : u;
    return u;
}

/* augment.c's fetch on the mapped plane: mapping is per pixel, so mapping on the fly gives
 * the very values the CPU reads from its mapped scratch plane. */
template <typename T>
static __device__ __forceinline__ float aug_fetch(const T *pl, int h, int w, int x, int y, int border, float shift,
                                                  float a, float b, int clamp) {
    if (x >= 0 && y >= 0 && x < w && y < h) return aug_map(pl[(size_t)y * (size_t)w + (size_t)x], shift, a, b, clamp);
    if (border == LV_BORDER_CONSTANT) return 0.0f;
    x = x < 0 ? 0 : x >= w ? w - 1 : x;
    y = y < 0 ? 0 : y >= h ? h - 1 : y;
    return aug_map(pl[(size_t)y * (size_t)w + (size_t)x], shift, a, b, clamp);
}

/* Scaled value u of output pixel (ox, oy) of phase c: warp_integer or warp_bilinear of
 * augment.c, term for term. (The CPU's in-bounds crop shortcut is an integer map too.) */
template <typename T>
static __device__ __forceinline__ float aug_value(const aug_sample *a, const T *pl, int c, int h, int w, int ox,
                                                  int oy, const lv_preproc_plan &plan) {
    const lv_augment_params *q = &a->prm;
    const float ct = q->contrast[c];
    const float am = plan.scale * ct, bm = 0.5f * (1.0f - ct) + q->offset[c] * plan.scale;
    const float *m = q->m;
    if (a->integer) {
        const int m0 = (int)m[0], m1 = (int)m[1], m2 = (int)m[2], m3 = (int)m[3], m4 = (int)m[4], m5 = (int)m[5];
        return aug_fetch(pl, h, w, m0 * ox + m1 * oy + m2, m3 * ox + m4 * oy + m5, q->border, plan.shift, am, bm,
                         plan.clamp);
    }
    const float bx = m[1] * (float)oy + m[2], by = m[4] * (float)oy + m[5];
    const float sx = m[0] * (float)ox + bx, sy = m[3] * (float)ox + by;
    const float x0 = floorf(sx), y0 = floorf(sy);
    const float fx = sx - x0, fy = sy - y0;
    const int ix = (int)x0, iy = (int)y0, bd = q->border;
    const float v00 = aug_fetch(pl, h, w, ix, iy, bd, plan.shift, am, bm, plan.clamp);
    const float v01 = aug_fetch(pl, h, w, ix + 1, iy, bd, plan.shift, am, bm, plan.clamp);
    const float v10 = aug_fetch(pl, h, w, ix, iy + 1, bd, plan.shift, am, bm, plan.clamp);
    const float v11 = aug_fetch(pl, h, w, ix + 1, iy + 1, bd, plan.shift, am, bm, plan.clamp);
    return (1.0f - fy) * ((1.0f - fx) * v00 + fx * v01) + fy * ((1.0f - fx) * v10 + fx * v11);
}

/* Thread per (sample, noise block): the 4 consecutive pixels of the sample's [p, s, s] output
 * that share one Philox block, so each block's Box-Muller runs once. Pixel order and noise
 * lanes follow augment.c's noise_normalize (block = flat index / 4, lane = flat index % 4). */
template <typename T>
static __global__ void aug_render_kernel(float *x, const aug_sample *smp, const T *raw, const int64_t *idx,
                                         const int64_t *keys, int n, int p, int h, int w, int s,
                                         lv_preproc_plan plan, uint64_t seed, uint64_t epoch) {
    const int64_t ss = (int64_t)s * s, per = (int64_t)p * ss, nb = (per + 3) / 4;
    const int64_t hw = (int64_t)h * w, total = (int64_t)n * nb;
    const int64_t stride = (int64_t)gridDim.x * blockDim.x;
    for (int64_t t = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; t < total; t += stride) {
        const int i = (int)(t / nb);
        const int64_t blk = t - (int64_t)i * nb;
        const aug_sample *a = smp + i;
        const T *src = raw + idx[i] * ((int64_t)p * hw);
        const float sigma = a->prm.noise_std;
        float z[4] = {0.0f, 0.0f, 0.0f, 0.0f};
        if (sigma > 0.0f) lv_augment_noise4(seed, epoch, (uint64_t)keys[i], (uint64_t)blk, z);
        const int64_t g0 = blk * 4, g1 = g0 + 4 < per ? g0 + 4 : per;
        float *out = x + (int64_t)i * per;
        for (int64_t g = g0; g < g1; g++) {
            const int c = (int)(g / ss);
            const int64_t r = g - (int64_t)c * ss;
            const int oy = (int)(r / s), ox = (int)(r - (int64_t)oy * s);
            float u = aug_value(a, src + (int64_t)c * hw, c, h, w, ox, oy, plan);
            if (sigma > 0.0f) u += sigma * z[g - g0];
            out[g] = (u - plan.mean[c]) * plan.istd[c];
        }
    }
}

template <typename T>
static void aug_launch_render(lv_backend *be, float *x, const aug_sample *smp, const void *raw, const int64_t *idx,
                              const int64_t *keys, int n, int p, int h, int w, int s, const lv_preproc_plan *plan,
                              uint64_t seed, uint64_t epoch) {
    const size_t per = (size_t)p * (size_t)s * (size_t)s, items = (size_t)n * ((per + 3) / 4);
    const unsigned blocks = lv_cuda_blocks(be, items, AUG_THREADS);
    LV_LAUNCH(blocks, AUG_THREADS, 0, lv_cuda_stream(be), aug_render_kernel<T>)(x, smp, (const T *)raw, idx, keys, n, p, h,
                                                                       w, s, *plan, seed, epoch);
    LV_CUDA_LAUNCH_CHECK(be, "augment render");
}

/* Everything after validation: indices and keys into the workspace, the draw, the render.
 * Failures become the backend's sticky error (the caller returns it). */
static void aug_enqueue(lv_backend *be, const lv_cuda_raw *raw, const int64_t *indices, const int64_t *keys, int n,
                        const lv_preproc_plan *plan, const lv_augment_opts *aug, int s, uint64_t seed, uint64_t epoch,
                        float *x, int32_t *y) {
    const size_t ids = (size_t)n * sizeof(int64_t);
    /* [indices | keys | samples]: 8-byte arrays first keep every part aligned. */
    char *ws = (char *)lv_cuda_workspace(be, 2 * ids + (size_t)n * sizeof(aug_sample));
    if (!ws) return; /* the sticky error says why */
    int64_t *d_idx = (int64_t *)ws, *d_keys = (int64_t *)(ws + ids);
    aug_sample *d_smp = (aug_sample *)(ws + 2 * ids);
    cudaStream_t st = lv_cuda_stream(be);
    /* Pageable sources are staged before cudaMemcpyAsync returns: the caller may reuse them. */
    LV_CUDA_CHECK_OP(be, cudaMemcpyAsync(d_idx, indices, ids, cudaMemcpyHostToDevice, st));
    LV_CUDA_CHECK_OP(be, cudaMemcpyAsync(d_keys, keys, ids, cudaMemcpyHostToDevice, st));
    LV_CUDA_LAUNCH_CHECK(be, "augment indices upload");
    const unsigned dblocks = lv_cuda_blocks(be, (size_t)n, AUG_DRAW_THREADS);
    LV_LAUNCH(dblocks, AUG_DRAW_THREADS, 0, st, aug_draw_kernel)(d_smp, y, raw->labels, d_idx, d_keys, n, *aug, raw->p,
                                                           raw->h, raw->w, s, seed, epoch);
    LV_CUDA_LAUNCH_CHECK(be, "augment draw");
    if (raw->pixel == LV_PIX_I16)
        aug_launch_render<int16_t>(be, x, d_smp, raw->images, d_idx, d_keys, n, raw->p, raw->h, raw->w, s, plan, seed,
                                   epoch);
    else if (raw->pixel == LV_PIX_U8)
        aug_launch_render<uint8_t>(be, x, d_smp, raw->images, d_idx, d_keys, n, raw->p, raw->h, raw->w, s, plan, seed,
                                   epoch);
    else
        aug_launch_render<float>(be, x, d_smp, raw->images, d_idx, d_keys, n, raw->p, raw->h, raw->w, s, plan, seed,
                                 epoch);
}

extern "C" lv_status lv_cuda_augment_render(lv_backend *be, const lv_cuda_raw *raw, const int64_t *indices,
                                            const int64_t *keys, int n, const lv_preproc_plan *plan,
                                            const lv_augment_opts *aug, int s, uint64_t seed, uint64_t epoch,
                                            float *x, int32_t *y) {
    LV_CHECK(be && be->kind == LV_DEVICE_CUDA, LV_ERR_USAGE, "CUDA augment: needs a CUDA backend, got %s",
             be ? be->name : "none");
    LV_CHECK(raw && raw->images && raw->labels && plan && aug, LV_ERR_USAGE,
             "CUDA augment: missing data, plan or augmentation options");
    LV_CHECK(n >= 0 && n <= AUG_MAX_BATCH, LV_ERR_USAGE, "CUDA augment: batch of %d samples: expected 0..%d", n,
             AUG_MAX_BATCH);
    if (n == 0) return LV_OK;
    LV_CHECK(indices && keys && x && y, LV_ERR_USAGE, "CUDA augment: missing indices, keys or output buffers");
    LV_CHECK(raw->n >= 1 && raw->p >= 1 && raw->p <= LV_MAX_PHASES && raw->h >= 1 && raw->w >= 1, LV_ERR_USAGE,
             "CUDA augment: data shape [%lld,%d,%d,%d] is not usable", (long long)raw->n, raw->p, raw->h, raw->w);
    LV_CHECK(raw->pixel == LV_PIX_I16 || raw->pixel == LV_PIX_U8 || raw->pixel == LV_PIX_F32, LV_ERR_USAGE,
             "CUDA augment: unknown pixel type %d", (int)raw->pixel);
    LV_CHECK(plan->p == raw->p, LV_ERR_USAGE, "CUDA augment: preprocessing plan for %d phases, data have %d", plan->p,
             raw->p);
    LV_CHECK(s >= 1 && s <= AUG_MAX_SIDE, LV_ERR_USAGE, "CUDA augment: output side %d: expected 1..%d", s,
             AUG_MAX_SIDE);
    /* An index outside the data would be a device fault far from here: refuse it now. */
    for (int i = 0; i < n; i++)
        LV_CHECK(indices[i] >= 0 && indices[i] < raw->n, LV_ERR_USAGE,
                 "CUDA augment: batch sample %d: index %lld outside [0,%lld)", i, (long long)indices[i],
                 (long long)raw->n);
    aug_enqueue(be, raw, indices, keys, n, plan, aug, s, seed, epoch, x, y);
    return be->error != LV_OK ? lv_backend_take_error(be) : LV_OK;
}

extern "C" lv_status lv_cuda_mem_info(lv_backend *be, size_t *free_bytes, size_t *total_bytes) {
    LV_CHECK(be && be->kind == LV_DEVICE_CUDA, LV_ERR_USAGE, "device memory query: the %s backend is not CUDA",
             be ? be->name : "(none)");
    size_t f = 0, t = 0;
    LV_CUDA_CHECK(cudaSetDevice(lv_cuda_ctx_of(be)->device));
    LV_CUDA_CHECK(cudaMemGetInfo(&f, &t));
    if (free_bytes) *free_bytes = f;
    if (total_bytes) *total_bytes = t;
    return LV_OK;
}
