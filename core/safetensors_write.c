/* safetensors writer: header in insertion order, contiguous offsets, header padded to 8
 * bytes, written atomically (temp file, fsync, rename, fsync dir). Never leaves a partial
 * file at the destination. The reader is safetensors.c. */
#include "safetensors.h"
#include "safetensors_utf8.h"

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Offsets are JSON numbers; readers parse them as doubles, exact only up to 2^53. */
#define ST_MAX_EXACT 9007199254740992.0


/* ------------------------------------------------------------------------------------ */
/* Writer                                                                               */

typedef struct st_entry {
    char *name;
    lv_dtype dtype;
    int ndim;
    int64_t shape[LV_ST_MAX_DIMS];
    const void *data; /* borrowed */
    uint64_t nbytes;
} st_entry;

typedef struct st_meta {
    char *key, *value;
} st_meta;

struct lv_st_writer {
    st_entry *e;
    int n, cap;
    st_meta *meta;
    int nmeta, mcap;
};

lv_status lv_st_writer_create(lv_st_writer **out) {
    *out = calloc(1, sizeof **out);
    LV_CHECK_ALLOC(*out);
    return LV_OK;
}

void lv_st_writer_free(lv_st_writer *w) {
    if (!w) return;
    for (int i = 0; i < w->n; i++) free(w->e[i].name);
    for (int i = 0; i < w->nmeta; i++) free(w->meta[i].key), free(w->meta[i].value);
    free(w->e);
    free(w->meta);
    free(w);
}

/* Room for one more element: returns the (possibly moved) array, or NULL (p untouched). */
static void *grow(void *p, int *cap, int n, size_t size) {
    if (n < *cap) return p;
    int ncap = *cap ? 2 * *cap : 32;
    void *q = realloc(p, (size_t)ncap * size);
    if (q) *cap = ncap;
    return q;
}

lv_status lv_st_writer_add(lv_st_writer *w, const char *name, lv_dtype dtype, int ndim,
                           const int64_t *shape, const void *data) {
#define WCHECK(cond, ...) LV_CHECK(cond, LV_ERR_INPUT, "safetensors writer: " __VA_ARGS__)
    WCHECK(name && name[0], "empty tensor name");
    WCHECK(strcmp(name, "__metadata__") != 0, "the name __metadata__ is reserved");
    WCHECK(lv_st_utf8_prefix((const unsigned char *)name, strlen(name)) == strlen(name),
           "tensor name is not valid UTF-8");
    WCHECK(lv_dtype_size(dtype) != 0, "tensor '%s': invalid dtype %d", name, (int)dtype);
    WCHECK(ndim >= 0 && ndim <= LV_ST_MAX_DIMS, "tensor '%s': expected 0..%d dimensions, found %d",
           name, LV_ST_MAX_DIMS, ndim);
    uint64_t count = 1;
    for (int d = 0; d < ndim; d++) {
        WCHECK(shape[d] >= 0 && (double)shape[d] <= ST_MAX_EXACT,
               "tensor '%s': shape[%d] = %lld is not a valid size", name, d, (long long)shape[d]);
        uint64_t v = (uint64_t)shape[d];
        WCHECK(v == 0 || count <= UINT64_MAX / v, "tensor '%s': element count overflows", name);
        count *= v;
    }
    size_t esz = lv_dtype_size(dtype);
    WCHECK(count <= (uint64_t)SIZE_MAX / esz, "tensor '%s': byte size overflows", name);
    WCHECK(data || count == 0, "tensor '%s': NULL data", name);
    for (int i = 0; i < w->n; i++)
        WCHECK(strcmp(w->e[i].name, name) != 0, "duplicate tensor name '%s'", name);
#undef WCHECK
    st_entry *grown = grow(w->e, &w->cap, w->n, sizeof *w->e);
    LV_CHECK_ALLOC(grown);
    w->e = grown;
    st_entry *e = &w->e[w->n];
    memset(e, 0, sizeof *e);
    e->name = strdup(name);
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
    LV_CHECK(key && value, LV_ERR_INPUT, "safetensors writer: NULL metadata key or value");
    LV_CHECK(lv_st_utf8_prefix((const unsigned char *)key, strlen(key)) == strlen(key) &&
                 lv_st_utf8_prefix((const unsigned char *)value, strlen(value)) == strlen(value),
             LV_ERR_INPUT, "safetensors writer: metadata '%s' is not valid UTF-8", key);
    int i = 0;
    while (i < w->nmeta && strcmp(w->meta[i].key, key) != 0) i++;
    if (i == w->nmeta) { /* a new key; setting a key again replaces its value */
        st_meta *grown = grow(w->meta, &w->mcap, w->nmeta, sizeof *w->meta);
        LV_CHECK_ALLOC(grown);
        w->meta = grown;
        w->meta[i].key = strdup(key);
        w->meta[i].value = NULL;
        LV_CHECK_ALLOC(w->meta[i].key);
        w->nmeta++;
    }
    char *v = strdup(value);
    LV_CHECK_ALLOC(v);
    free(w->meta[i].value);
    w->meta[i].value = v;
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
        char esc[8];
        if (*s == '"' || *s == '\\')
            esc[0] = '\\', esc[1] = *s, sb_put(b, esc, 2);
        else if ((unsigned char)*s < 0x20)
            sb_put(b, esc, (size_t)snprintf(esc, sizeof esc, "\\u%04x", (unsigned)*s));
        else
            sb_put(b, s, 1);
    }
    sb_put(b, "\"", 1);
}

