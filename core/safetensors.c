/* safetensors reader and writer. The reader treats every file as hostile: all lengths,
 * offsets and shapes are checked with overflow-safe arithmetic before any tensor byte is
 * exposed, and every rejection is LV_ERR_INPUT naming the file. Nothing here aborts. */
#include "safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

/* JSON numbers reach us as doubles; above 2^53 they are no longer exact integers. */
#define ST_MAX_EXACT 9007199254740992.0

static const struct {
    const char *name;
    size_t size;
} dtype_table[] = {
    [LV_DT_F32] = {"F32", 4}, [LV_DT_F16] = {"F16", 2}, [LV_DT_BF16] = {"BF16", 2},
    [LV_DT_I64] = {"I64", 8}, [LV_DT_I32] = {"I32", 4}, [LV_DT_I16] = {"I16", 2},
    [LV_DT_I8] = {"I8", 1},   [LV_DT_U8] = {"U8", 1},   [LV_DT_BOOL] = {"BOOL", 1},
};
#define N_DTYPES ((int)(sizeof dtype_table / sizeof dtype_table[0]))

size_t lv_dtype_size(lv_dtype dt) {
    return (int)dt >= 0 && (int)dt < N_DTYPES ? dtype_table[dt].size : 0;
}

const char *lv_dtype_name(lv_dtype dt) {
    return (int)dt >= 0 && (int)dt < N_DTYPES ? dtype_table[dt].name : "?";
}

static int dtype_parse(const char *s, lv_dtype *out) {
    for (int i = 0; i < N_DTYPES; i++)
        if (strcmp(s, dtype_table[i].name) == 0) {
            *out = (lv_dtype)i;
            return 1;
        }
    return 0;
}

/* ------------------------------------------------------------------------------------ */
/* Reader                                                                               */

struct lv_st_file {
    char *path;
    unsigned char *map; /* whole file, read-only */
    size_t map_len;
    const unsigned char *data; /* start of the byte buffer */
    uint64_t data_len;
    cJSON *root; /* owns the tensor names and metadata strings below */
    int n;
    lv_st_tensor *tensors;       /* file (JSON) order */
    const lv_st_tensor **byname; /* sorted by name, for lv_st_find */
    int nmeta;
    const char **meta_keys, **meta_vals; /* file order */
};

/* The Rust reference requires the header to be UTF-8; a stray byte means a corrupt file. */
static int utf8_valid(const unsigned char *s, size_t n, size_t *bad) {
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        size_t len;
        uint32_t cp, min;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            len = 2, cp = c & 0x1f, min = 0x80;
        } else if ((c & 0xf0) == 0xe0) {
            len = 3, cp = c & 0x0f, min = 0x800;
        } else if ((c & 0xf8) == 0xf0) {
            len = 4, cp = c & 0x07, min = 0x10000;
        } else {
            *bad = i;
            return 0;
        }
        if (n - i < len) {
            *bad = i;
            return 0;
        }
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80) {
                *bad = i;
                return 0;
            }
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
            *bad = i;
            return 0;
        }
        i += len;
    }
    return 1;
}

/* A non-negative integer that a double holds exactly; 0 on anything else. */
static int json_uint(const cJSON *v, uint64_t *out) {
    if (!cJSON_IsNumber(v)) return 0;
    double d = v->valuedouble;
    if (!(d >= 0.0 && d <= ST_MAX_EXACT)) return 0;
    uint64_t u = (uint64_t)d;
    if ((double)u != d) return 0;
    *out = u;
    return 1;
}

/* Short description of a JSON value for "found ..." in messages. */
static const char *json_kind(const cJSON *v, char *buf, size_t cap) {
    if (!v) return "nothing";
    if (cJSON_IsNumber(v)) {
        snprintf(buf, cap, "%.17g", v->valuedouble);
        return buf;
    }
    if (cJSON_IsString(v)) return "a string";
    if (cJSON_IsArray(v)) return "an array";
    if (cJSON_IsObject(v)) return "an object";
    if (cJSON_IsBool(v)) return "a boolean";
    if (cJSON_IsNull(v)) return "null";
    return "an invalid value";
}

static int cmp_name(const void *a, const void *b) {
    return strcmp((*(const lv_st_tensor *const *)a)->name, (*(const lv_st_tensor *const *)b)->name);
}

