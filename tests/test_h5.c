/* HDF5 data files: the h5py-written fixtures (tests/fixtures_h5.py) read exactly, pixel by
 * pixel; streaming returns the same samples as memory; lv_h5_write round-trips every field
 * (with and without gzip) atomically; and files that are not data files (text, empty,
 * truncated, missing, a directory, non-finite floats) fail with LV_ERR_INPUT and a message
 * naming the file. LV_TEST_SANITIZE: runs under ASan+UBSan too. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data/h5_dataset.h"
#include "harness.h"

#define FIX(name) LV_FIXTURE_DIR "/" name

/* ---- what the fixtures hold (formulas shared with tests/fixtures_h5.py) --------------- */

static double pixel_a(int i, int p, int y, int x) { return (i * 37 + p * 11 + y * 5 + x * 3) % 400 - 150; }
static double pixel_b(int i, int p, int y, int x) { return (i * 13 + p * 7 + y * 3 + x) % 256; }
static double pixel_c(int i, int p, int y, int x) {
    return (float)((i - 2.5) * 0.5 + p * 0.25 + y * 0.125 - x * 0.0625);
}

static double pixel_at(const lv_dataset *ds, const void *buf, size_t j) {
    switch (ds->pixel) {
    case LV_PIX_I16: return ((const int16_t *)buf)[j];
    case LV_PIX_U8: return ((const uint8_t *)buf)[j];
    default: return ((const float *)buf)[j];
    }
}

/* Every pixel of every sample through lv_dataset_read_raw (memory or streamed). */
static void check_pixels(const char *what, const lv_dataset *ds, double (*f)(int, int, int, int)) {
    void *buf = malloc(lv_dataset_sample_bytes(ds));
    int bad = 0;
    char msg[160] = "";
    for (int i = 0; i < ds->n && !bad; i++) {
        if (lv_dataset_read_raw(ds, i, buf) != LV_OK) {
            snprintf(msg, sizeof msg, "sample %d: %s", i, lv_error_message());
            bad = 1;
            break;
        }
        size_t j = 0;
        for (int p = 0; p < ds->p && !bad; p++)
            for (int y = 0; y < ds->h && !bad; y++)
                for (int x = 0; x < ds->w && !bad; x++, j++)
                    if (pixel_at(ds, buf, j) != f(i, p, y, x)) {
                        snprintf(msg, sizeof msg, "[%d,%d,%d,%d] = %g, want %g", i, p, y, x, pixel_at(ds, buf, j),
                                 f(i, p, y, x));
                        bad = 1;
                    }
    }
    free(buf);
    if (bad) lv_test_fail("%s pixels: %s", what, msg);
    else lv_test_pass("%s: every pixel matches the fixture formula", what);
}

static int same_i32(const int32_t *a, const int *b, int64_t n) {
    if (!a) return 0;
    for (int64_t i = 0; i < n; i++)
        if (a[i] != b[i]) return 0;
    return 1;
}

static int same_names(char *const *got, int n, const char *const *want, int wn) {
    if (n != wn) return 0;
    for (int i = 0; i < n; i++)
        if (!got[i] || strcmp(got[i], want[i]) != 0) return 0;
    return 1;
}

static void check_fixture_a(const lv_dataset *ds, const char *what) {
    static const char *classes[] = {"CYST", "FNH", "HCC", "HEM", "METS"}, *phases[] = {"NC", "ART", "PV"};
    static const int labels[] = {0, 1, 2, 3, 4, 0}, patients[] = {0, 0, 1, 2, 2, 3}, lesions[] = {0, 1, 0, 0, 0, 0};
    static const char *ids[] = {"10", "11", "12", "13"};
    char m[128];
    snprintf(m, sizeof m, "%s: shape [6,3,8,8], int16, HU", what);
    lv_test_true(ds->n == 6 && ds->p == 3 && ds->h == 8 && ds->w == 8 && ds->pixel == LV_PIX_I16 && ds->hu == 1, m);
    snprintf(m, sizeof m, "%s: classes (vlen) and phases", what);
    lv_test_true(same_names(ds->classes, ds->c, classes, 5) && same_names(ds->phases, ds->p, phases, 3), m);
    snprintf(m, sizeof m, "%s: int64 labels, int patients made dense, lesions", what);
    lv_test_true(same_i32(ds->labels, labels, 6) && same_i32(ds->patients, patients, 6) && ds->n_patients == 4 &&
                     same_names(ds->patient_ids, ds->n_patients, ids, 4) && same_i32(ds->lesions, lesions, 6),
                 m);
    int rep_ok = ds->reports != NULL;
    for (int k = 0; rep_ok && k < 6; k++) {
        char want[64];
        snprintf(want, sizeof want, "report %d: hypodense lesion \xe2\x80\x94 %d mm", k, 10 + k);
        rep_ok = ds->reports[k] && strcmp(ds->reports[k], want) == 0;
    }
    snprintf(m, sizeof m, "%s: UTF-8 reports exact, no split", what);
    lv_test_true(rep_ok && ds->split == NULL, m);
    check_pixels(what, ds, pixel_a);
}

