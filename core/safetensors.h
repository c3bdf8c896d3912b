/* safetensors reader and writer (https://github.com/huggingface/safetensors format):
 * 8-byte little-endian header length, a JSON header, then one contiguous byte buffer.
 * The reader validates everything a hostile file could get wrong before any tensor is
 * touched; the writer is atomic (temp file, fsync, rename). */
#ifndef LV_SAFETENSORS_H
#define LV_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum lv_dtype {
    LV_DT_F32, LV_DT_F16, LV_DT_BF16, LV_DT_I64, LV_DT_I32, LV_DT_I16, LV_DT_I8, LV_DT_U8, LV_DT_BOOL,
} lv_dtype;

#define LV_ST_MAX_DIMS 8
/* Headers larger than this are rejected before allocation (the Rust reference uses 100 MB). */
#define LV_ST_MAX_HEADER ((uint64_t)100 * 1000 * 1000)

size_t lv_dtype_size(lv_dtype dt);
const char *lv_dtype_name(lv_dtype dt);

typedef struct lv_st_tensor {
    const char *name;
    lv_dtype dtype;
    int ndim;
    int64_t shape[LV_ST_MAX_DIMS];
    uint64_t begin, end; /* byte offsets inside the data buffer */
} lv_st_tensor;

typedef struct lv_st_file lv_st_file;

/* Opens and fully validates `path`; on error the message names the file and the problem. */
lv_status lv_st_open(lv_st_file **out, const char *path);
void lv_st_close(lv_st_file *f);
const char *lv_st_path(const lv_st_file *f);
int lv_st_count(const lv_st_file *f);
const lv_st_tensor *lv_st_at(const lv_st_file *f, int i);     /* in file order */
const lv_st_tensor *lv_st_find(const lv_st_file *f, const char *name); /* NULL if absent */
const void *lv_st_data(const lv_st_file *f, const lv_st_tensor *t); /* raw bytes, little-endian */
int lv_st_metadata_count(const lv_st_file *f);
const char *lv_st_metadata(const lv_st_file *f, const char *key); /* NULL if absent */
const char *lv_st_metadata_key(const lv_st_file *f, int i);

/* Copies tensor `name` as float32 (converting F16/BF16/F32) into dst, checking that its
 * shape equals expect_shape[0..ndim) exactly; errors name file, tensor, expected and found. */
lv_status lv_st_read_f32(const lv_st_file *f, const char *name, float *dst, int ndim,
                         const int64_t *expect_shape);

typedef struct lv_st_writer lv_st_writer;

lv_status lv_st_writer_create(lv_st_writer **out);
void lv_st_writer_free(lv_st_writer *w);
/* `data` is borrowed until lv_st_writer_save returns; duplicate names are an error. */
lv_status lv_st_writer_add(lv_st_writer *w, const char *name, lv_dtype dtype, int ndim,
                           const int64_t *shape, const void *data);
lv_status lv_st_writer_set_metadata(lv_st_writer *w, const char *key, const char *value);
/* Writes path.tmp.<pid>, fsyncs it, renames over path and fsyncs the directory. */
lv_status lv_st_writer_save(lv_st_writer *w, const char *path);

#ifdef __cplusplus
}
#endif
#endif
