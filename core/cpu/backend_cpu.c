/* The CPU backend: host memory, synchronous ops. It is the
 * reference every other backend is checked against, so it favours exactness over tricks.
 * Math: oneDNN or OpenBLAS GEMM behind core/cpu/gemm.h, OpenMP for our own loops. */
#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "cpu_ops.h"
#include "gemm.h"

typedef struct cpu_ctx {
    float *scratch[LV_CPU_SCRATCH_SLOTS];
    size_t scratch_len[LV_CPU_SCRATCH_SLOTS];
} cpu_ctx;

static void *cpu_alloc(lv_backend *be, size_t bytes) {
    (void)be;
    /* 64-byte alignment for AVX-512 loads; calloc semantics promised by the interface. */
    size_t rounded = (bytes + 63) & ~(size_t)63;
    void *p = aligned_alloc(64, rounded ? rounded : 64);
    if (p) memset(p, 0, rounded ? rounded : 64);
    return p;
}
static void cpu_free(lv_backend *be, void *p) { (void)be; free(p); }
static void cpu_memset0(lv_backend *be, void *p, size_t n) { (void)be; if (n) memset(p, 0, n); }
static void cpu_copy(lv_backend *be, void *d, const void *s, size_t n) { (void)be; if (n) memmove(d, s, n); }

static lv_status cpu_sync(lv_backend *be) { return lv_backend_take_error(be); }

/* Staging entries: the copy happens at once, so every event is complete when recorded. An
 * event is a distinct non-NULL pointer so callers can tell "none" from "created". */
static void *cpu_event_create(lv_backend *be) { return cpu_alloc(be, 1); }
static void cpu_event_record(lv_backend *be, void *ev, lv_queue q) { (void)be, (void)ev, (void)q; }
static void cpu_event_wait(lv_backend *be, void *ev, lv_queue q) { (void)be, (void)ev, (void)q; }

static void cpu_destroy(lv_backend *be) {
    cpu_ctx *c = be->ctx;
    for (int i = 0; i < LV_CPU_SCRATCH_SLOTS; i++) free(c->scratch[i]);
    free(c);
    free(be);
}

float *lv_cpu_scratch(lv_backend *be, int slot, size_t floats) {
    cpu_ctx *c = be->ctx;
    if (slot < 0 || slot >= LV_CPU_SCRATCH_SLOTS) {
        lv_backend_fail(be, LV_ERR_RUNTIME, "cpu scratch slot %d out of range", slot);
        return NULL;
    }
    if (c->scratch_len[slot] < floats) {
        free(c->scratch[slot]);
        size_t bytes = ((floats * sizeof(float)) + 63) & ~(size_t)63;
        c->scratch[slot] = aligned_alloc(64, bytes);
        c->scratch_len[slot] = c->scratch[slot] ? floats : 0;
        if (!c->scratch[slot]) {
            lv_backend_fail(be, LV_ERR_RUNTIME, "cpu scratch: out of memory for %zu floats", floats);
            return NULL;
        }
    }
    return c->scratch[slot];
}

static void cpu_fill_ops(lv_backend *be) {
    lv_ops *o = &be->ops;
    o->conv2d_forward = lv_cpu_conv2d_forward;
    o->conv2d_backward = lv_cpu_conv2d_backward;
    o->batchnorm2d_forward = lv_cpu_batchnorm2d_forward;
    o->batchnorm2d_backward = lv_cpu_batchnorm2d_backward;
    o->batchnorm2d_sync_stats = lv_cpu_batchnorm2d_sync_stats;
    o->batchnorm2d_sync_forward = lv_cpu_batchnorm2d_sync_forward;
    o->batchnorm2d_sync_backward_stats = lv_cpu_batchnorm2d_sync_backward_stats;
    o->batchnorm2d_sync_backward = lv_cpu_batchnorm2d_sync_backward;
    o->relu_forward = lv_cpu_relu_forward;
    o->relu_backward = lv_cpu_relu_backward;
    o->maxpool2d_forward = lv_cpu_maxpool2d_forward;
    o->maxpool2d_backward = lv_cpu_maxpool2d_backward;
    o->avgpool_forward = lv_cpu_avgpool_forward;
    o->avgpool_backward = lv_cpu_avgpool_backward;
    o->linear_forward = lv_cpu_linear_forward;
    o->linear_backward = lv_cpu_linear_backward;
    o->residual_add_forward = lv_cpu_residual_add_forward;
    o->residual_add_backward = lv_cpu_residual_add_backward;
    o->layernorm_forward = lv_cpu_layernorm_forward;
    o->layernorm_backward = lv_cpu_layernorm_backward;
    o->gelu_forward = lv_cpu_gelu_forward;
    o->gelu_backward = lv_cpu_gelu_backward;
    o->softmax_forward = lv_cpu_softmax_forward;
    o->softmax_backward = lv_cpu_softmax_backward;
    o->attention_forward = lv_cpu_attention_forward;
    o->attention_backward = lv_cpu_attention_backward;
    o->embedding_forward = lv_cpu_embedding_forward;
    o->embedding_backward = lv_cpu_embedding_backward;
    o->masked_mean_pool_forward = lv_cpu_masked_mean_pool_forward;
    o->masked_mean_pool_backward = lv_cpu_masked_mean_pool_backward;
    o->l2norm_forward = lv_cpu_l2norm_forward;
    o->l2norm_backward = lv_cpu_l2norm_backward;
    o->cosine_ce = lv_cpu_cosine_ce;
    o->cross_entropy = lv_cpu_cross_entropy;
    o->clip_loss = lv_cpu_clip_loss;
    o->adamw_update = lv_cpu_adamw_update;
    o->sgd_update = lv_cpu_sgd_update;
    o->grad_sumsq = lv_cpu_grad_sumsq;
    o->scale = lv_cpu_scale;
}

lv_status lv_cpu_backend_create(lv_backend **out, int threads) {
    lv_backend *be = calloc(1, sizeof *be);
    cpu_ctx *c = calloc(1, sizeof *c);
    if (!be || !c) {
        free(be);
        free(c);
        return lv_errorf(LV_ERR_RUNTIME, "cpu backend: out of memory");
    }
    if (threads <= 0) {
#ifdef _OPENMP
        threads = omp_get_max_threads();
#else
        threads = 1;
#endif
    }
#ifdef _OPENMP
    omp_set_num_threads(threads);
#endif
    lv_cpu_gemm_set_threads(threads);
    be->name = "cpu";
    be->kind = LV_DEVICE_CPU;
    be->ctx = c;
    be->threads = threads;
    be->alloc = cpu_alloc;
    be->free = cpu_free;
    be->memset0 = cpu_memset0;
    be->copy_h2d = cpu_copy;
    be->copy_d2h = cpu_copy;
    be->copy_d2d = cpu_copy;
    be->sync = cpu_sync;
    be->host_alloc = cpu_alloc;
    be->host_free = cpu_free;
    be->copy_h2d_async = cpu_copy;
    be->event_create = cpu_event_create;
    be->event_destroy = cpu_free;
    be->event_record = cpu_event_record;
    be->event_wait = cpu_event_wait;
    be->destroy = cpu_destroy;
    cpu_fill_ops(be);
    *out = be;
    return LV_OK;
}
