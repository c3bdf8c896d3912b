/* embedding: CUDA twin of core/cpu/embedding.c. Forward gathers table rows; backward
 * scatter-adds without float atomics: each distinct id's row is summed by one thread per
 * column walking that id's positions in batch order, so the bits equal the CPU's in-order
 * loop. Ids are trusted < vocab; a negative id is skipped (zero row forward, no gradient)
 * rather than read out of bounds: reporting it would need a host sync mid-step. */
#include "cuda/cuda_backend.h"

#define EMB_THREADS 256

static __global__ void embedding_forward_kernel(float *out, const int *ids, const float *table, int n,
                                                int c) {
    const size_t total = (size_t)n * c;
    for (size_t idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x; idx < total;
         idx += (size_t)gridDim.x * blockDim.x) {
        const int id = ids[idx / c];
        out[idx] = id >= 0 ? table[(size_t)id * c + idx % c] : 0.0f;
    }
}

/* Per position i: head[i] = 1 when i is the first occurrence of its id, next[i] = the
 * following position with the same id (-1: none). O(n^2) integer compares at worst, which
 * for n = batch * tokens (a few thousand) is far cheaper than a sort, and touches only the
 * table rows that occur. */
static __global__ void embedding_links_kernel(int *head, int *next, const int *ids, int n) {
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) {
        const int id = ids[i];
        int first = id >= 0, nx = -1;
        for (int j = i - 1; j >= 0 && first; j--)
            if (ids[j] == id) first = 0;
        for (int j = i + 1; j < n; j++)
            if (ids[j] == id) {
                nx = j;
                break;
            }
        head[i] = first;
        next[i] = nx;
    }
}

/* One thread per (position, column); only heads work: dtable[id, col] += dout rows of that id
 * in position order, in float, exactly as the CPU adds them. Consecutive threads share the
 * position, so a warp takes the same branch. */
static __global__ void embedding_backward_kernel(float *dtable, const float *dout, const int *ids,
                                                 const int *head, const int *next, int n, int c) {
    const size_t total = (size_t)n * c;
    for (size_t idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x; idx < total;
         idx += (size_t)gridDim.x * blockDim.x) {
        const int i = (int)(idx / c), col = (int)(idx % c);
        if (!head[i]) continue;
        float *dst = dtable + (size_t)ids[i] * c + col;
        float acc = *dst;
        for (int p = i; p >= 0; p = next[p]) acc += dout[(size_t)p * c + col];
        *dst = acc;
    }
}

extern "C" void lv_cuda_embedding_forward(lv_backend *be, float *out, const int *ids, const float *table,
                                          int n, int c) {
    if (n <= 0 || c <= 0) return;
    const size_t total = (size_t)n * c;
    LV_LAUNCH(lv_cuda_blocks(be, total, EMB_THREADS), EMB_THREADS, 0,
                               lv_cuda_stream(be), embedding_forward_kernel)(out, ids, table, n, c);
    LV_CUDA_LAUNCH_CHECK(be, "embedding_forward");
}

extern "C" void lv_cuda_embedding_backward(lv_backend *be, float *dtable, const float *dout, const int *ids,
                                           int n, int c) {
    if (!dtable || n <= 0 || c <= 0) return;
    int *links = (int *)lv_cuda_workspace(be, 2 * (size_t)n * sizeof(int));
    if (!links) return; /* sticky error already recorded */
    cudaStream_t st = lv_cuda_stream(be);
    LV_LAUNCH(lv_cuda_blocks(be, (size_t)n, EMB_THREADS), EMB_THREADS, 0, st, embedding_links_kernel)(
        links, links + n, ids, n);
    LV_CUDA_LAUNCH_CHECK(be, "embedding_backward (links)");
    const size_t total = (size_t)n * c;
    LV_LAUNCH(lv_cuda_blocks(be, total, EMB_THREADS), EMB_THREADS, 0, st, embedding_backward_kernel)(
        dtable, dout, ids, links, links + n, n, c);
    LV_CUDA_LAUNCH_CHECK(be, "embedding_backward");
}
