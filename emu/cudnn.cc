/* cuDNN twin of the device emulator: 2-D convolution forward, backward-data, backward-filter
 * and bias gradient, and cudnnAddTensor, from the documented semantics (CUDNN_CONVOLUTION
 * flips the filter, y = alpha * op + beta * y with y unread when beta is 0, descriptor strides,
 * NCHW/NHWC, dilation; TF32 rounding of both operands unless CUDNN_FMA_MATH). Algorithm
 * queries rank several algorithms, some unusable, so callers' selection and fallback paths run;
 * a workspace below the size query's answer is refused. Work runs when its stream is waited for. */
#include <math.h>

#include <algorithm>
#include <memory>
#include <vector>

#include "cudnn.h"
#include "emu.h"

#if defined(LV_GEMM_DNNL)
#include <oneapi/dnnl/dnnl.h>
#elif defined(LV_GEMM_OPENBLAS)
#include <cblas.h>
#endif

struct lv_emu_cudnn {
    cudaStream_t stream;
};
struct lv_emu_tensor_desc {
    bool set;
    int n, c, h, w;
    long long sn, sc, sh, sw;
};
struct lv_emu_filter_desc {
    bool set, nhwc;
    int k, c, h, w;
};
struct lv_emu_conv_desc {
    bool set;
    int pad_h, pad_w, u, v, dil_h, dil_w;
    cudnnConvolutionMode_t mode;
    cudnnMathType_t math;
};

namespace {

using namespace lv_emu;

/* A 4-D view with element strides (filters as a tensor of k, c, h, w). */
struct view {
    int n, c, h, w;
    long long sn, sc, sh, sw;
    size_t extent() const {
        return 1 + (size_t)(n - 1) * sn + (size_t)(c - 1) * sc + (size_t)(h - 1) * sh + (size_t)(w - 1) * sw;
    }
    long long at(int a, int b, int y, int x) const { return a * sn + b * sc + y * sh + x * sw; }
};

view of(const lv_emu_tensor_desc *d) { return view{d->n, d->c, d->h, d->w, d->sn, d->sc, d->sh, d->sw}; }
view of(const lv_emu_filter_desc *f) {
    if (f->nhwc) return view{f->k, f->c, f->h, f->w, (long long)f->h * f->w * f->c, 1, (long long)f->w * f->c, f->c};
    return view{f->k, f->c, f->h, f->w, (long long)f->c * f->h * f->w, (long long)f->h * f->w, f->w, 1};
}

/* Row-major C[m,n] (+)= A[m,k] B[k,n], with optional transposes, on the CPU's GEMM. */
void gemm_rm(bool ta, bool tb, int m, int n, int k, const float *a, const float *b, float beta, float *c) {
    if (m == 0 || n == 0) return;
#if defined(LV_GEMM_DNNL)
    dnnl_sgemm(ta ? 'T' : 'N', tb ? 'T' : 'N', m, n, k, 1.0f, a, ta ? m : k, b, tb ? k : n, beta, c, n);
#else
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n, k, 1.0f, a,
                ta ? m : k, b, tb ? k : n, beta, c, n);
#endif
}

/* Everything a convolution needs, copied from the descriptors at call time. */
struct conv_geom {
    view x, w, y;
    int pad_h, pad_w, u, v, dil_h, dil_w;
    bool flip, tf32;
};

/* Dense [k][c][kh][kw] filter (flipped for CUDNN_CONVOLUTION), rounded to TF32 when asked. */
std::vector<float> dense_filter(const conv_geom &g, const float *w) {
    const view &f = g.w;
    std::vector<float> out((size_t)f.n * f.c * f.h * f.w);
    size_t i = 0;
    for (int k = 0; k < f.n; k++)
        for (int c = 0; c < f.c; c++)
            for (int r = 0; r < f.h; r++)
                for (int s = 0; s < f.w; s++) {
                    int rr = g.flip ? f.h - 1 - r : r, ss = g.flip ? f.w - 1 - s : s;
                    float v = w[f.at(k, c, rr, ss)];
                    out[i++] = g.tf32 ? to_tf32(v) : v;
                }
    return out;
}

/* col[(c, r, s)][(oy, ox)] of image n. */
void im2col(const conv_geom &g, const float *x, int n, std::vector<float> &col) {
    const int C = g.x.c, R = g.w.h, S = g.w.w, OH = g.y.h, OW = g.y.w;
    col.assign((size_t)C * R * S * OH * OW, 0.0f);
    size_t row = 0;
    for (int c = 0; c < C; c++)
        for (int r = 0; r < R; r++)
            for (int s = 0; s < S; s++, row++) {
                float *dst = &col[row * (size_t)OH * OW];
                for (int oy = 0; oy < OH; oy++) {
                    int iy = oy * g.u - g.pad_h + r * g.dil_h;
                    if (iy < 0 || iy >= g.x.h) continue;
                    for (int ox = 0; ox < OW; ox++) {
                        int ix = ox * g.v - g.pad_w + s * g.dil_w;
                        if (ix < 0 || ix >= g.x.w) continue;
                        float v = x[g.x.at(n, c, iy, ix)];
                        dst[oy * OW + ox] = g.tf32 ? to_tf32(v) : v;
                    }
                }
            }
}

