/* conv2d: CPU twin of cuda/conv2d.cu (cuDNN there), torch.nn.Conv2d semantics (dilation 1,
 * groups 1). Batched im2col + one OpenBLAS GEMM per chunk of samples, so the late ResNet
 * layers (2x2 outputs) still make one large GEMM. Must not keep state between calls: the
 * columns live in backend scratch and the backward recomputes them. */
#include <string.h>

#include <cblas.h>

#include "cpu_ops.h"

/* Scratch slots (cpu_backend.h): columns, the [oc, cols] GEMM result / gathered dout, dcol. */
enum { SLOT_COL = 0, SLOT_MAT = 1, SLOT_DCOL = 2 };

/* Columns per chunk: bounds each scratch buffer (floats) so a large input (224x224, big
 * batches) is processed in slices of samples instead of allocating gigabytes. */
#define LV_CONV_MAX_SCRATCH ((size_t)1 << 24)

/* Parallel loops below this many floats of work run on one thread: the fork costs more. */
#define LV_CONV_PAR_MIN (1L << 15)

typedef struct conv_dims {
    int oh, ow;
    size_t ohw, hw, k; /* k = c*kh*kw: rows of the column matrix */
} conv_dims;

static int conv_dims_init(lv_backend *be, const lv_conv2d_shape *s, conv_dims *d, const char *op) {
    if (s->n <= 0 || s->c <= 0 || s->h <= 0 || s->w <= 0 || s->oc <= 0 || s->kh <= 0 ||
        s->kw <= 0 || s->stride <= 0 || s->pad < 0 || lv_conv2d_oh(s) <= 0 || lv_conv2d_ow(s) <= 0) {
        lv_backend_fail(be, LV_ERR_RUNTIME,
                        "%s: bad shape n=%d c=%d h=%d w=%d oc=%d k=%dx%d stride=%d pad=%d", op,
                        s->n, s->c, s->h, s->w, s->oc, s->kh, s->kw, s->stride, s->pad);
        return 0;
    }
    d->oh = lv_conv2d_oh(s);
    d->ow = lv_conv2d_ow(s);
    d->ohw = (size_t)d->oh * d->ow;
    d->hw = (size_t)s->h * s->w;
    d->k = (size_t)s->c * s->kh * s->kw;
    return 1;
}

/* Samples per chunk so that the largest scratch matrix (k or oc rows) stays bounded. */
static int conv_chunk(const lv_conv2d_shape *s, const conv_dims *d) {
    size_t rows = d->k > (size_t)s->oc ? d->k : (size_t)s->oc;
    size_t per_sample = rows * d->ohw;
    size_t nb = per_sample ? LV_CONV_MAX_SCRATCH / per_sample : (size_t)s->n;
    if (nb < 1) nb = 1;
    return nb > (size_t)s->n ? s->n : (int)nb;
}

/* First and one-past-last output column whose input column ow*stride - pad + kx lies in
 * [0, w): outside it the column reads padding (zeros). */
static inline void valid_range(int kx, int pad, int stride, int w, int ow, int *lo, int *hi) {
    int a = pad - kx; /* ow*stride >= a */
    int l = a <= 0 ? 0 : (a + stride - 1) / stride;
    int b = w - 1 + pad - kx; /* ow*stride <= b */
    int h = b < 0 ? 0 : b / stride + 1;
    if (h > ow) h = ow;
    if (l > h) l = h;
    *lo = l;
    *hi = h;
}

/* col [k, nb*ohw] (row (c,ky,kx), column (n,oy,ox)) from in samples [n0, n0+nb).
 * One (sample, channel) plane per task: the plane stays in cache for its kh*kw rows. */
static void im2col(float *col, const float *in, const lv_conv2d_shape *s, const conv_dims *d,
                   int n0, int nb) {
    const size_t ld = (size_t)nb * d->ohw;
    const long tasks = (long)nb * s->c;
#pragma omp parallel for schedule(static) if (tasks * (long)(d->ohw * s->kh * s->kw) >= LV_CONV_PAR_MIN)
    for (long t = 0; t < tasks; t++) {
        int n = (int)(t / s->c), c = (int)(t % s->c);
        const float *plane = in + ((size_t)(n0 + n) * s->c + c) * d->hw;
        for (int ky = 0; ky < s->kh; ky++)
            for (int kx = 0; kx < s->kw; kx++) {
                float *dst = col + ((size_t)(c * s->kh + ky) * s->kw + kx) * ld + (size_t)n * d->ohw;
                int lo, hi, off = kx - s->pad; /* input column = ox*stride + off */
                valid_range(kx, s->pad, s->stride, s->w, d->ow, &lo, &hi);
                for (int oy = 0; oy < d->oh; oy++, dst += d->ow) {
                    int iy = oy * s->stride - s->pad + ky;
                    if (iy < 0 || iy >= s->h || lo >= hi) {
                        memset(dst, 0, (size_t)d->ow * sizeof *dst);
                        continue;
                    }
                    const float *row = plane + (size_t)iy * s->w;
                    for (int ox = 0; ox < lo; ox++) dst[ox] = 0.0f;
                    if (s->stride == 1) {
                        memcpy(dst + lo, row + (lo + off), (size_t)(hi - lo) * sizeof *dst);
                    } else {
                        for (int ox = lo; ox < hi; ox++) dst[ox] = row[ox * s->stride + off];
                    }
                    for (int ox = hi; ox < d->ow; ox++) dst[ox] = 0.0f;
                }
            }
    }
}

