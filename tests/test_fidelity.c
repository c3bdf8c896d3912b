/* The whole Liver-VLM (VLM head, built-in vocabulary and prompts, frozen text) against an
 * independent PyTorch build of it (tests/fixtures_fidelity.py: torchvision resnet18 + a
 * plain-torch BERT, float64) from a checkpoint this engine wrote: eval logits, one training
 * step's loss, every trainable gradient, BN running statistics, class embeddings, tokens.
 * No weights are committed: they are a pure function of SEED, checked by checksums.
 * LV_FIDELITY_WRITE=DIR [LV_FIDELITY_BATCH_SEED=N] makes this program write
 * DIR/model.safetensors (lv_ckpt_save) and DIR/batch.safetensors (inputs, the engine's prompt
 * tokens) for the script, and check nothing. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "encoders/liver_vlm.h"
#include "harness.h"
#include "train/checkpoint.h"

enum { P = 3, C = 5, D = 32, B = 4, S = 64, L = 32 };
#define SEED 4242u
#define SAMPLE_ABOVE 20000 /* tensors larger than this are compared on every STRIDE-th element */
#define STRIDE 997

static const char *const class_names[C] = {"CYST", "FNH", "HCC", "HEM", "METS"};
static const char *const phase_names[P] = {"NC", "ART", "PV"};

/* The batch: x a sum of three exact uniforms (mean 0, variance 1; exactly representable,
 * so regenerating it anywhere gives the same bits), labels covering every class. The
 * script picks batch_seed (stored in the fixture) so that no ReLU or max-pool decision of
 * the reference's training forward lies within float32 rounding of flipping: a flipped one
 * sends a whole BN channel's gradient elsewhere and says nothing about the engine. */
static void make_batch(uint64_t batch_seed, float *x, int *labels) {
    size_t n = (size_t)B * P * S * S;
    for (size_t i = 0; i < n; i++) {
        float u = lv_rng_uniform(batch_seed, 0x46494431ull, 3 * i) +
                  lv_rng_uniform(batch_seed, 0x46494431ull, 3 * i + 1) +
                  lv_rng_uniform(batch_seed, 0x46494431ull, 3 * i + 2);
        x[i] = 2.0f * (u - 1.5f);
    }
    for (int b = 0; b < B; b++) labels[b] = (3 * b + 1) % C;
}

/* A decimal seed from `text` (env or fixture metadata); 0 when absent or malformed. */
static uint64_t parse_seed(const char *text) {
    char *end = NULL;
    unsigned long long v = text ? strtoull(text, &end, 10) : 0;
    return text && end != text && *end == '\0' ? (uint64_t)v : 0;
}

static int make_model(lv_vlm *m, lv_backend *be) {
    lv_wordpiece *tok = NULL;
    lv_prompt_set prompts;
    memset(&prompts, 0, sizeof prompts);
    memset(m, 0, sizeof *m);
    lv_status s = lv_wordpiece_builtin(&tok);
    if (s == LV_OK) s = lv_prompts_default(&prompts);
    lv_vlm_config cfg;
    lv_vlm_config_default(&cfg, P, C, tok ? (int)lv_wordpiece_vocab_size(tok) : 1);
    cfg.dim = D;
    if (s == LV_OK) s = lv_vlm_create(m, be, &cfg, class_names, tok, &prompts, 1, SEED);
    else lv_wordpiece_free(tok);
    lv_prompts_free(&prompts);
    if (s == LV_OK) s = lv_vlm_prepare(m, B, S);
    if (!lv_test_true(s == LV_OK, "model builds from the seed")) {
        printf("  %s\n", lv_error_message());
        lv_vlm_free(m);
        return 0;
    }
    lv_test_true(m->cfg.text.hidden == 128 && m->cfg.text.layers == 2 && m->cfg.text.pooling == LV_BERT_POOL_MEAN &&
                 m->cfg.text_max_len == L && !m->cfg.train_text, "default small text encoder: H 128, 2 layers, mean "
                 "pooling, 32 tokens, frozen (the shape the fixture was made for)");
    return 1;
}

static float *host_copy(lv_backend *be, const void *dev, size_t bytes) {
    float *h = malloc(bytes ? bytes : 1);
    if (h && bytes) be->copy_d2h(be, h, dev, bytes);
    return h;
}

