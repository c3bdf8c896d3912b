/* --objective clip in the trainer (see objective_clip.h). The loop, clipping, optimizer,
 * checkpoints and resume are the classification run's: only where a batch's loss and
 * gradients come from, and what validation measures, differ. Negatives are the other
 * pairs of this process's batch (no cross-rank gather), so --batch sets the contrast. */
#include "train/objective_clip.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "encoders/liver_vlm_clip.h"

struct trainer_clip {
    lv_vlm_clip c;
    const char **texts; /* [batch] the current batch's reports (borrowed from the data) */
    float *img, *txt;   /* [batch, D] host copies for retrieval */
};

static lv_status has_reports(const lv_dataset *ds) {
    LV_CHECK(ds->reports, LV_ERR_INPUT,
             "%s has no /reports: --objective clip pairs every image with its report text (docs/data-format.md); "
             "use a file with /reports or another objective", ds->path);
    return LV_OK;
}

lv_status trainer_clip_check_data(const lv_train_config *cfg, const lv_dataset *data, const lv_dataset *val) {
    if (cfg->objective != LV_TRAIN_OBJECTIVE_CLIP) return LV_OK;
    LV_TRY(has_reports(data));
    return val ? has_reports(val) : LV_OK;
}

/* Every sample in idx has a report with at least one token; *longest gets the longest
 * token count (without [CLS]/[SEP]). */
static lv_status check_reports(const lv_wordpiece *tok, const lv_dataset *ds, const int64_t *idx, int64_t n,
                               size_t *longest) {
    LV_TRY(has_reports(ds));
    for (int64_t k = 0; k < n; k++) {
        const char *r = ds->reports[idx[k]] ? ds->reports[idx[k]] : "";
        size_t count = 0;
        LV_TRY(lv_wordpiece_tokenize(tok, r, strlen(r), NULL, 0, &count));
        LV_CHECK(count > 0, LV_ERR_INPUT,
                 "%s: /reports[%" PRId64 "] is empty (no words): --objective clip needs a report for every "
                 "training and validation sample", ds->path, idx[k]);
        if (count > *longest) *longest = count;
    }
    return LV_OK;
}

lv_status trainer_clip_setup(trainer *t) {
    if (t->cfg->objective != LV_TRAIN_OBJECTIVE_CLIP) return LV_OK;
    lv_vlm *m = &t->m;
    LV_CHECK(m->cfg.head == LV_HEAD_VLM, LV_ERR_USAGE, "--objective clip needs the VLM head (--head vlm)");
    size_t longest = 0;
    LV_TRY(check_reports(m->tok, t->ds, t->train_idx, t->n_train, &longest));
    if (t->n_val > 0) LV_TRY(check_reports(m->tok, t->vds, t->val_idx, t->n_val, &longest));
    /* Pad to the longest report in the data (not always to the cap): same numbers, since
     * padding is masked, and attention costs grow with the square of the length. */
    int cap = lv_vlm_clip_max_tokens(m);
    int len = longest + 2 >= (size_t)cap ? cap : (int)longest + 2;
    struct trainer_clip *tc = calloc(1, sizeof *tc);
    LV_CHECK_ALLOC(tc);
    t->clip = tc;
    int B = t->cfg->batch, D = m->cfg.dim;
    tc->texts = calloc((size_t)B, sizeof *tc->texts);
    tc->img = malloc((size_t)B * (size_t)D * sizeof *tc->img);
    tc->txt = malloc((size_t)B * (size_t)D * sizeof *tc->txt);
    LV_CHECK(tc->texts && tc->img && tc->txt, LV_ERR_RUNTIME, "clip: out of memory");
    LV_TRY(lv_vlm_clip_init(&tc->c, m, B, len));
    if (t->writer && !t->env->quiet)
        LV_INFO("train: --objective clip: reports padded to %d tokens%s (longest %zu with [CLS]/[SEP]); validation: "
                "contrastive loss (val_loss), image->report top-1 retrieval within batches of %d (val_accuracy), "
                "zero-shot class-prompt macro-AUC (val_macro_auc); best.safetensors = highest retrieval accuracy",
                len, longest + 2 > (size_t)cap ? ", longer ones cut" : "", longest + 2, B);
    return LV_OK;
}

void trainer_clip_free(trainer *t) {
    struct trainer_clip *tc = t->clip;
    if (!tc) return;
    lv_vlm_clip_free(&tc->c);
    free(tc->texts);
    free(tc->img);
    free(tc->txt);
    free(tc);
    t->clip = NULL;
}

