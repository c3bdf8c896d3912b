/* On-device data on the CPU backend (data/device_data.h): every batch rendered from the loader's
 * indices and keys equals the loader's own images bit for bit (training with every augmentation,
 * integer-only maps, evaluation; int16 HU, uint8 and float32 pixels; edge and constant border;
 * output smaller and larger than the image; class-balanced keys; 1 and 2 threads), labels too;
 * a loader with render = 0 serves the same indices, labels and keys without images; the `fits`
 * decision and its messages; bad arguments refused by name. LV_TEST_SANITIZE */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "data/device_data.h"
#include "data/loader.h"
#include "harness.h"

static const char *classes[] = {"CYST", "FNH", "HCC", "HEM"};
static const char *phases[] = {"NC", "ART", "PV", "DEL"};

enum { N = 37, H = 20, W = 22 };

/* n samples of pseudo-random pixels of type t over p phases; labels i % 4. */
static int make_ds(lv_dataset *ds, int p, lv_pixel_type t) {
    lv_dataset_init(ds);
    if (lv_dataset_alloc(ds, N, p, H, W, t) != LV_OK || lv_dataset_set_names(ds, classes, 4, phases, p) != LV_OK) {
        lv_test_fail("dataset: %s", lv_error_message());
        return 0;
    }
    size_t total = (size_t)N * p * H * W;
    for (size_t k = 0; k < total; k++) {
        uint32_t r = lv_rng_u32(11, (uint64_t)t, k);
        if (t == LV_PIX_I16) ((int16_t *)ds->images)[k] = (int16_t)((int)(r % 700) - 300); /* around the window */
        else if (t == LV_PIX_U8) ((uint8_t *)ds->images)[k] = (uint8_t)(r & 255);
        else ((float *)ds->images)[k] = (float)(r >> 8) * (1.0f / 16777216.0f) * 3.0f - 1.0f;
    }
    for (int64_t i = 0; i < N; i++) ds->labels[i] = (int32_t)(i % 4);
    return 1;
}

/* Loader batches (render on) vs device-data renders of the same indices and keys, and a
 * render = 0 loader's indices/labels/keys, for `batches` batches. */
static void check_case(const char *what, lv_backend *be, const lv_dataset *ds, const lv_loader_opts *o, int batches) {
    lv_loader *l = NULL, *l0 = NULL;
    lv_device_data *dd = NULL;
    lv_loader_opts o0 = *o;
    o0.render = 0;
    if (lv_loader_create(&l, ds, o) != LV_OK || lv_loader_create(&l0, ds, &o0) != LV_OK ||
        lv_device_data_create(&dd, be, ds) != LV_OK) {
        lv_test_fail("%s: set-up: %s", what, lv_error_message());
        lv_loader_destroy(l);
        lv_loader_destroy(l0);
        return;
    }
    lv_preproc_plan plan;
    lv_status st = lv_preproc_plan_make(&plan, lv_loader_preproc(l), ds);
    lv_augment_opts aug = o->aug;
    if (!o->augment) lv_augment_opts_eval(&aug);
    int s = o->out_size;
    size_t per = (size_t)ds->p * s * s;
    float *x = be->alloc(be, (size_t)o->batch * per * sizeof(float));
    int32_t *y = be->alloc(be, (size_t)o->batch * sizeof(int32_t));
    int same_img = 1, same_lab = 1, same_meta = 1, no_img = 1, seen = 0, keys_differ = 0;
    for (int b = 0; b < batches && st == LV_OK; b++) {
        lv_batch *bt = NULL, *b0 = NULL;
        if ((st = lv_loader_next(l, &bt)) != LV_OK || (st = lv_loader_next(l0, &b0)) != LV_OK) break;
        if (!bt || !b0) {
            same_meta &= !bt && !b0;
            break;
        }
        st = lv_device_data_render(dd, x, y, bt->indices, bt->keys, bt->n, &plan, &aug, bt->s, o->seed,
                                   (uint64_t)bt->epoch);
        if (st != LV_OK) break;
        seen += bt->n;
        same_img &= memcmp(x, bt->images, (size_t)bt->n * per * sizeof(float)) == 0;
        same_lab &= memcmp(y, bt->labels, (size_t)bt->n * sizeof(int32_t)) == 0;
        same_meta &= b0->n == bt->n && b0->epoch == bt->epoch && b0->step == bt->step &&
                     !memcmp(b0->indices, bt->indices, (size_t)bt->n * 8) &&
                     !memcmp(b0->keys, bt->keys, (size_t)bt->n * 8) &&
                     !memcmp(b0->labels, bt->labels, (size_t)bt->n * 4);
        no_img &= b0->images == NULL;
        for (int i = 0; i < bt->n; i++) keys_differ |= bt->keys[i] != bt->indices[i];
    }
    if (st != LV_OK) lv_test_fail("%s: %s", what, lv_error_message());
    if (o->balanced) lv_test_true(keys_differ, "balanced sampling: keys are epoch positions, not indices");
    char msg[256];
    snprintf(msg, sizeof msg, "%s: device render == loader images bit for bit (%d samples)", what, seen);
    lv_test_true(same_img && seen > 0, msg);
    snprintf(msg, sizeof msg, "%s: labels gathered on the device", what);
    lv_test_true(same_lab, msg);
    snprintf(msg, sizeof msg, "%s: render = 0 loader: same indices, keys, labels, no images", what);
    lv_test_true(same_meta && no_img, msg);
    be->free(be, x);
    be->free(be, y);
    lv_device_data_destroy(dd);
    lv_loader_destroy(l);
    lv_loader_destroy(l0);
}

