/* lv_png_write on libpng's classic write API. libpng reports errors by longjmp; the jump
 * lands here and becomes a returned status, so a full disk is a message, never a crash. */
#include "data/png_image.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#ifdef LV_HAVE_PNG
#include <png.h>
#include <setjmp.h>

int lv_png_available(void) { return 1; }

/* Kept out of lv_png_write so no local there is modified between setjmp and longjmp. */
static int write_rows(png_structp png, png_infop info, FILE *f, const uint8_t *pixels, int w, int h,
                      int channels) {
    if (setjmp(png_jmpbuf(png))) return -1;
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, 8,
                 channels == 1 ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_set_compression_level(png, 9);
    png_write_info(png, info);
    for (int y = 0; y < h; y++)
        png_write_row(png, (png_const_bytep)(pixels + (size_t)y * (size_t)w * (size_t)channels));
    png_write_end(png, NULL);
    return 0;
}

lv_status lv_png_write(const char *path, const uint8_t *pixels, int w, int h, int channels) {
    LV_CHECK(path && pixels, LV_ERR_RUNTIME, "png: no path or no pixels");
    LV_CHECK(w >= 1 && h >= 1 && w <= 1000000 && h <= 1000000, LV_ERR_RUNTIME,
             "%s: image size %dx%d: expected 1..1000000 per side", path, w, h);
    LV_CHECK(channels == 1 || channels == 3, LV_ERR_RUNTIME, "%s: %d channels: expected 1 (gray) or 3 (RGB)",
             path, channels);
    FILE *f = fopen(path, "wb");
    if (!f) return lv_errorf(LV_ERR_INPUT, "%s: cannot create PNG file: %s", path, strerror(errno));
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!png || !info) {
        png_destroy_write_struct(&png, &info);
        fclose(f);
        return lv_errorf(LV_ERR_RUNTIME, "%s: libpng could not allocate its state", path);
    }
    int rc = write_rows(png, info, f, pixels, w, h, channels);
    png_destroy_write_struct(&png, &info);
    int close_rc = fclose(f);
    if (rc != 0 || close_rc != 0) {
        remove(path);
        return lv_errorf(LV_ERR_INPUT, "%s: writing the PNG failed (%s)", path,
                         rc != 0 ? "libpng error" : strerror(errno));
    }
    return LV_OK;
}

#else

int lv_png_available(void) { return 0; }

lv_status lv_png_write(const char *path, const uint8_t *pixels, int w, int h, int channels) {
    (void)pixels;
    (void)w;
    (void)h;
    (void)channels;
    return lv_errorf(LV_ERR_RUNTIME, "%s: this liver-vlm was built without libpng; install libpng-dev "
                                     "and rebuild to write PNG images",
                     path ? path : "png");
}

#endif
