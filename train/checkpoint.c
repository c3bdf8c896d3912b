/* Model checkpoints (checkpoint.h, docs/checkpoint.md): one self-contained safetensors
 * file, torchvision/HF names under visual./text., metadata that rebuilds the model, the
 * tokenizer and the preprocessing. Loading trusts nothing in the file: every key and tensor
 * is checked before the model is used. No optimizer state here (that is state.h's). */
#include "checkpoint.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "core/safetensors.h"

/* Class embeddings recomputed from the loaded text encoder must match the stored ones this
 * closely (float32 rounding across devices is ~1e-6); more means the file was edited. */
#define CKPT_CLASS_EMB_TOL 1e-3

void lv_ckpt_info_free(lv_ckpt_info *info) {
    if (!info) return;
    for (int i = 0; i < LV_MAX_CLASSES; i++) free(info->class_names[i]);
    for (int i = 0; i < LV_MAX_PHASES; i++) free(info->phase_names[i]);
    free(info->training_json);
    memset(info, 0, sizeof *info);
}

/* cJSON text as a malloc'd string (cJSON's hooks may not be malloc). */
static char *print_json(cJSON *o) {
    char *t = o ? cJSON_PrintUnformatted(o) : NULL;
    char *s = t ? strdup(t) : NULL;
    if (t) cJSON_free(t);
    cJSON_Delete(o);
    return s;
}

static char *names_json(char *const *names, int n) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; a && i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateString(names[i]));
    return print_json(a);
}

static char *model_json(const lv_vlm_config *c, int input_size) {
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    cJSON_AddStringToObject(o, "head", c->head == LV_HEAD_VLM ? "vlm" : "linear");
    cJSON_AddNumberToObject(o, "dim", c->dim);
    cJSON_AddNumberToObject(o, "phases", c->phases);
    cJSON_AddNumberToObject(o, "classes", c->classes);
    cJSON_AddBoolToObject(o, "train_text", c->train_text != 0);
    cJSON_AddNumberToObject(o, "text_max_len", c->text_max_len);
    cJSON_AddNumberToObject(o, "logit_scale_init", c->logit_scale_init);
    cJSON_AddNumberToObject(o, "input_size", input_size);
    return print_json(o);
}

/* HF config.json keys (so the object doubles as one) plus our pooling and dim. */
static char *text_config_json(const lv_bert_config *c) {
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    cJSON_AddStringToObject(o, "model_type", "bert");
    cJSON_AddStringToObject(o, "hidden_act", "gelu");
    cJSON_AddStringToObject(o, "position_embedding_type", "absolute");
    cJSON_AddNumberToObject(o, "vocab_size", c->vocab);
    cJSON_AddNumberToObject(o, "hidden_size", c->hidden);
    cJSON_AddNumberToObject(o, "num_hidden_layers", c->layers);
    cJSON_AddNumberToObject(o, "num_attention_heads", c->heads);
    cJSON_AddNumberToObject(o, "intermediate_size", c->intermediate);
    cJSON_AddNumberToObject(o, "max_position_embeddings", c->max_position);
    cJSON_AddNumberToObject(o, "type_vocab_size", c->type_vocab);
    if (c->pad_token_id < 0) cJSON_AddNullToObject(o, "pad_token_id");
    else cJSON_AddNumberToObject(o, "pad_token_id", c->pad_token_id);
    cJSON_AddNumberToObject(o, "layer_norm_eps", c->ln_eps);
    cJSON_AddNumberToObject(o, "initializer_range", c->init_range);
    cJSON_AddStringToObject(o, "pooling", lv_bert_pooling_name(c->pooling));
    cJSON_AddNumberToObject(o, "dim", c->dim);
    return print_json(o);
}

/* Device -> host copy of a whole buffer (n floats). */
static float *to_host(lv_backend *be, const float *dev, size_t n) {
    float *h = malloc((n ? n : 1) * sizeof *h);
    if (h && n) be->copy_d2h(be, h, dev, n * sizeof *h);
    return h;
}

