/* ResNet-18 forward and backward through the backend's ops (see resnet18.h). The layout
 * code names every tensor once, in torchvision's state-dict order; the math never touches
 * a device API. Activations keep every intermediate (no recomputation): simple to check
 * against PyTorch first, memory-lean variants can come later. */
#include "resnet18.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/rng.h"

#define BN_EPS 1e-5f
#define BN_MOMENTUM 0.1f

static lv_status add_conv(lv_resnet18 *m, lv_conv_offsets *c, const char *name, int ic, int oc,
                          int k, int stride, int pad) {
    int64_t shape[4] = {oc, ic, k, k};
    c->ic = ic, c->oc = oc, c->k = k, c->stride = stride, c->pad = pad;
    return lv_layout_add(&m->params, name, 4, shape, 0, &c->weight);
}

static lv_status add_bn(lv_resnet18 *m, lv_bn_offsets *b, const char *prefix, int c) {
    char name[LV_PARAM_NAME_MAX];
    int64_t shape[1] = {c};
    b->c = c;
    snprintf(name, sizeof name, "%s.weight", prefix);
    LV_TRY(lv_layout_add(&m->params, name, 1, shape, LV_PARAM_NO_DECAY, &b->weight));
    snprintf(name, sizeof name, "%s.bias", prefix);
    LV_TRY(lv_layout_add(&m->params, name, 1, shape, LV_PARAM_NO_DECAY, &b->bias));
    snprintf(name, sizeof name, "%s.running_mean", prefix);
    LV_TRY(lv_layout_add(&m->state, name, 1, shape, LV_PARAM_FROZEN, &b->running_mean));
    snprintf(name, sizeof name, "%s.running_var", prefix);
    return lv_layout_add(&m->state, name, 1, shape, LV_PARAM_FROZEN, &b->running_var);
}

lv_status lv_resnet18_build(lv_resnet18 *m, int in_ch, int dim) {
    memset(m, 0, sizeof *m);
    LV_CHECK(in_ch >= 1 && in_ch <= 64, LV_ERR_INPUT, "resnet18: %d input phases, expected 1..64", in_ch);
    LV_CHECK(dim >= 0, LV_ERR_INPUT, "resnet18: projection dim %d, expected >= 0", dim);
    m->in_ch = in_ch;
    m->dim = dim;
    lv_layout_init(&m->params);
    lv_layout_init(&m->state);
    LV_TRY(add_conv(m, &m->conv1, "conv1.weight", in_ch, 64, 7, 2, 3));
    LV_TRY(add_bn(m, &m->bn1, "bn1", 64));
    static const int widths[4] = {64, 128, 256, 512};
    int ic = 64;
    for (int l = 0; l < 4; l++) {
        for (int b = 0; b < 2; b++) {
            lv_resnet_block *blk = &m->blocks[2 * l + b];
            int oc = widths[l], stride = (l > 0 && b == 0) ? 2 : 1;
            char pre[64], name[96];
            snprintf(pre, sizeof pre, "layer%d.%d", l + 1, b);
            snprintf(name, sizeof name, "%s.conv1.weight", pre);
            LV_TRY(add_conv(m, &blk->conv1, name, ic, oc, 3, stride, 1));
            snprintf(name, sizeof name, "%s.bn1", pre);
            LV_TRY(add_bn(m, &blk->bn1, name, oc));
            snprintf(name, sizeof name, "%s.conv2.weight", pre);
            LV_TRY(add_conv(m, &blk->conv2, name, oc, oc, 3, 1, 1));
            snprintf(name, sizeof name, "%s.bn2", pre);
            LV_TRY(add_bn(m, &blk->bn2, name, oc));
            blk->has_down = stride != 1 || ic != oc;
            if (blk->has_down) {
                snprintf(name, sizeof name, "%s.downsample.0.weight", pre);
                LV_TRY(add_conv(m, &blk->down, name, ic, oc, 1, stride, 0));
                snprintf(name, sizeof name, "%s.downsample.1", pre);
                LV_TRY(add_bn(m, &blk->down_bn, name, oc));
            }
            ic = oc;
        }
    }
    if (dim > 0) {
        int64_t ws[2] = {dim, LV_RESNET_FEATURES}, bs[1] = {dim};
        LV_TRY(lv_layout_add(&m->params, "proj.weight", 2, ws, 0, &m->proj_w));
        LV_TRY(lv_layout_add(&m->params, "proj.bias", 1, bs, LV_PARAM_NO_DECAY, &m->proj_b));
    }
    return LV_OK;
}

