/* --objective clip: the contrastive step's loss and gradients on a tiny model against
 * central differences (frozen and trained text encoder: logit scale, both projections, a
 * text layer; the ResNet's first conv gets one; a frozen encoder's other tensors none); on an
 * in-memory phantom the validation contrastive loss falls and image->report retrieval rises
 * above chance; 2 epochs straight == 1 epoch + --resume bit for bit, and --device-data on ==
 * off; the clip run's model.safetensors starts a classification run through --init-image;
 * data without /reports, an empty report and --head linear are refused by name. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "core/safetensors.h"
#include "data/phantom.h"
#include "encoders/liver_vlm_clip.h"
#include "encoders/liver_vlm_io.h"
#include "harness.h"
#include "train/config.h"
#include "train/trainer.h"

enum { P = 3, C = 5, S = 32, B = 4 };

static char tmpdir[256];

/* ---- gradients ---------------------------------------------------------------------- */

typedef struct fd_ctx {
    lv_vlm_clip *clip;
    const float *x;
} fd_ctx;

static double step_loss(void *p) {
    fd_ctx *c = p;
    lv_vlm_zero_grads(c->clip->m);
    lv_vlm_clip_train_step(c->clip, c->x, B);
    return (double)c->clip->m->loss[0];
}

static const lv_param_spec *find(const lv_param_layout *l, const char *name) {
    const lv_param_spec *s = lv_layout_find(l, name);
    if (!s) lv_test_fail("no tensor %s", name);
    return s;
}

/* Analytic gradient of one tensor (a copy: the finite differences rerun the step). */
static void check_tensor(fd_ctx *ctx, lv_param_buffers *buf, const lv_param_layout *l, const char *name,
                         const char *what, float eps, int checks) {
    const lv_param_spec *sp = find(l, name);
    if (!sp) return;
    step_loss(ctx);
    float *an = malloc(sp->numel * sizeof *an);
    memcpy(an, buf->grads + sp->offset, sp->numel * sizeof *an);
    double maxabs = 0;
    for (size_t i = 0; i < sp->numel; i++) maxabs = fmax(maxabs, fabs(an[i]));
    lv_test_true(maxabs > 0, "the tensor gets a nonzero gradient");
    lv_test_gradcheck(what, buf->params + sp->offset, an, sp->numel, step_loss, ctx, eps, 3e-2, checks);
    free(an);
}

static const char *const reports[B] = {
    "A 20 mm lesion with intense homogeneous arterial enhancement and a central scar.",
    "Well-circumscribed fluid attenuation lesion with no enhancement on any phase.",
    "Arterial hyperenhancement with washout on the portal venous phase and an enhancing capsule.",
    "Peripheral nodular discontinuous enhancement with centripetal fill-in."};

