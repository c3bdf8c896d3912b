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
    lv_loader *l = NULL;
    lv_loader_opts o;
    lv_status s = probs && labels ? LV_OK : lv_errorf(LV_ERR_RUNTIME, "validation: out of memory");
    if (s == LV_OK) s = trainer_loader_opts(t, &o, 0);
    if (s == LV_OK) s = lv_loader_create(&l, t->vds, &o);
    double loss_sum = 0;
    int64_t done = 0;
    while (s == LV_OK) {
        lv_batch *b = NULL;
        s = lv_loader_next(l, &b);
        if (s != LV_OK || !b) break;
        if (done + b->n > t->n_val) {
            s = lv_errorf(LV_ERR_RUNTIME, "validation: the loader gave more than %lld samples", (long long)t->n_val);
            break;
        }
        const float *x = NULL;
        const int *y = NULL;
        s = trainer_batch_input(t, b, 0, &x, &y); /* device render or host batch */
        if (s != LV_OK) break;
        lv_vlm_predict(&t->m, x, y, b->n, t->probs_dev);
        float l1 = 0;
        be->copy_d2h(be, &l1, t->m.loss, sizeof l1);
        be->copy_d2h(be, probs + (size_t)done * C, t->probs_dev, (size_t)b->n * (size_t)C * sizeof(float));
        s = be->sync(be);
        memcpy(labels + done, b->labels, (size_t)b->n * sizeof *labels);
        loss_sum += (double)l1 * b->n;
        done += b->n;
    }
    lv_loader_destroy(l);
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
