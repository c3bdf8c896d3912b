/* CSV tables for manifests (data/csv.h). One pass over the text with a field buffer; no
 * locale, no dialect guessing: comma-separated, double-quote quoting, as RFC 4180 and every
 * spreadsheet's "Save as CSV" write it. */
#include "data/csv.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void lv_csv_free(lv_csv *t) {
    for (int c = 0; t->header && c < t->n_cols; c++) free(t->header[c]);
    free(t->header);
    for (int64_t i = 0; t->cells && i < t->n_rows * t->n_cols; i++) free(t->cells[i]);
    free(t->cells);
    free(t->row_no);
    free(t->path);
    memset(t, 0, sizeof *t);
}

/* Growable list of the current row's fields and the table's cells. */
typedef struct builder {
    char *buf;
    size_t len, cap;
    char **row;
    int row_len, row_cap;
    int row_quoted_any;
} builder;

static lv_status buf_put(builder *b, char ch) {
    if (b->len + 1 >= b->cap) {
        size_t cap = b->cap ? 2 * b->cap : 64;
        char *nb = realloc(b->buf, cap);
        LV_CHECK_ALLOC(nb);
        b->buf = nb;
        b->cap = cap;
    }
    b->buf[b->len++] = ch;
    return LV_OK;
}

static int is_blank(char ch) { return ch == ' ' || ch == '\t'; }

/* Ends the current field; unquoted fields lose surrounding blanks (people pad columns). */
static lv_status end_field(builder *b, int quoted) {
    size_t s = 0, e = b->len;
    if (!quoted) {
        while (s < e && is_blank(b->buf[s])) s++;
        while (e > s && is_blank(b->buf[e - 1])) e--;
    }
    char *f = malloc(e - s + 1);
    LV_CHECK_ALLOC(f);
    if (e > s) memcpy(f, b->buf + s, e - s);
    f[e - s] = '\0';
    b->len = 0;
    if (b->row_len == b->row_cap) {
        int cap = b->row_cap ? 2 * b->row_cap : 16;
        char **nr = realloc(b->row, (size_t)cap * sizeof *nr);
        if (!nr) {
            free(f);
            return lv_errorf(LV_ERR_RUNTIME, "csv: out of memory");
        }
        b->row = nr;
        b->row_cap = cap;
    }
    b->row[b->row_len++] = f;
    b->row_quoted_any |= quoted;
    return LV_OK;
}

static void drop_row(builder *b) {
    for (int i = 0; i < b->row_len; i++) free(b->row[i]);
    b->row_len = 0;
    b->row_quoted_any = 0;
}

/* Takes the finished row into the table (header first). A row of one empty unquoted field is
 * a blank row and is skipped. */
static lv_status end_row(lv_csv *t, builder *b, int64_t row_no, int64_t *cap_rows) {
    if (b->row_len == 1 && b->row[0][0] == '\0' && !b->row_quoted_any) {
        drop_row(b);
        return LV_OK;
    }
    if (!t->header) {
        for (int c = 0; c < b->row_len; c++) {
            LV_CHECK(b->row[c][0] != '\0', LV_ERR_INPUT, "%s row %" PRId64 " (header): column %d has no name",
                     t->path, row_no, c + 1);
            for (int d = 0; d < c; d++)
                LV_CHECK(strcasecmp(b->row[c], b->row[d]) != 0, LV_ERR_INPUT,
                         "%s row %" PRId64 " (header): column '%s' appears twice (columns %d and %d)", t->path,
                         row_no, b->row[c], d + 1, c + 1);
        }
        t->header = b->row;
        t->n_cols = b->row_len;
        b->row = NULL;
        b->row_len = b->row_cap = 0;
        b->row_quoted_any = 0;
        return LV_OK;
    }
    LV_CHECK(b->row_len == t->n_cols, LV_ERR_INPUT,
             "%s row %" PRId64 ": %d fields, expected %d as in the header (quote fields that contain commas)",
             t->path, row_no, b->row_len, t->n_cols);
    if (t->n_rows == *cap_rows) {
        int64_t cap = *cap_rows ? 2 * *cap_rows : 64;
        char **nc = realloc(t->cells, (size_t)(cap * t->n_cols) * sizeof *nc);
        LV_CHECK_ALLOC(nc);
        t->cells = nc;
        int64_t *nn = realloc(t->row_no, (size_t)cap * sizeof *nn);
        LV_CHECK_ALLOC(nn);
        t->row_no = nn;
        *cap_rows = cap;
    }
    memcpy(t->cells + t->n_rows * t->n_cols, b->row, (size_t)t->n_cols * sizeof *b->row);
    t->row_no[t->n_rows++] = row_no;
    b->row_len = 0;
    b->row_quoted_any = 0;
    return LV_OK;
}

