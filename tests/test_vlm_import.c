/* Pretrained-weight imports (encoders/liver_vlm_io.h): a synthetic torchvision-style
 * resnet18 safetensors (written here; same names and shapes as torchvision's state dict,
 * random values) loads exactly for P = 3, with conv1 adapted for P = 4 (cyclic repeat x 3/4)
 * and P = 1 (sum over RGB), with or without "visual."; bad files are refused naming file and
 * tensor. The HF BERT folder import goes through tests/fixtures/bert.safetensors.
 * LV_TEST_SANITIZE */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/rng.h"
#include "encoders/liver_vlm_io.h"
#include "harness.h"

static char tmpdir[] = "/tmp/lv_test_vlm_import_XXXXXX";
static const char *const classes[5] = {"CYST", "FNH", "HCC", "HEM", "METS"};

/* The "torchvision" tensors: every resnet18 tensor of a P=3 model (proj excluded), fc.*,
 * num_batches_tracked; values are a function of (tensor index, element). */
typedef struct tv_file {
    lv_resnet18 r;
    float *params, *state;
    float fc_w[10 * 512], fc_b[10];
    int64_t counter;
} tv_file;

static void tv_make(tv_file *t) {
    memset(t, 0, sizeof *t);
    lv_resnet18_build(&t->r, 3, 0);
    t->params = malloc(t->r.params.total * sizeof(float));
    t->state = malloc(t->r.state.total * sizeof(float));
    lv_test_fill_uniform(t->params, t->r.params.total, 101, -1.0f, 1.0f);
    lv_test_fill_uniform(t->state, t->r.state.total, 102, 0.1f, 2.0f);
    lv_test_fill_uniform(t->fc_w, 10 * 512, 103, -1.0f, 1.0f);
    lv_test_fill_uniform(t->fc_b, 10, 104, -1.0f, 1.0f);
    t->counter = 1234;
}

static void tv_free(tv_file *t) {
    free(t->params);
    free(t->state);
    lv_resnet18_free(&t->r);
}

typedef struct tv_variant {
    const char *prefix;       /* "" or "visual." */
    const char *drop;         /* unprefixed name left out */
    const char *shrink;       /* unprefixed name whose dim 1 is halved */
    const char *extra;        /* an extra unprefixed tensor (copy of bn1.bias) */
    int conv1_k5;             /* conv1 with a 5x5 kernel */
} tv_variant;

static int tv_write(const tv_file *t, const char *path, const tv_variant *v) {
    lv_st_writer *w = NULL;
    if (lv_st_writer_create(&w) != LV_OK) return 0;
    char name[256];
    for (int pass = 0; pass < 2; pass++) {
        const lv_param_layout *l = pass ? &t->r.state : &t->r.params;
        const float *h = pass ? t->state : t->params;
        for (int i = 0; i < l->count; i++) {
            const lv_param_spec *p = &l->specs[i];
            if (v->drop && !strcmp(p->name, v->drop)) continue;
            int64_t shape[4];
            memcpy(shape, p->shape, sizeof shape);
            if (v->shrink && !strcmp(p->name, v->shrink)) shape[1] /= 2;
            if (v->conv1_k5 && !strcmp(p->name, "conv1.weight")) shape[2] = shape[3] = 5;
            snprintf(name, sizeof name, "%s%s", v->prefix, p->name);
            lv_st_writer_add(w, name, LV_DT_F32, p->ndim, shape, h + p->offset);
            size_t n = strlen(p->name);
            if (pass && n > 13 && !strcmp(p->name + n - 13, ".running_mean")) {
                snprintf(name, sizeof name, "%s%.*s.num_batches_tracked", v->prefix, (int)(n - 13), p->name);
                lv_st_writer_add(w, name, LV_DT_I64, 0, NULL, &t->counter);
            }
        }
    }
    int64_t fw[2] = {10, 512}, fb[1] = {10};
    snprintf(name, sizeof name, "%sfc.weight", v->prefix);
    lv_st_writer_add(w, name, LV_DT_F32, 2, fw, t->fc_w);
    snprintf(name, sizeof name, "%sfc.bias", v->prefix);
    lv_st_writer_add(w, name, LV_DT_F32, 1, fb, t->fc_b);
    if (v->extra) {
        snprintf(name, sizeof name, "%s%s", v->prefix, v->extra);
        lv_st_writer_add(w, name, LV_DT_F32, 1, fb, t->fc_b);
    }
    if (v->prefix[0]) lv_st_writer_add(w, "text.other.weight", LV_DT_F32, 1, fb, t->fc_b); /* a checkpoint's rest */
    int ok = lv_st_writer_save(w, path) == LV_OK;
    lv_st_writer_free(w);
    return ok;
}

