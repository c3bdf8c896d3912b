/* attention: CUDA twin of core/cpu/attention.c, the HF BertSelfAttention core (eager, no
 * dropout): softmax(q k^T / sqrt(hd) + (1 - mask) * finfo(float32).min) v. cuBLAS strided-
 * batched GEMMs (TF32 only when be->tf32) for the four products, own kernels for the masked
 * softmax and its backward; no float atomics, no projections (those are linear's). */
#include <cfloat>

#include "cuda/cuda_backend.h"
#include "cuda/reduce.cuh"

#define ATT_THREADS 128 /* one warp per probability row, 4 rows per block */

/* Layout and strides (cuBLAS is column-major; a row-major X [r, k] with row stride ld is the
 * column-major X^T [k, r] with the same ld, so every operand below is the transpose of the
 * row-major matrix it names):
 *   qkv [b, t, 3c]: Q of head h of sequence s is rows i < t, columns h*hd .. h*hd+hd of the
 *     first c block: element (i, d) at s*t*3c + i*3c + h*hd + d; K adds c, V adds 2c.
 *     So per head: leading dimension 3c, sequence stride t*3c, head offset h*hd.
 *   out/dout [b, t, c]: head h of sequence s at s*t*c + i*c + h*hd + d: ld c, stride t*c.
 *   att [b, nh, t, t] (and the dP/dS scratch, same layout): (s, h) at (s*nh + h)*t*t, ld t,
 *     sequence stride nh*t*t, head offset h*t*t.
 * Offsets of (s, h) are s*t*3c + h*hd: no single stride walks both, so each GEMM is one
 * strided-batched call per head (batch = the b sequences), nh calls in all.
 * With Xc the column-major view (Xc = X^T):
 *   S^T  = Kc^T Qc    (T,N, m=t,  n=t, k=hd)     P V:  O^T  = Vc Pc     (N,N, m=hd, n=t, k=t)
 *   dV^T += dOc Pc^T  (N,T, m=hd, n=t, k=t)      dP^T = Vc^T dOc        (T,N, m=t,  n=t, k=hd)
 *   dQ^T += Kc dSc    (N,N, m=hd, n=t, k=t)      dK^T += Qc dSc^T       (N,T, m=hd, n=t, k=t)
 * where Pc (ld t) holds P^T, i.e. row-major P, since element (j, i) of Pc is at i*t + j. */

/* The score (GEMM dot, scaled in double and rounded once, as the CPU) plus the mask term.
 * HF adds finfo.min in float: for any ordinary score the sum rounds to exactly -FLT_MAX, so
 * padded keys get probability exactly 0 and a fully padded sequence a uniform row. */
static __device__ float masked_score(float dot, double scale, const int *m, int j) {
    float sc = (float)((double)dot * scale);
    if (m && m[j] == 0) sc += -FLT_MAX;
    return sc;
}

/* In place on att: raw dots q.k -> probabilities; one warp per row (s, h, i). */
static __global__ void attn_softmax_kernel(float *att, const int *mask, int b, int nh, int t,
                                           double scale) {
    const int lane = threadIdx.x & 31;
    const long long rows = (long long)b * nh * t;
    const long long warps = (long long)gridDim.x * (blockDim.x >> 5);
    for (long long r = (long long)blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5); r < rows;
         r += warps) {
        float *p = att + r * t;
        const int *m = mask ? mask + (r / ((long long)nh * t)) * t : NULL;
        float mx = -INFINITY;
        for (int j = lane; j < t; j += 32) {
            float sc = masked_score(p[j], scale, m, j);
            mx = sc > mx ? sc : mx;
        }
        mx = lv_warp_max_f(mx);
        double sum = 0;
        for (int j = lane; j < t; j += 32) sum += (double)expf(masked_score(p[j], scale, m, j) - mx);
        const double inv = 1.0 / lv_warp_sum(sum);
        /* Each lane rewrites only the entries it alone read. */
        for (int j = lane; j < t; j += 32)
            p[j] = (float)((double)expf(masked_score(p[j], scale, m, j) - mx) * inv);
    }
}

/* In place on ds: dP -> dS = scale * P * (dP - rowsum(P * dP)). The mask is a constant added
 * to the scores, so it passes through (padded keys have P = 0 and get nothing). */
static __global__ void attn_softmax_backward_kernel(float *ds, const float *att, long long rows, int t,
                                                    double scale) {
    const int lane = threadIdx.x & 31;
    const long long warps = (long long)gridDim.x * (blockDim.x >> 5);
    for (long long r = (long long)blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5); r < rows;
         r += warps) {
        const float *p = att + r * t;
        float *d = ds + r * t;
        double dot = 0;
        for (int j = lane; j < t; j += 32) dot += (double)p[j] * d[j];
        dot = lv_warp_sum(dot);
        for (int j = lane; j < t; j += 32) d[j] = (float)(p[j] * ((double)d[j] - dot) * scale);
    }
}

/* One strided-batched GEMM over the b sequences of one head (see the layout note). */
static cublasStatus_t gemm_seqs(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m,
                                int n, int k, const float *A, int lda, long long sa, const float *B,
                                int ldb, long long sb, float beta, float *C, int ldc, long long sc,
                                int batch) {
    const float one = 1.0f;
    return cublasSgemmStridedBatched(h, ta, tb, m, n, k, &one, A, lda, sa, B, ldb, sb, &beta, C, ldc,
                                     sc, batch);
}

