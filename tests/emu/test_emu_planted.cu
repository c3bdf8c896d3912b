/* The device emulator proves it can fail: one small kernel or call per bug class, each run
 * in a child process, and each case passes only if the emulator (or the sanitizer it runs
 * under) reports that bug. Races are TSan's to find (LV_EMU_TSAN builds), out-of-bounds shared
 * memory ASan's (LV_EMU_ASAN builds); the rest are the emulator's own checks in every build. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

#include "cublas_v2.h"
#include "cuda_runtime.h"
#include "cudnn.h"

#define N 64

static float *dev_floats(size_t n) {
    float *d = NULL;
    if (cudaMalloc((void **)&d, n * sizeof(float)) != cudaSuccess) exit(3);
    cudaMemset(d, 0, n * sizeof(float));
    return d;
}

/* ---- the planted bugs --------------------------------------------------------------- */

static __global__ void k_missing_barrier(float *out) {
    __shared__ float s[N];
    s[threadIdx.x] = (float)threadIdx.x;
    /* bug: no __syncthreads() before reading a neighbour's slot */
    out[threadIdx.x] = s[(threadIdx.x + 1) % N];
}

static __global__ void k_divergent_barrier(float *out) {
    if (threadIdx.x < 16) __syncthreads(); /* bug: two different barriers */
    else __syncthreads();
    out[threadIdx.x] = 1.0f;
}

static __global__ void k_early_return(float *out) {
    if (threadIdx.x == 3) return; /* bug: returns before the barrier the others wait in */
    __syncthreads();
    out[threadIdx.x] = 1.0f;
}

static __global__ void k_shared_oob(float *out) {
    __shared__ float s[32];
    s[threadIdx.x] = 1.0f; /* bug: 64 threads, 32 slots */
    __syncthreads();
    out[threadIdx.x] = s[threadIdx.x % 32];
}

static __global__ void k_dynamic_shared_oob(float *out) {
    LV_DYNAMIC_SHARED(float, d);
    d[threadIdx.x] = 2.0f; /* bug: launched with room for N / 2 floats */
    __syncthreads();
    out[threadIdx.x] = d[threadIdx.x % (N / 2)];
}

static __global__ void k_shared_race(float *out) {
    __shared__ float s[1];
    if (threadIdx.x == 0) s[0] = 0.0f;
    __syncthreads();
    s[0] += 1.0f; /* bug: every thread read-modify-writes one word, no atomic */
    __syncthreads();
    out[threadIdx.x] = s[0];
}

static __global__ void k_global_race(float *out, const float *in) {
    out[0] += in[threadIdx.x]; /* bug: should be atomicAdd */
}

static __global__ void k_block_race(float *out) {
    out[threadIdx.x] += 1.0f; /* bug: every block updates the same words (blockIdx left out) */
}

static __global__ void k_shuffle_mask(float *out) {
    float v = (float)threadIdx.x;
    v += __shfl_xor_sync(0x0000ffffu, v, 1); /* bug: lanes 16..31 call with a mask without them */
    out[threadIdx.x] = v;
}

static __global__ void k_shuffle_missing_lanes(float *out) {
    float v = (float)threadIdx.x;
    if ((threadIdx.x & 31) < 16) v += __shfl_down_sync(0xffffffffu, v, 8); /* bug: half the mask never calls */
    out[threadIdx.x] = v;
}

static __global__ void k_write(float *out, int at) { out[at] = 42.0f; }

/* ---- cases: each returns 0 when the child got through (a report makes it die first) --- */

