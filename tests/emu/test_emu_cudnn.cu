/* The emulator's cuDNN twin against naive references written from cuDNN's documentation:
 * forward, backward-data and backward-filter convolution in both modes (CUDNN_CONVOLUTION
 * flips the filter, CUDNN_CROSS_CORRELATION does not), padding, stride, dilation, NCHW, NHWC
 * and padded strides, alpha/beta blending (beta = 0 must not read the output), FMA against
 * TF32 math, every algorithm the queries rank as usable, the workspace rule, the bias
 * gradient and cudnnAddTensor with broadcasting, and the descriptor errors. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vector>

#include "cuda_runtime.h"
#include "cudnn.h"
#include "twin_check.h"

/* TF32 keeps float's exponent and 10 of its 23 mantissa bits; rounded to nearest even here. */
static float tf32(float x) {
    uint32_t u;
    memcpy(&u, &x, 4);
    if ((u & 0x7f800000u) != 0x7f800000u) {
        uint32_t lsb = (u >> 13) & 1u;
        u = (u + 0xfffu + lsb) & ~0x1fffu;
    }
    memcpy(&x, &u, 4);
    return x;
}

/* Element offsets of a 4-D tensor, as cudnnSetTensor4dDescriptorEx describes it. */
struct layout {
    int n, c, h, w;
    int sn, sc, sh, sw;
    size_t span() const { return 1 + (size_t)(n - 1) * sn + (size_t)(c - 1) * sc + (size_t)(h - 1) * sh + (size_t)(w - 1) * sw; }
    size_t at(int a, int b, int y, int x) const { return (size_t)a * sn + (size_t)b * sc + (size_t)y * sh + (size_t)x * sw; }
};

enum fmt { NCHW, NHWC, PADDED };

static layout make_layout(fmt f, int n, int c, int h, int w) {
    if (f == NHWC) return layout{n, c, h, w, h * w * c, 1, w * c, c};
    if (f == PADDED) return layout{n, c, h, w, c * h * (w + 3) + 5, h * (w + 3) + 1, w + 3, 1};
    return layout{n, c, h, w, c * h * w, h * w, w, 1};
}

struct conv_case {
    int n, c, h, w, k, r, s, pad_h, pad_w, u, v, dil_h, dil_w;
    cudnnConvolutionMode_t mode;
    fmt xf, wf; /* wf: NCHW (KCRS) or NHWC (KRSC) filter */
    float alpha, beta;
    bool fma;
};

/* The filter tap that multiplies input offset (r, s): CUDNN_CONVOLUTION reverses both axes. */
static void tap(const conv_case &t, int r, int s, int *rr, int *ss) {
    *rr = t.mode == CUDNN_CONVOLUTION ? t.r - 1 - r : r;
    *ss = t.mode == CUDNN_CONVOLUTION ? t.s - 1 - s : s;
}

static int out_h(const conv_case &t) { return (t.h + 2 * t.pad_h - ((t.r - 1) * t.dil_h + 1)) / t.u + 1; }
static int out_w(const conv_case &t) { return (t.w + 2 * t.pad_w - ((t.s - 1) * t.dil_w + 1)) / t.v + 1; }

/* y = alpha * conv(x, w) + beta * y, in double, straight from the definition. */
static void ref_forward(const conv_case &t, const layout &X, const float *x, const layout &W, const float *w,
                        const layout &Y, float *y) {
    const int oh = out_h(t), ow = out_w(t);
    for (int n = 0; n < t.n; n++)
        for (int k = 0; k < t.k; k++)
            for (int oy = 0; oy < oh; oy++)
                for (int ox = 0; ox < ow; ox++) {
                    double acc = 0;
                    for (int c = 0; c < t.c; c++)
                        for (int r = 0; r < t.r; r++)
                            for (int s = 0; s < t.s; s++) {
                                int iy = oy * t.u - t.pad_h + r * t.dil_h, ix = ox * t.v - t.pad_w + s * t.dil_w;
                                if (iy < 0 || iy >= t.h || ix < 0 || ix >= t.w) continue;
                                int rr, ss;
                                tap(t, r, s, &rr, &ss);
                                float a = x[X.at(n, c, iy, ix)], b = w[W.at(k, c, rr, ss)];
                                if (!t.fma) a = tf32(a), b = tf32(b);
                                acc += (double)a * b;
                            }
                    float *o = &y[Y.at(n, k, oy, ox)];
                    *o = (float)(t.beta == 0.0f ? t.alpha * acc : t.alpha * acc + (double)t.beta * *o);
                }
}