static lv_loader_opts base_opts(int augment, int s) {
    lv_loader_opts o;
    lv_loader_opts_default(&o);
    o.batch = 8;
    o.seed = 1234;
    o.augment = augment;
    o.out_size = s;
    o.prefetch = 2;
    o.threads = 1;
    o.aug.noise_p = 0.7f;
    return o;
}

static void test_equal(lv_backend *be1, lv_backend *be2) {
    lv_dataset ds;
    /* int16 HU, window scaling, 3 phases. */
    if (make_ds(&ds, 3, LV_PIX_I16)) {
        lv_loader_opts o = base_opts(1, 16);
        check_case("int16 train, every augmentation, edge border, crop", be1, &ds, &o, 12);
        o.threads = 2;
        check_case("int16 train, loader on 2 threads, render on 1", be1, &ds, &o, 6);
        check_case("int16 train, render on 2 threads", be2, &ds, &o, 6);
        o = base_opts(1, 26);
        o.aug.border = LV_BORDER_CONSTANT;
        o.aug.rotate_deg = 40.0f;
        o.aug.scale = 0.4f;
        o.aug.translate = 0.3f;
        check_case("int16 train, constant border, output larger than the image", be1, &ds, &o, 10);
        o = base_opts(1, 16);
        o.aug.rotate_deg = 0.0f;
        o.aug.scale = 0.0f;
        o.aug.translate = 0.0f;
        check_case("int16 train, flips/quarter turns/crops only (integer maps)", be1, &ds, &o, 10);
        o.aug.border = LV_BORDER_CONSTANT;
        o.out_size = 25;
        check_case("int16 train, integer maps with constant padding", be1, &ds, &o, 10);
        o = base_opts(1, 16);
        o.balanced = 1;
        check_case("int16 train, class-balanced keys", be1, &ds, &o, 10);
        o = base_opts(0, 16);
        o.shuffle = 0;
        o.epochs = 1;
        check_case("int16 eval, centre crop", be1, &ds, &o, 10);
        o.out_size = 27;
        check_case("int16 eval, padded centre", be1, &ds, &o, 10);
        lv_dataset_free(&ds);
    }
    /* uint8, divide255, 2 phases. */
    if (make_ds(&ds, 2, LV_PIX_U8)) {
        lv_loader_opts o = base_opts(1, 18);
        o.aug.noise_p = 1.0f;
        check_case("uint8 train, every augmentation", be1, &ds, &o, 10);
        o.aug.border = LV_BORDER_CONSTANT;
        check_case("uint8 train, constant border", be1, &ds, &o, 10);
        o = base_opts(0, 20);
        o.epochs = 1;
        check_case("uint8 eval", be1, &ds, &o, 10);
        lv_dataset_free(&ds);
    }
    /* float32, no scaling, 4 phases (more phases than the default draws cover). */
    if (make_ds(&ds, 4, LV_PIX_F32)) {
        lv_loader_opts o = base_opts(1, 13);
        check_case("float32 train, every augmentation, odd side", be1, &ds, &o, 10);
        o = base_opts(0, 13);
        o.epochs = 1;
        check_case("float32 eval", be1, &ds, &o, 10);
        lv_dataset_free(&ds);
    }
}

