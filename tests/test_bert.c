/* BERT text encoder against HF transformers' BertModel (tests/fixtures_bert.py): a tiny
 * model loaded through the HF-folder importer (plain and "bert."/gamma-beta files), last
 * hidden state, CLS and mean pooling, projection and every parameter gradient; loader and
 * config error cases; a forward timing at the all-MiniLM-L6-v2 shape. LV_TEST_SANITIZE */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "encoders/bert.h"
#include "harness.h"

enum { B = 3, T = 12, D = 8 };

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void path_in(char *out, size_t cap, const char *dir, const char *file) {
    snprintf(out, cap, "%s/%s", dir, file);
}

static int write_text(const char *dir, const char *file, const char *text) {
    char p[512];
    path_in(p, sizeof p, dir, file);
    FILE *f = fopen(p, "wb");
    if (!f) return 0;
    fputs(text, f);
    return fclose(f) == 0;
}

static void remove_in(const char *dir, const char *file) {
    char p[512];
    path_in(p, sizeof p, dir, file);
    unlink(p);
}

static void link_model(const char *dir, const char *fixture) {
    char p[512], src[512];
    remove_in(dir, "model.safetensors");
    snprintf(src, sizeof src, "%s/%s.safetensors", LV_FIXTURE_DIR, fixture);
    path_in(p, sizeof p, dir, "model.safetensors");
    lv_test_true(symlink(src, p) == 0, "fixture linked as model.safetensors");
}

/* Writes DIR/model.safetensors from the fixture's tensors, minus `drop`, plus `extra` (a
 * copy of `like`), with the word embeddings one row short if `shrink`. */
static void write_variant(const char *dir, lv_st_file *fx, const char *drop, const char *extra,
                          const char *like, int shrink) {
    lv_st_writer *w = NULL;
    if (!lv_test_true(lv_st_writer_create(&w) == LV_OK, "writer")) return;
    for (int i = 0; i < lv_st_count(fx); i++) {
        const lv_st_tensor *t = lv_st_at(fx, i);
        if (drop && strcmp(t->name, drop) == 0) continue;
        int64_t shape[LV_ST_MAX_DIMS];
        memcpy(shape, t->shape, sizeof shape);
        if (shrink && strcmp(t->name, "embeddings.word_embeddings.weight") == 0) shape[0]--;
        lv_st_writer_add(w, t->name, t->dtype, t->ndim, shape, lv_st_data(fx, t));
        if (extra && strcmp(t->name, like) == 0) lv_st_writer_add(w, extra, t->dtype, t->ndim, shape, lv_st_data(fx, t));
    }
    char p[512];
    path_in(p, sizeof p, dir, "model.safetensors");
    remove_in(dir, "model.safetensors");
    lv_test_true(lv_st_writer_save(w, p) == LV_OK, "variant weights written");
    lv_st_writer_free(w);
}

/* Expects `s` to be LV_ERR_INPUT with every needle in the message. */
static void expect_error(lv_status s, const char *what, const char *needle1, const char *needle2) {
    const char *msg = lv_error_message();
    int ok = s == LV_ERR_INPUT && strstr(msg, needle1) && (!needle2 || strstr(msg, needle2));
    if (ok) lv_test_pass("%s -> \"%s\"", what, msg);
    else lv_test_fail("%s: status %d, message \"%s\" (wanted \"%s\"%s%s)", what, (int)s, msg, needle1,
                      needle2 ? " and " : "", needle2 ? needle2 : "");
}

