/* The op table every backend fills, and the dispatchers encoders call
 * (lv_conv2d_forward(be, ...) -> be->ops.conv2d_forward). One op = one CPU file
 * core/cpu/<op>.c (lv_cpu_<op>_*) and one CUDA file cuda/<op>.cu (lv_cuda_<op>_*).
 *
 * Conventions for every op:
 * - Pointers are device pointers of the backend (host memory on the CPU backend).
 * - Forward ops overwrite their outputs.
 * - Backward ops ADD into every gradient buffer they are given (callers zero gradients once
 *   per step), so residual branches and shared weights need no extra buffers. A NULL
 *   gradient pointer means "not wanted" and is skipped.
 * - Integer inputs (labels, token ids, masks) are int32 on the device. */
#ifndef LV_OPS_H
#define LV_OPS_H

#include <stddef.h>

#include "shapes.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lv_backend lv_backend;

/* Hyper-parameters of one optimizer step over a flat range of parameters. */
typedef struct lv_adamw_hparams {
    float lr, beta1, beta2, eps, weight_decay;
    int step; /* 1-based step count used for bias correction */
} lv_adamw_hparams;

typedef struct lv_sgd_hparams {
    float lr, momentum, dampening, weight_decay;
    int nesterov;
    int first_step; /* PyTorch initialises the momentum buffer with the first gradient */
} lv_sgd_hparams;

