/* Data-parallel launch detection and host-memory collectives (see dist.h). MPI is used only
 * when the build has it AND an MPI launcher started us; every MPI call goes through
 * LV_MPI_CHECK with MPI_ERRORS_RETURN, and a collective whose inputs disagree between ranks
 * is refused on every rank together, so a mistake is an error message, never a hang. */
#include "build_info.h"

#if LV_HAVE_MPI
#include <mpi.h>
#endif

#include "train/dist.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"

#if LV_HAVE_MPI
/* Set when this process called MPI_Init (and so must finalize or abort). */
static int lv_mpi_started;
#endif

/* ---- environment ------------------------------------------------------------------------ */

/* A strict non-negative int from the environment: *present = 0 when unset. */
static lv_status env_int(const char *name, int *out, int *present) {
    const char *v = getenv(name);
    *present = v != NULL;
    if (!v) return LV_OK;
    char *end = NULL;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (v[0] == '\0' || *end != '\0' || errno == ERANGE || x < 0 || x > INT_MAX)
        return lv_errorf(LV_ERR_INPUT, "environment variable %s='%s': expected a non-negative integer",
                         name, v);
    *out = (int)x;
    return LV_OK;
}

/* Checks one launcher's variables for consistency and fills the rank fields of d. */
static lv_status set_ranks(lv_dist *d, const char *rank_var, int rank, const char *world_var, int world,
                           const char *local_var, int local_rank, int have_local, int nodes) {
    LV_CHECK(world >= 1, LV_ERR_INPUT, "environment variable %s=%d: expected a world size >= 1",
             world_var, world);
    LV_CHECK(rank < world, LV_ERR_INPUT, "environment variable %s=%d: expected 0..%d (%s=%d)", rank_var,
             rank, world - 1, world_var, world);
    LV_CHECK(nodes >= 1 && nodes <= world, LV_ERR_INPUT,
             "%d hosts for %s=%d: expected 1..%d hosts", nodes, world_var, world, world);
    d->rank = rank;
    d->world = world;
    d->hosts = nodes;
    d->local_min = world / nodes;
    d->local_max = (world + nodes - 1) / nodes;
    d->local_world = d->local_max;
    d->local_rank = have_local ? local_rank : rank % d->local_world;
    LV_CHECK(d->local_rank < d->local_max, LV_ERR_INPUT,
             "environment variable %s=%d: expected 0..%d (%d ranks, at most %d per host)",
             local_var, d->local_rank, d->local_max - 1, world, d->local_max);
    return LV_OK;
}

/* torchrun-style RANK/WORLD_SIZE (innermost launcher, so first), then an srun job step. */
static lv_status ranks_from_env(lv_dist *d, int *found) {
    int rank = 0, world = 0, local = 0, lworld = 0;
    int has_rank, has_world, has_local, has_lworld;
    *found = 0;
    LV_TRY(env_int("RANK", &rank, &has_rank));
    LV_TRY(env_int("WORLD_SIZE", &world, &has_world));
    if (has_rank || has_world) {
        LV_CHECK(has_rank && has_world, LV_ERR_INPUT,
                 "environment variable %s is set but %s is not: a launcher sets both",
                 has_rank ? "RANK" : "WORLD_SIZE", has_rank ? "WORLD_SIZE" : "RANK");
        LV_TRY(env_int("LOCAL_RANK", &local, &has_local));
        LV_TRY(env_int("LOCAL_WORLD_SIZE", &lworld, &has_lworld));
        int nodes = 1;
        if (has_lworld) {
            LV_CHECK(lworld >= 1 && lworld <= world && world % lworld == 0, LV_ERR_INPUT,
                     "environment variable LOCAL_WORLD_SIZE=%d: expected a divisor of WORLD_SIZE=%d",
                     lworld, world);
            nodes = world / lworld;
        }
        *found = 1;
        d->source = "RANK/WORLD_SIZE";
        return set_ranks(d, "RANK", rank, "WORLD_SIZE", world, "LOCAL_RANK", local, has_local, nodes);
    }
    /* SLURM_PROCID and SLURM_NTASKS are also set in a batch script, where one process runs
     * on behalf of all tasks; only srun's job steps (SLURM_STEP_ID) are real ranks. */
    int has_proc, has_ntasks, has_nodes, nodes = 1;
    if (!getenv("SLURM_STEP_ID")) return LV_OK;
    LV_TRY(env_int("SLURM_PROCID", &rank, &has_proc));
    if (!has_proc) return LV_OK;
    LV_TRY(env_int("SLURM_NTASKS", &world, &has_ntasks));
    LV_CHECK(has_ntasks, LV_ERR_INPUT, "environment variable SLURM_PROCID is set but SLURM_NTASKS is not");
    LV_TRY(env_int("SLURM_LOCALID", &local, &has_local));
    LV_TRY(env_int("SLURM_STEP_NUM_NODES", &nodes, &has_nodes));
    if (!has_nodes) LV_TRY(env_int("SLURM_NNODES", &nodes, &has_nodes));
    if (!has_nodes) nodes = 1;
    *found = 1;
    d->source = "SLURM";
    return set_ranks(d, "SLURM_PROCID", rank, "SLURM_NTASKS", world, "SLURM_LOCALID", local, has_local,
                     nodes);
}