static int make_model(lv_vlm *m, lv_backend *be, int P, lv_head_kind head) {
    lv_wordpiece *tok = NULL;
    lv_prompt_set prompts;
    lv_wordpiece_builtin(&tok);
    lv_prompts_default(&prompts);
    lv_vlm_config cfg;
    lv_vlm_config_default(&cfg, P, 5, (int)lv_wordpiece_vocab_size(tok));
    cfg.head = head;
    cfg.dim = 8;
    cfg.text.hidden = 16, cfg.text.layers = 1, cfg.text.heads = 2, cfg.text.intermediate = 16;
    lv_status s = lv_vlm_create(m, be, &cfg, classes, head == LV_HEAD_VLM ? tok : NULL,
                                head == LV_HEAD_VLM ? &prompts : NULL, 0, 9);
    if (head != LV_HEAD_VLM) lv_wordpiece_free(tok);
    lv_prompts_free(&prompts);
    if (s != LV_OK) printf("  %s\n", lv_error_message());
    return lv_test_true(s == LV_OK, "model builds");
}

static float *download(lv_backend *be, const float *dev, size_t n) {
    float *h = malloc((n ? n : 1) * sizeof *h);
    be->copy_d2h(be, h, dev, n * sizeof *h);
    be->sync(be);
    return h;
}

/* Loads `path` into a fresh P-phase model and compares every tensor with what it must be. */
static void check_import(lv_backend *be, const tv_file *t, const char *path, int P, lv_head_kind head, const char *tag) {
    lv_vlm m;
    if (!make_model(&m, be, P, head)) return;
    const lv_resnet18 *r = &m.visual;
    float *before = download(be, m.vbuf.params, r->params.total);
    lv_status s = lv_vlm_load_visual_torchvision(&m, path);
    if (!lv_test_true(s == LV_OK, tag)) {
        printf("  %s\n", lv_error_message());
        free(before);
        lv_vlm_free(&m);
        return;
    }
    float *got = download(be, m.vbuf.params, r->params.total);
    float *gst = download(be, m.vstate, r->state.total);
    int exact = 1, conv1_ok = 1, proj_kept = 1;
    for (int i = 0; i < r->params.count; i++) {
        const lv_param_spec *p = &r->params.specs[i];
        const float *g = got + p->offset;
        if (!strncmp(p->name, "proj.", 5)) {
            proj_kept &= memcmp(g, before + p->offset, p->numel * sizeof(float)) == 0;
            continue;
        }
        const lv_param_spec *q = lv_layout_find(&t->r.params, p->name);
        const float *w = t->params + q->offset;
        if (strcmp(p->name, "conv1.weight") != 0 || P == 3) {
            exact &= memcmp(g, w, p->numel * sizeof(float)) == 0;
            continue;
        }
        for (int o = 0; o < 64; o++)
            for (int c = 0; c < P; c++)
                for (int k = 0; k < 49; k++) {
                    const float *src = w + (size_t)o * 3 * 49;
                    float want = P == 1 ? src[k] + src[49 + k] + src[98 + k] : src[(c % 3) * 49 + k] * (3.0f / (float)P);
                    conv1_ok &= g[((size_t)o * P + c) * 49 + k] == want;
                }
    }
    exact &= memcmp(gst, t->state, r->state.total * sizeof(float)) == 0;
    char what[256];
    snprintf(what, sizeof what, "%s: every tensor but conv1 exactly as in the file, BN statistics included", tag);
    lv_test_true(exact, what);
    if (P != 3) {
        snprintf(what, sizeof what, "%s: conv1 adapted to %d phases (%s)", tag, P,
                 P == 1 ? "sum over RGB" : "RGB repeated cyclically, scaled by 3/P");
        lv_test_true(conv1_ok, what);
    }
    if (head == LV_HEAD_VLM) {
        snprintf(what, sizeof what, "%s: the projection keeps its weights", tag);
        lv_test_true(proj_kept, what);
    }
    free(before), free(got), free(gst);
    lv_vlm_free(&m);
}

static void expect_error(lv_status s, lv_status want, const char *what, const char *n1, const char *n2) {
    const char *msg = lv_error_message();
    if (s == want && strstr(msg, n1) && (!n2 || strstr(msg, n2))) lv_test_pass("%s -> \"%s\"", what, msg);
    else lv_test_fail("%s: status %d, message \"%s\" (wanted \"%s\"%s%s)", what, (int)s, msg, n1, n2 ? " and " : "",
                      n2 ? n2 : "");
}

