/* Liver-VLM model wiring (see liver_vlm.h). The class embeddings follow the paper: each
 * prompt is encoded and projected (E = proj(pooled)), normalised (U), and a class's vector
 * is the normalised mean of its prompts' U. cosine_ce normalises class vectors itself, so
 * the sum of a class's U (a scatter-add, which the embedding op's backward already is) gives
 * the same direction as the mean and no extra op is needed. */
#include "liver_vlm.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"

void lv_vlm_config_default(lv_vlm_config *c, int phases, int classes, int vocab) {
    memset(c, 0, sizeof *c);
    c->head = LV_HEAD_VLM;
    c->phases = phases;
    c->classes = classes;
    c->dim = 128;
    c->text_max_len = 32;
    c->logit_scale_init = logf(1.0f / 0.07f);
    lv_bert_config_small(&c->text, vocab, c->dim);
}

static float *dev_floats(lv_backend *be, size_t n) { return be->alloc(be, (n ? n : 1) * sizeof(float)); }

/* Uploads a host array into a fresh device buffer. */
static lv_status upload(lv_backend *be, void **dst, const void *src, size_t bytes, const char *what) {
    *dst = be->alloc(be, bytes ? bytes : 1);
    if (!*dst) return lv_errorf(LV_ERR_RUNTIME, "%s backend: cannot allocate %zu bytes for %s", be->name, bytes, what);
    if (bytes) be->copy_h2d(be, *dst, src, bytes);
    return LV_OK;
}

static lv_status build_head(lv_vlm *m) {
    lv_layout_init(&m->head);
    if (m->cfg.head == LV_HEAD_VLM) {
        int64_t one[1] = {1};
        LV_TRY(lv_layout_add(&m->head, "logit_scale", 1, one, LV_PARAM_NO_DECAY, &m->logit_scale));
    } else {
        int64_t ws[2] = {m->cfg.classes, LV_RESNET_FEATURES}, bs[1] = {m->cfg.classes};
        LV_TRY(lv_layout_add(&m->head, "head.weight", 2, ws, 0, &m->head_w));
        LV_TRY(lv_layout_add(&m->head, "head.bias", 1, bs, LV_PARAM_NO_DECAY, &m->head_b));
    }
    return LV_OK;
}

static void init_head_host(const lv_vlm *m, float *h, uint64_t seed) {
    if (m->cfg.head == LV_HEAD_VLM) {
        h[m->logit_scale] = m->cfg.logit_scale_init;
        return;
    }
    float bound = 1.0f / sqrtf((float)LV_RESNET_FEATURES); /* nn.Linear's default */
    size_t n = (size_t)m->cfg.classes * LV_RESNET_FEATURES;
    for (size_t i = 0; i < n; i++) h[m->head_w + i] = bound * (2.0f * lv_rng_uniform(seed, 0x48454144ull, i) - 1.0f);
    for (int i = 0; i < m->cfg.classes; i++)
        h[m->head_b + i] = bound * (2.0f * lv_rng_uniform(seed, 0x48454145ull, (uint64_t)i) - 1.0f);
}

/* Tokenizes the prompts and uploads ids, masks and each prompt's class index. */
static lv_status setup_prompts(lv_vlm *m, const char *const *classes) {
    lv_backend *be = m->be;
    int np = m->prompts.count, L = m->cfg.text_max_len;
    LV_TRY(lv_prompts_check(&m->prompts, classes, m->cfg.classes, "prompts"));
    size_t nt = (size_t)np * (size_t)L;
    int32_t *ids = malloc(nt * sizeof *ids), *mask = malloc(nt * sizeof *mask);
    int32_t *cls = malloc((size_t)np * sizeof *cls);
    lv_status s = ids && mask && cls ? LV_OK : lv_errorf(LV_ERR_RUNTIME, "prompts: out of memory");
    if (s == LV_OK)
        s = lv_wordpiece_encode(m->tok, (const char *const *)m->prompts.texts, (size_t)np, L, ids, mask, NULL);
    for (int i = 0; s == LV_OK && i < np; i++)
        for (int j = 0; j < m->cfg.classes; j++)
            if (strcmp(m->prompts.class_names[i], classes[j]) == 0) cls[i] = j;
    for (size_t i = 0; s == LV_OK && i < nt; i++)
        if (ids[i] < 0 || ids[i] >= m->cfg.text.vocab)
            s = lv_errorf(LV_ERR_INPUT, "prompts: token id %d outside the text encoder's vocabulary "
                                        "of %d (vocab.txt and config.json disagree)", ids[i], m->cfg.text.vocab);
    if (s == LV_OK) s = upload(be, (void **)&m->prompt_ids, ids, nt * sizeof *ids, "prompt tokens");
    if (s == LV_OK) s = upload(be, (void **)&m->prompt_mask, mask, nt * sizeof *mask, "prompt masks");
    if (s == LV_OK) s = upload(be, (void **)&m->prompt_class, cls, (size_t)np * sizeof *cls, "prompt classes");
    free(ids);
    free(mask);
    free(cls);
    LV_TRY(s);
    size_t nd = (size_t)np * (size_t)m->cfg.dim, cd = (size_t)m->cfg.classes * (size_t)m->cfg.dim;
    m->E = dev_floats(be, nd);
    m->dE = dev_floats(be, nd);
    m->U = dev_floats(be, nd);
    m->dU = dev_floats(be, nd);
    m->unorm = dev_floats(be, (size_t)np);
    m->cls = dev_floats(be, cd);
    m->dcls = dev_floats(be, cd);
    LV_CHECK(m->E && m->dE && m->U && m->dU && m->unorm && m->cls && m->dcls, LV_ERR_RUNTIME,
             "%s backend: out of memory for class embeddings", be->name);
    return lv_bert_acts_alloc(&m->tacts, &m->text, be, np, L, m->cfg.train_text);
}

