/* Row normalisation shared by the cosine-similarity losses (cosine_ce.c, clip_loss.c):
 * F.normalize's forward and backward in double. Internal to core/cpu. */
#ifndef LV_CPU_COSINE_ROWS_H
#define LV_CPU_COSINE_ROWS_H

#include <math.h>

#define COSINE_EPS 1e-12f /* F.normalize's default eps */
#define SCALE_MAX 100.0f  /* CLIP's clamp on exp(logit_scale) */

/* u = x / max(|x|, eps) in double; returns the unclamped norm (NaN stays NaN, as torch). */
static inline double normalize_row(double *u, const float *x, int d) {
    double ss = 0.0;
    for (int t = 0; t < d; t++) ss += (double)x[t] * x[t];
    double n = sqrt(ss);
    double den = n < (double)COSINE_EPS ? (double)COSINE_EPS : n;
    for (int t = 0; t < d; t++) u[t] = x[t] / den;
    return n;
}

static inline void normalize_backward_add(float *dx, const double *du, const float *x, double n, int d) {
    int through_norm = n >= (double)COSINE_EPS;
    double den = through_norm ? n : (double)COSINE_EPS;
    double k = 0.0;
    if (through_norm && n > 0.0) {
        double dot = 0.0;
        for (int t = 0; t < d; t++) dot += du[t] * x[t];
        k = dot / (den * den * n);
    }
    for (int t = 0; t < d; t++) dx[t] += (float)(du[t] / den - k * x[t]);
}

#endif