/* Adds col back into a dense [c][h][w] image (the adjoint of im2col). */
void col2im(const conv_geom &g, const std::vector<float> &col, float *img) {
    const int C = g.x.c, R = g.w.h, S = g.w.w, OH = g.y.h, OW = g.y.w, H = g.x.h, W = g.x.w;
    size_t row = 0;
    for (int c = 0; c < C; c++)
        for (int r = 0; r < R; r++)
            for (int s = 0; s < S; s++, row++) {
                const float *src = &col[row * (size_t)OH * OW];
                for (int oy = 0; oy < OH; oy++) {
                    int iy = oy * g.u - g.pad_h + r * g.dil_h;
                    if (iy < 0 || iy >= H) continue;
                    for (int ox = 0; ox < OW; ox++) {
                        int ix = ox * g.v - g.pad_w + s * g.dil_w;
                        if (ix >= 0 && ix < W) img[((size_t)c * H + iy) * W + ix] += src[oy * OW + ox];
                    }
                }
            }
}

/* dst = alpha * val + beta * dst, with dst left unread when beta is 0 (as cuDNN documents). */
inline void blend(float *dst, float val, float alpha, float beta) {
    *dst = beta == 0.0f ? alpha * val : alpha * val + beta * *dst;
}

bool float_ok(cudnnDataType_t t) { return t == CUDNN_DATA_FLOAT; }

/* ---- algorithm tables -------------------------------------------------------------------- */

bool no_algos(void) {
    const char *v = getenv("LIVER_VLM_EMU_CUDNN_ALGOS");
    return v && strcmp(v, "none") == 0;
}

size_t col_bytes(const conv_geom &g) { return (size_t)g.x.c * g.w.h * g.w.w * g.y.h * g.y.w * sizeof(float); }

/* Workspace each emulated algorithm asks for (0 for the implicit ones), or NOT_SUPPORTED. */
cudnnStatus_t fwd_ws(const conv_geom &g, int algo, size_t *bytes) {
    switch (algo) {
    case CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM: *bytes = 0; return CUDNN_STATUS_SUCCESS;
    case CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM: *bytes = (size_t)g.w.h * g.w.w * g.y.h * g.y.w * 8 + 64; return CUDNN_STATUS_SUCCESS;
    case CUDNN_CONVOLUTION_FWD_ALGO_GEMM: *bytes = col_bytes(g); return CUDNN_STATUS_SUCCESS;
    case CUDNN_CONVOLUTION_FWD_ALGO_FFT: *bytes = col_bytes(g) * 4 + 4096; return CUDNN_STATUS_SUCCESS;
    default: return CUDNN_STATUS_NOT_SUPPORTED;
    }
}
cudnnStatus_t bwd_data_ws(const conv_geom &g, int algo, size_t *bytes) {
    switch (algo) {
    case CUDNN_CONVOLUTION_BWD_DATA_ALGO_0: *bytes = 0; return CUDNN_STATUS_SUCCESS;
    case CUDNN_CONVOLUTION_BWD_DATA_ALGO_1: *bytes = col_bytes(g) / 2 + 128; return CUDNN_STATUS_SUCCESS;
    case CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT: *bytes = col_bytes(g) * 4 + 4096; return CUDNN_STATUS_SUCCESS;
    default: return CUDNN_STATUS_NOT_SUPPORTED;
    }
}
cudnnStatus_t bwd_filter_ws(const conv_geom &g, int algo, size_t *bytes) {
    switch (algo) {
    case CUDNN_CONVOLUTION_BWD_FILTER_ALGO_0: *bytes = 0; return CUDNN_STATUS_SUCCESS;
    case CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1: *bytes = col_bytes(g) / 2 + 256; return CUDNN_STATUS_SUCCESS;
    case CUDNN_CONVOLUTION_BWD_FILTER_ALGO_3: *bytes = 1024; return CUDNN_STATUS_SUCCESS;
    default: return CUDNN_STATUS_NOT_SUPPORTED;
    }
}

/* The ranking a real cuDNN might give: a fast candidate our policy must skip first (FFT; the
 * non-deterministic ALGO_0), then usable ones; with a tensor-op math type, each algorithm first
 * in its ALLOW_CONVERSION form (fp16 inputs, which callers must refuse), then as TENSOR_OP. */
struct cand {
    int algo;
    cudnnDeterminism_t det;
};
const cand kFwd[] = {{CUDNN_CONVOLUTION_FWD_ALGO_FFT, CUDNN_DETERMINISTIC},
                     {CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM, CUDNN_DETERMINISTIC},
                     {CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM, CUDNN_DETERMINISTIC},
                     {CUDNN_CONVOLUTION_FWD_ALGO_GEMM, CUDNN_DETERMINISTIC},
                     {CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD_NONFUSED, CUDNN_DETERMINISTIC}};
const cand kBwdData[] = {{CUDNN_CONVOLUTION_BWD_DATA_ALGO_0, CUDNN_NON_DETERMINISTIC},
                         {CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT, CUDNN_DETERMINISTIC},
                         {CUDNN_CONVOLUTION_BWD_DATA_ALGO_1, CUDNN_DETERMINISTIC},
                         {CUDNN_CONVOLUTION_BWD_DATA_ALGO_WINOGRAD, CUDNN_DETERMINISTIC}};