/* One metadata entry; `value` is consumed (freed) and NULL means out of memory. */
static lv_status put_meta(lv_st_writer *w, const char *key, char *value) {
    LV_CHECK(value != NULL, LV_ERR_RUNTIME, "checkpoint: out of memory for metadata \"%s\"", key);
    lv_status s = lv_st_writer_set_metadata(w, key, value);
    free(value);
    return s;
}

static lv_status check_info(const lv_vlm *m, const lv_ckpt_info *info, const char *path) {
    LV_CHECK(info->classes == m->cfg.classes && info->phases == m->cfg.phases, LV_ERR_RUNTIME,
             "%s: checkpoint info has %d classes and %d phases, the model %d and %d", path, info->classes,
             info->phases, m->cfg.classes, m->cfg.phases);
    LV_CHECK(info->input_size >= 1, LV_ERR_RUNTIME, "%s: checkpoint info: input_size %d", path, info->input_size);
    for (int i = 0; i < info->classes; i++)
        LV_CHECK(info->class_names[i] != NULL, LV_ERR_RUNTIME, "%s: checkpoint info: class %d has no name", path, i);
    for (int i = 0; i < info->phases; i++)
        LV_CHECK(info->phase_names[i] != NULL, LV_ERR_RUNTIME, "%s: checkpoint info: phase %d has no name", path, i);
    return LV_OK;
}

/* torchvision's BN buffers include num_batches_tracked; writing it (0: the count is not
 * tracked here, and with momentum 0.1 torchvision never reads it) lets
 * load_state_dict(strict=True) accept the visual.* part as is. */
static lv_status add_bn_counters(const lv_resnet18 *r, lv_st_writer *w) {
    static const int64_t zero = 0;
    for (int i = 0; i < r->state.count; i++) {
        const char *n = r->state.specs[i].name;
        size_t len = strlen(n), suf = strlen(".running_mean");
        if (len < suf || strcmp(n + len - suf, ".running_mean") != 0) continue;
        char name[2 * LV_PARAM_NAME_MAX];
        snprintf(name, sizeof name, "visual.%.*s.num_batches_tracked", (int)(len - suf), n);
        LV_TRY(lv_st_writer_add(w, name, LV_DT_I64, 0, NULL, &zero));
    }
    return LV_OK;
}

lv_status lv_ckpt_save(lv_vlm *m, const lv_ckpt_info *info, const char *path) {
    LV_TRY(check_info(m, info, path));
    lv_backend *be = m->be;
    int vlm = m->cfg.head == LV_HEAD_VLM, C = m->cfg.classes, D = m->cfg.dim;
    float *hv = to_host(be, m->vbuf.params, m->visual.params.total);
    float *hs = to_host(be, m->vstate, m->visual.state.total);
    float *hh = to_host(be, m->hbuf.params, m->head.total);
    float *ht = vlm ? to_host(be, m->tbuf.params, m->text.params.total) : NULL;
    float *ce = vlm ? malloc((size_t)C * (size_t)D * sizeof *ce) : NULL;
    lv_st_writer *w = NULL;
    lv_status s = hv && hs && hh && (!vlm || (ht && ce)) ? LV_OK : lv_errorf(LV_ERR_RUNTIME, "%s: out of memory", path);
    if (s == LV_OK) s = be->sync(be);
    if (s == LV_OK && vlm) s = lv_vlm_class_embeddings(m, ce);
    if (s == LV_OK) s = lv_st_writer_create(&w);
    if (s == LV_OK) s = lv_layout_to_writer(&m->visual.params, hv, "visual.", w);
    if (s == LV_OK) s = lv_layout_to_writer(&m->visual.state, hs, "visual.", w);
    if (s == LV_OK) s = add_bn_counters(&m->visual, w);
    if (s == LV_OK && vlm) s = lv_layout_to_writer(&m->text.params, ht, "text.", w);
    if (s == LV_OK) s = lv_layout_to_writer(&m->head, hh, "", w);
    if (s == LV_OK && vlm) {
        int64_t shape[2] = {C, D};
        s = lv_st_writer_add(w, "class_embeddings", LV_DT_F32, 2, shape, ce);
    }
    char num[32];
    snprintf(num, sizeof num, "%d", info->input_size);
    if (s == LV_OK) s = put_meta(w, "format", strdup(LV_CKPT_FORMAT));
    if (s == LV_OK) s = put_meta(w, "classes", names_json(info->class_names, info->classes));
    if (s == LV_OK) s = put_meta(w, "phases", names_json(info->phase_names, info->phases));
    if (s == LV_OK) s = put_meta(w, "model", model_json(&m->cfg, info->input_size));
    if (s == LV_OK) s = put_meta(w, "input_size", strdup(num));
    if (s == LV_OK) s = put_meta(w, "preprocessing", lv_preproc_to_json(&info->pre));
    if (s == LV_OK && vlm) {
        size_t len = 0;
        s = put_meta(w, "text_config", text_config_json(&m->cfg.text));
        if (s == LV_OK) s = put_meta(w, "tokenizer", lv_wordpiece_options_to_json(lv_wordpiece_get_options(m->tok)));
        if (s == LV_OK) s = put_meta(w, "vocab", lv_wordpiece_vocab_text(m->tok, &len));
        if (s == LV_OK) s = put_meta(w, "prompts", lv_prompts_to_tsv(&m->prompts));
    }
    if (s == LV_OK && info->training_json) s = put_meta(w, "training", strdup(info->training_json));
    if (s == LV_OK) s = lv_st_writer_save(w, path);
    lv_st_writer_free(w);
    free(hv), free(hs), free(hh), free(ht), free(ce);
    return s;
}

