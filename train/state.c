/* RUN/state.safetensors (see state.h): optimizer moments per trainable tensor and the run's
 * counters. Frozen tensors have no moments worth keeping (they are zero), so they are left
 * out: a frozen BERT-base costs no state. Never writes weights. */
#include "state.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/safetensors.h"
#include "train/optim.h"

void lv_train_state_init(lv_train_state *st) {
    memset(st, 0, sizeof *st);
    st->best_auc = NAN;
}

void lv_train_state_free(lv_train_state *st) {
    free(st->config_json);
    lv_train_state_init(st);
}

/* One model part: its layout, buffers and checkpoint prefix. */
typedef struct part {
    const lv_param_layout *l;
    lv_param_buffers *b;
    const char *prefix;
} part;

static int parts_of(lv_vlm *m, part out[3]) {
    int n = 0;
    out[n++] = (part){&m->visual.params, &m->vbuf, "visual."};
    if (m->cfg.head == LV_HEAD_VLM) out[n++] = (part){&m->text.params, &m->tbuf, "text."};
    out[n++] = (part){&m->head, &m->hbuf, ""};
    return n;
}

/* PyTorch's optimizer state names; moment 1 exists only for AdamW. */
static const char *moment_name(int optimizer, int which) {
    if (optimizer == LV_OPT_SGD) return which == 0 ? "momentum_buffer" : NULL;
    return which == 0 ? "exp_avg" : "exp_avg_sq";
}

static float *to_host(lv_backend *be, const float *dev, size_t n) {
    float *h = calloc(n ? n : 1, sizeof *h);
    if (h && n && dev) be->copy_d2h(be, h, dev, n * sizeof *h);
    return h;
}