const cand kBwdFilter[] = {{CUDNN_CONVOLUTION_BWD_FILTER_ALGO_0, CUDNN_NON_DETERMINISTIC},
                           {CUDNN_CONVOLUTION_BWD_FILTER_ALGO_3, CUDNN_NON_DETERMINISTIC},
                           {CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1, CUDNN_DETERMINISTIC},
                           {CUDNN_CONVOLUTION_BWD_FILTER_ALGO_FFT, CUDNN_DETERMINISTIC}};

template <typename Perf, typename Algo, size_t N, typename Ws>
cudnnStatus_t rank(const cand (&table)[N], cudnnMathType_t math, int requested, int *returned, Perf *perf, Ws ws) {
    if (!returned || !perf || requested < 1) return CUDNN_STATUS_BAD_PARAM;
    std::vector<Perf> all;
    const bool tensor = math != CUDNN_FMA_MATH;
    for (const cand &c : table) {
        for (int pass = tensor ? 0 : 1; pass < 2; pass++) {
            Perf p;
            memset(&p, 0, sizeof p);
            p.algo = (Algo)c.algo;
            p.determinism = c.det;
            p.mathType = !tensor ? CUDNN_FMA_MATH : pass == 0 ? CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION : CUDNN_TENSOR_OP_MATH;
            size_t bytes = 0;
            p.status = no_algos() ? CUDNN_STATUS_NOT_SUPPORTED : ws(c.algo, &bytes);
            p.memory = bytes;
            p.time = p.status == CUDNN_STATUS_SUCCESS ? 0.01f * (float)(all.size() + 1) : -1.0f;
            all.push_back(p);
        }
    }
    /* Supported ones first, as cuDNN orders them. */
    std::stable_partition(all.begin(), all.end(), [](const Perf &p) { return p.status == CUDNN_STATUS_SUCCESS; });
    int n = (int)all.size() < requested ? (int)all.size() : requested;
    for (int i = 0; i < n; i++) perf[i] = all[(size_t)i];
    *returned = n;
    return CUDNN_STATUS_SUCCESS;
}

/* ---- descriptor checks ------------------------------------------------------------------- */

cudnnStatus_t bad(const char *api, const char *why) {
    complain("%s: %s (CUDNN_STATUS_BAD_PARAM)", api, why);
    return CUDNN_STATUS_BAD_PARAM;
}

/* Validates x, w, conv and y against each other and fills g. */
cudnnStatus_t geometry(const char *api, const lv_emu_tensor_desc *x, const lv_emu_filter_desc *w,
                       const lv_emu_conv_desc *conv, const lv_emu_tensor_desc *y, conv_geom *g) {
    if (!x || !w || !conv || !y || !x->set || !w->set || !conv->set || !y->set)
        return bad(api, "a descriptor is NULL or was never set");
    if (x->c != w->c) {
        char b[120];
        snprintf(b, sizeof b, "input has %d channels, the filter %d (groups are not used)", x->c, w->c);
        return bad(api, b);
    }
    const int eh = (w->h - 1) * conv->dil_h + 1, ew = (w->w - 1) * conv->dil_w + 1;
    const int oh = (x->h + 2 * conv->pad_h - eh) / conv->u + 1, ow = (x->w + 2 * conv->pad_w - ew) / conv->v + 1;
    if (x->h + 2 * conv->pad_h < eh || x->w + 2 * conv->pad_w < ew) return bad(api, "the filter is larger than the padded input");
    if (y->n != x->n || y->c != w->k || y->h != oh || y->w != ow) {
        char b[200];
        snprintf(b, sizeof b, "output descriptor %dx%dx%dx%d, the convolution gives %dx%dx%dx%d", y->n, y->c, y->h,
                 y->w, x->n, w->k, oh, ow);
        return bad(api, b);
    }
    g->x = of(x);
    g->w = of(w);
    g->y = of(y);
    g->pad_h = conv->pad_h, g->pad_w = conv->pad_w, g->u = conv->u, g->v = conv->v;
    g->dil_h = conv->dil_h, g->dil_w = conv->dil_w;
    g->flip = conv->mode == CUDNN_CONVOLUTION;
    g->tf32 = conv->math != CUDNN_FMA_MATH;
    return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t operands(const char *api, const void *x, const view &xv, const void *w, const view &wv, const void *y,
                       const view &yv, const void *ws, size_t ws_bytes, size_t need, const char *xn, const char *wn,
                       const char *yn) {
    if (!device_range_ok(x, xv.extent() * sizeof(float), api, xn) ||
        !device_range_ok(w, wv.extent() * sizeof(float), api, wn) ||
        !device_range_ok(y, yv.extent() * sizeof(float), api, yn))
        return CUDNN_STATUS_BAD_PARAM;
    if (ws_bytes < need) {
        char b[160];
        snprintf(b, sizeof b, "workspace of %zu bytes, the algorithm needs %zu (its workspace-size query says so)",
                 ws_bytes, need);
        return bad(api, b);
    }
    if (need > 0 && (!ws || !device_range_ok(ws, need, api, "the workspace"))) return bad(api, "workspace is not device memory");
    return CUDNN_STATUS_SUCCESS;
}

} // namespace

/* ---- handle and descriptors -------------------------------------------------------------- */

extern "C" size_t cudnnGetVersion(void) { return CUDNN_VERSION; }

