/* Epoch orders and shards (see sampler.h). Every random choice is lv_rng_u32 at a fixed
 * (seed, stream(epoch), index), so a resumed run or another rank rebuilds the same order
 * without shared state. Must not depend on thread count or on which batch is being built. */
#include "sampler.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"

/* Uniform integer in [0, n) from one word: multiply-shift (bias < n / 2^32, negligible for
 * datasets far below 2^32 samples, which init checks). */
static inline int64_t below(uint32_t word, int64_t n) { return (int64_t)(((uint64_t)word * (uint64_t)n) >> 32); }

void lv_shuffle_perm(uint64_t seed, int64_t epoch, int64_t n, int64_t *perm) {
    uint64_t stream = ((uint64_t)LV_SHUFFLE_STREAM_TAG << 32) | (uint32_t)epoch;
    for (int64_t i = 0; i < n; i++) perm[i] = i;
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = below(lv_rng_u32(seed, stream, (uint64_t)(n - 1 - i)), i + 1);
        int64_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
}

void lv_sampler_free(lv_sampler *s) {
    free(s->subset);
    free(s->cls_start);
    free(s->cls_pos);
    memset(s, 0, sizeof *s);
}

lv_status lv_sampler_init(lv_sampler *s, const lv_dataset *ds, const int64_t *indices, int64_t count,
                          uint64_t seed, int shuffle, int balanced, int rank, int world, int drop) {
    const char *src = ds->path ? ds->path : "dataset";
    memset(s, 0, sizeof *s);
    if (!indices) count = ds->n;
    LV_CHECK(world >= 1 && rank >= 0 && rank < world, LV_ERR_USAGE,
             "loader: rank %d of world %d: expected 0 <= rank < world, world >= 1", rank, world);
    LV_CHECK(count >= 1, LV_ERR_INPUT, "loader on %s: the sample subset is empty", src);
    LV_CHECK(count < ((int64_t)1 << 32), LV_ERR_INPUT, "loader on %s: %" PRId64 " samples: expected fewer than 2^32",
             src, count);
    s->n = count;
    s->seed = seed;
    s->shuffle = shuffle;
    s->balanced = balanced;
    s->rank = rank;
    s->world = world;
    s->drop = drop;
    s->per_rank = drop ? count / world : (count + world - 1) / world;
    if (s->per_rank < 1)
        return lv_errorf(LV_ERR_INPUT,
                         "loader on %s: %" PRId64 " samples cannot give each of %d ranks one (drop_last is on)", src,
                         count, world);
    LV_CHECK(ds->labels != NULL && ds->c >= 1, LV_ERR_INPUT, "loader on %s: the dataset has no labels", src);
    s->subset = malloc((size_t)count * sizeof *s->subset);
    LV_CHECK_ALLOC(s->subset);
    int64_t cnt[LV_MAX_CLASSES] = {0};
    for (int64_t i = 0; i < count; i++) {
        int64_t idx = indices ? indices[i] : i;
        if (idx < 0 || idx >= ds->n) {
            lv_sampler_free(s);
            return lv_errorf(LV_ERR_INPUT, "loader on %s: subset entry %" PRId64 " is sample %" PRId64
                             ", outside [0,%" PRId64 ")", src, i, idx, ds->n);
        }
        int32_t l = ds->labels[idx];
        if (l < 0 || l >= ds->c || l >= LV_MAX_CLASSES) {
            lv_sampler_free(s);
            return lv_errorf(LV_ERR_INPUT, "loader on %s: /labels[%" PRId64 "] = %d: expected 0..%d", src, idx,
                             (int)l, ds->c - 1);
        }
        s->subset[i] = idx;
        cnt[l]++;
    }
    if (!balanced) return LV_OK;

    /* Group subset positions by class (counting sort keeps subset order inside a class). */
    int map[LV_MAX_CLASSES];
    for (int c = 0; c < LV_MAX_CLASSES; c++) map[c] = cnt[c] ? s->n_cls++ : -1;
    s->cls_start = calloc((size_t)s->n_cls + 1, sizeof *s->cls_start);
    s->cls_pos = malloc((size_t)count * sizeof *s->cls_pos);
    if (!s->cls_start || !s->cls_pos) {
        lv_sampler_free(s);
        return lv_errorf(LV_ERR_RUNTIME, "loader: out of memory for balanced sampling");
    }
    for (int c = 0; c < LV_MAX_CLASSES; c++)
        if (map[c] >= 0) s->cls_start[map[c] + 1] = cnt[c];
    for (int k = 0; k < s->n_cls; k++) s->cls_start[k + 1] += s->cls_start[k];
    int64_t fill[LV_MAX_CLASSES];
    for (int k = 0; k < s->n_cls; k++) fill[k] = s->cls_start[k];
    for (int64_t i = 0; i < count; i++) s->cls_pos[fill[map[ds->labels[s->subset[i]]]]++] = i;
    return LV_OK;
}

void lv_sampler_epoch(const lv_sampler *s, int64_t epoch, int64_t *order, int64_t *keys) {
    int64_t n = s->n;
    if (s->balanced) {
        /* Each visit: a class uniformly among those present, then a member uniformly, so a
         * sample's chance is inversely proportional to its class's frequency. */
        uint64_t stream = ((uint64_t)LV_BALANCED_STREAM_TAG << 32) | (uint32_t)epoch;
        for (int64_t i = 0; i < n; i++) {
            int64_t k = below(lv_rng_u32(s->seed, stream, 2 * (uint64_t)i), s->n_cls);
            int64_t lo = s->cls_start[k], len = s->cls_start[k + 1] - lo;
            int64_t pos = s->cls_pos[lo + below(lv_rng_u32(s->seed, stream, 2 * (uint64_t)i + 1), len)];
            order[i] = s->subset[pos];
            if (keys) keys[i] = i;
        }
        return;
    }
    if (s->shuffle) {
        lv_shuffle_perm(s->seed, epoch, n, order);
        for (int64_t i = 0; i < n; i++) order[i] = s->subset[order[i]];
    } else {
        memcpy(order, s->subset, (size_t)n * sizeof *order);
    }
    if (keys) memcpy(keys, order, (size_t)n * sizeof *keys);
}