static void check_fixture_b(const lv_dataset *ds, const char *what) {
    static const char *classes[] = {"CYST", "HCC"}, *phases[] = {"ART", "PV"}, *ids[] = {"P001", "P002", "P003"};
    static const int labels[] = {1, 0, 1, 1, 0}, patients[] = {0, 1, 0, 2, 1};
    char m[128];
    snprintf(m, sizeof m, "%s: shape [5,2,6,7], uint8, units raw", what);
    lv_test_true(ds->n == 5 && ds->p == 2 && ds->h == 6 && ds->w == 7 && ds->pixel == LV_PIX_U8 && ds->hu == 0, m);
    snprintf(m, sizeof m, "%s: fixed-length class/phase names", what);
    lv_test_true(same_names(ds->classes, ds->c, classes, 2) && same_names(ds->phases, ds->p, phases, 2), m);
    snprintf(m, sizeof m, "%s: int16 labels, fixed-length string patients", what);
    lv_test_true(same_i32(ds->labels, labels, 5) && same_i32(ds->patients, patients, 5) &&
                     same_names(ds->patient_ids, ds->n_patients, ids, 3),
                 m);
    snprintf(m, sizeof m, "%s: no lesions, reports or split", what);
    lv_test_true(!ds->lesions && !ds->reports && !ds->split, m);
    check_pixels(what, ds, pixel_b);
}

static void check_fixture_c(const lv_dataset *ds, const char *what) {
    static const char *classes[] = {"CYST", "HCC", "METS"}, *phases[] = {"NC", "ART", "PV", "DL"};
    static const int labels[] = {2, 0, 1, 2}, split[] = {0, 0, 1, 2};
    char m[128];
    snprintf(m, sizeof m, "%s: shape [4,4,5,5], big-endian float32, raw", what);
    lv_test_true(ds->n == 4 && ds->p == 4 && ds->h == 5 && ds->w == 5 && ds->pixel == LV_PIX_F32 && ds->hu == 0, m);
    snprintf(m, sizeof m, "%s: list-of-str attributes", what);
    lv_test_true(same_names(ds->classes, ds->c, classes, 3) && same_names(ds->phases, ds->p, phases, 4), m);
    snprintf(m, sizeof m, "%s: big-endian labels, int8 split, no patients", what);
    lv_test_true(same_i32(ds->labels, labels, 4) && same_i32(ds->split, split, 4) && !ds->patients, m);
    check_pixels(what, ds, pixel_c);
}

typedef void (*fixture_check)(const lv_dataset *, const char *);

static void test_fixture(const char *path, fixture_check check) {
    lv_dataset mem, str;
    lv_status s = lv_h5_read(&mem, path, NULL);
    if (!lv_test_true(s == LV_OK, path)) {
        fprintf(stderr, "  %s\n", lv_error_message());
        return;
    }
    lv_test_true(mem.images != NULL && mem.read_sample == NULL, "small file is read into memory");
    check(&mem, path);
    lv_h5_open_opts tiny = {.max_memory_bytes = 1};
    s = lv_h5_read(&str, path, &tiny);
    if (lv_test_true(s == LV_OK && str.images == NULL && str.read_sample != NULL, "max_memory 1 byte: streamed")) {
        check(&str, "streamed");
        /* Samples out of order, as a shuffled loader asks for them. */
        size_t b = lv_dataset_sample_bytes(&mem);
        unsigned char *x = malloc(b);
        int same = 1;
        for (int64_t k = 0; k < 3 * mem.n; k++) {
            int64_t i = (k * 7 + 3) % mem.n;
            same &= lv_dataset_read_raw(&str, i, x) == LV_OK && memcmp(x, (char *)mem.images + i * b, b) == 0;
        }
        free(x);
        lv_test_true(same, "streamed samples in shuffled order equal the in-memory ones");
    }
    lv_dataset_free(&str);
    lv_dataset_free(&mem);
}

