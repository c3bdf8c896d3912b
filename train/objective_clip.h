/* Trainer side of `--objective clip` (image-report contrastive pretraining): checks that
 * every training and validation sample has a report, sizes the report buffers, runs the
 * step on each batch's reports and validates with the contrastive loss and image->report
 * retrieval. Private to train/trainer*.c like trainer_impl.h; the model side is
 * encoders/liver_vlm_clip.h. */
#ifndef LV_OBJECTIVE_CLIP_H
#define LV_OBJECTIVE_CLIP_H

#include "train/trainer_impl.h"

/* Before anything is built or written: with cfg->objective clip, data (and val, when
 * given) must have /reports (LV_ERR_INPUT naming the file and "/reports"). */
lv_status trainer_clip_check_data(const lv_train_config *cfg, const lv_dataset *data, const lv_dataset *val);

/* Sets t->clip when cfg->objective is clip (nothing otherwise). Needs the model prepared
 * for the batch (after allocate). Data without /reports or with an empty report among the
 * samples used is LV_ERR_INPUT naming the file, "/reports" and the sample. */
lv_status trainer_clip_setup(trainer *t);
void trainer_clip_free(trainer *t);

/* The forward+backward of one training batch of n images x (as the model takes them) whose
 * dataset sample indices are indices[n] (host): their reports, then the contrastive step
 * into the model's gradients and m.loss. Only indices are needed, so any batch path that
 * keeps them can feed it. */
lv_status trainer_clip_step(trainer *t, const int64_t *indices, int n, const float *x);

/* Validation of a clip run: *loss the mean contrastive loss per sample, *retrieval the
 * image->report top-1 accuracy within validation batches, *zero_shot_auc the class-prompt
 * macro-AUC (trainer_validate's). NaN each without validation. */
lv_status trainer_clip_validate(trainer *t, double *loss, double *retrieval, double *zero_shot_auc);

#endif
