/* NCCL for the data-parallel trainer (see cuda_comm.h): a non-blocking communicator on the
 * backend's device, collectives on their own stream, event-ordered with the compute stream,
 * and a deadline on everything NCCL does. Must not: synchronise the host per collective, use
 * the default stream, or wait anywhere without a deadline (a dead peer would hang us). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "cuda/cuda_backend.h"
#include "cuda/cuda_comm.h"

static_assert(LV_CUDA_COMM_ID_BYTES == NCCL_UNIQUE_ID_BYTES, "LV_CUDA_COMM_ID_BYTES must match NCCL");
static_assert(sizeof(ncclUniqueId) == NCCL_UNIQUE_ID_BYTES, "ncclUniqueId is its byte count");

/* Non-blocking communicators (ncclConfig_t.blocking) came with NCCL 2.14. */
#define LV_NCCL_MIN_VERSION 21400

struct lv_cuda_comm {
    lv_backend *be;
    ncclComm_t comm;         /* NULL once aborted or destroyed */
    cudaStream_t stream;     /* collectives only: non-blocking, highest priority */
    cudaEvent_t ready;       /* recorded on the compute stream before each collective */
    cudaEvent_t done;        /* recorded on our stream after the latest collective */
    int rank, world;
    double timeout_s;
    int pending;             /* a collective is queued and not yet seen finished */
    double since;            /* when the oldest unfinished collective was queued */
    const char *what;        /* the latest collective, for messages */
    unsigned long long seq;  /* collectives queued so far */
    int aborted;
    char host[64];
    char why[512];           /* the abort's reason, repeated by later calls */
};

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Back-off for polling loops: the first polls spin (a short collective is done within
 * microseconds), then sleeps grow from 20 us to 640 us, so a long wait costs no CPU while
 * a short one adds little latency. */
static void nap(int *round) {
    if (*round < 16) {
        (*round)++;
        return;
    }
    int k = *round - 16;
    struct timespec ts = {0, 20000L << (k < 5 ? k : 5)};
    if (k < 5) (*round)++;
    nanosleep(&ts, NULL);
}

/* cudaEventQuery's "not ready" is an answer, not a fault: never let it linger as the
 * runtime's last error, where the backend's next sync would report it. */
static void forget_not_ready(void) {
    if (cudaPeekAtLastError() == cudaErrorNotReady) (void)cudaGetLastError();
}

static void comm_abort(lv_cuda_comm *c) {
    if (c->comm) (void)ncclCommAbort(c->comm); /* kernels waiting on peers exit */
    c->comm = NULL;
    c->aborted = 1;
    c->pending = 0;
}

/* Aborts the communicator and returns LV_ERR_RUNTIME with a message naming this rank. The
 * peers' own watchdogs (or the launcher, once this rank exits) end them. */