static lv_status set_reports(struct trainer_clip *tc, const lv_dataset *ds, const int64_t *indices, int n) {
    for (int i = 0; i < n; i++) tc->texts[i] = ds->reports[indices[i]];
    return lv_vlm_clip_set_reports(&tc->c, tc->texts, n);
}

lv_status trainer_clip_step(trainer *t, const int64_t *indices, int n, const float *x) {
    struct trainer_clip *tc = t->clip;
    LV_CHECK(n >= 2, LV_ERR_INPUT,
             "--objective clip: a training batch of %d pair (this process's share of %s is too small to contrast)",
             n, t->ds->path);
    LV_TRY(set_reports(tc, t->ds, indices, n));
    lv_vlm_clip_train_step(&tc->c, x, n);
    return LV_OK;
}

/* Image i retrieves its report when the most similar report of the batch (cosine; the
 * first on a tie) is report i or has the same text: the slices of one lesion share their
 * report, and picking the twin is no mistake. */
static int64_t retrieved(const float *img, const float *txt, const char *const *texts, int b, int d) {
    int64_t hits = 0;
    double *tn = malloc((size_t)b * sizeof *tn);
    if (!tn) return -1;
    for (int j = 0; j < b; j++) {
        double ss = 0;
        for (int k = 0; k < d; k++) ss += (double)txt[(size_t)j * d + k] * txt[(size_t)j * d + k];
        tn[j] = ss > 0 ? 1.0 / sqrt(ss) : 0.0;
    }
    for (int i = 0; i < b; i++) {
        int best = 0;
        double best_s = -INFINITY;
        for (int j = 0; j < b; j++) {
            double dot = 0;
            for (int k = 0; k < d; k++) dot += (double)img[(size_t)i * d + k] * txt[(size_t)j * d + k];
            dot *= tn[j]; /* the image's own norm does not change its ranking */
            if (dot > best_s) {
                best_s = dot;
                best = j;
            }
        }
        hits += best == i || strcmp(texts[best], texts[i]) == 0;
    }
    free(tn);
    return hits;
}

lv_status trainer_clip_validate(trainer *t, double *loss, double *retrieval, double *zero_shot_auc) {
    *loss = *retrieval = *zero_shot_auc = NAN;
    if (t->n_val == 0) return LV_OK;
    struct trainer_clip *tc = t->clip;
    lv_backend *be = t->be;
    int D = t->m.cfg.dim;
    trainer_feed f = {0};
    LV_TRY(trainer_feed_open(t, &f, 0, 0, 0));
    double loss_sum = 0;
    int64_t done = 0, hits = 0;
    lv_status s = LV_OK;
    while (s == LV_OK) {
        int have = 0;
        s = trainer_feed_next(&f, &have); /* device render, staged or host batch */
        if (s != LV_OK || !have) break;
        const float *img = NULL, *txt = NULL;
        s = set_reports(tc, t->vds, f.indices, f.n);
        if (s != LV_OK) break;
        lv_vlm_clip_eval(&tc->c, f.x, f.n, &img, &txt);
        s = trainer_feed_prefetch(&f); /* the next batch's copy overlaps this forward */
        float l1 = 0;
        be->copy_d2h(be, &l1, t->m.loss, sizeof l1);
        if (img && txt) {
            be->copy_d2h(be, tc->img, img, (size_t)f.n * D * sizeof(float));
            be->copy_d2h(be, tc->txt, txt, (size_t)f.n * D * sizeof(float));
        }
        lv_status sy = be->sync(be);
        if (s == LV_OK) s = sy;
        if (s != LV_OK) break;
        int64_t h = retrieved(tc->img, tc->txt, tc->texts, f.n, D);
        if (h < 0) s = lv_errorf(LV_ERR_RUNTIME, "validation: out of memory");
        hits += h;
        loss_sum += (double)l1 * f.n;
        done += f.n;
    }
    trainer_feed_close(&f);
    LV_TRY(s);
    LV_CHECK(done == t->n_val, LV_ERR_RUNTIME, "validation: %" PRId64 " of %" PRId64 " samples seen", done,
             t->n_val);
    double ce = NAN, acc = NAN;
    LV_TRY(trainer_validate(t, &ce, &acc, zero_shot_auc)); /* class prompts, zero-shot */
    *loss = loss_sum / (double)done;
    *retrieval = (double)hits / (double)done;
    return LV_OK;
}
