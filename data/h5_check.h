/* The HDF5 layer's checks: failed HDF5 calls become lv_status values carrying the call text,
 * function, file, line and the innermost description from HDF5's error stack. Only data/h5_*.c
 * include this (and hdf5.h); nothing above data/ ever sees HDF5 types. */
#ifndef LV_H5_CHECK_H
#define LV_H5_CHECK_H

#include <stddef.h>
#include <stdint.h>

#include <hdf5.h>

#include "core/status.h"

/* Switches off HDF5's automatic printing of its error stack to stderr (once per process and
 * thread; cheap to call at every entry point). A bad file must produce one message of ours,
 * not a page of HDF5 internals. */
void lv_h5_quiet(void);

/* Copies the most specific description on the calling thread's HDF5 error stack (the
 * innermost function's, e.g. "truncated file: eof = 96, ..."), or "" when the stack is empty,
 * into buf and returns buf. */
const char *lv_h5_error_detail(char *buf, size_t size);

/* Records a failed HDF5 call through lv_check_fail (library "HDF5") with the error-stack
 * detail, clears the stack and returns code. */
lv_status lv_h5_fail(lv_status code, const char *call, const char *func, const char *file, int line);

/* HDF5 signals failure with a negative hid_t / herr_t / htri_t. */
static inline int lv_h5_failed_(int64_t r, lv_status code, const char *call, const char *func,
                                const char *file, int line) {
    if (r >= 0) return 0;
    lv_h5_fail(code, call, func, file, line);
    return 1;
}

/* From a function returning lv_status: return `code` when the call fails. */
#define LV_H5_CHECK(code, call)                                                                   \
    do {                                                                                          \
        if ((int64_t)(call) < 0) return lv_h5_fail((code), #call, __func__, __FILE__, __LINE__);  \
    } while (0)

/* For code that must clean up first: records the failure and is nonzero when it failed.
 * Works on assignments too: if (LV_H5_FAILED(LV_ERR_INPUT, d = H5Dopen2(...))) goto done; */
#define LV_H5_FAILED(code, call)                                                                  \
    lv_h5_failed_((int64_t)(call), (code), #call, __func__, __FILE__, __LINE__)

/* Closes an HDF5 id of any kind if it is valid; for cleanup paths, so errors are ignored. */
void lv_h5_close(hid_t id);

/* A creation property list (dataset when `file` is 0, file/root group when 1) that stores
 * no modification times, so the same data always gives the same bytes (a phantom with the
 * same seed is byte-identical). The caller closes it; negative on failure. */
hid_t lv_h5_untimed_plist(int file);

#endif
