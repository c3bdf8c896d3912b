/* softmax: CPU twin of torch.softmax over the last dim of [rows,cols]. Subtracts the row
 * maximum before exp (no overflow for large logits) and sums in double; must not read the
 * input in backward: the gradient is written in terms of the saved output alone. */
#include <math.h>

#include "cpu_ops.h"

void lv_cpu_softmax_forward(lv_backend *be, float *out, const float *in, int rows, int cols) {
    (void)be;
    if (cols <= 0) return;
#pragma omp parallel for schedule(static)
    for (int r = 0; r < rows; r++) {
        const float *x = in + (size_t)r * cols;
        float *y = out + (size_t)r * cols;
        float mx = x[0];
        for (int j = 1; j < cols; j++) mx = x[j] > mx ? x[j] : mx;
        double sum = 0;
        for (int j = 0; j < cols; j++) sum += exp((double)x[j] - mx);
        double inv = 1.0 / sum;
        for (int j = 0; j < cols; j++) y[j] = (float)(exp((double)x[j] - mx) * inv);
    }
}

/* din += out * (dout - sum_j dout_j * out_j), the Jacobian-vector product of softmax. */
void lv_cpu_softmax_backward(lv_backend *be, float *din, const float *dout, const float *out,
                             int rows, int cols) {
    (void)be;
    if (!din) return;
#pragma omp parallel for schedule(static)
    for (int r = 0; r < rows; r++) {
        const float *y = out + (size_t)r * cols;
        const float *dy = dout + (size_t)r * cols;
        float *dx = din + (size_t)r * cols;
        double dot = 0;
        for (int j = 0; j < cols; j++) dot += (double)dy[j] * y[j];
        for (int j = 0; j < cols; j++) dx[j] += (float)(y[j] * ((double)dy[j] - dot));
    }
}
