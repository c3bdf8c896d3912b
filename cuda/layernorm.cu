/* layernorm: CUDA twin of core/cpu/layernorm.c (BERT LayerNorm over the last dim, eps 1e-12).
 * Row statistics and row gradient sums in double through fixed-shape block trees, as the CPU
 * sums in double; dw/db column sums are two fixed-order passes, never float atomics. */
#include "cuda/cuda_backend.h"

#define LN_THREADS 256  /* one block per row; a multiple of 32, as block_sum assumes */
#define LN_COLS 32      /* column-sum tile: 32 columns (one warp, coalesced) ... */
#define LN_LANES 8      /* ... times 8 row lanes */
#define LN_MAX_CHUNKS 128

/* Sum over the block, returned to every thread. The tree's shape depends only on blockDim,
 * so a row gives the same bits on every run. */
static __device__ double block_sum(double v, double *sh /* [32] */) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
    __syncthreads(); /* sh may still be read from the previous call */
    if (lane == 0) sh[warp] = v;
    __syncthreads();
    if (warp == 0) {
        v = lane < (int)(blockDim.x >> 5) ? sh[lane] : 0.0;
        for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
        if (lane == 0) sh[0] = v;
    }
    __syncthreads();
    return sh[0];
}

/* Two passes (mean, then squared deviations), as the CPU: an E[x^2]-E[x]^2 shortcut would
 * lose the variance of rows with a large offset. Safe in place (out == in): each thread
 * writes only the elements it alone read, after the row's statistics are known. */
static __global__ void ln_forward_kernel(float *out, float *mean, float *rstd, const float *in,
                                         const float *w, const float *b, int rows, int c,
                                         float eps) {
    __shared__ double sh[32];
    for (int r = blockIdx.x; r < rows; r += gridDim.x) {
        const float *x = in + (size_t)r * c;
        float *y = out + (size_t)r * c;
        double s = 0;
        for (int i = threadIdx.x; i < c; i += blockDim.x) s += x[i];
        const double m = block_sum(s, sh) / c;
        double v = 0;
        for (int i = threadIdx.x; i < c; i += blockDim.x) {
            double d = x[i] - m;
            v += d * d;
        }
        v = block_sum(v, sh) / c; /* biased, as PyTorch's layer_norm */
        const double rs = 1.0 / sqrt(v + (double)eps);
        for (int i = threadIdx.x; i < c; i += blockDim.x)
            y[i] = (float)(((double)x[i] - m) * rs * w[i] + b[i]);
        if (threadIdx.x == 0) {
            if (mean) mean[r] = (float)m;
            if (rstd) rstd[r] = (float)rs;
        }
    }
}

/* din += rstd * (g - mean(g) - xhat * mean(g * xhat)) with g = dout * w. */
static __global__ void ln_backward_din_kernel(float *din, const float *dout, const float *in,
                                              const float *w, const float *mean, const float *rstd,
                                              int rows, int c) {
    __shared__ double sh[32];
    for (int r = blockIdx.x; r < rows; r += gridDim.x) {
        const float *x = in + (size_t)r * c;
        const float *dy = dout + (size_t)r * c;
        float *dx = din + (size_t)r * c;
        const double m = mean[r], rs = rstd[r];
        double sg = 0, sgx = 0;
        for (int i = threadIdx.x; i < c; i += blockDim.x) {
            double g = (double)dy[i] * w[i];
            sg += g;
            sgx += g * ((x[i] - m) * rs);
        }
        const double mg = block_sum(sg, sh) / c;
        const double mgx = block_sum(sgx, sh) / c;
        for (int i = threadIdx.x; i < c; i += blockDim.x) {
            double g = (double)dy[i] * w[i];
            double xhat = (x[i] - m) * rs;
            dx[i] += (float)(rs * (g - mg - xhat * mgx));
        }
    }
}

/* Pass 1 of the column sums: block (x, y) sums columns [32x, 32x+32) over the rows of chunk y
 * (row lanes strided by 8, then the 8 lanes in a fixed order) into part_w/part_b [chunk, c]. */
