/* Pretrained-weight imports into a built lv_vlm (liver_vlm_io.h): torchvision resnet18
 * safetensors and HF BERT folders. Works on host copies of the model's buffers and
 * uploads once; knows nothing of checkpoints (train/checkpoint.c) or of the CLI. */
#include "liver_vlm_io.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/safetensors.h"

static int starts_with(const char *s, const char *prefix) { return strncmp(s, prefix, strlen(prefix)) == 0; }

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* conv1.weight [64,Pf,7,7] from the file -> [64,P,7,7] (see the header for the rule). */
static lv_status adapt_conv1(const lv_st_file *f, const lv_st_tensor *t, const lv_param_spec *p, float *dst) {
    const char *path = lv_st_path(f);
    int P = (int)p->shape[1];
    LV_CHECK(t->ndim == 4 && t->shape[0] == p->shape[0] && t->shape[2] == p->shape[2] &&
                 t->shape[3] == p->shape[3] && t->shape[1] >= 1 && t->shape[1] <= 64,
             LV_ERR_INPUT, "%s: tensor \"%s\": expected shape [%lld,Pf,%lld,%lld] (any Pf phases/colours), "
                           "found %d dimensions [%lld,%lld,...]", path, t->name, (long long)p->shape[0],
             (long long)p->shape[2], (long long)p->shape[3], t->ndim, (long long)t->shape[0],
             (long long)(t->ndim > 1 ? t->shape[1] : 0));
    int pf = (int)t->shape[1];
    int64_t shape[4] = {t->shape[0], pf, t->shape[2], t->shape[3]};
    size_t k = (size_t)(t->shape[2] * t->shape[3]), oc = (size_t)t->shape[0];
    float *src = malloc(oc * (size_t)pf * k * sizeof *src);
    LV_CHECK_ALLOC(src);
    lv_status s = lv_st_read_f32(f, t->name, src, 4, shape);
    for (size_t o = 0; s == LV_OK && o < oc; o++) {
        const float *w = src + o * (size_t)pf * k;
        float *d = dst + o * (size_t)P * k;
        if (P == 1) {
            for (size_t j = 0; j < k; j++) {
                float acc = 0.0f;
                for (int c = 0; c < pf; c++) acc += w[(size_t)c * k + j];
                d[j] = acc;
            }
        } else {
            float scale = (float)pf / (float)P;
            for (int c = 0; c < P; c++)
                for (size_t j = 0; j < k; j++) d[(size_t)c * k + j] = w[(size_t)(c % pf) * k + j] * scale;
        }
    }
    free(src);
    return s;
}

/* Fills params/state (host copies) from f; `seen` marks each spec of params then state. */
static lv_status read_visual(const lv_resnet18 *r, const lv_st_file *f, float *params, float *state, char *seen) {
    const char *path = lv_st_path(f);
    int prefixed = 0;
    for (int i = 0; i < lv_st_count(f); i++) prefixed |= starts_with(lv_st_at(f, i)->name, "visual.");
    for (int i = 0; i < lv_st_count(f); i++) {
        const lv_st_tensor *t = lv_st_at(f, i);
        const char *name = t->name;
        if (prefixed) {
            if (!starts_with(name, "visual.")) continue; /* text.*, head.* of a checkpoint */
            name += 7;
        }
        if (starts_with(name, "fc.") || starts_with(name, "proj.") || ends_with(name, ".num_batches_tracked")) continue;
        const lv_param_spec *p = lv_layout_find(&r->params, name);
        const lv_param_spec *q = p ? NULL : lv_layout_find(&r->state, name);
        if (!p && !q)
            return lv_errorf(LV_ERR_INPUT, "%s: unexpected tensor \"%s\": not part of a torchvision resnet18 "
                             "(is this a resnet34/50 or another model?)", path, t->name);
        if (p) {
            seen[p - r->params.specs] = 1;
            if (strcmp(name, "conv1.weight") == 0 && (t->ndim != 4 || t->shape[1] != p->shape[1]))
                LV_TRY(adapt_conv1(f, t, p, params + p->offset));
            else
                LV_TRY(lv_st_read_f32(f, t->name, params + p->offset, p->ndim, p->shape));
        } else {
            seen[r->params.count + (q - r->state.specs)] = 1;
            LV_TRY(lv_st_read_f32(f, t->name, state + q->offset, q->ndim, q->shape));
        }
    }
    int missing = 0;
    const char *first = NULL;
    for (int i = 0; i < r->params.count + r->state.count; i++) {
        const lv_param_spec *sp = i < r->params.count ? &r->params.specs[i] : &r->state.specs[i - r->params.count];
        if (seen[i] || starts_with(sp->name, "proj.")) continue;
        if (!first) first = sp->name;
        missing++;
    }
    if (missing)
        return lv_errorf(LV_ERR_INPUT, "%s: missing tensor \"%s%s\" (%d resnet18 tensors missing; expected "
                         "torchvision state-dict names, optionally under \"visual.\")", path,
                         prefixed ? "visual." : "", first, missing);
    return LV_OK;
}

