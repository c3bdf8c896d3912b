/* The whole Liver-VLM model on the CPU: both heads learn a separable toy task (the class
 * shows as the image's brightness), the frozen text encoder gets no gradient except its
 * projection, class embeddings are unit vectors, predict follows a moved projection, and
 * eval probabilities sum to 1. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "encoders/liver_vlm.h"
#include "harness.h"
#include "train/optim.h"

enum { P = 3, C = 5, S = 32, B = 10 };

static void make_batch(float *x, int *y, int step) {
    for (int i = 0; i < B; i++) {
        y[i] = (i + step) % C;
        for (int k = 0; k < P * S * S; k++)
            x[(size_t)i * P * S * S + k] = 0.4f * (float)y[i] + 0.3f * lv_rng_normal(7, (uint64_t)step, (uint64_t)(i * P * S * S + k));
    }
}

static double run(lv_head_kind head, int steps, double *first) {
    lv_backend *be = lv_test_cpu_backend();
    const char *classes[C] = {"CYST", "FNH", "HCC", "HEM", "METS"};
    lv_wordpiece *tok = NULL;
    lv_prompt_set prompts;
    lv_wordpiece_builtin(&tok);
    lv_prompts_default(&prompts);
    lv_vlm_config cfg;
    lv_vlm_config_default(&cfg, P, C, (int)lv_wordpiece_vocab_size(tok));
    cfg.head = head;
    cfg.dim = 32;
    lv_vlm m;
    lv_status s = lv_vlm_create(&m, be, &cfg, classes, head == LV_HEAD_VLM ? tok : NULL,
                                head == LV_HEAD_VLM ? &prompts : NULL, 1, 3);
    if (head != LV_HEAD_VLM) lv_wordpiece_free(tok);
    lv_prompts_free(&prompts);
    if (!lv_test_true(s == LV_OK, head == LV_HEAD_VLM ? "vlm model builds" : "linear model builds")) {
        lv_test_fail("%s", lv_error_message());
        return 0;
    }
    lv_test_true(lv_vlm_prepare(&m, B, S) == LV_OK, "activations");
    lv_optim_config oc;
    lv_optim_config_default(&oc);
    oc.lr = 3e-3f;
    lv_optim_plan pv, pt, ph;
    lv_optim_plan_build(&pv, &m.visual.params);
    lv_optim_plan_build(&ph, &m.head);
    if (head == LV_HEAD_VLM) lv_optim_plan_build(&pt, &m.text.params);
    float *x = malloc(sizeof(float) * B * P * S * S);
    int y[B];
    double last = 0;
    for (int step = 0; step < steps; step++) { /* 20 steps: enough to halve the loss, cheap */
        make_batch(x, y, step);
        lv_vlm_zero_grads(&m);
        lv_vlm_train_step(&m, x, y, B);
        lv_optim_step(be, &pv, &m.vbuf, &oc, step, oc.lr);
        lv_optim_step(be, &ph, &m.hbuf, &oc, step, oc.lr);
        if (head == LV_HEAD_VLM) lv_optim_step(be, &pt, &m.tbuf, &oc, step, oc.lr);
        float l;
        be->copy_d2h(be, &l, m.loss, sizeof l);
        if (step == 0) *first = l;
        last = l;
    }
    lv_test_true(be->sync(be) == LV_OK, "training ran without backend errors");
    if (head == LV_HEAD_VLM) {
        /* Right after an optimizer step moved text.proj, predict must use the moved
         * projection: the same as after an explicit cache reset (it once reused the class
         * embeddings of the previous step). */
        float p1[B * C], p2[B * C];
        make_batch(x, y, 500);
        lv_vlm_predict(&m, x, NULL, B, p1);
        lv_vlm_text_changed(&m);
        lv_vlm_predict(&m, x, NULL, B, p2);
        lv_test_true(be->sync(be) == LV_OK && memcmp(p1, p2, sizeof p1) == 0,
                     "predict after a step uses the updated text projection");
        /* Only text.proj may have moved: every other text gradient stays zero. */
        int frozen_zero = 1;
        for (int i = 0; i < m.text.params.count; i++) {
            const lv_param_spec *sp = &m.text.params.specs[i];
            if (strcmp(sp->name, "proj.weight") == 0) continue;
            for (size_t k = 0; k < sp->numel; k++) frozen_zero &= m.tbuf.grads[sp->offset + k] == 0.0f;
        }
        lv_test_true(frozen_zero, "frozen text encoder: no gradient outside text.proj");
        float ce[C * 32];
        lv_test_true(lv_vlm_class_embeddings(&m, ce) == LV_OK, "class embeddings");
        int unit = 1;
        for (int c = 0; c < C; c++) {
            double ss = 0;
            for (int d = 0; d < 32; d++) ss += ce[c * 32 + d] * ce[c * 32 + d];
            unit &= fabs(ss - 1.0) < 1e-5;
        }
        lv_test_true(unit, "class embeddings are unit vectors");
    }
    float probs[B * C];
    make_batch(x, y, 999);
    lv_vlm_predict(&m, x, y, B, probs);
    int sums = be->sync(be) == LV_OK;
    for (int i = 0; i < B; i++) {
        double t = 0;
        for (int c = 0; c < C; c++) t += probs[i * C + c];
        sums &= fabs(t - 1.0) < 1e-5;
    }
    lv_test_true(sums, "eval probabilities sum to 1");
    free(x);
    lv_optim_plan_free(&pv);
    lv_optim_plan_free(&ph);
    if (head == LV_HEAD_VLM) lv_optim_plan_free(&pt);
    lv_vlm_free(&m);
    lv_backend_destroy(be);
    return last;
}

int main(void) {
    double f0 = 0, f1 = 0;
    double l0 = run(LV_HEAD_VLM, 20, &f0);
    lv_test_true(l0 < 0.5 * f0, "VLM head: loss halves on a separable task");
    double l1 = run(LV_HEAD_LINEAR, 20, &f1);
    lv_test_true(l1 < 0.5 * f1, "linear head: loss halves on a separable task");
    return lv_test_summary();
}
