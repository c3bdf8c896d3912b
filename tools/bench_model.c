/* liver-vlm bench train / bench eval: the whole Liver-VLM model on one in-memory batch (the
 * phantom, default preprocessing). train times what the trainer does per step (zero grads,
 * forward+backward, global-norm clipping, AdamW over every part, sync); eval times
 * lv_vlm_predict. Measures only; it must not change the model or the ops it calls. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "core/clock.h"
#include "core/grad_clip.h"
#include "core/log.h"
#include "core/rng.h"
#include "data/phantom.h"
#include "data/preprocess.h"
#include "encoders/liver_vlm.h"
#include "tools/args.h"
#include "tools/bench.h"
#include "train/optim.h"

#define MODEL_MAX_STEPS 10000
#define MODEL_TARGET_S 8.0 /* auto step count: about this much measuring per run */

typedef struct model_opts {
    int train; /* 1: bench train, 0: bench eval */
    const char *device;
    const char *precision; /* NULL: the backend's default (TF32 on CUDA from sm_80) */
    int size, batch, phases, steps, warmup, json; /* steps 0: auto */
    lv_head_kind head;
} model_opts;

typedef struct model_result {
    double ms_median, ms_mean, ms_min, build_s;
    int steps, threads;
    size_t visual_params, trainable_params;
    float loss_first, loss_last;
    const char *source;
} model_result;

/* Everything one timed step touches. */
typedef struct bench_model {
    lv_backend *be;
    lv_vlm m;
    int built;
    float *x, *probs; /* device [B,P,S,S], [B,C] */
    int *y;           /* device [B] */
    void *clip_scratch;
    lv_optim_plan plans[3];
    lv_param_buffers *bufs[3];
    int nparts;
    lv_optim_config oc;
} bench_model;

static void usage(FILE *out, int train) {
    const char *name = train ? "train" : "eval";
    fprintf(out,
            "usage: liver-vlm bench %s [--device cpu|cuda|auto] [--precision fp32|tf32] [--size S] [--batch N]\n"
            "                       [--head vlm|linear] [--phases P] [--steps N] [--warmup N] [--json]\n"
            "\n",
            name);
    if (train)
        fprintf(out, "train: full training steps of the whole model (ResNet-18 + frozen text encoder with a\n"
                     "trainable projection + cosine head, or the linear head): zero gradients, forward and\n"
                     "backward, global gradient-norm clipping (1.0), AdamW over every part, device sync.\n");
    else
        fprintf(out, "eval: lv_vlm_predict (running BN statistics, class probabilities) on the whole model.\n");
    fprintf(out,
            "One in-memory batch of phantom lesions, default preprocessing; images/s is the batch size\n"
            "over the median step time after the warm-up.\n"
            "\n"
            "  --device D   auto (CUDA when present), cpu or cuda      [auto]\n"
            "  --precision  fp32 or tf32 (TF32 tensor cores on CUDA;   [backend's]\n"
            "               the CPU computes in fp32 either way)\n"
            "  --size S     image height and width, 16..1024           [64]\n"
            "  --batch N    batch size, 1..4096                        [%d]\n"
            "  --head H     vlm (cosine, prompts) or linear            [vlm]\n"
            "  --phases P   input phases (conv1 channels), 1..%d        [3]\n"
            "  --steps N    timed steps, 1..%d; 0 = about %.0f s        [0]\n"
            "  --warmup N   untimed steps first, 0..100                [2]\n"
            "  --json       print one JSON object instead of the summary\n",
            train ? 32 : 128, LV_MAX_PHASES, MODEL_MAX_STEPS, MODEL_TARGET_S);
}