/* The variables an MPI launcher sets in every process it starts (Open MPI, Hydra/PMI-1/2,
 * PMIx). The world size, where the launcher tells it, goes to *world (else 0). */
static int mpi_launched(int *world) {
    static const char *size_vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"};
    *world = 0;
    int any = getenv("PMIX_RANK") || getenv("PMI_RANK");
    for (size_t i = 0; i < sizeof size_vars / sizeof size_vars[0]; i++) {
        const char *v = getenv(size_vars[i]);
        if (!v) continue;
        any = 1;
        char *end = NULL;
        long x = strtol(v, &end, 10);
        if (*v && !*end && x > 0 && x < INT_MAX && *world == 0) *world = (int)x;
    }
    return any;
}

/* ---- MPI ---------------------------------------------------------------------------------- */

#if LV_HAVE_MPI
lv_status lv_mpi_fail(int err, const char *call, const char *func, const char *file, int line) {
    char msg[MPI_MAX_ERROR_STRING + 32];
    int len = 0;
    if (MPI_Error_string(err, msg, &len) != MPI_SUCCESS) snprintf(msg, sizeof msg, "MPI error code %d", err);
    return lv_check_fail(LV_ERR_RUNTIME, "MPI", call, msg, func, file, line);
}

/* Largest count per MPI call: counts are int. LIVER_VLM_MPI_CHUNK (elements) lowers it so
 * the chunk loops can be tested with small buffers. */
static size_t mpi_chunk(void) {
    const char *v = getenv("LIVER_VLM_MPI_CHUNK");
    long x = v ? strtol(v, NULL, 10) : 0;
    return x > 0 && x <= (1L << 28) ? (size_t)x : (size_t)1 << 28;
}

static lv_status mpi_join(lv_dist *d, int *argc, char ***argv) {
    int already = 0, provided = 0;
    LV_MPI_CHECK(MPI_Initialized(&already));
    if (!already) {
        /* The loader thread and OpenMP workers never call MPI: FUNNELED is what we need. */
        LV_MPI_CHECK(MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided));
        lv_mpi_started = 1;
    }
    LV_MPI_CHECK(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN));
    LV_MPI_CHECK(MPI_Comm_rank(MPI_COMM_WORLD, &d->rank));
    LV_MPI_CHECK(MPI_Comm_size(MPI_COMM_WORLD, &d->world));
    d->comm = LV_DIST_COMM_MPI;
    d->launcher = "mpi";
    d->source = "MPI";

    MPI_Comm local;
    LV_MPI_CHECK(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, d->rank, MPI_INFO_NULL, &local));
    int lr = 0, lw = 1;
    int e1 = MPI_Comm_rank(local, &lr), e2 = MPI_Comm_size(local, &lw);
    MPI_Comm_free(&local);
    LV_MPI_CHECK(e1);
    LV_MPI_CHECK(e2);
    d->local_rank = lr;
    d->local_world = lw;
    int leader = lr == 0;
    LV_MPI_CHECK(MPI_Allreduce(&leader, &d->hosts, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD));
    LV_MPI_CHECK(MPI_Allreduce(&lw, &d->local_min, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD));
    LV_MPI_CHECK(MPI_Allreduce(&lw, &d->local_max, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD));
    if (!already && provided < MPI_THREAD_FUNNELED && d->rank == 0)
        LV_WARN("MPI provides thread level %d, below MPI_THREAD_FUNNELED", provided);
    return LV_OK;
}
#endif

/* ---- init / finalize ---------------------------------------------------------------------- */

