/* CUDA-vs-CPU twins of the text-encoder ops: layernorm, gelu, softmax, attention, embedding
 * and masked_mean_pool. Forward outputs and every gradient at 1e-5 in fp32 (attention also
 * under TF32, see TOL_TF32), "+=" into non-zero gradients, NULL gradients, odd sizes and
 * one-row cases, padding masks (an all-padding sequence included), repeated token ids, and
 * bit-identical reruns (no float atomics). Backward ops get the CPU's saved tensors
 * (mean/rstd, probabilities) so each twin is compared on identical inputs. */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/backend.h"
#include "harness.h"
#include "twin.h"

#define TOL 1e-5
/* TF32 tensor cores read only the top 10 mantissa bits of each input (truncation, not
 * rounding): each product may lose up to 2 * 2^-10 ~ 2e-3 relative, and P V averages values
 * of both signs, so |out| is small next to those products. Simulated with truncated inputs
 * over 200 draws per case, the worst error against max|out| was 1.3e-3 (above 1e-3 in
 * ~20% of draws); 3e-3 keeps a margin while a wrong stride or head still fails by O(1). */
#define TOL_TF32 3e-3

static lv_backend *cpu, *dev;

static void *xmalloc(size_t bytes) {
    void *p = malloc(bytes ? bytes : 1);
    if (!p) {
        fprintf(stderr, "test_cuda_text: out of memory\n");
        exit(1);
    }
    return p;
}

static float *hrand(size_t n, uint64_t seed, float lo, float hi) {
    float *x = xmalloc(n * sizeof *x);
    lv_test_fill_uniform(x, n, seed, lo, hi);
    return x;
}

static float *hcopy(const float *x, size_t n) {
    float *y = xmalloc(n * sizeof *y);
    memcpy(y, x, n * sizeof *y);
    return y;
}

static float *hzeros(size_t n) {
    float *x = calloc(n ? n : 1, sizeof *x);
    if (!x) {
        fprintf(stderr, "test_cuda_text: out of memory\n");
        exit(1);
    }
    return x;
}

static float *up(const float *host, size_t n) { return lv_twin_up(dev, host, n); }
static int *up_int(const int *host, size_t n) { return lv_twin_up_int(dev, host, n); }
static void dfree(void *p) { dev->free(dev, p); }

