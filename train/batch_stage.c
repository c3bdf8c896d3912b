/* Double-buffered batch staging (batch_stage.h). Two device slots alternate; per slot two
 * events: `copied` (recorded on the copy queue after the slot's uploads: the compute queue
 * waits on it before reading the slot, and the host waits on it before handing the pinned
 * source back to the loader, which refills it at its next call) and `consumed` (recorded on
 * the compute queue after the last queued read of the slot: the copy queue waits on it before
 * overwriting the slot). Must never let the loader refill a buffer a copy still reads, nor a
 * copy overwrite a slot a queued kernel still reads; must not synchronise the device. */
#include "train/batch_stage.h"

#include <stdlib.h>
#include <string.h>

enum { STAGE_SLOTS = 2 };

typedef struct stage_slot {
    float *x;                /* backend [batch, per] */
    int32_t *y;              /* backend [batch] */
    int32_t *labels;         /* host_alloc [batch]: y's copy source */
    int64_t *indices;        /* host [batch] */
    int64_t *keys;           /* host [batch] */
    void *copied, *consumed; /* backend events */
    int consumed_marked;     /* `consumed` recorded since the slot was last handed out */
    int64_t before_epoch, before_pos, after_epoch, after_pos; /* loader cursor around it */
    lv_staged meta;
} stage_slot;

typedef struct pool_buf {
    void *p;
    size_t bytes;
    int used;
} pool_buf;

struct lv_stager {
    lv_backend *be;
    int batch;
    size_t per;
    stage_slot slot[STAGE_SLOTS];
    pool_buf *pool; /* the loaders' page-locked image buffers, kept across epochs because
                       page-locking is slow (milliseconds per MiB) */
    int npool, cap_pool;
    lv_loader *l;
    int cur, ahead;  /* slot handed out / slot staged ahead of it; -1: none */
    int src;         /* slot whose copy reads the loader's held batch; -1: none */
    int ended;
    int64_t seq;
    lv_stager_hook hook;
    void *hook_ctx;
};

static void *pool_alloc(void *ctx, size_t bytes) {
    lv_stager *st = ctx;
    for (int i = 0; i < st->npool; i++)
        if (!st->pool[i].used && st->pool[i].bytes >= bytes) {
            st->pool[i].used = 1;
            return st->pool[i].p;
        }
    if (st->npool == st->cap_pool) {
        int cap = st->cap_pool ? 2 * st->cap_pool : 8;
        pool_buf *np = realloc(st->pool, (size_t)cap * sizeof *np);
        if (!np) return NULL;
        st->pool = np;
        st->cap_pool = cap;
    }
    void *p = st->be->host_alloc(st->be, bytes);
    if (!p) return NULL;
    st->pool[st->npool++] = (pool_buf){p, bytes, 1};
    return p;
}

static void pool_free(void *ctx, void *p) {
    lv_stager *st = ctx;
    for (int i = 0; i < st->npool; i++)
        if (st->pool[i].p == p) {
            st->pool[i].used = 0;
            return;
        }
    st->be->host_free(st->be, p); /* not ours: should not happen, but never leak */
}

lv_status lv_stager_create(lv_stager **out, lv_backend *be, int batch, size_t per_sample) {
    *out = NULL;
    LV_CHECK(lv_backend_can_stage(be), LV_ERR_USAGE, "%s backend: no asynchronous staging entries", be->name);
    LV_CHECK(batch >= 1 && per_sample >= 1, LV_ERR_USAGE, "stager: batch %d of %zu floats", batch, per_sample);
    lv_stager *st = calloc(1, sizeof *st);
    LV_CHECK_ALLOC(st);
    st->be = be;
    st->batch = batch;
    st->per = per_sample;
    st->cur = st->ahead = st->src = -1;
    *out = st;
    size_t B = (size_t)batch;
    for (int k = 0; k < STAGE_SLOTS; k++) {
        stage_slot *sl = &st->slot[k];
        sl->x = be->alloc(be, B * per_sample * sizeof(float));
        sl->y = be->alloc(be, B * sizeof(int32_t));
        sl->labels = be->host_alloc(be, B * sizeof(int32_t));
        sl->indices = malloc(B * sizeof(int64_t));
        sl->keys = malloc(B * sizeof(int64_t));
        sl->copied = be->event_create(be);
        sl->consumed = be->event_create(be);
        if (!sl->x || !sl->y || !sl->labels || !sl->indices || !sl->keys || !sl->copied || !sl->consumed) {
            lv_status s = be->sync(be);
            lv_stager_destroy(st);
            *out = NULL;
            return s != LV_OK ? lv_error_wrap(s, "stager: two batches of %d samples", batch)
                              : lv_errorf(LV_ERR_RUNTIME, "stager: out of memory for two batches of %d", batch);
        }
        /* alloc zeroes on the compute queue; the first upload into the slot waits for that. */
        be->event_record(be, sl->consumed, LV_QUEUE_COMPUTE);
        sl->consumed_marked = 1;
    }
    return LV_OK;
}