void lv_resnet18_free(lv_resnet18 *m) {
    lv_layout_free(&m->params);
    lv_layout_free(&m->state);
}

static void init_conv(float *params, const lv_conv_offsets *c, uint64_t seed, uint64_t stream) {
    /* kaiming_normal_(mode="fan_out", nonlinearity="relu"): std = sqrt(2 / (oc*k*k)) */
    size_t n = (size_t)c->oc * c->ic * c->k * c->k;
    float std = sqrtf(2.0f / (float)(c->oc * c->k * c->k));
    for (size_t i = 0; i < n; i++) params[c->weight + i] = std * lv_rng_normal(seed, stream, i);
}

static void init_bn(float *params, float *state, const lv_bn_offsets *b) {
    for (int i = 0; i < b->c; i++) {
        params[b->weight + i] = 1.0f;
        params[b->bias + i] = 0.0f;
        if (state) {
            state[b->running_mean + i] = 0.0f;
            state[b->running_var + i] = 1.0f;
        }
    }
}

void lv_resnet18_init_host(const lv_resnet18 *m, float *params, float *state, uint64_t seed) {
    /* One Philox stream per tensor (its offset), so adding a tensor never shifts the others. */
    init_conv(params, &m->conv1, seed, 0x5245534e00000000ull + m->conv1.weight);
    init_bn(params, state, &m->bn1);
    for (int i = 0; i < 8; i++) {
        const lv_resnet_block *b = &m->blocks[i];
        init_conv(params, &b->conv1, seed, 0x5245534e00000000ull + b->conv1.weight);
        init_conv(params, &b->conv2, seed, 0x5245534e00000000ull + b->conv2.weight);
        init_bn(params, state, &b->bn1);
        init_bn(params, state, &b->bn2);
        if (b->has_down) {
            init_conv(params, &b->down, seed, 0x5245534e00000000ull + b->down.weight);
            init_bn(params, state, &b->down_bn);
        }
    }
    if (m->dim > 0) {
        float bound = 1.0f / sqrtf((float)LV_RESNET_FEATURES);
        size_t n = (size_t)m->dim * LV_RESNET_FEATURES;
        for (size_t i = 0; i < n; i++)
            params[m->proj_w + i] = bound * (2.0f * lv_rng_uniform(seed, 0x50524f4aull, i) - 1.0f);
        for (int i = 0; i < m->dim; i++)
            params[m->proj_b + i] = bound * (2.0f * lv_rng_uniform(seed, 0x50524f4bull, (uint64_t)i) - 1.0f);
    }
}

/* Two passes over the same walk: the first (base NULL) counts floats, the second hands out
 * pointers, so the sizes cannot disagree with the assignments. */
typedef struct arena_walk {
    float *vals, *grads;
    size_t nvals, ngrads;
} arena_walk;

static void take_act(arena_walk *w, lv_act *a, size_t n) {
    a->x = w->vals ? w->vals + w->nvals : NULL;
    a->dx = w->grads ? w->grads + w->ngrads : NULL;
    w->nvals += n;
    w->ngrads += n;
}

static float *take_vals(arena_walk *w, size_t n) {
    float *p = w->vals ? w->vals + w->nvals : NULL;
    w->nvals += n;
    return p;
}

static int conv_out(int in, const lv_conv_offsets *c) { return (in + 2 * c->pad - c->k) / c->stride + 1; }

