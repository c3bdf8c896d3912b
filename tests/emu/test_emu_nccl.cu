/* The emulator's NCCL twin against NCCL's documented semantics, on however many ranks mpirun
 * starts (ctest runs it alone and on 3): non-blocking initialisation reports ncclInProgress
 * until done, rank and count, all-reduce sum/avg/max of floats (in place and not, results only
 * after the stream is waited for), broadcast of bytes from a non-zero root, the argument
 * errors, and abort. Each rank checks against values it computes from every rank's inputs. */
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <string.h>

#include <vector>

#include "cuda_runtime.h"
#include "nccl.h"

static int g_failed, g_checks, g_rank;

static void check(bool ok, const char *what) {
    g_checks++;
    if (!ok) g_failed++;
    printf("[rank %d] %s %s\n", g_rank, ok ? "ok  " : "FAIL", what);
}

/* Rank r's i-th input: distinct per rank, exactly representable, so sums are exact. */
static float input(int r, size_t i) { return (float)(r + 1) * 0.5f + (float)(i % 97) - 40.0f; }

static ncclComm_t make_comm(int rank, int world, const char *what) {
    ncclUniqueId id;
    if (rank == 0) ncclGetUniqueId(&id);
    MPI_Bcast(&id, sizeof id, MPI_BYTE, 0, MPI_COMM_WORLD);
    ncclConfig_t cfg = NCCL_CONFIG_INITIALIZER;
    cfg.blocking = 0;
    ncclComm_t comm = NULL;
    ncclResult_t r = ncclCommInitRankConfig(&comm, world, id, rank, &cfg);
    check(r == ncclSuccess || r == ncclInProgress, what);
    ncclResult_t state = ncclInProgress;
    for (int spins = 0; spins < 100000 && state == ncclInProgress; spins++) ncclCommGetAsyncError(comm, &state);
    check(state == ncclSuccess, "non-blocking creation completes once every rank has joined");
    return comm;
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    int world = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &world);
    ncclComm_t comm = make_comm(g_rank, world, "ncclCommInitRankConfig (non-blocking) starts");
    int n = -1, me = -1;
    ncclCommCount(comm, &n);
    ncclCommUserRank(comm, &me);
    check(n == world && me == g_rank, "ncclCommCount and ncclCommUserRank give the world and this rank");

    cudaStream_t s;
    cudaStreamCreate(&s);
    const size_t count = 4099; /* not a multiple of anything NCCL would chunk by */
    std::vector<float> mine(count);
    for (size_t i = 0; i < count; i++) mine[i] = input(g_rank, i);
    float *send = NULL, *recv = NULL;
    cudaMalloc((void **)&send, count * sizeof(float));
    cudaMalloc((void **)&recv, count * sizeof(float));
    const ncclRedOp_t ops[] = {ncclSum, ncclAvg, ncclMax};
    const char *names[] = {"sum", "avg", "max"};
    for (int o = 0; o < 3; o++)
        for (int in_place = 0; in_place < 2; in_place++) {
            cudaMemcpy(send, mine.data(), count * sizeof(float), cudaMemcpyHostToDevice);
            float *out = in_place ? send : recv;
            ncclResult_t r = ncclAllReduce(send, out, count, ncclFloat, ops[o], comm, s);
            cudaStreamSynchronize(s);
            std::vector<float> got(count);
            cudaMemcpy(got.data(), out, count * sizeof(float), cudaMemcpyDeviceToHost);
            double worst = 0;
            for (size_t i = 0; i < count; i++) {
                double want = ops[o] == ncclMax ? (double)input(world - 1, i) : 0.0;
                if (ops[o] != ncclMax) {
                    for (int q = 0; q < world; q++) want += input(q, i);
                    if (ops[o] == ncclAvg) want /= world;
                }
                worst = fmax(worst, fabs(got[i] - want) / fmax(1.0, fabs(want)));
            }
            char what[160];
            snprintf(what, sizeof what, "all-reduce %s of %zu floats%s on %d ranks: worst relative error %.3g", names[o], count,
                     in_place ? " in place" : "", world, worst);
            /* Sums of these inputs are exact in float; the average rounds once more. */
            check(r == ncclSuccess && worst <= (ops[o] == ncclAvg ? 2e-7 : 0.0), what);
        }

    /* Broadcast of bytes from the last rank. */
    const int root = world - 1;
    unsigned char *b = NULL;
    cudaMalloc((void **)&b, 300);
    std::vector<unsigned char> bytes(300);
    for (int i = 0; i < 300; i++) bytes[(size_t)i] = (unsigned char)(g_rank == root ? (i * 7 + 3) & 0xff : 0);
    cudaMemcpy(b, bytes.data(), 300, cudaMemcpyHostToDevice);
    ncclResult_t r = ncclBroadcast(b, b, 300, ncclUint8, root, comm, s);
    cudaStreamSynchronize(s);
    cudaMemcpy(bytes.data(), b, 300, cudaMemcpyDeviceToHost);
    bool same = true;
    for (int i = 0; i < 300; i++) same = same && bytes[(size_t)i] == (unsigned char)((i * 7 + 3) & 0xff);
    check(r == ncclSuccess && same, "broadcast of 300 bytes from the last rank reaches every rank");

    /* Argument errors (every rank makes the same calls, so none is left waiting). */
    static float host[8];
    check(ncclAllReduce(host, host, 8, ncclFloat, ncclSum, comm, s) == ncclInvalidArgument,
          "host buffers are ncclInvalidArgument");
    check(ncclAllReduce(send, recv, count + 1, ncclFloat, ncclSum, comm, s) == ncclInvalidArgument,
          "a count past the end of the buffers is ncclInvalidArgument");
    check(ncclBroadcast(b, b, 300, ncclUint8, world, comm, s) == ncclInvalidArgument,
          "a root outside the communicator is ncclInvalidArgument");

    ncclCommFinalize(comm);
    check(ncclCommDestroy(comm) == ncclSuccess, "finalize and destroy");

    /* Abort: a second communicator, aborted, refuses further work on this rank. */
    ncclComm_t c2 = make_comm(g_rank, world, "a second communicator starts");
    check(ncclCommAbort(c2) == ncclSuccess, "ncclCommAbort returns");

    cudaFree(send);
    cudaFree(recv);
    cudaFree(b);
    cudaStreamDestroy(s);
    int failed = g_failed, any = 0;
    MPI_Allreduce(&failed, &any, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    printf("[rank %d] %d of %d checks passed\n", g_rank, g_checks - g_failed, g_checks);
    MPI_Finalize();
    return any ? 1 : 0;
}
