/* Loader thread and batch ring (see loader.h). One producer thread owns every call into
 * the dataset's reader; OpenMP inside it renders a batch's samples in parallel, which stays
 * deterministic because each sample's randomness is keyed by (seed, epoch, key) alone.
 * Must not touch the dataset from the consumer's thread, and must never lose an error. */
#include "loader.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "data/sampler.h"

enum { SLOT_FREE = 0, SLOT_READY = 1, SLOT_HELD = 2 };

typedef struct slot {
    lv_batch b;
    int state;
    int end;                     /* marks the end of the last epoch, no data */
    lv_status st;                /* the loader thread's failure for this batch */
    char msg[1024];
    int64_t next_epoch, next_pos; /* the consumer's cursor once this batch is taken */
    int64_t *keys;               /* [batch] augmentation keys */
    unsigned char *raw;          /* [batch, sample bytes] staging for streamed data */
} slot;

struct lv_loader {
    const lv_dataset *ds;
    lv_loader_opts o;
    lv_preproc pp;
    lv_preproc_plan plan;
    lv_sampler smp;
    int s;                 /* output size */
    int64_t steps, limit;  /* per epoch on this rank: batches, samples delivered */
    int nslots;
    slot *slots;
    int nthreads;
    float *scratch;        /* [nthreads, h*w] */
    int64_t *order, *okeys; /* current epoch's global order, loader thread only */
    int64_t order_epoch;

    pthread_mutex_t mu;
    pthread_cond_t ready_cv, free_cv;
    pthread_t thread;
    int running, stop;
    int head;              /* next slot the loader thread fills */
    int64_t p_epoch, p_pos; /* loader thread's cursor */

    int tail, held;        /* consumer: next slot to take, slot it holds (-1: none) */
    int64_t c_epoch, c_pos;
    lv_status sticky;      /* first error seen by the consumer, returned forever after */
    char sticky_msg[1024];
    int ended;
    double wait_s;
};

void lv_loader_opts_default(lv_loader_opts *o) {
    memset(o, 0, sizeof *o);
    o->batch = 32;
    o->shuffle = 1;
    o->world = 1;
    lv_augment_opts_default(&o->aug);
    lv_preproc_default(&o->preproc);
    o->prefetch = 4;
    o->render = 1;
}

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Builds batch (p_epoch, p_pos) into sl on the loader thread. */
static lv_status fill(lv_loader *l, slot *sl) {
    const lv_dataset *ds = l->ds;
    sl->end = 0;
    if (l->o.epochs > 0 && l->p_epoch >= l->o.epochs) {
        sl->end = 1;
        return LV_OK;
    }
    if (l->order_epoch != l->p_epoch) {
        lv_sampler_epoch(&l->smp, l->p_epoch, l->order, l->okeys);
        l->order_epoch = l->p_epoch;
    }
    int64_t left = l->limit - l->p_pos;
    int n = left < l->o.batch ? (int)left : l->o.batch;
    lv_batch *b = &sl->b;
    b->n = n;
    b->epoch = l->p_epoch;
    b->step = l->p_pos / l->o.batch;
    for (int i = 0; i < n; i++) {
        int64_t g = lv_sampler_global(&l->smp, l->p_pos + i);
        b->indices[i] = l->order[g];
        sl->keys[i] = l->okeys[g];
        b->labels[i] = ds->labels[b->indices[i]];
    }
    if (!l->o.render) return LV_OK; /* the consumer renders from indices and keys */
    size_t bytes = lv_dataset_sample_bytes(ds);
    int streamed = ds->images == NULL;
    if (streamed) /* serial on purpose: the reader is not thread-safe */
        for (int i = 0; i < n; i++) {
            lv_status st = lv_dataset_read_raw(ds, b->indices[i], sl->raw + (size_t)i * bytes);
            if (st != LV_OK)
                return lv_error_wrap(st, "loader: reading sample %" PRId64 " (epoch %" PRId64 ", step %" PRId64 ")",
                                     b->indices[i], b->epoch, b->step);
        }
    size_t per = (size_t)ds->p * (size_t)l->s * (size_t)l->s, hw = (size_t)ds->h * (size_t)ds->w;
    const lv_augment_opts *aug = &l->o.aug;
    uint64_t seed = l->o.seed, epoch = (uint64_t)b->epoch;
#pragma omp parallel for num_threads(l->nthreads) schedule(dynamic, 1)
    for (int i = 0; i < n; i++) {
        int tid = 0;
#ifdef _OPENMP
        tid = omp_get_thread_num();
#endif
        const void *raw = streamed ? (const void *)(sl->raw + (size_t)i * bytes)
                                   : (const void *)((const unsigned char *)ds->images + (size_t)b->indices[i] * bytes);
        lv_augment_params prm;
        uint64_t key = (uint64_t)sl->keys[i];
        lv_augment_draw(aug, ds->p, ds->h, ds->w, l->s, seed, epoch, key, &prm);
        lv_augment_render(&l->plan, &prm, raw, ds->pixel, ds->h, ds->w, l->s, seed, epoch, key,
                          b->images + (size_t)i * per, l->scratch + (size_t)tid * hw);
    }
    return LV_OK;
}