/* ---------------------------------------------------------------------------------- */
/* Writing the script's inputs                                                         */

static int write_inputs(lv_vlm *m, lv_backend *be, const char *dir, uint64_t batch_seed, const float *x,
                        const int *labels) {
    char path[1024];
    lv_ckpt_info info;
    memset(&info, 0, sizeof info);
    info.classes = C;
    info.phases = P;
    for (int i = 0; i < C; i++) info.class_names[i] = strdup(class_names[i]);
    for (int i = 0; i < P; i++) info.phase_names[i] = strdup(phase_names[i]);
    lv_preproc_default(&info.pre);
    info.pre.scaling = LV_SCALE_WINDOW;
    info.input_size = S;
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    lv_status s = lv_ckpt_save(m, &info, path);
    lv_ckpt_info_free(&info);
    if (!lv_test_true(s == LV_OK, "checkpoint written")) {
        printf("  %s\n", lv_error_message());
        return 0;
    }
    int np = m->prompts.count;
    int *ids = (int *)host_copy(be, m->prompt_ids, (size_t)np * L * sizeof(int));
    int *mask = (int *)host_copy(be, m->prompt_mask, (size_t)np * L * sizeof(int));
    int *cls = (int *)host_copy(be, m->prompt_class, (size_t)np * sizeof(int));
    lv_st_writer *w = NULL;
    int64_t xs[4] = {B, P, S, S}, ls[1] = {B}, ts[2] = {np, L}, cs[1] = {np};
    char seed[32], bseed[32];
    snprintf(seed, sizeof seed, "%u", SEED);
    snprintf(bseed, sizeof bseed, "%llu", (unsigned long long)batch_seed);
    s = be->sync(be);
    if (s == LV_OK) s = lv_st_writer_create(&w);
    if (s == LV_OK) s = lv_st_writer_add(w, "x", LV_DT_F32, 4, xs, x);
    if (s == LV_OK) s = lv_st_writer_add(w, "labels", LV_DT_I32, 1, ls, labels);
    if (s == LV_OK) s = lv_st_writer_add(w, "prompt_ids", LV_DT_I32, 2, ts, ids);
    if (s == LV_OK) s = lv_st_writer_add(w, "prompt_mask", LV_DT_I32, 2, ts, mask);
    if (s == LV_OK) s = lv_st_writer_add(w, "prompt_class", LV_DT_I32, 1, cs, cls);
    if (s == LV_OK) s = lv_st_writer_set_metadata(w, "seed", seed);
    if (s == LV_OK) s = lv_st_writer_set_metadata(w, "batch_seed", bseed);
    snprintf(path, sizeof path, "%s/batch.safetensors", dir);
    if (s == LV_OK) s = lv_st_writer_save(w, path);
    lv_st_writer_free(w);
    free(ids), free(mask), free(cls);
    if (!lv_test_true(s == LV_OK, "batch written")) printf("  %s\n", lv_error_message());
    else printf("wrote %s/model.safetensors and %s/batch.safetensors\n", dir, dir);
    return s == LV_OK;
}

/* ---------------------------------------------------------------------------------- */
/* Checks                                                                              */

/* (sum|v|, sum v^2, sum w_i v_i) in double; w_i a fixed +-0.5 pattern, so a permutation or
 * a changed element shows even where the first two do not. */
static void checksum(const float *v, size_t n, double out[3]) {
    out[0] = out[1] = out[2] = 0;
    for (size_t i = 0; i < n; i++) {
        double d = v[i], w = (double)((i * 2654435761u) % 1024u) / 1024.0 - 0.5;
        out[0] += fabs(d), out[1] += d * d, out[2] += w * d;
    }
}

typedef struct sums_table {
    char **names; /* from the fixture's "sums.names" metadata, one per line */
    float *vals;  /* [n,6]: three checksums, each as float32 hi + lo */
    int n;
} sums_table;

static void sums_free(sums_table *t) {
    if (t->names) free(t->names[0]);
    free(t->names);
    free(t->vals);
}