/* ------------------------------------------------------------------------------------ */
/* Loading                                                                              */

static const char *json_type(const cJSON *v) {
    if (!v) return "nothing";
    if (cJSON_IsNumber(v)) return "a number";
    if (cJSON_IsString(v)) return "a string";
    if (cJSON_IsArray(v)) return "an array";
    if (cJSON_IsObject(v)) return "an object";
    if (cJSON_IsBool(v)) return "a boolean";
    if (cJSON_IsNull(v)) return "null";
    return "an invalid value";
}

/* The metadata string for key, or an error naming the file and key. */
static lv_status need_meta(const lv_st_file *f, const char *key, const char **out) {
    *out = lv_st_metadata(f, key);
    LV_CHECK(*out != NULL, LV_ERR_INPUT, "%s: metadata key \"%s\" is missing (not a complete %s checkpoint)",
             lv_st_path(f), key, LV_CKPT_FORMAT);
    return LV_OK;
}

/* Parses the JSON value of metadata `key` (kind: cJSON type bit wanted at the top). */
static lv_status parse_meta(const lv_st_file *f, const char *key, int array, cJSON **out) {
    const char *text;
    *out = NULL;
    LV_TRY(need_meta(f, key, &text));
    cJSON *j = cJSON_Parse(text);
    if (!j) {
        const char *at = cJSON_GetErrorPtr();
        long off = at && at >= text ? (long)(at - text) : -1;
        return lv_errorf(LV_ERR_INPUT, "%s: metadata \"%s\" is not valid JSON (near byte %ld)", lv_st_path(f), key, off);
    }
    if (array ? !cJSON_IsArray(j) : !cJSON_IsObject(j)) {
        lv_status s = lv_errorf(LV_ERR_INPUT, "%s: metadata \"%s\": expected a JSON %s, found %s", lv_st_path(f), key,
                                array ? "array" : "object", json_type(j));
        cJSON_Delete(j);
        return s;
    }
    *out = j;
    return LV_OK;
}

