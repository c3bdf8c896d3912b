/* Temperature scaling and ECE (train/calibration.h) against tests/fixtures_calibration.py:
 * PyTorch's LBFGS temperature and the textbook 15-bin ECE, on overconfident and
 * underconfident logits and on float32 probabilities; then the edge cases the fixture
 * cannot show (bounds, constant rows, bin edges, bad input). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "train/calibration.h"

/* |got - want| <= tol * max(|want|, 1): absolute for the small ECEs, relative for T. */
static void scalar(const char *what, double got, double want, double tol) {
    double err = fabs(got - want), lim = tol * (fabs(want) > 1.0 ? fabs(want) : 1.0);
    if (err <= lim) lv_test_pass("%s: C %.7f, PyTorch %.7f, |diff| %.2e", what, got, want, err);
    else lv_test_fail("%s: C %.9f, PyTorch %.9f, |diff| %.2e > %.1e", what, got, want, err, lim);
}

/* One fixture case: fit T, then NLL and ECE before and after, each within 1e-4. */
static void fixture_case(lv_st_file *fx, const char *name, int from_probs) {
    char key[64];
    size_t n = 0, nl = 0, ne = 0;
    snprintf(key, sizeof key, "%s.logits", name);
    float *logits = lv_test_fixture_f32(fx, key, &n);
    snprintf(key, sizeof key, "%s.labels", name);
    int *lab = lv_test_fixture_i32(fx, key, &nl);
    snprintf(key, sizeof key, "%s.expect", name);
    float *want = lv_test_fixture_f32(fx, key, &ne);
    if (!logits || !lab || !want || ne != 5) {
        lv_test_fail("%s: fixture incomplete", name);
        goto done;
    }
    int64_t rows = (int64_t)nl;
    int c = (int)(n / nl);
    int32_t *labels = malloc(nl * sizeof *labels);
    double *z = malloc(n * sizeof *z);
    for (size_t i = 0; i < nl; i++) labels[i] = lab[i];
    if (from_probs) lv_test_true(lv_calib_logits_from_probs(logits, rows, c, z) == LV_OK, "log p of the probabilities");
    else
        for (size_t i = 0; i < n; i++) z[i] = logits[i];
    double T = 0;
    lv_test_true(lv_calib_fit_temperature(z, labels, rows, c, &T) == LV_OK, "temperature fit runs");
    printf("%s (%lld samples, %d classes):\n", name, (long long)rows, c);
    snprintf(key, sizeof key, "%s temperature", name);
    scalar(key, T, want[0], 1e-4);
    lv_reliability before, after;
    lv_calib_reliability(z, labels, rows, c, 1.0, &before);
    lv_calib_reliability(z, labels, rows, c, T, &after);
    snprintf(key, sizeof key, "%s nll before", name);
    scalar(key, before.nll, want[1], 1e-4);
    snprintf(key, sizeof key, "%s nll after", name);
    scalar(key, after.nll, want[2], 1e-4);
    snprintf(key, sizeof key, "%s ece before", name);
    scalar(key, before.ece, want[3], 1e-4);
    snprintf(key, sizeof key, "%s ece after", name);
    scalar(key, after.ece, want[4], 1e-4);
    lv_test_true(fabs(lv_calib_nll(z, labels, rows, c, T) - after.nll) < 1e-12, "lv_calib_nll = the table's nll");
    /* The fit is a minimum: nudging T either way cannot lower the NLL. */
    double f = lv_calib_nll(z, labels, rows, c, T);
    lv_test_true(f <= lv_calib_nll(z, labels, rows, c, T * 1.001) && f <= lv_calib_nll(z, labels, rows, c, T / 1.001),
                 "the fitted T is a local minimum of the NLL");
    int64_t total = 0;
    for (int b = 0; b < LV_CALIB_BINS; b++) total += after.count[b];
    lv_test_true(total == rows, "every sample lands in one bin");
    free(labels);
    free(z);
done:
    free(logits);
    free(lab);
    free(want);
}

