/* What every cuda/<op>.cu needs from the backend: the context (device, stream, cuBLAS and
 * cuDNN handles bound to that stream), the shared workspace and launch-size helpers.
 * Included only by .cu files; nothing above cuda/ sees it. All work goes on ctx->stream. */
#ifndef LV_CUDA_BACKEND_H
#define LV_CUDA_BACKEND_H

#include <stddef.h>

#include "cuda/cuda_check.h"
#include "cuda/cuda_ops.h"

struct lv_cuda_conv_cache; /* cuda/conv2d.cu: descriptors and algorithms per layer shape */

typedef struct lv_cuda_ctx {
    int device;
    int cc_major, cc_minor, sm_count;
    int pooled; /* cudaMallocAsync/cudaFreeAsync available (memory pools supported) */
    cudaStream_t stream;
    /* copy_h2d_async's queue (non-blocking, so it never serialises with the legacy default
     * stream): batch uploads overlap the compute on `stream`, ordered only by events. */
    cudaStream_t copy_stream;
    cublasHandle_t cublas;
    cudnnHandle_t cudnn;
    /* One scratch area shared by every op (cuDNN workspaces, reduction partials): valid
     * only inside the op that asked for it, since ops run one after another on one stream. */
    void *workspace;
    size_t workspace_bytes;
    struct lv_cuda_conv_cache *conv;
} lv_cuda_ctx;

static inline lv_cuda_ctx *lv_cuda_ctx_of(lv_backend *be) { return (lv_cuda_ctx *)be->ctx; }
static inline cudaStream_t lv_cuda_stream(lv_backend *be) { return lv_cuda_ctx_of(be)->stream; }

#ifdef __cplusplus
extern "C" {
#endif

/* At least `bytes` of device scratch, grown (never shrunk) on demand; NULL with the sticky
 * error set when the device is out of memory. Do not keep the pointer past the op. */
void *lv_cuda_workspace(lv_backend *be, size_t bytes);

/* cuBLAS handle with its math mode set from be->tf32 (TF32 tensor ops or strict fp32). */
cublasHandle_t lv_cuda_cublas(lv_backend *be);

/* cudnnMathType_t for convolution descriptors under be->tf32. */
cudnnMathType_t lv_cuda_cudnn_math(lv_backend *be);

/* Releases cuda/conv2d.cu's cache (descriptors, chosen algorithms); safe on NULL. */
void lv_cuda_conv_cache_free(lv_cuda_ctx *c);

#ifdef __cplusplus
}
#endif

/* Blocks for a grid-stride loop over n items: enough to fill the device, never more than
 * the items need (and never 0, which would be a launch error). */
static inline unsigned lv_cuda_blocks(lv_backend *be, size_t n, unsigned threads) {
    size_t need = (n + threads - 1) / threads;
    size_t fill = (size_t)lv_cuda_ctx_of(be)->sm_count * 32u;
    size_t b = need < fill ? need : fill;
    return b ? (unsigned)b : 1u;
}

#endif
