/* cosine_ce (the Liver-VLM head): finite differences for dimg, dcls and dlogit_scale on both
 * sides of the exp(scale) <= 100 clamp, the accumulate/NULL/overwrite conventions of
 * core/ops.h, bad labels reported (not crashed on), and torch's float32 answers
 * (fixtures/cosine_ce.safetensors). LV_TEST_SANITIZE */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

/* Small B: the per-row gradient scales as 1/B while the float loss's rounding does not. */
enum { B = 3, C = 4, D = 8 };

typedef struct fd_ctx {
    lv_backend *be;
    float *img, *cls, *ls;
    int *labels;
} fd_ctx;

/* The op's own float loss is the FD objective (the op has one scalar output). */
static double fd_loss(void *p) {
    fd_ctx *c = p;
    float loss = 0.0f;
    lv_cosine_ce(c->be, &loss, NULL, NULL, NULL, NULL, c->img, c->cls, c->ls, c->labels, B, C, D);
    return loss;
}

/* Rows rescaled to a fixed norm, so the FD step relative to |x| is known. */
static void set_row_norms(float *x, int rows, float norm) {
    for (int r = 0; r < rows; r++) {
        double ss = 0;
        for (int t = 0; t < D; t++) ss += (double)x[r * D + t] * x[r * D + t];
        for (int t = 0; t < D; t++) x[r * D + t] = (float)(x[r * D + t] * norm / sqrt(ss));
    }
}

static void check_fd(lv_backend *be, float ls0, const char *tag) {
    float img[B * D], cls[C * D], ls = ls0, dimg[B * D] = {0}, dcls[C * D] = {0}, dscale = 0;
    int labels[B] = {0, 3, 1};
    lv_test_fill_uniform(img, B * D, 21, -1.0f, 1.0f);
    lv_test_fill_uniform(cls, C * D, 22, -1.0f, 1.0f);
    set_row_norms(img, B, 2.0f);
    set_row_norms(cls, C, 3.0f); /* different norms: a swapped norm cannot pass */
    float loss = 0;
    lv_cosine_ce(be, &loss, NULL, dimg, dcls, &dscale, img, cls, &ls, labels, B, C, D);
    lv_test_true(be->sync(be) == LV_OK && isfinite(loss), "cosine_ce forward+backward runs");
    fd_ctx c = {be, img, cls, &ls, labels};
    char what[96];
    /* Step sizes: a step h relative to |x| moves a logit by about s*h; with eps = 0.1 |x| / s
     * the central difference's truncation error stays ~3e-3 relative. The loss is a float
     * (ulp ~2e-7), so rounding adds up to ulp/(2 eps) absolute, ~7e-3 of the harness floor
     * (1e-3 * max|grad|) at worst for B = 3. Measured: <= 3e-3 on these inputs (and < 2e-2
     * over six seeds), so tol 2e-2; a wrong term (a missing projection, a sign, a factor s or
     * |x|) is an O(1) error at the large entries. */
    float s = fminf(expf(ls0), 100.0f);
    snprintf(what, sizeof what, "cosine_ce dimg (%s)", tag);
    lv_test_gradcheck(what, img, dimg, B * D, fd_loss, &c, 0.1f * 2.0f / s, 2e-2, B * D);
    snprintf(what, sizeof what, "cosine_ce dcls (%s)", tag);
    lv_test_gradcheck(what, cls, dcls, C * D, fd_loss, &c, 0.1f * 3.0f / s, 2e-2, C * D);
    /* Scale: the loss is smooth in ls; eps 1e-3 keeps truncation and rounding < 1e-3. In the
     * clamped case both sides of the step stay above ln(100), so FD is exactly 0 too. */
    snprintf(what, sizeof what, "cosine_ce dscale (%s)", tag);
    lv_test_gradcheck(what, &ls, &dscale, 1, fd_loss, &c, 1e-3f, 1e-3, 1);
    if (ls0 > logf(100.0f)) lv_test_true(dscale == 0.0f, "cosine_ce: clamped scale gets exactly 0");
    else lv_test_true(fabsf(dscale) > 1e-3f, "cosine_ce: live scale gets a gradient");
}

