/* The emulated CUDA runtime API: one device, streams whose work runs only when the host
 * waits for it (a synchronize, a blocking copy, an event wait or a second event query), the
 * legacy default stream's implicit ordering, copies checked against where their pointers
 * live, and the runtime's last-error rules. Kernels themselves run in exec.cc. */
#include <fcntl.h>
#include <stdarg.h>
#include <unistd.h>

#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <vector>

#include "emu.h"

struct lv_emu_stream {
    struct op {
        unsigned long long seq;
        std::vector<std::pair<lv_emu_stream *, unsigned long long>> deps;
        std::string what;
        std::function<void()> fn;
    };
    int id;
    unsigned flags;
    int priority;
    bool legacy, destroyed;
    std::deque<op> queue;
    unsigned long long enqueued, done;
};

struct lv_emu_event {
    lv_emu_stream *stream; /* NULL: never recorded (complete) */
    unsigned long long seq;
    bool queried; /* the first query of a pending record answers "not ready" */
    bool destroyed;
};

struct lv_emu_mempool {
    unsigned long long release_threshold;
};

namespace lv_emu {

void set_device_open(bool open);
void *device_alloc(size_t bytes);
bool device_free(void *p);
size_t device_live_bytes(void);
void pinned_add(void *p, size_t bytes);
bool pinned_remove(void *p);
const char *current_thread(void); /* exec.cc: "block (1,0,0) thread (5,0,0)" or NULL */

/* One lock for the whole device: a second host thread waits while queued work runs. */
static std::recursive_mutex g_lock;
static std::vector<std::unique_ptr<lv_emu_stream>> g_streams; /* [0] is the legacy stream */
static std::vector<std::unique_ptr<lv_emu_event>> g_events;
static cudaError_t g_last_error = cudaSuccess;
static std::string g_current;
static int g_running;
static int g_device;
static lv_emu_mempool g_pool;
static std::set<void *> g_pending_free;

/* ---- settings and reports -------------------------------------------------------------- */

static settings g_settings;
static unsigned long long g_rng;
static std::map<std::string, unsigned long long> g_coverage;

static void write_coverage(void) {
    if (!g_settings.coverage_file || g_coverage.empty()) return;
    int fd = open(g_settings.coverage_file, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd < 0) return;
    for (auto &kv : g_coverage) {
        char line[512];
        int n = snprintf(line, sizeof line, "%s %llu\n", kv.first.c_str(), kv.second);
        if (n > 0 && n < (int)sizeof line) (void)!write(fd, line, (size_t)n); /* one write: atomic under O_APPEND */
    }
    close(fd);
}

static settings read_settings(void) {
    settings s;
    s.schedule = SCHED_FORWARD;
    s.seed = 1;
    s.sm_count = 2;
    s.coverage_file = getenv("LIVER_VLM_EMU_COVERAGE");
    const char *sch = getenv("LIVER_VLM_EMU_SCHEDULE");
    if (sch && *sch) {
        if (strcmp(sch, "forward") == 0) s.schedule = SCHED_FORWARD;
        else if (strcmp(sch, "reverse") == 0) s.schedule = SCHED_REVERSE;
        else if (strncmp(sch, "random", 6) == 0 && (sch[6] == '\0' || sch[6] == ':')) {
            s.schedule = SCHED_RANDOM;
            if (sch[6] == ':') s.seed = strtoull(sch + 7, NULL, 10);
        } else {
            fprintf(stderr, "liver-vlm CUDA emulator: LIVER_VLM_EMU_SCHEDULE=%s: expected forward, reverse or "
                            "random:SEED\n", sch);
            exit(2);
        }
    }
    const char *sms = getenv("LIVER_VLM_EMU_SMS");
    if (sms && atoi(sms) > 0) s.sm_count = atoi(sms);
    return s;
}

const settings &config(void) {
    static bool ready = false;
    if (!ready) {
        ready = true;
        g_settings = read_settings();
        g_rng = g_settings.seed * 0x9E3779B97F4A7C15ull + 1;
        atexit(write_coverage);
    }
    return g_settings;
}

unsigned long long next_random(void) {
    unsigned long long z = (g_rng += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void count_launch(const char *kernel) {
    std::string name(kernel);
    size_t lt = name.find('<');
    if (lt != std::string::npos) name.resize(lt);
    while (!name.empty() && name.back() == ' ') name.pop_back();
    g_coverage[name]++;
}

static void vreport(const char *kind, const char *fmt, va_list ap) {
    char msg[1024];
    vsnprintf(msg, sizeof msg, fmt, ap);
    fprintf(stderr, "liver-vlm CUDA emulator: %s%s\n", kind, msg);
    if (g_running && !g_current.empty()) fprintf(stderr, "  during %s\n", g_current.c_str());
    const char *t = current_thread();
    if (t) fprintf(stderr, "  in %s\n", t);
}

void fatal(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vreport("error: ", fmt, ap);
    va_end(ap);
    fflush(stderr);
    abort();
}

void complain(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vreport("", fmt, ap);
    va_end(ap);
}

cudaError_t set_last_error(cudaError_t e) {
    if (e != cudaSuccess) g_last_error = e;
    return e;
}

const char *current_operation(void) { return g_running && !g_current.empty() ? g_current.c_str() : NULL; }

/* ---- streams --------------------------------------------------------------------------- */

static lv_emu_stream *legacy(void) {
    if (g_streams.empty()) {
        config();
        auto s = std::make_unique<lv_emu_stream>();
        s->id = 0;
        s->flags = 0;
        s->priority = 0;
        s->legacy = true;
        s->destroyed = false;
        s->enqueued = s->done = 0;
        g_streams.push_back(std::move(s));
    }
    return g_streams[0].get();
}

static lv_emu_stream *resolve(cudaStream_t s) { return s ? s : legacy(); }

static bool stream_ok(cudaStream_t s) { return !s || !s->destroyed; }

static void run_until(lv_emu_stream *s, unsigned long long seq) {
    bool outer = g_running == 0;
    if (outer) set_device_open(true);
    g_running++;
    while (s->done < seq && !s->queue.empty()) {
        lv_emu_stream::op o = std::move(s->queue.front());
        s->queue.pop_front();
        for (auto &d : o.deps) run_until(d.first, d.second);
        g_current = o.what;
        o.fn();
        s->done = o.seq;
    }
    g_running--;
    if (outer) {
        g_current.clear();
        set_device_open(false);
    }
}

static void enqueue_deps(cudaStream_t stream, const char *what, std::function<void()> fn,
                         std::vector<std::pair<lv_emu_stream *, unsigned long long>> deps) {
    std::lock_guard<std::recursive_mutex> lock(g_lock);
    lv_emu_stream *s = resolve(stream);
    /* The legacy stream waits for every blocking stream and they wait for it. */
    if (s->legacy) {
        for (auto &o : g_streams)
            if (!o->legacy && !(o->flags & cudaStreamNonBlocking) && o->enqueued > o->done)
                deps.push_back({o.get(), o->enqueued});
    } else if (!(s->flags & cudaStreamNonBlocking)) {
        lv_emu_stream *l = legacy();
        if (l->enqueued > l->done) deps.push_back({l, l->enqueued});
    }
    lv_emu_stream::op o;
    o.seq = ++s->enqueued;
    o.deps = std::move(deps);
    o.what = what;
    o.fn = std::move(fn);
    s->queue.push_back(std::move(o));
}

void enqueue(cudaStream_t stream, const char *what, std::function<void()> op) {
    enqueue_deps(stream, what, std::move(op), {});
}

void drain(cudaStream_t stream) {
    std::lock_guard<std::recursive_mutex> lock(g_lock);
    lv_emu_stream *s = resolve(stream);
    run_until(s, s->enqueued);
}

void drain_all(void) {
    std::lock_guard<std::recursive_mutex> lock(g_lock);
    legacy();
    std::vector<lv_emu_stream *> order;
    for (auto &s : g_streams) order.push_back(s.get());
    if (config().schedule == SCHED_REVERSE) std::reverse(order.begin(), order.end());
    if (config().schedule == SCHED_RANDOM)
        for (size_t i = order.size(); i > 1; i--) std::swap(order[i - 1], order[next_random() % i]);
    for (lv_emu_stream *s : order) run_until(s, s->enqueued);
}

} // namespace lv_emu

using namespace lv_emu;

#define FAIL(e, ...) (complain(__VA_ARGS__), set_last_error(e))

/* ---- device ---------------------------------------------------------------------------- */

extern "C" cudaError_t cudaGetDeviceCount(int *count) {
    if (!count) return set_last_error(cudaErrorInvalidValue);
    *count = 1;
    return cudaSuccess;
}

extern "C" cudaError_t cudaSetDevice(int device) {
    if (device != 0) return FAIL(cudaErrorInvalidDevice, "cudaSetDevice(%d): the emulator has device 0 only", device);
    g_device = device;
    return cudaSuccess;
}

extern "C" cudaError_t cudaGetDevice(int *device) {
    if (!device) return set_last_error(cudaErrorInvalidValue);
    *device = g_device;
    return cudaSuccess;
}

extern "C" cudaError_t cudaGetDeviceProperties(cudaDeviceProp *p, int device) {
    if (!p || device != 0) return set_last_error(device != 0 ? cudaErrorInvalidDevice : cudaErrorInvalidValue);
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "liver-vlm CPU emulator (sm_90)");
    p->totalGlobalMem = (size_t)16 << 30;
    p->sharedMemPerBlock = 48 << 10;
    p->sharedMemPerBlockOptin = 48 << 10;
    p->regsPerBlock = 65536;
    p->warpSize = 32;
    p->maxThreadsPerBlock = 1024;
    p->maxThreadsDim[0] = p->maxThreadsDim[1] = 1024;
    p->maxThreadsDim[2] = 64;
    p->maxGridSize[0] = 0x7fffffff;
    p->maxGridSize[1] = p->maxGridSize[2] = 65535;
    p->major = 9;
    p->minor = 0;
    p->multiProcessorCount = config().sm_count;
    return cudaSuccess;
}

extern "C" cudaError_t cudaDeviceGetAttribute(int *value, cudaDeviceAttr attr, int device) {
    if (!value) return set_last_error(cudaErrorInvalidValue);
    if (device != 0) return set_last_error(cudaErrorInvalidDevice);
    switch (attr) {
    case cudaDevAttrMaxThreadsPerBlock: *value = 1024; break;
    case cudaDevAttrMaxSharedMemoryPerBlock: *value = 48 << 10; break;
    case cudaDevAttrWarpSize: *value = 32; break;
    case cudaDevAttrMultiProcessorCount: *value = config().sm_count; break;
    case cudaDevAttrComputeCapabilityMajor: *value = 9; break;
    case cudaDevAttrComputeCapabilityMinor: *value = 0; break;
    case cudaDevAttrMemoryPoolsSupported: *value = 1; break;
    default: return FAIL(cudaErrorInvalidValue, "cudaDeviceGetAttribute: attribute %d is not emulated", (int)attr);
    }
    return cudaSuccess;
}

extern "C" cudaError_t cudaDeviceGetPCIBusId(char *id, int len, int device) {
    if (!id || len <= 0) return set_last_error(cudaErrorInvalidValue);
    if (device != 0) return set_last_error(cudaErrorInvalidDevice);
    /* Each process emulates its own card: ranks on one node must see different bus ids, as
     * one GPU per rank would give them. */
    const char *vars[] = {"OMPI_COMM_WORLD_LOCAL_RANK", "LOCAL_RANK", "SLURM_LOCALID"};
    int bus = 0;
    for (const char *v : vars)
        if (getenv(v)) {
            bus = atoi(getenv(v));
            break;
        }
    snprintf(id, (size_t)len, "0000:%02x:00.0", (bus + 1) & 0xff);
    return cudaSuccess;
}

extern "C" cudaError_t cudaDeviceGetStreamPriorityRange(int *least, int *greatest) {
    if (least) *least = 0;
    if (greatest) *greatest = -5;
    return cudaSuccess;
}

extern "C" cudaError_t cudaDeviceGetDefaultMemPool(cudaMemPool_t *pool, int device) {
    if (!pool) return set_last_error(cudaErrorInvalidValue);
    if (device != 0) return set_last_error(cudaErrorInvalidDevice);
    *pool = &g_pool;
    return cudaSuccess;
}

extern "C" cudaError_t cudaMemPoolSetAttribute(cudaMemPool_t pool, cudaMemPoolAttr attr, void *value) {
    if (pool != &g_pool || !value || attr != cudaMemPoolAttrReleaseThreshold)
        return FAIL(cudaErrorInvalidValue, "cudaMemPoolSetAttribute: unknown pool or attribute");
    memcpy(&g_pool.release_threshold, value, sizeof g_pool.release_threshold);
    return cudaSuccess;
}

extern "C" cudaError_t cudaDeviceSynchronize(void) {
    drain_all();
    return cudaSuccess;
}

extern "C" cudaError_t cudaDeviceReset(void) {
    drain_all();
    return cudaSuccess;
}

extern "C" cudaError_t cudaDriverGetVersion(int *v) {
    if (!v) return set_last_error(cudaErrorInvalidValue);
    *v = CUDART_VERSION;
    return cudaSuccess;
}

extern "C" cudaError_t cudaRuntimeGetVersion(int *v) { return cudaDriverGetVersion(v); }

extern "C" cudaError_t cudaGetLastError(void) {
    cudaError_t e = g_last_error;
    g_last_error = cudaSuccess;
    return e;
}

extern "C" cudaError_t cudaPeekAtLastError(void) { return g_last_error; }

extern "C" const char *cudaGetErrorName(cudaError_t e) {
    switch (e) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInitializationError: return "cudaErrorInitializationError";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
    case cudaErrorInvalidPitchValue: return "cudaErrorInvalidPitchValue";
    case cudaErrorInvalidDevicePointer: return "cudaErrorInvalidDevicePointer";
    case cudaErrorInvalidMemcpyDirection: return "cudaErrorInvalidMemcpyDirection";
    case cudaErrorNoDevice: return "cudaErrorNoDevice";
    case cudaErrorInvalidDevice: return "cudaErrorInvalidDevice";
    case cudaErrorInvalidResourceHandle: return "cudaErrorInvalidResourceHandle";
    case cudaErrorNotReady: return "cudaErrorNotReady";
    case cudaErrorIllegalAddress: return "cudaErrorIllegalAddress";
    case cudaErrorLaunchOutOfResources: return "cudaErrorLaunchOutOfResources";
    case cudaErrorLaunchFailure: return "cudaErrorLaunchFailure";
    default: return "cudaErrorUnknown";
    }
}

