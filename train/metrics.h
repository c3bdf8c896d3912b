/* Classification metrics for evaluation and validation, with sklearn's definitions so the
 * numbers users compare against their notebooks agree: one-vs-rest ROC AUC per class from
 * the rank statistic (ties count one half), macro average, balanced accuracy, per-class
 * precision/recall/F1 (0 where undefined, sklearn's zero_division=0) and the confusion
 * matrix (rows = true class). */
#ifndef LV_METRICS_H
#define LV_METRICS_H

#include <stdint.h>

#include "core/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lv_metrics {
    int c;
    int64_t n;
    double accuracy, balanced_accuracy;
    double macro_auc;   /* mean AUC over classes with both positives and negatives; NaN if none */
    double *auc;        /* [c] NaN where a class has no positives or no negatives */
    double *precision;  /* [c] */
    double *recall;     /* [c] */
    double *f1;         /* [c] */
    int64_t *support;   /* [c] true samples per class */
    int64_t *confusion; /* [c*c] rows = true class, columns = predicted */
} lv_metrics;

/* probs [n,c] (rows of class probabilities or any scores ordered like them), labels [n] in
 * [0,c). The prediction is the arg-max (first on ties). */
lv_status lv_metrics_compute(lv_metrics *m, const float *probs, const int32_t *labels, int64_t n, int c);
void lv_metrics_free(lv_metrics *m);
/* metrics.json text (docs/eval.md): accuracy, balanced_accuracy, macro_auc,
 * per_class {name: {auc, precision, recall, f1, support}}, confusion. NaN is written as
 * null. Returns a malloc'd string or NULL when out of memory. */
char *lv_metrics_to_json(const lv_metrics *m, const char *const *classes);

#ifdef __cplusplus
}
#endif
#endif