static lv_status build_header(const lv_st_writer *w, sbuf *b) {
    sb_str(b, "{");
    if (w->nmeta > 0) { /* first, as the Python package writes it */
        sb_str(b, "\"__metadata__\":{");
        for (int i = 0; i < w->nmeta; i++) {
            if (i) sb_str(b, ",");
            sb_json_str(b, w->meta[i].key);
            sb_str(b, ":");
            sb_json_str(b, w->meta[i].value);
        }
        sb_str(b, "}");
    }
    uint64_t off = 0;
    for (int i = 0; i < w->n; i++) {
        const st_entry *e = &w->e[i];
        if (i || w->nmeta) sb_str(b, ",");
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
        sb_u64(b, off += e->nbytes);
        sb_str(b, "]}");
    }
    sb_str(b, "}");
    while (b->len % 8) sb_str(b, " "); /* so the data buffer starts 8-byte aligned */
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
    char *dir = strdup(slash ? path : ".");
    LV_CHECK_ALLOC(dir);
    if (slash) dir[slash == path ? 1 : slash - path] = '\0';
    lv_status s = LV_OK;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        s = lv_errorf(LV_ERR_RUNTIME, "%s: cannot open directory %s to fsync: %s", path, dir,
                      strerror(errno));
    else if (fsync(fd) != 0 && errno != EINVAL)
        s = lv_errorf(LV_ERR_RUNTIME, "%s: fsync of directory %s failed: %s", path, dir,
                      strerror(errno));
    if (fd >= 0) close(fd);
    free(dir);
    return s;
}

lv_status lv_st_writer_save(lv_st_writer *w, const char *path) {
    sbuf hdr = {0};
    size_t tcap = strlen(path) + 32;
    char *tmp = malloc(tcap);
    lv_status s = tmp ? build_header(w, &hdr) : LV_ERR_RUNTIME;
    if (!tmp) LV_CHECK_ALLOC(tmp);
    if (s == LV_OK) {
        snprintf(tmp, tcap, "%s.tmp.%ld", path, (long)getpid());
        s = write_tmp(w, &hdr, tmp, path);
        if (s == LV_OK && rename(tmp, path) != 0)
            s = lv_errorf(LV_ERR_RUNTIME, "%s: rename from %s failed: %s", path, tmp,
                          strerror(errno));
        if (s != LV_OK) unlink(tmp); /* never leave a half-written temp file behind */
    }
    free(hdr.p);
    free(tmp);
    return s == LV_OK ? sync_dir(path) : s;
}