/* Forward/backward of the fixture model under one pooling; returns the loaded params. */
static void check_pooling(lv_backend *be, const lv_bert_config *cfg0, const char *dir,
                          lv_st_file *io, lv_bert_pooling pooling, float **params_out) {
    const char *tag = lv_bert_pooling_name(pooling);
    lv_bert_config cfg = *cfg0;
    cfg.pooling = pooling;
    cfg.dim = D;
    lv_bert m;
    if (!lv_test_true(lv_bert_build(&m, &cfg) == LV_OK, "build from config.json")) return;
    float *params = calloc(m.params.total, sizeof *params), *grads = calloc(m.params.total, sizeof *grads);
    lv_bert_init_host(&m, params, 7);
    lv_status ls = lv_bert_load_hf_folder(&m, params, dir);
    if (!lv_test_true(ls == LV_OK, "HF folder loads")) printf("  %s\n", lv_error_message());
    float *proj = lv_test_fixture_f32(io, "proj", NULL), *r = lv_test_fixture_f32(io, "r", NULL);
    int *ids = lv_test_fixture_i32(io, "ids", NULL), *mask = lv_test_fixture_i32(io, "mask", NULL);
    if (!proj || !r || !ids || !mask) goto out;
    memcpy(params + m.proj_w, proj, (size_t)D * cfg.hidden * sizeof(float));
    lv_test_true(lv_bert_check_ids(&m, ids, B * T) == LV_OK, "fixture ids in range");

    lv_bert_acts a;
    if (!lv_test_true(lv_bert_acts_alloc(&a, &m, be, B, T, 1) == LV_OK, "activations allocate")) goto out;
    lv_bert_forward(&m, &a, params, ids, mask, B);
    lv_bert_backward(&m, &a, params, grads, r, NULL);
    lv_test_true(be->sync(be) == LV_OK, "forward/backward ran without backend errors");
    char key[256], what[512];
    /* Whole-model tolerance 1e-5 relative to each tensor's largest value, against a float64
     * HF reference: the error is this engine's float32 rounding alone (measured in the log). */
    float *want = lv_test_fixture_f32(io, "hidden", NULL);
    snprintf(what, sizeof what, "%s: last_hidden_state", tag);
    if (want) lv_test_close(what, lv_bert_last_hidden(&m, &a), want, (size_t)B * T * cfg.hidden, 1e-5);
    free(want);
    snprintf(key, sizeof key, "%s.pooled", tag);
    want = lv_test_fixture_f32(io, key, NULL);
    if (want) lv_test_close(key, a.pooled.x, want, (size_t)B * cfg.hidden, 1e-5);
    free(want);
    snprintf(key, sizeof key, "%s.emb", tag);
    want = lv_test_fixture_f32(io, key, NULL);
    if (want) lv_test_close(key, a.out.x, want, (size_t)B * D, 1e-5);
    free(want);
    int compared = 0;
    double worst = 0;
    for (int i = 0; i < m.params.count; i++) {
        const lv_param_spec *p = &m.params.specs[i];
        size_t n = 0;
        snprintf(key, sizeof key, "%s.grad.%s", tag, p->name);
        want = lv_test_fixture_f32(io, key, &n);
        if (!want) continue;
        if (n != p->numel) {
            lv_test_fail("%s: %zu values in the fixture, %zu in the model", key, n, p->numel);
        } else if (strstr(p->name, "attention.self.key.bias")) {
            /* Analytically zero: the key bias adds q_i . b_k to every score of query row i,
             * and softmax ignores a per-row shift. float32 leaves ~1e-8 of noise, so it is
             * measured against the query bias gradient of the same layer instead. */
            char qkey[256];
            snprintf(qkey, sizeof qkey, "%s.grad.%.*s", tag, (int)(strstr(p->name, "key.bias") - p->name), p->name);
            strcat(qkey, "query.bias");
            float *qw = lv_test_fixture_f32(io, qkey, NULL);
            double qmax = 0, kmax = 0;
            for (size_t j = 0; qw && j < n; j++) qmax = fmax(qmax, fabs(qw[j]));
            for (size_t j = 0; j < n; j++) kmax = fmax(kmax, fabs(grads[p->offset + j]));
            snprintf(what, sizeof what, "%s: zero up to rounding (max %.2g vs query.bias %.2g)", key, kmax, qmax);
            lv_test_true(qw && kmax <= 1e-5 * qmax, what);
            free(qw);
            compared++;
        } else {
            /* Gradients run back through every layer and attention's softmax: 1e-5 as
             * well (docs/text-encoder.md lists the measured errors). */
            double e = lv_test_close(key, grads + p->offset, want, n, 1e-5);
            if (e > worst) worst = e;
            compared++;
        }
        free(want);
    }
    printf("%s: worst gradient error %.3g over %d tensors\n", tag, worst, compared);
    snprintf(what, sizeof what, "%s: every parameter's gradient compared (%d)", tag, m.params.count);
    lv_test_true(compared == m.params.count, what);
    int pad_zero = 1;
    for (int j = 0; j < cfg.hidden; j++) pad_zero &= grads[m.word + j] == 0.0f;
    lv_test_true(pad_zero, "pad token's word-embedding row gets exactly zero gradient");

    /* A smaller batch through the same activations: the leading sequences' results again. */
    float *pooled = malloc((size_t)B * cfg.hidden * sizeof *pooled);
    memcpy(pooled, a.pooled.x, (size_t)B * cfg.hidden * sizeof *pooled);
    lv_bert_forward(&m, &a, params, ids, mask, 2);
    snprintf(what, sizeof what, "%s: batch 2 of 3 gives the same first two sequences", tag);
    lv_test_close(what, a.pooled.x, pooled, (size_t)2 * cfg.hidden, 1e-6);
    lv_bert_forward(&m, &a, params, ids, mask, B + 1);
    lv_test_true(be->sync(be) == LV_ERR_RUNTIME, "batch above the allocation is a backend error");
    free(pooled);
    lv_bert_acts_free(&a);

    lv_bert_acts frozen;
    lv_test_true(lv_bert_acts_alloc(&frozen, &m, be, B, T, 0) == LV_OK && frozen.grad_arena == NULL,
                 "frozen activations carry no gradient arena");
    lv_bert_forward(&m, &frozen, params, ids, mask, B);
    lv_bert_backward(&m, &frozen, params, grads, r, NULL);
    lv_test_true(be->sync(be) == LV_ERR_RUNTIME, "backward on frozen activations is a backend error");
    lv_bert_acts_free(&frozen);
out:
    free(proj), free(r), free(ids), free(mask), free(grads);
    *params_out = params;
    lv_bert_free(&m);
}

