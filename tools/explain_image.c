/* Drawing for `liver-vlm explain` (explain_image.h): panels, heatmap blend and a 5x7 bitmap
 * font drawn for this project (rows are 5-bit masks, bit 4 the leftmost column). Pure pixel
 * arithmetic; must not read or write files. */
#include "tools/explain_image.h"

#include <math.h>
#include <stddef.h>
#include <string.h>

typedef struct glyph {
    char ch;
    uint8_t rows[7];
} glyph;

static const glyph font[] = {
    {' ', {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00}}, {'A', {0x0E, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11}},
    {'B', {0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E}}, {'C', {0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E}},
    {'D', {0x1E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x1E}}, {'E', {0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F}},
    {'F', {0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10}}, {'G', {0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F}},
    {'H', {0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11}}, {'I', {0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E}},
    {'J', {0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C}}, {'K', {0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11}},
    {'L', {0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F}}, {'M', {0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11}},
    {'N', {0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11}}, {'O', {0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E}},
    {'P', {0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10}}, {'Q', {0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D}},
    {'R', {0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11}}, {'S', {0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E}},
    {'T', {0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04}}, {'U', {0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E}},
    {'V', {0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04}}, {'W', {0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A}},
    {'X', {0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11}}, {'Y', {0x11, 0x11, 0x0A, 0x04, 0x04, 0x04, 0x04}},
    {'Z', {0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F}}, {'0', {0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E}},
    {'1', {0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E}}, {'2', {0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F}},
    {'3', {0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E}}, {'4', {0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02}},
    {'5', {0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E}}, {'6', {0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E}},
    {'7', {0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08}}, {'8', {0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E}},
    {'9', {0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C}}, {'.', {0x00, 0x00, 0x00, 0x00, 0x00, 0x0C, 0x0C}},
    {':', {0x00, 0x0C, 0x0C, 0x00, 0x0C, 0x0C, 0x00}}, {'%', {0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03}},
    {'=', {0x00, 0x00, 0x1F, 0x00, 0x1F, 0x00, 0x00}}, {'-', {0x00, 0x00, 0x00, 0x1F, 0x00, 0x00, 0x00}},
    {'_', {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1F}}, {'(', {0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02}},
    {')', {0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08}}, {'/', {0x00, 0x01, 0x02, 0x04, 0x08, 0x10, 0x00}},
    {'?', {0x0E, 0x11, 0x01, 0x02, 0x04, 0x00, 0x04}},
};

static const uint8_t *glyph_rows(char ch) {
    if (ch >= 'a' && ch <= 'z') ch = (char)(ch - 'a' + 'A');
    for (size_t i = 0; i < sizeof font / sizeof font[0]; i++)
        if (font[i].ch == ch) return font[i].rows;
    return glyph_rows('?');
}

/* Draws text at (x, y), each font pixel a scale x scale block, in an image w pixels wide;
 * whole glyphs only, none reaching past column xmax. */
static void draw_text(uint8_t *rgb, int w, int h, int x, int y, const char *text, int scale, const uint8_t col[3],
                      int xmax) {
    if (xmax > w) xmax = w;
    for (; *text; text++, x += 6 * scale) {
        if (x + 5 * scale > xmax) return;
        const uint8_t *rows = glyph_rows(*text);
        for (int r = 0; r < 7; r++)
            for (int c = 0; c < 5; c++) {
                if (!(rows[r] >> (4 - c) & 1)) continue;
                for (int dy = 0; dy < scale; dy++)
                    for (int dx = 0; dx < scale; dx++) {
                        int px = x + c * scale + dx, py = y + r * scale + dy;
                        if (px < 0 || py < 0 || px >= w || py >= h) continue;
                        memcpy(rgb + ((size_t)py * (size_t)w + (size_t)px) * 3, col, 3);
                    }
            }
    }
}

static int text_width(const char *t, int scale) { return (int)strlen(t) * 6 * scale - scale; }

