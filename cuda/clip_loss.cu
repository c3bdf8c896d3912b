/* clip_loss: CUDA twin of core/cpu/clip_loss.c, CLIP's symmetric contrastive loss between
 * paired image and text rows, with gradients to both sides and the logit scale. The column
 * softmax needs the whole [b,b] matrix, so this is a short chain of kernels, all in double
 * as the CPU reference and all in a fixed order: no float atomics, bit-reproducible. */
#include <math.h>

#include "cuda/cuda_backend.h"
#include "cuda/reduce.cuh"

#define COSINE_EPS 1e-12f /* F.normalize's default eps, as core/cpu/cosine_rows.h */
#define SCALE_MAX 100.0f  /* CLIP's clamp on exp(logit_scale) */
#define CLIP_THREADS 256
#define TILE 16

/* The math is the CPU twin's (see its comment). Steps, for z_ij = s cos_ij:
 *   norms      |img_i|, |txt_j| and 1/max(|.|, eps)                    (a block per row)
 *   gemm       cos = diag(1/|img|) img txt^T diag(1/|txt|)             [b,b]
 *   lse        row and column log-sum-exps of z, max subtracted         (a warp per line)
 *   grad       G_ij = (rowsoftmax + colsoftmax - 2 I)_ij / 2b, the loss and d/ds terms of
 *              each row; G is stored times s, as both input gradients want it
 *   finish     the loss and d/dls, summed over rows in a fixed tree      (one block)
 *   gemm       dU = sG diag(1/|txt|) txt, dV = (sG)^T diag(1/|img|) img  [b,d] each
 *   normback   through the normalisation into dimg/dtxt (ADD)           (a block per row) */

/* s = min(exp(ls), 100) with exp in float as torch (computed in double and rounded once,
 * as close to the CPU's expf as CUDA gets). */
static __device__ float scale_exp(const float *logit_scale) { return (float)exp((double)logit_scale[0]); }
static __device__ double scale_of(float e) { return e > SCALE_MAX ? (double)SCALE_MAX : (double)e; }

/* Rows 0..b-1 are images, b..2b-1 texts: nrm = unclamped norm, inv = 1 / max(nrm, eps). */
static __global__ void clip_norms(double *nrm, double *inv, const float *img, const float *txt, int b, int d) {
    __shared__ double red[32];
    const int r = blockIdx.x;
    const float *x = r < b ? img + (size_t)r * d : txt + (size_t)(r - b) * d;
    double ss = 0.0;
    for (int t = threadIdx.x; t < d; t += blockDim.x) ss += (double)x[t] * x[t];
    ss = lv_block_sum(ss, red);
    if (threadIdx.x == 0) {
        double n = sqrt(ss);
        nrm[r] = n;
        inv[r] = 1.0 / (n < (double)COSINE_EPS ? (double)COSINE_EPS : n); /* NaN stays NaN */
    }
}

/* C[m,n] = rs[m] cs[n] sum_k A(m,k) B(k,n) ks[k] in double, each scale optional (NULL = 1),
 * A(m,k) = A[m*sam + k*sak], B(k,n) = B[k*sbk + n*sbn]. A 16x16 tile per block; each output
 * is summed in increasing k by one thread, so the order is fixed. Tiles are loaded along
 * whichever index is contiguous in memory, for coalescing; the result does not depend on it. */
struct clip_tiles {
    double As[TILE][TILE + 1]; /* As[m][k] */
    double Bs[TILE][TILE + 1]; /* Bs[k][n] */
};
/* In a plain function, not in the template kernel, so the CPU device emulator sees it as
 * shared memory (see lv_block_scratch in reduce.cuh). */
static __device__ __forceinline__ clip_tiles *clip_gemm_tiles(void) {
    __shared__ clip_tiles tiles;
    return &tiles;
}

template <typename TA, typename TB>
static __global__ void clip_gemm(double *C, int ldc, const TA *A, size_t sam, size_t sak, const TB *B,
                                 size_t sbk, size_t sbn, const double *ks, const double *rs,
                                 const double *cs, int M, int N, int K) {
    clip_tiles &tiles = *clip_gemm_tiles();
    double(&As)[TILE][TILE + 1] = tiles.As;
    double(&Bs)[TILE][TILE + 1] = tiles.Bs;
    const int tx = threadIdx.x, ty = threadIdx.y;
    const int m0 = blockIdx.y * TILE, n0 = blockIdx.x * TILE;
    const int a_m_fast = sam == 1, b_k_fast = sbk == 1;
    double acc = 0.0;
    for (int k0 = 0; k0 < K; k0 += TILE) {
        {
            int mi = a_m_fast ? tx : ty, ki = a_m_fast ? ty : tx;
            int m = m0 + mi, k = k0 + ki;
            As[mi][ki] = (m < M && k < K) ? (double)A[(size_t)m * sam + (size_t)k * sak] : 0.0;
        }
        {
            int ki = b_k_fast ? tx : ty, ni = b_k_fast ? ty : tx;
            int k = k0 + ki, n = n0 + ni;
            double v = 0.0;
            if (k < K && n < N) {
                v = (double)B[(size_t)k * sbk + (size_t)n * sbn];
                if (ks) v *= ks[k];
            }
            Bs[ki][ni] = v;
        }
        __syncthreads();
        for (int kk = 0; kk < TILE; kk++) acc += As[ty][kk] * Bs[kk][tx];
        __syncthreads();
    }
    const int m = m0 + ty, n = n0 + tx;
    if (m < M && n < N) {
        if (rs) acc *= rs[m];
        if (cs) acc *= cs[n];
        C[(size_t)m * ldc + n] = acc;
    }
}