static lv_status parse_opts(int argc, char **argv, model_opts *o, int *help) {
    const char *name = o->train ? "train" : "eval";
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            *help = 1;
            return LV_OK;
        } else if (!strcmp(a, "--json")) {
            o->json = 1;
        } else if (!strcmp(a, "--device")) {
            if (!v) return lv_errorf(LV_ERR_USAGE, "--device needs a value (auto, cpu or cuda)");
            o->device = v;
            i++;
        } else if (!strcmp(a, "--precision")) {
            if (!v || (strcmp(v, "fp32") != 0 && strcmp(v, "tf32") != 0))
                return lv_errorf(LV_ERR_USAGE, "--precision: expected fp32 or tf32, got '%s'", v ? v : "(nothing)");
            o->precision = v;
            i++;
        } else if (!strcmp(a, "--head")) {
            if (v && !strcmp(v, "vlm")) o->head = LV_HEAD_VLM;
            else if (v && !strcmp(v, "linear")) o->head = LV_HEAD_LINEAR;
            else return lv_errorf(LV_ERR_USAGE, "--head: expected vlm or linear, got '%s'", v ? v : "(nothing)");
            i++;
        } else if (!strcmp(a, "--size")) {
            LV_TRY(lv_arg_int(a, v, 16, 1024, &o->size));
            i++;
        } else if (!strcmp(a, "--batch")) {
            LV_TRY(lv_arg_int(a, v, 1, 4096, &o->batch));
            i++;
        } else if (!strcmp(a, "--phases")) {
            LV_TRY(lv_arg_int(a, v, 1, LV_MAX_PHASES, &o->phases));
            i++;
        } else if (!strcmp(a, "--steps")) {
            LV_TRY(lv_arg_int(a, v, 0, MODEL_MAX_STEPS, &o->steps));
            i++;
        } else if (!strcmp(a, "--warmup")) {
            LV_TRY(lv_arg_int(a, v, 0, 100, &o->warmup));
            i++;
        } else {
            return lv_errorf(LV_ERR_USAGE, "bench %s: unknown option '%s' (see liver-vlm bench %s --help)", name, a,
                             name);
        }
    }
    return LV_OK;
}

/* Host batch [B,P,S,S] normalised floats and labels: phantom lesions (every class in turn)
 * for up to 4 phases, beyond that Gaussian noise around a class-dependent level (the model's
 * cost does not depend on what the pixels show). */
static lv_status make_batch(const model_opts *o, float *x, int *y, const char **source) {
    size_t per = (size_t)o->phases * (size_t)o->size * (size_t)o->size;
    if (o->phases > LV_PHANTOM_NPHASES) {
        *source = "random";
        for (int i = 0; i < o->batch; i++) {
            y[i] = i % LV_PHANTOM_NCLASSES;
            for (size_t k = 0; k < per; k++)
                x[(size_t)i * per + k] = 0.2f * (float)y[i] + lv_rng_normal(11, (uint64_t)i, k);
        }
        return LV_OK;
    }
    *source = "phantom";
    lv_phantom_opts po;
    lv_phantom_opts_default(&po);
    po.per_class = (o->batch + LV_PHANTOM_NCLASSES - 1) / LV_PHANTOM_NCLASSES;
    po.size = o->size;
    po.p = o->phases;
    for (int i = 0; i < o->phases; i++) po.phases[i] = lv_phantom_phase_names[i];
    lv_dataset ds;
    lv_dataset_init(&ds);
    lv_status s = lv_phantom_generate(&ds, &po, NULL);
    lv_preproc pp;
    lv_preproc_plan plan;
    lv_preproc_default(&pp);
    if (s == LV_OK) s = lv_preproc_plan_make(&plan, &pp, &ds);
    /* Samples are stored class by class; stride through them so every class appears. */
    for (int i = 0; s == LV_OK && i < o->batch; i++) {
        int64_t k = (int64_t)(i % LV_PHANTOM_NCLASSES) * po.per_class + i / LV_PHANTOM_NCLASSES;
        y[i] = ds.labels[k];
        lv_preproc_apply(&plan, (const char *)ds.images + (size_t)k * lv_dataset_sample_bytes(&ds), ds.pixel,
                         o->size, o->size, x + (size_t)i * per);
    }
    lv_dataset_free(&ds);
    return s;
}