void lv_explain_layout_make(lv_explain_layout *l, int p, int s) {
    l->p = p;
    l->s = s;
    l->zoom = s >= LV_EXPLAIN_MIN_PANEL ? 1 : (LV_EXPLAIN_MIN_PANEL + s - 1) / s;
    l->q = s * l->zoom;
    l->width = p * l->q + (p + 1) * LV_EXPLAIN_GAP;
    l->height = LV_EXPLAIN_TITLE_H + 2 * l->q + 3 * LV_EXPLAIN_GAP;
}

void lv_explain_colormap(float v, uint8_t rgb[3]) {
    static const float stops[6][4] = {{0.0f, 0, 0, 128},      {0.125f, 0, 0, 255},   {0.375f, 0, 255, 255},
                                      {0.625f, 255, 255, 0}, {0.875f, 255, 0, 0}, {1.0f, 128, 0, 0}};
    if (!(v > 0.0f)) v = 0.0f; /* NaN too */
    if (v > 1.0f) v = 1.0f;
    int k = 0;
    while (k < 4 && v > stops[k + 1][0]) k++;
    float t = (v - stops[k][0]) / (stops[k + 1][0] - stops[k][0]);
    for (int c = 0; c < 3; c++) rgb[c] = (uint8_t)lroundf(stops[k][c + 1] + t * (stops[k + 1][c + 1] - stops[k][c + 1]));
}

void lv_explain_compose(const lv_explain_layout *l, const float *grey, const float *cam, char *const *phases,
                        const char *line1, const char *line2, uint8_t *rgb) {
    int w = l->width, h = l->height, s = l->s, z = l->zoom;
    memset(rgb, 0, (size_t)w * (size_t)h * 3); /* black background and title band */
    const uint8_t white[3] = {255, 255, 255}, yellow[3] = {255, 230, 90};
    /* Scale 2 where a line fits, else 1 (a narrow picture, long class names), per line. */
    draw_text(rgb, w, h, 4, 4, line1, text_width(line1, 2) <= w - 8 ? 2 : 1, white, w);
    draw_text(rgb, w, h, 4, 22, line2, text_width(line2, 2) <= w - 8 ? 2 : 1, yellow, w);
    for (int p = 0; p < l->p; p++) {
        int x0 = LV_EXPLAIN_GAP + p * (l->q + LV_EXPLAIN_GAP);
        for (int row = 0; row < 2; row++) {
            int y0 = LV_EXPLAIN_TITLE_H + LV_EXPLAIN_GAP + row * (l->q + LV_EXPLAIN_GAP);
            for (int y = 0; y < l->q; y++)
                for (int x = 0; x < l->q; x++) {
                    size_t src = (size_t)(y / z) * (size_t)s + (size_t)(x / z);
                    float g = grey[(size_t)p * (size_t)s * (size_t)s + src];
                    g = g > 0.0f ? (g < 1.0f ? g : 1.0f) : 0.0f;
                    uint8_t *px = rgb + ((size_t)(y0 + y) * (size_t)w + (size_t)(x0 + x)) * 3;
                    uint8_t gv = (uint8_t)lroundf(255.0f * g), heat[3];
                    if (row == 0) {
                        px[0] = px[1] = px[2] = gv;
                        continue;
                    }
                    /* Half image, half heat: the anatomy stays readable under the map. */
                    lv_explain_colormap(cam[src], heat);
                    for (int c = 0; c < 3; c++) px[c] = (uint8_t)((gv + heat[c] + 1) / 2);
                }
            /* Phase name in the panel's corner on a black box. */
            const char *name = phases[p];
            int ls = l->q >= LV_EXPLAIN_MIN_PANEL ? 2 : 1, tw = text_width(name, ls);
            if (tw > l->q - 4) tw = l->q - 4;
            for (int y = y0; y < y0 + 7 * ls + 4 && y < y0 + l->q; y++)
                for (int x = x0; x < x0 + tw + 4; x++) memset(rgb + ((size_t)y * (size_t)w + (size_t)x) * 3, 0, 3);
            draw_text(rgb, w, h, x0 + 2, y0 + 2, name, ls, white, x0 + l->q);
        }
    }
}
