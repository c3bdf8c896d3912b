/* The CUDA backend: one device, one stream, cuBLAS and cuDNN handles bound to that stream,
 * stream-ordered zeroed memory, copies, the shared workspace and the sticky-error sync.
 * Ops live in their own cuda/<op>.cu files (declared in cuda_ops.h); no kernels here. Everything the C side calls is extern "C". */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda/cuda_backend.h"

typedef lv_cuda_ctx cuda_ctx;

static cuda_ctx *ctx_of(lv_backend *be) { return lv_cuda_ctx_of(be); }

static int read_sync_env(void) {
    const char *v = getenv("LIVER_VLM_CUDA_SYNC");
    return v != NULL && strcmp(v, "1") == 0;
}

extern "C" int lv_cuda_sync_debug(void) {
    static const int on = read_sync_env(); /* C++ local statics initialise once, thread-safely */
    return on;
}

extern "C" int lv_cuda_launch_check(lv_backend *be, const char *what, const char *func,
                                    const char *file, int line) {
    char call[160] = "";
    cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess) {
        snprintf(call, sizeof call, "launching %s", what);
    } else if (lv_cuda_sync_debug()) {
        e = cudaDeviceSynchronize();
        snprintf(call, sizeof call, "%s, synchronized by LIVER_VLM_CUDA_SYNC=1", what);
    }
    if (e == cudaSuccess) return 0;
    lv_cuda_op_fail(be, "CUDA", call, LV_CUDA_ERR_DETAIL_(e), func, file, line);
    return 1;
}

static void *cuda_alloc(lv_backend *be, size_t bytes) {
    cuda_ctx *c = ctx_of(be);
    /* A zero-byte request still gets a real, freeable pointer, as on the CPU backend. */
    size_t n = bytes ? bytes : 1;
    void *p = NULL;
    cudaError_t e = c->pooled ? cudaMallocAsync(&p, n, c->stream) : cudaMalloc(&p, n);
    if (e != cudaSuccess) {
        /* The caller sees NULL now; the sticky error keeps the size and the CUDA reason. */
        char call[96];
        snprintf(call, sizeof call, "%s of %zu bytes", c->pooled ? "cudaMallocAsync" : "cudaMalloc",
                 bytes);
        lv_cuda_op_fail(be, "CUDA", call, LV_CUDA_ERR_DETAIL_(e), __func__, __FILE__, __LINE__);
        return NULL;
    }
    /* Zeroed as the interface promises; on our stream, so every later use is ordered after. */
    if (LV_CUDA_FAILED(be, cudaMemsetAsync(p, 0, n, c->stream))) {
        if (c->pooled) (void)cudaFreeAsync(p, c->stream);
        else (void)cudaFree(p);
        return NULL;
    }
    (void)lv_cuda_launch_check(be, "alloc", __func__, __FILE__, __LINE__);
    return p;
}

static void cuda_free(lv_backend *be, void *p) {
    if (p == NULL) return;
    cuda_ctx *c = ctx_of(be);
    /* Stream-ordered: queued kernels still reading p finish before the pool reuses it. */
    if (c->pooled) LV_CUDA_CHECK_OP(be, cudaFreeAsync(p, c->stream));
    else LV_CUDA_CHECK_OP(be, cudaFree(p));
}

static void cuda_memset0(lv_backend *be, void *p, size_t bytes) {
    if (bytes == 0) return;
    LV_CUDA_CHECK_OP(be, cudaMemsetAsync(p, 0, bytes, ctx_of(be)->stream));
    LV_CUDA_LAUNCH_CHECK(be, "memset0");
}

/* From pageable memory CUDA stages the source before returning, so the caller may reuse
 * it at once; a pinned (cudaHostAlloc) source is read later and must stay until sync. */
static void cuda_copy_h2d(lv_backend *be, void *dst, const void *src, size_t bytes) {
    if (bytes == 0) return;
    LV_CUDA_CHECK_OP(be, cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, ctx_of(be)->stream));
    LV_CUDA_LAUNCH_CHECK(be, "copy_h2d");
}

static void cuda_copy_d2d(lv_backend *be, void *dst, const void *src, size_t bytes) {
    if (bytes == 0) return;
    LV_CUDA_CHECK_OP(be, cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, ctx_of(be)->stream));
    LV_CUDA_LAUNCH_CHECK(be, "copy_d2d");
}

/* Host code reads dst right after this returns (a loss, a metric), so it waits for the
 * copy. On failure dst is zeroed rather than left as stale bytes; sync reports why. */
