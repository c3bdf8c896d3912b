/* The double-buffered staging of host-loader batches (train/batch_stage.h) on the CPU, through
 * a "lazy" backend that behaves like an asynchronous device: a queued copy poisons its
 * destination with NaN and lands only when an event recorded after it is waited on, and every
 * ordering rule is checked as it happens: sources are page-locked (host_alloc), a source is
 * not rewritten and the loader not handed its buffer back before the copy's fence, a device
 * slot is not overwritten while compute may still read it, nothing is freed in flight. Every
 * staged batch equals the plain loader's bit for bit (images, labels, indices, epoch, step,
 * cursor, seek, a second epoch reusing the pinned pool). Then the trainer (train and
 * validation, with the NaN hook) and eval on the CPU backend with staging forced: weights,
 * losses and probabilities identical to the plain path. LV_TEST_SANITIZE */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "core/safetensors.h"
#include "data/loader.h"
#include "data/phantom.h"
#include "harness.h"
#include "train/batch_stage.h"
#include "train/checkpoint.h"
#include "train/config.h"
#include "train/evaluate.h"
#include "train/trainer.h"

/* ---- the lazy backend: the CPU backend's memory and ops, a simulated copy queue ---- */

enum { MAXB = 64, MAXC = 8 };

typedef struct copy_rec {
    void *dst;
    const void *src;
    size_t bytes;
    uint64_t hash;
    int host_waited;
} copy_rec;

typedef struct token {
    void *buf;
    int gen;
} token;

typedef struct spy_event {
    copy_rec copies[MAXC]; /* attached by a record on the copy queue */
    int ncopies;
    token captured[MAXB];  /* busy buffers when recorded on the compute queue */
    int ncaptured;
} spy_event;

static struct {
    lv_backend *cpu;   /* the real one, for alloc/free */
    void *pinned[MAXB];
    size_t pinned_bytes[MAXB];
    int npinned, host_allocs, host_frees;
    copy_rec pending[MAXC];
    int npending;
    copy_rec *inflight[4 * MAXB]; /* copies not yet host-waited, for the ordering rules */
    int ninflight;
    token busy[MAXB]; /* device buffers the compute queue may read */
    int nbusy, gen;
    size_t image_bytes_min; /* copies at least this big come from loader buffers */
    int violations;
    int expect; /* 1: violations are the point (test_spy_catches), count without failing */
} spy;

static uint64_t hash_bytes(const void *p, size_t n) {
    const unsigned char *c = p;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ c[i]) * 1099511628211ull;
    return h;
}

static void violation(const char *what) {
    spy.violations++;
    if (!spy.expect) lv_test_fail("staging order: %s", what);
}

static int pinned_block(const void *p, size_t bytes) {
    for (int i = 0; i < spy.npinned; i++) {
        const char *b = spy.pinned[i];
        if ((const char *)p >= b && (const char *)p + bytes <= b + spy.pinned_bytes[i]) return i;
    }
    return -1;
}

static void *spy_host_alloc(lv_backend *be, size_t bytes) {
    (void)be;
    void *p = spy.cpu->host_alloc(spy.cpu, bytes);
    if (p && spy.npinned < MAXB) {
        spy.pinned[spy.npinned] = p;
        spy.pinned_bytes[spy.npinned++] = bytes;
        spy.host_allocs++;
    }
    return p;
}

static void spy_host_free(lv_backend *be, void *p) {
    (void)be;
    int i = pinned_block(p, 1);
    if (i < 0) violation("host_free of memory host_alloc did not give");
    for (int k = 0; k < spy.ninflight; k++)
        if (spy.inflight[k]->src == p) violation("pinned memory freed with a copy from it in flight");
    if (i >= 0) {
        spy.pinned[i] = spy.pinned[spy.npinned - 1];
        spy.pinned_bytes[i] = spy.pinned_bytes[spy.npinned - 1];
        spy.npinned--;
    }
    spy.host_frees++;
    spy.cpu->host_free(spy.cpu, p);
}

static int busy_index(const void *buf) {
    for (int i = 0; i < spy.nbusy; i++)
        if (spy.busy[i].buf == buf) return i;
    return -1;
}

