/* cosine_ce: CUDA twin of core/cpu/cosine_ce.c, the Liver-VLM head: cosine-similarity logits
 * against class embeddings plus cross-entropy, loss and every gradient in one row kernel and
 * a small finishing kernel. No float atomics (runs stay bit-reproducible), and no softmax is
 * kept beyond the [b,c] logit gradient that dcls needs. */
#include <math.h>

#include "cuda/cuda_backend.h"
#include "cuda/reduce.cuh"

#define COSINE_EPS 1e-12f   /* F.normalize's default eps, as core/cpu/cosine_rows.h */
#define SCALE_MAX 100.0f    /* CLIP's clamp on exp(logit_scale) */
#define COS_THREADS 256     /* 8 warps: a warp per class for the dots */
#define COS_MAX_CLASSES 1024 /* three doubles per class of shared memory: 24 KiB */

/* The math is the CPU twin's (see its comment); here is how it is split.
 *
 * cosine_ce_rows, one block per image row i, everything in double as the CPU:
 *   |x_i|, then a warp per class j computes x_i . c_j and |c_j| together, giving
 *   cos_ij = x_i . c_j / (max(|x_i|,eps) max(|c_j|,eps)); warp 0 does the row's softmax
 *   (c is small) and g_ij = (softmax - onehot) / b; the row's dimg is finished in the block.
 *   Per-row results go to the workspace: loss_i, dscale_i = sum_j g_ij cos_ij and, for dcls,
 *   gs_ij = s g_ij / max(|x_i|,eps) ([b,c], the only cross-row state).
 * cosine_ce_finish: block 0 sums loss_i and dscale_i in a fixed tree (the mean and d/dls);
 *   block j (with dcls) forms dw_j = sum_i gs_ij x_i in row order and runs the normalisation
 *   backward for class j. Rows never write to shared gradient memory, so nothing races
 *   and nothing needs a float atomic.
 *
 * Labels: the CPU twin reports a label outside [0,c) as a sticky error before touching any
 * output. A kernel cannot raise that without a host sync, so every block checks all b
 * labels first (b ints, cheap next to c*d) and, if one is bad, writes nothing at all except
 * a NaN loss: the trainer already skips a step whose loss is not finite. The data layer
 * validates labels when a dataset is loaded (data/split.c, data/h5_writer.c). */

/* 1 in every thread when some label lies outside [0,c). */
static __device__ int any_bad_label(const int *labels, int b, int c) {
    int bad = 0;
    if (labels)
        for (int k = threadIdx.x; k < b; k += blockDim.x) bad |= labels[k] < 0 || labels[k] >= c;
    return __syncthreads_or(bad);
}

/* exp in double rounded once to float: the CPU's expf is (nearly) correctly rounded, so
 * this keeps the two twins' scale equal where CUDA's expf could differ by an ulp or two. */
static __device__ float scale_exp(const float *logit_scale) { return (float)exp((double)logit_scale[0]); }

