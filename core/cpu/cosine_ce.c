/* cosine_ce: CPU twin of cuda/cosine_ce.cu, the Liver-VLM head: cosine-similarity logits
 * against class embeddings plus cross-entropy, loss and every gradient in ONE pass over the
 * rows. Must never hold more than one row of probabilities, and must not trust the labels. */
#include <math.h>

#include "cosine_rows.h"
#include "cpu_ops.h"

/* The math, and why it is laid out this way.
 *
 * With u_i = x_i / max(|x_i|, eps) and w_j = c_j / max(|c_j|, eps) (F.normalize),
 * s = min(exp(ls), 100), z_ij = s * (u_i . w_j) and y_i the label,
 *   loss = 1/b * sum_i [ lse_j(z_ij) - z_i,y_i ].
 * The log-sum-exp subtracts the row maximum first: |z| <= 100 is harmless in double, but the
 * CUDA twin runs in float where exp(100) overflows, and both twins should read alike.
 *
 * d loss / d z_ij = g_ij = (softmax_j(z_i) - [j == y_i]) / b. Everything else follows from
 * g by the chain rule, so a row's softmax is needed only while that row is being visited:
 *   d/du_i = s * sum_j g_ij w_j        (finished within the row -> dimg row i)
 *   d/dw_j = s * sum_i g_ij u_i        (summed over rows -> the only cross-row state)
 *   d/ds   = sum_ij g_ij (u_i . w_j)
 * Rows run serially: parallel rows would race on d/dw (the race llm.c's fused classifier
 * avoids by giving each row its own dlogits slot); b*c*d is small next to the encoders.
 *
 * s = clamp(exp(ls), max=100): torch.clamp passes the gradient where exp(ls) <= 100 and
 * exp's backward multiplies by exp(ls), so d/dls = exp(ls) * d/ds there and 0 above.
 *
 * Through the normalisation: u = x / n with n = |x| >= eps gives
 *   dx = du / n - x (du . x) / n^3,
 * the radial part removed because rescaling x leaves u unchanged. Below eps the
 * denominator is the constant eps (clamp_min cuts the path through n): dx = du / eps.
 * Internally everything is double; the outputs round once, like the other CPU reference
 * ops, so the CUDA twin can be judged against the exact answer. */

void lv_cpu_cosine_ce(lv_backend *be, float *loss, float *logits, float *dimg, float *dcls,
                      float *dscale, const float *img, const float *cls, const float *logit_scale,
                      const int *labels, int b, int c, int d) {
    if (b <= 0 || c <= 0 || d <= 0) {
        lv_backend_fail(be, LV_ERR_INPUT, "cosine_ce: empty shape b=%d c=%d d=%d", b, c, d);
        return;
    }
    int want_grad = dimg || dcls || dscale;
    if (!labels && (loss || want_grad)) {
        lv_backend_fail(be, LV_ERR_RUNTIME, "cosine_ce: the loss and gradients need labels");
        return;
    }
    /* Validate every label before touching any output, so a bad batch leaves no half-added
     * gradients behind. */
    for (int i = 0; labels && i < b; i++)
        if (labels[i] < 0 || labels[i] >= c) {
            lv_backend_fail(be, LV_ERR_INPUT, "cosine_ce: label %d at row %d outside [0,%d)",
                            labels[i], i, c);
            return;
        }

    /* Scratch (as doubles; the slots are float-typed, 64-byte aligned):
     *   slot 0: w [c,d] normalised classes, then cnorm [c]
     *   slot 1: dw [c,d] gradient w.r.t. w (only with dcls)
     *   slot 2: one row: u [d], du [d], cos [c]  */
    size_t cd = (size_t)c * d;
    double *w = (double *)lv_cpu_scratch(be, 0, 2 * (cd + (size_t)c));
    double *dw = dcls ? (double *)lv_cpu_scratch(be, 1, 2 * cd) : NULL;
    double *u = (double *)lv_cpu_scratch(be, 2, 2 * (2 * (size_t)d + (size_t)c));
    if (!w || !u || (dcls && !dw)) return; /* lv_cpu_scratch recorded the error */
    double *cnorm = w + cd, *du = u + d, *cosv = du + d;

    for (int j = 0; j < c; j++) cnorm[j] = normalize_row(w + (size_t)j * d, cls + (size_t)j * d, d);
    if (dw)
        for (size_t k = 0; k < cd; k++) dw[k] = 0.0;

    /* torch computes exp in float, then clamps: the same rounding and the same NaN rule. */
    float e = expf(*logit_scale);
    int clamped = e > SCALE_MAX;
    double s = clamped ? SCALE_MAX : e;
    double loss_sum = 0.0, dscale_sum = 0.0;

    for (int i = 0; i < b; i++) {
        const float *x = img + (size_t)i * d;
        double xn = normalize_row(u, x, d);
        double zmax = -INFINITY;
        for (int j = 0; j < c; j++) {
            const double *wj = w + (size_t)j * d;
            double dot = 0.0;
            for (int t = 0; t < d; t++) dot += u[t] * wj[t];
            cosv[j] = dot;
            double z = s * dot;
            if (logits) logits[(size_t)i * c + j] = (float)z;
            if (z > zmax) zmax = z;
        }
        if (!labels) continue;
        int y = labels[i];
        double sum = 0.0;
        for (int j = 0; j < c; j++) sum += exp(s * cosv[j] - zmax);
        double lse = zmax + log(sum);
        loss_sum += lse - s * cosv[y];
        if (!want_grad) continue;

        if (dimg)
            for (int t = 0; t < d; t++) du[t] = 0.0;
        for (int j = 0; j < c; j++) {
            double g = (exp(s * cosv[j] - lse) - (j == y ? 1.0 : 0.0)) / b;
            dscale_sum += g * cosv[j];
            double sg = s * g;
            const double *wj = w + (size_t)j * d;
            if (dimg)
                for (int t = 0; t < d; t++) du[t] += sg * wj[t];
            if (dw) {
                double *dwj = dw + (size_t)j * d;
                for (int t = 0; t < d; t++) dwj[t] += sg * u[t];
            }
        }
        if (dimg) normalize_backward_add(dimg + (size_t)i * d, du, x, xn, d);
    }

    if (loss) loss[0] = (float)(loss_sum / b);
    if (dscale && !clamped) dscale[0] += (float)(dscale_sum * e);
    if (dcls)
        for (int j = 0; j < c; j++)
            normalize_backward_add(dcls + (size_t)j * d, dw + (size_t)j * d, cls + (size_t)j * d,
                                   cnorm[j], d);
}