static lv_status fake_reader(const lv_dataset *ds, int64_t index, void *dst) {
    (void)ds, (void)index, (void)dst;
    return lv_errorf(LV_ERR_INPUT, "the test reader is never called");
}

static void test_fits(lv_backend *be) {
    lv_dataset ds;
    if (!make_ds(&ds, 3, LV_PIX_I16)) return;
    size_t want = (size_t)N * (3 * H * W * 2 + 4);
    lv_test_true(lv_device_data_bytes(&ds) == want, "bytes: raw int16 pixels plus int32 labels");
    lv_test_true(lv_device_data_fits(&ds, want) == LV_OK, "fits in exactly its size");
    lv_status s = lv_device_data_fits(&ds, want - 1);
    lv_test_true(s == LV_ERR_INPUT && strstr(lv_error_message(), "needs 97828 bytes") &&
                     strstr(lv_error_message(), "budget is 97827 bytes"),
                 "one byte short: not fitting, message gives the sizes");
    printf("not fitting: %s\n", lv_error_message());
    ds.pixel = LV_PIX_U8;
    lv_test_true(lv_device_data_bytes(&ds) == (size_t)N * (3 * H * W + 4), "bytes follow the stored dtype (uint8)");
    ds.pixel = LV_PIX_I16;
    void *images = ds.images;
    ds.images = NULL;
    ds.read_sample = fake_reader;
    s = lv_device_data_fits(&ds, (size_t)-1);
    lv_test_true(s == LV_ERR_INPUT && strstr(lv_error_message(), "streamed"), "a streamed data set never fits");
    lv_device_data *dd = NULL;
    s = lv_device_data_create(&dd, be, &ds);
    lv_test_true(s == LV_ERR_INPUT && !dd && strstr(lv_error_message(), "streamed"),
                 "create refuses a streamed data set");
    /* render = 0 reads nothing, so even a streamed set serves indices and keys. */
    lv_loader_opts o = base_opts(1, 16);
    o.render = 0;
    lv_loader *l = NULL;
    lv_batch *b = NULL;
    s = lv_loader_create(&l, &ds, &o);
    if (s == LV_OK) s = lv_loader_next(l, &b);
    lv_test_true(s == LV_OK && b && b->n == 8 && !b->images, "render = 0 never calls a streaming reader");
    lv_loader_destroy(l);
    o.render = 2;
    s = lv_loader_create(&l, &ds, &o);
    lv_test_true(s == LV_ERR_USAGE && strstr(lv_error_message(), "render 2"), "loader: render 2 refused");
    ds.images = images;
    ds.read_sample = NULL;
    int p = ds.p;
    ds.p = 0;
    lv_test_true(lv_device_data_bytes(&ds) == 0 && lv_device_data_fits(&ds, (size_t)-1) == LV_ERR_INPUT,
                 "an unusable shape has no size and does not fit");
    ds.p = p;
    ds.n = (int64_t)1 << 62;
    lv_test_true(lv_device_data_bytes(&ds) == 0, "an overflowing size is 0");
    ds.n = N;
    lv_dataset_free(&ds);
}

