/* conv2d: CPU twin of cuda/conv2d.cu (cuDNN there), torch.nn.Conv2d semantics (dilation 1,
 * groups 1), as im2col + GEMM. Each OpenMP thread takes whole groups of samples (about
 * LV_CONV_COLS output positions: one sample of an early layer, half the batch of a 2x2 late
 * layer) and runs im2col, one single-threaded GEMM and the scatter on its own cache-resident
 * columns. Must not keep state between calls: the backward recomputes the columns. */
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "cpu_ops.h"
#include "gemm.h"


/* Scratch slots (cpu_backend.h): per-thread columns, per-thread [oc, cols] GEMM results,
 * per-thread weight-gradient partials. */
enum { SLOT_COL = 0, SLOT_MAT = 1, SLOT_DW = 2 };

/* Columns per GEMM: wide enough for an efficient GEMM (and for the late layers' 2x2 maps to
 * batch many samples), small enough that one thread's columns stay in its L2 cache. */
#define LV_CONV_COLS 512

typedef struct conv_plan {
    int oh, ow;
    size_t ohw, hw, k; /* k = c*kh*kw: rows of the column matrix */
    int threads, group, groups; /* OpenMP team, samples per GEMM, number of GEMMs */
} conv_plan;

static int conv_plan_init(lv_backend *be, const lv_conv2d_shape *s, conv_plan *p, const char *op) {
    if (s->n <= 0 || s->c <= 0 || s->h <= 0 || s->w <= 0 || s->oc <= 0 || s->kh <= 0 ||
        s->kw <= 0 || s->stride <= 0 || s->pad < 0 || lv_conv2d_oh(s) <= 0 || lv_conv2d_ow(s) <= 0) {
        lv_backend_fail(be, LV_ERR_RUNTIME,
                        "%s: bad shape n=%d c=%d h=%d w=%d oc=%d k=%dx%d stride=%d pad=%d", op,
                        s->n, s->c, s->h, s->w, s->oc, s->kh, s->kw, s->stride, s->pad);
        return 0;
    }
    p->oh = lv_conv2d_oh(s);
    p->ow = lv_conv2d_ow(s);
    p->ohw = (size_t)p->oh * p->ow;
    p->hw = (size_t)s->h * s->w;
    p->k = (size_t)s->c * s->kh * s->kw;
    p->threads = be->threads > 0 ? be->threads : 1;
    if (p->threads > s->n) p->threads = s->n;
    /* Samples per GEMM: up to LV_CONV_COLS columns, but never so many that a thread idles. */
    size_t g = (LV_CONV_COLS + p->ohw - 1) / p->ohw;
    size_t fair = ((size_t)s->n + p->threads - 1) / p->threads;
    if (g > fair) g = fair;
    if (g < 1) g = 1;
    p->group = (int)g;
    p->groups = (s->n + p->group - 1) / p->group;
    return 1;
}

/* First and one-past-last output column whose input column ox*stride - pad + kx lies in
 * [0, w): outside it the column reads padding (zeros). */
static inline void valid_range(int kx, int pad, int stride, int w, int ow, int *lo, int *hi) {
    int a = pad - kx; /* ox*stride >= a */
    int l = a <= 0 ? 0 : (a + stride - 1) / stride;
    int b = w - 1 + pad - kx; /* ox*stride <= b */
    int h = b < 0 ? 0 : b / stride + 1;
    if (h > ow) h = ow;
    if (l > h) l = h;
    *lo = l;
    *hi = h;
}

/* One column row of a stride-1 "same" conv (output h x w = input h x w): the plane shifted
 * by (dy, dx) = (ky - pad, kx - pad), zero where the shifted position leaves the plane. In
 * row-major order that is one contiguous copy with the wrapped edge columns zeroed after:
 * a few long copies instead of one short copy per output row (8x8 and smaller maps spent
 * more time in per-row call overhead than in moving data). */
static void shift_plane(float *dst, const float *plane, int h, int w, int dy, int dx) {
    const size_t hw = (size_t)h * w;
    int y0 = dy < 0 ? -dy : 0, y1 = dy > 0 ? h - dy : h; /* rows whose source row exists */
    if (y0 >= y1 || dx >= w || -dx >= w) {
        memset(dst, 0, hw * sizeof *dst);
        return;
    }
    /* Positions j in [j0, j1) read plane[j + dy*w + dx]; trimming |dx| at the ends keeps the
     * read inside the plane (the trimmed positions are wrapped columns, zeroed anyway). */
    size_t j0 = (size_t)y0 * w + (dx < 0 ? (size_t)-dx : 0), j1 = (size_t)y1 * w - (dx > 0 ? (size_t)dx : 0);
    memset(dst, 0, j0 * sizeof *dst);
    memcpy(dst + j0, plane + (long)j0 + (long)dy * w + dx, (j1 - j0) * sizeof *dst);
    memset(dst + j1, 0, (hw - j1) * sizeof *dst);
    int c0 = dx < 0 ? -dx : 0, c1 = dx > 0 ? w - dx : w; /* columns with a source column */
    if (c0 == 0 && c1 == w) return;
    for (int y = y0; y < y1; y++) {
        float *r = dst + (size_t)y * w;
        for (int x = 0; x < c0; x++) r[x] = 0.0f;
        for (int x = c1; x < w; x++) r[x] = 0.0f;
    }
}

