/* conv2d: CUDA twin of core/cpu/conv2d.c through cuDNN's convolution API (forward, backward
 * data, backward filter), with descriptors and algorithms cached per shape. Must stay
 * bit-reproducible: only algorithms cuDNN reports deterministic, no float atomics, and the
 * bias gradient is our own fixed-order reduction. */
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "cuda/cuda_backend.h"

/* Largest workspace one algorithm may ask for. ResNet-18's layers at 224 px and batch 256
 * need far less with the implicit-GEMM kernels; algorithms above it (explicit GEMM at large
 * batches) are passed over for the next one in cuDNN's ranking. */
#define CONV_WS_CAP ((size_t)512 << 20)
/* Entries kept: ResNet-18 has 11 distinct conv shapes, times train/eval batch sizes (the
 * last partial batch is one more), times precision. Least recently used goes first. */
#define CONV_CACHE_MAX 64
/* Perf slots asked of cuDNN per direction (its enums have at most 8 algorithms). */
#define CONV_MAX_ALGOS 16
#define CONV_BIAS_THREADS 256

/* Records a failed cuDNN call from a helper that returns -1 (the void ops' macro returns
 * nothing, and these helpers must let their caller clean up). */
#define CONV_TRY(be, call)                                                                        \
    do {                                                                                          \
        cudnnStatus_t conv_st_ = (call);                                                          \
        if (conv_st_ != CUDNN_STATUS_SUCCESS) {                                                   \
            lv_cuda_op_fail((be), "cuDNN", #call, cudnnGetErrorString(conv_st_), __func__,        \
                            __FILE__, __LINE__);                                                  \
            return -1;                                                                            \
        }                                                                                         \
    } while (0)

/* Everything that changes descriptors or algorithm choice; all ints, so memcmp is exact. */
typedef struct conv_key {
    int n, c, h, w, oc, kh, kw, stride, pad, tf32;
} conv_key;

/* One direction's choice. The math type travels with the algorithm: cuDNN picks tensor-core
 * or FMA kernels from the pair, so it is set on the descriptor before every call. */
template <typename Algo> struct conv_choice {
    int ready;
    Algo algo;
    cudnnMathType_t math;
    size_t ws;
};

typedef struct conv_entry {
    conv_key key;
    struct conv_entry *next; /* most recently used first */
    cudnnTensorDescriptor_t x, y, bias;
    cudnnFilterDescriptor_t f;
    cudnnConvolutionDescriptor_t conv;
    conv_choice<cudnnConvolutionFwdAlgo_t> fwd;
    conv_choice<cudnnConvolutionBwdDataAlgo_t> bwd_data;
    conv_choice<cudnnConvolutionBwdFilterAlgo_t> bwd_filter;
} conv_entry;

struct lv_cuda_conv_cache {
    conv_entry *head;
    int count;
    int benchmark; /* LIVER_VLM_CUDNN_BENCHMARK=1: time the candidates once per shape */
};

/* ---- the bias gradient ---------------------------------------------------------------- */

/* dbias[o] += sum over (n, oy, ox) of dout, one block per channel. Each thread sums a fixed
 * set of positions in double and the block adds the partials in a fixed tree, so the result
 * is the same every run (cudnnConvolutionBackwardBias promises no such thing). */
static __global__ void conv_bias_grad_kernel(float *dbias, const float *dout, int n, int oc,
                                             size_t ohw) {
    __shared__ double part[CONV_BIAS_THREADS];
    for (int o = blockIdx.x; o < oc; o += gridDim.x) {
        double acc = 0.0;
        for (int i = 0; i < n; i++) {
            const float *q = dout + ((size_t)i * oc + o) * ohw;
            for (size_t j = threadIdx.x; j < ohw; j += CONV_BIAS_THREADS) acc += (double)q[j];
        }
        part[threadIdx.x] = acc;
        __syncthreads();
        for (int half = CONV_BIAS_THREADS / 2; half > 0; half >>= 1) {
            if ((int)threadIdx.x < half) part[threadIdx.x] += part[threadIdx.x + half];
            __syncthreads();
        }
        if (threadIdx.x == 0) dbias[o] += (float)part[0];
        __syncthreads(); /* part is rewritten for the next channel */
    }
}

/* ---- the cache ------------------------------------------------------------------------ */

