/* Image-report contrastive training (CLIP) on a Liver-VLM model: each batch's reports go
 * through the model's own text encoder and projection, images through the ResNet, and the
 * symmetric CLIP loss (lv_clip_loss) with the model's learnable logit scale pairs image i
 * with report i. Gradients land in the model's usual buffers, so the optimizer, clipping,
 * checkpoints and resume state need nothing new. Knows no device and no file format. */
#ifndef LV_LIVER_VLM_CLIP_H
#define LV_LIVER_VLM_CLIP_H

#include <stdint.h>

#include "encoders/liver_vlm.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Report length cap in tokens ([CLS] and [SEP] included), besides the encoder's
 * max_position: findings sentences fit, and attention stays cheap. */
#define LV_CLIP_REPORT_TOKENS_MAX 128

typedef struct lv_vlm_clip {
    lv_vlm *m;              /* not owned; VLM head, prepared for >= batch images */
    int batch, seq_len;
    int32_t *ids_host, *mask_host; /* [batch, seq_len] tokenizer output */
    int *ids, *mask;        /* the same on the device; alive until backward */
    int reports;            /* reports set for the next step */
    lv_bert_acts acts;      /* reports through the text encoder (grads when it trains) */
    float *dtxt;            /* [batch, D] gradient of the projected report embeddings */
} lv_vlm_clip;

/* The longest report sequence the model takes: LV_CLIP_REPORT_TOKENS_MAX or the encoder's
 * max_position, whichever is smaller (longer reports are cut, as the tokenizer cuts
 * prompts). */
int lv_vlm_clip_max_tokens(const lv_vlm *m);

/* Buffers for batches of up to `batch` image-report pairs of seq_len tokens. */
lv_status lv_vlm_clip_init(lv_vlm_clip *c, lv_vlm *m, int batch, int seq_len);
void lv_vlm_clip_free(lv_vlm_clip *c);

/* Tokenizes b reports on the host (HF truncation to seq_len) and uploads them for the next
 * step or evaluation. A text without a single token (empty, only spaces or control
 * characters) is LV_ERR_INPUT: a pair without a report has nothing to contrast. */
lv_status lv_vlm_clip_set_reports(lv_vlm_clip *c, const char *const *texts, int b);

/* One training forward+backward over images x [b,P,S,S] (device) and the b reports set
 * last: the mean symmetric loss in m->loss[0] (device); ADDS gradients to the image
 * encoder, logit_scale, text.proj and (train_text) the whole text encoder. b >= 2. */
void lv_vlm_clip_train_step(lv_vlm_clip *c, const float *x, int b);

/* Evaluation (running BN statistics): the loss in m->loss[0] and the unnormalised
 * embeddings of the images *img and reports *txt, [b,D] each on the device, valid until
 * the next call on the model. */
void lv_vlm_clip_eval(lv_vlm_clip *c, const float *x, int b, const float **img, const float **txt);

#ifdef __cplusplus
}
#endif
#endif
