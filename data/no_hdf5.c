/* Stands in for the HDF5 reader/writer in builds without HDF5 (e.g. a GPU box without its
 * headers): every call explains itself; in-memory data (phantom) still works. */
#include "data/h5_dataset.h"

static lv_status no_hdf5(const char *path) {
    return lv_errorf(LV_ERR_INPUT, "%s: this liver-vlm was built without HDF5 (-DLV_HDF5=OFF); "
                                   "install libhdf5-dev and rebuild to read or write data files",
                     path ? path : "data file");
}

lv_status lv_h5_read(lv_dataset *ds, const char *path, const lv_h5_open_opts *opts) {
    (void)ds;
    (void)opts;
    return no_hdf5(path);
}

lv_status lv_h5_write(const lv_dataset *ds, const char *path, const lv_h5_write_opts *opts) {
    (void)ds;
    (void)opts;
    return no_hdf5(path);
}

int lv_h5_available(void) { return 0; }
