/* Optimizer driver: learning-rate schedule (linear warmup then cosine, PyTorch's
 * CosineAnnealingLR shape) and one update of a whole parameter layout, grouped into runs
 * of tensors with the same treatment (decayed, not decayed, frozen) so each run is one op
 * call over a flat range. Only backend calls: works on every device. */
#ifndef LV_OPTIM_H
#define LV_OPTIM_H

#include <stdint.h>

#include "core/backend.h"
#include "core/params.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum lv_optimizer_kind { LV_OPT_ADAMW = 0, LV_OPT_SGD = 1 } lv_optimizer_kind;

typedef struct lv_optim_config {
    lv_optimizer_kind kind;
    float lr;            /* peak learning rate */
    float min_lr;        /* floor of the cosine */
    float weight_decay;  /* applied to tensors without LV_PARAM_NO_DECAY */
    float beta1, beta2, eps; /* AdamW */
    float momentum;      /* SGD */
    int nesterov;        /* SGD */
    int64_t warmup_steps;
    int64_t total_steps; /* schedule length (steps per epoch x epochs) */
} lv_optim_config;

/* AdamW(lr 1e-3, betas 0.9/0.999, eps 1e-8, wd 0.01), no warmup, cosine to 0. */
void lv_optim_config_default(lv_optim_config *c);

/* Learning rate for 0-based `step`: lr * (step+1)/warmup during warmup, then
 * min_lr + (lr - min_lr) * (1 + cos(pi * t)) / 2 with t the fraction of the remaining
 * steps done (clamped to 1 after total_steps). */
float lv_lr_at(const lv_optim_config *c, int64_t step);

/* A run of consecutive tensors updated alike. */
typedef struct lv_optim_run {
    size_t offset, n;
    int decay;
} lv_optim_run;

typedef struct lv_optim_plan {
    lv_optim_run *runs;
    int count;
} lv_optim_plan;

lv_status lv_optim_plan_build(lv_optim_plan *p, const lv_param_layout *l);
void lv_optim_plan_free(lv_optim_plan *p);

/* One update at 0-based `step` with learning rate lr (from lv_lr_at); b->m (and b->v for
 * AdamW) must be allocated. */
void lv_optim_step(lv_backend *be, const lv_optim_plan *p, lv_param_buffers *b,
                   const lv_optim_config *c, int64_t step, float lr);

#ifdef __cplusplus
}
#endif
#endif
