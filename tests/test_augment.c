/* Augmentation: identity parameters give plain preprocessing bit for bit; flips and
 * quarter turns are exact pixel permutations; eval mode is a deterministic centre crop;
 * random crops stay inside the image; rotation/zoom follow the documented inverse map;
 * HU jitter and noise have the drawn values and statistics; draws depend only on
 * (seed, epoch, key). LV_TEST_SANITIZE */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/augment.h"
#include "harness.h"

/* Scaling "none", mean 0, std 1: output = raw value, so geometry is checked exactly. */
static lv_preproc_plan raw_plan(int p) {
    lv_preproc_plan pl;
    memset(&pl, 0, sizeof pl);
    pl.p = p;
    pl.scale = 1.0f;
    for (int i = 0; i < p; i++) pl.istd[i] = 1.0f;
    return pl;
}

static lv_augment_opts nothing(void) {
    lv_augment_opts o;
    lv_augment_opts_default(&o);
    o.flip_h = o.flip_v = 0;
    o.rot90 = 0;
    o.rotate_deg = o.scale = o.translate = 0;
    o.random_crop = 0;
    o.hu_offset = o.contrast = o.noise_std = o.noise_p = 0;
    return o;
}

/* Distinct values per pixel and phase. */
static void fill_distinct(float *img, int p, int h, int w) {
    for (int c = 0; c < p; c++)
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) img[((size_t)c * h + y) * w + x] = (float)(1000 * c + 37 * y + x) + 0.25f;
}

static void render(const lv_preproc_plan *pl, const lv_augment_opts *o, const void *raw, lv_pixel_type t, int p,
                   int h, int w, int s, uint64_t epoch, uint64_t key, float *out, lv_augment_params *prm_out) {
    lv_augment_params prm;
    float *scratch = malloc((size_t)h * w * sizeof *scratch);
    lv_augment_draw(o, p, h, w, s, 5, epoch, key, &prm);
    lv_augment_render(pl, &prm, raw, t, h, w, s, 5, epoch, key, out, scratch);
    free(scratch);
    if (prm_out) *prm_out = prm;
}

static void test_identity(void) {
    enum { P = 3, H = 12, W = 12 };
    int16_t raw[P * H * W];
    for (int i = 0; i < P * H * W; i++) raw[i] = (int16_t)((i * 7919) % 700 - 300);
    lv_dataset ds;
    lv_dataset_init(&ds);
    ds.n = 1, ds.p = P, ds.h = H, ds.w = W, ds.pixel = LV_PIX_I16, ds.hu = 1;
    lv_preproc pp;
    lv_preproc_default(&pp);
    pp.n_stats = 3;
    pp.mean[1] = 0.3f, pp.std[2] = 0.7f;
    lv_preproc_plan pl;
    lv_test_true(lv_preproc_plan_make(&pl, &pp, &ds) == LV_OK, "plan for identity test");
    float want[P * H * W], got[P * H * W];
    lv_preproc_apply(&pl, raw, LV_PIX_I16, H, W, want);
    lv_augment_opts o = nothing();
    render(&pl, &o, raw, LV_PIX_I16, P, H, W, H, 0, 3, got, NULL);
    lv_test_true(!memcmp(got, want, sizeof got), "enabled options with zero ranges = plain preprocessing, bitwise");
    lv_augment_opts_eval(&o);
    render(&pl, &o, raw, LV_PIX_I16, P, H, W, H, 0, 3, got, NULL);
    lv_test_true(!memcmp(got, want, sizeof got), "eval mode at full size = plain preprocessing, bitwise");
}