static void cuda_copy_d2h(lv_backend *be, void *dst, const void *src, size_t bytes) {
    if (bytes == 0) return;
    cudaStream_t stream = ctx_of(be)->stream;
    if (LV_CUDA_FAILED(be, cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, stream)) ||
        LV_CUDA_FAILED(be, cudaStreamSynchronize(stream)))
        memset(dst, 0, bytes);
}

/* Page-locked memory: the DMA engine reads it directly, so copy_h2d_async returns at once
 * and the copy overlaps compute (a pageable source would be staged by the driver first). */
static void *cuda_host_alloc(lv_backend *be, size_t bytes) {
    size_t n = bytes ? bytes : 1;
    void *p = NULL;
    cudaError_t e = cudaHostAlloc(&p, n, cudaHostAllocDefault);
    if (e != cudaSuccess) {
        char call[96];
        snprintf(call, sizeof call, "cudaHostAlloc of %zu bytes", bytes);
        lv_cuda_op_fail(be, "CUDA", call, LV_CUDA_ERR_DETAIL_(e), __func__, __FILE__, __LINE__);
        return NULL;
    }
    memset(p, 0, n);
    return p;
}

static void cuda_host_free(lv_backend *be, void *p) {
    if (p != NULL) LV_CUDA_CHECK_OP(be, cudaFreeHost(p));
}

static void cuda_copy_h2d_async(lv_backend *be, void *dst, const void *src, size_t bytes) {
    if (bytes == 0) return;
    LV_CUDA_CHECK_OP(be, cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, ctx_of(be)->copy_stream));
    LV_CUDA_LAUNCH_CHECK(be, "copy_h2d_async");
}

static void *cuda_event_create(lv_backend *be) {
    cudaEvent_t ev = NULL;
    /* No timing: a timing event costs a timestamp write and is slower to wait on. */
    if (LV_CUDA_FAILED(be, cudaEventCreateWithFlags(&ev, cudaEventDisableTiming))) return NULL;
    return (void *)ev;
}

static void cuda_event_destroy(lv_backend *be, void *ev) {
    if (ev != NULL) LV_CUDA_CHECK_OP(be, cudaEventDestroy((cudaEvent_t)ev));
}

static cudaStream_t queue_stream(cuda_ctx *c, lv_queue q) { return q == LV_QUEUE_COPY ? c->copy_stream : c->stream; }

static void cuda_event_record(lv_backend *be, void *ev, lv_queue q) {
    LV_CUDA_CHECK_OP(be, cudaEventRecord((cudaEvent_t)ev, queue_stream(ctx_of(be), q)));
}

static void cuda_event_wait(lv_backend *be, void *ev, lv_queue q) {
    if (q == LV_QUEUE_HOST) LV_CUDA_CHECK_OP(be, cudaEventSynchronize((cudaEvent_t)ev));
    else LV_CUDA_CHECK_OP(be, cudaStreamWaitEvent(queue_stream(ctx_of(be), q), (cudaEvent_t)ev, 0));
}

/* Waits for both queues: "everything queued is done" includes uploads in flight, and a
 * fault on the copy stream must surface here too. */
static lv_status cuda_sync(lv_backend *be) {
    cuda_ctx *c = ctx_of(be);
    cudaError_t e = cudaStreamSynchronize(c->stream);
    if (e == cudaSuccess && c->copy_stream) e = cudaStreamSynchronize(c->copy_stream);
    if (e != cudaSuccess) {
        /* An asynchronous fault surfaces here, far from the op that caused it. */
        const char *call = lv_cuda_sync_debug()
                               ? "cudaStreamSynchronize(stream)"
                               : "cudaStreamSynchronize(stream); rerun with LIVER_VLM_CUDA_SYNC=1 "
                                 "to find the op that faulted";
        lv_cuda_op_fail(be, "CUDA", call, LV_CUDA_ERR_DETAIL_(e), __func__, __FILE__, __LINE__);
    }
    (void)LV_CUDA_FAILED(be, cudaGetLastError());
    return lv_backend_take_error(be);
}

/* Releases whatever cuda_setup managed to create; safe on a partly built context. */
static void cuda_release(cuda_ctx *c) {
    (void)cudaSetDevice(c->device);
    if (c->stream) (void)cudaStreamSynchronize(c->stream);
    if (c->copy_stream) (void)cudaStreamSynchronize(c->copy_stream);
    lv_cuda_conv_cache_free(c);
    c->conv = NULL;
    if (c->workspace) (void)cudaFree(c->workspace);
    c->workspace = NULL;
    c->workspace_bytes = 0;
    if (c->cudnn) (void)cudnnDestroy(c->cudnn);
    if (c->cublas) (void)cublasDestroy(c->cublas);
    if (c->stream) (void)cudaStreamDestroy(c->stream);
    if (c->copy_stream) (void)cudaStreamDestroy(c->copy_stream);
    c->copy_stream = NULL;
    c->cudnn = NULL;
    c->cublas = NULL;
    c->stream = NULL;
    (void)cudaGetLastError(); /* teardown errors have no one left to report to */
}

