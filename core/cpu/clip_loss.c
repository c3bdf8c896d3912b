/* clip_loss: CPU twin of cuda/clip_loss.cu, CLIP's symmetric contrastive loss between paired
 * image and text embeddings (pair i on the diagonal), with gradients to both sides and the
 * logit scale. The column softmax needs the whole [b,b] matrix, so unlike cosine_ce it is
 * not a one-row pass; it must stay exact (double inside) as the reference for the GPU. */
#include <math.h>

#include "cosine_rows.h"
#include "cpu_ops.h"

/* With u_i, v_j the normalised image/text rows, z_ij = s * (u_i . v_j) and s as in cosine_ce:
 *   loss = 1/(2b) * sum_i [lse_j z_ij - z_ii] + 1/(2b) * sum_j [lse_i z_ij - z_jj].
 * Both terms differentiate to one matrix
 *   G_ij = (rowsoftmax_ij - I_ij) / 2b + (colsoftmax_ij - I_ij) / 2b,
 * the image side reading G by rows and the text side by columns: d/du_i = s sum_j G_ij v_j,
 * d/dv_j = s sum_i G_ij u_i, d/ds = sum_ij G_ij cos_ij (times exp(ls) unless clamped,
 * torch.clamp's rule). The normalisation backward is the same as cosine_ce's. */

void lv_cpu_clip_loss(lv_backend *be, float *loss, float *dimg, float *dtxt, float *dscale,
                      const float *img, const float *txt, const float *logit_scale, int b, int d) {
    if (b <= 0 || d <= 0) {
        lv_backend_fail(be, LV_ERR_INPUT, "clip_loss: empty shape b=%d d=%d", b, d);
        return;
    }
    size_t bd = (size_t)b * d, bb = (size_t)b * b;
    /* Scratch as doubles: slot 0 U,V [b,d] each; slot 1 unorm, vnorm, col_lse [b] each and
     * one gradient row [d]; slot 2 cos [b,b]; slot 3 G [b,b]. */
    double *U = (double *)lv_cpu_scratch(be, 0, 2 * 2 * bd);
    double *small = (double *)lv_cpu_scratch(be, 1, 2 * (3 * (size_t)b + (size_t)d));
    double *cosm = (double *)lv_cpu_scratch(be, 2, 2 * bb);
    double *G = (double *)lv_cpu_scratch(be, 3, 2 * bb);
    if (!U || !small || !cosm || !G) return; /* lv_cpu_scratch recorded the error */
    double *V = U + bd, *unorm = small, *vnorm = small + b, *col_lse = small + 2 * b;
    double *drow = small + 3 * b;

    for (int i = 0; i < b; i++) {
        unorm[i] = normalize_row(U + (size_t)i * d, img + (size_t)i * d, d);
        vnorm[i] = normalize_row(V + (size_t)i * d, txt + (size_t)i * d, d);
    }
    float e = expf(*logit_scale);
    int clamped = e > SCALE_MAX;
    double s = clamped ? SCALE_MAX : e;

#pragma omp parallel for schedule(static) if (bb * (size_t)d >= ((size_t)1 << 18))
    for (int i = 0; i < b; i++)
        for (int j = 0; j < b; j++) {
            const double *ui = U + (size_t)i * d, *vj = V + (size_t)j * d;
            double dot = 0.0;
            for (int t = 0; t < d; t++) dot += ui[t] * vj[t];
            cosm[(size_t)i * b + j] = dot;
        }

    /* Column log-sum-exps first (max-subtracted, as the float CUDA twin must), then rows;
     * G is written row by row from both. */
    for (int j = 0; j < b; j++) {
        double mx = -INFINITY, sum = 0.0;
        for (int i = 0; i < b; i++) mx = fmax(mx, s * cosm[(size_t)i * b + j]);
        for (int i = 0; i < b; i++) sum += exp(s * cosm[(size_t)i * b + j] - mx);
        col_lse[j] = mx + log(sum);
    }
    double loss_sum = 0.0, dscale_sum = 0.0, inv2b = 0.5 / b;
    for (int i = 0; i < b; i++) {
        const double *ci = cosm + (size_t)i * b;
        double mx = -INFINITY, sum = 0.0;
        for (int j = 0; j < b; j++) mx = fmax(mx, s * ci[j]);
        for (int j = 0; j < b; j++) sum += exp(s * ci[j] - mx);
        double row_lse = mx + log(sum);
        loss_sum += row_lse + col_lse[i] - 2.0 * s * ci[i];
        double *gi = G + (size_t)i * b;
        for (int j = 0; j < b; j++) {
            double z = s * ci[j], diag = i == j ? 2.0 : 0.0;
            gi[j] = (exp(z - row_lse) + exp(z - col_lse[j]) - diag) * inv2b;
            dscale_sum += gi[j] * ci[j];
        }
    }
    if (loss) loss[0] = (float)(loss_sum * inv2b);
    if (dscale && !clamped) dscale[0] += (float)(dscale_sum * e);

    if (dimg)
        for (int i = 0; i < b; i++) {
            const double *gi = G + (size_t)i * b;
            for (int t = 0; t < d; t++) drow[t] = 0.0;
            for (int j = 0; j < b; j++) {
                double sg = s * gi[j];
                const double *vj = V + (size_t)j * d;
                for (int t = 0; t < d; t++) drow[t] += sg * vj[t];
            }
            normalize_backward_add(dimg + (size_t)i * d, drow, img + (size_t)i * d, unorm[i], d);
        }
    if (dtxt)
        for (int j = 0; j < b; j++) {
            for (int t = 0; t < d; t++) drow[t] = 0.0;
            for (int i = 0; i < b; i++) {
                double sg = s * G[(size_t)i * b + j];
                const double *ui = U + (size_t)i * d;
                for (int t = 0; t < d; t++) drow[t] += sg * ui[t];
            }
            normalize_backward_add(dtxt + (size_t)j * d, drow, txt + (size_t)j * d, vnorm[j], d);
        }
}
