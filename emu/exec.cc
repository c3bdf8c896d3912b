/* Kernel execution in the device emulator: every CUDA thread of a block is a fiber; fibers
 * run until they reach a barrier or a warp collective, and the block's scheduler resumes them
 * only when every thread the operation needs has arrived. A barrier some live thread never
 * reaches, lanes a mask names that never call, or a mask without the caller is reported and
 * aborts. Blocks and threads run in the order LIVER_VLM_EMU_SCHEDULE asks for. Under
 * ThreadSanitizer every fiber is a TSan fiber and each barrier a release/acquire, so TSan
 * reports races between CUDA threads (shared and global memory alike). */
#include <stdarg.h>
#include <sys/mman.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "emu.h"

#if defined(LV_EMU_TSAN)
#include <sanitizer/tsan_interface.h>
extern "C" void __tsan_java_init(unsigned long heap_begin, unsigned long heap_size);
extern "C" void __tsan_java_free(unsigned long ptr, unsigned long size);
extern "C" void __tsan_java_alloc(unsigned long ptr, unsigned long size);
#endif
#if defined(LV_EMU_ASAN)
#include <sanitizer/common_interface_defs.h>
#endif

/* Every __shared__ variable of the program, and the race-checked dynamic shared buffer. */
extern "C" char __start_lv_emu_shared[] __attribute__((weak));
extern "C" char __stop_lv_emu_shared[] __attribute__((weak));