extern "C" const char *cudaGetErrorString(cudaError_t e) {
    switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorInvalidDevicePointer: return "invalid device pointer";
    case cudaErrorInvalidMemcpyDirection: return "invalid copy direction for memcpy";
    case cudaErrorNoDevice: return "no CUDA-capable device is detected";
    case cudaErrorInvalidDevice: return "invalid device ordinal";
    case cudaErrorInvalidResourceHandle: return "invalid resource handle";
    case cudaErrorNotReady: return "device not ready";
    case cudaErrorIllegalAddress: return "an illegal memory access was encountered";
    case cudaErrorLaunchFailure: return "unspecified launch failure";
    default: return cudaGetErrorName(e);
    }
}

extern "C" cudaError_t cudaMemGetInfo(size_t *free_bytes, size_t *total_bytes) {
    size_t total = (size_t)16 << 30, used = device_live_bytes();
    if (free_bytes) *free_bytes = used < total ? total - used : 0;
    if (total_bytes) *total_bytes = total;
    return cudaSuccess;
}

/* ---- memory ---------------------------------------------------------------------------- */

extern "C" cudaError_t cudaMalloc(void **ptr, size_t bytes) {
    if (!ptr) return set_last_error(cudaErrorInvalidValue);
    std::lock_guard<std::recursive_mutex> lock(g_lock);
    *ptr = device_alloc(bytes);
    return *ptr ? cudaSuccess : set_last_error(cudaErrorMemoryAllocation);
}