static void test_gradients(int train_text) {
    lv_backend *be = lv_test_cpu_backend();
    const char *classes[C] = {"CYST", "FNH", "HCC", "HEM", "METS"};
    lv_wordpiece *tok = NULL;
    lv_prompt_set prompts;
    lv_wordpiece_builtin(&tok);
    lv_prompts_default(&prompts);
    lv_vlm_config cfg;
    lv_vlm_config_default(&cfg, P, C, (int)lv_wordpiece_vocab_size(tok));
    cfg.dim = 16;
    cfg.train_text = train_text;
    cfg.logit_scale_init = logf(5.0f); /* a moderate scale keeps every pair's term alive */
    lv_vlm m;
    lv_status s = lv_vlm_create(&m, be, &cfg, classes, tok, &prompts, 1, 11);
    lv_prompts_free(&prompts);
    lv_vlm_clip clip;
    memset(&clip, 0, sizeof clip);
    if (s == LV_OK) s = lv_vlm_prepare(&m, B, S);
    if (s == LV_OK) s = lv_vlm_clip_init(&clip, &m, B, 24);
    if (s == LV_OK) s = lv_vlm_clip_set_reports(&clip, reports, B);
    if (!lv_test_true(s == LV_OK, "tiny model with report buffers")) {
        lv_test_fail("%s", lv_error_message());
        return;
    }
    float *x = malloc(sizeof(float) * B * P * S * S);
    lv_test_fill_uniform(x, (size_t)B * P * S * S, 3, -1.0f, 1.0f);
    fd_ctx ctx = {&clip, x};
    double l0 = step_loss(&ctx);
    lv_test_true(be->sync(be) == LV_OK && isfinite(l0) && l0 > 0, "the step gives a finite positive loss");
    printf("train_text=%d: loss %.6f (ln B = %.6f)\n", train_text, l0, log((double)B));
    char what[96];
    snprintf(what, sizeof what, "logit_scale (text %s)", train_text ? "trained" : "frozen");
    check_tensor(&ctx, &m.hbuf, &m.head, "logit_scale", what, 1e-2f, 1);
    snprintf(what, sizeof what, "text.proj.weight (text %s)", train_text ? "trained" : "frozen");
    check_tensor(&ctx, &m.tbuf, &m.text.params, "proj.weight", what, 1e-2f, 24);
    check_tensor(&ctx, &m.vbuf, &m.visual.params, "proj.weight", "visual.proj.weight", 1e-2f, 24);
    /* Deeper in the ResNet, ReLU and max-pool kinks make central differences unreliable
     * at any step (test_resnet18 checks its backward against PyTorch); visual.proj above
     * proves the gradient entering it, here only that it arrives. */
    step_loss(&ctx);
    const lv_param_spec *c1 = find(&m.visual.params, "conv1.weight");
    double g2 = 0;
    for (size_t i = 0; c1 && i < c1->numel; i++) g2 += (double)m.vbuf.grads[c1->offset + i] * m.vbuf.grads[c1->offset + i];
    lv_test_true(isfinite(g2) && g2 > 0, "visual.conv1.weight gets a finite nonzero gradient");
    if (train_text) {
        check_tensor(&ctx, &m.tbuf, &m.text.params, "encoder.layer.1.output.dense.weight",
                     "text.encoder.layer.1.output.dense.weight", 3e-2f, 16);
        check_tensor(&ctx, &m.tbuf, &m.text.params, "embeddings.LayerNorm.weight", "text.embeddings.LayerNorm.weight",
                     1e-2f, 16);
    } else {
        step_loss(&ctx);
        const lv_param_spec *pw = find(&m.text.params, "proj.weight");
        size_t nonzero = 0;
        for (size_t i = 0; i < m.text.params.total; i++)
            if (pw && (i < pw->offset || i >= pw->offset + pw->numel)) nonzero += m.tbuf.grads[i] != 0.0f;
        lv_test_true(nonzero == 0, "frozen text encoder: no gradient outside text.proj.weight");
    }
    /* A blank report has nothing to contrast. */
    const char *blank[B] = {reports[0], "  \t ", reports[2], reports[3]};
    s = lv_vlm_clip_set_reports(&clip, blank, B);
    lv_test_true(s == LV_ERR_INPUT && strstr(lv_error_message(), "report 1"), "a blank report is an input error");
    free(x);
    lv_vlm_clip_free(&clip);
    lv_vlm_free(&m);
    lv_backend_destroy(be);
}

/* ---- trainer ------------------------------------------------------------------------ */

static void set_str(char **dst, const char *v) {
    free(*dst);
    *dst = v ? strdup(v) : NULL;
}

static void clip_config(lv_train_config *c, const char *out, int epochs) {
    lv_train_config_default(c);
    set_str(&c->data, "phantom");
    char p[512];
    snprintf(p, sizeof p, "%s/%s", tmpdir, out);
    set_str(&c->out, p);
    c->objective = LV_TRAIN_OBJECTIVE_CLIP;
    c->epochs = epochs;
    c->batch = 8;
    c->lr = 1e-3;
    c->dim = 32;
    c->threads = 2;
}

static lv_train_env quiet_env(void) {
    lv_train_env e;
    lv_train_env_default(&e);
    e.quiet = 1;
    return e;
}

