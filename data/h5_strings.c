/* Strings in HDF5 files (see h5_strings.h). Accepts every way h5py and other writers store
 * text; writes the one way h5py does for Python str (variable-length UTF-8). No validation
 * of meaning here: callers check names, counts and lengths. */
#include "data/h5_strings.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void lv_h5_type_name(hid_t t, char *buf, size_t size) {
    size_t bytes = H5Tget_size(t);
    switch (H5Tget_class(t)) {
    case H5T_INTEGER:
        snprintf(buf, size, "%sint%zu", H5Tget_sign(t) == H5T_SGN_NONE ? "u" : "", 8 * bytes);
        break;
    case H5T_FLOAT: snprintf(buf, size, "float%zu", 8 * bytes); break;
    case H5T_STRING:
        snprintf(buf, size, "%s", H5Tis_variable_str(t) > 0 ? "variable-length string" : "fixed-length string");
        break;
    case H5T_COMPOUND: snprintf(buf, size, "compound"); break;
    case H5T_ENUM: snprintf(buf, size, "enum (e.g. bool)"); break;
    case H5T_ARRAY: snprintf(buf, size, "array"); break;
    case H5T_VLEN: snprintf(buf, size, "variable-length sequence"); break;
    case H5T_BITFIELD: snprintf(buf, size, "bitfield"); break;
    case H5T_OPAQUE: snprintf(buf, size, "opaque"); break;
    case H5T_REFERENCE: snprintf(buf, size, "reference"); break;
    case H5T_TIME: snprintf(buf, size, "time"); break;
    default: snprintf(buf, size, "unknown type"); break;
    }
    H5Eclear2(H5E_DEFAULT);
}

void lv_h5_free_strings(char **v, int64_t n) {
    if (!v) return;
    for (int64_t i = 0; i < n; i++) free(v[i]);
    free(v);
}

/* Fixed-length strings come null-terminated, null-padded or space-padded: keep the text. */
static char *fixed_copy(const char *src, size_t size, H5T_str_t pad) {
    size_t len = strnlen(src, size);
    if (pad == H5T_STR_SPACEPAD)
        while (len > 0 && src[len - 1] == ' ') len--;
    char *d = malloc(len + 1);
    if (!d) return NULL;
    memcpy(d, src, len);
    d[len] = '\0';
    return d;
}

static lv_status read_strings(const char *path, const char *what, hid_t obj, int is_attr, char ***out,
                              int64_t *n_out) {
    *out = NULL;
    *n_out = 0;
    lv_status st = LV_OK;
    hid_t ft = is_attr ? H5Aget_type(obj) : H5Dget_type(obj);
    hid_t sp = is_attr ? H5Aget_space(obj) : H5Dget_space(obj);
    hid_t mt = -1;
    char **v = NULL;
    void *raw = NULL;
    int64_t n = 0;
    char tn[48] = "unknown type";
    if (ft < 0 || sp < 0) {
        lv_h5_fail(LV_ERR_INPUT, is_attr ? "H5Aget_type" : "H5Dget_type", __func__, __FILE__, __LINE__);
        st = lv_error_wrap(LV_ERR_INPUT, "%s: %s: cannot read its type", path, what);
        goto done;
    }
    lv_h5_type_name(ft, tn, sizeof tn);
    if (H5Tget_class(ft) != H5T_STRING) {
        st = lv_errorf(LV_ERR_INPUT, "%s: %s: expected strings, found %s", path, what, tn);
        goto done;
    }
    int rank = H5Sget_simple_extent_ndims(sp);
    if (rank > 1) {
        st = lv_errorf(LV_ERR_INPUT, "%s: %s: expected a 1-D list of strings, found rank %d", path, what, rank);
        goto done;
    }
    hssize_t np = H5Sget_simple_extent_npoints(sp);
    if (np < 0 || np > INT32_MAX) {
        st = lv_errorf(LV_ERR_INPUT, "%s: %s: expected at most %d strings, found %lld", path, what, INT32_MAX,
                       (long long)np);
        goto done;
    }
    n = (int64_t)np;
    v = calloc((size_t)(n ? n : 1), sizeof *v);
    if (!v) {
        st = lv_errorf(LV_ERR_RUNTIME, "%s: %s: out of memory for %" PRId64 " strings", path, what, n);
        goto done;
    }
    if (n == 0) goto done;
    htri_t vl = H5Tis_variable_str(ft);
    size_t size = H5Tget_size(ft);
    if (vl > 0) {
        /* Read in the file's own character set: HDF5 will not convert ASCII <-> UTF-8. */
        mt = H5Tcopy(H5T_C_S1);
        if (mt < 0 || H5Tset_size(mt, H5T_VARIABLE) < 0 || H5Tset_cset(mt, H5Tget_cset(ft)) < 0) {
            st = lv_h5_fail(LV_ERR_RUNTIME, "H5Tset_size(H5T_VARIABLE)", __func__, __FILE__, __LINE__);
            goto done;
        }
        raw = calloc((size_t)n, sizeof(char *));
    } else if (vl == 0 && size > 0 && size <= (1u << 24) && (uint64_t)n <= (1ull << 40) / size) {
        mt = H5Tcopy(ft);
        raw = malloc((size_t)n * size);
    } else {
        st = lv_errorf(LV_ERR_INPUT, "%s: %s: unsupported string type (%zu bytes per string)", path, what, size);
        goto done;
    }
    if (!raw || mt < 0) {
        st = lv_errorf(LV_ERR_RUNTIME, "%s: %s: out of memory", path, what);
        goto done;
    }
    herr_t r = is_attr ? H5Aread(obj, mt, raw) : H5Dread(obj, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, raw);
    if (r < 0) {
        lv_h5_fail(LV_ERR_INPUT, is_attr ? "H5Aread" : "H5Dread", __func__, __FILE__, __LINE__);
        st = lv_error_wrap(LV_ERR_INPUT, "%s: %s: cannot read", path, what);
    } else {
        H5T_str_t pad = H5Tget_strpad(ft);
        for (int64_t i = 0; i < n && st == LV_OK; i++) {
            if (vl > 0) {
                const char *s = ((char **)raw)[i];
                v[i] = strdup(s ? s : "");
            } else {
                v[i] = fixed_copy((const char *)raw + (size_t)i * size, size, pad);
            }
            if (!v[i]) st = lv_errorf(LV_ERR_RUNTIME, "%s: %s: out of memory", path, what);
        }
    }
    /* HDF5 allocated the variable-length strings; it frees them too (also after a failed
     * read, which may have filled some). */
    if (vl > 0 && H5Dvlen_reclaim(mt, sp, H5P_DEFAULT, raw) < 0) H5Eclear2(H5E_DEFAULT);
done:
    free(raw);
    lv_h5_close(mt);
    lv_h5_close(sp);
    lv_h5_close(ft);
    if (st != LV_OK) {
        lv_h5_free_strings(v, n);
        return st;
    }
    *out = v;
    *n_out = n;
    return LV_OK;
}