lv_status lv_vlm_create(lv_vlm *m, lv_backend *be, const lv_vlm_config *cfg,
                        const char *const *classes, lv_wordpiece *tok, const lv_prompt_set *prompts,
                        int training, uint64_t seed) {
    memset(m, 0, sizeof *m);
    m->cfg = *cfg;
    m->be = be;
    m->training = training;
    m->tok = tok;
    int vlm = cfg->head == LV_HEAD_VLM;
    LV_CHECK(cfg->classes >= 2, LV_ERR_INPUT, "model: %d classes, expected at least 2", cfg->classes);
    LV_CHECK(!vlm || (tok && prompts), LV_ERR_RUNTIME, "model: the VLM head needs a tokenizer and prompts");
    LV_CHECK(!vlm || cfg->dim >= 1, LV_ERR_INPUT, "model: joint dimension %d, expected >= 1", cfg->dim);
    int want = training ? (LV_WANT_GRADS | LV_WANT_M | LV_WANT_V) : 0;
    LV_TRY(lv_resnet18_build(&m->visual, cfg->phases, vlm ? cfg->dim : 0));
    LV_TRY(build_head(m));
    if (vlm) {
        m->cfg.text.dim = cfg->dim;
        LV_TRY(lv_bert_build(&m->text, &m->cfg.text));
        /* Frozen text: only the projection learns; the optimizer skips the rest. */
        if (!cfg->train_text)
            for (int i = 0; i < m->text.params.count; i++)
                if (strcmp(m->text.params.specs[i].name, "proj.weight") != 0)
                    m->text.params.specs[i].flags |= LV_PARAM_FROZEN;
    }
    /* Weights are made on the host (Philox, device-independent) and uploaded once. */
    size_t nv = m->visual.params.total, ns = m->visual.state.total;
    size_t nt = vlm ? m->text.params.total : 0, nh = m->head.total;
    float *host = calloc(nv + ns + nt + nh + 1, sizeof *host);
    LV_CHECK_ALLOC(host);
    lv_resnet18_init_host(&m->visual, host, host + nv, seed);
    if (vlm) lv_bert_init_host(&m->text, host + nv + ns, seed);
    init_head_host(m, host + nv + ns + nt, seed);
    lv_status s = lv_param_buffers_alloc(&m->vbuf, be, nv, want);
    if (s == LV_OK) s = upload(be, (void **)&m->vstate, host + nv, ns * sizeof(float), "BN statistics");
    if (s == LV_OK && vlm) s = lv_param_buffers_alloc(&m->tbuf, be, nt, want);
    if (s == LV_OK) s = lv_param_buffers_alloc(&m->hbuf, be, nh, want);
    if (s == LV_OK) {
        be->copy_h2d(be, m->vbuf.params, host, nv * sizeof(float));
        if (vlm) be->copy_h2d(be, m->tbuf.params, host + nv + ns, nt * sizeof(float));
        be->copy_h2d(be, m->hbuf.params, host + nv + ns + nt, nh * sizeof(float));
    }
    free(host);
    LV_TRY(s);
    if (vlm) {
        /* Copy the prompt set so the caller keeps ownership of theirs. */
        char *tsv = lv_prompts_to_tsv(prompts);
        LV_CHECK_ALLOC(tsv);
        s = lv_prompts_parse(&m->prompts, tsv, "prompts");
        free(tsv);
        LV_TRY(s);
        LV_TRY(setup_prompts(m, classes));
    }
    return be->sync(be);
}

