/* The UTF-8 validity check the safetensors reader and writer need; the train config uses it
 * too, to refuse paths that would land in checkpoint metadata. */
#ifndef LV_SAFETENSORS_UTF8_H
#define LV_SAFETENSORS_UTF8_H

#include <stddef.h>

/* Offset of the first byte that is not well-formed UTF-8 (the Rust reference requires
 * UTF-8 names and metadata), or n when all of s[0..n) is. */
size_t lv_st_utf8_prefix(const unsigned char *s, size_t n);

#endif
