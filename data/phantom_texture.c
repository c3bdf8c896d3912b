/* Random fields for the phantom: correlated Gaussian textures (parenchyma, lesion mosaic)
 * and CT noise grain. Every value comes from (seed, stream, index) through core/rng.h, so
 * a field is the same on any thread; no state is kept between calls. */
#include <math.h>
#include <stddef.h>

#include "core/rng.h"
#include "data/phantom_model.h"

/* Two standard normals per Philox block (Box-Muller, cos and sin branches). */
static void fill_normals(uint64_t seed, uint64_t stream, float *out, size_t n) {
    for (size_t i = 0; i < n; i += 2) {
        uint32_t w[4];
        lv_rng_block(seed, stream, i / 2, w);
        float u1 = ((float)(w[0] >> 8) + 1.0f) * (1.0f / 16777216.0f);
        float u2 = (float)(w[1] >> 8) * (1.0f / 16777216.0f);
        float rad = sqrtf(-2.0f * logf(u1)), a = 6.283185307179586f * u2;
        out[i] = rad * cosf(a);
        if (i + 1 < n) out[i + 1] = rad * sinf(a);
    }
}

static int clampi(int i, int n) { return i < 0 ? 0 : i >= n ? n - 1 : i; }

/* One separable pass of a (2r+1) box (r > 0, running sum: O(1) per pixel at any radius)
 * or [1 2 1]/4 (r < 0), edges clamped, along rows of src into dst transposed, so two calls
 * blur both axes. */
static void blur_transpose(const float *src, float *dst, int n, int r) {
    for (int y = 0; y < n; y++) {
        const float *row = src + (size_t)y * n;
        if (r < 0) {
            for (int x = 0; x < n; x++)
                dst[(size_t)x * n + y] = 0.25f * row[clampi(x - 1, n)] + 0.5f * row[x] + 0.25f * row[clampi(x + 1, n)];
            continue;
        }
        float acc = 0.0f, inv = 1.0f / (float)(2 * r + 1);
        for (int k = -r; k <= r; k++) acc += row[clampi(k, n)];
        for (int x = 0; x < n; x++) {
            dst[(size_t)x * n + y] = acc * inv;
            acc += row[clampi(x + r + 1, n)] - row[clampi(x - r, n)];
        }
    }
}

void ph_field(uint64_t seed, uint64_t stream, int n, int r, float *out, float *tmp) {
    size_t nn = (size_t)n * (size_t)n;
    fill_normals(seed, stream, out, nn);
    int passes = r > 0 ? 3 : r < 0 ? 1 : 0; /* three boxes ~ a Gaussian */
    for (int p = 0; p < passes; p++) {
        blur_transpose(out, tmp, n, r);
        blur_transpose(tmp, out, n, r);
    }
    if (passes == 0) return;
    double s = 0.0, s2 = 0.0;
    for (size_t i = 0; i < nn; i++) {
        s += out[i];
        s2 += (double)out[i] * out[i];
    }
    double mean = s / (double)nn, var = s2 / (double)nn - mean * mean;
    float scale = var > 1e-12 ? (float)(1.0 / sqrt(var)) : 0.0f;
    for (size_t i = 0; i < nn; i++) out[i] = (out[i] - (float)mean) * scale;
}
