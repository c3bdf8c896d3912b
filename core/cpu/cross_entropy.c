/* cross_entropy: CPU twin of cuda/cross_entropy.cu, torch.nn.functional.cross_entropy
 * (mean reduction) on plain logits for the linear-head baseline, fused with its gradient.
 * Rows are independent, so they run in parallel; the loss is summed in row order. */
#include <math.h>

#include "cpu_ops.h"

void lv_cpu_cross_entropy(lv_backend *be, float *loss, float *dlogits, float *probs,
                          const float *logits, const int *labels, int b, int c) {
    if (b <= 0 || c <= 0) {
        lv_backend_fail(be, LV_ERR_INPUT, "cross_entropy: empty shape b=%d c=%d", b, c);
        return;
    }
    if (labels)
        for (int i = 0; i < b; i++)
            if (labels[i] < 0 || labels[i] >= c) {
                lv_backend_fail(be, LV_ERR_INPUT, "cross_entropy: label %d at row %d outside [0,%d)",
                                labels[i], i, c);
                return;
            }
    if (!labels && (loss || dlogits)) {
        lv_backend_fail(be, LV_ERR_RUNTIME, "cross_entropy: the loss and gradient need labels");
        return;
    }
    double total = 0.0;
    /* Per-row log-sum-exp with the maximum subtracted, in double: the row's loss is
     * lse - z_y and its gradient (softmax - onehot) / b. */
#pragma omp parallel for reduction(+ : total) if (b * c > 4096)
    for (int i = 0; i < b; i++) {
        const float *z = logits + (size_t)i * c;
        double mx = z[0];
        for (int j = 1; j < c; j++)
            if (z[j] > mx) mx = z[j];
        double se = 0.0;
        for (int j = 0; j < c; j++) se += exp((double)z[j] - mx);
        double lse = mx + log(se);
        if (labels) total += lse - (double)z[labels[i]];
        for (int j = 0; j < c; j++) {
            double p = exp((double)z[j] - lse);
            if (probs) probs[(size_t)i * c + j] = (float)p;
            if (dlogits) dlogits[(size_t)i * c + j] += (float)((p - (labels[i] == j ? 1.0 : 0.0)) / b);
        }
    }
    if (loss) loss[0] = (float)(total / b);
}