static __global__ void cosine_ce_rows(float *logits, double *row_loss, double *row_dscale,
                                      double *gs, float *dimg, double *du_ws, const float *img,
                                      const float *cls, const float *logit_scale,
                                      const int *labels, int b, int c, int d) {
    LV_DYNAMIC_SHARED(double, sh); /* cos [c], class denominators [c], du coefficients [c] */
    __shared__ double red[32];
    double *s_cos = sh, *s_cden = sh + c, *s_coef = sh + 2 * c;
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, nwarps = blockDim.x >> 5;
    const int i = blockIdx.x;
    if (any_bad_label(labels, b, c)) return; /* the finishing kernel writes the NaN loss */

    const float *x = img + (size_t)i * d;
    double ss = 0.0;
    for (int t = tid; t < d; t += blockDim.x) ss += (double)x[t] * x[t];
    ss = lv_block_sum(ss, red);
    const double xn = sqrt(ss);
    /* A comparison, not fmax: a NaN norm stays NaN, as torch's clamp_min. */
    const double den = xn < (double)COSINE_EPS ? (double)COSINE_EPS : xn;

    for (int j = warp; j < c; j += nwarps) {
        const float *cj = cls + (size_t)j * d;
        double dot = 0.0, cc = 0.0;
        for (int t = lane; t < d; t += 32) {
            double v = cj[t];
            dot += (double)x[t] * v;
            cc += v * v;
        }
        dot = lv_warp_sum(dot);
        cc = lv_warp_sum(cc);
        if (lane == 0) {
            double cn = sqrt(cc);
            double cden = cn < (double)COSINE_EPS ? (double)COSINE_EPS : cn;
            s_cden[j] = cden;
            s_cos[j] = dot / (den * cden);
        }
    }
    __syncthreads();

    /* torch computes exp in float, then clamps: the same rounding and the same NaN rule. */
    const float e = scale_exp(logit_scale);
    const double s = e > SCALE_MAX ? (double)SCALE_MAX : (double)e;
    if (logits)
        for (int j = tid; j < c; j += blockDim.x) logits[(size_t)i * c + j] = (float)(s * s_cos[j]);
    if (!labels) return;

    if (warp == 0) {
        const int y = labels[i];
        /* Max first: exp(100) overflows in float, and the twins should read alike. */
        double zmax = -INFINITY;
        for (int j = lane; j < c; j += 32) zmax = fmax(zmax, s * s_cos[j]);
        zmax = lv_warp_max(zmax);
        double se = 0.0;
        for (int j = lane; j < c; j += 32) se += exp(s * s_cos[j] - zmax);
        const double lse = zmax + log(lv_warp_sum(se));
        double dsc = 0.0;
        for (int j = lane; j < c; j += 32) {
            double g = (exp(s * s_cos[j] - lse) - (j == y ? 1.0 : 0.0)) / b;
            double sg = s * g;
            dsc += g * s_cos[j];
            s_coef[j] = sg / s_cden[j];
            if (gs) gs[(size_t)i * c + j] = sg / den;
        }
        dsc = lv_warp_sum(dsc);
        if (lane == 0) {
            row_loss[i] = lse - s * s_cos[y];
            row_dscale[i] = dsc;
        }
    }
    if (!dimg) return;
    __syncthreads(); /* s_coef from warp 0 */

    /* du = s sum_j g_ij w_j, then through the normalisation: dx = du/den - x (du.x)/(den^2 n),
     * the radial part cut while the clamp is active (clamp_min's backward). Each thread
     * reads back only the du entries it wrote itself. */
    double *du = du_ws + (size_t)i * d;
    double dot = 0.0;
    for (int t = tid; t < d; t += blockDim.x) {
        double acc = 0.0;
        for (int j = 0; j < c; j++) acc += s_coef[j] * (double)cls[(size_t)j * d + t];
        du[t] = acc;
        dot += acc * (double)x[t];
    }
    dot = lv_block_sum(dot, red);
    const double k = (xn >= (double)COSINE_EPS && xn > 0.0) ? dot / (den * den * xn) : 0.0;
    float *dx = dimg + (size_t)i * d;
    for (int t = tid; t < d; t += blockDim.x) dx[t] += (float)(du[t] / den - k * (double)x[t]);
}

