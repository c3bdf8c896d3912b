/* CUDA-vs-CPU twin checks for tests/test_cuda_*.c: open both backends (or SKIP), move
 * host arrays to the device under test and compare its results with the CPU twin's.
 * LV_TEST_TWIN_CPU=1 runs the "device" side on a second CPU backend: it checks the test's
 * own plumbing on a machine without a GPU and then exits 77 (SKIP), never PASS. */
#ifndef LV_TEST_TWIN_H
#define LV_TEST_TWIN_H

#include <stddef.h>

#include "core/backend.h"

/* 0: *cpu and *dev are ready (fp32: dev->tf32 = 0). 77: no CUDA device; the caller returns
 * lv_test_skip's value at once (twin_open has already printed why). 1: creation failed. */
int lv_twin_open(lv_backend **cpu, lv_backend **dev);
/* Returns the test's exit code: the summary, turned into 77 under LV_TEST_TWIN_CPU=1 when
 * everything agreed (a CPU-vs-CPU run proves nothing about CUDA). Destroys both backends. */
int lv_twin_close(lv_backend *cpu, lv_backend *dev);

/* Device copies of host arrays (NULL host: zeroed). Free with be->free. */
float *lv_twin_up(lv_backend *be, const float *host, size_t n);
int *lv_twin_up_int(lv_backend *be, const int *host, size_t n);

/* Downloads dev[0..n) from `be` and compares it with want[0..n) (host) under lv_test_close's
 * relative error; also fails when be's sticky error is set (reported with its message).
 * Returns the relative error. */
double lv_twin_expect(lv_backend *be, const char *what, const float *dev, const float *want, size_t n,
                      double rtol);

/* Syncs be and fails the test (naming `what`) on a sticky error. Returns 0 on success. */
int lv_twin_sync(lv_backend *be, const char *what);

#endif
