/* CUDA-vs-CPU twin helpers (see twin.h). Host-side glue only: no kernels, no CUDA headers. */
#include "twin.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static int twin_cpu_mode(void) {
    const char *v = getenv("LV_TEST_TWIN_CPU");
    return v && strcmp(v, "1") == 0;
}

int lv_twin_open(lv_backend **cpu, lv_backend **dev) {
    *cpu = *dev = NULL;
    int as_cpu = twin_cpu_mode();
    if (!as_cpu && lv_cuda_device_count() == 0) return lv_test_skip("no CUDA device (or a build without CUDA)");
    if (lv_cpu_backend_create(cpu, 0) != LV_OK) {
        lv_test_fail("cpu backend: %s", lv_error_message());
        return 1;
    }
    lv_status s = as_cpu ? lv_cpu_backend_create(dev, 0) : lv_cuda_backend_create(dev, 0);
    if (s != LV_OK) {
        lv_test_fail("device backend: %s", lv_error_message());
        lv_backend_destroy(*cpu);
        *cpu = NULL;
        return 1;
    }
    (*dev)->tf32 = 0;
    if (as_cpu) printf("  LV_TEST_TWIN_CPU=1: the device side is a second CPU backend\n");
    return 0;
}

int lv_twin_close(lv_backend *cpu, lv_backend *dev) {
    if (dev) (void)lv_twin_sync(dev, "final sync");
    lv_backend_destroy(dev);
    lv_backend_destroy(cpu);
    int rc = lv_test_summary();
    if (rc == 0 && twin_cpu_mode()) return lv_test_skip("LV_TEST_TWIN_CPU=1 compared CPU with CPU");
    return rc;
}

float *lv_twin_up(lv_backend *be, const float *host, size_t n) {
    float *d = be->alloc(be, (n ? n : 1) * sizeof(float));
    if (d && host && n) be->copy_h2d(be, d, host, n * sizeof(float));
    return d;
}

int *lv_twin_up_int(lv_backend *be, const int *host, size_t n) {
    int *d = be->alloc(be, (n ? n : 1) * sizeof(int));
    if (d && host && n) be->copy_h2d(be, d, host, n * sizeof(int));
    return d;
}

int lv_twin_sync(lv_backend *be, const char *what) {
    if (be->sync(be) == LV_OK) return 0;
    lv_test_fail("%s: %s", what, lv_error_message());
    return 1;
}

double lv_twin_expect(lv_backend *be, const char *what, const float *dev, const float *want, size_t n,
                      double rtol) {
    if (lv_twin_sync(be, what)) return HUGE_VAL;
    float *got = malloc((n ? n : 1) * sizeof(float));
    if (!got) {
        lv_test_fail("%s: out of memory", what);
        return HUGE_VAL;
    }
    be->copy_d2h(be, got, dev, n * sizeof(float));
    double err = lv_test_close(what, got, want, n, rtol);
    free(got);
    return err;
}