lv_status lv_vlm_load_visual_torchvision(lv_vlm *m, const char *path) {
    lv_backend *be = m->be;
    const lv_resnet18 *r = &m->visual;
    size_t np = r->params.total, ns = r->state.total;
    lv_st_file *f = NULL;
    LV_TRY(lv_st_open(&f, path));
    float *params = malloc((np + ns + 1) * sizeof *params);
    char *seen = calloc((size_t)(r->params.count + r->state.count) + 1, 1);
    lv_status s = params && seen ? LV_OK : lv_errorf(LV_ERR_RUNTIME, "%s: out of memory", path);
    if (s == LV_OK) {
        /* The projection is not in the file: start from the model's current values. */
        be->copy_d2h(be, params, m->vbuf.params, np * sizeof(float));
        be->copy_d2h(be, params + np, m->vstate, ns * sizeof(float));
        s = be->sync(be);
    }
    if (s == LV_OK) s = read_visual(r, f, params, params + np, seen);
    if (s == LV_OK) {
        be->copy_h2d(be, m->vbuf.params, params, np * sizeof(float));
        be->copy_h2d(be, m->vstate, params + np, ns * sizeof(float));
        s = be->sync(be);
    }
    free(params);
    free(seen);
    lv_st_close(f);
    return s;
}

/* The architecture keys of two configs, compared one by one so the message names the key. */
static lv_status same_text_config(const lv_bert_config *built, const lv_bert_config *file, const char *path) {
    const struct {
        const char *key;
        long a, b;
    } k[] = {
        {"vocab_size", built->vocab, file->vocab},
        {"hidden_size", built->hidden, file->hidden},
        {"num_hidden_layers", built->layers, file->layers},
        {"num_attention_heads", built->heads, file->heads},
        {"intermediate_size", built->intermediate, file->intermediate},
        {"max_position_embeddings", built->max_position, file->max_position},
        {"type_vocab_size", built->type_vocab, file->type_vocab},
        {"pad_token_id", built->pad_token_id, file->pad_token_id},
    };
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++)
        LV_CHECK(k[i].a == k[i].b, LV_ERR_INPUT, "%s: %s = %ld, but the text encoder was built with %ld "
                 "(build it from this folder's config.json)", path, k[i].key, k[i].b, k[i].a);
    LV_CHECK(built->ln_eps == file->ln_eps, LV_ERR_INPUT, "%s: layer_norm_eps = %g, but the text encoder was built "
             "with %g", path, (double)file->ln_eps, (double)built->ln_eps);
    return LV_OK;
}

lv_status lv_vlm_load_text_hf(lv_vlm *m, const char *dir) {
    LV_CHECK(m->cfg.head == LV_HEAD_VLM, LV_ERR_USAGE, "%s: the linear head has no text encoder to load", dir);
    char cfg_path[4096];
    int n = snprintf(cfg_path, sizeof cfg_path, "%s/config.json", dir);
    LV_CHECK(n > 0 && (size_t)n < sizeof cfg_path, LV_ERR_INPUT, "path too long: %s", dir);
    struct stat sb;
    if (stat(cfg_path, &sb) == 0) {
        lv_bert_config fc;
        LV_TRY(lv_bert_config_load(&fc, cfg_path));
        LV_TRY(same_text_config(&m->cfg.text, &fc, cfg_path));
    }
    lv_backend *be = m->be;
    size_t nt = m->text.params.total;
    float *host = malloc((nt + 1) * sizeof *host);
    LV_CHECK_ALLOC(host);
    be->copy_d2h(be, host, m->tbuf.params, nt * sizeof(float)); /* keeps text.proj */
    lv_status s = be->sync(be);
    if (s == LV_OK) s = lv_bert_load_hf_folder(&m->text, host, dir);
    if (s == LV_OK) {
        be->copy_h2d(be, m->tbuf.params, host, nt * sizeof(float));
        s = be->sync(be);
    }
    free(host);
    if (s == LV_OK) lv_vlm_text_changed(m);
    return s;
}

lv_status lv_vlm_text_config_from_hf(lv_vlm_config *vc, const char *dir, int dim) {
    LV_TRY(lv_bert_load_hf_config(&vc->text, dir));
    int found = 0;
    lv_bert_pooling pool = LV_BERT_POOL_CLS;
    LV_TRY(lv_bert_hf_folder_pooling(dir, &pool, &found));
    if (found) vc->text.pooling = pool;
    vc->text.dim = dim;
    if (vc->text.max_position < vc->text_max_len) vc->text_max_len = vc->text.max_position;
    return LV_OK;
}