/* dx = alpha * (the adjoint of the forward map applied to dy) + beta * dx. */
static void ref_backward_data(const conv_case &t, const layout &W, const float *w, const layout &Y, const float *dy,
                              const layout &X, float *dx) {
    const int oh = out_h(t), ow = out_w(t);
    std::vector<double> acc((size_t)t.n * t.c * t.h * t.w, 0.0);
    for (int n = 0; n < t.n; n++)
        for (int k = 0; k < t.k; k++)
            for (int oy = 0; oy < oh; oy++)
                for (int ox = 0; ox < ow; ox++)
                    for (int c = 0; c < t.c; c++)
                        for (int r = 0; r < t.r; r++)
                            for (int s = 0; s < t.s; s++) {
                                int iy = oy * t.u - t.pad_h + r * t.dil_h, ix = ox * t.v - t.pad_w + s * t.dil_w;
                                if (iy < 0 || iy >= t.h || ix < 0 || ix >= t.w) continue;
                                int rr, ss;
                                tap(t, r, s, &rr, &ss);
                                float a = dy[Y.at(n, k, oy, ox)], b = w[W.at(k, c, rr, ss)];
                                if (!t.fma) a = tf32(a), b = tf32(b);
                                acc[(((size_t)n * t.c + c) * t.h + iy) * t.w + ix] += (double)a * b;
                            }
    for (int n = 0; n < t.n; n++)
        for (int c = 0; c < t.c; c++)
            for (int iy = 0; iy < t.h; iy++)
                for (int ix = 0; ix < t.w; ix++) {
                    double v = acc[(((size_t)n * t.c + c) * t.h + iy) * t.w + ix];
                    float *o = &dx[X.at(n, c, iy, ix)];
                    *o = (float)(t.beta == 0.0f ? t.alpha * v : t.alpha * v + (double)t.beta * *o);
                }
}

/* dw = alpha * (d loss / d w for y = conv(x, w), given dy) + beta * dw. */
static void ref_backward_filter(const conv_case &t, const layout &X, const float *x, const layout &Y,
                                const float *dy, const layout &W, float *dw) {
    const int oh = out_h(t), ow = out_w(t);
    for (int k = 0; k < t.k; k++)
        for (int c = 0; c < t.c; c++)
            for (int rr = 0; rr < t.r; rr++)
                for (int ss = 0; ss < t.s; ss++) {
                    double acc = 0;
                    for (int r = 0; r < t.r; r++)
                        for (int s = 0; s < t.s; s++) {
                            int r2, s2;
                            tap(t, r, s, &r2, &s2);
                            if (r2 != rr || s2 != ss) continue;
                            for (int n = 0; n < t.n; n++)
                                for (int oy = 0; oy < oh; oy++)
                                    for (int ox = 0; ox < ow; ox++) {
                                        int iy = oy * t.u - t.pad_h + r * t.dil_h, ix = ox * t.v - t.pad_w + s * t.dil_w;
                                        if (iy < 0 || iy >= t.h || ix < 0 || ix >= t.w) continue;
                                        float a = dy[Y.at(n, k, oy, ox)], b = x[X.at(n, c, iy, ix)];
                                        if (!t.fma) a = tf32(a), b = tf32(b);
                                        acc += (double)a * b;
                                    }
                        }
                    float *o = &dw[W.at(k, c, rr, ss)];
                    *o = (float)(t.beta == 0.0f ? t.alpha * acc : t.alpha * acc + (double)t.beta * *o);
                }
}

