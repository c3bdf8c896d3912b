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
    float *x_dev;               /* device copies of a batch (CUDA, or any backend with device
                                   data; NULL for the CPU's host loader) */
    int *y_dev;
    struct lv_device_data *dd;  /* --device-data: training data on the backend, or NULL */
    struct lv_device_data *vdd; /* validation data on the backend (== dd for a split), or NULL */
    char data_note[256];        /* which batch path and why, for the start log */
    float *probs_dev, *probs_host; /* validation [batch, C] */
    trainer_bn_sync bn_sync;
    struct lv_cuda_comm *nccl;  /* --comm nccl (or auto on GPUs): NULL on the MPI path */
    float *comm_scalars;        /* [2] device: loss and non-finite flag, averaged through NCCL */
    const char *comm_name;      /* "nccl", "mpi" or "none" (one process) */
    struct trainer_clip *clip;  /* --objective clip (train/objective_clip.c), else NULL */

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
/* --device-data: uploads the training (and validation) data when asked or, for auto, when the
 * backend is CUDA and they take <= half its free memory; allocates x_dev/y_dev for it; notes
 * the choice in data_note. Call after the model and its buffers exist. */
lv_status trainer_setup_device_data(trainer *t);
/* The model's input for a loader batch: rendered on the backend from device data, or the host
 * images (copied to x_dev on a device). Train batches also go through env->batch_hook. */
lv_status trainer_batch_input(trainer *t, const lv_batch *b, int train, const float **x, const int **y);
void trainer_free_setup(trainer *t);

/* trainer_syncbn.c: installs the hook when cfg->sync_bn and world > 1 (a note for one
 * process, where every BN already sees the whole batch); free is safe when never set up. */
lv_status trainer_syncbn_setup(trainer *t);
void trainer_syncbn_free(trainer *t);

/* Gradient bucket of the NCCL path: one all-reduce per ~25 MB contiguous range of a part's
 * flat gradient buffer (PyTorch DDP's default bucket size): big enough for full bandwidth,
 * small enough that, once buckets are launched during backward, the last one is short. */
#define LV_TRAINER_BUCKET_BYTES ((size_t)25 << 20)

/* trainer_comm.c: chooses the gradient transport (--comm) collectively and, for NCCL, joins
 * the communicator on this rank's GPU (rank 0's id through lv_dist_bcast) and logs ranks,
 * hosts, GPUs and the NCCL version. Call right after the backend exists. */
lv_status trainer_comm_setup(trainer *t);
/* NCCL path of the trainer's reduction point: each part's trainable runs averaged in
 * buckets of LV_TRAINER_BUCKET_BYTES, then loss and flag, with the watchdog while waiting. */
lv_status trainer_comm_reduce(trainer *t, float *loss, int *nonfinite);
/* NCCL broadcast from rank 0 of n floats of device memory, waited for under the watchdog. */
lv_status trainer_comm_bcast(trainer *t, float *dev, size_t n, const char *what);
/* On a failed run: ncclCommAbort, so leaving never waits on peers. */
void trainer_comm_abort(trainer *t);
void trainer_comm_free(trainer *t);

/* validate.c: loss, accuracy and macro-AUC over the validation part (NaN when empty). */
lv_status trainer_validate(trainer *t, double *loss, double *accuracy, double *macro_auc);

#endif