static int sums_load(lv_st_file *fx, sums_table *t) {
    memset(t, 0, sizeof *t);
    const char *text = lv_st_metadata(fx, "sums.names");
    size_t n = 0;
    t->vals = lv_test_fixture_f32(fx, "sums", &n);
    if (!lv_test_true(text && t->vals && n % 6 == 0, "checksum table present")) return 0;
    t->n = (int)(n / 6);
    t->names = calloc((size_t)t->n + 1, sizeof *t->names);
    char *copy = strdup(text);
    int k = 0;
    for (char *p = copy, *save = NULL, *tokn; (tokn = strtok_r(p, "\n", &save)) && k < t->n; p = NULL) t->names[k++] = tokn;
    if (k == 0) free(copy);
    return lv_test_true(k == t->n, "one checksum name per row");
}

/* The engine's tensor `name` (n floats at v) against the fixture's checksums of the same
 * tensor in the checkpoint the reference was built from. Returns 1 when it matches. */
static int sums_check(const sums_table *t, const char *name, const float *v, size_t n) {
    int row = -1;
    for (int i = 0; i < t->n; i++)
        if (strcmp(t->names[i], name) == 0) row = i;
    if (row < 0) {
        lv_test_fail("checksum of %s missing from the fixture", name);
        return 0;
    }
    double got[3], want[3];
    checksum(v, n, got);
    for (int j = 0; j < 3; j++) want[j] = (double)t->vals[row * 6 + 2 * j] + (double)t->vals[row * 6 + 2 * j + 1];
    /* Relative 1e-6 of sum|v|: summation order is the only difference when the weights are
     * the same; another seed or init changes these by ~1e-3 and more. */
    double tol = 1e-6 * want[0];
    int ok = fabs(got[0] - want[0]) <= tol && fabs(got[1] - want[1]) <= 1e-6 * want[1] && fabs(got[2] - want[2]) <= tol;
    if (!ok)
        lv_test_fail("%s: checksums (%.9g, %.9g, %.9g), fixture has (%.9g, %.9g, %.9g): the seed no longer makes "
                     "the weights the fixture was built from (regenerate: tests/fixtures_fidelity.py)", name, got[0],
                     got[1], got[2], want[0], want[1], want[2]);
    return ok;
}

/* Every tensor of a layout (values at host) checked; one summary line. */
static void sums_layout(const sums_table *t, const lv_param_layout *l, const float *host, const char *prefix,
                        const char *what) {
    int ok = 1;
    char name[256];
    for (int i = 0; i < l->count; i++) {
        snprintf(name, sizeof name, "%s%s", prefix, l->specs[i].name);
        ok &= sums_check(t, name, host + l->specs[i].offset, l->specs[i].numel);
    }
    if (ok) lv_test_pass("%s: all %d tensors are the fixture's (seed %u)", what, l->count, SEED);
}

/* Compares tensor p of buf with fixture key (sampled as the script samples). */
static double compare(lv_st_file *fx, const char *key, const float *buf, const lv_param_spec *p, double tol) {
    size_t n = 0;
    float *want = lv_test_fixture_f32(fx, key, &n);
    if (!want) return INFINITY;
    size_t step = p->numel <= SAMPLE_ABOVE ? 1 : STRIDE;
    size_t expect = (p->numel + step - 1) / step;
    double e = INFINITY;
    if (n != expect) {
        lv_test_fail("%s: %zu values in the fixture, expected %zu", key, n, expect);
    } else {
        float *got = malloc(n * sizeof *got);
        for (size_t i = 0; i < n; i++) got[i] = buf[p->offset + i * step];
        e = lv_test_close(key, got, want, n, tol);
        free(got);
    }
    free(want);
    return e;
}

static double compare_all(lv_st_file *fx, const lv_param_layout *l, const float *buf, const char *kind,
                          const char *prefix, int only_state_stats, double tol, int *count) {
    double worst = 0;
    char key[256];
    for (int i = 0; i < l->count; i++) {
        if (only_state_stats && !strstr(l->specs[i].name, "running_")) continue;
        snprintf(key, sizeof key, "%s.%s%s", kind, prefix, l->specs[i].name);
        double e = compare(fx, key, buf, &l->specs[i], tol);
        if (!(e <= worst)) worst = e;
        (*count)++;
    }
    return worst;
}