static std::vector<float> filled(size_t n, const layout &l, bool nan_outside, bool nan_inside) {
    std::vector<float> v(n, nan_outside ? NAN : 0.0f);
    for (int a = 0; a < l.n; a++)
        for (int b = 0; b < l.c; b++)
            for (int y = 0; y < l.h; y++)
                for (int x = 0; x < l.w; x++) v[l.at(a, b, y, x)] = nan_inside ? NAN : frand();
    return v;
}

struct descs {
    cudnnTensorDescriptor_t x, y;
    cudnnFilterDescriptor_t w;
    cudnnConvolutionDescriptor_t conv;
};

static void set_tensor(cudnnTensorDescriptor_t d, const layout &l) {
    cudnnSetTensor4dDescriptorEx(d, CUDNN_DATA_FLOAT, l.n, l.c, l.h, l.w, l.sn, l.sc, l.sh, l.sw);
}

static void run_case(cudnnHandle_t h, const conv_case &t) {
    const int oh = out_h(t), ow = out_w(t);
    const layout X = make_layout(t.xf, t.n, t.c, t.h, t.w), Y = make_layout(t.xf, t.n, t.k, oh, ow);
    const layout W = t.wf == NHWC ? layout{t.k, t.c, t.r, t.s, t.r * t.s * t.c, 1, t.s * t.c, t.c}
                                  : layout{t.k, t.c, t.r, t.s, t.c * t.r * t.s, t.r * t.s, t.s, 1};
    descs d;
    cudnnCreateTensorDescriptor(&d.x);
    cudnnCreateTensorDescriptor(&d.y);
    cudnnCreateFilterDescriptor(&d.w);
    cudnnCreateConvolutionDescriptor(&d.conv);
    set_tensor(d.x, X);
    set_tensor(d.y, Y);
    cudnnSetFilter4dDescriptor(d.w, CUDNN_DATA_FLOAT, t.wf == NHWC ? CUDNN_TENSOR_NHWC : CUDNN_TENSOR_NCHW, t.k, t.c,
                               t.r, t.s);
    cudnnSetConvolution2dDescriptor(d.conv, t.pad_h, t.pad_w, t.u, t.v, t.dil_h, t.dil_w, t.mode, CUDNN_DATA_FLOAT);
    cudnnSetConvolutionMathType(d.conv, t.fma ? CUDNN_FMA_MATH : CUDNN_DEFAULT_MATH);

    char name[240];
    snprintf(name, sizeof name, "n=%d c=%d %dx%d k=%d %dx%d pad=%d,%d stride=%d,%d dil=%d,%d %s %s/%s alpha=%g beta=%g %s",
             t.n, t.c, t.h, t.w, t.k, t.r, t.s, t.pad_h, t.pad_w, t.u, t.v, t.dil_h, t.dil_w,
             t.mode == CUDNN_CONVOLUTION ? "CONVOLUTION" : "CROSS_CORRELATION",
             t.xf == NHWC ? "NHWC" : t.xf == PADDED ? "padded" : "NCHW", t.wf == NHWC ? "KRSC" : "KCRS", t.alpha,
             t.beta, t.fma ? "FMA" : "TF32");
    int n2, c2, h2, w2;
    cudnnGetConvolution2dForwardOutputDim(d.conv, d.x, d.w, &n2, &c2, &h2, &w2);
    char what[400];
    snprintf(what, sizeof what, "output dims %dx%dx%dx%d (%s)", n2, c2, h2, w2, name);
    check(n2 == t.n && c2 == t.k && h2 == oh && w2 == ow, what);

    const std::vector<float> x = filled(X.span(), X, true, false), w = filled(W.span(), W, false, false);
    const std::vector<float> dy = filled(Y.span(), Y, true, false);
    const float al = t.alpha, be = t.beta;
    const float *dxp = up(x), *dwp = up(w), *ddy = up(dy);

    /* Forward, once per algorithm the query ranks as usable, each with exactly its workspace. */
    cudnnConvolutionFwdAlgoPerf_t perf[16];
    int got = 0;
    cudnnGetConvolutionForwardAlgorithm_v7(h, d.x, d.w, d.conv, d.y, 16, &got, perf);
    int usable = 0;
    for (int i = 0; i < got; i++) {
        if (perf[i].status != CUDNN_STATUS_SUCCESS || perf[i].mathType == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION) continue;
        usable++;
        size_t ws = 0;
        cudnnGetConvolutionForwardWorkspaceSize(h, d.x, d.w, d.conv, d.y, perf[i].algo, &ws);
        void *wsp = NULL;
        if (ws) cudaMalloc(&wsp, ws);
        std::vector<float> y0 = filled(Y.span(), Y, true, be == 0.0f), want = y0;
        float *dyout = up(y0);
        cudnnStatus_t st = cudnnConvolutionForward(h, &al, d.x, dxp, d.w, dwp, d.conv, perf[i].algo, wsp, ws, &be, d.y, dyout);
        cudaDeviceSynchronize();
        ref_forward(t, X, x.data(), W, w.data(), Y, want.data());
        double e = max_rel(down(dyout, y0.size()), want);
        snprintf(what, sizeof what, "forward algo %d: rel err %.2e (%s)", (int)perf[i].algo, e, name);
        check(st == CUDNN_STATUS_SUCCESS && e < 1e-5, what);
        cudaFree(dyout);
        cudaFree(wsp);
    }
    snprintf(what, sizeof what, "forward query returns %d entries, %d usable (%s)", got, usable, name);
    check(got > 2 && usable >= 2, what);

    {
        cudnnConvolutionBwdDataAlgoPerf_t bp[16];
        cudnnGetConvolutionBackwardDataAlgorithm_v7(h, d.w, d.y, d.conv, d.x, 16, &got, bp);
        usable = 0;
        for (int i = 0; i < got; i++) {
            if (bp[i].status != CUDNN_STATUS_SUCCESS || bp[i].mathType == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION) continue;
            usable++;
            size_t ws = 0;
            cudnnGetConvolutionBackwardDataWorkspaceSize(h, d.w, d.y, d.conv, d.x, bp[i].algo, &ws);
            void *wsp = NULL;
            if (ws) cudaMalloc(&wsp, ws);
            std::vector<float> x0 = filled(X.span(), X, true, be == 0.0f), want = x0;
            float *ddx = up(x0);
            cudnnStatus_t st = cudnnConvolutionBackwardData(h, &al, d.w, dwp, d.y, ddy, d.conv, bp[i].algo, wsp, ws,
                                                            &be, d.x, ddx);
            cudaDeviceSynchronize();
            ref_backward_data(t, W, w.data(), Y, dy.data(), X, want.data());
            double e = max_rel(down(ddx, x0.size()), want);
            snprintf(what, sizeof what, "backward data algo %d: rel err %.2e (%s)", (int)bp[i].algo, e, name);
            check(st == CUDNN_STATUS_SUCCESS && e < 1e-5, what);
            cudaFree(ddx);
            cudaFree(wsp);
        }
        check(usable >= 1, "backward data query ranks a usable algorithm");
    }
    {
        cudnnConvolutionBwdFilterAlgoPerf_t fp[16];
        cudnnGetConvolutionBackwardFilterAlgorithm_v7(h, d.x, d.y, d.conv, d.w, 16, &got, fp);
        usable = 0;
        for (int i = 0; i < got; i++) {
            if (fp[i].status != CUDNN_STATUS_SUCCESS || fp[i].mathType == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION) continue;
            usable++;
            size_t ws = 0;
            cudnnGetConvolutionBackwardFilterWorkspaceSize(h, d.x, d.y, d.conv, d.w, fp[i].algo, &ws);
            void *wsp = NULL;
            if (ws) cudaMalloc(&wsp, ws);
            std::vector<float> w0 = filled(W.span(), W, false, be == 0.0f), want = w0;
            float *ddw = up(w0);
            cudnnStatus_t st = cudnnConvolutionBackwardFilter(h, &al, d.x, dxp, d.y, ddy, d.conv, fp[i].algo, wsp,
                                                              ws, &be, d.w, ddw);
            cudaDeviceSynchronize();
            ref_backward_filter(t, X, x.data(), Y, dy.data(), W, want.data());
            double e = max_rel(down(ddw, w0.size()), want);
            snprintf(what, sizeof what, "backward filter algo %d: rel err %.2e (%s)", (int)fp[i].algo, e, name);
            check(st == CUDNN_STATUS_SUCCESS && e < 1e-5, what);
            cudaFree(ddw);
            cudaFree(wsp);
        }
        check(usable >= 1, "backward filter query ranks a usable algorithm");
    }
    cudaFree((void *)dxp);
    cudaFree((void *)dwp);
    cudaFree((void *)ddy);
    cudnnDestroyTensorDescriptor(d.x);
    cudnnDestroyTensorDescriptor(d.y);
    cudnnDestroyFilterDescriptor(d.w);
    cudnnDestroyConvolutionDescriptor(d.conv);
}