/* ---- writer ---------------------------------------------------------------------------- */

static int same_strs(char *const *a, char *const *b, int64_t n) {
    if (!a || !b) return a == b;
    for (int64_t i = 0; i < n; i++)
        if (strcmp(a[i], b[i]) != 0) return 0;
    return 1;
}

static int same_opt_i32(const int32_t *a, const int32_t *b, int64_t n) {
    if (!a || !b) return a == b;
    return memcmp(a, b, (size_t)n * sizeof *a) == 0;
}

/* Every field of two datasets, pixels included (read through either source). */
static int datasets_equal(const lv_dataset *a, const lv_dataset *b, char *why, size_t size) {
#define DIFF(cond, ...)                                                                           \
    do {                                                                                          \
        if (cond) {                                                                               \
            snprintf(why, size, __VA_ARGS__);                                                     \
            return 0;                                                                             \
        }                                                                                         \
    } while (0)
    DIFF(a->n != b->n || a->p != b->p || a->h != b->h || a->w != b->w, "shape");
    DIFF(a->c != b->c || a->pixel != b->pixel || a->hu != b->hu, "classes count, pixel type or units");
    DIFF(!same_strs(a->classes, b->classes, a->c) || !same_strs(a->phases, b->phases, a->p), "names");
    DIFF(!same_opt_i32(a->labels, b->labels, a->n), "labels");
    DIFF(!same_opt_i32(a->patients, b->patients, a->n) || a->n_patients != b->n_patients, "patients");
    DIFF(!same_strs(a->patient_ids, b->patient_ids, a->n_patients), "patient ids");
    DIFF(!same_opt_i32(a->lesions, b->lesions, a->n), "lesions");
    DIFF(!same_opt_i32(a->split, b->split, a->n), "split");
    DIFF(!same_strs(a->reports, b->reports, a->reports ? a->n : 0), "reports");
    size_t bytes = lv_dataset_sample_bytes(a);
    unsigned char *x = malloc(bytes), *y = malloc(bytes);
    int same = 1;
    for (int64_t i = 0; same && i < a->n; i++)
        same = lv_dataset_read_raw(a, i, x) == LV_OK && lv_dataset_read_raw(b, i, y) == LV_OK && !memcmp(x, y, bytes);
    free(x);
    free(y);
    DIFF(!same, "pixels");
    return 1;
#undef DIFF
}

static int dir_has_temp(const char *dir) {
    DIR *d = opendir(dir);
    int found = 0;
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) found |= strstr(e->d_name, ".tmp.") != NULL;
    if (d) closedir(d);
    return found;
}

static void test_round_trip(const char *dir, const char *fixture, int gzip) {
    lv_dataset src, back;
    char out[512], m[640], why[64] = "";
    snprintf(out, sizeof out, "%s/rt_gzip%d.h5", dir, gzip);
    if (!lv_test_true(lv_h5_read(&src, fixture, NULL) == LV_OK, "round trip: read the fixture")) return;
    lv_h5_write_opts wo = {.gzip_level = gzip};
    lv_status s = lv_h5_write(&src, out, &wo);
    snprintf(m, sizeof m, "write %s (gzip %d)", out, gzip);
    if (lv_test_true(s == LV_OK, m)) {
        s = lv_h5_read(&back, out, NULL);
        snprintf(m, sizeof m, "%s: read back", out);
        if (lv_test_true(s == LV_OK, m)) {
            int eq = datasets_equal(&src, &back, why, sizeof why);
            snprintf(m, sizeof m, "%s (gzip %d): every field equal%s%s", fixture, gzip, eq ? "" : ", differs in ", why);
            lv_test_true(eq, m);
            lv_dataset_free(&back);
        } else {
            fprintf(stderr, "  %s\n", lv_error_message());
        }
        /* Streaming source -> writer -> memory: the writer copies sample by sample. */
        lv_h5_open_opts tiny = {.max_memory_bytes = 1};
        lv_dataset str;
        char out2[600];
        snprintf(out2, sizeof out2, "%s.copy.h5", out);
        if (lv_h5_read(&str, out, &tiny) == LV_OK && lv_h5_write(&str, out2, &wo) == LV_OK &&
            lv_h5_read(&back, out2, NULL) == LV_OK) {
            lv_test_true(datasets_equal(&src, &back, why, sizeof why), "streamed dataset written again is identical");
            lv_dataset_free(&back);
        } else {
            lv_test_fail("copy of a streamed dataset: %s", lv_error_message());
        }
        lv_dataset_free(&str);
    } else {
        fprintf(stderr, "  %s\n", lv_error_message());
    }
    lv_test_true(!dir_has_temp(dir), "no temporary file left behind");
    lv_dataset_free(&src);
}