/* col [k, nb*ohw] (row (c,ky,kx), column (n,oy,ox)) from samples [n0, n0+nb). Plane by
 * plane, so each input plane stays in L1 for its kh*kw rows. */
static void im2col(float *col, const float *in, const lv_conv2d_shape *s, const conv_plan *p,
                   int n0, int nb) {
    const size_t ld = (size_t)nb * p->ohw;
    const int same = s->stride == 1 && p->oh == s->h && p->ow == s->w;
    for (int n = 0; n < nb; n++)
        for (int c = 0; c < s->c; c++) {
            const float *plane = in + ((size_t)(n0 + n) * s->c + c) * p->hw;
            for (int ky = 0; ky < s->kh; ky++)
                for (int kx = 0; kx < s->kw; kx++) {
                    float *dst = col + ((size_t)(c * s->kh + ky) * s->kw + kx) * ld + (size_t)n * p->ohw;
                    if (same) {
                        shift_plane(dst, plane, s->h, s->w, ky - s->pad, kx - s->pad);
                        continue;
                    }
                    int lo, hi, off = kx - s->pad; /* input column = ox*stride + off */
                    valid_range(kx, s->pad, s->stride, s->w, p->ow, &lo, &hi);
                    for (int oy = 0; oy < p->oh; oy++, dst += p->ow) {
                        int iy = oy * s->stride - s->pad + ky;
                        if (iy < 0 || iy >= s->h || lo >= hi) {
                            memset(dst, 0, (size_t)p->ow * sizeof *dst);
                            continue;
                        }
                        const float *row = plane + (size_t)iy * s->w;
                        for (int ox = 0; ox < lo; ox++) dst[ox] = 0.0f;
                        if (s->stride == 1)
                            memcpy(dst + lo, row + (lo + off), (size_t)(hi - lo) * sizeof *dst);
                        else
                            for (int ox = lo; ox < hi; ox++) dst[ox] = row[ox * s->stride + off];
                        for (int ox = hi; ox < p->ow; ox++) dst[ox] = 0.0f;
                    }
                }
        }
}

/* din samples [n0, n0+nb) += col2im(dcol). The caller's thread owns these samples, so
 * overlapping windows never race and the summation order is fixed. */
