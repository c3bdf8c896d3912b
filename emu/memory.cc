/* Device memory of the emulator: one reserved arena apart from the host heap. Each
 * allocation ends flush against a PROT_NONE guard page (the 256-byte alignment slack is
 * poisoned for AddressSanitizer), freed ranges stay PROT_NONE, and the whole of device memory
 * is inaccessible to the host except while queued device work runs: a host dereference of a
 * device pointer, an overrun or a use after free ends in SIGSEGV, which is reported here with
 * the allocation it hit. Pinned host memory is ordinary memory that is only recorded. */
#include <signal.h>
#include <stdarg.h>
#include <sys/mman.h>
#include <unistd.h>

#include <map>
#include <mutex>

#include "emu.h"

#if defined(LV_EMU_ASAN)
#include <sanitizer/asan_interface.h>
#define LV_POISON(p, n) ASAN_POISON_MEMORY_REGION(p, n)
#define LV_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define LV_POISON(p, n) ((void)(p), (void)(n))
#define LV_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

namespace lv_emu {

static const size_t kPage = 4096;
static const size_t kAlign = 256; /* cudaMalloc's guarantee */

struct region {
    uintptr_t map_base; /* first data page */
    size_t map_len;     /* data pages, bytes */
    uintptr_t base;     /* what cudaMalloc returned */
    size_t size;
    bool live;
};

static std::recursive_mutex g_mem_lock;
static uintptr_t g_arena, g_arena_len, g_bump;
static std::map<uintptr_t, region> g_regions; /* by map_base, live and freed */
static std::map<uintptr_t, size_t> g_pinned;  /* base -> bytes */
static size_t g_live_bytes;
static bool g_device_open; /* device memory readable and writable right now */
static struct sigaction g_old_segv, g_old_bus;

static void segv_handler(int sig, siginfo_t *si, void *uc);

static void arena_init(void) {
    if (g_arena) return;
    const char *env = getenv("LIVER_VLM_EMU_MEMORY_GB");
    size_t gb = env && atoi(env) > 0 ? (size_t)atoi(env) : 16;
    g_arena_len = gb << 30;
    void *p = mmap(NULL, g_arena_len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) fatal("cannot reserve %zu GiB of address space for device memory", gb);
    g_arena = (uintptr_t)p;
    g_bump = g_arena + kPage; /* the arena starts with a guard page */
    /* Faults must be reported even when they happen on a fiber's stack. */
    static char alt[1 << 16];
    stack_t ss;
    ss.ss_sp = alt;
    ss.ss_size = sizeof alt;
    ss.ss_flags = 0;
    sigaltstack(&ss, NULL);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = segv_handler;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, &g_old_segv);
    sigaction(SIGBUS, &sa, &g_old_bus);
}

static bool in_arena(uintptr_t a) { return g_arena && a >= g_arena && a < g_arena + g_arena_len; }

/* The region whose data pages or following guard page hold address a. */
static const region *region_at(uintptr_t a) {
    auto it = g_regions.upper_bound(a);
    if (it == g_regions.begin()) return NULL;
    --it;
    const region &r = it->second;
    return a < r.map_base + r.map_len + kPage ? &r : NULL;
}

std::string describe(const void *p) {
    std::lock_guard<std::recursive_mutex> lock(g_mem_lock);
    uintptr_t a = (uintptr_t)p;
    char buf[200];
    if (in_arena(a)) {
        const region *r = region_at(a);
        if (!r) {
            snprintf(buf, sizeof buf, "%p (device address space, never allocated)", p);
        } else if (a >= r->base && a < r->base + r->size) {
            snprintf(buf, sizeof buf, "%p (%s device allocation of %zu bytes at %p, offset %zu)", p,
                     r->live ? "inside the" : "inside a freed", r->size, (void *)r->base, (size_t)(a - r->base));
        } else {
            long long off = (long long)(a - r->base);
            snprintf(buf, sizeof buf, "%p (%lld bytes %s the %sdevice allocation of %zu bytes at %p)", p,
                     off < 0 ? -off : off - (long long)r->size, off < 0 ? "before" : "past the end of",
                     r->live ? "" : "freed ", r->size, (void *)r->base);
        }
        return buf;
    }
    auto it = g_pinned.upper_bound(a);
    if (it != g_pinned.begin() && a < (--it)->first + it->second) {
        snprintf(buf, sizeof buf, "%p (pinned host allocation of %zu bytes at %p)", p, it->second, (void *)it->first);
        return buf;
    }
    snprintf(buf, sizeof buf, "%p (host memory)", p);
    return buf;
}

#if defined(LV_EMU_TSAN)
/* The fault handler below formats its report and aborts; it never returns into the program,
 * so the allocation and stdio it does inside the signal are harmless, and TSan's warning
 * about them would replace the report the test looks for. */
extern "C" const char *__tsan_default_options(void) { return "report_signal_unsafe=0"; }
/* Open MPI's TCP transport takes two of its locks in either order (its own business, not
 * ours: the library is not instrumented and the emulator's NCCL runs on top of it). */
extern "C" const char *__tsan_default_suppressions(void) { return "deadlock:mca_btl_tcp.so\n"; }
#endif

