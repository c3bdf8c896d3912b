/* The cross-validation sweep (cv.h): the plan (folds, shot selections, run names), the
 * guard that keeps one DIR to one sweep definition, and the runs themselves, each a
 * lv_train_run on the training folds followed by a prediction of the held-out fold. No
 * validation split: every run trains --epochs and its final model is tested, so no test
 * sample ever chooses a model. Never opens the data file or parses argv. */
#include "train/cv.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "core/clock.h"
#include "core/backend.h"
#include "core/log.h"
#include "data/split.h"
#include "encoders/liver_vlm.h"
#include "train/checkpoint.h"
#include "train/cv_io.h"
#include "train/evaluate.h"
#include "train/metrics.h"
#include "train/report.h"
#include "train/trainer.h"

#ifndef PATH_MAX
#define PATH_MAX 4096
#endif

void lv_cv_sweep_default(lv_cv_sweep *s) {
    memset(s, 0, sizeof *s);
    s->folds = 5;
    s->fold_seed = 1;
    s->heads[0] = LV_HEAD_VLM;
    s->heads[1] = LV_HEAD_LINEAR;
    s->n_heads = 2;
    const int shots[] = {5, 10, 20, 0};
    for (int i = 0; i < 4; i++) s->shots[i] = shots[i];
    s->n_shots = 4;
    for (int i = 0; i < 3; i++) s->seeds[i] = (uint64_t)i + 1;
    s->n_seeds = 3;
    lv_train_config_default(&s->train);
}

void lv_cv_sweep_free(lv_cv_sweep *s) { lv_train_config_free(&s->train); }

void lv_cv_env_default(lv_cv_env *e) { memset(e, 0, sizeof *e); }

const char *lv_cv_head_name(int head) { return head == LV_HEAD_LINEAR ? "linear" : "vlm"; }

/* Splits list at commas into items[0..*n) (pointers into buf); empty items are errors. */
static lv_status split_list(const char *opt, const char *list, char *buf, size_t cap, char **items, int max,
                            int *n) {
    LV_CHECK(list && list[0], LV_ERR_USAGE, "%s needs a value (see liver-vlm cv --help)", opt);
    LV_CHECK(strlen(list) < cap, LV_ERR_USAGE, "%s: list too long", opt);
    snprintf(buf, cap, "%s", list);
    *n = 0;
    for (char *p = buf;;) {
        char *comma = strchr(p, ',');
        if (comma) *comma = '\0';
        LV_CHECK(p[0], LV_ERR_USAGE, "%s: empty item in '%s' (expected a comma-separated list)", opt, list);
        LV_CHECK(*n < max, LV_ERR_USAGE, "%s: more than %d items in '%s'", opt, max, list);
        items[(*n)++] = p;
        if (!comma) break;
        p = comma + 1;
    }
    return LV_OK;
}

static lv_status parse_u64(const char *opt, const char *list, const char *item, double hi, uint64_t *out) {
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(item, &end, 10);
    LV_CHECK(!errno && end != item && *end == '\0' && item[0] != '-' && item[0] != '+' && (double)v <= hi,
             LV_ERR_USAGE, "%s: expected integers in 0..%.0f, got '%s' in '%s'", opt, hi, item, list);
    *out = (uint64_t)v;
    return LV_OK;
}

lv_status lv_cv_parse_heads(lv_cv_sweep *s, const char *opt, const char *list) {
    char buf[256], *items[8];
    int n = 0;
    LV_TRY(split_list(opt, list, buf, sizeof buf, items, 8, &n));
    int heads[2], m = 0;
    for (int i = 0; i < n; i++) {
        int h = !strcmp(items[i], "vlm") ? LV_HEAD_VLM : !strcmp(items[i], "linear") ? LV_HEAD_LINEAR : -1;
        LV_CHECK(h >= 0, LV_ERR_USAGE, "%s: unknown head '%s' in '%s' (expected vlm and/or linear)", opt, items[i],
                 list);
        for (int j = 0; j < m; j++)
            LV_CHECK(heads[j] != h, LV_ERR_USAGE, "%s: '%s' appears twice in '%s'", opt, items[i], list);
        heads[m++] = h;
    }
    memcpy(s->heads, heads, sizeof heads);
    s->n_heads = m;
    return LV_OK;
}

