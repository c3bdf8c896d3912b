/* WordPiece vocabulary: vocab.txt loading and validation, the token -> id hash table, the
 * tokenizer_config.json options, and the accessors. The text pipeline itself lives in
 * wordpiece_basic.c; nothing here looks at Unicode beyond validating UTF-8. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "encoders/wordpiece_impl.h"

/* FNV-1a: a few ns per short token, good enough spread for a power-of-two table. */
static uint64_t fnv_step(uint64_t h, const char *s, size_t len) {
    for (size_t i = 0; i < len; i++) h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
    return h;
}
#define FNV_SEED 14695981039346656037ull

int32_t lv_wp_lookup(const lv_wordpiece *wp, int cont, const char *s, size_t len) {
    size_t full = len + (cont ? 2 : 0);
    if (full > wp->max_len) return -1;
    uint64_t h = FNV_SEED;
    if (cont) h = fnv_step(h, "##", 2);
    h = fnv_step(h, s, len);
    for (size_t i = (size_t)h & wp->mask;; i = (i + 1) & wp->mask) {
        int32_t id = wp->slots[i];
        if (id < 0) return -1;
        if (wp->len[id] != full) continue;
        const char *t = wp->arena + wp->off[id];
        if (cont && (t[0] != '#' || t[1] != '#')) continue;
        if (memcmp(t + (cont ? 2 : 0), s, len) == 0) return id;
    }
}

/* Byte length of a valid UTF-8 sequence at s (RFC 3629: no overlongs, no surrogates), or 0. */
static size_t utf8_seq(const unsigned char *s, size_t avail) {
    unsigned c = s[0];
    if (c < 0x80) return 1;
    size_t n = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 ? 2 : 0;
    if (n == 0 || c > 0xF4 || n > avail) return 0;
    for (size_t i = 1; i < n; i++)
        if ((s[i] & 0xC0) != 0x80) return 0;
    if (c == 0xE0 && s[1] < 0xA0) return 0;
    if (c == 0xED && s[1] >= 0xA0) return 0;
    if (c == 0xF0 && s[1] < 0x90) return 0;
    if (c == 0xF4 && s[1] >= 0x90) return 0;
    return n;
}

static int utf8_valid(const char *s, size_t len) {
    for (size_t i = 0; i < len;) {
        size_t n = utf8_seq((const unsigned char *)s + i, len - i);
        if (n == 0) return 0;
        i += n;
    }
    return 1;
}

void lv_wordpiece_free(lv_wordpiece *wp) {
    if (!wp) return;
    free(wp->arena);
    free(wp->off);
    free(wp->len);
    free(wp->slots);
    free(wp);
}

static lv_status check_special(lv_wordpiece *wp, const char *name, int32_t *id, int required,
                               const char *what) {
    *id = lv_wp_lookup(wp, 0, name, strlen(name));
    if (*id < 0 && required)
        return lv_errorf(LV_ERR_INPUT,
                         "vocabulary %s has no %s token (a WordPiece vocabulary needs %s, %s, %s and %s)",
                         what, name, wp->opt.pad_token, wp->opt.unk_token, wp->opt.cls_token,
                         wp->opt.sep_token);
    return LV_OK;
}

/* Builds the hash table over arena/off/len (already filled, n tokens) and finds the special
 * ids. `line_base` 1 reports duplicates as file lines, 0 as list indices. */
