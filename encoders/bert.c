/* BERT forward and backward through the backend's ops (see bert.h). The layout names every
 * tensor once with HF's names; the math never touches a device API. Activations keep every
 * intermediate (no recomputation) so each step can be checked against HF BertModel. */
#include "bert.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"

#define BERT_STREAM 0x4245525400000000ull /* "BERT": Philox stream base, + tensor offset */

static lv_status add_tensor(lv_bert *m, size_t *off, int flags, int ndim, int64_t d0, int64_t d1,
                            const char *fmt, int layer, const char *leaf) {
    char name[LV_PARAM_NAME_MAX];
    snprintf(name, sizeof name, fmt, layer, leaf);
    int64_t shape[2] = {d0, d1};
    return lv_layout_add(&m->params, name, ndim, shape, flags, off);
}

/* A linear's weight [out,in] and bias [out] under `sub` (e.g. "attention.output.dense"). */
static lv_status add_linear(lv_bert *m, size_t *w, size_t *b, int layer, const char *sub, int out, int in) {
    char fmt[96];
    snprintf(fmt, sizeof fmt, "encoder.layer.%%d.%s.%%s", sub);
    LV_TRY(add_tensor(m, w, 0, 2, out, in, fmt, layer, "weight"));
    return add_tensor(m, b, LV_PARAM_NO_DECAY, 1, out, 0, fmt, layer, "bias");
}

static lv_status add_layernorm(lv_bert *m, size_t *w, size_t *b, int layer, const char *sub) {
    char fmt[96];
    snprintf(fmt, sizeof fmt, "encoder.layer.%%d.%s.%%s", sub);
    LV_TRY(add_tensor(m, w, LV_PARAM_NO_DECAY, 1, m->cfg.hidden, 0, fmt, layer, "weight"));
    return add_tensor(m, b, LV_PARAM_NO_DECAY, 1, m->cfg.hidden, 0, fmt, layer, "bias");
}

static lv_status build_layer(lv_bert *m, int l) {
    lv_bert_layer *L = &m->layer[l];
    const int H = m->cfg.hidden, I = m->cfg.intermediate;
    static const char *const qkv[3] = {"query", "key", "value"};
    size_t off[3];
    /* Weights of q, k, v first, then their biases: each group is one contiguous block. */
    for (int i = 0; i < 3; i++) {
        char fmt[96];
        snprintf(fmt, sizeof fmt, "encoder.layer.%%d.attention.self.%s.%%s", qkv[i]);
        LV_TRY(add_tensor(m, &off[i], 0, 2, H, H, fmt, l, "weight"));
    }
    L->qkv_w = off[0];
    for (int i = 0; i < 3; i++) {
        char fmt[96];
        snprintf(fmt, sizeof fmt, "encoder.layer.%%d.attention.self.%s.%%s", qkv[i]);
        LV_TRY(add_tensor(m, &off[i], LV_PARAM_NO_DECAY, 1, H, 0, fmt, l, "bias"));
    }
    L->qkv_b = off[0];
    LV_TRY(add_linear(m, &L->attn_out_w, &L->attn_out_b, l, "attention.output.dense", H, H));
    LV_TRY(add_layernorm(m, &L->ln1_w, &L->ln1_b, l, "attention.output.LayerNorm"));
    LV_TRY(add_linear(m, &L->inter_w, &L->inter_b, l, "intermediate.dense", I, H));
    LV_TRY(add_linear(m, &L->out_w, &L->out_b, l, "output.dense", H, I));
    return add_layernorm(m, &L->ln2_w, &L->ln2_b, l, "output.LayerNorm");
}

