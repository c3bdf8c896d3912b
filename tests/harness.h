/* Test harness: scale-independent comparisons, finite-difference gradient checks with a
 * double-precision loss, PyTorch fixture loading, and a summary whose exit code is the
 * verdict (0 pass, 1 fail, 77 skip) so a failing check can never print "not ok" and pass. */
#ifndef LV_TEST_HARNESS_H
#define LV_TEST_HARNESS_H

#include <stddef.h>
#include <stdint.h>

#include "core/backend.h"
#include "core/safetensors.h"

#define LV_TEST_SKIP_CODE 77

/* Records a failure (printf message) for the summary. */
void lv_test_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Records a passing named check (so the log shows what ran). */
void lv_test_pass(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Fails unless cond; returns cond. */
int lv_test_true(int cond, const char *what);
/* Prints the tally and returns the process exit code. Call as `return lv_test_summary();` */
int lv_test_summary(void);
/* Prints why and returns 77; call as `return lv_test_skip("no CUDA device");` */
int lv_test_skip(const char *why);

/* max|got-want| / max(max|want|, 1e-30) <= rtol, else a failure naming `what` and the
 * worst index. Returns the error. */
double lv_test_close(const char *what, const float *got, const float *want, size_t n, double rtol);

/* Deterministic test inputs: uniform in [lo, hi) from (seed, i). */
void lv_test_fill_uniform(float *x, size_t n, uint64_t seed, float lo, float hi);

/* Finite-difference gradient check. `loss` recomputes a double-precision scalar from the
 * current contents of x (typically sum_i r_i * out_i over the op's output). Checks up to
 * `max_checks` elements of x spread over its range with central differences of step eps,
 * against analytic[] (the gradient of the same loss). Error is
 * |fd - an| / max(|fd|, |an|, floor) with floor = 1e-3 * max|analytic|. */
typedef double (*lv_test_loss_fn)(void *ctx);
double lv_test_gradcheck(const char *what, float *x, const float *analytic, size_t n,
                         lv_test_loss_fn loss, void *ctx, float eps, double tol, int max_checks);

/* A CPU backend for tests (aborts the test with a failure if it cannot be made). */
lv_backend *lv_test_cpu_backend(void);

/* Fixtures: tests/fixtures/<name>.safetensors written by tests/make_fixtures.py. */
lv_st_file *lv_test_fixture_open(const char *name);
/* Returns a malloc'd float copy of fixture tensor `key` (any float dtype), and its element
 * count in *n (may be NULL); a missing key is a test failure and returns NULL. */
float *lv_test_fixture_f32(lv_st_file *f, const char *key, size_t *n);
/* Same for integer tensors (I64/I32 converted to int). */
int *lv_test_fixture_i32(lv_st_file *f, const char *key, size_t *n);

/* Two safetensors files (checkpoints of two runs) hold the same tensors with the same bytes:
 * every tensor of a, by name, in b, and as many of them. Fails the test naming the first
 * tensor that differs (or the file that does not open); returns 1 when they agree. With a
 * name: only that tensor. */
int lv_test_same_tensors(const char *a, const char *b);
int lv_test_same_tensor(const char *a, const char *b, const char *name);

#endif
