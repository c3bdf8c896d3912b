/* linear: CUDA twin of core/cpu/linear.c: cuBLAS SGEMMs on PyTorch's weight layout
 * w [out_f,in_f], our own kernels for the bias broadcast and the bias gradient. Must not
 * transpose anything in memory, and must not use float atomics (dbias is a fixed-order sum). */
#include "cuda/cuda_backend.h"

#define LINEAR_FILL_THREADS 256
/* Bias-gradient tile: 32 adjacent columns (one coalesced row segment) x 8 row lanes. */
#define LINEAR_COLS 32
#define LINEAR_ROWS 8

/* out [b,out_f] = bias broadcast over rows: the GEMM then accumulates onto it (beta = 1),
 * the CPU twin's order of operations. */
static __global__ void linear_bias_fill_kernel(float *out, const float *bias, size_t total,
                                               int out_f) {
    size_t stride = (size_t)gridDim.x * blockDim.x;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += stride)
        out[i] = bias[i % (size_t)out_f];
}

/* dbias[o] += sum_i dout[i,o]. Row lane y sums rows y, y+8, ... in double; the 8 lanes are
 * then added in a fixed tree, so the result is the same every run. */
static __global__ void linear_bias_grad_kernel(float *dbias, const float *dout, int b, int out_f) {
    __shared__ double part[LINEAR_ROWS][LINEAR_COLS];
    const int tx = threadIdx.x, ty = threadIdx.y;
    for (int o0 = blockIdx.x * LINEAR_COLS; o0 < out_f; o0 += gridDim.x * LINEAR_COLS) {
        const int o = o0 + tx;
        double acc = 0.0;
        if (o < out_f)
            for (int i = ty; i < b; i += LINEAR_ROWS) acc += (double)dout[(size_t)i * out_f + o];
        part[ty][tx] = acc;
        __syncthreads();
        for (int half = LINEAR_ROWS / 2; half > 0; half >>= 1) {
            if (ty < half) part[ty][tx] += part[ty + half][tx];
            __syncthreads();
        }
        if (ty == 0 && o < out_f) dbias[o] += (float)part[0][tx];
        __syncthreads(); /* part is rewritten for the next tile */
    }
}

/* Row-major vs column-major: a row-major [r,c] array is, to cuBLAS, the column-major [c,r]
 * matrix (its transpose) with leading dimension c. So every product is computed transposed,
 * C^T = op(B)^T op(A)^T, with no data moved:
 *   forward  out^T [out_f,b] = w [out_f,in_f] in^T [in_f,b]: the w array reads as w^T
 *            [in_f,out_f] (so OP_T, lda in_f), the in array as in^T (OP_N, ldb in_f),
 *            ldc out_f;                       m = out_f, n = b, k = in_f.
 *   din      din^T [in_f,b] += w^T [in_f,out_f] dout^T [out_f,b]: both arrays already read
 *            as those (OP_N, OP_N; lda in_f, ldb out_f), ldc in_f;  m = in_f, n = b, k = out_f.
 *   dw       dw^T [in_f,out_f] += in^T [in_f,b] dout [b,out_f]: in reads as in^T (OP_N,
 *            lda in_f), the dout array reads as dout^T so OP_T (ldb out_f), ldc in_f;
 *                                             m = in_f, n = out_f, k = b.
 * Every leading dimension is >= 1 because the callers return early on an empty size. */
extern "C" void lv_cuda_linear_forward(lv_backend *be, float *out, const float *in, const float *w,
                                       const float *bias, int b, int in_f, int out_f) {
    if (b <= 0 || out_f <= 0) return;
    const size_t total = (size_t)b * out_f;
    cudaStream_t stream = lv_cuda_stream(be);
    float beta = 0.0f;
    if (bias) {
        unsigned blocks = lv_cuda_blocks(be, total, LINEAR_FILL_THREADS);
        LV_LAUNCH(blocks, LINEAR_FILL_THREADS, 0, stream, linear_bias_fill_kernel)(out, bias, total, out_f);
        LV_CUDA_LAUNCH_CHECK(be, "linear_forward bias");
        beta = 1.0f;
    } else if (in_f <= 0) {
        LV_CUDA_CHECK_OP(be, cudaMemsetAsync(out, 0, total * sizeof *out, stream));
        LV_CUDA_LAUNCH_CHECK(be, "linear_forward zero");
    }
    /* An empty reduction stops at the bias (cuBLAS rejects a leading dimension of 0). */
    if (in_f <= 0) return;
    const float one = 1.0f;
    LV_CUBLAS_CHECK_OP(be, cublasSgemm(lv_cuda_cublas(be), CUBLAS_OP_T, CUBLAS_OP_N, out_f, b, in_f,
                                       &one, w, in_f, in, in_f, &beta, out, out_f));
    LV_CUDA_LAUNCH_CHECK(be, "linear_forward");
}

extern "C" void lv_cuda_linear_backward(lv_backend *be, float *din, float *dw, float *dbias,
                                        const float *dout, const float *in, const float *w, int b,
                                        int in_f, int out_f) {
    if (b <= 0 || out_f <= 0) return;
    const float one = 1.0f; /* alpha = beta = 1: the gradients add into what is there */
    if (in_f > 0 && (din || dw)) {
        cublasHandle_t h = lv_cuda_cublas(be);
        if (din)
            LV_CUBLAS_CHECK_OP(be, cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, in_f, b, out_f, &one, w,
                                               in_f, dout, out_f, &one, din, in_f));
        if (dw)
            LV_CUBLAS_CHECK_OP(be, cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_T, in_f, out_f, b, &one, in,
                                               in_f, dout, out_f, &one, dw, in_f));
        LV_CUDA_LAUNCH_CHECK(be, "linear_backward");
    }
    if (dbias) {
        unsigned blocks = lv_cuda_blocks(be, (size_t)out_f, LINEAR_COLS);
        dim3 threads(LINEAR_COLS, LINEAR_ROWS);
        LV_LAUNCH(blocks, threads, 0, lv_cuda_stream(be), linear_bias_grad_kernel)(dbias, dout, b, out_f);
        LV_CUDA_LAUNCH_CHECK(be, "linear_backward bias");
    }
}
