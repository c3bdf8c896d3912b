/* The emulator's cuBLAS twin against a naive column-major GEMM written from cuBLAS's
 * documentation: every transpose pair, leading dimensions larger than the rows, alpha/beta
 * (beta = 0 must not read C), strided batches, TF32 rounding, and the argument errors. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include <vector>

#include "cublas_v2.h"
#include "cuda_runtime.h"
#include "twin_check.h"

/* C = alpha op(A) op(B) + beta C, column-major, in double, straight from the definition. */
static void ref_gemm(bool ta, bool tb, int m, int n, int k, float alpha, const float *a, int lda, const float *b,
                     int ldb, float beta, float *c, int ldc) {
    for (int j = 0; j < n; j++)
        for (int i = 0; i < m; i++) {
            double s = 0;
            for (int p = 0; p < k; p++) {
                double av = ta ? a[p + (size_t)i * lda] : a[i + (size_t)p * lda];
                double bv = tb ? b[j + (size_t)p * ldb] : b[p + (size_t)j * ldb];
                s += av * bv;
            }
            double old = beta == 0.0f ? 0.0 : (double)beta * c[i + (size_t)j * ldc];
            c[i + (size_t)j * ldc] = (float)(alpha * s + old);
        }
}

static void one_case(cublasHandle_t h, bool ta, bool tb, int m, int n, int k, int pad, float alpha, float beta,
                     int batch) {
    const int arows = ta ? k : m, acols = ta ? m : k, brows = tb ? n : k, bcols = tb ? k : n;
    const int lda = arows + pad, ldb = brows + pad, ldc = m + pad;
    const long long sa = (long long)lda * acols + 3, sb = (long long)ldb * bcols + 5, sc = (long long)ldc * n + 7;
    std::vector<float> a((size_t)(sa * batch)), b((size_t)(sb * batch)), c((size_t)(sc * batch));
    for (float &v : a) v = frand();
    for (float &v : b) v = frand();
    for (float &v : c) v = beta == 0.0f ? NAN : frand(); /* beta 0: C is never read */
    std::vector<float> want = c;
    for (int i = 0; i < batch; i++)
        ref_gemm(ta, tb, m, n, k, alpha, a.data() + i * sa, lda, b.data() + i * sb, ldb, beta, want.data() + i * sc,
                 ldc);
    float *da = up(a), *db = up(b), *dc = up(c);
    cublasStatus_t st =
        batch == 1 ? cublasSgemm(h, ta ? CUBLAS_OP_T : CUBLAS_OP_N, tb ? CUBLAS_OP_T : CUBLAS_OP_N, m, n, k, &alpha,
                                 da, lda, db, ldb, &beta, dc, ldc)
                   : cublasSgemmStridedBatched(h, ta ? CUBLAS_OP_T : CUBLAS_OP_N, tb ? CUBLAS_OP_T : CUBLAS_OP_N, m,
                                               n, k, &alpha, da, lda, sa, db, ldb, sb, &beta, dc, ldc, sc, batch);
    cudaDeviceSynchronize();
    std::vector<float> got = down(dc, c.size());
    /* Only C's m x n windows are written; the padding keeps its NaN/old values on both sides. */
    double e = max_rel(got, want);
    char what[200];
    snprintf(what, sizeof what, "%s%s m=%d n=%d k=%d pad=%d alpha=%g beta=%g batch=%d: rel err %.2e",
             ta ? "T" : "N", tb ? "T" : "N", m, n, k, pad, alpha, beta, batch, e);
    check(st == CUBLAS_STATUS_SUCCESS && e < 1e-5, what);
    cudaFree(da);
    cudaFree(db);
    cudaFree(dc);
}

int main(void) {
    g_seed = 12345;
    cublasHandle_t h;
    check(cublasCreate(&h) == CUBLAS_STATUS_SUCCESS, "cublasCreate");
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            one_case(h, ta, tb, 7, 5, 3, 0, 1.0f, 0.0f, 1);
            one_case(h, ta, tb, 13, 1, 9, 2, 0.5f, 1.0f, 1);
            one_case(h, ta, tb, 1, 1, 1, 0, -2.0f, 0.25f, 1);
            one_case(h, ta, tb, 6, 4, 5, 1, 1.0f, 1.0f, 3);
        }
    one_case(h, false, false, 4, 4, 0, 1, 1.0f, 0.5f, 1); /* k = 0: C = beta C (ldb >= 1 still) */

    /* TF32 math rounds inputs: a value TF32 cannot hold changes the product. */
    {
        std::vector<float> a = {1.0f + 1.0f / 4096.0f}, b = {1.0f}, c = {0.0f};
        float *da = up(a), *db = up(b), *dc = up(c);
        const float one = 1.0f, zero = 0.0f;
        cublasSetMathMode(h, CUBLAS_TF32_TENSOR_OP_MATH);
        cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, 1, 1, 1, &one, da, 1, db, 1, &zero, dc, 1);
        float tf = down(dc, 1)[0];
        cublasSetMathMode(h, CUBLAS_DEFAULT_MATH);
        cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, 1, 1, 1, &one, da, 1, db, 1, &zero, dc, 1);
        float fp = down(dc, 1)[0];
        printf("     1 + 2^-12: TF32 %.9g, fp32 %.9g\n", tf, fp);
        check(tf == 1.0f && fp == a[0], "TF32 math rounds the operands to 10 mantissa bits, default math does not");
    }

    /* Argument rules from the documentation. */
    {
        float *d = NULL;
        cudaMalloc((void **)&d, 64 * sizeof(float));
        const float one = 1.0f;
        check(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, 4, 4, 4, &one, d, 3, d, 4, &one, d, 4) ==
                  CUBLAS_STATUS_INVALID_VALUE, "lda < m (transa N) is CUBLAS_STATUS_INVALID_VALUE");
        check(cublasSgemm(h, CUBLAS_OP_T, CUBLAS_OP_N, 4, 4, 2, &one, d, 1, d, 2, &one, d, 4) ==
                  CUBLAS_STATUS_INVALID_VALUE, "lda < k (transa T) is CUBLAS_STATUS_INVALID_VALUE");
        check(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, -1, 4, 4, &one, d, 4, d, 4, &one, d, 4) ==
                  CUBLAS_STATUS_INVALID_VALUE, "a negative m is CUBLAS_STATUS_INVALID_VALUE");
        check(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, 9, 8, 8, &one, d, 9, d, 8, &one, d, 9) ==
                  CUBLAS_STATUS_INVALID_VALUE, "operands past the end of their allocation are refused");
        static float host[64];
        check(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, 4, 4, 4, &one, host, 4, d, 4, &one, d, 4) ==
                  CUBLAS_STATUS_INVALID_VALUE, "a host operand is refused");
        cudaFree(d);
    }
    cublasDestroy(h);
    return twin_summary();
}