static lv_status build_all(lv_bert *m) {
    const lv_bert_config *c = &m->cfg;
    int64_t s[2];
    s[0] = c->vocab, s[1] = c->hidden;
    LV_TRY(lv_layout_add(&m->params, "embeddings.word_embeddings.weight", 2, s, 0, &m->word));
    s[0] = c->max_position;
    LV_TRY(lv_layout_add(&m->params, "embeddings.position_embeddings.weight", 2, s, 0, &m->position));
    s[0] = c->type_vocab;
    LV_TRY(lv_layout_add(&m->params, "embeddings.token_type_embeddings.weight", 2, s, 0, &m->token_type));
    s[0] = c->hidden;
    LV_TRY(lv_layout_add(&m->params, "embeddings.LayerNorm.weight", 1, s, LV_PARAM_NO_DECAY, &m->emb_ln_w));
    LV_TRY(lv_layout_add(&m->params, "embeddings.LayerNorm.bias", 1, s, LV_PARAM_NO_DECAY, &m->emb_ln_b));
    for (int l = 0; l < c->layers; l++) LV_TRY(build_layer(m, l));
    if (c->dim > 0) {
        s[0] = c->dim, s[1] = c->hidden;
        LV_TRY(lv_layout_add(&m->params, "proj.weight", 2, s, 0, &m->proj_w));
    }
    return LV_OK;
}

lv_status lv_bert_build(lv_bert *m, const lv_bert_config *cfg) {
    memset(m, 0, sizeof *m);
    LV_TRY(lv_bert_config_check(cfg));
    m->cfg = *cfg;
    lv_layout_init(&m->params);
    m->layer = calloc((size_t)cfg->layers, sizeof *m->layer);
    LV_CHECK_ALLOC(m->layer);
    lv_status s = build_all(m);
    if (s != LV_OK) lv_bert_free(m);
    return s;
}

void lv_bert_free(lv_bert *m) {
    lv_layout_free(&m->params);
    free(m->layer);
    m->layer = NULL;
}

void lv_bert_init_host(const lv_bert *m, float *params, uint64_t seed) {
    const lv_bert_config *c = &m->cfg;
    const float std = c->init_range;
    for (int i = 0; i < m->params.count; i++) {
        const lv_param_spec *p = &m->params.specs[i];
        float *x = params + p->offset;
        int is_ln_weight = strstr(p->name, "LayerNorm.weight") != NULL;
        if (strcmp(p->name, "proj.weight") == 0) {
            float bound = 1.0f / sqrtf((float)c->hidden);
            for (size_t j = 0; j < p->numel; j++)
                x[j] = bound * (2.0f * lv_rng_uniform(seed, BERT_STREAM + p->offset, j) - 1.0f);
        } else if (p->ndim == 2) {
            for (size_t j = 0; j < p->numel; j++) x[j] = std * lv_rng_normal(seed, BERT_STREAM + p->offset, j);
        } else {
            float v = is_ln_weight ? 1.0f : 0.0f;
            for (size_t j = 0; j < p->numel; j++) x[j] = v;
        }
    }
    if (c->pad_token_id >= 0) /* HF zeroes the padding_idx row of the word embeddings */
        memset(params + m->word + (size_t)c->pad_token_id * c->hidden, 0, (size_t)c->hidden * sizeof(float));
}

/* Two passes over the same walk: the first (NULL bases) counts floats, the second hands
 * out pointers, so sizes and assignments cannot disagree. */
typedef struct arena_walk {
    float *vals, *grads;
    size_t nvals, ngrads;
    int with_grads;
} arena_walk;

static void take_act(arena_walk *w, lv_bert_act *a, size_t n) {
    a->x = w->vals ? w->vals + w->nvals : NULL;
    a->dx = (w->grads && w->with_grads) ? w->grads + w->ngrads : NULL;
    w->nvals += n;
    if (w->with_grads) w->ngrads += n;
}

static float *take_vals(arena_walk *w, size_t n) {
    float *p = w->vals ? w->vals + w->nvals : NULL;
    w->nvals += n;
    return p;
}