/* Lines 0..b-1: rows of z; b..2b-1: columns. A warp per line. */
static __global__ void clip_lse(double *lse, const double *cosm, const float *logit_scale, int b) {
    const int lane = threadIdx.x & 31, nwarps = blockDim.x >> 5;
    const int line = blockIdx.x * nwarps + (int)(threadIdx.x >> 5);
    if (line >= 2 * b) return; /* warp-uniform */
    const double s = scale_of(scale_exp(logit_scale));
    const int is_row = line < b, l = is_row ? line : line - b;
    const size_t step = is_row ? 1 : (size_t)b, base = is_row ? (size_t)l * b : (size_t)l;
    double mx = -INFINITY;
    for (int k = lane; k < b; k += 32) mx = fmax(mx, s * cosm[base + k * step]);
    mx = lv_warp_max(mx);
    double se = 0.0;
    for (int k = lane; k < b; k += 32) se += exp(s * cosm[base + k * step] - mx);
    se = lv_warp_sum(se);
    if (lane == 0) lse[line] = mx + log(se);
}

/* A warp per row i: sG_ij, the row's loss term and its d/ds term. */
static __global__ void clip_grad(double *sG, double *row_loss, double *row_dscale, const double *cosm,
                                 const double *lse, const float *logit_scale, int b) {
    const int lane = threadIdx.x & 31, nwarps = blockDim.x >> 5;
    const int i = blockIdx.x * nwarps + (int)(threadIdx.x >> 5);
    if (i >= b) return; /* warp-uniform */
    const double s = scale_of(scale_exp(logit_scale));
    const double inv2b = 0.5 / b, row_lse = lse[i];
    const double *ci = cosm + (size_t)i * b;
    const double *col_lse = lse + b;
    double dsc = 0.0;
    for (int j = lane; j < b; j += 32) {
        double z = s * ci[j], diag = i == j ? 2.0 : 0.0;
        double g = (exp(z - row_lse) + exp(z - col_lse[j]) - diag) * inv2b;
        dsc += g * ci[j];
        sG[(size_t)i * b + j] = s * g;
    }
    dsc = lv_warp_sum(dsc);
    if (lane == 0) {
        row_loss[i] = row_lse + col_lse[i] - 2.0 * s * ci[i];
        row_dscale[i] = dsc;
    }
}

static __global__ void clip_finish(float *loss, float *dscale, const double *row_loss,
                                   const double *row_dscale, const float *logit_scale, int b) {
    __shared__ double red[32];
    double ls = 0.0, ds = 0.0;
    for (int k = threadIdx.x; k < b; k += blockDim.x) {
        ls += row_loss[k];
        ds += row_dscale[k];
    }
    ls = lv_block_sum(ls, red);
    ds = lv_block_sum(ds, red);
    if (threadIdx.x == 0) {
        if (loss) loss[0] = (float)(ls * (0.5 / b));
        /* torch.clamp passes the gradient only where exp(ls) <= 100; exp's backward
         * multiplies it by exp(ls). */
        const float e = scale_exp(logit_scale);
        if (dscale && !(e > SCALE_MAX)) dscale[0] += (float)(ds * e);
    }
}

/* Rows 0..b-1: dimg from dU; b..2b-1: dtxt from dV. dx += du/den - x (du.x)/(den^2 n). */
static __global__ void clip_normback(float *dimg, float *dtxt, const double *dU, const double *dV,
                                     const float *img, const float *txt, const double *nrm, int b, int d) {
    __shared__ double red[32];
    const int r = blockIdx.x, is_img = r < b, row = is_img ? r : r - b;
    float *dx = is_img ? dimg : dtxt;
    if (!dx) return; /* block-uniform */
    const double *du = (is_img ? dU : dV) + (size_t)row * d;
    const float *x = (is_img ? img : txt) + (size_t)row * d;
    const double n = nrm[r];
    const int through_norm = n >= (double)COSINE_EPS;
    const double den = through_norm ? n : (double)COSINE_EPS;
    double dot = 0.0;
    for (int t = threadIdx.x; t < d; t += blockDim.x) dot += du[t] * (double)x[t];
    dot = lv_block_sum(dot, red);
    const double k = (through_norm && n > 0.0) ? dot / (den * den * n) : 0.0;
    dx += (size_t)row * d;
    for (int t = threadIdx.x; t < d; t += blockDim.x) dx[t] += (float)(du[t] / den - k * (double)x[t]);
}

