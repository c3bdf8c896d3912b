/* Writes an lv_dataset as a "liver-vlm-data/1" file (docs/data-format.md) the way h5py users
 * read it back: one sample per chunk, optional shuffle+gzip, strings as variable-length UTF-8.
 * Atomic: a temporary file is renamed over the target only when complete and synced, so a
 * crash or a full disk never leaves a half-written file at the path. Must not read files.
 *
 * Integer widths: /labels, /lesions and /split are int32 (h5py users often write int64; the
 * reader takes any integer width, so both work); integer patient ids are int64. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data/h5_check.h"
#include "data/h5_dataset.h"
#include "data/h5_strings.h"

/* Everything the writer checks before creating a file, so an invalid dataset never becomes a
 * file the reader would reject. */
static lv_status check_dataset(const lv_dataset *ds, const char *path) {
    LV_CHECK(ds->n >= 1 && ds->p >= 1 && ds->p <= LV_MAX_PHASES && ds->h >= 1 && ds->w >= 1, LV_ERR_INPUT,
             "%s: cannot write a dataset of shape [%" PRId64 ",%d,%d,%d]", path, ds->n, ds->p, ds->h, ds->w);
    LV_CHECK(ds->images || ds->read_sample, LV_ERR_INPUT, "%s: cannot write: the dataset has no pixels", path);
    LV_CHECK(ds->labels, LV_ERR_INPUT, "%s: cannot write: the dataset has no labels", path);
    LV_CHECK(ds->c >= 1 && ds->c <= LV_MAX_CLASSES, LV_ERR_INPUT, "%s: cannot write: %d classes (expected 1..%d)",
             path, ds->c, LV_MAX_CLASSES);
    for (int i = 0; i < ds->c; i++)
        LV_CHECK(ds->classes[i] && ds->classes[i][0], LV_ERR_INPUT, "%s: cannot write: class %d has no name", path, i);
    for (int i = 0; i < ds->p; i++)
        LV_CHECK(ds->phases[i] && ds->phases[i][0], LV_ERR_INPUT, "%s: cannot write: phase %d has no name", path, i);
    for (int64_t i = 0; i < ds->n; i++) {
        LV_CHECK(ds->labels[i] >= 0 && ds->labels[i] < ds->c, LV_ERR_INPUT,
                 "%s: cannot write: labels[%" PRId64 "] = %d outside [0,%d)", path, i, ds->labels[i], ds->c);
        LV_CHECK(!ds->split || (ds->split[i] >= 0 && ds->split[i] <= 2), LV_ERR_INPUT,
                 "%s: cannot write: split[%" PRId64 "] = %d (expected 0, 1 or 2)", path, i, ds->split[i]);
        LV_CHECK(!ds->patients || (ds->patients[i] >= 0 && ds->patients[i] < ds->n_patients), LV_ERR_INPUT,
                 "%s: cannot write: patients[%" PRId64 "] = %d outside [0,%d)", path, i, ds->patients[i],
                 ds->n_patients);
    }
    LV_CHECK(!ds->patients || ds->patient_ids, LV_ERR_INPUT, "%s: cannot write: patient ids missing", path);
    return LV_OK;
}

static hid_t file_pixel_type(lv_pixel_type t) {
    return t == LV_PIX_I16 ? H5T_STD_I16LE : t == LV_PIX_U8 ? H5T_STD_U8LE : H5T_IEEE_F32LE;
}

static hid_t mem_pixel_type(lv_pixel_type t) {
    return t == LV_PIX_I16 ? H5T_NATIVE_INT16 : t == LV_PIX_U8 ? H5T_NATIVE_UINT8 : H5T_NATIVE_FLOAT;
}

/* /images: [N,P,H,W], chunk [1,P,H,W], written sample by sample (so a streamed source is
 * copied without holding it in memory). */
