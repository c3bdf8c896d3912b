/* One whole training step of the Liver-VLM model on the CPU and on the device, from the same
 * weights and batch, the way the trainer runs it: loss and logits, the class embeddings of
 * the default prompts (the whole BERT forward), every gradient tensor (with --train-text the
 * whole BERT backward),
 * global-norm clipping, the AdamW update, BN running statistics, then eval probabilities.
 * fp32 (dev->tf32 = 0), 1e-4 relative per tensor. SKIPs without a device; never passes on CPU. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/grad_clip.h"
#include "core/rng.h"
#include "encoders/liver_vlm.h"
#include "harness.h"
#include "train/optim.h"
#include "twin.h"

enum { B = 4, P = 3, S = 32, C = 5 };
#define RTOL 1e-4
#define SEED 5

/* One model with its batch and optimizer plans on one backend. */
typedef struct side {
    lv_backend *be;
    lv_vlm m;
    int built;
    float *x, *probs; /* device [B,P,S,S], [B,C] */
    int *y;           /* device [B] */
    void *scratch;    /* LV_GRAD_CLIP_SCRATCH_BYTES */
    lv_optim_plan plans[3];
    lv_param_buffers *bufs[3];
    const lv_param_layout *layouts[3];
    const char *prefix[3], *part[3]; /* tensor-name prefix, part name for the log */
    int nparts;
} side;

static void make_batch(float *x, int *y) {
    const size_t per = (size_t)P * S * S;
    for (int i = 0; i < B; i++) {
        y[i] = (3 * i + 1) % C;
        for (size_t k = 0; k < per; k++)
            x[(size_t)i * per + k] = 0.3f * (float)y[i] + lv_rng_normal(17, (uint64_t)i, k);
    }
}

static lv_status side_build(side *sd, lv_backend *be, lv_head_kind head, int train_text, const float *hx,
                            const int *hy) {
    memset(sd, 0, sizeof *sd);
    sd->be = be;
    const char *classes[C] = {"CYST", "FNH", "HCC", "HEM", "METS"};
    int vlm = head == LV_HEAD_VLM;
    lv_wordpiece *tok = NULL;
    lv_prompt_set prompts;
    memset(&prompts, 0, sizeof prompts);
    if (vlm) {
        LV_TRY(lv_wordpiece_builtin(&tok));
        lv_status ps = lv_prompts_default(&prompts);
        if (ps != LV_OK) {
            lv_wordpiece_free(tok);
            return ps;
        }
    }
    lv_vlm_config cfg;
    lv_vlm_config_default(&cfg, P, C, tok ? (int)lv_wordpiece_vocab_size(tok) : 1);
    cfg.head = head;
    cfg.train_text = train_text;
    /* The model owns tok from here on, even when create fails. */
    lv_status s = lv_vlm_create(&sd->m, be, &cfg, classes, tok, vlm ? &prompts : NULL, 1, SEED);
    lv_prompts_free(&prompts);
    sd->built = 1;
    LV_TRY(s);
    LV_TRY(lv_vlm_prepare(&sd->m, B, S));
    sd->x = lv_twin_up(be, hx, (size_t)B * P * S * S);
    sd->y = lv_twin_up_int(be, hy, B);
    sd->probs = lv_twin_up(be, NULL, (size_t)B * C);
    sd->scratch = be->alloc(be, LV_GRAD_CLIP_SCRATCH_BYTES);
    if (!sd->x || !sd->y || !sd->probs || !sd->scratch)
        return lv_errorf(LV_ERR_RUNTIME, "%s backend: out of memory for the batch", be->name);
    /* The trainer's parts, in bench_model.c's order. */
    const lv_param_layout *layouts[3] = {&sd->m.visual.params, &sd->m.head, vlm ? &sd->m.text.params : NULL};
    lv_param_buffers *bufs[3] = {&sd->m.vbuf, &sd->m.hbuf, &sd->m.tbuf};
    const char *prefix[3] = {"visual.", "", "text."}, *part[3] = {"visual", "head", "text"};
    for (int i = 0; i < 3 && layouts[i]; i++) {
        LV_TRY(lv_optim_plan_build(&sd->plans[i], layouts[i]));
        sd->layouts[i] = layouts[i];
        sd->bufs[i] = bufs[i];
        sd->prefix[i] = prefix[i];
        sd->part[i] = part[i];
        sd->nparts = i + 1;
    }
    return be->sync(be);
}

