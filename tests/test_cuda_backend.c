/* The CUDA backend's plumbing without kernels: zeroed allocation, the three copies, memset,
 * sync, and a missing op surfacing as the sticky error that sync returns. Without a device
 * it checks the clean refusal of --device cuda, then SKIPs (77); it never passes vacuously. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/backend.h"
#include "harness.h"

/* 1 when every element of p[0..n) is zero. */
static int all_zero(const float *p, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (p[i] != 0.0f) return 0;
    return 1;
}

static void check_refusal(void) {
    lv_backend *be = (lv_backend *)1; /* must be overwritten with NULL */
    lv_status s = lv_cuda_backend_create(&be, 0);
    lv_test_true(s == LV_ERR_INPUT, "--device cuda without a device is an input error");
    lv_test_true(be == NULL, "a refused backend is NULL");
    lv_test_true(strstr(lv_error_message(), "--device cuda:") != NULL, "refusal names --device cuda");
    printf("  refusal: %s\n", lv_error_message());
}

int main(void) {
    if (lv_cuda_device_count() == 0) {
        check_refusal();
        if (lv_test_summary() != 0) return 1;
        return lv_test_skip("no CUDA device (or no driver, or a build without CUDA)");
    }

    lv_backend *be = NULL;
    if (lv_cuda_backend_create(&be, 0) != LV_OK) {
        lv_test_fail("lv_cuda_backend_create: %s", lv_error_message());
        return lv_test_summary();
    }
    lv_test_true(be->kind == LV_DEVICE_CUDA && strcmp(be->name, "cuda") == 0, "backend is cuda");

    lv_backend *none = NULL;
    lv_test_true(lv_cuda_backend_create(&none, 1 << 20) == LV_ERR_INPUT && none == NULL,
                 "an absent device index is an input error");

    /* Odd size: no multiple of any vector width, so tails are exercised. */
    const size_t n = (1u << 20) + 3, bytes = n * sizeof(float);
    float *host = malloc(bytes), *back = malloc(bytes);
    float *d1 = be->alloc(be, bytes), *d2 = be->alloc(be, bytes);
    if (!host || !back || !d1 || !d2) {
        lv_test_fail("allocation failed: %s", lv_error_message());
        return lv_test_summary();
    }
    lv_test_fill_uniform(host, n, 1234, -1.0f, 1.0f);

    for (size_t i = 0; i < n; i++) back[i] = 1.0f;
    be->copy_d2h(be, back, d1, bytes);
    lv_test_true(all_zero(back, n), "alloc returns zeroed memory");

    be->copy_h2d(be, d1, host, bytes);
    be->copy_d2d(be, d2, d1, bytes);
    memset(back, 0xff, bytes); /* NaN pattern: a copy that did not happen cannot match */
    be->copy_d2h(be, back, d2, bytes);
    /* No sync before reading: copy_d2h must be complete when it returns. */
    lv_test_true(memcmp(back, host, bytes) == 0, "h2d -> d2d -> d2h round trip is exact");

    /* Zero all but the first and last element: offsets and length are honoured. */
    be->memset0(be, d2 + 1, (n - 2) * sizeof(float));
    be->copy_d2h(be, back, d2, bytes);
    lv_test_true(back[0] == host[0] && back[n - 1] == host[n - 1] && all_zero(back + 1, n - 2),
                 "memset0 zeroes exactly the range asked");

    void *empty = be->alloc(be, 0);
    lv_test_true(empty != NULL, "a zero-byte alloc is a real pointer");
    be->copy_h2d(be, d1, host, 0);
    be->free(be, empty);
    lv_status s = be->sync(be);
    lv_test_true(s == LV_OK, "sync after plain copies is OK");
    if (s != LV_OK) printf("  sync: %s\n", lv_error_message());

    /* A missing op (a NULL table entry) is the sticky error sync returns, and a second
     * missing op does not replace the first. */
    lv_ops saved = be->ops;
    be->ops.relu_forward = NULL;
    be->ops.scale = NULL;
    lv_relu_forward(be, d1, d1, n);
    lv_scale(be, d1, 2.0f, n);
    be->ops = saved;
    s = be->sync(be);
    const char *msg = lv_error_message();
    printf("  sticky: %s\n", msg);
    lv_test_true(s == LV_ERR_RUNTIME, "sync returns the missing op as a runtime error");
    lv_test_true(strstr(msg, "relu_forward") != NULL && strstr(msg, "not implemented") != NULL,
                 "the message names the first missing op");
    lv_test_true(strstr(msg, "scale") == NULL, "a later error does not replace the first");
    lv_test_true(be->sync(be) == LV_OK, "sync clears the sticky error");

    be->free(be, d1);
    be->free(be, d2);
    lv_test_true(be->sync(be) == LV_OK, "frees are clean");
    lv_backend_destroy(be);
    free(host);
    free(back);
    return lv_test_summary();
}
