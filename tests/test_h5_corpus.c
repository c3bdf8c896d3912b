/* Malformed data files, written here with the HDF5 C API (no Python at test time): each breaks
 * one rule of docs/data-format.md and must fail to open with LV_ERR_INPUT, a message naming the
 * file and the chosen substring, and nothing left allocated. The unbroken base file must read.
 * LV_TEST_SANITIZE: runs under ASan+UBSan too. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "build_info.h"
#include "data/h5_dataset.h"
#include "harness.h"

#if LV_HAVE_HDF5 && defined(__has_include)
#if __has_include(<hdf5.h>)
#include <hdf5.h>
#define CORPUS_HAVE_HDF5_H 1
#endif
#endif

#ifdef CORPUS_HAVE_HDF5_H

#define N 4
#define P 2
#define HW 3

/* One defect per case; all zero is a valid file: N=4, P=2, 3x3 int16, C=3. */
typedef struct corpus_case {
    const char *name, *want;
    int no_images, images_group, images_rank3, images_n0, images_int32, images_nan, images_f64;
    int labels_len, labels_float, labels_value, labels_2d;
    int no_classes, dup_classes, classes_int, empty_class;
    int phases_n, no_phases;
    int patients_len, patients_float;
    int split_value, lesions_float;
    int reports_len, reports_int;
    const char *units, *format;
} corpus_case;