static double compare_plain(lv_st_file *fx, const char *key, const float *got, size_t n, double tol) {
    size_t fn = 0;
    float *want = lv_test_fixture_f32(fx, key, &fn);
    double e = INFINITY;
    if (want && fn != n) lv_test_fail("%s: %zu values in the fixture, expected %zu", key, fn, n);
    else if (want) e = lv_test_close(key, got, want, n, tol);
    free(want);
    return e;
}

static void check_inputs(lv_st_file *fx, lv_vlm *m, lv_backend *be, const sums_table *t, const float *x,
                         const int *labels) {
    lv_test_true(parse_seed(lv_st_metadata(fx, "seed")) == SEED, "fixture made from this model seed");
    sums_check(t, "input.x", x, (size_t)B * P * S * S);
    int *fl = lv_test_fixture_i32(fx, "labels", NULL);
    lv_test_true(fl && memcmp(fl, labels, sizeof(int) * B) == 0, "labels are the fixture's");
    free(fl);
    /* The reference tokenized the prompts with HF's BertTokenizer on the checkpoint's vocab. */
    int np = m->prompts.count;
    size_t n = 0, nm = 0;
    int *ids = lv_test_fixture_i32(fx, "text.ids", &n), *mask = lv_test_fixture_i32(fx, "text.mask", &nm);
    int *mine = (int *)host_copy(be, m->prompt_ids, (size_t)np * L * sizeof(int));
    int *mmask = (int *)host_copy(be, m->prompt_mask, (size_t)np * L * sizeof(int));
    be->sync(be);
    lv_test_true(ids && mask && n == (size_t)np * L && nm == n && memcmp(ids, mine, n * sizeof(int)) == 0 &&
                 memcmp(mask, mmask, n * sizeof(int)) == 0, "prompt token ids and masks equal HF BertTokenizer's");
    free(ids), free(mask), free(mine), free(mmask);

    float *hv = host_copy(be, m->vbuf.params, m->visual.params.total * sizeof(float));
    float *hs = host_copy(be, m->vstate, m->visual.state.total * sizeof(float));
    float *ht = host_copy(be, m->tbuf.params, m->text.params.total * sizeof(float));
    float *hh = host_copy(be, m->hbuf.params, m->head.total * sizeof(float));
    be->sync(be);
    sums_layout(t, &m->visual.params, hv, "visual.", "visual weights");
    sums_layout(t, &m->visual.state, hs, "visual.", "BN running statistics");
    sums_layout(t, &m->text.params, ht, "text.", "text weights");
    sums_layout(t, &m->head, hh, "", "logit_scale");
    free(hv), free(hs), free(ht), free(hh);
}

