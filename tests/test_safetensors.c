/* safetensors reader/writer: round trip of every dtype, a file written by the PyPI
 * `safetensors` package, a malformed-file corpus that must be rejected with precise messages,
 * float conversions, and the atomic save. Runs under ASan+UBSan too: LV_TEST_SANITIZE */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/safetensors.h"
#include "harness.h"

static char g_dir[] = "/tmp/lv_st_test_XXXXXX";

static void tmp_path(char *buf, size_t cap, const char *name) {
    snprintf(buf, cap, "%s/%s", g_dir, name);
}

static void write_bytes(const char *path, const void *p, size_t n) {
    FILE *fp = fopen(path, "wb");
    if (!fp || fwrite(p, 1, n, fp) != n) lv_test_fail("cannot write %s", path);
    if (fp) fclose(fp);
}

/* A file whose 8-byte length field says `hlen` (usually strlen(json)), then json, then data. */
static void write_st(const char *path, uint64_t hlen, const char *json, const void *data,
                     size_t ndata) {
    size_t nj = strlen(json), n = 8 + nj + ndata;
    unsigned char *buf = malloc(n);
    for (int i = 0; i < 8; i++) buf[i] = (unsigned char)(hlen >> (8 * i));
    memcpy(buf + 8, json, nj);
    if (ndata) memcpy(buf + 8 + nj, data, ndata);
    write_bytes(path, buf, n);
    free(buf);
}

static int contains(const char *hay, const char *needle) { return strstr(hay, needle) != NULL; }

static int has_bytes(const unsigned char *p, size_t n, const char *s) {
    size_t k = strlen(s);
    for (size_t i = 0; i + k <= n; i++)
        if (memcmp(p + i, s, k) == 0) return 1;
    return 0;
}

/* Expects lv_st_open to reject `path` with LV_ERR_INPUT and a message naming the file and
 * containing `want`. */
static void expect_reject(const char *what, const char *path, const char *want) {
    lv_st_file *f = (lv_st_file *)1;
    lv_status s = lv_st_open(&f, path);
    const char *msg = lv_error_message();
    if (s == LV_ERR_INPUT && f == NULL && contains(msg, want) && contains(msg, path))
        lv_test_pass("reject %s: %s", what, msg);
    else
        lv_test_fail("reject %s: status %d, out %p, message '%s' (wanted '%s' and the path)", what,
                     (int)s, (void *)f, s == LV_OK ? "" : msg, want);
    if (s == LV_OK) lv_st_close(f);
}

static void corpus_case(const char *name, const char *json, size_t ndata, const char *want) {
    char path[512];
    static const unsigned char zeros[64];
    tmp_path(path, sizeof path, name);
    write_st(path, strlen(json), json, zeros, ndata);
    expect_reject(name, path, want);
}

#define T1(dt, shape, off) "{\"dtype\":\"" dt "\",\"shape\":" shape ",\"data_offsets\":" off "}"