/* A JSON array of 1..max distinct non-empty strings into names (strdup'd). */
static lv_status parse_names(const lv_st_file *f, const char *key, int lo, int max, char **names, int *n) {
    cJSON *a = NULL;
    LV_TRY(parse_meta(f, key, 1, &a));
    const char *path = lv_st_path(f);
    int len = cJSON_GetArraySize(a), i = 0;
    lv_status s = len >= lo && len <= max ? LV_OK
                  : lv_errorf(LV_ERR_INPUT, "%s: metadata \"%s\": expected %d..%d names, found %d", path, key, lo, max, len);
    for (const cJSON *e = a->child; s == LV_OK && e; e = e->next, i++) {
        if (!cJSON_IsString(e) || !e->valuestring[0]) {
            s = lv_errorf(LV_ERR_INPUT, "%s: metadata \"%s\"[%d]: expected a non-empty string, found %s", path, key, i,
                          cJSON_IsString(e) ? "an empty string" : json_type(e));
            break;
        }
        for (int k = 0; k < i; k++)
            if (strcmp(names[k], e->valuestring) == 0)
                s = lv_errorf(LV_ERR_INPUT, "%s: metadata \"%s\": \"%s\" appears twice", path, key, e->valuestring);
        if (s == LV_OK && !(names[i] = strdup(e->valuestring))) s = lv_errorf(LV_ERR_RUNTIME, "out of memory");
    }
    *n = len;
    cJSON_Delete(a);
    return s;
}

static lv_status get_int(const lv_st_file *f, const cJSON *o, const char *where, const char *key, int lo, int hi,
                         int *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    LV_CHECK(v, LV_ERR_INPUT, "%s: metadata \"%s\": key \"%s\" is missing", lv_st_path(f), where, key);
    double d = v->valuedouble;
    if (!cJSON_IsNumber(v))
        return lv_errorf(LV_ERR_INPUT, "%s: metadata \"%s\": \"%s\": expected an integer in %d..%d, found %s",
                         lv_st_path(f), where, key, lo, hi, json_type(v));
    LV_CHECK(d == floor(d) && d >= lo && d <= hi, LV_ERR_INPUT,
             "%s: metadata \"%s\": \"%s\": expected an integer in %d..%d, found %g", lv_st_path(f), where, key, lo,
             hi, d);
    *out = (int)d;
    return LV_OK;
}

/* Fills cfg from the "model" object (head, dims, text settings) and returns input_size. */
static lv_status parse_model(const lv_st_file *f, lv_vlm_config *cfg, int C, int P, int *input_size) {
    cJSON *o = NULL;
    LV_TRY(parse_meta(f, "model", 0, &o));
    const char *path = lv_st_path(f);
    int classes = 0, phases = 0, dim = 0, max_len = 0;
    lv_status s = get_int(f, o, "model", "classes", 2, LV_MAX_CLASSES, &classes);
    if (s == LV_OK) s = get_int(f, o, "model", "phases", 1, LV_MAX_PHASES, &phases);
    if (s == LV_OK) s = get_int(f, o, "model", "dim", 0, 65536, &dim);
    if (s == LV_OK) s = get_int(f, o, "model", "text_max_len", 2, 65536, &max_len);
    if (s == LV_OK) s = get_int(f, o, "model", "input_size", 1, 8192, input_size);
    if (s == LV_OK && (classes != C || phases != P))
        s = lv_errorf(LV_ERR_INPUT, "%s: metadata \"model\" says %d classes and %d phases, but \"classes\" lists %d "
                      "and \"phases\" %d", path, classes, phases, C, P);
    const cJSON *head = cJSON_GetObjectItemCaseSensitive(o, "head");
    const cJSON *tt = cJSON_GetObjectItemCaseSensitive(o, "train_text");
    const cJSON *ls = cJSON_GetObjectItemCaseSensitive(o, "logit_scale_init");
    if (s == LV_OK && (!cJSON_IsString(head) || (strcmp(head->valuestring, "vlm") && strcmp(head->valuestring, "linear"))))
        s = lv_errorf(LV_ERR_INPUT, "%s: metadata \"model\": \"head\": expected \"vlm\" or \"linear\", found %s", path,
                      cJSON_IsString(head) ? head->valuestring : json_type(head));
    if (s == LV_OK && !cJSON_IsBool(tt))
        s = lv_errorf(LV_ERR_INPUT, "%s: metadata \"model\": \"train_text\": expected true or false, found %s", path,
                      json_type(tt));
    if (s == LV_OK && (!cJSON_IsNumber(ls) || !isfinite(ls->valuedouble)))
        s = lv_errorf(LV_ERR_INPUT, "%s: metadata \"model\": \"logit_scale_init\": expected a finite number, found %s",
                      path, json_type(ls));
    if (s == LV_OK) {
        cfg->head = strcmp(head->valuestring, "vlm") == 0 ? LV_HEAD_VLM : LV_HEAD_LINEAR;
        cfg->dim = dim;
        cfg->train_text = cJSON_IsTrue(tt);
        cfg->text_max_len = max_len;
        cfg->logit_scale_init = (float)ls->valuedouble;
        if (cfg->head == LV_HEAD_VLM && dim < 1)
            s = lv_errorf(LV_ERR_INPUT, "%s: metadata \"model\": \"dim\" = %d, the VLM head needs >= 1", path, dim);
    }
    cJSON_Delete(o);
    return s;
}