lv_status lv_dist_init(lv_dist *d, int *argc, char ***argv) {
    memset(d, 0, sizeof *d);
    d->world = d->hosts = d->local_world = d->local_min = d->local_max = 1;
    d->launcher = "single";
    d->source = "none";
    if (gethostname(d->host, sizeof d->host - 1) != 0) snprintf(d->host, sizeof d->host, "unknown");
    d->host[sizeof d->host - 1] = '\0';

    int mpi_world = 0, env_found = 0;
    int by_mpi = mpi_launched(&mpi_world);
    lv_dist envd = *d;
    LV_TRY(ranks_from_env(&envd, &env_found));
    (void)argc;
    (void)argv;
#if LV_HAVE_MPI
    if (by_mpi) {
        LV_TRY(mpi_join(d, argc, argv));
        /* The environment must describe the same job as MPI (RANK/WORLD_SIZE left over from
         * an outer launcher, or srun tasks that MPI sees as singletons, would otherwise mean
         * shards and a world that disagree). Every rank sees the same mismatch. */
        if (env_found && envd.world != d->world) {
            int w = d->world;
            lv_dist_finalize(d);
            return lv_errorf(LV_ERR_USAGE,
                             "%s describes a world of %d but MPI sees %d ranks: launch with mpirun "
                             "alone, or with srun --mpi=pmix, so that both agree",
                             envd.source, envd.world, w);
        }
    }
#else
    if (by_mpi && mpi_world > 1)
        return lv_errorf(LV_ERR_USAGE,
                         "started by an MPI launcher with %d ranks, but this build has no MPI "
                         "(liver-vlm info shows mpi=off): install libopenmpi-dev and rebuild, or run "
                         "one process",
                         mpi_world);
#endif
    if (d->comm == LV_DIST_COMM_NONE && env_found) {
        char host[sizeof d->host];
        memcpy(host, d->host, sizeof host);
        *d = envd;
        memcpy(d->host, host, sizeof host);
        d->launcher = "env";
        /* Hook (CUDA issue): NCCL over a file-exchanged unique id lets these ranks through. */
        if (d->world > 1)
            return lv_errorf(LV_ERR_USAGE,
                             "%s gives %d ranks but the CPU all-reduce needs MPI: %s mpirun -np %d "
                             "(or srun --mpi=pmix), see docs/distributed.md",
                             d->source, d->world,
                             LV_HAVE_MPI ? "launch with"
                                         : "rebuild with MPI (apt-get install libopenmpi-dev) and launch with",
                             d->world);
    }
    d->initialized = 1;
    lv_log_init(d->rank, d->world);
    char line[160];
    lv_dist_describe(d, line, sizeof line);
    LV_INFO("distributed: %s", line);
    return LV_OK;
}

void lv_dist_finalize(lv_dist *d) {
#if LV_HAVE_MPI
    if (lv_mpi_started) {
        int done = 0;
        MPI_Finalized(&done);
        if (!done) MPI_Finalize();
        lv_mpi_started = 0;
    }
#endif
    if (d) {
        d->comm = LV_DIST_COMM_NONE;
        d->initialized = 0;
    }
}

void lv_dist_abort(lv_dist *d, int exit_code) {
    (void)exit_code;
#if LV_HAVE_MPI
    int up = 0, done = 0;
    MPI_Initialized(&up);
    MPI_Finalized(&done);
    if (up && !done) {
        int world = 1;
        MPI_Comm_size(MPI_COMM_WORLD, &world);
        /* A lone rank can finalize; with company, only an abort frees ranks stuck in a
         * collective. */
        if (world > 1) MPI_Abort(MPI_COMM_WORLD, exit_code);
    }
#endif
    lv_dist_finalize(d);
}

void lv_dist_describe(const lv_dist *d, char *out, size_t cap) {
    char per[48];
    if (d->local_min == d->local_max) snprintf(per, sizeof per, "%d", d->local_min);
    else snprintf(per, sizeof per, "%d-%d", d->local_min, d->local_max);
    snprintf(out, cap, "world %d (%s%s%s), %d host%s, %s rank%s per host", d->world, d->launcher,
             strcmp(d->launcher, "env") == 0 ? ": " : "", strcmp(d->launcher, "env") == 0 ? d->source : "",
             d->hosts, d->hosts == 1 ? "" : "s", per, d->local_max == 1 ? "" : "s");
}

/* ---- collectives -------------------------------------------------------------------------- */

static lv_status ready(const lv_dist *d, const char *what) {
    if (!d || !d->initialized)
        return lv_errorf(LV_ERR_RUNTIME, "%s called before lv_dist_init (or after lv_dist_finalize)", what);
    return LV_OK;
}

