/* Pack manifests (data/manifest.h): column roles, per-cell checks and the class list. Every
 * message starts "<manifest> row R, column 'C'" so a user can go straight to the cell. */
#include "data/manifest.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const RESERVED[] = {"patient", "label", "x", "y", "z", "radius", "lesion", "report"};
#define N_RESERVED (int)(sizeof RESERVED / sizeof RESERVED[0])

void lv_manifest_free(lv_manifest *m) {
    lv_csv_free(&m->csv);
    free(m->dir);
    for (int p = 0; p < m->n_phases; p++) free(m->phases[p]);
    for (int c = 0; c < m->n_classes; c++) free(m->classes[c]);
    free(m->rows);
    memset(m, 0, sizeof *m);
}

static int is_reserved(const char *name) {
    for (int k = 0; k < N_RESERVED; k++)
        if (strcasecmp(name, RESERVED[k]) == 0) return 1;
    return 0;
}

/* Splits "A, B,C" into trimmed names; empty names and repeats are usage errors. */
static lv_status split_list(const char *list, const char *what, int max, char **out, int *n) {
    *n = 0;
    const char *s = list;
    for (;;) {
        const char *e = strchr(s, ',');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        while (len && (*s == ' ' || *s == '\t')) s++, len--;
        while (len && (s[len - 1] == ' ' || s[len - 1] == '\t')) len--;
        LV_CHECK(len > 0, LV_ERR_USAGE, "%s '%s': empty name in the list", what, list);
        LV_CHECK(*n < max, LV_ERR_USAGE, "%s '%s': more than %d names", what, list, max);
        out[*n] = strndup(s, len);
        LV_CHECK_ALLOC(out[*n]);
        (*n)++;
        for (int k = 0; k + 1 < *n; k++)
            LV_CHECK(strcmp(out[k], out[*n - 1]) != 0, LV_ERR_USAGE, "%s '%s': '%s' appears twice", what, list,
                     out[k]);
        if (!e) break;
        s = e + 1;
    }
    return LV_OK;
}

lv_status lv_manifest_check_list(const char *list, const char *what) {
    if (!list) return LV_OK;
    char *names[LV_MAX_CLASSES];
    int n = 0;
    lv_status st = split_list(list, what, LV_MAX_CLASSES, names, &n);
    for (int k = 0; k < n; k++) free(names[k]);
    return st;
}

static lv_status required_column(const lv_manifest *m, const char *name, int *col) {
    *col = lv_csv_column(&m->csv, name);
    LV_CHECK(*col >= 0, LV_ERR_INPUT,
             "%s row 1 (header): missing column '%s' (expected patient, label, x, y, z and one NIfTI path column "
             "per phase)",
             m->csv.path, name);
    return LV_OK;
}

