/* BERT configuration: defaults, range checks and HF config.json parsing. Only what the
 * engine implements is accepted; anything else is refused here with the key and value
 * named, never discovered later as wrong numbers. No model or tensor code here. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "bert.h"

#define CONFIG_MAX_BYTES (1 << 20) /* an HF config.json is a few hundred bytes */

const char *lv_bert_pooling_name(lv_bert_pooling p) {
    switch (p) {
    case LV_BERT_POOL_CLS: return "cls";
    case LV_BERT_POOL_MEAN: return "mean";
    }
    return NULL;
}

lv_status lv_bert_pooling_parse(lv_bert_pooling *out, const char *name) {
    if (name && strcmp(name, "cls") == 0) *out = LV_BERT_POOL_CLS;
    else if (name && strcmp(name, "mean") == 0) *out = LV_BERT_POOL_MEAN;
    else return lv_errorf(LV_ERR_INPUT, "text pooling \"%s\": expected \"cls\" or \"mean\"", name ? name : "(null)");
    return LV_OK;
}

void lv_bert_config_small(lv_bert_config *c, int vocab, int dim) {
    memset(c, 0, sizeof *c);
    c->vocab = vocab;
    c->hidden = 128;
    c->layers = 2;
    c->heads = 4;
    c->intermediate = 512;
    c->max_position = 128;
    c->type_vocab = 2;
    c->pad_token_id = 0;
    c->ln_eps = 1e-12f;
    c->init_range = 0.02f;
    c->pooling = LV_BERT_POOL_MEAN;
    c->dim = dim;
}

static lv_status check_range(const char *what, long v, long lo, long hi) {
    LV_CHECK(v >= lo && v <= hi, LV_ERR_INPUT, "text encoder config: %s = %ld, expected %ld..%ld", what, v, lo, hi);
    return LV_OK;
}

lv_status lv_bert_config_check(const lv_bert_config *c) {
    LV_TRY(check_range("vocab_size", c->vocab, 1, 1L << 24));
    LV_TRY(check_range("hidden_size", c->hidden, 1, 16384));
    LV_TRY(check_range("num_hidden_layers", c->layers, 1, 256));
    LV_TRY(check_range("num_attention_heads", c->heads, 1, c->hidden));
    LV_CHECK(c->hidden % c->heads == 0, LV_ERR_INPUT,
             "text encoder config: hidden_size %d is not a multiple of num_attention_heads %d",
             c->hidden, c->heads);
    LV_TRY(check_range("intermediate_size", c->intermediate, 1, 1L << 17));
    LV_TRY(check_range("max_position_embeddings", c->max_position, 1, 1L << 16));
    LV_TRY(check_range("type_vocab_size", c->type_vocab, 1, 1024));
    /* -1: no padding row (HF pad_token_id null). */
    LV_TRY(check_range("pad_token_id", c->pad_token_id, -1, (long)c->vocab - 1));
    LV_CHECK(isfinite(c->ln_eps) && c->ln_eps > 0.0f && c->ln_eps < 1.0f, LV_ERR_INPUT,
             "text encoder config: layer_norm_eps = %g, expected a number in (0, 1)", (double)c->ln_eps);
    LV_CHECK(isfinite(c->init_range) && c->init_range >= 0.0f && c->init_range <= 10.0f, LV_ERR_INPUT,
             "text encoder config: initializer_range = %g, expected 0..10", (double)c->init_range);
    LV_CHECK(lv_bert_pooling_name(c->pooling) != NULL, LV_ERR_INPUT,
             "text encoder config: pooling %d, expected cls or mean", (int)c->pooling);
    LV_TRY(check_range("projection dim", c->dim, 0, 65536));
    return LV_OK;
}

/* An integer-valued JSON number into *out; missing keys keep the default unless required. */
static lv_status get_int(const cJSON *root, const char *key, int required, int *out, const char *src) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!it) {
        LV_CHECK(!required, LV_ERR_INPUT, "%s: missing key \"%s\" (an integer)", src, key);
        return LV_OK;
    }
    double v = it->valuedouble;
    LV_CHECK(cJSON_IsNumber(it) && v == floor(v) && fabs(v) <= 2147483647.0, LV_ERR_INPUT,
             "%s: \"%s\" must be an integer", src, key);
    *out = (int)v;
    return LV_OK;
}

