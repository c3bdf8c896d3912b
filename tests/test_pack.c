/* liver-vlm pack: the CSV reader (BOM, CRLF, quotes, blank rows, row numbers), manifest
 * checks with row/column in every message, and packing the nibabel-written NIfTI fixtures
 * (tests/fixtures_pack.py): every ROI pixel against the fixture formula including border
 * padding, NIfTI-2, gzip, scl_slope/scl_inter, clamping, ids and labels, the HDF5 round trip,
 * and each error case. Fixtures are committed files from an independent writer (nibabel)
 * rather than written here with nifticlib, so a bug shared by our reader and writer could
 * not hide. LV_TEST_SANITIZE */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data/csv.h"
#include "data/h5_dataset.h"
#include "data/manifest.h"
#include "data/nifti_volume.h"
#include "data/pack.h"
#include "harness.h"

#define FIX(name) LV_FIXTURE_DIR "/pack/" name
#define NX 20
#define NY 20
#define NZ 6

static char g_dir[] = "/tmp/lv_test_pack_XXXXXX";

/* hu(x,y,z,phase) of tests/fixtures_pack.py; -1024 outside the grid. */
static int hu(int64_t x, int64_t y, int64_t z, int phase) {
    if (x < 0 || x >= NX || y < 0 || y >= NY || z < 0 || z >= NZ) return LV_PACK_PAD_HU;
    return (int)(x + 20 * y + 400 * z + 3000 * phase - 1000);
}

static int has(const char *needle) { return strstr(lv_error_message(), needle) != NULL; }

/* ---- CSV ------------------------------------------------------------------------------ */

static void test_csv(void) {
    const char text[] = "\xEF\xBB\xBFpatient , label,\"note\"\r\n"
                        "\r\n"
                        "P1,HCC,\"a, \"\"quoted\"\"\r\nnote\"\r\n"
                        "  P2 ,  FNH ,plain\r\n"
                        "\n"
                        "P3,CYST,\"\"";
    lv_csv t;
    lv_status s = lv_csv_parse(&t, text, sizeof text - 1, "m.csv");
    if (!lv_test_true(s == LV_OK, "CSV with BOM, CRLF, quotes and blank rows parses")) {
        printf("  %s\n", lv_error_message());
        return;
    }
    lv_test_true(t.n_cols == 3 && !strcmp(t.header[0], "patient") && !strcmp(t.header[2], "note"),
                 "BOM dropped, header names trimmed and unquoted");
    lv_test_true(t.n_rows == 3 && !strcmp(lv_csv_cell(&t, 0, 2), "a, \"quoted\"\r\nnote") &&
                     !strcmp(lv_csv_cell(&t, 1, 0), "P2") && !strcmp(lv_csv_cell(&t, 1, 1), "FNH") &&
                     !strcmp(lv_csv_cell(&t, 2, 2), ""),
                 "quoted commas, doubled quotes and line breaks kept; unquoted cells trimmed");
    lv_test_true(t.row_no[0] == 3 && t.row_no[1] == 4 && t.row_no[2] == 6,
                 "rows numbered as a spreadsheet shows them (header 1, blank rows count, quoted breaks do not)");
    lv_test_true(lv_csv_column(&t, "LABEL") == 1 && lv_csv_column(&t, "x") == -1, "column lookup ignores case");
    lv_csv_free(&t);

    struct { const char *text, *want; } bad[] = {
        {"a,b\n1,2\n3\n", "m.csv row 3: 1 fields, expected 2"},
        {"a,b\n1,\"open\n", "m.csv row 2: a quoted field is never closed"},
        {"a,b\n1,\"x\"y\n", "m.csv row 2: text after a closing quote"},
        {"a,A\n1,2\n", "column 'A' appears twice"},
        {"a,,b\n", "column 2 has no name"},
        {"\n\n", "empty file"},
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        char what[96];
        snprintf(what, sizeof what, "CSV error: %s", bad[k].want);
        s = lv_csv_parse(&t, bad[k].text, strlen(bad[k].text), "m.csv");
        if (!lv_test_true(s == LV_ERR_INPUT && has(bad[k].want), what)) printf("  got: %s\n", lv_error_message());
    }
    lv_test_true(lv_csv_read(&t, "/nonexistent/m.csv") == LV_ERR_INPUT && has("/nonexistent/m.csv: cannot open"),
                 "missing manifest file named");
}