/* val_loss and val_accuracy of each epoch line of DIR/log.jsonl; returns the count. */
static int read_epochs(const char *dir, double *loss, double *acc, int cap) {
    char p[600], line[4096];
    snprintf(p, sizeof p, "%s/log.jsonl", dir);
    FILE *f = fopen(p, "r");
    int n = 0;
    while (f && n < cap && fgets(line, sizeof line, f)) {
        if (!strstr(line, "\"type\":\"epoch\"")) continue;
        const char *a = strstr(line, "\"val_loss\":"), *b = strstr(line, "\"val_accuracy\":");
        if (!a || !b) continue;
        loss[n] = strtod(a + 11, NULL);
        acc[n] = strtod(b + 15, NULL);
        n++;
    }
    if (f) fclose(f);
    return n;
}

static void test_learns(const lv_dataset *ds) {
    lv_train_config c;
    clip_config(&c, "learn", 8);
    lv_train_env e = quiet_env();
    lv_train_result r;
    lv_status s = lv_train_run(&c, ds, NULL, &e, &r);
    if (!lv_test_true(s == LV_OK, "clip trains 8 epochs on the phantom")) {
        lv_test_fail("%s", lv_error_message());
        lv_train_config_free(&c);
        return;
    }
    double vl[16], va[16];
    int n = read_epochs(c.out, vl, va, 16);
    /* Chance: one right report among each validation batch's pairs (batches of 8 in order,
     * the last one shorter). */
    int64_t batches = (r.n_val + c.batch - 1) / c.batch; /* each: b samples of chance 1/b */
    double chance = (double)batches / (double)r.n_val;
    double best = 0;
    for (int i = 0; i < n; i++) best = fmax(best, va[i]);
    printf("clip on the phantom (%lld train, %lld val): val loss", (long long)r.n_train, (long long)r.n_val);
    for (int i = 0; i < n; i++) printf(" %.3f", vl[i]);
    printf("\n  retrieval top-1");
    for (int i = 0; i < n; i++) printf(" %.3f", va[i]);
    printf(" (chance %.3f), train loss %.3f -> %.3f\n", chance, r.train_loss[0], r.train_loss[n - 1]);
    lv_test_true(n == 8, "log.jsonl has 8 epoch lines");
    lv_test_true(r.train_loss[n - 1] < r.train_loss[0], "training contrastive loss falls");
    lv_test_true(vl[n - 1] < vl[0] - 0.2 && vl[n - 1] < log((double)c.batch),
                 "validation contrastive loss falls by > 0.2, below ln B");
    lv_test_true(best >= 2.0 * chance && va[n - 1] >= 1.5 * chance,
                 "retrieval accuracy rises to >= 2x chance (and ends >= 1.5x)");
    lv_test_true(fabs(r.best_auc - best) < 1e-6, "best.safetensors follows the highest retrieval accuracy");

    /* The clip run's image encoder starts a classification run (--init-image). */
    char ck[600];
    snprintf(ck, sizeof ck, "%s/model.safetensors", c.out);
    lv_train_config k;
    lv_train_config_default(&k);
    set_str(&k.data, "phantom");
    char p[512];
    snprintf(p, sizeof p, "%s/finetune", tmpdir);
    set_str(&k.out, p);
    set_str(&k.init_image, ck);
    k.epochs = 1;
    k.batch = 8;
    k.dim = 32;
    k.threads = 2;
    lv_train_result rk;
    s = lv_train_run(&k, ds, NULL, &e, &rk);
    if (!lv_test_true(s == LV_OK && isfinite(rk.train_loss[0]), "--init-image RUN/model.safetensors of a clip run "
                                                                   "starts classification"))
        lv_test_fail("%s", lv_error_message());
    /* And what it loads is the clip run's ResNet. */
    lv_backend *be = lv_test_cpu_backend();
    lv_vlm m;
    lv_st_file *f = NULL;
    lv_wordpiece *tok = NULL;
    lv_prompt_set prompts;
    lv_wordpiece_builtin(&tok);
    lv_prompts_default(&prompts);
    lv_vlm_config cfg;
    lv_vlm_config_default(&cfg, ds->p, ds->c, (int)lv_wordpiece_vocab_size(tok));
    cfg.dim = 32;
    s = lv_vlm_create(&m, be, &cfg, (const char *const *)ds->classes, tok, &prompts, 0, 99);
    lv_prompts_free(&prompts);
    if (s == LV_OK) s = lv_vlm_load_visual_torchvision(&m, ck);
    if (s == LV_OK) s = lv_st_open(&f, ck);
    if (lv_test_true(s == LV_OK, "load the clip checkpoint's visual.* into a fresh model")) {
        const lv_st_tensor *t = lv_st_find(f, "visual.layer4.1.conv2.weight");
        const lv_param_spec *sp = lv_layout_find(&m.visual.params, "layer4.1.conv2.weight");
        lv_test_true(t && sp && (size_t)(t->end - t->begin) == sp->numel * sizeof(float) &&
                         memcmp(lv_st_data(f, t), m.vbuf.params + sp->offset, sp->numel * sizeof(float)) == 0,
                     "the loaded layer4.1.conv2 is the clip run's, byte for byte");
        lv_test_true(lv_st_find(f, "class_embeddings") && lv_st_find(f, "logit_scale") && lv_st_find(f, "text.proj.weight"),
                     "the clip checkpoint has class_embeddings, logit_scale and text.proj.weight");
    } else {
        lv_test_fail("%s", lv_error_message());
    }
    lv_st_close(f);
    lv_vlm_free(&m);
    lv_backend_destroy(be);
    lv_train_config_free(&k);
    lv_train_config_free(&c);
}

