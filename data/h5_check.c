/* HDF5 error stack -> lv_status (see h5_check.h). Must not print: HDF5's own stack printing is
 * switched off and its innermost description is carried in our message instead. */
#include "data/h5_check.h"

#include <stdio.h>
#include <string.h>

void lv_h5_quiet(void) {
    /* The setting lives per thread in thread-safe builds, so set it on every entry rather
     * than once per process. */
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

typedef struct h5_walk_ctx {
    char *buf;
    size_t size;
    int found;
} h5_walk_ctx;

/* Walking upward starts at the innermost (most specific) entry: keep the first
 * non-empty description. */
static herr_t take_innermost(unsigned n, const H5E_error2_t *err, void *data) {
    (void)n;
    h5_walk_ctx *ctx = data;
    if (ctx->found || !err->desc || !err->desc[0]) return 0;
    snprintf(ctx->buf, ctx->size, "%s", err->desc);
    ctx->found = 1;
    return 0;
}

const char *lv_h5_error_detail(char *buf, size_t size) {
    if (!buf || size == 0) return "";
    buf[0] = '\0';
    h5_walk_ctx ctx = {buf, size, 0};
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, take_innermost, &ctx);
    return buf;
}

lv_status lv_h5_fail(lv_status code, const char *call, const char *func, const char *file, int line) {
    char detail[512];
    lv_h5_error_detail(detail, sizeof detail);
    H5Eclear2(H5E_DEFAULT);
    return lv_check_fail(code, "HDF5", call, detail[0] ? detail : "call failed", func, file, line);
}

void lv_h5_close(hid_t id) {
    if (id < 0) return;
    /* H5Iis_valid keeps a stale id (already closed) from raising a new error. */
    if (H5Iis_valid(id) <= 0) return;
    herr_t r = 0;
    switch (H5Iget_type(id)) {
    case H5I_FILE: r = H5Fclose(id); break;
    case H5I_GROUP: r = H5Gclose(id); break;
    case H5I_DATASET: r = H5Dclose(id); break;
    case H5I_DATATYPE: r = H5Tclose(id); break;
    case H5I_DATASPACE: r = H5Sclose(id); break;
    case H5I_ATTR: r = H5Aclose(id); break;
    case H5I_GENPROP_LST: r = H5Pclose(id); break;
    default: r = H5Idec_ref(id); break;
    }
    if (r < 0) H5Eclear2(H5E_DEFAULT);
}

hid_t lv_h5_untimed_plist(int file) {
    hid_t pl = H5Pcreate(file ? H5P_FILE_CREATE : H5P_DATASET_CREATE);
    if (pl >= 0 && H5Pset_obj_track_times(pl, 0) < 0) {
        H5Pclose(pl);
        return -1;
    }
    return pl;
}
