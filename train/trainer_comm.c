/* The trainer's gradient transport (--comm): the choice between NCCL and host-staged MPI,
 * made the same way on every rank; the NCCL communicator, bootstrapped over MPI; and the
 * NCCL side of the reduction point and of the broadcasts. The MPI side stays in trainer.c.
 * No CUDA types here (cuda/cuda_comm.h is plain C); never waits without the watchdog. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "cuda/cuda_comm.h"
#include "train/dist.h"
#include "train/trainer_impl.h"

/* One rank's device as rank 0 sees it (fixed size, for lv_dist_gather). */
typedef struct rank_gpu {
    int on_cuda;
    int index;
    char host[64];
    char machine[80]; /* the kernel's boot id (else the host name): one per physical machine */
    char name[96];
    char pci[32];
} rank_gpu;

/* Containers on one machine have different host names but see the same cards, and the
 * same boot id: that is what "the same GPU" needs. */
static void machine_id(char *out, size_t cap, const char *host) {
    FILE *f = fopen("/proc/sys/kernel/random/boot_id", "r");
    int ok = f && fgets(out, (int)cap, f) && out[0];
    if (f) fclose(f);
    if (ok) out[strcspn(out, "\n")] = '\0';
    else snprintf(out, cap, "host %s", host);
}

/* What rank 0 decides and broadcasts, so every rank takes the same path. */
enum { USE_MPI, USE_NCCL, ERR_NOT_CUDA, ERR_SHARED_GPU, ERR_GATHER, FALL_BACK_CPU, FALL_BACK_SHARED };
typedef struct verdict {
    int code;
    int a, b; /* the ranks it is about */
} verdict;

/* Where two ranks of `all` drive the same card (same machine, same PCI id): *a < *b, or -1. */
static void find_shared(const rank_gpu *all, int world, int *a, int *b) {
    *a = *b = -1;
    for (int j = 1; j < world; j++)
        for (int i = 0; i < j; i++)
            if (all[i].on_cuda && all[j].on_cuda && !strcmp(all[i].machine, all[j].machine) &&
                !strcmp(all[i].pci, all[j].pci)) {
                *a = i;
                *b = j;
                return;
            }
}

static verdict decide(const lv_train_config *c, const rank_gpu *all, int world) {
    int cpu = -1, gpus = 0, a, b;
    for (int r = 0; r < world; r++) {
        if (all[r].on_cuda) gpus++;
        else if (cpu < 0) cpu = r;
    }
    int nccl = c->comm == LV_TRAIN_COMM_NCCL;
    if (gpus == 0) return (verdict){nccl ? ERR_NOT_CUDA : USE_MPI, 0, -1}; /* a plain CPU job */
    if (cpu >= 0) return (verdict){nccl ? ERR_NOT_CUDA : FALL_BACK_CPU, cpu, -1};
    find_shared(all, world, &a, &b);
    if (a >= 0) return (verdict){nccl ? ERR_SHARED_GPU : FALL_BACK_SHARED, a, b};
    return (verdict){USE_NCCL, -1, -1};
}

static void log_ranks(const rank_gpu *all, int world) {
    for (int r = 0; r < world; r++) {
        if (all[r].on_cuda)
            LV_INFO("comm: rank %d on %s: GPU %d, %s (PCI %s)", r, all[r].host, all[r].index, all[r].name,
                    all[r].pci);
        else
            LV_INFO("comm: rank %d on %s: CPU", r, all[r].host);
    }
}

/* Every rank gets the same verdict: gathered devices, decided on rank 0, broadcast. */
static lv_status agree(trainer *t, verdict *v, int *any_cuda) {
    lv_dist *d = t->env->dist;
    rank_gpu me;
    memset(&me, 0, sizeof me);
    snprintf(me.host, sizeof me.host, "%s", d->host);
    machine_id(me.machine, sizeof me.machine, d->host);
    if (t->be->kind == LV_DEVICE_CUDA) {
        lv_cuda_device_desc dd;
        LV_TRY(lv_cuda_device_describe(t->be, &dd));
        me.on_cuda = 1;
        me.index = dd.index;
        memcpy(me.name, dd.name, sizeof me.name);
        memcpy(me.pci, dd.pci, sizeof me.pci);
    }
    void *all = NULL;
    size_t bytes = 0;
    LV_TRY(lv_dist_gather(d, &me, sizeof me, &all, &bytes, NULL));
    int cuda = me.on_cuda;
    *v = (verdict){USE_MPI, -1, -1};
    if (d->rank == 0 && bytes != (size_t)d->world * sizeof me) {
        v->code = ERR_GATHER; /* still broadcast: the other ranks are waiting for the verdict */
    } else if (d->rank == 0) {
        const rank_gpu *g = all;
        *v = decide(t->cfg, g, d->world);
        for (int r = 0; r < d->world; r++) cuda |= g[r].on_cuda;
        if (!t->env->quiet && cuda) log_ranks(g, d->world);
    }
    free(all);
    int msg[4] = {v->code, v->a, v->b, cuda};
    LV_TRY(lv_dist_bcast(d, msg, sizeof msg));
    *v = (verdict){msg[0], msg[1], msg[2]};
    *any_cuda = msg[3];
    return LV_OK;
}

