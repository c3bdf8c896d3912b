/* Grad-CAM on layer4 (gradcam.h): the channel weights come from d logit / d features in
 * closed form (see the header for why no backward pass is needed), the map from a host copy
 * of layer4's output. Device work is only the ordinary evaluation forward; must not touch
 * gradients or BN statistics of the model. */
#include "gradcam.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define COS_EPS 1e-12   /* F.normalize's eps, as cosine_ce */
#define SCALE_MAX 100.0 /* CLIP's clamp on exp(logit_scale), as cosine_ce */

void lv_gradcam_dfeat_vlm(const float *emb, const float *cls, float logit_scale, const float *proj_w, int D,
                          int t, float *dfeat) {
    const float *c = cls + (size_t)t * (size_t)D;
    double xx = 0.0, cc = 0.0, xc = 0.0;
    for (int d = 0; d < D; d++) {
        xx += (double)emb[d] * emb[d];
        cc += (double)c[d] * c[d];
        xc += (double)emb[d] * c[d];
    }
    double xn = sqrt(xx), cn = sqrt(cc);
    double xden = xn < COS_EPS ? COS_EPS : xn, cden = cn < COS_EPS ? COS_EPS : cn;
    /* torch computes exp in float and then clamps; the same here so s matches bit for bit. */
    float e = expf(logit_scale);
    double s = e > SCALE_MAX ? SCALE_MAX : (double)e;
    /* logit = s * (x / |x|) . w with w = c / |c|:
     * d/dx = s * (w / |x| - x (x . w) / |x|^3); below eps the norm is the constant eps. */
    double radial = xn >= COS_EPS ? (xc / cden) / (xden * xden * xn) : 0.0;
    for (int k = 0; k < LV_RESNET_FEATURES; k++) dfeat[k] = 0.0f;
    double *demb = malloc((size_t)D * sizeof *demb);
    if (!demb) return; /* dfeat stays 0: an empty map, never a crash */
    for (int d = 0; d < D; d++) demb[d] = s * ((double)c[d] / cden / xden - radial * emb[d]);
    /* emb = proj_w f + b, so d/df = proj_w^T d/demb. */
    for (int k = 0; k < LV_RESNET_FEATURES; k++) {
        double acc = 0.0;
        for (int d = 0; d < D; d++) acc += (double)proj_w[(size_t)d * LV_RESNET_FEATURES + (size_t)k] * demb[d];
        dfeat[k] = (float)acc;
    }
    free(demb);
}

void lv_gradcam_dfeat_linear(const float *head_w, int t, float *dfeat) {
    memcpy(dfeat, head_w + (size_t)t * LV_RESNET_FEATURES, LV_RESNET_FEATURES * sizeof *dfeat);
}

void lv_gradcam_map(const float *act, const float *dfeat, int K, int h, int w, float *alpha, float *cam) {
    size_t hw = (size_t)h * (size_t)w;
    double inv = 1.0 / (double)hw;
    for (size_t i = 0; i < hw; i++) {
        double acc = 0.0;
        for (int k = 0; k < K; k++) acc += (double)dfeat[k] * inv * act[(size_t)k * hw + i];
        cam[i] = acc > 0.0 ? (float)acc : 0.0f;
    }
    if (alpha)
        for (int k = 0; k < K; k++) alpha[k] = (float)(dfeat[k] * inv);
}

/* PyTorch's source coordinate for output pixel o (align_corners = False, clamped at 0). */
static void src_coord(int o, int in, int out, int *i0, int *i1, double *frac) {
    double x = ((double)o + 0.5) * ((double)in / (double)out) - 0.5;
    if (x < 0.0) x = 0.0;
    int f = (int)x;
    if (f > in - 1) f = in - 1;
    *i0 = f;
    *i1 = f + 1 < in ? f + 1 : in - 1;
    *frac = x - f;
}

void lv_gradcam_upsample(const float *cam, int h, int w, int S, float *out) {
    double lo = INFINITY, hi = -INFINITY;
    for (int y = 0; y < S; y++) {
        int y0, y1;
        double fy;
        src_coord(y, h, S, &y0, &y1, &fy);
        for (int x = 0; x < S; x++) {
            int x0, x1;
            double fx;
            src_coord(x, w, S, &x0, &x1, &fx);
            double top = (1.0 - fx) * cam[y0 * w + x0] + fx * cam[y0 * w + x1];
            double bot = (1.0 - fx) * cam[y1 * w + x0] + fx * cam[y1 * w + x1];
            double v = (1.0 - fy) * top + fy * bot;
            out[(size_t)y * S + x] = (float)v;
            if (v < lo) lo = v;
            if (v > hi) hi = v;
        }
    }
    size_t n = (size_t)S * (size_t)S;
    double range = hi - lo;
    for (size_t i = 0; i < n; i++) out[i] = range > 0.0 ? (float)((out[i] - lo) / range) : 0.0f;
}

