/* CPU twins of every op in core/ops.h: lv_cpu_<op> lives in core/cpu/<op>.c, forward and
 * backward side by side. The reference the CUDA backend and PyTorch fixtures are checked against. */
#ifndef LV_CPU_OPS_H
#define LV_CPU_OPS_H

#include "../ops.h"
#include "cpu_backend.h"

/* conv2d.c */
void lv_cpu_conv2d_forward(lv_backend *be, float *out, const float *in, const float *w, const float *bias, const lv_conv2d_shape *s);
void lv_cpu_conv2d_backward(lv_backend *be, float *din, float *dw, float *dbias, const float *dout, const float *in, const float *w, const lv_conv2d_shape *s);

/* batchnorm2d.c */
void lv_cpu_batchnorm2d_forward(lv_backend *be, float *out, float *save_mean, float *save_invstd, float *running_mean, float *running_var, const float *in, const float *gamma, const float *beta, const lv_bn_shape *s, int training);
void lv_cpu_batchnorm2d_backward(lv_backend *be, float *din, float *dgamma, float *dbeta, const float *dout, const float *in, const float *gamma, const float *save_mean, const float *save_invstd, const lv_bn_shape *s);

/* batchnorm2d_sync.c */
void lv_cpu_batchnorm2d_sync_stats(lv_backend *be, float *acc, const float *in, const float *center, const lv_bn_shape *s);
void lv_cpu_batchnorm2d_sync_forward(lv_backend *be, float *out, const float *save_mean, float *save_invstd, float *running_mean, float *running_var, const float *in, const float *gamma, const float *beta, const float *acc_sq, double count, const lv_bn_shape *s);
void lv_cpu_batchnorm2d_sync_backward_stats(lv_backend *be, float *acc, const float *dout, const float *in, const float *save_mean, const float *save_invstd, const lv_bn_shape *s);
void lv_cpu_batchnorm2d_sync_backward(lv_backend *be, float *din, float *dgamma, float *dbeta, const float *dout, const float *in, const float *gamma, const float *save_mean, const float *save_invstd, const float *acc, double count, const lv_bn_shape *s);

/* relu.c */
void lv_cpu_relu_forward(lv_backend *be, float *out, const float *in, size_t n);
void lv_cpu_relu_backward(lv_backend *be, float *din, const float *dout, const float *out, size_t n);

/* maxpool2d.c */
void lv_cpu_maxpool2d_forward(lv_backend *be, float *out, const float *in, const lv_pool2d_shape *s);
void lv_cpu_maxpool2d_backward(lv_backend *be, float *din, const float *dout, const float *in, const lv_pool2d_shape *s);

/* avgpool.c */
void lv_cpu_avgpool_forward(lv_backend *be, float *out, const float *in, int n, int c, int hw);
void lv_cpu_avgpool_backward(lv_backend *be, float *din, const float *dout, int n, int c, int hw);

/* linear.c */
void lv_cpu_linear_forward(lv_backend *be, float *out, const float *in, const float *w, const float *bias, int b, int in_f, int out_f);
void lv_cpu_linear_backward(lv_backend *be, float *din, float *dw, float *dbias, const float *dout, const float *in, const float *w, int b, int in_f, int out_f);

/* residual_add.c */
void lv_cpu_residual_add_forward(lv_backend *be, float *out, const float *a, const float *b, size_t n);
void lv_cpu_residual_add_backward(lv_backend *be, float *da, float *db, const float *dout, size_t n);

/* layernorm.c */
void lv_cpu_layernorm_forward(lv_backend *be, float *out, float *mean, float *rstd, const float *in, const float *w, const float *b, int rows, int c, float eps);
void lv_cpu_layernorm_backward(lv_backend *be, float *din, float *dw, float *db, const float *dout, const float *in, const float *w, const float *mean, const float *rstd, int rows, int c);

/* gelu.c */
void lv_cpu_gelu_forward(lv_backend *be, float *out, const float *in, size_t n);
void lv_cpu_gelu_backward(lv_backend *be, float *din, const float *dout, const float *in, size_t n);

/* softmax.c */
void lv_cpu_softmax_forward(lv_backend *be, float *out, const float *in, int rows, int cols);
void lv_cpu_softmax_backward(lv_backend *be, float *din, const float *dout, const float *out, int rows, int cols);

/* attention.c */
void lv_cpu_attention_forward(lv_backend *be, float *out, float *att, const float *qkv, const int *mask, const lv_attn_shape *s);
void lv_cpu_attention_backward(lv_backend *be, float *dqkv, const float *dout, const float *qkv, const float *att, const int *mask, const lv_attn_shape *s);

/* embedding.c */
void lv_cpu_embedding_forward(lv_backend *be, float *out, const int *ids, const float *table, int n, int c);
void lv_cpu_embedding_backward(lv_backend *be, float *dtable, const float *dout, const int *ids, int n, int c);

/* masked_mean_pool.c */
void lv_cpu_masked_mean_pool_forward(lv_backend *be, float *out, const float *in, const int *mask, int b, int t, int c);
void lv_cpu_masked_mean_pool_backward(lv_backend *be, float *din, const float *dout, const int *mask, int b, int t, int c);

/* l2norm.c */
void lv_cpu_l2norm_forward(lv_backend *be, float *out, float *norm, const float *in, int rows, int dim, float eps);
void lv_cpu_l2norm_backward(lv_backend *be, float *din, const float *dout, const float *in, const float *norm, int rows, int dim, float eps);

/* cosine_ce.c */
void lv_cpu_cosine_ce(lv_backend *be, float *loss, float *logits, float *dimg, float *dcls, float *dscale, const float *img, const float *cls, const float *logit_scale, const int *labels, int b, int c, int d);

/* cross_entropy.c */
void lv_cpu_cross_entropy(lv_backend *be, float *loss, float *dlogits, float *probs, const float *logits, const int *labels, int b, int c);

/* clip_loss.c */
void lv_cpu_clip_loss(lv_backend *be, float *loss, float *dimg, float *dtxt, float *dscale, const float *img, const float *txt, const float *logit_scale, int b, int d);

/* adamw.c */
void lv_cpu_adamw_update(lv_backend *be, float *param, const float *grad, float *m, float *v, size_t n, const lv_adamw_hparams *h);

/* sgd.c */
void lv_cpu_sgd_update(lv_backend *be, float *param, const float *grad, float *momentum_buf, size_t n, const lv_sgd_hparams *h);

/* grad_norm.c */
void lv_cpu_grad_sumsq(lv_backend *be, float *out, int *nonfinite, const float *g, size_t n);
void lv_cpu_scale(lv_backend *be, float *x, float scale, size_t n);

#endif