/* Rank 0's NCCL id to every rank; a failure to make it fails every rank together. */
static lv_status share_id(trainer *t, unsigned char *id) {
    lv_dist *d = t->env->dist;
    struct {
        int ok;
        unsigned char id[LV_CUDA_COMM_ID_BYTES];
        char why[256];
    } m;
    memset(&m, 0, sizeof m);
    if (!d || d->rank == 0) {
        m.ok = lv_cuda_comm_unique_id(m.id, sizeof m.id) == LV_OK;
        if (!m.ok) snprintf(m.why, sizeof m.why, "%s", lv_error_message());
    }
    if (d && d->world > 1) LV_TRY(lv_dist_bcast(d, &m, sizeof m));
    LV_CHECK(m.ok, LV_ERR_RUNTIME, "--comm nccl: rank 0 could not make the NCCL unique id: %s", m.why);
    memcpy(id, m.id, sizeof m.id);
    return LV_OK;
}

static lv_status join_nccl(trainer *t) {
    int rank = t->env->dist ? t->env->dist->rank : 0, world = t->env->dist ? t->env->dist->world : 1;
    unsigned char id[LV_CUDA_COMM_ID_BYTES];
    LV_TRY(share_id(t, id));
    LV_TRY(lv_cuda_comm_create(&t->nccl, t->be, id, rank, world, t->cfg->comm_timeout));
    t->comm_scalars = t->be->alloc(t->be, 2 * sizeof(float));
    LV_CHECK(t->comm_scalars, LV_ERR_RUNTIME, "%s backend: out of memory", t->be->name);
    t->comm_name = "nccl";
    if (t->writer && !t->env->quiet) {
        char ver[96];
        LV_INFO("comm: NCCL %s, %d rank%s, non-blocking communicator, %g MiB buckets, watchdog --comm-timeout %g s",
                lv_cuda_comm_version(ver, sizeof ver), world, world == 1 ? "" : "s",
                (double)LV_TRAINER_BUCKET_BYTES / (1 << 20), t->cfg->comm_timeout);
    }
    return LV_OK;
}

lv_status trainer_comm_setup(trainer *t) {
    const lv_train_config *c = t->cfg;
    int world = t->env->world;
    t->comm_name = world > 1 ? "mpi" : "none";
    if (world == 1 || !t->env->dist) {
        /* One process: nothing to average, unless NCCL was asked for by name (a 1-rank
         * communicator runs the same code path as a real job). */
        if (c->comm != LV_TRAIN_COMM_NCCL) return LV_OK;
        LV_CHECK(t->be->kind == LV_DEVICE_CUDA, LV_ERR_USAGE,
                 "--comm nccl needs a GPU, but this process runs on the %s backend%s", t->be->name,
                 lv_cuda_comm_available() ? " (no CUDA device found?)" : " (built without CUDA)");
        return join_nccl(t);
    }
    /* Only settings every rank shares decide whether to skip the collective below. */
    if (c->device == LV_TRAIN_DEVICE_CPU) return LV_OK;
    verdict v;
    int any_cuda = 0;
    LV_TRY(agree(t, &v, &any_cuda));
    int note = t->writer && !t->env->quiet;
    switch (c->comm == LV_TRAIN_COMM_MPI ? USE_MPI : v.code) {
    case USE_NCCL: return join_nccl(t);
    case ERR_NOT_CUDA:
        return lv_errorf(LV_ERR_USAGE, "--comm nccl needs a GPU on every rank, but rank %d runs on the CPU", v.a);
    case ERR_SHARED_GPU:
        return lv_errorf(LV_ERR_USAGE,
                         "--comm nccl needs one GPU per rank, but ranks %d and %d share a GPU (NCCL refuses "
                         "that): start at most as many ranks per host as it has GPUs, or use --comm mpi",
                         v.a, v.b);
    case ERR_GATHER: return lv_errorf(LV_ERR_RUNTIME, "--comm: the ranks' device descriptions did not arrive whole");
    case FALL_BACK_SHARED:
        if (note) LV_INFO("comm: ranks %d and %d share a GPU, which NCCL refuses: averaging through MPI", v.a, v.b);
        break;
    case FALL_BACK_CPU:
        if (note) LV_INFO("comm: rank %d runs on the CPU: averaging through MPI", v.a);
        break;
    default: break;
    }
    if (note && any_cuda)
        LV_INFO("comm: mpi, GPU buffers staged through host memory (MPI_Allreduce)%s",
                c->comm == LV_TRAIN_COMM_MPI ? ", as --comm mpi asks" : "");
    return LV_OK;
}