static void spy_copy_async(lv_backend *be, void *dst, const void *src, size_t bytes) {
    (void)be;
    if (pinned_block(src, bytes) < 0) violation("copy_h2d_async from memory that is not page-locked");
    if (busy_index(dst) >= 0) violation("a device slot overwritten before the compute queue was done with it");
    int image = bytes >= spy.image_bytes_min;
    for (int k = 0; k < spy.ninflight; k++) {
        const copy_rec *c = spy.inflight[k];
        if (c->src == src) violation("a pinned source rewritten before its copy's fence");
        else if (image && c->bytes >= spy.image_bytes_min)
            violation("the loader was called again while a copy from its held buffer was in flight");
    }
    if (spy.npending == MAXC) {
        violation("too many copies without an event");
        return;
    }
    spy.pending[spy.npending++] = (copy_rec){dst, src, bytes, hash_bytes(src, bytes), 0};
    memset(dst, 0xff, bytes); /* a device writes whenever it likes: reads before the fence see NaN */
}

static void *spy_event_create(lv_backend *be) {
    (void)be;
    return calloc(1, sizeof(spy_event));
}

static void drop_inflight(const spy_event *e) {
    for (int k = 0; k < spy.ninflight;)
        if (spy.inflight[k] >= e->copies && spy.inflight[k] < e->copies + MAXC)
            spy.inflight[k] = spy.inflight[--spy.ninflight];
        else
            k++;
}

static void spy_event_destroy(lv_backend *be, void *ev) {
    (void)be;
    drop_inflight(ev);
    free(ev);
}

static void spy_event_record(lv_backend *be, void *ev, lv_queue q) {
    (void)be;
    spy_event *e = ev;
    if (q == LV_QUEUE_COPY) {
        drop_inflight(e);
        memcpy(e->copies, spy.pending, (size_t)spy.npending * sizeof *spy.pending);
        e->ncopies = spy.npending;
        spy.npending = 0;
        for (int i = 0; i < e->ncopies; i++) spy.inflight[spy.ninflight++] = &e->copies[i];
    } else if (q == LV_QUEUE_COMPUTE) {
        memcpy(e->captured, spy.busy, (size_t)spy.nbusy * sizeof *spy.busy);
        e->ncaptured = spy.nbusy;
    } else {
        violation("event recorded on the host");
    }
}

/* Lands the copies attached to e (once), checking their sources were left alone. */
static void land(spy_event *e) {
    for (int i = 0; i < e->ncopies; i++) {
        copy_rec *c = &e->copies[i];
        if (c->host_waited) continue;
        if (hash_bytes(c->src, c->bytes) != c->hash) violation("a pinned source changed before its copy landed");
        memcpy(c->dst, c->src, c->bytes);
        c->host_waited = 1;
    }
}

static void spy_event_wait(lv_backend *be, void *ev, lv_queue q) {
    (void)be;
    spy_event *e = ev;
    if (q == LV_QUEUE_COPY) { /* the buffers captured on the compute queue are free again */
        for (int i = 0; i < e->ncaptured; i++)
            for (int k = 0; k < spy.nbusy; k++)
                if (spy.busy[k].buf == e->captured[i].buf && spy.busy[k].gen == e->captured[i].gen) {
                    spy.busy[k] = spy.busy[--spy.nbusy];
                    break;
                }
        return;
    }
    land(e);
    if (q == LV_QUEUE_HOST) {
        drop_inflight(e);
        return;
    }
    for (int i = 0; i < e->ncopies; i++) {
        int k = busy_index(e->copies[i].dst);
        if (k < 0 && spy.nbusy < MAXB) k = spy.nbusy++;
        if (k >= 0) spy.busy[k] = (token){e->copies[i].dst, ++spy.gen};
    }
}

static lv_backend *spy_backend(void) {
    lv_backend *cpu = lv_test_cpu_backend();
    memset(&spy, 0, sizeof spy);
    spy.cpu = cpu;
    lv_backend *be = malloc(sizeof *be);
    *be = *cpu;
    be->host_alloc = spy_host_alloc;
    be->host_free = spy_host_free;
    be->copy_h2d_async = spy_copy_async;
    be->event_create = spy_event_create;
    be->event_destroy = spy_event_destroy;
    be->event_record = spy_event_record;
    be->event_wait = spy_event_wait;
    return be;
}

/* ---- staged batches against the plain loader ---- */

