/* Checkpoints (train/checkpoint.h): save/load round trip for both heads on tiny models
 * (bit-identical predictions, metadata and config back as saved, docs/checkpoint.md tensor
 * names), and a corpus of broken checkpoints, each refused with LV_ERR_INPUT and a message
 * naming the file and what is wrong. Set LV_TEST_CKPT_KEEP=DIR to keep the two good files
 * (for the Python safetensors/torchvision checks in docs/checkpoint.md). LV_TEST_SANITIZE */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/rng.h"
#include "harness.h"
#include "train/checkpoint.h"
#include "train/optim.h"

enum { P = 3, C = 5, S = 32, B = 6, D = 16 };
static const char *const class_names[C] = {"CYST", "FNH", "HCC", "HEM", "METS"};
static const char *const phase_names[P] = {"NC", "ART", "PV"};
static char tmpdir[] = "/tmp/lv_test_ckpt_XXXXXX";

static void tmp_path(char *out, size_t cap, const char *name) { snprintf(out, cap, "%s/%s", tmpdir, name); }

static void make_batch(float *x, int *y, int seed) {
    for (int i = 0; i < B; i++) {
        y[i] = i % C;
        for (int k = 0; k < P * S * S; k++)
            x[(size_t)i * P * S * S + k] = 0.3f * (float)y[i] + 0.5f * lv_rng_normal(11, (uint64_t)seed, (uint64_t)(i * P * S * S + k));
    }
}

/* A tiny model of either head, trained two steps so weights and BN statistics moved. */
static int build(lv_vlm *m, lv_backend *be, lv_head_kind head) {
    lv_wordpiece *tok = NULL;
    lv_prompt_set prompts;
    if (lv_wordpiece_builtin(&tok) != LV_OK || lv_prompts_default(&prompts) != LV_OK) return 0;
    lv_vlm_config cfg;
    lv_vlm_config_default(&cfg, P, C, (int)lv_wordpiece_vocab_size(tok));
    cfg.head = head;
    cfg.dim = D;
    cfg.text_max_len = 24;
    cfg.train_text = head == LV_HEAD_VLM; /* so text weights move too */
    cfg.text.hidden = 32, cfg.text.layers = 1, cfg.text.heads = 2, cfg.text.intermediate = 48;
    cfg.text.max_position = 32;
    lv_status s = lv_vlm_create(m, be, &cfg, class_names, head == LV_HEAD_VLM ? tok : NULL,
                                head == LV_HEAD_VLM ? &prompts : NULL, 1, 5);
    if (head != LV_HEAD_VLM) lv_wordpiece_free(tok);
    lv_prompts_free(&prompts);
    if (!lv_test_true(s == LV_OK, "tiny model builds")) {
        printf("  %s\n", lv_error_message());
        return 0;
    }
    lv_test_true(lv_vlm_prepare(m, B, S) == LV_OK, "activations");
    lv_optim_config oc;
    lv_optim_config_default(&oc);
    oc.lr = 1e-2f;
    lv_optim_plan pv, pt, ph;
    lv_optim_plan_build(&pv, &m->visual.params);
    lv_optim_plan_build(&ph, &m->head);
    if (head == LV_HEAD_VLM) lv_optim_plan_build(&pt, &m->text.params);
    float *x = malloc(sizeof(float) * B * P * S * S);
    int y[B];
    for (int step = 0; step < 2; step++) {
        make_batch(x, y, step);
        lv_vlm_zero_grads(m);
        lv_vlm_train_step(m, x, y, B);
        lv_optim_step(be, &pv, &m->vbuf, &oc, step, oc.lr);
        lv_optim_step(be, &ph, &m->hbuf, &oc, step, oc.lr);
        if (head == LV_HEAD_VLM) lv_optim_step(be, &pt, &m->tbuf, &oc, step, oc.lr);
    }
    if (head == LV_HEAD_VLM) lv_vlm_text_changed(m);
    free(x);
    lv_optim_plan_free(&pv);
    lv_optim_plan_free(&ph);
    if (head == LV_HEAD_VLM) lv_optim_plan_free(&pt);
    return lv_test_true(be->sync(be) == LV_OK, "two training steps");
}

static void predict(lv_vlm *m, float *probs) {
    float *x = malloc(sizeof(float) * B * P * S * S);
    int y[B];
    make_batch(x, y, 99);
    lv_vlm_prepare(m, B, S);
    lv_vlm_predict(m, x, NULL, B, probs);
    lv_test_true(m->be->sync(m->be) == LV_OK, "prediction runs");
    free(x);
}

