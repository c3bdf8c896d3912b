/* Trainer set-up: which samples train and validate, the preprocessing fit, the model (built
 * fresh from the settings or reloaded with its optimizer state on --resume), the optimizer
 * plans and the learning-rate schedule, and the loader options both loaders share. The
 * loop itself lives in trainer.c; nothing here runs a step. */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "cuda/cuda_data.h"
#include "data/device_data.h"
#include "data/split.h"
#include "encoders/liver_vlm_io.h"
#include "train/batch_stage.h"
#include "train/trainer_impl.h"

/* Preprocessing statistics come from at most this many training samples (evenly spaced):
 * plenty for a mean and std, and a bounded cost on large sets. */
#define TRAINER_FIT_SAMPLES 2048

static lv_status same_names(const lv_dataset *a, const lv_dataset *b) {
    LV_CHECK(a->c == b->c, LV_ERR_INPUT, "%s has %d classes but %s has %d: validation needs the same classes",
             b->path, b->c, a->path, a->c);
    for (int i = 0; i < a->c; i++)
        LV_CHECK(!strcmp(a->classes[i], b->classes[i]), LV_ERR_INPUT,
                 "%s: class %d is '%s' but %s calls it '%s': validation needs the same classes in the same order",
                 b->path, i, b->classes[i], a->path, a->classes[i]);
    LV_CHECK(a->p == b->p, LV_ERR_INPUT, "%s has %d phases but %s has %d", b->path, b->p, a->path, a->p);
    for (int i = 0; i < a->p; i++)
        LV_CHECK(!strcmp(a->phases[i], b->phases[i]), LV_ERR_INPUT, "%s: phase %d is '%s' but %s has '%s'", b->path,
                 i, b->phases[i], a->path, a->phases[i]);
    return LV_OK;
}

lv_status trainer_setup_data(trainer *t) {
    const lv_train_config *c = t->cfg;
    const lv_dataset *ds = t->ds;
    if (t->vds && t->vds != ds) {
        LV_TRY(same_names(ds, t->vds));
        t->train_idx = malloc((size_t)ds->n * sizeof *t->train_idx);
        t->val_idx = malloc((size_t)t->vds->n * sizeof *t->val_idx);
        LV_CHECK_ALLOC(t->train_idx);
        LV_CHECK_ALLOC(t->val_idx);
        for (int64_t i = 0; i < ds->n; i++) t->train_idx[i] = i;
        for (int64_t i = 0; i < t->vds->n; i++) t->val_idx[i] = i;
        t->n_train = ds->n;
        t->n_val = t->vds->n;
    } else {
        t->vds = ds;
        int32_t *part = malloc((size_t)ds->n * sizeof *part);
        LV_CHECK_ALLOC(part);
        lv_status s = lv_split_assign(ds, c->val_fraction, 0.0, c->seed, part);
        if (s == LV_OK) s = lv_split_indices(part, ds->n, LV_PART_TRAIN, &t->train_idx, &t->n_train);
        if (s == LV_OK) s = lv_split_indices(part, ds->n, LV_PART_VAL, &t->val_idx, &t->n_val);
        free(part);
        LV_TRY(s);
    }
    LV_CHECK(t->n_train > 0, LV_ERR_INPUT, "%s: no training samples left after the validation split", ds->path);
    if (c->shots > 0) {
        int64_t *few = NULL, n_few = 0;
        LV_TRY(lv_fewshot_select(ds, t->train_idx, t->n_train, c->shots, c->seed, &few, &n_few));
        free(t->train_idx);
        t->train_idx = few;
        t->n_train = n_few;
    }
    int side = t->vds->h < t->vds->w ? t->vds->h : t->vds->w;
    int own = ds->h < ds->w ? ds->h : ds->w;
    if (own < side) side = own;
    t->size = c->size > 0 ? c->size : (ds->h < ds->w ? ds->h : ds->w);
    LV_CHECK(t->size <= side, LV_ERR_USAGE, "--size %d is larger than the data's ROIs (%dx%d in %s%s%s)", t->size,
             ds->h, ds->w, ds->path, t->vds != ds ? ", or " : "", t->vds != ds ? t->vds->path : "");
    LV_CHECK(t->size >= 16, LV_ERR_USAGE, "input side %d: expected at least 16 pixels (ResNet-18 downsamples 32x)",
             t->size);
    int64_t per_rank = t->n_train / t->env->world;
    LV_CHECK(per_rank >= 1, LV_ERR_INPUT, "%s: %" PRId64 " training samples cannot feed %d processes", ds->path,
             t->n_train, t->env->world);
    /* Full batches only, unless the whole share is smaller than one batch. */
    t->drop_last = per_rank >= t->cfg->batch;
    return trainer_classes_setup(t);
}

