/* A data set held on the training backend: its raw pixels (dtype as stored) and labels are
 * uploaded once, and each batch is gathered, augmented and normalised there, from the
 * indices and augmentation keys the loader serves with render = 0. On the CPU backend the
 * render is the loader's own lv_augment_draw + lv_augment_render loop (bit-identical images);
 * on CUDA it is cuda/augment.cu, the twin of that code. Never reads a streamed data set. */
#ifndef LV_DEVICE_DATA_H
#define LV_DEVICE_DATA_H

#include <stddef.h>
#include <stdint.h>

#include "core/backend.h"
#include "data/augment.h"
#include "data/dataset.h"
#include "data/preprocess.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lv_device_data lv_device_data;

/* Device bytes an upload of ds takes: raw pixels n*p*h*w*pixel size plus n int32 labels.
 * 0 when the shape is unusable or the size overflows size_t. */
size_t lv_device_data_bytes(const lv_dataset *ds);

/* LV_OK when ds can be uploaded within `budget` bytes: held in memory (not streamed), with
 * labels, and lv_device_data_bytes(ds) <= budget. Otherwise LV_ERR_INPUT whose message says
 * why (streamed, no labels, the sizes in MiB), so a caller choosing automatically can log it. */
lv_status lv_device_data_fits(const lv_dataset *ds, size_t budget);

/* Uploads ds's pixels and labels to be (be->alloc + copy_h2d, then a sync so a failed copy
 * is reported here). ds may be freed afterwards. LV_ERR_INPUT for a streamed or malformed
 * data set, LV_ERR_RUNTIME when the device is out of memory (the backend's sticky error is
 * consumed and its message kept, so the backend stays usable). */
lv_status lv_device_data_create(lv_device_data **out, lv_backend *be, const lv_dataset *ds);
/* Frees the device copy. NULL is fine. */
void lv_device_data_destroy(lv_device_data *dd);

/* Samples, and device bytes held. */
int64_t lv_device_data_count(const lv_device_data *dd);
size_t lv_device_data_size(const lv_device_data *dd);

/* Writes the batch of samples indices[0..n) (host, each in [0, count)) with augmentation keys
 * keys[0..n) (host; lv_batch.keys) into x_dev (backend memory [n, p, s, s]) and their labels
 * into y_dev (backend memory [n]): exactly the images and labels a loader with the same plan,
 * augmentation, out_size s and seed gives for that (indices, keys, epoch). aug is used as
 * given (pass lv_augment_opts_eval's for evaluation). LV_ERR_USAGE for bad arguments; on
 * CUDA the work is queued on the backend's stream and a device fault is reported by the next
 * be->sync. */
lv_status lv_device_data_render(lv_device_data *dd, float *x_dev, int32_t *y_dev, const int64_t *indices,
                                const int64_t *keys, int n, const lv_preproc_plan *plan, const lv_augment_opts *aug,
                                int s, uint64_t seed, uint64_t epoch);

#ifdef __cplusplus
}
#endif
#endif