static void fill_info(lv_ckpt_info *info) {
    memset(info, 0, sizeof *info);
    info->classes = C;
    info->phases = P;
    for (int i = 0; i < C; i++) info->class_names[i] = strdup(class_names[i]);
    for (int i = 0; i < P; i++) info->phase_names[i] = strdup(phase_names[i]);
    lv_preproc_default(&info->pre);
    info->pre.scaling = LV_SCALE_WINDOW;
    info->pre.lo = -80.0f;
    info->pre.hi = 230.5f;
    info->pre.n_stats = P;
    for (int i = 0; i < P; i++) info->pre.mean[i] = 0.1f * (float)(i + 1), info->pre.std[i] = 0.2f + 0.01f * (float)i;
    info->input_size = S;
    info->training_json = strdup("{\"epochs\":1,\"lr\":0.01}");
}

static void check_tensor(lv_st_file *f, const char *name, lv_dtype dt, int ndim, int64_t d0, int64_t d1) {
    const lv_st_tensor *t = lv_st_find(f, name);
    int ok = t && t->dtype == dt && t->ndim == ndim && (ndim < 1 || t->shape[0] == d0) && (ndim < 2 || t->shape[1] == d1);
    if (ok) lv_test_pass("tensor %s present with the documented shape", name);
    else lv_test_fail("tensor %s: %s", name, t ? "wrong dtype or shape" : "absent");
}

static void round_trip(lv_backend *be, lv_head_kind head, const char *file) {
    const char *tag = head == LV_HEAD_VLM ? "vlm" : "linear";
    lv_vlm m;
    if (!build(&m, be, head)) return;
    float before[B * C], after[B * C], after_train[B * C];
    predict(&m, before);
    lv_ckpt_info info, back;
    fill_info(&info);
    char path[512];
    tmp_path(path, sizeof path, file);
    lv_status s = lv_ckpt_save(&m, &info, path);
    if (!lv_test_true(s == LV_OK, "checkpoint saves")) printf("  %s\n", lv_error_message());

    lv_vlm m2;
    s = lv_ckpt_load(path, be, 0, &m2, &back);
    if (!lv_test_true(s == LV_OK, "checkpoint loads")) {
        printf("  %s\n", lv_error_message());
        lv_ckpt_info_free(&info);
        lv_vlm_free(&m);
        return;
    }
    predict(&m2, after);
    if (memcmp(before, after, sizeof before) == 0) lv_test_pass("%s: predictions bit-identical after reload", tag);
    else lv_test_fail("%s: predictions differ after reload (first %g vs %g)", tag, (double)before[0], (double)after[0]);
    /* Metadata and configuration back as saved. */
    int same = back.classes == C && back.phases == P && back.input_size == S;
    for (int i = 0; same && i < C; i++) same = strcmp(back.class_names[i], class_names[i]) == 0;
    for (int i = 0; same && i < P; i++) same = strcmp(back.phase_names[i], phase_names[i]) == 0;
    lv_test_true(same, "classes, phases and input size round-trip");
    lv_test_true(memcmp(&back.pre, &info.pre, sizeof info.pre) == 0, "preprocessing round-trips exactly");
    lv_test_true(back.training_json && strcmp(back.training_json, info.training_json) == 0, "training JSON round-trips");
    const lv_vlm_config *a = &m.cfg, *b = &m2.cfg;
    lv_test_true(a->head == b->head && a->dim == b->dim && a->train_text == b->train_text &&
                 a->text_max_len == b->text_max_len && a->logit_scale_init == b->logit_scale_init,
                 "model config round-trips");
    if (head == LV_HEAD_VLM) {
        lv_test_true(memcmp(&a->text, &b->text, sizeof a->text) == 0, "text config round-trips (incl. pooling, dim)");
        lv_test_true(lv_wordpiece_vocab_size(m.tok) == lv_wordpiece_vocab_size(m2.tok), "vocabulary round-trips");
        int prompts_same = m.prompts.count == m2.prompts.count;
        for (int i = 0; prompts_same && i < m.prompts.count; i++)
            prompts_same = !strcmp(m.prompts.texts[i], m2.prompts.texts[i]) &&
                           !strcmp(m.prompts.class_names[i], m2.prompts.class_names[i]);
        lv_test_true(prompts_same, "prompts round-trip");
    }
    /* Loading for training (gradients and moments) gives the same model. */
    lv_vlm m3;
    lv_ckpt_info back3;
    s = lv_ckpt_load(path, be, 1, &m3, &back3);
    if (lv_test_true(s == LV_OK && m3.training && m3.vbuf.grads, "checkpoint loads for training")) {
        predict(&m3, after_train);
        lv_test_true(memcmp(before, after_train, sizeof before) == 0, "training load predicts the same");
        lv_vlm_free(&m3);
        lv_ckpt_info_free(&back3);
    }
    /* The names and shapes of docs/checkpoint.md. */
    lv_st_file *f = NULL;
    if (lv_test_true(lv_st_open(&f, path) == LV_OK, "checkpoint opens as safetensors")) {
        check_tensor(f, "visual.conv1.weight", LV_DT_F32, 4, 64, P);
        check_tensor(f, "visual.bn1.running_mean", LV_DT_F32, 1, 64, 0);
        check_tensor(f, "visual.layer4.1.bn2.running_var", LV_DT_F32, 1, 512, 0);
        check_tensor(f, "visual.layer2.0.downsample.1.num_batches_tracked", LV_DT_I64, 0, 0, 0);
        if (head == LV_HEAD_VLM) {
            check_tensor(f, "visual.proj.weight", LV_DT_F32, 2, D, 512);
            check_tensor(f, "text.embeddings.word_embeddings.weight", LV_DT_F32, 2, m.cfg.text.vocab, 32);
            check_tensor(f, "text.encoder.layer.0.attention.self.query.weight", LV_DT_F32, 2, 32, 32);
            check_tensor(f, "text.proj.weight", LV_DT_F32, 2, D, 32);
            check_tensor(f, "logit_scale", LV_DT_F32, 1, 1, 0);
            check_tensor(f, "class_embeddings", LV_DT_F32, 2, C, D);
            lv_test_true(lv_st_find(f, "head.weight") == NULL, "no linear head in a VLM checkpoint");
        } else {
            check_tensor(f, "head.weight", LV_DT_F32, 2, C, 512);
            check_tensor(f, "head.bias", LV_DT_F32, 1, C, 0);
            lv_test_true(lv_st_find(f, "text.proj.weight") == NULL && lv_st_find(f, "visual.proj.weight") == NULL,
                         "no text encoder or projection in a linear checkpoint");
        }
        const char *fmt = lv_st_metadata(f, "format");
        lv_test_true(fmt && strcmp(fmt, LV_CKPT_FORMAT) == 0, "format metadata");
        lv_st_close(f);
    }
    const char *keep = getenv("LV_TEST_CKPT_KEEP");
    if (keep && *keep) {
        char dst[1024];
        snprintf(dst, sizeof dst, "%s/%s", keep, file);
        lv_ckpt_save(&m, &info, dst);
        printf("kept %s\n", dst);
    }
    lv_ckpt_info_free(&info);
    lv_ckpt_info_free(&back);
    lv_vlm_free(&m);
    lv_vlm_free(&m2);
}