/* With the text encoder trained, so its optimizer state goes through the resume too. */
static void test_resume(const lv_dataset *ds) {
    lv_train_config a, b;
    clip_config(&a, "straight", 2);
    clip_config(&b, "resumed", 2);
    a.train_text = b.train_text = 1;
    lv_train_env e = quiet_env();
    lv_train_result ra, rb;
    lv_status s = lv_train_run(&a, ds, NULL, &e, &ra);
    if (!lv_test_true(s == LV_OK, "clip 2 epochs straight (text encoder trained)")) lv_test_fail("%s", lv_error_message());
    e.stop_after = 1;
    s = lv_train_run(&b, ds, NULL, &e, &rb);
    lv_test_true(s == LV_OK && rb.epochs == 1, "clip: stop after epoch 1");
    e.stop_after = 0;
    e.resume = 1;
    s = lv_train_run(&b, ds, NULL, &e, &rb);
    if (!lv_test_true(s == LV_OK && rb.epochs == 2 && rb.epochs_run == 1, "clip: --resume runs epoch 2"))
        lv_test_fail("%s", lv_error_message());
    char pa[600], pb[600];
    snprintf(pa, sizeof pa, "%s/model.safetensors", a.out);
    snprintf(pb, sizeof pb, "%s/model.safetensors", b.out);
    lv_test_true(lv_test_same_tensors(pa, pb), "clip: 2 epochs straight == 1 epoch + resume, bit-identical weights");
    snprintf(pa, sizeof pa, "%s/state.safetensors", a.out);
    snprintf(pb, sizeof pb, "%s/state.safetensors", b.out);
    lv_test_true(lv_test_same_tensors(pa, pb), "clip: ... and bit-identical optimizer state");
    lv_test_true(ra.best_epoch == rb.best_epoch && ra.best_auc == rb.best_auc, "clip: same best epoch and retrieval");
    lv_train_config_free(&a);
    lv_train_config_free(&b);
}

/* --device-data on (the CPU backend renders batches from its own copy, as CUDA would) keeps
 * the loader's sample indices, so every image meets its own report: same weights. */
