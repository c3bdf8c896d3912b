/* Validation after each epoch: the validation part through the model in evaluation mode
 * (running BN statistics, no augmentation, centre crop), mean loss, accuracy and
 * macro-AUC with the metrics eval reports. Reads the model, never changes it. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "train/metrics.h"
#include "train/trainer_impl.h"

lv_status trainer_validate(trainer *t, double *loss, double *accuracy, double *macro_auc) {
    *loss = *accuracy = *macro_auc = NAN;
    if (t->n_val == 0) return LV_OK;
    lv_backend *be = t->be;
    int C = t->m.cfg.classes;
    float *probs = malloc((size_t)t->n_val * (size_t)C * sizeof *probs);
    int32_t *labels = malloc((size_t)t->n_val * sizeof *labels);
    trainer_feed f = {0};
    lv_status s = probs && labels ? LV_OK : lv_errorf(LV_ERR_RUNTIME, "validation: out of memory");
    if (s == LV_OK) s = trainer_feed_open(t, &f, 0, 0, 0);
    double loss_sum = 0;
    int64_t done = 0;
    while (s == LV_OK) {
        int have = 0;
        s = trainer_feed_next(&f, &have); /* device render, staged or host batch */
        if (s != LV_OK || !have) break;
        if (done + f.n > t->n_val) {
            s = lv_errorf(LV_ERR_RUNTIME, "validation: the loader gave more than %lld samples", (long long)t->n_val);
            break;
        }
        lv_vlm_predict(&t->m, f.x, f.y, f.n, t->probs_dev);
        s = trainer_feed_prefetch(&f); /* the next batch's copy overlaps this forward */
        float l1 = 0;
        be->copy_d2h(be, &l1, t->m.loss, sizeof l1);
        be->copy_d2h(be, probs + (size_t)done * C, t->probs_dev, (size_t)f.n * (size_t)C * sizeof(float));
        lv_status sy = be->sync(be);
        if (s == LV_OK) s = sy;
        memcpy(labels + done, f.labels, (size_t)f.n * sizeof *labels);
        loss_sum += (double)l1 * f.n;
        done += f.n;
    }
    trainer_feed_close(&f);
    if (s == LV_OK && done != t->n_val)
        s = lv_errorf(LV_ERR_RUNTIME, "validation: %lld of %lld samples seen", (long long)done, (long long)t->n_val);
    if (s == LV_OK) {
        lv_metrics mt;
        memset(&mt, 0, sizeof mt);
        s = lv_metrics_compute(&mt, probs, labels, done, C);
        if (s == LV_OK) {
            *loss = loss_sum / (double)done;
            *accuracy = mt.accuracy;
            *macro_auc = mt.macro_auc;
        }
        lv_metrics_free(&mt);
    }
    free(probs);
    free(labels);
    return s;
}