/* Flips then quarter turns, computed independently of the matrix: src = c + R90^k F (d - c). */
static void test_flip_rot90(void) {
    enum { P = 2, S = 8 };
    float img[P * S * S], out[P * S * S];
    fill_distinct(img, P, S, S);
    lv_preproc_plan pl = raw_plan(P);
    lv_augment_opts o = nothing();
    o.flip_h = o.flip_v = 0.5f;
    o.rot90 = 1;
    int seen_k[4] = {0}, seen_fh = 0, seen_fv = 0, exact = 1;
    for (uint64_t key = 0; key < 64; key++) {
        lv_augment_params prm;
        render(&pl, &o, img, LV_PIX_F32, P, S, S, S, 1, key, out, &prm);
        seen_k[prm.rot90]++, seen_fh += prm.flip_h, seen_fv += prm.flip_v;
        float c = 0.5f * (S - 1);
        for (int ch = 0; ch < P; ch++)
            for (int y = 0; y < S; y++)
                for (int x = 0; x < S; x++) {
                    float dx = ((float)x - c) * (prm.flip_h ? -1.0f : 1.0f);
                    float dy = ((float)y - c) * (prm.flip_v ? -1.0f : 1.0f);
                    for (int k = 0; k < prm.rot90; k++) {
                        float t = dx;
                        dx = -dy;
                        dy = t;
                    }
                    int sx = (int)(dx + c), sy = (int)(dy + c);
                    exact &= out[(ch * S + y) * S + x] == img[(ch * S + sy) * S + sx];
                }
    }
    lv_test_true(exact, "flips and quarter turns are exact permutations");
    lv_test_true(seen_k[0] && seen_k[1] && seen_k[2] && seen_k[3] && seen_fh > 16 && seen_fh < 48 && seen_fv > 16 &&
                     seen_fv < 48,
                 "all four turns and both flips occur over 64 keys");
    /* rot90 = 1 is a counter-clockwise turn of the picture: out[y][x] = in[x][S-1-y]. */
    for (uint64_t key = 0; key < 64; key++) {
        lv_augment_params prm;
        render(&pl, &o, img, LV_PIX_F32, P, S, S, S, 1, key, out, &prm);
        if (prm.rot90 == 1 && !prm.flip_h && !prm.flip_v) {
            int ok = 1;
            for (int y = 0; y < S; y++)
                for (int x = 0; x < S; x++) ok &= out[y * S + x] == img[x * S + (S - 1 - y)];
            lv_test_true(ok, "rot90 = 1 maps out[y][x] = in[x][S-1-y]");
            break;
        }
    }
}

static void test_crops(void) {
    enum { P = 2, H = 10, W = 13, S = 6 };
    float img[P * H * W], out[P * S * S], again[P * S * S];
    fill_distinct(img, P, H, W);
    lv_preproc_plan pl = raw_plan(P);
    lv_augment_opts ev;
    lv_augment_opts_eval(&ev);
    render(&pl, &ev, img, LV_PIX_F32, P, H, W, S, 0, 1, out, NULL);
    int ok = 1;
    for (int c = 0; c < P; c++)
        for (int y = 0; y < S; y++)
            for (int x = 0; x < S; x++) ok &= out[(c * S + y) * S + x] == img[(c * H + y + 2) * W + x + 3];
    lv_test_true(ok, "eval: centre crop (origin (H-S)/2, (W-S)/2 = 2, 3)");
    render(&pl, &ev, img, LV_PIX_F32, P, H, W, S, 9, 777, again, NULL);
    lv_test_true(!memcmp(out, again, sizeof out), "eval: no randomness (other epoch and key, same output)");

    lv_augment_opts o = nothing();
    o.random_crop = 1;
    int seen_y[H - S + 1] = {0}, seen_x[W - S + 1] = {0};
    ok = 1;
    for (uint64_t key = 0; key < 200; key++) {
        lv_augment_params prm;
        render(&pl, &o, img, LV_PIX_F32, P, H, W, S, 2, key, out, &prm);
        if (prm.crop_y < 0 || prm.crop_y > H - S || prm.crop_x < 0 || prm.crop_x > W - S) {
            ok = 0;
            break;
        }
        seen_y[prm.crop_y]++, seen_x[prm.crop_x]++;
        for (int c = 0; c < P; c++)
            for (int y = 0; y < S; y++)
                for (int x = 0; x < S; x++)
                    ok &= out[(c * S + y) * S + x] == img[(c * H + y + prm.crop_y) * W + x + prm.crop_x];
    }
    int all = 1;
    for (int i = 0; i <= H - S; i++) all &= seen_y[i] > 0;
    for (int i = 0; i <= W - S; i++) all &= seen_x[i] > 0;
    lv_test_true(ok, "random crop: exact window inside the image");
    lv_test_true(all, "random crop: every origin occurs");

    /* Output larger than the image: centred, edge pixels repeated. */
    enum { BIG = 14 };
    float big[P * BIG * BIG];
    render(&pl, &ev, img, LV_PIX_F32, P, H, W, BIG, 0, 0, big, NULL);
    lv_test_true(big[0] == img[0] && big[BIG * BIG - 1] == img[H * W - 1] &&
                     big[2 * BIG + 1] == img[0 * W + 0] && big[(2 + 3) * BIG + (1 + 4)] == img[3 * W + 4],
                 "output larger than the image: centred (origin -2, -1) with edge border");
}

/* A linear ramp is reproduced exactly by bilinear sampling, so the rotated/zoomed/shifted
 * output must equal the ramp at the documented source point. */
