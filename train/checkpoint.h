/* Model checkpoints (docs/checkpoint.md): one self-contained .safetensors file holding the
 * image encoder (visual.*), the text encoder (text.*), logit_scale and the cached
 * class_embeddings (VLM head) or head.* (linear head), and __metadata__ strings with
 * everything needed to rebuild the model and reproduce its preprocessing. Written
 * atomically. Optimizer/RNG/cursor state for --resume lives in a separate file (state.h). */
#ifndef LV_CHECKPOINT_H
#define LV_CHECKPOINT_H

#include "data/dataset.h"
#include "data/preprocess.h"
#include "encoders/liver_vlm.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Metadata keys (all values are strings; JSON where noted). */
#define LV_CKPT_FORMAT "liver-vlm-checkpoint/1" /* value of "format" */
/* "format", "classes" (JSON array), "phases" (JSON array), "model" (JSON: head, dim,
 * phases, classes, train_text, text_max_len, logit_scale_init, input_size), "text_config"
 * (JSON: the lv_bert_config incl. pooling), "tokenizer" (JSON: wordpiece options),
 * "vocab" (vocab.txt text), "prompts" (TSV), "preprocessing" (JSON, lv_preproc),
 * "training" (JSON: the run's config.json, optional). */

/* What a checkpoint carries besides the weights. */
typedef struct lv_ckpt_info {
    int classes, phases;
    char *class_names[LV_MAX_CLASSES];
    char *phase_names[LV_MAX_PHASES];
    lv_preproc pre;
    int input_size;      /* ROI side the model was trained at */
    char *training_json; /* the run's config (may be NULL) */
} lv_ckpt_info;

void lv_ckpt_info_free(lv_ckpt_info *info);

/* Saves m (weights from its device buffers, BN statistics, class embeddings) and info to
 * path (temp file + fsync + rename). */
lv_status lv_ckpt_save(lv_vlm *m, const lv_ckpt_info *info, const char *path);

/* Rebuilds the model a checkpoint describes on `be` (training: with gradient and moment
 * buffers, for fine-tuning or resume) and fills info. Every missing or malformed tensor or
 * metadata entry is LV_ERR_INPUT naming the file and key. */
lv_status lv_ckpt_load(const char *path, lv_backend *be, int training, lv_vlm *m, lv_ckpt_info *info);

#ifdef __cplusplus
}
#endif
#endif