extern "C" void lv_cuda_clip_loss(lv_backend *be, float *loss, float *dimg, float *dtxt, float *dscale,
                                  const float *img, const float *txt, const float *logit_scale, int b, int d) {
    if (b <= 0 || d <= 0) {
        lv_backend_fail(be, LV_ERR_INPUT, "clip_loss: empty shape b=%d d=%d", b, d);
        return;
    }
    if (!loss && !dimg && !dtxt && !dscale) return;
    /* Workspace (doubles): nrm, inv, lse [2b] each; row_loss, row_dscale [b] each;
     * cos, sG [b,b] each; dU with dimg, dV with dtxt [b,d] each. */
    const size_t nb = (size_t)b, bb = nb * nb, bd = nb * d;
    const size_t total = 8 * nb + 2 * bb + (dimg ? bd : 0) + (dtxt ? bd : 0);
    double *ws = (double *)lv_cuda_workspace(be, total * sizeof(double));
    if (!ws) return; /* lv_cuda_workspace recorded the error */
    double *nrm = ws, *inv = nrm + 2 * nb, *lse = inv + 2 * nb;
    double *row_loss = lse + 2 * nb, *row_dscale = row_loss + nb;
    double *cosm = row_dscale + nb, *sG = cosm + bb;
    double *dU = dimg ? sG + bb : NULL;
    double *dV = dtxt ? sG + bb + (dimg ? bd : 0) : NULL;

    cudaStream_t stream = lv_cuda_stream(be);
    const unsigned lines_per_block = CLIP_THREADS / 32;
    const dim3 tile(TILE, TILE);
    const unsigned tb = (unsigned)((b + TILE - 1) / TILE), td = (unsigned)((d + TILE - 1) / TILE);

    LV_LAUNCH(2 * (unsigned)b, CLIP_THREADS, 0, stream, clip_norms)(nrm, inv, img, txt, b, d);
    LV_CUDA_LAUNCH_CHECK(be, "clip_loss norms");
    /* cos[i,j] = inv_i inv'_j sum_t img[i,t] txt[j,t] */
    LV_LAUNCH(dim3(tb, tb), tile, 0, stream, clip_gemm<float, float>)(cosm, b, img, (size_t)d, 1, txt, 1,
                                                              (size_t)d, NULL, inv, inv + b, b, b, d);
    LV_CUDA_LAUNCH_CHECK(be, "clip_loss cos");
    LV_LAUNCH((2 * (unsigned)b + lines_per_block - 1) / lines_per_block, CLIP_THREADS, 0, stream, clip_lse)(
        lse, cosm, logit_scale, b);
    LV_CUDA_LAUNCH_CHECK(be, "clip_loss lse");
    LV_LAUNCH(((unsigned)b + lines_per_block - 1) / lines_per_block, CLIP_THREADS, 0, stream, clip_grad)(
        sG, row_loss, row_dscale, cosm, lse, logit_scale, b);
    LV_CUDA_LAUNCH_CHECK(be, "clip_loss grad");
    if (loss || dscale) {
        LV_LAUNCH(1, CLIP_THREADS, 0, stream, clip_finish)(loss, dscale, row_loss, row_dscale, logit_scale, b);
        LV_CUDA_LAUNCH_CHECK(be, "clip_loss finish");
    }
    if (dimg) {
        /* dU[i,t] = sum_j sG[i,j] inv'_j txt[j,t] */
        LV_LAUNCH(dim3(td, tb), tile, 0, stream, clip_gemm<double, float>)(dU, d, sG, nb, 1, txt, (size_t)d, 1,
                                                                   inv + b, NULL, NULL, b, d, b);
        LV_CUDA_LAUNCH_CHECK(be, "clip_loss dimg gemm");
    }
    if (dtxt) {
        /* dV[j,t] = sum_i sG[i,j] inv_i img[i,t] */
        LV_LAUNCH(dim3(td, tb), tile, 0, stream, clip_gemm<double, float>)(dV, d, sG, 1, nb, img, (size_t)d, 1,
                                                                   inv, NULL, NULL, b, d, b);
        LV_CUDA_LAUNCH_CHECK(be, "clip_loss dtxt gemm");
    }
    if (dimg || dtxt) {
        LV_LAUNCH(2 * (unsigned)b, CLIP_THREADS, 0, stream, clip_normback)(dimg, dtxt, dU, dV, img, txt, nrm, b, d);
        LV_CUDA_LAUNCH_CHECK(be, "clip_loss normback");
    }
}
