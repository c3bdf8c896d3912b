/* Loader: same seed -> identical batches on 1 and 2 OpenMP threads, new order each epoch,
 * disjoint equal shards for W = 1, 2, 3, bit-exact resume mid-epoch and at an epoch boundary,
 * class-balanced sampling, streamed data equal to in-memory data with the reader called from
 * one thread only, reader errors surfacing from lv_loader_next, clean shutdown, bad options.
 * Threads under ASan: LV_TEST_SANITIZE */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "data/loader.h"
#include "harness.h"

static const char *classes[] = {"CYST", "FNH", "HCC"};
static const char *phases[] = {"NC", "ART", "PV"};

enum { P = 3, H = 20, W = 20 };

/* n samples of HU pixels that differ per sample, phase and pixel; label pattern by mod. */
static void make_ds(lv_dataset *ds, int64_t n, int imbalanced) {
    lv_dataset_init(ds);
    if (lv_dataset_alloc(ds, n, P, H, W, LV_PIX_I16) != LV_OK || lv_dataset_set_names(ds, classes, 3, phases, P) != LV_OK)
        lv_test_fail("dataset: %s", lv_error_message());
    int16_t *px = ds->images;
    for (int64_t i = 0; i < n; i++) {
        for (int k = 0; k < P * H * W; k++) px[i * P * H * W + k] = (int16_t)((i * 131 + k * 17) % 450 - 150);
        ds->labels[i] = imbalanced ? (i % 20 == 0 ? 2 : i % 20 < 4 ? 1 : 0) : (int32_t)(i % 3);
    }
}

/* Everything a run of batches produced, for bitwise comparison. */
typedef struct run {
    int nb;
    float *img;
    int32_t *lab;
    int64_t *idx, *ep, *step;
    int *n;
    size_t per; /* floats per sample */
} run;

static lv_status take(lv_loader *l, int nb, run *r) {
    memset(r, 0, sizeof *r);
    r->per = (size_t)P * 16 * 16;
    r->img = calloc((size_t)nb * 64 * r->per, sizeof(float));
    r->lab = calloc((size_t)nb * 64, sizeof(int32_t));
    r->idx = calloc((size_t)nb * 64, sizeof(int64_t));
    r->ep = calloc((size_t)nb, sizeof(int64_t));
    r->step = calloc((size_t)nb, sizeof(int64_t));
    r->n = calloc((size_t)nb, sizeof(int));
    for (int b = 0; b < nb; b++) {
        lv_batch *bt = NULL;
        LV_TRY(lv_loader_next(l, &bt));
        if (!bt) break;
        if (bt->n > 64 || bt->s != 16) return lv_errorf(LV_ERR_RUNTIME, "test expects batch <= 64, size 16");
        memcpy(r->img + (size_t)b * 64 * r->per, bt->images, (size_t)bt->n * r->per * sizeof(float));
        memcpy(r->lab + b * 64, bt->labels, (size_t)bt->n * sizeof(int32_t));
        memcpy(r->idx + b * 64, bt->indices, (size_t)bt->n * sizeof(int64_t));
        r->ep[b] = bt->epoch, r->step[b] = bt->step, r->n[b] = bt->n;
        r->nb++;
    }
    return LV_OK;
}

static void run_free(run *r) {
    free(r->img), free(r->lab), free(r->idx), free(r->ep), free(r->step), free(r->n);
}

/* Batches a[a0..a0+k) equal b[b0..b0+k) bit for bit. */
static int same_batches(const run *a, int a0, const run *b, int b0, int k) {
    for (int i = 0; i < k; i++) {
        int x = a0 + i, y = b0 + i;
        if (x >= a->nb || y >= b->nb || a->n[x] != b->n[y] || a->ep[x] != b->ep[y] || a->step[x] != b->step[y]) return 0;
        if (memcmp(a->img + (size_t)x * 64 * a->per, b->img + (size_t)y * 64 * b->per, (size_t)a->n[x] * a->per * 4) ||
            memcmp(a->idx + x * 64, b->idx + y * 64, (size_t)a->n[x] * 8) ||
            memcmp(a->lab + x * 64, b->lab + y * 64, (size_t)a->n[x] * 4))
            return 0;
    }
    return 1;
}