static void *producer(void *arg) {
    lv_loader *l = arg;
    for (;;) {
        pthread_mutex_lock(&l->mu);
        while (!l->stop && l->slots[l->head].state != SLOT_FREE) pthread_cond_wait(&l->free_cv, &l->mu);
        int stop = l->stop;
        pthread_mutex_unlock(&l->mu);
        if (stop) break;
        slot *sl = &l->slots[l->head];
        lv_status st = fill(l, sl);
        sl->st = st;
        sl->msg[0] = '\0';
        if (st != LV_OK) snprintf(sl->msg, sizeof sl->msg, "%s", lv_error_message());
        if (st == LV_OK && !sl->end) {
            l->p_pos += sl->b.n;
            if (l->p_pos >= l->limit) l->p_epoch++, l->p_pos = 0;
        }
        sl->next_epoch = l->p_epoch;
        sl->next_pos = l->p_pos;
        pthread_mutex_lock(&l->mu);
        sl->state = SLOT_READY;
        l->head = (l->head + 1) % l->nslots;
        pthread_cond_signal(&l->ready_cv);
        pthread_mutex_unlock(&l->mu);
        if (st != LV_OK || sl->end) break; /* nothing sensible follows an error or the end */
    }
    return NULL;
}

static lv_status start_thread(lv_loader *l) {
    for (int i = 0; i < l->nslots; i++) l->slots[i].state = SLOT_FREE;
    l->head = l->tail = 0;
    l->held = -1;
    l->stop = 0;
    l->sticky = LV_OK;
    l->ended = 0;
    l->p_epoch = l->c_epoch;
    l->p_pos = l->c_pos;
    int rc = pthread_create(&l->thread, NULL, producer, l);
    LV_CHECK(rc == 0, LV_ERR_RUNTIME, "loader: cannot start its thread (pthread_create error %d)", rc);
    l->running = 1;
    return LV_OK;
}

static void stop_thread(lv_loader *l) {
    if (!l->running) return;
    pthread_mutex_lock(&l->mu);
    l->stop = 1;
    pthread_cond_broadcast(&l->free_cv);
    pthread_mutex_unlock(&l->mu);
    pthread_join(l->thread, NULL);
    l->running = 0;
}

static void *images_alloc(lv_loader *l, size_t bytes) {
    return l->o.image_alloc ? l->o.image_alloc(l->o.alloc_ctx, bytes) : malloc(bytes);
}

static void images_free(lv_loader *l, void *p) {
    if (!p) return;
    if (l->o.image_free) l->o.image_free(l->o.alloc_ctx, p);
    else free(p);
}

static void free_slots(lv_loader *l) {
    if (!l->slots) return;
    for (int i = 0; i < l->nslots; i++) {
        slot *sl = &l->slots[i];
        images_free(l, sl->b.images);
        free(sl->b.labels);
        free(sl->b.indices);
        free(sl->keys);
        free(sl->raw);
    }
    free(l->slots);
    l->slots = NULL;
}

void lv_loader_destroy(lv_loader *l) {
    if (!l) return;
    stop_thread(l);
    free_slots(l);
    free(l->scratch);
    free(l->order);
    free(l->okeys);
    lv_sampler_free(&l->smp);
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->ready_cv);
    pthread_cond_destroy(&l->free_cv);
    free(l);
}

