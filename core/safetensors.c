/* safetensors reader/writer: placeholder until implemented (see safetensors.h). */
#include "safetensors.h"
#include <stdlib.h>

size_t lv_dtype_size(lv_dtype dt) { (void)dt; return 0; }
const char *lv_dtype_name(lv_dtype dt) { (void)dt; return "?"; }
lv_status lv_st_open(lv_st_file **out, const char *path) { *out = NULL; return lv_errorf(LV_ERR_RUNTIME, "%s: safetensors reader not implemented", path); }
void lv_st_close(lv_st_file *f) { (void)f; }
const char *lv_st_path(const lv_st_file *f) { (void)f; return ""; }
int lv_st_count(const lv_st_file *f) { (void)f; return 0; }
const lv_st_tensor *lv_st_at(const lv_st_file *f, int i) { (void)f; (void)i; return NULL; }
const lv_st_tensor *lv_st_find(const lv_st_file *f, const char *name) { (void)f; (void)name; return NULL; }
const void *lv_st_data(const lv_st_file *f, const lv_st_tensor *t) { (void)f; (void)t; return NULL; }
int lv_st_metadata_count(const lv_st_file *f) { (void)f; return 0; }
const char *lv_st_metadata(const lv_st_file *f, const char *key) { (void)f; (void)key; return NULL; }
const char *lv_st_metadata_key(const lv_st_file *f, int i) { (void)f; (void)i; return NULL; }
lv_status lv_st_read_f32(const lv_st_file *f, const char *name, float *dst, int ndim, const int64_t *expect_shape) { (void)f; (void)dst; (void)ndim; (void)expect_shape; return lv_errorf(LV_ERR_RUNTIME, "%s: not implemented", name); }
lv_status lv_st_writer_create(lv_st_writer **out) { *out = NULL; return lv_errorf(LV_ERR_RUNTIME, "not implemented"); }
void lv_st_writer_free(lv_st_writer *w) { (void)w; }
lv_status lv_st_writer_add(lv_st_writer *w, const char *name, lv_dtype dtype, int ndim, const int64_t *shape, const void *data) { (void)w; (void)name; (void)dtype; (void)ndim; (void)shape; (void)data; return LV_ERR_RUNTIME; }
lv_status lv_st_writer_set_metadata(lv_st_writer *w, const char *key, const char *value) { (void)w; (void)key; (void)value; return LV_ERR_RUNTIME; }
lv_status lv_st_writer_save(lv_st_writer *w, const char *path) { (void)w; (void)path; return LV_ERR_RUNTIME; }