static int put(hid_t loc, const char *name, hid_t ftype, hid_t mtype, int rank, const hsize_t *dims, const void *data) {
    hid_t sp = H5Screate_simple(rank, dims, NULL);
    hid_t d = H5Dcreate2(loc, name, ftype, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    int ok = d >= 0 && (!data || H5Dwrite(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) >= 0);
    H5Dclose(d);
    H5Sclose(sp);
    return ok;
}

static hid_t vlen_str(void) {
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    return t;
}

static int put_strs(hid_t loc, const char *name, const char *const *v, hsize_t n, int as_attr) {
    hid_t t = vlen_str(), sp = H5Screate_simple(1, &n, NULL);
    int ok;
    if (as_attr) {
        hid_t a = H5Acreate2(loc, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
        ok = a >= 0 && H5Awrite(a, t, v) >= 0;
        H5Aclose(a);
    } else {
        hid_t d = H5Dcreate2(loc, name, t, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        ok = d >= 0 && H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) >= 0;
        H5Dclose(d);
    }
    H5Sclose(sp);
    H5Tclose(t);
    return ok;
}

static int put_scalar_str(hid_t loc, const char *name, const char *v) {
    hid_t t = vlen_str(), sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(loc, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
    int ok = a >= 0 && H5Awrite(a, t, &v) >= 0;
    H5Aclose(a);
    H5Sclose(sp);
    H5Tclose(t);
    return ok;
}

static int write_case(const char *path, const corpus_case *c) {
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (f < 0) return 0;
    int ok = 1;
    static int16_t pix[N * P * HW * HW];
    static float fpix[N * P * HW * HW];
    for (int i = 0; i < N * P * HW * HW; i++) {
        pix[i] = (int16_t)(i % 300 - 100);
        fpix[i] = (float)i * 0.5f;
    }
    if (c->images_nan) fpix[1 * P * HW * HW + 5] = NAN;
    hsize_t d4[4] = {c->images_n0 ? 0 : N, P, HW, HW}, d3[3] = {N * P, HW, HW};
    if (c->images_group) {
        hid_t g = H5Gcreate2(f, "images", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        H5Gclose(g);
    } else if (c->images_rank3) {
        ok &= put(f, "images", H5T_STD_I16LE, H5T_NATIVE_INT16, 3, d3, pix);
    } else if (c->images_int32) {
        ok &= put(f, "images", H5T_STD_I32BE, H5T_NATIVE_INT16, 4, d4, pix);
    } else if (c->images_nan || c->images_f64) {
        ok &= put(f, "images", c->images_f64 ? H5T_IEEE_F64LE : H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 4, d4, fpix);
    } else if (!c->no_images) {
        ok &= put(f, "images", H5T_STD_I16LE, H5T_NATIVE_INT16, 4, d4, c->images_n0 ? NULL : pix);
    }
    int64_t labels[N + 1] = {0, 1, 2, 1, 0};
    double flabels[N] = {0, 1, 2, 1};
    hsize_t nl = (hsize_t)(c->labels_len ? c->labels_len : N), l2[2] = {N, 1};
    if (c->labels_value) labels[2] = c->labels_value;
    if (c->labels_float) ok &= put(f, "labels", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, &nl, flabels);
    else if (c->labels_2d) ok &= put(f, "labels", H5T_STD_I64LE, H5T_NATIVE_INT64, 2, l2, labels);
    else ok &= put(f, "labels", H5T_STD_I64LE, H5T_NATIVE_INT64, 1, &nl, labels);

    const char *classes[] = {"CYST", c->dup_classes ? "CYST" : c->empty_class ? "" : "HCC", "METS"};
    const char *phases[] = {"NC", "ART", "PV"};
    if (c->classes_int) {
        hsize_t three = 3;
        hid_t sp = H5Screate_simple(1, &three, NULL);
        hid_t a = H5Acreate2(f, "classes", H5T_STD_I32LE, sp, H5P_DEFAULT, H5P_DEFAULT);
        int v[3] = {0, 1, 2};
        ok &= a >= 0 && H5Awrite(a, H5T_NATIVE_INT, v) >= 0;
        H5Aclose(a);
        H5Sclose(sp);
    } else if (!c->no_classes) {
        ok &= put_strs(f, "classes", classes, 3, 1);
    }
    if (!c->no_phases) ok &= put_strs(f, "phases", phases, (hsize_t)(c->phases_n ? c->phases_n : P), 1);
    if (c->patients_len || c->patients_float) {
        float pf[N + 2] = {1, 1, 2, 3, 4, 5};
        int64_t pi[N + 2] = {1, 1, 2, 3, 4, 5};
        hsize_t np = (hsize_t)(c->patients_len ? c->patients_len : N);
        ok &= c->patients_float ? put(f, "patients", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 1, &np, pf)
                                : put(f, "patients", H5T_STD_I64LE, H5T_NATIVE_INT64, 1, &np, pi);
    }
    if (c->split_value) {
        int8_t sv[N] = {0, (int8_t)c->split_value, 1, 2};
        hsize_t n = N;
        ok &= put(f, "split", H5T_STD_I8LE, H5T_NATIVE_INT8, 1, &n, sv);
    }
    if (c->lesions_float) {
        double lv[N] = {0, 1, 2, 3};
        hsize_t n = N;
        ok &= put(f, "lesions", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, &n, lv);
    }
    if (c->reports_len) {
        const char *r[N + 2] = {"a", "b", "c", "d", "e", "f"};
        ok &= put_strs(f, "reports", r, (hsize_t)c->reports_len, 0);
    } else if (c->reports_int) {
        int32_t r[N] = {0};
        hsize_t n = N;
        ok &= put(f, "reports", H5T_STD_I32LE, H5T_NATIVE_INT32, 1, &n, r);
    }
    if (c->units) ok &= put_scalar_str(f, "units", c->units);
    if (c->format) ok &= put_scalar_str(f, "format", c->format);
    ok &= H5Fclose(f) >= 0;
    return ok;
}

static const corpus_case cases[] = {
    {.name = "valid base file", .want = NULL},
    {.name = "valid with units/format", .want = NULL, .units = "raw", .format = "liver-vlm-data/1"},
    {.name = "missing /images", .want = "/images: missing (a required dataset)", .no_images = 1},
    {.name = "/images is a group", .want = "/images: expected a dataset, found a group", .images_group = 1},
    {.name = "rank 3 images", .want = "/images: expected rank 4 [N,P,H,W], found [8,3,3]", .images_rank3 = 1},
    {.name = "N = 0", .want = "/images: expected N >= 1 samples, found shape [0,2,3,3]", .images_n0 = 1},
    {.name = "int32 images", .want = "/images: expected int16, uint8 or float32, found int32", .images_int32 = 1},
    {.name = "float64 images", .want = "expected int16, uint8 or float32, found float64", .images_f64 = 1},
    {.name = "NaN in float images", .want = "/images[1] (phase 0, y 1, x 2) = nan: expected finite", .images_nan = 1},
    {.name = "label out of range", .want = "/labels[2] = 7: expected a class index in [0,3)", .labels_value = 7},
    {.name = "negative label", .want = "/labels[2] = -1: expected a class index in [0,3)", .labels_value = -1},
    {.name = "float labels", .want = "/labels: expected integers, found float64", .labels_float = 1},
    {.name = "labels too short", .want = "/labels: expected shape [4] (one entry per image), found [3]", .labels_len = 3},
    {.name = "labels 2-D", .want = "/labels: expected shape [4] (one entry per image), found [4,1]", .labels_2d = 1},
    {.name = "classes missing", .want = "attribute 'classes': missing", .no_classes = 1},
    {.name = "classes as integers", .want = "attribute 'classes': expected strings, found int32", .classes_int = 1},
    {.name = "duplicate class names", .want = "attribute 'classes': expected unique names, found \"CYST\" at 0 and 1",
     .dup_classes = 1},
    {.name = "empty class name", .want = "attribute 'classes'[1]: expected a non-empty name", .empty_class = 1},
    {.name = "phases missing", .want = "attribute 'phases': missing", .no_phases = 1},
    {.name = "phases count != P", .want = "attribute 'phases': expected 2 names (P of /images), found 3", .phases_n = 3},
    {.name = "patients wrong length", .want = "/patients: expected shape [4] (one entry per image), found [6]",
     .patients_len = 6},
    {.name = "float patients", .want = "/patients: expected integer or string ids, found float32", .patients_float = 1},
    {.name = "split value 3", .want = "/split[1] = 3: expected 0 (train), 1 (validation) or 2 (test)", .split_value = 3},
    {.name = "float lesions", .want = "/lesions: expected integers, found float64", .lesions_float = 1},
    {.name = "reports wrong length", .want = "/reports: expected shape [4] (one entry per image), found [5]",
     .reports_len = 5},
    {.name = "reports not text", .want = "/reports: expected strings, found int32", .reports_int = 1},
    {.name = "unknown units", .want = "attribute 'units': expected \"HU\" or \"raw\", found \"mm\"", .units = "mm"},
    {.name = "future format", .want = "attribute 'format': expected \"liver-vlm-data/1\", found \"liver-vlm-data/2\"",
     .format = "liver-vlm-data/2"},
};

int main(void) {
    if (!lv_h5_available()) return lv_test_skip("built without HDF5");
    char dir[] = "/tmp/lv_test_h5_corpus_XXXXXX";
    if (!mkdtemp(dir)) {
        lv_test_fail("mkdtemp failed");
        return lv_test_summary();
    }
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const corpus_case *c = &cases[k];
        char path[256];
        snprintf(path, sizeof path, "%s/case%02zu.h5", dir, k);
        if (!write_case(path, c)) {
            lv_test_fail("%s: could not write the test file", c->name);
            continue;
        }
        lv_dataset ds;
        lv_status s = lv_h5_read(&ds, path, NULL);
        const char *msg = lv_error_message();
        if (!c->want) {
            if (s == LV_OK && ds.n == N && ds.p == P && ds.c == 3) lv_test_pass("%s reads", c->name);
            else lv_test_fail("%s: %s", c->name, msg);
        } else if (s == LV_ERR_INPUT && strstr(msg, path) && strstr(msg, c->want) && !ds.images && !ds.labels) {
            lv_test_pass("%s -> %s", c->name, msg);
        } else {
            lv_test_fail("%s: status %d, message '%s' (want LV_ERR_INPUT, the path and '%s')", c->name, s,
                         s == LV_OK ? "(none)" : msg, c->want);
        }
        lv_dataset_free(&ds);
        unlink(path);
    }
    rmdir(dir);
    return lv_test_summary();
}

#else
int main(void) {
    /* tests/CMakeLists.txt must give this test HDF5's include path (lv::hdf5). */
    return lv_test_skip(LV_HAVE_HDF5 ? "hdf5.h is not on this test's include path" : "built without HDF5");
}
#endif
