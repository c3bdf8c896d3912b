/* --sync-bn in the trainer: the ResNet's lv_bn_sync hook (encoders/resnet18.h) carried by the
 * host-memory collectives of train/dist.h, so every rank's BatchNorm normalises with the
 * statistics of the global batch. Only the transport lives here; the math is the backend's
 * batchnorm2d_sync ops. Never exits: failures become the backend's sticky error. */
#include <stdlib.h>

#include "core/log.h"
#include "train/dist.h"
#include "train/trainer_impl.h"

/* The widest BN layer has 512 channels and the backward all-reduces two sums per channel. */
#define SYNC_BN_CAP (2 * LV_RESNET_FEATURES)

/* dev [n] = sum over ranks, through a double sum so the result does not depend on the
 * reduction order and every rank receives the same bits. A device error still takes part in
 * the collective (with whatever the buffer holds): leaving would hang the other ranks; the
 * sticky error stops this rank after the step and cmd_train ends the job. */
static void bn_allreduce_sum(void *ctx, lv_backend *be, float *dev, int n) {
    trainer_bn_sync *b = ctx;
    if (n < 0 || n > b->cap) {
        /* Every rank runs the same layers, so every rank fails here together. */
        lv_backend_fail(be, LV_ERR_RUNTIME, "--sync-bn: %d values in one BN all-reduce, expected 0..%d", n, b->cap);
        return;
    }
    float *v = dev;
    if (be->kind != LV_DEVICE_CPU) {
        be->copy_d2h(be, b->host, dev, (size_t)n * sizeof(float));
        lv_status s = be->sync(be); /* sync clears the sticky error: put it back */
        if (s != LV_OK) lv_backend_fail(be, s, "%s", lv_error_message());
        v = b->host;
    }
    for (int i = 0; i < n; i++) b->sums[i] = v[i];
    lv_status s = lv_dist_allreduce_sum_double(b->dist, b->sums, (size_t)n);
    if (s != LV_OK) {
        lv_backend_fail(be, s, "--sync-bn: %s", lv_error_message());
        return;
    }
    for (int i = 0; i < n; i++) v[i] = (float)b->sums[i];
    if (be->kind != LV_DEVICE_CPU) be->copy_h2d(be, dev, b->host, (size_t)n * sizeof(float));
}

static double bn_sum_count(void *ctx, double local) {
    trainer_bn_sync *b = ctx;
    double v = local;
    lv_status s = lv_dist_allreduce_sum_double(b->dist, &v, 1);
    if (s != LV_OK) {
        lv_backend_fail(b->be, s, "--sync-bn: %s", lv_error_message());
        return local;
    }
    return v;
}

lv_status trainer_syncbn_setup(trainer *t) {
    trainer_bn_sync *b = &t->bn_sync;
    b->active = 0;
    if (!t->cfg->sync_bn) return LV_OK;
    if (t->env->world == 1 || !t->env->dist) {
        if (t->writer && !t->env->quiet)
            LV_INFO("train: --sync-bn with one process changes nothing (BatchNorm already sees the whole batch)");
        return LV_OK;
    }
    b->sums = malloc(SYNC_BN_CAP * sizeof *b->sums);
    b->host = malloc(SYNC_BN_CAP * sizeof *b->host);
    LV_CHECK(b->sums && b->host, LV_ERR_RUNTIME, "--sync-bn: out of memory");
    b->cap = SYNC_BN_CAP;
    b->dist = t->env->dist;
    b->be = t->be;
    b->hook.allreduce_sum = bn_allreduce_sum;
    b->hook.sum_count = bn_sum_count;
    b->hook.ctx = b;
    b->active = 1;
    return LV_OK;
}

void trainer_syncbn_free(trainer *t) {
    trainer_bn_sync *b = &t->bn_sync;
    free(b->sums);
    free(b->host);
    b->sums = NULL;
    b->host = NULL;
    b->active = 0;
}
