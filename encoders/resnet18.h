/* ResNet-18 image encoder, torchvision's architecture (BasicBlock, BN eps 1e-5, momentum
 * 0.1) over P phase channels, 512-d features and a linear projection to the joint space D.
 * Written once against the backend interface: the same code runs on every device. */
#ifndef LV_RESNET18_H
#define LV_RESNET18_H

#include <stddef.h>

#include "core/backend.h"
#include "core/params.h"

#ifdef __cplusplus
extern "C" {
#endif

#define LV_RESNET_FEATURES 512

/* Offsets (in floats) of one BatchNorm's tensors: affine params in the parameter buffer,
 * running statistics in the state buffer. */
typedef struct lv_bn_offsets {
    size_t weight, bias;      /* params [c] */
    size_t running_mean, running_var; /* state [c] */
    int c;
} lv_bn_offsets;

typedef struct lv_conv_offsets {
    size_t weight; /* params [oc, ic, k, k] */
    int ic, oc, k, stride, pad;
} lv_conv_offsets;

/* torchvision BasicBlock: conv3x3(s) bn relu conv3x3 bn (+ downsample conv1x1(s) bn) relu */
typedef struct lv_resnet_block {
    lv_conv_offsets conv1, conv2, down;
    lv_bn_offsets bn1, bn2, down_bn;
    int has_down;
} lv_resnet_block;

typedef struct lv_resnet18 {
    int in_ch;   /* P phases */
    int dim;     /* D, projection output; 0 = no projection */
    lv_conv_offsets conv1; /* [64, P, 7, 7] stride 2 pad 3 */
    lv_bn_offsets bn1;
    lv_resnet_block blocks[8]; /* layer1.0 .. layer4.1 */
    size_t proj_w, proj_b;     /* [D, 512], [D] */
    /* Names are torchvision's without a prefix ("conv1.weight", "layer1.0.bn1.running_mean",
     * "proj.weight"); the checkpoint adds "visual.". */
    lv_param_layout params; /* trainable tensors */
    lv_param_layout state;  /* BN running statistics (saved, never trained) */
} lv_resnet18;

/* Describes the model; no memory for numbers yet (the caller owns the buffers). */
lv_status lv_resnet18_build(lv_resnet18 *m, int in_ch, int dim);
void lv_resnet18_free(lv_resnet18 *m);
/* torchvision's init on host copies: kaiming normal (fan_out, relu) convs, BN weight 1 bias
 * 0, running var 1; the projection uniform(+-1/sqrt(512)) like nn.Linear. Philox-seeded. */
void lv_resnet18_init_host(const lv_resnet18 *m, float *params, float *state, uint64_t seed);

/* One tensor of the forward pass and its gradient (same shape, zeroed per backward). */
typedef struct lv_act {
    float *x, *dx;
} lv_act;

/* Activations of one BasicBlock (shapes [batch, oc, oh, ow] unless noted). */
typedef struct lv_block_acts {
    lv_act out1; /* conv1 */
    lv_act b1;   /* bn1(out1) */
    lv_act r1;   /* relu(b1) */
    lv_act out2; /* conv2 */
    lv_act b2;   /* bn2(out2) */
    lv_act d;    /* downsample conv (has_down only) */
    lv_act bd;   /* downsample bn */
    lv_act y;    /* relu(b2 + shortcut): the block output */
    float *save1, *save2, *save_down; /* BN saved mean [c] then invstd [c] */
} lv_block_acts;

/* Synchronized batch norm (--sync-bn): how a training forward/backward shares BN
 * statistics with the other data-parallel ranks. The encoder only sums; the trainer owns
 * the transport (MPI, NCCL), so nothing here knows a rank or a device API. Both entries are
 * collectives: every rank must call them in the same order, which it does because every
 * rank runs the same layers. Failures go to lv_backend_fail (sticky), never exit.
 * allreduce_sum: dev [n] (backend memory) = its sum over every rank, in place.
 * sum_count: the sum over every rank of `local` (this rank's batch size). */
typedef struct lv_bn_sync {
    void (*allreduce_sum)(void *ctx, lv_backend *be, float *dev, int n);
    double (*sum_count)(void *ctx, double local);
    void *ctx;
} lv_bn_sync;

/* Gradient readiness, so a data-parallel caller can start averaging gradients while the
 * backward still runs (DDP's bucketed overlap). The backward calls ready(ctx, lo) after the
 * projection, after each residual block and after the stem: every parameter gradient at
 * offset >= lo of `grads` is then final for this step (queued on the backend: nothing later
 * in this backward writes there). lo strictly decreases within one backward and the last
 * call has lo = 0. */
typedef struct lv_grad_ready {
    void (*ready)(void *ctx, size_t lo);
    void *ctx;
} lv_grad_ready;

/* Activations for one batch shape, allocated on the backend in two arenas (values and
 * gradients) so one memset clears every activation gradient. */
typedef struct lv_resnet18_acts {
    lv_backend *be;
    int batch, size; /* input [batch, P, size, size] */
    float *arena, *grad_arena;
    size_t arena_floats, grad_floats;
    lv_act c1;     /* stem conv [batch, 64, size/2, size/2] */
    lv_act b1;     /* bn1(c1) */
    lv_act r1;     /* relu(b1) */
    lv_act pool;   /* maxpool 3x3/2 [batch, 64, size/4, size/4] */
    int pool_hw;
    const float *input; /* the last forward's x, read by the stem conv's weight gradient */
    float *save_bn1;
    lv_block_acts blocks[8];
    lv_act features; /* global average pool [batch, 512] */
    lv_act emb;      /* projection [batch, D] (dim > 0) */
    int hw[8];       /* output side of each block */
    /* NULL: each process normalises with its own batch (plain BN). Set by the caller after
     * lv_resnet18_acts_alloc (which clears it); read by training forwards and backwards
     * only: evaluation (training = 0) never synchronizes. */
    const lv_bn_sync *bn_sync;
    double sync_batch;  /* global batch of the last training forward that synchronized, else 0 */
    float *bn_acc;      /* [2 * 512] the partial sums being all-reduced */
    const lv_grad_ready *grad_ready; /* NULL: no calls; set by the caller like bn_sync */
} lv_resnet18_acts;

lv_status lv_resnet18_acts_alloc(lv_resnet18_acts *a, const lv_resnet18 *m, lv_backend *be,
                                 int batch, int size);
void lv_resnet18_acts_free(lv_resnet18_acts *a);

/* Forward: x [batch, P, size, size] -> a->features [batch, 512] and (dim > 0) a->emb
 * [batch, D]. training = 1 uses batch statistics and updates the running ones in `state`;
 * with a->bn_sync those statistics are over every rank's batch (3 all-reduces per BN layer
 * per step, counting the backward's, plus one for the global batch size). */
void lv_resnet18_forward(const lv_resnet18 *m, lv_resnet18_acts *a, const float *params,
                         float *state, const float *x, int training);
/* Backward from demb [batch, D] (may be NULL) and/or dfeat [batch, 512] (may be NULL),
 * adding into grads (the same layout as params). Needs the activations of the last
 * training forward; when that forward synchronized, so does this (one all-reduce per BN
 * layer: BN input gradients over the global batch, dgamma/dbeta this rank's own share).
 * The input gets no gradient (nothing upstream of the image). */
void lv_resnet18_backward(const lv_resnet18 *m, lv_resnet18_acts *a, const float *params,
                          float *grads, const float *demb, const float *dfeat);

#ifdef __cplusplus
}
#endif
#endif
