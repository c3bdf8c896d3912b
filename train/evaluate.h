/* Batch evaluation of a loaded model on a data set: the prediction loop `liver-vlm eval`
 * runs (and, under mpirun, each rank runs on its shard before rank 0 gathers). Uses the
 * checkpoint's preprocessing through the loader in evaluation mode (centre crop, nothing
 * random). Writes no files and knows no command line. */
#ifndef LV_EVALUATE_H
#define LV_EVALUATE_H

#include <stdint.h>

#include "data/dataset.h"
#include "data/preprocess.h"
#include "encoders/liver_vlm.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lv_eval_opts {
    int batch;      /* images per forward, >= 1 (128) */
    int input_size; /* ROI side the model expects (the checkpoint's input_size) */
    lv_preproc pre; /* the checkpoint's preprocessing */
    int progress;   /* 1: progress lines on stderr every few seconds */
    int threads;    /* loader threads; 0: runtime default */
    int pinned;     /* batches through page-locked buffers and double-buffered asynchronous
                       copies (train/batch_stage.h): 0 auto (on a device backend), 1 on any
                       backend with the staging entries, -1 plain synchronous copies */
} lv_eval_opts;

void lv_eval_opts_default(lv_eval_opts *o);

/* Checks that ds can be evaluated by a model trained on classes[0..c) and phases[0..p):
 * same names in the same order (LV_ERR_INPUT listing both sides otherwise). */
lv_status lv_eval_check_data(const lv_dataset *ds, char *const *classes, int c, char *const *phases, int p);

/* Class probabilities of the samples indices[0..count) of ds (NULL: all of ds), in that
 * order: probs [count, C] host (caller-allocated). Labels are the dataset's. */
lv_status lv_eval_predict(lv_vlm *m, const lv_dataset *ds, const int64_t *indices, int64_t count,
                          const lv_eval_opts *o, float *probs);

/* This rank's share of a sample list for a data-parallel evaluation: positions rank,
 * rank + world, ... of idx[0..n) (NULL: of 0..n-1), malloc'd into *out with count *n_out
 * (possibly 0). Shares are disjoint and cover the list, so rank 0 can gather them back in
 * order. */
lv_status lv_eval_shard(const int64_t *idx, int64_t n, int rank, int world, int64_t **out, int64_t *n_out);

#ifdef __cplusplus
}
#endif
#endif