extern "C" const char *cudnnGetErrorString(cudnnStatus_t s) {
    switch (s) {
    case CUDNN_STATUS_SUCCESS: return "CUDNN_STATUS_SUCCESS";
    case CUDNN_STATUS_NOT_INITIALIZED: return "CUDNN_STATUS_NOT_INITIALIZED";
    case CUDNN_STATUS_BAD_PARAM: return "CUDNN_STATUS_BAD_PARAM";
    case CUDNN_STATUS_BAD_PARAM_NULL_POINTER: return "CUDNN_STATUS_BAD_PARAM_NULL_POINTER";
    case CUDNN_STATUS_NOT_SUPPORTED: return "CUDNN_STATUS_NOT_SUPPORTED";
    case CUDNN_STATUS_EXECUTION_FAILED: return "CUDNN_STATUS_EXECUTION_FAILED";
    default: return "CUDNN_STATUS_INTERNAL_ERROR";
    }
}

extern "C" cudnnStatus_t cudnnCreate(cudnnHandle_t *h) {
    if (!h) return CUDNN_STATUS_BAD_PARAM_NULL_POINTER;
    *h = new lv_emu_cudnn{NULL};
    return CUDNN_STATUS_SUCCESS;
}
extern "C" cudnnStatus_t cudnnDestroy(cudnnHandle_t h) {
    if (!h) return CUDNN_STATUS_BAD_PARAM;
    drain(h->stream);
    delete h;
    return CUDNN_STATUS_SUCCESS;
}
extern "C" cudnnStatus_t cudnnSetStream(cudnnHandle_t h, cudaStream_t s) {
    if (!h) return CUDNN_STATUS_BAD_PARAM;
    h->stream = s;
    return CUDNN_STATUS_SUCCESS;
}

extern "C" cudnnStatus_t cudnnCreateTensorDescriptor(cudnnTensorDescriptor_t *d) {
    if (!d) return CUDNN_STATUS_BAD_PARAM_NULL_POINTER;
    *d = new lv_emu_tensor_desc();
    return CUDNN_STATUS_SUCCESS;
}
extern "C" cudnnStatus_t cudnnDestroyTensorDescriptor(cudnnTensorDescriptor_t d) {
    delete d;
    return CUDNN_STATUS_SUCCESS;
}
extern "C" cudnnStatus_t cudnnSetTensor4dDescriptorEx(cudnnTensorDescriptor_t d, cudnnDataType_t t, int n, int c,
                                                      int h, int w, int ns, int cs, int hs, int ws) {
    if (!d) return CUDNN_STATUS_BAD_PARAM;
    if (!float_ok(t)) return CUDNN_STATUS_NOT_SUPPORTED;
    if (n <= 0 || c <= 0 || h <= 0 || w <= 0 || ns <= 0 || cs <= 0 || hs <= 0 || ws <= 0)
        return bad("cudnnSetTensor4dDescriptor", "dimensions and strides must be positive");
    *d = lv_emu_tensor_desc{true, n, c, h, w, ns, cs, hs, ws};
    return CUDNN_STATUS_SUCCESS;
}
extern "C" cudnnStatus_t cudnnSetTensor4dDescriptor(cudnnTensorDescriptor_t d, cudnnTensorFormat_t f,
                                                    cudnnDataType_t t, int n, int c, int h, int w) {
    if (f == CUDNN_TENSOR_NCHW) return cudnnSetTensor4dDescriptorEx(d, t, n, c, h, w, c * h * w, h * w, w, 1);
    if (f == CUDNN_TENSOR_NHWC) return cudnnSetTensor4dDescriptorEx(d, t, n, c, h, w, h * w * c, 1, w * c, c);
    return CUDNN_STATUS_NOT_SUPPORTED;
}

extern "C" cudnnStatus_t cudnnCreateFilterDescriptor(cudnnFilterDescriptor_t *d) {
    if (!d) return CUDNN_STATUS_BAD_PARAM_NULL_POINTER;
    *d = new lv_emu_filter_desc();
    return CUDNN_STATUS_SUCCESS;
}
extern "C" cudnnStatus_t cudnnDestroyFilterDescriptor(cudnnFilterDescriptor_t d) {
    delete d;
    return CUDNN_STATUS_SUCCESS;
}
extern "C" cudnnStatus_t cudnnSetFilter4dDescriptor(cudnnFilterDescriptor_t d, cudnnDataType_t t,
                                                    cudnnTensorFormat_t f, int k, int c, int h, int w) {
    if (!d) return CUDNN_STATUS_BAD_PARAM;
    if (!float_ok(t) || (f != CUDNN_TENSOR_NCHW && f != CUDNN_TENSOR_NHWC)) return CUDNN_STATUS_NOT_SUPPORTED;
    if (k <= 0 || c <= 0 || h <= 0 || w <= 0) return bad("cudnnSetFilter4dDescriptor", "dimensions must be positive");
    *d = lv_emu_filter_desc{true, f == CUDNN_TENSOR_NHWC, k, c, h, w};
    return CUDNN_STATUS_SUCCESS;
}