lv_status lv_stager_open(lv_stager *st, const lv_dataset *ds, const lv_loader_opts *opts) {
    LV_CHECK(!st->l, LV_ERR_USAGE, "stager: a loader is already open");
    LV_CHECK(opts->render, LV_ERR_USAGE, "stager: the loader must render images");
    LV_CHECK(opts->batch <= st->batch, LV_ERR_USAGE, "stager: batch %d, made for %d", opts->batch, st->batch);
    int s = opts->out_size ? opts->out_size : ds->h < ds->w ? ds->h : ds->w;
    LV_CHECK((size_t)ds->p * (size_t)s * (size_t)s <= st->per, LV_ERR_USAGE,
             "stager: samples of %d x %d x %d floats, made for %zu", ds->p, s, s, st->per);
    lv_loader_opts o = *opts;
    o.image_alloc = pool_alloc;
    o.image_free = pool_free;
    o.alloc_ctx = st;
    lv_status r = lv_loader_create(&st->l, ds, &o);
    if (r != LV_OK && st->be->error != LV_OK) {
        lv_status b = st->be->sync(st->be); /* the page-locking failure is the cause */
        return lv_error_wrap(b, "loader batches in page-locked memory");
    }
    st->cur = st->ahead = st->src = -1;
    st->ended = 0;
    st->seq = 0;
    return r;
}

lv_loader *lv_stager_loader(lv_stager *st) { return st->l; }

void lv_stager_set_hook(lv_stager *st, lv_stager_hook hook, void *ctx) {
    st->hook = hook;
    st->hook_ctx = ctx;
}

static void mark_consumed(lv_stager *st) {
    if (st->cur < 0 || st->slot[st->cur].consumed_marked) return;
    st->be->event_record(st->be, st->slot[st->cur].consumed, LV_QUEUE_COMPUTE);
    st->slot[st->cur].consumed_marked = 1;
}

/* The loader refills the buffer it handed out last as soon as it is called again. */
static void release_source(lv_stager *st) {
    if (st->src < 0) return;
    st->be->event_wait(st->be, st->slot[st->src].copied, LV_QUEUE_HOST);
    st->src = -1;
}

lv_status lv_stager_prefetch(lv_stager *st) {
    LV_CHECK(st->l, LV_ERR_USAGE, "stager: no loader open");
    if (st->ahead >= 0 || st->ended) return LV_OK;
    lv_backend *be = st->be;
    mark_consumed(st);
    release_source(st);
    int k = st->cur == 0 ? 1 : 0;
    stage_slot *sl = &st->slot[k];
    lv_loader_cursor(st->l, &sl->before_epoch, &sl->before_pos);
    lv_batch *b = NULL;
    LV_TRY(lv_loader_next(st->l, &b));
    if (!b) {
        st->ended = 1;
        return LV_OK;
    }
    size_t per = (size_t)b->p * (size_t)b->s * (size_t)b->s;
    LV_CHECK(b->n <= st->batch && per <= st->per, LV_ERR_RUNTIME, "stager: a batch of %d x %zu floats", b->n, per);
    memcpy(sl->labels, b->labels, (size_t)b->n * sizeof *sl->labels);
    memcpy(sl->indices, b->indices, (size_t)b->n * sizeof *sl->indices);
    memcpy(sl->keys, b->keys, (size_t)b->n * sizeof *sl->keys);
    lv_loader_cursor(st->l, &sl->after_epoch, &sl->after_pos);
    sl->meta = (lv_staged){sl->x, sl->y, b->n, b->p, b->s, sl->labels, sl->indices, sl->keys, b->epoch, b->step,
                           st->seq++};
    if (st->hook) st->hook(st->hook_ctx, sl->meta.seq, b->images, b->n, per);
    be->event_wait(be, sl->consumed, LV_QUEUE_COPY);
    be->copy_h2d_async(be, sl->x, b->images, (size_t)b->n * per * sizeof(float));
    be->copy_h2d_async(be, sl->y, sl->labels, (size_t)b->n * sizeof(int32_t));
    be->event_record(be, sl->copied, LV_QUEUE_COPY);
    st->src = st->ahead = k;
    return LV_OK;
}

lv_status lv_stager_next(lv_stager *st, const lv_staged **out) {
    *out = NULL;
    LV_TRY(lv_stager_prefetch(st));
    if (st->ahead < 0) {
        st->cur = -1;
        return LV_OK;
    }
    st->cur = st->ahead;
    st->ahead = -1;
    stage_slot *sl = &st->slot[st->cur];
    sl->consumed_marked = 0;
    st->be->event_wait(st->be, sl->copied, LV_QUEUE_COMPUTE);
    *out = &sl->meta;
    return LV_OK;
}

void lv_stager_cursor(const lv_stager *st, int64_t *epoch, int64_t *position) {
    if (st->cur >= 0) {
        *epoch = st->slot[st->cur].after_epoch;
        *position = st->slot[st->cur].after_pos;
    } else if (st->ahead >= 0) {
        *epoch = st->slot[st->ahead].before_epoch;
        *position = st->slot[st->ahead].before_pos;
    } else {
        lv_loader_cursor(st->l, epoch, position);
    }
}

lv_status lv_stager_close(lv_stager *st) {
    if (!st || !st->l) return LV_OK;
    mark_consumed(st);
    release_source(st); /* the loader frees (pools) its buffers next */
    lv_loader_destroy(st->l);
    st->l = NULL;
    st->cur = st->ahead = -1;
    st->ended = 0;
    return LV_OK;
}

void lv_stager_destroy(lv_stager *st) {
    if (!st) return;
    lv_stager_close(st);
    lv_backend *be = st->be;
    for (int k = 0; k < STAGE_SLOTS; k++) {
        stage_slot *sl = &st->slot[k];
        if (sl->x) be->free(be, sl->x);
        if (sl->y) be->free(be, sl->y);
        if (sl->labels) be->host_free(be, sl->labels);
        free(sl->indices);
        free(sl->keys);
        if (sl->copied) be->event_destroy(be, sl->copied);
        if (sl->consumed) be->event_destroy(be, sl->consumed);
    }
    for (int i = 0; i < st->npool; i++) be->host_free(be, st->pool[i].p);
    free(st->pool);
    free(st);
}
