/* Liver-VLM: the ResNet-18 image encoder, the BERT text encoder over class prompts and the
 * cosine-similarity head (or the plain linear head, the CNN baseline), wired together on
 * one backend. Each part keeps its own parameter layout and flat buffers (visual., text.,
 * head), so checkpoints name them as docs/checkpoint.md says and a frozen text encoder costs
 * no gradient memory. Knows no device and no file format beyond its inputs. */
#ifndef LV_LIVER_VLM_H
#define LV_LIVER_VLM_H

#include <stdint.h>

#include "core/backend.h"
#include "core/params.h"
#include "encoders/bert.h"
#include "encoders/prompts.h"
#include "encoders/resnet18.h"
#include "encoders/wordpiece.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum lv_head_kind { LV_HEAD_VLM = 0, LV_HEAD_LINEAR = 1 } lv_head_kind;

typedef struct lv_vlm_config {
    lv_head_kind head;
    int phases, classes;
    int dim;                /* joint space D (VLM head) */
    int train_text;         /* 0: the BERT encoder is frozen, only text.proj trains (the paper) */
    int text_max_len;       /* prompt length in tokens, [CLS] and [SEP] included */
    float logit_scale_init; /* log space; CLIP's ln(1/0.07) */
    lv_bert_config text;    /* text encoder architecture (its dim is set to `dim`) */
} lv_vlm_config;

/* VLM head, D 128, frozen text, 32 tokens, the small random text encoder for `vocab`. */
void lv_vlm_config_default(lv_vlm_config *c, int phases, int classes, int vocab);

typedef struct lv_vlm {
    lv_vlm_config cfg;
    lv_backend *be;
    int training; /* buffers for gradients and optimizer moments exist */

    lv_resnet18 visual;
    lv_param_buffers vbuf; /* visual parameters (+ grads, m, v) */
    float *vstate;         /* BN running statistics [visual.state.total] */

    /* Text side (VLM head only). */
    lv_bert text;
    lv_param_buffers tbuf;
    lv_wordpiece *tok; /* owned */
    lv_prompt_set prompts;
    int *prompt_ids, *prompt_mask, *prompt_class; /* device [np,L], [np,L], [np] */
    lv_bert_acts tacts;
    int text_cached; /* the frozen encoder's pooled prompt features are current */
    float *E, *dE, *U, *dU, *unorm; /* [np,D] projected, its gradient, normalised, ..., norms [np] */
    float *cls, *dcls;              /* [C,D] sum of a class's normalised prompt embeddings */

    /* Head: logit_scale [1] (VLM) or head.weight [C,512], head.bias [C] (linear). */
    lv_param_layout head;
    size_t logit_scale, head_w, head_b;
    lv_param_buffers hbuf;

    /* One batch shape. */
    int batch, size;
    lv_resnet18_acts vacts;
    float *logits, *dlogits, *dimg, *dfeat, *loss; /* [B,C], [B,C], [B,D], [B,512], [1] */
} lv_vlm;

/* Builds every part, allocates its buffers on `be` (gradients and moments when training),
 * initialises the weights from `seed`, takes ownership of `tok` and copies `prompts`
 * (VLM head; both may be NULL for the linear head). classes[c] must all have prompts. */
lv_status lv_vlm_create(lv_vlm *m, lv_backend *be, const lv_vlm_config *cfg,
                        const char *const *classes, lv_wordpiece *tok, const lv_prompt_set *prompts,
                        int training, uint64_t seed);
void lv_vlm_free(lv_vlm *m);

/* Allocates activations for batches of up to `batch` images of size x size. */
lv_status lv_vlm_prepare(lv_vlm *m, int batch, int size);

/* Text weights changed (loaded, or a step trained them): the frozen cache is stale. */
void lv_vlm_text_changed(lv_vlm *m);

/* Zeroes every gradient buffer. */
void lv_vlm_zero_grads(lv_vlm *m);

/* One training forward+backward on x [b,P,size,size], labels [b] (device): writes the mean
 * loss to m->loss[0] (device) and ADDS every gradient. */
void lv_vlm_train_step(lv_vlm *m, const float *x, const int *labels, int b);

/* Evaluation: class probabilities probs [b,C] (device) for x, with running BN statistics.
 * With labels (may be NULL) also the mean loss in m->loss[0]. */
void lv_vlm_predict(lv_vlm *m, const float *x, const int *labels, int b, float *probs);

/* The cached class embeddings as the checkpoint stores them: [C,D] L2-normalised, host. */
lv_status lv_vlm_class_embeddings(lv_vlm *m, float *out);

#ifdef __cplusplus
}
#endif
#endif
