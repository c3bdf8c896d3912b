/* Reads and validates "liver-vlm-data/1" files (docs/data-format.md) into an lv_dataset: every
 * rule is checked at open and each violation is one LV_ERR_INPUT message naming the file, the
 * dataset or attribute, what was expected and what was found. Small files are read into
 * memory; large ones stream one sample per read. Must not write files, print, or crash on any
 * input (truncated and corrupted files included).
 *
 * Threads: all HDF5 calls must come from one thread at a time. Debian's libhdf5 1.10 is built
 * thread-safe (one global lock), but other builds (a GPU box's, a user's own) may not be, so
 * the loader calls ds->read_sample from its single reader thread only, and nothing else may
 * call HDF5 while a loader streams. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "core/log.h"
#include "data/h5_check.h"
#include "data/h5_dataset.h"
#include "data/h5_strings.h"

#define H5R_DEFAULT_MAX_MEMORY (4ull << 30)
#define H5R_MAX_SIDE 65536
/* Whole-file reads go in blocks of about this size, so progress shows and a non-finite value
 * is reported with its sample. */
#define H5R_BLOCK_BYTES (64u << 20)

/* The open file behind a streamed dataset (ds->source). */
typedef struct h5_source {
    char *path;
    hid_t file, images, filespace, memtype;
    int64_t n;
    int p, h, w;
    lv_pixel_type pixel;
} h5_source;

static void source_free(void *p) {
    h5_source *s = p;
    if (!s) return;
    lv_h5_close(s->memtype);
    lv_h5_close(s->filespace);
    lv_h5_close(s->images);
    lv_h5_close(s->file);
    free(s->path);
    free(s);
}

/* A float sample is finite everywhere, or the message names where it is not. */
static lv_status check_finite(const h5_source *s, int64_t first, int64_t count, const float *x) {
    size_t per = (size_t)s->p * (size_t)s->h * (size_t)s->w;
    for (int64_t i = 0; i < count; i++) {
        const float *v = x + (size_t)i * per;
        for (size_t j = 0; j < per; j++) {
            if (isfinite(v[j])) continue;
            size_t hw = (size_t)s->h * (size_t)s->w;
            return lv_errorf(LV_ERR_INPUT,
                             "%s: /images[%" PRId64 "] (phase %zu, y %zu, x %zu) = %s: expected "
                             "finite float32 values",
                             s->path, first + i, j / hw, (j % hw) / (size_t)s->w, j % (size_t)s->w,
                             isnan(v[j]) ? "nan" : v[j] > 0 ? "inf" : "-inf");
        }
    }
    return LV_OK;
}

/* Reads samples [first, first+count) into dst (native type). The memory space has the same
 * 4-D shape as the file selection: with a flat 1-D one HDF5 1.10 maps element runs one by one
 * and reads 15-45x slower (measured on 64x64 int16 samples). */
static lv_status read_block(h5_source *s, int64_t first, int64_t count, void *dst) {
    hsize_t start[4] = {(hsize_t)first, 0, 0, 0};
    hsize_t cnt[4] = {(hsize_t)count, (hsize_t)s->p, (hsize_t)s->h, (hsize_t)s->w};
    lv_status st = LV_OK;
    hid_t mem = -1;
    if (LV_H5_FAILED(LV_ERR_INPUT, H5Sselect_hyperslab(s->filespace, H5S_SELECT_SET, start, NULL, cnt, NULL)) ||
        LV_H5_FAILED(LV_ERR_INPUT, mem = H5Screate_simple(4, cnt, NULL)) ||
        LV_H5_FAILED(LV_ERR_INPUT, H5Dread(s->images, s->memtype, mem, s->filespace, H5P_DEFAULT, dst))) {
        st = lv_error_wrap(LV_ERR_INPUT, "%s: /images[%" PRId64 "..%" PRId64 "]: cannot read pixels",
                           s->path, first, first + count - 1);
    }
    lv_h5_close(mem);
    if (st == LV_OK && s->pixel == LV_PIX_F32) st = check_finite(s, first, count, dst);
    return st;
}

