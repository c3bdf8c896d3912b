/* --objective phase-shuffle: the self-supervised pretext task of the phase-shuffle line of
 * work. Each ROI's phase channels are permuted by one of the P! permutations and the linear
 * head on the 512-d features predicts which. The task needs no lesion labels, and because
 * the permutation is applied after per-phase normalisation, a channel's mean intensity does
 * not give the answer away: the encoder has to learn what each phase looks like (enhancing
 * vessels, washout), which is what classification later needs.
 *
 * The permutations are the run's classes (lexicographic order, index 0 = identity), named by
 * the phase order they produce ("PV_NC_ART"), so checkpoints, validation metrics and the log
 * need nothing new. Draws are counter-based: a training sample's permutation follows its
 * augmentation key (new every epoch, the same on resume and on every rank); a validation
 * sample's follows its dataset index (the same every epoch, so epochs compare). */
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "train/trainer_impl.h"

#define LV_SHUFFLE_STREAM_TAG_PS 0x4C565053u /* "LVPS": stream = tag << 32 | (0: train, 1: validation) */

/* All permutations of 0..p-1 in lexicographic order (Heap's algorithm would be shorter but
 * not ordered; the order is part of the checkpoint's class list). */
static int permutations(int p, unsigned char perm[][LV_MAX_PHASES]) {
    unsigned char a[LV_MAX_PHASES];
    for (int i = 0; i < p; i++) a[i] = (unsigned char)i;
    int n = 0;
    for (;;) {
        memcpy(perm[n++], a, (size_t)p);
        int i = p - 2;
        while (i >= 0 && a[i] >= a[i + 1]) i--;
        if (i < 0) return n;
        int j = p - 1;
        while (a[j] <= a[i]) j--;
        unsigned char tmp = a[i];
        a[i] = a[j];
        a[j] = tmp;
        for (int l = i + 1, r = p - 1; l < r; l++, r--) {
            tmp = a[l];
            a[l] = a[r];
            a[r] = tmp;
        }
    }
}

lv_status trainer_classes_setup(trainer *t) {
    trainer_shuffle *sh = &t->shuf;
    const lv_dataset *ds = t->ds;
    if (t->cfg->objective != LV_TRAIN_OBJECTIVE_PHASE_SHUFFLE) {
        t->nclass = ds->c;
        t->class_names = (const char *const *)ds->classes;
        return LV_OK;
    }
    int fact = 1;
    for (int i = 2; i <= ds->p; i++) fact *= i;
    LV_CHECK(ds->p >= 2, LV_ERR_INPUT, "%s: --objective phase-shuffle needs at least 2 phases, the file has %d",
             ds->path, ds->p);
    LV_CHECK(fact <= LV_MAX_CLASSES, LV_ERR_INPUT,
             "%s: --objective phase-shuffle with %d phases means %d permutations to tell apart; at most %d are "
             "supported (4 phases)", ds->path, ds->p, fact, LV_MAX_CLASSES);
    sh->p = ds->p;
    sh->nperm = permutations(ds->p, sh->perm);
    for (int k = 0; k < sh->nperm; k++) {
        size_t len = 1;
        for (int c = 0; c < ds->p; c++) len += strlen(ds->phases[sh->perm[k][c]]) + 1;
        sh->names[k] = malloc(len);
        LV_CHECK_ALLOC(sh->names[k]);
        sh->names[k][0] = '\0';
        for (int c = 0; c < ds->p; c++) {
            if (c) strcat(sh->names[k], "_");
            strcat(sh->names[k], ds->phases[sh->perm[k][c]]);
        }
    }
    sh->active = 1;
    t->nclass = sh->nperm;
    t->class_names = (const char *const *)sh->names;
    return LV_OK;
}

int trainer_shuffle_draw(const trainer *t, const int64_t *keys, const int64_t *indices, int i, int train) {
    uint64_t stream = ((uint64_t)LV_SHUFFLE_STREAM_TAG_PS << 32) | (train ? 0u : 1u);
    uint64_t index = train ? (uint64_t)keys[i] : (uint64_t)indices[i];
    uint32_t w = lv_rng_u32(t->cfg->seed, stream, index);
    return (int)(((uint64_t)w * (uint64_t)t->shuf.nperm) >> 32);
}

lv_status trainer_shuffle_apply(trainer *t, int train, int n, int s, const int64_t *keys, const int64_t *indices,
                                const float **x, const int **y, const int32_t **labels) {
    trainer_shuffle *sh = &t->shuf;
    lv_backend *be = t->be;
    size_t plane = (size_t)s * (size_t)s, per = (size_t)sh->p * plane, B = (size_t)t->cfg->batch;
    LV_CHECK(n >= 0 && (size_t)n <= B, LV_ERR_RUNTIME, "phase-shuffle: batch of %d, prepared for %zu", n, B);
    if (!sh->x) {
        sh->x = be->alloc(be, B * per * sizeof(float));
        sh->y = be->alloc(be, B * sizeof(int));
        sh->yh = malloc(B * sizeof *sh->yh);
        LV_CHECK(sh->x && sh->y && sh->yh, LV_ERR_RUNTIME, "%s backend: out of memory for the phase-shuffled batch",
                 be->name);
    }
    /* Stream-ordered copies on the backend: they read the batch where it is (a device slot,
     * rendered device data, or host memory on the CPU) before anything overwrites it. */
    for (int i = 0; i < n; i++) {
        int k = trainer_shuffle_draw(t, keys, indices, i, train);
        for (int c = 0; c < sh->p; c++)
            be->copy_d2d(be, sh->x + (size_t)i * per + (size_t)c * plane,
                         *x + (size_t)i * per + (size_t)sh->perm[k][c] * plane, plane * sizeof(float));
        sh->yh[i] = k;
    }
    be->copy_h2d(be, sh->y, sh->yh, (size_t)n * sizeof(int));
    *x = sh->x;
    *y = sh->y;
    *labels = sh->yh;
    return LV_OK;
}

void trainer_shuffle_free(trainer *t) {
    trainer_shuffle *sh = &t->shuf;
    if (t->be) {
        if (sh->x) t->be->free(t->be, sh->x);
        if (sh->y) t->be->free(t->be, sh->y);
    }
    free(sh->yh);
    for (int k = 0; k < sh->nperm; k++) free(sh->names[k]);
    memset(sh, 0, sizeof *sh);
}