static lv_status choose_phases(lv_manifest *m, const char *phases) {
    if (phases) {
        LV_TRY(split_list(phases, "phases", LV_MAX_PHASES, m->phases, &m->n_phases));
        for (int p = 0; p < m->n_phases; p++) {
            LV_CHECK(!is_reserved(m->phases[p]), LV_ERR_USAGE, "phases: '%s' is a reserved column, not a phase",
                     m->phases[p]);
            m->phase_col[p] = lv_csv_column(&m->csv, m->phases[p]);
            LV_CHECK(m->phase_col[p] >= 0, LV_ERR_INPUT,
                     "%s row 1 (header): missing column '%s' (a phase asked for with --phases)", m->csv.path,
                     m->phases[p]);
        }
        return LV_OK;
    }
    for (int c = 0; c < m->csv.n_cols; c++) {
        if (is_reserved(m->csv.header[c])) continue;
        LV_CHECK(m->n_phases < LV_MAX_PHASES, LV_ERR_INPUT,
                 "%s row 1 (header): more than %d phase columns (choose some with --phases)", m->csv.path,
                 LV_MAX_PHASES);
        m->phases[m->n_phases] = strdup(m->csv.header[c]);
        LV_CHECK_ALLOC(m->phases[m->n_phases]);
        m->phase_col[m->n_phases++] = c;
    }
    LV_CHECK(m->n_phases > 0, LV_ERR_INPUT,
             "%s row 1 (header): no phase columns (expected one NIfTI path column per phase, e.g. NC,ART,PV, "
             "besides patient, label, x, y, z)",
             m->csv.path);
    return LV_OK;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Distinct labels sorted by byte value: a fixed order that does not depend on row order, so
 * two manifests with the same classes give the same class indices. */
static lv_status classes_from_labels(lv_manifest *m, int label_col) {
    for (int64_t r = 0; r < m->csv.n_rows; r++) {
        const char *l = lv_csv_cell(&m->csv, r, label_col);
        if (!l[0]) continue; /* reported with its row below */
        int known = 0;
        for (int c = 0; c < m->n_classes && !known; c++) known = strcmp(m->classes[c], l) == 0;
        if (known) continue;
        LV_CHECK(m->n_classes < LV_MAX_CLASSES, LV_ERR_INPUT, "%s row %" PRId64 ", column 'label': more than %d classes",
                 m->csv.path, m->csv.row_no[r], LV_MAX_CLASSES);
        m->classes[m->n_classes] = strdup(l);
        LV_CHECK_ALLOC(m->classes[m->n_classes]);
        m->n_classes++;
    }
    qsort(m->classes, (size_t)m->n_classes, sizeof *m->classes, cmp_str);
    return LV_OK;
}

static lv_status cell_number(const lv_manifest *m, int64_t r, int col, double *out) {
    const char *s = lv_csv_cell(&m->csv, r, col);
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    LV_CHECK(s[0] && !errno && end != s && *end == '\0' && isfinite(v), LV_ERR_INPUT,
             "%s row %" PRId64 ", column '%s': expected a number, found '%s'", m->csv.path, m->csv.row_no[r],
             m->csv.header[col], s);
    *out = v;
    return LV_OK;
}

static lv_status cell_voxel(const lv_manifest *m, int64_t r, int col, int64_t *out) {
    double v = 0.0;
    LV_TRY(cell_number(m, r, col, &v));
    LV_CHECK(fabs(v) < 1e9, LV_ERR_INPUT, "%s row %" PRId64 ", column '%s': voxel index %s is out of range",
             m->csv.path, m->csv.row_no[r], m->csv.header[col], lv_csv_cell(&m->csv, r, col));
    *out = (int64_t)floor(v + 0.5);
    return LV_OK;
}

static lv_status parse_row(lv_manifest *m, int64_t r, const int *col) {
    lv_manifest_row *row = &m->rows[r];
    const lv_csv *t = &m->csv;
    row->row = t->row_no[r];
    row->patient = lv_csv_cell(t, r, col[0]);
    LV_CHECK(row->patient[0], LV_ERR_INPUT, "%s row %" PRId64 ", column '%s': empty patient id", t->path, row->row,
             t->header[col[0]]);
    const char *label = lv_csv_cell(t, r, col[1]);
    LV_CHECK(label[0], LV_ERR_INPUT, "%s row %" PRId64 ", column '%s': empty label", t->path, row->row,
             t->header[col[1]]);
    row->label = -1;
    for (int c = 0; c < m->n_classes; c++)
        if (strcmp(m->classes[c], label) == 0) row->label = c;
    if (row->label < 0) {
        char list[512] = "";
        for (int c = 0; c < m->n_classes; c++) {
            size_t at = strlen(list);
            snprintf(list + at, sizeof list - at, "%s%s", c ? "," : "", m->classes[c]);
        }
        return lv_errorf(LV_ERR_INPUT, "%s row %" PRId64 ", column '%s': unknown label '%s' (classes: %s)", t->path,
                         row->row, t->header[col[1]], label, list);
    }
    LV_TRY(cell_voxel(m, r, col[2], &row->x));
    LV_TRY(cell_voxel(m, r, col[3], &row->y));
    LV_TRY(cell_voxel(m, r, col[4], &row->z));
    row->radius = 0.0;
    if (col[5] >= 0 && lv_csv_cell(t, r, col[5])[0]) {
        LV_TRY(cell_number(m, r, col[5], &row->radius));
        LV_CHECK(row->radius > 0.0, LV_ERR_INPUT, "%s row %" PRId64 ", column '%s': expected a radius > 0, found '%s'",
                 t->path, row->row, t->header[col[5]], lv_csv_cell(t, r, col[5]));
    }
    row->lesion = (int32_t)row->row;
    if (col[6] >= 0) {
        const char *s = lv_csv_cell(t, r, col[6]);
        char *end = NULL;
        errno = 0;
        long long v = strtoll(s, &end, 10);
        LV_CHECK(s[0] && !errno && *end == '\0' && v >= INT32_MIN && v <= INT32_MAX, LV_ERR_INPUT,
                 "%s row %" PRId64 ", column '%s': expected an integer lesion id, found '%s'", t->path, row->row,
                 t->header[col[6]], s);
        row->lesion = (int32_t)v;
    }
    row->report = col[7] >= 0 ? lv_csv_cell(t, r, col[7]) : NULL;
    for (int p = 0; p < m->n_phases; p++)
        LV_CHECK(lv_csv_cell(t, r, m->phase_col[p])[0], LV_ERR_INPUT,
                 "%s row %" PRId64 ", column '%s': empty path (expected a .nii or .nii.gz file)", t->path, row->row,
                 t->header[m->phase_col[p]]);
    return LV_OK;
}

static lv_status interpret(lv_manifest *m, const char *phases, const char *classes) {
    int col[N_RESERVED];
    for (int k = 0; k < 5; k++) LV_TRY(required_column(m, RESERVED[k], &col[k]));
    for (int k = 5; k < N_RESERVED; k++) col[k] = lv_csv_column(&m->csv, RESERVED[k]);
    LV_TRY(choose_phases(m, phases));
    LV_CHECK(m->csv.n_rows > 0, LV_ERR_INPUT, "%s: no rows after the header (expected one row per lesion)",
             m->csv.path);
    LV_CHECK(m->csv.n_rows <= INT32_MAX, LV_ERR_INPUT, "%s: too many rows", m->csv.path);
    if (classes) LV_TRY(split_list(classes, "classes", LV_MAX_CLASSES, m->classes, &m->n_classes));
    else LV_TRY(classes_from_labels(m, col[1]));
    m->rows = calloc((size_t)m->csv.n_rows, sizeof *m->rows);
    LV_CHECK_ALLOC(m->rows);
    m->n_rows = m->csv.n_rows;
    for (int64_t r = 0; r < m->n_rows; r++) LV_TRY(parse_row(m, r, col));
    /* A classifier's data file needs two classes at least; one would train without error and
     * predict that class always. */
    LV_CHECK(m->n_classes >= 2, LV_ERR_INPUT,
             "%s: only one class ('%s'%s); a data file needs at least 2 (add lesions of another class%s)", m->csv.path,
             m->classes[0], classes ? ", from --classes" : ", the only label in the rows",
             classes ? ", and name it in --classes" : "");
    return LV_OK;
}

lv_status lv_manifest_parse(lv_manifest *m, const char *text, size_t len, const char *name, const char *dir,
                            const char *phases, const char *classes) {
    memset(m, 0, sizeof *m);
    LV_TRY(lv_csv_parse(&m->csv, text, len, name));
    m->dir = strdup(dir && dir[0] ? dir : ".");
    lv_status st = m->dir ? interpret(m, phases, classes) : lv_errorf(LV_ERR_RUNTIME, "manifest: out of memory");
    if (st != LV_OK) lv_manifest_free(m);
    return st;
}

lv_status lv_manifest_read(lv_manifest *m, const char *path, const char *phases, const char *classes) {
    memset(m, 0, sizeof *m);
    LV_TRY(lv_csv_read(&m->csv, path));
    const char *slash = strrchr(path, '/');
    m->dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
    lv_status st = m->dir ? interpret(m, phases, classes) : lv_errorf(LV_ERR_RUNTIME, "manifest: out of memory");
    if (st != LV_OK) lv_manifest_free(m);
    return st;
}

lv_status lv_manifest_path(const lv_manifest *m, int64_t r, int p, char *buf, size_t cap) {
    const char *cell = lv_csv_cell(&m->csv, r, m->phase_col[p]);
    int plain = cell[0] == '/' || strcmp(m->dir, ".") == 0;
    int k = plain ? snprintf(buf, cap, "%s", cell) : snprintf(buf, cap, "%s/%s", m->dir, cell);
    LV_CHECK(k >= 0 && (size_t)k < cap, LV_ERR_INPUT, "%s row %" PRId64 ", column '%s': path too long", m->csv.path,
             m->rows[r].row, m->phases[p]);
    return LV_OK;
}