static int same_batch(lv_backend *be, const lv_staged *sb, const lv_batch *b, const char *where) {
    size_t per = (size_t)b->p * (size_t)b->s * (size_t)b->s, xb = (size_t)b->n * per * sizeof(float);
    float *x = malloc(xb ? xb : 1);
    int32_t *y = malloc((size_t)b->n * sizeof *y + 1);
    be->copy_d2h(be, x, sb->x, xb); /* what a kernel on the compute queue would read now */
    be->copy_d2h(be, y, sb->y, (size_t)b->n * sizeof *y);
    int ok = sb->n == b->n && sb->p == b->p && sb->s == b->s && sb->epoch == b->epoch && sb->step == b->step &&
             memcmp(x, b->images, xb) == 0 && memcmp(y, b->labels, (size_t)b->n * sizeof *y) == 0 &&
             memcmp(sb->labels, b->labels, (size_t)b->n * sizeof *y) == 0 &&
             memcmp(sb->indices, b->indices, (size_t)b->n * sizeof *b->indices) == 0;
    if (!ok) lv_test_fail("%s: staged batch (epoch %lld step %lld, n %d) differs from the loader's", where,
                          (long long)b->epoch, (long long)b->step, b->n);
    free(x);
    free(y);
    return ok;
}

/* Runs a stager and a plain loader side by side to the end; prefetch on every `every`-th
 * batch (0: never, so lv_stager_next stages). Returns the batches compared. */
static int run_both(lv_backend *be, lv_stager *st, lv_loader *l, int every, const char *where) {
    int count = 0, ok = 1;
    for (;;) {
        const lv_staged *sb = NULL;
        lv_batch *b = NULL;
        if (lv_stager_next(st, &sb) != LV_OK || lv_loader_next(l, &b) != LV_OK) {
            lv_test_fail("%s: %s", where, lv_error_message());
            return -1;
        }
        if (!sb || !b) {
            if (sb || b) lv_test_fail("%s: the stager and the loader end at different batches", where);
            break;
        }
        ok &= same_batch(be, sb, b, where);
        if (every && count % every == 0 && lv_stager_prefetch(st) != LV_OK) lv_test_fail("%s: prefetch", where);
        int64_t e1, p1, e2, p2;
        lv_stager_cursor(st, &e1, &p1);
        lv_loader_cursor(l, &e2, &p2);
        if (e1 != e2 || p1 != p2) ok = 0, lv_test_fail("%s: cursor (%lld,%lld) vs (%lld,%lld)", where,
                                                      (long long)e1, (long long)p1, (long long)e2, (long long)p2);
        count++;
    }
    lv_test_true(ok && count > 0, where);
    return count;
}

static void test_stager(const lv_dataset *ds) {
    lv_backend *be = spy_backend();
    lv_loader_opts o;
    lv_loader_opts_default(&o);
    o.batch = 7;
    o.seed = 11;
    o.augment = 1;
    o.out_size = 20;
    o.epochs = 2;
    o.prefetch = 1; /* two loader slots: a released buffer is refilled at once */
    o.threads = 1;
    size_t per = (size_t)ds->p * 20 * 20;
    spy.image_bytes_min = (size_t)o.batch * sizeof(int32_t) + 1;
    lv_stager *st = NULL;
    if (!lv_test_true(lv_stager_create(&st, be, 8, per) == LV_OK, "stager on the lazy backend")) {
        lv_test_fail("%s", lv_error_message());
        return;
    }
    const int modes[] = {1, 0, 3};
    const char *names[] = {"prefetch after every batch", "no prefetch (next stages)", "prefetch on every 3rd"};
    int allocs_after_first = 0;
    for (int m = 0; m < 3; m++) {
        lv_loader *l = NULL;
        lv_status s = lv_stager_open(st, ds, &o);
        if (s == LV_OK) s = lv_loader_create(&l, ds, &o);
        if (s == LV_OK && m == 2) { /* a resumed epoch: seek before the first batch */
            s = lv_loader_seek(lv_stager_loader(st), 1, 14);
            if (s == LV_OK) s = lv_loader_seek(l, 1, 14);
        }
        if (!lv_test_true(s == LV_OK, "open")) {
            lv_test_fail("%s", lv_error_message());
            lv_loader_destroy(l);
            break;
        }
        int n = run_both(be, st, l, modes[m], names[m]);
        printf("  %s: %d batches\n", names[m], n);
        lv_loader_destroy(l);
        lv_test_true(lv_stager_close(st) == LV_OK && be->sync(be) == LV_OK, "close");
        if (m == 0) allocs_after_first = spy.host_allocs;
    }
    lv_test_true(spy.host_allocs == allocs_after_first, "later epochs reuse the pinned pool (no new page-locking)");
    /* Closing with a batch staged ahead and one current: the copy in flight is waited for. */
    lv_status s = lv_stager_open(st, ds, &o);
    const lv_staged *sb = NULL;
    if (s == LV_OK) s = lv_stager_next(st, &sb);
    if (s == LV_OK) s = lv_stager_prefetch(st);
    lv_test_true(s == LV_OK && sb && lv_stager_close(st) == LV_OK, "close mid-epoch with a copy in flight");
    lv_stager_destroy(st);
    lv_test_true(spy.host_allocs == spy.host_frees && spy.npinned == 0, "every page-locked buffer freed");
    lv_test_true(spy.violations == 0, "no ordering rule broken");
    free(be);
    lv_backend_destroy(spy.cpu);
}