lv_status lv_h5_read_string_attr(const char *path, hid_t loc, const char *attr, int required, char ***out,
                                 int64_t *n) {
    *out = NULL;
    *n = 0;
    char what[96];
    snprintf(what, sizeof what, "attribute '%s'", attr);
    htri_t ex = H5Aexists(loc, attr);
    if (ex < 0) {
        lv_h5_fail(LV_ERR_INPUT, "H5Aexists", __func__, __FILE__, __LINE__);
        return lv_error_wrap(LV_ERR_INPUT, "%s: %s: cannot look up", path, what);
    }
    if (!ex)
        return required ? lv_errorf(LV_ERR_INPUT, "%s: %s: missing (a required root attribute)", path, what)
                        : LV_OK;
    hid_t a = H5Aopen(loc, attr, H5P_DEFAULT);
    if (a < 0) {
        lv_h5_fail(LV_ERR_INPUT, "H5Aopen", __func__, __FILE__, __LINE__);
        return lv_error_wrap(LV_ERR_INPUT, "%s: %s: cannot open", path, what);
    }
    lv_status st = read_strings(path, what, a, 1, out, n);
    lv_h5_close(a);
    return st;
}

lv_status lv_h5_read_string_dataset(const char *path, hid_t d, const char *name, char ***out, int64_t *n) {
    return read_strings(path, name, d, 0, out, n);
}

lv_status lv_h5_write_strings(hid_t loc, const char *name, const char *const *v, int64_t n, int as_attr,
                              int scalar) {
    LV_CHECK(n >= 1 && (!scalar || n == 1), LV_ERR_RUNTIME, "%s: expected 1 string for a scalar, got %" PRId64,
             name, n);
    const char **w = malloc((size_t)n * sizeof *w);
    LV_CHECK_ALLOC(w);
    for (int64_t i = 0; i < n; i++) w[i] = v[i] ? v[i] : "";
    lv_status st = LV_OK;
    hsize_t dim = (hsize_t)n;
    hid_t t = -1, sp = -1, obj = -1;
    if (LV_H5_FAILED(LV_ERR_RUNTIME, t = H5Tcopy(H5T_C_S1)) ||
        LV_H5_FAILED(LV_ERR_RUNTIME, H5Tset_size(t, H5T_VARIABLE)) ||
        LV_H5_FAILED(LV_ERR_RUNTIME, H5Tset_cset(t, H5T_CSET_UTF8)) ||
        LV_H5_FAILED(LV_ERR_RUNTIME, sp = scalar ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &dim, NULL))) {
        st = LV_ERR_RUNTIME;
    } else if (as_attr) {
        if (LV_H5_FAILED(LV_ERR_RUNTIME, obj = H5Acreate2(loc, name, t, sp, H5P_DEFAULT, H5P_DEFAULT)) ||
            LV_H5_FAILED(LV_ERR_RUNTIME, H5Awrite(obj, t, w)))
            st = LV_ERR_RUNTIME;
    } else {
        hid_t dcpl = lv_h5_untimed_plist(0);
        if (LV_H5_FAILED(LV_ERR_RUNTIME, dcpl) ||
            LV_H5_FAILED(LV_ERR_RUNTIME, obj = H5Dcreate2(loc, name, t, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT)) ||
            LV_H5_FAILED(LV_ERR_RUNTIME, H5Dwrite(obj, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, w)))
            st = LV_ERR_RUNTIME;
        lv_h5_close(dcpl);
    }
    if (st != LV_OK) lv_error_wrap(st, "%s", name);
    lv_h5_close(obj);
    lv_h5_close(sp);
    lv_h5_close(t);
    free(w);
    return st;
}
