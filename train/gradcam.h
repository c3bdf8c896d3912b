/* Grad-CAM (Selvaraju et al. 2017) on the image encoder's last stage: which parts of the ROI
 * drove one class's logit. Host math on copies of layer4's output plus the wiring that runs
 * a loaded model on any backend; no files, no images, no command line. */
#ifndef LV_GRADCAM_H
#define LV_GRADCAM_H

#include "encoders/liver_vlm.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Why no backward pass through the encoder: layer4's output A [512, h, w] reaches the
 * logits only through the global average pool (features f_k = mean_i A_k,i), so
 * d logit / d A_k,i = (d logit / d f_k) / (h w) at every position i, and the Grad-CAM
 * channel weight (the spatial mean of that gradient) is (d logit / d f_k) / (h w). Nothing
 * upstream of A, BatchNorm included, takes part, so eval-mode BN needs no backward here. */

/* d logit_t / d f [512] for the VLM head: logit_j = s * cos(P f + b, w_j) with
 * s = min(exp(logit_scale), 100) and the cosine of F.normalize'd vectors (eps 1e-12), as
 * cosine_ce computes it. emb [D] = P f + b, cls [C, D] class embeddings (any length),
 * proj_w [D, 512]. Double inside, like the CPU ops. */
void lv_gradcam_dfeat_vlm(const float *emb, const float *cls, float logit_scale, const float *proj_w, int D,
                          int t, float *dfeat);
/* d logit_t / d f for the linear head: row t of head.weight [C, 512]. */
void lv_gradcam_dfeat_linear(const float *head_w, int t, float *dfeat);

/* cam [h*w] = relu(sum_k alpha_k A_k) with alpha_k = dfeat[k] / (h w): the class
 * activation map at layer4's resolution, unnormalised. act [K, h, w]. alpha [K] may be NULL. */
void lv_gradcam_map(const float *act, const float *dfeat, int K, int h, int w, float *alpha, float *cam);

/* The map resized to the S x S input bilinearly (PyTorch's interpolate, align_corners =
 * False) and min-max normalised to [0, 1]; an all-constant map (e.g. all zero after the
 * relu: nothing raised the logit) becomes all 0. */
void lv_gradcam_upsample(const float *cam, int h, int w, int S, float *out);

/* Runs a loaded model on b preprocessed images x [b, P, S, S] (device memory, S the size m
 * was prepared for with lv_vlm_prepare, b <= its batch) with BN running statistics and
 * explains, per sample i, class target[i] (-1: the predicted class). Host outputs, caller's:
 * probs [b, C] (softmax, as lv_vlm_predict), explained [b] (the class each map is for),
 * cam_low [b, hw*hw] (lv_gradcam_map at layer4's side hw = S/32 rounded up, may be NULL) and
 * cam [b, S, S] (lv_gradcam_upsample). */
lv_status lv_gradcam_run(lv_vlm *m, const float *x, int b, const int *target, float *probs, int *explained,
                         float *cam_low, float *cam);

/* Layer4's output side for an S x S input (the side of cam_low). */
int lv_gradcam_side(const lv_vlm *m);

#ifdef __cplusplus
}
#endif
#endif
