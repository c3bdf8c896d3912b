/* Every setting of `liver-vlm train` in one struct, described once in a table (config.c)
 * that drives the defaults' help text, the JSON config file, the CLI flags (JSON key with
 * '_' -> '-') and RUN/config.json. Precedence: defaults < --config file < CLI; on --resume
 * the run's own config.json is the base and only a few keys may change. No training here. */
#ifndef LV_TRAIN_CONFIG_H
#define LV_TRAIN_CONFIG_H

#include <stdint.h>
#include <stdio.h>

#include "core/status.h"

#ifdef __cplusplus
extern "C" {
#endif

enum { LV_TRAIN_DEVICE_AUTO = 0, LV_TRAIN_DEVICE_CPU = 1, LV_TRAIN_DEVICE_CUDA = 2 };
/* --precision: auto keeps the backend's default (tf32 on CUDA cc >= 8.0, fp32 on the CPU). */
enum { LV_TRAIN_PRECISION_AUTO = 0, LV_TRAIN_PRECISION_FP32 = 1, LV_TRAIN_PRECISION_TF32 = 2 };
/* --comm: how ranks average gradients. auto: NCCL when every rank runs CUDA on its own GPU
 * and world > 1, else MPI; nccl: NCCL on the GPUs (also with one rank); mpi: host-staged
 * MPI_Allreduce (lets two ranks share one GPU). */
enum { LV_TRAIN_COMM_AUTO = 0, LV_TRAIN_COMM_NCCL = 1, LV_TRAIN_COMM_MPI = 2 };
/* --device-data: where batches are gathered, augmented and normalised. auto: on the device
 * when the backend is CUDA and the raw data take <= half its free memory; on: on the backend
 * (CPU too); off: the host loader. */
enum { LV_TRAIN_DEVICE_DATA_AUTO = 0, LV_TRAIN_DEVICE_DATA_ON = 1, LV_TRAIN_DEVICE_DATA_OFF = 2 };

/* --objective: what the run learns. classify: the lesion classes (VLM or linear head);
 * phase-shuffle: which of the P! permutations was applied to an ROI's phases (linear head on
 * the image features, no labels needed); clip: symmetric contrastive loss between images and
 * their /reports within the batch. */
enum { LV_TRAIN_OBJECTIVE_CLASSIFY = 0, LV_TRAIN_OBJECTIVE_PHASE_SHUFFLE = 1, LV_TRAIN_OBJECTIVE_CLIP = 2 };

/* JSON seeds are doubles in most readers: keep them exactly representable. */
#define LV_TRAIN_SEED_MAX 9007199254740991.0 /* 2^53 - 1 */

typedef struct lv_train_config {
    char *data, *out, *val;               /* paths (malloc'd; NULL when unset) */
    int device;                           /* LV_TRAIN_DEVICE_* */
    int precision;                        /* LV_TRAIN_PRECISION_* */
    int device_data;                      /* LV_TRAIN_DEVICE_DATA_* */
    int epochs, batch;
    int sync_bn;                          /* BN statistics over every rank's batch */
    int comm;                             /* LV_TRAIN_COMM_* */
    double comm_timeout;                  /* seconds a collective may take before the watchdog aborts */
    double lr, min_lr, weight_decay;
    int optimizer;                        /* lv_optimizer_kind */
    double momentum;                      /* SGD */
    double warmup_epochs;                 /* at most one of the two warmups is > 0 */
    int64_t warmup_steps;
    double clip_norm;                     /* global gradient 2-norm; 0 = off */
    uint64_t seed;
    int objective;                        /* LV_TRAIN_OBJECTIVE_* */
    int head;                             /* lv_head_kind */
    int dim;
    int train_text;
    char *text_model, *prompts, *init_image;
    int size;                             /* ROI side; 0 = the data's height */
    int augment, balanced;
    double val_fraction;
    int shots;                            /* 0 = all training samples */
    int threads;                          /* 0 = every core */
    int log_every;
} lv_train_config;

/* Which keys a layer (file or CLI) set: bit k for the table's k-th key. */
typedef uint64_t lv_train_keyset;

/* Things the command line asks for that are not settings of the run. */
typedef struct lv_train_cli {
    const char *config_path; /* --config */
    const char *resume_dir;  /* --resume */
    int force;               /* --force */
    int help;                /* --help */
    int stop_after;          /* --stop-after N: leave after N epochs as if interrupted (0: no) */
} lv_train_cli;

void lv_train_config_default(lv_train_config *c);
void lv_train_config_free(lv_train_config *c);
/* Deep copy (dst is overwritten, not freed first). */
lv_status lv_train_config_copy(lv_train_config *dst, const lv_train_config *src);

int lv_train_config_key_count(void);
const char *lv_train_config_key_name(int k);
int lv_train_config_key_index(const char *key); /* -1 when unknown */

/* A JSON object of settings: unknown keys, duplicates, wrong types and values out of range
 * are LV_ERR_INPUT naming `where` and the key. Sets the bits of the keys it read. */
lv_status lv_train_config_parse_json(lv_train_config *c, const char *json, const char *where,
                                     lv_train_keyset *set);
lv_status lv_train_config_load_file(lv_train_config *c, const char *path, lv_train_keyset *set);

/* The command line (argv[0] is the command name): settings into c (bits into *set) and the
 * rest into cli. Unknown flags, missing values and bad numbers are LV_ERR_USAGE naming the
 * flag. */
lv_status lv_train_config_parse_args(lv_train_config *c, lv_train_keyset *set, lv_train_cli *cli,
                                     int argc, char **argv);

/* Copies the keys in `set` from src into dst. */
lv_status lv_train_config_overlay(lv_train_config *dst, const lv_train_config *src, lv_train_keyset set);

/* The whole precedence chain for a command line: defaults, then --config, then the flags;
 * with --resume DIR the base is DIR/config.json instead and a flag or config key other than
 * epochs/device/device_data/threads/comm/comm_timeout that differs from it is LV_ERR_USAGE naming the
 * flag (out becomes DIR). Checks the result (lv_train_config_check). */
lv_status lv_train_config_resolve(lv_train_config *c, lv_train_cli *cli, int argc, char **argv);

/* Cross-setting checks (required paths, one warmup, min_lr <= lr, no --comm nccl with
 * --device cpu): LV_ERR_USAGE. */
lv_status lv_train_config_check(const lv_train_config *c);

/* Every setting as one JSON object (malloc'd, pretty printed; NULL when out of memory). */
char *lv_train_config_to_json(const lv_train_config *c);

/* The option list with defaults, for --help. */
void lv_train_config_print_help(FILE *f);

/* Names of enum values as the config writes them ("fp32" is what lv_backend_set_precision
 * takes; "auto" means: do not call it). */
const char *lv_train_device_name(int device);
const char *lv_train_precision_name(int precision);
const char *lv_train_comm_name(int comm);

#ifdef __cplusplus
}
#endif
#endif