/* An asymmetric 1x2 filter on a 1x2 image: the two modes must give different answers. */
static void mode_flips(cudnnHandle_t h) {
    cudnnTensorDescriptor_t xd, yd;
    cudnnFilterDescriptor_t wd;
    cudnnConvolutionDescriptor_t cd;
    cudnnCreateTensorDescriptor(&xd);
    cudnnCreateTensorDescriptor(&yd);
    cudnnCreateFilterDescriptor(&wd);
    cudnnCreateConvolutionDescriptor(&cd);
    cudnnSetTensor4dDescriptor(xd, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 1, 1, 1, 2);
    cudnnSetTensor4dDescriptor(yd, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 1, 1, 1, 1);
    cudnnSetFilter4dDescriptor(wd, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, 1, 1, 1, 2);
    cudnnSetConvolutionMathType(cd, CUDNN_FMA_MATH);
    float *x = up({1.0f, 10.0f}), *w = up({2.0f, 3.0f}), *y = up({0.0f});
    const float one = 1.0f, zero = 0.0f;
    float out[2];
    for (int m = 0; m < 2; m++) {
        cudnnSetConvolution2dDescriptor(cd, 0, 0, 1, 1, 1, 1, m ? CUDNN_CROSS_CORRELATION : CUDNN_CONVOLUTION,
                                        CUDNN_DATA_FLOAT);
        cudnnConvolutionForward(h, &one, xd, x, wd, w, cd, CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM, NULL, 0, &zero, yd, y);
        cudaMemcpy(&out[m], y, sizeof(float), cudaMemcpyDeviceToHost);
    }
    char what[160];
    snprintf(what, sizeof what, "CUDNN_CONVOLUTION gives 1*3 + 10*2 = %g, CROSS_CORRELATION 1*2 + 10*3 = %g", out[0], out[1]);
    check(out[0] == 23.0f && out[1] == 32.0f, what);

    /* TF32: 1 + 2^-12 has no TF32 form; FMA math keeps it, the default (TF32) math rounds it. */
    float *x1 = up({1.0f + 1.0f / 4096.0f, 0.0f}), *w1 = up({1.0f, 0.0f});
    cudnnSetConvolution2dDescriptor(cd, 0, 0, 1, 1, 1, 1, CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT);
    float r[2];
    for (int m = 0; m < 2; m++) {
        cudnnSetConvolutionMathType(cd, m ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH);
        cudnnConvolutionForward(h, &one, xd, x1, wd, w1, cd, CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM, NULL, 0, &zero, yd, y);
        cudaMemcpy(&r[m], y, sizeof(float), cudaMemcpyDeviceToHost);
    }
    snprintf(what, sizeof what, "1 + 2^-12: FMA math %.9g, default (TF32) math %.9g", r[0], r[1]);
    check(r[0] == 1.0f + 1.0f / 4096.0f && r[1] == 1.0f, what);

    /* The workspace rule and descriptor errors. */
    size_t need = 0;
    cudnnGetConvolutionForwardWorkspaceSize(h, xd, wd, cd, yd, CUDNN_CONVOLUTION_FWD_ALGO_GEMM, &need);
    void *ws = NULL;
    cudaMalloc(&ws, need + 16);
    check(need > 0 && cudnnConvolutionForward(h, &one, xd, x, wd, w, cd, CUDNN_CONVOLUTION_FWD_ALGO_GEMM, ws, need - 1,
                                              &zero, yd, y) == CUDNN_STATUS_BAD_PARAM,
          "a workspace one byte below the size query's answer is CUDNN_STATUS_BAD_PARAM");
    check(cudnnConvolutionForward(h, &one, xd, x, wd, w, cd, CUDNN_CONVOLUTION_FWD_ALGO_GEMM, ws, need, &zero, yd, y) ==
              CUDNN_STATUS_SUCCESS, "exactly the queried workspace is enough");
    cudnnTensorDescriptor_t bad;
    cudnnCreateTensorDescriptor(&bad);
    cudnnSetTensor4dDescriptor(bad, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 1, 1, 1, 2);
    check(cudnnConvolutionForward(h, &one, xd, x, wd, w, cd, CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM, NULL, 0, &zero,
                                  bad, y) == CUDNN_STATUS_BAD_PARAM,
          "an output descriptor that disagrees with the convolution is CUDNN_STATUS_BAD_PARAM");
    static float host[4];
    check(cudnnConvolutionForward(h, &one, xd, host, wd, w, cd, CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM, NULL, 0, &zero,
                                  yd, y) == CUDNN_STATUS_BAD_PARAM, "a host operand is refused");
    check(cudnnSetConvolution2dDescriptor(cd, -1, 0, 1, 1, 1, 1, CUDNN_CONVOLUTION, CUDNN_DATA_FLOAT) ==
              CUDNN_STATUS_BAD_PARAM, "negative padding is CUDNN_STATUS_BAD_PARAM");
    cudnnDestroyTensorDescriptor(bad);
    cudaFree(ws);
    cudaFree(x);
    cudaFree(w);
    cudaFree(y);
    cudaFree(x1);
    cudaFree(w1);
    cudnnDestroyTensorDescriptor(xd);
    cudnnDestroyTensorDescriptor(yd);
    cudnnDestroyFilterDescriptor(wd);
    cudnnDestroyConvolutionDescriptor(cd);
}

