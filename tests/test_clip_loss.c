/* clip_loss (symmetric CLIP contrastive loss): finite differences for dimg, dtxt and
 * dlogit_scale on both sides of the exp(scale) <= 100 clamp, the img/txt symmetry, the
 * accumulate/NULL/overwrite conventions, and torch's float32 answers
 * (fixtures/clip_loss.safetensors). LV_TEST_SANITIZE */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

/* Small B: per-row gradients scale as 1/B while the float loss's rounding does not. */
enum { B = 3, D = 8 };

typedef struct fd_ctx {
    lv_backend *be;
    float *img, *txt, *ls;
} fd_ctx;

static double fd_loss(void *p) {
    fd_ctx *c = p;
    float loss = 0.0f;
    lv_clip_loss(c->be, &loss, NULL, NULL, NULL, c->img, c->txt, c->ls, B, D);
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
    float img[B * D], txt[B * D], ls = ls0, dimg[B * D] = {0}, dtxt[B * D] = {0}, dscale = 0;
    lv_test_fill_uniform(img, B * D, 61, -1.0f, 1.0f);
    lv_test_fill_uniform(txt, B * D, 62, -1.0f, 1.0f);
    set_row_norms(img, B, 2.0f);
    set_row_norms(txt, B, 0.5f); /* different norms: a swapped norm cannot pass */
    float loss = 0;
    lv_clip_loss(be, &loss, dimg, dtxt, &dscale, img, txt, &ls, B, D);
    lv_test_true(be->sync(be) == LV_OK && isfinite(loss), "clip_loss forward+backward runs");
    fd_ctx c = {be, img, txt, &ls};
    char what[96];
    /* Same budget as test_cosine_ce: eps = 0.1 |x| / s moves a logit by ~0.1, truncation
     * ~3e-3 relative; the float loss's rounding, ulp/(2 eps), is < 1e-2 of the harness floor
     * (1e-3 * max|grad|) at B = 3. tol 2e-2; a wrong term is an O(1) error. */
    float s = fminf(expf(ls0), 100.0f);
    snprintf(what, sizeof what, "clip_loss dimg (%s)", tag);
    lv_test_gradcheck(what, img, dimg, B * D, fd_loss, &c, 0.1f * 2.0f / s, 2e-2, B * D);
    snprintf(what, sizeof what, "clip_loss dtxt (%s)", tag);
    lv_test_gradcheck(what, txt, dtxt, B * D, fd_loss, &c, 0.1f * 0.5f / s, 2e-2, B * D);
    /* Smooth in ls; eps 1e-3 keeps truncation and rounding < 1e-3. Clamped: FD is exactly 0. */
    snprintf(what, sizeof what, "clip_loss dscale (%s)", tag);
    lv_test_gradcheck(what, &ls, &dscale, 1, fd_loss, &c, 1e-3f, 1e-3, 1);
    if (ls0 > logf(100.0f)) lv_test_true(dscale == 0.0f, "clip_loss: clamped scale gets exactly 0");
    else lv_test_true(fabsf(dscale) > 1e-3f, "clip_loss: live scale gets a gradient");
}

