/* The training loop (see trainer.h): epochs of steps, each forward+backward, one
 * data-parallel reduction point, global-norm clipping across the model's parts, a skipped
 * update on any non-finite loss or gradient, then per epoch validation, checkpoints, resume
 * state, config.json and the log. Set-up lives in trainer_setup.c, validation in
 * validate.c; nothing here parses options or opens data files. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/grad_clip.h"
#include "core/log.h"
#include "train/batch_stage.h"
#include "train/dist.h"
#include "train/objective_clip.h"
#include "train/trainer_impl.h"

void lv_train_env_default(lv_train_env *e) {
    memset(e, 0, sizeof *e);
    e->world = 1;
    e->progress = -1;
}

static const char *const run_files[] = {"config.json", "model.safetensors", "best.safetensors", "state.safetensors",
                                        "log.jsonl"};
enum { N_RUN_FILES = (int)(sizeof run_files / sizeof run_files[0]) };

int lv_train_dir_has_run(const char *dir) {
    char p[PATH_MAX];
    struct stat sb;
    for (int i = 0; i < N_RUN_FILES; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, run_files[i]);
        if (stat(p, &sb) == 0) return 1;
    }
    return 0;
}

static lv_status mkdir_p(const char *dir) {
    char p[PATH_MAX];
    LV_CHECK(strlen(dir) < sizeof p, LV_ERR_INPUT, "--out: path too long");
    snprintf(p, sizeof p, "%s", dir);
    for (char *c = p + 1;; c++) {
        int end = *c == '\0';
        if (*c == '/' || end) {
            *c = '\0';
            if (mkdir(p, 0777) != 0 && errno != EEXIST)
                return lv_errorf(LV_ERR_INPUT, "%s: cannot create directory: %s", p, strerror(errno));
            if (end) break;
            *c = '/';
        }
    }
    struct stat sb;
    LV_CHECK(stat(dir, &sb) == 0 && S_ISDIR(sb.st_mode), LV_ERR_INPUT, "--out %s: not a directory", dir);
    return LV_OK;
}

static lv_status path_in(char *dst, const char *dir, const char *name) {
    int n = snprintf(dst, PATH_MAX, "%s/%s", dir, name);
    LV_CHECK(n > 0 && n < PATH_MAX, LV_ERR_INPUT, "--out %s: path too long", dir);
    return LV_OK;
}

/* Paths of the run's files; refuses to overwrite a run unless asked (no run is lost silently). */
static lv_status prepare_out(trainer *t) {
    const char *out = t->cfg->out;
    LV_TRY(path_in(t->model_path, out, "model.safetensors"));
    LV_TRY(path_in(t->best_path, out, "best.safetensors"));
    LV_TRY(path_in(t->state_path, out, "state.safetensors"));
    LV_TRY(path_in(t->config_path, out, "config.json"));
    LV_TRY(path_in(t->log_path, out, "log.jsonl"));
    struct stat sb;
    if (t->env->resume) {
        LV_CHECK(stat(t->model_path, &sb) == 0 && stat(t->state_path, &sb) == 0, LV_ERR_INPUT,
                 "--resume %s: no model.safetensors and state.safetensors there (no epoch of that run finished)", out);
        return LV_OK;
    }
    if (lv_train_dir_has_run(out)) {
        LV_CHECK(t->env->force, LV_ERR_INPUT,
                 "%s already holds a training run; use --resume %s to continue it or --force to replace it", out, out);
        if (t->writer) {
            char p[PATH_MAX];
            for (int i = 0; i < N_RUN_FILES; i++) {
                LV_TRY(path_in(p, out, run_files[i]));
                if (unlink(p) != 0 && errno != ENOENT)
                    return lv_errorf(LV_ERR_INPUT, "%s: cannot remove: %s", p, strerror(errno));
            }
        }
    }
    if (t->writer) LV_TRY(mkdir_p(out));
    return LV_OK;
}