static void walk_acts(const lv_bert *m, lv_bert_acts *a, arena_walk *w) {
    const size_t n = (size_t)a->batch * a->seq_len, H = (size_t)m->cfg.hidden;
    const size_t I = (size_t)m->cfg.intermediate;
    /* The lookups and the first sum need no gradient buffers of their own: backward
     * scatters sum2's gradient straight into the three tables. */
    a->word.x = take_vals(w, n * H);
    a->pos.x = take_vals(w, n * H);
    a->type.x = take_vals(w, n * H);
    a->sum1.x = take_vals(w, n * H);
    take_act(w, &a->sum2, n * H);
    take_act(w, &a->emb, n * H);
    a->emb_ln_stats = take_vals(w, 2 * n);
    for (int l = 0; l < m->cfg.layers; l++) {
        lv_bert_layer_acts *L = &a->layer[l];
        take_act(w, &L->qkv, n * 3 * H);
        L->att = take_vals(w, (size_t)a->batch * m->cfg.heads * a->seq_len * a->seq_len);
        take_act(w, &L->ctx, n * H);
        take_act(w, &L->attn_out, n * H);
        take_act(w, &L->res1, n * H);
        take_act(w, &L->h1, n * H);
        L->ln1_stats = take_vals(w, 2 * n);
        take_act(w, &L->inter, n * I);
        take_act(w, &L->gelu, n * I);
        take_act(w, &L->ffn_out, n * H);
        take_act(w, &L->res2, n * H);
        take_act(w, &L->h2, n * H);
        L->ln2_stats = take_vals(w, 2 * n);
    }
    take_act(w, &a->pooled, (size_t)a->batch * H);
    if (m->cfg.dim > 0) take_act(w, &a->out, (size_t)a->batch * m->cfg.dim);
}

lv_status lv_bert_acts_alloc(lv_bert_acts *a, const lv_bert *m, lv_backend *be, int batch,
                             int seq_len, int with_grads) {
    memset(a, 0, sizeof *a);
    LV_CHECK(batch >= 1 && batch <= (1 << 20), LV_ERR_INPUT, "text encoder: batch %d, expected 1..%d", batch, 1 << 20);
    LV_CHECK(seq_len >= 1 && seq_len <= m->cfg.max_position, LV_ERR_INPUT,
             "text encoder: sequence length %d, expected 1..%d (max_position_embeddings)",
             seq_len, m->cfg.max_position);
    a->layer = calloc((size_t)m->cfg.layers, sizeof *a->layer);
    LV_CHECK_ALLOC(a->layer);
    a->be = be;
    a->batch = batch;
    a->seq_len = seq_len;
    a->with_grads = with_grads != 0;
    arena_walk w = {.with_grads = a->with_grads};
    walk_acts(m, a, &w);
    a->arena_floats = w.nvals;
    a->grad_floats = w.ngrads;
    const size_t n = (size_t)batch * seq_len;
    a->arena = be->alloc(be, w.nvals * sizeof(float));
    a->grad_arena = w.ngrads ? be->alloc(be, w.ngrads * sizeof(float)) : NULL;
    a->consts = be->alloc(be, 3 * n * sizeof(int));
    int *host = malloc(3 * n * sizeof(int));
    if (!a->arena || (w.ngrads && !a->grad_arena) || !a->consts || !host) {
        size_t mb = (w.nvals + w.ngrads) * sizeof(float) >> 20;
        free(host);
        lv_bert_acts_free(a);
        return lv_errorf(LV_ERR_RUNTIME, "text encoder: cannot allocate %zu MiB of activations for "
                                         "batch %d x %d tokens on %s", mb, batch, seq_len, be->name);
    }
    /* Position ids 0..t-1 and token type 0 per sequence (HF's defaults when the caller passes
     * neither); the CLS mask keeps token 0 only, so CLS pooling is the masked mean op too. */
    for (size_t i = 0; i < n; i++) {
        int pos = (int)(i % (size_t)seq_len);
        host[i] = pos;
        host[n + i] = 0;
        host[2 * n + i] = pos == 0;
    }
    be->copy_h2d(be, a->consts, host, 3 * n * sizeof(int));
    free(host);
    a->pos_ids = a->consts;
    a->type_ids = a->consts + n;
    a->cls_mask = a->consts + 2 * n;
    arena_walk fill = {a->arena, a->grad_arena, 0, 0, a->with_grads};
    walk_acts(m, a, &fill);
    return LV_OK;
}

void lv_bert_acts_free(lv_bert_acts *a) {
    if (a->be) {
        if (a->arena) a->be->free(a->be, a->arena);
        if (a->grad_arena) a->be->free(a->be, a->grad_arena);
        if (a->consts) a->be->free(a->be, a->consts);
    }
    free(a->layer);
    memset(a, 0, sizeof *a);
}

const float *lv_bert_last_hidden(const lv_bert *m, const lv_bert_acts *a) {
    return a->layer[m->cfg.layers - 1].h2.x;
}