static lv_status write_images(hid_t file, const lv_dataset *ds, int gzip) {
    hsize_t dims[4] = {(hsize_t)ds->n, (hsize_t)ds->p, (hsize_t)ds->h, (hsize_t)ds->w};
    hsize_t chunk[4] = {1, dims[1], dims[2], dims[3]};
    /* The memory space has the selection's own shape: HDF5 1.10 then copies whole rows instead
     * of mapping a 1-D buffer element run by element run (about 20x faster). */
    size_t bytes = lv_dataset_sample_bytes(ds);
    lv_status st = LV_OK;
    hid_t dcpl = -1, fsp = -1, msp = -1, d = -1;
    void *buf = malloc(bytes);
    if (!buf) return lv_errorf(LV_ERR_RUNTIME, "/images: out of memory");
    if (LV_H5_FAILED(LV_ERR_RUNTIME, dcpl = lv_h5_untimed_plist(0)) ||
        LV_H5_FAILED(LV_ERR_RUNTIME, H5Pset_chunk(dcpl, 4, chunk)) ||
        (gzip > 0 && (LV_H5_FAILED(LV_ERR_RUNTIME, H5Pset_shuffle(dcpl)) ||
                      LV_H5_FAILED(LV_ERR_RUNTIME, H5Pset_deflate(dcpl, (unsigned)gzip)))) ||
        LV_H5_FAILED(LV_ERR_RUNTIME, fsp = H5Screate_simple(4, dims, NULL)) ||
        LV_H5_FAILED(LV_ERR_RUNTIME, msp = H5Screate_simple(4, chunk, NULL)) ||
        LV_H5_FAILED(LV_ERR_RUNTIME, d = H5Dcreate2(file, "images", file_pixel_type(ds->pixel), fsp,
                                                    H5P_DEFAULT, dcpl, H5P_DEFAULT))) {
        st = lv_error_wrap(LV_ERR_RUNTIME, "/images");
    }
    for (int64_t i = 0; st == LV_OK && i < ds->n; i++) {
        hsize_t start[4] = {(hsize_t)i, 0, 0, 0}, count[4] = {1, dims[1], dims[2], dims[3]};
        st = lv_dataset_read_raw(ds, i, buf);
        if (st == LV_OK &&
            (LV_H5_FAILED(LV_ERR_RUNTIME, H5Sselect_hyperslab(fsp, H5S_SELECT_SET, start, NULL, count, NULL)) ||
             LV_H5_FAILED(LV_ERR_RUNTIME, H5Dwrite(d, mem_pixel_type(ds->pixel), msp, fsp, H5P_DEFAULT, buf))))
            st = lv_error_wrap(LV_ERR_RUNTIME, "/images[%" PRId64 "]", i);
    }
    lv_h5_close(d);
    lv_h5_close(msp);
    lv_h5_close(fsp);
    lv_h5_close(dcpl);
    free(buf);
    return st;
}

/* A 1-D per-sample dataset of integers, from int32 or int64 values. */
static lv_status write_ints(hid_t file, const char *name, int64_t n, hid_t file_type, hid_t mem_type,
                            const void *v) {
    hsize_t dim = (hsize_t)n;
    lv_status st = LV_OK;
    hid_t sp = -1, d = -1, dcpl = -1;
    if (LV_H5_FAILED(LV_ERR_RUNTIME, sp = H5Screate_simple(1, &dim, NULL)) ||
        LV_H5_FAILED(LV_ERR_RUNTIME, dcpl = lv_h5_untimed_plist(0)) ||
        LV_H5_FAILED(LV_ERR_RUNTIME, d = H5Dcreate2(file, name, file_type, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT)) ||
        LV_H5_FAILED(LV_ERR_RUNTIME, H5Dwrite(d, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, v)))
        st = lv_error_wrap(LV_ERR_RUNTIME, "/%s", name);
    lv_h5_close(d);
    lv_h5_close(dcpl);
    lv_h5_close(sp);
    return st;
}

/* Patient ids round-trip as they came: integers when every id is one, else strings. */
static lv_status write_patients(hid_t file, const lv_dataset *ds) {
    int64_t *ints = malloc((size_t)ds->n * sizeof *ints);
    const char **strs = malloc((size_t)ds->n * sizeof *strs);
    lv_status st = LV_OK;
    if (!ints || !strs) st = lv_errorf(LV_ERR_RUNTIME, "/patients: out of memory");
    int all_int = 1;
    for (int64_t i = 0; st == LV_OK && i < ds->n; i++) {
        const char *id = ds->patient_ids[ds->patients[i]];
        strs[i] = id ? id : "";
        char *end = NULL;
        errno = 0;
        long long v = strtoll(strs[i], &end, 10);
        /* "007" would come back as "7": only canonical integers are written as integers. */
        char canon[32];
        snprintf(canon, sizeof canon, "%lld", v);
        if (errno || !strs[i][0] || *end || strcmp(canon, strs[i]) != 0) all_int = 0;
        ints[i] = v;
    }
    if (st == LV_OK && all_int)
        st = write_ints(file, "patients", ds->n, H5T_STD_I64LE, H5T_NATIVE_INT64, ints);
    else if (st == LV_OK)
        st = lv_h5_write_strings(file, "patients", strs, ds->n, 0, 0);
    free(ints);
    free(strs);
    return st;
}

