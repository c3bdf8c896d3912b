/* The pack manifest (docs/pack.md): a CSV whose rows are lesions, with patient, label,
 * lesion centre x,y,z, optional radius/lesion/report, and one NIfTI path column per phase.
 * Checks every cell that needs no image, so a typo fails before any volume is read; knows
 * nothing of NIfTI or HDF5. */
#ifndef LV_MANIFEST_H
#define LV_MANIFEST_H

#include <stddef.h>
#include <stdint.h>

#include "data/csv.h"
#include "data/dataset.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lv_manifest_row {
    int64_t row;              /* spreadsheet row (header = 1), for messages */
    const char *patient;      /* cell text (owned by the table) */
    int label;                /* class index */
    int64_t x, y, z;          /* lesion centre, voxel indices (rounded) */
    double radius;            /* voxels; 0 when absent */
    int32_t lesion;           /* lesion column, else the row number */
    const char *report;       /* NULL without a report column */
} lv_manifest_row;

typedef struct lv_manifest {
    lv_csv csv;
    char *dir;                          /* folder relative paths start from */
    int n_phases;
    char *phases[LV_MAX_PHASES];        /* phase names as in the header (or --phases) */
    int phase_col[LV_MAX_PHASES];
    int n_classes;
    char *classes[LV_MAX_CLASSES];
    int64_t n_rows;
    lv_manifest_row *rows;
} lv_manifest;

/* Parses text as manifest `name` whose relative paths start at dir. phases / classes: comma
 * lists as in lv_pack_opts (NULL for the defaults). Errors: LV_ERR_INPUT naming manifest,
 * row and column (missing column, empty cell, bad number, unknown label); LV_ERR_USAGE for a
 * malformed phases/classes list. */
lv_status lv_manifest_parse(lv_manifest *m, const char *text, size_t len, const char *name, const char *dir,
                            const char *phases, const char *classes);
/* Checks a phases/classes comma list (what: "phases" or "classes") without a manifest, so a
 * malformed option fails before any file is touched (LV_ERR_USAGE). NULL is fine. */
lv_status lv_manifest_check_list(const char *list, const char *what);
/* Reads the file; relative paths start at its folder. */
lv_status lv_manifest_read(lv_manifest *m, const char *path, const char *phases, const char *classes);
void lv_manifest_free(lv_manifest *m);
/* Row r's phase p path: the cell, joined to m->dir unless absolute. LV_ERR_INPUT if it does
 * not fit in cap bytes. */
lv_status lv_manifest_path(const lv_manifest *m, int64_t r, int p, char *buf, size_t cap);

#ifdef __cplusplus
}
#endif
#endif
