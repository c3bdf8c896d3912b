/* The training loop of `liver-vlm train`: split, preprocessing fit, model build (or reload on
 * resume), epochs of steps with global-norm clipping and non-finite skipping, validation,
 * checkpoints, resume state and logs. Takes in-memory lv_datasets so tests and benchmarks
 * need no HDF5; opening files and parsing the command line belong to tools/cmd_train.c. */
#ifndef LV_TRAINER_H
#define LV_TRAINER_H

#include <stddef.h>
#include <stdint.h>

#include "data/dataset.h"
#include "train/config.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Consecutive non-finite steps that end a run. */
#define LV_TRAIN_MAX_BAD_STEPS 5
/* Per-epoch numbers kept in lv_train_result (later epochs are only logged). */
#define LV_TRAIN_RESULT_EPOCHS 64

/* Test hook: sees each training batch's host images [n, per_sample floats] before the
 * step (to inject NaN, say). step is the 0-based global step. */
typedef void (*lv_train_batch_hook)(void *ctx, int64_t step, float *images, int n, size_t per_sample);

struct lv_dist;

typedef struct lv_train_env {
    int rank, world;          /* data-parallel position; only rank 0 writes files */
    struct lv_dist *dist;     /* train/dist.h collectives when world > 1; NULL: one process */
    int resume;               /* continue the run in cfg->out (its config must be cfg) */
    int force;                /* replace a run already in cfg->out */
    int stop_after;           /* > 0: leave once this many epochs are complete, as if
                                 interrupted (--resume continues); 0: run to cfg->epochs */
    int progress;             /* -1: bar when stderr is a terminal (rank 0); 0: plain lines;
                                 1: bar */
    int quiet;                /* 1: no progress output at all (log.jsonl is still written) */
    lv_train_batch_hook batch_hook;
    void *hook_ctx;
    int pinned;               /* host-loader batches through page-locked buffers and double-
                                 buffered asynchronous copies (train/batch_stage.h): 0 auto (a
                                 device backend, batches not rendered on it), 1 on any backend
                                 with the staging entries (the CPU too: how tests check the
                                 path), -1 never (plain synchronous copies) */
} lv_train_env;

/* rank 0 of 1, fresh run, progress auto. */
void lv_train_env_default(lv_train_env *e);

typedef struct lv_train_result {
    int64_t steps;         /* global steps done at the end (all invocations) */
    int64_t epochs;        /* epochs complete */
    int64_t skipped;       /* non-finite steps skipped (all invocations) */
    int epochs_run;        /* epochs this call ran */
    double train_loss[LV_TRAIN_RESULT_EPOCHS]; /* by 0-based epoch; NaN when not run here */
    double val_auc[LV_TRAIN_RESULT_EPOCHS];
    double best_auc;
    int64_t best_epoch;    /* 1-based; 0: none */
    int64_t n_train, n_val;
} lv_train_result;

/* Trains per cfg on `data` (validation on `val`, or when NULL on a patient-level split of
 * data / its /split). Writes cfg->out/{model,best,state}.safetensors, config.json and
 * log.jsonl. res may be NULL. Errors: LV_ERR_USAGE (settings that do not fit the data),
 * LV_ERR_INPUT (data, files, a run already in cfg->out), LV_ERR_RUNTIME (device, and
 * LV_TRAIN_MAX_BAD_STEPS non-finite steps in a row). */
lv_status lv_train_run(const lv_train_config *cfg, const lv_dataset *data, const lv_dataset *val,
                       const lv_train_env *env, lv_train_result *res);

/* 1 when dir holds files of a run (config.json, model/best/state.safetensors, log.jsonl). */
int lv_train_dir_has_run(const char *dir);

#ifdef __cplusplus
}
#endif
#endif