static lv_status get_float(const cJSON *root, const char *key, float *out, const char *src) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!it) return LV_OK;
    LV_CHECK(cJSON_IsNumber(it), LV_ERR_INPUT, "%s: \"%s\" must be a number", src, key);
    *out = (float)it->valuedouble;
    return LV_OK;
}

/* An optional string key that, when present, must equal one of the supported values. */
static lv_status expect_string(const cJSON *root, const char *key, const char *want1,
                               const char *want2, const char *what, const char *src) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!it) return LV_OK;
    LV_CHECK(cJSON_IsString(it), LV_ERR_INPUT, "%s: \"%s\" must be a string", src, key);
    const char *v = it->valuestring;
    if (strcmp(v, want1) == 0 || (want2 && strcmp(v, want2) == 0)) return LV_OK;
    return lv_errorf(LV_ERR_INPUT, "%s: %s \"%s\" is not supported (%s)", src, key, v, what);
}

lv_status lv_bert_config_parse(lv_bert_config *c, const char *json, const char *source) {
    const char *src = source ? source : "config.json";
    cJSON *root = cJSON_Parse(json);
    if (!root) {
        const char *at = cJSON_GetErrorPtr();
        long off = at && at >= json ? (long)(at - json) : -1;
        return lv_errorf(LV_ERR_INPUT, "%s: not valid JSON (near byte %ld)", src, off);
    }
    lv_status s = LV_OK;
    if (!cJSON_IsObject(root)) {
        s = lv_errorf(LV_ERR_INPUT, "%s: expected a JSON object at the top", src);
        goto done;
    }
    /* HF BertConfig's defaults for the optional keys. */
    memset(c, 0, sizeof *c);
    c->type_vocab = 2;
    c->pad_token_id = 0;
    c->ln_eps = 1e-12f;
    c->init_range = 0.02f;
    c->pooling = LV_BERT_POOL_CLS;
    c->dim = 0;
    if ((s = expect_string(root, "model_type", "bert", NULL, "only \"bert\" (BertModel) is implemented", src)) ||
        (s = expect_string(root, "hidden_act", "gelu", NULL,
                           "only \"gelu\", the erf form, is implemented", src)) ||
        (s = expect_string(root, "position_embedding_type", "absolute", NULL,
                           "only \"absolute\" position embeddings are implemented", src)))
        goto done;
    const cJSON *dec = cJSON_GetObjectItemCaseSensitive(root, "is_decoder");
    if (dec && cJSON_IsTrue(dec)) {
        s = lv_errorf(LV_ERR_INPUT, "%s: is_decoder is true; only the bidirectional encoder is implemented", src);
        goto done;
    }
    if ((s = get_int(root, "vocab_size", 1, &c->vocab, src)) ||
        (s = get_int(root, "hidden_size", 1, &c->hidden, src)) ||
        (s = get_int(root, "num_hidden_layers", 1, &c->layers, src)) ||
        (s = get_int(root, "num_attention_heads", 1, &c->heads, src)) ||
        (s = get_int(root, "intermediate_size", 1, &c->intermediate, src)) ||
        (s = get_int(root, "max_position_embeddings", 1, &c->max_position, src)) ||
        (s = get_int(root, "type_vocab_size", 0, &c->type_vocab, src)) ||
        (s = get_float(root, "layer_norm_eps", &c->ln_eps, src)) ||
        (s = get_float(root, "initializer_range", &c->init_range, src)))
        goto done;
    const cJSON *pad = cJSON_GetObjectItemCaseSensitive(root, "pad_token_id");
    if (pad && cJSON_IsNull(pad)) c->pad_token_id = -1;
    else if ((s = get_int(root, "pad_token_id", 0, &c->pad_token_id, src)))
        goto done;
    if ((s = lv_bert_config_check(c))) s = lv_error_wrap(s, "%s", src);
done:
    cJSON_Delete(root);
    return s;
}