static lv_status model_build(bench_model *b, const model_opts *o, const char **source) {
    lv_backend *be = b->be;
    const char *classes[LV_PHANTOM_NCLASSES];
    for (int i = 0; i < LV_PHANTOM_NCLASSES; i++) classes[i] = lv_phantom_class_names[i];
    lv_wordpiece *tok = NULL;
    lv_prompt_set prompts;
    memset(&prompts, 0, sizeof prompts);
    int vlm = o->head == LV_HEAD_VLM;
    if (vlm) {
        LV_TRY(lv_wordpiece_builtin(&tok));
        lv_status s = lv_prompts_default(&prompts);
        if (s != LV_OK) {
            lv_wordpiece_free(tok);
            return s;
        }
    }
    lv_vlm_config cfg;
    lv_vlm_config_default(&cfg, o->phases, LV_PHANTOM_NCLASSES, tok ? (int)lv_wordpiece_vocab_size(tok) : 1);
    cfg.head = o->head;
    /* The model owns tok from here on, even when create fails. */
    lv_status s = lv_vlm_create(&b->m, be, &cfg, classes, tok, vlm ? &prompts : NULL, o->train, 1);
    lv_prompts_free(&prompts);
    b->built = 1;
    LV_TRY(s);
    LV_TRY(lv_vlm_prepare(&b->m, o->batch, o->size));

    size_t per = (size_t)o->phases * (size_t)o->size * (size_t)o->size, nx = (size_t)o->batch * per;
    float *hx = malloc(nx * sizeof *hx);
    int *hy = malloc((size_t)o->batch * sizeof *hy);
    s = hx && hy ? make_batch(o, hx, hy, source) : lv_errorf(LV_ERR_RUNTIME, "bench: out of memory for the batch");
    if (s == LV_OK) {
        b->x = be->alloc(be, nx * sizeof(float));
        b->y = be->alloc(be, (size_t)o->batch * sizeof(int));
        b->probs = be->alloc(be, (size_t)o->batch * LV_PHANTOM_NCLASSES * sizeof(float));
        b->clip_scratch = be->alloc(be, LV_GRAD_CLIP_SCRATCH_BYTES);
        if (!b->x || !b->y || !b->probs || !b->clip_scratch)
            s = lv_errorf(LV_ERR_RUNTIME, "%s backend: out of memory for batch %d at %dx%d", be->name, o->batch,
                          o->size, o->size);
    }
    if (s == LV_OK) {
        be->copy_h2d(be, b->x, hx, nx * sizeof(float));
        be->copy_h2d(be, b->y, hy, (size_t)o->batch * sizeof(int));
    }
    free(hx);
    free(hy);
    LV_TRY(s);
    if (o->train) {
        lv_optim_config_default(&b->oc);
        const lv_param_layout *layouts[3] = {&b->m.visual.params, &b->m.head, vlm ? &b->m.text.params : NULL};
        lv_param_buffers *bufs[3] = {&b->m.vbuf, &b->m.hbuf, &b->m.tbuf};
        for (int i = 0; i < 3 && layouts[i]; i++) {
            LV_TRY(lv_optim_plan_build(&b->plans[i], layouts[i]));
            b->bufs[i] = bufs[i];
            b->nparts = i + 1;
        }
    }
    return be->sync(be);
}

static void model_free(bench_model *b) {
    lv_backend *be = b->be;
    for (int i = 0; i < b->nparts; i++) lv_optim_plan_free(&b->plans[i]);
    void *bufs[] = {b->x, b->y, b->probs, b->clip_scratch};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        if (bufs[i]) be->free(be, bufs[i]);
    if (b->built) lv_vlm_free(&b->m);
}

/* Global 2-norm clipping over the trainable runs of every part, as the trainer clips: one
 * sum of squares on the device, the decision on the host, one scale per run. */
static lv_status clip_all(bench_model *b, float max_norm) {
    lv_backend *be = b->be;
    float *sumsq_d = (float *)b->clip_scratch;
    int *flag_d = (int *)((char *)b->clip_scratch + 8);
    be->memset0(be, b->clip_scratch, LV_GRAD_CLIP_SCRATCH_BYTES);
    for (int i = 0; i < b->nparts; i++)
        for (int r = 0; r < b->plans[i].count; r++)
            lv_grad_sumsq(be, sumsq_d, flag_d, b->bufs[i]->grads + b->plans[i].runs[r].offset, b->plans[i].runs[r].n);
    float sumsq = 0;
    int flag = 0;
    be->copy_d2h(be, &sumsq, sumsq_d, sizeof sumsq);
    be->copy_d2h(be, &flag, flag_d, sizeof flag);
    LV_TRY(be->sync(be));
    float coef = max_norm / (sqrtf(sumsq) + 1e-6f);
    if (flag || !isfinite(sumsq) || coef >= 1.0f) return LV_OK;
    for (int i = 0; i < b->nparts; i++)
        for (int r = 0; r < b->plans[i].count; r++)
            lv_scale(be, b->bufs[i]->grads + b->plans[i].runs[r].offset, coef, b->plans[i].runs[r].n);
    return LV_OK;
}