void lv_vlm_free(lv_vlm *m) {
    lv_backend *be = m->be;
    if (!be) return;
    lv_resnet18_acts_free(&m->vacts);
    lv_bert_acts_free(&m->tacts);
    void *bufs[] = {m->vstate, m->prompt_ids, m->prompt_mask, m->prompt_class, m->E, m->dE, m->U,
                    m->dU, m->unorm, m->cls, m->dcls, m->logits, m->dlogits, m->dimg, m->dfeat, m->loss};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        if (bufs[i]) be->free(be, bufs[i]);
    lv_param_buffers_free(&m->vbuf);
    lv_param_buffers_free(&m->tbuf);
    lv_param_buffers_free(&m->hbuf);
    lv_resnet18_free(&m->visual);
    if (m->cfg.head == LV_HEAD_VLM) lv_bert_free(&m->text);
    lv_layout_free(&m->head);
    lv_prompts_free(&m->prompts);
    lv_wordpiece_free(m->tok);
    memset(m, 0, sizeof *m);
}

lv_status lv_vlm_prepare(lv_vlm *m, int batch, int size) {
    lv_backend *be = m->be;
    if (m->vacts.arena && m->batch == batch && m->size == size) return LV_OK;
    lv_resnet18_acts_free(&m->vacts);
    float *old[] = {m->logits, m->dlogits, m->dimg, m->dfeat, m->loss};
    for (size_t i = 0; i < sizeof old / sizeof old[0]; i++)
        if (old[i]) be->free(be, old[i]);
    LV_TRY(lv_resnet18_acts_alloc(&m->vacts, &m->visual, be, batch, size));
    size_t bc = (size_t)batch * (size_t)m->cfg.classes;
    m->logits = dev_floats(be, bc);
    m->dlogits = dev_floats(be, bc);
    m->dimg = dev_floats(be, (size_t)batch * (size_t)(m->cfg.dim > 0 ? m->cfg.dim : 1));
    m->dfeat = dev_floats(be, (size_t)batch * LV_RESNET_FEATURES);
    m->loss = dev_floats(be, 1);
    LV_CHECK(m->logits && m->dlogits && m->dimg && m->dfeat && m->loss, LV_ERR_RUNTIME,
             "%s backend: out of memory for batch %d", be->name, batch);
    m->batch = batch;
    m->size = size;
    return LV_OK;
}

void lv_vlm_text_changed(lv_vlm *m) { m->text_cached = 0; }

void lv_vlm_zero_grads(lv_vlm *m) {
    lv_param_buffers_zero_grads(&m->vbuf);
    lv_param_buffers_zero_grads(&m->tbuf);
    lv_param_buffers_zero_grads(&m->hbuf);
}

/* E (projected prompt embeddings) -> U (normalised) -> cls (per-class sums). A frozen
 * encoder's pooled features are computed once and reused until the text weights change. */
static void class_forward(lv_vlm *m) {
    lv_backend *be = m->be;
    int np = m->prompts.count, D = m->cfg.dim, H = m->cfg.text.hidden;
    if (m->cfg.train_text || !m->text_cached) {
        lv_bert_forward(&m->text, &m->tacts, m->tbuf.params, m->prompt_ids, m->prompt_mask, np);
        m->text_cached = 1;
    }
    if (m->cfg.train_text) be->copy_d2d(be, m->E, m->tacts.out.x, (size_t)np * D * sizeof(float));
    else lv_linear_forward(be, m->E, m->tacts.pooled.x, m->tbuf.params + m->text.proj_w, NULL, np, H, D);
    lv_l2norm_forward(be, m->U, m->unorm, m->E, np, D, 1e-12f);
    be->memset0(be, m->cls, (size_t)m->cfg.classes * D * sizeof(float));
    lv_embedding_backward(be, m->cls, m->U, m->prompt_class, np, D); /* scatter-add = per-class sum */
}

/* d(cls) back to the text weights (the projection only, unless the encoder trains). */
static void class_backward(lv_vlm *m) {
    lv_backend *be = m->be;
    int np = m->prompts.count, D = m->cfg.dim, H = m->cfg.text.hidden;
    lv_embedding_forward(be, m->dU, m->prompt_class, m->dcls, np, D); /* gather = sum's backward */
    be->memset0(be, m->dE, (size_t)np * D * sizeof(float));
    lv_l2norm_backward(be, m->dE, m->dU, m->E, m->unorm, np, D, 1e-12f);
    if (m->cfg.train_text) lv_bert_backward(&m->text, &m->tacts, m->tbuf.params, m->tbuf.grads, m->dE, NULL);
    else lv_linear_backward(be, NULL, m->tbuf.grads + m->text.proj_w, NULL, m->dE, m->tacts.pooled.x,
                            m->tbuf.params + m->text.proj_w, np, H, D);
}

