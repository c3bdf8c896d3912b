/* cross_entropy: CUDA twin of core/cpu/cross_entropy.c. PLACEHOLDER: being written; every entry reports
 * "not implemented" as a sticky backend error. */
#include "cuda/cuda_backend.h"

extern "C" void lv_cuda_cross_entropy(lv_backend *be, float *loss, float *dlogits, float *probs, const float *logits, const int *labels, int b, int c) {
    (void)loss, (void)dlogits, (void)probs, (void)logits, (void)labels, (void)b, (void)c;
    lv_op_missing(be, "cross_entropy");
}