static void check_legacy(const lv_bert_config *cfg, const float *ref) {
    lv_st_file *fx = lv_test_fixture_open("bert_legacy");
    lv_bert m;
    if (!fx || lv_bert_build(&m, cfg) != LV_OK) {
        lv_st_close(fx);
        return;
    }
    float *p = calloc(m.params.total, sizeof *p);
    lv_status s = lv_bert_load_hf_weights(&m, p, fx);
    if (!lv_test_true(s == LV_OK, "\"bert.\" prefix, LayerNorm gamma/beta and cls.* accepted")) printf("  %s\n", lv_error_message());
    else if (ref) lv_test_close("legacy-named weights equal the plain ones", p, ref, m.params.total, 0.0);
    free(p);
    lv_bert_free(&m);
    lv_st_close(fx);
}

static void check_loader_errors(lv_backend *be, const lv_bert_config *cfg, const char *dir) {
    lv_st_file *fx = lv_test_fixture_open("bert");
    lv_bert m;
    if (!fx || lv_bert_build(&m, cfg) != LV_OK) {
        lv_st_close(fx);
        return;
    }
    float *p = calloc(m.params.total, sizeof *p);
    write_variant(dir, fx, "encoder.layer.1.output.dense.bias", NULL, NULL, 0);
    expect_error(lv_bert_load_hf_folder(&m, p, dir), "missing tensor", "encoder.layer.1.output.dense.bias", "model.safetensors");
    write_variant(dir, fx, NULL, NULL, NULL, 1);
    expect_error(lv_bert_load_hf_folder(&m, p, dir), "wrong shape", "embeddings.word_embeddings.weight", "model.safetensors");
    write_variant(dir, fx, NULL, "encoder.layer.2.output.dense.bias", "encoder.layer.1.output.dense.bias", 0);
    expect_error(lv_bert_load_hf_folder(&m, p, dir), "tensor of a third layer", "encoder.layer.2.output.dense.bias", "2 layers");
    write_variant(dir, fx, NULL, "bert.embeddings.LayerNorm.gamma", "embeddings.LayerNorm.weight", 0);
    expect_error(lv_bert_load_hf_folder(&m, p, dir), "one tensor under two names", "given twice", "bert.embeddings.LayerNorm.gamma");
    write_variant(dir, fx, NULL, "classifier.weight", "pooler.dense.weight", 0);
    lv_test_true(lv_bert_load_hf_folder(&m, p, dir) == LV_OK, "task heads outside embeddings./encoder. ignored");

    remove_in(dir, "model.safetensors");
    lv_test_true(write_text(dir, "pytorch_model.bin", "not a pickle"), "bin written");
    expect_error(lv_bert_load_hf_folder(&m, p, dir), "pickle-only folder", "pytorch_model.bin", "safetensors");
    remove_in(dir, "pytorch_model.bin");
    expect_error(lv_bert_load_hf_folder(&m, p, dir), "folder without weights", "no model.safetensors", NULL);

    lv_bert_acts a;
    expect_error(lv_bert_acts_alloc(&a, &m, be, 1, 17, 0), "sequence over max_position", "max_position_embeddings", NULL);
    int bad_ids[3] = {2, 100, 0};
    expect_error(lv_bert_check_ids(&m, bad_ids, 3), "token id out of range", "token id 100 at position 1", NULL);
    free(p);
    lv_bert_free(&m);
    lv_st_close(fx);
}