extern "C" cudnnStatus_t cudnnCreateConvolutionDescriptor(cudnnConvolutionDescriptor_t *d) {
    if (!d) return CUDNN_STATUS_BAD_PARAM_NULL_POINTER;
    *d = new lv_emu_conv_desc();
    (*d)->math = CUDNN_DEFAULT_MATH;
    return CUDNN_STATUS_SUCCESS;
}
extern "C" cudnnStatus_t cudnnDestroyConvolutionDescriptor(cudnnConvolutionDescriptor_t d) {
    delete d;
    return CUDNN_STATUS_SUCCESS;
}
extern "C" cudnnStatus_t cudnnSetConvolution2dDescriptor(cudnnConvolutionDescriptor_t d, int ph, int pw, int u, int v,
                                                         int dh, int dw, cudnnConvolutionMode_t mode,
                                                         cudnnDataType_t t) {
    if (!d) return CUDNN_STATUS_BAD_PARAM;
    if (ph < 0 || pw < 0 || u <= 0 || v <= 0 || dh <= 0 || dw <= 0 || (mode != CUDNN_CONVOLUTION && mode != CUDNN_CROSS_CORRELATION))
        return bad("cudnnSetConvolution2dDescriptor", "negative padding, non-positive stride or dilation, or an unknown mode");
    if (!float_ok(t)) return CUDNN_STATUS_NOT_SUPPORTED;
    cudnnMathType_t math = d->math;
    *d = lv_emu_conv_desc{true, ph, pw, u, v, dh, dw, mode, math};
    return CUDNN_STATUS_SUCCESS;
}
extern "C" cudnnStatus_t cudnnSetConvolutionMathType(cudnnConvolutionDescriptor_t d, cudnnMathType_t m) {
    if (!d || (unsigned)m > 3u) return CUDNN_STATUS_BAD_PARAM;
    d->math = m;
    return CUDNN_STATUS_SUCCESS;
}
extern "C" cudnnStatus_t cudnnGetConvolution2dForwardOutputDim(cudnnConvolutionDescriptor_t d,
                                                               cudnnTensorDescriptor_t x, cudnnFilterDescriptor_t w,
                                                               int *n, int *c, int *h, int *wd) {
    if (!d || !x || !w || !d->set || !x->set || !w->set || !n || !c || !h || !wd) return CUDNN_STATUS_BAD_PARAM;
    if (x->c != w->c) return bad("cudnnGetConvolution2dForwardOutputDim", "input and filter channels differ");
    const int eh = (w->h - 1) * d->dil_h + 1, ew = (w->w - 1) * d->dil_w + 1;
    if (x->h + 2 * d->pad_h < eh || x->w + 2 * d->pad_w < ew)
        return bad("cudnnGetConvolution2dForwardOutputDim", "the filter is larger than the padded input");
    *n = x->n;
    *c = w->k;
    *h = (x->h + 2 * d->pad_h - eh) / d->u + 1;
    *wd = (x->w + 2 * d->pad_w - ew) / d->v + 1;
    return CUDNN_STATUS_SUCCESS;
}

/* ---- algorithm queries ------------------------------------------------------------------- */

extern "C" cudnnStatus_t cudnnGetConvolutionForwardAlgorithmMaxCount(cudnnHandle_t h, int *count) {
    if (!h || !count) return CUDNN_STATUS_BAD_PARAM;
    *count = CUDNN_CONVOLUTION_FWD_ALGO_COUNT;
    return CUDNN_STATUS_SUCCESS;
}
extern "C" cudnnStatus_t cudnnGetConvolutionBackwardDataAlgorithmMaxCount(cudnnHandle_t h, int *count) {
    if (!h || !count) return CUDNN_STATUS_BAD_PARAM;
    *count = CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT;
    return CUDNN_STATUS_SUCCESS;
}
extern "C" cudnnStatus_t cudnnGetConvolutionBackwardFilterAlgorithmMaxCount(cudnnHandle_t h, int *count) {
    if (!h || !count) return CUDNN_STATUS_BAD_PARAM;
    *count = CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT;
    return CUDNN_STATUS_SUCCESS;
}

#define LV_GEOM_OR_RETURN(api, x, w, conv, y)                                                       \
    conv_geom g;                                                                                   \
    {                                                                                              \
        cudnnStatus_t st_ = geometry(api, x, w, conv, y, &g);                                      \
        if (st_ != CUDNN_STATUS_SUCCESS) return st_;                                               \
    }

