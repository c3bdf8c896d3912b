/* The evaluation loop (evaluate.h): loader in evaluation mode -> device (on CUDA through
 * pinned buffers, batch k+1's copy overlapping batch k's forward: train/batch_stage.h) ->
 * lv_vlm_predict -> host probabilities, batch by batch. No metrics, no files: cmd_eval and the
 * distributed gather build on the probabilities. */
#include "evaluate.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"
#include "data/loader.h"
#include "train/batch_stage.h"

void lv_eval_opts_default(lv_eval_opts *o) {
    memset(o, 0, sizeof *o);
    o->batch = 128;
    o->input_size = 64;
    lv_preproc_default(&o->pre);
}

static lv_status list_mismatch(const char *what, const char *src, char *const *want, int nw, char *const *have, int nh) {
    char a[1024] = "", b[1024] = "";
    size_t la = 0, lb = 0;
    for (int i = 0; i < nw && la < sizeof a; i++)
        la += (size_t)snprintf(a + la, sizeof a - la, "%s%s", i ? "," : "", want[i]);
    for (int i = 0; i < nh && lb < sizeof b; i++)
        lb += (size_t)snprintf(b + lb, sizeof b - lb, "%s%s", i ? "," : "", have[i]);
    return lv_errorf(LV_ERR_INPUT, "%s: %s are [%s], but the checkpoint was trained on [%s] (same names in the same "
                     "order expected)", src, what, b, a);
}

lv_status lv_eval_check_data(const lv_dataset *ds, char *const *classes, int c, char *const *phases, int p) {
    const char *src = ds->path ? ds->path : "data";
    int same = ds->c == c;
    for (int i = 0; same && i < c; i++) same = strcmp(ds->classes[i], classes[i]) == 0;
    if (!same) return list_mismatch("classes", src, classes, c, ds->classes, ds->c);
    same = ds->p == p;
    for (int i = 0; same && i < p; i++) same = strcmp(ds->phases[i], phases[i]) == 0;
    if (!same) return list_mismatch("phases", src, phases, p, ds->phases, ds->p);
    return LV_OK;
}

lv_status lv_eval_predict(lv_vlm *m, const lv_dataset *ds, const int64_t *indices, int64_t count,
                          const lv_eval_opts *o, float *probs) {
    lv_backend *be = m->be;
    int C = m->cfg.classes, P = ds->p, S = o->input_size;
    int64_t total = indices ? count : ds->n;
    LV_CHECK(o->batch >= 1, LV_ERR_USAGE, "eval: batch %d, expected >= 1", o->batch);
    LV_CHECK(P == m->cfg.phases && ds->c == C, LV_ERR_INPUT, "%s: %d phases and %d classes, the model has %d and %d",
             ds->path ? ds->path : "data", P, ds->c, m->cfg.phases, C);
    if (total == 0) return LV_OK;
    lv_loader_opts lo;
    lv_loader_opts_default(&lo);
    lo.batch = o->batch;
    lo.shuffle = 0;
    lo.drop_last = 0;
    lo.augment = 0;
    lo.preproc = o->pre;
    lo.out_size = S;
    lo.indices = indices;
    lo.count = indices ? count : 0;
    lo.epochs = 1;
    lo.threads = o->threads;
    LV_TRY(lv_vlm_prepare(m, o->batch, S));
    size_t img = (size_t)P * (size_t)S * (size_t)S;
    int staged = (o->pinned > 0 || (o->pinned == 0 && be->kind != LV_DEVICE_CPU)) && lv_backend_can_stage(be);
    lv_stager *st = NULL;
    lv_loader *l = NULL;
    float *x = NULL;
    lv_status s = LV_OK;
    if (staged) {
        s = lv_stager_create(&st, be, o->batch, img);
        if (s == LV_OK) s = lv_stager_open(st, ds, &lo);
    } else {
        s = lv_loader_create(&l, ds, &lo);
        x = s == LV_OK ? be->alloc(be, (size_t)o->batch * img * sizeof(float)) : NULL;
        if (s == LV_OK && !x) s = lv_errorf(LV_ERR_RUNTIME, "%s backend: out of memory for batch %d", be->name, o->batch);
    }
    float *pd = s == LV_OK ? be->alloc(be, (size_t)o->batch * (size_t)C * sizeof(float)) : NULL;
    if (s == LV_OK && !pd) s = lv_errorf(LV_ERR_RUNTIME, "%s backend: out of memory for batch %d", be->name, o->batch);
    int64_t done = 0;
    double t0 = lv_now_s(), last = t0;
    while (s == LV_OK) {
        const float *xb = x;
        const int64_t *idx = NULL;
        int n = 0;
        if (staged) {
            const lv_staged *sb = NULL;
            if ((s = lv_stager_next(st, &sb)) != LV_OK || !sb) break;
            xb = sb->x, idx = sb->indices, n = sb->n;
        } else {
            lv_batch *b = NULL;
            if ((s = lv_loader_next(l, &b)) != LV_OK || !b) break;
            idx = b->indices, n = b->n;
            be->copy_h2d(be, x, b->images, (size_t)n * img * sizeof(float));
        }
        /* Without shuffling the loader serves the subset in order; anything else is a bug
         * that would silently misalign probabilities and labels. */
        for (int i = 0; i < n && s == LV_OK; i++)
            if (done + i >= total || idx[i] != (indices ? indices[done + i] : done + i))
                s = lv_errorf(LV_ERR_RUNTIME, "eval: loader order differs from the sample list at position %" PRId64,
                              done + i);
        if (s != LV_OK) break;
        lv_vlm_predict(m, xb, NULL, n, pd);
        if (staged && (s = lv_stager_prefetch(st)) != LV_OK) break; /* overlaps this forward */
        be->copy_d2h(be, probs + (size_t)done * (size_t)C, pd, (size_t)n * (size_t)C * sizeof(float));
        if ((s = be->sync(be)) != LV_OK) break;
        done += n;
        double t = lv_now_s();
        if (o->progress && (t - last > 5.0 || done == total)) {
            LV_INFO("eval: %" PRId64 "/%" PRId64 " images (%.0f images/s)", done, total, (double)done / (t - t0 + 1e-9));
            last = t;
        }
    }
    if (s == LV_OK && done != total)
        s = lv_errorf(LV_ERR_RUNTIME, "eval: the loader served %" PRId64 " of %" PRId64 " samples", done, total);
    if (x) be->free(be, x);
    if (pd) be->free(be, pd);
    lv_loader_destroy(l);
    lv_stager_destroy(st);
    return s;
}

lv_status lv_eval_shard(const int64_t *idx, int64_t n, int rank, int world, int64_t **out, int64_t *n_out) {
    LV_CHECK(world >= 1 && rank >= 0 && rank < world, LV_ERR_USAGE, "eval: rank %d of %d", rank, world);
    *out = NULL;
    *n_out = 0;
    int64_t k = n > rank ? (n - rank + world - 1) / world : 0;
    if (k == 0) return LV_OK;
    *out = malloc((size_t)k * sizeof **out);
    LV_CHECK_ALLOC(*out);
    for (int64_t i = 0; i < k; i++) (*out)[i] = idx ? idx[rank + i * world] : rank + i * world;
    *n_out = k;
    return LV_OK;
}