/* config.json problems, each named in the message. */
static void check_config_errors(const char *dir) {
    static const struct {
        const char *json, *what, *needle;
    } cases[] = {
        {"{\"vocab_size\": 100, \"hidden_size\": 32", "truncated JSON", "not valid JSON"},
        {"[1, 2]", "not an object", "JSON object"},
        {"{\"hidden_size\": 32, \"num_hidden_layers\": 2, \"num_attention_heads\": 4, \"intermediate_size\": 64, "
         "\"max_position_embeddings\": 16}", "missing vocab_size", "missing key \"vocab_size\""},
        {"{\"vocab_size\": 100, \"hidden_size\": \"32\", \"num_hidden_layers\": 2, \"num_attention_heads\": 4, "
         "\"intermediate_size\": 64, \"max_position_embeddings\": 16}", "hidden_size a string", "\"hidden_size\" must be an integer"},
        {"{\"vocab_size\": 100, \"hidden_size\": 32.5, \"num_hidden_layers\": 2, \"num_attention_heads\": 4, "
         "\"intermediate_size\": 64, \"max_position_embeddings\": 16}", "hidden_size fractional", "\"hidden_size\" must be an integer"},
        {"{\"vocab_size\": 100, \"hidden_size\": 30, \"num_hidden_layers\": 2, \"num_attention_heads\": 4, "
         "\"intermediate_size\": 64, \"max_position_embeddings\": 16}", "heads not dividing hidden", "not a multiple of num_attention_heads"},
        {"{\"vocab_size\": 100, \"hidden_size\": 32, \"num_hidden_layers\": 2, \"num_attention_heads\": 4, "
         "\"intermediate_size\": 64, \"max_position_embeddings\": 16, \"hidden_act\": \"relu\"}", "hidden_act relu", "hidden_act \"relu\""},
        {"{\"vocab_size\": 100, \"hidden_size\": 32, \"num_hidden_layers\": 2, \"num_attention_heads\": 4, "
         "\"intermediate_size\": 64, \"max_position_embeddings\": 16, \"hidden_act\": \"gelu_new\"}", "hidden_act gelu_new (tanh form)", "hidden_act \"gelu_new\""},
        {"{\"vocab_size\": 100, \"hidden_size\": 32, \"num_hidden_layers\": 2, \"num_attention_heads\": 4, "
         "\"intermediate_size\": 64, \"max_position_embeddings\": 16, \"position_embedding_type\": \"relative_key\"}",
         "relative positions", "position_embedding_type \"relative_key\""},
        {"{\"model_type\": \"distilbert\", \"vocab_size\": 100}", "another model type", "model_type \"distilbert\""},
        {"{\"vocab_size\": 100, \"hidden_size\": 32, \"num_hidden_layers\": 0, \"num_attention_heads\": 4, "
         "\"intermediate_size\": 64, \"max_position_embeddings\": 16}", "zero layers", "num_hidden_layers = 0"},
        {"{\"vocab_size\": 100, \"hidden_size\": 32, \"num_hidden_layers\": 2, \"num_attention_heads\": 4, "
         "\"intermediate_size\": 64, \"max_position_embeddings\": 16, \"pad_token_id\": 100}", "pad id outside the vocabulary", "pad_token_id = 100"},
        {"{\"vocab_size\": 100, \"hidden_size\": 32, \"num_hidden_layers\": 2, \"num_attention_heads\": 4, "
         "\"intermediate_size\": 64, \"max_position_embeddings\": 16, \"layer_norm_eps\": -1}", "negative eps", "layer_norm_eps"},
    };
    lv_bert_config c;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_text(dir, "config.json", cases[i].json);
        char what[160];
        snprintf(what, sizeof what, "config.json: %s", cases[i].what);
        expect_error(lv_bert_load_hf_config(&c, dir), what, cases[i].needle, "config.json");
    }
    remove_in(dir, "config.json");
    expect_error(lv_bert_load_hf_config(&c, dir), "config.json absent", "no config.json", NULL);
    lv_test_true(lv_bert_config_parse(&c, "{\"vocab_size\": 9, \"hidden_size\": 8, \"num_hidden_layers\": 1, "
                 "\"num_attention_heads\": 2, \"intermediate_size\": 16, \"max_position_embeddings\": 4, "
                 "\"pad_token_id\": null}", "inline") == LV_OK && c.pad_token_id == -1 && c.type_vocab == 2 &&
                 c.ln_eps == 1e-12f, "optional keys take HF's defaults; pad_token_id null = no padding row");
}