static void torchvision_import(lv_backend *be) {
    tv_file t;
    tv_make(&t);
    char path[512];
    snprintf(path, sizeof path, "%s/resnet18.safetensors", tmpdir);
    tv_variant plain = {"", NULL, NULL, NULL, 0}, pre = {"visual.", NULL, NULL, NULL, 0};
    if (lv_test_true(tv_write(&t, path, &plain), "torchvision-style file written")) {
        check_import(be, &t, path, 3, LV_HEAD_VLM, "P=3");
        check_import(be, &t, path, 4, LV_HEAD_LINEAR, "P=4");
        check_import(be, &t, path, 1, LV_HEAD_VLM, "P=1");
    }
    if (lv_test_true(tv_write(&t, path, &pre), "prefixed file written"))
        check_import(be, &t, path, 3, LV_HEAD_LINEAR, "visual.-prefixed names");
    lv_vlm m;
    if (make_model(&m, be, 3, LV_HEAD_LINEAR)) {
        tv_variant v1 = {"", "layer2.1.bn2.running_var", NULL, NULL, 0};
        tv_write(&t, path, &v1);
        expect_error(lv_vlm_load_visual_torchvision(&m, path), LV_ERR_INPUT, "missing BN statistics",
                     "missing tensor \"layer2.1.bn2.running_var\"", path);
        tv_variant v2 = {"visual.", "layer3.0.downsample.0.weight", NULL, NULL, 0};
        tv_write(&t, path, &v2);
        expect_error(lv_vlm_load_visual_torchvision(&m, path), LV_ERR_INPUT, "missing prefixed conv",
                     "missing tensor \"visual.layer3.0.downsample.0.weight\"", path);
        tv_variant v3 = {"", NULL, "layer1.0.conv1.weight", NULL, 0};
        tv_write(&t, path, &v3);
        expect_error(lv_vlm_load_visual_torchvision(&m, path), LV_ERR_INPUT, "mis-shaped conv",
                     "layer1.0.conv1.weight", "expected shape [64,64,3,3]");
        tv_variant v4 = {"", NULL, NULL, "layer5.0.bn1.bias", 0};
        tv_write(&t, path, &v4);
        expect_error(lv_vlm_load_visual_torchvision(&m, path), LV_ERR_INPUT, "resnet34-like extra tensor",
                     "unexpected tensor \"layer5.0.bn1.bias\"", path);
        tv_variant v5 = {"", NULL, NULL, NULL, 1};
        tv_write(&t, path, &v5);
        expect_error(lv_vlm_load_visual_torchvision(&m, path), LV_ERR_INPUT, "conv1 with a 5x5 kernel",
                     "conv1.weight", "expected shape [64,3,7,7], found [64,3,5,5]");
        lv_vlm m4;
        if (make_model(&m4, be, 4, LV_HEAD_LINEAR)) {
            expect_error(lv_vlm_load_visual_torchvision(&m4, path), LV_ERR_INPUT, "conv1 5x5 into 4 phases",
                         "conv1.weight", "[64,Pf,7,7]");
            lv_vlm_free(&m4);
        }
        unlink(path);
        expect_error(lv_vlm_load_visual_torchvision(&m, path), LV_ERR_INPUT, "absent file", path, "cannot open");
        lv_vlm_free(&m);
    }
    tv_free(&t);
}

/* ---- HF text import ---- */

static int write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    fputs(text, f);
    return fclose(f) == 0;
}

/* A VLM model whose text encoder has the fixture's architecture (vocab 100, H 32, 2 layers);
 * the tokenizer is 100 made-up tokens with BERT's specials first. */
static int make_text_model(lv_vlm *m, lv_backend *be, const lv_bert_config *tc) {
    char *tokens[100];
    const char *specials[5] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
    char buf[100][16];
    for (int i = 0; i < 100; i++) {
        if (i < 5) snprintf(buf[i], sizeof buf[i], "%s", specials[i]);
        else snprintf(buf[i], sizeof buf[i], "w%d", i);
        tokens[i] = buf[i];
    }
    lv_wordpiece *tok = NULL;
    lv_prompt_set prompts;
    if (lv_wordpiece_from_tokens(&tok, (const char *const *)tokens, 100, NULL, "test vocab") != LV_OK) return 0;
    lv_prompts_default(&prompts);
    lv_vlm_config cfg;
    lv_vlm_config_default(&cfg, 3, 5, 100);
    cfg.dim = 8;
    cfg.text = *tc;
    cfg.text_max_len = 16;
    lv_status s = lv_vlm_create(m, be, &cfg, classes, tok, &prompts, 0, 4);
    lv_prompts_free(&prompts);
    if (s != LV_OK) printf("  %s\n", lv_error_message());
    return lv_test_true(s == LV_OK, "VLM model with the fixture's text architecture builds");
}