static void walk_acts(const lv_resnet18 *m, lv_resnet18_acts *a, arena_walk *w) {
    size_t b = (size_t)a->batch;
    int s = conv_out(a->size, &m->conv1);
    take_act(w, &a->c1, b * 64 * s * s);
    take_act(w, &a->b1, b * 64 * s * s);
    take_act(w, &a->r1, b * 64 * s * s);
    a->save_bn1 = take_vals(w, 2 * 64);
    s = (s + 2 - 3) / 2 + 1; /* maxpool 3x3/2 pad 1 */
    a->pool_hw = s;
    take_act(w, &a->pool, b * 64 * s * s);
    for (int i = 0; i < 8; i++) {
        const lv_resnet_block *blk = &m->blocks[i];
        lv_block_acts *ba = &a->blocks[i];
        s = conv_out(s, &blk->conv1);
        a->hw[i] = s;
        size_t n = b * (size_t)blk->conv1.oc * s * s;
        take_act(w, &ba->out1, n);
        take_act(w, &ba->b1, n);
        take_act(w, &ba->r1, n);
        take_act(w, &ba->out2, n);
        take_act(w, &ba->b2, n);
        take_act(w, &ba->y, n);
        ba->save1 = take_vals(w, 2 * (size_t)blk->conv1.oc);
        ba->save2 = take_vals(w, 2 * (size_t)blk->conv1.oc);
        if (blk->has_down) {
            take_act(w, &ba->d, n);
            take_act(w, &ba->bd, n);
            ba->save_down = take_vals(w, 2 * (size_t)blk->conv1.oc);
        }
    }
    take_act(w, &a->features, b * LV_RESNET_FEATURES);
    a->bn_acc = take_vals(w, 2 * (size_t)LV_RESNET_FEATURES); /* the widest BN has 512 channels */
    if (m->dim > 0) take_act(w, &a->emb, b * (size_t)m->dim);
}

lv_status lv_resnet18_acts_alloc(lv_resnet18_acts *a, const lv_resnet18 *m, lv_backend *be,
                                 int batch, int size) {
    memset(a, 0, sizeof *a);
    LV_CHECK(batch >= 1, LV_ERR_INPUT, "resnet18: batch %d, expected >= 1", batch);
    /* The smallest input whose layer4 output is still 1x1: 32 (stride 32 overall). */
    LV_CHECK(size >= 32, LV_ERR_INPUT, "resnet18: input %dx%d, expected at least 32x32", size, size);
    a->be = be;
    a->batch = batch;
    a->size = size;
    arena_walk w = {0};
    walk_acts(m, a, &w);
    a->arena_floats = w.nvals;
    a->grad_floats = w.ngrads;
    a->arena = be->alloc(be, w.nvals * sizeof(float));
    a->grad_arena = be->alloc(be, w.ngrads * sizeof(float));
    if (!a->arena || !a->grad_arena) {
        size_t mb = (w.nvals + w.ngrads) * sizeof(float) >> 20;
        lv_resnet18_acts_free(a);
        return lv_errorf(LV_ERR_RUNTIME, "resnet18: cannot allocate %zu MiB of activations for "
                                         "batch %d at %dx%d on %s", mb, batch, size, size, be->name);
    }
    arena_walk fill = {a->arena, a->grad_arena, 0, 0};
    walk_acts(m, a, &fill);
    return LV_OK;
}

void lv_resnet18_acts_free(lv_resnet18_acts *a) {
    if (a->be) {
        if (a->arena) a->be->free(a->be, a->arena);
        if (a->grad_arena) a->be->free(a->be, a->grad_arena);
    }
    memset(a, 0, sizeof *a);
}

static lv_conv2d_shape conv_shape(const lv_conv_offsets *c, int n, int hw) {
    lv_conv2d_shape s = {n, c->ic, hw, hw, c->oc, c->k, c->k, c->stride, c->pad};
    return s;
}

static lv_bn_shape bn_shape(int n, int c, int hw) {
    lv_bn_shape s = {n, c, hw * hw, BN_EPS, BN_MOMENTUM};
    return s;
}

/* Synchronized BN forward (ops.h contract): the global mean from all-reduced sums, then the
 * global sum of squared deviations from it (two passes, so the variance cannot cancel). */
static void bn_sync_forward(const lv_resnet18_acts *a, const lv_bn_offsets *bn, const float *params,
                            float *state, float *out, float *save, const float *in, const lv_bn_shape *bs) {
    lv_backend *be = a->be;
    const lv_bn_sync *sy = a->bn_sync;
    double count = a->sync_batch * (double)bs->hw;
    lv_batchnorm2d_sync_stats(be, save, in, NULL, bs);
    sy->allreduce_sum(sy->ctx, be, save, bs->c);
    lv_scale(be, save, (float)(1.0 / count), (size_t)bs->c);
    lv_batchnorm2d_sync_stats(be, a->bn_acc, in, save, bs);
    sy->allreduce_sum(sy->ctx, be, a->bn_acc, bs->c);
    lv_batchnorm2d_sync_forward(be, out, save, save + bs->c, state + bn->running_mean, state + bn->running_var,
                                in, params + bn->weight, params + bn->bias, a->bn_acc, count, bs);
}