static int c_missing_barrier(void) {
    float *d = dev_floats(N);
    LV_LAUNCH(1, N, 0, 0, k_missing_barrier)(d);
    return cudaDeviceSynchronize() != cudaSuccess;
}
static int c_divergent_barrier(void) {
    float *d = dev_floats(N);
    LV_LAUNCH(1, N, 0, 0, k_divergent_barrier)(d);
    return cudaDeviceSynchronize() != cudaSuccess;
}
static int c_early_return(void) {
    float *d = dev_floats(N);
    LV_LAUNCH(1, N, 0, 0, k_early_return)(d);
    return cudaDeviceSynchronize() != cudaSuccess;
}
static int c_shared_oob(void) {
    float *d = dev_floats(N);
    LV_LAUNCH(1, N, 0, 0, k_shared_oob)(d);
    return cudaDeviceSynchronize() != cudaSuccess;
}
static int c_dynamic_shared_oob(void) {
    float *d = dev_floats(N);
    LV_LAUNCH(1, N, (N / 2) * sizeof(float), 0, k_dynamic_shared_oob)(d);
    return cudaDeviceSynchronize() != cudaSuccess;
}
static int c_shared_race(void) {
    float *d = dev_floats(N);
    LV_LAUNCH(1, N, 0, 0, k_shared_race)(d);
    return cudaDeviceSynchronize() != cudaSuccess;
}
static int c_global_race(void) {
    float *d = dev_floats(N), *in = dev_floats(N);
    LV_LAUNCH(1, N, 0, 0, k_global_race)(d, in);
    return cudaDeviceSynchronize() != cudaSuccess;
}
static int c_block_race(void) {
    float *d = dev_floats(N);
    LV_LAUNCH(2, N, 0, 0, k_block_race)(d);
    return cudaDeviceSynchronize() != cudaSuccess;
}
static int c_shuffle_mask(void) {
    float *d = dev_floats(32);
    LV_LAUNCH(1, 32, 0, 0, k_shuffle_mask)(d);
    return cudaDeviceSynchronize() != cudaSuccess;
}
static int c_shuffle_missing_lanes(void) {
    float *d = dev_floats(32);
    LV_LAUNCH(1, 32, 0, 0, k_shuffle_missing_lanes)(d);
    return cudaDeviceSynchronize() != cudaSuccess;
}
static int c_host_pointer_to_kernel(void) {
    static float host[N];
    LV_LAUNCH(1, 1, 0, 0, k_write)(host, 0);
    return cudaDeviceSynchronize() != cudaSuccess;
}
static int c_host_reads_device(void) {
    float *d = dev_floats(N);
    cudaDeviceSynchronize();
    volatile float x = d[0]; /* bug: a device pointer dereferenced on the host */
    return x == 0.0f ? 0 : 0;
}
static int c_global_oob(void) {
    float *d = dev_floats(N);
    LV_LAUNCH(1, 1, 0, 0, k_write)(d, N + 4096); /* bug: far past the allocation */
    return cudaDeviceSynchronize() != cudaSuccess;
}
static int c_global_oob_slack(void) {
    float *d = dev_floats(N - 3); /* the allocation ends inside its 256-byte alignment slack */
    LV_LAUNCH(1, 1, 0, 0, k_write)(d, N - 2);
    return cudaDeviceSynchronize() != cudaSuccess;
}
static int c_use_after_free(void) {
    float *d = dev_floats(N);
    cudaFree(d);
    LV_LAUNCH(1, 1, 0, 0, k_write)(d, 0); /* bug: the buffer is gone */
    return cudaDeviceSynchronize() != cudaSuccess;
}

