/* embedding: finite differences on the table with repeated ids, scatter-add accumulation
 * (repeats and repeated calls), NULL dtable, negative ids reported as a backend error, and
 * torch's F.embedding float32 answers (fixtures/embedding.safetensors). LV_TEST_SANITIZE */
#include <stdlib.h>
#include <string.h>

#include "harness.h"

enum { VOCAB = 11, C = 5, N = 9 };

typedef struct fd_ctx {
    lv_backend *be;
    const int *ids;
    const float *table, *r;
    float *out;
} fd_ctx;

static double fd_loss(void *p) {
    fd_ctx *k = p;
    lv_embedding_forward(k->be, k->out, k->ids, k->table, N, C);
    double s = 0;
    for (int i = 0; i < N * C; i++) s += (double)k->r[i] * k->out[i];
    return s;
}

static void check_fd(lv_backend *be) {
    /* id 4 three times and 0 twice: their rows must collect every occurrence. Rows never
     * looked up must get exactly zero. */
    const int ids[N] = {4, 0, 10, 4, 7, 0, 4, 2, 9};
    float table[VOCAB * C], r[N * C], out[N * C], dt[VOCAB * C] = {0}, dt2[VOCAB * C];
    lv_test_fill_uniform(table, VOCAB * C, 61, -1, 1);
    lv_test_fill_uniform(r, N * C, 62, -1, 1);
    lv_embedding_forward(be, out, ids, table, N, C);
    int gather = 1;
    for (int i = 0; i < N; i++) gather &= memcmp(out + i * C, table + ids[i] * C, C * sizeof *out) == 0;
    lv_test_true(gather, "embedding forward copies table rows");
    lv_embedding_backward(be, dt, r, ids, N, C);
    /* A gather is linear in the table: the central difference is exact up to the rounding
     * of the double loss, so step 0.1 and tol 1e-3 only allow noise; a repeat that
     * overwrote instead of adding would be off by a factor of 2-3. */
    fd_ctx k = {be, ids, table, r, out};
    lv_test_gradcheck("embedding dtable (repeated ids)", table, dt, VOCAB * C, fd_loss, &k, 1e-1f,
                      1e-3, VOCAB * C);
    int unused_zero = 1;
    for (int v = 0; v < VOCAB; v++) {
        int used = 0;
        for (int i = 0; i < N; i++) used |= ids[i] == v;
        for (int j = 0; j < C && !used; j++) unused_zero &= dt[v * C + j] == 0.0f;
    }
    lv_test_true(unused_zero, "embedding rows never looked up get no gradient");

    memcpy(dt2, dt, sizeof dt);
    lv_embedding_backward(be, dt2, r, ids, N, C);
    for (int i = 0; i < VOCAB * C; i++) dt[i] *= 2;
    lv_test_close("embedding dtable accumulates (2 calls = 2x)", dt2, dt, VOCAB * C, 0.0);
    lv_embedding_backward(be, NULL, r, ids, N, C);
    lv_test_pass("embedding backward with NULL dtable is a no-op");
    lv_status st = be->sync(be);
    lv_test_true(st == LV_OK, "no backend error after valid ids");

    /* A negative id is a caller bug: reported at sync, nothing read before the table. */
    const int bad[2] = {1, -3};
    lv_embedding_forward(be, out, bad, table, 2, C);
    st = be->sync(be);
    lv_test_true(st == LV_ERR_RUNTIME, "embedding negative id becomes a backend error");
}

static void check_fixture(lv_backend *be) {
    lv_st_file *f = lv_test_fixture_open("embedding");
    if (!f) return;
    enum { FV = 10, FC = 6, FN = 12 };
    size_t nt = 0, ni = 0;
    float *table = lv_test_fixture_f32(f, "table", &nt), *want = lv_test_fixture_f32(f, "out", NULL);
    float *dout = lv_test_fixture_f32(f, "dout", NULL), *dtw = lv_test_fixture_f32(f, "dtable", NULL);
    int *ids = lv_test_fixture_i32(f, "ids", &ni);
    if (table && want && dout && dtw && ids && lv_test_true(nt == FV * FC && ni == FN, "embedding fixture shapes")) {
        float out[FN * FC], dt[FV * FC] = {0};
        lv_embedding_forward(be, out, ids, table, FN, FC);
        lv_embedding_backward(be, dt, dout, ids, FN, FC);
        lv_test_close("embedding forward vs torch", out, want, FN * FC, 1e-5);
        lv_test_close("embedding dtable vs torch (id 3 x4, 0/2/7 x2)", dt, dtw, FV * FC, 1e-5);
    }
    free(table); free(want); free(dout); free(dtw); free(ids);
    lv_st_close(f);
}

int main(void) {
    lv_backend *be = lv_test_cpu_backend();
    check_fd(be);
    check_fixture(be);
    lv_status st = be->sync(be);
    lv_test_true(st == LV_OK, st == LV_OK ? "no backend error" : lv_error_message());
    lv_backend_destroy(be);
    return lv_test_summary();
}