/* conv -> bn (training or eval) into `out`; `save` receives mean then invstd. */
static void conv_bn_forward(const lv_resnet18_acts *a, const lv_conv_offsets *c, const lv_bn_offsets *bn,
                            const float *params, float *state, float *conv_out, float *out,
                            float *save, const float *in, int n, int in_hw, int out_hw, int training) {
    lv_backend *be = a->be;
    lv_conv2d_shape cs = conv_shape(c, n, in_hw);
    lv_conv2d_forward(be, conv_out, in, params + c->weight, NULL, &cs);
    lv_bn_shape bs = bn_shape(n, c->oc, out_hw);
    if (training && a->bn_sync) {
        bn_sync_forward(a, bn, params, state, out, save, conv_out, &bs);
        return;
    }
    lv_batchnorm2d_forward(be, out, save, save + c->oc, state + bn->running_mean,
                           state + bn->running_var, conv_out, params + bn->weight,
                           params + bn->bias, &bs, training);
}

void lv_resnet18_forward(const lv_resnet18 *m, lv_resnet18_acts *a, const float *params,
                         float *state, const float *x, int training) {
    lv_backend *be = a->be;
    int n = a->batch, s0 = a->size, s1 = conv_out(s0, &m->conv1);
    a->input = x;
    /* One count per forward: every BN layer of the step sees the same global batch. */
    a->sync_batch = training && a->bn_sync ? a->bn_sync->sum_count(a->bn_sync->ctx, (double)n) : 0.0;
    conv_bn_forward(a, &m->conv1, &m->bn1, params, state, a->c1.x, a->b1.x, a->save_bn1, x, n,
                    s0, s1, training);
    size_t stem = (size_t)n * 64 * s1 * s1;
    lv_relu_forward(be, a->r1.x, a->b1.x, stem);
    lv_pool2d_shape ps = {n, 64, s1, s1, 3, 2, 1};
    lv_maxpool2d_forward(be, a->pool.x, a->r1.x, &ps);
    const float *prev = a->pool.x;
    int prev_hw = a->pool_hw;
    for (int i = 0; i < 8; i++) {
        const lv_resnet_block *blk = &m->blocks[i];
        lv_block_acts *ba = &a->blocks[i];
        int hw = a->hw[i], oc = blk->conv1.oc;
        size_t cnt = (size_t)n * oc * hw * hw;
        conv_bn_forward(a, &blk->conv1, &blk->bn1, params, state, ba->out1.x, ba->b1.x,
                        ba->save1, prev, n, prev_hw, hw, training);
        lv_relu_forward(be, ba->r1.x, ba->b1.x, cnt);
        conv_bn_forward(a, &blk->conv2, &blk->bn2, params, state, ba->out2.x, ba->b2.x,
                        ba->save2, ba->r1.x, n, hw, hw, training);
        const float *shortcut = prev;
        if (blk->has_down) {
            conv_bn_forward(a, &blk->down, &blk->down_bn, params, state, ba->d.x, ba->bd.x,
                            ba->save_down, prev, n, prev_hw, hw, training);
            shortcut = ba->bd.x;
        }
        lv_residual_add_forward(be, ba->y.x, ba->b2.x, shortcut, cnt);
        lv_relu_forward(be, ba->y.x, ba->y.x, cnt);
        prev = ba->y.x;
        prev_hw = hw;
    }
    lv_avgpool_forward(be, a->features.x, prev, n, LV_RESNET_FEATURES, prev_hw * prev_hw);
    if (m->dim > 0)
        lv_linear_forward(be, a->emb.x, a->features.x, params + m->proj_w, params + m->proj_b, n,
                          LV_RESNET_FEATURES, m->dim);
}

/* bn backward then conv backward: d(conv input) added into din (NULL: not wanted). With a
 * sync hook the BN input gradient uses {sum dy, sum dy*xhat} over every rank's batch. */
