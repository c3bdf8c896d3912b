/* The files of a cross-validation sweep (cv_io.c), private to train/cv*.c: directories, a
 * run's files and whether it finished, JSON documents and predictions.csv, every one
 * written whole (temp + rename) so an interrupted sweep never leaves half a file. No
 * training and no sweep logic here. */
#ifndef LV_CV_IO_H
#define LV_CV_IO_H

#include <stdint.h>

#include <cjson/cJSON.h>

#include "data/dataset.h"

/* mkdir -p. */
lv_status lv_cv_mkdir(const char *dir);

/* Removes a run's files (the trainer's, run.json, predictions.csv, metrics.json) from dir
 * so the run can start over; absent files are fine. */
lv_status lv_cv_clear_run(const char *dir);

/* dir/name <- doc, pretty printed, atomically. */
lv_status lv_cv_write_json(const char *dir, const char *name, const cJSON *doc);

/* *out <- the JSON document at path, or NULL when there is no such file. An unreadable or
 * malformed file is LV_ERR_INPUT naming it. */
lv_status lv_cv_read_json(const char *path, cJSON **out);

/* dir/predictions.csv in `liver-vlm eval`'s format: index,patient,label,pred,p_<CLASS>...
 * for the samples idx[0..n) of ds, probs [n, C] in that order. */
lv_status lv_cv_write_predictions(const char *dir, const lv_dataset *ds, const int64_t *idx, int64_t n,
                                  const float *probs);

typedef struct lv_cv_run_state {
    int finished; /* metrics.json and run.json's result are there and readable */
    double accuracy, balanced_accuracy, macro_auc; /* NaN for null */
    int64_t n_train, n_test;
    double seconds;
} lv_cv_run_state;

/* What dir holds: *same = its run.json's identity equals `identity`; rs describes the
 * finished run when there is one. Missing or unreadable files mean "not finished", never
 * an error: the run is then simply done again. */
lv_status lv_cv_run_state_read(const char *dir, const cJSON *identity, lv_cv_run_state *rs, int *same);

#endif
