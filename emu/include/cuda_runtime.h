/* The CUDA runtime as the device emulator gives it (test-only; never part of the real CUDA
 * build): host API types and calls, and the device-side builtins the .cu sources use
 * (thread indices, barriers, warp exchange, atomics, rounding intrinsics, vector types), so
 * cuda/ compiles unchanged with the host C++ compiler. Semantics, and what each check
 * reports, are in docs/cuda.md ("The device emulator"). */
#ifndef LV_EMU_CUDA_RUNTIME_H
#define LV_EMU_CUDA_RUNTIME_H

#ifndef __cplusplus
#error "the emulated CUDA runtime is C++: include it from .cu sources only"
#endif

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <memory>
#include <tuple>
#include <type_traits>
#include <utility>

#define CUDART_VERSION 13000
#define LV_CUDA_EMU_RUNTIME 1

/* ---- host API types ----------------------------------------------------------------- */

typedef enum cudaError {
    cudaSuccess = 0,
    cudaErrorInvalidValue = 1,
    cudaErrorMemoryAllocation = 2,
    cudaErrorInitializationError = 3,
    cudaErrorInvalidConfiguration = 9,
    cudaErrorInvalidPitchValue = 12,
    cudaErrorInvalidDevicePointer = 17,
    cudaErrorInvalidMemcpyDirection = 21,
    cudaErrorNoDevice = 100,
    cudaErrorInvalidDevice = 101,
    cudaErrorInvalidResourceHandle = 400,
    cudaErrorNotReady = 600,
    cudaErrorIllegalAddress = 700,
    cudaErrorLaunchOutOfResources = 701,
    cudaErrorLaunchFailure = 719,
    cudaErrorUnknown = 999
} cudaError_t;

typedef enum cudaMemcpyKind {
    cudaMemcpyHostToHost = 0,
    cudaMemcpyHostToDevice = 1,
    cudaMemcpyDeviceToHost = 2,
    cudaMemcpyDeviceToDevice = 3,
    cudaMemcpyDefault = 4
} cudaMemcpyKind;

typedef enum cudaDeviceAttr {
    cudaDevAttrMaxThreadsPerBlock = 1,
    cudaDevAttrMaxSharedMemoryPerBlock = 8,
    cudaDevAttrWarpSize = 10,
    cudaDevAttrMultiProcessorCount = 16,
    cudaDevAttrComputeCapabilityMajor = 75,
    cudaDevAttrComputeCapabilityMinor = 76,
    cudaDevAttrMemoryPoolsSupported = 115
} cudaDeviceAttr;

typedef enum cudaMemPoolAttr { cudaMemPoolAttrReleaseThreshold = 4 } cudaMemPoolAttr;

struct lv_emu_stream;
struct lv_emu_event;
struct lv_emu_mempool;
typedef struct lv_emu_stream *cudaStream_t;
typedef struct lv_emu_event *cudaEvent_t;
typedef struct lv_emu_mempool *cudaMemPool_t;

#define cudaStreamDefault 0x00u
#define cudaStreamNonBlocking 0x01u
#define cudaEventDefault 0x00u
#define cudaEventBlockingSync 0x01u
#define cudaEventDisableTiming 0x02u
#define cudaHostAllocDefault 0x00u
#define cudaHostAllocPortable 0x01u
#define cudaHostAllocMapped 0x02u

typedef struct cudaDeviceProp {
    char name[256];
    size_t totalGlobalMem;
    size_t sharedMemPerBlock;
    int regsPerBlock;
    int warpSize;
    int maxThreadsPerBlock;
    int maxThreadsDim[3];
    int maxGridSize[3];
    int major;
    int minor;
    int multiProcessorCount;
    int pciBusID;
    int pciDeviceID;
    int pciDomainID;
    size_t sharedMemPerBlockOptin;
} cudaDeviceProp;

struct dim3 {
    unsigned int x, y, z;
    constexpr dim3(unsigned int vx = 1, unsigned int vy = 1, unsigned int vz = 1) : x(vx), y(vy), z(vz) {}
};
struct uint3 {
    unsigned int x, y, z;
};