/* The whole file as a NUL-terminated string (malloc'd into *out). */
static lv_status read_text(const char *path, char **out) {
    *out = NULL;
    FILE *fp = fopen(path, "rb");
    if (!fp) return lv_errorf(LV_ERR_INPUT, "cannot open %s: %s", path, strerror(errno));
    char *buf = malloc(CONFIG_MAX_BYTES + 1);
    if (!buf) {
        fclose(fp);
        return lv_errorf(LV_ERR_RUNTIME, "reading %s: out of memory", path);
    }
    size_t n = fread(buf, 1, CONFIG_MAX_BYTES + 1, fp);
    int err = ferror(fp);
    fclose(fp);
    lv_status s = LV_OK;
    if (err) s = lv_errorf(LV_ERR_INPUT, "cannot read %s", path);
    else if (n > CONFIG_MAX_BYTES) s = lv_errorf(LV_ERR_INPUT, "%s: larger than %d bytes, not a config file", path, CONFIG_MAX_BYTES);
    else if (memchr(buf, 0, n)) s = lv_errorf(LV_ERR_INPUT, "%s: contains a NUL byte, not a JSON text", path);
    if (s != LV_OK) {
        free(buf);
        return s;
    }
    buf[n] = '\0';
    *out = buf;
    return LV_OK;
}

lv_status lv_bert_config_load(lv_bert_config *c, const char *path) {
    char *text;
    LV_TRY(read_text(path, &text));
    lv_status s = lv_bert_config_parse(c, text, path);
    free(text);
    return s;
}

/* sentence-transformers' Pooling module: one boolean per mode; we implement two. */
static lv_status parse_pooling(const char *text, const char *path, lv_bert_pooling *out) {
    static const char *const modes[] = {"pooling_mode_cls_token", "pooling_mode_mean_tokens",
                                        "pooling_mode_max_tokens", "pooling_mode_mean_sqrt_len_tokens",
                                        "pooling_mode_weightedmean_tokens", "pooling_mode_lasttoken"};
    cJSON *root = cJSON_Parse(text);
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return lv_errorf(LV_ERR_INPUT, "%s: not a JSON object", path);
    }
    int on = -1, count = 0;
    lv_status s = LV_OK;
    for (int i = 0; i < (int)(sizeof modes / sizeof modes[0]); i++) {
        const cJSON *it = cJSON_GetObjectItemCaseSensitive(root, modes[i]);
        if (!it) continue;
        if (!cJSON_IsBool(it)) {
            s = lv_errorf(LV_ERR_INPUT, "%s: \"%s\" must be true or false", path, modes[i]);
            break;
        }
        if (cJSON_IsTrue(it)) on = on < 0 ? i : on, count++;
    }
    cJSON_Delete(root);
    if (s != LV_OK) return s;
    LV_CHECK(count == 1, LV_ERR_INPUT, "%s: %d pooling modes switched on, expected exactly one "
             "(pooling_mode_cls_token or pooling_mode_mean_tokens)", path, count);
    LV_CHECK(on <= 1, LV_ERR_INPUT, "%s: %s is not supported (text pooling is cls or mean)", path, modes[on]);
    *out = on == 0 ? LV_BERT_POOL_CLS : LV_BERT_POOL_MEAN;
    return LV_OK;
}

lv_status lv_bert_hf_folder_pooling(const char *dir, lv_bert_pooling *out, int *found) {
    char path[4096];
    *found = 0;
    int n = snprintf(path, sizeof path, "%s/1_Pooling/config.json", dir);
    LV_CHECK(n > 0 && (size_t)n < sizeof path, LV_ERR_INPUT, "path too long: %s/1_Pooling/config.json", dir);
    FILE *fp = fopen(path, "rb");
    if (!fp && errno == ENOENT) return LV_OK; /* a plain HF folder: the caller's pooling stands */
    if (fp) fclose(fp);
    char *text;
    LV_TRY(read_text(path, &text));
    lv_status s = parse_pooling(text, path, out);
    free(text);
    if (s == LV_OK) *found = 1;
    return s;
}