/* ds->read_sample for streamed files: one hyperslab through the chunk cache. */
static lv_status read_sample(const lv_dataset *ds, int64_t index, void *dst) {
    lv_h5_quiet();
    return read_block(ds->source, index, 1, dst);
}

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static lv_status read_all(h5_source *s, void *dst) {
    size_t per = (size_t)s->p * (size_t)s->h * (size_t)s->w * lv_pixel_size(s->pixel);
    int64_t step = (int64_t)(H5R_BLOCK_BYTES / per);
    if (step < 1) step = 1;
    double t0 = now_s(), last = t0;
    for (int64_t i = 0; i < s->n; i += step) {
        int64_t cnt = s->n - i < step ? s->n - i : step;
        LV_TRY(read_block(s, i, cnt, (char *)dst + (size_t)i * per));
        double t = now_s();
        if (t - last > 3.0) {
            LV_INFO("%s: read %" PRId64 " of %" PRId64 " samples (%.0f s)", s->path, i + cnt, s->n, t - t0);
            last = t;
        }
    }
    return LV_OK;
}

static unsigned next_prime(unsigned v) {
    for (;; v++) {
        int prime = v > 1;
        for (unsigned d = 2; prime && d * d <= v; d++) prime = v % d != 0;
        if (prime) return v;
    }
}

/* A chunk cache that holds every chunk one sample touches, four times over: a chunk of k
 * samples then serves k consecutive reads, and a sample split over several chunks is never
 * decompressed twice. Returns the access property list for H5Dopen2. */
static hid_t streaming_dapl(h5_source *s, hid_t dcpl, size_t elem) {
    hid_t dapl = H5Pcreate(H5P_DATASET_ACCESS);
    if (dapl < 0 || H5Pget_layout(dcpl) != H5D_CHUNKED) return dapl;
    hsize_t cd[4] = {1, 1, 1, 1};
    if (H5Pget_chunk(dcpl, 4, cd) != 4) return dapl;
    double chunk_bytes = (double)elem * (double)cd[0] * (double)cd[1] * (double)cd[2] * (double)cd[3];
    double per_sample = ceil((double)s->p / (double)cd[1]) * ceil((double)s->h / (double)cd[2]) *
                        ceil((double)s->w / (double)cd[3]);
    double bytes = 4.0 * per_sample * chunk_bytes;
    if (bytes < 1048576.0) bytes = 1048576.0;
    if (bytes > 512.0 * 1048576.0) bytes = 512.0 * 1048576.0;
    double chunks = bytes / chunk_bytes;
    /* HDF5's advice: a prime slot count about 100x the chunks that fit. */
    unsigned slots = next_prime((unsigned)fmin(fmax(100.0 * chunks, 521.0), 1e7));
    if (H5Pset_chunk_cache(dapl, slots, (size_t)bytes, 0.75) < 0) H5Eclear2(H5E_DEFAULT);
    LV_DEBUG("%s: streaming /images, chunk [%llu,%llu,%llu,%llu], cache %.1f MiB, %u slots", s->path,
             (unsigned long long)cd[0], (unsigned long long)cd[1], (unsigned long long)cd[2],
             (unsigned long long)cd[3], bytes / 1048576.0, slots);
    return dapl;
}

/* ---- validation ---------------------------------------------------------------------- */

typedef struct h5_ctx {
    const char *path;
    hid_t file;
} h5_ctx;

