/* Optimizer driver: tensors grouped into runs by treatment (decay / no decay / frozen),
 * weight decay only where it belongs, frozen tensors untouched, and the warmup + cosine
 * schedule at its landmarks. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "train/optim.h"

int main(void) {
    lv_param_layout l;
    lv_layout_init(&l);
    int64_t w[2] = {3, 2}, b[1] = {3};
    lv_layout_add(&l, "a.weight", 2, w, 0, NULL);
    lv_layout_add(&l, "b.weight", 2, w, 0, NULL);
    lv_layout_add(&l, "b.bias", 1, b, LV_PARAM_NO_DECAY, NULL);
    lv_layout_add(&l, "frozen.weight", 2, w, LV_PARAM_FROZEN, NULL);
    lv_layout_add(&l, "c.bias", 1, b, LV_PARAM_NO_DECAY, NULL);
    lv_optim_plan p;
    lv_test_true(lv_optim_plan_build(&p, &l) == LV_OK, "plan builds");
    lv_test_true(p.count == 3 && p.runs[0].offset == 0 && p.runs[0].n == 12 && p.runs[0].decay &&
                     p.runs[1].offset == 12 && p.runs[1].n == 3 && !p.runs[1].decay &&
                     p.runs[2].offset == 21 && p.runs[2].n == 3 && !p.runs[2].decay,
                 "runs merge neighbours alike, split at treatment changes, skip frozen");

    lv_backend *be = lv_test_cpu_backend();
    lv_param_buffers buf;
    lv_param_buffers_alloc(&buf, be, l.total, LV_WANT_GRADS | LV_WANT_M | LV_WANT_V);
    for (size_t i = 0; i < l.total; i++) buf.params[i] = 1.0f, buf.grads[i] = 0.0f;
    lv_optim_config c;
    lv_optim_config_default(&c);
    c.weight_decay = 0.5f;
    lv_optim_step(be, &p, &buf, &c, 0, 0.1f);
    lv_test_true(be->sync(be) == LV_OK, "step ran");
    /* Zero gradients: only decoupled weight decay moves a parameter: 1 - lr*wd = 0.95. */
    int ok = 1;
    for (size_t i = 0; i < 12; i++) ok &= fabsf(buf.params[i] - 0.95f) < 1e-7f;
    for (size_t i = 12; i < l.total; i++) ok &= buf.params[i] == 1.0f;
    lv_test_true(ok, "decay on weights only; biases and frozen tensors unchanged");

    c.lr = 1.0f;
    c.min_lr = 0.1f;
    c.warmup_steps = 4;
    c.total_steps = 14;
    lv_test_true(fabsf(lv_lr_at(&c, 0) - 0.25f) < 1e-7f && fabsf(lv_lr_at(&c, 3) - 1.0f) < 1e-7f,
                 "linear warmup reaches the peak at the last warmup step");
    lv_test_true(fabsf(lv_lr_at(&c, 4) - 1.0f) < 1e-6f && fabsf(lv_lr_at(&c, 9) - 0.55f) < 1e-6f &&
                     fabsf(lv_lr_at(&c, 14) - 0.1f) < 1e-6f && fabsf(lv_lr_at(&c, 100) - 0.1f) < 1e-6f,
                 "cosine from the peak to min_lr, held after the end");
    lv_param_buffers_free(&buf);
    lv_optim_plan_free(&p);
    lv_layout_free(&l);
    lv_backend_destroy(be);
    return lv_test_summary();
}