extern "C" cudaError_t cudaFree(void *p) {
    if (!p) return cudaSuccess;
    std::lock_guard<std::recursive_mutex> lock(g_lock);
    drain_all(); /* cudaFree synchronizes the device */
    if (g_pending_free.count(p) || !device_free(p))
        return FAIL(cudaErrorInvalidValue, "cudaFree(%s): not the start of a live device allocation",
                    describe(p).c_str());
    return cudaSuccess;
}

extern "C" cudaError_t cudaMallocAsync(void **ptr, size_t bytes, cudaStream_t stream) {
    if (!ptr || !stream_ok(stream)) return set_last_error(cudaErrorInvalidValue);
    return cudaMalloc(ptr, bytes);
}

extern "C" cudaError_t cudaFreeAsync(void *p, cudaStream_t stream) {
    if (!stream_ok(stream)) return set_last_error(cudaErrorInvalidResourceHandle);
    if (!p) return cudaSuccess;
    std::lock_guard<std::recursive_mutex> lock(g_lock);
    bool bad = false;
    if (classify(p, 1, &bad) != MEM_DEVICE || bad || g_pending_free.count(p))
        return FAIL(cudaErrorInvalidValue, "cudaFreeAsync(%s): not a live device allocation (freed twice?)",
                    describe(p).c_str());
    g_pending_free.insert(p);
    enqueue(stream, "cudaFreeAsync", [p]() {
        g_pending_free.erase(p);
        if (!device_free(p)) fatal("cudaFreeAsync: %p vanished before its stream-ordered free", p);
    });
    return cudaSuccess;
}