/* One timed unit: a full training step, or one evaluation forward. Returns the loss. */
static lv_status one_step(bench_model *b, const model_opts *o, int64_t step, float *loss) {
    lv_backend *be = b->be;
    if (o->train) {
        lv_vlm_zero_grads(&b->m);
        lv_vlm_train_step(&b->m, b->x, b->y, o->batch);
        be->copy_d2h(be, loss, b->m.loss, sizeof *loss);
        LV_TRY(be->sync(be));
        LV_TRY(clip_all(b, 1.0f));
        for (int i = 0; i < b->nparts; i++)
            lv_optim_step(be, &b->plans[i], b->bufs[i], &b->oc, step, b->oc.lr);
    } else {
        lv_vlm_predict(&b->m, b->x, b->y, o->batch, b->probs);
        be->copy_d2h(be, loss, b->m.loss, sizeof *loss);
    }
    return be->sync(be);
}

/* Runs step number *step and keeps the first and the latest loss. */
static lv_status counted_step(bench_model *b, const model_opts *o, int64_t *step, model_result *r) {
    float loss = 0;
    LV_TRY(one_step(b, o, *step, &loss));
    if (*step == 0) r->loss_first = loss;
    r->loss_last = loss;
    (*step)++;
    return LV_OK;
}

static lv_status measure(bench_model *b, const model_opts *o, model_result *r) {
    const char *name = o->train ? "train" : "eval";
    int64_t step = 0;
    double once = 0;
    /* Without a warm-up, an auto-sized run still needs one step to size itself. */
    int untimed = o->warmup > 0 ? o->warmup : o->steps <= 0;
    for (int i = 0; i < untimed; i++) {
        double t0 = lv_now_s();
        LV_TRY(counted_step(b, o, &step, r));
        once = lv_now_s() - t0;
    }
    int steps = o->steps;
    if (steps <= 0) {
        steps = once > 0 ? (int)(MODEL_TARGET_S / once) : 200;
        steps = steps < 5 ? 5 : steps > 200 ? 200 : steps;
    }
    LV_INFO("bench %s: %d timed steps (about %.1f s)", name, steps, steps * once);
    double *t = malloc((size_t)steps * sizeof *t);
    LV_CHECK_ALLOC(t);
    lv_status s = LV_OK;
    double sum = 0;
    for (int i = 0; i < steps && s == LV_OK; i++) {
        double t0 = lv_now_s();
        s = counted_step(b, o, &step, r);
        t[i] = lv_now_s() - t0;
        sum += t[i];
    }
    if (s == LV_OK) {
        r->ms_median = 1e3 * lv_bench_median(t, steps); /* sorts t */
        r->ms_mean = 1e3 * sum / steps;
        r->ms_min = 1e3 * t[0];
        r->steps = steps;
        if (!isfinite(r->loss_last)) s = lv_errorf(LV_ERR_RUNTIME, "bench %s: the loss became %g", name, r->loss_last);
    }
    free(t);
    return s;
}

static const char *head_name(lv_head_kind h) { return h == LV_HEAD_VLM ? "vlm" : "linear"; }