static lv_status make_backend(trainer *t) {
    int dev = t->cfg->device;
    if (dev == LV_TRAIN_DEVICE_CUDA || (dev == LV_TRAIN_DEVICE_AUTO && lv_cuda_device_count() > 0))
        LV_TRY(lv_backend_create_rank(&t->be, "cuda", t->env->dist ? t->env->dist->local_rank : 0));
    else
        LV_TRY(lv_cpu_backend_create(&t->be, t->cfg->threads));
    if (t->cfg->precision != LV_TRAIN_PRECISION_AUTO)
        LV_TRY(lv_backend_set_precision(t->be, lv_train_precision_name(t->cfg->precision)));
    return LV_OK;
}

/* Writes config.json next to a temp name and renames it over, so a reader never sees half. */
static lv_status write_config(trainer *t) {
    char tmp[PATH_MAX + 16];
    snprintf(tmp, sizeof tmp, "%s.tmp", t->config_path);
    FILE *f = fopen(tmp, "w");
    LV_CHECK(f, LV_ERR_INPUT, "%s: cannot write: %s", tmp, strerror(errno));
    int ok = fputs(t->config_json, f) >= 0 && fputc('\n', f) != EOF;
    ok = fflush(f) == 0 && fsync(fileno(f)) == 0 && ok;
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp, t->config_path) != 0) {
        lv_status s = lv_errorf(LV_ERR_INPUT, "%s: write failed: %s", t->config_path, strerror(errno));
        unlink(tmp);
        return s;
    }
    return LV_OK;
}

/* Averages n floats of device memory across ranks (in place on the CPU backend, through a
 * host copy on a device). */
static lv_status allreduce_mean_dev(trainer *t, float *dev, size_t n) {
    lv_backend *be = t->be;
    if (be->kind == LV_DEVICE_CPU) return lv_dist_allreduce_mean(t->env->dist, dev, n);
    float *h = malloc((n ? n : 1) * sizeof *h);
    LV_CHECK_ALLOC(h);
    be->copy_d2h(be, h, dev, n * sizeof *h);
    lv_status s = be->sync(be);
    if (s == LV_OK) s = lv_dist_allreduce_mean(t->env->dist, h, n);
    if (s == LV_OK) be->copy_h2d(be, dev, h, n * sizeof *h);
    if (s == LV_OK) s = be->sync(be);
    free(h);
    return s;
}

/* Data-parallel hook: the ONE place between backward and the optimizer where every rank's
 * gradients (each part's flat grad buffer) are averaged, the loss averaged for the log and
 * the non-finite flags combined, so every rank applies or skips the same update. A part
 * with frozen tensors (the text encoder) averages only its trainable runs. */
static lv_status trainer_reduce_grads(trainer *t, float *loss, int *nonfinite) {
    lv_dist *d = t->env->dist;
    if (t->nccl) return trainer_comm_reduce(t, loss, nonfinite); /* GPU to GPU (trainer_comm.c) */
    if (t->env->world == 1 || !d) return LV_OK;
    for (int i = 0; i < t->nparts; i++) {
        const trainer_part *p = &t->parts[i];
        size_t trainable = 0;
        for (int r = 0; r < p->plan.count; r++) trainable += p->plan.runs[r].n;
        if (trainable == p->buf->n) {
            LV_TRY(allreduce_mean_dev(t, p->buf->grads, p->buf->n));
        } else {
            for (int r = 0; r < p->plan.count; r++)
                LV_TRY(allreduce_mean_dev(t, p->buf->grads + p->plan.runs[r].offset, p->plan.runs[r].n));
        }
    }
    LV_TRY(lv_dist_allreduce_max_int(d, nonfinite, 1));
    return lv_dist_allreduce_mean(d, loss, 1);
}

/* DDP's broadcast_buffers: rank 0's BN running statistics on every rank after each step, so
 * validation (and so the best-checkpoint choice) is the same everywhere. */
