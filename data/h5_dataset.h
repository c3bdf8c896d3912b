/* HDF5 "liver-vlm-data/1" files (docs/data-format.md) <-> lv_dataset. The only place that
 * includes hdf5.h; without HDF5 in the build these return a clear "built without HDF5". */
#ifndef LV_H5_DATASET_H
#define LV_H5_DATASET_H

#include <stdint.h>

#include "data/dataset.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lv_h5_open_opts {
    /* Images up to this many bytes are read into memory at open; larger files stream one
     * sample per read through a tuned chunk cache. 0 means the default (4 GiB). */
    uint64_t max_memory_bytes;
} lv_h5_open_opts;

/* Opens and validates path (every rule of section 3), filling ds. opts may be NULL.
 * Errors: LV_ERR_INPUT naming file, dataset/attribute, expected and found. */
lv_status lv_h5_read(lv_dataset *ds, const char *path, const lv_h5_open_opts *opts);

typedef struct lv_h5_write_opts {
    int gzip_level; /* 0: no compression, 1..9: gzip with shuffle */
} lv_h5_write_opts;

/* Writes ds (in-memory images) as a data file: chunked one sample per chunk, optional gzip,
 * written to a temporary name and renamed, so a crash never leaves a half file at path. */
lv_status lv_h5_write(const lv_dataset *ds, const char *path, const lv_h5_write_opts *opts);

/* 1 when this build can read and write HDF5. */
int lv_h5_available(void);

#ifdef __cplusplus
}
#endif
#endif