extern "C" cudnnStatus_t cudnnGetConvolutionForwardAlgorithm_v7(cudnnHandle_t h, cudnnTensorDescriptor_t x,
                                                                cudnnFilterDescriptor_t w,
                                                                cudnnConvolutionDescriptor_t conv,
                                                                cudnnTensorDescriptor_t y, int req, int *ret,
                                                                cudnnConvolutionFwdAlgoPerf_t *perf) {
    if (!h) return CUDNN_STATUS_BAD_PARAM;
    LV_GEOM_OR_RETURN("cudnnGetConvolutionForwardAlgorithm_v7", x, w, conv, y);
    return rank<cudnnConvolutionFwdAlgoPerf_t, cudnnConvolutionFwdAlgo_t>(
        kFwd, conv->math, req, ret, perf, [&](int a, size_t *b) { return fwd_ws(g, a, b); });
}
extern "C" cudnnStatus_t cudnnFindConvolutionForwardAlgorithm(cudnnHandle_t h, cudnnTensorDescriptor_t x,
                                                              cudnnFilterDescriptor_t w,
                                                              cudnnConvolutionDescriptor_t conv,
                                                              cudnnTensorDescriptor_t y, int req, int *ret,
                                                              cudnnConvolutionFwdAlgoPerf_t *perf) {
    drain(h ? h->stream : NULL); /* Find runs the candidates: it synchronizes */
    return cudnnGetConvolutionForwardAlgorithm_v7(h, x, w, conv, y, req, ret, perf);
}
extern "C" cudnnStatus_t cudnnGetConvolutionBackwardDataAlgorithm_v7(cudnnHandle_t h, cudnnFilterDescriptor_t w,
                                                                     cudnnTensorDescriptor_t dy,
                                                                     cudnnConvolutionDescriptor_t conv,
                                                                     cudnnTensorDescriptor_t dx, int req, int *ret,
                                                                     cudnnConvolutionBwdDataAlgoPerf_t *perf) {
    if (!h) return CUDNN_STATUS_BAD_PARAM;
    LV_GEOM_OR_RETURN("cudnnGetConvolutionBackwardDataAlgorithm_v7", dx, w, conv, dy);
    return rank<cudnnConvolutionBwdDataAlgoPerf_t, cudnnConvolutionBwdDataAlgo_t>(
        kBwdData, conv->math, req, ret, perf, [&](int a, size_t *b) { return bwd_data_ws(g, a, b); });
}
extern "C" cudnnStatus_t cudnnFindConvolutionBackwardDataAlgorithm(cudnnHandle_t h, cudnnFilterDescriptor_t w,
                                                                   cudnnTensorDescriptor_t dy,
                                                                   cudnnConvolutionDescriptor_t conv,
                                                                   cudnnTensorDescriptor_t dx, int req, int *ret,
                                                                   cudnnConvolutionBwdDataAlgoPerf_t *perf) {
    drain(h ? h->stream : NULL);
    return cudnnGetConvolutionBackwardDataAlgorithm_v7(h, w, dy, conv, dx, req, ret, perf);
}
extern "C" cudnnStatus_t cudnnGetConvolutionBackwardFilterAlgorithm_v7(cudnnHandle_t h, cudnnTensorDescriptor_t x,
                                                                       cudnnTensorDescriptor_t dy,
                                                                       cudnnConvolutionDescriptor_t conv,
                                                                       cudnnFilterDescriptor_t dw, int req, int *ret,
                                                                       cudnnConvolutionBwdFilterAlgoPerf_t *perf) {
    if (!h) return CUDNN_STATUS_BAD_PARAM;
    LV_GEOM_OR_RETURN("cudnnGetConvolutionBackwardFilterAlgorithm_v7", x, dw, conv, dy);
    return rank<cudnnConvolutionBwdFilterAlgoPerf_t, cudnnConvolutionBwdFilterAlgo_t>(
        kBwdFilter, conv->math, req, ret, perf, [&](int a, size_t *b) { return bwd_filter_ws(g, a, b); });
}
extern "C" cudnnStatus_t cudnnFindConvolutionBackwardFilterAlgorithm(cudnnHandle_t h, cudnnTensorDescriptor_t x,
                                                                     cudnnTensorDescriptor_t dy,
                                                                     cudnnConvolutionDescriptor_t conv,
                                                                     cudnnFilterDescriptor_t dw, int req, int *ret,
                                                                     cudnnConvolutionBwdFilterAlgoPerf_t *perf) {
    drain(h ? h->stream : NULL);
    return cudnnGetConvolutionBackwardFilterAlgorithm_v7(h, x, dy, conv, dw, req, ret, perf);
}

extern "C" cudnnStatus_t cudnnGetConvolutionForwardWorkspaceSize(cudnnHandle_t h, cudnnTensorDescriptor_t x,
                                                                 cudnnFilterDescriptor_t w,
                                                                 cudnnConvolutionDescriptor_t conv,
                                                                 cudnnTensorDescriptor_t y,
                                                                 cudnnConvolutionFwdAlgo_t algo, size_t *bytes) {
    if (!h || !bytes) return CUDNN_STATUS_BAD_PARAM;
    LV_GEOM_OR_RETURN("cudnnGetConvolutionForwardWorkspaceSize", x, w, conv, y);
    return fwd_ws(g, algo, bytes);
}
extern "C" cudnnStatus_t cudnnGetConvolutionBackwardDataWorkspaceSize(cudnnHandle_t h, cudnnFilterDescriptor_t w,
                                                                      cudnnTensorDescriptor_t dy,
                                                                      cudnnConvolutionDescriptor_t conv,
                                                                      cudnnTensorDescriptor_t dx,
                                                                      cudnnConvolutionBwdDataAlgo_t algo,
                                                                      size_t *bytes) {
    if (!h || !bytes) return CUDNN_STATUS_BAD_PARAM;
    LV_GEOM_OR_RETURN("cudnnGetConvolutionBackwardDataWorkspaceSize", dx, w, conv, dy);
    return bwd_data_ws(g, algo, bytes);
}
extern "C" cudnnStatus_t cudnnGetConvolutionBackwardFilterWorkspaceSize(cudnnHandle_t h, cudnnTensorDescriptor_t x,
                                                                        cudnnTensorDescriptor_t dy,
                                                                        cudnnConvolutionDescriptor_t conv,
                                                                        cudnnFilterDescriptor_t dw,
                                                                        cudnnConvolutionBwdFilterAlgo_t algo,
                                                                        size_t *bytes) {
    if (!h || !bytes) return CUDNN_STATUS_BAD_PARAM;
    LV_GEOM_OR_RETURN("cudnnGetConvolutionBackwardFilterWorkspaceSize", x, dw, conv, dy);
    return bwd_filter_ws(g, algo, bytes);
}

/* ---- the computations ------------------------------------------------------------------- */

