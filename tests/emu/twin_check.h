/* Shared by the emulator's library-twin tests (tests/emu/test_emu_*.cu): counted checks, a
 * deterministic input generator, device upload/download and the scale-free error measure. */
#ifndef LV_TESTS_EMU_TWIN_CHECK_H
#define LV_TESTS_EMU_TWIN_CHECK_H

#include <math.h>
#include <stdio.h>

#include <vector>

#include "cuda_runtime.h"

static int g_failed, g_checks;

static void check(bool ok, const char *what) {
    g_checks++;
    if (!ok) g_failed++;
    printf("%s %s\n", ok ? "ok  " : "FAIL", what);
}

/* Each test seeds it first thing in main, so its inputs never depend on another test. */
static unsigned g_seed = 1;
static float frand(void) {
    g_seed = g_seed * 1664525u + 1013904223u;
    return (float)((g_seed >> 8) & 0xffff) / 32768.0f - 1.0f;
}

static float *up(const std::vector<float> &h) {
    float *d = NULL;
    cudaMalloc((void **)&d, h.size() * sizeof(float));
    cudaMemcpy(d, h.data(), h.size() * sizeof(float), cudaMemcpyHostToDevice);
    return d;
}

static std::vector<float> down(const float *d, size_t n) {
    std::vector<float> h(n);
    cudaMemcpy(h.data(), d, n * sizeof(float), cudaMemcpyDeviceToHost);
    return h;
}

/* Largest error relative to the reference's largest magnitude; elements the reference leaves
 * NaN (padding never written, or an output beta = 0 must overwrite) must be NaN too. */
static double max_rel(const std::vector<float> &got, const std::vector<float> &want) {
    double e = 0, scale = 1e-30;
    for (float w : want)
        if (!isnan(w)) scale = fmax(scale, fabs(w));
    for (size_t i = 0; i < got.size(); i++) {
        if (isnan(want[i]) && isnan(got[i])) continue;
        if (isnan(want[i]) != isnan(got[i])) return INFINITY;
        e = fmax(e, fabs((double)got[i] - want[i]) / scale);
    }
    return e;
}

static int twin_summary(void) {
    printf("%d of %d checks passed\n", g_checks - g_failed, g_checks);
    return g_failed ? 1 : 0;
}

#endif