extern "C" cudaError_t cudaHostAlloc(void **ptr, size_t bytes, unsigned int flags) {
    (void)flags;
    if (!ptr) return set_last_error(cudaErrorInvalidValue);
    void *p = NULL;
    if (posix_memalign(&p, 4096, bytes ? bytes : 1) != 0) return set_last_error(cudaErrorMemoryAllocation);
    pinned_add(p, bytes);
    *ptr = p;
    return cudaSuccess;
}

extern "C" cudaError_t cudaMallocHost(void **ptr, size_t bytes) { return cudaHostAlloc(ptr, bytes, 0); }

extern "C" cudaError_t cudaFreeHost(void *p) {
    if (!p) return cudaSuccess;
    std::lock_guard<std::recursive_mutex> lock(g_lock);
    drain_all(); /* queued copies may still read or write it */
    if (!pinned_remove(p))
        return FAIL(cudaErrorInvalidValue, "cudaFreeHost(%s): not a pinned allocation", describe(p).c_str());
    free(p);
    return cudaSuccess;
}

static const char *kind_name(cudaMemcpyKind k) {
    switch (k) {
    case cudaMemcpyHostToHost: return "cudaMemcpyHostToHost";
    case cudaMemcpyHostToDevice: return "cudaMemcpyHostToDevice";
    case cudaMemcpyDeviceToHost: return "cudaMemcpyDeviceToHost";
    case cudaMemcpyDeviceToDevice: return "cudaMemcpyDeviceToDevice";
    default: return "cudaMemcpyDefault";
    }
}