lv_status trainer_loader_opts(const trainer *t, lv_loader_opts *o, int train) {
    const lv_train_config *c = t->cfg;
    lv_loader_opts_default(o);
    o->batch = c->batch;
    o->seed = c->seed;
    o->preproc = t->info.pre;
    o->out_size = t->size;
    o->threads = c->threads;
    if (train) {
        o->shuffle = 1;
        o->drop_last = t->drop_last;
        o->rank = t->env->rank;
        o->world = t->env->world;
        o->augment = c->augment;
        o->balanced = c->balanced;
        o->indices = t->train_idx;
        o->count = t->n_train;
    } else {
        o->shuffle = 0;
        o->drop_last = 0;
        o->augment = 0;
        lv_augment_opts_eval(&o->aug);
        o->indices = t->val_idx;
        o->count = t->n_val;
        o->epochs = 1;
    }
    /* With the data on the device the loader serves indices and keys only. */
    o->render = (train ? t->dd : t->vdd) == NULL;
    return LV_OK;
}

static void size_text(char *buf, size_t cap, size_t b) {
    if (b >= ((size_t)1 << 30)) snprintf(buf, cap, "%.2f GiB", (double)b / (1024.0 * 1024.0 * 1024.0));
    else snprintf(buf, cap, "%.1f MiB", (double)b / (1024.0 * 1024.0));
}

/* --device-data auto falls back to the host loader, saying why; on fails with the reason. */
static lv_status device_data_declined(trainer *t, lv_status s, const char *why) {
    if (t->cfg->device_data == LV_TRAIN_DEVICE_DATA_ON) return lv_error_wrap(s, "--device-data on");
    snprintf(t->data_note, sizeof t->data_note, "the host loader (--device-data auto: %s)", why);
    return LV_OK;
}

static lv_status choose_device_data(trainer *t) {
    int mode = t->cfg->device_data;
    lv_backend *be = t->be;
    const lv_dataset *ds = t->ds, *vds = t->vds;
    int two = vds && vds != ds;
    if (mode == LV_TRAIN_DEVICE_DATA_OFF) {
        snprintf(t->data_note, sizeof t->data_note, "the host loader (--device-data off)");
        return LV_OK;
    }
    if (mode == LV_TRAIN_DEVICE_DATA_AUTO && be->kind != LV_DEVICE_CUDA) {
        snprintf(t->data_note, sizeof t->data_note, "the host loader (--device-data auto: %s backend)", be->name);
        return LV_OK;
    }
    size_t budget = SIZE_MAX, free_b = 0, total_b = 0;
    char have[32] = "", msg[192];
    if (be->kind == LV_DEVICE_CUDA) {
        lv_status s = lv_cuda_mem_info(be, &free_b, &total_b);
        if (s != LV_OK) return device_data_declined(t, s, "free device memory unknown");
        /* auto leaves half the free memory to activations, workspaces and allocator slack. */
        budget = mode == LV_TRAIN_DEVICE_DATA_AUTO ? free_b / 2 : free_b;
        size_text(have, sizeof have, free_b);
    }
    size_t need = lv_device_data_bytes(ds), vneed = two ? lv_device_data_bytes(vds) : 0;
    lv_status s = lv_device_data_fits(ds, budget);
    if (s == LV_OK && two) s = lv_device_data_fits(vds, budget - need);
    if (s != LV_OK) {
        if (ds->images && (!two || vds->images) && need && (!two || vneed)) {
            char want[32];
            size_text(want, sizeof want, need + vneed);
            snprintf(msg, sizeof msg, "%s of data > %s of %s free", want,
                     mode == LV_TRAIN_DEVICE_DATA_AUTO ? "half" : "all", have);
        } else {
            snprintf(msg, sizeof msg, "%s", ds->images && (!two || vds->images) ? "unusable data shape"
                                                                                : "data streamed from disk");
        }
        return device_data_declined(t, s, msg);
    }
    s = lv_device_data_create(&t->dd, be, ds);
    if (s == LV_OK && two) s = lv_device_data_create(&t->vdd, be, vds);
    if (s != LV_OK) {
        lv_device_data_destroy(t->dd);
        t->dd = NULL;
        return device_data_declined(t, s, "the upload failed");
    }
    if (!two) t->vdd = t->dd;
    if (!t->x_dev) {
        size_t per = (size_t)ds->p * (size_t)t->size * (size_t)t->size, B = (size_t)t->cfg->batch;
        t->x_dev = be->alloc(be, B * per * sizeof(float));
        t->y_dev = be->alloc(be, B * sizeof(int));
        LV_CHECK(t->x_dev && t->y_dev, LV_ERR_RUNTIME, "%s backend: out of memory for a batch", be->name);
    }
    char up[32];
    size_text(up, sizeof up, need + vneed);
    snprintf(t->data_note, sizeof t->data_note, "the %s backend (%s of raw data uploaded once)", be->name, up);
    return LV_OK;
}