static lv_status trainer_sync_buffers(trainer *t) {
    if (t->nccl) return trainer_comm_bcast(t, t->m.vstate, t->m.visual.state.total, "broadcast of the BN statistics");
    if (t->env->world == 1 || !t->env->dist) return LV_OK;
    lv_backend *be = t->be;
    size_t n = t->m.visual.state.total;
    if (be->kind == LV_DEVICE_CPU) return lv_dist_bcast(t->env->dist, t->m.vstate, n * sizeof(float));
    float *h = malloc((n ? n : 1) * sizeof *h);
    LV_CHECK_ALLOC(h);
    be->copy_d2h(be, h, t->m.vstate, n * sizeof *h);
    lv_status s = be->sync(be);
    if (s == LV_OK) s = lv_dist_bcast(t->env->dist, h, n * sizeof *h);
    if (s == LV_OK) be->copy_h2d(be, t->m.vstate, h, n * sizeof *h);
    if (s == LV_OK) s = be->sync(be);
    free(h);
    return s;
}

/* DDP's initial broadcast: every part's parameters and the BN statistics from rank 0, so
 * ranks start identical even if something rank-dependent crept into initialisation. */
static lv_status trainer_bcast_model(trainer *t) {
    if (t->nccl) {
        for (int i = 0; i < t->nparts; i++)
            LV_TRY(trainer_comm_bcast(t, t->parts[i].buf->params, t->parts[i].buf->n,
                                      "broadcast of the initial weights"));
        return trainer_sync_buffers(t);
    }
    if (t->env->world == 1 || !t->env->dist) return LV_OK;
    lv_backend *be = t->be;
    for (int i = 0; i < t->nparts; i++) {
        float *dev = t->parts[i].buf->params;
        size_t n = t->parts[i].buf->n;
        if (be->kind == LV_DEVICE_CPU) {
            LV_TRY(lv_dist_bcast(t->env->dist, dev, n * sizeof(float)));
            continue;
        }
        float *h = malloc((n ? n : 1) * sizeof *h);
        LV_CHECK_ALLOC(h);
        be->copy_d2h(be, h, dev, n * sizeof *h);
        lv_status s = be->sync(be);
        if (s == LV_OK) s = lv_dist_bcast(t->env->dist, h, n * sizeof *h);
        if (s == LV_OK) be->copy_h2d(be, dev, h, n * sizeof *h);
        if (s == LV_OK) s = be->sync(be);
        free(h);
        LV_TRY(s);
    }
    return trainer_sync_buffers(t);
}

/* torch.nn.utils.clip_grad_norm_ over all parts at once (the trainable runs of each flat
 * buffer), with the arithmetic of lv_clip_grad_norm: sum of squares on the device, the
 * decision on the host, then one scale per run. A NaN/Inf anywhere: no scaling, *nonfinite. */
static lv_status clip_global(trainer *t, float max_norm, float *norm, int *nonfinite) {
    lv_backend *be = t->be;
    float *sumsq_d = (float *)t->clip_scratch;
    int *flag_d = (int *)((char *)t->clip_scratch + 8);
    be->memset0(be, t->clip_scratch, LV_GRAD_CLIP_SCRATCH_BYTES);
    for (int i = 0; i < t->nparts; i++)
        for (int r = 0; r < t->parts[i].plan.count; r++) {
            const lv_optim_run *run = &t->parts[i].plan.runs[r];
            lv_grad_sumsq(be, sumsq_d, flag_d, t->parts[i].buf->grads + run->offset, run->n);
        }
    float sumsq = 0;
    int flag = 0;
    be->copy_d2h(be, &sumsq, sumsq_d, sizeof sumsq);
    be->copy_d2h(be, &flag, flag_d, sizeof flag);
    LV_TRY(be->sync(be));
    float total = sqrtf(sumsq);
    *norm = total;
    *nonfinite = flag != 0 || !isfinite(total);
    if (*nonfinite || !(max_norm > 0.0f)) return LV_OK;
    float coef = max_norm / (total + 1e-6f);
    if (coef < 1.0f)
        for (int i = 0; i < t->nparts; i++)
            for (int r = 0; r < t->parts[i].plan.count; r++) {
                const lv_optim_run *run = &t->parts[i].plan.runs[r];
                lv_scale(be, t->parts[i].buf->grads + run->offset, coef, run->n);
            }
    return LV_OK;
}

