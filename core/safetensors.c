/* safetensors reader (the writer is safetensors_write.c). The reader treats every file as hostile: all lengths,
 * offsets and shapes are checked with overflow-safe arithmetic before any tensor byte is
 * exposed, and every rejection is LV_ERR_INPUT naming the file. Nothing here aborts. */
#include "safetensors.h"
#include "safetensors_utf8.h"

#include <errno.h>
#include <stdarg.h>
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

/* Offset of the first byte that is not UTF-8 (the Rust reference requires UTF-8), or n. */
size_t lv_st_utf8_prefix(const unsigned char *s, size_t n) {
    static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
    for (size_t i = 0; i < n;) {
        unsigned c = s[i];
        size_t len = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3
                   : (c & 0xf8) == 0xf0 ? 4 : 0;
        if (len == 0 || n - i < len) return i;
        uint32_t cp = len == 1 ? c : c & (0x7fu >> len);
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80) return i;
            cp = (cp << 6) | (s[i + k] & 0x3fu);
        }
        if (cp < min_cp[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
        i += len;
    }
    return n;
}

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
    if (cJSON_IsNumber(v)) snprintf(buf, cap, "%.17g", v->valuedouble);
    else if (cJSON_IsArray(v)) snprintf(buf, cap, "an array of %d", cJSON_GetArraySize(v));
    else
        return !v ? "nothing" : cJSON_IsString(v) ? "a string" : cJSON_IsObject(v) ? "an object"
             : cJSON_IsBool(v) ? "a boolean" : cJSON_IsNull(v) ? "null" : "an invalid value";
    return buf;
}

typedef unsigned long long ull; /* offsets in messages */