static void cuda_destroy(lv_backend *be) {
    cuda_ctx *c = ctx_of(be);
    cuda_release(c);
    free(c);
    free(be);
}

static lv_status cuda_setup(cuda_ctx *c, int device) {
    c->device = device;
    LV_CUDA_CHECK(cudaSetDevice(device));
    LV_CUDA_CHECK(cudaDeviceGetAttribute(&c->cc_major, cudaDevAttrComputeCapabilityMajor, device));
    LV_CUDA_CHECK(cudaDeviceGetAttribute(&c->cc_minor, cudaDevAttrComputeCapabilityMinor, device));
    LV_CUDA_CHECK(cudaDeviceGetAttribute(&c->sm_count, cudaDevAttrMultiProcessorCount, device));
    int pools = 0;
    LV_CUDA_CHECK(cudaDeviceGetAttribute(&pools, cudaDevAttrMemoryPoolsSupported, device));
    if (pools) {
        /* The default pool hands memory back to the driver at every synchronisation
         * (threshold 0), which turns each step's allocations into real cudaMallocs. */
        cudaMemPool_t pool;
        uint64_t keep = UINT64_MAX;
        LV_CUDA_CHECK(cudaDeviceGetDefaultMemPool(&pool, device));
        LV_CUDA_CHECK(cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &keep));
        c->pooled = 1;
    }
    /* A blocking stream: anything a library queues on the legacy default stream stays
     * ordered with our work, and with one stream there is no overlap to lose. */
    LV_CUDA_CHECK(cudaStreamCreate(&c->stream));
    LV_CUDA_CHECK(cudaStreamCreateWithFlags(&c->copy_stream, cudaStreamNonBlocking));
    LV_CUBLAS_CHECK(cublasCreate(&c->cublas));
    LV_CUBLAS_CHECK(cublasSetStream(c->cublas, c->stream));
    LV_CUDNN_CHECK(cudnnCreate(&c->cudnn));
    LV_CUDNN_CHECK(cudnnSetStream(c->cudnn, c->stream));
    return LV_OK;
}

static void fill_ops(lv_ops *o) {
    o->conv2d_forward = lv_cuda_conv2d_forward;
    o->conv2d_backward = lv_cuda_conv2d_backward;
    o->batchnorm2d_forward = lv_cuda_batchnorm2d_forward;
    o->batchnorm2d_backward = lv_cuda_batchnorm2d_backward;
    o->batchnorm2d_sync_stats = lv_cuda_batchnorm2d_sync_stats;
    o->batchnorm2d_sync_forward = lv_cuda_batchnorm2d_sync_forward;
    o->batchnorm2d_sync_backward_stats = lv_cuda_batchnorm2d_sync_backward_stats;
    o->batchnorm2d_sync_backward = lv_cuda_batchnorm2d_sync_backward;
    o->relu_forward = lv_cuda_relu_forward;
    o->relu_backward = lv_cuda_relu_backward;
    o->maxpool2d_forward = lv_cuda_maxpool2d_forward;
    o->maxpool2d_backward = lv_cuda_maxpool2d_backward;
    o->avgpool_forward = lv_cuda_avgpool_forward;
    o->avgpool_backward = lv_cuda_avgpool_backward;
    o->linear_forward = lv_cuda_linear_forward;
    o->linear_backward = lv_cuda_linear_backward;
    o->residual_add_forward = lv_cuda_residual_add_forward;
    o->residual_add_backward = lv_cuda_residual_add_backward;
    o->layernorm_forward = lv_cuda_layernorm_forward;
    o->layernorm_backward = lv_cuda_layernorm_backward;
    o->gelu_forward = lv_cuda_gelu_forward;
    o->gelu_backward = lv_cuda_gelu_backward;
    o->softmax_forward = lv_cuda_softmax_forward;
    o->softmax_backward = lv_cuda_softmax_backward;
    o->attention_forward = lv_cuda_attention_forward;
    o->attention_backward = lv_cuda_attention_backward;
    o->embedding_forward = lv_cuda_embedding_forward;
    o->embedding_backward = lv_cuda_embedding_backward;
    o->masked_mean_pool_forward = lv_cuda_masked_mean_pool_forward;
    o->masked_mean_pool_backward = lv_cuda_masked_mean_pool_backward;
    o->l2norm_forward = lv_cuda_l2norm_forward;
    o->l2norm_backward = lv_cuda_l2norm_backward;
    o->cosine_ce = lv_cuda_cosine_ce;
    o->cross_entropy = lv_cuda_cross_entropy;
    o->clip_loss = lv_cuda_clip_loss;
    o->adamw_update = lv_cuda_adamw_update;
    o->sgd_update = lv_cuda_sgd_update;
    o->grad_sumsq = lv_cuda_grad_sumsq;
    o->scale = lv_cuda_scale;
}