static void test_corpus(void) {
    char path[512];
    /* Controls: the generator makes loadable files when nothing is wrong. */
    const char *good[] = {"{\"a\":" T1("F32", "[1]", "[0,4]") "}   ", "{}", "  {} \n"};
    size_t good_n[] = {4, 0, 0};
    for (int i = 0; i < 3; i++) {
        tmp_path(path, sizeof path, "good.safetensors");
        static const unsigned char zeros[8];
        write_st(path, strlen(good[i]), good[i], zeros, good_n[i]);
        lv_st_file *f = NULL;
        lv_status s = lv_st_open(&f, path);
        if (!lv_test_true(s == LV_OK, "corpus control file opens"))
            printf("  %s\n", lv_error_message());
        lv_st_close(f);
    }

    tmp_path(path, sizeof path, "tiny");
    write_bytes(path, "\x10\0\0\0\0", 5);
    expect_reject("file shorter than 8 bytes", path, "shorter than the 8-byte");
    tmp_path(path, sizeof path, "empty");
    write_bytes(path, "", 0);
    expect_reject("empty file", path, "shorter than the 8-byte");
    tmp_path(path, sizeof path, "cut");
    write_st(path, 100, "{\"a\":{\"dtype\":\"F32\"", NULL, 0);
    expect_reject("header cut short", path, "past the end");
    tmp_path(path, sizeof path, "len63");
    write_st(path, (uint64_t)1 << 63, "{}", NULL, 0);
    expect_reject("header length 2^63", path, "exceeds the limit");
    tmp_path(path, sizeof path, "len64");
    write_st(path, UINT64_MAX, "{}", NULL, 0);
    expect_reject("header length 2^64-1", path, "exceeds the limit");
    tmp_path(path, sizeof path, "len_plus1");
    write_st(path, 3, "{}", NULL, 0);
    expect_reject("header length one past the end", path, "past the end");
    tmp_path(path, sizeof path, "missing");
    expect_reject("missing file", path, "cannot open");
    tmp_path(path, sizeof path, "badutf8");
    write_st(path, 7, "{\"\xff\":1}", NULL, 0);
    expect_reject("header not UTF-8", path, "UTF-8");

    corpus_case("notjson", "{\"a\":", 0, "not valid JSON");
    corpus_case("emptyhdr", "", 0, "not valid JSON");
    corpus_case("garbage_after", "{} x", 0, "not valid JSON");
    corpus_case("notobject", "[1,2]", 0, "not a JSON object");
    corpus_case("entry_notobject", "{\"a\":[1]}", 0, "expected an object");
    corpus_case("no_offsets", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, "missing field");
    corpus_case("dup_field", "{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[1],"
                "\"data_offsets\":[0,4]}}", 4, "duplicate field");
    corpus_case("dtype_notstring", "{\"a\":" T1("F32", "[1]", "[0,4]") ",\"b\":{\"dtype\":5,"
                "\"shape\":[1],\"data_offsets\":[4,8]}}", 8, "dtype to be a string");
    corpus_case("unknown_dtype", "{\"a\":" T1("F64", "[1]", "[0,8]") "}", 8, "unknown dtype");
    corpus_case("negative_shape", "{\"a\":" T1("F32", "[-1]", "[0,4]") "}", 4, "non-negative integer");
    corpus_case("fraction_shape", "{\"a\":" T1("F32", "[1.5]", "[0,4]") "}", 4, "non-negative integer");
    corpus_case("too_many_dims", "{\"a\":" T1("F32", "[1,1,1,1,1,1,1,1,1]", "[0,4]") "}", 4,
                "at most 8 dimensions");
    corpus_case("shape_overflow", "{\"a\":" T1("U8", "[9007199254740992,9007199254740992]", "[0,0]") "}",
                0, "overflows");
    corpus_case("offsets_short", "{\"a\":" T1("F32", "[1]", "[0]") "}", 4, "[begin, end]");
    corpus_case("begin_gt_end", "{\"a\":" T1("F32", "[1]", "[8,4]") "}", 8, "begin <= end");
    corpus_case("out_of_range", "{\"a\":" T1("F32", "[2]", "[0,8]") "}", 4, "out of range");
    corpus_case("huge_offset", "{\"a\":" T1("U8", "[9007199254740992]", "[0,9007199254740992]") "}",
                4, "out of range");
    corpus_case("size_mismatch", "{\"a\":" T1("F32", "[3]", "[0,8]") "}", 8, "does not match");
    corpus_case("overlap", "{\"a\":" T1("F32", "[2]", "[0,8]") ",\"b\":" T1("F32", "[2]", "[4,12]") "}",
                12, "overlap");
    corpus_case("gap", "{\"a\":" T1("F32", "[1]", "[0,4]") ",\"b\":" T1("F32", "[1]", "[8,12]") "}",
                12, "gap");
    corpus_case("not_from_zero", "{\"a\":" T1("F32", "[1]", "[4,8]") "}", 8, "gap");
    corpus_case("trailing", "{\"a\":" T1("F32", "[1]", "[0,4]") "}", 8, "trailing");
    corpus_case("duplicate", "{\"a\":" T1("F32", "[1]", "[0,4]") ",\"a\":" T1("F32", "[1]", "[4,8]") "}",
                8, "duplicate tensor name 'a'");
    corpus_case("meta_nonstring", "{\"__metadata__\":{\"k\":1}}", 0, "not a string");
    corpus_case("meta_notobject", "{\"__metadata__\":[\"k\"]}", 0, "__metadata__: expected an object");
    corpus_case("meta_dupkey", "{\"__metadata__\":{\"k\":\"1\",\"k\":\"2\"}}", 0, "duplicate key");
    corpus_case("meta_twice", "{\"__metadata__\":{},\"__metadata__\":{}}", 0, "duplicate key");
}