/* Batches from the host loader: staged through page-locked memory when the backend can
 * (automatic on a device; env->pinned forces it either way), else plain copies into x_dev on a
 * device, or the loader's own buffers on the CPU. The note gets the path in front of its why. */
static lv_status choose_host_path(trainer *t) {
    lv_backend *be = t->be;
    int pinned = t->env->pinned;
    int want = pinned > 0 || (pinned == 0 && be->kind != LV_DEVICE_CPU);
    size_t per = (size_t)t->ds->p * (size_t)t->size * (size_t)t->size, B = (size_t)t->cfg->batch;
    if (want && lv_backend_can_stage(be)) {
        LV_TRY(lv_stager_create(&t->stager, be, t->cfg->batch, per));
        static const char head[] = "the host loader";
        char *why = t->data_note + (strncmp(t->data_note, head, sizeof head - 1) ? 0 : sizeof head - 1);
        char tail[sizeof t->data_note];
        snprintf(tail, sizeof tail, "%s", why);
        snprintf(t->data_note, sizeof t->data_note, "%s, pinned double-buffered copies", head);
        size_t used = strlen(t->data_note);
        snprintf(t->data_note + used, sizeof t->data_note - used, "%s", tail);
        return LV_OK;
    }
    if (be->kind != LV_DEVICE_CPU && !t->x_dev) {
        t->x_dev = be->alloc(be, B * per * sizeof(float));
        t->y_dev = be->alloc(be, B * sizeof(int));
        LV_CHECK(t->x_dev && t->y_dev, LV_ERR_RUNTIME, "%s backend: out of memory for a batch", be->name);
    }
    return LV_OK;
}

lv_status trainer_setup_device_data(trainer *t) {
    LV_TRY(choose_device_data(t));
    return t->dd ? LV_OK : choose_host_path(t);
}

lv_status trainer_batch_input(trainer *t, const lv_batch *b, int train, const float **x, const int **y) {
    lv_backend *be = t->be;
    const lv_train_env *env = t->env;
    size_t per = (size_t)b->p * (size_t)b->s * (size_t)b->s, xbytes = (size_t)b->n * per * sizeof(float);
    lv_device_data *dd = train ? t->dd : t->vdd;
    int hook = train && env->batch_hook;
    if (!dd) {
        if (hook) env->batch_hook(env->hook_ctx, t->st.step, b->images, b->n, per);
        *x = b->images;
        *y = b->labels;
        if (t->x_dev) {
            be->copy_h2d(be, t->x_dev, b->images, xbytes);
            be->copy_h2d(be, t->y_dev, b->labels, (size_t)b->n * sizeof(int));
            *x = t->x_dev;
            *y = t->y_dev;
        }
        return LV_OK;
    }
    /* The very options, plan and augmentation the loader would render with. */
    lv_loader_opts o;
    LV_TRY(trainer_loader_opts(t, &o, train));
    lv_augment_opts aug = o.aug;
    if (!o.augment) lv_augment_opts_eval(&aug);
    lv_preproc_plan plan;
    LV_TRY(lv_preproc_plan_make(&plan, &o.preproc, train ? t->ds : t->vds));
    LV_TRY(lv_device_data_render(dd, t->x_dev, t->y_dev, b->indices, b->keys, b->n, &plan, &aug, b->s, o.seed,
                                 (uint64_t)b->epoch));
    *x = t->x_dev;
    *y = t->y_dev;
    if (!hook) return LV_OK;
    if (be->kind == LV_DEVICE_CPU) {
        env->batch_hook(env->hook_ctx, t->st.step, t->x_dev, b->n, per);
        return LV_OK;
    }
    /* A test hook on a device: through a host copy and back. */
    float *h = malloc(xbytes ? xbytes : 1);
    LV_CHECK_ALLOC(h);
    be->copy_d2h(be, h, t->x_dev, xbytes);
    lv_status s = be->sync(be);
    if (s == LV_OK) {
        env->batch_hook(env->hook_ctx, t->st.step, h, b->n, per);
        be->copy_h2d(be, t->x_dev, h, xbytes);
        s = be->sync(be);
    }
    free(h);
    return s;
}

