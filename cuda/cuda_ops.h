/* CUDA twins of every op in core/ops.h: lv_cuda_<op> lives in cuda/<op>.cu, next to its
 * CPU twin core/cpu/<op>.c (same name, same signature). backend_cuda.cu installs them. */
#ifndef LV_CUDA_OPS_H
#define LV_CUDA_OPS_H

#include "core/ops.h"

#ifdef __cplusplus
extern "C" {
#endif

/* conv2d.cu */
void lv_cuda_conv2d_forward(lv_backend *be, float *out, const float *in, const float *w, const float *bias, const lv_conv2d_shape *s);
void lv_cuda_conv2d_backward(lv_backend *be, float *din, float *dw, float *dbias, const float *dout, const float *in, const float *w, const lv_conv2d_shape *s);

/* batchnorm2d.cu */
void lv_cuda_batchnorm2d_forward(lv_backend *be, float *out, float *save_mean, float *save_invstd, float *running_mean, float *running_var, const float *in, const float *gamma, const float *beta, const lv_bn_shape *s, int training);
void lv_cuda_batchnorm2d_backward(lv_backend *be, float *din, float *dgamma, float *dbeta, const float *dout, const float *in, const float *gamma, const float *save_mean, const float *save_invstd, const lv_bn_shape *s);

/* batchnorm2d_sync.cu */
void lv_cuda_batchnorm2d_sync_stats(lv_backend *be, float *acc, const float *in, const float *center, const lv_bn_shape *s);
void lv_cuda_batchnorm2d_sync_forward(lv_backend *be, float *out, const float *save_mean, float *save_invstd, float *running_mean, float *running_var, const float *in, const float *gamma, const float *beta, const float *acc_sq, double count, const lv_bn_shape *s);
void lv_cuda_batchnorm2d_sync_backward_stats(lv_backend *be, float *acc, const float *dout, const float *in, const float *save_mean, const float *save_invstd, const lv_bn_shape *s);
void lv_cuda_batchnorm2d_sync_backward(lv_backend *be, float *din, float *dgamma, float *dbeta, const float *dout, const float *in, const float *gamma, const float *save_mean, const float *save_invstd, const float *acc, double count, const lv_bn_shape *s);

/* relu.cu */
void lv_cuda_relu_forward(lv_backend *be, float *out, const float *in, size_t n);
void lv_cuda_relu_backward(lv_backend *be, float *din, const float *dout, const float *out, size_t n);

/* maxpool2d.cu */
void lv_cuda_maxpool2d_forward(lv_backend *be, float *out, const float *in, const lv_pool2d_shape *s);
void lv_cuda_maxpool2d_backward(lv_backend *be, float *din, const float *dout, const float *in, const lv_pool2d_shape *s);

/* avgpool.cu */
void lv_cuda_avgpool_forward(lv_backend *be, float *out, const float *in, int n, int c, int hw);
void lv_cuda_avgpool_backward(lv_backend *be, float *din, const float *dout, int n, int c, int hw);

/* linear.cu */
void lv_cuda_linear_forward(lv_backend *be, float *out, const float *in, const float *w, const float *bias, int b, int in_f, int out_f);
void lv_cuda_linear_backward(lv_backend *be, float *din, float *dw, float *dbias, const float *dout, const float *in, const float *w, int b, int in_f, int out_f);

/* residual_add.cu */
void lv_cuda_residual_add_forward(lv_backend *be, float *out, const float *a, const float *b, size_t n);
void lv_cuda_residual_add_backward(lv_backend *be, float *da, float *db, const float *dout, size_t n);

/* layernorm.cu */
void lv_cuda_layernorm_forward(lv_backend *be, float *out, float *mean, float *rstd, const float *in, const float *w, const float *b, int rows, int c, float eps);
void lv_cuda_layernorm_backward(lv_backend *be, float *din, float *dw, float *db, const float *dout, const float *in, const float *w, const float *mean, const float *rstd, int rows, int c);

/* gelu.cu */
void lv_cuda_gelu_forward(lv_backend *be, float *out, const float *in, size_t n);
void lv_cuda_gelu_backward(lv_backend *be, float *din, const float *dout, const float *in, size_t n);

/* softmax.cu */
void lv_cuda_softmax_forward(lv_backend *be, float *out, const float *in, int rows, int cols);
void lv_cuda_softmax_backward(lv_backend *be, float *din, const float *dout, const float *out, int rows, int cols);

/* attention.cu */
void lv_cuda_attention_forward(lv_backend *be, float *out, float *att, const float *qkv, const int *mask, const lv_attn_shape *s);
void lv_cuda_attention_backward(lv_backend *be, float *dqkv, const float *dout, const float *qkv, const float *att, const int *mask, const lv_attn_shape *s);

/* embedding.cu */
void lv_cuda_embedding_forward(lv_backend *be, float *out, const int *ids, const float *table, int n, int c);
void lv_cuda_embedding_backward(lv_backend *be, float *dtable, const float *dout, const int *ids, int n, int c);

/* masked_mean_pool.cu */
void lv_cuda_masked_mean_pool_forward(lv_backend *be, float *out, const float *in, const int *mask, int b, int t, int c);
void lv_cuda_masked_mean_pool_backward(lv_backend *be, float *din, const float *dout, const int *mask, int b, int t, int c);

/* l2norm.cu */
void lv_cuda_l2norm_forward(lv_backend *be, float *out, float *norm, const float *in, int rows, int dim, float eps);
void lv_cuda_l2norm_backward(lv_backend *be, float *din, const float *dout, const float *in, const float *norm, int rows, int dim, float eps);

/* cosine_ce.cu */
void lv_cuda_cosine_ce(lv_backend *be, float *loss, float *logits, float *dimg, float *dcls, float *dscale, const float *img, const float *cls, const float *logit_scale, const int *labels, int b, int c, int d);

/* cross_entropy.cu */
void lv_cuda_cross_entropy(lv_backend *be, float *loss, float *dlogits, float *probs, const float *logits, const int *labels, int b, int c);

/* clip_loss.cu */
void lv_cuda_clip_loss(lv_backend *be, float *loss, float *dimg, float *dtxt, float *dscale, const float *img, const float *txt, const float *logit_scale, int b, int d);

/* adamw.cu */
void lv_cuda_adamw_update(lv_backend *be, float *param, const float *grad, float *m, float *v, size_t n, const lv_adamw_hparams *h);

/* sgd.cu */
void lv_cuda_sgd_update(lv_backend *be, float *param, const float *grad, float *momentum_buf, size_t n, const lv_sgd_hparams *h);

/* grad_norm.cu */
void lv_cuda_grad_sumsq(lv_backend *be, float *out, int *nonfinite, const float *g, size_t n);
void lv_cuda_scale(lv_backend *be, float *x, float scale, size_t n);

#ifdef __cplusplus
}
#endif
#endif