typedef struct lv_ops {
    /* conv2d: out [n,oc,oh,ow] = in [n,c,h,w] (*) w [oc,c,kh,kw] + bias [oc] (bias may be NULL) */
    void (*conv2d_forward)(lv_backend *be, float *out, const float *in, const float *w,
                           const float *bias, const lv_conv2d_shape *s);
    void (*conv2d_backward)(lv_backend *be, float *din, float *dw, float *dbias, const float *dout,
                            const float *in, const float *w, const lv_conv2d_shape *s);

    /* batchnorm2d: training uses batch statistics, saves mean/invstd [c] for backward and
     * updates running_mean/var [c] with momentum and the unbiased variance (PyTorch);
     * eval (training = 0) normalises with the running statistics and saves nothing. */
    void (*batchnorm2d_forward)(lv_backend *be, float *out, float *save_mean, float *save_invstd,
                                float *running_mean, float *running_var, const float *in,
                                const float *gamma, const float *beta, const lv_bn_shape *s,
                                int training);
    void (*batchnorm2d_backward)(lv_backend *be, float *din, float *dgamma, float *dbeta,
                                 const float *dout, const float *in, const float *gamma,
                                 const float *save_mean, const float *save_invstd,
                                 const lv_bn_shape *s);

    /* Synchronized batch norm (--sync-bn): the same normalisation with statistics summed
     * over every rank. The caller all-reduces (sums) each `acc` between the halves; count
     * is the global number of values per channel (sum over ranks of n*hw).
     * sync_stats: acc [c] = sum of x per channel (center NULL) or of (x - center[c])^2,
     *   overwritten; two passes, as the local op, so the variance does not cancel.
     * sync_forward: mean (given in save_mean, already global) and var = acc_sq / count
     *   give save_invstd and the output; running stats as batchnorm2d_forward (unbiased
     *   variance acc_sq / (count - 1)).
     * sync_backward_stats: acc [2c] = {sum dout, sum dout * xhat} per channel, overwritten.
     * sync_backward: din += gamma * invstd * (dout - acc[c]/count - xhat * acc[c+C]/count)
     *   with the global acc; dgamma/dbeta += this rank's own sums (the gradient all-reduce
     *   averages them like every other parameter). */
    void (*batchnorm2d_sync_stats)(lv_backend *be, float *acc, const float *in, const float *center,
                                   const lv_bn_shape *s);
    void (*batchnorm2d_sync_forward)(lv_backend *be, float *out, const float *save_mean,
                                     float *save_invstd, float *running_mean, float *running_var,
                                     const float *in, const float *gamma, const float *beta,
                                     const float *acc_sq, double count, const lv_bn_shape *s);
    void (*batchnorm2d_sync_backward_stats)(lv_backend *be, float *acc, const float *dout,
                                            const float *in, const float *save_mean,
                                            const float *save_invstd, const lv_bn_shape *s);
    void (*batchnorm2d_sync_backward)(lv_backend *be, float *din, float *dgamma, float *dbeta,
                                      const float *dout, const float *in, const float *gamma,
                                      const float *save_mean, const float *save_invstd,
                                      const float *acc, double count, const lv_bn_shape *s);

    /* relu over n elements; backward reads the forward output (works in place). */
    void (*relu_forward)(lv_backend *be, float *out, const float *in, size_t n);
    void (*relu_backward)(lv_backend *be, float *din, const float *dout, const float *out, size_t n);

    /* maxpool2d: backward recomputes the argmax from `in` (first maximum wins, as PyTorch). */
    void (*maxpool2d_forward)(lv_backend *be, float *out, const float *in, const lv_pool2d_shape *s);
    void (*maxpool2d_backward)(lv_backend *be, float *din, const float *dout, const float *in,
                               const lv_pool2d_shape *s);

    /* global average pool: in [n,c,hw] -> out [n,c] */
    void (*avgpool_forward)(lv_backend *be, float *out, const float *in, int n, int c, int hw);
    void (*avgpool_backward)(lv_backend *be, float *din, const float *dout, int n, int c, int hw);

    /* linear: out [b,out_f] = in [b,in_f] @ w[out_f,in_f]^T + bias [out_f] (bias may be NULL) */
    void (*linear_forward)(lv_backend *be, float *out, const float *in, const float *w,
                           const float *bias, int b, int in_f, int out_f);
    void (*linear_backward)(lv_backend *be, float *din, float *dw, float *dbias, const float *dout,
                            const float *in, const float *w, int b, int in_f, int out_f);

    /* residual add: out [n] = a + b; backward adds dout into da and db. */
    void (*residual_add_forward)(lv_backend *be, float *out, const float *a, const float *b, size_t n);
    void (*residual_add_backward)(lv_backend *be, float *da, float *db, const float *dout, size_t n);

    /* layernorm over the last dim: in [rows,c], w/b [c]; saves mean/rstd [rows]. */
    void (*layernorm_forward)(lv_backend *be, float *out, float *mean, float *rstd, const float *in,
                              const float *w, const float *b, int rows, int c, float eps);
    void (*layernorm_backward)(lv_backend *be, float *din, float *dw, float *db, const float *dout,
                               const float *in, const float *w, const float *mean,
                               const float *rstd, int rows, int c);

    /* GELU, erf form (torch.nn.functional.gelu default, HF "gelu"). */
    void (*gelu_forward)(lv_backend *be, float *out, const float *in, size_t n);
    void (*gelu_backward)(lv_backend *be, float *din, const float *dout, const float *in, size_t n);

    /* softmax over the last dim of [rows,cols]; backward reads the forward output. */
    void (*softmax_forward)(lv_backend *be, float *out, const float *in, int rows, int cols);
    void (*softmax_backward)(lv_backend *be, float *din, const float *dout, const float *out,
                             int rows, int cols);

    /* Multi-head self-attention core (no projections): softmax(q k^T / sqrt(hd) + mask) v.
     * mask [b,t]: 1 = real token, 0 = padding key (HF attention_mask; padded keys get the
     * most negative float added, as HF does). att [b,nh,t,t] saves the probabilities. */
    void (*attention_forward)(lv_backend *be, float *out, float *att, const float *qkv,
                              const int *mask, const lv_attn_shape *s);
    void (*attention_backward)(lv_backend *be, float *dqkv, const float *dout, const float *qkv,
                               const float *att, const int *mask, const lv_attn_shape *s);

    /* embedding lookup: out [n,c] = table[ids[i]] for table [vocab,c]; ids are in range
     * (the tokenizer guarantees it). Backward scatter-adds into dtable. */
    void (*embedding_forward)(lv_backend *be, float *out, const int *ids, const float *table,
                              int n, int c);
    void (*embedding_backward)(lv_backend *be, float *dtable, const float *dout, const int *ids,
                               int n, int c);

    /* Masked mean over tokens (sentence-transformers mean pooling): out [b,c] =
     * sum_t [mask[b,t] != 0] in[b,t,:] / max(count_b, 1), so an all-padding row gives 0
     * as their clamp(min=1e-9) does. A mask keeping only token 0 makes it CLS pooling.
     * Backward adds dout[b,:] / count_b into din at every kept token. */
    void (*masked_mean_pool_forward)(lv_backend *be, float *out, const float *in, const int *mask,
                                     int b, int t, int c);
    void (*masked_mean_pool_backward)(lv_backend *be, float *din, const float *dout,
                                      const int *mask, int b, int t, int c);

    /* L2-normalize rows: out = in / max(||in||, eps) (F.normalize); saves norm [rows]. */
    void (*l2norm_forward)(lv_backend *be, float *out, float *norm, const float *in, int rows,
                           int dim, float eps);
    void (*l2norm_backward)(lv_backend *be, float *din, const float *dout, const float *in,
                            const float *norm, int rows, int dim, float eps);

    /* Fused cosine-similarity logits + cross-entropy, forward and backward in one pass.
     * img [b,d], cls [c,d] unnormalized; logits [b,c] = min(exp(*logit_scale), 100) *
     * cos(img_i, cls_j); loss (one float) = mean_i CE(logits_i, labels_i).
     * logits, dimg, dcls, dscale may each be NULL (eval needs only logits and loss). */
    void (*cosine_ce)(lv_backend *be, float *loss, float *logits, float *dimg, float *dcls,
                      float *dscale, const float *img, const float *cls, const float *logit_scale,
                      const int *labels, int b, int c, int d);

    /* Softmax cross-entropy on plain logits [b,c] (the linear-head baseline), loss and
     * gradient in one pass: loss (one float) = mean_i CE(logits_i, labels_i), overwritten;
     * dlogits += (softmax - onehot) / b (NULL: forward only); probs [b,c] overwritten with
     * the softmax when non-NULL (evaluation). Labels outside [0,c) are a sticky error. */
    void (*cross_entropy)(lv_backend *be, float *loss, float *dlogits, float *probs,
                          const float *logits, const int *labels, int b, int c);

    /* Symmetric CLIP loss between img [b,d] and txt [b,d] (pairs on the diagonal):
     * (CE(logits, i) + CE(logits^T, i)) / 2 with logits as in cosine_ce. */
    void (*clip_loss)(lv_backend *be, float *loss, float *dimg, float *dtxt, float *dscale,
                      const float *img, const float *txt, const float *logit_scale, int b, int d);

    /* Optimizers over a flat range of n parameters (PyTorch torch.optim semantics). */
    void (*adamw_update)(lv_backend *be, float *param, const float *grad, float *m, float *v,
                         size_t n, const lv_adamw_hparams *h);
    void (*sgd_update)(lv_backend *be, float *param, const float *grad, float *momentum_buf,
                       size_t n, const lv_sgd_hparams *h);

    /* Gradient norm: *out (one float) += sum of squares of g [n]; *nonfinite (one int) is
     * set to 1 if any element is NaN or Inf. Used for global clipping and step skipping. */
    void (*grad_sumsq)(lv_backend *be, float *out, int *nonfinite, const float *g, size_t n);
    /* x [n] *= scale */
    void (*scale)(lv_backend *be, float *x, float scale, size_t n);
} lv_ops;