static void text_import(lv_backend *be) {
    lv_st_file *fx = lv_test_fixture_open("bert");
    if (!fx) return;
    char dir[600], p[700], src[700];
    snprintf(dir, sizeof dir, "%s/hf", tmpdir);
    lv_bert_config tc;
    if (!lv_test_true(mkdir(dir, 0700) == 0, "HF folder") ||
        !lv_test_true(lv_bert_config_parse(&tc, lv_st_metadata(fx, "config_json"), "fixture") == LV_OK, "fixture config")) {
        lv_st_close(fx);
        return;
    }
    snprintf(p, sizeof p, "%s/config.json", dir);
    write_text(p, lv_st_metadata(fx, "config_json"));
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    snprintf(src, sizeof src, "%s/bert.safetensors", LV_FIXTURE_DIR);
    lv_test_true(symlink(src, p) == 0, "fixture linked as model.safetensors");
    tc.pooling = LV_BERT_POOL_CLS;
    lv_vlm m;
    if (make_text_model(&m, be, &tc)) {
        float ce0[5 * 8], ce1[5 * 8];
        lv_vlm_class_embeddings(&m, ce0);
        float *before = download(be, m.tbuf.params, m.text.params.total);
        lv_status s = lv_vlm_load_text_hf(&m, dir);
        if (!lv_test_true(s == LV_OK, "HF folder loads into the model")) printf("  %s\n", lv_error_message());
        lv_test_true(m.text_cached == 0, "cached class embeddings marked stale");
        float *got = download(be, m.tbuf.params, m.text.params.total);
        int exact = 1, proj_kept = 1;
        for (int i = 0; i < m.text.params.count; i++) {
            const lv_param_spec *sp = &m.text.params.specs[i];
            if (!strcmp(sp->name, "proj.weight")) {
                proj_kept = memcmp(got + sp->offset, before + sp->offset, sp->numel * sizeof(float)) == 0;
                continue;
            }
            float *want = malloc(sp->numel * sizeof *want);
            exact &= lv_st_read_f32(fx, sp->name, want, sp->ndim, sp->shape) == LV_OK &&
                     memcmp(want, got + sp->offset, sp->numel * sizeof(float)) == 0;
            free(want);
        }
        lv_test_true(exact, "every BERT tensor equals the HF file's");
        lv_test_true(proj_kept, "text.proj keeps its weights");
        lv_vlm_class_embeddings(&m, ce1);
        lv_test_true(memcmp(ce0, ce1, sizeof ce0) != 0, "class embeddings recomputed from the new weights");
        free(before), free(got);
        lv_vlm_free(&m);
    }
    lv_bert_config other = tc;
    other.ln_eps = 1e-5f;
    if (make_text_model(&m, be, &other)) {
        expect_error(lv_vlm_load_text_hf(&m, dir), LV_ERR_INPUT, "built with another layer_norm_eps", "layer_norm_eps",
                     "config.json");
        lv_vlm_free(&m);
    }
    other = tc;
    other.intermediate = 48;
    if (make_text_model(&m, be, &other)) {
        expect_error(lv_vlm_load_text_hf(&m, dir), LV_ERR_INPUT, "built with another intermediate size",
                     "intermediate_size = 64", "built with 48");
        lv_vlm_free(&m);
    }
    if (make_model(&m, be, 3, LV_HEAD_LINEAR)) {
        expect_error(lv_vlm_load_text_hf(&m, dir), LV_ERR_USAGE, "linear head", "no text encoder", NULL);
        lv_vlm_free(&m);
    }
    unlink(p);
    snprintf(p, sizeof p, "%s/config.json", dir);
    unlink(p);
    rmdir(dir);
    lv_st_close(fx);
}

int main(void) {
    if (!lv_test_true(mkdtemp(tmpdir) != NULL, "temporary folder")) return lv_test_summary();
    lv_backend *be = lv_test_cpu_backend();
    torchvision_import(be);
    text_import(be);
    lv_test_true(rmdir(tmpdir) == 0, "temporary folder removed");
    lv_backend_destroy(be);
    return lv_test_summary();
}
