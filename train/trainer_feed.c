/* The trainer's batch source for one pass, over the three paths of docs/training.md:
 * device data (the loader serves indices, the backend renders), staged (the loader renders
 * into page-locked buffers, train/batch_stage.h copies them while the previous step
 * computes) and plain (the loader's buffers copied synchronously, or used in place on the
 * CPU). The step and validation loops see only x, y and n, so all paths feed the same math,
 * and phase-shuffle (objective_shuffle.c) permutes whatever path delivered. */
#include <stdlib.h>

#include "train/batch_stage.h"
#include "train/trainer_impl.h"

/* The staged path's view of env->batch_hook: batch seq of a pass is consumed at step
 * step0 + seq, which is what the plain path passes when it calls the hook itself. */
static void staged_hook(void *ctx, int64_t seq, float *images, int n, size_t per) {
    trainer_feed *f = ctx;
    f->t->env->batch_hook(f->t->env->hook_ctx, f->step0 + seq, images, n, per);
}

lv_status trainer_feed_open(trainer *t, trainer_feed *f, int train, int64_t e, int64_t pos) {
    f->t = t;
    f->train = train;
    f->l = NULL;
    f->step0 = t->st.step;
    f->x = NULL;
    f->y = NULL;
    f->n = 0;
    f->labels = NULL;
    f->indices = NULL;
    lv_loader_opts o;
    LV_TRY(trainer_loader_opts(t, &o, train));
    if (train) o.epochs = e + 1;
    const lv_dataset *ds = train ? t->ds : t->vds;
    /* Device data renders on the backend: the loader serves indices only, nothing to stage. */
    int staged = t->stager && o.render;
    if (staged) {
        LV_TRY(lv_stager_open(t->stager, ds, &o));
        f->l = lv_stager_loader(t->stager);
        lv_stager_set_hook(t->stager, train && t->env->batch_hook ? staged_hook : NULL, f);
    } else {
        LV_TRY(lv_loader_create(&f->l, ds, &o));
    }
    if (!train) return LV_OK;
    lv_status s = lv_loader_seek(f->l, e, pos);
    if (s != LV_OK) trainer_feed_close(f);
    return s;
}

static int feed_staged(const trainer_feed *f) { return f->t->stager && lv_stager_loader(f->t->stager) == f->l; }

lv_status trainer_feed_next(trainer_feed *f, int *have) {
    *have = 0;
    if (feed_staged(f)) {
        const lv_staged *sb = NULL;
        LV_TRY(lv_stager_next(f->t->stager, &sb));
        if (!sb) return LV_OK;
        f->x = sb->x;
        f->y = sb->y;
        f->n = sb->n;
        f->labels = sb->labels;
        f->indices = sb->indices;
        *have = 1;
        if (!f->t->shuf.active) return LV_OK;
        return trainer_shuffle_apply(f->t, f->train, sb->n, sb->s, sb->keys, sb->indices, &f->x, &f->y, &f->labels);
    }
    lv_batch *b = NULL;
    LV_TRY(lv_loader_next(f->l, &b));
    if (!b) return LV_OK;
    LV_TRY(trainer_batch_input(f->t, b, f->train, &f->x, &f->y)); /* device render or host batch */
    f->n = b->n;
    f->labels = b->labels;
    f->indices = b->indices;
    *have = 1;
    if (!f->t->shuf.active) return LV_OK;
    return trainer_shuffle_apply(f->t, f->train, b->n, b->s, b->keys, b->indices, &f->x, &f->y, &f->labels);
}

lv_status trainer_feed_prefetch(trainer_feed *f) {
    return feed_staged(f) ? lv_stager_prefetch(f->t->stager) : LV_OK;
}

void trainer_feed_cursor(const trainer_feed *f, int64_t *epoch, int64_t *position) {
    if (feed_staged(f)) lv_stager_cursor(f->t->stager, epoch, position);
    else lv_loader_cursor(f->l, epoch, position);
}

double trainer_feed_wait_seconds(const trainer_feed *f) { return f->l ? lv_loader_wait_seconds(f->l) : 0.0; }

void trainer_feed_close(trainer_feed *f) {
    if (!f->l) return;
    if (feed_staged(f)) {
        lv_stager_set_hook(f->t->stager, NULL, NULL);
        (void)lv_stager_close(f->t->stager); /* a fault in flight surfaces at the next sync */
    } else {
        lv_loader_destroy(f->l);
    }
    f->l = NULL;
}
