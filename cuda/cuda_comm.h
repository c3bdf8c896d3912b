/* NCCL between the ranks' GPUs for the data-parallel trainer: one communicator per process on
 * its backend's device, collectives on a dedicated stream ordered against the compute stream
 * by events (no host synchronisation per collective), and a watchdog that aborts the
 * communicator when a collective outlives its deadline, so no rank waits forever on a dead
 * peer. Plain C, no CUDA types: train/ calls it; a build without CUDA links cuda_stub.c's
 * versions, which refuse with "built without CUDA". The bootstrap (sharing the unique id) is
 * the caller's: MPI broadcast in the trainer. */
#ifndef LV_CUDA_COMM_H
#define LV_CUDA_COMM_H

#include <stddef.h>

#include "core/backend.h"
#include "core/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Bytes of an NCCL unique id (NCCL_UNIQUE_ID_BYTES; comm.cu checks they agree). */
#define LV_CUDA_COMM_ID_BYTES 128

typedef struct lv_cuda_comm lv_cuda_comm;

/* The GPU a backend runs on, for the start log and the one-GPU-per-rank check. */
typedef struct lv_cuda_device_desc {
    int index;     /* CUDA device index in this process */
    char name[96]; /* "NVIDIA H100 80GB HBM3" */
    char pci[32];  /* "0000:19:00.0": the same card seen by two processes has the same id */
} lv_cuda_device_desc;

/* 1 when this build has NCCL (a CUDA build), else 0. */
int lv_cuda_comm_available(void);

/* "2.28.9 (built with 2.28.9)" into buf: the loaded library's version and the header's.
 * Without CUDA: "none (built without CUDA)". Returns buf. */
const char *lv_cuda_comm_version(char *buf, size_t cap);

/* Describes the device of a CUDA backend (LV_ERR_USAGE for another backend). */
lv_status lv_cuda_device_describe(lv_backend *be, lv_cuda_device_desc *d);

/* Rank 0 only: a fresh NCCL unique id into id[0..cap), cap >= LV_CUDA_COMM_ID_BYTES. The
 * caller hands the same bytes to every rank (lv_dist_bcast). */
lv_status lv_cuda_comm_unique_id(void *id, size_t cap);

/* Joins the communicator `id` as `rank` of `world` on be's device (be must be CUDA). The
 * communicator is non-blocking: creation is polled until every rank has joined, and gives
 * up after timeout_s seconds (LV_ERR_RUNTIME naming the rank; the communicator is aborted).
 * timeout_s (> 0) is also the watchdog's deadline for every later collective. */
lv_status lv_cuda_comm_create(lv_cuda_comm **out, lv_backend *be, const void *id, int rank, int world,
                              double timeout_s);

/* In place on device memory: dev[i] = mean over ranks (ncclAllReduce, ncclAvg). Queued on
 * the communicator's stream after everything already queued on the backend's stream; returns
 * without waiting for it. `what` names the collective in error messages (kept by pointer:
 * pass a string literal or one that outlives the next lv_cuda_comm_check). */
lv_status lv_cuda_comm_allreduce_mean(lv_cuda_comm *c, float *dev, size_t n, const char *what);

/* In place: rank 0's `bytes` bytes at dev to every rank (ncclBroadcast), ordered like
 * lv_cuda_comm_allreduce_mean. */
lv_status lv_cuda_comm_bcast(lv_cuda_comm *c, void *dev, size_t bytes, const char *what);

/* Work queued on the backend's stream from now on runs after every collective queued so far
 * (an event, no host synchronisation). */
lv_status lv_cuda_comm_wait(lv_cuda_comm *c);

/* The watchdog, one poll, never blocking: *done = 1 when every queued collective has
 * finished (or none is queued), else 0. Returns LV_ERR_RUNTIME, after ncclCommAbort, when
 * NCCL reports an asynchronous error or the oldest unfinished collective was queued more
 * than timeout_s ago; the message names this rank, the collective and the deadline. */
lv_status lv_cuda_comm_check(lv_cuda_comm *c, int *done);

/* Polls lv_cuda_comm_check (with short sleeps) until the queued collectives are done or it
 * fails: call it where the host would otherwise block on work that depends on them. */
lv_status lv_cuda_comm_synchronize(lv_cuda_comm *c);

/* Ends the communicator: flushes it (ncclCommFinalize, polled against the deadline) when it
 * is healthy, else, or when that times out, ncclCommAbort. Safe on NULL. */
void lv_cuda_comm_destroy(lv_cuda_comm *c);

/* ncclCommAbort now (a failing rank leaving while others may still be in a collective);
 * later calls on c fail; lv_cuda_comm_destroy still frees it. Safe on NULL. */
void lv_cuda_comm_abort(lv_cuda_comm *c);

#ifdef __cplusplus
}
#endif
#endif
