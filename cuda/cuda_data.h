/* The CUDA side of data/device_data.c in plain C types (no CUDA headers): the batch render
 * kernel of cuda/augment.cu and the free-memory query. Every build has these symbols; the
 * stub (cuda/cuda_stub.c) answers "built without CUDA". */
#ifndef LV_CUDA_DATA_H
#define LV_CUDA_DATA_H

#include <stddef.h>
#include <stdint.h>

#include "core/backend.h"
#include "data/augment.h"
#include "data/dataset.h"
#include "data/preprocess.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A data set's pixels and labels already in device memory. */
typedef struct lv_cuda_raw {
    const void *images;    /* device [n, p, h, w] of `pixel`, as stored */
    const int32_t *labels; /* device [n] */
    int64_t n;
    int p, h, w;
    lv_pixel_type pixel;
} lv_cuda_raw;

/* Renders samples indices[0..n) (host array, each in [0, raw->n)) with augmentation keys
 * keys[0..n) (host) into x (device [n, p, s, s]) and their labels into y (device [n]), the
 * way data/augment.c's lv_augment_draw + lv_augment_render do on the CPU: same parameters,
 * same arithmetic order, same noise. Enqueued on the backend's stream; LV_ERR_USAGE for bad
 * arguments (nothing enqueued), LV_ERR_RUNTIME from the stub; a device fault is the
 * backend's sticky error, reported by the next sync. */
lv_status lv_cuda_augment_render(lv_backend *be, const lv_cuda_raw *raw, const int64_t *indices,
                                 const int64_t *keys, int n, const lv_preproc_plan *plan,
                                 const lv_augment_opts *aug, int s, uint64_t seed, uint64_t epoch,
                                 float *x, int32_t *y);

/* Free and total memory of the backend's device (cudaMemGetInfo). Memory that a stream-ordered
 * pool keeps after frees counts as used. LV_ERR_USAGE for a non-CUDA backend. */
lv_status lv_cuda_mem_info(lv_backend *be, size_t *free_bytes, size_t *total_bytes);

#ifdef __cplusplus
}
#endif
#endif