static lv_status index_tokens(lv_wordpiece *wp, const char *what, int line_base) {
    size_t cap = 16;
    while (cap < wp->n * 2) cap <<= 1;
    wp->slots = malloc(cap * sizeof *wp->slots);
    LV_CHECK_ALLOC(wp->slots);
    memset(wp->slots, 0xFF, cap * sizeof *wp->slots);
    wp->mask = cap - 1;
    wp->max_len = 0;
    for (size_t id = 0; id < wp->n; id++)
        if (wp->len[id] > wp->max_len) wp->max_len = wp->len[id];
    for (size_t id = 0; id < wp->n; id++) {
        const char *t = wp->arena + wp->off[id];
        uint64_t h = fnv_step(FNV_SEED, t, wp->len[id]);
        size_t i = (size_t)h & wp->mask;
        for (; wp->slots[i] >= 0; i = (i + 1) & wp->mask) {
            int32_t o = wp->slots[i];
            if (wp->len[o] == wp->len[id] && memcmp(wp->arena + wp->off[o], t, wp->len[id]) == 0)
                return lv_errorf(LV_ERR_INPUT, "vocabulary %s: %s %zu: token \"%.60s\" duplicates %s %zu",
                                 what, line_base ? "line" : "entry", id + (size_t)line_base, t,
                                 line_base ? "line" : "entry", (size_t)o + (size_t)line_base);
        }
        wp->slots[i] = (int32_t)id;
    }
    LV_TRY(check_special(wp, wp->opt.pad_token, &wp->sp.pad, 1, what));
    LV_TRY(check_special(wp, wp->opt.unk_token, &wp->sp.unk, 1, what));
    LV_TRY(check_special(wp, wp->opt.cls_token, &wp->sp.cls, 1, what));
    LV_TRY(check_special(wp, wp->opt.sep_token, &wp->sp.sep, 1, what));
    LV_TRY(check_special(wp, wp->opt.mask_token, &wp->sp.mask, 0, what));
    wp->strip = wp->opt.strip_accents < 0 ? wp->opt.do_lower_case : wp->opt.strip_accents;
    return LV_OK;
}

static lv_status alloc_wp(lv_wordpiece **out, const lv_wordpiece_options *o, size_t n) {
    *out = NULL;
    lv_wordpiece *wp = calloc(1, sizeof *wp);
    LV_CHECK_ALLOC(wp);
    if (o) wp->opt = *o;
    else lv_wordpiece_options_default(&wp->opt);
    wp->n = n;
    wp->off = malloc((n ? n : 1) * sizeof *wp->off);
    wp->len = malloc((n ? n : 1) * sizeof *wp->len);
    *out = wp;
    if (!wp->off || !wp->len) return lv_errorf(LV_ERR_RUNTIME, "out of memory for %zu tokens", n);
    return LV_OK;
}

static lv_status finish(lv_wordpiece **out, lv_wordpiece *wp, const char *what, int line_base) {
    lv_status s = index_tokens(wp, what, line_base);
    if (s != LV_OK) {
        lv_wordpiece_free(wp);
        return s;
    }
    *out = wp;
    return LV_OK;
}

lv_status lv_wordpiece_from_text(lv_wordpiece **out, const char *text, size_t len,
                                 const lv_wordpiece_options *o, const char *what) {
    *out = NULL;
    size_t n = 0;
    for (size_t i = 0; i < len; i++) n += text[i] == '\n';
    if (len > 0 && text[len - 1] != '\n') n++; /* last line without its newline */
    LV_CHECK(n > 0, LV_ERR_INPUT, "vocabulary %s is empty (expected one token per line)", what);
    LV_CHECK(n < (size_t)INT32_MAX && len < (size_t)UINT32_MAX, LV_ERR_INPUT,
             "vocabulary %s is too large (%zu lines, %zu bytes)", what, n, len);
    lv_wordpiece *wp = NULL;
    lv_status s = alloc_wp(&wp, o, n);
    if (s == LV_OK && !(wp->arena = malloc(len + 1))) s = lv_errorf(LV_ERR_RUNTIME, "out of memory");
    if (s != LV_OK) {
        lv_wordpiece_free(wp);
        return s;
    }
    size_t id = 0, at = 0;
    for (size_t i = 0; i < len; id++) {
        const char *nl = memchr(text + i, '\n', len - i);
        size_t end = nl ? (size_t)(nl - text) : len, tl = end - i;
        if (tl > 0 && text[end - 1] == '\r') tl--; /* CRLF files: the \r is not part of the token */
        if (memchr(text + i, '\0', tl) || !utf8_valid(text + i, tl)) {
            lv_wordpiece_free(wp);
            return lv_errorf(LV_ERR_INPUT, "vocabulary %s: line %zu is not valid UTF-8 text", what, id + 1);
        }
        memcpy(wp->arena + at, text + i, tl);
        wp->arena[at + tl] = '\0';
        wp->off[id] = (uint32_t)at;
        wp->len[id] = (uint32_t)tl;
        at += tl + 1;
        i = end + 1;
    }
    return finish(out, wp, what, 1);
}

