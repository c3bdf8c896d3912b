/* The pinned, double-buffered path on a device (train/batch_stage.h over the CUDA staging
 * entries): an asynchronous copy from page-locked memory lands the same bytes as the plain
 * copy; every staged batch (downloaded while the next one's copy is in flight on the copy
 * stream) equals the plain loader's bit for bit; two epochs of training with it and with plain
 * copies give bit-identical weights, and eval the same probabilities. SKIPs without a device;
 * under LV_TEST_TWIN_CPU=1 the "device" is a CPU backend and the test still ends in SKIP. */
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
#include "twin.h"

static void test_raw_copy(lv_backend *dev) {
    enum { N = (1 << 20) + 13 }; /* odd size: no alignment luck */
    unsigned char *pin = dev->host_alloc(dev, N), *got = malloc(N), *want = malloc(N);
    unsigned char *d1 = dev->alloc(dev, N), *d2 = dev->alloc(dev, N);
    void *ev = dev->event_create(dev);
    if (!lv_test_true(pin && got && want && d1 && d2 && ev, "pinned and device buffers, an event")) goto out;
    for (size_t i = 0; i < N; i++) want[i] = pin[i] = (unsigned char)((i * 2654435761u) >> 13);
    dev->copy_h2d_async(dev, d1, pin, N);
    dev->event_record(dev, ev, LV_QUEUE_COPY);
    dev->event_wait(dev, ev, LV_QUEUE_COMPUTE); /* the compute stream's d2h comes after the copy */
    dev->copy_d2h(dev, got, d1, N);
    if (lv_twin_sync(dev, "async copy")) goto out;
    lv_test_true(memcmp(got, want, N) == 0, "copy_h2d_async from pinned memory: the exact bytes");
    dev->copy_h2d(dev, d2, want, N);
    memset(got, 0, N);
    dev->copy_d2h(dev, got, d2, N);
    lv_test_true(lv_twin_sync(dev, "plain copy") == 0 && memcmp(got, want, N) == 0, "plain copy_h2d: the same bytes");
    /* The host fence: once it returns, refilling the source cannot change what landed. */
    dev->copy_h2d_async(dev, d1, pin, N);
    dev->event_record(dev, ev, LV_QUEUE_COPY);
    dev->event_wait(dev, ev, LV_QUEUE_HOST);
    memset(pin, 0, N);
    dev->event_wait(dev, ev, LV_QUEUE_COMPUTE);
    dev->copy_d2h(dev, got, d1, N);
    lv_test_true(lv_twin_sync(dev, "host fence") == 0 && memcmp(got, want, N) == 0,
                 "after the host fence the pinned source may be refilled");
out:
    if (ev) dev->event_destroy(dev, ev);
    if (d1) dev->free(dev, d1);
    if (d2) dev->free(dev, d2);
    if (pin) dev->host_free(dev, pin);
    free(got);
    free(want);
}

static void test_batches(lv_backend *dev, const lv_dataset *ds) {
    lv_loader_opts o;
    lv_loader_opts_default(&o);
    o.batch = 16;
    o.seed = 4;
    o.augment = 1;
    o.out_size = 28;
    o.epochs = 2;
    o.threads = 2;
    size_t per = (size_t)ds->p * 28 * 28;
    lv_stager *st = NULL;
    lv_loader *l = NULL;
    float *got = malloc((size_t)o.batch * per * sizeof *got);
    int32_t y[16];
    lv_status s = lv_stager_create(&st, dev, o.batch, per);
    if (s == LV_OK) s = lv_stager_open(st, ds, &o);
    if (s == LV_OK) s = lv_loader_create(&l, ds, &o);
    int count = 0, ok = s == LV_OK && got;
    while (ok) {
        const lv_staged *sb = NULL;
        lv_batch *b = NULL;
        if (lv_stager_next(st, &sb) != LV_OK || lv_loader_next(l, &b) != LV_OK) {
            ok = 0;
            break;
        }
        if (!sb || !b) {
            ok = !sb && !b;
            break;
        }
        size_t xb = (size_t)b->n * per * sizeof(float);
        dev->copy_d2h(dev, got, sb->x, xb); /* queued before the prefetch: a read of this slot */
        dev->copy_d2h(dev, y, sb->y, (size_t)b->n * sizeof *y);
        if (count % 2 == 0 && lv_stager_prefetch(st) != LV_OK) ok = 0;
        if (lv_twin_sync(dev, "staged batch")) ok = 0;
        if (ok && (sb->n != b->n || memcmp(got, b->images, xb) || memcmp(y, b->labels, (size_t)b->n * sizeof *y))) {
            lv_test_fail("batch %d (epoch %lld step %lld) differs from the plain loader's", count, (long long)b->epoch,
                         (long long)b->step);
            ok = 0;
        }
        count++;
    }
    if (!ok && lv_error_message()[0]) printf("  %s\n", lv_error_message());
    lv_test_true(ok && count > 4 && lv_stager_close(st) == LV_OK,
                 "staged batches on the device == the plain loader's, bit for bit");
    printf("  %d batches compared\n", count);
    lv_loader_destroy(l);
    lv_stager_destroy(st);
    free(got);
}

