/* CLIP objective on the Liver-VLM model (see liver_vlm_clip.h). The reports reuse the
 * text encoder's parameters but own their activations, sized for a batch of reports, so
 * the prompts' cached activations (class embeddings for the checkpoint) stay untouched.
 * Everything runs through backend ops: the same code trains on the CPU and on CUDA. */
#include "liver_vlm_clip.h"

#include <stdlib.h>
#include <string.h>

int lv_vlm_clip_max_tokens(const lv_vlm *m) {
    return m->cfg.text.max_position < LV_CLIP_REPORT_TOKENS_MAX ? m->cfg.text.max_position
                                                                 : LV_CLIP_REPORT_TOKENS_MAX;
}

lv_status lv_vlm_clip_init(lv_vlm_clip *c, lv_vlm *m, int batch, int seq_len) {
    memset(c, 0, sizeof *c);
    lv_backend *be = m->be;
    LV_CHECK(m->cfg.head == LV_HEAD_VLM, LV_ERR_USAGE, "--objective clip needs the VLM head (--head vlm)");
    LV_CHECK(batch >= 1 && batch <= m->batch, LV_ERR_RUNTIME, "clip: batch %d, model prepared for %d", batch,
             m->batch);
    LV_CHECK(seq_len >= 2 && seq_len <= m->cfg.text.max_position, LV_ERR_RUNTIME,
             "clip: %d report tokens, the text encoder takes 2..%d", seq_len, m->cfg.text.max_position);
    c->m = m;
    c->batch = batch;
    c->seq_len = seq_len;
    size_t nt = (size_t)batch * (size_t)seq_len;
    c->ids_host = malloc(nt * sizeof *c->ids_host);
    c->mask_host = malloc(nt * sizeof *c->mask_host);
    c->ids = be->alloc(be, nt * sizeof(int));
    c->mask = be->alloc(be, nt * sizeof(int));
    c->dtxt = be->alloc(be, (size_t)batch * (size_t)m->cfg.dim * sizeof(float));
    if (!c->ids_host || !c->mask_host || !c->ids || !c->mask || !c->dtxt) {
        lv_vlm_clip_free(c);
        return lv_errorf(LV_ERR_RUNTIME, "%s backend: out of memory for %d reports of %d tokens", be->name, batch,
                         seq_len);
    }
    lv_status s = lv_bert_acts_alloc(&c->acts, &m->text, be, batch, seq_len, m->cfg.train_text);
    if (s != LV_OK) lv_vlm_clip_free(c);
    return s;
}

void lv_vlm_clip_free(lv_vlm_clip *c) {
    if (c->m) {
        lv_backend *be = c->m->be;
        void *bufs[] = {c->ids, c->mask, c->dtxt};
        for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
            if (bufs[i]) be->free(be, bufs[i]);
        lv_bert_acts_free(&c->acts);
    }
    free(c->ids_host);
    free(c->mask_host);
    memset(c, 0, sizeof *c);
}

lv_status lv_vlm_clip_set_reports(lv_vlm_clip *c, const char *const *texts, int b) {
    LV_CHECK(b >= 1 && b <= c->batch, LV_ERR_RUNTIME, "clip: %d reports for a batch of %d", b, c->batch);
    const lv_vlm *m = c->m;
    int L = c->seq_len;
    size_t nt = (size_t)b * (size_t)L;
    LV_TRY(lv_wordpiece_encode(m->tok, texts, (size_t)b, L, c->ids_host, c->mask_host, NULL));
    for (int i = 0; i < b; i++) {
        int real = 0;
        for (int j = 0; j < L; j++) real += c->mask_host[(size_t)i * L + j] != 0;
        LV_CHECK(real > 2, LV_ERR_INPUT, "report %d of the batch has no words (empty or blank text)", i);
    }
    LV_TRY(lv_bert_check_ids(&m->text, c->ids_host, nt));
    m->be->copy_h2d(m->be, c->ids, c->ids_host, nt * sizeof(int));
    m->be->copy_h2d(m->be, c->mask, c->mask_host, nt * sizeof(int));
    c->reports = b;
    return LV_OK;
}

/* Reports -> projected embeddings acts.out.x [b,D]; every step, as each batch brings new
 * reports (unlike the prompts, nothing can be cached even for a frozen encoder). */
static void text_forward(lv_vlm_clip *c, int b) {
    lv_vlm *m = c->m;
    lv_bert_forward(&m->text, &c->acts, m->tbuf.params, c->ids, c->mask, b);
}

static int check_batch(lv_vlm_clip *c, int b, int min) {
    lv_vlm *m = c->m;
    if (b >= min && b <= c->batch && b <= m->batch && b == c->reports) return 1;
    lv_backend_fail(m->be, LV_ERR_RUNTIME, "clip: batch of %d images with %d reports set (1..%d, at least %d)", b,
                    c->reports, c->batch, min);
    return 0;
}

void lv_vlm_clip_train_step(lv_vlm_clip *c, const float *x, int b) {
    lv_vlm *m = c->m;
    lv_backend *be = m->be;
    /* One pair has no negatives: the loss is 0 whatever the weights, so refuse it loudly. */
    if (!check_batch(c, b, 2)) return;
    if (!m->training) {
        lv_backend_fail(be, LV_ERR_RUNTIME, "clip: train step on a model made without gradients");
        return;
    }
    int D = m->cfg.dim, H = m->cfg.text.hidden;
    m->vacts.batch = b; /* a short batch runs on the prefix of the activations */
    lv_resnet18_forward(&m->visual, &m->vacts, m->vbuf.params, m->vstate, x, 1);
    text_forward(c, b);
    be->memset0(be, m->dimg, (size_t)b * D * sizeof(float));
    be->memset0(be, c->dtxt, (size_t)b * D * sizeof(float));
    lv_clip_loss(be, m->loss, m->dimg, c->dtxt, m->hbuf.grads + m->logit_scale, m->vacts.emb.x, c->acts.out.x,
                 m->hbuf.params + m->logit_scale, b, D);
    /* Frozen encoder: the optimizer skips its tensors, so only the projection's gradient
     * is computed (its activations were allocated without gradients). */
    if (m->cfg.train_text) lv_bert_backward(&m->text, &c->acts, m->tbuf.params, m->tbuf.grads, c->dtxt, NULL);
    else lv_linear_backward(be, NULL, m->tbuf.grads + m->text.proj_w, NULL, c->dtxt, c->acts.pooled.x,
                            m->tbuf.params + m->text.proj_w, b, H, D);
    lv_resnet18_backward(&m->visual, &m->vacts, m->vbuf.params, m->vbuf.grads, m->dimg, NULL);
    m->vacts.batch = m->batch;
}

void lv_vlm_clip_eval(lv_vlm_clip *c, const float *x, int b, const float **img, const float **txt) {
    lv_vlm *m = c->m;
    *img = *txt = NULL;
    if (!check_batch(c, b, 1)) return;
    m->vacts.batch = b;
    lv_resnet18_forward(&m->visual, &m->vacts, m->vbuf.params, m->vstate, x, 0);
    text_forward(c, b);
    lv_clip_loss(m->be, m->loss, NULL, NULL, NULL, m->vacts.emb.x, c->acts.out.x, m->hbuf.params + m->logit_scale,
                 b, m->cfg.dim);
    m->vacts.batch = m->batch;
    *img = m->vacts.emb.x;
    *txt = c->acts.out.x;
}