namespace lv_emu {

uint3 g_thread_idx, g_block_idx;
dim3 g_block_dim, g_grid_dim;

static const size_t kMaxDynamicShared = 48 << 10;
#if defined(LV_EMU_TSAN)
/* Under TSan dynamic shared memory is part of the section, so it is reset with it. */
static char g_dyn_section[kMaxDynamicShared] __attribute__((section("lv_emu_shared"), aligned(16)));
#else
static char g_dyn_anchor[16] __attribute__((section("lv_emu_shared"), aligned(16), used));
#endif

/* ---- fibers ------------------------------------------------------------------------------ */

enum fiber_state { F_READY, F_BARRIER, F_WARP, F_DONE };

struct fiber {
    void *sp;
    char *stack;
    size_t stack_len;
    fiber_state state;
    uint3 tid;
    int linear, lane, warp;
    const char *file; /* the barrier or warp operation waited in */
    int line;
    int kind, pred, result;
    unsigned mask;
    unsigned long long bits, out;
    int arg, width;
    unsigned gen;     /* which barrier or __syncwarp generation it waits in (TSan) */
    void *tsan;
    void *asan_fake;
};

extern "C" void lv_emu_switch(void **save_sp, void *to_sp);
#if defined(__x86_64__)
/* Saves the callee-saved registers, MXCSR and the x87 control word on the current stack,
 * stores the stack pointer in *save_sp and resumes the context whose stack is to_sp. */
__asm__(".text\n"
        ".globl lv_emu_switch\n"
        ".type lv_emu_switch,@function\n"
        "lv_emu_switch:\n"
        "  pushq %rbp\n  pushq %rbx\n  pushq %r12\n  pushq %r13\n  pushq %r14\n  pushq %r15\n"
        "  subq $8, %rsp\n  stmxcsr (%rsp)\n  fnstcw 4(%rsp)\n"
        "  movq %rsp, (%rdi)\n  movq %rsi, %rsp\n"
        "  ldmxcsr (%rsp)\n  fldcw 4(%rsp)\n  addq $8, %rsp\n"
        "  popq %r15\n  popq %r14\n  popq %r13\n  popq %r12\n  popq %rbx\n  popq %rbp\n"
        "  ret\n"
        ".size lv_emu_switch,.-lv_emu_switch\n"
        ".section .note.GNU-stack,\"\",@progbits\n"
        ".text\n");
#else
#error "the device emulator's fiber switch is written for x86-64"
#endif

/* Kept for the life of the process (freed at exit, so leak checkers stay quiet). Under TSan
 * consecutive blocks alternate between two pools, each fiber with its own stack and TSan
 * fiber, so a CUDA thread is not program-ordered after the thread of the same index in the
 * block just before it (blocks are unordered on a card). */
static std::vector<std::unique_ptr<fiber>> g_pools[2];
static int g_set;
static inline std::vector<std::unique_ptr<fiber>> &pool(void) { return g_pools[g_set]; }
static fiber *g_cur;
static void *g_main_sp;
[[maybe_unused]] static void *g_main_tsan;
[[maybe_unused]] static const void *g_main_bottom;
[[maybe_unused]] static size_t g_main_size;
[[maybe_unused]] static void *g_main_fake;
static void (*g_body)(void *);
static void *g_args;
static const launch_info *g_info;
static int g_nthreads;
static char *g_dyn;
static size_t g_dyn_bytes;
[[maybe_unused]] static char g_kernel_start, g_kernel_end; /* TSan synchronisation addresses */
/* A barrier is a release by every arriving thread and an acquire by every leaving one, on an
 * address of its own: generation g of the block barrier uses g_sync[g & 1], warp w's
 * __syncwarp generation g uses g_sync[2 + 2w + (g & 1)] (one thread cannot be two generations
 * ahead of another). Allocated per block and freed after it, so TSan forgets the block's
 * synchronisation and blocks stay unordered, as on a card. */
[[maybe_unused]] static char *g_sync;
[[maybe_unused]] static unsigned g_bar_gen, g_warp_gen[32];

static void to_main(void);

static void trampoline(void) {
#if defined(LV_EMU_ASAN)
    __sanitizer_finish_switch_fiber(NULL, &g_main_bottom, &g_main_size);
#endif
    for (;;) {
#if defined(LV_EMU_TSAN)
        __tsan_acquire(&g_kernel_start);
#endif
        g_body(g_args);
        g_cur->state = F_DONE;
#if defined(LV_EMU_TSAN)
        __tsan_release(&g_kernel_end);
#endif
        to_main();
    }
}

static fiber *fiber_new(int index) {
    fiber *f = new fiber();
#if defined(LV_EMU_ASAN) || defined(LV_EMU_TSAN)
    f->stack_len = 256 << 10;
#else
    f->stack_len = 64 << 10;
#endif
    /* One guard page below the stack: an overflow faults instead of corrupting a neighbour. */
    char *m = (char *)mmap(NULL, f->stack_len + 4096, PROT_READ | PROT_WRITE,
                           MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED) fatal("cannot map a fiber stack");
    mprotect(m, 4096, PROT_NONE);
    f->stack = m + 4096;
    uintptr_t *sp = (uintptr_t *)(f->stack + f->stack_len);
    *--sp = 0;                        /* trampoline's return address: it never returns */
    *--sp = (uintptr_t)trampoline;    /* where lv_emu_switch's ret goes */
    for (int i = 0; i < 6; i++) *--sp = 0; /* rbp rbx r12..r15 */
    unsigned mxcsr = 0;
    unsigned short fpucw = 0;
    __asm__ volatile("stmxcsr %0" : "=m"(mxcsr));
    __asm__ volatile("fnstcw %0" : "=m"(fpucw));
    *--sp = (uintptr_t)mxcsr | ((uintptr_t)fpucw << 32);
    f->sp = sp;
#if defined(LV_EMU_TSAN)
    f->tsan = __tsan_create_fiber(0);
    char name[48];
    snprintf(name, sizeof name, "cuda thread %d (pool %d)", index, g_set);
    __tsan_set_fiber_name(f->tsan, name);
#endif
    (void)index;
    return f;
}

static void to_fiber(fiber *f) {
    g_cur = f;
    g_thread_idx = f->tid;
#if defined(LV_EMU_TSAN)
    if (!g_main_tsan) g_main_tsan = __tsan_get_current_fiber();
    __tsan_switch_to_fiber(f->tsan, __tsan_switch_to_fiber_no_sync);
#endif
#if defined(LV_EMU_ASAN)
    __sanitizer_start_switch_fiber(&g_main_fake, f->stack, f->stack_len);
#endif
    lv_emu_switch(&g_main_sp, f->sp);
#if defined(LV_EMU_ASAN)
    __sanitizer_finish_switch_fiber(g_main_fake, NULL, NULL);
#endif
    g_cur = NULL;
}

static void to_main(void) {
    fiber *f = g_cur;
#if defined(LV_EMU_TSAN)
    __tsan_switch_to_fiber(g_main_tsan, __tsan_switch_to_fiber_no_sync);
#endif
#if defined(LV_EMU_ASAN)
    __sanitizer_start_switch_fiber(&f->asan_fake, g_main_bottom, g_main_size);
#endif
    lv_emu_switch(&f->sp, g_main_sp);
#if defined(LV_EMU_ASAN)
    __sanitizer_finish_switch_fiber(f->asan_fake, &g_main_bottom, &g_main_size);
#endif
}

static char g_thread_desc[512];

const char *current_thread(void) {
    if (!g_cur || !g_info) return NULL;
    snprintf(g_thread_desc, sizeof g_thread_desc,
             "kernel %s (launched at %s:%d), block (%u,%u,%u), thread (%u,%u,%u)", g_info->kernel, g_info->file,
             g_info->line, g_block_idx.x, g_block_idx.y, g_block_idx.z, g_cur->tid.x, g_cur->tid.y, g_cur->tid.z);
    return g_thread_desc;
}

void device_fault(const char *file, int line, const char *fmt, ...) {
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fatal("%s:%d: %s", file, line, msg);
}

static fiber *self(const char *what) {
    if (!g_cur) fatal("%s called outside a kernel", what);
    return g_cur;
}

static const char *barrier_name(int kind) {
    switch (kind) {
    case BAR_OR: return "__syncthreads_or";
    case BAR_AND: return "__syncthreads_and";
    case BAR_COUNT: return "__syncthreads_count";
    default: return "__syncthreads";
    }
}

static const char *warp_name(int kind) {
    switch (kind) {
    case WARP_IDX: return "__shfl_sync";
    case WARP_XOR: return "__shfl_xor_sync";
    case WARP_DOWN: return "__shfl_down_sync";
    case WARP_UP: return "__shfl_up_sync";
    case WARP_BALLOT: return "__ballot_sync";
    case WARP_ANY: return "__any_sync";
    case WARP_ALL: return "__all_sync";
    default: return "__syncwarp";
    }
}

int barrier(barrier_kind kind, int pred, const char *file, int line) {
    fiber *f = self("__syncthreads");
    f->state = F_BARRIER;
    f->kind = kind;
    f->pred = pred;
    f->file = file;
    f->line = line;
#if defined(LV_EMU_TSAN)
    f->gen = g_bar_gen;
    __tsan_release(&g_sync[f->gen & 1]);
#endif
    to_main();
#if defined(LV_EMU_TSAN)
    __tsan_acquire(&g_sync[f->gen & 1]);
#endif
    return f->result;
}

unsigned long long warp_op(warp_kind kind, unsigned mask, unsigned long long bits, int arg, int width,
                           const char *file, int line) {
    fiber *f = self(warp_name(kind));
    if (!(mask & (1u << f->lane)))
        fatal("%s:%d: %s with mask 0x%08x called by lane %d, which the mask leaves out", file, line, warp_name(kind),
              mask, f->lane);
    if (width <= 0 || width > 32 || (width & (width - 1)))
        fatal("%s:%d: %s with width %d (a power of two up to 32)", file, line, warp_name(kind), width);
    f->state = F_WARP;
    f->kind = kind;
    f->mask = mask;
    f->bits = bits;
    f->arg = arg;
    f->width = width;
    f->file = file;
    f->line = line;
#if defined(LV_EMU_TSAN)
    f->gen = g_warp_gen[f->warp];
    char *sync = &g_sync[2 + 2 * f->warp + (f->gen & 1)];
    if (kind == WARP_SYNC) __tsan_release(sync);
#endif
    to_main();
#if defined(LV_EMU_TSAN)
    if (kind == WARP_SYNC) __tsan_acquire(sync);
#endif
    return f->out;
}

unsigned active_mask(void) {
    fiber *f = self("__activemask");
    unsigned m = 0;
    for (int i = f->warp * 32; i < g_nthreads && i < f->warp * 32 + 32; i++)
        if (pool()[i]->state != F_DONE) m |= 1u << (i - f->warp * 32);
    return m;
}

void *dynamic_shared(void) {
    self("dynamic shared memory");
    return g_dyn_bytes ? g_dyn : NULL;
}

size_t dynamic_shared_bytes(void) { return g_dyn_bytes; }

/* ---- the block scheduler ----------------------------------------------------------------- */

static std::string site(const fiber *f) {
    char b[300];
    snprintf(b, sizeof b, "%s at %s:%d", f->state == F_BARRIER ? barrier_name(f->kind) : warp_name(f->kind), f->file,
             f->line);
    return b;
}

static std::string tdesc(const fiber *f) {
    char b[64];
    snprintf(b, sizeof b, "thread (%u,%u,%u)", f->tid.x, f->tid.y, f->tid.z);
    return b;
}

/* __FILE__ of one translation unit is usually one literal: compare pointers first. */
static inline bool same_file(const char *a, const char *b) { return a == b || strcmp(a, b) == 0; }

/* Completes every warp collective whose lanes have all arrived; a lane that cannot arrive
 * any more (it exited, waits at a barrier or in another collective) is a fault. */
static bool resolve_warps(void) {
    bool any = false;
    for (int i = 0; i < g_nthreads; i++) {
        fiber *f = pool()[i].get();
        if (f->state != F_WARP) continue;
        int base = f->warp * 32;
        for (int l = 0; l < 32; l++) {
            if (!(f->mask & (1u << l))) continue;
            int j = base + l;
            if (j >= g_nthreads)
                fatal("%s in block (%u,%u,%u): mask 0x%08x names lane %d, which does not exist (the block has %d "
                      "threads)", site(f).c_str(), g_block_idx.x, g_block_idx.y, g_block_idx.z, f->mask, l, g_nthreads);
            fiber *g = pool()[j].get();
            if (g->state == F_DONE)
                fatal("%s in block (%u,%u,%u), %s: mask 0x%08x names lane %d (%s), which exited without calling it",
                      site(f).c_str(), g_block_idx.x, g_block_idx.y, g_block_idx.z, tdesc(f).c_str(), f->mask, l,
                      tdesc(g).c_str());
            if (g->state == F_BARRIER)
                fatal("%s in block (%u,%u,%u), %s: mask 0x%08x names lane %d (%s), which waits in %s instead",
                      site(f).c_str(), g_block_idx.x, g_block_idx.y, g_block_idx.z, tdesc(f).c_str(), f->mask, l,
                      tdesc(g).c_str(), site(g).c_str());
            if (g->mask != f->mask || g->kind != f->kind || g->line != f->line || !same_file(g->file, f->file))
                fatal("warp collective mismatch in block (%u,%u,%u): %s calls %s with mask 0x%08x but lane %d (%s) "
                      "calls %s with mask 0x%08x", g_block_idx.x, g_block_idx.y, g_block_idx.z, tdesc(f).c_str(),
                      site(f).c_str(), f->mask, l, tdesc(g).c_str(), site(g).c_str(), g->mask);
        }
        /* Every lane of the mask is here: exchange. */
        unsigned long long ballot = 0;
        for (int l = 0; l < 32; l++)
            if ((f->mask & (1u << l)) && pool()[base + l]->bits) ballot |= 1ull << l;
        for (int l = 0; l < 32; l++) {
            if (!(f->mask & (1u << l))) continue;
            fiber *g = pool()[base + l].get();
            int w = g->width, seg = l & ~(w - 1), src = l;
            switch (g->kind) {
            case WARP_IDX: src = seg + (g->arg & (w - 1)); break;
            case WARP_XOR: src = l ^ g->arg; if (src < 0 || src >= 32 || (src & ~(w - 1)) > seg) src = l; break;
            case WARP_DOWN: src = l + g->arg; if (src >= seg + w) src = l; break;
            case WARP_UP: src = l - g->arg; if (src < seg) src = l; break;
            default: break;
            }
            if (g->kind <= WARP_UP) {
                if (!(f->mask & (1u << src)))
                    fatal("%s in block (%u,%u,%u): lane %d reads lane %d, which is not in mask 0x%08x (the value "
                          "is undefined on a card)", site(g).c_str(), g_block_idx.x, g_block_idx.y, g_block_idx.z, l,
                          src, f->mask);
                g->out = pool()[base + src]->bits;
            } else if (g->kind == WARP_BALLOT) {
                g->out = ballot;
            } else if (g->kind == WARP_ANY) {
                g->out = ballot != 0;
            } else if (g->kind == WARP_ALL) {
                g->out = ballot == (unsigned long long)f->mask;
            } else {
                g->out = 0;
            }
        }
        for (int l = 0; l < 32; l++)
            if (f->mask & (1u << l)) pool()[base + l]->state = F_READY;
        g_warp_gen[f->warp]++;
        any = true;
    }
    return any;
}

/* All live threads wait at a barrier: release them if it is one barrier reached by all. */
static void resolve_barrier(void) {
    fiber *first = NULL;
    int waiting = 0, exited = 0, count = 0;
    for (int i = 0; i < g_nthreads; i++) {
        fiber *f = pool()[i].get();
        if (f->state == F_DONE) {
            exited++;
            continue;
        }
        if (f->state != F_BARRIER) fatal("emulator scheduler: thread %d neither ready nor waiting", i);
        waiting++;
        count += f->pred;
        if (!first) {
            first = f;
        } else if (f->line != first->line || f->kind != first->kind || !same_file(f->file, first->file)) {
            fatal("divergent barrier in block (%u,%u,%u): %s waits in %s while %s waits in %s (a barrier must be "
                  "reached by every thread of the block, the same one)", g_block_idx.x, g_block_idx.y, g_block_idx.z,
                  tdesc(first).c_str(), site(first).c_str(), tdesc(f).c_str(), site(f).c_str());
        }
    }
    if (exited) {
        fiber *gone = NULL;
        for (int i = 0; i < g_nthreads && !gone; i++)
            if (pool()[i]->state == F_DONE) gone = pool()[i].get();
        fatal("%s in block (%u,%u,%u) is not reached by every thread: %d of %d threads exited before it (%s "
              "returned first) while %d wait", site(first).c_str(), g_block_idx.x, g_block_idx.y, g_block_idx.z,
              exited, g_nthreads, tdesc(gone).c_str(), waiting);
    }
    int result = 0;
    switch (first->kind) {
    case BAR_OR: result = count > 0; break;
    case BAR_AND: result = count == waiting; break;
    case BAR_COUNT: result = count; break;
    default: break;
    }
    for (int i = 0; i < g_nthreads; i++) {
        pool()[i]->result = result;
        pool()[i]->state = F_READY;
    }
    g_bar_gen++;
}

/* Fills this block's shared memory with 0xff bytes (NaN floats) and, under TSan, forgets
 * the previous block's accesses to it: a new block's shared memory is not the old one. */
__attribute__((no_sanitize_address)) static void fresh_shared(void) {
    char *a = __start_lv_emu_shared, *b = __stop_lv_emu_shared;
    if (a && b && b > a) {
#if defined(LV_EMU_TSAN)
        /* TSan's Java heap interface is its one way to clear the shadow of a range: the
         * section is that "heap", and each block frees and reallocates it. */
        static bool java = false;
        const unsigned long lo = (unsigned long)a, n = ((unsigned long)(b - a) + 7) & ~7ul;
        if (!java) {
            __tsan_java_init(lo, n);
            java = true;
        } else {
            __tsan_java_free(lo, n);
        }
        __tsan_java_alloc(lo, n);
#endif
        for (volatile char *p = a; p < b; p++) *p = (char)0xff;
    }
    if (g_dyn && g_dyn_bytes) {
        for (volatile char *p = g_dyn; p < g_dyn + g_dyn_bytes; p++) *p = (char)0xff;
    }
}

static void order(std::vector<int> &idx, int n) {
    idx.resize((size_t)n);
    for (int i = 0; i < n; i++) idx[(size_t)i] = i;
    schedule_kind k = config().schedule;
    if (k == SCHED_REVERSE) std::reverse(idx.begin(), idx.end());
    if (k == SCHED_RANDOM)
        for (int i = n; i > 1; i--) std::swap(idx[(size_t)i - 1], idx[next_random() % (unsigned long long)i]);
}

static void run_block(unsigned bx, unsigned by, unsigned bz) {
#if defined(LV_EMU_TSAN)
    static unsigned long long blocks_run;
    g_set = (int)(blocks_run++ & 1);
#endif
    while (pool().size() < (size_t)g_nthreads) pool().emplace_back(fiber_new((int)pool().size()));
    g_block_idx = uint3{bx, by, bz};
    const dim3 b = g_block_dim;
    for (int i = 0; i < g_nthreads; i++) {
        fiber *f = pool()[i].get();
        f->state = F_READY;
        f->linear = i;
        f->lane = i & 31;
        f->warp = i >> 5;
        f->tid = uint3{(unsigned)i % b.x, ((unsigned)i / b.x) % b.y, (unsigned)i / (b.x * b.y)};
    }
    fresh_shared();
#if defined(LV_EMU_TSAN)
    g_sync = (char *)calloc(2 + 2 * 32, 1);
    g_bar_gen = 0;
    memset(g_warp_gen, 0, sizeof g_warp_gen);
    __tsan_release(&g_kernel_start);
#endif
    std::vector<int> idx;
    for (;;) {
        order(idx, g_nthreads);
        for (int i : idx)
            if (pool()[i]->state == F_READY) to_fiber(pool()[i].get());
        bool all_done = true;
        for (int i = 0; i < g_nthreads; i++)
            if (pool()[i]->state != F_DONE) all_done = false;
        if (all_done) break;
        if (resolve_warps()) continue;
        resolve_barrier();
    }
#if defined(LV_EMU_TSAN)
    free(g_sync); /* TSan drops the synchronisation it recorded on freed memory */
    g_sync = NULL;
#endif
}

static const size_t kMaxThreads = 1024;

void run_kernel(const launch_info &info, void *args, void (*body)(void *)) {
    count_launch(info.kernel);
    const int n = (int)(info.block.x * info.block.y * info.block.z);
    g_info = &info;
    g_body = body;
    g_args = args;
    g_nthreads = n;
    g_block_dim = info.block;
    g_grid_dim = info.grid;
    g_dyn_bytes = info.shmem;
#if defined(LV_EMU_TSAN)
    g_dyn = g_dyn_section;
#else
    (void)g_dyn_anchor;
    /* Exactly the launch's size, so AddressSanitizer bounds-checks dynamic shared memory. */
    g_dyn = info.shmem ? (char *)malloc(info.shmem) : NULL;
#endif
    const unsigned long long blocks = (unsigned long long)info.grid.x * info.grid.y * info.grid.z;
    std::vector<unsigned long long> bidx((size_t)blocks);
    for (unsigned long long i = 0; i < blocks; i++) bidx[(size_t)i] = i;
    schedule_kind k = config().schedule;
    if (k == SCHED_REVERSE) std::reverse(bidx.begin(), bidx.end());
    if (k == SCHED_RANDOM)
        for (size_t i = bidx.size(); i > 1; i--) std::swap(bidx[i - 1], bidx[next_random() % i]);
    for (unsigned long long lin : bidx) {
        unsigned x = (unsigned)(lin % info.grid.x), y = (unsigned)((lin / info.grid.x) % info.grid.y);
        unsigned z = (unsigned)(lin / ((unsigned long long)info.grid.x * info.grid.y));
        run_block(x, y, z);
    }
#if defined(LV_EMU_TSAN)
    __tsan_acquire(&g_kernel_end);
#else
    free(g_dyn);
#endif
    g_dyn = NULL;
    g_info = NULL;
}

/* ---- launches ---------------------------------------------------------------------------- */

void check_kernel_pointer(const launch_info &info, int index, const void *p) {
    if (!p) return;
    bool bad = false;
    mem_kind k = classify(p, 0, &bad);
    if (k == MEM_PINNED) return;
    if (k == MEM_HOST)
        fatal("kernel %s launched at %s:%d: argument %d is %s: a kernel cannot dereference host memory",
              info.kernel, info.file, info.line, index + 1, describe(p).c_str());
    if (bad)
        fatal("kernel %s launched at %s:%d: argument %d is %s, not live device memory", info.kernel, info.file,
              info.line, index + 1, describe(p).c_str());
}

void enqueue_launch(const launch_info &info, std::shared_ptr<void> args, void (*body)(void *)) {
    const dim3 g = info.grid, b = info.block;
    unsigned long long threads = (unsigned long long)b.x * b.y * b.z;
    if (threads == 0 || threads > kMaxThreads || b.x > 1024 || b.y > 1024 || b.z > 64 || g.x == 0 || g.y == 0 ||
        g.z == 0 || g.y > 65535 || g.z > 65535) {
        complain("kernel %s launched at %s:%d: invalid configuration grid (%u,%u,%u) block (%u,%u,%u)", info.kernel,
                 info.file, info.line, g.x, g.y, g.z, b.x, b.y, b.z);
        set_last_error(cudaErrorInvalidConfiguration);
        return;
    }
    if (info.shmem > kMaxDynamicShared) {
        complain("kernel %s launched at %s:%d: %zu bytes of dynamic shared memory, more than the %zu a block may have",
                 info.kernel, info.file, info.line, info.shmem, kMaxDynamicShared);
        set_last_error(cudaErrorInvalidValue);
        return;
    }
    char what[400];
    snprintf(what, sizeof what, "kernel %s launched at %s:%d (grid (%u,%u,%u), block (%u,%u,%u), %zu shared bytes)",
             info.kernel, info.file, info.line, g.x, g.y, g.z, b.x, b.y, b.z, info.shmem);
    launch_info copy = info;
    enqueue(info.stream, what, [copy, args, body]() { run_kernel(copy, args.get(), body); });
}

} // namespace lv_emu