/* The device's dptr[0..n) against the CPU's want[0..n). */
static void check(const float *dptr, const float *want, size_t n, double tol, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void check(const float *dptr, const float *want, size_t n, double tol, const char *fmt, ...) {
    char what[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    (void)lv_twin_expect(dev, what, dptr, want, n, tol);
}

/* Two device results of the same op on the same inputs must agree to the bit. */
static void same_bits(const float *d1, const float *d2, size_t n, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void same_bits(const float *d1, const float *d2, size_t n, const char *fmt, ...) {
    char what[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (lv_twin_sync(dev, what)) return;
    float *a = xmalloc(n * sizeof *a), *b = xmalloc(n * sizeof *b);
    dev->copy_d2h(dev, a, d1, n * sizeof *a);
    dev->copy_d2h(dev, b, d2, n * sizeof *b);
    lv_test_true(memcmp(a, b, n * sizeof *a) == 0, what);
    free(a);
    free(b);
}

/* A NULL-gradient call must be a clean no-op (no sticky error, nothing touched). */
static void null_ok(const char *what) {
    if (lv_twin_sync(dev, what) == 0) lv_test_pass("%s", what);
}

/* ---- layernorm ---------------------------------------------------------------------- */

static void test_layernorm(int rows, int c, float offset, float eps, uint64_t seed) {
    const size_t n = (size_t)rows * c;
    float *in = hrand(n, seed, offset - 1.0f, offset + 1.0f);
    float *w = hrand((size_t)c, seed + 1, 0.5f, 1.5f), *b = hrand((size_t)c, seed + 2, -0.5f, 0.5f);
    float *dout = hrand(n, seed + 3, -1.0f, 1.0f);
    float *din0 = hrand(n, seed + 4, -1.0f, 1.0f), *dw0 = hrand((size_t)c, seed + 5, -1.0f, 1.0f);
    float *db0 = hrand((size_t)c, seed + 6, -1.0f, 1.0f);
    float *out = hzeros(n), *mean = hzeros((size_t)rows), *rstd = hzeros((size_t)rows);
    float *din = hcopy(din0, n), *dw = hcopy(dw0, (size_t)c), *db = hcopy(db0, (size_t)c);
    lv_layernorm_forward(cpu, out, mean, rstd, in, w, b, rows, c, eps);
    lv_layernorm_backward(cpu, din, dw, db, dout, in, w, mean, rstd, rows, c);

    float *d_in = up(in, n), *d_w = up(w, (size_t)c), *d_b = up(b, (size_t)c);
    float *d_out = up(NULL, n), *d_mean = up(NULL, (size_t)rows), *d_rstd = up(NULL, (size_t)rows);
    float *d_out2 = up(NULL, n);
    lv_layernorm_forward(dev, d_out, d_mean, d_rstd, d_in, d_w, d_b, rows, c, eps);
    check(d_out, out, n, TOL, "layernorm %dx%d (offset %g, eps %g): out", rows, c, offset, eps);
    check(d_mean, mean, (size_t)rows, TOL, "layernorm %dx%d: mean", rows, c);
    check(d_rstd, rstd, (size_t)rows, TOL, "layernorm %dx%d: rstd", rows, c);
    lv_layernorm_forward(dev, d_out2, NULL, NULL, d_in, d_w, d_b, rows, c, eps);
    same_bits(d_out, d_out2, n, "layernorm %dx%d: rerun without mean/rstd gives the same bits", rows, c);

    /* Backward from the CPU's saved statistics: all three grads, then dw alone, then din
     * and db (NULL paths), each from the same non-zero start. */
    float *c_mean = up(mean, (size_t)rows), *c_rstd = up(rstd, (size_t)rows), *d_dout = up(dout, n);
    float *d_din = up(din0, n), *d_dw = up(dw0, (size_t)c), *d_db = up(db0, (size_t)c);
    float *d_din2 = up(din0, n), *d_dw2 = up(dw0, (size_t)c), *d_db2 = up(db0, (size_t)c);
    lv_layernorm_backward(dev, d_din, d_dw, d_db, d_dout, d_in, d_w, c_mean, c_rstd, rows, c);
    check(d_din, din, n, TOL, "layernorm %dx%d: din +=", rows, c);
    check(d_dw, dw, (size_t)c, TOL, "layernorm %dx%d: dw +=", rows, c);
    check(d_db, db, (size_t)c, TOL, "layernorm %dx%d: db +=", rows, c);
    lv_layernorm_backward(dev, NULL, d_dw2, NULL, d_dout, d_in, d_w, c_mean, c_rstd, rows, c);
    same_bits(d_dw, d_dw2, (size_t)c, "layernorm %dx%d: dw alone (din, db NULL), same bits", rows, c);
    lv_layernorm_backward(dev, d_din2, NULL, d_db2, d_dout, d_in, d_w, c_mean, c_rstd, rows, c);
    same_bits(d_din, d_din2, n, "layernorm %dx%d: din with dw NULL, same bits", rows, c);
    same_bits(d_db, d_db2, (size_t)c, "layernorm %dx%d: db with dw NULL, same bits", rows, c);
    lv_layernorm_backward(dev, NULL, NULL, NULL, d_dout, d_in, d_w, c_mean, c_rstd, rows, c);
    null_ok("layernorm: all-NULL backward is a no-op");

    void *dp[] = {d_in, d_w, d_b, d_out, d_mean, d_rstd, d_out2, c_mean, c_rstd, d_dout,
                  d_din, d_dw, d_db, d_din2, d_dw2, d_db2};
    for (size_t i = 0; i < sizeof dp / sizeof dp[0]; i++) dfree(dp[i]);
    void *hp[] = {in, w, b, dout, din0, dw0, db0, out, mean, rstd, din, dw, db};
    for (size_t i = 0; i < sizeof hp / sizeof hp[0]; i++) free(hp[i]);
}

/* ---- gelu ---------------------------------------------------------------------------- */

static void test_gelu(size_t n, uint64_t seed) {
    float *in = hrand(n, seed, -6.0f, 6.0f), *dout = hrand(n, seed + 1, -1.0f, 1.0f);
    float *din0 = hrand(n, seed + 2, -1.0f, 1.0f), *din = hcopy(din0, n), *out = hzeros(n);
    lv_gelu_forward(cpu, out, in, n);
    lv_gelu_backward(cpu, din, dout, in, n);
    float *d_in = up(in, n), *d_out = up(NULL, n), *d_dout = up(dout, n), *d_din = up(din0, n);
    lv_gelu_forward(dev, d_out, d_in, n);
    check(d_out, out, n, TOL, "gelu n=%zu: out", n);
    lv_gelu_backward(dev, d_din, d_dout, d_in, n);
    check(d_din, din, n, TOL, "gelu n=%zu: din +=", n);
    lv_gelu_backward(dev, NULL, d_dout, d_in, n);
    null_ok("gelu: NULL din is a no-op");
    dfree(d_in), dfree(d_out), dfree(d_dout), dfree(d_din);
    free(in), free(dout), free(din0), free(din), free(out);
}

/* ---- softmax ------------------------------------------------------------------------- */

static void test_softmax(int rows, int cols, uint64_t seed) {
    const size_t n = (size_t)rows * cols;
    float *in = hrand(n, seed, -8.0f, 8.0f), *dout = hrand(n, seed + 1, -1.0f, 1.0f);
    float *din0 = hrand(n, seed + 2, -1.0f, 1.0f), *din = hcopy(din0, n), *out = hzeros(n);
    lv_softmax_forward(cpu, out, in, rows, cols);
    lv_softmax_backward(cpu, din, dout, out, rows, cols);
    float *d_in = up(in, n), *d_out = up(NULL, n), *d_y = up(out, n), *d_dout = up(dout, n);
    float *d_din = up(din0, n);
    lv_softmax_forward(dev, d_out, d_in, rows, cols);
    check(d_out, out, n, TOL, "softmax %dx%d: out", rows, cols);
    lv_softmax_backward(dev, d_din, d_dout, d_y, rows, cols);
    check(d_din, din, n, TOL, "softmax %dx%d: din +=", rows, cols);
    lv_softmax_backward(dev, NULL, d_dout, d_y, rows, cols);
    null_ok("softmax: NULL din is a no-op");
    dfree(d_in), dfree(d_out), dfree(d_y), dfree(d_dout), dfree(d_din);
    free(in), free(dout), free(din0), free(din), free(out);
}

/* ---- attention ----------------------------------------------------------------------- */

/* lens[s] real tokens then padding; lens NULL: no mask at all. */
static void test_attention(int b, int t, int c, int nh, const int *lens, double tol, uint64_t seed) {
    const lv_attn_shape s = {.b = b, .t = t, .c = c, .nh = nh};
    const size_t nqkv = (size_t)b * t * 3 * c, nout = (size_t)b * t * c;
    const size_t natt = (size_t)b * nh * t * t;
    const char *prec = dev->tf32 ? "tf32" : "fp32";
    int *mask = NULL;
    if (lens) {
        mask = xmalloc((size_t)b * t * sizeof *mask);
        for (int bi = 0; bi < b; bi++)
            for (int j = 0; j < t; j++) mask[bi * t + j] = j < lens[bi];
    }
    float *qkv = hrand(nqkv, seed, -1.0f, 1.0f), *dout = hrand(nout, seed + 1, -1.0f, 1.0f);
    float *dqkv0 = hrand(nqkv, seed + 2, -1.0f, 1.0f), *dqkv = hcopy(dqkv0, nqkv);
    float *out = hzeros(nout), *att = hzeros(natt);
    lv_attention_forward(cpu, out, att, qkv, mask, &s);
    lv_attention_backward(cpu, dqkv, dout, qkv, att, mask, &s);

    float *d_qkv = up(qkv, nqkv), *d_out = up(NULL, nout), *d_att = up(NULL, natt);
    float *d_out2 = up(NULL, nout), *d_att2 = up(NULL, natt), *d_out3 = up(NULL, nout);
    int *d_mask = mask ? up_int(mask, (size_t)b * t) : NULL;
    lv_attention_forward(dev, d_out, d_att, d_qkv, d_mask, &s);
    check(d_out, out, nout, tol, "attention %s b=%d t=%d c=%d nh=%d%s: out", prec, b, t, c, nh,
          lens ? " masked" : "");
    check(d_att, att, natt, tol, "attention %s b=%d t=%d c=%d nh=%d: att", prec, b, t, c, nh);
    lv_attention_forward(dev, d_out2, d_att2, d_qkv, d_mask, &s);
    same_bits(d_out, d_out2, nout, "attention %s t=%d nh=%d: rerun out, same bits", prec, t, nh);
    same_bits(d_att, d_att2, natt, "attention %s t=%d nh=%d: rerun att, same bits", prec, t, nh);
    lv_attention_forward(dev, d_out3, NULL, d_qkv, d_mask, &s);
    check(d_out3, out, nout, tol, "attention %s t=%d nh=%d: out with att NULL", prec, t, nh);

    if (mask && lv_twin_sync(dev, "attention: probabilities") == 0) {
        /* Padded keys of a sequence with real tokens: probability exactly 0, as the CPU. */
        float *got = xmalloc(natt * sizeof *got);
        dev->copy_d2h(dev, got, d_att, natt * sizeof *got);
        int exact = 1;
        for (int bi = 0; bi < b; bi++)
            for (int hh = 0; hh < nh; hh++)
                for (int i = 0; i < t; i++)
                    for (int j = lens[bi]; j < t && lens[bi] > 0; j++)
                        if (got[(((size_t)bi * nh + hh) * t + i) * t + j] != 0.0f) exact = 0;
        char what[120];
        snprintf(what, sizeof what, "attention %s t=%d nh=%d: padded keys get exactly 0", prec, t, nh);
        lv_test_true(exact, what);
        free(got);
    }

    float *c_att = up(att, natt), *d_dout = up(dout, nout), *d_dqkv = up(dqkv0, nqkv);
    float *d_dqkv2 = up(dqkv0, nqkv);
    lv_attention_backward(dev, d_dqkv, d_dout, d_qkv, c_att, d_mask, &s);
    check(d_dqkv, dqkv, nqkv, tol, "attention %s b=%d t=%d c=%d nh=%d: dqkv +=", prec, b, t, c, nh);
    lv_attention_backward(dev, d_dqkv2, d_dout, d_qkv, c_att, d_mask, &s);
    same_bits(d_dqkv, d_dqkv2, nqkv, "attention %s t=%d nh=%d: rerun dqkv, same bits", prec, t, nh);
    lv_attention_backward(dev, NULL, d_dout, d_qkv, c_att, d_mask, &s);
    null_ok("attention: NULL dqkv is a no-op");

    void *dp[] = {d_qkv, d_out, d_att, d_out2, d_att2, d_out3, d_mask, c_att, d_dout, d_dqkv, d_dqkv2};
    for (size_t i = 0; i < sizeof dp / sizeof dp[0]; i++)
        if (dp[i]) dfree(dp[i]);
    free(mask), free(qkv), free(dout), free(dqkv0), free(dqkv), free(out), free(att);
}

static void attention_cases(double tol) {
    static const int l2a[] = {7, 4}, l2b[] = {5, 7}, l2c[] = {7, 2}, l1[] = {1}, l3[] = {77, 20, 0};
    test_attention(2, 7, 24, 2, l2a, tol, 100);  /* hd 12 */
    test_attention(2, 7, 30, 3, l2b, tol, 110);  /* hd 10 */
    test_attention(2, 7, 64, 4, l2c, tol, 120);  /* hd 16 */
    test_attention(2, 7, 36, 4, NULL, tol, 130); /* hd 9, no mask */
    test_attention(1, 1, 8, 1, l1, tol, 140);    /* one token */
    /* t > 64: a warp's lanes loop three times per row; the third sequence is all padding
     * (uniform probabilities, as HF and the CPU give). */
    test_attention(3, 77, 128, 4, l3, tol, 150);
}

/* ---- embedding ----------------------------------------------------------------------- */

/* ids drawn from a pool of `distinct` values spread over [0, vocab): repeats guaranteed
 * when n > distinct. */
static void test_embedding(int vocab, int n, int c, int distinct, uint64_t seed) {
    const size_t nt = (size_t)vocab * c, no = (size_t)n * c;
    float *u = hrand((size_t)n, seed, 0.0f, 1.0f);
    int *ids = xmalloc((size_t)n * sizeof *ids);
    for (int i = 0; i < n; i++) {
        int k = (int)(u[i] * distinct);
        if (k >= distinct) k = distinct - 1;
        ids[i] = (int)(((long)k * 7919 + 3) % vocab);
    }
    float *table = hrand(nt, seed + 1, -1.0f, 1.0f), *dout = hrand(no, seed + 2, -1.0f, 1.0f);
    float *dt0 = hrand(nt, seed + 3, -1.0f, 1.0f), *dt = hcopy(dt0, nt), *out = hzeros(no);
    lv_embedding_forward(cpu, out, ids, table, n, c);
    lv_embedding_backward(cpu, dt, dout, ids, n, c);

    int *d_ids = up_int(ids, (size_t)n);
    float *d_table = up(table, nt), *d_out = up(NULL, no), *d_dout = up(dout, no);
    float *d_dt = up(dt0, nt), *d_dt2 = up(dt0, nt);
    lv_embedding_forward(dev, d_out, d_ids, d_table, n, c);
    check(d_out, out, no, 0.0, "embedding vocab=%d n=%d c=%d: out (exact)", vocab, n, c);
    lv_embedding_backward(dev, d_dt, d_dout, d_ids, n, c);
    check(d_dt, dt, nt, TOL, "embedding vocab=%d n=%d c=%d (%d distinct ids): dtable +=", vocab, n, c,
          distinct);
    lv_embedding_backward(dev, d_dt2, d_dout, d_ids, n, c);
    same_bits(d_dt, d_dt2, nt, "embedding n=%d: rerun dtable, same bits", n);
    lv_embedding_backward(dev, NULL, d_dout, d_ids, n, c);
    null_ok("embedding: NULL dtable is a no-op");

    dfree(d_ids), dfree(d_table), dfree(d_out), dfree(d_dout), dfree(d_dt), dfree(d_dt2);
    free(u), free(ids), free(table), free(dout), free(dt0), free(dt), free(out);
}

/* ---- masked_mean_pool ---------------------------------------------------------------- */

/* mask == NULL: random 0/1 with sequence 1 (when b > 1) all padding and sequence 0 all kept. */
static void test_pool(int b, int t, int c, const int *mask_in, uint64_t seed) {
    const size_t nin = (size_t)b * t * c, nout = (size_t)b * c;
    int *mask = xmalloc((size_t)b * t * sizeof *mask);
    if (mask_in) {
        memcpy(mask, mask_in, (size_t)b * t * sizeof *mask);
    } else {
        float *u = hrand((size_t)b * t, seed + 9, 0.0f, 1.0f);
        for (int i = 0; i < b * t; i++) mask[i] = u[i] < 0.6f;
        for (int j = 0; j < t; j++) mask[j] = 1;
        if (b > 1)
            for (int j = 0; j < t; j++) mask[t + j] = 0;
        free(u);
    }
    float *in = hrand(nin, seed, -1.0f, 1.0f), *dout = hrand(nout, seed + 1, -1.0f, 1.0f);
    float *din0 = hrand(nin, seed + 2, -1.0f, 1.0f), *din = hcopy(din0, nin), *out = hzeros(nout);
    lv_masked_mean_pool_forward(cpu, out, in, mask, b, t, c);
    lv_masked_mean_pool_backward(cpu, din, dout, mask, b, t, c);

    int *d_mask = up_int(mask, (size_t)b * t);
    float *d_in = up(in, nin), *d_out = up(NULL, nout), *d_dout = up(dout, nout), *d_din = up(din0, nin);
    lv_masked_mean_pool_forward(dev, d_out, d_in, d_mask, b, t, c);
    check(d_out, out, nout, TOL, "masked_mean_pool b=%d t=%d c=%d: out", b, t, c);
    lv_masked_mean_pool_backward(dev, d_din, d_dout, d_mask, b, t, c);
    check(d_din, din, nin, TOL, "masked_mean_pool b=%d t=%d c=%d: din +=", b, t, c);
    lv_masked_mean_pool_backward(dev, NULL, d_dout, d_mask, b, t, c);
    null_ok("masked_mean_pool: NULL din is a no-op");

    dfree(d_mask), dfree(d_in), dfree(d_out), dfree(d_dout), dfree(d_din);
    free(mask), free(in), free(dout), free(din0), free(din), free(out);
}

int main(void) {
    int rc = lv_twin_open(&cpu, &dev);
    if (rc != 0) return rc;

    test_layernorm(1, 37, 0.0f, 1e-12f, 1);
    test_layernorm(2, 1, 0.0f, 1e-5f, 11);
    test_layernorm(13, 77, 100.0f, 1e-12f, 21); /* large offset: two-pass variance */
    test_layernorm(67, 768, 0.0f, 1e-5f, 31);
    test_layernorm(4100, 96, 3.0f, 1e-12f, 41); /* many row chunks in dw/db */

    test_gelu(1, 51);
    test_gelu(100003, 52);

    test_softmax(1, 1, 61);
    test_softmax(1, 5, 62);
    test_softmax(37, 77, 63);
    test_softmax(5, 33, 64);
    test_softmax(3, 1000, 65);

    attention_cases(TOL);
    dev->tf32 = 1;
    attention_cases(TOL_TF32);
    dev->tf32 = 0;

    test_embedding(5, 1, 1, 1, 71);
    test_embedding(50, 37, 19, 11, 72);
    test_embedding(30522, 300, 64, 300, 73);
    test_embedding(30522, 2000, 33, 40, 74); /* heavy repeats */
    test_embedding(100, 64, 8, 1, 75);       /* one id everywhere */

    static const int m4[4 * 7] = {1, 1, 1, 1, 1, 1, 1,  1, 1, 1, 0, 0, 0, 0,
                                  0, 0, 0, 0, 0, 0, 0,  1, 0, 3, 0, 1, 0, 0};
    static const int m1[1] = {1};
    test_pool(4, 7, 37, m4, 81);
    test_pool(1, 1, 1, m1, 82);
    test_pool(3, 128, 768, NULL, 83);

    return lv_twin_close(cpu, dev);
}