static lv_status write_contents(hid_t file, const lv_dataset *ds, int gzip) {
    LV_TRY(write_images(file, ds, gzip));
    LV_TRY(write_ints(file, "labels", ds->n, H5T_STD_I32LE, H5T_NATIVE_INT32, ds->labels));
    if (ds->patients) LV_TRY(write_patients(file, ds));
    if (ds->lesions) LV_TRY(write_ints(file, "lesions", ds->n, H5T_STD_I32LE, H5T_NATIVE_INT32, ds->lesions));
    if (ds->split) LV_TRY(write_ints(file, "split", ds->n, H5T_STD_I32LE, H5T_NATIVE_INT32, ds->split));
    if (ds->reports) LV_TRY(lv_h5_write_strings(file, "reports", (const char *const *)ds->reports, ds->n, 0, 0));
    LV_TRY(lv_h5_write_strings(file, "classes", (const char *const *)ds->classes, ds->c, 1, 0));
    LV_TRY(lv_h5_write_strings(file, "phases", (const char *const *)ds->phases, ds->p, 1, 0));
    const char *units = ds->hu ? "HU" : "raw", *format = "liver-vlm-data/1";
    LV_TRY(lv_h5_write_strings(file, "units", &units, 1, 1, 1));
    LV_TRY(lv_h5_write_strings(file, "format", &format, 1, 1, 1));
    return LV_OK;
}

static lv_status fsync_path(const char *p, int dir) {
    int fd = open(p, dir ? O_RDONLY | O_DIRECTORY : O_RDONLY);
    if (fd < 0) return lv_errorf(LV_ERR_RUNTIME, "%s: cannot open to sync: %s", p, strerror(errno));
    int r = fsync(fd);
    int e = errno;
    close(fd);
    /* Some file systems cannot sync a directory (EINVAL); the rename is still done. */
    if (r != 0 && !(dir && (e == EINVAL || e == ENOTSUP)))
        return lv_errorf(LV_ERR_RUNTIME, "%s: fsync failed: %s", p, strerror(e));
    return LV_OK;
}

lv_status lv_h5_write(const lv_dataset *ds, const char *path, const lv_h5_write_opts *opts) {
    LV_CHECK(ds && path && path[0], LV_ERR_USAGE, "data file: no path given to write");
    int gzip = opts ? opts->gzip_level : 0;
    LV_CHECK(gzip >= 0 && gzip <= 9, LV_ERR_USAGE, "%s: gzip level %d outside 0..9", path, gzip);
    LV_TRY(check_dataset(ds, path));
    lv_h5_quiet();
    if (gzip > 0 && H5Zfilter_avail(H5Z_FILTER_DEFLATE) <= 0)
        return lv_errorf(LV_ERR_RUNTIME, "%s: this HDF5 library has no gzip filter; write with gzip level 0", path);

    char tmp[PATH_MAX + 32];
    int n = snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    LV_CHECK(n > 0 && (size_t)n < sizeof tmp, LV_ERR_USAGE, "%s: path too long", path);
    hid_t fcpl = lv_h5_untimed_plist(1);
    hid_t file = fcpl < 0 ? -1 : H5Fcreate(tmp, H5F_ACC_TRUNC, fcpl, H5P_DEFAULT);
    lv_h5_close(fcpl);
    if (file < 0) {
        lv_h5_fail(LV_ERR_RUNTIME, "H5Fcreate", __func__, __FILE__, __LINE__);
        return lv_error_wrap(LV_ERR_RUNTIME, "%s: cannot create", tmp);
    }
    lv_status st = write_contents(file, ds, gzip);
    if (st == LV_OK && LV_H5_FAILED(LV_ERR_RUNTIME, H5Fflush(file, H5F_SCOPE_GLOBAL))) st = LV_ERR_RUNTIME;
    if (LV_H5_FAILED(LV_ERR_RUNTIME, H5Fclose(file)) && st == LV_OK) st = LV_ERR_RUNTIME;
    if (st == LV_OK) st = fsync_path(tmp, 0);
    if (st == LV_OK && rename(tmp, path) != 0)
        st = lv_errorf(LV_ERR_RUNTIME, "%s: cannot rename %s into place: %s", path, tmp, strerror(errno));
    if (st != LV_OK) {
        remove(tmp);
        return lv_error_wrap(st, "writing %s", path);
    }
    /* The rename itself must reach the disk, or a crash can bring back the old file. */
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash) snprintf(dir, sizeof dir, ".");
    else if (slash == dir) dir[1] = '\0';
    else *slash = '\0';
    return fsync_path(dir, 1);
}
