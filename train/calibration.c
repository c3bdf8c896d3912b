/* Temperature scaling and expected calibration error (calibration.h). Everything in double
 * on the host: a validation set is at most a few hundred thousand rows, and the fit must be
 * exact and deterministic rather than fast. Must not depend on a device or a file. */
#include "calibration.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>

lv_status lv_calib_logits_from_probs(const float *probs, int64_t n, int c, double *z) {
    for (int64_t i = 0; i < n; i++)
        for (int j = 0; j < c; j++) {
            size_t k = (size_t)i * (size_t)c + (size_t)j;
            double p = probs[k];
            if (!(p >= 0.0) || isinf(p))
                return lv_errorf(LV_ERR_INPUT, "calibration: probability %g at sample %lld, class %d (expected a "
                                 "finite value >= 0; did the model diverge?)", p, (long long)i, j);
            z[k] = log(p > LV_CALIB_P_FLOOR ? p : LV_CALIB_P_FLOOR);
        }
    return LV_OK;
}

/* One row of softmax(beta * z): log-sum-exp, and the softmax mean and variance of z, the
 * first and second derivatives of the row's log-sum-exp with respect to beta. */
static void row_moments(const double *z, int c, double beta, double *lse, double *mean, double *var) {
    double m = beta * z[0];
    for (int j = 1; j < c; j++)
        if (beta * z[j] > m) m = beta * z[j];
    double s = 0.0, s1 = 0.0, s2 = 0.0;
    for (int j = 0; j < c; j++) {
        double e = exp(beta * z[j] - m);
        s += e;
        s1 += e * z[j];
        s2 += e * z[j] * z[j];
    }
    *lse = m + log(s);
    *mean = s1 / s;
    double v = s2 / s - *mean * *mean;
    *var = v > 0.0 ? v : 0.0; /* cancellation can make a zero variance slightly negative */
}

/* NLL(beta) = mean_i [lse_i(beta z_i) - beta z_i,y], its derivative g and second
 * derivative h in beta (h >= 0: the NLL is convex in beta = 1/T). */
static double nll_beta(const double *z, const int32_t *labels, int64_t n, int c, double beta, double *g, double *h) {
    double f = 0.0, gs = 0.0, hs = 0.0;
    for (int64_t i = 0; i < n; i++) {
        const double *row = z + (size_t)i * (size_t)c;
        double lse, mean, var;
        row_moments(row, c, beta, &lse, &mean, &var);
        f += lse - beta * row[labels[i]];
        gs += mean - row[labels[i]];
        hs += var;
    }
    if (g) *g = gs / (double)n;
    if (h) *h = hs / (double)n;
    return f / (double)n;
}

double lv_calib_nll(const double *z, const int32_t *labels, int64_t n, int c, double T) {
    return n > 0 ? nll_beta(z, labels, n, c, 1.0 / T, NULL, NULL) : NAN;
}

void lv_calib_reliability(const double *z, const int32_t *labels, int64_t n, int c, double T, lv_reliability *r) {
    double sum_acc[LV_CALIB_BINS] = {0}, sum_conf[LV_CALIB_BINS] = {0}, nll = 0.0;
    for (int b = 0; b < LV_CALIB_BINS; b++) r->count[b] = 0;
    double beta = 1.0 / T;
    for (int64_t i = 0; i < n; i++) {
        const double *row = z + (size_t)i * (size_t)c;
        int pred = 0;
        for (int j = 1; j < c; j++)
            if (row[j] > row[pred]) pred = j;
        double lse, mean, var;
        row_moments(row, c, beta, &lse, &mean, &var);
        double conf = exp(beta * row[pred] - lse);
        nll += lse - beta * row[labels[i]];
        /* Bin edges are exactly b/15 and the intervals (lo, hi], the usual ECE code's rule,
         * so a confidence on an edge lands where the reference implementation puts it. */
        int b = (int)(conf * LV_CALIB_BINS);
        if (b > LV_CALIB_BINS - 1) b = LV_CALIB_BINS - 1;
        if (b < 0) b = 0;
        while (b > 0 && conf <= (double)b / LV_CALIB_BINS) b--;
        while (b < LV_CALIB_BINS - 1 && conf > (double)(b + 1) / LV_CALIB_BINS) b++;
        r->count[b]++;
        sum_acc[b] += pred == labels[i];
        sum_conf[b] += conf;
    }
    r->ece = 0.0;
    for (int b = 0; b < LV_CALIB_BINS; b++) {
        double k = (double)r->count[b];
        r->acc[b] = k > 0 ? sum_acc[b] / k : 0.0;
        r->conf[b] = k > 0 ? sum_conf[b] / k : 0.0;
        if (n > 0) r->ece += fabs(r->acc[b] - r->conf[b]) * k / (double)n;
    }
    r->nll = n > 0 ? nll / (double)n : NAN;
}