static void test_affine(void) {
    enum { H = 40, W = 40, S = 24 };
    float img[H * W], out[S * S];
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) img[y * W + x] = 3.0f * (float)x + 0.5f * (float)y;
    lv_preproc_plan pl = raw_plan(1);
    lv_augment_opts o = nothing();
    o.rotate_deg = 20;
    o.scale = 0.2f;
    o.translate = 0.1f;
    o.random_crop = 1;
    double worst = 0;
    int varied = 0;
    for (uint64_t key = 0; key < 20; key++) {
        lv_augment_params prm;
        render(&pl, &o, img, LV_PIX_F32, 1, H, W, S, 4, key, out, &prm);
        varied += fabsf(prm.angle_deg) > 1 && fabsf(prm.zoom - 1) > 0.01f && fabsf(prm.tx) > 0.1f;
        double th = prm.angle_deg * M_PI / 180, cs = cos(th), sn = sin(th), c = 0.5 * (S - 1);
        for (int y = 0; y < S; y++)
            for (int x = 0; x < S; x++) {
                double dx = x - c, dy = y - c;
                double sx = prm.crop_x + c + prm.tx + (cs * dx - sn * dy) / prm.zoom;
                double sy = prm.crop_y + c + prm.ty + (sn * dx + cs * dy) / prm.zoom;
                if (sx < 0 || sy < 0 || sx > W - 1 || sy > H - 1) continue;
                double want = 3.0 * sx + 0.5 * sy, err = fabs(out[y * S + x] - want);
                if (err > worst) worst = err;
            }
    }
    lv_test_true(varied >= 10, "rotation, zoom and shift are drawn");
    if (worst < 2e-3) lv_test_pass("rotation/zoom/shift follow src = crop + c + t + R(a)(d - c)/zoom (max err %.2g)", worst);
    else lv_test_fail("affine map off by %.3g", worst);

    /* Constant border: outside pixels get scaled value 0 before normalization. */
    lv_preproc_plan np = raw_plan(1);
    np.mean[0] = 2.0f, np.istd[0] = 0.5f;
    o = nothing();
    o.rotate_deg = 45;
    o.border = LV_BORDER_CONSTANT;
    float full[H * W];
    int corner0 = 0;
    for (uint64_t key = 0; key < 8; key++) {
        lv_augment_params prm;
        render(&np, &o, img, LV_PIX_F32, 1, H, W, W, 0, key, full, &prm);
        if (fabsf(prm.angle_deg) > 30) corner0 += full[0] == -1.0f && full[W * H - 1] == -1.0f;
    }
    lv_test_true(corner0 >= 1, "constant border: corners of a 30+ degree turn are (0 - mean) / std");
}