/* Every truncation and many single-byte corruptions of a valid file must be rejected as
 * input (or, for harmless edits, still validate) and never crash or read out of bounds. */
static void test_mutations(const unsigned char *file, size_t n) {
    char path[512];
    tmp_path(path, sizeof path, "mutant");
    int bad = 0, tried = 0;
    for (size_t len = 0; len < n; len++) {
        write_bytes(path, file, len);
        lv_st_file *f = NULL;
        tried++;
        if (lv_st_open(&f, path) != LV_ERR_INPUT) bad++;
        lv_st_close(f);
    }
    lv_test_true(bad == 0, "every truncation of the Python file is rejected as input");
    unsigned char *m = malloc(n);
    static const unsigned char vals[] = {'0', '9', '"', '}', ',', '-', 0xff, 0};
    bad = 0;
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | file[i];
    for (size_t at = 0; at < 8 + hlen && at < n; at++)
        for (size_t v = 0; v < sizeof vals; v++) {
            memcpy(m, file, n);
            m[at] = vals[v];
            write_bytes(path, m, n);
            lv_st_file *f = NULL;
            lv_status s = lv_st_open(&f, path);
            tried++;
            if (s == LV_OK) { /* then every tensor must lie inside the file */
                for (int k = 0; k < lv_st_count(f); k++) {
                    const lv_st_tensor *t = lv_st_at(f, k);
                    bad += t->end < t->begin || t->end > n;
                }
            } else if (s != LV_ERR_INPUT) {
                bad++;
            }
            lv_st_close(f);
        }
    free(m);
    if (bad == 0)
        lv_test_pass("%d truncated/corrupted files handled", tried);
    else
        lv_test_fail("%d of %d truncated/corrupted files mishandled", bad, tried);
}

static unsigned char *slurp(const char *path, size_t *n) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return NULL;
    fseek(fp, 0, SEEK_END);
    long sz = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    unsigned char *p = malloc((size_t)sz + 1);
    *n = fread(p, 1, (size_t)sz, fp);
    fclose(fp);
    return p;
}

static uint64_t header_len(const char *path) {
    size_t n = 0;
    unsigned char *p = slurp(path, &n);
    uint64_t h = 0;
    for (int i = 7; p && n >= 8 && i >= 0; i--) h = (h << 8) | p[i];
    free(p);
    return h;
}

static void check_f32(const lv_st_file *f, const char *name, int ndim, const int64_t *shape,
                      const float *want, size_t n) {
    float *got = malloc((n ? n : 1) * sizeof *got);
    if (lv_st_read_f32(f, name, got, ndim, shape) != LV_OK)
        lv_test_fail("read %s: %s", name, lv_error_message());
    else
        lv_test_true(n == 0 || memcmp(got, want, n * sizeof *got) == 0, name);
    free(got);
}

