/* Stands in for the NIfTI packer in builds without HDF5 or nifticlib. */
#include "data/pack.h"

void lv_pack_opts_default(lv_pack_opts *o) {
    o->roi_size = 64;
    o->slices = 3;
    o->gzip_level = 4;
}

lv_status lv_pack_manifest(const char *manifest, const char *out, const lv_pack_opts *o) {
    (void)out;
    (void)o;
    return lv_errorf(LV_ERR_INPUT, "%s: this liver-vlm was built without HDF5 or nifticlib "
                                   "(libhdf5-dev, libnifti2-dev); pack is unavailable", manifest);
}

int lv_pack_available(void) { return 0; }