/* db[c] = alpha * sum over n, h, w of dy + beta * db; C = alpha * A (broadcast) + beta * C. */
static void bias_and_add(cudnnHandle_t h) {
    const int N = 3, C = 5, H = 4, W = 7;
    const layout Y = make_layout(NHWC, N, C, H, W);
    std::vector<float> dy = filled(Y.span(), Y, true, false), db(C), want(C);
    for (int c = 0; c < C; c++) db[c] = want[c] = frand();
    const float al = 0.5f, be = 2.0f;
    for (int c = 0; c < C; c++) {
        double s = 0;
        for (int n = 0; n < N; n++)
            for (int y = 0; y < H; y++)
                for (int x = 0; x < W; x++) s += dy[Y.at(n, c, y, x)];
        want[c] = (float)(al * s + (double)be * want[c]);
    }
    cudnnTensorDescriptor_t yd, bd;
    cudnnCreateTensorDescriptor(&yd);
    cudnnCreateTensorDescriptor(&bd);
    set_tensor(yd, Y);
    cudnnSetTensor4dDescriptor(bd, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 1, C, 1, 1);
    float *ddy = up(dy), *ddb = up(db);
    cudnnStatus_t st = cudnnConvolutionBackwardBias(h, &al, yd, ddy, &be, bd, ddb);
    cudaDeviceSynchronize();
    double e = max_rel(down(ddb, C), want);
    char what[160];
    snprintf(what, sizeof what, "cudnnConvolutionBackwardBias over NHWC dy, alpha 0.5 beta 2: rel err %.2e", e);
    check(st == CUDNN_STATUS_SUCCESS && e < 1e-6, what);

    /* A is 1 x C x 1 x 1 (a bias), broadcast over C's n, h and w. */
    const layout O = make_layout(NCHW, N, C, H, W);
    std::vector<float> c0 = filled(O.span(), O, false, false), cw = c0;
    for (int n = 0; n < N; n++)
        for (int k = 0; k < C; k++)
            for (int y = 0; y < H; y++)
                for (int x = 0; x < W; x++) {
                    float *o = &cw[O.at(n, k, y, x)];
                    *o = (float)(al * (double)db[k] + (double)be * *o);
                }
    cudnnTensorDescriptor_t od;
    cudnnCreateTensorDescriptor(&od);
    set_tensor(od, O);
    float *dc = up(c0), *da = up(db);
    st = cudnnAddTensor(h, &al, bd, da, &be, od, dc);
    cudaDeviceSynchronize();
    e = max_rel(down(dc, c0.size()), cw);
    snprintf(what, sizeof what, "cudnnAddTensor broadcasting a 1xCx1x1 bias: rel err %.2e", e);
    check(st == CUDNN_STATUS_SUCCESS && e < 1e-6, what);
    cudnnTensorDescriptor_t wrong;
    cudnnCreateTensorDescriptor(&wrong);
    cudnnSetTensor4dDescriptor(wrong, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 1, C + 1, 1, 1);
    check(cudnnAddTensor(h, &al, wrong, da, &be, od, dc) == CUDNN_STATUS_BAD_PARAM,
          "cudnnAddTensor with a dimension neither C's nor 1 is CUDNN_STATUS_BAD_PARAM");
    cudnnDestroyTensorDescriptor(wrong);
    cudnnDestroyTensorDescriptor(od);
    cudnnDestroyTensorDescriptor(yd);
    cudnnDestroyTensorDescriptor(bd);
    cudaFree(ddy);
    cudaFree(ddb);
    cudaFree(dc);
    cudaFree(da);
}

