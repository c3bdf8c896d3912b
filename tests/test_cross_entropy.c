/* cross_entropy (linear-head loss): finite differences, PyTorch fixture (loss, softmax,
 * gradient), accumulate/NULL conventions and bad labels. */
#include <stdlib.h>
#include <string.h>

#include "harness.h"

typedef struct ctx {
    lv_backend *be;
    float *logits;
    int *labels;
    int b, c;
} ctx;

static double loss_of(void *p) {
    ctx *x = p;
    float l = 0;
    lv_cross_entropy(x->be, &l, NULL, NULL, x->logits, x->labels, x->b, x->c);
    return l;
}

int main(void) {
    lv_backend *be = lv_test_cpu_backend();
    /* Finite differences: the loss is smooth; a step of 1e-2 on logits of size ~1 gives
     * truncation error ~1e-5 relative, far under the 1e-2 tolerance yet a sign error fails. */
    enum { B = 6, C = 4 };
    float logits[B * C], d[B * C] = {0};
    int labels[B] = {0, 3, 1, 2, 3, 0};
    lv_test_fill_uniform(logits, B * C, 5, -2.0f, 2.0f);
    float l = 0;
    lv_cross_entropy(be, &l, d, NULL, logits, labels, B, C);
    ctx x = {be, logits, labels, B, C};
    lv_test_gradcheck("dlogits", logits, d, B * C, loss_of, &x, 1e-2f, 1e-2, 100);
    float d2[B * C];
    memcpy(d2, d, sizeof d);
    lv_cross_entropy(be, NULL, d, NULL, logits, labels, B, C);
    int doubled = 1;
    for (int i = 0; i < B * C; i++) doubled &= d[i] == 2 * d2[i];
    lv_test_true(doubled, "gradient adds into dlogits");

    lv_st_file *fx = lv_test_fixture_open("cross_entropy");
    size_t n = 0;
    float *z = lv_test_fixture_f32(fx, "logits", &n), *wl = lv_test_fixture_f32(fx, "loss", NULL);
    float *wp = lv_test_fixture_f32(fx, "probs", NULL), *wd = lv_test_fixture_f32(fx, "dlogits", NULL);
    size_t nb = 0;
    int *y = lv_test_fixture_i32(fx, "labels", &nb);
    if (z && y && wl && wp && wd) {
        int c = (int)(n / nb);
        float *p = malloc(n * sizeof *p), *g = calloc(n, sizeof *g), got = 0;
        lv_cross_entropy(be, &got, g, p, z, y, (int)nb, c);
        lv_test_close("loss vs torch", &got, wl, 1, 1e-6);
        lv_test_close("softmax vs torch", p, wp, n, 1e-6);
        lv_test_close("dlogits vs torch", g, wd, n, 1e-6);
        free(p), free(g);
    }
    free(z), free(wl), free(wp), free(wd), free(y);
    lv_st_close(fx);
    lv_test_true(be->sync(be) == LV_OK, "no backend error so far");
    int bad[B] = {0, 4, 1, 2, 3, 0};
    lv_cross_entropy(be, &l, d, NULL, logits, bad, B, C);
    lv_test_true(be->sync(be) == LV_ERR_INPUT && strstr(lv_error_message(), "label 4 at row 1"),
                 "out-of-range label is a sticky error naming row and value");
    lv_backend_destroy(be);
    return lv_test_summary();
}