static void conv_bn_backward(const lv_resnet18_acts *a, const lv_conv_offsets *c, const lv_bn_offsets *bn,
                             const float *params, float *grads, const float *conv_out,
                             float *dconv_out, const float *dout, const float *save, float *din,
                             const float *in, int n, int in_hw, int out_hw) {
    lv_backend *be = a->be;
    lv_bn_shape bs = bn_shape(n, c->oc, out_hw);
    if (a->bn_sync && a->sync_batch > 0) { /* the forward synchronized */
        const lv_bn_sync *sy = a->bn_sync;
        lv_batchnorm2d_sync_backward_stats(be, a->bn_acc, dout, conv_out, save, save + c->oc, &bs);
        sy->allreduce_sum(sy->ctx, be, a->bn_acc, 2 * c->oc);
        lv_batchnorm2d_sync_backward(be, dconv_out, grads + bn->weight, grads + bn->bias, dout, conv_out,
                                     params + bn->weight, save, save + c->oc, a->bn_acc,
                                     a->sync_batch * (double)bs.hw, &bs);
    } else {
        lv_batchnorm2d_backward(be, dconv_out, grads + bn->weight, grads + bn->bias, dout, conv_out,
                                params + bn->weight, save, save + c->oc, &bs);
    }
    lv_conv2d_shape cs = conv_shape(c, n, in_hw);
    lv_conv2d_backward(be, din, grads + c->weight, NULL, dconv_out, in, params + c->weight, &cs);
}

static void grads_ready(const lv_resnet18_acts *a, size_t lo) {
    if (a->grad_ready) a->grad_ready->ready(a->grad_ready->ctx, lo);
}

void lv_resnet18_backward(const lv_resnet18 *m, lv_resnet18_acts *a, const float *params,
                          float *grads, const float *demb, const float *dfeat) {
    lv_backend *be = a->be;
    int n = a->batch;
    be->memset0(be, a->grad_arena, a->grad_floats * sizeof(float));
    size_t nfeat = (size_t)n * LV_RESNET_FEATURES;
    if (demb && m->dim > 0)
        lv_linear_backward(be, a->features.dx, grads + m->proj_w, grads + m->proj_b, demb,
                           a->features.x, params + m->proj_w, n, LV_RESNET_FEATURES, m->dim);
    /* The projection is laid out last, so it is the first range that is final. */
    if (m->dim > 0) grads_ready(a, m->proj_w);
    if (dfeat) lv_residual_add_backward(be, a->features.dx, NULL, dfeat, nfeat);
    lv_avgpool_backward(be, a->blocks[7].y.dx, a->features.dx, n, LV_RESNET_FEATURES, a->hw[7] * a->hw[7]);
    for (int i = 7; i >= 0; i--) {
        const lv_resnet_block *blk = &m->blocks[i];
        lv_block_acts *ba = &a->blocks[i];
        const lv_act *prev = i > 0 ? &a->blocks[i - 1].y : &a->pool;
        int hw = a->hw[i], prev_hw = i > 0 ? a->hw[i - 1] : a->pool_hw;
        size_t cnt = (size_t)n * blk->conv1.oc * hw * hw;
        /* y = relu(b2 + shortcut): the same d(sum) reaches both branches, so b2.dx holds it
         * and the shortcut reads it from there too. */
        lv_relu_backward(be, ba->b2.dx, ba->y.dx, ba->y.x, cnt);
        if (blk->has_down)
            conv_bn_backward(a, &blk->down, &blk->down_bn, params, grads, ba->d.x, ba->d.dx,
                             ba->b2.dx, ba->save_down, prev->dx, prev->x, n, prev_hw, hw);
        else
            lv_residual_add_backward(be, prev->dx, NULL, ba->b2.dx, cnt);
        conv_bn_backward(a, &blk->conv2, &blk->bn2, params, grads, ba->out2.x, ba->out2.dx,
                         ba->b2.dx, ba->save2, ba->r1.dx, ba->r1.x, n, hw, hw);
        lv_relu_backward(be, ba->b1.dx, ba->r1.dx, ba->r1.x, cnt);
        conv_bn_backward(a, &blk->conv1, &blk->bn1, params, grads, ba->out1.x, ba->out1.dx,
                         ba->b1.dx, ba->save1, prev->dx, prev->x, n, prev_hw, hw);
        grads_ready(a, blk->conv1.weight); /* a block's tensors start with its conv1 */
    }
    int s1 = conv_out(a->size, &m->conv1);
    lv_pool2d_shape ps = {n, 64, s1, s1, 3, 2, 1};
    lv_maxpool2d_backward(be, a->r1.dx, a->pool.dx, a->r1.x, &ps);
    lv_relu_backward(be, a->b1.dx, a->r1.dx, a->r1.x, (size_t)n * 64 * s1 * s1);
    conv_bn_backward(a, &m->conv1, &m->bn1, params, grads, a->c1.x, a->c1.dx, a->b1.dx,
                     a->save_bn1, NULL, a->input, n, a->size, s1);
    grads_ready(a, 0);
}
