/* Evaluation metrics against scikit-learn (tests/fixtures_metrics.py): accuracy, balanced
 * accuracy, per-class and macro one-vs-rest AUC (with tied scores), precision/recall/F1
 * with a never-predicted class, support and the confusion matrix; plus bad labels and the
 * JSON output. LV_TEST_SANITIZE */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "train/metrics.h"

static void vec(const char *what, const double *got, lv_st_file *fx, const char *key, int n) {
    size_t m = 0;
    float *want = lv_test_fixture_f32(fx, key, &m);
    if (!want) return;
    float *g = malloc((size_t)n * sizeof *g);
    for (int i = 0; i < n; i++) g[i] = (float)got[i];
    if (lv_test_true((int)m == n, "fixture length")) lv_test_close(what, g, want, (size_t)n, 1e-6);
    free(g);
    free(want);
}

static void one_case(const char *name) {
    lv_st_file *fx = lv_test_fixture_open(name);
    if (!fx) return;
    size_t np = 0, nl = 0;
    float *probs = lv_test_fixture_f32(fx, "probs", &np);
    int *lab = lv_test_fixture_i32(fx, "labels", &nl);
    int c = (int)(np / nl);
    int32_t *labels = malloc(nl * sizeof *labels);
    for (size_t i = 0; i < nl; i++) labels[i] = lab[i];
    lv_metrics m;
    if (lv_test_true(lv_metrics_compute(&m, probs, labels, (int64_t)nl, c) == LV_OK, name)) {
        vec("accuracy", &m.accuracy, fx, "accuracy", 1);
        vec("balanced_accuracy", &m.balanced_accuracy, fx, "balanced_accuracy", 1);
        vec("macro_auc", &m.macro_auc, fx, "macro_auc", 1);
        vec("auc per class", m.auc, fx, "auc", c);
        vec("precision", m.precision, fx, "precision", c);
        vec("recall", m.recall, fx, "recall", c);
        vec("f1", m.f1, fx, "f1", c);
        int *sup = lv_test_fixture_i32(fx, "support", NULL), *conf = lv_test_fixture_i32(fx, "confusion", NULL);
        int same = sup && conf;
        for (int j = 0; same && j < c; j++) same &= sup[j] == m.support[j];
        for (int j = 0; same && j < c * c; j++) same &= conf[j] == m.confusion[j];
        lv_test_true(same, "support and confusion equal sklearn's exactly");
        const char *names[5] = {"CYST", "FNH", "HCC", "HEM", "METS"};
        char *json = c == 5 ? lv_metrics_to_json(&m, names) : NULL;
        lv_test_true(json && strstr(json, "\"macro_auc\"") && strstr(json, "\"per_class\"") &&
                         strstr(json, "\"METS\"") && strstr(json, "\"confusion\""),
                     "metrics.json has the documented keys");
        free(json);
        free(sup);
        free(conf);
        lv_metrics_free(&m);
    }
    free(probs);
    free(lab);
    free(labels);
    lv_st_close(fx);
}

int main(void) {
    one_case("metrics_plain");
    one_case("metrics_ties");

    /* A perfect ranking has AUC 1, a reversed one 0; a class absent from the labels has no
     * AUC (NaN, written as null) and is left out of the macro average. */
    float p[8] = {0.9f, 0.1f, 0.8f, 0.2f, 0.3f, 0.7f, 0.4f, 0.6f};
    int32_t y[4] = {0, 0, 1, 1};
    lv_metrics m;
    lv_test_true(lv_metrics_compute(&m, p, y, 4, 2) == LV_OK && m.auc[0] == 1.0 && m.auc[1] == 1.0 &&
                     m.accuracy == 1.0, "perfect separation: AUC 1, accuracy 1");
    lv_metrics_free(&m);
    int32_t y3[4] = {0, 0, 0, 0};
    lv_test_true(lv_metrics_compute(&m, p, y3, 4, 2) == LV_OK && isnan(m.auc[1]) && isnan(m.macro_auc),
                 "single-class labels: AUC undefined, not a crash");
    char *json = NULL;
    const char *names2[2] = {"A", "B"};
    json = lv_metrics_to_json(&m, names2);
    lv_test_true(json && strstr(json, "null") != NULL, "undefined AUC written as null");
    free(json);
    lv_metrics_free(&m);
    int32_t bad[4] = {0, 1, 2, 0};
    lv_test_true(lv_metrics_compute(&m, p, bad, 4, 2) == LV_ERR_INPUT && strstr(lv_error_message(), "label 2"),
                 "out-of-range label rejected with its value");
    return lv_test_summary();
}