/* din samples [n0, n0+nb) += col2im(dcol). Each task owns one (sample, channel) plane of din,
 * so overlapping windows never race and the summation order is fixed (reproducible). */
static void col2im_add(float *din, const float *dcol, const lv_conv2d_shape *s, const conv_dims *d,
                       int n0, int nb) {
    const size_t ld = (size_t)nb * d->ohw;
    const long tasks = (long)nb * s->c;
#pragma omp parallel for schedule(static) if (tasks * (long)(d->ohw * s->kh * s->kw) >= LV_CONV_PAR_MIN)
    for (long t = 0; t < tasks; t++) {
        int n = (int)(t / s->c), c = (int)(t % s->c);
        float *plane = din + ((size_t)(n0 + n) * s->c + c) * d->hw;
        for (int ky = 0; ky < s->kh; ky++)
            for (int kx = 0; kx < s->kw; kx++) {
                const float *src = dcol + ((size_t)(c * s->kh + ky) * s->kw + kx) * ld + (size_t)n * d->ohw;
                int lo, hi, off = kx - s->pad; /* input column = ox*stride + off */
                valid_range(kx, s->pad, s->stride, s->w, d->ow, &lo, &hi);
                for (int oy = 0; oy < d->oh; oy++, src += d->ow) {
                    int iy = oy * s->stride - s->pad + ky;
                    if (iy < 0 || iy >= s->h) continue;
                    float *row = plane + (size_t)iy * s->w;
                    if (s->stride == 1) {
                        float *dst = row + (lo + off);
                        const float *sp = src + lo;
                        for (int i = 0; i < hi - lo; i++) dst[i] += sp[i];
                    } else {
                        for (int ox = lo; ox < hi; ox++) row[ox * s->stride + off] += src[ox];
                    }
                }
            }
    }
}

/* 1x1, stride 1, no padding: the input planes already are the columns, so one GEMM per
 * sample reads them in place (no im2col, no scatter). */
static int is_pointwise(const lv_conv2d_shape *s) {
    return s->kh == 1 && s->kw == 1 && s->stride == 1 && s->pad == 0;
}

static void fill_bias(float *out, const float *bias, int oc, size_t ohw) {
    for (int o = 0; o < oc; o++) {
        float b = bias ? bias[o] : 0.0f;
        for (size_t i = 0; i < ohw; i++) out[(size_t)o * ohw + i] = b;
    }
}

void lv_cpu_conv2d_forward(lv_backend *be, float *out, const float *in, const float *w,
                           const float *bias, const lv_conv2d_shape *s) {
    conv_dims d;
    if (!conv_dims_init(be, s, &d, "conv2d_forward")) return;
    const int oc = s->oc;
    const size_t out_per = (size_t)oc * d.ohw;

    if (is_pointwise(s)) {
        for (int n = 0; n < s->n; n++) {
            float *o = out + (size_t)n * out_per;
            if (bias) fill_bias(o, bias, oc, d.ohw);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, oc, (int)d.ohw, s->c, 1.0f, w,
                        s->c, in + (size_t)n * s->c * d.hw, (int)d.hw, bias ? 1.0f : 0.0f, o,
                        (int)d.ohw);
        }
        return;
    }

    const int chunk = conv_chunk(s, &d);
    float *col = lv_cpu_scratch(be, SLOT_COL, d.k * (size_t)chunk * d.ohw);
    float *mat = lv_cpu_scratch(be, SLOT_MAT, out_per * (size_t)chunk);
    if (!col || !mat) return;
    for (int n0 = 0; n0 < s->n; n0 += chunk) {
        int nb = s->n - n0 < chunk ? s->n - n0 : chunk;
        size_t cols = (size_t)nb * d.ohw;
        im2col(col, in, s, &d, n0, nb);
        /* mat [oc, nb*ohw] = w [oc, k] x col [k, nb*ohw] */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, oc, (int)cols, (int)d.k, 1.0f, w,
                    (int)d.k, col, (int)cols, 0.0f, mat, (int)cols);
        /* [oc, n, ohw] -> out [n, oc, ohw], adding the bias on the way. */
        const long tasks = (long)nb * oc;