static lv_status check_opts(const lv_loader_opts *o, const lv_dataset *ds) {
    LV_CHECK(o->batch >= 1 && o->batch <= (1 << 20), LV_ERR_USAGE, "loader: batch %d: expected 1..%d", o->batch,
             1 << 20);
    LV_CHECK(o->prefetch >= 0 && o->prefetch <= 256, LV_ERR_USAGE, "loader: prefetch %d: expected 0..256 batches",
             o->prefetch);
    LV_CHECK(o->threads >= 0 && o->threads <= 1024, LV_ERR_USAGE, "loader: threads %d: expected 0..1024",
             o->threads);
    LV_CHECK(o->out_size >= 0 && o->out_size <= 8192, LV_ERR_USAGE, "loader: out_size %d: expected 0..8192",
             o->out_size);
    LV_CHECK(o->render == 0 || o->render == 1, LV_ERR_USAGE, "loader: render %d: expected 0 or 1", o->render);
    LV_CHECK(!o->image_alloc == !o->image_free, LV_ERR_USAGE, "loader: image_alloc and image_free go together");
    LV_CHECK(o->epochs >= 0, LV_ERR_USAGE, "loader: epochs %" PRId64 ": expected >= 0", o->epochs);
    LV_CHECK(!o->indices || o->count >= 1, LV_ERR_USAGE, "loader: subset of %" PRId64 " samples: expected >= 1",
             o->count);
    if (o->augment) LV_TRY(lv_augment_opts_check(&o->aug, "loader augmentation"));
    const char *src = ds->path ? ds->path : "dataset";
    LV_CHECK(ds->n >= 1 && ds->p >= 1 && ds->p <= LV_MAX_PHASES && ds->h >= 1 && ds->w >= 1, LV_ERR_INPUT,
             "loader on %s: dataset shape [%" PRId64 ",%d,%d,%d] is not usable", src, ds->n, ds->p, ds->h, ds->w);
    LV_CHECK(ds->images || ds->read_sample, LV_ERR_INPUT, "loader on %s: dataset has no pixels and no reader", src);
    return LV_OK;
}

static lv_status create(lv_loader *l, const lv_dataset *ds, const lv_loader_opts *opts) {
    const lv_loader_opts *o = &l->o;
    LV_TRY(check_opts(opts, ds));
    l->pp = opts->preproc;
    LV_TRY(lv_preproc_resolve(&l->pp, ds));
    LV_TRY(lv_preproc_plan_make(&l->plan, &l->pp, ds));
    LV_TRY(lv_sampler_init(&l->smp, ds, opts->indices, opts->count, opts->seed, opts->shuffle, opts->balanced,
                           opts->rank, opts->world, opts->drop_last));
    l->o.indices = NULL; /* copied into the sampler; the caller may free it */
    if (!o->augment) lv_augment_opts_eval(&l->o.aug);
    if (l->o.prefetch == 0) l->o.prefetch = 4;
    l->s = o->out_size ? o->out_size : ds->h < ds->w ? ds->h : ds->w;
    int64_t per = l->smp.per_rank;
    l->steps = o->drop_last ? per / o->batch : (per + o->batch - 1) / o->batch;
    LV_CHECK(l->steps >= 1, LV_ERR_INPUT,
             "loader on %s: %" PRId64 " samples per rank make no full batch of %d (drop_last is on)",
             ds->path ? ds->path : "dataset", per, o->batch);
    l->limit = o->drop_last ? l->steps * o->batch : per;
#ifdef _OPENMP
    l->nthreads = o->threads > 0 ? o->threads : omp_get_max_threads();
#else
    l->nthreads = 1;
#endif
    size_t hw = (size_t)ds->h * (size_t)ds->w, img = (size_t)ds->p * (size_t)l->s * (size_t)l->s;
    size_t bytes = lv_dataset_sample_bytes(ds), B = (size_t)o->batch;
    int render = o->render;
    l->scratch = render ? malloc((size_t)l->nthreads * hw * sizeof *l->scratch) : NULL;
    l->order = malloc((size_t)l->smp.n * sizeof *l->order);
    l->okeys = malloc((size_t)l->smp.n * sizeof *l->okeys);
    l->nslots = o->prefetch + 1; /* the consumer holds one while `prefetch` wait ready */
    l->slots = calloc((size_t)l->nslots, sizeof *l->slots);
    LV_CHECK((l->scratch || !render) && l->order && l->okeys && l->slots, LV_ERR_RUNTIME, "loader: out of memory");
    for (int i = 0; i < l->nslots; i++) {
        slot *sl = &l->slots[i];
        sl->b.p = ds->p;
        sl->b.s = l->s;
        sl->b.images = render ? images_alloc(l, B * img * sizeof(float)) : NULL;
        sl->b.labels = malloc(B * sizeof(int32_t));
        sl->b.indices = malloc(B * sizeof(int64_t));
        sl->keys = malloc(B * sizeof(int64_t));
        sl->b.keys = sl->keys;
        sl->raw = ds->images || !render ? NULL : malloc(B * bytes);
        LV_CHECK((sl->b.images || !render) && sl->b.labels && sl->b.indices && sl->keys &&
                     (ds->images || !render || sl->raw),
                 LV_ERR_RUNTIME,
                 "loader: out of memory for %d batches of %zu floats", l->nslots, B * img);
    }
    return start_thread(l);
}