lv_status lv_cv_parse_shots(lv_cv_sweep *s, const char *opt, const char *list) {
    char buf[1024], *items[LV_CV_MAX_LIST];
    int n = 0, shots[LV_CV_MAX_LIST];
    LV_TRY(split_list(opt, list, buf, sizeof buf, items, LV_CV_MAX_LIST, &n));
    for (int i = 0; i < n; i++) {
        uint64_t v = 0;
        if (!strcmp(items[i], "all")) {
            shots[i] = 0;
        } else {
            lv_status st = parse_u64(opt, list, items[i], 1000000, &v);
            LV_CHECK(st == LV_OK && v >= 1, LV_ERR_USAGE,
                     "%s: expected 'all' or lesions per class in 1..1000000, got '%s' in '%s'", opt, items[i], list);
            shots[i] = (int)v;
        }
        for (int j = 0; j < i; j++)
            LV_CHECK(shots[j] != shots[i], LV_ERR_USAGE, "%s: '%s' appears twice in '%s'", opt, items[i], list);
    }
    memcpy(s->shots, shots, (size_t)n * sizeof *shots);
    s->n_shots = n;
    return LV_OK;
}

lv_status lv_cv_parse_seeds(lv_cv_sweep *s, const char *opt, const char *list) {
    char buf[2048], *items[LV_CV_MAX_LIST];
    int n = 0;
    uint64_t seeds[LV_CV_MAX_LIST];
    LV_TRY(split_list(opt, list, buf, sizeof buf, items, LV_CV_MAX_LIST, &n));
    for (int i = 0; i < n; i++) {
        LV_TRY(parse_u64(opt, list, items[i], LV_TRAIN_SEED_MAX, &seeds[i]));
        for (int j = 0; j < i; j++)
            LV_CHECK(seeds[j] != seeds[i], LV_ERR_USAGE, "%s: '%s' appears twice in '%s'", opt, items[i], list);
    }
    memcpy(s->seeds, seeds, (size_t)n * sizeof *seeds);
    s->n_seeds = n;
    return LV_OK;
}

lv_status lv_cv_assign_folds(const lv_dataset *ds, int k, uint64_t fold_seed, int32_t *fold) {
    lv_status st = lv_kfold_assign(ds, k, fold_seed, fold);
    if (st == LV_ERR_USAGE) return lv_error_wrap(LV_ERR_USAGE, "--folds %d", k);
    return st;
}

lv_status lv_cv_train_indices(const lv_dataset *ds, const int32_t *fold, int f, int shots, uint64_t seed,
                              int64_t **idx, int64_t *n) {
    int64_t *pool = NULL, np = 0;
    LV_TRY(lv_split_indices_except(fold, ds->n, f, &pool, &np));
    if (shots <= 0 || np == 0) {
        *idx = pool;
        *n = np;
        return np ? LV_OK : lv_errorf(LV_ERR_INPUT, "fold %d: no training samples outside it", f + 1);
    }
    lv_status st = lv_fewshot_select(ds, pool, np, shots, seed, idx, n);
    free(pool);
    return st;
}

lv_status lv_cv_check_shots(const lv_cv_sweep *s, const lv_dataset *ds, const int32_t *fold) {
    int most = 0;
    for (int i = 0; i < s->n_shots; i++)
        if (s->shots[i] > most) most = s->shots[i];
    for (int f = 0; f < s->folds; f++) {
        int64_t *idx = NULL, n = 0;
        /* How many lesions a class has does not depend on the seed: one check per fold. */
        lv_status st = lv_cv_train_indices(ds, fold, f, most, s->n_seeds ? s->seeds[0] : 1, &idx, &n);
        free(idx);
        if (st == LV_ERR_INPUT && most > 0)
            return lv_error_wrap(LV_ERR_USAGE, "--shots %d does not fit fold %d of %d (it trains on the patients of "
                                               "the other fold%s; lower --shots or --folds)", most, f + 1, s->folds,
                                 s->folds > 2 ? "s" : "");
        LV_TRY(st);
    }
    return LV_OK;
}

int64_t lv_cv_run_count(const lv_cv_sweep *s) {
    return (int64_t)s->n_heads * s->n_shots * s->n_seeds * s->folds;
}

void lv_cv_run_name(int head, int shots, uint64_t seed, int fold, char *buf, size_t cap) {
    char k[16];
    if (shots > 0) snprintf(k, sizeof k, "%d", shots);
    else snprintf(k, sizeof k, "all");
    snprintf(buf, cap, "%s_%s_s%" PRIu64 "_f%d", lv_cv_head_name(head), k, seed, fold + 1);
}

