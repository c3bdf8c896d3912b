/* liver-vlm pack: real CT (co-registered NIfTI phases listed in a CSV manifest) -> lesion ROI
 * slices in a data file. Parses options and reports; manifest rules, ROI cutting and the
 * file format live in data/ (data/pack.h, docs/pack.md). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "core/log.h"
#include "data/pack.h"
#include "tools/args.h"
#include "tools/commands.h"

static void pack_usage(FILE *f) {
    fprintf(f,
            "usage: liver-vlm pack --manifest M.csv --out F.h5 [options]\n"
            "\n"
            "Cuts lesion ROIs from co-registered multi-phase CT volumes (NIfTI-1/-2, .nii or .nii.gz)\n"
            "into a liver-vlm data file: one sample per axial slice, int16 HU, with patient and\n"
            "lesion ids. The manifest is a CSV with a header row and one row per lesion:\n"
            "  patient,label,x,y,z[,radius][,lesion][,report], plus one NIfTI path column per phase\n"
            "  (e.g. NC,ART,PV; paths relative to the manifest's folder). x,y,z: the lesion centre in\n"
            "  voxel indices (from 0). Nothing is resampled or registered; see docs/pack.md.\n"
            "\n"
            "  --manifest M.csv   the manifest to read\n"
            "  --out F.h5         data file to write (refuses to replace one unless --force)\n"
            "  --size S           ROI height and width in voxels, 1..4096              [64]\n"
            "  --slices K         axial slices per lesion, centred on z, 1..256        [3]\n"
            "  --phases LIST      phase columns to use, in this order                  [every non-reserved column]\n"
            "  --classes LIST     class order, e.g. CYST,FNH,HCC,HEM,METS              [labels sorted]\n"
            "  --gzip L           gzip level of the data file, 0 (none)..9             [4]\n"
            "  --force            replace an existing --out file\n"
            "  --quiet            no per-row progress lines\n");
}

static lv_status parse_opts(int argc, char **argv, lv_pack_opts *o, const char **manifest, const char **out,
                            int *help) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            *help = 1;
            return LV_OK;
        } else if (!strcmp(a, "--force")) {
            o->force = 1;
            continue;
        } else if (!strcmp(a, "--quiet")) {
            o->progress = 0;
            continue;
        } else if (!strcmp(a, "--manifest")) {
            LV_TRY(lv_arg_need("pack", a, v));
            *manifest = v;
        } else if (!strcmp(a, "--out")) {
            LV_TRY(lv_arg_need("pack", a, v));
            *out = v;
        } else if (!strcmp(a, "--size")) {
            LV_TRY(lv_arg_int(a, v, 1, 4096, &o->roi_size));
        } else if (!strcmp(a, "--slices")) {
            LV_TRY(lv_arg_int(a, v, 1, 256, &o->slices));
        } else if (!strcmp(a, "--gzip")) {
            LV_TRY(lv_arg_int(a, v, 0, 9, &o->gzip_level));
        } else if (!strcmp(a, "--phases")) {
            LV_TRY(lv_arg_need("pack", a, v));
            o->phases = v;
        } else if (!strcmp(a, "--classes")) {
            LV_TRY(lv_arg_need("pack", a, v));
            o->classes = v;
        } else {
            return lv_errorf(LV_ERR_USAGE, "unknown option '%s' (see liver-vlm pack --help)", a);
        }
        i++;
    }
    return LV_OK;
}

lv_status lv_cmd_pack(int argc, char **argv) {
    lv_pack_opts o;
    lv_pack_opts_default(&o);
    o.progress = 1;
    const char *manifest = NULL, *out = NULL;
    int help = 0;
    LV_TRY(parse_opts(argc, argv, &o, &manifest, &out, &help));
    if (help) {
        pack_usage(stdout);
        return LV_OK;
    }
    if (!manifest) return lv_errorf(LV_ERR_USAGE, "--manifest is required (see liver-vlm pack --help)");
    if (!out) return lv_errorf(LV_ERR_USAGE, "--out is required (see liver-vlm pack --help)");
    if (!lv_pack_available())
        return lv_errorf(LV_ERR_INPUT, "%s: this liver-vlm was built without HDF5 or nifticlib (libhdf5-dev, "
                                       "libnifti2-dev); pack is unavailable",
                         manifest);
    lv_log_init(0, 1);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    lv_pack_stats st;
    lv_status s = lv_pack_manifest(manifest, out, &o, &st);
    if (s != LV_OK) {
        /* Usage-level problems inside the library (a malformed --phases/--classes list) come
         * back as LV_ERR_USAGE and keep exit code 2. */
        return s;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    struct stat sb;
    double mb = stat(out, &sb) == 0 ? (double)sb.st_size / 1048576.0 : 0.0;
    LV_INFO("pack: wrote %s (%.1f MiB) in %.2f s; %" PRId64 " NIfTI files read", out, mb, secs, st.volumes_read);
    printf("%s: %" PRId64 " samples from %" PRId64 " lesions, %dx%d int16 HU, %d slices each, %" PRId64
           " padded at the volume border\n",
           out, st.samples, st.rows, o.roi_size, o.roi_size, o.slices, st.padded_samples);
    return LV_OK;
}