static int cmp_offsets(const void *a, const void *b) {
    const lv_st_tensor *x = *(const lv_st_tensor *const *)a, *y = *(const lv_st_tensor *const *)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return 0;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Finds key in an entry, rejecting a repeated field (cJSON keeps duplicates). */
static lv_status entry_field(const lv_st_file *f, const cJSON *entry, const char *key,
                             const cJSON **out) {
    *out = NULL;
    for (const cJSON *c = entry->child; c; c = c->next) {
        if (!c->string || strcmp(c->string, key) != 0) continue;
        if (*out)
            return lv_errorf(LV_ERR_INPUT, "%s: tensor '%s': duplicate field \"%s\"", f->path,
                             entry->string, key);
        *out = c;
    }
    if (!*out)
        return lv_errorf(LV_ERR_INPUT, "%s: tensor '%s': missing field \"%s\"", f->path,
                         entry->string, key);
    return LV_OK;
}

static lv_status parse_tensor(const lv_st_file *f, const cJSON *e, lv_st_tensor *t) {
    char buf[64];
    const char *name = e->string;
    t->name = name;
    if (!cJSON_IsObject(e))
        return lv_errorf(LV_ERR_INPUT, "%s: tensor '%s': expected an object, found %s", f->path,
                         name, json_kind(e, buf, sizeof buf));
    const cJSON *dt, *shape, *off;
    LV_TRY(entry_field(f, e, "dtype", &dt));
    LV_TRY(entry_field(f, e, "shape", &shape));
    LV_TRY(entry_field(f, e, "data_offsets", &off));

    if (!cJSON_IsString(dt))
        return lv_errorf(LV_ERR_INPUT, "%s: tensor '%s': expected dtype to be a string, found %s",
                         f->path, name, json_kind(dt, buf, sizeof buf));
    if (!dtype_parse(dt->valuestring, &t->dtype))
        return lv_errorf(LV_ERR_INPUT,
                         "%s: tensor '%s': unknown dtype \"%.40s\" (expected one of F32 F16 BF16 "
                         "I64 I32 I16 I8 U8 BOOL)",
                         f->path, name, dt->valuestring);

    if (!cJSON_IsArray(shape))
        return lv_errorf(LV_ERR_INPUT, "%s: tensor '%s': expected shape to be an array, found %s",
                         f->path, name, json_kind(shape, buf, sizeof buf));
    int ndim = cJSON_GetArraySize(shape);
    if (ndim > LV_ST_MAX_DIMS)
        return lv_errorf(LV_ERR_INPUT, "%s: tensor '%s': expected at most %d dimensions, found %d",
                         f->path, name, LV_ST_MAX_DIMS, ndim);
    t->ndim = ndim;
    uint64_t count = 1;
    int overflow = 0, d = 0;
    for (const cJSON *s = shape->child; s; s = s->next, d++) {
        uint64_t v;
        if (!json_uint(s, &v))
            return lv_errorf(LV_ERR_INPUT,
                             "%s: tensor '%s': shape[%d]: expected a non-negative integer "
                             "(at most 2^53), found %s",
                             f->path, name, d, json_kind(s, buf, sizeof buf));
        t->shape[d] = (int64_t)v;
        if (v != 0 && count > UINT64_MAX / v) overflow = 1;
        count *= v;
    }
    for (; d < LV_ST_MAX_DIMS; d++) t->shape[d] = 0;

    if (!cJSON_IsArray(off))
        return lv_errorf(LV_ERR_INPUT,
                         "%s: tensor '%s': expected data_offsets to be an array [begin, end], "
                         "found %s",
                         f->path, name, json_kind(off, buf, sizeof buf));
    if (cJSON_GetArraySize(off) != 2)
        return lv_errorf(LV_ERR_INPUT,
                         "%s: tensor '%s': expected data_offsets to be an array [begin, end], "
                         "found %d element(s)",
                         f->path, name, cJSON_GetArraySize(off));
    char buf2[64];
    if (!json_uint(off->child, &t->begin) || !json_uint(off->child->next, &t->end))
        return lv_errorf(LV_ERR_INPUT,
                         "%s: tensor '%s': expected data_offsets to be non-negative integers, "
                         "found [%s, %s]",
                         f->path, name, json_kind(off->child, buf, sizeof buf),
                         json_kind(off->child->next, buf2, sizeof buf2));
    if (t->begin > t->end)
        return lv_errorf(LV_ERR_INPUT,
                         "%s: tensor '%s': data_offsets [%llu, %llu]: expected begin <= end",
                         f->path, name, (unsigned long long)t->begin, (unsigned long long)t->end);
    if (t->end > f->data_len)
        return lv_errorf(LV_ERR_INPUT,
                         "%s: tensor '%s': data_offsets [%llu, %llu] out of range: the data "
                         "buffer has %llu bytes",
                         f->path, name, (unsigned long long)t->begin, (unsigned long long)t->end,
                         (unsigned long long)f->data_len);
    size_t esz = lv_dtype_size(t->dtype);
    if (overflow || count > UINT64_MAX / esz)
        return lv_errorf(LV_ERR_INPUT, "%s: tensor '%s': shape element count overflows", f->path,
                         name);
    if (count * esz != t->end - t->begin)
        return lv_errorf(LV_ERR_INPUT,
                         "%s: tensor '%s': byte size does not match: shape and dtype %s give "
                         "%llu bytes, data_offsets [%llu, %llu] give %llu",
                         f->path, name, lv_dtype_name(t->dtype),
                         (unsigned long long)(count * esz), (unsigned long long)t->begin,
                         (unsigned long long)t->end, (unsigned long long)(t->end - t->begin));
    return LV_OK;
}

static lv_status parse_metadata(lv_st_file *f, const cJSON *m) {
    char buf[64];
    if (!cJSON_IsObject(m))
        return lv_errorf(LV_ERR_INPUT,
                         "%s: __metadata__: expected an object of string values, found %s",
                         f->path, json_kind(m, buf, sizeof buf));
    int n = cJSON_GetArraySize(m);
    f->meta_keys = calloc((size_t)n + 1, sizeof *f->meta_keys);
    f->meta_vals = calloc((size_t)n + 1, sizeof *f->meta_vals);
    LV_CHECK_ALLOC(f->meta_keys);
    LV_CHECK_ALLOC(f->meta_vals);
    for (const cJSON *c = m->child; c; c = c->next) {
        if (!cJSON_IsString(c))
            return lv_errorf(LV_ERR_INPUT,
                             "%s: __metadata__: value of \"%s\" is not a string (found %s)",
                             f->path, c->string, json_kind(c, buf, sizeof buf));
        f->meta_keys[f->nmeta] = c->string;
        f->meta_vals[f->nmeta] = c->valuestring;
        f->nmeta++;
    }
    const char **sorted = malloc(((size_t)n + 1) * sizeof *sorted);
    LV_CHECK_ALLOC(sorted);
    memcpy(sorted, f->meta_keys, (size_t)n * sizeof *sorted);
    qsort(sorted, (size_t)n, sizeof *sorted, cmp_str);
    for (int i = 1; i < n; i++)
        if (strcmp(sorted[i - 1], sorted[i]) == 0) {
            lv_status s = lv_errorf(LV_ERR_INPUT, "%s: __metadata__: duplicate key \"%s\"",
                                    f->path, sorted[i]);
            free(sorted);
            return s;
        }
    free(sorted);
    return LV_OK;
}

static lv_status parse_header(lv_st_file *f, const char *hdr, size_t len) {
    size_t bad;
    if (!utf8_valid((const unsigned char *)hdr, len, &bad))
        return lv_errorf(LV_ERR_INPUT, "%s: header is not valid UTF-8 (byte %zu)", f->path, bad);
    if (memchr(hdr, 0, len))
        return lv_errorf(LV_ERR_INPUT, "%s: header contains a NUL byte", f->path);
    const char *end = NULL;
    f->root = cJSON_ParseWithLengthOpts(hdr, len, &end, 0);
    if (!f->root) {
        size_t at = end && end >= hdr && end <= hdr + len ? (size_t)(end - hdr) : 0;
        return lv_errorf(LV_ERR_INPUT, "%s: header is not valid JSON (error near byte %zu of %zu)",
                         f->path, at, len);
    }
    /* The format pads the header with spaces; anything else after the value is corrupt. */
    for (const char *p = end; p < hdr + len; p++)
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r')
            return lv_errorf(LV_ERR_INPUT,
                             "%s: header is not valid JSON: unexpected byte 0x%02x after the "
                             "object at byte %zu",
                             f->path, (unsigned)(unsigned char)*p, (size_t)(p - hdr));
    if (!cJSON_IsObject(f->root))
        return lv_errorf(LV_ERR_INPUT, "%s: header is not a JSON object", f->path);

    int total = cJSON_GetArraySize(f->root);
    f->tensors = calloc((size_t)total + 1, sizeof *f->tensors);
    f->byname = calloc((size_t)total + 1, sizeof *f->byname);
    LV_CHECK_ALLOC(f->tensors);
    LV_CHECK_ALLOC(f->byname);
    const cJSON *meta = NULL;
    for (const cJSON *c = f->root->child; c; c = c->next) {
        if (strcmp(c->string, "__metadata__") == 0) {
            if (meta)
                return lv_errorf(LV_ERR_INPUT, "%s: duplicate key \"__metadata__\" in header",
                                 f->path);
            meta = c;
            continue;
        }
        LV_TRY(parse_tensor(f, c, &f->tensors[f->n]));
        f->byname[f->n] = &f->tensors[f->n];
        f->n++;
    }
    if (meta) LV_TRY(parse_metadata(f, meta));

    qsort(f->byname, (size_t)f->n, sizeof *f->byname, cmp_name);
    for (int i = 1; i < f->n; i++)
        if (strcmp(f->byname[i - 1]->name, f->byname[i]->name) == 0)
            return lv_errorf(LV_ERR_INPUT, "%s: duplicate tensor name '%s' in header", f->path,
                             f->byname[i]->name);

    /* Offsets must tile [0, data_len) exactly: no gap, no overlap, no trailing bytes. */
    const lv_st_tensor **order = malloc(((size_t)f->n + 1) * sizeof *order);
    LV_CHECK_ALLOC(order);
    for (int i = 0; i < f->n; i++) order[i] = &f->tensors[i];
    qsort(order, (size_t)f->n, sizeof *order, cmp_offsets);
    uint64_t at = 0;
    const char *prev = NULL;
    lv_status s = LV_OK;
    for (int i = 0; i < f->n && s == LV_OK; i++) {
        const lv_st_tensor *t = order[i];
        if (t->begin < at)
            s = lv_errorf(LV_ERR_INPUT,
                          "%s: tensor '%s': data_offsets [%llu, %llu] overlap tensor '%s' "
                          "(expected begin %llu)",
                          f->path, t->name, (unsigned long long)t->begin,
                          (unsigned long long)t->end, prev, (unsigned long long)at);
        else if (t->begin > at)
            s = lv_errorf(LV_ERR_INPUT,
                          "%s: tensor '%s': data_offsets [%llu, %llu] leave a gap of %llu bytes "
                          "after %s%s%s (expected begin %llu)",
                          f->path, t->name, (unsigned long long)t->begin,
                          (unsigned long long)t->end, (unsigned long long)(t->begin - at),
                          prev ? "tensor '" : "the start of the buffer", prev ? prev : "",
                          prev ? "'" : "", (unsigned long long)at);
        at = t->end;
        prev = t->name;
    }
    free(order);
    if (s != LV_OK) return s;
    if (at != f->data_len)
        return lv_errorf(LV_ERR_INPUT,
                         "%s: %llu trailing bytes after the last tensor (tensors cover %llu of "
                         "%llu data bytes)",
                         f->path, (unsigned long long)(f->data_len - at), (unsigned long long)at,
                         (unsigned long long)f->data_len);
    return LV_OK;
}

static lv_status open_map(lv_st_file *f) {
    int fd = open(f->path, O_RDONLY | O_CLOEXEC | O_NONBLOCK); /* a FIFO must not block us */
    if (fd < 0) return lv_errorf(LV_ERR_INPUT, "%s: cannot open: %s", f->path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return lv_errorf(LV_ERR_RUNTIME, "%s: fstat failed: %s", f->path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return lv_errorf(LV_ERR_INPUT, "%s: not a regular file", f->path);
    }
    if (st.st_size < 8) {
        close(fd);
        return lv_errorf(LV_ERR_INPUT,
                         "%s: file is %lld bytes, shorter than the 8-byte header length",
                         f->path, (long long)st.st_size);
    }
    if ((uint64_t)st.st_size > (uint64_t)SIZE_MAX) {
        close(fd);
        return lv_errorf(LV_ERR_INPUT, "%s: file too large to map", f->path);
    }
    f->map_len = (size_t)st.st_size;
    void *p = mmap(NULL, f->map_len, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (p == MAP_FAILED) {
        f->map_len = 0;
        return lv_errorf(LV_ERR_RUNTIME, "%s: mmap failed: %s", f->path, strerror(e));
    }
    f->map = p;
    return LV_OK;
}

static lv_status open_file(lv_st_file *f) {
    LV_TRY(open_map(f));
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = (n << 8) | f->map[i];
    uint64_t avail = (uint64_t)f->map_len - 8;
    if (n > LV_ST_MAX_HEADER)
        return lv_errorf(LV_ERR_INPUT,
                         "%s: header length %llu exceeds the limit of %llu bytes (corrupt file?)",
                         f->path, (unsigned long long)n, (unsigned long long)LV_ST_MAX_HEADER);
    if (n > avail)
        return lv_errorf(LV_ERR_INPUT,
                         "%s: header length %llu runs past the end of the file (%llu bytes "
                         "follow the 8-byte length)",
                         f->path, (unsigned long long)n, (unsigned long long)avail);
    f->data = f->map + 8 + n;
    f->data_len = avail - n;
    /* cJSON wants a terminated string; copying also keeps it off the mapping. */
    char *hdr = malloc((size_t)n + 1);
    LV_CHECK_ALLOC(hdr);
    memcpy(hdr, f->map + 8, (size_t)n);
    hdr[n] = '\0';
    lv_status s = parse_header(f, hdr, (size_t)n);
    free(hdr);
    return s;
}

lv_status lv_st_open(lv_st_file **out, const char *path) {
    *out = NULL;
    lv_st_file *f = calloc(1, sizeof *f);
    LV_CHECK_ALLOC(f);
    size_t plen = strlen(path);
    f->path = malloc(plen + 1);
    if (!f->path) {
        free(f);
        LV_CHECK_ALLOC(NULL);
    }
    memcpy(f->path, path, plen + 1);
    lv_status s = open_file(f);
    if (s != LV_OK) {
        lv_st_close(f);
        return s;
    }
    *out = f;
    return LV_OK;
}

void lv_st_close(lv_st_file *f) {
    if (!f) return;
    if (f->map) munmap(f->map, f->map_len);
    cJSON_Delete(f->root);
    free(f->tensors);
    free(f->byname);
    free(f->meta_keys);
    free(f->meta_vals);
    free(f->path);
    free(f);
}

const char *lv_st_path(const lv_st_file *f) { return f ? f->path : "(null)"; }
int lv_st_count(const lv_st_file *f) { return f ? f->n : 0; }

const lv_st_tensor *lv_st_at(const lv_st_file *f, int i) {
    return f && i >= 0 && i < f->n ? &f->tensors[i] : NULL;
}

const lv_st_tensor *lv_st_find(const lv_st_file *f, const char *name) {
    if (!f || !name) return NULL;
    int lo = 0, hi = f->n;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        int c = strcmp(f->byname[mid]->name, name);
        if (c == 0) return f->byname[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

const void *lv_st_data(const lv_st_file *f, const lv_st_tensor *t) {
    return f && t ? f->data + t->begin : NULL;
}

int lv_st_metadata_count(const lv_st_file *f) { return f ? f->nmeta : 0; }

const char *lv_st_metadata(const lv_st_file *f, const char *key) {
    if (!f || !key) return NULL;
    for (int i = 0; i < f->nmeta; i++)
        if (strcmp(f->meta_keys[i], key) == 0) return f->meta_vals[i];
    return NULL;
}

const char *lv_st_metadata_key(const lv_st_file *f, int i) {
    return f && i >= 0 && i < f->nmeta ? f->meta_keys[i] : NULL;
}

/* IEEE half to float, exact for every input including subnormals, inf and NaN. */
static float half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, exp = (h >> 10) & 0x1fu, man = h & 0x3ffu;
    uint32_t bits;
    float v;
    if (exp == 0) {
        v = (float)man * 5.9604644775390625e-8f; /* man * 2^-24, exact */
        memcpy(&bits, &v, 4);
        bits |= sign;
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | (man << 13);
    } else {
        bits = sign | ((exp + 112u) << 23) | (man << 13);
    }
    memcpy(&v, &bits, 4);
    return v;
}

static void shape_str(char *buf, size_t cap, int ndim, const int64_t *shape) {
    size_t at = 0;
    at += (size_t)snprintf(buf, cap, "[");
    for (int d = 0; d < ndim && at < cap; d++)
        at += (size_t)snprintf(buf + at, cap - at, "%s%lld", d ? "," : "", (long long)shape[d]);
    if (at < cap) snprintf(buf + at, cap - at, "]");
}

lv_status lv_st_read_f32(const lv_st_file *f, const char *name, float *dst, int ndim,
                         const int64_t *expect_shape) {
    const lv_st_tensor *t = lv_st_find(f, name);
    if (!t) return lv_errorf(LV_ERR_INPUT, "%s: no tensor '%s'", lv_st_path(f), name);
    int same = ndim == t->ndim;
    for (int d = 0; same && d < ndim; d++) same = expect_shape[d] == t->shape[d];
    if (!same) {
        char want[256], got[256];
        if (ndim < 0 || ndim > LV_ST_MAX_DIMS)
            snprintf(want, sizeof want, "(%d dimensions)", ndim);
        else
            shape_str(want, sizeof want, ndim, expect_shape);
        shape_str(got, sizeof got, t->ndim, t->shape);
        return lv_errorf(LV_ERR_INPUT, "%s: tensor '%s': expected shape %s, found %s",
                         f->path, name, want, got);
    }
    if (t->dtype != LV_DT_F32 && t->dtype != LV_DT_F16 && t->dtype != LV_DT_BF16)
        return lv_errorf(LV_ERR_INPUT,
                         "%s: tensor '%s': expected dtype F32, F16 or BF16, found %s", f->path,
                         name, lv_dtype_name(t->dtype));
    const unsigned char *p = f->data + t->begin;
    size_t n = (size_t)((t->end - t->begin) / lv_dtype_size(t->dtype));
    if (t->dtype == LV_DT_F32) {
        if (n) memcpy(dst, p, n * 4);
    } else {
        for (size_t i = 0; i < n; i++) {
            uint16_t h = (uint16_t)(p[2 * i] | (p[2 * i + 1] << 8));
            if (t->dtype == LV_DT_F16) {
                dst[i] = half_to_float(h);
            } else {
                uint32_t bits = (uint32_t)h << 16;
                memcpy(&dst[i], &bits, 4);
            }
        }
    }
    return LV_OK;
}

/* ------------------------------------------------------------------------------------ */
/* Writer                                                                               */

typedef struct st_entry {
    char *name;
    lv_dtype dtype;
    int ndim;
    int64_t shape[LV_ST_MAX_DIMS];
    const void *data;
    uint64_t nbytes;
} st_entry;

struct lv_st_writer {
    st_entry *e;
    int n, cap;
    char **mkeys, **mvals;
    int nmeta, mcap;
};

static char *str_dup(const char *s) {
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p) memcpy(p, s, n);
    return p;
}

lv_status lv_st_writer_create(lv_st_writer **out) {
    *out = calloc(1, sizeof **out);
    LV_CHECK_ALLOC(*out);
    return LV_OK;
}

void lv_st_writer_free(lv_st_writer *w) {
    if (!w) return;
    for (int i = 0; i < w->n; i++) free(w->e[i].name);
    for (int i = 0; i < w->nmeta; i++) {
        free(w->mkeys[i]);
        free(w->mvals[i]);
    }
    free(w->e);
    free(w->mkeys);
    free(w->mvals);
    free(w);
}

lv_status lv_st_writer_add(lv_st_writer *w, const char *name, lv_dtype dtype, int ndim,
                           const int64_t *shape, const void *data) {
    size_t bad;
    LV_CHECK(name && name[0], LV_ERR_INPUT, "safetensors writer: empty tensor name");
    LV_CHECK(strcmp(name, "__metadata__") != 0, LV_ERR_INPUT,
             "safetensors writer: the name __metadata__ is reserved");
    LV_CHECK(utf8_valid((const unsigned char *)name, strlen(name), &bad), LV_ERR_INPUT,
             "safetensors writer: tensor name is not valid UTF-8");
    LV_CHECK(lv_dtype_size(dtype) != 0, LV_ERR_INPUT,
             "safetensors writer: tensor '%s': invalid dtype %d", name, (int)dtype);
    LV_CHECK(ndim >= 0 && ndim <= LV_ST_MAX_DIMS, LV_ERR_INPUT,
             "safetensors writer: tensor '%s': expected 0..%d dimensions, found %d", name,
             LV_ST_MAX_DIMS, ndim);
    uint64_t count = 1;
    for (int d = 0; d < ndim; d++) {
        LV_CHECK(shape[d] >= 0 && (double)shape[d] <= ST_MAX_EXACT, LV_ERR_INPUT,
                 "safetensors writer: tensor '%s': shape[%d] = %lld is not a valid size", name,
                 d, (long long)shape[d]);
        uint64_t v = (uint64_t)shape[d];
        LV_CHECK(v == 0 || count <= UINT64_MAX / v, LV_ERR_INPUT,
                 "safetensors writer: tensor '%s': element count overflows", name);
        count *= v;
    }
    size_t esz = lv_dtype_size(dtype);
    LV_CHECK(count <= (uint64_t)SIZE_MAX / esz, LV_ERR_INPUT,
             "safetensors writer: tensor '%s': byte size overflows", name);
    LV_CHECK(data || count == 0, LV_ERR_INPUT, "safetensors writer: tensor '%s': NULL data",
             name);
    for (int i = 0; i < w->n; i++)
        LV_CHECK(strcmp(w->e[i].name, name) != 0, LV_ERR_INPUT,
                 "safetensors writer: duplicate tensor name '%s'", name);
    if (w->n == w->cap) {
        int cap = w->cap ? 2 * w->cap : 64;
        st_entry *e = realloc(w->e, (size_t)cap * sizeof *e);
        LV_CHECK_ALLOC(e);
        w->e = e;
        w->cap = cap;
    }
    st_entry *e = &w->e[w->n];
    memset(e, 0, sizeof *e);
    e->name = str_dup(name);
    LV_CHECK_ALLOC(e->name);
    e->dtype = dtype;
    e->ndim = ndim;
    for (int d = 0; d < ndim; d++) e->shape[d] = shape[d];
    e->data = data;
    e->nbytes = count * esz;
    w->n++;
    return LV_OK;
}

lv_status lv_st_writer_set_metadata(lv_st_writer *w, const char *key, const char *value) {
    size_t bad;
    LV_CHECK(key && value, LV_ERR_INPUT, "safetensors writer: NULL metadata key or value");
    LV_CHECK(utf8_valid((const unsigned char *)key, strlen(key), &bad) &&
                 utf8_valid((const unsigned char *)value, strlen(value), &bad),
             LV_ERR_INPUT, "safetensors writer: metadata '%s' is not valid UTF-8", key);
    char *v = str_dup(value);
    LV_CHECK_ALLOC(v);
    for (int i = 0; i < w->nmeta; i++)
        if (strcmp(w->mkeys[i], key) == 0) { /* setting a key again replaces its value */
            free(w->mvals[i]);
            w->mvals[i] = v;
            return LV_OK;
        }
    if (w->nmeta == w->mcap) {
        int cap = w->mcap ? 2 * w->mcap : 16;
        char **k = realloc(w->mkeys, (size_t)cap * sizeof *k);
        if (k) w->mkeys = k;
        char **vv = k ? realloc(w->mvals, (size_t)cap * sizeof *vv) : NULL;
        if (vv) w->mvals = vv;
        if (!k || !vv) free(v);
        LV_CHECK_ALLOC(k);
        LV_CHECK_ALLOC(vv);
        w->mcap = cap;
    }
    w->mkeys[w->nmeta] = str_dup(key);
    if (!w->mkeys[w->nmeta]) free(v);
    LV_CHECK_ALLOC(w->mkeys[w->nmeta]);
    w->mvals[w->nmeta++] = v;
    return LV_OK;
}

/* Growing byte buffer for the JSON header, written by hand so offsets above 2^31 print as
 * plain integers (cJSON would switch to exponent notation, which readers reject). */
typedef struct sbuf {
    char *p;
    size_t len, cap;
    int oom;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n) {
    if (b->oom) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->len + n + 1) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

static void sb_str(sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

static void sb_u64(sbuf *b, uint64_t v) {
    char tmp[32];
    sb_put(b, tmp, (size_t)snprintf(tmp, sizeof tmp, "%llu", (unsigned long long)v));
}

static void sb_json_str(sbuf *b, const char *s) {
    sb_put(b, "\"", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        char esc[8];
        if (c == '"' || c == '\\') {
            esc[0] = '\\', esc[1] = (char)c;
            sb_put(b, esc, 2);
        } else if (c < 0x20) {
            sb_put(b, esc, (size_t)snprintf(esc, sizeof esc, "\\u%04x", c));
        } else {
            sb_put(b, (const char *)&c, 1);
        }
    }
    sb_put(b, "\"", 1);
}

static lv_status build_header(const lv_st_writer *w, sbuf *b) {
    sb_str(b, "{");
    int first = 1;
    /* __metadata__ first, as the Python package writes it. */
    if (w->nmeta > 0) {
        sb_str(b, "\"__metadata__\":{");
        for (int i = 0; i < w->nmeta; i++) {
            if (i) sb_str(b, ",");
            sb_json_str(b, w->mkeys[i]);
            sb_str(b, ":");
            sb_json_str(b, w->mvals[i]);
        }
        sb_str(b, "}");
        first = 0;
    }
    uint64_t off = 0;
    for (int i = 0; i < w->n; i++) {
        const st_entry *e = &w->e[i];
        if (!first) sb_str(b, ",");
        first = 0;
        sb_json_str(b, e->name);
        sb_str(b, ":{\"dtype\":\"");
        sb_str(b, lv_dtype_name(e->dtype));
        sb_str(b, "\",\"shape\":[");
        for (int d = 0; d < e->ndim; d++) {
            if (d) sb_str(b, ",");
            sb_u64(b, (uint64_t)e->shape[d]);
        }
        sb_str(b, "],\"data_offsets\":[");
        sb_u64(b, off);
        sb_str(b, ",");
        sb_u64(b, off + e->nbytes);
        sb_str(b, "]}");
        off += e->nbytes;
    }
    sb_str(b, "}");
    while (b->len % 8) sb_str(b, " ");
    LV_CHECK_ALLOC(b->oom ? NULL : b->p);
    return LV_OK;
}

static lv_status write_all(FILE *fp, const void *p, size_t n, const char *path) {
    if (n && fwrite(p, 1, n, fp) != n)
        return lv_errorf(LV_ERR_RUNTIME, "%s: write failed: %s", path, strerror(errno));
    return LV_OK;
}

static lv_status write_tmp(const lv_st_writer *w, const sbuf *hdr, const char *tmp,
                           const char *path) {
    FILE *fp = fopen(tmp, "wb");
    if (!fp)
        return lv_errorf(LV_ERR_RUNTIME, "%s: cannot create %s: %s", path, tmp, strerror(errno));
    unsigned char len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (unsigned char)((uint64_t)hdr->len >> (8 * i));
    lv_status s = write_all(fp, len8, 8, path);
    if (s == LV_OK) s = write_all(fp, hdr->p, hdr->len, path);
    for (int i = 0; s == LV_OK && i < w->n; i++)
        s = write_all(fp, w->e[i].data, (size_t)w->e[i].nbytes, path);
    if (s == LV_OK && fflush(fp) != 0)
        s = lv_errorf(LV_ERR_RUNTIME, "%s: flush failed: %s", path, strerror(errno));
    if (s == LV_OK && fsync(fileno(fp)) != 0)
        s = lv_errorf(LV_ERR_RUNTIME, "%s: fsync failed: %s", path, strerror(errno));
    if (fclose(fp) != 0 && s == LV_OK)
        s = lv_errorf(LV_ERR_RUNTIME, "%s: close failed: %s", path, strerror(errno));
    return s;
}

/* Makes the rename durable; filesystems that cannot fsync a directory say EINVAL. */
static lv_status sync_dir(const char *path) {
    const char *slash = strrchr(path, '/');
    char *dir = slash ? malloc((size_t)(slash - path) + 2) : str_dup(".");
    LV_CHECK_ALLOC(dir);
    if (slash) {
        size_t n = slash == path ? 1 : (size_t)(slash - path);
        memcpy(dir, path, n);
        dir[n] = '\0';
    }
    lv_status s = LV_OK;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        s = lv_errorf(LV_ERR_RUNTIME, "%s: cannot open directory %s to fsync: %s", path, dir,
                      strerror(errno));
    } else {
        if (fsync(fd) != 0 && errno != EINVAL)
            s = lv_errorf(LV_ERR_RUNTIME, "%s: fsync of directory %s failed: %s", path, dir,
                          strerror(errno));
        close(fd);
    }
    free(dir);
    return s;
}

lv_status lv_st_writer_save(lv_st_writer *w, const char *path) {
    sbuf hdr = {0};
    lv_status s = build_header(w, &hdr);
    if (s != LV_OK) {
        free(hdr.p);
        return s;
    }
    size_t tcap = strlen(path) + 32;
    char *tmp = malloc(tcap);
    if (!tmp) free(hdr.p);
    LV_CHECK_ALLOC(tmp);
    snprintf(tmp, tcap, "%s.tmp.%ld", path, (long)getpid());
    s = write_tmp(w, &hdr, tmp, path);
    free(hdr.p);
    if (s == LV_OK && rename(tmp, path) != 0)
        s = lv_errorf(LV_ERR_RUNTIME, "%s: rename from %s failed: %s", path, tmp,
                      strerror(errno));
    if (s != LV_OK) {
        unlink(tmp);
        free(tmp);
        return s;
    }
    free(tmp);
    return sync_dir(path);
}