static void test_bad_inputs(lv_backend *be) {
    lv_dataset ds;
    if (!make_ds(&ds, 3, LV_PIX_I16)) return;
    lv_device_data *dd = NULL;
    if (lv_device_data_create(&dd, be, &ds) != LV_OK) {
        lv_test_fail("create: %s", lv_error_message());
        lv_dataset_free(&ds);
        return;
    }
    lv_test_true(lv_device_data_count(dd) == N && lv_device_data_size(dd) == lv_device_data_bytes(&ds),
                 "count and size of the upload");
    lv_preproc pp;
    lv_preproc_default(&pp);
    lv_preproc_plan plan, plan2;
    lv_preproc_plan_make(&plan, &pp, &ds);
    plan2 = plan;
    plan2.p = 2;
    lv_augment_opts aug, bad;
    lv_augment_opts_default(&aug);
    bad = aug;
    bad.flip_h = 2.0f;
    float *x = be->alloc(be, 4 * 3 * 16 * 16 * sizeof(float));
    int32_t *y = be->alloc(be, 4 * sizeof(int32_t));
    int64_t idx[4] = {0, 5, 36, 2}, keys[4] = {0, 5, 36, 2}, out_of[4] = {0, 37, 1, 2}, neg[4] = {-1, 0, 1, 2};
    lv_test_true(lv_device_data_render(dd, x, y, idx, keys, 4, &plan, &aug, 16, 1, 0) == LV_OK, "a good render");
    lv_status s = lv_device_data_render(dd, x, y, out_of, keys, 4, &plan, &aug, 16, 1, 0);
    lv_test_true(s == LV_ERR_USAGE && strstr(lv_error_message(), "index 37 outside [0,37)"),
                 "an index past the end is refused by value");
    s = lv_device_data_render(dd, x, y, neg, keys, 4, &plan, &aug, 16, 1, 0);
    lv_test_true(s == LV_ERR_USAGE && strstr(lv_error_message(), "index -1"), "a negative index is refused");
    s = lv_device_data_render(dd, x, y, idx, keys, 4, &plan2, &aug, 16, 1, 0);
    lv_test_true(s == LV_ERR_USAGE && strstr(lv_error_message(), "2 phases"), "a plan for other phases is refused");
    s = lv_device_data_render(dd, x, y, idx, keys, 4, &plan, &aug, 0, 1, 0);
    lv_test_true(s == LV_ERR_USAGE && strstr(lv_error_message(), "side 0"), "output side 0 is refused");
    s = lv_device_data_render(dd, x, y, idx, keys, -1, &plan, &aug, 16, 1, 0);
    lv_test_true(s == LV_ERR_USAGE && strstr(lv_error_message(), "-1 samples"), "a negative batch is refused");
    s = lv_device_data_render(dd, x, y, idx, NULL, 4, &plan, &aug, 16, 1, 0);
    lv_test_true(s == LV_ERR_USAGE && strstr(lv_error_message(), "augmentation keys"), "missing keys are named");
    s = lv_device_data_render(dd, x, y, idx, keys, 4, &plan, &bad, 16, 1, 0);
    lv_test_true(s == LV_ERR_USAGE && strstr(lv_error_message(), "flip_h"), "bad augmentation options are named");
    s = lv_device_data_render(dd, x, y, NULL, NULL, 0, &plan, &aug, 16, 1, 0);
    lv_test_true(s == LV_OK, "an empty batch is fine");
    s = lv_device_data_render(NULL, x, y, idx, keys, 4, &plan, &aug, 16, 1, 0);
    lv_test_true(s == LV_ERR_USAGE, "no device data is refused");
    be->free(be, x);
    be->free(be, y);
    lv_device_data_destroy(dd);
    lv_device_data_destroy(NULL);
    lv_dataset_free(&ds);
}

int main(void) {
    lv_backend *be1 = NULL, *be2 = NULL;
    if (lv_cpu_backend_create(&be1, 1) != LV_OK || lv_cpu_backend_create(&be2, 2) != LV_OK) {
        lv_test_fail("cpu backend: %s", lv_error_message());
        return lv_test_summary();
    }
    test_equal(be1, be2);
    test_fits(be1);
    test_bad_inputs(be1);
    lv_backend_destroy(be1);
    lv_backend_destroy(be2);
    return lv_test_summary();
}