extern "C" {
cudaError_t cudaGetDeviceCount(int *count);
cudaError_t cudaSetDevice(int device);
cudaError_t cudaGetDevice(int *device);
cudaError_t cudaGetDeviceProperties(cudaDeviceProp *prop, int device);
cudaError_t cudaDeviceGetAttribute(int *value, cudaDeviceAttr attr, int device);
cudaError_t cudaDeviceGetPCIBusId(char *pciBusId, int len, int device);
cudaError_t cudaDeviceGetStreamPriorityRange(int *leastPriority, int *greatestPriority);
cudaError_t cudaDeviceGetDefaultMemPool(cudaMemPool_t *pool, int device);
cudaError_t cudaMemPoolSetAttribute(cudaMemPool_t pool, cudaMemPoolAttr attr, void *value);
cudaError_t cudaDeviceSynchronize(void);
cudaError_t cudaDeviceReset(void);
cudaError_t cudaDriverGetVersion(int *version);
cudaError_t cudaRuntimeGetVersion(int *version);
cudaError_t cudaGetLastError(void);
cudaError_t cudaPeekAtLastError(void);
const char *cudaGetErrorString(cudaError_t e);
const char *cudaGetErrorName(cudaError_t e);
cudaError_t cudaMemGetInfo(size_t *free_bytes, size_t *total_bytes);

cudaError_t cudaMalloc(void **ptr, size_t bytes);
cudaError_t cudaFree(void *ptr);
cudaError_t cudaMallocAsync(void **ptr, size_t bytes, cudaStream_t stream);
cudaError_t cudaFreeAsync(void *ptr, cudaStream_t stream);
cudaError_t cudaHostAlloc(void **ptr, size_t bytes, unsigned int flags);
cudaError_t cudaMallocHost(void **ptr, size_t bytes);
cudaError_t cudaFreeHost(void *ptr);
cudaError_t cudaMemcpy(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind);
cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind,
                            cudaStream_t stream);
cudaError_t cudaMemset(void *ptr, int value, size_t bytes);
cudaError_t cudaMemsetAsync(void *ptr, int value, size_t bytes, cudaStream_t stream);

cudaError_t cudaStreamCreate(cudaStream_t *stream);
cudaError_t cudaStreamCreateWithFlags(cudaStream_t *stream, unsigned int flags);
cudaError_t cudaStreamCreateWithPriority(cudaStream_t *stream, unsigned int flags, int priority);
cudaError_t cudaStreamDestroy(cudaStream_t stream);
cudaError_t cudaStreamSynchronize(cudaStream_t stream);
cudaError_t cudaStreamQuery(cudaStream_t stream);
cudaError_t cudaStreamWaitEvent(cudaStream_t stream, cudaEvent_t event, unsigned int flags);
cudaError_t cudaEventCreate(cudaEvent_t *event);
cudaError_t cudaEventCreateWithFlags(cudaEvent_t *event, unsigned int flags);
cudaError_t cudaEventDestroy(cudaEvent_t event);
cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream);
cudaError_t cudaEventQuery(cudaEvent_t event);
cudaError_t cudaEventSynchronize(cudaEvent_t event);
}

/* ---- device-side qualifiers --------------------------------------------------------- */

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __noinline__ __attribute__((noinline))
#define __launch_bounds__(...)
#define __restrict__ __restrict
/* Static shared memory is one per-block area: every __shared__ variable lives in the section
 * lv_emu_shared, which the emulator fills with garbage (0xff: NaN floats) before each block and
 * resets for the race detector, as a real block starts on memory it has never written. */
#define __shared__ static __attribute__((section("lv_emu_shared"), aligned(16)))
static constexpr int warpSize = 32;