lv_status lv_loader_create(lv_loader **out, const lv_dataset *ds, const lv_loader_opts *opts) {
    *out = NULL;
    lv_loader *l = calloc(1, sizeof *l);
    LV_CHECK_ALLOC(l);
    l->ds = ds;
    l->o = *opts;
    l->order_epoch = -1;
    l->held = -1;
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->ready_cv, NULL);
    pthread_cond_init(&l->free_cv, NULL);
    lv_status st = create(l, ds, opts);
    if (st != LV_OK) {
        lv_loader_destroy(l);
        return st;
    }
    *out = l;
    return LV_OK;
}

lv_status lv_loader_next(lv_loader *l, lv_batch **batch) {
    *batch = NULL;
    pthread_mutex_lock(&l->mu);
    if (l->held >= 0) {
        l->slots[l->held].state = SLOT_FREE;
        l->held = -1;
        pthread_cond_signal(&l->free_cv);
    }
    if (l->sticky != LV_OK || l->ended) {
        lv_status st = l->sticky;
        pthread_mutex_unlock(&l->mu);
        return st == LV_OK ? LV_OK : lv_errorf(st, "%s", l->sticky_msg);
    }
    slot *sl = &l->slots[l->tail];
    if (sl->state != SLOT_READY) {
        double t0 = now_s();
        while (sl->state != SLOT_READY) pthread_cond_wait(&l->ready_cv, &l->mu);
        l->wait_s += now_s() - t0;
    }
    l->tail = (l->tail + 1) % l->nslots;
    if (sl->st != LV_OK) {
        l->sticky = sl->st;
        snprintf(l->sticky_msg, sizeof l->sticky_msg, "%s", sl->msg);
        sl->state = SLOT_FREE;
        pthread_mutex_unlock(&l->mu);
        return lv_errorf(l->sticky, "%s", l->sticky_msg);
    }
    if (sl->end) {
        l->ended = 1;
        sl->state = SLOT_FREE;
        pthread_mutex_unlock(&l->mu);
        return LV_OK;
    }
    sl->state = SLOT_HELD;
    l->held = (int)(sl - l->slots);
    l->c_epoch = sl->next_epoch;
    l->c_pos = sl->next_pos;
    pthread_mutex_unlock(&l->mu);
    *batch = &sl->b;
    return LV_OK;
}

void lv_loader_cursor(const lv_loader *l, int64_t *epoch, int64_t *position) {
    *epoch = l->c_epoch;
    *position = l->c_pos;
}

lv_status lv_loader_seek(lv_loader *l, int64_t epoch, int64_t position) {
    LV_CHECK(epoch >= 0 && epoch < ((int64_t)1 << 32), LV_ERR_USAGE,
             "loader seek: epoch %" PRId64 ": expected 0 <= epoch < 2^32", epoch);
    LV_CHECK(position >= 0 && position <= l->limit, LV_ERR_USAGE,
             "loader seek: position %" PRId64 ": expected 0..%" PRId64 " (samples per epoch on this rank)", position,
             l->limit);
    stop_thread(l);
    if (position == l->limit) epoch++, position = 0;
    l->c_epoch = epoch;
    l->c_pos = position;
    return start_thread(l);
}

int64_t lv_loader_steps_per_epoch(const lv_loader *l) { return l->steps; }
int64_t lv_loader_samples_per_epoch(const lv_loader *l) { return l->limit; }
const lv_preproc *lv_loader_preproc(const lv_loader *l) { return &l->pp; }

/* Only the consumer's calls write wait_s, so the consumer reads it without the lock. */
double lv_loader_wait_seconds(const lv_loader *l) { return l->wait_s; }
