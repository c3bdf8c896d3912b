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
#include "train/grad_buckets.h"
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

/* --objective phase-shuffle (objective_shuffle.c): the P! phase permutations as the run's
 * classes and the device buffers a permuted batch is assembled in. */
typedef struct trainer_shuffle {
    int active, p, nperm;
    unsigned char perm[LV_MAX_CLASSES][LV_MAX_PHASES]; /* output channel c = input channel perm[k][c] */
    char *names[LV_MAX_CLASSES];                      /* "PV_NC_ART": the phase order produced */
    float *x;                                         /* [batch, p, s, s] device */
    int *y;                                           /* [batch] device */
    int32_t *yh;                                      /* [batch] host: the labels validation scores */
} trainer_shuffle;

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
    int nclass;                 /* what the head predicts: the data's classes, or the */
    const char *const *class_names; /* phase permutations of --objective phase-shuffle */
    trainer_shuffle shuf;

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
    struct lv_stager *stager;   /* host-loader batches staged through pinned memory, or NULL */
    char data_note[256];        /* which batch path and why, for the start log */
    float *probs_dev, *probs_host; /* validation [batch, C] */
    trainer_bn_sync bn_sync;
    struct lv_cuda_comm *nccl;  /* --comm nccl (or auto on GPUs): NULL on the MPI path */
    float *comm_scalars;        /* [2] device: loss and non-finite flag, averaged through NCCL */
    const char *comm_name;      /* "nccl", "mpi" or "none" (one process) */
    lv_grad_buckets buckets;    /* NCCL: the reduction's buckets, image encoder's overlapped */
    lv_grad_ready grad_ready;   /* NCCL: launches image-encoder buckets during the backward */
    lv_status comm_err;         /* a launch that failed inside the backward, reported after it */
    int64_t comm_steps;         /* steps begun by this process (no overlap in the first) */
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
 * the choice in data_note. Otherwise picks the host loader's path: staged through pinned
 * memory (the stager; automatic on a device, env->pinned) or plain copies into x_dev.
 * Call after the model and its buffers exist. */
lv_status trainer_setup_device_data(trainer *t);
/* The model's input for a loader batch: rendered on the backend from device data, or the host
 * images (copied to x_dev on a device). Train batches also go through env->batch_hook.
 */
lv_status trainer_batch_input(trainer *t, const lv_batch *b, int train, const float **x, const int **y);
void trainer_free_setup(trainer *t);

/* trainer_feed.c: the batches of one pass (a training epoch or a validation run) whichever
 * path serves them: device data, staged (pinned, double-buffered) or plain host batches. */
typedef struct trainer_feed {
    trainer *t;
    int train;
    lv_loader *l;              /* the loader (owned by the stager on the staged path) */
    int64_t step0;             /* t->st.step when opened: the staged hook's step base */
    /* the current batch, as the model takes it */
    const float *x;
    const int *y;
    int n;
    const int32_t *labels;     /* host [n] */
    const int64_t *indices;    /* host [n] dataset sample indices (clip looks up the reports) */
} trainer_feed;

/* Starts a loader for the training part (epochs e+1, sought to (e, pos)) or the validation
 * part (train = 0; e and pos ignored). */
lv_status trainer_feed_open(trainer *t, trainer_feed *f, int train, int64_t e, int64_t pos);
/* The next batch into f's fields; *have = 0 at the end. */
lv_status trainer_feed_next(trainer_feed *f, int *have);
/* Once every read of the current batch is queued: stage the next batch behind it (no-op
 * off the staged path). */
lv_status trainer_feed_prefetch(trainer_feed *f);
void trainer_feed_cursor(const trainer_feed *f, int64_t *epoch, int64_t *position);
double trainer_feed_wait_seconds(const trainer_feed *f);
void trainer_feed_close(trainer_feed *f);

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
/* NCCL: the hook to put in the image encoder's activations for this step's backward (it
 * launches each bucket of image-encoder gradients as soon as the backward has finished it,
 * so communication overlaps the rest of the backward); NULL without NCCL. Builds the
 * buckets on first use and starts a new step's count. */
const lv_grad_ready *trainer_comm_step_begin(trainer *t);
/* NCCL path of the trainer's reduction point: the buckets (LV_TRAINER_BUCKET_BYTES of each
 * part's trainable runs) not launched during the backward, then loss and flag, with the
 * watchdog while waiting. */
lv_status trainer_comm_reduce(trainer *t, float *loss, int *nonfinite);
/* NCCL broadcast from rank 0 of n floats of device memory, waited for under the watchdog. */
lv_status trainer_comm_bcast(trainer *t, float *dev, size_t n, const char *what);
/* On a failed run: ncclCommAbort, so leaving never waits on peers. */
void trainer_comm_abort(trainer *t);
void trainer_comm_free(trainer *t);

/* objective_shuffle.c. classes_setup sets nclass/class_names (the data's, or the P!
 * permutations for phase-shuffle, with clear errors for P < 2 or P! > LV_MAX_CLASSES).
 * apply replaces a batch of n samples of side s (*x on the backend, any path) by its
 * phase-permuted copy, *y by the permutation ids and *labels by their host copy (what
 * validation scores); draw is the permutation of sample i (counter-based: training by
 * augmentation key, validation by dataset index). trainer_feed_next calls apply. */
lv_status trainer_classes_setup(trainer *t);
int trainer_shuffle_draw(const trainer *t, const int64_t *keys, const int64_t *indices, int i, int train);
lv_status trainer_shuffle_apply(trainer *t, int train, int n, int s, const int64_t *keys, const int64_t *indices,
                                const float **x, const int **y, const int32_t **labels);
void trainer_shuffle_free(trainer *t);

/* validate.c: loss, accuracy and macro-AUC over the validation part (NaN when empty). */
lv_status trainer_validate(trainer *t, double *loss, double *accuracy, double *macro_auc);

#endif