/* These return 1 unless the emulator behaved as the bug requires (the parent expects 0). */
static int c_stale_d2h(void) {
    float *d = dev_floats(1), *pinned = NULL;
    cudaStream_t s;
    cudaStreamCreate(&s);
    cudaHostAlloc((void **)&pinned, sizeof(float), cudaHostAllocDefault);
    pinned[0] = -1.0f;
    LV_LAUNCH(1, 1, 0, s, k_write)(d, 0);
    cudaMemcpyAsync(pinned, d, sizeof(float), cudaMemcpyDeviceToHost, s);
    float early = pinned[0]; /* bug: read before cudaStreamSynchronize */
    cudaStreamSynchronize(s);
    float late = pinned[0];
    printf("read before the sync: %g, after: %g\n", early, late);
    return !(early == -1.0f && late == 42.0f); /* the early read must be stale */
}
static int c_bad_launch_config(void) {
    float *d = dev_floats(1);
    LV_LAUNCH(1, 2048, 0, 0, k_write)(d, 0);
    cudaError_t e = cudaGetLastError();
    cudaError_t again = cudaGetLastError();
    printf("launch of 2048 threads: %s, then %s\n", cudaGetErrorName(e), cudaGetErrorName(again));
    return !(e == cudaErrorInvalidConfiguration && again == cudaSuccess);
}
static int c_memcpy_kind(void) {
    float *d = dev_floats(4), h[4] = {0, 0, 0, 0};
    cudaError_t e = cudaMemcpy(h, d, sizeof h, cudaMemcpyHostToDevice); /* bug: the pointers are swapped */
    printf("swapped cudaMemcpy: %s\n", cudaGetErrorName(e));
    return e != cudaErrorInvalidValue;
}
static int c_cublas_transpose(void) {
    /* A is 3x5 (column-major, lda 3): op(A) = A^T needs transa = T with k = 3; passing N with
     * k = 5 while keeping lda = 3 is the planted transposition, which cuBLAS's lda rule rejects. */
    float *a = dev_floats(15), *b = dev_floats(15), *c = dev_floats(25);
    cublasHandle_t h;
    cublasCreate(&h);
    const float one = 1.0f, zero = 0.0f;
    cublasStatus_t ok = cublasSgemm(h, CUBLAS_OP_T, CUBLAS_OP_N, 5, 5, 3, &one, a, 3, b, 3, &zero, c, 5);
    cublasStatus_t bad = cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, 5, 5, 3, &one, a, 3, b, 3, &zero, c, 5);
    printf("transa T: %s; transa N: %s\n", cublasGetStatusString(ok), cublasGetStatusString(bad));
    return !(ok == CUBLAS_STATUS_SUCCESS && bad == CUBLAS_STATUS_INVALID_VALUE);
}
static int c_cudnn_workspace(void) {
    cudnnHandle_t h;
    cudnnCreate(&h);
    cudnnTensorDescriptor_t x, y;
    cudnnFilterDescriptor_t f;
    cudnnConvolutionDescriptor_t conv;
    cudnnCreateTensorDescriptor(&x);
    cudnnCreateTensorDescriptor(&y);
    cudnnCreateFilterDescriptor(&f);
    cudnnCreateConvolutionDescriptor(&conv);
    cudnnSetTensor4dDescriptor(x, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 2, 3, 8, 8);
    cudnnSetFilter4dDescriptor(f, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, 4, 3, 3, 3);
    cudnnSetConvolution2dDescriptor(conv, 1, 1, 1, 1, 1, 1, CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT);
    cudnnSetTensor4dDescriptor(y, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 2, 4, 8, 8);
    float *dx = dev_floats(2 * 3 * 64), *dw = dev_floats(4 * 27), *dy = dev_floats(2 * 4 * 64);
    /* The algorithm with the largest workspace, given one byte less than it needs. */
    cudnnConvolutionFwdAlgo_t best = CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM;
    size_t need = 0;
    for (int a = 0; a < 8; a++) {
        size_t n = 0;
        if (cudnnGetConvolutionForwardWorkspaceSize(h, x, f, conv, y, (cudnnConvolutionFwdAlgo_t)a, &n) ==
                CUDNN_STATUS_SUCCESS && n > need) {
            need = n;
            best = (cudnnConvolutionFwdAlgo_t)a;
        }
    }
    if (need == 0) {
        printf("no algorithm asks for a workspace\n");
        return 1;
    }
    void *ws = NULL;
    cudaMalloc(&ws, need);
    const float one = 1.0f, zero = 0.0f;
    cudnnStatus_t small = cudnnConvolutionForward(h, &one, x, dx, f, dw, conv, best, ws, need - 1, &zero, y, dy);
    cudnnStatus_t fits = cudnnConvolutionForward(h, &one, x, dx, f, dw, conv, best, ws, need, &zero, y, dy);
    printf("algorithm %d needs %zu bytes: with %zu -> %s, with %zu -> %s\n", (int)best, need, need - 1,
           cudnnGetErrorString(small), need, cudnnGetErrorString(fits));
    cudaDeviceSynchronize();
    return !(small == CUDNN_STATUS_BAD_PARAM && fits == CUDNN_STATUS_SUCCESS);
}