/* sentence-transformers' 1_Pooling/config.json picks the pooling. */
static void check_folder_pooling(const char *dir) {
    char sub[512];
    path_in(sub, sizeof sub, dir, "1_Pooling");
    lv_bert_pooling pool = LV_BERT_POOL_CLS;
    int found = -1;
    lv_test_true(lv_bert_hf_folder_pooling(dir, &pool, &found) == LV_OK && found == 0, "no 1_Pooling: nothing found");
    mkdir(sub, 0700);
    write_text(dir, "1_Pooling/config.json", "{\"word_embedding_dimension\": 384, \"pooling_mode_cls_token\": false, "
               "\"pooling_mode_mean_tokens\": true, \"pooling_mode_max_tokens\": false, "
               "\"pooling_mode_mean_sqrt_len_tokens\": false}");
    lv_test_true(lv_bert_hf_folder_pooling(dir, &pool, &found) == LV_OK && found == 1 && pool == LV_BERT_POOL_MEAN,
                 "all-MiniLM-L6-v2's pooling config reads as mean");
    write_text(dir, "1_Pooling/config.json", "{\"pooling_mode_cls_token\": false, \"pooling_mode_max_tokens\": true}");
    expect_error(lv_bert_hf_folder_pooling(dir, &pool, &found), "max pooling", "pooling_mode_max_tokens", "not supported");
    remove_in(dir, "1_Pooling/config.json");
    rmdir(sub);
    lv_bert_pooling pp;
    lv_test_true(lv_bert_pooling_parse(&pp, "mean") == LV_OK && pp == LV_BERT_POOL_MEAN, "pooling name \"mean\"");
    expect_error(lv_bert_pooling_parse(&pp, "max"), "pooling name \"max\"", "\"max\"", "cls");
}

/* HF's init: LayerNorm 1/0, biases 0, pad row 0, normal(0, 0.02) elsewhere; reproducible. */
static void check_init(void) {
    lv_bert_config c;
    lv_bert_config_small(&c, 300, 16);
    lv_bert m;
    if (!lv_test_true(lv_bert_build(&m, &c) == LV_OK, "small default config builds")) return;
    float *p = malloc(m.params.total * sizeof *p), *q = malloc(m.params.total * sizeof *q);
    lv_bert_init_host(&m, p, 11);
    lv_bert_init_host(&m, q, 11);
    lv_test_true(memcmp(p, q, m.params.total * sizeof *p) == 0, "init is a function of the seed");
    const lv_bert_layer *L = &m.layer[1];
    int ok = 1;
    for (int j = 0; j < c.hidden; j++)
        ok &= p[L->ln2_w + j] == 1.0f && p[L->ln2_b + j] == 0.0f && p[L->qkv_b + j] == 0.0f && p[m.word + j] == 0.0f;
    lv_test_true(ok, "LayerNorm 1/0, biases 0, pad row 0");
    double s = 0, s2 = 0;
    size_t n = (size_t)3 * c.hidden * c.hidden;
    for (size_t i = 0; i < n; i++) s += p[L->qkv_w + i], s2 += (double)p[L->qkv_w + i] * p[L->qkv_w + i];
    double sd = sqrt(s2 / (double)n - (s / (double)n) * (s / (double)n));
    char what[96];
    snprintf(what, sizeof what, "qkv weights std %.4f ~ initializer_range 0.02", sd);
    lv_test_true(fabs(sd - 0.02) < 0.001, what);
    const lv_param_spec *q0 = lv_layout_find(&m.params, "encoder.layer.0.attention.self.query.weight");
    const lv_param_spec *v0 = lv_layout_find(&m.params, "encoder.layer.0.attention.self.value.bias");
    const lv_param_spec *k0 = lv_layout_find(&m.params, "encoder.layer.0.attention.self.key.bias");
    lv_test_true(q0 && v0 && k0 && q0->offset == m.layer[0].qkv_w && k0->offset == m.layer[0].qkv_b + (size_t)c.hidden &&
                 v0->offset == m.layer[0].qkv_b + 2 * (size_t)c.hidden, "HF names; q/k/v weights and biases packed");
    free(p), free(q);
    lv_bert_free(&m);
}

