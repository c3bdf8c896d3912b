/* A small PNG writer (libpng) for 8-bit grayscale and RGB images: the phantom preview and,
 * later, Grad-CAM overlays. Writes only; without libpng in the build it returns an error
 * that says so instead of failing to link. */
#ifndef LV_PNG_IMAGE_H
#define LV_PNG_IMAGE_H

#include <stdint.h>

#include "core/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Writes a w x h image with `channels` = 1 (gray) or 3 (RGB) interleaved 8-bit samples,
 * row-major, to path (replaced when it exists). Errors name the path. */
lv_status lv_png_write(const char *path, const uint8_t *pixels, int w, int h, int channels);

/* 1 when this build can write PNG files. */
int lv_png_available(void);

#ifdef __cplusplus
}
#endif
#endif