static lv_status comm_fail(lv_cuda_comm *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static lv_status comm_fail(lv_cuda_comm *c, const char *fmt, ...) {
    char detail[384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    comm_abort(c);
    snprintf(c->why, sizeof c->why, "NCCL, rank %d of %d on %s: %s; communicator aborted", c->rank, c->world,
             c->host, detail);
    return lv_errorf(LV_ERR_RUNTIME, "%s", c->why);
}

static const char *nccl_detail(void) {
    const char *s = ncclGetLastError(NULL);
    return s && s[0] ? s : "no detail (NCCL_DEBUG=WARN shows more)";
}

/* After an NCCL call on a non-blocking communicator: ncclInProgress means "still being set
 * up or enqueued", to be polled until it settles, at most timeout_s. `call` names it. */
static lv_status settle(lv_cuda_comm *c, ncclResult_t r, const char *call) {
    if (r == ncclSuccess) return LV_OK;
    if (r != ncclInProgress) return comm_fail(c, "%s failed: %s (%s)", call, ncclGetErrorString(r), nccl_detail());
    double t0 = now_s();
    for (int round = 0;; nap(&round)) {
        ncclResult_t st = ncclInProgress, q = ncclCommGetAsyncError(c->comm, &st);
        if (q != ncclSuccess)
            return comm_fail(c, "ncclCommGetAsyncError during %s: %s", call, ncclGetErrorString(q));
        if (st == ncclSuccess) return LV_OK;
        if (st != ncclInProgress)
            return comm_fail(c, "%s failed: %s (%s)", call, ncclGetErrorString(st), nccl_detail());
        if (now_s() - t0 > c->timeout_s)
            return comm_fail(c,
                             "%s did not complete within --comm-timeout %g s: did every rank start, and can "
                             "they reach each other (NCCL_SOCKET_IFNAME, NCCL_DEBUG=INFO)?",
                             call, c->timeout_s);
    }
}

static lv_status usable(const lv_cuda_comm *c, const char *what) {
    if (!c) return lv_errorf(LV_ERR_RUNTIME, "NCCL: %s without a communicator", what);
    if (c->aborted || !c->comm)
        return lv_errorf(LV_ERR_RUNTIME, "NCCL, rank %d of %d: %s: the communicator was aborted earlier (%s)",
                         c->rank, c->world, what, c->why[0] ? c->why : "destroyed");
    return LV_OK;
}

/* Orders the next collective after everything queued on the compute stream so far. */
static lv_status enqueue_begin(lv_cuda_comm *c, double *queued) {
    *queued = now_s();
    LV_CUDA_CHECK(cudaEventRecord(c->ready, lv_cuda_stream(c->be)));
    LV_CUDA_CHECK(cudaStreamWaitEvent(c->stream, c->ready, 0));
    return LV_OK;
}

static lv_status enqueue_end(lv_cuda_comm *c, ncclResult_t r, const char *what, double queued) {
    LV_TRY(settle(c, r, what));
    LV_CUDA_CHECK(cudaEventRecord(c->done, c->stream));
    if (!c->pending) c->since = queued;
    c->pending = 1;
    c->what = what;
    c->seq++;
    return LV_OK;
}

/* ---- public -------------------------------------------------------------------------------- */

extern "C" int lv_cuda_comm_available(void) { return 1; }

extern "C" const char *lv_cuda_comm_version(char *buf, size_t cap) {
    int v = 0;
    if (ncclGetVersion(&v) != ncclSuccess)
        snprintf(buf, cap, "unknown (built with %d.%d.%d)", NCCL_MAJOR, NCCL_MINOR, NCCL_PATCH);
    else
        snprintf(buf, cap, "%d.%d.%d (built with %d.%d.%d)", v / 10000, v / 100 % 100, v % 100, NCCL_MAJOR,
                 NCCL_MINOR, NCCL_PATCH);
    return buf;
}

/* strncpy that always terminates and never warns about truncation. */
static void copy_text(char *dst, size_t cap, const char *src, size_t src_cap) {
    size_t k = strnlen(src, src_cap);
    if (k >= cap) k = cap - 1;
    memcpy(dst, src, k);
    dst[k] = '\0';
}

extern "C" lv_status lv_cuda_device_describe(lv_backend *be, lv_cuda_device_desc *d) {
    memset(d, 0, sizeof *d);
    LV_CHECK(be && be->kind == LV_DEVICE_CUDA, LV_ERR_USAGE, "device description: %s is not a CUDA backend",
             be ? be->name : "(none)");
    int dev = lv_cuda_ctx_of(be)->device;
    cudaDeviceProp p;
    LV_CUDA_CHECK(cudaGetDeviceProperties(&p, dev));
    d->index = dev;
    copy_text(d->name, sizeof d->name, p.name, sizeof p.name);
    char pci[sizeof d->pci];
    LV_CUDA_CHECK(cudaDeviceGetPCIBusId(pci, (int)sizeof pci, dev));
    copy_text(d->pci, sizeof d->pci, pci, sizeof pci);
    return LV_OK;
}

extern "C" lv_status lv_cuda_comm_unique_id(void *id, size_t cap) {
    LV_CHECK(id && cap >= sizeof(ncclUniqueId), LV_ERR_USAGE, "NCCL unique id: a buffer of %zu bytes, need %zu",
             cap, sizeof(ncclUniqueId));
    ncclUniqueId u;
    LV_NCCL_CHECK(ncclGetUniqueId(&u));
    memcpy(id, &u, sizeof u);
    return LV_OK;
}

static lv_status comm_setup(lv_cuda_comm *c, const void *id) {
    int v = 0;
    LV_NCCL_CHECK(ncclGetVersion(&v));
    char ver[64];
    LV_CHECK(v >= LV_NCCL_MIN_VERSION, LV_ERR_RUNTIME,
             "NCCL %s is loaded; the non-blocking communicator needs NCCL 2.14 or later (or use --comm mpi)",
             lv_cuda_comm_version(ver, sizeof ver));
    LV_CUDA_CHECK(cudaSetDevice(lv_cuda_ctx_of(c->be)->device));
    int least = 0, greatest = 0;
    LV_CUDA_CHECK(cudaDeviceGetStreamPriorityRange(&least, &greatest));
    /* Highest priority: once buckets overlap backward, their kernels go first. Non-blocking:
     * nothing on the legacy default stream may serialise with communication. */
    LV_CUDA_CHECK(cudaStreamCreateWithPriority(&c->stream, cudaStreamNonBlocking, greatest));
    LV_CUDA_CHECK(cudaEventCreateWithFlags(&c->ready, cudaEventDisableTiming));
    LV_CUDA_CHECK(cudaEventCreateWithFlags(&c->done, cudaEventDisableTiming));
    ncclUniqueId uid;
    memcpy(&uid, id, sizeof uid);
    ncclConfig_t cfg = NCCL_CONFIG_INITIALIZER;
    cfg.blocking = 0;
    ncclResult_t r = ncclCommInitRankConfig(&c->comm, c->world, uid, c->rank, &cfg);
    return settle(c, r, "ncclCommInitRankConfig (joining the communicator)");
}

extern "C" lv_status lv_cuda_comm_create(lv_cuda_comm **out, lv_backend *be, const void *id, int rank, int world,
                                         double timeout_s) {
    *out = NULL;
    LV_CHECK(be && be->kind == LV_DEVICE_CUDA, LV_ERR_USAGE,
             "--comm nccl needs the CUDA backend (this rank runs on the %s backend)", be ? be->name : "no");
    LV_CHECK(id, LV_ERR_USAGE, "NCCL: no unique id");
    LV_CHECK(world >= 1 && rank >= 0 && rank < world, LV_ERR_USAGE, "NCCL: rank %d of %d", rank, world);
    LV_CHECK(isfinite(timeout_s) && timeout_s > 0, LV_ERR_USAGE, "NCCL: timeout %g s, expected > 0", timeout_s);
    lv_cuda_comm *c = (lv_cuda_comm *)calloc(1, sizeof *c);
    LV_CHECK(c, LV_ERR_RUNTIME, "NCCL: out of memory");
    c->be = be;
    c->rank = rank;
    c->world = world;
    c->timeout_s = timeout_s;
    c->what = "nothing yet";
    if (gethostname(c->host, sizeof c->host - 1) != 0) snprintf(c->host, sizeof c->host, "unknown host");
    c->host[sizeof c->host - 1] = '\0';
    lv_status s = comm_setup(c, id);
    if (s != LV_OK) {
        comm_abort(c);
        lv_cuda_comm_destroy(c);
        return s;
    }
    *out = c;
    return LV_OK;
}

extern "C" lv_status lv_cuda_comm_allreduce_mean(lv_cuda_comm *c, float *dev, size_t n, const char *what) {
    LV_TRY(usable(c, what));
    if (n == 0) return LV_OK;
    double queued = 0;
    LV_TRY(enqueue_begin(c, &queued));
    ncclResult_t r = ncclAllReduce(dev, dev, n, ncclFloat32, ncclAvg, c->comm, c->stream);
    return enqueue_end(c, r, what, queued);
}

extern "C" lv_status lv_cuda_comm_bcast(lv_cuda_comm *c, void *dev, size_t bytes, const char *what) {
    LV_TRY(usable(c, what));
    if (bytes == 0) return LV_OK;
    double queued = 0;
    LV_TRY(enqueue_begin(c, &queued));
    ncclResult_t r = ncclBroadcast(dev, dev, bytes, ncclUint8, 0, c->comm, c->stream);
    return enqueue_end(c, r, what, queued);
}

extern "C" lv_status lv_cuda_comm_wait(lv_cuda_comm *c) {
    LV_TRY(usable(c, "waiting for the collectives"));
    if (c->seq == 0) return LV_OK;
    LV_CUDA_CHECK(cudaStreamWaitEvent(lv_cuda_stream(c->be), c->done, 0));
    return LV_OK;
}

extern "C" lv_status lv_cuda_comm_check(lv_cuda_comm *c, int *done) {
    if (done) *done = 0;
    LV_TRY(usable(c, "watchdog"));
    ncclResult_t st = ncclSuccess, q = ncclCommGetAsyncError(c->comm, &st);
    if (q != ncclSuccess)
        return comm_fail(c, "ncclCommGetAsyncError while waiting for %s: %s", c->what, ncclGetErrorString(q));
    if (st != ncclSuccess && st != ncclInProgress)
        return comm_fail(c, "%s (collective #%llu) failed: %s (%s)", c->what, c->seq, ncclGetErrorString(st),
                         nccl_detail());
    if (c->pending) {
        cudaError_t e = cudaEventQuery(c->done);
        if (e == cudaSuccess) {
            c->pending = 0;
        } else if (e == cudaErrorNotReady) {
            forget_not_ready();
            double waited = now_s() - c->since;
            if (waited > c->timeout_s)
                return comm_fail(c,
                                 "watchdog: %s (collective #%llu) has not finished %.1f s after it was queued "
                                 "(--comm-timeout %g s): another rank died, hangs or is at a different step",
                                 c->what, c->seq, waited, c->timeout_s);
            return LV_OK;
        } else {
            (void)cudaGetLastError();
            return comm_fail(c, "CUDA error while waiting for %s: %s", c->what, cudaGetErrorString(e));
        }
    }
    if (done) *done = 1;
    return LV_OK;
}

extern "C" lv_status lv_cuda_comm_synchronize(lv_cuda_comm *c) {
    int done = 0;
    for (int round = 0;; nap(&round)) {
        LV_TRY(lv_cuda_comm_check(c, &done));
        if (done) return LV_OK;
    }
}

extern "C" void lv_cuda_comm_abort(lv_cuda_comm *c) {
    if (!c || c->aborted) return;
    comm_abort(c);
    snprintf(c->why, sizeof c->why, "aborted by rank %d of %d on %s after an error", c->rank, c->world, c->host);
}

/* Flushes and destroys a healthy communicator, polled against the deadline; false when it
 * had to be aborted instead. Never touches the thread's error message. */
static int finalize(lv_cuda_comm *c) {
    double t0 = now_s();
    for (int round = 0; c->pending; nap(&round)) {
        ncclResult_t st = ncclSuccess;
        if (ncclCommGetAsyncError(c->comm, &st) != ncclSuccess || (st != ncclSuccess && st != ncclInProgress))
            return 0;
        cudaError_t e = cudaEventQuery(c->done);
        if (e == cudaSuccess) c->pending = 0;
        else if (e != cudaErrorNotReady || now_s() - t0 > c->timeout_s) return 0;
        forget_not_ready();
    }
    ncclResult_t r = ncclCommFinalize(c->comm);
    for (int round = 0; r == ncclInProgress; nap(&round)) {
        if (ncclCommGetAsyncError(c->comm, &r) != ncclSuccess) return 0;
        if (r == ncclInProgress && now_s() - t0 > c->timeout_s) return 0;
    }
    if (r != ncclSuccess) return 0;
    /* Finalized: whatever destroy answers, the handle is gone (no abort after it). */
    r = ncclCommDestroy(c->comm);
    c->comm = NULL;
    return r == ncclSuccess;
}

extern "C" void lv_cuda_comm_destroy(lv_cuda_comm *c) {
    if (!c) return;
    if (c->comm && !finalize(c)) {
        LV_WARN("NCCL, rank %d of %d: the communicator did not shut down cleanly within %g s; aborted it", c->rank,
                c->world, c->timeout_s);
        comm_abort(c);
    }
    if (c->done) (void)cudaEventDestroy(c->done);
    if (c->ready) (void)cudaEventDestroy(c->ready);
    if (c->stream) (void)cudaStreamDestroy(c->stream);
    (void)cudaGetLastError(); /* teardown errors have no one left to report to */
    free(c);
}