static lv_status fill_info(trainer *t) {
    lv_ckpt_info *in = &t->info;
    memset(in, 0, sizeof *in);
    in->classes = t->nclass;
    in->phases = t->ds->p;
    for (int i = 0; i < t->nclass; i++) {
        in->class_names[i] = strdup(t->class_names[i]);
        LV_CHECK_ALLOC(in->class_names[i]);
    }
    for (int i = 0; i < t->ds->p; i++) {
        in->phase_names[i] = strdup(t->ds->phases[i]);
        LV_CHECK_ALLOC(in->phase_names[i]);
    }
    in->input_size = t->size;
    lv_preproc_default(&in->pre);
    LV_TRY(lv_preproc_fit(&in->pre, t->ds, t->train_idx, t->n_train, TRAINER_FIT_SAMPLES));
    return LV_OK;
}

lv_status trainer_build_model(trainer *t) {
    const lv_train_config *c = t->cfg;
    LV_TRY(fill_info(t));
    lv_vlm_config vc;
    lv_wordpiece *tok = NULL;
    lv_prompt_set prompts;
    memset(&prompts, 0, sizeof prompts);
    /* phase-shuffle predicts permutations with a linear head on the image features. */
    int vlm = c->head == LV_HEAD_VLM && !t->shuf.active;
    lv_status s = LV_OK;
    if (vlm) {
        s = c->text_model ? lv_wordpiece_load_dir(&tok, c->text_model) : lv_wordpiece_builtin(&tok);
        if (s == LV_OK) s = c->prompts ? lv_prompts_load(&prompts, c->prompts) : lv_prompts_default(&prompts);
        if (s == LV_OK) s = lv_prompts_check(&prompts, (const char *const *)t->ds->classes, t->ds->c,
                                             c->prompts ? c->prompts : "the built-in prompts (use --prompts FILE)");
    } else if (!t->shuf.active && (c->text_model || c->prompts || c->train_text)) {
        LV_WARN("--head linear has no text side: --text-model, --prompts and --train-text are ignored");
    }
    if (s == LV_OK) {
        lv_vlm_config_default(&vc, t->ds->p, t->nclass, tok ? (int)lv_wordpiece_vocab_size(tok) : 1);
        vc.head = vlm ? LV_HEAD_VLM : LV_HEAD_LINEAR;
        vc.dim = c->dim;
        vc.train_text = vlm && c->train_text;
        if (vlm && c->text_model) s = lv_vlm_text_config_from_hf(&vc, c->text_model, c->dim);
    }
    if (s != LV_OK) {
        lv_wordpiece_free(tok);
        lv_prompts_free(&prompts);
        return s;
    }
    /* The model owns tok from here on, also when create fails. */
    s = lv_vlm_create(&t->m, t->be, &vc, t->class_names, tok, vlm ? &prompts : NULL, 1,
                      c->seed);
    lv_prompts_free(&prompts);
    t->have_model = s == LV_OK;
    if (s != LV_OK) {
        lv_vlm_free(&t->m);
        return s;
    }
    if (vlm && c->text_model) LV_TRY(lv_vlm_load_text_hf(&t->m, c->text_model));
    if (c->init_image) LV_TRY(lv_vlm_load_visual_torchvision(&t->m, c->init_image));
    return LV_OK;
}