/* Block 0: the batch mean of the loss and d/dls. Blocks 0..c-1 (only with dcls): dcls. */
static __global__ void cosine_ce_finish(float *loss, float *dscale, float *dcls, double *dw_ws,
                                        const double *row_loss, const double *row_dscale,
                                        const double *gs, const float *img, const float *cls,
                                        const float *logit_scale, const int *labels, int b, int c,
                                        int d) {
    __shared__ double red[32];
    const int tid = threadIdx.x;
    if (any_bad_label(labels, b, c)) {
        if (blockIdx.x == 0 && tid == 0 && loss) loss[0] = NAN;
        return;
    }
    if (blockIdx.x == 0) {
        double ls = 0.0, ds = 0.0;
        for (int k = tid; k < b; k += blockDim.x) {
            ls += row_loss[k];
            ds += row_dscale[k];
        }
        ls = lv_block_sum(ls, red);
        ds = lv_block_sum(ds, red);
        if (tid == 0) {
            if (loss) loss[0] = (float)(ls / b);
            /* clamp's backward passes the gradient only where exp(ls) <= 100; exp's
             * multiplies it by exp(ls). */
            const float e = scale_exp(logit_scale);
            if (dscale && !(e > SCALE_MAX)) dscale[0] += (float)(ds * e);
        }
    }
    if (!dcls) return;

    for (int j = blockIdx.x; j < c; j += gridDim.x) {
        const float *cj = cls + (size_t)j * d;
        double cc = 0.0;
        for (int t = tid; t < d; t += blockDim.x) cc += (double)cj[t] * cj[t];
        cc = lv_block_sum(cc, red);
        const double cn = sqrt(cc);
        const double cden = cn < (double)COSINE_EPS ? (double)COSINE_EPS : cn;
        double *dw = dw_ws + (size_t)j * d;
        double dot = 0.0;
        for (int t = tid; t < d; t += blockDim.x) {
            double acc = 0.0;
            for (int r = 0; r < b; r++) acc += gs[(size_t)r * c + j] * (double)img[(size_t)r * d + t];
            dw[t] = acc;
            dot += acc * (double)cj[t];
        }
        dot = lv_block_sum(dot, red);
        const double k = (cn >= (double)COSINE_EPS && cn > 0.0) ? dot / (cden * cden * cn) : 0.0;
        float *dc = dcls + (size_t)j * d;
        for (int t = tid; t < d; t += blockDim.x) dc[t] += (float)(dw[t] / cden - k * (double)cj[t]);
    }
}

extern "C" void lv_cuda_cosine_ce(lv_backend *be, float *loss, float *logits, float *dimg,
                                  float *dcls, float *dscale, const float *img, const float *cls,
                                  const float *logit_scale, const int *labels, int b, int c, int d) {
    if (b <= 0 || c <= 0 || d <= 0) {
        lv_backend_fail(be, LV_ERR_INPUT, "cosine_ce: empty shape b=%d c=%d d=%d", b, c, d);
        return;
    }
    const int want_grad = dimg || dcls || dscale;
    if (!labels && (loss || want_grad)) {
        lv_backend_fail(be, LV_ERR_RUNTIME, "cosine_ce: the loss and gradients need labels");
        return;
    }
    if (c > COS_MAX_CLASSES) {
        lv_backend_fail(be, LV_ERR_INPUT, "cosine_ce: %d classes, the CUDA kernel takes at most %d",
                        c, COS_MAX_CLASSES);
        return;
    }
    if (!logits && !loss && !want_grad) return;

    /* Workspace (doubles): loss_i, dscale_i [b] each; gs [b,c] and dw [c,d] with dcls;
     * du [b,d] with dimg. */
    const size_t nb = (size_t)b, cd = (size_t)c * d;
    const size_t n_rows = labels ? 2 * nb : 0;
    const size_t n_gs = dcls ? nb * c : 0, n_dw = dcls ? cd : 0, n_du = dimg ? nb * d : 0;
    const size_t total = n_rows + n_gs + n_dw + n_du;
    double *ws = NULL;
    if (total) {
        ws = (double *)lv_cuda_workspace(be, total * sizeof(double));
        if (!ws) return; /* lv_cuda_workspace recorded the error */
    }
    double *row_loss = labels ? ws : NULL;
    double *row_dscale = labels ? ws + nb : NULL;
    double *gs = dcls ? ws + n_rows : NULL;
    double *dw = dcls ? ws + n_rows + n_gs : NULL;
    double *du = dimg ? ws + n_rows + n_gs + n_dw : NULL;

    cudaStream_t stream = lv_cuda_stream(be);
    const size_t smem = 3 * (size_t)c * sizeof(double);
    LV_LAUNCH((unsigned)b, COS_THREADS, smem, stream, cosine_ce_rows)(logits, row_loss, row_dscale, gs,
                                                               dimg, du, img, cls, logit_scale,
                                                               labels, b, c, d);
    LV_CUDA_LAUNCH_CHECK(be, "cosine_ce rows");
    if (loss || dscale || dcls) {
        LV_LAUNCH(dcls ? (unsigned)c : 1u, COS_THREADS, 0, stream, cosine_ce_finish)(
            loss, dscale, dcls, dw, row_loss, row_dscale, gs, img, cls, logit_scale, labels, b, c, d);
        LV_CUDA_LAUNCH_CHECK(be, "cosine_ce finish");
    }
}