void lv_vlm_train_step(lv_vlm *m, const float *x, const int *labels, int b) {
    lv_backend *be = m->be;
    int C = m->cfg.classes;
    if (b > m->batch || !m->training) {
        lv_backend_fail(be, LV_ERR_RUNTIME, "model: train step with batch %d (prepared %d)%s", b, m->batch,
                        m->training ? "" : " on a model made without gradients");
        return;
    }
    /* A short last batch runs on the prefix of the activations, which are laid out
     * batch-major; the arena's size stays that of the prepared batch. */
    m->vacts.batch = b;
    lv_resnet18_forward(&m->visual, &m->vacts, m->vbuf.params, m->vstate, x, 1);
    if (m->cfg.head == LV_HEAD_VLM) {
        class_forward(m);
        be->memset0(be, m->dimg, (size_t)b * m->cfg.dim * sizeof(float));
        be->memset0(be, m->dcls, (size_t)C * m->cfg.dim * sizeof(float));
        lv_cosine_ce(be, m->loss, m->logits, m->dimg, m->dcls, m->hbuf.grads + m->logit_scale, m->vacts.emb.x,
                     m->cls, m->hbuf.params + m->logit_scale, labels, b, C, m->cfg.dim);
        class_backward(m);
        lv_resnet18_backward(&m->visual, &m->vacts, m->vbuf.params, m->vbuf.grads, m->dimg, NULL);
    } else {
        lv_linear_forward(be, m->logits, m->vacts.features.x, m->hbuf.params + m->head_w,
                          m->hbuf.params + m->head_b, b, LV_RESNET_FEATURES, C);
        be->memset0(be, m->dlogits, (size_t)b * C * sizeof(float));
        lv_cross_entropy(be, m->loss, m->dlogits, NULL, m->logits, labels, b, C);
        be->memset0(be, m->dfeat, (size_t)b * LV_RESNET_FEATURES * sizeof(float));
        lv_linear_backward(be, m->dfeat, m->hbuf.grads + m->head_w, m->hbuf.grads + m->head_b, m->dlogits,
                           m->vacts.features.x, m->hbuf.params + m->head_w, b, LV_RESNET_FEATURES, C);
        lv_resnet18_backward(&m->visual, &m->vacts, m->vbuf.params, m->vbuf.grads, NULL, m->dfeat);
    }
    m->vacts.batch = m->batch;
}

void lv_vlm_predict(lv_vlm *m, const float *x, const int *labels, int b, float *probs) {
    lv_backend *be = m->be;
    int C = m->cfg.classes;
    if (b > m->batch) {
        lv_backend_fail(be, LV_ERR_RUNTIME, "model: batch %d larger than prepared (%d)", b, m->batch);
        return;
    }
    m->vacts.batch = b;
    lv_resnet18_forward(&m->visual, &m->vacts, m->vbuf.params, m->vstate, x, 0);
    if (m->cfg.head == LV_HEAD_VLM) {
        /* Always: an optimizer step may have moved text.proj since the last class_forward
         * even when the encoder itself is frozen (its pooled features stay cached). */
        class_forward(m);
        lv_cosine_ce(be, labels ? m->loss : NULL, m->logits, NULL, NULL, NULL, m->vacts.emb.x, m->cls,
                     m->hbuf.params + m->logit_scale, labels, b, C, m->cfg.dim);
        lv_softmax_forward(be, probs, m->logits, b, C);
    } else {
        lv_linear_forward(be, m->logits, m->vacts.features.x, m->hbuf.params + m->head_w,
                          m->hbuf.params + m->head_b, b, LV_RESNET_FEATURES, C);
        lv_cross_entropy(be, labels ? m->loss : NULL, NULL, probs, m->logits, labels, b, C);
    }
    m->vacts.batch = m->batch;
}

lv_status lv_vlm_class_embeddings(lv_vlm *m, float *out) {
    LV_CHECK(m->cfg.head == LV_HEAD_VLM, LV_ERR_RUNTIME, "model: the linear head has no class embeddings");
    class_forward(m);
    int C = m->cfg.classes, D = m->cfg.dim;
    m->be->copy_d2h(m->be, out, m->cls, (size_t)C * D * sizeof(float));
    LV_TRY(m->be->sync(m->be));
    for (int c = 0; c < C; c++) {
        double ss = 0;
        for (int d = 0; d < D; d++) ss += (double)out[c * D + d] * out[c * D + d];
        float inv = ss > 0 ? (float)(1.0 / sqrt(ss)) : 0.0f;
        for (int d = 0; d < D; d++) out[c * D + d] *= inv;
    }
    return LV_OK;
}