static void side_free(side *sd) {
    lv_backend *be = sd->be;
    if (!be) return;
    for (int i = 0; i < sd->nparts; i++) lv_optim_plan_free(&sd->plans[i]);
    void *bufs[] = {sd->x, sd->y, sd->probs, sd->scratch};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        if (bufs[i]) be->free(be, bufs[i]);
    if (sd->built) lv_vlm_free(&sd->m);
    memset(sd, 0, sizeof *sd);
}

/* Host copy of n floats of buffer p on be (NULL after a failure, which is recorded). */
static float *down(lv_backend *be, const float *p, size_t n, const char *what) {
    float *h = malloc((n ? n : 1) * sizeof *h);
    if (!h) {
        lv_test_fail("%s: out of memory", what);
        return NULL;
    }
    if (n) be->copy_d2h(be, h, p, n * sizeof *h);
    if (lv_twin_sync(be, what)) {
        free(h);
        return NULL;
    }
    return h;
}

/* Compares every tensor of `layout` in the two copies of one flat buffer (cpu's is the
 * reference), each against its own largest magnitude: a failure per tensor that is off, one
 * summary line with the worst tensor. A tensor that is all zero on the CPU (frozen
 * gradients) must be exactly zero on the device too. A tensor whose values are rounding
 * noise next to the rest of the buffer (the attention key bias: softmax ignores a shift of
 * every score by the same amount, so its gradient is zero in exact arithmetic) is measured
 * against a floor of 1e-6 of the buffer's largest magnitude, not against its own noise. */
static void compare_tensors(const char *label, const char *prefix, const lv_param_layout *layout, side *cpu,
                            const float *cbuf, side *dev, const float *dbuf, double rtol) {
    float *want = down(cpu->be, cbuf, layout->total, label);
    float *got = want ? down(dev->be, dbuf, layout->total, label) : NULL;
    if (!want || !got) {
        free(want);
        return;
    }
    double worst = 0, buffer_max = 0;
    int worst_i = -1, bad = 0;
    for (size_t k = 0; k < layout->total; k++)
        if (fabs(want[k]) > buffer_max) buffer_max = fabs(want[k]);
    for (int t = 0; t < layout->count; t++) {
        const lv_param_spec *sp = &layout->specs[t];
        double maxref = 0, maxerr = 0;
        size_t at = 0;
        int nonfinite = 0;
        for (size_t k = 0; k < sp->numel; k++) {
            double w = want[sp->offset + k], g = got[sp->offset + k];
            if (!isfinite(w) || !isfinite(g)) nonfinite = 1;
            if (fabs(w) > maxref) maxref = fabs(w);
            if (fabs(g - w) > maxerr) {
                maxerr = fabs(g - w);
                at = k;
            }
        }
        double floor = maxref > 0 ? 1e-6 * buffer_max : 1e-30;
        double rel = maxerr / (maxref > floor ? maxref : floor);
        if (nonfinite || !(rel <= rtol)) {
            bad++;
            lv_test_fail("%s: %s%s rel err %.3g > %.1g (worst [%zu] got %.9g want %.9g)%s", label, prefix, sp->name,
                         rel, rtol, at, got[sp->offset + at], want[sp->offset + at],
                         nonfinite ? " non-finite values" : "");
        }
        if (worst_i < 0 || rel > worst) {
            worst = rel;
            worst_i = t;
        }
    }
    if (!bad)
        lv_test_pass("%s: %d tensors, %zu floats, worst rel err %.3g (%s%s)", label, layout->count, layout->total,
                     worst, prefix, worst_i >= 0 ? layout->specs[worst_i].name : "-");
    free(want);
    free(got);
}

/* compare_tensors over one part's flat buffer (visual, head or text). */
static void compare_layout(const char *what, int part, side *cpu, const float *cbuf, side *dev, const float *dbuf,
                           double rtol) {
    char label[128];
    snprintf(label, sizeof label, "%s [%s]", what, cpu->part[part]);
    compare_tensors(label, cpu->prefix[part], cpu->layouts[part], cpu, cbuf, dev, dbuf, rtol);
}

