/* Schedule and grouped optimizer steps (see optim.h). */
#include "optim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void lv_optim_config_default(lv_optim_config *c) {
    memset(c, 0, sizeof *c);
    c->kind = LV_OPT_ADAMW;
    c->lr = 1e-3f;
    c->weight_decay = 0.01f;
    c->beta1 = 0.9f;
    c->beta2 = 0.999f;
    c->eps = 1e-8f;
    c->momentum = 0.9f;
}

float lv_lr_at(const lv_optim_config *c, int64_t step) {
    if (step < c->warmup_steps) return c->lr * (float)(step + 1) / (float)c->warmup_steps;
    int64_t span = c->total_steps - c->warmup_steps;
    if (span <= 0) return c->lr;
    double t = (double)(step - c->warmup_steps) / (double)span;
    if (t > 1.0) t = 1.0;
    return (float)(c->min_lr + (c->lr - c->min_lr) * 0.5 * (1.0 + cos(M_PI * t)));
}

lv_status lv_optim_plan_build(lv_optim_plan *p, const lv_param_layout *l) {
    memset(p, 0, sizeof *p);
    p->runs = calloc((size_t)(l->count ? l->count : 1), sizeof *p->runs);
    LV_CHECK_ALLOC(p->runs);
    for (int i = 0; i < l->count; i++) {
        const lv_param_spec *s = &l->specs[i];
        if (s->flags & LV_PARAM_FROZEN) continue;
        int decay = !(s->flags & LV_PARAM_NO_DECAY);
        lv_optim_run *last = p->count ? &p->runs[p->count - 1] : NULL;
        if (last && last->decay == decay && last->offset + last->n == s->offset) last->n += s->numel;
        else p->runs[p->count++] = (lv_optim_run){s->offset, s->numel, decay};
    }
    return LV_OK;
}

void lv_optim_plan_free(lv_optim_plan *p) {
    free(p->runs);
    memset(p, 0, sizeof *p);
}

void lv_optim_step(lv_backend *be, const lv_optim_plan *p, lv_param_buffers *b,
                   const lv_optim_config *c, int64_t step, float lr) {
    for (int i = 0; i < p->count; i++) {
        const lv_optim_run *r = &p->runs[i];
        float wd = r->decay ? c->weight_decay : 0.0f;
        if (c->kind == LV_OPT_ADAMW) {
            lv_adamw_hparams h = {lr, c->beta1, c->beta2, c->eps, wd, (int)(step + 1)};
            lv_adamw_update(be, b->params + r->offset, b->grads + r->offset, b->m + r->offset,
                            b->v + r->offset, r->n, &h);
        } else {
            lv_sgd_hparams h = {lr, c->momentum, 0.0f, wd, c->nesterov, step == 0};
            lv_sgd_update(be, b->params + r->offset, b->grads + r->offset,
                          c->momentum != 0.0f ? b->m + r->offset : NULL, r->n, &h);
        }
    }
}