static void segv_handler(int sig, siginfo_t *si, void *uc) {
    uintptr_t a = (uintptr_t)si->si_addr;
    if (in_arena(a)) {
        const char *op = current_operation();
        std::string d = describe(si->si_addr);
        if (op)
            fprintf(stderr,
                    "liver-vlm CUDA emulator: illegal device memory access at %s\n  during %s\n"
                    "  (an out-of-bounds index, a freed buffer, or a pointer the kernel should not hold)\n",
                    d.c_str(), op);
        else
            fprintf(stderr,
                    "liver-vlm CUDA emulator: host code dereferenced device memory at %s\n"
                    "  device memory is reachable from the host only through cudaMemcpy*; a real card would "
                    "crash or read garbage here\n",
                    d.c_str());
        signal(SIGABRT, SIG_DFL);
        abort();
    }
    struct sigaction *old = sig == SIGBUS ? &g_old_bus : &g_old_segv;
    if (old->sa_flags & SA_SIGINFO) {
        old->sa_sigaction(sig, si, uc);
    } else if (old->sa_handler != SIG_IGN && old->sa_handler != SIG_DFL) {
        old->sa_handler(sig);
    } else {
        signal(sig, SIG_DFL);
        raise(sig);
    }
}

static void protect(const region &r, bool open) {
    if (mprotect((void *)r.map_base, r.map_len, open ? PROT_READ | PROT_WRITE : PROT_NONE) != 0)
        fatal("mprotect of device memory failed");
}

void set_device_open(bool open) {
    std::lock_guard<std::recursive_mutex> lock(g_mem_lock);
    if (g_device_open == open) return;
    g_device_open = open;
    for (auto &kv : g_regions)
        if (kv.second.live) protect(kv.second, open);
}

void *device_alloc(size_t bytes) {
    std::lock_guard<std::recursive_mutex> lock(g_mem_lock);
    arena_init();
    size_t n = bytes ? bytes : 1;
    size_t rounded = (n + kAlign - 1) / kAlign * kAlign;
    size_t len = (rounded + kPage - 1) / kPage * kPage;
    uintptr_t at = 0;
    /* Fresh address space first (a stale pointer then faults instead of aliasing new data);
     * freed ranges are reused only once the arena is used up. */
    if (g_bump + len + kPage <= g_arena + g_arena_len) {
        at = g_bump;
        g_bump += len + kPage;
    } else {
        for (auto it = g_regions.begin(); it != g_regions.end(); ++it) {
            if (!it->second.live && it->second.map_len >= len) {
                at = it->first;
                len = it->second.map_len;
                g_regions.erase(it);
                break;
            }
        }
        if (!at) return NULL;
    }
    region r;
    r.map_base = at;
    r.map_len = len;
    r.base = at + len - rounded;
    r.size = bytes;
    r.live = true;
    g_regions[at] = r;
    g_live_bytes += bytes;
    /* CUDA promises nothing about fresh memory: NaN bytes make code that assumes zeros fail. */
    protect(r, true);
    memset((void *)at, 0xff, len);
    if (r.base > at) LV_POISON((void *)at, r.base - at);
    if (rounded > n) LV_POISON((void *)(r.base + n), rounded - n);
    if (!g_device_open) protect(r, false);
    return (void *)r.base;
}

bool device_free(void *p) {
    std::lock_guard<std::recursive_mutex> lock(g_mem_lock);
    uintptr_t a = (uintptr_t)p;
    if (!in_arena(a)) return false;
    const region *rp = region_at(a);
    if (!rp || !rp->live || rp->base != a) return false;
    region &r = g_regions[rp->map_base];
    r.live = false;
    g_live_bytes -= r.size;
    LV_UNPOISON((void *)r.map_base, r.map_len);
    madvise((void *)r.map_base, r.map_len, MADV_DONTNEED);
    protect(r, false);
    return true;
}

size_t device_live_bytes(void) { return g_live_bytes; }

void pinned_add(void *p, size_t bytes) {
    std::lock_guard<std::recursive_mutex> lock(g_mem_lock);
    g_pinned[(uintptr_t)p] = bytes ? bytes : 1;
}

bool pinned_remove(void *p) {
    std::lock_guard<std::recursive_mutex> lock(g_mem_lock);
    return g_pinned.erase((uintptr_t)p) == 1;
}

mem_kind classify(const void *p, size_t bytes, bool *bad) {
    std::lock_guard<std::recursive_mutex> lock(g_mem_lock);
    uintptr_t a = (uintptr_t)p;
    if (bad) *bad = false;
    if (in_arena(a)) {
        const region *r = region_at(a);
        bool ok = r && r->live && a >= r->base && a + bytes <= r->base + r->size && a + bytes >= a;
        if (bad) *bad = !ok;
        return MEM_DEVICE;
    }
    auto it = g_pinned.upper_bound(a);
    if (it != g_pinned.begin()) {
        --it;
        if (a >= it->first && a < it->first + it->second) {
            if (bad) *bad = a + bytes > it->first + it->second;
            return MEM_PINNED;
        }
    }
    return MEM_HOST;
}

bool device_range_ok(const void *p, size_t bytes, const char *api, const char *operand) {
    bool bad = false;
    mem_kind k = classify(p, bytes, &bad);
    if (k == MEM_DEVICE && !bad) return true;
    std::string d = describe(p);
    if (k != MEM_DEVICE)
        complain("%s: %s is %s, not device memory", api, operand, d.c_str());
    else
        complain("%s: %s [%p, +%zu bytes) does not fit inside live device memory: %s", api, operand, p, bytes,
                 d.c_str());
    return false;
}

} // namespace lv_emu