/* "text_config": an HF config.json object plus "pooling" and "dim". */
static lv_status parse_text_config(const lv_st_file *f, lv_bert_config *c, int dim) {
    const char *path = lv_st_path(f), *text;
    char where[512];
    snprintf(where, sizeof where, "%s: metadata \"text_config\"", path);
    LV_TRY(need_meta(f, "text_config", &text));
    LV_TRY(lv_bert_config_parse(c, text, where));
    cJSON *o = cJSON_Parse(text);
    LV_CHECK_ALLOC(o);
    const cJSON *pool = cJSON_GetObjectItemCaseSensitive(o, "pooling");
    int d = -1;
    lv_status s = cJSON_IsString(pool) ? LV_OK
                  : lv_errorf(LV_ERR_INPUT, "%s: \"pooling\": expected \"cls\" or \"mean\", found %s", where, json_type(pool));
    if (s == LV_OK && (s = lv_bert_pooling_parse(&c->pooling, pool->valuestring)) != LV_OK) s = lv_error_wrap(s, "%s", where);
    if (s == LV_OK) s = get_int(f, o, "text_config", "dim", 0, 65536, &d);
    if (s == LV_OK && d != dim)
        s = lv_errorf(LV_ERR_INPUT, "%s: \"dim\" = %d, but metadata \"model\" says %d", where, d, dim);
    c->dim = d;
    cJSON_Delete(o);
    return s;
}

/* Tokenizer (options + vocabulary) and prompts of a VLM checkpoint. */
static lv_status parse_text_side(const lv_st_file *f, const lv_vlm_config *cfg, lv_wordpiece **tok,
                                 lv_prompt_set *prompts) {
    const char *path = lv_st_path(f), *opts_json, *vocab, *tsv;
    char where[512];
    LV_TRY(need_meta(f, "tokenizer", &opts_json));
    LV_TRY(need_meta(f, "vocab", &vocab));
    LV_TRY(need_meta(f, "prompts", &tsv));
    lv_wordpiece_options o;
    lv_wordpiece_options_default(&o);
    snprintf(where, sizeof where, "%s: metadata \"tokenizer\"", path);
    LV_TRY(lv_wordpiece_options_parse(&o, opts_json, where));
    snprintf(where, sizeof where, "%s: metadata \"vocab\"", path);
    LV_TRY(lv_wordpiece_from_text(tok, vocab, strlen(vocab), &o, where));
    size_t nv = lv_wordpiece_vocab_size(*tok);
    LV_CHECK(nv <= (size_t)cfg->text.vocab, LV_ERR_INPUT, "%s: metadata \"vocab\" has %zu tokens, more than the text "
             "encoder's vocab_size %d", path, nv, cfg->text.vocab);
    LV_CHECK(cfg->text_max_len <= cfg->text.max_position, LV_ERR_INPUT, "%s: metadata \"model\": text_max_len %d "
             "exceeds the text encoder's max_position_embeddings %d", path, cfg->text_max_len, cfg->text.max_position);
    snprintf(where, sizeof where, "%s: metadata \"prompts\"", path);
    return lv_prompts_parse(prompts, tsv, where);
}

