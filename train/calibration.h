/* Post-hoc calibration of a classifier's probabilities: one temperature T fitted on
 * validation predictions (Guo et al. 2017, "On calibration of modern neural networks"),
 * expected calibration error over equal-width confidence bins, and the reliability table a
 * diagram draws. Pure host math on logits or probabilities: no model, no files. */
#ifndef LV_CALIBRATION_H
#define LV_CALIBRATION_H

#include <stdint.h>

#include "core/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define LV_CALIB_BINS 15        /* equal-width top-1 confidence bins over (0, 1] */
#define LV_CALIB_T_MIN 0.01     /* the fitted temperature is clamped to [T_MIN, T_MAX] */
#define LV_CALIB_T_MAX 100.0
#define LV_CALIB_P_FLOOR 1e-45  /* probabilities below it (float underflow) count as it */

/* Top-1 confidence against accuracy per bin. Bin b holds the samples whose confidence
 * lies in (b/15, (b+1)/15]; acc and conf are the bin's means (0 where count is 0). */
typedef struct lv_reliability {
    int64_t count[LV_CALIB_BINS];
    double acc[LV_CALIB_BINS], conf[LV_CALIB_BINS];
    double ece; /* sum over bins of |acc - conf| * count / n */
    double nll; /* mean -log p(true class) */
} lv_reliability;

/* What `liver-vlm eval --calibrate` reports. */
typedef struct lv_calibration {
    double temperature;        /* fitted on the validation set */
    int64_t fit_n;             /* validation samples */
    double fit_nll_before, fit_nll_after; /* NLL on the validation set at T = 1 and T */
    lv_reliability before, after;         /* the evaluated data at T = 1 and T */
} lv_calibration;

/* Logits from probabilities: z = log(max(p, LV_CALIB_P_FLOOR)). softmax(z / T) equals
 * softmax(logits / T) of the model's own logits (they differ by a per-row constant), up to
 * the floor, which only matters for probabilities float32 rounded to 0. LV_ERR_INPUT
 * naming row and class for a NaN, negative or infinite probability. z [n, c] caller's. */
lv_status lv_calib_logits_from_probs(const float *probs, int64_t n, int c, double *z);

/* Mean negative log-likelihood of softmax(z / T) at the labels. */
double lv_calib_nll(const double *z, const int32_t *labels, int64_t n, int c, double T);

/* Reliability table, ECE and NLL of softmax(z / T); the prediction is the arg-max of z
 * (first on ties), which no T > 0 changes. */
void lv_calib_reliability(const double *z, const int32_t *labels, int64_t n, int c, double T, lv_reliability *r);

/* The T in [LV_CALIB_T_MIN, LV_CALIB_T_MAX] minimising lv_calib_nll. The NLL is convex in
 * 1/T, so a safeguarded Newton iteration on 1/T inside a shrinking bracket finds the one
 * minimum deterministically (to ~1e-12 relative). T = 1 when the logits carry no
 * information (every row constant). LV_ERR_INPUT for n < 1 or a label outside [0, c). */
lv_status lv_calib_fit_temperature(const double *z, const int32_t *labels, int64_t n, int c, double *T);

/* The whole `--calibrate` step: fits T on the validation probabilities and measures the
 * evaluated ones before and after. */
lv_status lv_calibrate(const float *val_probs, const int32_t *val_labels, int64_t nv, const float *probs,
                       const int32_t *labels, int64_t n, int c, lv_calibration *out);

#ifdef __cplusplus
}
#endif
#endif