static void test_jitter_noise(void) {
    enum { P = 2, S = 64 };
    int16_t raw[P * S * S];
    for (int i = 0; i < S * S; i++) raw[i] = 75, raw[S * S + i] = 0;
    lv_dataset ds;
    lv_dataset_init(&ds);
    ds.n = 1, ds.p = P, ds.h = S, ds.w = S, ds.pixel = LV_PIX_I16, ds.hu = 1;
    lv_preproc pp;
    lv_preproc_default(&pp);
    lv_preproc_plan pl;
    lv_preproc_plan_make(&pl, &pp, &ds);
    lv_augment_opts o = nothing();
    o.hu_offset = 30;
    o.contrast = 0.2f;
    float out[P * S * S], out2[P * S * S];
    lv_augment_params prm;
    render(&pl, &o, raw, LV_PIX_I16, P, S, S, S, 3, 11, out, &prm);
    /* Jitter about the window centre (75 HU): u = 0.5 + (u0 - 0.5) c + off / 350. */
    float u0[2] = {0.5f, 100.0f / 350.0f};
    int ok = fabsf(prm.offset[0]) <= 30 && fabsf(prm.contrast[1] - 1) <= 0.2f && prm.offset[0] != prm.offset[1];
    for (int c = 0; c < P; c++) {
        float u = 0.5f + (u0[c] - 0.5f) * prm.contrast[c] + prm.offset[c] / 350.0f;
        ok &= fabsf(out[c * S * S + 17] - (u - 0.5f) / 0.25f) < 1e-5f;
    }
    lv_test_true(ok, "HU jitter: per-phase offset and contrast about the window centre, before windowing");

    o = nothing();
    o.noise_std = 0.1f;
    o.noise_p = 1;
    render(&pl, &o, raw, LV_PIX_I16, P, S, S, S, 3, 11, out, &prm);
    double sum = 0, sq = 0, lag = 0;
    for (int i = 0; i < S * S; i++) {
        double z = (out[i] - 0.0) * 0.25 / 0.1; /* phase 0: u 0.5 -> 0 after normalization */
        sum += z, sq += z * z;
        if (i) lag += z * ((out[i - 1]) * 0.25 / 0.1);
    }
    double n = S * S, mean = sum / n, sd = sqrt(sq / n - mean * mean), corr = lag / (n - 1);
    if (fabs(mean) < 0.05 && fabs(sd - 1) < 0.04 && fabs(corr) < 0.05)
        lv_test_pass("noise: mean %.3f, std %.3f (x 0.1 window), lag-1 correlation %.3f", mean, sd, corr);
    else
        lv_test_fail("noise statistics off: mean %.3f, std %.3f, corr %.3f", mean, sd, corr);
    render(&pl, &o, raw, LV_PIX_I16, P, S, S, S, 3, 11, out2, NULL);
    lv_test_true(!memcmp(out, out2, sizeof out), "noise: same (seed, epoch, key) -> same noise");
    render(&pl, &o, raw, LV_PIX_I16, P, S, S, S, 4, 11, out2, NULL);
    lv_test_true(memcmp(out, out2, sizeof out) != 0, "noise: another epoch -> other noise");
    int diff = 0;
    float base1 = (100.0f / 350.0f - 0.5f) / 0.25f;
    for (int i = 0; i < S * S; i++) diff += fabsf(out[i] - (out[S * S + i] - base1)) > 1e-4f;
    lv_test_true(diff > S * S / 2, "noise differs between phases");
    float z[4], z2[4];
    lv_augment_noise4(5, 3, 11, 7, z);
    lv_augment_noise4(5, 3, 11, 7, z2);
    lv_test_true(!memcmp(z, z2, sizeof z) && z[0] != z[1] && z[2] != z[3], "noise4: pure function, four values");

    o.noise_p = 0.5f;
    int with = 0;
    for (uint64_t key = 0; key < 200; key++) {
        lv_augment_draw(&o, P, S, S, S, 5, 0, key, &prm);
        with += prm.noise_std > 0;
    }
    lv_test_true(with > 70 && with < 130, "noise_p 0.5: about half the samples get noise");
}

static void test_draw(void) {
    lv_augment_opts o;
    lv_augment_opts_default(&o);
    lv_augment_params a, b, c;
    lv_augment_draw(&o, 3, 64, 64, 56, 9, 2, 1234, &a);
    lv_augment_draw(&o, 3, 64, 64, 56, 9, 2, 1234, &b);
    lv_test_true(!memcmp(&a, &b, sizeof a), "draw is a pure function of (opts, shape, seed, epoch, key)");
    lv_augment_draw(&o, 3, 64, 64, 56, 9, 3, 1234, &c);
    lv_test_true(memcmp(&a, &c, sizeof a) != 0, "another epoch draws other parameters");
    lv_augment_draw(&o, 3, 64, 64, 56, 10, 2, 1234, &c);
    lv_test_true(memcmp(&a, &c, sizeof a) != 0, "another seed draws other parameters");
    lv_test_true(a.angle_deg == o.rotate_deg * (2 * lv_augment_uniform(9, 2, 1234, LV_AUG_D_ANGLE) - 1) &&
                     a.offset[2] == o.hu_offset * (2 * lv_augment_uniform(9, 2, 1234, LV_AUG_D_OFFSET + 4) - 1),
                 "parameters come from the documented draw numbers");
    o.rotate_deg = 200;
    lv_test_true(lv_augment_opts_check(&o, "cfg") == LV_ERR_USAGE && strstr(lv_error_message(), "rotate_deg"),
                 "opts check names the bad field");
    lv_augment_opts_default(&o);
    o.noise_p = NAN;
    lv_test_true(lv_augment_opts_check(&o, "cfg") == LV_ERR_USAGE && strstr(lv_error_message(), "noise_p"),
                 "NaN option rejected");
    lv_augment_opts_default(&o);
    o.border = 5;
    lv_test_true(lv_augment_opts_check(&o, "cfg") == LV_ERR_USAGE, "unknown border rejected");
    lv_augment_opts_default(&o);
    lv_test_true(lv_augment_opts_check(&o, "cfg") == LV_OK, "defaults pass the check");
}

int main(void) {
    test_identity();
    test_flip_rot90();
    test_crops();
    test_affine();
    test_jitter_noise();
    test_draw();
    return lv_test_summary();
}