/* ---- the sweep definition and each run's identity --------------------------------------- */

/* The training settings as JSON, minus the keys that do not change what a run computes
 * (where it runs, threads, process transport, log cadence: a sweep may continue on another
 * machine) and those each run sets itself. */
static cJSON *train_json(const lv_train_config *c, int per_run) {
    char *text = lv_train_config_to_json(c);
    cJSON *o = text ? cJSON_Parse(text) : NULL;
    free(text);
    if (!o) return NULL;
    static const char *const drop[] = {"out", "device", "device_data", "comm", "comm_timeout", "threads",
                                       "log_every", "val", "val_fraction"};
    static const char *const per_run_keys[] = {"head", "seed", "shots"};
    for (size_t i = 0; i < sizeof drop / sizeof drop[0]; i++) cJSON_DeleteItemFromObjectCaseSensitive(o, drop[i]);
    if (!per_run)
        for (size_t i = 0; i < sizeof per_run_keys / sizeof per_run_keys[0]; i++)
            cJSON_DeleteItemFromObjectCaseSensitive(o, per_run_keys[i]);
    return o;
}

static cJSON *data_json(const lv_dataset *ds, const char *path) {
    cJSON *d = cJSON_CreateObject();
    cJSON_AddStringToObject(d, "path", path ? path : "(memory)");
    cJSON_AddNumberToObject(d, "samples", (double)ds->n);
    cJSON_AddNumberToObject(d, "patients", ds->patients ? ds->n_patients : 0);
    cJSON *cl = cJSON_AddArrayToObject(d, "classes");
    for (int i = 0; i < ds->c; i++) cJSON_AddItemToArray(cl, cJSON_CreateString(ds->classes[i]));
    return d;
}

static cJSON *shots_json(int shots) {
    return shots > 0 ? cJSON_CreateNumber(shots) : cJSON_CreateString("all");
}

static cJSON *sweep_json(const lv_cv_sweep *s, const lv_dataset *ds) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "format", "liver-vlm-cv/1");
    cJSON_AddItemToObject(o, "data", data_json(ds, s->train.data));
    cJSON_AddNumberToObject(o, "folds", s->folds);
    cJSON_AddNumberToObject(o, "fold_seed", (double)s->fold_seed);
    cJSON *a = cJSON_AddArrayToObject(o, "heads");
    for (int i = 0; i < s->n_heads; i++) cJSON_AddItemToArray(a, cJSON_CreateString(lv_cv_head_name(s->heads[i])));
    a = cJSON_AddArrayToObject(o, "shots");
    for (int i = 0; i < s->n_shots; i++) cJSON_AddItemToArray(a, shots_json(s->shots[i]));
    a = cJSON_AddArrayToObject(o, "seeds");
    for (int i = 0; i < s->n_seeds; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber((double)s->seeds[i]));
    cJSON_AddStringToObject(o, "validation", "none: each run trains --epochs and tests its final model");
    cJSON_AddItemToObject(o, "train", train_json(&s->train, 0));
    return o;
}

/* What makes a run the run it is: a finished run is reused only when this matches. */
static cJSON *run_identity(const lv_cv_sweep *s, const lv_dataset *ds, const lv_train_config *rc, int fold) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "head", lv_cv_head_name(rc->head));
    cJSON_AddItemToObject(o, "shots", shots_json(rc->shots));
    cJSON_AddNumberToObject(o, "seed", (double)rc->seed);
    cJSON_AddNumberToObject(o, "fold", fold + 1);
    cJSON_AddNumberToObject(o, "folds", s->folds);
    cJSON_AddNumberToObject(o, "fold_seed", (double)s->fold_seed);
    cJSON_AddItemToObject(o, "data", data_json(ds, s->train.data));
    cJSON_AddItemToObject(o, "train", train_json(rc, 1));
    return o;
}

