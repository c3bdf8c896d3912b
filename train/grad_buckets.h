/* Gradient buckets of the data-parallel reduction: which contiguous ranges of the parts'
 * flat gradient buffers are averaged by one collective each, and when each may start.
 * Pure bookkeeping (no device, no communication), so it is tested on its own; the NCCL path
 * of the trainer (trainer_comm.c) launches them.
 *
 * One part (the image encoder) is "overlapped": its buckets are cut from the top of the
 * buffer down, because its backward finishes gradients from the highest offsets to the
 * lowest (lv_grad_ready, encoders/resnet18.h), and a bucket becomes due as soon as every
 * gradient in it is final, while the backward goes on. The other parts' buckets follow,
 * due at the reduction point. Every trainable float is in exactly one bucket; no bucket
 * spans a frozen tensor or exceeds the size cap. */
#ifndef LV_GRAD_BUCKETS_H
#define LV_GRAD_BUCKETS_H

#include <stddef.h>

#include "core/status.h"
#include "train/optim.h"

typedef struct lv_grad_bucket {
    int part;        /* index into the parts given to lv_grad_buckets_build */
    size_t offset, n; /* floats of that part's gradient buffer */
    size_t ready_at; /* overlapped part: due once the backward reports lo <= ready_at */
    int in_backward; /* 1: the overlapped part; 0: due at the reduction point only */
} lv_grad_bucket;

typedef struct lv_grad_buckets {
    lv_grad_bucket *b; /* launch order: the overlapped part top-down, then the others */
    int count;
    int next;          /* buckets [0, next) are launched in the current step */
} lv_grad_buckets;

/* plans[i]: part i's trainable runs (lv_optim_plan, sorted by offset, as built). overlap:
 * the part whose gradients become final during the backward, or -1. cap: floats per
 * bucket (>= 1). */
lv_status lv_grad_buckets_build(lv_grad_buckets *g, const lv_optim_plan *const *plans, int nparts, int overlap,
                                size_t cap);
/* After the backward reported lo: the buckets [g->next, return value) are due now (the
 * caller launches them and sets next). lo = 0 makes every overlapped bucket due; the other
 * parts' buckets are never due here: the caller launches them at the reduction point. */
int lv_grad_buckets_due(const lv_grad_buckets *g, size_t lo);
void lv_grad_buckets_free(lv_grad_buckets *g);

#endif
