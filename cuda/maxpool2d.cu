/* maxpool2d: CUDA twin of core/cpu/maxpool2d.c, torch.nn.MaxPool2d(k, stride, padding) (dilation
 * 1, floor mode). The window scan is the CPU's (row-major, `v > max || isnan(v)`, padding never
 * visited), so ties and NaNs pick the same element; the backward gathers, no float atomics. */
#include <math.h>

#include "cuda/cuda_backend.h"

#define POOL_THREADS 256

/* One thread per output (I: index type, 32-bit where the tensor allows). Writes the maximum
 * (out may be NULL) and its index within the h*w plane (arg may be NULL). The index starts
 * at the first in-bounds element, so a window of -inf routes its gradient there, as on the
 * CPU. */
template <typename I>
static __global__ void maxpool_fwd(float *out, int *arg, const float *in, I total, int h, int w,
                                   int oh, int ow, int k, int stride, int pad) {
    const I step = (I)gridDim.x * blockDim.x;
    for (I o = (I)blockIdx.x * blockDim.x + threadIdx.x; o < total; o += step) {
        const I t = o / (I)ow, p = t / (I)oh;
        const int ox = (int)(o - t * (I)ow), oy = (int)(t - p * (I)oh);
        const float *plane = in + (size_t)p * h * w;
        const int y0 = oy * stride - pad, x0 = ox * stride - pad;
        const int ya = y0 > 0 ? y0 : 0, yb = y0 + k < h ? y0 + k : h;
        const int xa = x0 > 0 ? x0 : 0, xb = x0 + k < w ? x0 + k : w;
        float m = -INFINITY;
        int idx = ya * w + xa;
        for (int y = ya; y < yb; y++)
            for (int x = xa; x < xb; x++) {
                const float v = plane[y * w + x];
                if (v > m || v != v) {
                    m = v;
                    idx = y * w + x;
                }
            }
        if (out) out[o] = m;
        if (arg) arg[o] = idx;
    }
}

/* One thread per input element: din += the dout of every window whose argmax it is, visited
 * in row-major output order, the order in which the CPU twin's += reaches it, so the sums
 * (overlapping 3x3/2 windows can route several gradients to one input) are bit-identical. */
template <typename I>
static __global__ void maxpool_bwd(float *din, const float *dout, const int *arg, I total, int h,
                                   int w, int oh, int ow, int k, int stride, int pad) {
    const I step = (I)gridDim.x * blockDim.x;
    for (I e = (I)blockIdx.x * blockDim.x + threadIdx.x; e < total; e += step) {
        const I t = e / (I)w, p = t / (I)h;
        const int x = (int)(e - t * (I)w), y = (int)(t - p * (I)h);
        /* windows oy with oy*stride - pad <= y <= oy*stride - pad + k - 1 */
        const int ylo_n = y + pad - k + 1, xlo_n = x + pad - k + 1;
        const int oy0 = ylo_n <= 0 ? 0 : (ylo_n + stride - 1) / stride;
        const int ox0 = xlo_n <= 0 ? 0 : (xlo_n + stride - 1) / stride;
        int oy1 = (y + pad) / stride, ox1 = (x + pad) / stride;
        if (oy1 > oh - 1) oy1 = oh - 1;
        if (ox1 > ow - 1) ox1 = ow - 1;
        const int self = y * w + x;
        const size_t obase = (size_t)p * oh * ow;
        float acc = din[e];
        for (int oy = oy0; oy <= oy1; oy++)
            for (int ox = ox0; ox <= ox1; ox++) {
                const size_t o = obase + (size_t)oy * ow + ox;
                if (arg[o] == self) acc += dout[o];
            }
        din[e] = acc;
    }
}

/* pad < k keeps every window on the image (PyTorch asks for pad <= k/2): the scan always has
 * an element, so the argmax is a real pixel. */