/* Patient ids that are not canonical integers ("007") stay strings; overwriting replaces. */
static void test_writer_details(const char *dir) {
    lv_dataset ds, back;
    lv_dataset_init(&ds);
    const char *classes[] = {"A", "B"}, *phases[] = {"NC"}, *ids[] = {"007", "7", "007"};
    char out[512];
    snprintf(out, sizeof out, "%s/details.h5", dir);
    if (lv_dataset_alloc(&ds, 3, 1, 2, 2, LV_PIX_I16) != LV_OK ||
        lv_dataset_set_names(&ds, classes, 2, phases, 1) != LV_OK || lv_dataset_set_patients_str(&ds, ids) != LV_OK) {
        lv_test_fail("build a small dataset: %s", lv_error_message());
        lv_dataset_free(&ds);
        return;
    }
    ds.labels[1] = 1;
    lv_test_true(lv_h5_write(&ds, out, NULL) == LV_OK && lv_h5_write(&ds, out, NULL) == LV_OK,
                 "writing twice to one path replaces the file");
    if (lv_h5_read(&back, out, NULL) == LV_OK) {
        lv_test_true(back.n_patients == 2 && !strcmp(back.patient_ids[0], "007") && !strcmp(back.patient_ids[1], "7"),
                     "ids \"007\" and \"7\" stay distinct strings");
        lv_dataset_free(&back);
    } else {
        lv_test_fail("read back %s: %s", out, lv_error_message());
    }
    ds.labels[2] = 5;
    lv_status s = lv_h5_write(&ds, out, NULL);
    lv_test_true(s == LV_ERR_INPUT && strstr(lv_error_message(), "labels[2] = 5"), "writer refuses a label out of range");
    ds.labels[2] = 0;
    char nodir[600];
    snprintf(nodir, sizeof nodir, "%s/no/such/dir/x.h5", dir);
    s = lv_h5_write(&ds, nodir, NULL);
    lv_test_true(s != LV_OK && strstr(lv_error_message(), nodir), "writing into a missing folder fails, naming the path");
    lv_h5_write_opts bad = {.gzip_level = 12};
    lv_test_true(lv_h5_write(&ds, out, &bad) == LV_ERR_USAGE, "gzip level 12 is a usage error");
    lv_test_true(!dir_has_temp(dir), "failed writes leave no temporary file");
    lv_dataset_free(&ds);
}

/* ---- files that are not data files ----------------------------------------------------- */

static void expect_input_error(const char *what, const char *path, const char *substr) {
    lv_dataset ds;
    lv_status s = lv_h5_read(&ds, path, NULL);
    const char *msg = lv_error_message();
    int ok = s == LV_ERR_INPUT && strstr(msg, path) && strstr(msg, substr) && ds.images == NULL && ds.labels == NULL;
    if (ok) lv_test_pass("%s -> %s", what, msg);
    else lv_test_fail("%s: status %d, message '%s' (want LV_ERR_INPUT naming the file and '%s')", what, s, msg, substr);
    lv_dataset_free(&ds);
}

static void write_bytes(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (f) {
        if (n) fwrite(data, 1, n, f);
        fclose(f);
    }
}