static void entry_destroy(conv_entry *e) {
    if (e == NULL) return;
    if (e->x) (void)cudnnDestroyTensorDescriptor(e->x);
    if (e->y) (void)cudnnDestroyTensorDescriptor(e->y);
    if (e->bias) (void)cudnnDestroyTensorDescriptor(e->bias);
    if (e->f) (void)cudnnDestroyFilterDescriptor(e->f);
    if (e->conv) (void)cudnnDestroyConvolutionDescriptor(e->conv);
    free(e);
}

extern "C" void lv_cuda_conv_cache_free(lv_cuda_ctx *c) {
    if (c == NULL || c->conv == NULL) return;
    conv_entry *e = c->conv->head;
    while (e) {
        conv_entry *next = e->next;
        entry_destroy(e);
        e = next;
    }
    free(c->conv);
    c->conv = NULL;
}

static int read_benchmark_env(void) {
    const char *v = getenv("LIVER_VLM_CUDNN_BENCHMARK");
    return v != NULL && strcmp(v, "1") == 0;
}

/* The descriptors of one shape: NCHW fp32 tensors, cross-correlation (PyTorch's "conv"). */
static int entry_descriptors(lv_backend *be, conv_entry *e, int oh, int ow) {
    const conv_key *k = &e->key;
    CONV_TRY(be, cudnnCreateTensorDescriptor(&e->x));
    CONV_TRY(be, cudnnCreateTensorDescriptor(&e->y));
    CONV_TRY(be, cudnnCreateTensorDescriptor(&e->bias));
    CONV_TRY(be, cudnnCreateFilterDescriptor(&e->f));
    CONV_TRY(be, cudnnCreateConvolutionDescriptor(&e->conv));
    CONV_TRY(be, cudnnSetTensor4dDescriptor(e->x, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, k->n, k->c,
                                            k->h, k->w));
    CONV_TRY(be, cudnnSetTensor4dDescriptor(e->y, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, k->n, k->oc,
                                            oh, ow));
    CONV_TRY(be, cudnnSetTensor4dDescriptor(e->bias, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 1, k->oc,
                                            1, 1));
    CONV_TRY(be, cudnnSetFilter4dDescriptor(e->f, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, k->oc, k->c,
                                            k->kh, k->kw));
    CONV_TRY(be, cudnnSetConvolution2dDescriptor(e->conv, k->pad, k->pad, k->stride, k->stride, 1,
                                                 1, CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
    CONV_TRY(be, cudnnSetConvolutionMathType(e->conv, lv_cuda_cudnn_math(be)));
    int dn = 0, dc = 0, dh = 0, dw = 0;
    CONV_TRY(be, cudnnGetConvolution2dForwardOutputDim(e->conv, e->x, e->f, &dn, &dc, &dh, &dw));
    if (dn != k->n || dc != k->oc || dh != oh || dw != ow) {
        lv_backend_fail(be, LV_ERR_RUNTIME,
                        "conv2d: cuDNN output %dx%dx%dx%d differs from ours %dx%dx%dx%d", dn, dc,
                        dh, dw, k->n, k->oc, oh, ow);
        return -1;
    }
    return 0;
}

/* The entry for shape s under the current precision, made on first use and moved to the
 * front on every use. NULL with the sticky error set when it cannot be made. */
static conv_entry *conv_lookup(lv_backend *be, const lv_conv2d_shape *s) {
    lv_cuda_ctx *ctx = lv_cuda_ctx_of(be);
    if (ctx->conv == NULL) {
        ctx->conv = (struct lv_cuda_conv_cache *)calloc(1, sizeof *ctx->conv);
        if (ctx->conv == NULL) {
            lv_backend_fail(be, LV_ERR_RUNTIME, "conv2d: out of host memory for the cuDNN cache");
            return NULL;
        }
        ctx->conv->benchmark = read_benchmark_env();
    }
    struct lv_cuda_conv_cache *cache = ctx->conv;
    conv_key key;
    memset(&key, 0, sizeof key);
    key.n = s->n, key.c = s->c, key.h = s->h, key.w = s->w, key.oc = s->oc;
    key.kh = s->kh, key.kw = s->kw, key.stride = s->stride, key.pad = s->pad;
    key.tf32 = be->tf32 != 0;

    conv_entry *prev = NULL;
    for (conv_entry *e = cache->head; e; prev = e, e = e->next) {
        if (memcmp(&e->key, &key, sizeof key) != 0) continue;
        if (prev) {
            prev->next = e->next;
            e->next = cache->head;
            cache->head = e;
        }
        return e;
    }

    conv_entry *e = (conv_entry *)calloc(1, sizeof *e);
    if (e == NULL) {
        lv_backend_fail(be, LV_ERR_RUNTIME, "conv2d: out of host memory for the cuDNN cache");
        return NULL;
    }
    e->key = key;
    if (entry_descriptors(be, e, lv_conv2d_oh(s), lv_conv2d_ow(s)) != 0) {
        entry_destroy(e);
        return NULL;
    }
    if (cache->count >= CONV_CACHE_MAX) {
        /* Descriptors are host objects that queued kernels no longer read: safe to drop. */
        conv_entry **pp = &cache->head;
        while ((*pp)->next) pp = &(*pp)->next;
        entry_destroy(*pp);
        *pp = NULL;
        cache->count--;
    }
    e->next = cache->head;
    cache->head = e;
    cache->count++;
    return e;
}

/* ---- algorithm choice ----------------------------------------------------------------- */

/* FFT and Winograd trade accuracy for speed through their transforms: the twin contract
 * (1e-5 of the CPU in fp32, 1e-3 in TF32) is only safe with GEMM-style summation. On H100
 * cuDNN ranks implicit-GEMM kernels first for ResNet-18's shapes anyway. The "_0"/"_3"
 * algorithms are listed as non-deterministic in cudnn_ops.h; excluded even if a heuristic
 * result ever claimed otherwise. */
static bool fwd_allowed(cudnnConvolutionFwdAlgo_t a) {
    return a == CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM ||
           a == CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM ||
           a == CUDNN_CONVOLUTION_FWD_ALGO_GEMM || a == CUDNN_CONVOLUTION_FWD_ALGO_DIRECT;
}
static bool bwd_data_allowed(cudnnConvolutionBwdDataAlgo_t a) {
    return a == CUDNN_CONVOLUTION_BWD_DATA_ALGO_1;
}
static bool bwd_filter_allowed(cudnnConvolutionBwdFilterAlgo_t a) {
    return a == CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1;
}

/* The first of cuDNN's ranked candidates that ran, is deterministic, keeps the precision
 * asked for, passes `allowed` and fits CONV_WS_CAP. In strict fp32 only FMA kernels qualify
 * (PyTorch asserts the same); with TF32, anything but ALLOW_CONVERSION (that one may round
 * fp32 operands to fp16). ws_query(algo, math, &bytes) asks cuDNN for the workspace of the
 * pair on this descriptor; the larger of it and the perf entry's figure is kept. Returns the
 * 1-based rank of the choice (0: none), and in *why_first why cuDNN's first one was passed over. */
template <typename Perf, typename Algo, typename WsQuery>
static int first_fit(const Perf *perf, int count, int tf32, bool (*allowed)(Algo), WsQuery ws_query,
                     conv_choice<Algo> *out, const char **why_first) {
    *why_first = count > 0 ? NULL : "cuDNN ranked no algorithm";
    for (int i = 0; i < count; i++) {
        const Perf &p = perf[i];
        const char *why = NULL;
        size_t need = 0;
        if (p.status != CUDNN_STATUS_SUCCESS) why = "is not supported for this shape";
        else if (p.determinism != CUDNN_DETERMINISTIC) why = "is not deterministic";
        else if (!allowed(p.algo)) why = "sums in an order the twin contract does not allow";
        else if (tf32 ? p.mathType == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION : p.mathType != CUDNN_FMA_MATH)
            why = tf32 ? "may round fp32 operands to fp16" : "is not an fp32 FMA kernel";
        else if (ws_query(p.algo, p.mathType, &need) != CUDNN_STATUS_SUCCESS) why = "has no workspace size";
        else if ((need = p.memory > need ? p.memory : need) > CONV_WS_CAP) why = "needs more workspace than the cap";
        if (why) {
            if (i == 0) *why_first = why;
            continue;
        }
        out->algo = p.algo;
        out->math = p.mathType;
        out->ws = need;
        out->ready = 1;
        return i + 1;
    }
    return 0;
}

/* Once per shape and direction (the choice is cached): which algorithm runs when it is not
 * cuDNN's first choice. A fallback is worth a line in every run; a lower-ranked pick is the
 * normal case for backward (cuDNN often ranks a non-deterministic kernel first), so debug. */
static void log_choice(const conv_key *k, const char *dir, int first_algo, const char *why, int algo,
                       cudnnMathType_t math, size_t ws, int fell_back) {
    lv_log(fell_back ? LV_LOG_INFO : LV_LOG_DEBUG,
           "conv2d n=%d c=%d %dx%d oc=%d k=%dx%d stride=%d pad=%d %s: cuDNN algorithm %d (math %d, %zu KiB "
           "workspace)%s; cuDNN's first choice%s%d %s",
           k->n, k->c, k->h, k->w, k->oc, k->kh, k->kw, k->stride, k->pad, dir, algo, (int)math, ws >> 10,
           fell_back ? ", the fallback" : "", first_algo < 0 ? " " : ", algorithm ", first_algo < 0 ? 0 : first_algo,
           why ? why : "");
}

/* When no ranked candidate qualifies: the plain implicit GEMM / algorithm 1 kernels, which
 * exist for every NCHW fp32 shape, under the backend's own math type. */
template <typename Algo, typename WsQuery>
static int fallback(lv_backend *be, Algo algo, WsQuery ws_query, conv_choice<Algo> *out,
                    const char *what) {
    size_t need = 0;
    cudnnMathType_t math = lv_cuda_cudnn_math(be);
    cudnnStatus_t st = ws_query(algo, math, &need);
    if (st != CUDNN_STATUS_SUCCESS || need > CONV_WS_CAP) {
        lv_backend_fail(be, LV_ERR_RUNTIME,
                        "conv2d: no deterministic cuDNN %s algorithm within %zu MiB of workspace (%s)",
                        what, CONV_WS_CAP >> 20,
                        st != CUDNN_STATUS_SUCCESS ? cudnnGetErrorString(st) : "fallback too large");
        return -1;
    }
    out->algo = algo;
    out->math = math;
    out->ws = need;
    out->ready = 1;
    return 0;
}

/* Perf slots to ask for: cuDNN's own maximum, bounded by our array. */
static int requested(int max_count) {
    if (max_count < 1) return CONV_MAX_ALGOS;
    return max_count < CONV_MAX_ALGOS ? max_count : CONV_MAX_ALGOS;
}

/* cudnnFind* allocates each candidate's workspace itself: one that did not fit leaves
 * cudaErrorMemoryAllocation as the runtime's last error, although cuDNN already reported it
 * in that candidate's perf entry. Consumed here, or the op's launch check would take it for
 * a fault of the convolution. Every earlier launch was checked by its own op. */
static void after_find(void) { (void)cudaGetLastError(); }

static int select_fwd(lv_backend *be, conv_entry *e) {
    cudnnHandle_t h = lv_cuda_ctx_of(be)->cudnn;
    int max_count = 0, got = 0;
    CONV_TRY(be, cudnnGetConvolutionForwardAlgorithmMaxCount(h, &max_count));
    cudnnConvolutionFwdAlgoPerf_t perf[CONV_MAX_ALGOS];
    memset(perf, 0, sizeof perf);
    /* The math type is part of the question: cuDNN only proposes kernels it allows. */
    CONV_TRY(be, cudnnSetConvolutionMathType(e->conv, lv_cuda_cudnn_math(be)));
    if (lv_cuda_ctx_of(be)->conv->benchmark) {
        CONV_TRY(be, cudnnFindConvolutionForwardAlgorithm(h, e->x, e->f, e->conv, e->y,
                                                          requested(max_count), &got, perf));
        after_find();
    } else {
        CONV_TRY(be, cudnnGetConvolutionForwardAlgorithm_v7(h, e->x, e->f, e->conv, e->y,
                                                            requested(max_count), &got, perf));
    }
    auto ws = [&](cudnnConvolutionFwdAlgo_t a, cudnnMathType_t m, size_t *bytes) {
        cudnnStatus_t st = cudnnSetConvolutionMathType(e->conv, m);
        if (st != CUDNN_STATUS_SUCCESS) return st;
        return cudnnGetConvolutionForwardWorkspaceSize(h, e->x, e->f, e->conv, e->y, a, bytes);
    };
    const char *why = NULL;
    const int rank = first_fit(perf, got, e->key.tf32, fwd_allowed, ws, &e->fwd, &why);
    if (rank == 0 && fallback(be, CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM, ws, &e->fwd, "forward") != 0) return -1;
    if (rank != 1)
        log_choice(&e->key, "forward", got > 0 ? (int)perf[0].algo : -1, why, (int)e->fwd.algo, e->fwd.math,
                   e->fwd.ws, rank == 0);
    return 0;
}

static int select_bwd_data(lv_backend *be, conv_entry *e) {
    cudnnHandle_t h = lv_cuda_ctx_of(be)->cudnn;
    int max_count = 0, got = 0;
    CONV_TRY(be, cudnnGetConvolutionBackwardDataAlgorithmMaxCount(h, &max_count));
    cudnnConvolutionBwdDataAlgoPerf_t perf[CONV_MAX_ALGOS];
    memset(perf, 0, sizeof perf);
    CONV_TRY(be, cudnnSetConvolutionMathType(e->conv, lv_cuda_cudnn_math(be)));
    if (lv_cuda_ctx_of(be)->conv->benchmark) {
        CONV_TRY(be, cudnnFindConvolutionBackwardDataAlgorithm(h, e->f, e->y, e->conv, e->x,
                                                               requested(max_count), &got, perf));
        after_find();
    } else {
        CONV_TRY(be, cudnnGetConvolutionBackwardDataAlgorithm_v7(h, e->f, e->y, e->conv, e->x,
                                                                 requested(max_count), &got, perf));
    }
    auto ws = [&](cudnnConvolutionBwdDataAlgo_t a, cudnnMathType_t m, size_t *bytes) {
        cudnnStatus_t st = cudnnSetConvolutionMathType(e->conv, m);
        if (st != CUDNN_STATUS_SUCCESS) return st;
        return cudnnGetConvolutionBackwardDataWorkspaceSize(h, e->f, e->y, e->conv, e->x, a, bytes);
    };
    const char *why = NULL;
    const int rank = first_fit(perf, got, e->key.tf32, bwd_data_allowed, ws, &e->bwd_data, &why);
    if (rank == 0 && fallback(be, CUDNN_CONVOLUTION_BWD_DATA_ALGO_1, ws, &e->bwd_data, "backward-data") != 0) return -1;
    if (rank != 1)
        log_choice(&e->key, "backward-data", got > 0 ? (int)perf[0].algo : -1, why, (int)e->bwd_data.algo, e->bwd_data.math,
                   e->bwd_data.ws, rank == 0);
    return 0;
}

static int select_bwd_filter(lv_backend *be, conv_entry *e) {
    cudnnHandle_t h = lv_cuda_ctx_of(be)->cudnn;
    int max_count = 0, got = 0;
    CONV_TRY(be, cudnnGetConvolutionBackwardFilterAlgorithmMaxCount(h, &max_count));
    cudnnConvolutionBwdFilterAlgoPerf_t perf[CONV_MAX_ALGOS];
    memset(perf, 0, sizeof perf);
    CONV_TRY(be, cudnnSetConvolutionMathType(e->conv, lv_cuda_cudnn_math(be)));
    if (lv_cuda_ctx_of(be)->conv->benchmark) {
        CONV_TRY(be, cudnnFindConvolutionBackwardFilterAlgorithm(h, e->x, e->y, e->conv, e->f,
                                                                 requested(max_count), &got, perf));
        after_find();
    } else {
        CONV_TRY(be, cudnnGetConvolutionBackwardFilterAlgorithm_v7(h, e->x, e->y, e->conv, e->f,
                                                                   requested(max_count), &got, perf));
    }
    auto ws = [&](cudnnConvolutionBwdFilterAlgo_t a, cudnnMathType_t m, size_t *bytes) {
        cudnnStatus_t st = cudnnSetConvolutionMathType(e->conv, m);
        if (st != CUDNN_STATUS_SUCCESS) return st;
        return cudnnGetConvolutionBackwardFilterWorkspaceSize(h, e->x, e->y, e->conv, e->f, a, bytes);
    };
    const char *why = NULL;
    const int rank = first_fit(perf, got, e->key.tf32, bwd_filter_allowed, ws, &e->bwd_filter, &why);
    if (rank == 0 && fallback(be, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1, ws, &e->bwd_filter, "backward-filter") != 0) return -1;
    if (rank != 1)
        log_choice(&e->key, "backward-filter", got > 0 ? (int)perf[0].algo : -1, why, (int)e->bwd_filter.algo, e->bwd_filter.math,
                   e->bwd_filter.ws, rank == 0);
    return 0;
}

/* ---- the ops -------------------------------------------------------------------------- */

/* The CPU twin's shape check, so both backends refuse the same shapes with the same words. */
static int shape_ok(lv_backend *be, const lv_conv2d_shape *s, const char *op) {
    if (s->n <= 0 || s->c <= 0 || s->h <= 0 || s->w <= 0 || s->oc <= 0 || s->kh <= 0 ||
        s->kw <= 0 || s->stride <= 0 || s->pad < 0 || lv_conv2d_oh(s) <= 0 || lv_conv2d_ow(s) <= 0) {
        lv_backend_fail(be, LV_ERR_RUNTIME,
                        "%s: bad shape n=%d c=%d h=%d w=%d oc=%d k=%dx%d stride=%d pad=%d", op,
                        s->n, s->c, s->h, s->w, s->oc, s->kh, s->kw, s->stride, s->pad);
        return 0;
    }
    return 1;
}

extern "C" void lv_cuda_conv2d_forward(lv_backend *be, float *out, const float *in, const float *w,
                                       const float *bias, const lv_conv2d_shape *s) {
    if (!shape_ok(be, s, "conv2d_forward")) return;
    conv_entry *e = conv_lookup(be, s);
    if (e == NULL) return;
    if (!e->fwd.ready && select_fwd(be, e) != 0) return;
    void *ws = NULL;
    if (e->fwd.ws > 0 && (ws = lv_cuda_workspace(be, e->fwd.ws)) == NULL) return;
    cudnnHandle_t h = lv_cuda_ctx_of(be)->cudnn;
    const float one = 1.0f, zero = 0.0f;
    LV_CUDNN_CHECK_OP(be, cudnnSetConvolutionMathType(e->conv, e->fwd.math));
    LV_CUDNN_CHECK_OP(be, cudnnConvolutionForward(h, &one, e->x, in, e->f, w, e->conv, e->fwd.algo,
                                                  ws, e->fwd.ws, &zero, e->y, out));
    /* out = 1 * bias (broadcast over n, oy, ox) + 1 * out: the CPU's conv + b, elementwise. */
    if (bias) LV_CUDNN_CHECK_OP(be, cudnnAddTensor(h, &one, e->bias, bias, &one, e->y, out));
    LV_CUDA_LAUNCH_CHECK(be, "conv2d_forward");
}

extern "C" void lv_cuda_conv2d_backward(lv_backend *be, float *din, float *dw, float *dbias,
                                        const float *dout, const float *in, const float *w,
                                        const lv_conv2d_shape *s) {
    if (!shape_ok(be, s, "conv2d_backward")) return;
    if (dbias) {
        size_t ohw = (size_t)lv_conv2d_oh(s) * lv_conv2d_ow(s);
        unsigned blocks = lv_cuda_blocks(be, (size_t)s->oc * CONV_BIAS_THREADS, CONV_BIAS_THREADS);
        LV_LAUNCH(blocks, CONV_BIAS_THREADS, 0, lv_cuda_stream(be), conv_bias_grad_kernel)(dbias, dout, s->n,
                                                                                   s->oc, ohw);
        LV_CUDA_LAUNCH_CHECK(be, "conv2d_backward bias");
    }
    if (!din && !dw) return;
    conv_entry *e = conv_lookup(be, s);
    if (e == NULL) return;
    if (din && !e->bwd_data.ready && select_bwd_data(be, e) != 0) return;
    if (dw && !e->bwd_filter.ready && select_bwd_filter(be, e) != 0) return;
    /* One workspace for both calls: they run one after the other on the stream. */
    size_t need = 0;
    if (din && e->bwd_data.ws > need) need = e->bwd_data.ws;
    if (dw && e->bwd_filter.ws > need) need = e->bwd_filter.ws;
    void *ws = NULL;
    if (need > 0 && (ws = lv_cuda_workspace(be, need)) == NULL) return;
    cudnnHandle_t h = lv_cuda_ctx_of(be)->cudnn;
    const float one = 1.0f; /* alpha = beta = 1: the gradients add into what is there */
    if (din) {
        LV_CUDNN_CHECK_OP(be, cudnnSetConvolutionMathType(e->conv, e->bwd_data.math));
        LV_CUDNN_CHECK_OP(be, cudnnConvolutionBackwardData(h, &one, e->f, w, e->y, dout, e->conv,
                                                           e->bwd_data.algo, ws, e->bwd_data.ws,
                                                           &one, e->x, din));
    }
    if (dw) {
        LV_CUDNN_CHECK_OP(be, cudnnSetConvolutionMathType(e->conv, e->bwd_filter.math));
        LV_CUDNN_CHECK_OP(be, cudnnConvolutionBackwardFilter(h, &one, e->x, in, e->y, dout, e->conv,
                                                             e->bwd_filter.algo, ws,
                                                             e->bwd_filter.ws, &one, e->f, dw));
    }
    LV_CUDA_LAUNCH_CHECK(be, "conv2d_backward");
}