namespace lv_emu {

/* The calling CUDA thread's coordinates: written by the emulator before it resumes a fiber
 * (one OS thread runs every fiber, so plain globals are exact). */
extern uint3 g_thread_idx, g_block_idx;
extern dim3 g_block_dim, g_grid_dim;

enum barrier_kind { BAR_SYNC, BAR_OR, BAR_AND, BAR_COUNT };
enum warp_kind { WARP_IDX, WARP_XOR, WARP_DOWN, WARP_UP, WARP_BALLOT, WARP_ANY, WARP_ALL, WARP_SYNC };

/* Suspends the calling CUDA thread at a block barrier until every live thread of its block
 * has reached the same one; returns the reduction of `pred` for the _or/_and/_count forms. */
int barrier(barrier_kind kind, int pred, const char *file, int line);
/* One warp-collective step: the lanes of `mask` meet here, exchange `bits` (for shuffles,
 * lane `arg` / xor `arg` / down or up by `arg` within segments of `width`) and resume. */
unsigned long long warp_op(warp_kind kind, unsigned mask, unsigned long long bits, int arg, int width,
                           const char *file, int line);
unsigned active_mask(void);
/* Dynamic shared memory of the running block (the launch's shared-bytes argument). */
void *dynamic_shared(void);
size_t dynamic_shared_bytes(void);
/* A device-side fault the emulator itself detects: prints the launch, block and thread, and
 * aborts, as a real device would report an unspecified launch failure. */
[[noreturn]] void device_fault(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

template <typename T>
static inline unsigned long long to_bits(T v) {
    static_assert(sizeof(T) <= 8, "warp shuffles move at most 8 bytes");
    unsigned long long b = 0;
    memcpy(&b, &v, sizeof v);
    return b;
}
template <typename T>
static inline T from_bits(unsigned long long b) {
    T v;
    memcpy(&v, &b, sizeof v);
    return v;
}

} // namespace lv_emu

#define threadIdx (::lv_emu::g_thread_idx)
#define blockIdx (::lv_emu::g_block_idx)
#define blockDim (::lv_emu::g_block_dim)
#define gridDim (::lv_emu::g_grid_dim)

#define __syncthreads() ((void)::lv_emu::barrier(::lv_emu::BAR_SYNC, 0, __FILE__, __LINE__))
#define __syncthreads_or(p) ::lv_emu::barrier(::lv_emu::BAR_OR, (p) != 0, __FILE__, __LINE__)
#define __syncthreads_and(p) ::lv_emu::barrier(::lv_emu::BAR_AND, (p) != 0, __FILE__, __LINE__)
#define __syncthreads_count(p) ::lv_emu::barrier(::lv_emu::BAR_COUNT, (p) != 0, __FILE__, __LINE__)
#define __syncwarp(...) ((void)::lv_emu::warp_op(::lv_emu::WARP_SYNC, lv_emu_mask_or_full(__VA_ARGS__), 0, 0, 32, __FILE__, __LINE__))
static inline unsigned lv_emu_mask_or_full(void) { return 0xffffffffu; }
static inline unsigned lv_emu_mask_or_full(unsigned m) { return m; }

#define LV_EMU_SHFL_(kind, mask, v, arg, width)                                                    \
    ::lv_emu::from_bits<decltype(+(v))>(::lv_emu::warp_op(                                        \
        kind, (mask), ::lv_emu::to_bits<decltype(+(v))>(v), (int)(arg), (int)(width), __FILE__, __LINE__))
#define LV_EMU_WIDTH_(...) lv_emu_width_or_32(__VA_ARGS__)
static inline int lv_emu_width_or_32(void) { return 32; }
static inline int lv_emu_width_or_32(int w) { return w; }
#define __shfl_sync(mask, v, lane, ...) LV_EMU_SHFL_(::lv_emu::WARP_IDX, mask, v, lane, LV_EMU_WIDTH_(__VA_ARGS__))
#define __shfl_xor_sync(mask, v, m, ...) LV_EMU_SHFL_(::lv_emu::WARP_XOR, mask, v, m, LV_EMU_WIDTH_(__VA_ARGS__))
#define __shfl_down_sync(mask, v, d, ...) LV_EMU_SHFL_(::lv_emu::WARP_DOWN, mask, v, d, LV_EMU_WIDTH_(__VA_ARGS__))
#define __shfl_up_sync(mask, v, d, ...) LV_EMU_SHFL_(::lv_emu::WARP_UP, mask, v, d, LV_EMU_WIDTH_(__VA_ARGS__))
#define __ballot_sync(mask, p) ((unsigned)::lv_emu::warp_op(::lv_emu::WARP_BALLOT, (mask), (p) != 0, 0, 32, __FILE__, __LINE__))
#define __any_sync(mask, p) ((int)::lv_emu::warp_op(::lv_emu::WARP_ANY, (mask), (p) != 0, 0, 32, __FILE__, __LINE__))
#define __all_sync(mask, p) ((int)::lv_emu::warp_op(::lv_emu::WARP_ALL, (mask), (p) != 0, 0, 32, __FILE__, __LINE__))
#define __activemask() (::lv_emu::active_mask())
#define __threadfence() __atomic_thread_fence(__ATOMIC_SEQ_CST)
#define __threadfence_block() __atomic_thread_fence(__ATOMIC_SEQ_CST)

#define LV_DYNAMIC_SHARED(T, name) T *name = static_cast<T *>(::lv_emu::dynamic_shared())

/* ---- atomics (real ones: the race detector sees them as atomic) -------------------------- */

template <typename T>
static inline T lv_emu_atomic_add_int(T *p, T v) { return __atomic_fetch_add(p, v, __ATOMIC_RELAXED); }
static inline int atomicAdd(int *p, int v) { return lv_emu_atomic_add_int(p, v); }
static inline unsigned atomicAdd(unsigned *p, unsigned v) { return lv_emu_atomic_add_int(p, v); }
static inline unsigned long long atomicAdd(unsigned long long *p, unsigned long long v) {
    return lv_emu_atomic_add_int(p, v);
}
template <typename F, typename U, typename Op>
static inline F lv_emu_atomic_float(F *p, Op op) {
    static_assert(sizeof(F) == sizeof(U), "same width");
    U *q = reinterpret_cast<U *>(p);
    U old = __atomic_load_n(q, __ATOMIC_RELAXED), want;
    do {
        F f;
        memcpy(&f, &old, sizeof f);
        F n = op(f);
        memcpy(&want, &n, sizeof want);
    } while (!__atomic_compare_exchange_n(q, &old, want, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED));
    F f;
    memcpy(&f, &old, sizeof f);
    return f;
}
static inline float atomicAdd(float *p, float v) {
    return lv_emu_atomic_float<float, uint32_t>(p, [v](float a) { return a + v; });
}
static inline double atomicAdd(double *p, double v) {
    return lv_emu_atomic_float<double, uint64_t>(p, [v](double a) { return a + v; });
}
template <typename T, typename Op>
static inline T lv_emu_atomic_rmw(T *p, Op op) {
    T old = __atomic_load_n(p, __ATOMIC_RELAXED);
    while (!__atomic_compare_exchange_n(p, &old, op(old), false, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
    }
    return old;
}
static inline int atomicMax(int *p, int v) { return lv_emu_atomic_rmw(p, [v](int a) { return a > v ? a : v; }); }
static inline unsigned atomicMax(unsigned *p, unsigned v) {
    return lv_emu_atomic_rmw(p, [v](unsigned a) { return a > v ? a : v; });
}
static inline int atomicMin(int *p, int v) { return lv_emu_atomic_rmw(p, [v](int a) { return a < v ? a : v; }); }
static inline unsigned atomicMin(unsigned *p, unsigned v) {
    return lv_emu_atomic_rmw(p, [v](unsigned a) { return a < v ? a : v; });
}
static inline int atomicExch(int *p, int v) { return __atomic_exchange_n(p, v, __ATOMIC_RELAXED); }
static inline unsigned atomicExch(unsigned *p, unsigned v) { return __atomic_exchange_n(p, v, __ATOMIC_RELAXED); }
static inline int atomicCAS(int *p, int cmp, int v) {
    __atomic_compare_exchange_n(p, &cmp, v, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
    return cmp;
}
static inline unsigned atomicCAS(unsigned *p, unsigned cmp, unsigned v) {
    __atomic_compare_exchange_n(p, &cmp, v, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
    return cmp;
}
static inline unsigned long long atomicCAS(unsigned long long *p, unsigned long long cmp, unsigned long long v) {
    __atomic_compare_exchange_n(p, &cmp, v, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
    return cmp;
}

/* ---- arithmetic intrinsics: the build has -ffp-contract=off, so each is one IEEE op ---- */

static inline float __fmul_rn(float a, float b) { return a * b; }
static inline float __fadd_rn(float a, float b) { return a + b; }
static inline float __fsub_rn(float a, float b) { return a - b; }
static inline float __fdiv_rn(float a, float b) { return a / b; }
static inline float __fsqrt_rn(float a) { return sqrtf(a); }
/* CUDA's global min/max overloads (math_functions.hpp): same-type arguments only. */
static inline int min(int a, int b) { return a < b ? a : b; }
static inline int max(int a, int b) { return a > b ? a : b; }
static inline unsigned min(unsigned a, unsigned b) { return a < b ? a : b; }
static inline unsigned max(unsigned a, unsigned b) { return a > b ? a : b; }
static inline long long min(long long a, long long b) { return a < b ? a : b; }
static inline long long max(long long a, long long b) { return a > b ? a : b; }
static inline float min(float a, float b) { return fminf(a, b); }
static inline float max(float a, float b) { return fmaxf(a, b); }
static inline double min(double a, double b) { return fmin(a, b); }
static inline double max(double a, double b) { return fmax(a, b); }
static inline double __dsqrt_rn(double a) { return sqrt(a); }
static inline float __frcp_rn(float a) { return 1.0f / a; }
static inline float __fmaf_rn(float a, float b, float c) { return fmaf(a, b, c); }
static inline double __dmul_rn(double a, double b) { return a * b; }
static inline double __dadd_rn(double a, double b) { return a + b; }
static inline float rsqrtf(float a) { return 1.0f / sqrtf(a); }
static inline double rsqrt(double a) { return 1.0 / sqrt(a); }
static inline float __saturatef(float a) { return a < 0.0f ? 0.0f : (a > 1.0f ? 1.0f : a); }
template <typename T>
static inline T __ldg(const T *p) { return *p; }

/* ---- vector types (CUDA's alignment: a misaligned float4 access is a fault) ---------- */

struct alignas(16) float4 { float x, y, z, w; };
struct alignas(8) float2 { float x, y; };
struct alignas(16) int4 { int x, y, z, w; };
struct alignas(8) int2 { int x, y; };
static inline float4 make_float4(float x, float y, float z, float w) { return float4{x, y, z, w}; }
static inline float2 make_float2(float x, float y) { return float2{x, y}; }
static inline int4 make_int4(int x, int y, int z, int w) { return int4{x, y, z, w}; }

/* ---- launches --------------------------------------------------------------------------- */

namespace lv_emu {

/* What a launch carries to the emulator: the body runs once per CUDA thread. */
struct launch_info {
    const char *kernel; /* the kernel expression as written, "bn_apply<4, unsigned>" */
    const char *file;
    int line;
    dim3 grid, block;
    size_t shmem;
    cudaStream_t stream;
};
/* Checks the configuration (the runtime's launch errors, reported by cudaGetLastError) and
 * queues the launch; `body` is called by every CUDA thread of every block. */
void enqueue_launch(const launch_info &info, std::shared_ptr<void> args, void (*body)(void *));
/* A kernel parameter that is a pointer must be NULL or device memory (or pinned host
 * memory, which a real card maps); anything else is a fault naming the launch. */
void check_kernel_pointer(const launch_info &info, int index, const void *p);

template <typename T>
static inline void check_param(const launch_info &info, int index, const T &v) {
    if constexpr (std::is_pointer<T>::value) check_kernel_pointer(info, index, (const void *)v);
    (void)info, (void)index, (void)v;
}

template <typename... P>
struct launcher {
    void (*fn)(P...);
    launch_info info;
    /* Parameters taken by value with the kernel's own types, so arguments convert at the
     * call site exactly as in a real launch (NULL and 0 become null pointers, int widens). */
    void operator()(typename std::decay<P>::type... a) const {
        using pack = std::pair<void (*)(P...), std::tuple<typename std::decay<P>::type...>>;
        auto args = std::make_shared<pack>(fn, std::tuple<typename std::decay<P>::type...>(a...));
        check_all(args->second, std::index_sequence_for<P...>{});
        enqueue_launch(info, args, [](void *raw) {
            pack *pk = static_cast<pack *>(raw);
            std::apply(pk->first, pk->second);
        });
    }
    template <typename Tup, size_t... I>
    void check_all(const Tup &t, std::index_sequence<I...>) const {
        (check_param(info, (int)I, std::get<I>(t)), ...);
        (void)t;
    }
};

template <typename... P>
static inline launcher<P...> make_launch(void (*fn)(P...), const char *name, const char *file, int line,
                                         dim3 grid, dim3 block, size_t shmem, cudaStream_t stream) {
    return launcher<P...>{fn, launch_info{name, file, line, grid, block, shmem, stream}};
}

} // namespace lv_emu

#define LV_LAUNCH(grid, block, shmem, stream, ...)                                                 \
    ::lv_emu::make_launch(__VA_ARGS__, #__VA_ARGS__, __FILE__, __LINE__, dim3(grid), dim3(block),  \
                          (size_t)(shmem), (stream))

#endif