/* Queues the copy; returns with the copy done when the CUDA rules say it is (a pageable
 * destination), else leaves it to run when the stream is waited for. */
static cudaError_t memcpy_common(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind,
                                 cudaStream_t stream, bool blocking, const char *api) {
    if (bytes == 0) return cudaSuccess;
    if (!dst || !src) return FAIL(cudaErrorInvalidValue, "%s: NULL pointer", api);
    if (!stream_ok(stream)) return set_last_error(cudaErrorInvalidResourceHandle);
    std::lock_guard<std::recursive_mutex> lock(g_lock);
    bool dbad = false, sbad = false;
    mem_kind dk = classify(dst, bytes, &dbad), sk = classify(src, bytes, &sbad);
    bool ddev = dk == MEM_DEVICE, sdev = sk == MEM_DEVICE;
    cudaMemcpyKind actual = ddev ? (sdev ? cudaMemcpyDeviceToDevice : cudaMemcpyHostToDevice)
                                 : (sdev ? cudaMemcpyDeviceToHost : cudaMemcpyHostToHost);
    if (kind != cudaMemcpyDefault && kind != actual)
        return FAIL(cudaErrorInvalidValue, "%s(dst %s, src %s, %zu bytes, %s): the pointers make this %s", api,
                    describe(dst).c_str(), describe(src).c_str(), bytes, kind_name(kind), kind_name(actual));
    if ((ddev && dbad) || (sdev && sbad) || (dk == MEM_PINNED && dbad) || (sk == MEM_PINNED && sbad))
        return FAIL(cudaErrorInvalidValue, "%s of %zu bytes: the range overruns its allocation (dst %s, src %s)", api,
                    bytes, describe(dst).c_str(), describe(src).c_str());
    char what[160];
    snprintf(what, sizeof what, "%s (%s, %zu bytes)", api, kind_name(actual), bytes);
    if (!sdev && sk != MEM_PINNED) {
        /* A pageable source is staged before the call returns: the caller may reuse it. */
        auto staged = std::make_shared<std::vector<unsigned char>>((const unsigned char *)src,
                                                                    (const unsigned char *)src + bytes);
        enqueue(stream, what, [dst, staged]() { memcpy(dst, staged->data(), staged->size()); });
    } else {
        enqueue(stream, what, [dst, src, bytes]() { memmove(dst, src, bytes); });
    }
    /* To pageable host memory the call returns only once the copy is done. */
    if (blocking || (!ddev && dk != MEM_PINNED)) drain(stream);
    return cudaSuccess;
}