static int pool_bad_shape(lv_backend *be, const char *op, const lv_pool2d_shape *s) {
    if (s->n > 0 && s->c > 0 && s->h > 0 && s->w > 0 && s->k > 0 && s->stride > 0 && s->pad >= 0 &&
        s->pad < s->k && lv_pool2d_oh(s) > 0 && lv_pool2d_ow(s) > 0)
        return 0;
    lv_backend_fail(be, LV_ERR_RUNTIME, "%s: bad shape n=%d c=%d h=%d w=%d k=%d stride=%d pad=%d", op,
                    s->n, s->c, s->h, s->w, s->k, s->stride, s->pad);
    return 1;
}

/* 32-bit indices only with headroom: an index plus the grid stride must not wrap. */
#define POOL_FITS_32(n) ((n) <= 0x7fffffffu)

extern "C" void lv_cuda_maxpool2d_forward(lv_backend *be, float *out, const float *in,
                                          const lv_pool2d_shape *s) {
    if (pool_bad_shape(be, "maxpool2d_forward", s)) return;
    const int oh = lv_pool2d_oh(s), ow = lv_pool2d_ow(s);
    const size_t total = (size_t)s->n * s->c * oh * ow;
    const unsigned blocks = lv_cuda_blocks(be, total, POOL_THREADS);
    cudaStream_t st = lv_cuda_stream(be);
    if (POOL_FITS_32(total))
        LV_LAUNCH(blocks, POOL_THREADS, 0, st, maxpool_fwd<unsigned>)(out, NULL, in, (unsigned)total, s->h, s->w,
                                                               oh, ow, s->k, s->stride, s->pad);
    else
        LV_LAUNCH(blocks, POOL_THREADS, 0, st, maxpool_fwd<size_t>)(out, NULL, in, total, s->h, s->w, oh, ow,
                                                             s->k, s->stride, s->pad);
    LV_CUDA_LAUNCH_CHECK(be, "maxpool2d_forward");
}

/* Workspace: one int32 argmax per output ([n,c,oh,ow]), recomputed from `in` here rather than
 * kept from the forward, so the interface stays stateless like the CPU twin's. */
extern "C" void lv_cuda_maxpool2d_backward(lv_backend *be, float *din, const float *dout,
                                           const float *in, const lv_pool2d_shape *s) {
    if (!din) return;
    if (pool_bad_shape(be, "maxpool2d_backward", s)) return;
    const int oh = lv_pool2d_oh(s), ow = lv_pool2d_ow(s);
    const size_t nout = (size_t)s->n * s->c * oh * ow;
    const size_t nin = (size_t)s->n * s->c * s->h * s->w;
    int *arg = (int *)lv_cuda_workspace(be, nout * sizeof(int));
    if (arg == NULL) return;
    cudaStream_t st = lv_cuda_stream(be);
    const unsigned bo = lv_cuda_blocks(be, nout, POOL_THREADS);
    if (POOL_FITS_32(nout))
        LV_LAUNCH(bo, POOL_THREADS, 0, st, maxpool_fwd<unsigned>)(NULL, arg, in, (unsigned)nout, s->h, s->w, oh,
                                                           ow, s->k, s->stride, s->pad);
    else
        LV_LAUNCH(bo, POOL_THREADS, 0, st, maxpool_fwd<size_t>)(NULL, arg, in, nout, s->h, s->w, oh, ow, s->k,
                                                         s->stride, s->pad);
    LV_CUDA_LAUNCH_CHECK(be, "maxpool2d_backward argmax");
    const unsigned bi = lv_cuda_blocks(be, nin, POOL_THREADS);
    if (POOL_FITS_32(nin))
        LV_LAUNCH(bi, POOL_THREADS, 0, st, maxpool_bwd<unsigned>)(din, dout, arg, (unsigned)nin, s->h, s->w, oh,
                                                           ow, s->k, s->stride, s->pad);
    else
        LV_LAUNCH(bi, POOL_THREADS, 0, st, maxpool_bwd<size_t>)(din, dout, arg, nin, s->h, s->w, oh, ow, s->k,
                                                         s->stride, s->pad);
    LV_CUDA_LAUNCH_CHECK(be, "maxpool2d_backward gather");
}