int main(void) {
    g_seed = 2024;
    cudnnHandle_t h;
    check(cudnnCreate(&h) == CUDNN_STATUS_SUCCESS, "cudnnCreate");
    const conv_case cases[] = {
        /* n c h w k r s ph pw u v dh dw mode xf wf alpha beta fma */
        {2, 3, 7, 6, 4, 3, 2, 1, 0, 2, 1, 1, 1, CUDNN_CONVOLUTION, NCHW, NCHW, 1.0f, 0.0f, true},
        {2, 3, 7, 6, 4, 3, 2, 1, 0, 2, 1, 1, 1, CUDNN_CROSS_CORRELATION, NCHW, NCHW, 1.0f, 0.0f, true},
        {1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1, CUDNN_CROSS_CORRELATION, NCHW, NCHW, -2.0f, 0.5f, true},
        {1, 2, 9, 8, 3, 3, 3, 2, 1, 1, 2, 2, 1, CUDNN_CONVOLUTION, NHWC, NHWC, 0.75f, 1.0f, true},
        {3, 4, 5, 5, 2, 2, 3, 0, 1, 1, 1, 1, 2, CUDNN_CROSS_CORRELATION, PADDED, NCHW, 1.0f, -1.0f, true},
        {2, 5, 11, 10, 6, 7, 7, 3, 3, 2, 2, 1, 1, CUDNN_CROSS_CORRELATION, NCHW, NCHW, 1.0f, 0.0f, false},
        {1, 3, 6, 6, 2, 3, 3, 1, 1, 1, 1, 1, 1, CUDNN_CONVOLUTION, NHWC, NCHW, 1.0f, 0.25f, false},
    };
    for (const conv_case &t : cases) run_case(h, t);
    mode_flips(h);
    bias_and_add(h);
    cudnnDestroy(h);
    return twin_summary();
}
