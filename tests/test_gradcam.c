/* Grad-CAM (train/gradcam.h) against PyTorch hooks on torchvision's layer4
 * (tests/fixtures_gradcam.py): channel weights, the layer4-resolution map and the resized,
 * normalised map for the cosine (VLM) head and the linear head, within 1e-4. The linear head
 * runs the whole lv_gradcam_run path on an lv_vlm; the VLM head's wiring (class embeddings
 * from the text side, logit scale, projection) is checked against the same host math. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "encoders/liver_vlm.h"
#include "harness.h"
#include "train/gradcam.h"

enum { P = 3, D = 16, B = 2, S = 96, C = 5, HW = 3 };
#define CONV_GAIN 4.0f
#define X_TENSOR_ID 4242u

/* Mirror of hash_uniform in tests/fixtures_resnet18.py. */
static float hash_uniform(uint64_t i, uint32_t t) {
    uint64_t h = (((i + 1) * 2654435761ull) ^ (uint64_t)(uint32_t)(t * 0x9E3779B9u)) & 0xFFFFFFFFull;
    h ^= h >> 15;
    h = (h * 0x2C1B3C6Dull) & 0xFFFFFFFFull;
    h ^= h >> 12;
    return (float)(h >> 8) * (1.0f / 16777216.0f);
}

static int bit_length(size_t v) {
    int b = 0;
    while (v) b++, v >>= 1;
    return b;
}

/* fixtures_resnet18.py's fill, then fixtures_gradcam.py's CONV_GAIN on conv weights. */
static void fill(const lv_param_spec *p, float *dst, uint32_t t, int state) {
    int is_mean = strstr(p->name, "running_mean") != NULL;
    size_t fan_in = p->ndim > 1 ? p->numel / (size_t)p->shape[0] : 1;
    for (size_t i = 0; i < p->numel; i++) {
        float u = hash_uniform(i, t), v;
        if (state) v = is_mean ? (u - 0.5f) * 0.125f : 1.0f + u * 0.5f;
        else if (p->ndim == 1) {
            v = (u - 0.5f) * 0.25f;
            size_t len = strlen(p->name);
            if (len >= 6 && strcmp(p->name + len - 6, "weight") == 0) v = v + 1.0f;
        } else v = ldexpf(u - 0.5f, -(bit_length(fan_in) / 2));
        if (!state && p->ndim == 4) v *= CONV_GAIN;
        dst[p->offset + i] = v;
    }
}

static void fill_encoder(const lv_resnet18 *m, float *params, float *state) {
    for (int t = 0; t < m->params.count; t++) fill(&m->params.specs[t], params, (uint32_t)t, 0);
    for (int t = 0; t < m->state.count; t++) fill(&m->state.specs[t], state, 1000u + (uint32_t)t, 1);
}

static void make_input(float *x) {
    for (size_t i = 0; i < (size_t)B * P * S * S; i++) x[i] = (hash_uniform(i, X_TENSOR_ID) - 0.5f) * 4.0f;
}

static double compare(lv_st_file *fx, const char *key, const float *got, size_t n) {
    size_t have = 0;
    float *want = lv_test_fixture_f32(fx, key, &have);
    double err = 1e30;
    if (want && lv_test_true(have == n, key)) err = lv_test_close(key, got, want, n, 1e-4);
    free(want);
    return err;
}

/* The cosine head through the host functions on a standalone encoder (fixture's classes). */
static void vlm_core(lv_st_file *fx, lv_backend *be, float *x) {
    lv_resnet18 m;
    if (!lv_test_true(lv_resnet18_build(&m, P, D) == LV_OK, "encoder builds")) return;
    float *params = calloc(m.params.total, sizeof *params), *state = calloc(m.state.total, sizeof *state);
    fill_encoder(&m, params, state);
    lv_resnet18_acts a;
    lv_test_true(lv_resnet18_acts_alloc(&a, &m, be, B, S) == LV_OK, "activations allocate");
    lv_resnet18_forward(&m, &a, params, state, x, 0);
    lv_test_true(be->sync(be) == LV_OK && a.hw[7] == HW, "eval forward ran; layer4 is 3x3 at 96x96");
    float *cls = lv_test_fixture_f32(fx, "cls", NULL), *ls = lv_test_fixture_f32(fx, "logit_scale", NULL);
    int *targets = lv_test_fixture_i32(fx, "vlm.targets", NULL);
    float alpha[B * 512], low[B * HW * HW], dfeat[512];
    float *cam = malloc((size_t)B * S * S * sizeof *cam);
    for (int i = 0; cls && ls && targets && i < B; i++) {
        lv_gradcam_dfeat_vlm(a.emb.x + (size_t)i * D, cls, ls[0], params + m.proj_w, D, targets[i], dfeat);
        lv_gradcam_map(a.blocks[7].y.x + (size_t)i * 512 * HW * HW, dfeat, 512, HW, HW, alpha + i * 512,
                       low + i * HW * HW);
        lv_gradcam_upsample(low + i * HW * HW, HW, HW, S, cam + (size_t)i * S * S);
    }
    printf("VLM head (max |C - PyTorch| / max |PyTorch|):\n");
    compare(fx, "vlm.alpha", alpha, B * 512);
    compare(fx, "vlm.cam_low", low, B * HW * HW);
    compare(fx, "vlm.cam", cam, (size_t)B * S * S);
    free(cam), free(cls), free(ls), free(targets), free(params), free(state);
    lv_resnet18_acts_free(&a);
    lv_resnet18_free(&m);
}