/* "key: A here, B requested" for the first top-level (or train.*) key that differs. */
static void first_difference(const cJSON *have, const cJSON *want, char *buf, size_t cap) {
    const cJSON *h = have, *w = want;
    const char *prefix = "";
    const cJSON *ht = cJSON_GetObjectItemCaseSensitive(have, "train"), *wt = cJSON_GetObjectItemCaseSensitive(want, "train");
    int top_same = 1;
    for (const cJSON *it = want->child; it; it = it->next)
        if (strcmp(it->string, "train") && !cJSON_Compare(cJSON_GetObjectItemCaseSensitive(have, it->string), it, 1))
            top_same = 0;
    if (top_same && ht && wt && !cJSON_Compare(ht, wt, 1)) {
        h = ht;
        w = wt;
        prefix = "train setting ";
    }
    const char *key = NULL;
    for (const cJSON *it = w->child; it && !key; it = it->next)
        if (!cJSON_Compare(cJSON_GetObjectItemCaseSensitive(h, it->string), it, 1)) key = it->string;
    for (const cJSON *it = h->child; it && !key; it = it->next)
        if (!cJSON_GetObjectItemCaseSensitive(w, it->string)) key = it->string;
    if (!key) {
        snprintf(buf, cap, "the files differ");
        return;
    }
    const cJSON *hv = cJSON_GetObjectItemCaseSensitive(h, key), *wv = cJSON_GetObjectItemCaseSensitive(w, key);
    char *a = hv ? cJSON_PrintUnformatted(hv) : NULL, *b = wv ? cJSON_PrintUnformatted(wv) : NULL;
    snprintf(buf, cap, "%s'%s' is %.200s there, %.200s now", prefix, key, a ? a : "(absent)", b ? b : "(absent)");
    free(a);
    free(b);
}

/* ---- one run ---------------------------------------------------------------------------- */

typedef struct cv_ctx {
    const lv_cv_sweep *s;
    const lv_dataset *ds;
    const lv_cv_env *env;
    int32_t *fold;      /* [n] fold of each sample */
    int32_t *part;      /* [n] scratch: the trainer's /split view of one fold */
    lv_backend *be;     /* evaluation backend, made at the first evaluation */
    char runs_dir[PATH_MAX];
} cv_ctx;

static lv_status eval_backend(cv_ctx *x) {
    if (x->be) return LV_OK;
    const lv_train_config *c = &x->s->train;
    if (c->device == LV_TRAIN_DEVICE_CUDA || (c->device == LV_TRAIN_DEVICE_AUTO && lv_cuda_device_count() > 0))
        LV_TRY(lv_backend_create(&x->be, "cuda"));
    else
        LV_TRY(lv_cpu_backend_create(&x->be, c->threads));
    if (c->precision != LV_TRAIN_PRECISION_AUTO)
        LV_TRY(lv_backend_set_precision(x->be, lv_train_precision_name(c->precision)));
    return LV_OK;
}

/* The held-out fold through the run's final model: probabilities, metrics and the two
 * eval files, metrics.json last so its presence means the run is complete. */
static lv_status evaluate_run(cv_ctx *x, const char *dir, int f, double t0, cJSON *run_doc, lv_cv_result *r) {
    LV_TRY(eval_backend(x));
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    int64_t *test = NULL, nt = 0;
    LV_TRY(lv_split_indices(x->fold, x->ds->n, f, &test, &nt));
    LV_CHECK(nt > 0, LV_ERR_INPUT, "fold %d holds no samples", f + 1);
    lv_vlm m;
    lv_ckpt_info info;
    memset(&m, 0, sizeof m);
    memset(&info, 0, sizeof info);
    int C = x->ds->c;
    float *probs = malloc((size_t)nt * (size_t)C * sizeof *probs);
    int32_t *labels = malloc((size_t)nt * sizeof *labels);
    lv_metrics met;
    memset(&met, 0, sizeof met);
    int have_model = 0;
    lv_status st = probs && labels ? LV_OK : lv_errorf(LV_ERR_RUNTIME, "cv: out of memory for %" PRId64 " samples", nt);
    if (st == LV_OK) st = lv_ckpt_load(path, x->be, 0, &m, &info);
    have_model = st == LV_OK;
    if (st == LV_OK) {
        lv_eval_opts eo;
        lv_eval_opts_default(&eo);
        eo.input_size = info.input_size;
        eo.pre = info.pre;
        eo.threads = x->s->train.threads;
        st = lv_eval_predict(&m, x->ds, test, nt, &eo, probs);
    }
    for (int64_t i = 0; st == LV_OK && i < nt; i++) labels[i] = x->ds->labels[test[i]];
    if (st == LV_OK) st = lv_metrics_compute(&met, probs, labels, nt, C);
    if (st == LV_OK) st = lv_cv_write_predictions(dir, x->ds, test, nt, probs);
    if (st == LV_OK) {
        r->accuracy = met.accuracy;
        r->balanced_accuracy = met.balanced_accuracy;
        r->macro_auc = met.macro_auc;
        r->n_test = nt;
        r->seconds = lv_now_s() - t0;
        cJSON *res = cJSON_AddObjectToObject(run_doc, "result");
        cJSON_AddNumberToObject(res, "train_samples", (double)r->n_train);
        cJSON_AddNumberToObject(res, "test_samples", (double)nt);
        cJSON_AddNumberToObject(res, "seconds", r->seconds);
        st = lv_cv_write_json(dir, "run.json", run_doc);
    }
    if (st == LV_OK) {
        char *mj = lv_metrics_to_json(&met, (const char *const *)x->ds->classes);
        snprintf(path, sizeof path, "%s/metrics.json", dir);
        st = mj ? lv_write_file_atomic(path, mj, strlen(mj)) : lv_errorf(LV_ERR_RUNTIME, "cv: out of memory");
        free(mj);
    }
    lv_metrics_free(&met);
    if (have_model) {
        lv_vlm_free(&m);
        lv_ckpt_info_free(&info);
    }
    free(probs);
    free(labels);
    free(test);
    return st;
}