lv_status lv_bert_check_ids(const lv_bert *m, const int *ids, size_t n) {
    for (size_t i = 0; i < n; i++)
        LV_CHECK(ids[i] >= 0 && ids[i] < m->cfg.vocab, LV_ERR_INPUT,
                 "text encoder: token id %d at position %zu, expected 0..%d (vocab_size %d)",
                 ids[i], i, m->cfg.vocab - 1, m->cfg.vocab);
    return LV_OK;
}

void lv_bert_forward(const lv_bert *m, lv_bert_acts *a, const float *params, const int *ids,
                     const int *mask, int batch) {
    lv_backend *be = a->be;
    if (batch < 1 || batch > a->batch || !ids || !mask) {
        lv_backend_fail(be, LV_ERR_RUNTIME, "bert_forward: batch %d with activations for 1..%d "
                        "(ids and mask required)", batch, a->batch);
        return;
    }
    const lv_bert_config *c = &m->cfg;
    const int t = a->seq_len, H = c->hidden, I = c->intermediate, n = batch * t;
    const size_t nH = (size_t)n * H;
    a->cur_batch = batch;
    a->ids = ids;
    a->mask = mask;
    /* HF BertEmbeddings adds (word + token_type) + position, then LayerNorm: the same order
     * here, so the sums round exactly as PyTorch's. */
    lv_embedding_forward(be, a->word.x, ids, params + m->word, n, H);
    lv_embedding_forward(be, a->type.x, a->type_ids, params + m->token_type, n, H);
    lv_embedding_forward(be, a->pos.x, a->pos_ids, params + m->position, n, H);
    lv_residual_add_forward(be, a->sum1.x, a->word.x, a->type.x, nH);
    lv_residual_add_forward(be, a->sum2.x, a->sum1.x, a->pos.x, nH);
    lv_layernorm_forward(be, a->emb.x, a->emb_ln_stats, a->emb_ln_stats + n, a->sum2.x,
                         params + m->emb_ln_w, params + m->emb_ln_b, n, H, c->ln_eps);
    const float *x = a->emb.x;
    lv_attn_shape as = {batch, t, H, c->heads};
    for (int l = 0; l < c->layers; l++) {
        const lv_bert_layer *L = &m->layer[l];
        lv_bert_layer_acts *A = &a->layer[l];
        lv_linear_forward(be, A->qkv.x, x, params + L->qkv_w, params + L->qkv_b, n, H, 3 * H);
        lv_attention_forward(be, A->ctx.x, A->att, A->qkv.x, mask, &as);
        lv_linear_forward(be, A->attn_out.x, A->ctx.x, params + L->attn_out_w, params + L->attn_out_b, n, H, H);
        lv_residual_add_forward(be, A->res1.x, A->attn_out.x, x, nH);
        lv_layernorm_forward(be, A->h1.x, A->ln1_stats, A->ln1_stats + n, A->res1.x,
                             params + L->ln1_w, params + L->ln1_b, n, H, c->ln_eps);
        lv_linear_forward(be, A->inter.x, A->h1.x, params + L->inter_w, params + L->inter_b, n, H, I);
        lv_gelu_forward(be, A->gelu.x, A->inter.x, (size_t)n * I);
        lv_linear_forward(be, A->ffn_out.x, A->gelu.x, params + L->out_w, params + L->out_b, n, I, H);
        lv_residual_add_forward(be, A->res2.x, A->ffn_out.x, A->h1.x, nH);
        lv_layernorm_forward(be, A->h2.x, A->ln2_stats, A->ln2_stats + n, A->res2.x,
                             params + L->ln2_w, params + L->ln2_b, n, H, c->ln_eps);
        x = A->h2.x;
    }
    const int *pool_mask = c->pooling == LV_BERT_POOL_MEAN ? mask : a->cls_mask;
    lv_masked_mean_pool_forward(be, a->pooled.x, x, pool_mask, batch, t, H);
    if (c->dim > 0)
        lv_linear_forward(be, a->out.x, a->pooled.x, params + m->proj_w, NULL, batch, H, c->dim);
}

