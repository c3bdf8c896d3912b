/* Metrics (see metrics.h). Sorting-based AUC in double: O(n log n) per class, exact for ties,
 * and independent of the order samples arrive in (so gathered multi-rank results agree). */
#include "metrics.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

typedef struct scored {
    float s;
    int pos;
} scored;

static int cmp_scored(const void *a, const void *b) {
    float x = ((const scored *)a)->s, y = ((const scored *)b)->s;
    return (x > y) - (x < y);
}

/* Mann-Whitney U / (P*N) with tied groups given their average rank: the area under the ROC
 * curve traced through every threshold, which is what sklearn's trapezoidal roc_auc_score
 * computes. */
static double auc_one(scored *v, int64_t n) {
    qsort(v, (size_t)n, sizeof *v, cmp_scored);
    double rank_sum = 0.0;
    int64_t npos = 0;
    for (int64_t i = 0; i < n;) {
        int64_t j = i;
        while (j < n && v[j].s == v[i].s) j++;
        double avg_rank = 0.5 * (double)(i + 1 + j); /* ranks i+1..j */
        for (int64_t k = i; k < j; k++)
            if (v[k].pos) rank_sum += avg_rank, npos++;
        i = j;
    }
    int64_t nneg = n - npos;
    if (npos == 0 || nneg == 0) return NAN;
    return (rank_sum - 0.5 * (double)npos * (double)(npos + 1)) / ((double)npos * (double)nneg);
}

void lv_metrics_free(lv_metrics *m) {
    free(m->auc);
    free(m->precision);
    free(m->recall);
    free(m->f1);
    free(m->support);
    free(m->confusion);
    memset(m, 0, sizeof *m);
}

lv_status lv_metrics_compute(lv_metrics *m, const float *probs, const int32_t *labels, int64_t n, int c) {
    memset(m, 0, sizeof *m);
    LV_CHECK(n >= 1 && c >= 2, LV_ERR_INPUT, "metrics: need n >= 1 samples and c >= 2 classes (n=%lld c=%d)",
             (long long)n, c);
    m->c = c;
    m->n = n;
    m->auc = calloc((size_t)c, sizeof *m->auc);
    m->precision = calloc((size_t)c, sizeof *m->precision);
    m->recall = calloc((size_t)c, sizeof *m->recall);
    m->f1 = calloc((size_t)c, sizeof *m->f1);
    m->support = calloc((size_t)c, sizeof *m->support);
    m->confusion = calloc((size_t)c * (size_t)c, sizeof *m->confusion);
    scored *v = malloc((size_t)n * sizeof *v);
    if (!m->auc || !m->precision || !m->recall || !m->f1 || !m->support || !m->confusion || !v) {
        free(v);
        lv_metrics_free(m);
        return lv_errorf(LV_ERR_RUNTIME, "metrics: out of memory for %lld samples", (long long)n);
    }
    int64_t correct = 0;
    for (int64_t i = 0; i < n; i++) {
        if (labels[i] < 0 || labels[i] >= c) {
            free(v);
            lv_metrics_free(m);
            return lv_errorf(LV_ERR_INPUT, "metrics: label %d of sample %lld outside [0,%d)", labels[i],
                             (long long)i, c);
        }
        const float *p = probs + (size_t)i * (size_t)c;
        int pred = 0;
        for (int j = 1; j < c; j++)
            if (p[j] > p[pred]) pred = j;
        m->confusion[(size_t)labels[i] * (size_t)c + (size_t)pred]++;
        m->support[labels[i]]++;
        correct += pred == labels[i];
    }
    m->accuracy = (double)correct / (double)n;
    double auc_sum = 0.0, recall_sum = 0.0;
    int auc_count = 0, recall_count = 0;
    for (int j = 0; j < c; j++) {
        for (int64_t i = 0; i < n; i++) {
            v[i].s = probs[(size_t)i * (size_t)c + (size_t)j];
            v[i].pos = labels[i] == j;
        }
        m->auc[j] = auc_one(v, n);
        if (!isnan(m->auc[j])) auc_sum += m->auc[j], auc_count++;
        int64_t tp = m->confusion[(size_t)j * (size_t)c + (size_t)j], predicted = 0;
        for (int k = 0; k < c; k++) predicted += m->confusion[(size_t)k * (size_t)c + (size_t)j];
        m->precision[j] = predicted ? (double)tp / (double)predicted : 0.0;
        m->recall[j] = m->support[j] ? (double)tp / (double)m->support[j] : 0.0;
        double pr = m->precision[j] + m->recall[j];
        m->f1[j] = pr > 0 ? 2.0 * m->precision[j] * m->recall[j] / pr : 0.0;
        /* balanced accuracy averages recall over the classes present in y_true (sklearn) */
        if (m->support[j]) recall_sum += m->recall[j], recall_count++;
    }
    free(v);
    m->macro_auc = auc_count ? auc_sum / auc_count : NAN;
    m->balanced_accuracy = recall_count ? recall_sum / recall_count : NAN;
    return LV_OK;
}

static cJSON *num_or_null(double x) { return isnan(x) ? cJSON_CreateNull() : cJSON_CreateNumber(x); }

char *lv_metrics_to_json(const lv_metrics *m, const char *const *classes) {
    cJSON *root = cJSON_CreateObject();
    if (!root) return NULL;
    cJSON_AddItemToObject(root, "n", cJSON_CreateNumber((double)m->n));
    cJSON_AddItemToObject(root, "accuracy", num_or_null(m->accuracy));
    cJSON_AddItemToObject(root, "balanced_accuracy", num_or_null(m->balanced_accuracy));
    cJSON_AddItemToObject(root, "macro_auc", num_or_null(m->macro_auc));
    cJSON *per = cJSON_AddObjectToObject(root, "per_class");
    cJSON *conf = cJSON_AddArrayToObject(root, "confusion");
    cJSON *names = cJSON_AddArrayToObject(root, "classes");
    for (int j = 0; j < m->c; j++) {
        cJSON *o = cJSON_AddObjectToObject(per, classes[j]);
        cJSON_AddItemToObject(o, "auc", num_or_null(m->auc[j]));
        cJSON_AddItemToObject(o, "precision", num_or_null(m->precision[j]));
        cJSON_AddItemToObject(o, "recall", num_or_null(m->recall[j]));
        cJSON_AddItemToObject(o, "f1", num_or_null(m->f1[j]));
        cJSON_AddItemToObject(o, "support", cJSON_CreateNumber((double)m->support[j]));
        cJSON *row = cJSON_CreateArray();
        for (int k = 0; k < m->c; k++)
            cJSON_AddItemToArray(row, cJSON_CreateNumber((double)m->confusion[(size_t)j * (size_t)m->c + (size_t)k]));
        cJSON_AddItemToArray(conf, row);
        cJSON_AddItemToArray(names, cJSON_CreateString(classes[j]));
    }
    char *s = cJSON_Print(root);
    cJSON_Delete(root);
    return s;
}