static void edge_cases(void) {
    /* Separable logits: the NLL falls forever as T -> 0, so T stops at the lower bound. */
    double sep[4] = {5, 0, 0, 5};
    int32_t y2[2] = {0, 1};
    double T = 0;
    lv_test_true(lv_calib_fit_temperature(sep, y2, 2, 2, &T) == LV_OK && T == LV_CALIB_T_MIN,
                 "separable data: T clamps to LV_CALIB_T_MIN");
    /* Always wrong: flattening all the way is best, T stops at the upper bound. */
    double wrong[4] = {0, 5, 5, 0};
    lv_test_true(lv_calib_fit_temperature(wrong, y2, 2, 2, &T) == LV_OK && T == LV_CALIB_T_MAX,
                 "anti-correlated data: T clamps to LV_CALIB_T_MAX");
    double flat[6] = {1, 1, 1, 2, 2, 2};
    lv_test_true(lv_calib_fit_temperature(flat, y2, 2, 3, &T) == LV_OK && T == 1.0, "constant rows: T = 1");
    /* Bin edges: confidence exactly 1/3 (3 equal classes) belongs to bin 4 = (4/15, 5/15]. */
    double third[3] = {0, 0, 0};
    int32_t y1[1] = {0};
    lv_reliability r;
    lv_calib_reliability(third, y1, 1, 3, 1.0, &r);
    lv_test_true(r.count[4] == 1, "confidence 1/3 falls in (4/15, 5/15]");
    lv_test_true(fabs(r.ece - 2.0 / 3.0) < 1e-12, "ECE of one correct sample at confidence 1/3 is 2/3");
    double sure[2] = {0, -1e9};
    lv_calib_reliability(sure, y1, 1, 2, 1.0, &r);
    lv_test_true(r.count[LV_CALIB_BINS - 1] == 1 && r.ece < 1e-12, "confidence 1 falls in the last bin, ECE 0");
    /* Bad input: errors, not crashes. */
    int32_t bad[2] = {0, 7};
    lv_test_true(lv_calib_fit_temperature(sep, bad, 2, 2, &T) == LV_ERR_INPUT &&
                     strstr(lv_error_message(), "label 7") != NULL,
                 "a label outside [0, c) is LV_ERR_INPUT naming it");
    lv_test_true(lv_calib_fit_temperature(sep, y2, 0, 2, &T) == LV_ERR_INPUT, "no samples is LV_ERR_INPUT");
    float nanp[2] = {NAN, 1.0f};
    double z[2];
    lv_test_true(lv_calib_logits_from_probs(nanp, 1, 2, z) == LV_ERR_INPUT &&
                     strstr(lv_error_message(), "sample 0, class 0") != NULL,
                 "a NaN probability is LV_ERR_INPUT naming sample and class");
    float zero[2] = {0.0f, 1.0f};
    lv_test_true(lv_calib_logits_from_probs(zero, 1, 2, z) == LV_OK && isfinite(z[0]) && z[1] == 0.0,
                 "a probability float32 rounded to 0 gets the floor, not -inf");
    /* lv_calibrate end to end: fitted on one set, reported on another. */
    float vp[6] = {0.9f, 0.1f, 0.2f, 0.8f, 0.6f, 0.4f}, ep[4] = {0.7f, 0.3f, 0.99f, 0.01f};
    int32_t vl[3] = {0, 1, 1}, el[2] = {0, 1};
    lv_calibration cal;
    lv_test_true(lv_calibrate(vp, vl, 3, ep, el, 2, 2, &cal) == LV_OK && cal.fit_n == 3 &&
                     cal.fit_nll_after <= cal.fit_nll_before && cal.temperature > 0,
                 "lv_calibrate fits on validation and lowers its NLL");
}

int main(void) {
    lv_st_file *fx = lv_test_fixture_open("calibration");
    if (fx) {
        fixture_case(fx, "over", 0);
        fixture_case(fx, "under", 0);
        fixture_case(fx, "fromprobs", 1);
        lv_st_close(fx);
    }
    edge_cases();
    return lv_test_summary();
}