static lv_status print_json(const model_opts *o, const lv_backend *be, const model_result *r) {
    cJSON *root = cJSON_CreateObject();
    if (!root) return lv_errorf(LV_ERR_RUNTIME, "bench: out of memory building JSON");
    cJSON_AddStringToObject(root, "benchmark", o->train ? "train" : "eval");
    cJSON_AddStringToObject(root, "device", be->name);
    cJSON_AddStringToObject(root, "precision", be->tf32 ? "tf32" : "fp32");
    cJSON_AddNumberToObject(root, "threads", r->threads);
    cJSON_AddNumberToObject(root, "size", o->size);
    cJSON_AddNumberToObject(root, "batch", o->batch);
    cJSON_AddNumberToObject(root, "phases", o->phases);
    cJSON_AddStringToObject(root, "head", head_name(o->head));
    cJSON_AddStringToObject(root, "source", r->source);
    cJSON_AddNumberToObject(root, "warmup", o->warmup);
    cJSON_AddNumberToObject(root, "steps", r->steps);
    cJSON_AddNumberToObject(root, "images_per_s", o->batch / (r->ms_median * 1e-3));
    cJSON_AddNumberToObject(root, "ms_per_step", r->ms_median);
    cJSON_AddNumberToObject(root, "ms_per_step_mean", r->ms_mean);
    cJSON_AddNumberToObject(root, "ms_per_step_min", r->ms_min);
    cJSON_AddNumberToObject(root, "visual_params", (double)r->visual_params);
    if (o->train) cJSON_AddNumberToObject(root, "trainable_params", (double)r->trainable_params);
    cJSON_AddNumberToObject(root, "loss_first", r->loss_first);
    cJSON_AddNumberToObject(root, "loss_last", r->loss_last);
    cJSON_AddNumberToObject(root, "build_s", r->build_s);
    char *txt = cJSON_Print(root);
    cJSON_Delete(root);
    if (!txt) return lv_errorf(LV_ERR_RUNTIME, "bench: out of memory printing JSON");
    printf("%s\n", txt);
    cJSON_free(txt);
    return LV_OK;
}

static void print_text(const model_opts *o, const lv_backend *be, const model_result *r) {
    printf("bench %s: Liver-VLM (%s head, %d phases) on %s (%s, %d threads), %s batch %d at %dx%d\n",
           o->train ? "train" : "eval", head_name(o->head), o->phases, be->name, be->tf32 ? "tf32" : "fp32",
           r->threads, r->source, o->batch, o->size, o->size);
    if (o->train)
        printf("  step = zero grads + forward/backward + clip 1.0 + AdamW over %zu trainable parameters + sync\n",
               r->trainable_params);
    else
        printf("  step = lv_vlm_predict (eval mode, probabilities) + sync\n");
    printf("  %d steps after %d warm-up: median %.2f ms/step (mean %.2f, min %.2f) = %.1f images/s\n", r->steps,
           o->warmup, r->ms_median, r->ms_mean, r->ms_min, o->batch / (r->ms_median * 1e-3));
    printf("  loss %.4f -> %.4f\n", r->loss_first, r->loss_last);
}

static lv_status bench_model_run(int argc, char **argv, int train) {
    model_opts o = {.train = train, .device = "auto", .precision = NULL, .size = 64, .batch = train ? 32 : 128,
                    .phases = 3, .steps = 0, .warmup = 2, .json = 0, .head = LV_HEAD_VLM};
    int help = 0;
    LV_TRY(parse_opts(argc, argv, &o, &help));
    if (help) {
        usage(stdout, train);
        return LV_OK;
    }
    model_result r;
    memset(&r, 0, sizeof r);
    bench_model b;
    memset(&b, 0, sizeof b);
    LV_TRY(lv_backend_create(&b.be, o.device));
    if (o.precision) {
        lv_status ps = lv_backend_set_precision(b.be, o.precision);
        if (ps != LV_OK) {
            lv_backend_destroy(b.be);
            return ps;
        }
    }
    r.threads = b.be->threads;
    LV_INFO("bench %s: building the model and a %d-image batch at %dx%d", train ? "train" : "eval", o.batch, o.size,
            o.size);
    double t0 = lv_now_s();
    lv_status s = model_build(&b, &o, &r.source);
    r.build_s = lv_now_s() - t0;
    if (s == LV_OK) {
        r.visual_params = b.m.visual.params.total;
        for (int i = 0; i < b.nparts; i++)
            for (int k = 0; k < b.plans[i].count; k++) r.trainable_params += b.plans[i].runs[k].n;
        s = measure(&b, &o, &r);
    }
    if (s == LV_OK) {
        if (o.json) s = print_json(&o, b.be, &r);
        else print_text(&o, b.be, &r);
    }
    model_free(&b);
    lv_backend_destroy(b.be);
    return s == LV_OK ? LV_OK : lv_error_wrap(s, "bench %s", train ? "train" : "eval");
}

lv_status lv_bench_train(int argc, char **argv) { return bench_model_run(argc, argv, 1); }

lv_status lv_bench_eval(int argc, char **argv) { return bench_model_run(argc, argv, 0); }