static lv_status bad(const h5_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static lv_status bad(const h5_ctx *c, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return lv_errorf(LV_ERR_INPUT, "%s: %s", c->path, msg);
}

static void dims_text(char *buf, size_t size, int rank, const hsize_t *d) {
    size_t at = 0;
    buf[0] = '\0';
    at += (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < rank && at < size; i++)
        at += (size_t)snprintf(buf + at, size - at, "%s%llu", i ? "," : "", (unsigned long long)d[i]);
    if (at < size) snprintf(buf + at, size - at, "]");
}

/* Unfiltered chunks are stored at full size. A damaged filter message that drops gzip makes
 * HDF5 1.10 copy a full chunk out of a smaller compressed one (a heap overflow inside H5Dread),
 * so the stored total must be a whole number of full chunks. Numeric types only: their size
 * on disk is their size in memory. One pass over the chunk index, at open. */
static int unfiltered_chunks_intact(hid_t d, double chunk_elems) {
#if H5_VERSION_GE(1, 10, 5)
    hid_t t = H5Dget_type(d);
    H5T_class_t cls = t < 0 ? H5T_NO_CLASS : H5Tget_class(t);
    double chunk_bytes = chunk_elems * (double)(t < 0 ? 0 : H5Tget_size(t));
    lv_h5_close(t);
    if (cls != H5T_INTEGER && cls != H5T_FLOAT) return 1;
    /* 1.10.8 refuses H5S_ALL here; a fresh dataspace selects everything. */
    hid_t sp = H5Dget_space(d);
    hsize_t nchunks = 0;
    herr_t r = sp < 0 ? -1 : H5Dget_num_chunks(d, sp, &nchunks);
    lv_h5_close(sp);
    return r >= 0 && (double)H5Dget_storage_size(d) == (double)nchunks * chunk_bytes;
#else
    (void)d;
    (void)chunk_elems;
    return 1;
#endif
}

/* HDF5 1.10 trusts a chunk shape read from the file: a corrupted one larger than the dataset
 * (impossible for fixed-size dimensions) makes H5Dread copy past its buffers. Check it
 * before any read. */
static lv_status check_layout(const h5_ctx *c, hid_t d, const char *name) {
    hid_t dcpl = H5Dget_create_plist(d), sp = H5Dget_space(d);
    hsize_t dims[8] = {0}, maxd[8] = {0}, cd[8] = {0};
    int rank = sp < 0 ? -1 : H5Sget_simple_extent_ndims(sp);
    int ok = dcpl >= 0 && rank >= 0 && rank <= 8 && H5Sget_simple_extent_dims(sp, dims, maxd) >= 0;
    if (ok && H5Pget_layout(dcpl) == H5D_CHUNKED) {
        int cr = H5Pget_chunk(dcpl, 8, cd);
        double bytes = 1;
        ok = cr == rank;
        for (int i = 0; ok && i < rank; i++) {
            ok = cd[i] >= 1 && (maxd[i] == H5S_UNLIMITED || cd[i] <= maxd[i]);
            bytes *= (double)cd[i];
        }
        ok = ok && bytes < 4294967296.0;
        if (ok && H5Pget_nfilters(dcpl) == 0) ok = unfiltered_chunks_intact(d, bytes);
    }
    lv_h5_close(sp);
    lv_h5_close(dcpl);
    H5Eclear2(H5E_DEFAULT);
    if (ok) return LV_OK;
    char sh[96], ch[96];
    dims_text(sh, sizeof sh, rank > 0 && rank <= 8 ? rank : 0, dims);
    dims_text(ch, sizeof ch, rank > 0 && rank <= 8 ? rank : 0, cd);
    return bad(c, "%s: corrupted storage layout (chunk %s for shape %s); the file is damaged", name, ch, sh);
}

/* Opens dataset `name`; *out = -1 when it is absent and optional. */
static lv_status open_dataset(const h5_ctx *c, const char *name, int required, hid_t *out) {
    *out = -1;
    htri_t ex = H5Lexists(c->file, name, H5P_DEFAULT);
    if (ex < 0) {
        lv_h5_fail(LV_ERR_INPUT, "H5Lexists", __func__, __FILE__, __LINE__);
        return lv_error_wrap(LV_ERR_INPUT, "%s: %s: cannot look up", c->path, name);
    }
    if (!ex) return required ? bad(c, "%s: missing (a required dataset)", name) : LV_OK;
    hid_t o = H5Oopen(c->file, name, H5P_DEFAULT);
    if (o < 0) {
        lv_h5_fail(LV_ERR_INPUT, "H5Oopen", __func__, __FILE__, __LINE__);
        return lv_error_wrap(LV_ERR_INPUT, "%s: %s: cannot open", c->path, name);
    }
    H5I_type_t t = H5Iget_type(o);
    if (t != H5I_DATASET) {
        lv_h5_close(o);
        return bad(c, "%s: expected a dataset, found %s", name, t == H5I_GROUP ? "a group" : "another object");
    }
    lv_status st = check_layout(c, o, name);
    if (st != LV_OK) {
        lv_h5_close(o);
        return st;
    }
    *out = o;
    return LV_OK;
}


/* The dataset's dims (up to 4) and rank; a scalar is rank 0. */
static lv_status shape_of(const h5_ctx *c, hid_t d, const char *name, hsize_t *dims, int *rank) {
    hid_t sp = H5Dget_space(d);
    int r = sp < 0 ? -1 : H5Sget_simple_extent_ndims(sp);
    if (r > 4) {
        lv_h5_close(sp);
        *rank = r;
        return LV_OK;
    }
    if (r < 0 || H5Sget_simple_extent_dims(sp, dims, NULL) < 0) {
        lv_h5_fail(LV_ERR_INPUT, "H5Sget_simple_extent_dims", __func__, __FILE__, __LINE__);
        lv_h5_close(sp);
        return lv_error_wrap(LV_ERR_INPUT, "%s: %s: cannot read its shape", c->path, name);
    }
    lv_h5_close(sp);
    *rank = r;
    return LV_OK;
}

/* A per-sample dataset must be 1-D of length n. */
static lv_status check_per_sample(const h5_ctx *c, hid_t d, const char *name, int64_t n) {
    hsize_t dims[4] = {0};
    int rank = 0;
    LV_TRY(shape_of(c, d, name, dims, &rank));
    if (rank == 1 && dims[0] == (hsize_t)n) return LV_OK;
    char found[96];
    if (rank > 4) snprintf(found, sizeof found, "rank %d", rank);
    else dims_text(found, sizeof found, rank, dims);
    return bad(c, "%s: expected shape [%" PRId64 "] (one entry per image), found %s", name, n, found);
}

/* Reads an integer per-sample dataset as int64 (HDF5 converts any width and byte order). */
static lv_status read_ints(const h5_ctx *c, hid_t d, const char *name, int64_t n, int64_t **out) {
    *out = NULL;
    LV_TRY(check_per_sample(c, d, name, n));
    hid_t t = H5Dget_type(d);
    if (t < 0) return lv_error_wrap(LV_ERR_INPUT, "%s: %s: cannot read its type", c->path, name);
    char tn[32];
    lv_h5_type_name(t, tn, sizeof tn);
    int is_int = H5Tget_class(t) == H5T_INTEGER;
    lv_h5_close(t);
    if (!is_int) return bad(c, "%s: expected integers, found %s", name, tn);
    int64_t *v = malloc((size_t)n * sizeof *v);
    LV_CHECK_ALLOC(v);
    if (LV_H5_FAILED(LV_ERR_INPUT, H5Dread(d, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, v))) {
        free(v);
        return lv_error_wrap(LV_ERR_INPUT, "%s: %s: cannot read", c->path, name);
    }
    *out = v;
    return LV_OK;
}

/* ---- the pieces of a data file ------------------------------------------------------- */

static lv_status images_type(const h5_ctx *c, hid_t d, lv_pixel_type *pixel) {
    hid_t t = H5Dget_type(d);
    if (t < 0) return lv_error_wrap(LV_ERR_INPUT, "%s: /images: cannot read its type", c->path);
    H5T_class_t cls = H5Tget_class(t);
    size_t size = H5Tget_size(t);
    H5T_sign_t sign = cls == H5T_INTEGER ? H5Tget_sign(t) : H5T_SGN_ERROR;
    char tn[32];
    lv_h5_type_name(t, tn, sizeof tn);
    lv_h5_close(t);
    if (cls == H5T_INTEGER && size == 2 && sign == H5T_SGN_2) *pixel = LV_PIX_I16;
    else if (cls == H5T_INTEGER && size == 1 && sign == H5T_SGN_NONE) *pixel = LV_PIX_U8;
    else if (cls == H5T_FLOAT && size == 4) *pixel = LV_PIX_F32;
    else return bad(c, "/images: expected int16, uint8 or float32, found %s", tn);
    return LV_OK;
}

static lv_status images_shape(const h5_ctx *c, hid_t d, lv_dataset *ds) {
    hsize_t dims[4] = {0};
    int rank = 0;
    LV_TRY(shape_of(c, d, "/images", dims, &rank));
    char found[96];
    if (rank > 4) snprintf(found, sizeof found, "rank %d", rank);
    else dims_text(found, sizeof found, rank, dims);
    if (rank != 4) return bad(c, "/images: expected rank 4 [N,P,H,W], found %s", found);
    if (dims[0] < 1) return bad(c, "/images: expected N >= 1 samples, found shape %s", found);
    if (dims[0] > (hsize_t)INT32_MAX)
        return bad(c, "/images: expected at most %d samples, found shape %s", INT32_MAX, found);
    if (dims[1] < 1 || dims[1] > LV_MAX_PHASES)
        return bad(c, "/images: expected 1..%d phases (P), found shape %s", LV_MAX_PHASES, found);
    if (dims[2] < 1 || dims[3] < 1 || dims[2] > H5R_MAX_SIDE || dims[3] > H5R_MAX_SIDE)
        return bad(c, "/images: expected H and W in 1..%d, found shape %s", H5R_MAX_SIDE, found);
    ds->n = (int64_t)dims[0];
    ds->p = (int)dims[1];
    ds->h = (int)dims[2];
    ds->w = (int)dims[3];
    return LV_OK;
}

/* A root attribute holding names: strings, unique and non-empty. *n_out gets the count. */
static lv_status read_names(const h5_ctx *c, const char *attr, int max, char **names, int *n_out) {
    char **v = NULL;
    int64_t n = 0;
    LV_TRY(lv_h5_read_string_attr(c->path, c->file, attr, 1, &v, &n));
    lv_status st = LV_OK;
    if (n < 1 || n > max)
        st = bad(c, "attribute '%s': expected 1..%d names, found %" PRId64, attr, max, n);
    for (int64_t i = 0; st == LV_OK && i < n; i++) {
        if (!v[i][0]) st = bad(c, "attribute '%s'[%" PRId64 "]: expected a non-empty name, found \"\"", attr, i);
        for (int64_t j = 0; st == LV_OK && j < i; j++)
            if (strcmp(v[i], v[j]) == 0)
                st = bad(c, "attribute '%s': expected unique names, found \"%s\" at %" PRId64 " and %" PRId64,
                         attr, v[i], j, i);
    }
    if (st == LV_OK) {
        for (int64_t i = 0; i < n; i++) names[i] = v[i];
        *n_out = (int)n;
        free(v);
    } else {
        lv_h5_free_strings(v, n);
    }
    return st;
}

static lv_status read_labels(const h5_ctx *c, lv_dataset *ds) {
    hid_t d = -1;
    LV_TRY(open_dataset(c, "/labels", 1, &d));
    int64_t *v = NULL;
    lv_status st = read_ints(c, d, "/labels", ds->n, &v);
    lv_h5_close(d);
    if (st != LV_OK) return st;
    ds->labels = malloc((size_t)ds->n * sizeof *ds->labels);
    for (int64_t i = 0; ds->labels && i < ds->n; i++) {
        if (v[i] < 0 || v[i] >= ds->c) {
            st = bad(c, "/labels[%" PRId64 "] = %" PRId64 ": expected a class index in [0,%d)", i, v[i], ds->c);
            break;
        }
        ds->labels[i] = (int32_t)v[i];
    }
    free(v);
    LV_CHECK_ALLOC(ds->labels);
    return st;
}

static lv_status read_patients(const h5_ctx *c, lv_dataset *ds) {
    hid_t d = -1;
    LV_TRY(open_dataset(c, "/patients", 0, &d));
    if (d < 0) return LV_OK;
    lv_status st = check_per_sample(c, d, "/patients", ds->n);
    hid_t t = st == LV_OK ? H5Dget_type(d) : -1;
    H5T_class_t cls = t < 0 ? H5T_NO_CLASS : H5Tget_class(t);
    char tn[32] = "unknown";
    if (t >= 0) lv_h5_type_name(t, tn, sizeof tn);
    lv_h5_close(t);
    if (st != LV_OK) {
    } else if (cls == H5T_INTEGER) {
        int64_t *v = NULL;
        st = read_ints(c, d, "/patients", ds->n, &v);
        if (st == LV_OK) st = lv_dataset_set_patients_int(ds, v);
        free(v);
    } else if (cls == H5T_STRING) {
        char **v = NULL;
        int64_t n = 0;
        st = lv_h5_read_string_dataset(c->path, d, "/patients", &v, &n);
        if (st == LV_OK) st = lv_dataset_set_patients_str(ds, (const char *const *)v);
        lv_h5_free_strings(v, n);
    } else {
        st = bad(c, "/patients: expected integer or string ids, found %s", tn);
    }
    lv_h5_close(d);
    return st;
}

/* /lesions and /split: optional integers, each checked against [lo, hi]. */
static lv_status read_small_ints(const h5_ctx *c, const char *name, int64_t n, int64_t lo, int64_t hi,
                                 const char *expect, int32_t **out) {
    hid_t d = -1;
    LV_TRY(open_dataset(c, name, 0, &d));
    if (d < 0) return LV_OK;
    int64_t *v = NULL;
    lv_status st = read_ints(c, d, name, n, &v);
    lv_h5_close(d);
    if (st != LV_OK) return st;
    int32_t *r = malloc((size_t)n * sizeof *r);
    for (int64_t i = 0; r && i < n; i++) {
        if (v[i] < lo || v[i] > hi) {
            st = bad(c, "%s[%" PRId64 "] = %" PRId64 ": expected %s", name, i, v[i], expect);
            break;
        }
        r[i] = (int32_t)v[i];
    }
    free(v);
    if (st != LV_OK) free(r);
    else *out = r;
    LV_CHECK_ALLOC(r);
    return st;
}

static lv_status read_reports(const h5_ctx *c, lv_dataset *ds) {
    hid_t d = -1;
    LV_TRY(open_dataset(c, "/reports", 0, &d));
    if (d < 0) return LV_OK;
    lv_status st = check_per_sample(c, d, "/reports", ds->n);
    int64_t n = 0;
    if (st == LV_OK) st = lv_h5_read_string_dataset(c->path, d, "/reports", &ds->reports, &n);
    lv_h5_close(d);
    return st;
}

/* `units` (optional): "HU" or "raw"; the default follows the pixel type. Also rejects files
 * that declare another format version, so a future layout is not misread. */
static lv_status read_units_format(const h5_ctx *c, lv_dataset *ds) {
    ds->hu = ds->pixel == LV_PIX_I16;
    char **v = NULL;
    int64_t n = 0;
    LV_TRY(lv_h5_read_string_attr(c->path, c->file, "units", 0, &v, &n));
    lv_status st = LV_OK;
    if (v && (n != 1 || (strcmp(v[0], "HU") != 0 && strcmp(v[0], "raw") != 0)))
        st = bad(c, "attribute 'units': expected \"HU\" or \"raw\", found %s%s%s", n == 1 ? "\"" : "",
                 n == 1 ? v[0] : "several strings", n == 1 ? "\"" : "");
    else if (v)
        ds->hu = strcmp(v[0], "HU") == 0;
    lv_h5_free_strings(v, n);
    if (st != LV_OK) return st;
    LV_TRY(lv_h5_read_string_attr(c->path, c->file, "format", 0, &v, &n));
    if (v && (n != 1 || strcmp(v[0], "liver-vlm-data/1") != 0))
        st = bad(c, "attribute 'format': expected \"liver-vlm-data/1\", found \"%s\"", n >= 1 ? v[0] : "");
    lv_h5_free_strings(v, n);
    return st;
}

/* Pixels: into memory when small enough, else a streaming source with a chunk cache. */
static lv_status load_images(const h5_ctx *c, hid_t *images, lv_dataset *ds, uint64_t max_bytes) {
    h5_source *s = calloc(1, sizeof *s);
    LV_CHECK_ALLOC(s);
    s->file = s->images = s->filespace = s->memtype = -1;
    s->path = strdup(c->path);
    s->n = ds->n;
    s->p = ds->p;
    s->h = ds->h;
    s->w = ds->w;
    s->pixel = ds->pixel;
    s->memtype = ds->pixel == LV_PIX_I16 ? H5Tcopy(H5T_NATIVE_INT16)
                 : ds->pixel == LV_PIX_U8 ? H5Tcopy(H5T_NATIVE_UINT8)
                                          : H5Tcopy(H5T_NATIVE_FLOAT);
    uint64_t per = (uint64_t)lv_dataset_sample_bytes(ds);
    int stream = (uint64_t)ds->n > max_bytes / per;
    lv_status st = LV_OK;
    if (!s->path || s->memtype < 0) {
        st = lv_errorf(LV_ERR_RUNTIME, "%s: out of memory", c->path);
    } else if (stream) {
        hid_t dcpl = H5Dget_create_plist(*images);
        hid_t dapl = dcpl < 0 ? -1 : streaming_dapl(s, dcpl, H5Tget_size(s->memtype));
        lv_h5_close(dcpl);
        lv_h5_close(*images);
        *images = -1;
        if (LV_H5_FAILED(LV_ERR_INPUT, s->images = H5Dopen2(c->file, "/images", dapl < 0 ? H5P_DEFAULT : dapl)))
            st = lv_error_wrap(LV_ERR_INPUT, "%s: /images: cannot reopen for streaming", c->path);
        lv_h5_close(dapl);
    } else {
        s->images = *images;
        *images = -1;
    }
    if (st == LV_OK && LV_H5_FAILED(LV_ERR_INPUT, s->filespace = H5Dget_space(s->images)))
        st = lv_error_wrap(LV_ERR_INPUT, "%s: /images", c->path);
    if (st == LV_OK && !stream) {
        ds->images = malloc((size_t)(per * (uint64_t)ds->n));
        if (!ds->images)
            st = lv_errorf(LV_ERR_RUNTIME, "%s: out of memory for %" PRIu64 " bytes of images (lower "
                           "the in-memory limit to stream instead)", c->path, per * (uint64_t)ds->n);
        else
            st = read_all(s, ds->images);
    }
    if (st != LV_OK || !stream) {
        source_free(s);
        return st;
    }
    ds->source = s;
    ds->source_free = source_free;
    ds->read_sample = read_sample;
    return LV_OK;
}

/* The file must exist, be a regular non-empty file and carry the HDF5 signature: these get
 * plain messages rather than HDF5's. */
static lv_status check_file(const char *path) {
    struct stat sb;
    if (stat(path, &sb) != 0)
        return lv_errorf(LV_ERR_INPUT, "%s: cannot open: %s", path, strerror(errno));
    if (S_ISDIR(sb.st_mode))
        return lv_errorf(LV_ERR_INPUT, "%s: is a directory, expected an HDF5 data file", path);
    if (!S_ISREG(sb.st_mode))
        return lv_errorf(LV_ERR_INPUT, "%s: not a regular file, expected an HDF5 data file", path);
    if (sb.st_size == 0)
        return lv_errorf(LV_ERR_INPUT, "%s: empty file (0 bytes), expected an HDF5 data file", path);
    htri_t is = H5Fis_hdf5(path);
    if (is < 0) {
        lv_h5_fail(LV_ERR_INPUT, "H5Fis_hdf5", __func__, __FILE__, __LINE__);
        return lv_error_wrap(LV_ERR_INPUT, "%s: cannot read", path);
    }
    if (is == 0)
        return lv_errorf(LV_ERR_INPUT, "%s: not an HDF5 file (no HDF5 signature in its %lld bytes)", path,
                         (long long)sb.st_size);
    return LV_OK;
}

static lv_status read_file(const h5_ctx *c, lv_dataset *ds, uint64_t max_bytes) {
    hid_t images = -1;
    LV_TRY(open_dataset(c, "/images", 1, &images));
    lv_status st = images_type(c, images, &ds->pixel);
    if (st == LV_OK) st = images_shape(c, images, ds);
    if (st == LV_OK) st = read_names(c, "classes", LV_MAX_CLASSES, ds->classes, &ds->c);
    int np = 0;
    if (st == LV_OK) st = read_names(c, "phases", LV_MAX_PHASES, ds->phases, &np);
    /* ds->p was set from /images; until the counts agree only np names are owned. */
    if (st == LV_OK && np != ds->p) {
        st = bad(c, "attribute 'phases': expected %d names (P of /images), found %d", ds->p, np);
        for (int i = 0; i < np; i++) free(ds->phases[i]);
        memset(ds->phases, 0, sizeof ds->phases);
    } else if (st != LV_OK) {
        ds->p = np;
    }
    if (st == LV_OK) st = read_labels(c, ds);
    if (st == LV_OK) st = read_patients(c, ds);
    if (st == LV_OK)
        st = read_small_ints(c, "/lesions", ds->n, INT32_MIN, INT32_MAX, "an integer id that fits int32",
                             &ds->lesions);
    if (st == LV_OK)
        st = read_small_ints(c, "/split", ds->n, 0, 2, "0 (train), 1 (validation) or 2 (test)", &ds->split);
    if (st == LV_OK) st = read_reports(c, ds);
    if (st == LV_OK) st = read_units_format(c, ds);
    if (st == LV_OK) st = load_images(c, &images, ds, max_bytes);
    lv_h5_close(images);
    return st;
}

lv_status lv_h5_read(lv_dataset *ds, const char *path, const lv_h5_open_opts *opts) {
    lv_dataset_init(ds);
    if (!path) return lv_errorf(LV_ERR_USAGE, "data file: no path given");
    lv_h5_quiet();
    LV_TRY(check_file(path));
    uint64_t max_bytes = opts && opts->max_memory_bytes ? opts->max_memory_bytes : H5R_DEFAULT_MAX_MEMORY;
    hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (file < 0) {
        lv_h5_fail(LV_ERR_INPUT, "H5Fopen", __func__, __FILE__, __LINE__);
        return lv_error_wrap(LV_ERR_INPUT, "%s: cannot open as HDF5 (truncated or corrupted file?)", path);
    }
    ds->path = strdup(path);
    h5_ctx c = {path, file};
    lv_status st = ds->path ? read_file(&c, ds, max_bytes) : lv_errorf(LV_ERR_RUNTIME, "out of memory");
    /* A streaming source keeps the file open until lv_dataset_free. */
    if (st == LV_OK && ds->source) ((h5_source *)ds->source)->file = file;
    else lv_h5_close(file);
    if (st != LV_OK) lv_dataset_free(ds);
    return st;
}

int lv_h5_available(void) { return 1; }