static char tmpdir[256];

static void config_for(lv_train_config *c, const char *out, int on_cpu) {
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
    c->device = on_cpu ? LV_TRAIN_DEVICE_CPU : LV_TRAIN_DEVICE_CUDA;
    c->precision = LV_TRAIN_PRECISION_FP32;
    c->device_data = LV_TRAIN_DEVICE_DATA_OFF;
}

static void test_training(lv_backend *dev, const lv_dataset *ds) {
    int on_cpu = dev->kind == LV_DEVICE_CPU; /* LV_TEST_TWIN_CPU=1 */
    lv_train_config a, b;
    config_for(&a, "plain", on_cpu);
    config_for(&b, "pinned", on_cpu);
    lv_train_env ea, eb;
    lv_train_env_default(&ea);
    lv_train_env_default(&eb);
    ea.quiet = eb.quiet = 1;
    ea.pinned = -1;
    eb.pinned = 1;
    lv_train_result ra, rb;
    lv_status s = lv_train_run(&a, ds, NULL, &ea, &ra);
    if (!lv_test_true(s == LV_OK, "2 epochs with plain copies")) lv_test_fail("%s", lv_error_message());
    s = lv_train_run(&b, ds, NULL, &eb, &rb);
    if (!lv_test_true(s == LV_OK, "2 epochs with pinned double-buffered copies")) lv_test_fail("%s", lv_error_message());
    char pa[600], pb[600];
    snprintf(pa, sizeof pa, "%s/model.safetensors", a.out);
    snprintf(pb, sizeof pb, "%s/model.safetensors", b.out);
    lv_test_true(lv_test_same_tensors(pa, pb) && ra.train_loss[1] == rb.train_loss[1] && ra.steps == rb.steps,
                 "pinned == plain: bit-identical weights and losses after 2 epochs (train and validation)");
    printf("  losses %.7g %.7g | %.7g %.7g\n", ra.train_loss[0], ra.train_loss[1], rb.train_loss[0], rb.train_loss[1]);
    lv_vlm m;
    lv_ckpt_info info;
    if (lv_test_true(lv_ckpt_load(pb, dev, 0, &m, &info) == LV_OK, "load the model on the device")) {
        lv_eval_opts o;
        lv_eval_opts_default(&o);
        o.batch = 12;
        o.input_size = info.input_size;
        o.pre = info.pre;
        size_t np = (size_t)ds->n * (size_t)ds->c;
        float *p1 = calloc(np, sizeof *p1), *p2 = calloc(np, sizeof *p2);
        o.pinned = -1;
        s = lv_eval_predict(&m, ds, NULL, 0, &o, p1);
        o.pinned = 1;
        if (s == LV_OK) s = lv_eval_predict(&m, ds, NULL, 0, &o, p2);
        if (!lv_test_true(s == LV_OK && memcmp(p1, p2, np * sizeof *p1) == 0, "eval: pinned == plain probabilities"))
            lv_test_fail("%s", lv_error_message());
        free(p1);
        free(p2);
        lv_vlm_free(&m);
        lv_ckpt_info_free(&info);
    }
    lv_train_config_free(&a);
    lv_train_config_free(&b);
}

int main(void) {
    lv_log_init(0, 1);
    lv_log_set_level(LV_LOG_WARN);
    lv_backend *cpu = NULL, *dev = NULL;
    int rc = lv_twin_open(&cpu, &dev);
    if (rc) return rc;
    if (!lv_test_true(lv_backend_can_stage(dev), "the device backend has the staging entries"))
        return lv_twin_close(cpu, dev);
    lv_phantom_opts po;
    lv_phantom_opts_default(&po);
    po.per_class = 8;
    po.size = 32;
    po.seed = 9;
    lv_dataset ds;
    lv_dataset_init(&ds);
    if (lv_test_true(lv_phantom_generate(&ds, &po, NULL) == LV_OK, "phantom")) {
        test_raw_copy(dev);
        test_batches(dev, &ds);
        snprintf(tmpdir, sizeof tmpdir, "/tmp/lv_test_cuda_batch_stage_XXXXXX");
        if (mkdtemp(tmpdir)) {
            test_training(dev, &ds);
            char cmd[300];
            snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
            if (system(cmd) != 0) printf("note: could not remove %s\n", tmpdir);
        } else {
            lv_test_fail("cannot make a temporary directory");
        }
    }
    lv_dataset_free(&ds);
    return lv_twin_close(cpu, dev);
}