static __global__ void ln_colsum_partial_kernel(double *part_w, double *part_b, const float *dout,
                                                const float *in, const float *mean,
                                                const float *rstd, int rows, int c, int chunk) {
    __shared__ double sw[LN_LANES][LN_COLS], sb[LN_LANES][LN_COLS];
    const int col = blockIdx.x * LN_COLS + threadIdx.x;
    const int r0 = blockIdx.y * chunk;
    const int r1 = min(rows, r0 + chunk);
    double aw = 0, ab = 0;
    if (col < c) {
        for (int r = r0 + threadIdx.y; r < r1; r += LN_LANES) {
            double dy = dout[(size_t)r * c + col];
            aw += dy * (((double)in[(size_t)r * c + col] - mean[r]) * rstd[r]);
            ab += dy;
        }
    }
    sw[threadIdx.y][threadIdx.x] = aw;
    sb[threadIdx.y][threadIdx.x] = ab;
    __syncthreads();
    if (threadIdx.y == 0 && col < c) {
        for (int k = 1; k < LN_LANES; k++) {
            aw += sw[k][threadIdx.x];
            ab += sb[k][threadIdx.x];
        }
        part_w[(size_t)blockIdx.y * c + col] = aw;
        part_b[(size_t)blockIdx.y * c + col] = ab;
    }
}

/* Pass 2: each column adds its chunk partials in chunk order. */
static __global__ void ln_colsum_final_kernel(float *dw, float *db, const double *part_w,
                                              const double *part_b, int chunks, int c) {
    for (int col = blockIdx.x * blockDim.x + threadIdx.x; col < c; col += gridDim.x * blockDim.x) {
        double sw = 0, sb = 0;
        for (int k = 0; k < chunks; k++) {
            sw += part_w[(size_t)k * c + col];
            sb += part_b[(size_t)k * c + col];
        }
        if (dw) dw[col] += (float)sw;
        if (db) db[col] += (float)sb;
    }
}

extern "C" void lv_cuda_layernorm_forward(lv_backend *be, float *out, float *mean, float *rstd,
                                          const float *in, const float *w, const float *b,
                                          int rows, int c, float eps) {
    if (rows <= 0 || c <= 0) return;
    LV_LAUNCH(lv_cuda_blocks(be, (size_t)rows, 1), LN_THREADS, 0, lv_cuda_stream(be), ln_forward_kernel)(
        out, mean, rstd, in, w, b, rows, c, eps);
    LV_CUDA_LAUNCH_CHECK(be, "layernorm_forward");
}

extern "C" void lv_cuda_layernorm_backward(lv_backend *be, float *din, float *dw, float *db,
                                           const float *dout, const float *in, const float *w,
                                           const float *mean, const float *rstd, int rows, int c) {
    if (rows <= 0 || c <= 0) return;
    cudaStream_t st = lv_cuda_stream(be);
    if (din) {
        LV_LAUNCH(lv_cuda_blocks(be, (size_t)rows, 1), LN_THREADS, 0, st, ln_backward_din_kernel)(
            din, dout, in, w, mean, rstd, rows, c);
        LV_CUDA_LAUNCH_CHECK(be, "layernorm_backward (din)");
    }
    if (!dw && !db) return;
    /* Chunking depends on rows alone, so the summation order (and the bits) is fixed for a
     * shape; at most 128 chunks keeps the workspace at 2 * 128 * c doubles. */
    int chunks = (rows + 31) / 32;
    if (chunks > LN_MAX_CHUNKS) chunks = LN_MAX_CHUNKS;
    const int chunk = (rows + chunks - 1) / chunks;
    chunks = (rows + chunk - 1) / chunk;
    double *part = (double *)lv_cuda_workspace(be, 2 * (size_t)chunks * c * sizeof(double));
    if (!part) return; /* sticky error already recorded */
    dim3 grid((unsigned)((c + LN_COLS - 1) / LN_COLS), (unsigned)chunks);
    LV_LAUNCH(grid, dim3(LN_COLS, LN_LANES), 0, st, ln_colsum_partial_kernel)(
        part, part + (size_t)chunks * c, dout, in, mean, rstd, rows, c, chunk);
    LV_CUDA_LAUNCH_CHECK(be, "layernorm_backward (dw/db partials)");
    LV_LAUNCH(lv_cuda_blocks(be, (size_t)c, 256), 256, 0, st, ln_colsum_final_kernel)(
        dw, db, part, part + (size_t)chunks * c, chunks, c);
    LV_CUDA_LAUNCH_CHECK(be, "layernorm_backward (dw/db)");
}
