/* lv_cpu_sgemm on oneDNN (LV_GEMM_DNNL) or OpenBLAS (LV_GEMM_OPENBLAS); see gemm.h. Errors
 * from the library become a sticky backend error, never an abort. */
#include "gemm.h"

#include <stdio.h>

#if defined(LV_GEMM_DNNL)
#include <oneapi/dnnl/dnnl.h>

void lv_cpu_sgemm(lv_backend *be, int ta, int tb, int m, int n, int k, float alpha, const float *a,
                  int lda, const float *b, int ldb, float beta, float *c, int ldc) {
    dnnl_status_t st = dnnl_sgemm(ta ? 'T' : 'N', tb ? 'T' : 'N', m, n, k, alpha, a, lda, b, ldb,
                                  beta, c, ldc);
    if (st != dnnl_success) {
#pragma omp critical(lv_gemm_fail)
        lv_backend_fail(be, LV_ERR_RUNTIME, "dnnl_sgemm(%c%c, m=%d n=%d k=%d) failed with status %d",
                        ta ? 'T' : 'N', tb ? 'T' : 'N', m, n, k, (int)st);
    }
}

int lv_cpu_gemm_team_begin(void) { return 0; }
void lv_cpu_gemm_team_end(int saved) { (void)saved; }
void lv_cpu_gemm_set_threads(int threads) { (void)threads; }

const char *lv_cpu_gemm_library(void) {
    static char buf[96];
    const dnnl_version_t *v = dnnl_version();
    snprintf(buf, sizeof buf, "oneDNN %d.%d.%d sgemm (cpu runtime %s)", v->major, v->minor, v->patch,
             v->cpu_runtime == DNNL_RUNTIME_OMP ? "OpenMP" : "other");
    return buf;
}

#elif defined(LV_GEMM_OPENBLAS)
#include <cblas.h>

void lv_cpu_sgemm(lv_backend *be, int ta, int tb, int m, int n, int k, float alpha, const float *a,
                  int lda, const float *b, int ldb, float beta, float *c, int ldc) {
    (void)be; /* cblas has no error return; bad arguments are our bug, caught by the tests */
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n,
                k, alpha, a, lda, b, ldb, beta, c, ldc);
}

int lv_cpu_gemm_team_begin(void) {
    int saved = openblas_get_num_threads();
    if (saved != 1) openblas_set_num_threads(1);
    return saved;
}

void lv_cpu_gemm_team_end(int saved) {
    if (saved != 1) openblas_set_num_threads(saved);
}

void lv_cpu_gemm_set_threads(int threads) { openblas_set_num_threads(threads); }

const char *lv_cpu_gemm_library(void) { return openblas_get_config(); }

#else
#error "build defines neither LV_GEMM_DNNL nor LV_GEMM_OPENBLAS (see cmake/deps.cmake)"
#endif