/* A whole-buffer comparison (loss, logits, probabilities, moments). */
static void compare_flat(const char *what, side *cpu, const float *cbuf, side *dev, const float *dbuf, size_t n,
                         double rtol) {
    float *want = down(cpu->be, cbuf, n, what);
    if (!want) return;
    (void)lv_twin_expect(dev->be, what, dbuf, want, n, rtol);
    free(want);
}

/* The trainer's global 2-norm measurement over every trainable run (max_norm <= 0), or the
 * measurement and the scaling (coef = max_norm / (norm + 1e-6) when below 1). */
static float clip_side(side *sd, float max_norm) {
    lv_backend *be = sd->be;
    float *sumsq_d = (float *)sd->scratch;
    int *flag_d = (int *)((char *)sd->scratch + 8);
    be->memset0(be, sd->scratch, LV_GRAD_CLIP_SCRATCH_BYTES);
    for (int i = 0; i < sd->nparts; i++)
        for (int r = 0; r < sd->plans[i].count; r++)
            lv_grad_sumsq(be, sumsq_d, flag_d, sd->bufs[i]->grads + sd->plans[i].runs[r].offset,
                          sd->plans[i].runs[r].n);
    float sumsq = 0;
    int flag = 0;
    be->copy_d2h(be, &sumsq, sumsq_d, sizeof sumsq);
    be->copy_d2h(be, &flag, flag_d, sizeof flag);
    if (lv_twin_sync(be, "gradient sum of squares")) return -1.0f;
    if (flag) lv_test_fail("%s: non-finite gradients", be->name);
    float norm = sqrtf(sumsq);
    float coef = max_norm / (norm + 1e-6f);
    if (max_norm > 0.0f && coef < 1.0f)
        for (int i = 0; i < sd->nparts; i++)
            for (int r = 0; r < sd->plans[i].count; r++)
                lv_scale(be, sd->bufs[i]->grads + sd->plans[i].runs[r].offset, coef, sd->plans[i].runs[r].n);
    return norm;
}