static const char *grads_what(const char *part) {
    if (!strcmp(part, "visual")) return "all-reduce of the visual gradients";
    if (!strcmp(part, "text")) return "all-reduce of the text gradients";
    return "all-reduce of the head gradients";
}

/* Launches buckets [t->buckets.next, end); asynchronous (queued after the backward's work so
 * far, on the communicator's stream). */
static lv_status launch(trainer *t, int end) {
    lv_grad_buckets *g = &t->buckets;
    for (; g->next < end; g->next++) {
        const lv_grad_bucket *b = &g->b[g->next];
        const trainer_part *p = &t->parts[b->part];
        LV_TRY(lv_cuda_comm_allreduce_mean(t->nccl, p->buf->grads + b->offset, b->n, grads_what(p->name)));
    }
    return LV_OK;
}

static void on_grads_ready(void *ctx, size_t lo) {
    trainer *t = ctx;
    if (t->comm_err == LV_OK) t->comm_err = launch(t, lv_grad_buckets_due(&t->buckets, lo));
}

const lv_grad_ready *trainer_comm_step_begin(trainer *t) {
    if (!t->nccl) return NULL;
    if (!t->buckets.b) {
        const lv_optim_plan *plans[3];
        int visual = -1;
        for (int i = 0; i < t->nparts; i++) {
            plans[i] = &t->parts[i].plan;
            if (!strcmp(t->parts[i].name, "visual")) visual = i;
        }
        t->comm_err = lv_grad_buckets_build(&t->buckets, plans, t->nparts, visual,
                                            LV_TRAINER_BUCKET_BYTES / sizeof(float));
        if (t->comm_err != LV_OK) return NULL; /* trainer_comm_reduce reports it */
        t->grad_ready = (lv_grad_ready){on_grads_ready, t};
    }
    t->buckets.next = 0;
    t->comm_err = LV_OK;
    /* Not in this process's first step: the convolutions grow the backend's workspace then,
     * and cudaFree would block the host behind an in-flight collective, out of the
     * watchdog's reach. Every rank starts (and resumes) the same way, so buckets stay in
     * the same order everywhere. */
    return t->comm_steps++ > 0 ? &t->grad_ready : NULL;
}

lv_status trainer_comm_reduce(trainer *t, float *loss, int *nonfinite) {
    lv_backend *be = t->be;
    LV_TRY(t->comm_err); /* a failed bucket plan or a launch inside the backward */
    LV_TRY(launch(t, t->buckets.count));
    t->buckets.next = 0;
    /* The flag as 0/1 averaged: above zero exactly when some rank saw a non-finite loss. The
     * host copy is staged by the driver before copy_h2d returns, so a local array will do. */
    float h[2] = {*loss, *nonfinite ? 1.0f : 0.0f};
    be->copy_h2d(be, t->comm_scalars, h, sizeof h);
    LV_TRY(lv_cuda_comm_allreduce_mean(t->nccl, t->comm_scalars, 2, "all-reduce of the loss and non-finite flag"));
    LV_TRY(lv_cuda_comm_wait(t->nccl));
    /* The copy below blocks on the compute stream, which now waits for NCCL: poll first, so
     * a dead peer is the watchdog's error instead of a hang. */
    LV_TRY(lv_cuda_comm_synchronize(t->nccl));
    be->copy_d2h(be, h, t->comm_scalars, sizeof h);
    LV_TRY(be->sync(be));
    *loss = h[0];
    *nonfinite = !(h[1] == 0.0f);
    return LV_OK;
}

lv_status trainer_comm_bcast(trainer *t, float *dev, size_t n, const char *what) {
    LV_TRY(lv_cuda_comm_bcast(t->nccl, dev, n * sizeof(float), what));
    LV_TRY(lv_cuda_comm_wait(t->nccl));
    return lv_cuda_comm_synchronize(t->nccl);
}

void trainer_comm_abort(trainer *t) { lv_cuda_comm_abort(t->nccl); }

void trainer_comm_free(trainer *t) {
    lv_grad_buckets_free(&t->buckets);
    if (t->comm_scalars && t->be) t->be->free(t->be, t->comm_scalars);
    t->comm_scalars = NULL;
    lv_cuda_comm_destroy(t->nccl);
    t->nccl = NULL;
}
