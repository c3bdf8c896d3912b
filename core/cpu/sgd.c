/* sgd: CPU twin of cuda/sgd.cu, one torch.optim.SGD step (single-tensor path) over a flat
 * range: weight decay, momentum with dampening, Nesterov. Mirrors PyTorch's order of float
 * operations; momentum_buf may be NULL only when momentum is 0. */
#include "cpu_ops.h"

#define SGD_OMP_MIN ((size_t)1 << 15)

/* torch 1.13 _single_tensor_sgd:
 *   d_p = grad.add(param, alpha=wd)                      (if wd != 0)
 *   buf = clone(d_p) on the first step, else buf.mul_(momentum).add_(d_p, alpha=1-dampening)
 *   d_p = d_p.add(buf, alpha=momentum) if nesterov else buf
 *   param.add_(d_p, alpha=-lr)
 * The first step copies d_p without dampening: PyTorch's rule, kept so resumed and fresh
 * runs agree with it. 1 - dampening is a Python double rounded to float, as here. */
void lv_cpu_sgd_update(lv_backend *be, float *param, const float *grad, float *momentum_buf,
                       size_t n, const lv_sgd_hparams *h) {
    int use_momentum = h->momentum != 0.0f;
    if (use_momentum && !momentum_buf) {
        lv_backend_fail(be, LV_ERR_RUNTIME, "sgd: momentum %g needs a momentum buffer",
                        (double)h->momentum);
        return;
    }
    float wd = h->weight_decay, mom = h->momentum, neg_lr = -h->lr;
    float keep = (float)(1.0 - (double)h->dampening);
    int first = h->first_step, nesterov = h->nesterov;
#pragma omp parallel for schedule(static) if (n >= SGD_OMP_MIN)
    for (size_t i = 0; i < n; i++) {
        float d = grad[i];
        if (wd != 0.0f) d = d + wd * param[i];
        if (use_momentum) {
            float buf = first ? d : momentum_buf[i] * mom;
            if (!first) buf = buf + keep * d;
            momentum_buf[i] = buf;
            d = nesterov ? d + mom * buf : buf;
        }
        param[i] = param[i] + neg_lr * d;
    }
}