/* ---- the table ----------------------------------------------------------------------- */

enum { ALL = 3, ASAN_ONLY = 1, TSAN_ONLY = 2 };
struct planted {
    const char *name;
    int (*run)(void);
    int builds;
    const char *report; /* stderr must contain it and the child must not exit 0; NULL: exit 0 */
};

static const planted cases[] = {
    {"missing barrier", c_missing_barrier, TSAN_ONLY, "data race"},
    {"divergent barrier", c_divergent_barrier, ALL, "divergent barrier"},
    {"return before a barrier", c_early_return, ALL, "is not reached by every thread"},
    {"shared memory out of bounds", c_shared_oob, ASAN_ONLY, "out of bounds for type 'float [32]'"},
    /* heap-buffer-overflow, or heap-use-after-free when the first stray write lands far past it */
    {"dynamic shared memory out of bounds", c_dynamic_shared_oob, ASAN_ONLY, "AddressSanitizer: heap-"},
    {"shared memory race", c_shared_race, TSAN_ONLY, "data race"},
    {"global memory race without atomics", c_global_race, TSAN_ONLY, "data race"},
    {"global memory race between blocks", c_block_race, TSAN_ONLY, "data race"},
    {"shuffle mask without the caller", c_shuffle_mask, ALL, "which the mask leaves out"},
    {"shuffle mask naming lanes that never call", c_shuffle_missing_lanes, ALL, "exited without calling it"},
    {"host pointer passed to a kernel", c_host_pointer_to_kernel, ALL, "a kernel cannot dereference host memory"},
    {"host reading a device pointer", c_host_reads_device, ALL, "host code dereferenced device memory"},
    {"device write far out of bounds", c_global_oob, ALL, "illegal device memory access"},
    {"device write in the alignment slack", c_global_oob_slack, ASAN_ONLY, "use-after-poison"},
    {"kernel on freed memory", c_use_after_free, ALL, "not live device memory"},
    {"D2H result read before the stream sync", c_stale_d2h, ALL, NULL},
    {"launch with too many threads", c_bad_launch_config, ALL, NULL},
    {"cudaMemcpy kind against the pointers", c_memcpy_kind, ALL, NULL},
    {"wrong cuBLAS transpose", c_cublas_transpose, ALL, NULL},
    {"cuDNN workspace too small", c_cudnn_workspace, ALL, NULL},
};

static int this_build(void) {
#if defined(LV_EMU_ASAN)
    return ASAN_ONLY;
#elif defined(LV_EMU_TSAN)
    return TSAN_ONLY;
#else
    return 0;
#endif
}

static int run_case(const planted &c) {
    int fds[2];
    if (pipe(fds) != 0) return 1;
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], 2);
        dup2(fds[1], 1);
        close(fds[0]);
        _exit(c.run());
    }
    close(fds[1]);
    std::string out;
    char buf[4096];
    ssize_t n;
    while ((n = read(fds[0], buf, sizeof buf)) > 0) out.append(buf, (size_t)n);
    close(fds[0]);
    int st = 0;
    waitpid(pid, &st, 0);
    bool clean = WIFEXITED(st) && WEXITSTATUS(st) == 0;
    bool ok = c.report ? (!clean && out.find(c.report) != std::string::npos) : clean;
    size_t cut = out.find('\n', 0);
    for (int lines = 0; cut != std::string::npos && lines < 3; lines++) cut = out.find('\n', cut + 1);
    printf("%s %s: %s\n", ok ? "ok  " : "FAIL", c.name,
           c.report ? (ok ? "reported" : "NOT reported") : (ok ? "caught" : "NOT caught"));
    printf("     | %s\n", out.substr(0, cut == std::string::npos ? out.size() : cut).c_str());
    return ok ? 0 : 1;
}

int main(void) {
    int failed = 0, ran = 0;
    for (const planted &c : cases) {
        if (!(c.builds & this_build()) && c.builds != ALL) continue;
        ran++;
        failed += run_case(c);
    }
    printf("%d of %d planted bugs caught\n", ran - failed, ran);
    return failed ? 1 : 0;
}
