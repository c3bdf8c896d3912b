/* `liver-vlm cv`: patient-level K-fold cross-validation and k-shot sweeps over seeds for
 * both heads (cv.c: the plan, the runs, resume and the sweep guard) and their summary
 * table (cv_table.c: mean and sample std over folds x seeds, table.md/csv, cv.json).
 * Takes an in-memory lv_dataset; opening files and parsing the command line belong to
 * tools/cmd_cv.c. */
#ifndef LV_CV_H
#define LV_CV_H

#include <stddef.h>
#include <stdint.h>

#include "data/dataset.h"
#include "train/config.h"

#ifdef __cplusplus
extern "C" {
#endif

#define LV_CV_MAX_LIST 64 /* most entries in --shots and --seeds */

typedef struct lv_cv_sweep {
    int folds;                          /* K >= 2 */
    uint64_t fold_seed;                 /* deals patients to folds; the same for every seed */
    int heads[2], n_heads;              /* lv_head_kind values, in table order */
    int shots[LV_CV_MAX_LIST], n_shots; /* labelled lesions per class; 0 = all */
    uint64_t seeds[LV_CV_MAX_LIST];     /* model init, shuffling, augmentation, shot draw */
    int n_seeds;
    /* Every other training setting, shared by all runs. data: the data file (recorded);
     * out: the sweep directory DIR. Its head, seed, shots, val and val_fraction are
     * ignored: each run sets them. */
    lv_train_config train;
} lv_cv_sweep;

/* folds 5, fold seed 1, heads vlm,linear, shots 5,10,20,all, seeds 1,2,3, train defaults. */
void lv_cv_sweep_default(lv_cv_sweep *s);
void lv_cv_sweep_free(lv_cv_sweep *s);

/* Comma lists of the command line into s; opt names the option in messages. Empty items,
 * unknown names, numbers out of range and repeats are LV_ERR_USAGE. */
lv_status lv_cv_parse_heads(lv_cv_sweep *s, const char *opt, const char *list); /* vlm,linear */
lv_status lv_cv_parse_shots(lv_cv_sweep *s, const char *opt, const char *list); /* 5,10,all */
lv_status lv_cv_parse_seeds(lv_cv_sweep *s, const char *opt, const char *list); /* 1,2,3 */

/* fold[i] in [0,k) for every sample: lv_kfold_assign over patients, with the error
 * phrased for --folds (LV_ERR_USAGE when k < 2 or k exceeds the patients). */
lv_status lv_cv_assign_folds(const lv_dataset *ds, int k, uint64_t fold_seed, int32_t *fold);

/* The training samples of run (fold f, shots, seed): every sample outside fold f, or with
 * shots > 0 the lesions lv_fewshot_select draws from them (nested in shots for one seed,
 * exactly what the trainer selects for the run). malloc'd, ascending. */
lv_status lv_cv_train_indices(const lv_dataset *ds, const int32_t *fold, int f, int shots, uint64_t seed,
                              int64_t **idx, int64_t *n);

/* Every fold's training part has at least the largest shots of s per class; otherwise
 * LV_ERR_USAGE naming shots, the fold and the class that falls short. */
lv_status lv_cv_check_shots(const lv_cv_sweep *s, const lv_dataset *ds, const int32_t *fold);

/* Runs in the sweep and the name of one: <head>_<shots|all>_s<seed>_f<fold 1..K>. */
int64_t lv_cv_run_count(const lv_cv_sweep *s);
void lv_cv_run_name(int head, int shots, uint64_t seed, int fold, char *buf, size_t cap);
const char *lv_cv_head_name(int head); /* "vlm", "linear" */

typedef struct lv_cv_result {
    int head, shots, fold; /* fold 0-based */
    uint64_t seed;
    int done;              /* metrics below are valid */
    int reused;            /* found finished on disk, not run by this invocation */
    int resumed;           /* an interrupted run continued from its last saved epoch */
    double accuracy, balanced_accuracy, macro_auc; /* macro_auc NaN when undefined */
    int64_t n_train, n_test;
    double seconds;        /* training + evaluation wall time; NaN when not recorded */
} lv_cv_result;

typedef struct lv_cv_env {
    int force;    /* run into a DIR whose cv_config.json describes another sweep */
    int verbose;  /* the trainer's own progress lines for every run */
    int quiet;    /* no per-run progress line (tests) */
} lv_cv_env;

void lv_cv_env_default(lv_cv_env *e);

/* The whole sweep into s->train.out (DIR): cv_config.json, runs/<name>/ (the trainer's run
 * files, run.json, predictions.csv and, written last, metrics.json), table.md, table.csv
 * and cv.json (rewritten after every run). A run whose metrics.json exists and whose
 * run.json matches its settings is reused; an unfinished one is resumed from its last
 * epoch when possible, else started again. results (may be NULL) receives
 * lv_cv_run_count(s) entries in run order (malloc'd). Errors: LV_ERR_USAGE for a sweep
 * that does not fit the data or differs from DIR's without force; LV_ERR_INPUT and
 * LV_ERR_RUNTIME from files and training, naming the run. */
lv_status lv_cv_run(const lv_cv_sweep *s, const lv_dataset *ds, const lv_cv_env *env, lv_cv_result **results);

/* ---- summary (cv_table.c) ------------------------------------------------------------- */

typedef struct lv_cv_stat {
    double mean, std; /* std: sample standard deviation (n - 1); NaN when n < 2 */
    int n;            /* finite values that entered */
} lv_cv_stat;

/* Mean and sample std of the finite values of x[0..n) (NaN ones are left out). */
void lv_cv_stat_compute(const double *x, int n, lv_cv_stat *st);

typedef struct lv_cv_row {
    int head, shots;
    int runs;         /* finished runs of this (head, shots) */
    lv_cv_stat accuracy, balanced_accuracy, macro_auc;
} lv_cv_row;

/* One row per (head, shots) in sweep order (heads outer), from the finished results:
 * rows must hold n_heads * n_shots entries. */
void lv_cv_aggregate(const lv_cv_sweep *s, const lv_cv_result *r, int64_t n, lv_cv_row *rows);

/* table.md, table.csv and cv.json text (malloc'd; NULL when out of memory). sweep_json is
 * the sweep definition (cv_config.json) embedded in cv.json. */
char *lv_cv_table_md(const lv_cv_sweep *s, const lv_cv_row *rows, const lv_cv_result *r, int64_t n);
char *lv_cv_table_csv(const lv_cv_sweep *s, const lv_cv_row *rows);
char *lv_cv_json(const lv_cv_sweep *s, const char *sweep_json, const lv_cv_row *rows, const lv_cv_result *r,
                 int64_t n);

#ifdef __cplusplus
}
#endif
#endif