extern "C" cudaError_t cudaMemcpy(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind) {
    return memcpy_common(dst, src, bytes, kind, NULL, true, "cudaMemcpy");
}

extern "C" cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind,
                                       cudaStream_t stream) {
    return memcpy_common(dst, src, bytes, kind, stream, false, "cudaMemcpyAsync");
}

extern "C" cudaError_t cudaMemsetAsync(void *p, int value, size_t bytes, cudaStream_t stream) {
    if (bytes == 0) return cudaSuccess;
    if (!stream_ok(stream)) return set_last_error(cudaErrorInvalidResourceHandle);
    std::lock_guard<std::recursive_mutex> lock(g_lock);
    if (!device_range_ok(p, bytes, "cudaMemsetAsync", "the destination")) return set_last_error(cudaErrorInvalidValue);
    char what[96];
    snprintf(what, sizeof what, "cudaMemsetAsync (%zu bytes)", bytes);
    enqueue(stream, what, [p, value, bytes]() { memset(p, value, bytes); });
    return cudaSuccess;
}

extern "C" cudaError_t cudaMemset(void *p, int value, size_t bytes) {
    cudaError_t e = cudaMemsetAsync(p, value, bytes, NULL);
    if (e == cudaSuccess) drain(NULL);
    return e;
}

/* ---- streams and events ---------------------------------------------------------------- */

extern "C" cudaError_t cudaStreamCreateWithPriority(cudaStream_t *out, unsigned int flags, int priority) {
    if (!out || (flags & ~cudaStreamNonBlocking)) return set_last_error(cudaErrorInvalidValue);
    std::lock_guard<std::recursive_mutex> lock(g_lock);
    legacy();
    auto s = std::make_unique<lv_emu_stream>();
    s->id = (int)g_streams.size();
    s->flags = flags;
    s->priority = priority;
    s->legacy = false;
    s->destroyed = false;
    s->enqueued = s->done = 0;
    *out = s.get();
    g_streams.push_back(std::move(s));
    return cudaSuccess;
}

extern "C" cudaError_t cudaStreamCreateWithFlags(cudaStream_t *out, unsigned int flags) {
    return cudaStreamCreateWithPriority(out, flags, 0);
}

extern "C" cudaError_t cudaStreamCreate(cudaStream_t *out) { return cudaStreamCreateWithPriority(out, 0, 0); }