static lv_loader_opts train_opts(void) {
    lv_loader_opts o;
    lv_loader_opts_default(&o);
    o.batch = 8;
    o.seed = 77;
    o.augment = 1;
    o.out_size = 16;
    o.prefetch = 3;
    o.threads = 1;
    return o;
}

static run collect(const lv_dataset *ds, const lv_loader_opts *o, int nb) {
    lv_loader *l = NULL;
    run r;
    memset(&r, 0, sizeof r);
    if (lv_loader_create(&l, ds, o) != LV_OK) {
        lv_test_fail("loader create: %s", lv_error_message());
        return r;
    }
    if (take(l, nb, &r) != LV_OK) lv_test_fail("loader next: %s", lv_error_message());
    lv_loader_destroy(l);
    return r;
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static void test_determinism(const lv_dataset *ds) {
    lv_loader_opts o = train_opts();
    run a = collect(ds, &o, 10), b, c;
    o.threads = 2;
    b = collect(ds, &o, 10);
    lv_test_true(a.nb == 10 && same_batches(&a, 0, &b, 0, 10), "same seed: identical batches on 1 and 2 threads");
    o.seed = 78;
    c = collect(ds, &o, 10);
    lv_test_true(!same_batches(&a, 0, &c, 0, 1), "another seed gives other batches");
    /* 37 samples, batch 8: 5 steps per epoch (last has 5). */
    lv_test_true(a.ep[4] == 0 && a.n[4] == 5 && a.ep[5] == 1 && a.step[5] == 0 && a.n[5] == 8,
                 "epoch of 37 in batches of 8: 4 full + 1 short, then epoch 1");
    int64_t e0[37], e1[37];
    for (int b2 = 0; b2 < 5; b2++)
        for (int i = 0; i < a.n[b2]; i++) e0[b2 * 8 + i] = a.idx[b2 * 64 + i], e1[b2 * 8 + i] = a.idx[(b2 + 5) * 64 + i];
    lv_test_true(memcmp(e0, e1, sizeof e0) != 0, "epoch 1 has another order than epoch 0");
    qsort(e0, 37, 8, cmp_i64), qsort(e1, 37, 8, cmp_i64);
    int perm = 1;
    for (int i = 0; i < 37; i++) perm &= e0[i] == i && e1[i] == i;
    lv_test_true(perm, "each epoch is a permutation of the samples");

    /* Each sample is exactly the documented render of (seed, epoch, key = sample index). */
    lv_preproc_plan plan;
    lv_preproc_plan_make(&plan, &o.preproc, ds);
    float *want = malloc(a.per * sizeof *want), *scratch = malloc((size_t)H * W * sizeof *scratch);
    int ok = 1;
    for (int b2 = 0; b2 < 10; b2 += 9)
        for (int i = 0; i < a.n[b2]; i++) {
            lv_augment_params prm;
            int64_t idx = a.idx[b2 * 64 + i];
            lv_augment_draw(&o.aug, P, H, W, 16, 77, (uint64_t)a.ep[b2], (uint64_t)idx, &prm);
            lv_augment_render(&plan, &prm, (int16_t *)ds->images + idx * P * H * W, LV_PIX_I16, H, W, 16, 77,
                              (uint64_t)a.ep[b2], (uint64_t)idx, want, scratch);
            ok &= !memcmp(want, a.img + ((size_t)b2 * 64 + i) * a.per, a.per * 4) && a.lab[b2 * 64 + i] == ds->labels[idx];
        }
    lv_test_true(ok, "batch samples = lv_augment_draw + render keyed by (seed, epoch, sample index)");
    free(want), free(scratch);

    /* Evaluation: no shuffle, no augmentation: centre crop of each sample in order. */
    lv_loader_opts ev = train_opts();
    ev.augment = 0, ev.shuffle = 0, ev.epochs = 1;
    lv_loader *l = NULL;
    ok = lv_loader_create(&l, ds, &ev) == LV_OK;
    int batches = 0, in_order = 1;
    lv_batch *bt = NULL;
    while (ok && lv_loader_next(l, &bt) == LV_OK && bt) {
        for (int i = 0; i < bt->n; i++) in_order &= bt->indices[i] == batches * 8 + i;
        batches++;
    }
    lv_test_true(ok && batches == 5 && bt == NULL && lv_loader_next(l, &bt) == LV_OK && bt == NULL && in_order,
                 "eval: one epoch of 5 batches in file order, then NULL (and NULL again)");
    lv_loader_destroy(l);
    run_free(&a), run_free(&b), run_free(&c);
}

static void test_sharding(const lv_dataset *ds) {
    for (int drop = 0; drop <= 1; drop++)
        for (int world = 1; world <= 3; world++) {
            int count[37] = {0}, total = 0, sizes_equal = 1, first = -1;
            for (int rank = 0; rank < world; rank++) {
                lv_loader_opts o = train_opts();
                o.augment = 0, o.rank = rank, o.world = world, o.drop_last = drop, o.epochs = 1, o.batch = 5;
                lv_loader *l = NULL;
                if (lv_loader_create(&l, ds, &o) != LV_OK) {
                    lv_test_fail("shard create: %s", lv_error_message());
                    continue;
                }
                int mine = 0;
                lv_batch *bt = NULL;
                while (lv_loader_next(l, &bt) == LV_OK && bt)
                    for (int i = 0; i < bt->n; i++) count[bt->indices[i]]++, mine++;
                if (first < 0) first = mine;
                sizes_equal &= mine == first && mine == lv_loader_samples_per_epoch(l);
                total += mine;
                lv_loader_destroy(l);
            }
            int covered = 0, dup = 0;
            for (int i = 0; i < 37; i++) covered += count[i] > 0, dup += count[i] > 1 ? count[i] - 1 : 0;
            int per = drop ? 37 / world : (37 + world - 1) / world;
            int bpr = drop ? (per / 5) * 5 : per; /* drop_last also drops the short batch */
            int ok = sizes_equal && total == world * bpr &&
                     (drop ? dup == 0 && covered == total : covered == 37 && dup == world * per - 37);
            if (ok)
                lv_test_pass("shards W=%d drop_last=%d: equal size %d, %s", world, drop, first,
                             drop ? "disjoint" : "union = epoch, wrap padding only");
            else
                lv_test_fail("shards W=%d drop_last=%d: sizes equal %d, total %d, covered %d, duplicates %d", world,
                             drop, sizes_equal, total, covered, dup);
        }
}

static void test_resume(const lv_dataset *ds, int balanced) {
    lv_loader_opts o = train_opts();
    o.balanced = balanced;
    o.threads = 2;
    run full = collect(ds, &o, 14);
    int cuts[2] = {3, 5}; /* mid-epoch; the epoch boundary (5 steps per epoch) */
    for (int c = 0; c < 2; c++) {
        int k = cuts[c];
        lv_loader *l = NULL;
        run head, tail;
        int64_t ep = -1, pos = -1;
        lv_status st = lv_loader_create(&l, ds, &o);
        if (st == LV_OK) st = take(l, k, &head);
        if (st == LV_OK) lv_loader_cursor(l, &ep, &pos);
        lv_loader_destroy(l);
        l = NULL;
        o.threads = 1; /* the resumed run may use another thread count */
        if (st == LV_OK) st = lv_loader_create(&l, ds, &o);
        if (st == LV_OK) st = lv_loader_seek(l, ep, pos);
        if (st == LV_OK) st = take(l, 14 - k, &tail);
        lv_loader_destroy(l);
        o.threads = 2;
        int want_ep = c == 0 ? 0 : 1, want_pos = c == 0 ? 24 : 0;
        if (st == LV_OK && ep == want_ep && pos == want_pos && same_batches(&full, 0, &head, 0, k) &&
            same_batches(&full, k, &tail, 0, 14 - k))
            lv_test_pass("resume%s after %d batches (cursor %lld,%lld) continues bit for bit", balanced ? " (balanced)" : "",
                         k, (long long)ep, (long long)pos);
        else
            lv_test_fail("resume%s after %d batches: status %d (%s), cursor %lld,%lld", balanced ? " (balanced)" : "", k,
                         (int)st, lv_error_message(), (long long)ep, (long long)pos);
        if (st == LV_OK) run_free(&head), run_free(&tail);
    }
    /* Seeking on a live loader also works, and bad positions are refused. */
    lv_loader *l = NULL;
    run again;
    if (lv_loader_create(&l, ds, &o) == LV_OK) {
        lv_batch *bt = NULL;
        lv_loader_next(l, &bt);
        lv_loader_next(l, &bt);
        lv_test_true(lv_loader_seek(l, 0, 37) == LV_OK && take(l, 2, &again) == LV_OK &&
                         same_batches(&full, 5, &again, 0, 2),
                     "seek to the end of epoch 0 on a running loader = start of epoch 1");
        run_free(&again);
        lv_test_true(lv_loader_seek(l, 0, 38) == LV_ERR_USAGE && strstr(lv_error_message(), "position 38"),
                     "seek past the epoch refused");
        lv_loader_destroy(l);
    }
    run_free(&full);
}

static void test_balanced(void) {
    lv_dataset ds;
    make_ds(&ds, 200, 1); /* 160 / 30 / 10 */
    lv_loader_opts o = train_opts();
    o.augment = 0, o.balanced = 1, o.batch = 50, o.epochs = 10;
    lv_loader *l = NULL;
    int cnt[3] = {0}, total = 0, distinct_minor = 0;
    int seen[200] = {0};
    if (lv_loader_create(&l, &ds, &o) == LV_OK) {
        lv_batch *bt = NULL;
        while (lv_loader_next(l, &bt) == LV_OK && bt)
            for (int i = 0; i < bt->n; i++) cnt[bt->labels[i]]++, total++, seen[bt->indices[i]]++;
        lv_loader_destroy(l);
    }
    for (int i = 0; i < 200; i++) distinct_minor += ds.labels[i] == 2 && seen[i] > 0;
    double f0 = (double)cnt[0] / total, f1 = (double)cnt[1] / total, f2 = (double)cnt[2] / total;
    if (total == 2000 && fabs(f0 - 1 / 3.0) < 0.05 && fabs(f1 - 1 / 3.0) < 0.05 && fabs(f2 - 1 / 3.0) < 0.05 &&
        distinct_minor == 10)
        lv_test_pass("balanced: class shares %.3f %.3f %.3f from 80/15/5%% data", f0, f1, f2);
    else
        lv_test_fail("balanced: %d draws, shares %.3f %.3f %.3f, minority samples seen %d", total, f0, f1, f2,
                     distinct_minor);
    lv_dataset_free(&ds);
}

/* A streaming source: copies from memory, counts calls, remembers the calling thread. */
typedef struct fake_src {
    const unsigned char *pix;
    size_t bytes;
    int calls, threads_seen, fail_at;
    pthread_t first;
    int main_thread_called;
    pthread_t main_thread;
} fake_src;

static lv_status fake_read(const lv_dataset *ds, int64_t index, void *dst) {
    fake_src *f = ds->source;
    if (f->calls++ == 0) f->first = pthread_self(), f->threads_seen = 1;
    else if (!pthread_equal(f->first, pthread_self())) f->threads_seen++;
    if (pthread_equal(f->main_thread, pthread_self())) f->main_thread_called = 1;
    if (index == f->fail_at) return lv_errorf(LV_ERR_INPUT, "x.h5: /images chunk of sample %d is corrupt", (int)index);
    memcpy(dst, f->pix + (size_t)index * f->bytes, f->bytes);
    return LV_OK;
}

static void test_streamed(const lv_dataset *mem) {
    lv_dataset ds;
    make_ds(&ds, mem->n, 0);
    fake_src src = {.pix = mem->images, .bytes = lv_dataset_sample_bytes(mem), .fail_at = -1,
                    .main_thread = pthread_self()};
    free(ds.images);
    ds.images = NULL;
    ds.read_sample = fake_read;
    ds.source = &src;
    lv_loader_opts o = train_opts();
    o.threads = 2;
    run a = collect(mem, &o, 7), b = collect(&ds, &o, 7);
    lv_test_true(a.nb == 7 && same_batches(&a, 0, &b, 0, 7), "streamed dataset gives the in-memory batches");
    lv_test_true(src.calls >= 7 * 8 - 3 && src.threads_seen == 1 && !src.main_thread_called,
                 "read_sample called from one thread only (the loader's), never the consumer's");
    run_free(&a), run_free(&b);

    /* An error on the loader thread comes back from next, with its message, every time. */
    src.fail_at = 36;
    o.shuffle = 0;
    lv_loader *l = NULL;
    lv_status st = lv_loader_create(&l, &ds, &o);
    lv_batch *bt = NULL;
    int good = 0;
    while (st == LV_OK && (st = lv_loader_next(l, &bt)) == LV_OK && bt) good++;
    const char *msg = lv_error_message();
    lv_test_true(st == LV_ERR_INPUT && good == 4 && strstr(msg, "chunk of sample 36 is corrupt") &&
                     strstr(msg, "reading sample 36 (epoch 0, step 4)"),
                 "reader error surfaces from lv_loader_next with its message and where it happened");
    lv_test_true(lv_loader_next(l, &bt) == LV_ERR_INPUT && bt == NULL && strstr(lv_error_message(), "sample 36"),
                 "the error is returned again on the next call");
    lv_loader_destroy(l);
    ds.source = NULL;
    lv_dataset_free(&ds);
}

static void sleep_ms(int ms) {
    struct timespec t = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

static void test_lifecycle(const lv_dataset *ds) {
    lv_loader_opts o = train_opts();
    lv_loader *l = NULL;
    lv_test_true(lv_loader_create(&l, ds, &o) == LV_OK, "create");
    lv_loader_destroy(l); /* before any next, ring filling */
    lv_test_true(lv_loader_create(&l, ds, &o) == LV_OK, "create again");
    lv_batch *bt = NULL;
    lv_loader_next(l, &bt);
    sleep_ms(200); /* the ring fills; the thread then waits for a free slot */
    double w0 = lv_loader_wait_seconds(l);
    for (int i = 0; i < 3; i++) lv_loader_next(l, &bt);
    double w1 = lv_loader_wait_seconds(l);
    lv_test_true(w0 >= 0 && w1 - w0 < 0.05, "prefetched batches are taken without waiting");
    lv_loader_destroy(l); /* mid-epoch, thread blocked on a full ring */
    lv_test_pass("destroy mid-epoch returns");
    lv_loader_destroy(NULL);

    o = train_opts();
    o.batch = 0;
    lv_test_true(lv_loader_create(&l, ds, &o) == LV_ERR_USAGE && l == NULL && strstr(lv_error_message(), "batch 0"),
                 "batch 0 refused");
    o = train_opts();
    o.rank = 2, o.world = 2;
    lv_test_true(lv_loader_create(&l, ds, &o) == LV_ERR_USAGE && strstr(lv_error_message(), "rank 2 of world 2"),
                 "rank outside world refused");
    int64_t idx[3] = {0, 5, 40};
    o = train_opts();
    o.indices = idx, o.count = 3;
    lv_test_true(lv_loader_create(&l, ds, &o) == LV_ERR_INPUT && strstr(lv_error_message(), "sample 40"),
                 "subset index outside the dataset refused");
    o.count = 2, o.drop_last = 1;
    lv_test_true(lv_loader_create(&l, ds, &o) == LV_ERR_INPUT && strstr(lv_error_message(), "no full batch"),
                 "drop_last with fewer samples than a batch refused");
    o = train_opts();
    o.aug.rotate_deg = -1;
    lv_test_true(lv_loader_create(&l, ds, &o) == LV_ERR_USAGE && strstr(lv_error_message(), "rotate_deg"),
                 "bad augmentation option refused");
    o = train_opts();
    o.preproc.n_stats = 2;
    lv_test_true(lv_loader_create(&l, ds, &o) == LV_ERR_INPUT && strstr(lv_error_message(), "3 phases"),
                 "preprocessing for another phase count refused");

    /* A subset (split) is all the loader sees. */
    int64_t split[6] = {30, 2, 17, 8, 11, 25};
    o = train_opts();
    o.indices = split, o.count = 6, o.batch = 4, o.epochs = 3, o.augment = 0;
    int only = 1, n = 0;
    if (lv_loader_create(&l, ds, &o) == LV_OK) {
        while (lv_loader_next(l, &bt) == LV_OK && bt)
            for (int i = 0; i < bt->n; i++, n++) {
                int in = 0;
                for (int k = 0; k < 6; k++) in |= bt->indices[i] == split[k];
                only &= in;
            }
        lv_loader_destroy(l);
    }
    lv_test_true(only && n == 18, "subset: 3 epochs of 6 samples, only the split's indices");
}

int main(void) {
    lv_dataset ds;
    make_ds(&ds, 37, 0);
    test_determinism(&ds);
    test_sharding(&ds);
    test_resume(&ds, 0);
    test_resume(&ds, 1);
    test_balanced();
    test_streamed(&ds);
    test_lifecycle(&ds);
    lv_dataset_free(&ds);
    return lv_test_summary();
}