static void check_conventions(lv_backend *be) {
    float img[B * D], cls[C * D], ls = 2.0f;
    int labels[B] = {1, 0, 3};
    lv_test_fill_uniform(img, B * D, 31, -1.0f, 1.0f);
    lv_test_fill_uniform(cls, C * D, 32, -1.0f, 1.0f);
    float loss = 0, logits[B * C], dimg[B * D] = {0}, dcls[C * D] = {0}, dscale = 0;
    lv_cosine_ce(be, &loss, logits, dimg, dcls, &dscale, img, cls, &ls, labels, B, C, D);

    /* Gradients ADD; loss and logits are overwritten. */
    float loss2 = 123.0f, logits2[B * C], dimg2[B * D], dcls2[C * D], dscale2 = 0.25f;
    for (int i = 0; i < B * C; i++) logits2[i] = 7.0f;
    for (int i = 0; i < B * D; i++) dimg2[i] = 0.25f;
    for (int i = 0; i < C * D; i++) dcls2[i] = 0.25f;
    lv_cosine_ce(be, &loss2, logits2, dimg2, dcls2, &dscale2, img, cls, &ls, labels, B, C, D);
    float want_img[B * D], want_cls[C * D], want_scale = dscale + 0.25f;
    for (int i = 0; i < B * D; i++) want_img[i] = dimg[i] + 0.25f;
    for (int i = 0; i < C * D; i++) want_cls[i] = dcls[i] + 0.25f;
    lv_test_close("cosine_ce dimg accumulates", dimg2, want_img, B * D, 1e-7);
    lv_test_close("cosine_ce dcls accumulates", dcls2, want_cls, C * D, 1e-7);
    lv_test_close("cosine_ce dscale accumulates", &dscale2, &want_scale, 1, 1e-7);
    lv_test_close("cosine_ce loss overwritten", &loss2, &loss, 1, 0.0);
    lv_test_close("cosine_ce logits overwritten", logits2, logits, B * C, 0.0);

    /* Eval call: no gradients, no logits; and gradients one at a time, others NULL. */
    float loss3 = -1.0f;
    lv_cosine_ce(be, &loss3, NULL, NULL, NULL, NULL, img, cls, &ls, labels, B, C, D);
    lv_test_close("cosine_ce loss without gradients", &loss3, &loss, 1, 0.0);
    float only[B * D] = {0};
    lv_cosine_ce(be, NULL, NULL, only, NULL, NULL, img, cls, &ls, labels, B, C, D);
    lv_test_close("cosine_ce dimg alone (others NULL)", only, dimg, B * D, 0.0);
    float onlyc[C * D] = {0};
    lv_cosine_ce(be, NULL, NULL, NULL, onlyc, NULL, img, cls, &ls, labels, B, C, D);
    lv_test_close("cosine_ce dcls alone (others NULL)", onlyc, dcls, C * D, 0.0);
    float logits3[B * C];
    lv_cosine_ce(be, NULL, logits3, NULL, NULL, NULL, img, cls, &ls, NULL, B, C, D);
    lv_test_close("cosine_ce logits without labels (inference)", logits3, logits, B * C, 0.0);
    lv_test_true(be->sync(be) == LV_OK, "cosine_ce convention calls leave no error");

    /* Rows of equal magnitude give each logit s * cos exactly: row 0 = class 2 => logit s. */
    float same[B * D];
    memcpy(same, img, sizeof same);
    memcpy(same, cls + 2 * D, D * sizeof *same);
    float big = 6.0f, lg[B * C], lbig = 0;
    lv_cosine_ce(be, &lbig, lg, NULL, NULL, NULL, same, cls, &big, labels, B, C, D);
    lv_test_true(fabsf(lg[2] - 100.0f) < 1e-4f && isfinite(lbig),
                 "cosine_ce: identical vectors at the clamp give logit 100 and a finite loss");
}

