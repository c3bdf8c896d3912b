/* The CUDA layer's checks: CUDA, cuBLAS, cuDNN and NCCL calls turned into lv_status (or a
 * sticky backend error inside void ops), with the call text, function, file and line.
 * Only the .cu files in cuda/ include this; core and everything above never see CUDA headers. */
#ifndef LV_CUDA_CHECK_H
#define LV_CUDA_CHECK_H

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>
#include <nccl.h>

#include "core/backend.h"
#include "core/status.h"
#include "cuda/launch.cuh"

#ifdef __cplusplus
extern "C" {
#endif

/* 1 when LIVER_VLM_CUDA_SYNC=1: every launch is followed by cudaDeviceSynchronize, so an
 * asynchronous fault is reported by the op that caused it instead of at the next sync.
 * Read once per process. */
int lv_cuda_sync_debug(void);

/* Call right after a kernel launch (or any enqueued copy/memset): records a bad launch
 * configuration and, under LIVER_VLM_CUDA_SYNC=1, any fault of the work itself, as the
 * backend's sticky error. Returns 0 when all is well. Use through LV_CUDA_LAUNCH_CHECK. */
int lv_cuda_launch_check(lv_backend *be, const char *what, const char *func, const char *file,
                         int line);

#ifdef __cplusplus
}
#endif

/* Records a failed call on the backend, formatted by lv_check_fail so that statuses and
 * sticky errors read alike. The first error wins (later ones are consequences). */
static inline void lv_cuda_op_fail(lv_backend *be, const char *lib, const char *call,
                                   const char *detail, const char *func, const char *file,
                                   int line) {
    if (be->error != LV_OK) return;
    lv_status s = lv_check_fail(LV_ERR_RUNTIME, lib, call, detail, func, file, line);
    lv_backend_fail(be, s, "%s", lv_error_message());
}

/* A CUDA runtime error also stays as the runtime's "last error"; it has been reported here,
 * so it is consumed, or the next sync's cudaGetLastError would report it a second time. */
#define LV_CUDA_ERR_DETAIL_(e) ((void)cudaGetLastError(), cudaGetErrorString(e))

/* Records a failed CUDA call on the backend without leaving the caller, for code that must
 * clean up first; nonzero when it failed. Use through LV_CUDA_FAILED. */
static inline int lv_cuda_failed(lv_backend *be, cudaError_t e, const char *call, const char *func,
                                 const char *file, int line) {
    if (e == cudaSuccess) return 0;
    lv_cuda_op_fail(be, "CUDA", call, LV_CUDA_ERR_DETAIL_(e), func, file, line);
    return 1;
}
#define LV_CUDA_FAILED(be, call) lv_cuda_failed((be), (call), #call, __func__, __FILE__, __LINE__)

/* From a function returning lv_status: return LV_ERR_RUNTIME when the call fails. */
#define LV_CUDA_CHECK(call)                                                                       \
    do {                                                                                          \
        cudaError_t lv_ce_ = (call);                                                              \
        if (lv_ce_ != cudaSuccess)                                                                \
            return lv_check_fail(LV_ERR_RUNTIME, "CUDA", #call, LV_CUDA_ERR_DETAIL_(lv_ce_),      \
                                 __func__, __FILE__, __LINE__);                                   \
    } while (0)

#define LV_CUBLAS_CHECK(call)                                                                     \
    do {                                                                                          \
        cublasStatus_t lv_bs_ = (call);                                                           \
        if (lv_bs_ != CUBLAS_STATUS_SUCCESS)                                                      \
            return lv_check_fail(LV_ERR_RUNTIME, "cuBLAS", #call, cublasGetStatusString(lv_bs_),  \
                                 __func__, __FILE__, __LINE__);                                   \
    } while (0)

#define LV_CUDNN_CHECK(call)                                                                      \
    do {                                                                                          \
        cudnnStatus_t lv_ds_ = (call);                                                            \
        if (lv_ds_ != CUDNN_STATUS_SUCCESS)                                                       \
            return lv_check_fail(LV_ERR_RUNTIME, "cuDNN", #call, cudnnGetErrorString(lv_ds_),     \
                                 __func__, __FILE__, __LINE__);                                   \
    } while (0)

#define LV_NCCL_CHECK(call)                                                                       \
    do {                                                                                          \
        ncclResult_t lv_ns_ = (call);                                                             \
        if (lv_ns_ != ncclSuccess)                                                                \
            return lv_check_fail(LV_ERR_RUNTIME, "NCCL", #call, ncclGetErrorString(lv_ns_),       \
                                 __func__, __FILE__, __LINE__);                                   \
    } while (0)

/* Inside a void op: record the failure as the backend's sticky error (returned by the next
 * sync) and leave the op, since the rest of it would only compound the fault. */
#define LV_CUDA_CHECK_OP(be, call)                                                                \
    do {                                                                                          \
        cudaError_t lv_ce_ = (call);                                                              \
        if (lv_ce_ != cudaSuccess) {                                                              \
            lv_cuda_op_fail((be), "CUDA", #call, LV_CUDA_ERR_DETAIL_(lv_ce_), __func__, __FILE__, \
                            __LINE__);                                                            \
            return;                                                                               \
        }                                                                                         \
    } while (0)

#define LV_CUBLAS_CHECK_OP(be, call)                                                              \
    do {                                                                                          \
        cublasStatus_t lv_bs_ = (call);                                                           \
        if (lv_bs_ != CUBLAS_STATUS_SUCCESS) {                                                    \
            lv_cuda_op_fail((be), "cuBLAS", #call, cublasGetStatusString(lv_bs_), __func__,       \
                            __FILE__, __LINE__);                                                  \
            return;                                                                               \
        }                                                                                         \
    } while (0)

#define LV_CUDNN_CHECK_OP(be, call)                                                               \
    do {                                                                                          \
        cudnnStatus_t lv_ds_ = (call);                                                            \
        if (lv_ds_ != CUDNN_STATUS_SUCCESS) {                                                     \
            lv_cuda_op_fail((be), "cuDNN", #call, cudnnGetErrorString(lv_ds_), __func__,          \
                            __FILE__, __LINE__);                                                  \
            return;                                                                               \
        }                                                                                         \
    } while (0)

#define LV_NCCL_CHECK_OP(be, call)                                                                \
    do {                                                                                          \
        ncclResult_t lv_ns_ = (call);                                                             \
        if (lv_ns_ != ncclSuccess) {                                                              \
            lv_cuda_op_fail((be), "NCCL", #call, ncclGetErrorString(lv_ns_), __func__, __FILE__,  \
                            __LINE__);                                                            \
            return;                                                                               \
        }                                                                                         \
    } while (0)

/* After LV_LAUNCH(grid, block, smem, stream, kernel)(...): leave the void op if the launch failed. */
#define LV_CUDA_LAUNCH_CHECK(be, what)                                                            \
    do {                                                                                          \
        if (lv_cuda_launch_check((be), (what), __func__, __FILE__, __LINE__)) return;             \
    } while (0)

#endif