/* The lazy backend really catches a stager that skips its fences (the test can fail). */
static void test_spy_catches(void) {
    lv_backend *be = spy_backend();
    spy.expect = 1;
    float *src = be->host_alloc(be, 64), *dst = be->alloc(be, 64), got[16];
    void *ev = be->event_create(be);
    for (int i = 0; i < 16; i++) src[i] = (float)i;
    be->copy_h2d_async(be, dst, src, 64);
    be->event_record(be, ev, LV_QUEUE_COPY);
    be->copy_d2h(be, got, dst, 64);
    lv_test_true(isnan(got[3]), "lazy backend: a read before the fence sees NaN");
    src[3] = 99.0f;
    be->event_wait(be, ev, LV_QUEUE_COMPUTE);
    lv_test_true(spy.violations == 1, "lazy backend: a source rewritten before its fence is caught");
    be->copy_h2d_async(be, dst, src, 64);
    lv_test_true(spy.violations == 3, "lazy backend: overwriting a busy slot from a buffer in flight is caught");
    spy.npending = 0;
    be->event_destroy(be, ev);
    be->free(be, dst);
    spy.cpu->host_free(spy.cpu, src);
    free(be);
    lv_backend_destroy(spy.cpu);
}

/* ---- the trainer and eval on the CPU backend, staged vs plain ---- */

static char tmpdir[256];

static void base_config(lv_train_config *c, const char *out) {
    lv_train_config_default(c);
    c->data = strdup("phantom");
    char p[512];
    snprintf(p, sizeof p, "%s/%s", tmpdir, out);
    c->out = strdup(p);
    c->epochs = 2;
    c->batch = 8;
    c->lr = 3e-3;
    c->dim = 32;
    c->threads = 2;
    c->device_data = LV_TRAIN_DEVICE_DATA_OFF;
}

static int log_says(const char *dir, const char *needle) {
    char p[600], line[4096];
    snprintf(p, sizeof p, "%s/log.jsonl", dir);
    FILE *f = fopen(p, "r");
    int found = 0;
    while (f && fgets(line, sizeof line, f)) found |= strstr(line, needle) != NULL;
    if (f) fclose(f);
    return found;
}

typedef struct nan_hook {
    int64_t at;
    int calls;
} nan_hook;

static void poison(void *ctx, int64_t step, float *images, int n, size_t per) {
    nan_hook *h = ctx;
    (void)n, (void)per;
    h->calls++;
    if (step == h->at) images[0] = NAN;
}

