/* Parameters, gradients and optimizer moments as named views into one contiguous buffer
 * each (llm.c's ParameterTensors, made generic): a layout records every tensor's name,
 * shape and offset once; the buffers hold the numbers. One memset zeroes all gradients,
 * one all-reduce averages them, one loop writes the checkpoint. Encoders keep a struct of
 * typed pointers (with shape comments) into these buffers for readable math. */
#ifndef LV_PARAMS_H
#define LV_PARAMS_H

#include <stddef.h>
#include <stdint.h>

#include "backend.h"
#include "safetensors.h"
#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define LV_PARAM_NAME_MAX 160
#define LV_PARAM_MAX_DIMS 4

enum {
    LV_PARAM_NO_DECAY = 1 << 0, /* BN/LayerNorm affine, biases, logit scale: no weight decay */
    LV_PARAM_FROZEN = 1 << 1,   /* kept in the buffer and the checkpoint, never updated */
};

typedef struct lv_param_spec {
    char name[LV_PARAM_NAME_MAX]; /* checkpoint name, e.g. "visual.layer1.0.conv1.weight" */
    int ndim;
    int64_t shape[LV_PARAM_MAX_DIMS];
    size_t offset; /* in floats from the buffer start */
    size_t numel;
    int flags;
} lv_param_spec;

/* Tensors are laid out in insertion order with no padding, so tensors added one after the
 * other are also contiguous together (q, k, v weights form one [3c, c] matrix). */
typedef struct lv_param_layout {
    lv_param_spec *specs;
    int count, cap;
    size_t total; /* floats */
} lv_param_layout;

void lv_layout_init(lv_param_layout *l);
void lv_layout_free(lv_param_layout *l);
/* Appends a tensor; duplicate names, bad ranks and size overflow are errors. */
lv_status lv_layout_add(lv_param_layout *l, const char *name, int ndim, const int64_t *shape,
                        int flags, size_t *offset_out);
const lv_param_spec *lv_layout_find(const lv_param_layout *l, const char *name);

/* The per-model storage: params always; grads, m, v when training (NULL otherwise). */
typedef struct lv_param_buffers {
    lv_backend *be;
    size_t n; /* floats in each buffer */
    float *params, *grads, *m, *v;
} lv_param_buffers;

/* want: bit 0 grads, bit 1 first moment, bit 2 second moment. Memory comes zeroed. */
enum { LV_WANT_GRADS = 1, LV_WANT_M = 2, LV_WANT_V = 4 };
lv_status lv_param_buffers_alloc(lv_param_buffers *b, lv_backend *be, size_t n, int want);
void lv_param_buffers_free(lv_param_buffers *b);
void lv_param_buffers_zero_grads(lv_param_buffers *b);

/* Adds every tensor of the layout (values from host copy `host`, layout->total floats) to a
 * safetensors writer as F32, names prefixed by `prefix` (may be ""). `host` must stay alive
 * until the writer is saved. */
lv_status lv_layout_to_writer(const lv_param_layout *l, const float *host, const char *prefix,
                              lv_st_writer *w);
/* Fills host (layout->total floats) from a safetensors file: every tensor of the layout must
 * be present under prefix+name with exactly its shape (F32/F16/BF16 accepted). Extra
 * tensors in the file are ignored (a checkpoint holds several parts). */
lv_status lv_layout_from_file(const lv_param_layout *l, float *host, const char *prefix,
                              const lv_st_file *f);

#ifdef __cplusplus
}
#endif
#endif
