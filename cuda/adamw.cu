/* adamw: CUDA twin of core/cpu/adamw.c, one torch.optim.AdamW step (single-tensor path,
 * amsgrad off) over a flat range. Same float operations in the same order as the CPU twin,
 * with explicitly rounded intrinsics so nvcc cannot fuse them into FMAs: the two twins then
 * agree bit for bit, and trajectories do not drift. Do not "simplify" the algebra. */
#include <math.h>

#include "cuda/cuda_backend.h"

#define ADAMW_THREADS 256

/* The scalars, rounded to float at the points torch 1.13 rounds them (see the CPU twin). */
typedef struct adamw_scalars {
    float decay, beta1, one_m_b1, beta2, one_m_b2, neg_step, bc2_sqrt, eps;
} adamw_scalars;

/* Element by element, as the CPU: p*decay; m = m*b1 + (1-b1)*g; v = v*b2 + ((1-b2)*g)*g;
 * denom = sqrt(v)/sqrt(bc2) + eps; p += (neg_step*m)/denom. */
static __global__ void adamw_kernel(float *param, const float *grad, float *m, float *v, size_t n,
                                    adamw_scalars k) {
    const size_t stride = (size_t)gridDim.x * blockDim.x;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
        float g = grad[i];
        float p = __fmul_rn(param[i], k.decay);
        float mi = __fadd_rn(__fmul_rn(m[i], k.beta1), __fmul_rn(k.one_m_b1, g));
        float vi = __fadd_rn(__fmul_rn(v[i], k.beta2), __fmul_rn(__fmul_rn(k.one_m_b2, g), g));
        float denom = __fadd_rn(__fdiv_rn(__fsqrt_rn(vi), k.bc2_sqrt), k.eps);
        param[i] = __fadd_rn(p, __fdiv_rn(__fmul_rn(k.neg_step, mi), denom));
        m[i] = mi;
        v[i] = vi;
    }
}

extern "C" void lv_cuda_adamw_update(lv_backend *be, float *param, const float *grad, float *m,
                                     float *v, size_t n, const lv_adamw_hparams *h) {
    if (h->step < 1) {
        lv_backend_fail(be, LV_ERR_INPUT, "adamw: step %d, expected >= 1 (bias correction)", h->step);
        return;
    }
    if (n == 0) return;
    /* Host-side scalars exactly as the CPU twin computes them (doubles, rounded once). */
    double lr = h->lr, b1 = h->beta1, b2 = h->beta2, wd = h->weight_decay;
    double bc1 = 1.0 - pow(b1, (double)h->step);
    double bc2 = 1.0 - pow(b2, (double)h->step);
    adamw_scalars k;
    k.decay = (float)(1.0 - lr * wd);
    k.beta1 = (float)b1;
    k.one_m_b1 = (float)(1.0 - b1);
    k.beta2 = (float)b2;
    k.one_m_b2 = (float)(1.0 - b2);
    k.neg_step = (float)(-(lr / bc1));
    k.bc2_sqrt = (float)sqrt(bc2);
    k.eps = h->eps;
    LV_LAUNCH(lv_cuda_blocks(be, n, ADAMW_THREADS), ADAMW_THREADS, 0, lv_cuda_stream(be), adamw_kernel)(
        param, grad, m, v, n, k);
    LV_CUDA_LAUNCH_CHECK(be, "adamw_update");
}
