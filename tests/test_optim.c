/* Optimizers: AdamW and SGD (momentum, dampening, Nesterov, weight decay) step by step
 * against torch.optim trajectories with stored gradients (fixtures/adamw, fixtures/sgd),
 * the OpenMP path against the serial one, and bad hyper-parameters reported as errors.
 * LV_TEST_SANITIZE */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

/* Goal 1e-6 (the requirement is 1e-5): the C code mirrors torch's operation order, so only
 * FMA contraction inside torch's vector kernels separates the two (an ulp per step). */
#define TRAJ_TOL 1e-6

static const lv_st_tensor *shape2(lv_st_file *f, const char *key, int *rows, int *cols) {
    const lv_st_tensor *t = lv_st_find(f, key);
    if (!t || t->ndim != 2) {
        lv_test_fail("fixture: '%s' missing or not 2-D", key);
        return NULL;
    }
    *rows = (int)t->shape[0];
    *cols = (int)t->shape[1];
    return t;
}

static void adamw_case(lv_backend *be, lv_st_file *f, const char *name) {
    char key[64];
    int steps = 0, n = 0;
    snprintf(key, sizeof key, "%s.grads", name);
    if (!shape2(f, key, &steps, &n)) return;
#define GETF(k) (snprintf(key, sizeof key, "%s." k, name), lv_test_fixture_f32(f, key, NULL))
    float *hp = GETF("hparams"), *p0 = GETF("param0"), *gs = GETF("grads");
    float *ps = GETF("params"), *ms = GETF("m"), *vs = GETF("v");
#undef GETF
    if (hp && p0 && gs && ps && ms && vs) {
        float *p = malloc(n * sizeof *p), *m = calloc(n, sizeof *m), *v = calloc(n, sizeof *v);
        memcpy(p, p0, n * sizeof *p);
        lv_adamw_hparams h = {.lr = hp[0], .beta1 = hp[1], .beta2 = hp[2], .eps = hp[3],
                              .weight_decay = hp[4]};
        double worst_p = 0, worst_m = 0, worst_v = 0;
        char what[96];
        for (int k = 0; k < steps; k++) {
            h.step = k + 1;
            lv_adamw_update(be, p, gs + (size_t)k * n, m, v, (size_t)n, &h);
            snprintf(what, sizeof what, "adamw %s step %d param", name, k + 1);
            worst_p = fmax(worst_p, lv_test_close(what, p, ps + (size_t)k * n, n, TRAJ_TOL));
            snprintf(what, sizeof what, "adamw %s step %d exp_avg", name, k + 1);
            worst_m = fmax(worst_m, lv_test_close(what, m, ms + (size_t)k * n, n, TRAJ_TOL));
            snprintf(what, sizeof what, "adamw %s step %d exp_avg_sq", name, k + 1);
            worst_v = fmax(worst_v, lv_test_close(what, v, vs + (size_t)k * n, n, TRAJ_TOL));
        }
        lv_test_true(be->sync(be) == LV_OK, "adamw fixture steps leave no error");
        printf("  adamw %s: worst rel err param %.3g, m %.3g, v %.3g over %d steps\n", name,
               worst_p, worst_m, worst_v, steps);
        free(p); free(m); free(v);
    }
    free(hp); free(p0); free(gs); free(ps); free(ms); free(vs);
}

static void sgd_case(lv_backend *be, lv_st_file *f, const char *name) {
    char key[64];
    int steps = 0, n = 0;
    snprintf(key, sizeof key, "%s.grads", name);
    if (!shape2(f, key, &steps, &n)) return;
#define GETF(k) (snprintf(key, sizeof key, "%s." k, name), lv_test_fixture_f32(f, key, NULL))
    float *hp = GETF("hparams"), *p0 = GETF("param0"), *gs = GETF("grads");
    float *ps = GETF("params"), *bufs = GETF("momentum");
#undef GETF
    if (hp && p0 && gs && ps && bufs) {
        float *p = malloc(n * sizeof *p), *buf = NULL;
        memcpy(p, p0, n * sizeof *p);
        lv_sgd_hparams h = {.lr = hp[0], .momentum = hp[1], .dampening = hp[2],
                            .weight_decay = hp[3], .nesterov = hp[4] != 0.0f};
        /* No momentum: no buffer at all (NULL must be accepted). */
        if (h.momentum != 0.0f) buf = calloc(n, sizeof *buf);
        double worst = 0;
        char what[96];
        for (int k = 0; k < steps; k++) {
            h.first_step = k == 0;
            lv_sgd_update(be, p, gs + (size_t)k * n, buf, (size_t)n, &h);
            snprintf(what, sizeof what, "sgd %s step %d param", name, k + 1);
            worst = fmax(worst, lv_test_close(what, p, ps + (size_t)k * n, n, TRAJ_TOL));
            if (buf) {
                snprintf(what, sizeof what, "sgd %s step %d momentum_buffer", name, k + 1);
                worst = fmax(worst, lv_test_close(what, buf, bufs + (size_t)k * n, n, TRAJ_TOL));
            }
        }
        lv_test_true(be->sync(be) == LV_OK, "sgd fixture steps leave no error");
        printf("  sgd %s: worst rel err %.3g over %d steps\n", name, worst, steps);
        free(p); free(buf);
    }
    free(hp); free(p0); free(gs); free(ps); free(bufs);
}