static void run_case(lv_backend *cpu_be, lv_backend *dev_be, lv_head_kind head, int train_text) {
    const char *name = head == LV_HEAD_LINEAR ? "linear head"
                       : train_text           ? "vlm head, trained text"
                                              : "vlm head, frozen text";
    printf("-- %s: batch %d, %d phases, %dx%d, seed %d\n", name, B, P, S, S, SEED);
    float *hx = malloc(sizeof(float) * B * P * S * S);
    int hy[B];
    if (!hx) {
        lv_test_fail("%s: out of memory", name);
        return;
    }
    make_batch(hx, hy);
    side cpu, dev;
    lv_status sc = side_build(&cpu, cpu_be, head, train_text, hx, hy);
    if (sc != LV_OK) lv_test_fail("%s: cpu model: %s", name, lv_error_message());
    lv_status sdv = sc == LV_OK ? side_build(&dev, dev_be, head, train_text, hx, hy) : LV_ERR_RUNTIME;
    if (sc == LV_OK && sdv != LV_OK) lv_test_fail("%s: device model: %s", name, lv_error_message());
    free(hx);
    if (sc != LV_OK || sdv != LV_OK) {
        side_free(&cpu);
        if (sc == LV_OK) side_free(&dev);
        return;
    }

    /* The same seed gives the same weights: the upload is exact. */
    for (int i = 0; i < cpu.nparts; i++)
        compare_layout("initial weights", i, &cpu, cpu.bufs[i]->params, &dev, dev.bufs[i]->params, 0.0);

    /* Forward + backward, as the trainer's train_step. */
    side *both[2] = {&cpu, &dev};
    for (int k = 0; k < 2; k++) {
        lv_vlm_zero_grads(&both[k]->m);
        lv_vlm_train_step(&both[k]->m, both[k]->x, both[k]->y, B);
    }
    if (lv_twin_sync(dev.be, "train step")) goto done;
    compare_flat("loss", &cpu, cpu.m.loss, &dev, dev.m.loss, 1, RTOL);
    if (head == LV_HEAD_VLM) {
        /* The default prompts through the whole BERT, pooled, projected, averaged per class. */
        size_t ne = (size_t)C * (size_t)cpu.m.cfg.dim;
        float *ec = malloc(ne * sizeof *ec), *ed = malloc(ne * sizeof *ed);
        if (ec && ed && lv_vlm_class_embeddings(&cpu.m, ec) == LV_OK && lv_vlm_class_embeddings(&dev.m, ed) == LV_OK)
            lv_test_close("class embeddings of the default prompts", ed, ec, ne, RTOL);
        else
            lv_test_fail("class embeddings: %s", lv_error_message());
        free(ec);
        free(ed);
    }
    compare_flat("logits", &cpu, cpu.m.logits, &dev, dev.m.logits, (size_t)B * C, RTOL);
    for (int i = 0; i < cpu.nparts; i++)
        compare_layout("grad", i, &cpu, cpu.bufs[i]->grads, &dev, dev.bufs[i]->grads, RTOL);
    compare_tensors("BN running stats", "visual.", &cpu.m.visual.state, &cpu, cpu.m.vstate, &dev, dev.m.vstate, RTOL);

    /* The optimizer is checked on identical gradients: AdamW's first step moves each weight
     * by about lr * sign(g), so a gradient that is zero up to rounding could flip a weight by
     * 2 lr between two correct backends. Hand the CPU the device's gradients. */
    for (int i = 0; i < cpu.nparts; i++) {
        float *g = down(dev.be, dev.bufs[i]->grads, dev.bufs[i]->n, "device gradients");
        if (!g) goto done;
        cpu.be->copy_h2d(cpu.be, cpu.bufs[i]->grads, g, cpu.bufs[i]->n * sizeof *g);
        free(g);
    }
    float norm_cpu = clip_side(&cpu, 0.0f), norm_dev = clip_side(&dev, 0.0f);
    lv_test_close("gradient norm", &norm_dev, &norm_cpu, 1, RTOL);
    /* Half the norm, so the scaling path runs on both sides. */
    float max_norm = 0.5f * norm_cpu;
    (void)clip_side(&cpu, max_norm);
    (void)clip_side(&dev, max_norm);
    lv_optim_config oc;
    lv_optim_config_default(&oc);
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < both[k]->nparts; i++)
            lv_optim_step(both[k]->be, &both[k]->plans[i], both[k]->bufs[i], &oc, 0, oc.lr);
    if (lv_twin_sync(dev.be, "clip + AdamW")) goto done;
    for (int i = 0; i < cpu.nparts; i++) {
        compare_layout("clipped grad", i, &cpu, cpu.bufs[i]->grads, &dev, dev.bufs[i]->grads, RTOL);
        compare_layout("updated weights", i, &cpu, cpu.bufs[i]->params, &dev, dev.bufs[i]->params, RTOL);
        char what[64];
        snprintf(what, sizeof what, "AdamW m [%s]", cpu.part[i]);
        compare_flat(what, &cpu, cpu.bufs[i]->m, &dev, dev.bufs[i]->m, cpu.bufs[i]->n, RTOL);
        snprintf(what, sizeof what, "AdamW v [%s]", cpu.part[i]);
        compare_flat(what, &cpu, cpu.bufs[i]->v, &dev, dev.bufs[i]->v, cpu.bufs[i]->n, RTOL);
    }

    /* Evaluation with the updated weights and running statistics. predict reuses the class
     * vectors of the last forward unless told the text side changed, and text.proj moved. */
    for (int k = 0; k < 2; k++) {
        lv_vlm_text_changed(&both[k]->m);
        lv_vlm_predict(&both[k]->m, both[k]->x, both[k]->y, B, both[k]->probs);
    }
    if (lv_twin_sync(dev.be, "predict")) goto done;
    compare_flat("eval probabilities", &cpu, cpu.probs, &dev, dev.probs, (size_t)B * C, RTOL);
    compare_flat("eval loss", &cpu, cpu.m.loss, &dev, dev.m.loss, 1, RTOL);
done:
    side_free(&cpu);
    side_free(&dev);
}

int main(void) {
    lv_backend *cpu = NULL, *dev = NULL;
    int rc = lv_twin_open(&cpu, &dev);
    if (rc) return rc;
    run_case(cpu, dev, LV_HEAD_VLM, 0);
    run_case(cpu, dev, LV_HEAD_VLM, 1);
    run_case(cpu, dev, LV_HEAD_LINEAR, 0);
    return lv_twin_close(cpu, dev);
}
