/* Pretrained-weight imports into a built Liver-VLM model: a torchvision resnet18 state dict
 * saved as safetensors (--init-image) and an HF BERT folder (--text-model). They replace
 * weights in place on the model's device; they never change the architecture (build the
 * model from the folder's config.json first) and never touch optimizer state. */
#ifndef LV_LIVER_VLM_IO_H
#define LV_LIVER_VLM_IO_H

#include "core/status.h"
#include "encoders/liver_vlm.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Loads every ResNet-18 tensor (conv, BN affine and running statistics) from `path`. Names
 * are torchvision's, with or without a "visual." prefix (when any tensor has the prefix,
 * only prefixed tensors are read, so a Liver-VLM checkpoint works too). Ignored: "fc.*"
 * (ImageNet's classifier), "*.num_batches_tracked" and "proj.*" (the projection keeps its
 * own weights). conv1.weight [64,Pf,7,7] from a file with Pf != P phases is adapted:
 * P >= 2 repeats the file's channels cyclically and scales by Pf/P (3/P for RGB); P = 1
 * takes their sum (timm's adapt_input_conv), so an input equal on every channel gives the
 * ImageNet response. Missing, unexpected, duplicated or mis-shaped tensors are
 * LV_ERR_INPUT naming the file and the tensor. */
lv_status lv_vlm_load_visual_torchvision(lv_vlm *m, const char *path);

/* The text side of a model config for an HF folder (--text-model DIR): the encoder's
 * config.json, the pooling sentence-transformers records in 1_Pooling/ (kept as is when
 * the folder has none), projection to `dim`, and prompts no longer than the folder's
 * position table. The trainer and the published-model test share this. */
lv_status lv_vlm_text_config_from_hf(lv_vlm_config *vc, const char *dir, int dim);

/* Loads DIR/model.safetensors (lv_bert_load_hf_folder's names and rules) into the text
 * encoder; text.proj keeps its weights. DIR/config.json, when present, must describe the
 * architecture the model was built with (the message names the differing key). The cached
 * class embeddings are marked stale. VLM head only. */
lv_status lv_vlm_load_text_hf(lv_vlm *m, const char *dir);

#ifdef __cplusplus
}
#endif
#endif