/* ---- manifest ------------------------------------------------------------------------- */

static lv_status manifest(lv_manifest *m, const char *text, const char *phases, const char *classes) {
    return lv_manifest_parse(m, text, strlen(text), "m.csv", "/data", phases, classes);
}

static void expect_manifest_error(const char *text, const char *phases, const char *classes, lv_status code,
                                  const char *want) {
    lv_manifest m;
    lv_status s = manifest(&m, text, phases, classes);
    char what[160];
    snprintf(what, sizeof what, "manifest error: %s", want);
    if (!lv_test_true(s == code && has(want), what)) printf("  got %d: %s\n", (int)s, lv_error_message());
    if (s == LV_OK) lv_manifest_free(&m);
}

static void test_manifest(void) {
    const char *ok = "Patient,LABEL,PV,x,y,z,NC,lesion,report,ART\n"
                     "p1,HCC,pv.nii,1,2.4,3,nc.nii,7,\"washout, capsule\",/abs/art.nii.gz\n"
                     "\n"
                     "p2,CYST,pv2.nii,4,5,6.5,nc2.nii,8,,art2.nii\n";
    lv_manifest m;
    lv_status s = manifest(&m, ok, NULL, NULL);
    if (!lv_test_true(s == LV_OK, "manifest parses")) {
        printf("  %s\n", lv_error_message());
        return;
    }
    lv_test_true(m.n_phases == 3 && !strcmp(m.phases[0], "PV") && !strcmp(m.phases[1], "NC") &&
                     !strcmp(m.phases[2], "ART"),
                 "phases are the non-reserved columns in header order");
    lv_test_true(m.n_classes == 2 && !strcmp(m.classes[0], "CYST") && !strcmp(m.classes[1], "HCC"),
                 "classes are the labels sorted");
    lv_test_true(m.n_rows == 2 && m.rows[0].label == 1 && m.rows[1].label == 0 && m.rows[0].y == 2 &&
                     m.rows[1].z == 7 && m.rows[0].lesion == 7 && m.rows[1].row == 4 &&
                     !strcmp(m.rows[0].report, "washout, capsule"),
                 "rows: labels, rounded centres, lesion ids, row numbers, reports");
    char path[256];
    lv_manifest_path(&m, 0, 0, path, sizeof path);
    int rel = !strcmp(path, "/data/pv.nii");
    lv_manifest_path(&m, 0, 2, path, sizeof path);
    lv_test_true(rel && !strcmp(path, "/abs/art.nii.gz"), "relative paths start at the manifest folder");
    lv_manifest_free(&m);
    s = manifest(&m, ok, "nc, ART", "HCC,CYST,FNH");
    lv_test_true(s == LV_OK && m.n_phases == 2 && !strcmp(m.phases[0], "nc") && m.phase_col[0] == 6 &&
                     m.n_classes == 3 && m.rows[0].label == 0 && m.rows[1].label == 1,
                 "--phases chooses and orders columns; --classes fixes the class order");
    if (s == LV_OK) lv_manifest_free(&m);

    expect_manifest_error("patient,label,NC,x,y,z\n1,HCC,a.nii,1,2,3\n2,HCC,b.nii,1,2,3\n", NULL, NULL, LV_ERR_INPUT,
                          "m.csv: only one class ('HCC', the only label in the rows); a data file needs at least 2");
    expect_manifest_error("patient,label,NC,x,y,z\n1,HCC,a.nii,1,2,3\n", NULL, "HCC", LV_ERR_INPUT,
                          "only one class ('HCC', from --classes)");
    expect_manifest_error("patient,label,NC,x,y\n1,HCC,a.nii,1,2\n", NULL, NULL, LV_ERR_INPUT,
                          "m.csv row 1 (header): missing column 'z'");
    expect_manifest_error("patient,label,x,y,z\n1,HCC,1,2,3\n", NULL, NULL, LV_ERR_INPUT, "no phase columns");
    expect_manifest_error(ok, "NC,DL", NULL, LV_ERR_INPUT, "row 1 (header): missing column 'DL'");
    expect_manifest_error(ok, "NC,,PV", NULL, LV_ERR_USAGE, "empty name");
    expect_manifest_error(ok, NULL, "HCC,HCC", LV_ERR_USAGE, "'HCC' appears twice");
    expect_manifest_error(ok, NULL, "HCC,FNH", LV_ERR_INPUT,
                          "m.csv row 4, column 'LABEL': unknown label 'CYST' (classes: HCC,FNH)");
    expect_manifest_error("patient,label,NC,x,y,z\n1,HCC,a.nii,1,ten,3\n", NULL, NULL, LV_ERR_INPUT,
                          "m.csv row 2, column 'y': expected a number, found 'ten'");
    expect_manifest_error("patient,label,NC,x,y,z\n1,HCC,a.nii,1,2,\n", NULL, NULL, LV_ERR_INPUT,
                          "row 2, column 'z': expected a number, found ''");
    expect_manifest_error("patient,label,NC,x,y,z\n1,HCC,,1,2,3\n", NULL, NULL, LV_ERR_INPUT,
                          "row 2, column 'NC': empty path");
    expect_manifest_error("patient,label,NC,x,y,z\n,HCC,a.nii,1,2,3\n", NULL, NULL, LV_ERR_INPUT,
                          "row 2, column 'patient': empty patient id");
    expect_manifest_error("patient,label,NC,x,y,z,radius\n1,HCC,a.nii,1,2,3,-2\n", NULL, NULL, LV_ERR_INPUT,
                          "column 'radius': expected a radius > 0");
    expect_manifest_error("patient,label,NC,x,y,z,lesion\n1,HCC,a.nii,1,2,3,1.5\n", NULL, NULL, LV_ERR_INPUT,
                          "column 'lesion': expected an integer lesion id");
    expect_manifest_error("patient,label,NC,x,y,z\n", NULL, NULL, LV_ERR_INPUT, "no rows after the header");
}