/* The workspace is stream-ordered memory on the compute stream, where every op that uses it
 * runs: growing it frees the old buffer after the kernels queued on it and allocates the new
 * one without waiting for the device. A plain cudaFree would wait for all of the device,
 * NCCL's kernels on their own streams included. Growth happens a handful of times per run
 * (the largest layer sets the size on the first step). */
extern "C" void *lv_cuda_workspace(lv_backend *be, size_t bytes) {
    cuda_ctx *c = ctx_of(be);
    if (bytes <= c->workspace_bytes && c->workspace) return c->workspace;
    size_t want = bytes + bytes / 4 + 256;
    if (c->workspace) {
        void *old = c->workspace;
        c->workspace = NULL;
        c->workspace_bytes = 0;
        if (LV_CUDA_FAILED(be, cudaFreeAsync(old, c->stream))) return NULL;
    }
    if (LV_CUDA_FAILED(be, cudaMallocAsync(&c->workspace, want, c->stream))) {
        c->workspace = NULL;
        return NULL;
    }
    c->workspace_bytes = want;
    return c->workspace;
}

extern "C" cublasHandle_t lv_cuda_cublas(lv_backend *be) {
    cuda_ctx *c = ctx_of(be);
    cublasMath_t mode = be->tf32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH;
    if (cublasSetMathMode(c->cublas, mode) != CUBLAS_STATUS_SUCCESS)
        lv_backend_fail(be, LV_ERR_RUNTIME, "cublasSetMathMode failed");
    return c->cublas;
}

extern "C" cudnnMathType_t lv_cuda_cudnn_math(lv_backend *be) {
    return be->tf32 ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH; /* as PyTorch: FMA forbids TF32 */
}

extern "C" int lv_cuda_device_count(void) {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        (void)cudaGetLastError(); /* no driver or no device: an answer, not an error */
        return 0;
    }
    return n;
}

extern "C" lv_status lv_cuda_backend_create(lv_backend **out, int device_index) {
    *out = NULL;
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess || n <= 0) {
        (void)cudaGetLastError();
        return lv_errorf(LV_ERR_INPUT, "--device cuda: no CUDA device found (cudaGetDeviceCount: %s)",
                         e != cudaSuccess ? cudaGetErrorString(e) : "0 devices");
    }
    LV_CHECK(device_index >= 0 && device_index < n, LV_ERR_INPUT,
             "--device cuda: no CUDA device %d (%d visible)", device_index, n);

    lv_backend *be = (lv_backend *)calloc(1, sizeof *be);
    cuda_ctx *c = (cuda_ctx *)calloc(1, sizeof *c);
    if (be == NULL || c == NULL) {
        free(be);
        free(c);
        return lv_errorf(LV_ERR_RUNTIME, "cuda backend: out of memory");
    }
    lv_status s = cuda_setup(c, device_index);
    if (s != LV_OK) {
        cuda_release(c);
        free(c);
        free(be);
        return lv_error_wrap(s, "--device cuda: setting up device %d", device_index);
    }
    be->name = "cuda";
    be->kind = LV_DEVICE_CUDA;
    be->ctx = c;
    be->threads = 1;
    be->alloc = cuda_alloc;
    be->free = cuda_free;
    be->memset0 = cuda_memset0;
    be->copy_h2d = cuda_copy_h2d;
    be->copy_d2h = cuda_copy_d2h;
    be->copy_d2d = cuda_copy_d2d;
    be->sync = cuda_sync;
    be->host_alloc = cuda_host_alloc;
    be->host_free = cuda_host_free;
    be->copy_h2d_async = cuda_copy_h2d_async;
    be->event_create = cuda_event_create;
    be->event_destroy = cuda_event_destroy;
    be->event_record = cuda_event_record;
    be->event_wait = cuda_event_wait;
    be->destroy = cuda_destroy;
    /* TF32 tensor cores by default where they exist (Ampere and later), as --precision says. */
    be->tf32 = c->cc_major >= 8;
    fill_ops(&be->ops);
    *out = be;
    return LV_OK;
}
