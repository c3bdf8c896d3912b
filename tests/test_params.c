/* Parameter layout and flat buffers: contiguous offsets in insertion order, bad input
 * rejected, zeroed buffers, and a checkpoint round trip through safetensors with precise
 * errors for a missing tensor or a wrong shape. LV_TEST_SANITIZE */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/params.h"
#include "harness.h"

int main(void) {
    lv_param_layout l;
    lv_layout_init(&l);
    size_t oq = 99, ok_ = 99, ov = 99, ob = 99;
    int64_t qs[2] = {4, 3}, bs[1] = {4};
    lv_test_true(lv_layout_add(&l, "q.weight", 2, qs, 0, &oq) == LV_OK &&
                     lv_layout_add(&l, "k.weight", 2, qs, 0, &ok_) == LV_OK &&
                     lv_layout_add(&l, "v.weight", 2, qs, 0, &ov) == LV_OK &&
                     lv_layout_add(&l, "q.bias", 1, bs, LV_PARAM_NO_DECAY, &ob) == LV_OK,
                 "layout accepts four tensors");
    lv_test_true(oq == 0 && ok_ == 12 && ov == 24 && ob == 36 && l.total == 40,
                 "offsets are contiguous in insertion order (q,k,v form one [12,3] block)");
    lv_test_true(lv_layout_add(&l, "k.weight", 2, qs, 0, NULL) == LV_ERR_RUNTIME &&
                     strstr(lv_error_message(), "twice") != NULL,
                 "duplicate name rejected");
    int64_t bad[2] = {4, 0};
    lv_test_true(lv_layout_add(&l, "z", 2, bad, 0, NULL) != LV_OK &&
                     strstr(lv_error_message(), "expected > 0") != NULL,
                 "zero dimension rejected");
    int64_t huge[4] = {1LL << 40, 1LL << 40, 1LL << 40, 1LL << 40};
    lv_test_true(lv_layout_add(&l, "huge", 4, huge, 0, NULL) != LV_OK, "overflowing size rejected");
    lv_test_true(l.count == 4 && l.total == 40, "failed adds leave the layout unchanged");
    const lv_param_spec *s = lv_layout_find(&l, "q.bias");
    lv_test_true(s && s->flags == LV_PARAM_NO_DECAY && s->numel == 4, "find returns the spec");

    lv_backend *be = lv_test_cpu_backend();
    lv_param_buffers b;
    lv_test_true(lv_param_buffers_alloc(&b, be, l.total, LV_WANT_GRADS | LV_WANT_M | LV_WANT_V) == LV_OK,
                 "buffers allocate");
    int zero = 1;
    for (size_t i = 0; i < l.total; i++) zero &= b.params[i] == 0 && b.grads[i] == 0 && b.m[i] == 0 && b.v[i] == 0;
    lv_test_true(zero, "buffers come zeroed");
    for (size_t i = 0; i < l.total; i++) b.params[i] = (float)i * 0.5f, b.grads[i] = 1.0f;
    lv_param_buffers_zero_grads(&b);
    zero = 1;
    for (size_t i = 0; i < l.total; i++) zero &= b.grads[i] == 0;
    lv_test_true(zero, "zero_grads clears every gradient");

    /* Round trip through a checkpoint file with a prefix. */
    char dir[] = "/tmp/lv_params_XXXXXX";
    if (!mkdtemp(dir)) return lv_test_skip("mkdtemp failed");
    char path[256];
    snprintf(path, sizeof path, "%s/ck.safetensors", dir);
    lv_st_writer *w = NULL;
    lv_status st = lv_st_writer_create(&w);
    if (st == LV_OK) st = lv_layout_to_writer(&l, b.params, "visual.", w);
    if (st == LV_OK) st = lv_st_writer_save(w, path);
    lv_st_writer_free(w);
    lv_test_true(st == LV_OK, "layout written to safetensors");
    lv_st_file *f = NULL;
    float *back = calloc(l.total, sizeof *back);
    st = lv_st_open(&f, path);
    if (st == LV_OK) st = lv_layout_from_file(&l, back, "visual.", f);
    lv_test_true(st == LV_OK && memcmp(back, b.params, l.total * sizeof(float)) == 0,
                 "layout read back bit-identical");
    if (f) {
        lv_test_true(lv_layout_from_file(&l, back, "text.", f) == LV_ERR_INPUT &&
                         strstr(lv_error_message(), "text.q.weight") != NULL,
                     "missing tensor named in the error");
        lv_st_close(f);
    }
    /* Same names, different shape: the file's q.weight is [4,3], ask for [3,4]. */
    lv_param_layout l2;
    lv_layout_init(&l2);
    int64_t qt[2] = {3, 4};
    lv_layout_add(&l2, "q.weight", 2, qt, 0, NULL);
    f = NULL;
    if (lv_st_open(&f, path) == LV_OK) {
        lv_test_true(lv_layout_from_file(&l2, back, "visual.", f) == LV_ERR_INPUT &&
                         strstr(lv_error_message(), "visual.q.weight") != NULL,
                     "shape mismatch named in the error");
        lv_st_close(f);
    }
    unlink(path);
    rmdir(dir);
    free(back);
    lv_layout_free(&l2);
    lv_param_buffers_free(&b);
    lv_backend_destroy(be);
    lv_layout_free(&l);
    return lv_test_summary();
}
