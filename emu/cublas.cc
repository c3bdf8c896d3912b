/* cuBLAS twin of the device emulator: the same column-major arguments, checked as cuBLAS
 * documents them (dimensions, leading dimensions, device operands covering every element
 * the call reads or writes), queued on the handle's stream and run by the CPU's BLAS when
 * the stream is waited for. TF32 math rounds both inputs to TF32 first, as tensor cores do. */
#include <math.h>

#include <memory>
#include <vector>

#include "cublas_v2.h"
#include "emu.h"

#if defined(LV_GEMM_DNNL)
#include <oneapi/dnnl/dnnl.h>
#elif defined(LV_GEMM_OPENBLAS)
#include <cblas.h>
#else
#error "the cuBLAS twin needs the CPU GEMM library (oneDNN or OpenBLAS)"
#endif

struct lv_emu_cublas {
    cudaStream_t stream;
    cublasMath_t math;
};

namespace {

using namespace lv_emu;

/* Column-major op(X) has `rows` x `cols`; stored, X spans ld * (stored cols - 1) + stored rows. */
size_t extent(cublasOperation_t t, int rows, int cols, int ld) {
    int sr = t == CUBLAS_OP_N ? rows : cols, sc = t == CUBLAS_OP_N ? cols : rows;
    if (sr == 0 || sc == 0) return 0;
    return (size_t)ld * (size_t)(sc - 1) + (size_t)sr;
}

/* C = alpha op(A) op(B) + beta C, column-major, on the host, for one matrix. */
void gemm_col(bool ta, bool tb, int m, int n, int k, float alpha, const float *a, int lda, const float *b, int ldb,
              float beta, float *c, int ldc) {
    if (beta == 0.0f) /* cuBLAS does not read C when beta is 0: NaN there must not leak */
        for (int j = 0; j < n; j++) memset(c + (size_t)j * ldc, 0, (size_t)m * sizeof(float));
    if (k == 0 || alpha == 0.0f) {
        for (int j = 0; j < n; j++)
            for (int i = 0; i < m; i++) c[(size_t)j * ldc + i] *= beta;
        return;
    }
#if defined(LV_GEMM_DNNL)
    /* Column-major C = op(A) op(B) is row-major C^T = op(B)^T op(A)^T over the same memory. */
    dnnl_status_t st = dnnl_sgemm(tb ? 'T' : 'N', ta ? 'T' : 'N', n, m, k, alpha, b, ldb, a, lda, beta, c, ldc);
    if (st != dnnl_success) fatal("cuBLAS twin: dnnl_sgemm failed (%d)", (int)st);
#else
    cblas_sgemm(CblasColMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n, k, alpha, a, lda,
                b, ldb, beta, c, ldc);
#endif
}

cublasStatus_t gemm_batched(cublasHandle_t h, cublasOperation_t transa, cublasOperation_t transb, int m, int n, int k,
                            const float *alpha, const float *A, int lda, long long sa, const float *B, int ldb,
                            long long sb, const float *beta, float *C, int ldc, long long sc, int batch,
                            const char *api) {
    if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
    if (m < 0 || n < 0 || k < 0 || batch < 0 || (unsigned)transa > 2u || (unsigned)transb > 2u) {
        complain("%s: m=%d n=%d k=%d batch=%d transa=%d transb=%d: negative size or unknown operation", api, m, n, k,
                 batch, (int)transa, (int)transb);
        return CUBLAS_STATUS_INVALID_VALUE;
    }
    const int arows = transa == CUBLAS_OP_N ? m : k, brows = transb == CUBLAS_OP_N ? k : n;
    if (lda < (arows > 1 ? arows : 1) || ldb < (brows > 1 ? brows : 1) || ldc < (m > 1 ? m : 1)) {
        complain("%s: lda=%d ldb=%d ldc=%d, need lda >= %d, ldb >= %d, ldc >= %d (column-major, transa=%s transb=%s)",
                 api, lda, ldb, ldc, arows > 1 ? arows : 1, brows > 1 ? brows : 1, m > 1 ? m : 1,
                 transa == CUBLAS_OP_N ? "N" : "T", transb == CUBLAS_OP_N ? "N" : "T");
        return CUBLAS_STATUS_INVALID_VALUE;
    }
    if (!alpha || !beta) {
        complain("%s: alpha and beta are host pointers (CUBLAS_POINTER_MODE_HOST) and must not be NULL", api);
        return CUBLAS_STATUS_INVALID_VALUE;
    }
    if (m == 0 || n == 0 || batch == 0) return CUBLAS_STATUS_SUCCESS;
    const float al = *alpha, be = *beta; /* host pointer mode: read now, not when it runs */
    const size_t ea = extent(transa, m, k, lda), eb = extent(transb, k, n, ldb), ec = extent(CUBLAS_OP_N, m, n, ldc);
    /* Every matrix of the batch must lie in device memory: the first and the last bound them. */
    for (int i : {0, batch - 1}) {
        if ((ea && k && al != 0.0f && !device_range_ok(A + (long long)i * sa, ea * sizeof(float), api, "A")) ||
            (eb && k && al != 0.0f && !device_range_ok(B + (long long)i * sb, eb * sizeof(float), api, "B")) ||
            !device_range_ok(C + (long long)i * sc, ec * sizeof(float), api, "C"))
            return CUBLAS_STATUS_INVALID_VALUE;
    }
    const bool ta = transa != CUBLAS_OP_N, tb = transb != CUBLAS_OP_N;
    const bool tf32 = h->math == CUBLAS_TF32_TENSOR_OP_MATH;
    char what[200];
    snprintf(what, sizeof what, "%s(%s%s, m=%d n=%d k=%d, batch %d%s)", api, ta ? "T" : "N", tb ? "T" : "N", m, n, k,
             batch, tf32 ? ", TF32" : "");
    enqueue(h->stream, what, [=]() {
        std::vector<float> ra, rb;
        for (int i = 0; i < batch; i++) {
            const float *a = A + (long long)i * sa, *b = B + (long long)i * sb;
            if (tf32 && k) {
                ra.assign(a, a + ea);
                rb.assign(b, b + eb);
                for (float &v : ra) v = to_tf32(v);
                for (float &v : rb) v = to_tf32(v);
                a = ra.data();
                b = rb.data();
            }
            gemm_col(ta, tb, m, n, k, al, a, lda, b, ldb, be, C + (long long)i * sc, ldc);
        }
    });
    return CUBLAS_STATUS_SUCCESS;
}

} // namespace

