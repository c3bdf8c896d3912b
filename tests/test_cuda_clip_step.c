/* The --objective clip step on the CPU and on the device, from the same weights, images and
 * reports: loss, every gradient buffer (image encoder, text side, logit scale; frozen and
 * trained text encoder), then the evaluation loss and both embeddings. fp32
 * (dev->tf32 = 0), 1e-4 relative per buffer. SKIPs without a device; never passes on CPU. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "encoders/liver_vlm_clip.h"
#include "harness.h"
#include "twin.h"

enum { B = 4, P = 3, S = 32, C = 5, L = 24 };
#define RTOL 1e-4

static const char *const reports[B] = {
    "A 20 mm lesion with intense homogeneous arterial enhancement and a central scar.",
    "Well-circumscribed fluid attenuation lesion with no enhancement on any phase.",
    "Arterial hyperenhancement with washout on the portal venous phase and an enhancing capsule.",
    "Peripheral nodular discontinuous enhancement with centripetal fill-in."};

typedef struct side {
    lv_backend *be;
    lv_vlm m;
    lv_vlm_clip clip;
    int built;
    float *x;
} side;

static lv_status side_build(side *sd, lv_backend *be, int train_text, const float *hx) {
    memset(sd, 0, sizeof *sd);
    sd->be = be;
    const char *classes[C] = {"CYST", "FNH", "HCC", "HEM", "METS"};
    lv_wordpiece *tok = NULL;
    lv_prompt_set prompts;
    LV_TRY(lv_wordpiece_builtin(&tok));
    lv_status s = lv_prompts_default(&prompts);
    if (s != LV_OK) {
        lv_wordpiece_free(tok);
        return s;
    }
    lv_vlm_config cfg;
    lv_vlm_config_default(&cfg, P, C, (int)lv_wordpiece_vocab_size(tok));
    cfg.dim = 32;
    cfg.train_text = train_text;
    s = lv_vlm_create(&sd->m, be, &cfg, classes, tok, &prompts, 1, 5); /* owns tok from here */
    lv_prompts_free(&prompts);
    sd->built = 1;
    LV_TRY(s);
    LV_TRY(lv_vlm_prepare(&sd->m, B, S));
    LV_TRY(lv_vlm_clip_init(&sd->clip, &sd->m, B, L));
    LV_TRY(lv_vlm_clip_set_reports(&sd->clip, reports, B));
    sd->x = lv_twin_up(be, hx, (size_t)B * P * S * S);
    LV_CHECK(sd->x, LV_ERR_RUNTIME, "%s backend: out of memory for the batch", be->name);
    return be->sync(be);
}

static void side_free(side *sd) {
    if (!sd->be) return;
    if (sd->x) sd->be->free(sd->be, sd->x);
    lv_vlm_clip_free(&sd->clip);
    if (sd->built) lv_vlm_free(&sd->m);
    memset(sd, 0, sizeof *sd);
}

static float *down(lv_backend *be, const float *p, size_t n, const char *what) {
    float *h = malloc((n ? n : 1) * sizeof *h);
    if (!h) return NULL;
    be->copy_d2h(be, h, p, n * sizeof *h);
    if (lv_twin_sync(be, what)) {
        free(h);
        return NULL;
    }
    return h;
}

static void expect(const char *label, side *cpu, const float *cbuf, side *dev, const float *dbuf, size_t n) {
    float *want = down(cpu->be, cbuf, n, label);
    if (!want) {
        lv_test_fail("%s: CPU copy", label);
        return;
    }
    (void)lv_twin_expect(dev->be, label, dbuf, want, n, RTOL);
    free(want);
}

static void run_case(lv_backend *cpu_be, lv_backend *dev_be, int train_text) {
    size_t nx = (size_t)B * P * S * S;
    float *hx = malloc(nx * sizeof *hx);
    for (size_t i = 0; i < nx; i++) hx[i] = lv_rng_normal(9, 0, i);
    side cpu, dev;
    lv_status s = side_build(&cpu, cpu_be, train_text, hx);
    if (s == LV_OK) s = side_build(&dev, dev_be, train_text, hx);
    char what[128];
    snprintf(what, sizeof what, "clip models on both backends (text %s)", train_text ? "trained" : "frozen");
    if (!lv_test_true(s == LV_OK, what)) {
        lv_test_fail("%s", lv_error_message());
        goto done;
    }
    side *sides[2] = {&cpu, &dev};
    for (int k = 0; k < 2; k++) {
        lv_vlm_zero_grads(&sides[k]->m);
        lv_vlm_clip_train_step(&sides[k]->clip, sides[k]->x, B);
    }
    if (lv_twin_sync(dev.be, "clip train step")) goto done;
    const char *tt = train_text ? "trained text" : "frozen text";
    snprintf(what, sizeof what, "clip loss (%s)", tt);
    expect(what, &cpu, cpu.m.loss, &dev, dev.m.loss, 1);
    snprintf(what, sizeof what, "visual gradients (%s)", tt);
    expect(what, &cpu, cpu.m.vbuf.grads, &dev, dev.m.vbuf.grads, cpu.m.visual.params.total);
    snprintf(what, sizeof what, "text gradients (%s)", tt);
    expect(what, &cpu, cpu.m.tbuf.grads, &dev, dev.m.tbuf.grads, cpu.m.text.params.total);
    snprintf(what, sizeof what, "logit_scale gradient (%s)", tt);
    expect(what, &cpu, cpu.m.hbuf.grads, &dev, dev.m.hbuf.grads, cpu.m.head.total);
    snprintf(what, sizeof what, "BN running statistics (%s)", tt);
    expect(what, &cpu, cpu.m.vstate, &dev, dev.m.vstate, cpu.m.visual.state.total);
    const float *ci = NULL, *ct = NULL, *di = NULL, *dt = NULL;
    lv_vlm_clip_eval(&cpu.clip, cpu.x, B, &ci, &ct);
    lv_vlm_clip_eval(&dev.clip, dev.x, B, &di, &dt);
    if (lv_twin_sync(dev.be, "clip eval") || !ci || !di) goto done;
    snprintf(what, sizeof what, "eval loss (%s)", tt);
    expect(what, &cpu, cpu.m.loss, &dev, dev.m.loss, 1);
    snprintf(what, sizeof what, "eval image embeddings (%s)", tt);
    expect(what, &cpu, ci, &dev, di, (size_t)B * 32);
    snprintf(what, sizeof what, "eval report embeddings (%s)", tt);
    expect(what, &cpu, ct, &dev, dt, (size_t)B * 32);
done:
    side_free(&cpu);
    side_free(&dev);
    free(hx);
}

int main(void) {
    lv_backend *cpu = NULL, *dev = NULL;
    int rc = lv_twin_open(&cpu, &dev);
    if (rc) return rc;
    run_case(cpu, dev, 0);
    run_case(cpu, dev, 1);
    return lv_twin_close(cpu, dev);
}