static void test_python_file(void) {
    lv_st_file *f = lv_test_fixture_open("st_python");
    if (!f) return;
    lv_test_true(lv_st_count(f) == 7, "python file has 7 tensors");
    lv_test_true(header_len(lv_st_path(f)) % 8 == 0, "python header length is a multiple of 8");
    lv_test_true(lv_st_metadata_count(f) == 2, "python file has 2 metadata entries");
    const char *fmt = lv_st_metadata(f, "format"), *note = lv_st_metadata(f, "note");
    lv_test_true(fmt && strcmp(fmt, "pt") == 0, "metadata format = pt");
    lv_test_true(note && strcmp(note, "written by safetensors") == 0, "metadata note");
    lv_test_true(lv_st_metadata(f, "absent") == NULL && lv_st_find(f, "absent") == NULL,
                 "absent keys give NULL");

    float want[12];
    for (int i = 0; i < 12; i++) want[i] = (float)i * 0.5f - 2.0f;
    check_f32(f, "a_f32", 2, (int64_t[]){3, 4}, want, 12);
    for (int i = 0; i < 6; i++) want[i] = (float)i * 0.25f - 0.5f;
    check_f32(f, "b_f16", 2, (int64_t[]){2, 3}, want, 6);
    float special[7] = {1.0f, -2.0f, 65504.0f, ldexpf(1, -24), ldexpf(1, -14), INFINITY, -0.0f};
    check_f32(f, "b_f16_special", 1, (int64_t[]){7}, special, 7);
    for (int i = 0; i < 8; i++) want[i] = (float)i * 0.125f - 1.0f;
    check_f32(f, "c_bf16", 1, (int64_t[]){8}, want, 8);
    want[0] = 3.5f;
    check_f32(f, "e_scalar", 0, NULL, want, 1);
    check_f32(f, "f_empty", 2, (int64_t[]){0, 3}, want, 0);
    const lv_st_tensor *e = lv_st_find(f, "f_empty");
    lv_test_true(e && e->ndim == 2 && e->shape[0] == 0 && e->shape[1] == 3 && e->begin == e->end,
                 "empty [0,3] tensor shape and offsets");
    const lv_st_tensor *d = lv_st_find(f, "d_i64");
    int ok = d && d->dtype == LV_DT_I64 && d->ndim == 1 && d->shape[0] == 5 &&
             strcmp(lv_dtype_name(d->dtype), "I64") == 0;
    for (int i = 0; ok && i < 5; i++) {
        int64_t v;
        memcpy(&v, (const unsigned char *)lv_st_data(f, d) + 8 * i, 8);
        ok = v == i - 2;
    }
    lv_test_true(ok, "d_i64 = arange(5) - 2");

    /* read_f32 errors: shape, rank, dtype, missing name. */
    float buf[12];
    struct {
        const char *name, *want;
        int ndim;
        int64_t shape[2];
    } cases[] = {
        {"a_f32", "tensor 'a_f32': expected shape [4,3], found [3,4]", 2, {4, 3}},
        {"a_f32", "expected shape [12], found [3,4]", 1, {12, 0}},
        {"d_i64", "expected dtype F32, F16 or BF16, found I64", 1, {5, 0}},
        {"nope", "no tensor 'nope'", 1, {1, 0}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        lv_status s = lv_st_read_f32(f, cases[i].name, buf, cases[i].ndim, cases[i].shape);
        const char *msg = lv_error_message();
        if (s == LV_ERR_INPUT && contains(msg, cases[i].want) && contains(msg, lv_st_path(f)))
            lv_test_pass("read_f32 error: %s", msg);
        else
            lv_test_fail("read_f32 error case %zu: status %d, message '%s'", i, (int)s, msg);
    }

    /* Copy through our writer: same tensors, bytes and metadata after a second read. */
    char path[512];
    tmp_path(path, sizeof path, "copy.safetensors");
    lv_st_writer *w = NULL;
    lv_status s = lv_st_writer_create(&w);
    for (int i = 0; s == LV_OK && i < lv_st_count(f); i++) {
        const lv_st_tensor *t = lv_st_at(f, i);
        s = lv_st_writer_add(w, t->name, t->dtype, t->ndim, t->shape, lv_st_data(f, t));
    }
    for (int i = 0; s == LV_OK && i < lv_st_metadata_count(f); i++)
        s = lv_st_writer_set_metadata(w, lv_st_metadata_key(f, i),
                                      lv_st_metadata(f, lv_st_metadata_key(f, i)));
    if (s == LV_OK) s = lv_st_writer_save(w, path);
    lv_st_writer_free(w);
    lv_st_file *g = NULL;
    if (s == LV_OK) s = lv_st_open(&g, path);
    ok = s == LV_OK && lv_st_count(g) == lv_st_count(f);
    for (int i = 0; ok && i < lv_st_count(f); i++) {
        const lv_st_tensor *a = lv_st_at(f, i), *b = lv_st_at(g, i);
        ok = strcmp(a->name, b->name) == 0 && a->dtype == b->dtype && a->ndim == b->ndim &&
             a->end - a->begin == b->end - b->begin &&
             memcmp(lv_st_data(f, a), lv_st_data(g, b), (size_t)(a->end - a->begin)) == 0;
    }
    lv_test_true(ok && lv_st_metadata_count(g) == 2 && strcmp(lv_st_metadata(g, "format"), "pt") == 0,
                 "python file copied through the C writer reads back identical");
    if (s != LV_OK) printf("  %s\n", lv_error_message());
    lv_st_close(g);

    size_t n = 0;
    unsigned char *raw = slurp(lv_st_path(f), &n);
    if (raw) test_mutations(raw, n);
    free(raw);
    lv_st_close(f);
}

/* Independent decoders for the conversion check (arithmetic, not bit shuffling). */
static float ref_half(uint16_t h) {
    int sign = h >> 15, exp = (h >> 10) & 31, man = h & 1023;
    float v = exp == 0    ? ldexpf((float)man, -24)
              : exp == 31 ? (man ? NAN : INFINITY)
                          : ldexpf(1.0f + (float)man / 1024.0f, exp - 15);
    return sign ? -v : v;
}

static float ref_bf16(uint16_t h) {
    int sign = h >> 15, exp = (h >> 7) & 255, man = h & 127;
    float v = exp == 0     ? ldexpf((float)man, -133)
              : exp == 255 ? (man ? NAN : INFINITY)
                           : ldexpf(1.0f + (float)man / 128.0f, exp - 127);
    return sign ? -v : v;
}

static void test_half_conversions(void) {
    enum { N = 65536 };
    uint16_t *bits = malloc(N * sizeof *bits);
    float *got = malloc(N * sizeof *got);
    for (int i = 0; i < N; i++) bits[i] = (uint16_t)i;
    char path[512];
    tmp_path(path, sizeof path, "halves.safetensors");
    lv_st_writer *w = NULL;
    int64_t shape[1] = {N};
    lv_status s = lv_st_writer_create(&w);
    if (s == LV_OK) s = lv_st_writer_add(w, "h", LV_DT_F16, 1, shape, bits);
    if (s == LV_OK) s = lv_st_writer_add(w, "b", LV_DT_BF16, 1, shape, bits);
    if (s == LV_OK) s = lv_st_writer_save(w, path);
    lv_st_writer_free(w);
    lv_st_file *f = NULL;
    if (s == LV_OK) s = lv_st_open(&f, path);
    if (!lv_test_true(s == LV_OK, "write/open all half bit patterns")) {
        printf("  %s\n", lv_error_message());
        goto done;
    }
    for (int which = 0; which < 2; which++) {
        const char *name = which ? "b" : "h";
        int bad = -1;
        if (lv_st_read_f32(f, name, got, 1, shape) != LV_OK) bad = 0;
        for (int i = 0; bad < 0 && i < N; i++) {
            float want = which ? ref_bf16((uint16_t)i) : ref_half((uint16_t)i);
            int same = isnan(want) ? isnan(got[i]) != 0
                                   : memcmp(&want, &got[i], sizeof want) == 0;
            if (!same) bad = i;
        }
        if (bad < 0)
            lv_test_pass("%s: all 65536 bit patterns convert exactly", which ? "BF16" : "F16");
        else
            lv_test_fail("%s: pattern 0x%04x converts to %g", which ? "BF16" : "F16", bad,
                         (double)got[bad]);
    }
done:
    lv_st_close(f);
    free(bits);
    free(got);
}

static void test_round_trip(void) {
    static const lv_dtype all[] = {LV_DT_F32, LV_DT_F16, LV_DT_BF16, LV_DT_I64, LV_DT_I32,
                                   LV_DT_I16, LV_DT_I8,  LV_DT_U8,   LV_DT_BOOL};
    static const char *names[] = {"F32", "F16", "BF16", "I64", "I32", "I16", "I8", "U8", "BOOL"};
    enum { ND = 9, PER = 3 };
    /* Per dtype: a 0-d scalar, a [2,3,5] block and an empty [4,0]. */
    const int ndims[PER] = {0, 3, 2};
    const int64_t shapes[PER][3] = {{0}, {2, 3, 5}, {4, 0}};
    unsigned char *data[ND * PER];
    char tname[ND * PER][32];
    size_t nbytes[ND * PER];
    lv_st_writer *w = NULL;
    lv_status s = lv_st_writer_create(&w);
    for (int k = 0; k < ND * PER; k++) {
        int d = k % ND, j = k / ND; /* interleave dtypes so insertion order is not sorted */
        size_t count = 1;
        for (int q = 0; q < ndims[j]; q++) count *= (size_t)shapes[j][q];
        nbytes[k] = count * lv_dtype_size(all[d]);
        data[k] = malloc(nbytes[k] + 1);
        for (size_t b = 0; b < nbytes[k]; b++) data[k][b] = (unsigned char)(b * 37 + (size_t)k * 11);
        if (all[d] == LV_DT_BOOL)
            for (size_t b = 0; b < nbytes[k]; b++) data[k][b] &= 1;
        snprintf(tname[k], sizeof tname[k], "%c.t%d.%s", 'z' - k % 26, k, names[d]);
        if (s == LV_OK) s = lv_st_writer_add(w, tname[k], all[d], ndims[j], shapes[j], data[k]);
    }
    if (s == LV_OK) s = lv_st_writer_set_metadata(w, "zeta", "first key");
    if (s == LV_OK) s = lv_st_writer_set_metadata(w, "alpha", "quote \" backslash \\ newline \n tab \t caf\xc3\xa9");
    if (s == LV_OK) s = lv_st_writer_set_metadata(w, "zeta", "replaced");
    if (s == LV_OK) s = lv_st_writer_set_metadata(w, "empty", "");

    lv_status dup = lv_st_writer_add(w, tname[0], LV_DT_F32, 0, NULL, data[0]);
    lv_test_true(dup == LV_ERR_INPUT && contains(lv_error_message(), "duplicate") &&
                     contains(lv_error_message(), tname[0]),
                 "writer rejects a duplicate name at add time");
    lv_status res = lv_st_writer_add(w, "__metadata__", LV_DT_F32, 0, NULL, data[0]);
    lv_test_true(res == LV_ERR_INPUT, "writer rejects the reserved name __metadata__");

    char path[512];
    tmp_path(path, sizeof path, "round.safetensors");
    if (s == LV_OK) s = lv_st_writer_save(w, path);
    lv_st_writer_free(w);
    const char *keep = getenv("LV_TEST_ST_KEEP"); /* to load by hand with the Python package */
    if (s == LV_OK && keep) {
        size_t n = 0;
        unsigned char *raw = slurp(path, &n);
        if (raw) write_bytes(keep, raw, n);
        free(raw);
    }
    lv_st_file *f = NULL;
    if (s == LV_OK) s = lv_st_open(&f, path);
    if (!lv_test_true(s == LV_OK, "round trip: save and reopen")) {
        printf("  %s\n", lv_error_message());
    } else {
        lv_test_true(header_len(path) % 8 == 0, "C header length is a multiple of 8");
        int ok = lv_st_count(f) == ND * PER;
        uint64_t at = 0;
        for (int k = 0; ok && k < ND * PER; k++) {
            const lv_st_tensor *t = lv_st_at(f, k);
            int d = k % ND, j = k / ND;
            ok = t == lv_st_find(f, tname[k]) && strcmp(t->name, tname[k]) == 0 &&
                 t->dtype == all[d] && strcmp(lv_dtype_name(t->dtype), names[d]) == 0 &&
                 t->ndim == ndims[j] && t->begin == at && t->end - t->begin == nbytes[k] &&
                 memcmp(lv_st_data(f, t), data[k], nbytes[k]) == 0;
            for (int q = 0; ok && q < ndims[j]; q++) ok = t->shape[q] == shapes[j][q];
            at = t->end;
        }
        lv_test_true(ok, "round trip: names in insertion order, dtypes, shapes, contiguous offsets, bytes");
        ok = lv_st_metadata_count(f) == 3 && strcmp(lv_st_metadata_key(f, 0), "zeta") == 0 &&
             strcmp(lv_st_metadata_key(f, 1), "alpha") == 0 &&
             strcmp(lv_st_metadata(f, "zeta"), "replaced") == 0 &&
             strcmp(lv_st_metadata(f, "alpha"), "quote \" backslash \\ newline \n tab \t caf\xc3\xa9") == 0 &&
             strcmp(lv_st_metadata(f, "empty"), "") == 0;
        lv_test_true(ok, "round trip: metadata keys in order, escaped values intact");
    }
    lv_st_close(f);
    for (int k = 0; k < ND * PER; k++) free(data[k]);

    /* No metadata set: no __metadata__ key in the header. */
    w = NULL;
    s = lv_st_writer_create(&w);
    float one = 1.0f;
    if (s == LV_OK) s = lv_st_writer_add(w, "x", LV_DT_F32, 0, NULL, &one);
    if (s == LV_OK) s = lv_st_writer_save(w, path);
    lv_st_writer_free(w);
    size_t n = 0;
    unsigned char *raw = slurp(path, &n);
    lv_test_true(s == LV_OK && raw && n > 8 && !has_bytes(raw, n, "__metadata__"),
                 "no __metadata__ written when none was set");
    free(raw);
}

static int count_tmp_files(void) {
    DIR *d = opendir(g_dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) n += strstr(e->d_name, ".tmp.") != NULL;
    if (d) closedir(d);
    return n;
}

static void test_atomic_save(void) {
    char path[512], sub[512];
    tmp_path(path, sizeof path, "atomic.safetensors");
    float a[2] = {1, 2}, b[3] = {3, 4, 5};
    int64_t sa[1] = {2}, sb[1] = {3};
    for (int round = 0; round < 2; round++) {
        lv_st_writer *w = NULL;
        lv_status s = lv_st_writer_create(&w);
        if (s == LV_OK) s = lv_st_writer_add(w, round ? "b" : "a", LV_DT_F32, 1, round ? sb : sa, round ? b : a);
        if (s == LV_OK) s = lv_st_writer_save(w, path);
        lv_st_writer_free(w);
        if (s != LV_OK) lv_test_fail("atomic save round %d: %s", round, lv_error_message());
    }
    lv_st_file *f = NULL;
    float got[3] = {0};
    lv_status s = lv_st_open(&f, path);
    if (s == LV_OK) s = lv_st_read_f32(f, "b", got, 1, sb);
    lv_test_true(s == LV_OK && lv_st_count(f) == 1 && got[2] == 5.0f,
                 "saving over an existing file replaces it");
    lv_st_close(f);
    lv_test_true(count_tmp_files() == 0, "no temp file left after saves");

    lv_st_writer *w = NULL;
    s = lv_st_writer_create(&w);
    if (s == LV_OK) s = lv_st_writer_add(w, "a", LV_DT_F32, 1, sa, a);
    tmp_path(sub, sizeof sub, "no/such/dir/x.safetensors");
    s = lv_st_writer_save(w, sub);
    lv_test_true(s != LV_OK && contains(lv_error_message(), sub) &&
                     contains(lv_error_message(), "No such file"),
                 "save into a missing directory names the path and the errno text");
    /* rename fails when the target is a directory: the temp file must be removed. */
    tmp_path(sub, sizeof sub, "adir.safetensors");
    mkdir(sub, 0700);
    s = lv_st_writer_save(w, sub);
    lv_test_true(s != LV_OK && contains(lv_error_message(), sub) && count_tmp_files() == 0,
                 "failed rename leaves no temp file");
    rmdir(sub);
    lv_st_writer_free(w);
}

static void remove_dir(void) {
    DIR *d = opendir(g_dir);
    struct dirent *e;
    char path[1024];
    while (d && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        snprintf(path, sizeof path, "%s/%s", g_dir, e->d_name);
        unlink(path);
    }
    if (d) closedir(d);
    rmdir(g_dir);
}

int main(void) {
    if (!mkdtemp(g_dir)) {
        lv_test_fail("mkdtemp failed");
        return lv_test_summary();
    }
    test_round_trip();
    test_python_file();
    test_half_conversions();
    test_corpus();
    test_atomic_save();
    remove_dir();
    return lv_test_summary();
}
