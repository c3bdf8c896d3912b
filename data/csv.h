/* A small RFC 4180 CSV table reader for manifests: header row, quoted fields (commas, quotes
 * and line breaks inside), CRLF, blank rows and a UTF-8 byte-order mark. Knows nothing of
 * what the columns mean; every error names the file and the row. */
#ifndef LV_CSV_H
#define LV_CSV_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lv_csv {
    char *path;       /* for messages */
    int n_cols;
    char **header;    /* [n_cols] column names, surrounding blanks trimmed */
    int64_t n_rows;   /* data rows (blank rows are skipped) */
    char **cells;     /* [n_rows * n_cols] row-major; unquoted cells trimmed */
    int64_t *row_no;  /* [n_rows] row as a spreadsheet shows it: header = 1, blank rows count */
} lv_csv;

/* Parses text[0..len) as a CSV table named `name` in messages. Errors (LV_ERR_INPUT): no
 * header, empty or duplicate column name, a row with more or fewer fields than the header,
 * an unterminated quote or text after a closing quote, a NUL byte. */
lv_status lv_csv_parse(lv_csv *t, const char *text, size_t len, const char *name);
/* Reads and parses a file (LV_ERR_INPUT when it cannot be opened or read). */
lv_status lv_csv_read(lv_csv *t, const char *path);
void lv_csv_free(lv_csv *t);
/* Column index of `name` (ASCII case-insensitive), or -1. */
int lv_csv_column(const lv_csv *t, const char *name);
static inline const char *lv_csv_cell(const lv_csv *t, int64_t row, int col) {
    return t->cells[row * t->n_cols + col];
}

#ifdef __cplusplus
}
#endif
#endif