extern "C" cublasStatus_t cublasCreate(cublasHandle_t *handle) {
    if (!handle) return CUBLAS_STATUS_INVALID_VALUE;
    *handle = new lv_emu_cublas{NULL, CUBLAS_DEFAULT_MATH};
    return CUBLAS_STATUS_SUCCESS;
}

extern "C" cublasStatus_t cublasDestroy(cublasHandle_t h) {
    if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
    lv_emu::drain(h->stream); /* queued work still reads the handle's settings by value only */
    delete h;
    return CUBLAS_STATUS_SUCCESS;
}

extern "C" cublasStatus_t cublasSetStream(cublasHandle_t h, cudaStream_t s) {
    if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
    h->stream = s;
    return CUBLAS_STATUS_SUCCESS;
}

extern "C" cublasStatus_t cublasGetStream(cublasHandle_t h, cudaStream_t *s) {
    if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
    if (!s) return CUBLAS_STATUS_INVALID_VALUE;
    *s = h->stream;
    return CUBLAS_STATUS_SUCCESS;
}

extern "C" cublasStatus_t cublasSetMathMode(cublasHandle_t h, cublasMath_t mode) {
    if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
    if ((unsigned)mode > 3u) return CUBLAS_STATUS_INVALID_VALUE;
    h->math = mode;
    return CUBLAS_STATUS_SUCCESS;
}

extern "C" cublasStatus_t cublasGetMathMode(cublasHandle_t h, cublasMath_t *mode) {
    if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
    if (!mode) return CUBLAS_STATUS_INVALID_VALUE;
    *mode = h->math;
    return CUBLAS_STATUS_SUCCESS;
}

extern "C" cublasStatus_t cublasGetProperty(libraryPropertyType type, int *value) {
    if (!value) return CUBLAS_STATUS_INVALID_VALUE;
    *value = type == MAJOR_VERSION ? CUBLAS_VER_MAJOR : type == MINOR_VERSION ? CUBLAS_VER_MINOR : CUBLAS_VER_PATCH;
    return CUBLAS_STATUS_SUCCESS;
}

extern "C" const char *cublasGetStatusString(cublasStatus_t s) {
    switch (s) {
    case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "CUBLAS_STATUS_ARCH_MISMATCH";
    case CUBLAS_STATUS_MAPPING_ERROR: return "CUBLAS_STATUS_MAPPING_ERROR";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
    default: return "CUBLAS_STATUS_INTERNAL_ERROR";
    }
}

extern "C" cublasStatus_t cublasSgemm(cublasHandle_t h, cublasOperation_t transa, cublasOperation_t transb, int m,
                                      int n, int k, const float *alpha, const float *A, int lda, const float *B,
                                      int ldb, const float *beta, float *C, int ldc) {
    return gemm_batched(h, transa, transb, m, n, k, alpha, A, lda, 0, B, ldb, 0, beta, C, ldc, 0, 1, "cublasSgemm");
}

extern "C" cublasStatus_t cublasSgemmStridedBatched(cublasHandle_t h, cublasOperation_t transa,
                                                    cublasOperation_t transb, int m, int n, int k, const float *alpha,
                                                    const float *A, int lda, long long sa, const float *B, int ldb,
                                                    long long sb, const float *beta, float *C, int ldc, long long sc,
                                                    int batch) {
    return gemm_batched(h, transa, transb, m, n, k, alpha, A, lda, sa, B, ldb, sb, beta, C, ldc, sc, batch,
                        "cublasSgemmStridedBatched");
}