static lv_status train_once(cv_ctx *x, const lv_train_config *rc, const lv_dataset *view, int resume,
                            lv_train_result *tr) {
    lv_train_env te;
    lv_train_env_default(&te);
    te.resume = resume;
    te.force = !resume;
    te.quiet = !x->env->verbose;
    te.progress = 0;
    return lv_train_run(rc, view, NULL, &te, tr);
}

/* Trains and evaluates one run into dir; an unfinished run with the same identity
 * continues from its last saved epoch (the trainer's resume), anything else starts over. */
static lv_status do_run(cv_ctx *x, const char *dir, const lv_train_config *rc, int f, cJSON *ident, int may_resume,
                        lv_cv_result *r) {
    double t0 = lv_now_s();
    for (int64_t i = 0; i < x->ds->n; i++) x->part[i] = x->fold[i] == f ? LV_PART_TEST : LV_PART_TRAIN;
    /* The trainer takes its training part from /split (no validation part: nothing to
     * select a model with) and draws the run's shots from it with the run's seed. */
    lv_dataset view = *x->ds;
    view.split = x->part;
    lv_train_result tr;
    lv_status st = LV_ERR_INPUT;
    if (may_resume) {
        st = train_once(x, rc, &view, 1, &tr);
        if (st != LV_OK) {
            LV_WARN("cv: %s could not be resumed (%s); starting it again", dir, lv_error_message());
            may_resume = 0;
        }
    }
    if (st != LV_OK) {
        LV_TRY(lv_cv_clear_run(dir));
        LV_TRY(lv_cv_mkdir(dir));
        cJSON *doc = cJSON_CreateObject();
        cJSON_AddItemReferenceToObject(doc, "identity", ident);
        st = lv_cv_write_json(dir, "run.json", doc);
        cJSON_Delete(doc);
        LV_TRY(st);
        LV_TRY(train_once(x, rc, &view, 0, &tr));
    }
    r->n_train = tr.n_train;
    r->resumed = st == LV_OK && may_resume;
    cJSON *doc = cJSON_CreateObject();
    cJSON_AddItemReferenceToObject(doc, "identity", ident);
    st = evaluate_run(x, dir, f, t0, doc, r);
    cJSON_Delete(doc);
    return st;
}

/* ---- the sweep -------------------------------------------------------------------------- */

/* DIR/cv_config.json: written for a new DIR, compared for an existing one. */
static lv_status guard_sweep(const lv_cv_sweep *s, const cJSON *want, int force) {
    char path[PATH_MAX + 32], why[600];
    snprintf(path, sizeof path, "%s/cv_config.json", s->train.out);
    cJSON *have = NULL;
    lv_status st = lv_cv_read_json(path, &have);
    if (st == LV_OK && have && !cJSON_Compare(have, want, 1)) {
        first_difference(have, want, why, sizeof why);
        cJSON_Delete(have);
        if (!force)
            return lv_errorf(LV_ERR_USAGE, "%s describes another sweep (%s); use --force to run this one there (runs "
                                           "whose settings changed are redone, the rest reused) or choose another --out",
                             path, why);
        LV_WARN("cv: %s: %s; replacing it (--force)", path, why);
    } else {
        cJSON_Delete(have);
        if (st != LV_OK && !force)
            return lv_error_wrap(st, "%s (use --force to replace it)", path);
    }
    return lv_cv_write_json(s->train.out, "cv_config.json", want);
}

