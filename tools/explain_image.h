/* The picture `liver-vlm explain` writes per sample: each phase in grey (top row) and the
 * Grad-CAM heatmap blended over it (bottom row), under a two-line title drawn with a small
 * built-in bitmap font. RGB pixels in memory only; the PNG file is data/png_image.c's job. */
#ifndef LV_EXPLAIN_IMAGE_H
#define LV_EXPLAIN_IMAGE_H

#include <stdint.h>

#include "core/status.h"

#define LV_EXPLAIN_GAP 4      /* pixels between panels and around them */
#define LV_EXPLAIN_TITLE_H 40 /* title band: two lines of 7-pixel glyphs at scale 2 */
#define LV_EXPLAIN_MIN_PANEL 128

/* Geometry for p phases of s x s ROIs: panel side q = s * zoom with zoom = ceil(128 / s)
 * (>= 1, nearest-neighbour), width = p q + (p + 1) gap, height = title + 2 q + 3 gap. */
typedef struct lv_explain_layout {
    int p, s, zoom, q, width, height;
} lv_explain_layout;

void lv_explain_layout_make(lv_explain_layout *l, int p, int s);

/* Composes the picture into rgb [height, width, 3] (caller's). grey [p, s, s] in [0, 1]
 * (the window the model saw), cam [s, s] in [0, 1], phase names label the panels, title
 * lines are upper-cased and drawn in the font's characters (A-Z 0-9 space . : % = - _ ( ) /
 * ?; anything else shows as ?), clipped to the width. */
void lv_explain_compose(const lv_explain_layout *l, const float *grey, const float *cam, char *const *phases,
                        const char *line1, const char *line2, uint8_t *rgb);

/* The heatmap colours: dark blue (0) - blue - cyan - yellow - red - dark red (1). */
void lv_explain_colormap(float v, uint8_t rgb[3]);

#endif
