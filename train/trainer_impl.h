/* The trainer's private state, shared by trainer.c (the loop), trainer_setup.c (data,
 * model and optimizer set-up), trainer_syncbn.c (--sync-bn) and validate.c. Not a public
 * interface: nothing outside train/trainer*.c and train/validate.c includes it. */
#ifndef LV_TRAINER_IMPL_H
#define LV_TRAINER_IMPL_H

#include <limits.h>
#include <stdint.h>

#include "data/dataset.h"
#include "data/loader.h"
#include "data/preprocess.h"
#include "encoders/liver_vlm.h"
#include "train/checkpoint.h"
#include "train/optim.h"
#include "train/runlog.h"
#include "train/state.h"
#include "train/trainer.h"

#ifndef PATH_MAX
#define PATH_MAX 4096
#endif

/* --sync-bn: the ResNet's lv_bn_sync hook carried over train/dist.h (trainer_syncbn.c). */
typedef struct trainer_bn_sync {
    lv_bn_sync hook;      /* ctx points back at this struct */
    struct lv_dist *dist;
    lv_backend *be;
    double *sums;         /* [cap] host, the cross-rank sum in double */
    float *host;          /* [cap] staging copy of device memory (non-CPU backends) */
    int cap;
    int active;           /* 1: world > 1 and --sync-bn */
} trainer_bn_sync;

/* One trainable model part (visual, text, head) as the optimizer and clipping see it. */
typedef struct trainer_part {
    const char *name;
    lv_param_buffers *buf;
    lv_optim_plan plan;
} trainer_part;

typedef struct trainer {
    const lv_train_config *cfg;
    const lv_train_env *env;
    lv_backend *be;
    const lv_dataset *ds, *vds; /* vds: validation source (ds itself for a split) */
    int64_t *train_idx, n_train;
    int64_t *val_idx, n_val;
    int size;                   /* ROI side fed to the model */
    int drop_last;
    int writer;                 /* this rank writes files */

    lv_vlm m;
    int have_model;
    lv_ckpt_info info;          /* classes, phases, preprocessing, size, config */
    lv_optim_config oc;
    trainer_part parts[3];
    int nparts;
    int64_t steps_per_epoch;

    void *clip_scratch;         /* LV_GRAD_CLIP_SCRATCH_BYTES on the device */
    float *vstate_backup;       /* BN statistics before the step (restored when it is skipped) */
    float *x_dev;               /* device copies of a batch (CUDA only; NULL on the CPU) */
    int *y_dev;
    float *probs_dev, *probs_host; /* validation [batch, C] */
    trainer_bn_sync bn_sync;

    lv_train_state st;
    char *config_json;
    lv_runlog log;
    char model_path[PATH_MAX], best_path[PATH_MAX], state_path[PATH_MAX], config_path[PATH_MAX],
        log_path[PATH_MAX];
} trainer;

/* trainer_setup.c */
lv_status trainer_setup_data(trainer *t);
lv_status trainer_build_model(trainer *t);  /* fresh run: new model, preprocessing fit */
lv_status trainer_load_run(trainer *t);     /* --resume: model, info and state from cfg->out */
lv_status trainer_setup_optim(trainer *t);  /* parts, plans, schedule (needs steps_per_epoch) */
lv_status trainer_loader_opts(const trainer *t, lv_loader_opts *o, int train);
void trainer_free_setup(trainer *t);

/* trainer_syncbn.c: installs the hook when cfg->sync_bn and world > 1 (a note for one
 * process, where every BN already sees the whole batch); free is safe when never set up. */
lv_status trainer_syncbn_setup(trainer *t);
void trainer_syncbn_free(trainer *t);

/* validate.c: loss, accuracy and macro-AUC over the validation part (NaN when empty). */
lv_status trainer_validate(trainer *t, double *loss, double *accuracy, double *macro_auc);

#endif