static lv_status write_summary(const lv_cv_sweep *s, const char *sweep_text, const lv_cv_result *res, int64_t n) {
    int nrows = s->n_heads * s->n_shots;
    lv_cv_row *rows = calloc((size_t)nrows, sizeof *rows);
    LV_CHECK_ALLOC(rows);
    lv_cv_aggregate(s, res, n, rows);
    const char *names[3] = {"table.md", "table.csv", "cv.json"};
    char *texts[3] = {lv_cv_table_md(s, rows, res, n), lv_cv_table_csv(s, rows),
                      lv_cv_json(s, sweep_text, rows, res, n)};
    lv_status st = LV_OK;
    char path[PATH_MAX + 32];
    for (int i = 0; i < 3; i++) {
        if (st == LV_OK && !texts[i]) st = lv_errorf(LV_ERR_RUNTIME, "cv: out of memory writing %s", names[i]);
        snprintf(path, sizeof path, "%s/%s", s->train.out, names[i]);
        if (st == LV_OK) st = lv_write_file_atomic(path, texts[i], strlen(texts[i]));
    }
    for (int i = 0; i < 3; i++) free(texts[i]);
    free(rows);
    return st;
}

static void progress_line(const lv_cv_sweep *s, int64_t i, int64_t n, const lv_cv_result *r, double started) {
    char k[16], auc[32];
    if (r->shots > 0) snprintf(k, sizeof k, "%d", r->shots);
    else snprintf(k, sizeof k, "all");
    if (isnan(r->macro_auc)) snprintf(auc, sizeof auc, "n/a");
    else snprintf(auc, sizeof auc, "%.4f", r->macro_auc);
    double total = lv_now_s() - started;
    char when[64];
    if (r->reused) snprintf(when, sizeof when, "finished earlier, reused");
    else snprintf(when, sizeof when, "%.1f s%s", r->seconds, r->resumed ? ", resumed" : "");
    fprintf(stderr, "cv [%" PRId64 "/%" PRId64 "] %-6s shots %-4s seed %-3" PRIu64 " fold %d/%d: accuracy %.4f "
                    "macro-AUC %s (%s; %d:%02d elapsed)\n",
            i + 1, n, lv_cv_head_name(r->head), k, r->seed, r->fold + 1, s->folds, r->accuracy, auc, when,
            (int)(total / 60), (int)fmod(total, 60.0));
}

/* An unfinished run the trainer can continue: at least one epoch saved. */
static int resumable(const char *dir) {
    char p[PATH_MAX + 64];
    struct stat sb;
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    if (stat(p, &sb) != 0) return 0;
    snprintf(p, sizeof p, "%s/state.safetensors", dir);
    return stat(p, &sb) == 0;
}

/* One (head, shots, seed, fold): reused when finished with the same identity, else run. */
static lv_status one_run(cv_ctx *x, const lv_train_config *rc, int f, lv_cv_result *r) {
    char name[128], dir[PATH_MAX];
    lv_cv_run_name(rc->head, rc->shots, rc->seed, f, name, sizeof name);
    int len = snprintf(dir, sizeof dir, "%s/%s", x->runs_dir, name);
    LV_CHECK(len > 0 && len < (int)sizeof dir, LV_ERR_INPUT, "--out %s: path too long", x->s->train.out);
    lv_train_config own;
    LV_TRY(lv_train_config_copy(&own, rc));
    free(own.out);
    own.out = strdup(dir);
    if (!own.out) {
        lv_train_config_free(&own);
        return lv_errorf(LV_ERR_RUNTIME, "cv: out of memory");
    }
    cJSON *ident = run_identity(x->s, x->ds, &own, f);
    int same = 0;
    lv_cv_run_state rs;
    lv_status st = ident ? lv_cv_run_state_read(dir, ident, &rs, &same) : lv_errorf(LV_ERR_RUNTIME, "cv: out of memory");
    if (st == LV_OK && same && rs.finished) {
        r->accuracy = rs.accuracy;
        r->balanced_accuracy = rs.balanced_accuracy;
        r->macro_auc = rs.macro_auc;
        r->n_train = rs.n_train;
        r->n_test = rs.n_test;
        r->seconds = rs.seconds;
        r->reused = 1;
    } else if (st == LV_OK) {
        st = do_run(x, dir, &own, f, ident, same && resumable(dir), r);
        if (st != LV_OK) st = lv_error_wrap(st, "cv run %s", name);
    }
    r->done = st == LV_OK;
    cJSON_Delete(ident);
    lv_train_config_free(&own);
    return st;
}