static lv_status parse(lv_csv *t, builder *b, const char *s, size_t len) {
    size_t i = 0;
    if (len >= 3 && (unsigned char)s[0] == 0xEF && (unsigned char)s[1] == 0xBB && (unsigned char)s[2] == 0xBF) i = 3;
    int64_t row = 1, cap_rows = 0;
    while (i <= len) {
        /* Start of a field: leading blanks, then maybe a quote. */
        size_t j = i;
        while (j < len && is_blank(s[j])) j++;
        int quoted = j < len && s[j] == '"';
        int64_t row_start = row;
        if (quoted) {
            i = j + 1;
            for (;;) {
                LV_CHECK(i < len, LV_ERR_INPUT, "%s row %" PRId64 ": a quoted field is never closed", t->path,
                         row_start);
                if (s[i] == '"') {
                    if (i + 1 < len && s[i + 1] == '"') {
                        LV_TRY(buf_put(b, '"'));
                        i += 2;
                        continue;
                    }
                    i++;
                    break;
                }
                LV_CHECK(s[i] != '\0', LV_ERR_INPUT, "%s row %" PRId64 ": NUL byte (not a text file?)", t->path, row);
                /* A line break inside quotes belongs to the field; it does not start a row. */
                LV_TRY(buf_put(b, s[i++]));
            }
            while (i < len && is_blank(s[i])) i++;
            LV_CHECK(i >= len || s[i] == ',' || s[i] == '\n' || s[i] == '\r', LV_ERR_INPUT,
                     "%s row %" PRId64 ": text after a closing quote (write \"\" for a quote inside a quoted field)",
                     t->path, row_start);
        } else {
            while (i < len && s[i] != ',' && s[i] != '\n' && s[i] != '\r') {
                LV_CHECK(s[i] != '\0', LV_ERR_INPUT, "%s row %" PRId64 ": NUL byte (not a text file?)", t->path, row);
                LV_TRY(buf_put(b, s[i++]));
            }
        }
        LV_TRY(end_field(b, quoted));
        if (i < len && s[i] == ',') {
            i++;
            continue;
        }
        /* End of row: CRLF, LF, lone CR, or end of text. */
        LV_TRY(end_row(t, b, row, &cap_rows));
        if (i >= len) break;
        if (s[i] == '\r' && i + 1 < len && s[i + 1] == '\n') i++;
        i++;
        row++;
        if (i == len) break;
    }
    LV_CHECK(t->header != NULL, LV_ERR_INPUT, "%s: empty file (expected a header row)", t->path);
    return LV_OK;
}

lv_status lv_csv_parse(lv_csv *t, const char *text, size_t len, const char *name) {
    memset(t, 0, sizeof *t);
    t->path = strdup(name ? name : "csv");
    LV_CHECK_ALLOC(t->path);
    builder b;
    memset(&b, 0, sizeof b);
    lv_status st = parse(t, &b, text, len);
    drop_row(&b);
    free(b.row);
    free(b.buf);
    if (st != LV_OK) lv_csv_free(t);
    return st;
}

lv_status lv_csv_read(lv_csv *t, const char *path) {
    memset(t, 0, sizeof *t);
    FILE *f = fopen(path, "rb");
    if (!f) return lv_errorf(LV_ERR_INPUT, "%s: cannot open: %s", path, strerror(errno));
    size_t cap = 1 << 16, len = 0;
    char *text = malloc(cap);
    lv_status st = text ? LV_OK : lv_errorf(LV_ERR_RUNTIME, "%s: out of memory", path);
    while (st == LV_OK) {
        if (len == cap) {
            char *nt = cap < ((size_t)1 << 40) ? realloc(text, 2 * cap) : NULL;
            if (!nt) {
                st = lv_errorf(LV_ERR_RUNTIME, "%s: out of memory reading the file", path);
                break;
            }
            text = nt;
            cap *= 2;
        }
        size_t got = fread(text + len, 1, cap - len, f);
        len += got;
        if (got == 0) {
            if (ferror(f)) st = lv_errorf(LV_ERR_INPUT, "%s: read error: %s", path, strerror(errno));
            break;
        }
    }
    fclose(f);
    if (st == LV_OK) st = lv_csv_parse(t, text, len, path);
    free(text);
    return st;
}

int lv_csv_column(const lv_csv *t, const char *name) {
    for (int c = 0; c < t->n_cols; c++)
        if (strcasecmp(t->header[c], name) == 0) return c;
    return -1;
}