void lv_bert_backward(const lv_bert *m, lv_bert_acts *a, const float *params, float *grads,
                      const float *demb, const float *dpooled) {
    lv_backend *be = a->be;
    if (!a->with_grads || a->cur_batch < 1) {
        lv_backend_fail(be, LV_ERR_RUNTIME, "bert_backward: %s", !a->with_grads
                        ? "activations were allocated without gradients (frozen text encoder)"
                        : "no forward pass to differentiate");
        return;
    }
    const lv_bert_config *c = &m->cfg;
    const int batch = a->cur_batch, t = a->seq_len, H = c->hidden, I = c->intermediate, n = batch * t;
    const size_t nH = (size_t)n * H;
    be->memset0(be, a->grad_arena, a->grad_floats * sizeof(float));
    if (demb && c->dim > 0)
        lv_linear_backward(be, a->pooled.dx, grads + m->proj_w, NULL, demb, a->pooled.x,
                           params + m->proj_w, batch, H, c->dim);
    if (dpooled) lv_residual_add_backward(be, a->pooled.dx, NULL, dpooled, (size_t)batch * H);
    const int *pool_mask = c->pooling == LV_BERT_POOL_MEAN ? a->mask : a->cls_mask;
    lv_masked_mean_pool_backward(be, a->layer[c->layers - 1].h2.dx, a->pooled.dx, pool_mask, batch, t, H);
    lv_attn_shape as = {batch, t, H, c->heads};
    for (int l = c->layers - 1; l >= 0; l--) {
        const lv_bert_layer *L = &m->layer[l];
        lv_bert_layer_acts *A = &a->layer[l];
        const lv_bert_act *in = l > 0 ? &a->layer[l - 1].h2 : &a->emb;
        lv_layernorm_backward(be, A->res2.dx, grads + L->ln2_w, grads + L->ln2_b, A->h2.dx,
                              A->res2.x, params + L->ln2_w, A->ln2_stats, A->ln2_stats + n, n, H);
        /* res2 = ffn_out + h1: the same gradient reaches both terms. */
        lv_residual_add_backward(be, A->ffn_out.dx, A->h1.dx, A->res2.dx, nH);
        lv_linear_backward(be, A->gelu.dx, grads + L->out_w, grads + L->out_b, A->ffn_out.dx,
                           A->gelu.x, params + L->out_w, n, I, H);
        lv_gelu_backward(be, A->inter.dx, A->gelu.dx, A->inter.x, (size_t)n * I);
        lv_linear_backward(be, A->h1.dx, grads + L->inter_w, grads + L->inter_b, A->inter.dx,
                           A->h1.x, params + L->inter_w, n, H, I);
        lv_layernorm_backward(be, A->res1.dx, grads + L->ln1_w, grads + L->ln1_b, A->h1.dx,
                              A->res1.x, params + L->ln1_w, A->ln1_stats, A->ln1_stats + n, n, H);
        lv_residual_add_backward(be, A->attn_out.dx, in->dx, A->res1.dx, nH);
        lv_linear_backward(be, A->ctx.dx, grads + L->attn_out_w, grads + L->attn_out_b,
                           A->attn_out.dx, A->ctx.x, params + L->attn_out_w, n, H, H);
        lv_attention_backward(be, A->qkv.dx, A->ctx.dx, A->qkv.x, A->att, a->mask, &as);
        lv_linear_backward(be, in->dx, grads + L->qkv_w, grads + L->qkv_b, A->qkv.dx, in->x,
                           params + L->qkv_w, n, H, 3 * H);
    }
    lv_layernorm_backward(be, a->sum2.dx, grads + m->emb_ln_w, grads + m->emb_ln_b, a->emb.dx,
                          a->sum2.x, params + m->emb_ln_w, a->emb_ln_stats, a->emb_ln_stats + n, n, H);
    /* sum2 = word + type + pos: each lookup table gets the same gradient scattered back. */
    lv_embedding_backward(be, grads + m->word, a->sum2.dx, a->ids, n, H);
    lv_embedding_backward(be, grads + m->token_type, a->sum2.dx, a->type_ids, n, H);
    lv_embedding_backward(be, grads + m->position, a->sum2.dx, a->pos_ids, n, H);
    /* HF's padding_idx: that row never receives a gradient, so it stays whatever it was
     * loaded as. Zeroing it after the scatter (rather than skipping pad ids) keeps the op
     * table free of a BERT special case; every earlier backward left the row zero too, so
     * no accumulated gradient is lost. */
    if (c->pad_token_id >= 0)
        be->memset0(be, grads + m->word + (size_t)c->pad_token_id * H, (size_t)H * sizeof(float));
}