static int attn_shape_ok(lv_backend *be, const lv_attn_shape *s, const char *op) {
    if (s->b < 0 || s->t <= 0 || s->nh <= 0 || s->c <= 0 || s->c % s->nh != 0) {
        lv_backend_fail(be, LV_ERR_RUNTIME,
                        "%s: bad shape b=%d t=%d c=%d nh=%d (c must be a multiple of nh)", op, s->b,
                        s->t, s->c, s->nh);
        return 0;
    }
    return 1;
}

static unsigned row_blocks(lv_backend *be, long long rows) {
    return lv_cuda_blocks(be, (size_t)rows, ATT_THREADS / 32);
}

/* out [b,t,c]; att [b,nh,t,t] saved for backward, or NULL (inference: the probabilities
 * then live in the workspace); mask [b,t] or NULL (no padding). */
extern "C" void lv_cuda_attention_forward(lv_backend *be, float *out, float *att, const float *qkv,
                                          const int *mask, const lv_attn_shape *s) {
    if (!attn_shape_ok(be, s, "attention_forward") || s->b == 0) return;
    const int b = s->b, t = s->t, c = s->c, nh = s->nh, hd = c / nh;
    const long long tt = (long long)t * t, sq = (long long)t * 3 * c, so = (long long)t * c;
    float *p = att;
    if (!p) {
        p = (float *)lv_cuda_workspace(be, (size_t)b * nh * tt * sizeof(float));
        if (!p) return; /* sticky error already recorded */
    }
    cublasHandle_t h = lv_cuda_cublas(be);
    for (int hh = 0; hh < nh; hh++) {
        const float *q = qkv + (size_t)hh * hd, *k = q + c;
        LV_CUBLAS_CHECK_OP(be, gemm_seqs(h, CUBLAS_OP_T, CUBLAS_OP_N, t, t, hd, k, 3 * c, sq, q, 3 * c,
                                         sq, 0.0f, p + hh * tt, t, nh * tt, b));
    }
    const long long rows = (long long)b * nh * t;
    LV_LAUNCH(row_blocks(be, rows), ATT_THREADS, 0, lv_cuda_stream(be), attn_softmax_kernel)(
        p, mask, b, nh, t, 1.0 / sqrt((double)hd));
    LV_CUDA_LAUNCH_CHECK(be, "attention_forward (softmax)");
    for (int hh = 0; hh < nh; hh++) {
        const float *v = qkv + 2 * (size_t)c + (size_t)hh * hd;
        LV_CUBLAS_CHECK_OP(be, gemm_seqs(h, CUBLAS_OP_N, CUBLAS_OP_N, hd, t, t, v, 3 * c, sq, p + hh * tt,
                                         t, nh * tt, 0.0f, out + (size_t)hh * hd, c, so, b));
    }
}

/* dqkv [b,t,3c] += gradient, from the probabilities forward saved (the mask is needed only
 * there). Workspace: dP, then dS in place, [b,nh,t,t]. */
extern "C" void lv_cuda_attention_backward(lv_backend *be, float *dqkv, const float *dout, const float *qkv,
                                           const float *att, const int *mask, const lv_attn_shape *s) {
    (void)mask;
    if (!dqkv) return;
    if (!attn_shape_ok(be, s, "attention_backward") || s->b == 0) return;
    const int b = s->b, t = s->t, c = s->c, nh = s->nh, hd = c / nh;
    const long long tt = (long long)t * t, sq = (long long)t * 3 * c, so = (long long)t * c;
    float *ds = (float *)lv_cuda_workspace(be, (size_t)b * nh * tt * sizeof(float));
    if (!ds) return;
    cublasHandle_t h = lv_cuda_cublas(be);
    for (int hh = 0; hh < nh; hh++) {
        const size_t off = (size_t)hh * hd;
        const float *v = qkv + 2 * (size_t)c + off, *dO = dout + off, *ph = att + hh * tt;
        float *dv = dqkv + 2 * (size_t)c + off;
        LV_CUBLAS_CHECK_OP(be, gemm_seqs(h, CUBLAS_OP_N, CUBLAS_OP_T, hd, t, t, dO, c, so, ph, t, nh * tt,
                                         1.0f, dv, 3 * c, sq, b));
        LV_CUBLAS_CHECK_OP(be, gemm_seqs(h, CUBLAS_OP_T, CUBLAS_OP_N, t, t, hd, v, 3 * c, sq, dO, c, so,
                                         0.0f, ds + hh * tt, t, nh * tt, b));
    }
    const long long rows = (long long)b * nh * t;
    LV_LAUNCH(row_blocks(be, rows), ATT_THREADS, 0, lv_cuda_stream(be), attn_softmax_backward_kernel)(
        ds, att, rows, t, 1.0 / sqrt((double)hd));
    LV_CUDA_LAUNCH_CHECK(be, "attention_backward (softmax)");
    for (int hh = 0; hh < nh; hh++) {
        const size_t off = (size_t)hh * hd;
        const float *q = qkv + off, *k = q + c, *dsh = ds + hh * tt;
        float *dq = dqkv + off, *dk = dq + c;
        LV_CUBLAS_CHECK_OP(be, gemm_seqs(h, CUBLAS_OP_N, CUBLAS_OP_N, hd, t, t, k, 3 * c, sq, dsh, t,
                                         nh * tt, 1.0f, dq, 3 * c, sq, b));
        LV_CUBLAS_CHECK_OP(be, gemm_seqs(h, CUBLAS_OP_N, CUBLAS_OP_T, hd, t, t, q, 3 * c, sq, dsh, t,
                                         nh * tt, 1.0f, dk, 3 * c, sq, b));
    }
}
