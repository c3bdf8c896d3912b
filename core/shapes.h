/* Shape descriptors shared by an op's CPU twin, its CUDA twin and the dispatcher, so the
 * three signatures cannot drift. Plain ints: every tensor here is NCHW or row-major. */
#ifndef LV_SHAPES_H
#define LV_SHAPES_H

#ifdef __cplusplus
extern "C" {
#endif

/* conv2d: in [n,c,h,w], weight [oc,c,kh,kw], out [n,oc,oh,ow] with
 * oh = (h + 2*pad - kh)/stride + 1 (torch.nn.Conv2d, dilation 1, groups 1). */
typedef struct lv_conv2d_shape {
    int n, c, h, w;
    int oc, kh, kw, stride, pad;
} lv_conv2d_shape;

static inline int lv_conv2d_oh(const lv_conv2d_shape *s) { return (s->h + 2 * s->pad - s->kh) / s->stride + 1; }
static inline int lv_conv2d_ow(const lv_conv2d_shape *s) { return (s->w + 2 * s->pad - s->kw) / s->stride + 1; }

/* maxpool2d: in [n,c,h,w], out [n,c,oh,ow], square window k, padding counts as -inf. */
typedef struct lv_pool2d_shape {
    int n, c, h, w;
    int k, stride, pad;
} lv_pool2d_shape;

static inline int lv_pool2d_oh(const lv_pool2d_shape *s) { return (s->h + 2 * s->pad - s->k) / s->stride + 1; }
static inline int lv_pool2d_ow(const lv_pool2d_shape *s) { return (s->w + 2 * s->pad - s->k) / s->stride + 1; }

/* batchnorm2d over [n,c,hw]; momentum and eps as torch.nn.BatchNorm2d. */
typedef struct lv_bn_shape {
    int n, c, hw;
    float eps, momentum;
} lv_bn_shape;

/* multi-head self-attention core: qkv [b,t,3*c] (q, k, v blocks of c each, heads of
 * c/nh contiguous inside a block, as HF BERT's view(b,t,nh,hd)), out [b,t,c]. */
typedef struct lv_attn_shape {
    int b, t, c, nh;
} lv_attn_shape;

#ifdef __cplusplus
}
#endif
#endif
