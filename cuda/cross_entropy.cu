/* cross_entropy: CUDA twin of core/cpu/cross_entropy.c, softmax cross-entropy (mean) on plain
 * logits for the linear-head baseline, fused with its gradient: a warp per row, then one
 * block sums the row losses in a fixed order. No float atomics; probs only when asked. */
#include <math.h>

#include "cuda/cuda_backend.h"
#include "cuda/reduce.cuh"

#define CE_THREADS 256 /* 8 rows per block */

/* Labels outside [0,c) are a sticky error on the CPU, raised before any output is touched.
 * A kernel cannot raise it without a host sync, so every block checks all b labels first
 * and on a bad one writes nothing but a NaN loss (the trainer skips a step whose loss is
 * not finite; datasets validate labels when loaded, data/split.c). */

static __device__ int any_bad_label(const int *labels, int b, int c) {
    int bad = 0;
    if (labels)
        for (int k = threadIdx.x; k < b; k += blockDim.x) bad |= labels[k] < 0 || labels[k] >= c;
    return __syncthreads_or(bad);
}

/* Row-wise log-sum-exp in double with the maximum subtracted, as the CPU: the row's loss is
 * lse - z_y and its gradient (softmax - onehot) / b. */
static __global__ void ce_rows(double *row_loss, float *dlogits, float *probs, const float *logits,
                               const int *labels, int b, int c) {
    if (any_bad_label(labels, b, c)) return;
    const int lane = threadIdx.x & 31, nwarps = blockDim.x >> 5;
    /* The loop is warp-uniform, so the shuffles below always see full warps. */
    for (int i = blockIdx.x * nwarps + (int)(threadIdx.x >> 5); i < b; i += gridDim.x * nwarps) {
        const float *z = logits + (size_t)i * c;
        double mx = -INFINITY;
        for (int j = lane; j < c; j += 32) mx = fmax(mx, (double)z[j]);
        mx = lv_warp_max(mx);
        double se = 0.0;
        for (int j = lane; j < c; j += 32) se += exp((double)z[j] - mx);
        const double lse = mx + log(lv_warp_sum(se));
        const int y = labels ? labels[i] : -1;
        if (row_loss && lane == 0) row_loss[i] = lse - (double)z[y];
        for (int j = lane; j < c; j += 32) {
            double p = exp((double)z[j] - lse);
            size_t at = (size_t)i * c + j;
            if (probs) probs[at] = (float)p;
            if (dlogits) dlogits[at] += (float)((p - (j == y ? 1.0 : 0.0)) / b);
        }
    }
}

static __global__ void ce_finish(float *loss, const double *row_loss, const int *labels, int b, int c) {
    __shared__ double red[32];
    if (any_bad_label(labels, b, c)) {
        if (threadIdx.x == 0) loss[0] = NAN;
        return;
    }
    double t = 0.0;
    for (int k = threadIdx.x; k < b; k += blockDim.x) t += row_loss[k];
    t = lv_warp_sum(t);
    if ((threadIdx.x & 31) == 0) red[threadIdx.x >> 5] = t;
    __syncthreads();
    if (threadIdx.x == 0) {
        double total = 0.0;
        for (int w = 0; w < (int)(blockDim.x >> 5); w++) total += red[w];
        loss[0] = (float)(total / b);
    }
}

extern "C" void lv_cuda_cross_entropy(lv_backend *be, float *loss, float *dlogits, float *probs,
                                      const float *logits, const int *labels, int b, int c) {
    if (b <= 0 || c <= 0) {
        lv_backend_fail(be, LV_ERR_INPUT, "cross_entropy: empty shape b=%d c=%d", b, c);
        return;
    }
    if (!labels && (loss || dlogits)) {
        lv_backend_fail(be, LV_ERR_RUNTIME, "cross_entropy: the loss and gradient need labels");
        return;
    }
    if (!loss && !dlogits && !probs) return;
    double *row_loss = NULL;
    if (loss) {
        row_loss = (double *)lv_cuda_workspace(be, (size_t)b * sizeof(double));
        if (!row_loss) return; /* lv_cuda_workspace recorded the error */
    }
    cudaStream_t stream = lv_cuda_stream(be);
    const unsigned rows_per_block = CE_THREADS / 32;
    LV_LAUNCH(lv_cuda_blocks(be, (size_t)b, rows_per_block), CE_THREADS, 0, stream, ce_rows)(
        row_loss, dlogits, probs, logits, labels, b, c);
    LV_CUDA_LAUNCH_CHECK(be, "cross_entropy rows");
    if (loss) {
        LV_LAUNCH(1, CE_THREADS, 0, stream, ce_finish)(loss, row_loss, labels, b, c);
        LV_CUDA_LAUNCH_CHECK(be, "cross_entropy finish");
    }
}