#pragma omp parallel for schedule(static) if (tasks * (long)d.ohw >= LV_CONV_PAR_MIN)
        for (long t = 0; t < tasks; t++) {
            int n = (int)(t / oc), o = (int)(t % oc);
            const float *src = mat + (size_t)o * cols + (size_t)n * d.ohw;
            float *dst = out + (size_t)(n0 + n) * out_per + (size_t)o * d.ohw;
            if (bias) {
                float b = bias[o];
                for (size_t i = 0; i < d.ohw; i++) dst[i] = src[i] + b;
            } else {
                memcpy(dst, src, d.ohw * sizeof *dst);
            }
        }
    }
}

/* dbias [oc] += sums of dout over (n, oy, ox), in double so the result does not depend on
 * the batch order or the chunking. */
static void bias_grad(float *dbias, const float *dout, const lv_conv2d_shape *s, size_t ohw) {
    const int oc = s->oc;
#pragma omp parallel for schedule(static) if ((long)s->n * oc * (long)ohw >= LV_CONV_PAR_MIN)
    for (int o = 0; o < oc; o++) {
        double acc = 0.0;
        for (int n = 0; n < s->n; n++) {
            const float *p = dout + ((size_t)n * oc + o) * ohw;
            float part = 0.0f;
            for (size_t i = 0; i < ohw; i++) part += p[i];
            acc += part;
        }
        dbias[o] += (float)acc;
    }
}

static void backward_pointwise(float *din, float *dw, const float *dout, const float *in,
                               const float *w, const lv_conv2d_shape *s, const conv_dims *d) {
    const int oc = s->oc, c = s->c, hw = (int)d->hw;
    for (int n = 0; n < s->n; n++) {
        const float *dn = dout + (size_t)n * oc * d->hw;
        /* dw [oc, c] += dout_n [oc, hw] x in_n^T [hw, c] */
        if (dw)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, oc, c, hw, 1.0f, dn, hw,
                        in + (size_t)n * c * d->hw, hw, 1.0f, dw, c);
        /* din_n [c, hw] += w^T [c, oc] x dout_n [oc, hw] */
        if (din)
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, c, hw, oc, 1.0f, w, c, dn, hw,
                        1.0f, din + (size_t)n * c * d->hw, hw);
    }
}

void lv_cpu_conv2d_backward(lv_backend *be, float *din, float *dw, float *dbias, const float *dout,
                            const float *in, const float *w, const lv_conv2d_shape *s) {
    conv_dims d;
    if (!conv_dims_init(be, s, &d, "conv2d_backward")) return;
    if (dbias) bias_grad(dbias, dout, s, d.ohw);
    if (!din && !dw) return;
    if (is_pointwise(s)) {
        backward_pointwise(din, dw, dout, in, w, s, &d);
        return;
    }

    const int oc = s->oc;
    const int chunk = conv_chunk(s, &d);
    float *col = dw ? lv_cpu_scratch(be, SLOT_COL, d.k * (size_t)chunk * d.ohw) : NULL;
    float *mat = lv_cpu_scratch(be, SLOT_MAT, (size_t)oc * chunk * d.ohw);
    float *dcol = din ? lv_cpu_scratch(be, SLOT_DCOL, d.k * (size_t)chunk * d.ohw) : NULL;
    if ((dw && !col) || !mat || (din && !dcol)) return;
    for (int n0 = 0; n0 < s->n; n0 += chunk) {
        int nb = s->n - n0 < chunk ? s->n - n0 : chunk;
        size_t cols = (size_t)nb * d.ohw;
        /* Gather dout [n, oc, ohw] into mat [oc, n*ohw], the GEMM-friendly layout. */
        const long tasks = (long)nb * oc;
#pragma omp parallel for schedule(static) if (tasks * (long)d.ohw >= LV_CONV_PAR_MIN)
        for (long t = 0; t < tasks; t++) {
            int n = (int)(t / oc), o = (int)(t % oc);
            memcpy(mat + (size_t)o * cols + (size_t)n * d.ohw,
                   dout + ((size_t)(n0 + n) * oc + o) * d.ohw, d.ohw * sizeof *mat);
        }
        if (dw) {
            im2col(col, in, s, &d, n0, nb);
            /* dw [oc, k] += mat [oc, cols] x col^T [cols, k] */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, oc, (int)d.k, (int)cols, 1.0f, mat,
                        (int)cols, col, (int)cols, 1.0f, dw, (int)d.k);
        }
        if (din) {
            /* dcol [k, cols] = w^T [k, oc] x mat [oc, cols], then scattered back onto din. */
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)d.k, (int)cols, oc, 1.0f, w,
                        (int)d.k, mat, (int)cols, 0.0f, dcol, (int)cols);
            col2im_add(din, dcol, s, &d, n0, nb);
        }
    }
}