/* Elementwise updates must not depend on the OpenMP split: one big call equals the same
 * range updated in small (serial) pieces, bit for bit. */
static void check_parallel(lv_backend *be) {
    size_t n = (size_t)1 << 17, piece = 1000;
    float *g = malloc(n * sizeof *g), *pa = malloc(n * sizeof *pa), *pb = malloc(n * sizeof *pb);
    float *ma = calloc(n, sizeof *ma), *mb = calloc(n, sizeof *mb);
    float *va = calloc(n, sizeof *va), *vb = calloc(n, sizeof *vb);
    lv_test_fill_uniform(g, n, 81, -1.0f, 1.0f);
    lv_test_fill_uniform(pa, n, 82, -1.0f, 1.0f);
    memcpy(pb, pa, n * sizeof *pa);
    lv_adamw_hparams h = {.lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f,
                          .weight_decay = 0.05f};
    for (int s = 1; s <= 2; s++) {
        h.step = s;
        lv_adamw_update(be, pa, g, ma, va, n, &h);
        for (size_t o = 0; o < n; o += piece)
            lv_adamw_update(be, pb + o, g + o, mb + o, vb + o, o + piece < n ? piece : n - o, &h);
    }
    lv_test_close("adamw OpenMP == serial pieces (param)", pa, pb, n, 0.0);
    lv_test_close("adamw OpenMP == serial pieces (v)", va, vb, n, 0.0);
    lv_sgd_hparams sh = {.lr = 0.1f, .momentum = 0.9f, .dampening = 0.1f, .weight_decay = 1e-4f,
                         .nesterov = 0};
    for (int s = 0; s < 2; s++) {
        sh.first_step = s == 0;
        lv_sgd_update(be, pa, g, ma, n, &sh);
        for (size_t o = 0; o < n; o += piece)
            lv_sgd_update(be, pb + o, g + o, mb + o, o + piece < n ? piece : n - o, &sh);
    }
    lv_test_close("sgd OpenMP == serial pieces (param)", pa, pb, n, 0.0);
    lv_test_close("sgd OpenMP == serial pieces (momentum)", ma, mb, n, 0.0);
    lv_test_true(be->sync(be) == LV_OK, "parallel optimizer steps leave no error");
    free(g); free(pa); free(pb); free(ma); free(mb); free(va); free(vb);
}

static void check_errors(lv_backend *be) {
    float p[4] = {1, 2, 3, 4}, g[4] = {1, 1, 1, 1}, m[4] = {0}, v[4] = {0};
    lv_adamw_hparams h = {.lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .step = 0};
    lv_adamw_update(be, p, g, m, v, 4, &h);
    lv_status s = be->sync(be);
    lv_test_true(s == LV_ERR_INPUT && strstr(lv_error_message(), "step 0") && p[0] == 1.0f,
                 "adamw step 0 is an input error and changes nothing");
    lv_sgd_hparams sh = {.lr = 0.1f, .momentum = 0.9f, .first_step = 1};
    lv_sgd_update(be, p, g, NULL, 4, &sh);
    s = be->sync(be);
    lv_test_true(s != LV_OK && strstr(lv_error_message(), "momentum buffer") && p[0] == 1.0f,
                 "sgd with momentum but no buffer is an error and changes nothing");
    lv_adamw_update(be, NULL, NULL, NULL, NULL, 0, &(lv_adamw_hparams){.lr = 1, .step = 1});
    lv_test_true(be->sync(be) == LV_OK, "optimizers accept an empty range");
}

int main(void) {
    lv_backend *be = lv_test_cpu_backend();
    lv_st_file *f = lv_test_fixture_open("adamw");
    if (f) {
        adamw_case(be, f, "default");
        adamw_case(be, f, "strong");
        lv_st_close(f);
    }
    f = lv_test_fixture_open("sgd");
    if (f) {
        sgd_case(be, f, "momentum");
        sgd_case(be, f, "nesterov");
        sgd_case(be, f, "dampening");
        sgd_case(be, f, "plain");
        lv_st_close(f);
    }
    check_parallel(be);
    check_errors(be);
    lv_backend_destroy(be);
    return lv_test_summary();
}