static void test_device_data(const lv_dataset *ds) {
    lv_train_config a, b;
    clip_config(&a, "dd_off", 1);
    clip_config(&b, "dd_on", 1);
    a.device_data = LV_TRAIN_DEVICE_DATA_OFF;
    b.device_data = LV_TRAIN_DEVICE_DATA_ON;
    lv_train_env e = quiet_env();
    lv_status s = lv_train_run(&a, ds, NULL, &e, NULL);
    if (s == LV_OK) s = lv_train_run(&b, ds, NULL, &e, NULL);
    if (!lv_test_true(s == LV_OK, "clip with --device-data off and on")) lv_test_fail("%s", lv_error_message());
    char pa[600], pb[600];
    snprintf(pa, sizeof pa, "%s/model.safetensors", a.out);
    snprintf(pb, sizeof pb, "%s/model.safetensors", b.out);
    lv_test_true(lv_test_same_tensors(pa, pb), "clip: --device-data on == off, bit-identical weights after 1 epoch");
    lv_train_config_free(&b);
    /* The staged (pinned, double-buffered) path, forced on the CPU backend, also keeps them. */
    clip_config(&b, "staged", 1);
    b.device_data = LV_TRAIN_DEVICE_DATA_OFF;
    e.pinned = 1;
    s = lv_train_run(&b, ds, NULL, &e, NULL);
    if (!lv_test_true(s == LV_OK, "clip through the staged batch path")) lv_test_fail("%s", lv_error_message());
    snprintf(pb, sizeof pb, "%s/model.safetensors", b.out);
    lv_test_true(lv_test_same_tensors(pa, pb), "clip: staged path == host path, bit-identical weights after 1 epoch");
    lv_train_config_free(&a);
    lv_train_config_free(&b);
}

static void test_bad_input(lv_dataset *ds) {
    lv_train_config c;
    clip_config(&c, "bad", 1);
    lv_train_env e = quiet_env();
    char **saved = ds->reports;
    ds->reports = NULL;
    lv_status s = lv_train_run(&c, ds, NULL, &e, NULL);
    lv_test_true(s == LV_ERR_INPUT && strstr(lv_error_message(), "phantom") && strstr(lv_error_message(), "/reports"),
                 "data without /reports: an input error naming the file and /reports");
    printf("no reports: %s\n", lv_error_message());
    ds->reports = saved;
    char *r7 = ds->reports[7];
    ds->reports[7] = (char *)"";
    e.force = 1;
    s = lv_train_run(&c, ds, NULL, &e, NULL);
    lv_test_true(s == LV_ERR_INPUT && strstr(lv_error_message(), "/reports[7] is empty"),
                 "an empty report: an input error naming the sample");
    printf("empty report: %s\n", lv_error_message());
    ds->reports[7] = r7;
    c.head = 1;
    s = lv_train_run(&c, ds, NULL, &e, NULL);
    lv_test_true(s == LV_ERR_USAGE && strstr(lv_error_message(), "--head linear"), "clip with --head linear: usage error");
    c.head = 0;
    c.batch = 1;
    s = lv_train_run(&c, ds, NULL, &e, NULL);
    lv_test_true(s == LV_ERR_USAGE && strstr(lv_error_message(), "--batch"), "clip with --batch 1: usage error");
    lv_train_config_free(&c);
}

int main(void) {
    lv_log_init(0, 1);
    lv_log_set_level(LV_LOG_WARN);
    test_gradients(0);
    test_gradients(1);
    snprintf(tmpdir, sizeof tmpdir, "/tmp/lv_test_clip_XXXXXX");
    if (!mkdtemp(tmpdir)) return lv_test_skip("cannot make a temporary directory");
    lv_phantom_opts po;
    lv_phantom_opts_default(&po);
    po.per_class = 40;
    po.size = 32;
    po.seed = 7;
    po.slices_per_lesion = 1; /* one report per sample: chance is 1/batch */
    lv_dataset ds;
    lv_dataset_init(&ds);
    if (!lv_test_true(lv_phantom_generate(&ds, &po, NULL) == LV_OK && ds.reports, "phantom with reports"))
        return lv_test_summary();
    test_bad_input(&ds);
    test_learns(&ds);
    test_resume(&ds);
    test_device_data(&ds);
    lv_dataset_free(&ds);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) printf("note: could not remove %s\n", tmpdir);
    return lv_test_summary();
}