static void check_bad_labels(lv_backend *be) {
    float img[B * D], cls[C * D], ls = 2.0f;
    lv_test_fill_uniform(img, B * D, 41, -1.0f, 1.0f);
    lv_test_fill_uniform(cls, C * D, 42, -1.0f, 1.0f);
    int bad[2][B] = {{0, 1, C}, {0, 1, -1}};
    const char *want[2] = {"label 4 at row 2 outside [0,4)", "label -1 at row 2 outside [0,4)"};
    for (int k = 0; k < 2; k++) {
        float loss = 5.0f, dimg[B * D] = {0}, dscale = 0;
        lv_cosine_ce(be, &loss, NULL, dimg, NULL, &dscale, img, cls, &ls, bad[k], B, C, D);
        lv_status s = be->sync(be);
        int untouched = loss == 5.0f && dscale == 0.0f;
        for (int i = 0; i < B * D; i++) untouched &= dimg[i] == 0.0f;
        char what[128];
        snprintf(what, sizeof what, "cosine_ce: %s is an input error, outputs untouched", want[k]);
        lv_test_true(s == LV_ERR_INPUT && strstr(lv_error_message(), want[k]) && untouched, what);
        if (s != LV_OK) printf("  (message: %s)\n", lv_error_message());
    }
    lv_test_true(be->sync(be) == LV_OK, "cosine_ce: the error was cleared by sync");
}

static void check_fixture(lv_backend *be, lv_st_file *f, const char *name) {
    char key[64];
#define GETF(var, k) (snprintf(key, sizeof key, "%s." k, name), var = lv_test_fixture_f32(f, key, &n))
    size_t n = 0, nimg = 0, ncls = 0, nlog = 0;
    float *img, *cls, *ls, *loss, *logits, *dimg, *dcls, *dscale;
    GETF(img, "img"); nimg = n;
    GETF(cls, "cls"); ncls = n;
    GETF(ls, "logit_scale");
    GETF(loss, "loss");
    GETF(logits, "logits"); nlog = n;
    GETF(dimg, "dimg");
    GETF(dcls, "dcls");
    GETF(dscale, "dscale");
#undef GETF
    snprintf(key, sizeof key, "%s.labels", name);
    size_t nb = 0;
    int *labels = lv_test_fixture_i32(f, key, &nb);
    if (img && cls && ls && loss && logits && dimg && dcls && dscale && labels) {
        int b = (int)nb, c = (int)(nlog / nb), d = (int)(nimg / nb);
        lv_test_true((size_t)c * d == ncls, "cosine_ce fixture shapes agree");
        float *g_logits = malloc(nlog * sizeof(float));
        float *g_dimg = calloc(nimg, sizeof(float)), *g_dcls = calloc(ncls, sizeof(float));
        float g_loss = 0, g_dscale = 0;
        lv_cosine_ce(be, &g_loss, g_logits, g_dimg, g_dcls, &g_dscale, img, cls, ls, labels, b, c, d);
        lv_test_true(be->sync(be) == LV_OK, "cosine_ce fixture call succeeds");
        char what[96];
#define CMP(got, want, cnt, label)                                                               \
    (snprintf(what, sizeof what, "cosine_ce vs torch %s: %s", name, label),                       \
     lv_test_close(what, got, want, cnt, 1e-5))
        CMP(&g_loss, loss, 1, "loss");
        CMP(g_logits, logits, nlog, "logits");
        CMP(g_dimg, dimg, nimg, "dimg");
        CMP(g_dcls, dcls, ncls, "dcls");
        CMP(&g_dscale, dscale, 1, "dscale");
#undef CMP
        free(g_logits); free(g_dimg); free(g_dcls);
    }
    free(img); free(cls); free(ls); free(loss); free(logits); free(dimg); free(dcls); free(dscale);
    free(labels);
}

int main(void) {
    lv_backend *be = lv_test_cpu_backend();
    check_fd(be, 2.659260f, "scale 14.3, live");
    check_fd(be, 4.9f, "scale clamped at 100");
    check_conventions(be);
    check_bad_labels(be);
    lv_st_file *f = lv_test_fixture_open("cosine_ce");
    if (f) {
        check_fixture(be, f, "live");
        check_fixture(be, f, "clamped");
        lv_st_close(f);
    }
    lv_backend_destroy(be);
    return lv_test_summary();
}