extern "C" cudnnStatus_t cudnnConvolutionForward(cudnnHandle_t h, const void *alpha, cudnnTensorDescriptor_t xd,
                                                 const void *x, cudnnFilterDescriptor_t wd, const void *w,
                                                 cudnnConvolutionDescriptor_t conv, cudnnConvolutionFwdAlgo_t algo,
                                                 void *ws, size_t ws_bytes, const void *beta,
                                                 cudnnTensorDescriptor_t yd, void *y) {
    const char *api = "cudnnConvolutionForward";
    if (!h || !alpha || !beta) return bad(api, "NULL handle, alpha or beta");
    LV_GEOM_OR_RETURN(api, xd, wd, conv, yd);
    size_t need = 0;
    if (fwd_ws(g, algo, &need) != CUDNN_STATUS_SUCCESS) return bad(api, "the algorithm is not supported for this shape");
    cudnnStatus_t st = operands(api, x, g.x, w, g.w, y, g.y, ws, ws_bytes, need, "x", "w", "y");
    if (st != CUDNN_STATUS_SUCCESS) return st;
    const float al = *(const float *)alpha, be = *(const float *)beta;
    const float *X = (const float *)x, *W = (const float *)w;
    float *Y = (float *)y;
    enqueue(h->stream, "cudnnConvolutionForward", [=]() {
        const int K = g.w.n, CRS = g.x.c * g.w.h * g.w.w, P = g.y.h * g.y.w;
        std::vector<float> wf = dense_filter(g, W), col, out((size_t)K * P);
        for (int n = 0; n < g.x.n; n++) {
            im2col(g, X, n, col);
            gemm_rm(false, false, K, P, CRS, wf.data(), col.data(), 0.0f, out.data());
            for (int k = 0; k < K; k++)
                for (int oy = 0; oy < g.y.h; oy++)
                    for (int ox = 0; ox < g.y.w; ox++)
                        blend(&Y[g.y.at(n, k, oy, ox)], out[(size_t)k * P + oy * g.y.w + ox], al, be);
        }
    });
    return CUDNN_STATUS_SUCCESS;
}

extern "C" cudnnStatus_t cudnnConvolutionBackwardData(cudnnHandle_t h, const void *alpha, cudnnFilterDescriptor_t wd,
                                                      const void *w, cudnnTensorDescriptor_t dyd, const void *dy,
                                                      cudnnConvolutionDescriptor_t conv,
                                                      cudnnConvolutionBwdDataAlgo_t algo, void *ws, size_t ws_bytes,
                                                      const void *beta, cudnnTensorDescriptor_t dxd, void *dx) {
    const char *api = "cudnnConvolutionBackwardData";
    if (!h || !alpha || !beta) return bad(api, "NULL handle, alpha or beta");
    LV_GEOM_OR_RETURN(api, dxd, wd, conv, dyd);
    size_t need = 0;
    if (bwd_data_ws(g, algo, &need) != CUDNN_STATUS_SUCCESS) return bad(api, "the algorithm is not supported for this shape");
    cudnnStatus_t st = operands(api, dx, g.x, w, g.w, dy, g.y, ws, ws_bytes, need, "dx", "w", "dy");
    if (st != CUDNN_STATUS_SUCCESS) return st;
    const float al = *(const float *)alpha, be = *(const float *)beta;
    const float *W = (const float *)w, *DY = (const float *)dy;
    float *DX = (float *)dx;
    enqueue(h->stream, "cudnnConvolutionBackwardData", [=]() {
        const int K = g.w.n, CRS = g.x.c * g.w.h * g.w.w, P = g.y.h * g.y.w;
        std::vector<float> wf = dense_filter(g, W), d((size_t)K * P), col((size_t)CRS * P);
        std::vector<float> img((size_t)g.x.c * g.x.h * g.x.w);
        for (int n = 0; n < g.x.n; n++) {
            for (int k = 0; k < K; k++)
                for (int oy = 0; oy < g.y.h; oy++)
                    for (int ox = 0; ox < g.y.w; ox++) {
                        float v = DY[g.y.at(n, k, oy, ox)];
                        d[(size_t)k * P + oy * g.y.w + ox] = g.tf32 ? to_tf32(v) : v;
                    }
            gemm_rm(true, false, CRS, P, K, wf.data(), d.data(), 0.0f, col.data());
            std::fill(img.begin(), img.end(), 0.0f);
            col2im(g, col, img.data());
            for (int c = 0; c < g.x.c; c++)
                for (int iy = 0; iy < g.x.h; iy++)
                    for (int ix = 0; ix < g.x.w; ix++)
                        blend(&DX[g.x.at(n, c, iy, ix)], img[((size_t)c * g.x.h + iy) * g.x.w + ix], al, be);
        }
    });
    return CUDNN_STATUS_SUCCESS;
}