/* Uploads the hashed encoder into a model's visual buffers. */
static void load_visual(lv_vlm *v) {
    lv_backend *be = v->be;
    float *params = calloc(v->visual.params.total, sizeof *params), *state = calloc(v->visual.state.total, sizeof *state);
    fill_encoder(&v->visual, params, state);
    be->copy_h2d(be, v->vbuf.params, params, v->visual.params.total * sizeof *params);
    be->copy_h2d(be, v->vstate, state, v->visual.state.total * sizeof *state);
    free(params), free(state);
}

/* The linear head end to end: lv_gradcam_run on an lv_vlm holding the fixture's weights. */
static void linear_run(lv_st_file *fx, lv_backend *be, const float *x) {
    const char *classes[C] = {"CYST", "FNH", "HCC", "HEM", "METS"};
    lv_vlm_config cfg;
    lv_vlm_config_default(&cfg, P, C, 100);
    cfg.head = LV_HEAD_LINEAR;
    lv_vlm v;
    if (!lv_test_true(lv_vlm_create(&v, be, &cfg, classes, NULL, NULL, 0, 1) == LV_OK, "linear model builds")) return;
    load_visual(&v);
    float *hw_ = lv_test_fixture_f32(fx, "head_w", NULL), *hb = lv_test_fixture_f32(fx, "head_b", NULL);
    if (hw_ && hb) {
        be->copy_h2d(be, v.hbuf.params + v.head_w, hw_, (size_t)C * 512 * sizeof(float));
        be->copy_h2d(be, v.hbuf.params + v.head_b, hb, C * sizeof(float));
    }
    lv_test_true(lv_vlm_prepare(&v, B, S) == LV_OK && lv_gradcam_side(&v) == HW, "prepared; lv_gradcam_side = 3");
    float probs[B * C], low[B * HW * HW];
    float *cam = malloc((size_t)B * S * S * sizeof *cam);
    int target[B] = {-1, 3}, explained[B] = {-9, -9};
    lv_status s = lv_gradcam_run(&v, x, B, target, probs, explained, low, cam);
    lv_test_true(s == LV_OK, "lv_gradcam_run (linear head) runs");
    int *want_t = lv_test_fixture_i32(fx, "linear.targets", NULL);
    lv_test_true(want_t && explained[0] == want_t[0] && explained[1] == 3,
                 "explained classes: sample 0 its prediction, sample 1 the requested class");
    printf("linear head through lv_gradcam_run:\n");
    compare(fx, "linear.probs", probs, B * C);
    compare(fx, "linear.cam_low", low, B * HW * HW);
    compare(fx, "linear.cam", cam, (size_t)B * S * S);
    float lo = 1, hi = 0;
    for (size_t i = 0; i < (size_t)B * S * S; i++) lo = cam[i] < lo ? cam[i] : lo, hi = cam[i] > hi ? cam[i] : hi;
    lv_test_true(lo == 0.0f && hi == 1.0f, "maps are normalised to exactly [0, 1]");
    int bad[B] = {0, C};
    lv_test_true(lv_gradcam_run(&v, x, B, bad, probs, explained, low, cam) == LV_ERR_INPUT,
                 "a class outside [0, C) is LV_ERR_INPUT");
    lv_test_true(lv_gradcam_run(&v, x, B + 1, NULL, probs, explained, low, cam) == LV_ERR_RUNTIME,
                 "a batch larger than prepared is an error, not an overrun");
    free(cam), free(hw_), free(hb), free(want_t);
    lv_vlm_free(&v);
}

/* The cosine head end to end: lv_gradcam_run on a VLM model (its own text side) equals the
 * host math (checked above against PyTorch) fed with that model's class embeddings. */