static void test_trainer(const lv_dataset *ds) {
    lv_train_config a, b;
    base_config(&a, "plain");
    base_config(&b, "staged");
    lv_train_env ea, eb;
    lv_train_env_default(&ea);
    lv_train_env_default(&eb);
    ea.quiet = eb.quiet = 1;
    ea.pinned = -1;
    eb.pinned = 1;
    /* A NaN batch in the second epoch: the staged path calls the hook one batch ahead, so
     * this checks it still names the step the batch is used at. */
    nan_hook ha = {4, 0}, hb = {4, 0};
    ea.batch_hook = eb.batch_hook = poison;
    ea.hook_ctx = &ha;
    eb.hook_ctx = &hb;
    lv_train_result ra, rb;
    lv_status s = lv_train_run(&a, ds, NULL, &ea, &ra);
    if (!lv_test_true(s == LV_OK, "2 epochs, plain copies")) lv_test_fail("%s", lv_error_message());
    s = lv_train_run(&b, ds, NULL, &eb, &rb);
    if (!lv_test_true(s == LV_OK, "2 epochs, staged (pinned, double-buffered) on the CPU"))
        lv_test_fail("%s", lv_error_message());
    printf("  steps %lld, skipped %lld / %lld, hook calls %d / %d\n", (long long)ra.steps, (long long)ra.skipped,
           (long long)rb.skipped, ha.calls, hb.calls);
    char pa[600], pb[600];
    snprintf(pa, sizeof pa, "%s/model.safetensors", a.out);
    snprintf(pb, sizeof pb, "%s/model.safetensors", b.out);
    lv_test_true(lv_test_same_tensors(pa, pb), "staged == plain: bit-identical weights after 2 epochs");
    lv_test_true(ra.steps > 4 && ra.skipped == 1 && rb.skipped == 1 && ha.calls == hb.calls,
                 "the NaN hook hits the same step on both paths");
    int same_losses = 1;
    for (int e = 0; e < 2; e++)
        same_losses &= ra.train_loss[e] == rb.train_loss[e] &&
                       (ra.val_auc[e] == rb.val_auc[e] || (isnan(ra.val_auc[e]) && isnan(rb.val_auc[e])));
    lv_test_true(same_losses && ra.n_val > 0, "staged == plain: training losses and validation AUC");
    lv_test_true(log_says(b.out, "\"pinned\":true") && log_says(a.out, "\"pinned\":false"),
                 "the start line names the staged path");

    /* eval of the trained model: the same probabilities either way. */
    lv_backend *be = lv_test_cpu_backend();
    lv_vlm m;
    lv_ckpt_info info;
    if (lv_test_true(lv_ckpt_load(pb, be, 0, &m, &info) == LV_OK, "load the trained model")) {
        lv_eval_opts o;
        lv_eval_opts_default(&o);
        o.batch = 6;
        o.input_size = info.input_size;
        o.pre = info.pre;
        o.threads = 2;
        size_t np = (size_t)ds->n * (size_t)ds->c;
        float *p1 = calloc(np, sizeof *p1), *p2 = calloc(np, sizeof *p2);
        o.pinned = -1;
        s = lv_eval_predict(&m, ds, NULL, 0, &o, p1);
        o.pinned = 1;
        if (s == LV_OK) s = lv_eval_predict(&m, ds, NULL, 0, &o, p2);
        if (!lv_test_true(s == LV_OK && memcmp(p1, p2, np * sizeof *p1) == 0 && p1[0] > 0.0f,
                          "eval: staged probabilities == plain, bit for bit"))
            lv_test_fail("%s", lv_error_message());
        free(p1);
        free(p2);
        lv_vlm_free(&m);
        lv_ckpt_info_free(&info);
    } else {
        lv_test_fail("%s", lv_error_message());
    }
    lv_backend_destroy(be);
    lv_train_config_free(&a);
    lv_train_config_free(&b);
}

int main(void) {
    lv_log_init(0, 1);
    lv_log_set_level(LV_LOG_WARN);
    lv_phantom_opts po;
    lv_phantom_opts_default(&po);
    po.per_class = 6;
    po.size = 32;
    po.seed = 3;
    lv_dataset ds;
    lv_dataset_init(&ds);
    if (!lv_test_true(lv_phantom_generate(&ds, &po, NULL) == LV_OK, "phantom")) return lv_test_summary();
    test_spy_catches();
    test_stager(&ds);
    snprintf(tmpdir, sizeof tmpdir, "/tmp/lv_test_batch_stage_XXXXXX");
    if (mkdtemp(tmpdir)) {
        test_trainer(&ds);
        char cmd[300];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
        if (system(cmd) != 0) printf("note: could not remove %s\n", tmpdir);
    } else {
        lv_test_fail("cannot make a temporary directory");
    }
    lv_dataset_free(&ds);
    return lv_test_summary();
}