extern "C" cudnnStatus_t cudnnConvolutionBackwardFilter(cudnnHandle_t h, const void *alpha, cudnnTensorDescriptor_t xd,
                                                        const void *x, cudnnTensorDescriptor_t dyd, const void *dy,
                                                        cudnnConvolutionDescriptor_t conv,
                                                        cudnnConvolutionBwdFilterAlgo_t algo, void *ws,
                                                        size_t ws_bytes, const void *beta,
                                                        cudnnFilterDescriptor_t dwd, void *dw) {
    const char *api = "cudnnConvolutionBackwardFilter";
    if (!h || !alpha || !beta) return bad(api, "NULL handle, alpha or beta");
    LV_GEOM_OR_RETURN(api, xd, dwd, conv, dyd);
    size_t need = 0;
    if (bwd_filter_ws(g, algo, &need) != CUDNN_STATUS_SUCCESS) return bad(api, "the algorithm is not supported for this shape");
    cudnnStatus_t st = operands(api, x, g.x, dw, g.w, dy, g.y, ws, ws_bytes, need, "x", "dw", "dy");
    if (st != CUDNN_STATUS_SUCCESS) return st;
    const float al = *(const float *)alpha, be = *(const float *)beta;
    const float *X = (const float *)x, *DY = (const float *)dy;
    float *DW = (float *)dw;
    enqueue(h->stream, "cudnnConvolutionBackwardFilter", [=]() {
        const int K = g.w.n, CRS = g.x.c * g.w.h * g.w.w, P = g.y.h * g.y.w;
        std::vector<float> col, d((size_t)K * P), acc((size_t)K * CRS, 0.0f);
        for (int n = 0; n < g.x.n; n++) {
            im2col(g, X, n, col);
            for (int k = 0; k < K; k++)
                for (int oy = 0; oy < g.y.h; oy++)
                    for (int ox = 0; ox < g.y.w; ox++) {
                        float v = DY[g.y.at(n, k, oy, ox)];
                        d[(size_t)k * P + oy * g.y.w + ox] = g.tf32 ? to_tf32(v) : v;
                    }
            gemm_rm(false, true, K, CRS, P, d.data(), col.data(), 1.0f, acc.data());
        }
        const view &f = g.w;
        size_t i = 0;
        for (int k = 0; k < f.n; k++)
            for (int c = 0; c < f.c; c++)
                for (int r = 0; r < f.h; r++)
                    for (int s = 0; s < f.w; s++, i++) {
                        int rr = g.flip ? f.h - 1 - r : r, ss = g.flip ? f.w - 1 - s : s;
                        blend(&DW[f.at(k, c, rr, ss)], acc[i], al, be);
                    }
    });
    return CUDNN_STATUS_SUCCESS;
}

extern "C" cudnnStatus_t cudnnConvolutionBackwardBias(cudnnHandle_t h, const void *alpha, cudnnTensorDescriptor_t dyd,
                                                      const void *dy, const void *beta, cudnnTensorDescriptor_t dbd,
                                                      void *db) {
    const char *api = "cudnnConvolutionBackwardBias";
    if (!h || !alpha || !beta || !dyd || !dbd || !dyd->set || !dbd->set) return bad(api, "NULL or unset argument");
    if (dbd->n != 1 || dbd->c != dyd->c || dbd->h != 1 || dbd->w != 1) return bad(api, "db must be 1 x C x 1 x 1 with dy's C");
    const view yv = of(dyd), bv = of(dbd);
    if (!device_range_ok(dy, yv.extent() * sizeof(float), api, "dy") ||
        !device_range_ok(db, bv.extent() * sizeof(float), api, "db"))
        return CUDNN_STATUS_BAD_PARAM;
    const float al = *(const float *)alpha, be = *(const float *)beta;
    const float *DY = (const float *)dy;
    float *DB = (float *)db;
    enqueue(h->stream, api, [=]() {
        for (int c = 0; c < yv.c; c++) {
            double s = 0;
            for (int n = 0; n < yv.n; n++)
                for (int y = 0; y < yv.h; y++)
                    for (int x = 0; x < yv.w; x++) s += DY[yv.at(n, c, y, x)];
            blend(&DB[bv.at(0, c, 0, 0)], (float)s, al, be);
        }
    });
    return CUDNN_STATUS_SUCCESS;
}

extern "C" cudnnStatus_t cudnnAddTensor(cudnnHandle_t h, const void *alpha, cudnnTensorDescriptor_t ad, const void *a,
                                        const void *beta, cudnnTensorDescriptor_t cd, void *c) {
    const char *api = "cudnnAddTensor";
    if (!h || !alpha || !beta || !ad || !cd || !ad->set || !cd->set) return bad(api, "NULL or unset argument");
    /* Each dimension of A equals C's or is 1 (broadcast). */
    if ((ad->n != cd->n && ad->n != 1) || (ad->c != cd->c && ad->c != 1) || (ad->h != cd->h && ad->h != 1) ||
        (ad->w != cd->w && ad->w != 1))
        return bad(api, "each dimension of A must equal C's or be 1");
    const view av = of(ad), cv = of(cd);
    if (!device_range_ok(a, av.extent() * sizeof(float), api, "A") ||
        !device_range_ok(c, cv.extent() * sizeof(float), api, "C"))
        return CUDNN_STATUS_BAD_PARAM;
    const float al = *(const float *)alpha, be = *(const float *)beta;
    const float *A = (const float *)a;
    float *C = (float *)c;
    enqueue(h->stream, api, [=]() {
        for (int n = 0; n < cv.n; n++)
            for (int k = 0; k < cv.c; k++)
                for (int y = 0; y < cv.h; y++)
                    for (int x = 0; x < cv.w; x++) {
                        float v = A[av.at(av.n == 1 ? 0 : n, av.c == 1 ? 0 : k, av.h == 1 ? 0 : y, av.w == 1 ? 0 : x)];
                        blend(&C[cv.at(n, k, y, x)], v, al, be);
                    }
    });
    return CUDNN_STATUS_SUCCESS;
}