lv_status lv_wordpiece_from_tokens(lv_wordpiece **out, const char *const *tokens, size_t n,
                                   const lv_wordpiece_options *o, const char *what) {
    *out = NULL;
    LV_CHECK(n > 0, LV_ERR_INPUT, "vocabulary %s is empty", what);
    LV_CHECK(n < (size_t)INT32_MAX, LV_ERR_INPUT, "vocabulary %s is too large (%zu tokens)", what, n);
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        LV_CHECK(tokens[i] != NULL, LV_ERR_INPUT, "vocabulary %s: entry %zu is NULL", what, i);
        size_t tl = strlen(tokens[i]);
        LV_CHECK(!memchr(tokens[i], '\n', tl) && !memchr(tokens[i], '\r', tl) && utf8_valid(tokens[i], tl),
                 LV_ERR_INPUT, "vocabulary %s: entry %zu is not one line of valid UTF-8", what, i);
        total += tl + 1;
    }
    LV_CHECK(total < (size_t)UINT32_MAX, LV_ERR_INPUT, "vocabulary %s is too large", what);
    lv_wordpiece *wp = NULL;
    lv_status s = alloc_wp(&wp, o, n);
    if (s == LV_OK && !(wp->arena = malloc(total))) s = lv_errorf(LV_ERR_RUNTIME, "out of memory");
    if (s != LV_OK) {
        lv_wordpiece_free(wp);
        return s;
    }
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        size_t tl = strlen(tokens[i]);
        memcpy(wp->arena + at, tokens[i], tl + 1);
        wp->off[i] = (uint32_t)at;
        wp->len[i] = (uint32_t)tl;
        at += tl + 1;
    }
    return finish(out, wp, what, 0);
}

/* Whole file into memory; errors name the path. */
static lv_status read_file(const char *path, const char *kind, char **buf, size_t *len) {
    *buf = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return lv_errorf(LV_ERR_INPUT, "cannot open %s %s: %s", kind, path, strerror(errno));
    size_t cap = 1 << 16, n = 0;
    char *b = malloc(cap + 1);
    while (b) {
        n += fread(b + n, 1, cap - n, f);
        if (n < cap) break;
        char *nb = cap > ((size_t)1 << 30) ? NULL : realloc(b, cap * 2 + 1);
        if (!nb) {
            free(b);
            b = NULL;
            break;
        }
        b = nb;
        cap *= 2;
    }
    int err = ferror(f);
    fclose(f);
    if (!b) return lv_errorf(LV_ERR_INPUT, "%s %s is too large to read (over 1 GiB) or memory ran out", kind, path);
    if (err) {
        free(b);
        return lv_errorf(LV_ERR_INPUT, "error reading %s %s", kind, path);
    }
    b[n] = '\0';
    *buf = b;
    *len = n;
    return LV_OK;
}

lv_status lv_wordpiece_load(lv_wordpiece **out, const char *vocab_path, const lv_wordpiece_options *o) {
    *out = NULL;
    char *buf;
    size_t len;
    LV_TRY(read_file(vocab_path, "vocabulary", &buf, &len));
    lv_status s = lv_wordpiece_from_text(out, buf, len, o, vocab_path);
    free(buf);
    return s;
}

lv_status lv_wordpiece_load_dir(lv_wordpiece **out, const char *dir) {
    *out = NULL;
    size_t dl = strlen(dir);
    char *path = malloc(dl + 32);
    LV_CHECK_ALLOC(path);
    lv_wordpiece_options o;
    lv_wordpiece_options_default(&o);
    snprintf(path, dl + 32, "%s/tokenizer_config.json", dir);
    FILE *f = fopen(path, "rb");
    lv_status s = LV_OK;
    if (f) {
        fclose(f);
        s = lv_wordpiece_options_load(&o, path);
    } else if (errno != ENOENT) {
        s = lv_errorf(LV_ERR_INPUT, "cannot open %s: %s", path, strerror(errno));
    }
    if (s == LV_OK) {
        snprintf(path, dl + 32, "%s/vocab.txt", dir);
        s = lv_wordpiece_load(out, path, &o);
    }
    free(path);
    return s;
}

lv_status lv_wordpiece_builtin(lv_wordpiece **out) {
    return lv_wordpiece_from_tokens(out, lv_vocab_builtin, lv_vocab_builtin_count, NULL, "(built-in)");
}

