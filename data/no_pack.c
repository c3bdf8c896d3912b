/* Stands in for the NIfTI packer in builds without HDF5 or nifticlib: same options, and a
 * message that says what to install instead of a missing symbol. */
#include <string.h>

#include "data/pack.h"

void lv_pack_opts_default(lv_pack_opts *o) {
    memset(o, 0, sizeof *o);
    o->roi_size = 64;
    o->slices = 3;
    o->gzip_level = 4;
}

lv_status lv_pack_build(lv_dataset *ds, const char *manifest, const lv_pack_opts *o, lv_pack_stats *stats) {
    (void)ds;
    (void)o;
    if (stats) memset(stats, 0, sizeof *stats);
    return lv_errorf(LV_ERR_INPUT, "%s: this liver-vlm was built without HDF5 or nifticlib "
                                   "(libhdf5-dev, libnifti2-dev); pack is unavailable", manifest);
}

lv_status lv_pack_manifest(const char *manifest, const char *out, const lv_pack_opts *o, lv_pack_stats *stats) {
    (void)out;
    return lv_pack_build(NULL, manifest, o, stats);
}

int lv_pack_available(void) { return 0; }
