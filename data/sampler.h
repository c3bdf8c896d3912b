/* Which samples an epoch visits and in what order: the subset (a split), a Philox-keyed
 * shuffle or class-balanced draw per (seed, epoch), and each data-parallel rank's equal
 * share. Pure functions of their inputs: no threads, no pixels, no clock. */
#ifndef LV_SAMPLER_H
#define LV_SAMPLER_H

#include <stdint.h>

#include "data/dataset.h"

#ifdef __cplusplus
extern "C" {
#endif

#define LV_SHUFFLE_STREAM_TAG 0x4C565348u  /* "LVSH": stream = tag << 32 | epoch */
#define LV_BALANCED_STREAM_TAG 0x4C564241u /* "LVBA" */

typedef struct lv_sampler {
    int64_t n;        /* epoch length before sharding (subset size) */
    int64_t *subset;  /* [n] dataset indices (a copy) */
    uint64_t seed;
    int shuffle, balanced;
    int rank, world, drop;
    int64_t per_rank; /* samples each rank gets per epoch */
    /* balanced: subset positions grouped by class (present classes only) */
    int n_cls;
    int64_t *cls_start; /* [n_cls + 1] */
    int64_t *cls_pos;   /* [n] */
} lv_sampler;

/* indices[0..count) (NULL: all of ds) must lie in [0, ds->n). Sharding: rank r of `world`
 * takes positions r, r + W, r + 2W, ... of the epoch order. drop = 0: per_rank =
 * ceil(n / W) and the order wraps around to pad (a few samples repeat, like PyTorch's
 * DistributedSampler); drop = 1: per_rank = floor(n / W), the remainder is left out and the
 * shares are disjoint. Errors: LV_ERR_INPUT (bad index/label, per_rank 0), LV_ERR_USAGE
 * (rank/world). */
lv_status lv_sampler_init(lv_sampler *s, const lv_dataset *ds, const int64_t *indices, int64_t count,
                          uint64_t seed, int shuffle, int balanced, int rank, int world, int drop);
void lv_sampler_free(lv_sampler *s);

/* The epoch's global order: order[i] = dataset index at position i of n; keys[i] = the
 * augmentation key of that visit (the dataset index, or for balanced sampling, where one
 * sample may be drawn several times, the position i so each visit is augmented differently).
 * keys may be NULL. */
void lv_sampler_epoch(const lv_sampler *s, int64_t epoch, int64_t *order, int64_t *keys);

/* Global position of this rank's q-th sample (0 <= q < per_rank) in the epoch order. */
static inline int64_t lv_sampler_global(const lv_sampler *s, int64_t q) {
    int64_t g = (int64_t)s->rank + q * (int64_t)s->world;
    return g % s->n;
}

/* A permutation of 0..n-1 keyed by (seed, epoch): Fisher-Yates, one lv_rng_u32 per swap
 * (index i for the swap that fixes position n-1-i), range by multiply-shift. */
void lv_shuffle_perm(uint64_t seed, int64_t epoch, int64_t n, int64_t *perm);

#ifdef __cplusplus
}
#endif
#endif
