/* The training/evaluation data loader: a background thread turns an lv_dataset (in memory
 * or streamed) into ready float batches ahead of the consumer, with deterministic shuffle,
 * augmentation, data-parallel sharding and an exact resume cursor. The dataset's
 * read_sample is only ever called from that one thread (Debian's HDF5 is not thread-safe). */
#ifndef LV_LOADER_H
#define LV_LOADER_H

#include <stddef.h>
#include <stdint.h>

#include "data/augment.h"
#include "data/dataset.h"
#include "data/preprocess.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lv_loader_opts {
    int batch;              /* samples per batch, >= 1 */
    uint64_t seed;
    int shuffle;            /* 1: new Philox permutation every epoch; 0: subset order */
    int drop_last;          /* 1: drop the short last batch and the sharding remainder */
    int rank, world;        /* this process's share of every epoch (world >= 1) */
    int augment;            /* 0: evaluation (centre crop, nothing random) */
    lv_augment_opts aug;    /* used when augment = 1 */
    lv_preproc preproc;     /* resolved against the dataset at create */
    int out_size;           /* output S x S; 0: min(H, W) */
    int balanced;           /* 1: class-balanced draws instead of a permutation */
    const int64_t *indices; /* the subset (a split); NULL: every sample. Copied. */
    int64_t count;
    int prefetch;           /* ready batches kept ahead; 0: 4 */
    int threads;            /* OpenMP threads per batch on the loader thread; 0: runtime default */
    int64_t epochs;         /* stop after this many epochs (next gives NULL); 0: never stop */
    int render;             /* 1: read and render pixels into images (default); 0: serve only
                               indices, labels and augmentation keys (images NULL, no pixel is
                               read) for a consumer that renders elsewhere (data/device_data.h) */
    /* Where the batch images live. NULL: malloc/free. A GPU consumer passes page-locked
     * memory of its backend so a batch can be copied to the device asynchronously, straight
     * from the buffer it was rendered into (train/batch_stage.h); the loader only calls
     * these two, from lv_loader_create and lv_loader_destroy. */
    void *(*image_alloc)(void *ctx, size_t bytes);
    void (*image_free)(void *ctx, void *ptr);
    void *alloc_ctx;
} lv_loader_opts;

/* batch 32, seed 0, shuffle on, rank 0 of 1, augmentation off (default train opts in aug),
 * default preprocessing, prefetch 4, endless, render on. */
void lv_loader_opts_default(lv_loader_opts *o);

typedef struct lv_batch {
    int n;             /* samples in this batch (< batch only for a short last batch) */
    int p, s;          /* phases, output size */
    float *images;     /* [n, p, s, s]; NULL when the loader does not render */
    int32_t *labels;   /* [n] */
    int64_t *indices;  /* [n] dataset sample indices */
    int64_t *keys;     /* [n] augmentation keys (lv_augment_draw's key), always filled */
    int64_t epoch;
    int64_t step;      /* batch number within the epoch on this rank */
} lv_batch;

typedef struct lv_loader lv_loader;

/* Validates everything (LV_ERR_USAGE for options, LV_ERR_INPUT for data) and starts the
 * loader thread. ds must outlive the loader and must not be read elsewhere meanwhile. */
lv_status lv_loader_create(lv_loader **out, const lv_dataset *ds, const lv_loader_opts *opts);
/* Blocks until the next batch is ready. The batch stays valid until the next call to
 * lv_loader_next, lv_loader_seek or lv_loader_destroy. *batch = NULL once `epochs` epochs
 * are done. An error on the loader thread (a sample that fails to read) is returned here
 * with its message, and again on every later call. */
lv_status lv_loader_next(lv_loader *l, lv_batch **batch);
/* Where the consumer stands: the next batch starts at sample `position` of this rank's
 * share of `epoch` (position 0 of the next epoch after an epoch's last batch). */
void lv_loader_cursor(const lv_loader *l, int64_t *epoch, int64_t *position);
/* Continues from a cursor: the batches that follow are bit-identical to those an
 * uninterrupted loader with the same options gives after that point. Discards prefetched
 * batches. LV_ERR_USAGE for a position outside [0, samples_per_epoch]. */
lv_status lv_loader_seek(lv_loader *l, int64_t epoch, int64_t position);
/* Batches per epoch and samples per epoch on this rank. */
int64_t lv_loader_steps_per_epoch(const lv_loader *l);
int64_t lv_loader_samples_per_epoch(const lv_loader *l);
/* Seconds the consumer has spent blocked inside lv_loader_next (the trainer logs it).
 * Like lv_loader_cursor, call it from the consumer's thread. */
double lv_loader_wait_seconds(const lv_loader *l);
/* The resolved preprocessing in use (what the checkpoint records). */
const lv_preproc *lv_loader_preproc(const lv_loader *l);
/* Stops the thread (also mid-epoch) and frees everything. NULL is fine. */
void lv_loader_destroy(lv_loader *l);

#ifdef __cplusplus
}
#endif
#endif