static void col2im_add(float *din, const float *dcol, const lv_conv2d_shape *s, const conv_plan *p,
                       int n0, int nb) {
    const size_t ld = (size_t)nb * p->ohw;
    for (int n = 0; n < nb; n++)
        for (int c = 0; c < s->c; c++) {
            float *plane = din + ((size_t)(n0 + n) * s->c + c) * p->hw;
            for (int ky = 0; ky < s->kh; ky++)
                for (int kx = 0; kx < s->kw; kx++) {
                    const float *src = dcol + ((size_t)(c * s->kh + ky) * s->kw + kx) * ld + (size_t)n * p->ohw;
                    int lo, hi, off = kx - s->pad;
                    valid_range(kx, s->pad, s->stride, s->w, p->ow, &lo, &hi);
                    for (int oy = 0; oy < p->oh; oy++, src += p->ow) {
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

static int team_rank(void) {
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

static int team_size(void) {
#ifdef _OPENMP
    return omp_get_num_threads();
#else
    return 1;
#endif
}

void lv_cpu_conv2d_forward(lv_backend *be, float *out, const float *in, const float *w,
                           const float *bias, const lv_conv2d_shape *s) {
    conv_plan p;
    if (!conv_plan_init(be, s, &p, "conv2d_forward")) return;
    const int oc = s->oc;
    const size_t cols = (size_t)p.group * p.ohw;
    float *colbuf = lv_cpu_scratch(be, SLOT_COL, (size_t)p.threads * p.k * cols);
    float *matbuf = lv_cpu_scratch(be, SLOT_MAT, (size_t)p.threads * oc * cols);
    if (!colbuf || !matbuf) return;
    int saved = lv_cpu_gemm_team_begin();
    /* Per group: im2col into the thread's columns, one GEMM, then [oc, n, ohw] -> out
     * [n, oc, ohw] with the bias. Threads share only w. */
#pragma omp parallel for schedule(static) num_threads(p.threads)
    for (int gi = 0; gi < p.groups; gi++) {
        int t = team_rank(), n0 = gi * p.group;
        int nb = s->n - n0 < p.group ? s->n - n0 : p.group;
        size_t nc = (size_t)nb * p.ohw;
        float *col = colbuf + (size_t)t * p.k * cols, *mat = matbuf + (size_t)t * oc * cols;
        im2col(col, in, s, &p, n0, nb);
        lv_cpu_sgemm(be, 0, 0, oc, (int)nc, (int)p.k, 1.0f, w, (int)p.k, col, (int)nc, 0.0f, mat, (int)nc);
        for (int n = 0; n < nb; n++)
            for (int o = 0; o < oc; o++) {
                const float *src = mat + (size_t)o * nc + (size_t)n * p.ohw;
                float *dst = out + ((size_t)(n0 + n) * oc + o) * p.ohw;
                float b = bias ? bias[o] : 0.0f;
                for (size_t i = 0; i < p.ohw; i++) dst[i] = src[i] + b;
            }
    }
    lv_cpu_gemm_team_end(saved);
}

/* dbias [oc] += sums of dout over (n, oy, ox), in double so the result does not depend on
 * the batch order or the team size. */
static void bias_grad(float *dbias, const float *dout, const lv_conv2d_shape *s, const conv_plan *p) {
    const int oc = s->oc;
#pragma omp parallel for schedule(static) num_threads(p->threads) if ((long)s->n * oc * (long)p->ohw >= (1L << 15))
    for (int o = 0; o < oc; o++) {
        double acc = 0.0;
        for (int n = 0; n < s->n; n++) {
            const float *q = dout + ((size_t)n * oc + o) * p->ohw;
            float part = 0.0f;
            for (size_t i = 0; i < p->ohw; i++) part += q[i];
            acc += part;
        }
        dbias[o] += (float)acc;
    }
}

void lv_cpu_conv2d_backward(lv_backend *be, float *din, float *dw, float *dbias, const float *dout,
                            const float *in, const float *w, const lv_conv2d_shape *s) {
    conv_plan p;
    if (!conv_plan_init(be, s, &p, "conv2d_backward")) return;
    if (dbias) bias_grad(dbias, dout, s, &p);
    if (!din && !dw) return;
    const int oc = s->oc;
    const size_t cols = (size_t)p.group * p.ohw, wlen = (size_t)oc * p.k;
    float *colbuf = lv_cpu_scratch(be, SLOT_COL, (size_t)p.threads * p.k * cols);
    float *matbuf = lv_cpu_scratch(be, SLOT_MAT, (size_t)p.threads * oc * cols);
    /* Thread 0 adds straight into dw; the others into partials summed at the end, in thread
     * order, so dw is reproducible for a given thread count. */
    float *dwpart = dw && p.threads > 1 ? lv_cpu_scratch(be, SLOT_DW, (size_t)(p.threads - 1) * wlen) : NULL;
    if (!colbuf || !matbuf || (dw && p.threads > 1 && !dwpart)) return;
    int saved = lv_cpu_gemm_team_begin();
#pragma omp parallel num_threads(p.threads)
    {
        int t = team_rank();
        float *col = colbuf + (size_t)t * p.k * cols, *mat = matbuf + (size_t)t * oc * cols;
        float *mydw = dw && t > 0 ? dwpart + (size_t)(t - 1) * wlen : dw;
        if (dw && t > 0) memset(mydw, 0, wlen * sizeof *mydw);
#pragma omp for schedule(static)
        for (int gi = 0; gi < p.groups; gi++) {
            int n0 = gi * p.group;
            int nb = s->n - n0 < p.group ? s->n - n0 : p.group;
            size_t nc = (size_t)nb * p.ohw;
            /* dout [n, oc, ohw] -> mat [oc, n*ohw], the GEMM-friendly layout. */
            for (int n = 0; n < nb; n++)
                for (int o = 0; o < oc; o++)
                    memcpy(mat + (size_t)o * nc + (size_t)n * p.ohw,
                           dout + ((size_t)(n0 + n) * oc + o) * p.ohw, p.ohw * sizeof *mat);
            if (dw) {
                im2col(col, in, s, &p, n0, nb);
                /* dw [oc, k] += mat [oc, nc] x col^T [nc, k] */
                lv_cpu_sgemm(be, 0, 1, oc, (int)p.k, (int)nc, 1.0f, mat, (int)nc, col, (int)nc, 1.0f, mydw, (int)p.k);
            }
            if (din) {
                /* dcol [k, nc] = w^T [k, oc] x mat [oc, nc], into the columns just used. */
                lv_cpu_sgemm(be, 1, 0, (int)p.k, (int)nc, oc, 1.0f, w, (int)p.k, mat, (int)nc, 0.0f, col, (int)nc);
                col2im_add(din, col, s, &p, n0, nb);
            }
        }
        /* The loop's implicit barrier has passed: every partial is complete. The team may be
         * smaller than asked for (OMP_DYNAMIC), so only its members' partials count. */
        int members = team_size();
        if (dw && members > 1) {
#pragma omp for schedule(static)
            for (size_t i = 0; i < wlen; i++) {
                float acc = dw[i];
                for (int u = 0; u < members - 1; u++) acc += dwpart[(size_t)u * wlen + i];
                dw[i] = acc;
            }
        }
    }
    lv_cpu_gemm_team_end(saved);
}