static void test_not_data_files(const char *dir) {
    char p[512];
    snprintf(p, sizeof p, "%s/text.h5", dir);
    const char text[] = "patient,label\n1,HCC\n";
    write_bytes(p, text, sizeof text - 1);
    expect_input_error("text file", p, "not an HDF5 file");
    snprintf(p, sizeof p, "%s/empty.h5", dir);
    write_bytes(p, "", 0);
    expect_input_error("zero-byte file", p, "empty file");
    snprintf(p, sizeof p, "%s/missing.h5", dir);
    expect_input_error("missing file", p, "No such file");
    expect_input_error("a directory", dir, "is a directory");

    /* Truncated copies of a good file, cut inside the signature, superblock, metadata and data. */
    FILE *f = fopen(FIX("h5_good_a.h5"), "rb");
    static unsigned char buf[1 << 16];
    size_t n = f ? fread(buf, 1, sizeof buf, f) : 0;
    if (f) fclose(f);
    if (!lv_test_true(n > 4096 && n < sizeof buf, "read h5_good_a.h5 for truncation")) return;
    size_t cuts[] = {4, 8, 40, 96, 512, 1400, 2048, 4096, n / 2, n - 100, n - 1};
    for (size_t k = 0; k < sizeof cuts / sizeof cuts[0]; k++) {
        char what[64];
        snprintf(p, sizeof p, "%s/cut_%zu.h5", dir, cuts[k]);
        write_bytes(p, buf, cuts[k]);
        snprintf(what, sizeof what, "truncated at %zu of %zu bytes", cuts[k], n);
        expect_input_error(what, p, cuts[k] < 8 ? "not an HDF5 file" : "");
    }
}

/* Non-finite floats: an error at open in memory; streamed, at read time naming the sample. */
static void test_non_finite(const char *dir) {
    lv_dataset ds, str;
    lv_dataset_init(&ds);
    const char *classes[] = {"A"}, *phases[] = {"NC", "PV"};
    char p[512];
    snprintf(p, sizeof p, "%s/nan.h5", dir);
    if (lv_dataset_alloc(&ds, 4, 2, 3, 3, LV_PIX_F32) != LV_OK || lv_dataset_set_names(&ds, classes, 1, phases, 2) != LV_OK) {
        lv_test_fail("build float dataset: %s", lv_error_message());
        lv_dataset_free(&ds);
        return;
    }
    ((float *)ds.images)[2 * 18 + 9 + 4] = NAN; /* sample 2, phase 1, y 1, x 1 */
    ((float *)ds.images)[3 * 18] = INFINITY;
    if (!lv_test_true(lv_h5_write(&ds, p, NULL) == LV_OK, "writer stores non-finite floats as given")) {
        lv_dataset_free(&ds);
        return;
    }
    expect_input_error("NaN in memory", p, "/images[2] (phase 1, y 1, x 1) = nan");
    lv_h5_open_opts tiny = {.max_memory_bytes = 1};
    if (lv_test_true(lv_h5_read(&str, p, &tiny) == LV_OK, "streamed open defers the finite check")) {
        float x[18];
        lv_test_true(lv_dataset_read_raw(&str, 1, x) == LV_OK, "streamed finite sample reads");
        lv_status s = lv_dataset_read_raw(&str, 2, x);
        lv_test_true(s == LV_ERR_INPUT && strstr(lv_error_message(), "/images[2]") && strstr(lv_error_message(), p),
                     "streamed NaN sample fails naming file and sample");
        s = lv_dataset_read_raw(&str, 3, x);
        lv_test_true(s == LV_ERR_INPUT && strstr(lv_error_message(), "= inf"), "streamed inf sample fails");
    }
    lv_dataset_free(&str);
    lv_dataset_free(&ds);
}

int main(void) {
    if (!lv_h5_available()) return lv_test_skip("built without HDF5");
    char dir[] = "/tmp/lv_test_h5_XXXXXX";
    if (!mkdtemp(dir)) {
        lv_test_fail("mkdtemp failed");
        return lv_test_summary();
    }
    test_fixture(FIX("h5_good_a.h5"), check_fixture_a);
    test_fixture(FIX("h5_good_b.h5"), check_fixture_b);
    test_fixture(FIX("h5_good_c.h5"), check_fixture_c);
    test_round_trip(dir, FIX("h5_good_a.h5"), 0);
    test_round_trip(dir, FIX("h5_good_a.h5"), 5);
    test_round_trip(dir, FIX("h5_good_b.h5"), 1);
    test_round_trip(dir, FIX("h5_good_c.h5"), 0);
    test_writer_details(dir);
    test_not_data_files(dir);
    test_non_finite(dir);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "note: could not remove %s\n", dir);
    return lv_test_summary();
}
