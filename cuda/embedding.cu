/* embedding: CUDA twin of core/cpu/embedding.c. PLACEHOLDER: being written; every entry reports
 * "not implemented" as a sticky backend error. */
#include "cuda/cuda_backend.h"

extern "C" void lv_cuda_embedding_forward(lv_backend *be, float *out, const int *ids, const float *table, int n, int c) {
    (void)out, (void)ids, (void)table, (void)n, (void)c;
    lv_op_missing(be, "embedding_forward");
}

extern "C" void lv_cuda_embedding_backward(lv_backend *be, float *dtable, const float *dout, const int *ids, int n, int c) {
    (void)dtable, (void)dout, (void)ids, (void)n, (void)c;
    lv_op_missing(be, "embedding_backward");
}