/* ---- The corpus: rewrites of the good VLM file with one thing broken each. ---- */

typedef struct mutation {
    const char *what;
    const char *drop_tensor;   /* leave this tensor out */
    const char *shape_tensor;  /* give this tensor a wrong first dimension */
    const char *nan_tensor;    /* poison element 0 */
    const char *scale_tensor;  /* multiply by -1 */
    const char *meta_key;      /* change this metadata key ... */
    const char *meta_value;    /* ... to this value (NULL: drop it) */
    const char *needle;        /* expected in the message (the path is always checked) */
} mutation;

static int write_mutation(const char *src, const char *dst, const mutation *mu) {
    lv_st_file *f = NULL;
    if (lv_st_open(&f, src) != LV_OK) return 0;
    lv_st_writer *w = NULL;
    lv_st_writer_create(&w);
    void *owned[4] = {0};
    int no = 0;
    for (int i = 0; i < lv_st_count(f); i++) {
        const lv_st_tensor *t = lv_st_at(f, i);
        if (mu->drop_tensor && !strcmp(t->name, mu->drop_tensor)) continue;
        int64_t shape[LV_ST_MAX_DIMS];
        memcpy(shape, t->shape, sizeof shape);
        const void *data = lv_st_data(f, t);
        size_t bytes = (size_t)(t->end - t->begin);
        if (mu->shape_tensor && !strcmp(t->name, mu->shape_tensor)) {
            shape[0] -= 1; /* the prefix of the data fits the smaller shape */
        } else if ((mu->nan_tensor && !strcmp(t->name, mu->nan_tensor)) ||
                   (mu->scale_tensor && !strcmp(t->name, mu->scale_tensor))) {
            float *c = malloc(bytes);
            memcpy(c, data, bytes);
            if (mu->nan_tensor) c[0] = NAN;
            else
                for (size_t k = 0; k < bytes / 4; k++) c[k] = -c[k];
            owned[no++] = c;
            data = c;
        }
        lv_st_writer_add(w, t->name, t->dtype, t->ndim, shape, data);
    }
    for (int i = 0; i < lv_st_metadata_count(f); i++) {
        const char *k = lv_st_metadata_key(f, i);
        if (mu->meta_key && !strcmp(k, mu->meta_key)) {
            if (mu->meta_value) lv_st_writer_set_metadata(w, k, mu->meta_value);
        } else {
            lv_st_writer_set_metadata(w, k, lv_st_metadata(f, k));
        }
    }
    int ok = lv_st_writer_save(w, dst) == LV_OK;
    lv_st_writer_free(w);
    for (int i = 0; i < no; i++) free(owned[i]);
    lv_st_close(f);
    return ok;
}

