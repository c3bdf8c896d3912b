/* Host-loader batches on a device, double-buffered: the loader renders into page-locked
 * buffers of the backend (a pool reused across epochs), and each batch is copied to one of two
 * device buffers on the backend's copy queue while the previous batch computes. Events order
 * everything; nothing here synchronises the device per batch. Works through the backend's
 * optional staging entries only (core/backend.h), so the CPU backend runs the same sequence
 * with plain memory and memcpy. Knows nothing of models: the caller queues the compute. */
#ifndef LV_BATCH_STAGE_H
#define LV_BATCH_STAGE_H

#include <stddef.h>
#include <stdint.h>

#include "core/backend.h"
#include "data/loader.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One batch on the backend. Valid until the next lv_stager_next or lv_stager_close. */
typedef struct lv_staged {
    const float *x;          /* backend memory [n, p, s, s] */
    const int32_t *y;        /* backend memory [n] */
    int n, p, s;
    const int32_t *labels;   /* host [n] */
    const int64_t *indices;  /* host [n] dataset sample indices */
    const int64_t *keys;     /* host [n] augmentation keys (as lv_batch's) */
    int64_t epoch, step;     /* as the loader's lv_batch */
    int64_t seq;             /* 0, 1, ... since lv_stager_open */
} lv_staged;

/* Sees each batch's host images right after the loader made them and before their copy is
 * queued (the trainer's test hook that injects NaN). seq as in lv_staged. */
typedef void (*lv_stager_hook)(void *ctx, int64_t seq, float *images, int n, size_t per_sample);

typedef struct lv_stager lv_stager;

/* Two device batches of up to `batch` samples of `per_sample` floats, their events and an
 * empty pinned pool. LV_ERR_USAGE when the backend lacks the staging entries. */
lv_status lv_stager_create(lv_stager **out, lv_backend *be, int batch, size_t per_sample);
/* Starts a loader on ds with opts (its images in the pinned pool; render must be on and the
 * batch and sample size must fit the stager). Nothing is fetched until lv_stager_next, so
 * the loader may be sought (lv_stager_loader) until then, and only then: a seek later would
 * hand the loader back a buffer a copy may still be reading. One loader at a time. */
lv_status lv_stager_open(lv_stager *st, const lv_dataset *ds, const lv_loader_opts *opts);
lv_loader *lv_stager_loader(lv_stager *st);
void lv_stager_set_hook(lv_stager *st, lv_stager_hook hook, void *ctx);
/* The next batch, with the compute queue already made to wait for its copy: queue work on
 * *out's x and y at once. *out = NULL after the loader's last batch. Finishes the previous
 * batch (see lv_stager_prefetch) and, if no prefetch was asked for, stages this one first. */
lv_status lv_stager_next(lv_stager *st, const lv_staged **out);
/* Call once every read of the current batch is queued: marks its device buffer reusable from
 * then on (an event on the compute queue), takes the following batch from the loader and
 * queues its copy into the other device buffer, so the copy overlaps the queued compute.
 * Optional (lv_stager_next does it otherwise) and idempotent. */
lv_status lv_stager_prefetch(lv_stager *st);
/* The loader cursor after the current batch (lv_loader_cursor's meaning), not after the
 * batch staged ahead of it. */
void lv_stager_cursor(const lv_stager *st, int64_t *epoch, int64_t *position);
/* Waits for the copies in flight, then stops the loader (its pinned buffers go back to the
 * pool). Safe when nothing is open. Returns the backend's sticky error, if any. */
lv_status lv_stager_close(lv_stager *st);
/* Closes and frees everything (device buffers, events, the pool). NULL is fine. */
void lv_stager_destroy(lv_stager *st);

#ifdef __cplusplus
}
#endif
#endif
