/* Resume state of a training run, RUN/state.safetensors beside RUN/model.safetensors: the
 * optimizer moments of every trainable tensor (PyTorch's names: exp_avg / exp_avg_sq for
 * AdamW, momentum_buffer for SGD, then the checkpoint name) and the counters as metadata.
 * Weights live only in the checkpoint; a fingerprint of them ties the two files together
 * so a crash between the two writes is detected, not silently resumed. */
#ifndef LV_TRAIN_STATE_H
#define LV_TRAIN_STATE_H

#include <stdint.h>

#include "encoders/liver_vlm.h"

#ifdef __cplusplus
extern "C" {
#endif

#define LV_STATE_FORMAT "liver-vlm-train-state/1"

typedef struct lv_train_state {
    int64_t step;           /* batches consumed so far (skipped ones included) */
    int64_t opt_steps;      /* optimizer updates applied (AdamW's bias-correction count) */
    int64_t epoch;          /* epochs completed */
    int64_t cursor_epoch;   /* lv_loader_cursor of the training loader */
    int64_t cursor_position;
    double best_auc;        /* best validation macro-AUC so far; NaN: none */
    int64_t best_epoch;     /* 1-based epoch of best_auc; 0: none */
    int bad_steps;          /* consecutive non-finite steps at the save */
    int64_t skipped_total;  /* non-finite steps over the whole run */
    uint64_t seed;
    int optimizer;          /* lv_optimizer_kind */
    uint64_t model_hash;    /* lv_train_model_hash of the weights saved with this state */
    char *config_json;      /* the run's config.json (malloc'd; may be NULL) */
} lv_train_state;

void lv_train_state_init(lv_train_state *st);
void lv_train_state_free(lv_train_state *st);

/* Writes st and the moments of m (training buffers) to path atomically. */
lv_status lv_train_state_save(const lv_train_state *st, lv_vlm *m, const char *path);

/* Reads path into st and the moments into m's buffers (m built with training = 1 and the
 * same architecture). Missing or mis-shaped tensors and bad metadata are LV_ERR_INPUT
 * naming the file and key. */
lv_status lv_train_state_load(lv_train_state *st, lv_vlm *m, const char *path);

/* A 64-bit fingerprint of the model's weights and BN statistics (trainable text tensors
 * only, so a frozen encoder costs nothing). */
lv_status lv_train_model_hash(lv_vlm *m, uint64_t *out);

#ifdef __cplusplus
}
#endif
#endif
