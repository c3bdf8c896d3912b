/* The backend interface: a C vtable of memory, copies, sync and ops, chosen at run time
 * (ggml-style). Encoders and the trainer hold an lv_backend* and never know the device.
 * Op entries may be NULL where a backend lacks an op; the dispatchers in ops.h turn that
 * into a sticky error rather than a crash. */
#ifndef LV_BACKEND_H
#define LV_BACKEND_H

#include <stddef.h>

#include "ops.h"
#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum lv_device_kind { LV_DEVICE_CPU = 0, LV_DEVICE_CUDA = 1 } lv_device_kind;

/* Who records or waits on a staging event (see the optional entries below): the compute
 * queue every op runs on, the copy queue of copy_h2d_async, or the calling host thread. */
typedef enum lv_queue { LV_QUEUE_COMPUTE = 0, LV_QUEUE_COPY = 1, LV_QUEUE_HOST = 2 } lv_queue;

struct lv_backend {
    const char *name; /* "cpu" or "cuda" */
    lv_device_kind kind;
    void *ctx; /* backend-private state (streams, handles, workspace) */

    /* Memory. alloc returns zeroed memory or NULL; all sizes in bytes. */
    void *(*alloc)(lv_backend *be, size_t bytes);
    void (*free)(lv_backend *be, void *ptr);
    void (*memset0)(lv_backend *be, void *ptr, size_t bytes);
    void (*copy_h2d)(lv_backend *be, void *dst, const void *src, size_t bytes);
    void (*copy_d2h)(lv_backend *be, void *dst, const void *src, size_t bytes);
    void (*copy_d2d)(lv_backend *be, void *dst, const void *src, size_t bytes);
    /* Waits for queued work and returns the first error any op or copy recorded since the
     * last sync. Ops are void (they may run asynchronously on a GPU stream), so errors are
     * sticky until here, the way CUDA reports asynchronous faults. */
    lv_status (*sync)(lv_backend *be);
    void (*destroy)(lv_backend *be);

    /* Optional staging entries (all set or all NULL; lv_backend_can_stage): the pieces of a
     * double-buffered upload that overlaps the copy of batch k+1 with the compute of batch k
     * (train/batch_stage.h). CUDA: page-locked memory, a second stream, events. CPU: malloc,
     * a synchronous memcpy and events that are always complete, so a staged run computes on
     * the very bytes a plain run does.
     * host_alloc: zeroed host memory the copy queue can read without staging it first (CUDA:
     *   cudaHostAlloc); NULL with the sticky error set when it cannot. host_free releases it.
     * copy_h2d_async: queued on the copy queue, unordered with the compute queue except
     *   through events; src must stay untouched until an event recorded after it completes.
     * event_record(ev, q): ev completes once everything queued on q so far is done (q is
     *   COMPUTE or COPY). event_wait(ev, q): COMPUTE/COPY queue later work behind ev without
     *   blocking the host; HOST blocks the caller. An event never recorded is complete. */
    void *(*host_alloc)(lv_backend *be, size_t bytes);
    void (*host_free)(lv_backend *be, void *ptr);
    void (*copy_h2d_async)(lv_backend *be, void *dst, const void *src, size_t bytes);
    void *(*event_create)(lv_backend *be);
    void (*event_destroy)(lv_backend *be, void *ev);
    void (*event_record)(lv_backend *be, void *ev, lv_queue q);
    void (*event_wait)(lv_backend *be, void *ev, lv_queue q);

    lv_ops ops;

    /* Sticky error state, set by lv_backend_fail; read and cleared by sync. */
    lv_status error;
    char error_msg[512];
    int threads; /* CPU threads for math libraries; informational on CUDA */
    /* 1: convolutions and GEMMs may use TF32 tensor cores (--precision tf32, the default on
     * CUDA devices of compute capability 8.0 and up). The CPU always computes in fp32. */
    int tf32;
};

/* device: "auto" (CUDA only if built with it and a device exists), "cpu" or "cuda". */
lv_status lv_backend_create(lv_backend **out, const char *device);
/* As lv_backend_create, for one rank of a data-parallel job: CUDA takes device
 * local_rank % (devices visible), so ranks on one host spread over its GPUs. */
lv_status lv_backend_create_rank(lv_backend **out, const char *device, int local_rank);
void lv_backend_destroy(lv_backend *be);
/* --precision: "fp32" (tf32 = 0) or "tf32" (tf32 = 1 on CUDA; accepted on the CPU, which
 * computes in fp32 regardless). LV_ERR_USAGE for anything else (bf16 comes later). */
lv_status lv_backend_set_precision(lv_backend *be, const char *precision);

/* 1 when every optional staging entry is set. */
int lv_backend_can_stage(const lv_backend *be);

/* Records the first asynchronous error (later ones are dropped: the first is the cause). */
void lv_backend_fail(lv_backend *be, lv_status code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Returns the sticky error (re-raising its message) and clears it; backends' sync calls it. */
lv_status lv_backend_take_error(lv_backend *be);

/* Backend constructors; the CUDA one lives in cuda/ and is a stub that reports
 * "built without CUDA" when the build has no CUDA. */
lv_status lv_cpu_backend_create(lv_backend **out, int threads);
lv_status lv_cuda_backend_create(lv_backend **out, int device_index);
/* Number of CUDA devices visible (0 without a CUDA build or driver). */
int lv_cuda_device_count(void);

#ifdef __cplusplus
}
#endif
#endif