#if LV_HAVE_MPI
/* In-place all-reduce of n elements in chunks MPI's int counts can hold. */
static lv_status mpi_allreduce(void *buf, size_t n, size_t elem, MPI_Datatype type, MPI_Op op) {
    size_t chunk = mpi_chunk();
    for (size_t off = 0; off < n; off += chunk) {
        size_t cnt = n - off < chunk ? n - off : chunk;
        LV_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, (char *)buf + off * elem, (int)cnt, type, op, MPI_COMM_WORLD));
    }
    return LV_OK;
}

static lv_status mpi_bcast_bytes(void *buf, size_t bytes) {
    size_t chunk = mpi_chunk();
    for (size_t off = 0; off < bytes; off += chunk) {
        size_t cnt = bytes - off < chunk ? bytes - off : chunk;
        LV_MPI_CHECK(MPI_Bcast((char *)buf + off, (int)cnt, MPI_BYTE, 0, MPI_COMM_WORLD));
    }
    return LV_OK;
}

/* The lowest rank whose `ok` is 0, or world when every rank is fine; the same on all ranks. */
static lv_status first_bad_rank(const lv_dist *d, int ok, int *bad) {
    int mine = ok ? d->world : d->rank;
    LV_MPI_CHECK(MPI_Allreduce(&mine, bad, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD));
    return LV_OK;
}
#endif

lv_status lv_dist_allreduce_mean(lv_dist *d, float *buf, size_t n) {
    (void)buf; /* untouched without MPI: world is 1 there */
    LV_TRY(ready(d, "lv_dist_allreduce_mean"));
    if (d->world == 1 || n == 0) return LV_OK;
#if LV_HAVE_MPI
    LV_TRY(mpi_allreduce(buf, n, sizeof *buf, MPI_FLOAT, MPI_SUM));
    /* Division (not a multiply by 1/world) so the mean is correctly rounded for any world. */
    float w = (float)d->world;
    for (size_t i = 0; i < n; i++) buf[i] /= w;
#endif
    return LV_OK;
}

lv_status lv_dist_allreduce_sum_double(lv_dist *d, double *buf, size_t n) {
    (void)buf; /* untouched without MPI: world is 1 there */
    LV_TRY(ready(d, "lv_dist_allreduce_sum_double"));
    if (d->world == 1 || n == 0) return LV_OK;
#if LV_HAVE_MPI
    LV_TRY(mpi_allreduce(buf, n, sizeof *buf, MPI_DOUBLE, MPI_SUM));
#endif
    return LV_OK;
}

lv_status lv_dist_allreduce_max_int(lv_dist *d, int *buf, size_t n) {
    (void)buf; /* untouched without MPI: world is 1 there */
    LV_TRY(ready(d, "lv_dist_allreduce_max_int"));
    if (d->world == 1 || n == 0) return LV_OK;
#if LV_HAVE_MPI
    LV_TRY(mpi_allreduce(buf, n, sizeof *buf, MPI_INT, MPI_MAX));
#endif
    return LV_OK;
}

lv_status lv_dist_bcast(lv_dist *d, void *buf, size_t bytes) {
    (void)buf; /* untouched without MPI: world is 1 there */
    (void)bytes;
    LV_TRY(ready(d, "lv_dist_bcast"));
    if (d->world == 1) return LV_OK;
#if LV_HAVE_MPI
    uint64_t root = bytes;
    LV_MPI_CHECK(MPI_Bcast(&root, 1, MPI_UINT64_T, 0, MPI_COMM_WORLD));
    int bad = 0;
    LV_TRY(first_bad_rank(d, root == bytes, &bad));
    if (bad < d->world)
        return lv_errorf(LV_ERR_RUNTIME, "broadcast: rank 0 sends %llu bytes but rank %d expects a different size%s",
                         (unsigned long long)root, bad, bad == d->rank ? " (this rank)" : "");
    LV_TRY(mpi_bcast_bytes(buf, bytes));
#endif
    return LV_OK;
}