static void check_model(lv_st_file *fx, lv_vlm *m, lv_backend *be, const float *x, const int *labels) {
    float probs[B * C], logits[B * C], loss;
    int np = m->prompts.count;
    /* Text side: pooled prompt features (frozen BERT) and the class embeddings. */
    float ce[C * D];
    lv_test_true(lv_vlm_class_embeddings(m, ce) == LV_OK, "class embeddings");
    float *pooled = host_copy(be, m->tacts.pooled.x, (size_t)np * m->cfg.text.hidden * sizeof(float));
    be->sync(be);
    double e_pool = compare_plain(fx, "text.pooled", pooled, (size_t)np * m->cfg.text.hidden, 1e-5);
    double e_ce = compare_plain(fx, "class_embeddings", ce, C * D, 1e-5);
    free(pooled);

    /* Eval mode, running statistics as initialised. */
    lv_vlm_predict(m, x, labels, B, probs);
    be->copy_d2h(be, logits, m->logits, sizeof logits);
    be->copy_d2h(be, &loss, m->loss, sizeof loss);
    lv_test_true(be->sync(be) == LV_OK, "predict ran");
    double e_eval = compare_plain(fx, "eval.logits", logits, B * C, 1e-5);
    compare_plain(fx, "eval.probs", probs, B * C, 1e-5);
    compare_plain(fx, "eval.loss", &loss, 1, 1e-5);

    /* One training step: batch statistics, every gradient from zero. */
    lv_vlm_zero_grads(m);
    lv_vlm_train_step(m, x, labels, B);
    be->copy_d2h(be, logits, m->logits, sizeof logits);
    be->copy_d2h(be, &loss, m->loss, sizeof loss);
    float *gv = host_copy(be, m->vbuf.grads, m->visual.params.total * sizeof(float));
    float *gt = host_copy(be, m->tbuf.grads, m->text.params.total * sizeof(float));
    float *gh = host_copy(be, m->hbuf.grads, m->head.total * sizeof(float));
    float *st = host_copy(be, m->vstate, m->visual.state.total * sizeof(float));
    lv_test_true(be->sync(be) == LV_OK, "train step ran");
    double e_tlog = compare_plain(fx, "train.logits", logits, B * C, 1e-4);
    double e_loss = compare_plain(fx, "train.loss", &loss, 1, 1e-4);
    int nv = 0, ns = 0, nt = 0, nh = 0;
    double e_gv = compare_all(fx, &m->visual.params, gv, "grad", "visual.", 0, 1e-4, &nv);
    double e_st = compare_all(fx, &m->visual.state, st, "state", "visual.", 1, 1e-5, &ns);
    double e_gh = compare_all(fx, &m->head, gh, "grad", "", 0, 1e-4, &nh);
    double e_gt = 0;
    int frozen_zero = 1;
    for (int i = 0; i < m->text.params.count; i++) {
        const lv_param_spec *p = &m->text.params.specs[i];
        if (strcmp(p->name, "proj.weight") == 0) {
            e_gt = compare(fx, "grad.text.proj.weight", gt, p, 1e-4);
            nt++;
        } else {
            for (size_t k = 0; k < p->numel; k++) frozen_zero &= gt[p->offset + k] == 0.0f;
        }
    }
    lv_test_true(frozen_zero, "frozen text encoder: every text gradient but text.proj.weight is exactly 0");
    lv_test_true(nv == 62 && nt == 1 && nh == 1 && ns == 40, "compared: 62 visual gradients (60 resnet18 + "
                 "proj weight/bias), text.proj.weight, logit_scale, 40 running statistics");

    /* Eval again with the statistics the step left. */
    lv_vlm_predict(m, x, labels, B, probs);
    be->copy_d2h(be, logits, m->logits, sizeof logits);
    lv_test_true(be->sync(be) == LV_OK, "second predict ran");
    double e_eval2 = compare_plain(fx, "eval_after.logits", logits, B * C, 1e-5);
    printf("measured (max|engine - torch| / max|torch|): eval logits %.2e, eval logits after the step %.2e, "
           "train logits %.2e, train loss %.2e, visual grads %.2e (worst of %d), text.proj grad %.2e, "
           "logit_scale grad %.2e, BN stats %.2e, pooled prompts %.2e, class embeddings %.2e\n",
           e_eval, e_eval2, e_tlog, e_loss, e_gv, nv, e_gt, e_gh, e_st, e_pool, e_ce);
    free(gv), free(gt), free(gh), free(st);
}

int main(void) {
    const char *dir = getenv("LV_FIDELITY_WRITE");
    lv_backend *be = lv_test_cpu_backend();
    lv_st_file *fx = NULL;
    uint64_t batch_seed;
    if (dir && dir[0]) {
        batch_seed = parse_seed(getenv("LV_FIDELITY_BATCH_SEED"));
        if (!batch_seed) batch_seed = 1;
    } else {
        fx = lv_test_fixture_open("fidelity");
        batch_seed = fx ? parse_seed(lv_st_metadata(fx, "batch_seed")) : 0;
        if (!lv_test_true(batch_seed != 0, "fixture names its batch_seed")) {
            lv_st_close(fx);
            lv_backend_destroy(be);
            return lv_test_summary();
        }
    }
    float *x = malloc(sizeof(float) * B * P * S * S);
    int labels[B];
    make_batch(batch_seed, x, labels);
    lv_vlm m;
    if (make_model(&m, be)) {
        if (!fx) {
            write_inputs(&m, be, dir, batch_seed, x, labels);
        } else {
            sums_table t;
            if (sums_load(fx, &t)) {
                check_inputs(fx, &m, be, &t, x, labels);
                check_model(fx, &m, be, x, labels);
            }
            sums_free(&t);
        }
        lv_vlm_free(&m);
    }
    lv_st_close(fx);
    free(x);
    lv_backend_destroy(be);
    return lv_test_summary();
}