static void check_conventions(lv_backend *be) {
    enum { N = 5, E = 6 };
    float img[N * E], txt[N * E], ls = 2.5f;
    lv_test_fill_uniform(img, N * E, 71, -1.0f, 1.0f);
    lv_test_fill_uniform(txt, N * E, 72, -1.0f, 1.0f);
    float loss = 0, dimg[N * E] = {0}, dtxt[N * E] = {0}, dscale = 0;
    lv_clip_loss(be, &loss, dimg, dtxt, &dscale, img, txt, &ls, N, E);

    /* Swapping the two sides transposes the logits: same loss, gradients swap. */
    float loss_s = 0, dimg_s[N * E] = {0}, dtxt_s[N * E] = {0}, dscale_s = 0;
    lv_clip_loss(be, &loss_s, dimg_s, dtxt_s, &dscale_s, txt, img, &ls, N, E);
    lv_test_close("clip_loss symmetric: loss", &loss_s, &loss, 1, 1e-6);
    lv_test_close("clip_loss symmetric: dimg <-> dtxt", dimg_s, dtxt, N * E, 1e-6);
    lv_test_close("clip_loss symmetric: dtxt <-> dimg", dtxt_s, dimg, N * E, 1e-6);
    lv_test_close("clip_loss symmetric: dscale", &dscale_s, &dscale, 1, 1e-6);

    /* Gradients ADD, the loss is overwritten, NULL gradients are skipped. */
    float loss2 = 99.0f, dimg2[N * E], dtxt2[N * E], dscale2 = -0.5f;
    float want_i[N * E], want_t[N * E], want_s = dscale - 0.5f;
    for (int i = 0; i < N * E; i++) {
        dimg2[i] = dtxt2[i] = -0.5f;
        want_i[i] = dimg[i] - 0.5f;
        want_t[i] = dtxt[i] - 0.5f;
    }
    lv_clip_loss(be, &loss2, dimg2, dtxt2, &dscale2, img, txt, &ls, N, E);
    lv_test_close("clip_loss dimg accumulates", dimg2, want_i, N * E, 1e-7);
    lv_test_close("clip_loss dtxt accumulates", dtxt2, want_t, N * E, 1e-7);
    lv_test_close("clip_loss dscale accumulates", &dscale2, &want_s, 1, 1e-7);
    lv_test_close("clip_loss loss overwritten", &loss2, &loss, 1, 0.0);
    float only[N * E] = {0}, loss3 = 0;
    lv_clip_loss(be, NULL, NULL, only, NULL, img, txt, &ls, N, E);
    lv_test_close("clip_loss dtxt alone (others NULL)", only, dtxt, N * E, 0.0);
    lv_clip_loss(be, &loss3, NULL, NULL, NULL, img, txt, &ls, N, E);
    lv_test_close("clip_loss loss without gradients", &loss3, &loss, 1, 0.0);
    lv_test_true(be->sync(be) == LV_OK, "clip_loss convention calls leave no error");

    /* Perfectly matched pairs of orthogonal directions at the clamp: loss ~ 0, finite. */
    float eye[N * E] = {0};
    for (int i = 0; i < N; i++) eye[i * E + i] = 3.0f;
    float big = 6.0f, l0 = -1.0f;
    lv_clip_loss(be, &l0, NULL, NULL, NULL, eye, eye, &big, N, E);
    lv_test_true(l0 >= 0.0f && l0 < 1e-30f, "clip_loss: matched orthogonal pairs at scale 100 give loss ~0");
}

static void check_fixture(lv_backend *be, lv_st_file *f, const char *name) {
    char key[64];
    size_t n = 0, nimg = 0;
#define GETF(var, k) (snprintf(key, sizeof key, "%s." k, name), var = lv_test_fixture_f32(f, key, &n))
    float *img, *txt, *ls, *loss, *dimg, *dtxt, *dscale;
    GETF(img, "img"); nimg = n;
    GETF(txt, "txt");
    GETF(ls, "logit_scale");
    GETF(loss, "loss");
    GETF(dimg, "dimg");
    GETF(dtxt, "dtxt");
    GETF(dscale, "dscale");
#undef GETF
    snprintf(key, sizeof key, "%s.img", name);
    const lv_st_tensor *t = lv_st_find(f, key);
    if (img && txt && ls && loss && dimg && dtxt && dscale && t && t->ndim == 2) {
        int b = (int)t->shape[0], d = (int)t->shape[1];
        float *g_dimg = calloc(nimg, sizeof(float)), *g_dtxt = calloc(nimg, sizeof(float));
        float g_loss = 0, g_dscale = 0;
        lv_clip_loss(be, &g_loss, g_dimg, g_dtxt, &g_dscale, img, txt, ls, b, d);
        lv_test_true(be->sync(be) == LV_OK, "clip_loss fixture call succeeds");
        char what[96];
#define CMP(got, want, cnt, label)                                                               \
    (snprintf(what, sizeof what, "clip_loss vs torch %s: %s", name, label),                       \
     lv_test_close(what, got, want, cnt, 1e-5))
        CMP(&g_loss, loss, 1, "loss");
        CMP(g_dimg, dimg, nimg, "dimg");
        CMP(g_dtxt, dtxt, nimg, "dtxt");
        CMP(&g_dscale, dscale, 1, "dscale");
#undef CMP
        free(g_dimg); free(g_dtxt);
    }
    free(img); free(txt); free(ls); free(loss); free(dimg); free(dtxt); free(dscale);
}

int main(void) {
    lv_backend *be = lv_test_cpu_backend();
    check_fd(be, 2.659260f, "scale 14.3, live");
    check_fd(be, 4.9f, "scale clamped at 100");
    check_conventions(be);
    lv_st_file *f = lv_test_fixture_open("clip_loss");
    if (f) {
        check_fixture(be, f, "live");
        check_fixture(be, f, "clamped");
        lv_st_close(f);
    }
    lv_backend_destroy(be);
    return lv_test_summary();
}