/* Reports a missing op as a sticky backend error (defined in backend.c). */
void lv_op_missing(lv_backend *be, const char *op);

#define LV_DISPATCH(be, op, ...)                                                                  \
    do {                                                                                          \
        if ((be)->ops.op) (be)->ops.op((be), __VA_ARGS__);                                        \
        else lv_op_missing((be), #op);                                                            \
    } while (0)

/* Dispatchers: what encoders and the trainer call. */
#define lv_conv2d_forward(be, ...) LV_DISPATCH(be, conv2d_forward, __VA_ARGS__)
#define lv_conv2d_backward(be, ...) LV_DISPATCH(be, conv2d_backward, __VA_ARGS__)
#define lv_batchnorm2d_forward(be, ...) LV_DISPATCH(be, batchnorm2d_forward, __VA_ARGS__)
#define lv_batchnorm2d_backward(be, ...) LV_DISPATCH(be, batchnorm2d_backward, __VA_ARGS__)
#define lv_batchnorm2d_sync_stats(be, ...) LV_DISPATCH(be, batchnorm2d_sync_stats, __VA_ARGS__)
#define lv_batchnorm2d_sync_forward(be, ...) LV_DISPATCH(be, batchnorm2d_sync_forward, __VA_ARGS__)
#define lv_batchnorm2d_sync_backward_stats(be, ...) LV_DISPATCH(be, batchnorm2d_sync_backward_stats, __VA_ARGS__)
#define lv_batchnorm2d_sync_backward(be, ...) LV_DISPATCH(be, batchnorm2d_sync_backward, __VA_ARGS__)
#define lv_relu_forward(be, ...) LV_DISPATCH(be, relu_forward, __VA_ARGS__)
#define lv_relu_backward(be, ...) LV_DISPATCH(be, relu_backward, __VA_ARGS__)
#define lv_maxpool2d_forward(be, ...) LV_DISPATCH(be, maxpool2d_forward, __VA_ARGS__)
#define lv_maxpool2d_backward(be, ...) LV_DISPATCH(be, maxpool2d_backward, __VA_ARGS__)
#define lv_avgpool_forward(be, ...) LV_DISPATCH(be, avgpool_forward, __VA_ARGS__)
#define lv_avgpool_backward(be, ...) LV_DISPATCH(be, avgpool_backward, __VA_ARGS__)
#define lv_linear_forward(be, ...) LV_DISPATCH(be, linear_forward, __VA_ARGS__)
#define lv_linear_backward(be, ...) LV_DISPATCH(be, linear_backward, __VA_ARGS__)
#define lv_residual_add_forward(be, ...) LV_DISPATCH(be, residual_add_forward, __VA_ARGS__)
#define lv_residual_add_backward(be, ...) LV_DISPATCH(be, residual_add_backward, __VA_ARGS__)
#define lv_layernorm_forward(be, ...) LV_DISPATCH(be, layernorm_forward, __VA_ARGS__)
#define lv_layernorm_backward(be, ...) LV_DISPATCH(be, layernorm_backward, __VA_ARGS__)
#define lv_gelu_forward(be, ...) LV_DISPATCH(be, gelu_forward, __VA_ARGS__)
#define lv_gelu_backward(be, ...) LV_DISPATCH(be, gelu_backward, __VA_ARGS__)
#define lv_softmax_forward(be, ...) LV_DISPATCH(be, softmax_forward, __VA_ARGS__)
#define lv_softmax_backward(be, ...) LV_DISPATCH(be, softmax_backward, __VA_ARGS__)
#define lv_attention_forward(be, ...) LV_DISPATCH(be, attention_forward, __VA_ARGS__)
#define lv_attention_backward(be, ...) LV_DISPATCH(be, attention_backward, __VA_ARGS__)
#define lv_embedding_forward(be, ...) LV_DISPATCH(be, embedding_forward, __VA_ARGS__)
#define lv_embedding_backward(be, ...) LV_DISPATCH(be, embedding_backward, __VA_ARGS__)
#define lv_masked_mean_pool_forward(be, ...) LV_DISPATCH(be, masked_mean_pool_forward, __VA_ARGS__)
#define lv_masked_mean_pool_backward(be, ...) LV_DISPATCH(be, masked_mean_pool_backward, __VA_ARGS__)
#define lv_l2norm_forward(be, ...) LV_DISPATCH(be, l2norm_forward, __VA_ARGS__)
#define lv_l2norm_backward(be, ...) LV_DISPATCH(be, l2norm_backward, __VA_ARGS__)
#define lv_cosine_ce(be, ...) LV_DISPATCH(be, cosine_ce, __VA_ARGS__)
#define lv_cross_entropy(be, ...) LV_DISPATCH(be, cross_entropy, __VA_ARGS__)
#define lv_clip_loss(be, ...) LV_DISPATCH(be, clip_loss, __VA_ARGS__)
#define lv_adamw_update(be, ...) LV_DISPATCH(be, adamw_update, __VA_ARGS__)
#define lv_sgd_update(be, ...) LV_DISPATCH(be, sgd_update, __VA_ARGS__)
#define lv_grad_sumsq(be, ...) LV_DISPATCH(be, grad_sumsq, __VA_ARGS__)
#define lv_scale(be, ...) LV_DISPATCH(be, scale, __VA_ARGS__)

#ifdef __cplusplus
}
#endif
#endif