typedef struct step_out {
    float loss, norm;
    int skipped;
} step_out;

static lv_status train_step(trainer *t, trainer_feed *f, float lr, step_out *o) {
    lv_backend *be = t->be;
    size_t nstate = t->m.visual.state.total * sizeof(float);
    be->copy_d2d(be, t->vstate_backup, t->m.vstate, nstate);
    lv_vlm_zero_grads(&t->m);
    /* Set per step: lv_vlm_prepare may have reallocated (and so cleared) the activations. */
    t->m.vacts.bn_sync = t->bn_sync.active ? &t->bn_sync.hook : NULL;
    t->m.vacts.grad_ready = trainer_comm_step_begin(t); /* NCCL: overlap the backward */
    if (t->clip) LV_TRY(trainer_clip_step(t, f->indices, f->n, f->x)); /* --objective clip: the batch's reports */
    else lv_vlm_train_step(&t->m, f->x, f->y, f->n);
    t->m.vacts.bn_sync = NULL;
    t->m.vacts.grad_ready = NULL;
    /* Every read of this batch is queued: the next one's copy overlaps the compute. */
    LV_TRY(trainer_feed_prefetch(f));
    be->copy_d2h(be, &o->loss, t->m.loss, sizeof o->loss);
    LV_TRY(be->sync(be));
    int bad = !isfinite(o->loss);
    LV_TRY(trainer_reduce_grads(t, &o->loss, &bad));
    o->norm = NAN;
    if (!bad) {
        int nonfinite = 0;
        LV_TRY(clip_global(t, (float)t->cfg->clip_norm, &o->norm, &nonfinite));
        bad = nonfinite;
    }
    o->skipped = bad;
    if (bad) {
        /* The forward already moved the BN running statistics with non-finite batch
         * statistics; put them back so the model stays usable. */
        be->copy_d2d(be, t->m.vstate, t->vstate_backup, nstate);
        return be->sync(be);
    }
    for (int i = 0; i < t->nparts; i++) lv_optim_step(be, &t->parts[i].plan, t->parts[i].buf, &t->oc, t->st.opt_steps, lr);
    t->st.opt_steps++;
    LV_TRY(be->sync(be));
    return trainer_sync_buffers(t);
}

static lv_status save_epoch(trainer *t, int improved) {
    if (!t->writer) return LV_OK;
    LV_TRY(lv_ckpt_save(&t->m, &t->info, t->model_path));
    if (improved) LV_TRY(lv_ckpt_save(&t->m, &t->info, t->best_path));
    LV_TRY(lv_train_model_hash(&t->m, &t->st.model_hash));
    LV_TRY(lv_train_state_save(&t->st, &t->m, t->state_path));
    return write_config(t);
}

static lv_status bad_steps_abort(trainer *t, const step_out *o, int64_t epoch) {
    char fields[256], last[PATH_MAX + 128];
    snprintf(fields, sizeof fields, "\"step\":%" PRId64 ",\"epoch\":%" PRId64 ",\"bad_steps\":%d", t->st.step, epoch,
             t->st.bad_steps);
    lv_runlog_event(&t->log, "abort", fields, NULL);
    if (t->st.epoch > 0)
        snprintf(last, sizeof last, "%s (epoch %" PRId64 ") is the last good checkpoint", t->model_path, t->st.epoch);
    else
        snprintf(last, sizeof last, "no epoch finished, so no checkpoint was written");
    return lv_errorf(LV_ERR_RUNTIME,
                     "training stopped at step %" PRId64 " (epoch %" PRId64 "): %d steps in a row had a non-finite "
                     "loss or gradient (last loss %g, gradient norm %g) and were skipped; lower --lr, use --clip-norm "
                     "or check the data. %s",
                     t->st.step, epoch, t->st.bad_steps, (double)o->loss, (double)o->norm, last);
}

