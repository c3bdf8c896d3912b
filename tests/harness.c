/* Implementation of the test harness (see harness.h). Tests are single-threaded programs,
 * so the tallies are plain globals. */
#include "harness.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"

static int n_pass, n_fail;

void lv_test_fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "FAIL: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    n_fail++;
}

void lv_test_pass(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    printf("ok: ");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    n_pass++;
}

int lv_test_true(int cond, const char *what) {
    if (cond) lv_test_pass("%s", what);
    else lv_test_fail("%s", what);
    return cond;
}

int lv_test_summary(void) {
    printf("%d checks passed, %d failed\n", n_pass, n_fail);
    if (n_fail) return 1;
    if (n_pass == 0) {
        fprintf(stderr, "FAIL: the test made no checks\n");
        return 1;
    }
    return 0;
}

int lv_test_skip(const char *why) {
    printf("SKIP: %s\n", why);
    return LV_TEST_SKIP_CODE;
}

double lv_test_close(const char *what, const float *got, const float *want, size_t n, double rtol) {
    double maxref = 0, maxerr = 0;
    size_t worst = 0;
    int nonfinite = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(got[i]) || !isfinite(want[i])) nonfinite = 1;
        double r = fabs((double)want[i]);
        if (r > maxref) maxref = r;
    }
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)got[i] - (double)want[i]);
        if (e > maxerr) {
            maxerr = e;
            worst = i;
        }
    }
    double rel = maxerr / (maxref > 1e-30 ? maxref : 1e-30);
    if (nonfinite || !(rel <= rtol))
        lv_test_fail("%s: rel err %.3g > %.1g (worst [%zu] got %.9g want %.9g)%s", what, rel, rtol,
                     worst, n ? got[worst] : 0.0, n ? want[worst] : 0.0,
                     nonfinite ? " non-finite values" : "");
    else
        lv_test_pass("%s: rel err %.3g (n=%zu)", what, rel, n);
    return rel;
}

void lv_test_fill_uniform(float *x, size_t n, uint64_t seed, float lo, float hi) {
    for (size_t i = 0; i < n; i++) x[i] = lo + (hi - lo) * lv_rng_uniform(seed, 0, i);
}

double lv_test_gradcheck(const char *what, float *x, const float *analytic, size_t n,
                         lv_test_loss_fn loss, void *ctx, float eps, double tol, int max_checks) {
    double maxan = 0;
    for (size_t i = 0; i < n; i++)
        if (fabs(analytic[i]) > maxan) maxan = fabs(analytic[i]);
    double floor = 1e-3 * maxan + 1e-12;
    size_t stride = n > (size_t)max_checks ? n / (size_t)max_checks : 1;
    double worst = 0;
    size_t worst_i = 0;
    double worst_fd = 0;
    for (size_t i = 0; i < n; i += stride) {
        float saved = x[i];
        x[i] = saved + eps;
        double lp = loss(ctx);
        x[i] = saved - eps;
        double lm = loss(ctx);
        x[i] = saved;
        /* The step actually taken in float, not the nominal eps. */
        double h = (double)(saved + eps) - (double)(saved - eps);
        double fd = (lp - lm) / h;
        double an = analytic[i];
        double den = fmax(fmax(fabs(fd), fabs(an)), floor);
        double e = fabs(fd - an) / den;
        if (e > worst) {
            worst = e;
            worst_i = i;
            worst_fd = fd;
        }
    }
    if (!(worst <= tol))
        lv_test_fail("%s gradcheck: rel err %.3g > %.1g at [%zu] fd %.9g analytic %.9g", what, worst,
                     tol, worst_i, worst_fd, analytic[worst_i]);
    else
        lv_test_pass("%s gradcheck: rel err %.3g", what, worst);
    return worst;
}

lv_backend *lv_test_cpu_backend(void) {
    lv_backend *be = NULL;
    if (lv_cpu_backend_create(&be, 2) != LV_OK) {
        lv_test_fail("cpu backend: %s", lv_error_message());
        exit(lv_test_summary());
    }
    return be;
}