static lv_status parse_input_size(const lv_st_file *f, int model_size, int *out) {
    const char *text, *path = lv_st_path(f);
    LV_TRY(need_meta(f, "input_size", &text));
    char *end = NULL;
    errno = 0;
    long v = strtol(text, &end, 10);
    LV_CHECK(!errno && end != text && *end == '\0' && v >= 1 && v <= 8192, LV_ERR_INPUT,
             "%s: metadata \"input_size\": expected an integer in 1..8192, found \"%.40s\"", path, text);
    LV_CHECK(v == model_size, LV_ERR_INPUT, "%s: metadata \"input_size\" is %ld but \"model\" says %d", path, v,
             model_size);
    *out = (int)v;
    return LV_OK;
}

/* The metadata that does not need the model: names, preprocessing, sizes, training. */
static lv_status parse_info(const lv_st_file *f, lv_ckpt_info *info, lv_vlm_config *cfg) {
    const char *path = lv_st_path(f), *fmt, *pre;
    LV_TRY(need_meta(f, "format", &fmt));
    LV_CHECK(strcmp(fmt, LV_CKPT_FORMAT) == 0, LV_ERR_INPUT, "%s: metadata \"format\" is \"%.60s\", expected \"%s\"",
             path, fmt, LV_CKPT_FORMAT);
    LV_TRY(parse_names(f, "classes", 2, LV_MAX_CLASSES, info->class_names, &info->classes));
    LV_TRY(parse_names(f, "phases", 1, LV_MAX_PHASES, info->phase_names, &info->phases));
    int model_size = 0;
    LV_TRY(parse_model(f, cfg, info->classes, info->phases, &model_size));
    LV_TRY(parse_input_size(f, model_size, &info->input_size));
    char where[512];
    snprintf(where, sizeof where, "%s: metadata \"preprocessing\"", path);
    LV_TRY(need_meta(f, "preprocessing", &pre));
    LV_TRY(lv_preproc_from_json(&info->pre, pre, where));
    LV_CHECK(info->pre.n_stats <= 1 || info->pre.n_stats == info->phases, LV_ERR_INPUT,
             "%s: %d mean/std values for %d phases (expected 1 or %d)", where, info->pre.n_stats, info->phases,
             info->phases);
    const char *tj = lv_st_metadata(f, "training");
    if (tj) {
        cJSON *o = NULL;
        LV_TRY(parse_meta(f, "training", 0, &o));
        cJSON_Delete(o);
        info->training_json = strdup(tj);
        LV_CHECK_ALLOC(info->training_json);
    }
    return LV_OK;
}

/* Every float of a host copy must be finite: a diverged run's weights would only give NaN. */
static lv_status check_finite(const lv_st_file *f, const lv_param_layout *l, const float *h, const char *prefix) {
    for (int i = 0; i < l->count; i++) {
        const lv_param_spec *p = &l->specs[i];
        for (size_t k = 0; k < p->numel; k++)
            LV_CHECK(isfinite(h[p->offset + k]), LV_ERR_INPUT, "%s: tensor \"%s%s\" holds a non-finite value (%g at "
                     "element %zu)", lv_st_path(f), prefix, p->name, (double)h[p->offset + k], k);
    }
    return LV_OK;
}

/* Reads one layout's tensors from f into the device buffer dev (n floats). */
static lv_status load_layout(const lv_st_file *f, lv_backend *be, const lv_param_layout *l, const char *prefix,
                             float *dev) {
    float *h = malloc((l->total ? l->total : 1) * sizeof *h);
    LV_CHECK_ALLOC(h);
    lv_status s = lv_layout_from_file(l, h, prefix, f);
    if (s == LV_OK) s = check_finite(f, l, h, prefix);
    if (s == LV_OK && l->total) be->copy_h2d(be, dev, h, l->total * sizeof *h);
    if (s == LV_OK) s = be->sync(be);
    free(h);
    return s;
}

