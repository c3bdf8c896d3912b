/* attention: CPU twin of the multi-head self-attention core of HF BertSelfAttention (eager,
 * no dropout): softmax(q k^T / sqrt(hd) + (1 - mask) * finfo(float32).min) v, heads merged.
 * Plain loops with double accumulators, one (batch, head) per OpenMP iteration: the
 * reference the CUDA kernels are checked against, so exactness beats speed here. The
 * projections around it (linear) are not part of this op. */
#include <float.h>
#include <math.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "cpu_ops.h"

static int team_size(void) {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

static int team_rank(void) {
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

static int attn_shape_ok(lv_backend *be, const lv_attn_shape *s, const char *op) {
    if (s->b < 0 || s->t <= 0 || s->nh <= 0 || s->c <= 0 || s->c % s->nh != 0) {
        lv_backend_fail(be, LV_ERR_RUNTIME, "%s: bad shape b=%d t=%d c=%d nh=%d (c must be a multiple of nh)",
                        op, s->b, s->t, s->c, s->nh);
        return 0;
    }
    return 1;
}

/* Probabilities p [t,t] of head h of sequence bi, and its slice of out. */
static void attend_head(float *out, float *p, const float *qkv, const int *mask, int bi, int h,
                        const lv_attn_shape *s) {
    const int t = s->t, c = s->c, hd = c / s->nh;
    const size_t row = 3 * (size_t)c;
    const float *q = qkv + (size_t)bi * t * row + (size_t)h * hd;
    const float *k = q + c, *v = q + 2 * (size_t)c;
    const int *m = mask ? mask + (size_t)bi * t : NULL;
    const double scale = 1.0 / sqrt((double)hd);
    for (int i = 0; i < t; i++) {
        float *pi = p + (size_t)i * t;
        float mx = -INFINITY;
        for (int j = 0; j < t; j++) {
            double dot = 0;
            for (int d = 0; d < hd; d++) dot += (double)q[i * row + d] * k[j * row + d];
            float sc = (float)(dot * scale);
            /* HF adds (1 - mask) * finfo(float32).min in float: for any ordinary score the sum
             * rounds to exactly -FLT_MAX, so padded keys get probability exactly 0 and a fully
             * padded sequence gets a uniform row (not NaN, as -inf would give). */
            if (m && m[j] == 0) sc += -FLT_MAX;
            pi[j] = sc;
            if (sc > mx) mx = sc;
        }
        double sum = 0;
        for (int j = 0; j < t; j++) sum += exp((double)pi[j] - mx);
        double inv = 1.0 / sum;
        for (int j = 0; j < t; j++) pi[j] = (float)(exp((double)pi[j] - mx) * inv);
    }
    for (int i = 0; i < t; i++) {
        const float *pi = p + (size_t)i * t;
        float *o = out + ((size_t)bi * t + i) * c + (size_t)h * hd;
        for (int d = 0; d < hd; d++) {
            double acc = 0;
            for (int j = 0; j < t; j++) acc += (double)pi[j] * v[j * row + d];
            o[d] = (float)acc;
        }
    }
}

/* out [b,t,c]; att [b,nh,t,t] saved for backward (may be NULL for inference, then the
 * probabilities live in per-thread scratch); mask [b,t] (NULL = no padding). */
void lv_cpu_attention_forward(lv_backend *be, float *out, float *att, const float *qkv,
                              const int *mask, const lv_attn_shape *s) {
    if (!attn_shape_ok(be, s, "attention_forward")) return;
    const int nthr = team_size();
    const size_t tt = (size_t)s->t * s->t;
    float *tmp = NULL;
    if (!att) {
        tmp = lv_cpu_scratch(be, 0, (size_t)nthr * tt);
        if (!tmp) return;
    }
    const int jobs = s->b * s->nh;
#pragma omp parallel num_threads(nthr)
    {
#pragma omp for schedule(static)
        for (int job = 0; job < jobs; job++) {
            float *p = att ? att + (size_t)job * tt : tmp + (size_t)team_rank() * tt;
            attend_head(out, p, qkv, mask, job / s->nh, job % s->nh, s);
        }
    }
}

/* Gradients of head h of sequence bi, added into its q, k and v columns of dqkv; ds [t,t]
 * is per-thread scratch. With P = att, dP = dO V^T, dS = P * (dP - rowsum(P * dP)):
 *   dV += P^T dO,   dQ += scale * dS K,   dK += scale * dS^T Q. */
static void attend_head_backward(float *dqkv, float *ds, const float *dout, const float *qkv,
                                 const float *p, int bi, int h, const lv_attn_shape *s) {
    const int t = s->t, c = s->c, hd = c / s->nh;
    const size_t row = 3 * (size_t)c;
    const size_t off = (size_t)bi * t * row + (size_t)h * hd;
    const float *q = qkv + off, *k = q + c, *v = q + 2 * (size_t)c;
    float *dq = dqkv + off, *dk = dq + c, *dv = dq + 2 * (size_t)c;
    const float *dO = dout + (size_t)bi * t * c + (size_t)h * hd;
    const double scale = 1.0 / sqrt((double)hd);

    for (int i = 0; i < t; i++) {
        const float *pi = p + (size_t)i * t;
        float *dsi = ds + (size_t)i * t;
        double rowdot = 0;
        for (int j = 0; j < t; j++) {
            double dp = 0;
            for (int d = 0; d < hd; d++) dp += (double)dO[(size_t)i * c + d] * v[j * row + d];
            dsi[j] = (float)dp;
            rowdot += (double)pi[j] * dp;
        }
        /* The mask term is a constant added to the scores, so it passes dS through unchanged
         * (padded keys have P = 0 and get nothing, as in PyTorch autograd). */
        for (int j = 0; j < t; j++) dsi[j] = (float)(pi[j] * ((double)dsi[j] - rowdot) * scale);
    }
    for (int j = 0; j < t; j++) {
        for (int d = 0; d < hd; d++) {
            double av = 0, ak = 0;
            for (int i = 0; i < t; i++) {
                av += (double)p[(size_t)i * t + j] * dO[(size_t)i * c + d];
                ak += (double)ds[(size_t)i * t + j] * q[i * row + d];
            }
            dv[j * row + d] += (float)av;
            dk[j * row + d] += (float)ak;
        }
    }
    for (int i = 0; i < t; i++) {
        const float *dsi = ds + (size_t)i * t;
        for (int d = 0; d < hd; d++) {
            double aq = 0;
            for (int j = 0; j < t; j++) aq += (double)dsi[j] * k[j * row + d];
            dq[i * row + d] += (float)aq;
        }
    }
}

/* dqkv [b,t,3c] += gradient; reads the probabilities saved by forward, so the mask is only
 * needed there (kept in the signature for twins that recompute). Heads write disjoint
 * columns and sequences disjoint rows, so (batch, head) iterations never race. */
void lv_cpu_attention_backward(lv_backend *be, float *dqkv, const float *dout, const float *qkv,
                               const float *att, const int *mask, const lv_attn_shape *s) {
    (void)mask;
    if (!dqkv) return;
    if (!attn_shape_ok(be, s, "attention_backward")) return;
    const int nthr = team_size();
    const size_t tt = (size_t)s->t * s->t;
    float *ds = lv_cpu_scratch(be, 0, (size_t)nthr * tt);
    if (!ds) return;
    const int jobs = s->b * s->nh;
#pragma omp parallel num_threads(nthr)
    {
#pragma omp for schedule(static)
        for (int job = 0; job < jobs; job++)
            attend_head_backward(dqkv, ds + (size_t)team_rank() * tt, dout, qkv,
                                 att + (size_t)job * tt, job / s->nh, job % s->nh, s);
    }
}