/* "<file>: tensor '<name>': <message>" as LV_ERR_INPUT. */
static lv_status bad_tensor(const lv_st_file *f, const char *name, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static lv_status bad_tensor(const lv_st_file *f, const char *name, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return lv_errorf(LV_ERR_INPUT, "%s: tensor '%s': %s", f->path, name, msg);
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
static lv_status entry_field(const lv_st_file *f, const cJSON *e, const char *key,
                             const cJSON **out) {
    *out = NULL;
    for (const cJSON *c = e->child; c; c = c->next) {
        if (strcmp(c->string, key) != 0) continue;
        if (*out) return bad_tensor(f, e->string, "duplicate field \"%s\"", key);
        *out = c;
    }
    return *out ? LV_OK : bad_tensor(f, e->string, "missing field \"%s\"", key);
}

static lv_status parse_tensor(const lv_st_file *f, const cJSON *e, lv_st_tensor *t) {
    char b1[64], b2[64];
    const char *name = t->name = e->string;
    if (!cJSON_IsObject(e))
        return bad_tensor(f, name, "expected an object, found %s", json_kind(e, b1, sizeof b1));
    const cJSON *dt, *shape, *off;
    LV_TRY(entry_field(f, e, "dtype", &dt));
    LV_TRY(entry_field(f, e, "shape", &shape));
    LV_TRY(entry_field(f, e, "data_offsets", &off));

    if (!cJSON_IsString(dt))
        return bad_tensor(f, name, "expected dtype to be a string, found %s",
                          json_kind(dt, b1, sizeof b1));
    if (!dtype_parse(dt->valuestring, &t->dtype))
        return bad_tensor(f, name, "unknown dtype \"%.40s\" (expected one of F32 F16 BF16 I64 "
                          "I32 I16 I8 U8 BOOL)", dt->valuestring);
    if (!cJSON_IsArray(shape))
        return bad_tensor(f, name, "expected shape to be an array, found %s",
                          json_kind(shape, b1, sizeof b1));
    t->ndim = cJSON_GetArraySize(shape);
    if (t->ndim > LV_ST_MAX_DIMS)
        return bad_tensor(f, name, "expected at most %d dimensions, found %d", LV_ST_MAX_DIMS,
                          t->ndim);
    uint64_t count = 1;
    int overflow = 0, d = 0;
    for (const cJSON *s = shape->child; s; s = s->next, d++) {
        uint64_t v;
        if (!json_uint(s, &v))
            return bad_tensor(f, name, "shape[%d]: expected a non-negative integer (at most "
                              "2^53), found %s", d, json_kind(s, b1, sizeof b1));
        t->shape[d] = (int64_t)v;
        overflow |= v != 0 && count > UINT64_MAX / v;
        count *= v;
    }

    if (!cJSON_IsArray(off) || cJSON_GetArraySize(off) != 2)
        return bad_tensor(f, name, "expected data_offsets to be an array [begin, end], found %s",
                          json_kind(off, b1, sizeof b1));
    if (!json_uint(off->child, &t->begin) || !json_uint(off->child->next, &t->end))
        return bad_tensor(f, name, "expected data_offsets to be non-negative integers (at most "
                          "2^53), found [%s, %s]", json_kind(off->child, b1, sizeof b1),
                          json_kind(off->child->next, b2, sizeof b2));
    if (t->begin > t->end)
        return bad_tensor(f, name, "data_offsets [%llu, %llu]: expected begin <= end",
                          (ull)t->begin, (ull)t->end);
    if (t->end > f->data_len)
        return bad_tensor(f, name, "data_offsets [%llu, %llu] out of range: the data buffer has "
                          "%llu bytes", (ull)t->begin, (ull)t->end, (ull)f->data_len);
    size_t esz = lv_dtype_size(t->dtype);
    if (overflow || count > UINT64_MAX / esz)
        return bad_tensor(f, name, "shape element count overflows");
    if (count * esz != t->end - t->begin)
        return bad_tensor(f, name, "byte size does not match: shape and dtype %s give %llu bytes, "
                          "data_offsets [%llu, %llu] give %llu", lv_dtype_name(t->dtype),
                          (ull)(count * esz), (ull)t->begin, (ull)t->end,
                          (ull)(t->end - t->begin));
    return LV_OK;
}

static lv_status parse_metadata(lv_st_file *f, const cJSON *m) {
    char buf[64];
    if (!cJSON_IsObject(m))
        return lv_errorf(LV_ERR_INPUT, "%s: __metadata__: expected an object of string values, "
                         "found %s", f->path, json_kind(m, buf, sizeof buf));
    size_t n = (size_t)cJSON_GetArraySize(m);
    f->meta_keys = calloc(n + 1, sizeof *f->meta_keys);
    f->meta_vals = calloc(n + 1, sizeof *f->meta_vals);
    const char **sorted = malloc((n + 1) * sizeof *sorted);
    lv_status s = LV_OK;
    if (!f->meta_keys || !f->meta_vals || !sorted) {
        free(sorted);
        LV_CHECK_ALLOC(NULL);
    }
    for (const cJSON *c = m->child; c && s == LV_OK; c = c->next) {
        if (!cJSON_IsString(c))
            s = lv_errorf(LV_ERR_INPUT, "%s: __metadata__: value of \"%s\" is not a string "
                          "(found %s)", f->path, c->string, json_kind(c, buf, sizeof buf));
        f->meta_keys[f->nmeta] = sorted[f->nmeta] = c->string;
        f->meta_vals[f->nmeta++] = c->valuestring;
    }
    if (s == LV_OK) qsort(sorted, n, sizeof *sorted, cmp_str);
    for (size_t i = 1; i < n && s == LV_OK; i++)
        if (strcmp(sorted[i - 1], sorted[i]) == 0)
            s = lv_errorf(LV_ERR_INPUT, "%s: __metadata__: duplicate key \"%s\"", f->path,
                          sorted[i]);
    free(sorted);
    return s;
}

static lv_status parse_header(lv_st_file *f, const char *hdr, size_t len) {
    size_t bad = lv_st_utf8_prefix((const unsigned char *)hdr, len);
    if (bad < len)
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
            return lv_errorf(LV_ERR_INPUT, "%s: header is not valid JSON: unexpected byte 0x%02x "
                             "after the object at byte %zu", f->path, (unsigned)(unsigned char)*p,
                             (size_t)(p - hdr));
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

    /* Offsets must tile [0, data_len) exactly: no gap, no overlap, no trailing bytes. */
    qsort(f->byname, (size_t)f->n, sizeof *f->byname, cmp_offsets);
    uint64_t at = 0;
    const char *prev = NULL;
    for (int i = 0; i < f->n; i++) {
        const lv_st_tensor *t = f->byname[i];
        if (t->begin < at)
            return bad_tensor(f, t->name, "data_offsets [%llu, %llu] overlap tensor '%s' "
                              "(expected begin %llu)", (ull)t->begin, (ull)t->end, prev, (ull)at);
        if (t->begin > at)
            return bad_tensor(f, t->name, "data_offsets [%llu, %llu] leave a gap of %llu bytes "
                              "after %s%s%s (expected begin %llu)", (ull)t->begin, (ull)t->end,
                              (ull)(t->begin - at), prev ? "tensor '" : "the start of the buffer",
                              prev ? prev : "", prev ? "'" : "", (ull)at);
        at = t->end;
        prev = t->name;
    }
    if (at != f->data_len)
        return lv_errorf(LV_ERR_INPUT, "%s: %llu trailing bytes after the last tensor (tensors "
                         "cover %llu of %llu data bytes)", f->path, (ull)(f->data_len - at),
                         (ull)at, (ull)f->data_len);

    qsort(f->byname, (size_t)f->n, sizeof *f->byname, cmp_name);
    for (int i = 1; i < f->n; i++)
        if (strcmp(f->byname[i - 1]->name, f->byname[i]->name) == 0)
            return lv_errorf(LV_ERR_INPUT, "%s: duplicate tensor name '%s' in header", f->path,
                             f->byname[i]->name);
    return LV_OK;
}

static lv_status open_map(lv_st_file *f) {
    int fd = open(f->path, O_RDONLY | O_CLOEXEC | O_NONBLOCK); /* a FIFO must not block us */
    if (fd < 0) return lv_errorf(LV_ERR_INPUT, "%s: cannot open: %s", f->path, strerror(errno));
    struct stat st;
    lv_status s = LV_OK;
    if (fstat(fd, &st) != 0)
        s = lv_errorf(LV_ERR_RUNTIME, "%s: fstat failed: %s", f->path, strerror(errno));
    else if (!S_ISREG(st.st_mode))
        s = lv_errorf(LV_ERR_INPUT, "%s: not a regular file", f->path);
    else if (st.st_size < 8)
        s = lv_errorf(LV_ERR_INPUT, "%s: file is %lld bytes, shorter than the 8-byte header "
                      "length", f->path, (long long)st.st_size);
    else if ((uint64_t)st.st_size > (uint64_t)SIZE_MAX)
        s = lv_errorf(LV_ERR_INPUT, "%s: file too large to map", f->path);
    if (s == LV_OK) {
        void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED)
            s = lv_errorf(LV_ERR_RUNTIME, "%s: mmap failed: %s", f->path, strerror(errno));
        else
            f->map = p, f->map_len = (size_t)st.st_size;
    }
    close(fd);
    return s;
}

static lv_status open_file(lv_st_file *f) {
    LV_TRY(open_map(f));
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = (n << 8) | f->map[i];
    uint64_t avail = (uint64_t)f->map_len - 8;
    if (n > LV_ST_MAX_HEADER)
        return lv_errorf(LV_ERR_INPUT, "%s: header length %llu exceeds the limit of %llu bytes "
                         "(corrupt file?)", f->path, (ull)n, (ull)LV_ST_MAX_HEADER);
    if (n > avail)
        return lv_errorf(LV_ERR_INPUT, "%s: header length %llu runs past the end of the file "
                         "(%llu bytes follow the 8-byte length)", f->path, (ull)n, (ull)avail);
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

static char *str_dup(const char *s) {
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p) memcpy(p, s, n);
    return p;
}

lv_status lv_st_open(lv_st_file **out, const char *path) {
    *out = NULL;
    lv_st_file *f = calloc(1, sizeof *f);
    char *p = str_dup(path);
    if (!f || !p) free(f), free(p);
    LV_CHECK_ALLOC(f && p ? p : NULL);
    f->path = p;
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
        if (c < 0) lo = mid + 1;
        else hi = mid;
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
    float v = (float)man * 5.9604644775390625e-8f; /* subnormal: man * 2^-24, exact */
    uint32_t bits;
    memcpy(&bits, &v, 4);
    bits = exp == 0    ? bits | sign
         : exp == 31 ? sign | 0x7f800000u | (man << 13)
                     : sign | ((exp + 112u) << 23) | (man << 13);
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
        return bad_tensor(f, name, "expected shape %s, found %s", want, got);
    }
    if (t->dtype != LV_DT_F32 && t->dtype != LV_DT_F16 && t->dtype != LV_DT_BF16)
        return bad_tensor(f, name, "expected dtype F32, F16 or BF16, found %s",
                          lv_dtype_name(t->dtype));
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