lv_status lv_cv_run(const lv_cv_sweep *s, const lv_dataset *ds, const lv_cv_env *env_in, lv_cv_result **results) {
    lv_cv_env env_def;
    lv_cv_env_default(&env_def);
    const lv_cv_env *env = env_in ? env_in : &env_def;
    if (results) *results = NULL;
    LV_CHECK(s->n_heads >= 1 && s->n_shots >= 1 && s->n_seeds >= 1, LV_ERR_USAGE,
             "cv: --head, --shots and --seeds each need at least one entry");
    LV_CHECK(s->train.out && s->train.out[0], LV_ERR_USAGE, "cv: --out is required");
    int64_t n = lv_cv_run_count(s);
    cv_ctx x;
    memset(&x, 0, sizeof x);
    x.s = s;
    x.ds = ds;
    x.env = env;
    x.fold = malloc((size_t)ds->n * sizeof *x.fold);
    x.part = malloc((size_t)ds->n * sizeof *x.part);
    lv_cv_result *res = calloc((size_t)n, sizeof *res);
    cJSON *want = NULL;
    char *sweep_text = NULL;
    lv_status st = x.fold && x.part && res ? LV_OK : lv_errorf(LV_ERR_RUNTIME, "cv: out of memory");
    /* Every check that can refuse the sweep comes before DIR is touched. */
    if (st == LV_OK) st = lv_cv_assign_folds(ds, s->folds, s->fold_seed, x.fold);
    if (st == LV_OK) st = lv_cv_check_shots(s, ds, x.fold);
    if (st == LV_OK) {
        want = sweep_json(s, ds);
        sweep_text = want ? cJSON_Print(want) : NULL;
        if (!sweep_text) st = lv_errorf(LV_ERR_RUNTIME, "cv: out of memory");
    }
    if (st == LV_OK) st = lv_cv_mkdir(s->train.out);
    if (st == LV_OK) st = guard_sweep(s, want, env->force);
    int len = snprintf(x.runs_dir, sizeof x.runs_dir, "%s/runs", s->train.out);
    if (st == LV_OK && (len <= 0 || len >= (int)sizeof x.runs_dir - 128))
        st = lv_errorf(LV_ERR_INPUT, "--out %s: path too long", s->train.out);
    if (st == LV_OK) st = lv_cv_mkdir(x.runs_dir);
    int64_t i = 0;
    for (int64_t q = 0; q < n; q++) {
        int64_t r = q;
        res[q].head = s->heads[r % s->n_heads];
        r /= s->n_heads;
        res[q].shots = s->shots[r % s->n_shots];
        r /= s->n_shots;
        res[q].fold = (int)(r % s->folds);
        res[q].seed = s->seeds[r / s->folds];
        res[q].accuracy = res[q].balanced_accuracy = res[q].macro_auc = res[q].seconds = NAN;
    }
    double started = lv_now_s();
    lv_train_config rc;
    if (st == LV_OK) st = lv_train_config_copy(&rc, &s->train);
    int have_rc = st == LV_OK;
    if (have_rc) {
        free(rc.val);
        rc.val = NULL;
        rc.val_fraction = 0;
    }
    /* Seeds outermost, then folds, then shots and heads: an interrupted sweep has whole
     * (head, shots) comparisons on the same folds, the heads always side by side. */
    for (i = 0; st == LV_OK && i < n; i++) {
        rc.head = res[i].head;
        rc.shots = res[i].shots;
        rc.seed = res[i].seed;
        st = one_run(&x, &rc, res[i].fold, &res[i]);
        if (st == LV_OK && !env->quiet) progress_line(s, i, n, &res[i], started);
        if (st == LV_OK) st = write_summary(s, sweep_text, res, n);
    }
    if (have_rc) lv_train_config_free(&rc);
    if (st == LV_OK && results) {
        *results = res;
        res = NULL;
    }
    if (x.be) lv_backend_destroy(x.be);
    cJSON_Delete(want);
    free(sweep_text);
    free(res);
    free(x.fold);
    free(x.part);
    return st;
}