int lv_gradcam_side(const lv_vlm *m) { return m->vacts.hw[7]; }

lv_status lv_gradcam_run(lv_vlm *m, const float *x, int b, const int *target, float *probs, int *explained,
                         float *cam_low, float *cam) {
    lv_backend *be = m->be;
    int C = m->cfg.classes, D = m->cfg.dim, S = m->size, hw = m->vacts.hw[7];
    int vlm = m->cfg.head == LV_HEAD_VLM;
    LV_CHECK(m->vacts.arena && b >= 1 && b <= m->batch, LV_ERR_RUNTIME,
             "gradcam: batch %d, but the model was prepared for %d", b, m->batch);
    size_t act_n = (size_t)b * LV_RESNET_FEATURES * (size_t)hw * (size_t)hw;
    float *pd = be->alloc(be, (size_t)b * (size_t)C * sizeof(float));
    float *act = malloc(act_n * sizeof *act), *dfeat = malloc(LV_RESNET_FEATURES * sizeof *dfeat);
    float *emb = vlm ? malloc((size_t)b * (size_t)D * sizeof *emb) : NULL;
    float *cls = vlm ? malloc((size_t)C * (size_t)D * sizeof *cls) : NULL;
    size_t wn = vlm ? (size_t)D * LV_RESNET_FEATURES : (size_t)C * LV_RESNET_FEATURES;
    float *w = malloc(wn * sizeof *w), *low = malloc((size_t)hw * (size_t)hw * sizeof *low);
    float scale = 0.0f;
    lv_status s = LV_OK;
    if (!pd || !act || !dfeat || (vlm && (!emb || !cls)) || !w || !low)
        s = lv_errorf(LV_ERR_RUNTIME, "gradcam: out of memory for %d images", b);
    if (s == LV_OK) {
        lv_vlm_predict(m, x, NULL, b, pd); /* eval forward: running BN statistics, no state change */
        be->copy_d2h(be, probs, pd, (size_t)b * (size_t)C * sizeof(float));
        be->copy_d2h(be, act, m->vacts.blocks[7].y.x, act_n * sizeof(float));
        if (vlm) {
            be->copy_d2h(be, emb, m->vacts.emb.x, (size_t)b * (size_t)D * sizeof(float));
            /* predict just recomputed m->cls from the current text weights. */
            be->copy_d2h(be, cls, m->cls, (size_t)C * (size_t)D * sizeof(float));
            be->copy_d2h(be, w, m->vbuf.params + m->visual.proj_w, wn * sizeof(float));
            be->copy_d2h(be, &scale, m->hbuf.params + m->logit_scale, sizeof scale);
        } else {
            be->copy_d2h(be, w, m->hbuf.params + m->head_w, wn * sizeof(float));
        }
        s = be->sync(be);
    }
    for (int i = 0; s == LV_OK && i < b; i++) {
        const float *p = probs + (size_t)i * (size_t)C;
        int t = target ? target[i] : -1;
        if (t < 0) {
            t = 0;
            for (int j = 1; j < C; j++)
                if (p[j] > p[t]) t = j; /* first on ties, as the metrics */
        }
        if (t >= C) {
            s = lv_errorf(LV_ERR_INPUT, "gradcam: class %d for sample %d, the model has %d classes", t, i, C);
            break;
        }
        explained[i] = t;
        if (vlm) lv_gradcam_dfeat_vlm(emb + (size_t)i * (size_t)D, cls, scale, w, D, t, dfeat);
        else lv_gradcam_dfeat_linear(w, t, dfeat);
        float *dst = cam_low ? cam_low + (size_t)i * (size_t)hw * (size_t)hw : low;
        lv_gradcam_map(act + (size_t)i * LV_RESNET_FEATURES * (size_t)hw * (size_t)hw, dfeat, LV_RESNET_FEATURES, hw,
                       hw, NULL, dst);
        lv_gradcam_upsample(dst, hw, hw, S, cam + (size_t)i * (size_t)S * (size_t)S);
    }
    if (pd) be->free(be, pd);
    free(act);
    free(dfeat);
    free(emb);
    free(cls);
    free(w);
    free(low);
    return s;
}
