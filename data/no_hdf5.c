/* Stands in for the HDF5 reader/writer in builds without HDF5 (e.g. a GPU box without its
 * headers): every call explains itself; in-memory data (phantom) still works. Compiled to
 * nothing when HDF5 is present, so it can never shadow the real data/h5_*.c functions in the
 * static library, whichever way the source list is filtered. */
#include "build_info.h"
#include "data/h5_dataset.h"

#if !LV_HAVE_HDF5
static lv_status no_hdf5(const char *path) {
    return lv_errorf(LV_ERR_INPUT, "%s: this liver-vlm was built without HDF5 (-DLV_HDF5=OFF); "
                                   "install libhdf5-dev and rebuild to read or write data files",
                     path ? path : "data file");
}

lv_status lv_h5_read(lv_dataset *ds, const char *path, const lv_h5_open_opts *opts) {
    lv_dataset_init(ds);
    (void)opts;
    return no_hdf5(path);
}

lv_status lv_h5_write(const lv_dataset *ds, const char *path, const lv_h5_write_opts *opts) {
    (void)ds;
    (void)opts;
    return no_hdf5(path);
}

int lv_h5_available(void) { return 0; }
#else
/* ISO C wants at least one declaration in a translation unit. */
typedef int lv_no_hdf5_unused;
#endif