size_t lv_wordpiece_vocab_size(const lv_wordpiece *wp) { return wp->n; }

const char *lv_wordpiece_token(const lv_wordpiece *wp, int32_t id) {
    return id >= 0 && (size_t)id < wp->n ? wp->arena + wp->off[id] : NULL;
}

int32_t lv_wordpiece_id(const lv_wordpiece *wp, const char *token) {
    return lv_wp_lookup(wp, 0, token, strlen(token));
}

lv_wordpiece_specials lv_wordpiece_special_ids(const lv_wordpiece *wp) { return wp->sp; }

const lv_wordpiece_options *lv_wordpiece_get_options(const lv_wordpiece *wp) { return &wp->opt; }

char *lv_wordpiece_vocab_text(const lv_wordpiece *wp, size_t *len) {
    size_t total = 0;
    for (size_t i = 0; i < wp->n; i++) total += wp->len[i] + 1;
    char *t = malloc(total + 1);
    if (!t) return NULL;
    size_t at = 0;
    for (size_t i = 0; i < wp->n; i++) {
        memcpy(t + at, wp->arena + wp->off[i], wp->len[i]);
        at += wp->len[i];
        t[at++] = '\n';
    }
    t[at] = '\0';
    if (len) *len = at;
    return t;
}

/* ---- options (tokenizer_config.json) ---- */

void lv_wordpiece_options_default(lv_wordpiece_options *o) {
    memset(o, 0, sizeof *o);
    o->do_lower_case = 1;
    o->strip_accents = -1;
    o->tokenize_chinese_chars = 1;
    o->do_basic_tokenize = 1;
    o->nfc = 1;
    o->max_input_chars_per_word = 100;
    strcpy(o->unk_token, "[UNK]");
    strcpy(o->sep_token, "[SEP]");
    strcpy(o->pad_token, "[PAD]");
    strcpy(o->cls_token, "[CLS]");
    strcpy(o->mask_token, "[MASK]");
}

static lv_status json_bool(const cJSON *root, const char *key, int *dst, int allow_null, const char *what) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v) return LV_OK;
    if (cJSON_IsBool(v)) *dst = cJSON_IsTrue(v) ? 1 : 0;
    else if (allow_null && cJSON_IsNull(v)) *dst = -1;
    else
        return lv_errorf(LV_ERR_INPUT, "%s: \"%s\" must be true or false%s", what, key,
                         allow_null ? " or null" : "");
    return LV_OK;
}

/* A special token: "[UNK]" or an AddedToken object {"content": "[UNK]", ...}. */
static lv_status json_token(const cJSON *root, const char *key, char *dst, const char *what) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v || cJSON_IsNull(v)) return LV_OK;
    if (cJSON_IsObject(v)) v = cJSON_GetObjectItemCaseSensitive(v, "content");
    if (!cJSON_IsString(v) || v->valuestring[0] == '\0')
        return lv_errorf(LV_ERR_INPUT, "%s: \"%s\" must be a non-empty string or an object with a \"content\" string",
                         what, key);
    size_t n = strlen(v->valuestring);
    if (n >= LV_WP_TOKEN_MAX || !utf8_valid(v->valuestring, n) || memchr(v->valuestring, '\n', n))
        return lv_errorf(LV_ERR_INPUT, "%s: \"%s\" must be one line of UTF-8 under %d bytes", what, key,
                         LV_WP_TOKEN_MAX);
    memcpy(dst, v->valuestring, n + 1);
    return LV_OK;
}

static lv_status json_int(const cJSON *root, const char *key, double lo, double hi, double *dst, const char *what) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v || cJSON_IsNull(v)) return LV_OK;
    if (!cJSON_IsNumber(v) || v->valuedouble < lo || v->valuedouble > hi || v->valuedouble != (double)(int64_t)v->valuedouble)
        return lv_errorf(LV_ERR_INPUT, "%s: \"%s\" must be an integer in [%.0f, %.0g]", what, key, lo, hi);
    *dst = v->valuedouble;
    return LV_OK;
}

