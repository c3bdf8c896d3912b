/* NCCL twin of the device emulator: communicators of processes joined over MPI (one
 * MPI_Comm_split of MPI_COMM_WORLD per unique id), non-blocking creation that stays "in
 * progress" until every rank has joined (forever when a rank never comes, so callers' deadlines
 * are exercised), and collectives queued on a stream that run as MPI collectives when the
 * stream is waited for. Must not: block the host in a call the real NCCL returns from at once. */
#include <cstdarg>
#include <fcntl.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "emu.h"
#include "nccl.h"

#if defined(LV_EMU_MPI)
#include <mpi.h>
#endif

struct lv_emu_nccl {
    int nranks, rank;
    ncclUniqueId id;
    bool blocking;
    ncclResult_t state; /* ncclInProgress until joined */
    bool aborted;
#if defined(LV_EMU_MPI)
    MPI_Comm mpi;
#endif
};

namespace {

using namespace lv_emu;

std::string g_last;

ncclResult_t fail(ncclResult_t r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
ncclResult_t fail(ncclResult_t r, const char *fmt, ...) {
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    g_last = buf;
    complain("NCCL: %s", buf);
    return r;
}

/* The peers are there to join: MPI is running with at least nranks processes. */
bool peers_present(const lv_emu_nccl *c) {
#if defined(LV_EMU_MPI)
    int up = 0, down = 0, world = 0;
    MPI_Initialized(&up);
    MPI_Finalized(&down);
    if (!up || down) return false;
    MPI_Comm_size(MPI_COMM_WORLD, &world);
    return world >= c->nranks;
#else
    (void)c;
    return false;
#endif
}

/* Joins the communicator (a collective over MPI_COMM_WORLD) or leaves it in progress. */
void try_join(lv_emu_nccl *c) {
    if (c->state != ncclInProgress) return;
    if (c->nranks == 1) {
        c->state = ncclSuccess;
        return;
    }
    if (!peers_present(c)) return; /* nobody else will ever come: the caller's deadline decides */
#if defined(LV_EMU_MPI)
    unsigned h = 2166136261u;
    for (int i = 0; i < NCCL_UNIQUE_ID_BYTES; i++) h = (h ^ (unsigned char)c->id.internal[i]) * 16777619u;
    int color = (int)(h & 0x3fffffff);
    if (MPI_Comm_split(MPI_COMM_WORLD, color, c->rank, &c->mpi) != MPI_SUCCESS) {
        c->state = fail(ncclSystemError, "MPI_Comm_split failed while joining");
        return;
    }
    int size = 0, me = -1;
    MPI_Comm_size(c->mpi, &size);
    MPI_Comm_rank(c->mpi, &me);
    if (size != c->nranks || me != c->rank) {
        c->state = fail(ncclInvalidUsage, "communicator of %d ranks joined by %d processes (this one as rank %d of %d)",
                        c->nranks, size, me, c->rank);
        return;
    }
    c->state = ncclSuccess;
#endif
}

size_t type_size(ncclDataType_t t) {
    switch (t) {
    case ncclInt8: case ncclUint8: return 1;
    case ncclFloat16: case ncclBfloat16: return 2;
    case ncclInt32: case ncclUint32: case ncclFloat32: return 4;
    default: return 8;
    }
}

ncclResult_t usable(ncclComm_t c, const char *api) {
    if (!c) return fail(ncclInvalidArgument, "%s: NULL communicator", api);
    if (c->aborted) return fail(ncclInvalidUsage, "%s: the communicator was aborted", api);
    if (c->state == ncclInProgress) try_join(c);
    if (c->state != ncclSuccess) return fail(ncclInvalidUsage, "%s: the communicator is not ready", api);
    return ncclSuccess;
}

#if defined(LV_EMU_MPI)
MPI_Datatype mpi_type(ncclDataType_t t) {
    switch (t) {
    case ncclInt8: return MPI_SIGNED_CHAR;
    case ncclUint8: return MPI_UNSIGNED_CHAR;
    case ncclInt32: return MPI_INT;
    case ncclUint32: return MPI_UNSIGNED;
    case ncclInt64: return MPI_LONG_LONG;
    case ncclUint64: return MPI_UNSIGNED_LONG_LONG;
    case ncclFloat32: return MPI_FLOAT;
    case ncclFloat64: return MPI_DOUBLE;
    default: return MPI_DATATYPE_NULL;
    }
}
#endif

template <typename T>
void scale(void *p, size_t n, double s) {
    T *q = static_cast<T *>(p);
    for (size_t i = 0; i < n; i++) q[i] = (T)(q[i] * s);
}

} // namespace

extern "C" ncclResult_t ncclGetVersion(int *v) {
    if (!v) return ncclInvalidArgument;
    *v = NCCL_VERSION_CODE;
    return ncclSuccess;
}

extern "C" ncclResult_t ncclGetUniqueId(ncclUniqueId *id) {
    if (!id) return ncclInvalidArgument;
    memset(id, 0, sizeof *id);
    int fd = open("/dev/urandom", O_RDONLY);
    ssize_t got = fd >= 0 ? read(fd, id->internal, sizeof id->internal) : -1;
    if (fd >= 0) close(fd);
    if (got != (ssize_t)sizeof id->internal) return fail(ncclSystemError, "cannot read /dev/urandom for a unique id");
    return ncclSuccess;
}

extern "C" ncclResult_t ncclCommInitRankConfig(ncclComm_t *comm, int nranks, ncclUniqueId id, int rank,
                                               ncclConfig_t *config) {
    if (!comm) return fail(ncclInvalidArgument, "ncclCommInitRankConfig: NULL comm");
    *comm = NULL;
    if (nranks < 1 || rank < 0 || rank >= nranks)
        return fail(ncclInvalidArgument, "ncclCommInitRankConfig: rank %d of %d", rank, nranks);
    lv_emu_nccl *c = new lv_emu_nccl();
    c->nranks = nranks;
    c->rank = rank;
    c->id = id;
    c->blocking = !config || config->blocking != 0;
    c->state = ncclInProgress;
    c->aborted = false;
    *comm = c;
    if (c->blocking) {
        try_join(c);
        /* A blocking init whose peers never come would hang on a card; say so instead. */
        if (c->state == ncclInProgress) lv_emu::fatal("ncclCommInitRank (blocking): rank %d of %d waits forever for "
                                                      "peers that are not running", rank, nranks);
        return c->state;
    }
    return ncclInProgress; /* joined on the first ncclCommGetAsyncError */
}

extern "C" ncclResult_t ncclCommInitRank(ncclComm_t *comm, int nranks, ncclUniqueId id, int rank) {
    return ncclCommInitRankConfig(comm, nranks, id, rank, NULL);
}

extern "C" ncclResult_t ncclCommGetAsyncError(ncclComm_t c, ncclResult_t *state) {
    if (!c || !state) return ncclInvalidArgument;
    if (c->aborted) {
        *state = ncclInvalidUsage;
        return ncclSuccess;
    }
    try_join(c);
    *state = c->state;
    return ncclSuccess;
}

extern "C" ncclResult_t ncclCommAbort(ncclComm_t c) {
    if (!c) return ncclSuccess;
    lv_emu::drain_all(); /* collectives in flight are cut short on a card; here they finish first */
#if defined(LV_EMU_MPI)
    if (c->state == ncclSuccess && c->nranks > 1) MPI_Comm_free(&c->mpi);
#endif
    delete c;
    return ncclSuccess;
}

extern "C" ncclResult_t ncclCommFinalize(ncclComm_t c) {
    ncclResult_t r = usable(c, "ncclCommFinalize");
    if (r != ncclSuccess) return r;
    lv_emu::drain_all();
    return ncclSuccess;
}

extern "C" ncclResult_t ncclCommDestroy(ncclComm_t c) { return ncclCommAbort(c); }

extern "C" ncclResult_t ncclCommCount(ncclComm_t c, int *count) {
    if (!c || !count) return ncclInvalidArgument;
    *count = c->nranks;
    return ncclSuccess;
}

extern "C" ncclResult_t ncclCommUserRank(ncclComm_t c, int *rank) {
    if (!c || !rank) return ncclInvalidArgument;
    *rank = c->rank;
    return ncclSuccess;
}

extern "C" ncclResult_t ncclAllReduce(const void *send, void *recv, size_t count, ncclDataType_t type, ncclRedOp_t op,
                                      ncclComm_t c, cudaStream_t stream) {
    ncclResult_t r = usable(c, "ncclAllReduce");
    if (r != ncclSuccess) return r;
    if ((unsigned)op > (unsigned)ncclAvg) return fail(ncclInvalidArgument, "ncclAllReduce: unknown operation %d", op);
    if (type == ncclFloat16 || type == ncclBfloat16)
        return fail(ncclInvalidArgument, "ncclAllReduce: half types are not emulated");
    if (count == 0) return ncclSuccess;
    const size_t bytes = count * type_size(type);
    if (!device_range_ok(send, bytes, "ncclAllReduce", "sendbuff") ||
        !device_range_ok(recv, bytes, "ncclAllReduce", "recvbuff"))
        return fail(ncclInvalidArgument, "ncclAllReduce: buffers must be device memory");
    const int n = c->nranks;
    char what[128];
    snprintf(what, sizeof what, "ncclAllReduce (%zu elements, rank %d of %d)", count, c->rank, n);
    enqueue(stream, what, [=]() {
        if (send != recv) memmove(recv, send, bytes);
        /* ncclAvg on floating types is a pre-scaled sum, as NCCL computes it. */
        const bool avg = op == ncclAvg, fp = type == ncclFloat32 || type == ncclFloat64;
        if (avg && fp) {
            if (type == ncclFloat32) scale<float>(recv, count, (double)(1.0f / (float)n));
            else scale<double>(recv, count, 1.0 / n);
        }
#if defined(LV_EMU_MPI)
        if (n > 1) {
            MPI_Op mop = op == ncclProd ? MPI_PROD : op == ncclMax ? MPI_MAX : op == ncclMin ? MPI_MIN : MPI_SUM;
            if (MPI_Allreduce(MPI_IN_PLACE, recv, (int)count, mpi_type(type), mop, c->mpi) != MPI_SUCCESS)
                fatal("ncclAllReduce over MPI failed");
        }
#endif
        if (avg && !fp) {
            if (type == ncclInt32) scale<int>(recv, count, 1.0 / n);
            else if (type == ncclUint32) scale<unsigned>(recv, count, 1.0 / n);
            else if (type == ncclInt64) scale<long long>(recv, count, 1.0 / n);
            else if (type == ncclUint64) scale<unsigned long long>(recv, count, 1.0 / n);
            else if (type == ncclInt8) scale<signed char>(recv, count, 1.0 / n);
            else scale<unsigned char>(recv, count, 1.0 / n);
        }
    });
    return c->blocking ? ncclSuccess : ncclSuccess;
}

extern "C" ncclResult_t ncclBroadcast(const void *send, void *recv, size_t count, ncclDataType_t type, int root,
                                      ncclComm_t c, cudaStream_t stream) {
    ncclResult_t r = usable(c, "ncclBroadcast");
    if (r != ncclSuccess) return r;
    if (root < 0 || root >= c->nranks) return fail(ncclInvalidArgument, "ncclBroadcast: root %d of %d", root, c->nranks);
    if (count == 0) return ncclSuccess;
    const size_t bytes = count * type_size(type);
    if ((c->rank == root && !device_range_ok(send, bytes, "ncclBroadcast", "sendbuff")) ||
        !device_range_ok(recv, bytes, "ncclBroadcast", "recvbuff"))
        return fail(ncclInvalidArgument, "ncclBroadcast: buffers must be device memory");
    const int me = c->rank;
    char what[128];
    snprintf(what, sizeof what, "ncclBroadcast (%zu bytes from rank %d)", bytes, root);
    enqueue(stream, what, [=]() {
        if (me == root && send != recv) memmove(recv, send, bytes);
#if defined(LV_EMU_MPI)
        if (c->nranks > 1 && MPI_Bcast(recv, (int)bytes, MPI_BYTE, root, c->mpi) != MPI_SUCCESS)
            fatal("ncclBroadcast over MPI failed");
#endif
    });
    return ncclSuccess;
}

extern "C" const char *ncclGetErrorString(ncclResult_t r) {
    switch (r) {
    case ncclSuccess: return "no error";
    case ncclUnhandledCudaError: return "unhandled cuda error";
    case ncclSystemError: return "unhandled system error";
    case ncclInternalError: return "internal error";
    case ncclInvalidArgument: return "invalid argument";
    case ncclInvalidUsage: return "invalid usage";
    case ncclRemoteError: return "remote process exited or there was a network error";
    case ncclInProgress: return "NCCL operation in progress";
    default: return "unknown result code";
    }
}

extern "C" const char *ncclGetLastError(ncclComm_t comm) {
    (void)comm;
    return g_last.c_str();
}