/* all-MiniLM-L6-v2's shape (not a timed test: printed for docs/text-encoder.md). */
static void time_minilm(lv_backend *be) {
    lv_bert_config c;
    lv_bert_config_small(&c, 30522, 384);
    c.hidden = 384, c.layers = 6, c.heads = 12, c.intermediate = 1536, c.max_position = 512;
    const int b = 16, t = 32;
    lv_bert m;
    if (!lv_test_true(lv_bert_build(&m, &c) == LV_OK, "MiniLM-shaped config builds")) return;
    float *p = malloc(m.params.total * sizeof *p), *g = calloc(m.params.total, sizeof *g);
    lv_bert_init_host(&m, p, 3);
    int *ids = malloc((size_t)b * t * sizeof *ids), *mask = malloc((size_t)b * t * sizeof *mask);
    for (int i = 0; i < b * t; i++) {
        int pos = i % t, len = 8 + (i / t) % (t - 8);
        ids[i] = pos < len ? 1000 + (i * 7919) % 29000 : 0;
        mask[i] = pos < len;
    }
    lv_bert_acts a;
    if (lv_test_true(lv_bert_acts_alloc(&a, &m, be, b, t, 1) == LV_OK, "MiniLM activations allocate")) {
        lv_bert_forward(&m, &a, p, ids, mask, b);
        double best = 1e30, t0;
        for (int r = 0; r < 5; r++) {
            t0 = now_s();
            lv_bert_forward(&m, &a, p, ids, mask, b);
            double dt = now_s() - t0;
            if (dt < best) best = dt;
        }
        double bwd = 1e30;
        for (int r = 0; r < 3; r++) {
            t0 = now_s();
            lv_bert_backward(&m, &a, p, g, a.out.x, NULL);
            double dt = now_s() - t0;
            if (dt < bwd) bwd = dt;
        }
        lv_test_true(be->sync(be) == LV_OK, "MiniLM forward/backward ran");
        printf("timing (MiniLM shape: H=384, 6 layers, 12 heads, b=%d, t=%d, %d threads): forward %.1f ms "
               "(%.0f sequences/s), backward %.1f ms\n", b, t, be->threads, 1e3 * best, b / best, 1e3 * bwd);
        lv_bert_acts_free(&a);
    }
    free(ids), free(mask), free(p), free(g);
    lv_bert_free(&m);
}

int main(void) {
    lv_backend *be = lv_test_cpu_backend();
    lv_st_file *fx = lv_test_fixture_open("bert"), *io = lv_test_fixture_open("bert_io");
    char dir[] = "/tmp/lv_test_bert_XXXXXX";
    if (!fx || !io || !lv_test_true(mkdtemp(dir) != NULL, "temporary HF folder")) return lv_test_summary();
    const char *cfg_json = lv_st_metadata(fx, "config_json");
    lv_test_true(cfg_json && write_text(dir, "config.json", cfg_json), "config.json written from the fixture");
    link_model(dir, "bert");
    lv_bert_config cfg;
    lv_status s = lv_bert_load_hf_config(&cfg, dir);
    if (!lv_test_true(s == LV_OK, "HF config.json parses")) printf("  %s\n", lv_error_message());
    lv_test_true(cfg.vocab == 100 && cfg.hidden == 32 && cfg.layers == 2 && cfg.heads == 4 &&
                 cfg.intermediate == 64 && cfg.max_position == 16 && cfg.type_vocab == 2 &&
                 cfg.pad_token_id == 0 && cfg.ln_eps == 1e-12f, "config values as in config.json");
    float *ref = NULL, *ref2 = NULL;
    if (s == LV_OK) {
        check_pooling(be, &cfg, dir, io, LV_BERT_POOL_CLS, &ref);
        check_pooling(be, &cfg, dir, io, LV_BERT_POOL_MEAN, &ref2);
        lv_bert_config plain = cfg; /* no projection: the layout the HF file fills entirely */
        check_legacy(&plain, ref);
        check_loader_errors(be, &plain, dir);
    }
    free(ref), free(ref2);
    remove_in(dir, "model.safetensors");
    check_config_errors(dir);
    check_folder_pooling(dir);
    remove_in(dir, "config.json");
    lv_test_true(rmdir(dir) == 0, "temporary folder removed");
    check_init();
    time_minilm(be);
    lv_st_close(fx);
    lv_st_close(io);
    lv_backend_destroy(be);
    return lv_test_summary();
}
