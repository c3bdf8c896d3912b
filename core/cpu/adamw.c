/* adamw: CPU twin of cuda/adamw.cu, one torch.optim.AdamW step (single-tensor path,
 * amsgrad off) over a flat range. Mirrors PyTorch's operation order and its float/double
 * split exactly; must not "simplify" the algebra, or trajectories drift from the reference. */
#include <math.h>

#include "cpu_ops.h"

#define ADAMW_OMP_MIN ((size_t)1 << 15)

/* torch 1.13 _single_tensor_adamw, element by element:
 *   param.mul_(1 - lr*wd)
 *   exp_avg.mul_(beta1).add_(grad, alpha=1-beta1)
 *   exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1-beta2)
 *   denom = (exp_avg_sq.sqrt() / sqrt(bc2)).add_(eps)
 *   param.addcdiv_(exp_avg, denom, value=-lr/bc1)
 * The scalars (1 - lr*wd, 1 - beta, bias corrections, step size) are Python doubles there,
 * rounded to float only when they meet a float tensor, so they are computed in double here
 * and rounded at the same points. addcmul/addcdiv evaluate value*t1*t2 and value*t1/t2 left
 * to right. (torch >= 2.0 writes the first moment as exp_avg.lerp_(grad, 1-beta1); the two
 * differ by at most an ulp per step. The fixtures come from 1.13, so we follow 1.13.) */
void lv_cpu_adamw_update(lv_backend *be, float *param, const float *grad, float *m, float *v,
                         size_t n, const lv_adamw_hparams *h) {
    if (h->step < 1) {
        lv_backend_fail(be, LV_ERR_INPUT, "adamw: step %d, expected >= 1 (bias correction)",
                        h->step);
        return;
    }
    double lr = h->lr, b1 = h->beta1, b2 = h->beta2, wd = h->weight_decay;
    float decay = (float)(1.0 - lr * wd);
    float beta1 = (float)b1, one_m_b1 = (float)(1.0 - b1);
    float beta2 = (float)b2, one_m_b2 = (float)(1.0 - b2);
    double bc1 = 1.0 - pow(b1, (double)h->step);
    double bc2 = 1.0 - pow(b2, (double)h->step);
    float neg_step = (float)(-(lr / bc1));
    float bc2_sqrt = (float)sqrt(bc2);
    float eps = h->eps;
#pragma omp parallel for schedule(static) if (n >= ADAMW_OMP_MIN)
    for (size_t i = 0; i < n; i++) {
        float g = grad[i];
        float p = param[i] * decay;
        float mi = m[i] * beta1;
        mi = mi + one_m_b1 * g;
        float vi = v[i] * beta2;
        vi = vi + one_m_b2 * g * g;
        float denom = sqrtf(vi) / bc2_sqrt + eps;
        param[i] = p + neg_step * mi / denom;
        m[i] = mi;
        v[i] = vi;
    }
}