lv_status trainer_load_run(trainer *t) {
    lv_status s = lv_ckpt_load(t->model_path, t->be, 1, &t->m, &t->info);
    if (s != LV_OK) return lv_error_wrap(s, "--resume");
    t->have_model = 1;
    const lv_dataset *ds = t->ds;
    LV_CHECK(t->info.classes == t->nclass && t->info.phases == ds->p, LV_ERR_INPUT,
             "%s: %d classes and %d phases, but %s %s %d and %d", t->model_path, t->info.classes, t->info.phases,
             ds->path, t->shuf.active ? "with --objective phase-shuffle means" : "has", t->nclass, ds->p);
    for (int i = 0; i < t->nclass; i++)
        LV_CHECK(!strcmp(t->info.class_names[i], t->class_names[i]), LV_ERR_INPUT,
                 "%s: class %d is '%s' but %s has '%s'", t->model_path, i, t->info.class_names[i], ds->path,
                 t->class_names[i]);
    LV_CHECK(t->info.input_size == t->size, LV_ERR_INPUT, "%s: trained at %dx%d, but this run feeds %dx%d",
             t->model_path, t->info.input_size, t->info.input_size, t->size, t->size);
    LV_TRY(lv_train_state_load(&t->st, &t->m, t->state_path));
    uint64_t h = 0;
    LV_TRY(lv_train_model_hash(&t->m, &h));
    LV_CHECK(h == t->st.model_hash, LV_ERR_INPUT,
             "%s does not hold the weights %s was saved with (a run interrupted between the two writes?); "
             "start again with --force", t->model_path, t->state_path);
    LV_CHECK(t->st.seed == t->cfg->seed && t->st.optimizer == t->cfg->optimizer, LV_ERR_INPUT,
             "%s: seed %" PRIu64 " / optimizer %d, but config.json says %" PRIu64 " / %d", t->state_path, t->st.seed,
             t->st.optimizer, t->cfg->seed, t->cfg->optimizer);
    return LV_OK;
}

lv_status trainer_setup_optim(trainer *t) {
    const lv_train_config *c = t->cfg;
    lv_optim_config *oc = &t->oc;
    lv_optim_config_default(oc);
    oc->kind = c->optimizer == LV_OPT_SGD ? LV_OPT_SGD : LV_OPT_ADAMW;
    oc->lr = (float)c->lr;
    oc->min_lr = (float)c->min_lr;
    oc->weight_decay = (float)c->weight_decay;
    oc->momentum = (float)c->momentum;
    oc->total_steps = t->steps_per_epoch * c->epochs;
    oc->warmup_steps = c->warmup_steps > 0 ? c->warmup_steps
                                           : (int64_t)llround(c->warmup_epochs * (double)t->steps_per_epoch);
    if (oc->warmup_steps > oc->total_steps) oc->warmup_steps = oc->total_steps;
    t->nparts = 0;
    t->parts[t->nparts++] = (trainer_part){"visual", &t->m.vbuf, {0}};
    if (t->m.cfg.head == LV_HEAD_VLM) t->parts[t->nparts++] = (trainer_part){"text", &t->m.tbuf, {0}};
    t->parts[t->nparts++] = (trainer_part){"head", &t->m.hbuf, {0}};
    for (int i = 0; i < t->nparts; i++) {
        const lv_param_layout *l = !strcmp(t->parts[i].name, "visual") ? &t->m.visual.params
                                   : !strcmp(t->parts[i].name, "text") ? &t->m.text.params
                                                                       : &t->m.head;
        LV_TRY(lv_optim_plan_build(&t->parts[i].plan, l));
    }
    return LV_OK;
}

void trainer_free_setup(trainer *t) {
    for (int i = 0; i < t->nparts; i++) lv_optim_plan_free(&t->parts[i].plan);
    t->nparts = 0;
    if (t->have_model) lv_vlm_free(&t->m);
    if (t->vdd != t->dd) lv_device_data_destroy(t->vdd);
    lv_device_data_destroy(t->dd);
    t->dd = t->vdd = NULL;
    t->have_model = 0;
    lv_ckpt_info_free(&t->info);
    free(t->train_idx);
    free(t->val_idx);
    t->train_idx = t->val_idx = NULL;
}