static void expect_refused(lv_backend *be, const char *path, const char *what, const char *needle) {
    lv_vlm m;
    lv_ckpt_info info;
    lv_status s = lv_ckpt_load(path, be, 0, &m, &info);
    const char *msg = lv_error_message();
    if (s == LV_ERR_INPUT && strstr(msg, path) && (!needle || strstr(msg, needle)))
        lv_test_pass("%s -> \"%s\"", what, msg);
    else
        lv_test_fail("%s: status %d, message \"%s\" (wanted \"%s\" and the path)", what, (int)s, msg, needle ? needle : "");
    if (s == LV_OK) {
        lv_vlm_free(&m);
        lv_ckpt_info_free(&info);
    }
}

static void corpus(lv_backend *be, const char *good) {
    static const mutation cases[] = {
        {"missing metadata key", NULL, NULL, NULL, NULL, "vocab", NULL, "\"vocab\" is missing"},
        {"missing format", NULL, NULL, NULL, NULL, "format", NULL, "\"format\" is missing"},
        {"wrong format", NULL, NULL, NULL, NULL, "format", "liver-vlm-checkpoint/9", "expected \"liver-vlm-checkpoint/1\""},
        {"model not JSON", NULL, NULL, NULL, NULL, "model", "{\"head\": vlm}", "\"model\" is not valid JSON"},
        {"classes not an array", NULL, NULL, NULL, NULL, "classes", "{\"a\":1}", "\"classes\": expected a JSON array"},
        {"class name a number", NULL, NULL, NULL, NULL, "classes", "[\"CYST\",2,\"HCC\",\"HEM\",\"METS\"]",
         "\"classes\"[1]: expected a non-empty string, found a number"},
        {"duplicate class", NULL, NULL, NULL, NULL, "classes", "[\"CYST\",\"CYST\",\"HCC\",\"HEM\",\"METS\"]", "appears twice"},
        {"class count vs model", NULL, NULL, NULL, NULL, "classes", "[\"CYST\",\"FNH\",\"HCC\",\"HEM\"]",
         "\"classes\" lists 4"},
        {"head of wrong type", NULL, NULL, NULL, NULL, "model",
         "{\"head\":1,\"dim\":16,\"phases\":3,\"classes\":5,\"train_text\":true,\"text_max_len\":24,"
         "\"logit_scale_init\":2.6,\"input_size\":32}", "\"head\": expected \"vlm\" or \"linear\""},
        {"model key missing", NULL, NULL, NULL, NULL, "model",
         "{\"head\":\"vlm\",\"phases\":3,\"classes\":5,\"train_text\":true,\"text_max_len\":24,"
         "\"logit_scale_init\":2.6,\"input_size\":32}", "key \"dim\" is missing"},
        {"train_text a string", NULL, NULL, NULL, NULL, "model",
         "{\"head\":\"vlm\",\"dim\":16,\"phases\":3,\"classes\":5,\"train_text\":\"yes\",\"text_max_len\":24,"
         "\"logit_scale_init\":2.6,\"input_size\":32}", "\"train_text\": expected true or false"},
        {"input_size not a number", NULL, NULL, NULL, NULL, "input_size", "32px", "\"input_size\": expected an integer"},
        {"preprocessing unknown key", NULL, NULL, NULL, NULL, "preprocessing", "{\"scaling\":\"window\",\"gamma\":2}",
         "unknown key \"gamma\""},
        {"preprocessing stats per phase", NULL, NULL, NULL, NULL, "preprocessing",
         "{\"scaling\":\"window\",\"mean\":[0.5,0.5],\"std\":[0.25,0.25]}", "2 mean/std values for 3 phases"},
        {"text_config wrong type", NULL, NULL, NULL, NULL, "text_config",
         "{\"vocab_size\":\"many\",\"hidden_size\":32}", "\"vocab_size\" must be an integer"},
        {"text_config without pooling", NULL, NULL, NULL, NULL, "text_config",
         "{\"vocab_size\":2000,\"hidden_size\":32,\"num_hidden_layers\":1,\"num_attention_heads\":2,"
         "\"intermediate_size\":48,\"max_position_embeddings\":32,\"dim\":16}", "\"pooling\": expected"},
        {"tokenizer option of wrong type", NULL, NULL, NULL, NULL, "tokenizer", "{\"do_lower_case\":\"yes\"}", "do_lower_case"},
        {"vocab without [CLS]", NULL, NULL, NULL, NULL, "vocab", "[PAD]\n[UNK]\n[SEP]\nliver\n", "[CLS]"},
        {"prompts missing a class", NULL, NULL, NULL, NULL, "prompts", "CYST\ta cyst\nFNH\tan fnh\n", "HCC"},
        {"training not an object", NULL, NULL, NULL, NULL, "training", "[1,2]", "\"training\": expected a JSON object"},
        {"missing tensor", "text.proj.weight", NULL, NULL, NULL, NULL, NULL, "'text.proj.weight' is missing"},
        {"missing BN statistics", "visual.layer3.0.bn1.running_var", NULL, NULL, NULL, NULL, NULL,
         "visual.layer3.0.bn1.running_var"},
        {"missing class embeddings", "class_embeddings", NULL, NULL, NULL, NULL, NULL, "'class_embeddings' is missing"},
        {"wrong conv shape", NULL, "visual.conv1.weight", NULL, NULL, NULL, NULL, "visual.conv1.weight"},
        {"class embeddings shape", NULL, "class_embeddings", NULL, NULL, NULL, NULL, "class_embeddings"},
        {"non-finite weight", NULL, NULL, "visual.layer1.0.conv2.weight", NULL, NULL, NULL, "non-finite"},
        {"stale class embeddings", NULL, NULL, NULL, "class_embeddings", NULL, NULL, "disagrees"},
    };
    char path[512];
    tmp_path(path, sizeof path, "bad.safetensors");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (!lv_test_true(write_mutation(good, path, &cases[i]), "mutated checkpoint written")) continue;
        expect_refused(be, path, cases[i].what, cases[i].needle);
    }
    /* A truncated file (a copy interrupted half way). */
    FILE *in = fopen(good, "rb"), *out = fopen(path, "wb");
    if (in && out) {
        fseek(in, 0, SEEK_END);
        long n = ftell(in);
        fseek(in, 0, SEEK_SET);
        char *buf = malloc((size_t)n);
        if (buf && fread(buf, 1, (size_t)n, in) == (size_t)n) fwrite(buf, 1, (size_t)n / 2, out);
        free(buf);
    }
    if (in) fclose(in);
    if (out) fclose(out);
    expect_refused(be, path, "truncated checkpoint", NULL);
    unlink(path);
    tmp_path(path, sizeof path, "absent.safetensors");
    expect_refused(be, path, "absent checkpoint", "cannot open");
}

int main(void) {
    if (!lv_test_true(mkdtemp(tmpdir) != NULL, "temporary folder")) return lv_test_summary();
    lv_backend *be = lv_test_cpu_backend();
    round_trip(be, LV_HEAD_VLM, "vlm.safetensors");
    round_trip(be, LV_HEAD_LINEAR, "linear.safetensors");
    char good[512];
    tmp_path(good, sizeof good, "vlm.safetensors");
    corpus(be, good);
    /* Saving with info that does not match the model is the caller's bug, not bad input. */
    lv_vlm m;
    lv_ckpt_info info;
    if (lv_ckpt_load(good, be, 0, &m, &info) == LV_OK) {
        info.classes = 4;
        lv_test_true(lv_ckpt_save(&m, &info, good) == LV_ERR_RUNTIME, "save refuses info that does not match the model");
        info.classes = C;
        lv_ckpt_info_free(&info);
        lv_vlm_free(&m);
    }
    unlink(good);
    tmp_path(good, sizeof good, "linear.safetensors");
    unlink(good);
    lv_test_true(rmdir(tmpdir) == 0, "temporary folder removed");
    lv_backend_destroy(be);
    return lv_test_summary();
}