/* One epoch of steps; *train_loss is the mean over the applied steps. */
static lv_status run_epoch(trainer *t, int64_t e, double *train_loss, int64_t *skipped) {
    trainer_feed f;
    int64_t pos = t->st.cursor_epoch == e ? t->st.cursor_position : 0;
    LV_TRY(trainer_feed_open(t, &f, 1, e, pos));
    lv_status s = LV_OK;
    double sum = 0, waited = trainer_feed_wait_seconds(&f), t_prev = lv_now_s();
    int64_t applied = 0, in_epoch = pos / t->cfg->batch;
    *skipped = 0;
    while (s == LV_OK) {
        int have = 0;
        s = trainer_feed_next(&f, &have);
        if (s != LV_OK || !have) break;
        float lr = lv_lr_at(&t->oc, t->st.step);
        step_out so;
        s = train_step(t, &f, lr, &so);
        if (s != LV_OK) break;
        t->st.step++;
        in_epoch++;
        double now = lv_now_s(), w = trainer_feed_wait_seconds(&f);
        lv_step_record rec = {t->st.step, e + 1, t->cfg->epochs, in_epoch, t->steps_per_epoch, so.loss, lr, so.norm,
                              (double)f.n * t->env->world / (now - t_prev > 1e-9 ? now - t_prev : 1e-9),
                              w - waited, so.skipped};
        t_prev = now;
        waited = w;
        if (so.skipped) {
            t->st.bad_steps++;
            t->st.skipped_total++;
            (*skipped)++;
        } else {
            t->st.bad_steps = 0;
            sum += so.loss;
            applied++;
        }
        s = lv_runlog_step(&t->log, &rec);
        if (s == LV_OK && t->st.bad_steps >= LV_TRAIN_MAX_BAD_STEPS) s = bad_steps_abort(t, &so, e + 1);
    }
    if (s == LV_OK) trainer_feed_cursor(&f, &t->st.cursor_epoch, &t->st.cursor_position);
    trainer_feed_close(&f);
    *train_loss = applied ? sum / (double)applied : NAN;
    return s;
}

static lv_status allocate(trainer *t) {
    lv_backend *be = t->be;
    int C = t->m.cfg.classes, B = t->cfg->batch;
    LV_TRY(lv_vlm_prepare(&t->m, B, t->size));
    t->clip_scratch = be->alloc(be, LV_GRAD_CLIP_SCRATCH_BYTES);
    t->vstate_backup = be->alloc(be, (t->m.visual.state.total + 1) * sizeof(float));
    t->probs_dev = be->alloc(be, (size_t)B * (size_t)C * sizeof(float));
    LV_CHECK(t->clip_scratch && t->vstate_backup && t->probs_dev, LV_ERR_RUNTIME, "%s backend: out of memory",
             be->name);
    return LV_OK;
}

static void release(trainer *t) {
    lv_runlog_close(&t->log);
    if (t->be) {
        void *bufs[] = {t->clip_scratch, t->vstate_backup, t->probs_dev, t->x_dev, t->y_dev};
        for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
            if (bufs[i]) t->be->free(t->be, bufs[i]);
    }
    lv_stager_destroy(t->stager);
    t->stager = NULL;
    trainer_clip_free(t);
    trainer_comm_free(t);
    trainer_syncbn_free(t);
    trainer_shuffle_free(t);
    trainer_free_setup(t);
    lv_train_state_free(&t->st);
    free(t->config_json);
    lv_backend_destroy(t->be);
}