/* The stored class embeddings against those the loaded text encoder gives. */
static lv_status check_class_embeddings(const lv_st_file *f, lv_vlm *m) {
    int C = m->cfg.classes, D = m->cfg.dim;
    const char *path = lv_st_path(f);
    LV_CHECK(lv_st_find(f, "class_embeddings"), LV_ERR_INPUT, "%s: tensor 'class_embeddings' is missing", path);
    float *stored = malloc((size_t)C * (size_t)D * sizeof *stored), *now = malloc((size_t)C * (size_t)D * sizeof *now);
    int64_t shape[2] = {C, D};
    lv_status s = stored && now ? LV_OK : lv_errorf(LV_ERR_RUNTIME, "out of memory");
    if (s == LV_OK) s = lv_st_read_f32(f, "class_embeddings", stored, 2, shape);
    if (s == LV_OK) s = lv_vlm_class_embeddings(m, now);
    double worst = 0;
    size_t at = 0;
    for (size_t i = 0; s == LV_OK && i < (size_t)C * (size_t)D; i++) {
        double d = fabs((double)stored[i] - (double)now[i]);
        if (!(d <= worst)) worst = d, at = i; /* NaN counts as worst */
    }
    if (s == LV_OK && !(worst <= CKPT_CLASS_EMB_TOL))
        s = lv_errorf(LV_ERR_INPUT, "%s: tensor 'class_embeddings' disagrees with the text encoder's class "
                      "embeddings (|difference| %g at class %zu; tolerance %g): the text.* weights or the prompts were "
                      "changed without recomputing it", path, worst, at / (size_t)D, CKPT_CLASS_EMB_TOL);
    free(stored);
    free(now);
    return s;
}

static lv_status load_model(const lv_st_file *f, lv_backend *be, int training, lv_vlm *m, lv_ckpt_info *info) {
    const char *path = lv_st_path(f);
    lv_vlm_config cfg;
    memset(&cfg, 0, sizeof cfg);
    LV_TRY(parse_info(f, info, &cfg));
    lv_vlm_config base = cfg;
    lv_vlm_config_default(&cfg, info->phases, info->classes, 1);
    cfg.head = base.head;
    cfg.dim = base.dim;
    cfg.train_text = base.train_text;
    cfg.text_max_len = base.text_max_len;
    cfg.logit_scale_init = base.logit_scale_init;
    lv_wordpiece *tok = NULL;
    lv_prompt_set prompts;
    memset(&prompts, 0, sizeof prompts);
    if (cfg.head == LV_HEAD_VLM) {
        LV_TRY(parse_text_config(f, &cfg.text, cfg.dim));
        lv_status s = parse_text_side(f, &cfg, &tok, &prompts);
        if (s != LV_OK) {
            lv_wordpiece_free(tok);
            lv_prompts_free(&prompts);
            return s;
        }
    }
    /* The model owns tok from here on, also when create fails. */
    lv_status s = lv_vlm_create(m, be, &cfg, (const char *const *)info->class_names, tok,
                                cfg.head == LV_HEAD_VLM ? &prompts : NULL, training, 0);
    lv_prompts_free(&prompts);
    if (s != LV_OK) return lv_error_wrap(s, "%s", path);
    LV_TRY(load_layout(f, be, &m->visual.params, "visual.", m->vbuf.params));
    LV_TRY(load_layout(f, be, &m->visual.state, "visual.", m->vstate));
    LV_TRY(load_layout(f, be, &m->head, "", m->hbuf.params));
    if (cfg.head == LV_HEAD_VLM) {
        LV_TRY(load_layout(f, be, &m->text.params, "text.", m->tbuf.params));
        lv_vlm_text_changed(m);
        LV_TRY(check_class_embeddings(f, m));
    }
    return LV_OK;
}

lv_status lv_ckpt_load(const char *path, lv_backend *be, int training, lv_vlm *m, lv_ckpt_info *info) {
    memset(m, 0, sizeof *m);
    memset(info, 0, sizeof *info);
    lv_st_file *f = NULL;
    lv_status s = lv_st_open(&f, path);
    if (s == LV_OK) s = load_model(f, be, training, m, info);
    lv_st_close(f);
    if (s != LV_OK) {
        lv_vlm_free(m);
        lv_ckpt_info_free(info);
    }
    return s;
}