static lv_status parse_root(lv_wordpiece_options *o, const cJSON *root, const char *what) {
    LV_CHECK(cJSON_IsObject(root), LV_ERR_INPUT, "%s: expected a JSON object", what);
    lv_wordpiece_options t = *o; /* all or nothing */
    LV_TRY(json_bool(root, "do_lower_case", &t.do_lower_case, 0, what));
    LV_TRY(json_bool(root, "strip_accents", &t.strip_accents, 1, what));
    LV_TRY(json_bool(root, "tokenize_chinese_chars", &t.tokenize_chinese_chars, 0, what));
    LV_TRY(json_bool(root, "do_basic_tokenize", &t.do_basic_tokenize, 0, what));
    LV_TRY(json_bool(root, "lv_nfc", &t.nfc, 0, what));
    LV_TRY(json_token(root, "unk_token", t.unk_token, what));
    LV_TRY(json_token(root, "sep_token", t.sep_token, what));
    LV_TRY(json_token(root, "pad_token", t.pad_token, what));
    LV_TRY(json_token(root, "cls_token", t.cls_token, what));
    LV_TRY(json_token(root, "mask_token", t.mask_token, what));
    double mcpw = t.max_input_chars_per_word, mml = -1;
    LV_TRY(json_int(root, "lv_max_input_chars_per_word", 1, 1e6, &mcpw, what));
    /* HF writes int(1e30) (VERY_LARGE_INTEGER) when a model sets no limit: not given. */
    const cJSON *ml = cJSON_GetObjectItemCaseSensitive(root, "model_max_length");
    if (cJSON_IsNumber(ml) && ml->valuedouble >= 1e18) t.model_max_length = 0;
    else {
        LV_TRY(json_int(root, "model_max_length", 1, 1e18, &mml, what));
        if (mml >= 0) t.model_max_length = (int64_t)mml;
    }
    t.max_input_chars_per_word = (int)mcpw;
    *o = t;
    return LV_OK;
}

lv_status lv_wordpiece_options_parse(lv_wordpiece_options *o, const char *json, const char *what) {
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithOpts(json, &end, 1);
    if (!root)
        return lv_errorf(LV_ERR_INPUT, "%s: not valid JSON (near byte %td)", what, end ? end - json : (ptrdiff_t)0);
    lv_status s = parse_root(o, root, what);
    cJSON_Delete(root);
    return s;
}

lv_status lv_wordpiece_options_load(lv_wordpiece_options *o, const char *path) {
    char *buf;
    size_t len;
    LV_TRY(read_file(path, "tokenizer config", &buf, &len));
    lv_status s = strlen(buf) != len ? lv_errorf(LV_ERR_INPUT, "%s: contains a NUL byte", path)
                                     : lv_wordpiece_options_parse(o, buf, path);
    free(buf);
    return s;
}

char *lv_wordpiece_options_to_json(const lv_wordpiece_options *o) {
    cJSON *r = cJSON_CreateObject();
    if (!r) return NULL;
    cJSON_AddStringToObject(r, "tokenizer_class", "BertTokenizer");
    cJSON_AddBoolToObject(r, "do_lower_case", o->do_lower_case);
    if (o->strip_accents < 0) cJSON_AddNullToObject(r, "strip_accents");
    else cJSON_AddBoolToObject(r, "strip_accents", o->strip_accents);
    cJSON_AddBoolToObject(r, "tokenize_chinese_chars", o->tokenize_chinese_chars);
    cJSON_AddBoolToObject(r, "do_basic_tokenize", o->do_basic_tokenize);
    if (o->model_max_length > 0) cJSON_AddNumberToObject(r, "model_max_length", (double)o->model_max_length);
    cJSON_AddStringToObject(r, "unk_token", o->unk_token);
    cJSON_AddStringToObject(r, "sep_token", o->sep_token);
    cJSON_AddStringToObject(r, "pad_token", o->pad_token);
    cJSON_AddStringToObject(r, "cls_token", o->cls_token);
    cJSON_AddStringToObject(r, "mask_token", o->mask_token);
    /* Ours, ignored by HF: how to reproduce this tokenizer exactly. */
    cJSON_AddBoolToObject(r, "lv_nfc", o->nfc);
    cJSON_AddNumberToObject(r, "lv_max_input_chars_per_word", o->max_input_chars_per_word);
    char *s = cJSON_PrintUnformatted(r);
    cJSON_Delete(r);
    return s;
}
