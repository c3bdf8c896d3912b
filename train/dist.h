/* Data-parallel processes: who am I (rank, world, ranks on this host), how I was launched
 * (mpirun, srun/torchrun environment, or a plain run) and the host-memory collectives the
 * CPU trainer needs (gradient mean, loss sums, skip flags, weight broadcast, eval gather).
 * MPI stays inside dist.c; a plain run never touches MPI. No device memory here: the
 * caller copies device buffers to the host, or (GPUs) uses the NCCL communicator of
 * train/trainer_comm.c, which this layer only bootstraps (lv_dist_bcast of its id). */
#ifndef LV_DIST_H
#define LV_DIST_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* How the host collectives travel. NCCL is not a value here on purpose: a communicator
 * belongs to a device and its stream, so it lives beside the backend in the trainer
 * (train/trainer_comm.c), chosen by --comm; this layer stays device-free. Still open: an
 * LV_DIST_COMM_NCCL_FILE value (the NCCL unique id written by rank 0 to a file on a shared
 * path, read by the others) to let environment-launched ranks with world > 1 through
 * lv_dist_init without MPI. */
typedef enum lv_dist_comm {
    LV_DIST_COMM_NONE = 0, /* world 1: every collective is the identity */
    LV_DIST_COMM_MPI = 1,  /* MPI_COMM_WORLD, MPI_Init called by lv_dist_init */
} lv_dist_comm;

typedef struct lv_dist {
    int rank, world;
    int local_rank, local_world; /* on this host */
    int hosts;                   /* distinct hosts in the job */
    int local_min, local_max;    /* fewest and most ranks on one host */
    const char *launcher;        /* "single", "mpi" or "env" */
    const char *source;          /* where rank/world came from: "none", "MPI", "SLURM",
                                    "RANK/WORLD_SIZE" */
    char host[64];               /* this rank's host name */
    lv_dist_comm comm;
    int initialized;
} lv_dist;

/* Finds out how the process was started and joins the job:
 * - mpirun (OMPI_COMM_WORLD_SIZE, PMI_SIZE, PMIX_RANK or PMI_RANK set): MPI_Init, rank and
 *   world from MPI_COMM_WORLD, errors returned as values (MPI_ERRORS_RETURN);
 * - else srun (SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID inside a job step, i.e. with
 *   SLURM_STEP_ID) or torchrun (RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE; these win
 *   when both are set, being the innermost launcher): rank and world from the environment;
 *   world > 1 is refused (LV_ERR_USAGE) because the CPU all-reduce needs MPI;
 * - else a single process; MPI is not initialised, so a plain run needs no mpirun.
 * Malformed or inconsistent variables (WORLD_SIZE=0, RANK >= WORLD_SIZE, RANK without
 * WORLD_SIZE, "abc") are LV_ERR_INPUT naming the variable. Calls lv_log_init(rank, world)
 * and logs (rank 0) the world size, ranks per host and launcher. argc/argv may be NULL.
 * Call before creating a CUDA backend (local_rank picks the device). */
lv_status lv_dist_init(lv_dist *d, int *argc, char ***argv);

/* Leaves the job (MPI_Finalize when lv_dist_init started MPI). Every rank must call it, after
 * its last collective. */
void lv_dist_finalize(lv_dist *d);

/* After a rank failed on its own (the others may be waiting in a collective): ends the
 * whole job with `exit_code` (MPI_Abort) so nothing hangs. Without MPI it returns and the
 * caller exits normally. */
void lv_dist_abort(lv_dist *d, int exit_code);

/* One line for the log: "world 2 (mpi), 1 host, 2 ranks per host". */
void lv_dist_describe(const lv_dist *d, char *out, size_t cap);

/* In place on host memory, every rank with the same n: buf = (sum over ranks) / world.
 * Summed with MPI_Allreduce, so every rank receives the same bits. */
lv_status lv_dist_allreduce_mean(lv_dist *d, float *buf, size_t n);
/* In place: buf[i] = sum over ranks (loss sums, sample counts). */
lv_status lv_dist_allreduce_sum_double(lv_dist *d, double *buf, size_t n);
/* In place: buf[i] = max over ranks (a non-finite flag: every rank skips the same step). */
lv_status lv_dist_allreduce_max_int(lv_dist *d, int *buf, size_t n);

/* `bytes` bytes from rank 0 to every rank (initial weights, so all ranks start identical).
 * Every rank must pass the same size; a mismatch is an LV_ERR_RUNTIME on every rank
 * (checked before the data moves, so no rank is left waiting). */
lv_status lv_dist_bcast(lv_dist *d, void *buf, size_t bytes);

/* Variable-length gather to rank 0 (eval predictions): on rank 0 *out is a malloc'd
 * concatenation of every rank's bytes in rank order (NULL when the total is 0; free() it),
 * *out_bytes its length and, when counts is not NULL, counts[r] the bytes rank r sent
 * (counts has world entries). On other ranks *out = NULL, *out_bytes = 0. */
lv_status lv_dist_gather(lv_dist *d, const void *send, size_t bytes, void **out, size_t *out_bytes,
                         size_t *counts);

/* LV_OK on every rank when all ranks hold the same `bytes` bytes (a 64-bit FNV-1a hash
 * compared across ranks), else LV_ERR_RUNTIME on every rank naming `what` and the first rank
 * that differs from rank 0. For the "bit-identical weights" checks. */
lv_status lv_dist_check_same(lv_dist *d, const void *buf, size_t bytes, const char *what);

lv_status lv_dist_barrier(lv_dist *d);

/* 64-bit FNV-1a over bytes: the hash lv_dist_check_same compares. */
uint64_t lv_dist_hash(const void *buf, size_t bytes);

/* The MPI member of the check family (core/status.h): a failing MPI call's text, the MPI
 * error string, function, file and line. Usable wherever <mpi.h> is included. */
#ifdef MPI_VERSION
lv_status lv_mpi_fail(int err, const char *call, const char *func, const char *file, int line);
#define LV_MPI_CHECK(call)                                                                        \
    do {                                                                                          \
        int lv_mpi_err_ = (call);                                                                 \
        if (lv_mpi_err_ != MPI_SUCCESS)                                                           \
            return lv_mpi_fail(lv_mpi_err_, #call, __func__, __FILE__, __LINE__);                 \
    } while (0)
#endif

#ifdef __cplusplus
}
#endif
#endif