/* ---- packing NIfTI ---------------------------------------------------------------------- */

/* Writes g_dir/name with a printf body; its path goes to path[cap]. */
static const char *write_file(char *path, size_t cap, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static const char *write_file(char *path, size_t cap, const char *name, const char *fmt, ...) {
    snprintf(path, cap, "%s/%s", g_dir, name);
    FILE *f = fopen(path, "w");
    if (!f) {
        lv_test_fail("cannot write %s", path);
        return path;
    }
    va_list ap;
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    fclose(f);
    return path;
}

/* Checks sample [i] (phases in order ph[]) against hu() around centre (x,y) at slice z. */
static int roi_matches(const lv_dataset *ds, int64_t i, const int *ph, int64_t x, int64_t y, int64_t z, char *msg,
                       size_t cap) {
    const int S = ds->h;
    const int16_t *img = (const int16_t *)ds->images + (size_t)i * (size_t)(ds->p * S * S);
    for (int p = 0; p < ds->p; p++)
        for (int r = 0; r < S; r++)
            for (int c = 0; c < S; c++) {
                int want = hu(x - S / 2 + c, y - S / 2 + r, z, ph[p]), got = img[(p * S + r) * S + c];
                if (got != want) {
                    snprintf(msg, cap, "sample %" PRId64 " phase %d row %d col %d: %d, want %d", i, p, r, c, got, want);
                    return 0;
                }
            }
    return 1;
}

static void test_pack_pixels(void) {
    char mpath[512];
    write_file(mpath, sizeof mpath, "a.csv",
               "patient,label,NC,ART,PV,x,y,z\n"
               "7,HCC,%s,%s,%s,10,10,3\n"
               "7,CYST,%s,%s,%s,0,19,0\n"
               "8,FNH,%s,%s,%s,5,6,5\n",
               FIX("nc.nii"), FIX("art.nii.gz"), FIX("pv_scaled.nii"), FIX("nc.nii"), FIX("art.nii.gz"),
               FIX("pv_scaled.nii"), FIX("nc.nii"), FIX("art.nii.gz"), FIX("pv_n2.nii"));
    lv_pack_opts o;
    lv_pack_opts_default(&o);
    o.roi_size = 8;
    lv_dataset ds;
    lv_pack_stats st;
    lv_status s = lv_pack_build(&ds, mpath, &o, &st);
    if (!lv_test_true(s == LV_OK, "pack 3 lesions x 3 slices of 3 phases")) {
        printf("  %s\n", lv_error_message());
        return;
    }
    lv_test_true(ds.n == 9 && ds.p == 3 && ds.h == 8 && ds.w == 8 && ds.pixel == LV_PIX_I16 && ds.hu == 1,
                 "shape [9,3,8,8] int16 HU");
    lv_test_true(ds.c == 3 && !strcmp(ds.classes[0], "CYST") && !strcmp(ds.classes[1], "FNH") &&
                     !strcmp(ds.classes[2], "HCC") && !strcmp(ds.phases[0], "NC") && !strcmp(ds.phases[2], "PV"),
                 "classes sorted, phases in header order");
    static const int32_t labels[9] = {2, 2, 2, 0, 0, 0, 1, 1, 1}, lesions[9] = {2, 2, 2, 3, 3, 3, 4, 4, 4};
    int ids = ds.patients && ds.n_patients == 2 && !strcmp(ds.patient_ids[0], "7") && !strcmp(ds.patient_ids[1], "8");
    for (int i = 0; i < 9; i++)
        ids &= ds.labels[i] == labels[i] && ds.lesions[i] == lesions[i] && ds.patients[i] == (i >= 6);
    lv_test_true(ids, "labels, patients and lesion ids (row numbers) per slice");
    const int ph[3] = {0, 1, 2};
    const int64_t cx[3] = {10, 0, 5}, cy[3] = {10, 19, 6}, cz[3] = {3, 0, 5};
    char msg[160] = "";
    int all = 1;
    for (int r = 0; r < 3 && all; r++)
        for (int k = 0; k < 3 && all; k++) all = roi_matches(&ds, r * 3 + k, ph, cx[r], cy[r], cz[r] - 1 + k, msg, sizeof msg);
    if (!all) lv_test_fail("ROI pixels: %s", msg);
    else lv_test_pass("every ROI pixel matches the formula (int16, gzip, float32 x slope + inter, NIfTI-2 int32)");
    /* Row 3 (corner, z = 0) pads all its slices, row 4 (z = 5) pads its slice z = 6. */
    const int16_t *corner = (const int16_t *)ds.images + 3 * 3 * 64;
    int all_pad = 1;
    for (int j = 0; j < 3 * 64; j++) all_pad &= corner[j] == LV_PACK_PAD_HU;
    lv_test_true(all_pad, "slice z = -1 of the corner lesion is all padding, in every phase");
    lv_test_true(st.rows == 3 && st.samples == 9 && st.padded_samples == 4 && st.volumes_read == 4 && st.clamped == 0,
                 "stats: 4 padded samples, 4 volumes read (shared files read once)");
    lv_dataset_free(&ds);

    /* Odd ROI, two slices (z, z+1), phases reordered by --phases. */
    o.roi_size = 5;
    o.slices = 2;
    o.phases = "PV,NC";
    s = lv_pack_build(&ds, mpath, &o, &st);
    const int ph2[2] = {2, 0};
    all = s == LV_OK && ds.p == 2 && !strcmp(ds.phases[0], "PV");
    for (int r = 0; r < 3 && all; r++)
        for (int k = 0; k < 2 && all; k++) all = roi_matches(&ds, r * 2 + k, ph2, cx[r], cy[r], cz[r] + k, msg, sizeof msg);
    lv_test_true(all, "odd ROI size 5, 2 slices (z, z+1), phases PV,NC");
    if (!all) printf("  %s %s\n", msg, s != LV_OK ? lv_error_message() : "");
    if (s == LV_OK) lv_dataset_free(&ds);

    /* uint8 with slope 10 / intercept -1024; float64 clamping, rounding and NaN. */
    write_file(mpath, sizeof mpath, "b.csv", "patient,label,U8,F64,x,y,z,lesion,report\n"
               "\"p 1\",METS,%s,%s,2,2,0,41,\"rim, enhancing\"\n", FIX("u8_scaled.nii"), FIX("f64.nii"));
    lv_pack_opts_default(&o);
    o.roi_size = 5;
    o.slices = 1;
    o.classes = "CYST,METS";
    s = lv_pack_build(&ds, mpath, &o, &st);
    if (lv_test_true(s == LV_OK, "pack uint8 and float64 volumes")) {
        const int16_t *u8 = ds.images, *f64 = u8 + 25;
        int okp = 1;
        for (int y = 0; y < 5; y++)
            for (int x = 0; x < 5; x++) okp &= u8[y * 5 + x] == 10 * (x + y) - 1024;
        lv_test_true(okp, "uint8 x scl_slope 10 + scl_inter -1024");
        lv_test_true(f64[0] == 32767 && f64[1] == -32768 && f64[2] == 0 && f64[3] == 13 && f64[4] == -12 &&
                         f64[5] == hu(0, 1, 0, 0) && st.clamped == 2,
                     "float64: clamped to int16, NaN -> 0 (nifticlib), 12.5 -> 13, -12.5 -> -12");
        lv_test_true(ds.labels[0] == 1 && ds.lesions[0] == 41 && !strcmp(ds.patient_ids[0], "p 1") && ds.reports &&
                         !strcmp(ds.reports[0], "rim, enhancing"),
                     "--classes order, lesion column, quoted patient id, report column");
        lv_dataset_free(&ds);
    } else {
        printf("  %s\n", lv_error_message());
    }
}

static void test_pack_file(void) {
    char mpath[512], out[512];
    write_file(mpath, sizeof mpath, "c.csv", "patient,label,NC,ART,x,y,z\n101,HCC,%s,%s,10,10,3\n102,HEM,%s,%s,3,3,1\n",
               FIX("nc.nii"), FIX("art.nii.gz"), FIX("nc.nii"), FIX("art.nii.gz"));
    snprintf(out, sizeof out, "%s/c.h5", g_dir);
    lv_pack_opts o;
    lv_pack_opts_default(&o);
    o.roi_size = 16;
    lv_status s = lv_pack_manifest(mpath, out, &o, NULL);
    if (!lv_test_true(s == LV_OK, "pack writes an HDF5 data file")) {
        printf("  %s\n", lv_error_message());
        return;
    }
    lv_dataset mem, file;
    lv_pack_build(&mem, mpath, &o, NULL);
    s = lv_h5_read(&file, out, NULL);
    if (lv_test_true(s == LV_OK, "the written file reads back")) {
        int same = file.n == mem.n && file.p == 2 && file.h == 16 && file.pixel == LV_PIX_I16 &&
                   memcmp(file.images, mem.images, (size_t)mem.n * lv_dataset_sample_bytes(&mem)) == 0 &&
                   memcmp(file.labels, mem.labels, (size_t)mem.n * sizeof *mem.labels) == 0 && file.lesions &&
                   memcmp(file.lesions, mem.lesions, (size_t)mem.n * sizeof *mem.lesions) == 0 &&
                   file.n_patients == 2 && !strcmp(file.patient_ids[1], "102") && file.c == 2 &&
                   !strcmp(file.classes[1], "HEM");
        lv_test_true(same, "file = memory: pixels, labels, lesions, patients, classes");
        lv_dataset_free(&file);
    } else {
        printf("  %s\n", lv_error_message());
    }
    lv_dataset_free(&mem);
    lv_test_true(lv_pack_manifest(mpath, out, &o, NULL) == LV_ERR_INPUT && has("exists; use --force"),
                 "refuses to replace a file without force");
    o.force = 1;
    lv_test_true(lv_pack_manifest(mpath, out, &o, NULL) == LV_OK, "force replaces it");
}

/* A manifest whose row 2 is good and row 3 has the given NC/ART/PV paths and "x,y,z"; the
 * error must name the manifest and contain want1 and want2. */
static void expect_pack_error(const char *name, const char *nc, const char *art, const char *pv, const char *xyz,
                              const char *want1, const char *want2) {
    char mpath[512];
    write_file(mpath, sizeof mpath, name, "patient,label,NC,ART,PV,x,y,z\n1,HCC,%s,%s,%s,10,10,3\n2,FNH,%s,%s,%s,%s\n",
               FIX("nc.nii"), FIX("art.nii.gz"), FIX("pv_scaled.nii"), nc, art, pv, xyz);
    lv_pack_opts o;
    lv_pack_opts_default(&o);
    o.roi_size = 8;
    lv_dataset ds;
    lv_status s = lv_pack_build(&ds, mpath, &o, NULL);
    char what[200];
    snprintf(what, sizeof what, "pack error names row/column: %s ... %s", want1, want2);
    if (!lv_test_true(s == LV_ERR_INPUT && has(want1) && has(want2) && has(name), what))
        printf("  got %d: %s\n", (int)s, lv_error_message());
    if (s == LV_OK) lv_dataset_free(&ds);
}

static void test_pack_errors(void) {
    const char *nc = FIX("nc.nii"), *art = FIX("art.nii.gz"), *pv = FIX("pv_scaled.nii");
    expect_pack_error("e1.csv", nc, FIX("missing.nii"), pv, "5,5,2", "row 3, column 'ART'", "missing.nii: cannot open");
    expect_pack_error("e2.csv", nc, art, FIX("not_nifti.nii"), "5,5,2", "row 3, column 'PV'", "not a NIfTI-1/-2 file");
    expect_pack_error("e3.csv", nc, art, FIX("wide.nii"), "5,5,2", "row 3, column 'PV'",
                      "is 21x20x6 but column 'NC'");
    expect_pack_error("e4.csv", nc, art, pv, "20,5,2", "row 3, column 'x'", "outside the volume 20x20x6");
    expect_pack_error("e5.csv", nc, art, pv, "5,5,-1", "row 3, column 'z'", "z must be in 0..5");
    expect_pack_error("e6.csv", FIX("series4d.nii"), art, pv, "5,5,2", "row 3, column 'NC'", "holds 2 volumes");
    expect_pack_error("e7.csv", nc, FIX("complex.nii"), pv, "5,5,2", "row 3, column 'ART'", "is not supported");
    expect_pack_error("e8.csv", nc, art, FIX("truncated.nii"), "5,5,2", "row 3, column 'PV'",
                      "cannot read the voxel data");
    expect_pack_error("e9.csv", nc, art, LV_FIXTURE_DIR "/pack", "5,5,2", "row 3, column 'PV'", "not a regular file");
    expect_pack_error("e10.csv", nc, art, pv, "5,five,2", "row 3, column 'y'", "expected a number, found 'five'");

    char mpath[512];
    write_file(mpath, sizeof mpath, "e11.csv", "patient,label,NC,x,y,z\n1,HCC,%s,1,1,1\n1,XYZ,%s,1,1,1\n", nc, nc);
    lv_pack_opts o;
    lv_pack_opts_default(&o);
    o.classes = "HCC,FNH";
    lv_dataset ds;
    lv_test_true(lv_pack_build(&ds, mpath, &o, NULL) == LV_ERR_INPUT &&
                     has("e11.csv row 3, column 'label': unknown label 'XYZ'"),
                 "unknown label names row and column");
    lv_pack_opts_default(&o);
    o.roi_size = 0;
    lv_test_true(lv_pack_build(&ds, mpath, &o, NULL) == LV_ERR_USAGE && has("ROI size 0"), "bad ROI size is usage");
}

/* A copy of fixture src in g_dir with `width` little-endian bytes at `off` set to value. */
static const char *patched(const char *src, const char *name, long off, int width, int64_t value) {
    static char path[600];
    snprintf(path, sizeof path, "%s/%s", g_dir, name);
    FILE *in = fopen(src, "rb"), *out = fopen(path, "wb");
    if (!in || !out) {
        if (in) fclose(in);
        if (out) fclose(out);
        return NULL;
    }
    unsigned char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf, in);
    fclose(in);
    for (int i = 0; i < width && off + i < (long)n; i++) buf[off + i] = (unsigned char)((uint64_t)value >> (8 * i));
    fwrite(buf, 1, n, out);
    fclose(out);
    return path;
}