static lv_status put_meta(lv_st_writer *w, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static lv_status put_meta(lv_st_writer *w, const char *key, const char *fmt, ...) {
    char buf[64];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return lv_st_writer_set_metadata(w, key, buf);
}

lv_status lv_train_state_save(const lv_train_state *st, lv_vlm *m, const char *path) {
    LV_CHECK(m->training, LV_ERR_RUNTIME, "%s: the model has no optimizer state", path);
    part ps[3];
    int np = parts_of(m, ps);
    float *host[3][2] = {{NULL}};
    lv_st_writer *w = NULL;
    lv_status s = lv_st_writer_create(&w);
    char name[2 * LV_PARAM_NAME_MAX];
    for (int i = 0; s == LV_OK && i < np; i++) {
        for (int j = 0; s == LV_OK && j < 2; j++) {
            const char *mn = moment_name(st->optimizer, j);
            float *dev = j == 0 ? ps[i].b->m : ps[i].b->v;
            if (!mn || !dev) continue;
            host[i][j] = to_host(m->be, dev, ps[i].l->total);
            if (!host[i][j]) s = lv_errorf(LV_ERR_RUNTIME, "%s: out of memory", path);
        }
    }
    if (s == LV_OK) s = m->be->sync(m->be);
    for (int i = 0; s == LV_OK && i < np; i++)
        for (int j = 0; s == LV_OK && j < 2; j++) {
            if (!host[i][j]) continue;
            for (int t = 0; s == LV_OK && t < ps[i].l->count; t++) {
                const lv_param_spec *sp = &ps[i].l->specs[t];
                if (sp->flags & LV_PARAM_FROZEN) continue;
                snprintf(name, sizeof name, "%s.%s%s", moment_name(st->optimizer, j), ps[i].prefix, sp->name);
                s = lv_st_writer_add(w, name, LV_DT_F32, sp->ndim, sp->shape, host[i][j] + sp->offset);
            }
        }
    if (s == LV_OK) s = lv_st_writer_set_metadata(w, "format", LV_STATE_FORMAT);
    if (s == LV_OK) s = put_meta(w, "step", "%" PRId64, st->step);
    if (s == LV_OK) s = put_meta(w, "optimizer_steps", "%" PRId64, st->opt_steps);
    if (s == LV_OK) s = put_meta(w, "epoch", "%" PRId64, st->epoch);
    if (s == LV_OK) s = put_meta(w, "cursor_epoch", "%" PRId64, st->cursor_epoch);
    if (s == LV_OK) s = put_meta(w, "cursor_position", "%" PRId64, st->cursor_position);
    if (s == LV_OK) s = put_meta(w, "best_macro_auc", isnan(st->best_auc) ? "null" : "%.17g", st->best_auc);
    if (s == LV_OK) s = put_meta(w, "best_epoch", "%" PRId64, st->best_epoch);
    if (s == LV_OK) s = put_meta(w, "bad_steps", "%d", st->bad_steps);
    if (s == LV_OK) s = put_meta(w, "skipped_steps", "%" PRId64, st->skipped_total);
    if (s == LV_OK) s = put_meta(w, "seed", "%" PRIu64, st->seed);
    if (s == LV_OK) s = put_meta(w, "optimizer", "%s", st->optimizer == LV_OPT_SGD ? "sgd" : "adamw");
    if (s == LV_OK) s = put_meta(w, "model_hash", "%016" PRIx64, st->model_hash);
    if (s == LV_OK && st->config_json) s = lv_st_writer_set_metadata(w, "config", st->config_json);
    if (s == LV_OK) s = lv_st_writer_save(w, path);
    lv_st_writer_free(w);
    for (int i = 0; i < 3; i++) free(host[i][0]), free(host[i][1]);
    return s;
}

static lv_status meta_i64(const lv_st_file *f, const char *key, int64_t lo, int64_t hi, int64_t *out) {
    const char *v = lv_st_metadata(f, key);
    LV_CHECK(v, LV_ERR_INPUT, "%s: metadata \"%s\" is missing", lv_st_path(f), key);
    char *end = NULL;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    LV_CHECK(!errno && end != v && *end == '\0' && x >= lo && x <= hi, LV_ERR_INPUT,
             "%s: metadata \"%s\": expected an integer in %" PRId64 "..%" PRId64 ", found \"%.40s\"", lv_st_path(f),
             key, lo, hi, v);
    *out = (int64_t)x;
    return LV_OK;
}

static lv_status meta_u64(const lv_st_file *f, const char *key, int base, uint64_t *out) {
    const char *v = lv_st_metadata(f, key);
    LV_CHECK(v, LV_ERR_INPUT, "%s: metadata \"%s\" is missing", lv_st_path(f), key);
    char *end = NULL;
    errno = 0;
    unsigned long long x = strtoull(v, &end, base);
    LV_CHECK(!errno && end != v && *end == '\0' && v[0] != '-', LV_ERR_INPUT,
             "%s: metadata \"%s\": expected an unsigned integer, found \"%.40s\"", lv_st_path(f), key, v);
    *out = (uint64_t)x;
    return LV_OK;
}

static lv_status read_meta(lv_train_state *st, const lv_st_file *f) {
    const char *path = lv_st_path(f);
    const char *fmt = lv_st_metadata(f, "format");
    LV_CHECK(fmt && !strcmp(fmt, LV_STATE_FORMAT), LV_ERR_INPUT,
             "%s: metadata \"format\": expected \"%s\", found %s%.40s%s", path, LV_STATE_FORMAT, fmt ? "\"" : "",
             fmt ? fmt : "nothing", fmt ? "\"" : "");
    const int64_t big = INT64_MAX / 4;
    int64_t bad = 0, best_epoch = 0;
    LV_TRY(meta_i64(f, "step", 0, big, &st->step));
    LV_TRY(meta_i64(f, "optimizer_steps", 0, big, &st->opt_steps));
    LV_TRY(meta_i64(f, "epoch", 0, big, &st->epoch));
    LV_TRY(meta_i64(f, "cursor_epoch", 0, big, &st->cursor_epoch));
    LV_TRY(meta_i64(f, "cursor_position", 0, big, &st->cursor_position));
    LV_TRY(meta_i64(f, "best_epoch", 0, big, &best_epoch));
    LV_TRY(meta_i64(f, "bad_steps", 0, 1000000, &bad));
    LV_TRY(meta_i64(f, "skipped_steps", 0, big, &st->skipped_total));
    LV_TRY(meta_u64(f, "seed", 10, &st->seed));
    LV_TRY(meta_u64(f, "model_hash", 16, &st->model_hash));
    st->best_epoch = best_epoch;
    st->bad_steps = (int)bad;
    const char *auc = lv_st_metadata(f, "best_macro_auc");
    LV_CHECK(auc, LV_ERR_INPUT, "%s: metadata \"best_macro_auc\" is missing", path);
    if (strcmp(auc, "null") == 0) {
        st->best_auc = NAN;
    } else {
        char *end = NULL;
        st->best_auc = strtod(auc, &end);
        LV_CHECK(end != auc && *end == '\0' && st->best_auc >= 0 && st->best_auc <= 1, LV_ERR_INPUT,
                 "%s: metadata \"best_macro_auc\": expected null or a number in 0..1, found \"%.40s\"", path, auc);
    }
    const char *opt = lv_st_metadata(f, "optimizer");
    LV_CHECK(opt && (!strcmp(opt, "adamw") || !strcmp(opt, "sgd")), LV_ERR_INPUT,
             "%s: metadata \"optimizer\": expected \"adamw\" or \"sgd\", found %.40s", path, opt ? opt : "nothing");
    st->optimizer = !strcmp(opt, "sgd") ? LV_OPT_SGD : LV_OPT_ADAMW;
    const char *cj = lv_st_metadata(f, "config");
    if (cj) {
        st->config_json = strdup(cj);
        LV_CHECK_ALLOC(st->config_json);
    }
    return LV_OK;
}

static lv_status read_moments(const lv_train_state *st, lv_vlm *m, const lv_st_file *f) {
    part ps[3];
    int np = parts_of(m, ps);
    char name[2 * LV_PARAM_NAME_MAX];
    for (int i = 0; i < np; i++)
        for (int j = 0; j < 2; j++) {
            const char *mn = moment_name(st->optimizer, j);
            float *dev = j == 0 ? ps[i].b->m : ps[i].b->v;
            if (!mn || !dev) continue;
            float *h = calloc(ps[i].l->total ? ps[i].l->total : 1, sizeof *h);
            LV_CHECK_ALLOC(h);
            lv_status s = LV_OK;
            for (int t = 0; s == LV_OK && t < ps[i].l->count; t++) {
                const lv_param_spec *sp = &ps[i].l->specs[t];
                if (sp->flags & LV_PARAM_FROZEN) continue;
                snprintf(name, sizeof name, "%s.%s%s", mn, ps[i].prefix, sp->name);
                LV_CHECK(lv_st_find(f, name), LV_ERR_INPUT,
                         "%s: tensor \"%s\" is missing (the state belongs to a different model or optimizer)",
                         lv_st_path(f), name);
                s = lv_st_read_f32(f, name, h + sp->offset, sp->ndim, sp->shape);
            }
            if (s == LV_OK && ps[i].l->total) m->be->copy_h2d(m->be, dev, h, ps[i].l->total * sizeof *h);
            if (s == LV_OK) s = m->be->sync(m->be);
            free(h);
            LV_TRY(s);
        }
    return LV_OK;
}

lv_status lv_train_state_load(lv_train_state *st, lv_vlm *m, const char *path) {
    lv_train_state_init(st);
    LV_CHECK(m->training, LV_ERR_RUNTIME, "%s: the model has no optimizer buffers", path);
    lv_st_file *f = NULL;
    LV_TRY(lv_st_open(&f, path));
    lv_status s = read_meta(st, f);
    if (s == LV_OK) s = read_moments(st, m, f);
    lv_st_close(f);
    if (s != LV_OK) lv_train_state_free(st);
    return s;
}

/* FNV-1a over 32-bit words: the bytes, not the values, so -0 and NaN payloads count. */
static uint64_t fnv_words(uint64_t h, const float *x, size_t n) {
    const uint32_t *w = (const uint32_t *)(const void *)x;
    for (size_t i = 0; i < n; i++) {
        h ^= w[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

lv_status lv_train_model_hash(lv_vlm *m, uint64_t *out) {
    part ps[3];
    int np = parts_of(m, ps);
    uint64_t h = 0xcbf29ce484222325ull;
    lv_status s = LV_OK;
    for (int i = 0; s == LV_OK && i <= np; i++) {
        /* Part np is the BN statistics. */
        const float *dev = i < np ? ps[i].b->params : m->vstate;
        size_t n = i < np ? ps[i].l->total : m->visual.state.total;
        float *host = to_host(m->be, dev, n);
        LV_CHECK_ALLOC(host);
        s = m->be->sync(m->be);
        if (s == LV_OK && i < np) {
            for (int t = 0; t < ps[i].l->count; t++) {
                const lv_param_spec *sp = &ps[i].l->specs[t];
                if (!(sp->flags & LV_PARAM_FROZEN)) h = fnv_words(h, host + sp->offset, sp->numel);
            }
        } else if (s == LV_OK) {
            h = fnv_words(h, host, n);
        }
        free(host);
    }
    *out = h;
    return s;
}