static lv_status check_labels(const int32_t *labels, int64_t n, int c, const char *what) {
    LV_CHECK(n >= 1, LV_ERR_INPUT, "calibration: the %s set has no samples", what);
    for (int64_t i = 0; i < n; i++)
        LV_CHECK(labels[i] >= 0 && labels[i] < c, LV_ERR_INPUT,
                 "calibration: %s label %d at sample %lld outside [0, %d)", what, labels[i], (long long)i, c);
    return LV_OK;
}

lv_status lv_calib_fit_temperature(const double *z, const int32_t *labels, int64_t n, int c, double *T) {
    LV_TRY(check_labels(labels, n, c, "validation"));
    double g, h;
    nll_beta(z, labels, n, c, 1.0, &g, &h);
    if (h == 0.0) { /* every row constant: no temperature changes anything */
        *T = 1.0;
        return LV_OK;
    }
    double lo = 1.0 / LV_CALIB_T_MAX, hi = 1.0 / LV_CALIB_T_MIN, glo, ghi;
    nll_beta(z, labels, n, c, lo, &glo, NULL);
    nll_beta(z, labels, n, c, hi, &ghi, NULL);
    /* g is increasing in beta, so its sign at the bounds says whether the minimum is inside. */
    if (glo >= 0.0) {
        *T = LV_CALIB_T_MAX;
        return LV_OK;
    }
    if (ghi <= 0.0) {
        *T = LV_CALIB_T_MIN;
        return LV_OK;
    }
    double beta = 1.0;
    for (int it = 0; it < 200; it++) {
        if (it > 0) nll_beta(z, labels, n, c, beta, &g, &h);
        if (g == 0.0) break;
        if (g < 0.0) lo = beta;
        else hi = beta;
        /* Newton where it stays inside the bracket, else bisection in log(beta): the
         * bracket spans four decades, and the midpoint in log space halves it in ratio. */
        double next = h > 0.0 ? beta - g / h : NAN;
        if (!(next > lo && next < hi)) next = sqrt(lo * hi);
        double step = fabs(next - beta);
        beta = next;
        if (step <= 1e-14 * beta || hi - lo <= 1e-14 * hi) break;
    }
    *T = 1.0 / beta;
    return LV_OK;
}

lv_status lv_calibrate(const float *val_probs, const int32_t *val_labels, int64_t nv, const float *probs,
                       const int32_t *labels, int64_t n, int c, lv_calibration *out) {
    LV_TRY(check_labels(val_labels, nv, c, "validation"));
    LV_TRY(check_labels(labels, n, c, "evaluated"));
    int64_t most = nv > n ? nv : n;
    double *z = calloc((size_t)most * (size_t)c, sizeof *z);
    LV_CHECK_ALLOC(z);
    lv_status s = lv_calib_logits_from_probs(val_probs, nv, c, z);
    if (s == LV_OK) s = lv_calib_fit_temperature(z, val_labels, nv, c, &out->temperature);
    if (s == LV_OK) {
        out->fit_n = nv;
        out->fit_nll_before = lv_calib_nll(z, val_labels, nv, c, 1.0);
        out->fit_nll_after = lv_calib_nll(z, val_labels, nv, c, out->temperature);
        s = lv_calib_logits_from_probs(probs, n, c, z);
    }
    if (s == LV_OK) {
        lv_calib_reliability(z, labels, n, c, 1.0, &out->before);
        lv_calib_reliability(z, labels, n, c, out->temperature, &out->after);
    }
    free(z);
    return s;
}
