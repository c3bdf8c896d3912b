/* sgd: CUDA twin of core/cpu/sgd.c, one torch.optim.SGD step (single-tensor path) over a flat
 * range: weight decay, momentum with dampening, Nesterov, PyTorch's first-step buffer copy.
 * Same float operations in the same order as the CPU twin, explicitly rounded so nvcc cannot
 * fuse them into FMAs: the twins agree bit for bit. momentum_buf may be NULL only when
 * momentum is 0. */
#include "cuda/cuda_backend.h"

#define SGD_THREADS 256

typedef struct sgd_scalars {
    float wd, mom, neg_lr, keep;
    int use_momentum, first, nesterov;
} sgd_scalars;

/* d = g + wd*p; buf = first ? d : buf*mom + keep*d; d = nesterov ? d + mom*buf : buf;
 * p += neg_lr*d (torch 1.13 _single_tensor_sgd, see the CPU twin). */
static __global__ void sgd_kernel(float *param, const float *grad, float *momentum_buf, size_t n,
                                  sgd_scalars k) {
    const size_t stride = (size_t)gridDim.x * blockDim.x;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
        float p = param[i];
        float d = grad[i];
        if (k.wd != 0.0f) d = __fadd_rn(d, __fmul_rn(k.wd, p));
        if (k.use_momentum) {
            float buf = k.first ? d : __fadd_rn(__fmul_rn(momentum_buf[i], k.mom), __fmul_rn(k.keep, d));
            momentum_buf[i] = buf;
            d = k.nesterov ? __fadd_rn(d, __fmul_rn(k.mom, buf)) : buf;
        }
        param[i] = __fadd_rn(p, __fmul_rn(k.neg_lr, d));
    }
}

extern "C" void lv_cuda_sgd_update(lv_backend *be, float *param, const float *grad,
                                   float *momentum_buf, size_t n, const lv_sgd_hparams *h) {
    sgd_scalars k;
    k.use_momentum = h->momentum != 0.0f;
    if (k.use_momentum && !momentum_buf) {
        lv_backend_fail(be, LV_ERR_RUNTIME, "sgd: momentum %g needs a momentum buffer",
                        (double)h->momentum);
        return;
    }
    if (n == 0) return;
    k.wd = h->weight_decay;
    k.mom = h->momentum;
    k.neg_lr = -h->lr;
    k.keep = (float)(1.0 - (double)h->dampening); /* a Python double rounded to float, as torch */
    k.first = h->first_step != 0;
    k.nesterov = h->nesterov != 0;
    LV_LAUNCH(lv_cuda_blocks(be, n, SGD_THREADS), SGD_THREADS, 0, lv_cuda_stream(be), sgd_kernel)(
        param, grad, momentum_buf, n, k);
    LV_CUDA_LAUNCH_CHECK(be, "sgd_update");
}