extern "C" cudaError_t cudaStreamDestroy(cudaStream_t s) {
    if (!s || s->destroyed) return FAIL(cudaErrorInvalidResourceHandle, "cudaStreamDestroy: not a live stream");
    drain(s); /* its work still completes, as on a card */
    s->destroyed = true;
    return cudaSuccess;
}

extern "C" cudaError_t cudaStreamSynchronize(cudaStream_t s) {
    if (!stream_ok(s)) return set_last_error(cudaErrorInvalidResourceHandle);
    drain(s);
    return cudaSuccess;
}

extern "C" cudaError_t cudaStreamQuery(cudaStream_t s) {
    if (!stream_ok(s)) return set_last_error(cudaErrorInvalidResourceHandle);
    lv_emu_stream *r = resolve(s);
    if (r->done >= r->enqueued) return cudaSuccess;
    drain(s);
    return cudaErrorNotReady; /* it was not done when asked; the next query sees it done */
}

extern "C" cudaError_t cudaEventCreateWithFlags(cudaEvent_t *out, unsigned int flags) {
    if (!out || (flags & ~(cudaEventBlockingSync | cudaEventDisableTiming))) return set_last_error(cudaErrorInvalidValue);
    std::lock_guard<std::recursive_mutex> lock(g_lock);
    auto e = std::make_unique<lv_emu_event>();
    e->stream = NULL;
    e->seq = 0;
    e->queried = false;
    e->destroyed = false;
    *out = e.get();
    g_events.push_back(std::move(e));
    return cudaSuccess;
}

extern "C" cudaError_t cudaEventCreate(cudaEvent_t *out) { return cudaEventCreateWithFlags(out, 0); }

extern "C" cudaError_t cudaEventDestroy(cudaEvent_t e) {
    if (!e || e->destroyed) return FAIL(cudaErrorInvalidResourceHandle, "cudaEventDestroy: not a live event");
    e->destroyed = true;
    return cudaSuccess;
}

extern "C" cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t s) {
    if (!e || e->destroyed || !stream_ok(s))
        return FAIL(cudaErrorInvalidResourceHandle, "cudaEventRecord: not a live event or stream");
    std::lock_guard<std::recursive_mutex> lock(g_lock);
    e->stream = resolve(s);
    e->seq = e->stream->enqueued;
    e->queried = false;
    return cudaSuccess;
}

static bool event_done(cudaEvent_t e) { return !e->stream || e->stream->done >= e->seq; }

extern "C" cudaError_t cudaEventQuery(cudaEvent_t e) {
    if (!e || e->destroyed) return set_last_error(cudaErrorInvalidResourceHandle);
    std::lock_guard<std::recursive_mutex> lock(g_lock);
    if (event_done(e)) return cudaSuccess;
    /* Work progresses only when asked about: the first query of a record says "not ready"
     * (so polling code takes its waiting path), the next one runs the work. */
    if (!e->queried) {
        e->queried = true;
        return cudaErrorNotReady;
    }
    run_until(e->stream, e->seq);
    return cudaSuccess;
}

extern "C" cudaError_t cudaEventSynchronize(cudaEvent_t e) {
    if (!e || e->destroyed) return set_last_error(cudaErrorInvalidResourceHandle);
    std::lock_guard<std::recursive_mutex> lock(g_lock);
    if (e->stream) run_until(e->stream, e->seq);
    return cudaSuccess;
}

extern "C" cudaError_t cudaStreamWaitEvent(cudaStream_t s, cudaEvent_t e, unsigned int flags) {
    if (!e || e->destroyed || !stream_ok(s) || flags != 0)
        return FAIL(cudaErrorInvalidResourceHandle, "cudaStreamWaitEvent: not a live event or stream");
    std::lock_guard<std::recursive_mutex> lock(g_lock);
    std::vector<std::pair<lv_emu_stream *, unsigned long long>> deps;
    if (e->stream && !event_done(e)) deps.push_back({e->stream, e->seq});
    enqueue_deps(s, "cudaStreamWaitEvent", []() {}, std::move(deps));
    return cudaSuccess;
}