/* Headers nifticlib must never see: dim[0] outside 1..7 (it indexes fixed arrays of 8 with
 * it), a used dimension of 0 or below, and dims that disagree with the voxel count. */
static void test_bad_headers(void) {
    struct {
        const char *src, *name;
        long off;
        int width;
        int64_t value;
        const char *want;
    } cases[] = {
        {FIX("pv_n2.nii"), "n2_dim0_9.nii", 16, 8, 9, "dim[0] (the number of dimensions) is 9"},
        {FIX("pv_n2.nii"), "n2_dim0_neg.nii", 16, 8, -3, "dim[0] (the number of dimensions) is -3"},
        {FIX("pv_n2.nii"), "n2_dim0_huge.nii", 16, 8, (int64_t)1 << 40, "expected 1 to 7"},
        {FIX("pv_n2.nii"), "n2_dim2_0.nii", 16 + 2 * 8, 8, 0, "dim[2] is 0"},
        {FIX("nc.nii"), "n1_dim0_0.nii", 40, 2, 0, "dim[0] (the number of dimensions) is 0"},
        {FIX("nc.nii"), "n1_dim0_8.nii", 40, 2, 8, "dim[0] (the number of dimensions) is 8"},
        {FIX("nc.nii"), "n1_dim3_neg.nii", 40 + 3 * 2, 2, -5, "dim[3] is -5"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *path = patched(cases[i].src, cases[i].name, cases[i].off, cases[i].width, cases[i].value);
        lv_volume v;
        lv_status st = path ? lv_volume_read(&v, path) : LV_ERR_RUNTIME;
        char what[200];
        snprintf(what, sizeof what, "%s is refused before nifticlib reads it: %s", cases[i].name, cases[i].want);
        lv_test_true(st == LV_ERR_INPUT && has(cases[i].want) && has(cases[i].name), what);
        if (st == LV_OK) lv_volume_free(&v);
    }
    /* dim[0] = 2 on a 20x20x6 volume: nifticlib counts 400 voxels, the third axis says 6. */
    const char *path = patched(FIX("nc.nii"), "n1_dim0_2.nii", 40, 2, 2);
    lv_volume v;
    lv_status st = path ? lv_volume_read(&v, path) : LV_ERR_RUNTIME;
    printf("  dim[0] = 2: %s\n", st == LV_OK ? "read" : lv_error_message());
    lv_test_true(st == LV_ERR_INPUT || (st == LV_OK && v.nx * v.ny * v.nz == (int64_t)NX * NY),
                 "dim[0] = 2 either fails or reads only the voxels the header counts");
    if (st == LV_OK) lv_volume_free(&v);
}

int main(void) {
    test_csv();
    test_manifest();
    if (!lv_pack_available()) {
        int rc = lv_test_summary();
        return rc ? rc : lv_test_skip("built without HDF5 or nifticlib: NIfTI packing not tested");
    }
    if (!mkdtemp(g_dir)) return lv_test_skip("mkdtemp failed");
    test_pack_pixels();
    test_pack_file();
    test_pack_errors();
    test_bad_headers();
    /* Leave nothing behind: the temp folder holds only files this test wrote. */
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    if (system(cmd) != 0) printf("note: could not remove %s\n", g_dir);
    return lv_test_summary();
}