/* Everything before the first step: data, model (fresh or resumed), buffers, schedule, log. */
static lv_status start(trainer *t) {
    const lv_train_config *c = t->cfg;
    LV_TRY(prepare_out(t));
    LV_TRY(make_backend(t));
    LV_TRY(trainer_comm_setup(t));
    LV_TRY(trainer_setup_data(t));
    t->config_json = lv_train_config_to_json(c);
    LV_CHECK_ALLOC(t->config_json);
    if (t->env->resume) {
        LV_TRY(trainer_load_run(t));
    } else {
        LV_TRY(trainer_build_model(t));
        lv_train_state_init(&t->st);
        t->st.seed = c->seed;
        t->st.optimizer = c->optimizer;
    }
    free(t->info.training_json);
    t->info.training_json = strdup(t->config_json);
    free(t->st.config_json);
    t->st.config_json = strdup(t->config_json);
    LV_CHECK(t->info.training_json && t->st.config_json, LV_ERR_RUNTIME, "out of memory");
    LV_TRY(allocate(t));
    LV_TRY(trainer_clip_setup(t)); /* --objective clip only */
    LV_TRY(trainer_setup_device_data(t));
    LV_TRY(trainer_syncbn_setup(t));
    lv_loader_opts o;
    lv_loader *l = NULL;
    LV_TRY(trainer_loader_opts(t, &o, 1));
    LV_TRY(lv_loader_create(&l, t->ds, &o));
    t->steps_per_epoch = lv_loader_steps_per_epoch(l);
    lv_loader_destroy(l);
    LV_CHECK(t->steps_per_epoch >= 1, LV_ERR_INPUT, "%s: no training batch per epoch", t->ds->path);
    LV_TRY(trainer_setup_optim(t));
    LV_TRY(trainer_bcast_model(t));
    int show = t->writer && !t->env->quiet;
    int bar = show && (t->env->progress == 1 || (t->env->progress == -1 && isatty(2)));
    LV_TRY(lv_runlog_open(&t->log, t->writer ? t->log_path : NULL, bar, show && !bar, c->log_every));
    char fields[1024], text[1024], head_text[96];
    if (t->shuf.active)
        snprintf(head_text, sizeof head_text, "phase-shuffle pretext task (%d permutations, linear head)", t->nclass);
    else
        snprintf(head_text, sizeof head_text, "%s head", t->m.cfg.head == LV_HEAD_VLM ? "VLM" : "linear");
    snprintf(fields, sizeof fields,
             "\"world\":%d,\"device\":\"%s\",\"threads\":%d,\"train_samples\":%" PRId64 ",\"val_samples\":%" PRId64
             ",\"steps_per_epoch\":%" PRId64 ",\"epochs\":%d,\"from_epoch\":%" PRId64 ",\"from_step\":%" PRId64
             ",\"sync_bn\":%s,\"comm\":\"%s\",\"device_data\":%s,\"pinned\":%s,\"objective\":\"%s\"",
             t->env->world, t->be->name, t->be->threads, t->n_train, t->n_val, t->steps_per_epoch, c->epochs,
             t->st.epoch, t->st.step, t->bn_sync.active ? "true" : "false", t->comm_name ? t->comm_name : "none",
             t->dd ? "true" : "false", t->stager ? "true" : "false", t->shuf.active ? "phase-shuffle" : "classify");
    snprintf(text, sizeof text,
             "train: %s%" PRId64 " training and %" PRId64 " validation samples (%s), %" PRId64 " steps/epoch of %d, "
             "%s, %s backend (%d threads), %d process%s%s%s",
             t->env->resume ? "resuming, " : "", t->n_train, t->n_val,
             t->vds != t->ds ? "--val" : t->ds->split ? "the file's /split" : "patient-level split",
             t->steps_per_epoch, c->batch, head_text, t->be->name,
             t->be->threads, t->env->world, t->env->world == 1 ? "" : "es",
             t->bn_sync.active ? " with synchronized BatchNorm" : "",
             t->nccl ? ", NCCL all-reduce" : t->env->world > 1 ? ", MPI all-reduce" : "");
    size_t tl = strlen(text);
    snprintf(text + tl, sizeof text - tl, "; batches from %s", t->data_note);
    LV_TRY(lv_runlog_event(&t->log, t->env->resume ? "resume" : "start", fields, text));
    if (t->writer) LV_TRY(write_config(t));
    return LV_OK;
}

