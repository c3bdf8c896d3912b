/* The CPU backend's one GEMM entry point (row-major, like cblas_sgemm(CblasRowMajor, ...)),
 * so every op shares one choice of math library: oneDNN's sgemm (AVX-512 kernels, threads
 * from the same OpenMP pool as our loops) when the build found it, else OpenBLAS. */
#ifndef LV_CPU_GEMM_H
#define LV_CPU_GEMM_H

#include "../backend.h"

/* c[m,n] = alpha * op(a)[m,k] @ op(b)[k,n] + beta * c; op transposes when ta/tb is set.
 * Called outside a parallel region it uses every backend thread; inside one (between
 * lv_cpu_gemm_team_begin/end) it runs on the calling thread only. */
void lv_cpu_sgemm(lv_backend *be, int ta, int tb, int m, int n, int k, float alpha, const float *a,
                  int lda, const float *b, int ldb, float beta, float *c, int ldc);

/* Bracket an OpenMP region whose threads each call lv_cpu_sgemm: OpenBLAS keeps its own
 * pthread pool, which would busy-wait against our team for the same cores (3x slower on a
 * 2-core machine), so it is held to one thread inside; oneDNN needs nothing. */
int lv_cpu_gemm_team_begin(void);
void lv_cpu_gemm_team_end(int saved);

/* "oneDNN 3.0.0 sgemm" or "OpenBLAS 0.3.21 ..." for `liver-vlm info`. */
const char *lv_cpu_gemm_library(void);
/* Sets the math library's own thread count (OpenBLAS only; oneDNN follows OpenMP). */
void lv_cpu_gemm_set_threads(int threads);

#endif