lv_status lv_dist_gather(lv_dist *d, const void *send, size_t bytes, void **out, size_t *out_bytes,
                         size_t *counts) {
    *out = NULL;
    *out_bytes = 0;
    LV_TRY(ready(d, "lv_dist_gather"));
    if (d->comm == LV_DIST_COMM_NONE || d->world == 1) {
        if (counts) counts[0] = bytes;
        if (bytes == 0) return LV_OK;
        *out = malloc(bytes);
        LV_CHECK_ALLOC(*out);
        memcpy(*out, send, bytes);
        *out_bytes = bytes;
        return LV_OK;
    }
#if LV_HAVE_MPI
    uint64_t mine = bytes, *sizes = NULL;
    if (d->rank == 0) {
        sizes = malloc(sizeof *sizes * (size_t)d->world);
        LV_CHECK_ALLOC(sizes);
    }
    int err = MPI_Gather(&mine, 1, MPI_UINT64_T, sizes, 1, MPI_UINT64_T, 0, MPI_COMM_WORLD);
    if (err != MPI_SUCCESS) {
        free(sizes);
        LV_MPI_CHECK(err);
    }
    /* Rank 0 says whether it could allocate before anyone sends: a large send would
     * otherwise wait forever for a receive that never comes. */
    int ok = 1;
    char *all = NULL;
    size_t total = 0;
    if (d->rank == 0) {
        for (int r = 0; r < d->world; r++) total += (size_t)sizes[r];
        all = total ? malloc(total) : NULL;
        ok = total == 0 || all != NULL;
    }
    err = MPI_Bcast(&ok, 1, MPI_INT, 0, MPI_COMM_WORLD);
    if (err != MPI_SUCCESS || !ok) {
        free(sizes);
        free(all);
        LV_MPI_CHECK(err);
        return lv_errorf(LV_ERR_RUNTIME, "gather: rank 0 could not allocate %zu bytes", total);
    }
    size_t chunk = mpi_chunk();
    if (d->rank != 0) {
        for (size_t off = 0; off < bytes; off += chunk) {
            size_t cnt = bytes - off < chunk ? bytes - off : chunk;
            LV_MPI_CHECK(MPI_Send((const char *)send + off, (int)cnt, MPI_BYTE, 0, 7, MPI_COMM_WORLD));
        }
        return LV_OK;
    }
    if (bytes) memcpy(all, send, bytes);
    size_t at = bytes;
    for (int r = 1; r < d->world && err == MPI_SUCCESS; r++) {
        for (size_t off = 0; off < sizes[r] && err == MPI_SUCCESS; off += chunk) {
            size_t cnt = (size_t)sizes[r] - off < chunk ? (size_t)sizes[r] - off : chunk;
            err = MPI_Recv(all + at + off, (int)cnt, MPI_BYTE, r, 7, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        }
        at += (size_t)sizes[r];
    }
    if (err == MPI_SUCCESS && counts)
        for (int r = 0; r < d->world; r++) counts[r] = (size_t)sizes[r];
    free(sizes);
    if (err != MPI_SUCCESS) {
        free(all);
        LV_MPI_CHECK(err);
    }
    *out = all;
    *out_bytes = total;
#endif
    return LV_OK;
}

uint64_t lv_dist_hash(const void *buf, size_t bytes) {
    const unsigned char *p = buf;
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < bytes; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

lv_status lv_dist_check_same(lv_dist *d, const void *buf, size_t bytes, const char *what) {
    LV_TRY(ready(d, "lv_dist_check_same"));
    if (d->world == 1) return LV_OK;
#if LV_HAVE_MPI
    uint64_t mine[2] = {bytes, lv_dist_hash(buf, bytes)}, root[2] = {mine[0], mine[1]};
    LV_MPI_CHECK(MPI_Bcast(root, 2, MPI_UINT64_T, 0, MPI_COMM_WORLD));
    int bad = 0;
    LV_TRY(first_bad_rank(d, root[0] == mine[0] && root[1] == mine[1], &bad));
    if (bad < d->world)
        return lv_errorf(LV_ERR_RUNTIME,
                         "%s differs between ranks: rank %d does not match rank 0 (%s: %zu bytes, "
                         "hash %016llx; rank 0: %llu bytes, hash %016llx)",
                         what, bad, bad == d->rank ? "this rank" : "here", bytes,
                         (unsigned long long)mine[1], (unsigned long long)root[0],
                         (unsigned long long)root[1]);
#else
    (void)buf;
    (void)bytes;
    (void)what;
#endif
    return LV_OK;
}

lv_status lv_dist_barrier(lv_dist *d) {
    LV_TRY(ready(d, "lv_dist_barrier"));
    if (d->world == 1) return LV_OK;
#if LV_HAVE_MPI
    LV_MPI_CHECK(MPI_Barrier(MPI_COMM_WORLD));
#endif
    return LV_OK;
}