lv_status lv_train_run(const lv_train_config *cfg, const lv_dataset *data, const lv_dataset *val,
                       const lv_train_env *env, lv_train_result *res) {
    lv_train_env def;
    if (!env) {
        lv_train_env_default(&def);
        env = &def;
    }
    LV_CHECK(env->world >= 1 && env->rank >= 0 && env->rank < env->world, LV_ERR_USAGE,
             "rank %d of %d processes", env->rank, env->world);
    LV_CHECK(env->world == 1 || (env->dist && env->dist->world == env->world && env->dist->rank == env->rank),
             LV_ERR_RUNTIME, "trainer: %d processes need the collectives of train/dist.h (lv_dist_init)", env->world);
    LV_TRY(lv_train_config_check(cfg));
    LV_TRY(trainer_clip_check_data(cfg, data, val)); /* --objective clip needs /reports */
    trainer t;
    memset(&t, 0, sizeof t);
    t.cfg = cfg;
    t.env = env;
    t.ds = data;
    t.vds = val;
    t.writer = env->rank == 0;
    lv_train_state_init(&t.st);
    if (res) {
        memset(res, 0, sizeof *res);
        for (int i = 0; i < LV_TRAIN_RESULT_EPOCHS; i++) res->train_loss[i] = res->val_auc[i] = NAN;
    }
    lv_status s = start(&t);
    if (s == LV_OK && t.st.epoch >= cfg->epochs && t.writer && !env->quiet)
        LV_INFO("train: the run already has %" PRId64 " epochs; nothing to do (--epochs N extends it)", t.st.epoch);
    int ran = 0;
    for (int64_t e = t.st.epoch; s == LV_OK && e < cfg->epochs; e++) {
        if (env->stop_after > 0 && e >= env->stop_after) break;
        double t0 = lv_now_s(), train_loss = NAN, vloss, vacc, vauc;
        int64_t skipped = 0;
        s = run_epoch(&t, e, &train_loss, &skipped);
        if (s == LV_OK && t.clip) s = trainer_clip_validate(&t, &vloss, &vacc, &vauc);
        else if (s == LV_OK) s = trainer_validate(&t, &vloss, &vacc, &vauc);
        if (s != LV_OK) break;
        /* Without validation the last epoch is the best one; NaN AUC (a class missing from
         * the validation part) never beats a number but counts as a first best. A clip run
         * is judged by its retrieval accuracy (vacc) instead. */
        double score = t.clip ? vacc : vauc;
        int improved = t.n_val == 0 || t.st.best_epoch == 0 || (!isnan(score) && (isnan(t.st.best_auc) || score > t.st.best_auc));
        if (improved) {
            t.st.best_auc = score;
            t.st.best_epoch = e + 1;
        }
        t.st.epoch = e + 1;
        s = save_epoch(&t, improved);
        lv_epoch_record rec = {e + 1, cfg->epochs, train_loss, vloss, vacc, vauc, improved, lv_now_s() - t0, skipped};
        if (s == LV_OK) s = lv_runlog_epoch(&t.log, &rec);
        if (res && e < LV_TRAIN_RESULT_EPOCHS) {
            res->train_loss[e] = train_loss;
            res->val_auc[e] = vauc;
        }
        ran++;
    }
    if (s == LV_OK && env->stop_after > 0 && t.st.epoch < cfg->epochs && t.writer && !env->quiet)
        LV_INFO("train: stopped after epoch %" PRId64 " as asked; continue with --resume %s", t.st.epoch, cfg->out);
    if (res) {
        res->steps = t.st.step;
        res->epochs = t.st.epoch;
        res->skipped = t.st.skipped_total;
        res->epochs_run = ran;
        res->best_auc = t.st.best_auc;
        res->best_epoch = t.st.best_epoch;
        res->n_train = t.n_train;
        res->n_val = t.n_val;
    }
    if (s != LV_OK) trainer_comm_abort(&t); /* leave without waiting on peers (cmd_train ends the job) */
    release(&t);
    return s;
}