static void vlm_run(lv_backend *be, const float *x) {
    const char *classes[C] = {"CYST", "FNH", "HCC", "HEM", "METS"};
    lv_wordpiece *tok = NULL;
    lv_prompt_set prompts;
    if (!lv_test_true(lv_wordpiece_builtin(&tok) == LV_OK, "builtin vocabulary")) return;
    lv_prompts_default(&prompts);
    lv_vlm_config cfg;
    lv_vlm_config_default(&cfg, P, C, (int)lv_wordpiece_vocab_size(tok));
    cfg.dim = D;
    lv_vlm v;
    lv_status s = lv_vlm_create(&v, be, &cfg, classes, tok, &prompts, 0, 5);
    lv_prompts_free(&prompts);
    if (!lv_test_true(s == LV_OK, "vlm model builds")) return;
    load_visual(&v);
    lv_test_true(lv_vlm_prepare(&v, B, S) == LV_OK, "prepared");
    float probs[B * C], low[B * HW * HW], cls[C * D], ls = 0, dfeat[512], want_low[HW * HW];
    float *cam = malloc((size_t)B * S * S * sizeof *cam), *want = malloc((size_t)S * S * sizeof *want);
    int target[B] = {-1, 2}, explained[B];
    lv_test_true(lv_gradcam_run(&v, x, B, target, probs, explained, low, cam) == LV_OK, "lv_gradcam_run (vlm) runs");
    int argmax = 0;
    for (int j = 1; j < C; j++) argmax = probs[j] > probs[argmax] ? j : argmax;
    lv_test_true(explained[0] == argmax && explained[1] == 2, "vlm: explained classes");
    lv_test_true(lv_vlm_class_embeddings(&v, cls) == LV_OK, "class embeddings");
    be->copy_d2h(be, &ls, v.hbuf.params + v.logit_scale, sizeof ls);
    /* The encoder's own outputs for the host math: a second forward of the same model. */
    lv_vlm_predict(&v, x, NULL, B, probs);
    float *emb = malloc((size_t)B * D * sizeof *emb), *act = malloc((size_t)B * 512 * HW * HW * sizeof *act);
    float *pw = malloc((size_t)D * 512 * sizeof *pw);
    be->copy_d2h(be, emb, v.vacts.emb.x, (size_t)B * D * sizeof *emb);
    be->copy_d2h(be, act, v.vacts.blocks[7].y.x, (size_t)B * 512 * HW * HW * sizeof *act);
    be->copy_d2h(be, pw, v.vbuf.params + v.visual.proj_w, (size_t)D * 512 * sizeof *pw);
    lv_test_true(be->sync(be) == LV_OK, "copies");
    for (int i = 0; i < B; i++) {
        lv_gradcam_dfeat_vlm(emb + (size_t)i * D, cls, ls, pw, D, explained[i], dfeat);
        lv_gradcam_map(act + (size_t)i * 512 * HW * HW, dfeat, 512, HW, HW, NULL, want_low);
        lv_gradcam_upsample(want_low, HW, HW, S, want);
        lv_test_close(i ? "vlm run = host math, sample 1 cam" : "vlm run = host math, sample 0 cam",
                      cam + (size_t)i * S * S, want, (size_t)S * S, 1e-5);
    }
    free(cam), free(want), free(emb), free(act), free(pw);
    lv_vlm_free(&v);
}

static void upsample_cases(void) {
    /* A constant map (all zero after the relu) normalises to all 0, never NaN. */
    float zero[4] = {0, 0, 0, 0}, out[64];
    lv_gradcam_upsample(zero, 2, 2, 8, out);
    int ok = 1;
    for (int i = 0; i < 64; i++) ok &= out[i] == 0.0f;
    lv_test_true(ok, "a flat map becomes all 0");
    /* 1x1 -> S: constant; 2 -> 4 follows align_corners=False: 0, .25, .75, 1 along a row. */
    float ramp[4] = {0, 1, 0, 1}, o4[16];
    lv_gradcam_upsample(ramp, 2, 2, 4, o4);
    float want[4] = {0.0f, 0.25f, 0.75f, 1.0f};
    lv_test_close("bilinear 2 -> 4 (align_corners=False)", o4, want, 4, 1e-7);
    /* relu: a map whose weighted sum is negative everywhere is zero. */
    float act[2 * 4] = {1, 2, 3, 4, 1, 1, 1, 1}, dfeat[2] = {-4, 0}, cam[4];
    lv_gradcam_map(act, dfeat, 2, 2, 2, NULL, cam);
    lv_test_true(cam[0] == 0 && cam[3] == 0, "negative evidence is cut by the relu");
}

int main(void) {
    lv_st_file *fx = lv_test_fixture_open("gradcam");
    lv_backend *be = lv_test_cpu_backend();
    float *x = malloc((size_t)B * P * S * S * sizeof *x);
    make_input(x);
    if (fx) {
        vlm_core(fx, be, x);
        linear_run(fx, be, x);
        lv_st_close(fx);
    }
    vlm_run(be, x);
    upsample_cases();
    free(x);
    lv_backend_destroy(be);
    return lv_test_summary();
}