lv_st_file *lv_test_fixture_open(const char *name) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s.safetensors", LV_FIXTURE_DIR, name);
    lv_st_file *f = NULL;
    if (lv_st_open(&f, path) != LV_OK) {
        lv_test_fail("fixture %s: %s", name, lv_error_message());
        return NULL;
    }
    return f;
}

static const lv_st_tensor *fixture_tensor(lv_st_file *f, const char *key, size_t *n) {
    if (!f) return NULL;
    const lv_st_tensor *t = lv_st_find(f, key);
    if (!t) {
        lv_test_fail("fixture %s: no tensor '%s'", lv_st_path(f), key);
        return NULL;
    }
    size_t count = 1;
    for (int d = 0; d < t->ndim; d++) count *= (size_t)t->shape[d];
    if (n) *n = count;
    return t;
}

float *lv_test_fixture_f32(lv_st_file *f, const char *key, size_t *n) {
    size_t count = 0;
    const lv_st_tensor *t = fixture_tensor(f, key, &count);
    if (!t) return NULL;
    float *out = malloc((count ? count : 1) * sizeof *out);
    if (lv_st_read_f32(f, key, out, t->ndim, t->shape) != LV_OK) {
        lv_test_fail("fixture %s: %s", key, lv_error_message());
        free(out);
        return NULL;
    }
    if (n) *n = count;
    return out;
}

int *lv_test_fixture_i32(lv_st_file *f, const char *key, size_t *n) {
    size_t count = 0;
    const lv_st_tensor *t = fixture_tensor(f, key, &count);
    if (!t) return NULL;
    int *out = malloc((count ? count : 1) * sizeof *out);
    const unsigned char *p = lv_st_data(f, t);
    for (size_t i = 0; i < count; i++) {
        if (t->dtype == LV_DT_I64) {
            int64_t v;
            memcpy(&v, p + 8 * i, 8);
            out[i] = (int)v;
        } else if (t->dtype == LV_DT_I32) {
            int32_t v;
            memcpy(&v, p + 4 * i, 4);
            out[i] = v;
        } else {
            lv_test_fail("fixture %s: '%s' is %s, expected I64 or I32", lv_st_path(f), key,
                         lv_dtype_name(t->dtype));
            free(out);
            return NULL;
        }
    }
    if (n) *n = count;
    return out;
}

static int same_in(const char *a, const char *b, const char *only) {
    lv_st_file *fa = NULL, *fb = NULL;
    if (lv_st_open(&fa, a) != LV_OK || lv_st_open(&fb, b) != LV_OK) {
        lv_test_fail("open %s / %s: %s", a, b, lv_error_message());
        lv_st_close(fa);
        return 0;
    }
    int same = only ? 1 : lv_st_count(fa) == lv_st_count(fb) && lv_st_count(fa) > 0;
    if (!same) lv_test_fail("%s holds %d tensors, %s %d", a, lv_st_count(fa), b, lv_st_count(fb));
    for (int i = 0; same && i < lv_st_count(fa); i++) {
        const lv_st_tensor *ta = lv_st_at(fa, i);
        if (only && strcmp(ta->name, only) != 0) continue;
        const lv_st_tensor *tb = lv_st_find(fb, ta->name);
        same = tb && ta->end - ta->begin == tb->end - tb->begin &&
               memcmp(lv_st_data(fa, ta), lv_st_data(fb, tb), ta->end - ta->begin) == 0;
        if (!same) lv_test_fail("tensor %s differs between %s and %s", ta->name, a, b);
    }
    if (same && only && !lv_st_find(fa, only)) {
        lv_test_fail("%s has no tensor %s", a, only);
        same = 0;
    }
    lv_st_close(fa);
    lv_st_close(fb);
    return same;
}

int lv_test_same_tensors(const char *a, const char *b) { return same_in(a, b, NULL); }
int lv_test_same_tensor(const char *a, const char *b, const char *name) { return same_in(a, b, name); }
