/* liver-vlm synth: generates the multi-phase lesion phantom (data/phantom.h) and writes it
 * as a data file (HDF5, through lv_h5_write) and/or a PNG preview grid. Parses options and
 * reports; the radiology and the file format live in data/. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/clock.h"
#include "core/log.h"
#include "data/h5_dataset.h"
#include "data/phantom.h"
#include "tools/args.h"
#include "tools/commands.h"

typedef struct synth_opts {
    lv_phantom_opts ph;
    const char *out, *preview;
    int gzip, force, preview_scale;
} synth_opts;

static void synth_usage(FILE *f) {
    fprintf(f,
            "usage: liver-vlm synth --out F.h5 [options]\n"
            "       liver-vlm synth --preview P.png [options]   (picture only, no data file)\n"
            "\n"
            "Generates phantom multi-phase CT ROIs of focal liver lesions (classes CYST, FNH, HCC,\n"
            "HEM, METS) whose class shows in the enhancement pattern across phases, with patient and\n"
            "lesion ids and a findings report per sample (see docs/phantom.md). The same options and\n"
            "seed give the same file.\n"
            "\n"
            "  --out F.h5          data file to write (refuses to replace one unless --force)\n"
            "  --per-class N       samples (slices) per class, 1..1000000           [100]\n"
            "  --size S            ROI height and width in pixels, 16..1024          [64]\n"
            "  --phases LIST       comma list of NC, ART, PV, DL                     [NC,ART,PV]\n"
            "  --seed N            random seed, 0..2^64-1                            [1]\n"
            "  --difficulty X      0 easy .. 1 hard: atypical look-alikes, timing    [0.5]\n"
            "  --noise HU          acquisition noise std in HU, 0..200               [10]\n"
            "  --slices K          neighbouring cuts per lesion, 1..32               [3]\n"
            "  --lesions-per-patient M   most lesions one patient has, 1..3          [3]\n"
            "  --gzip L            gzip level of the data file, 0 (none)..9          [4]\n"
            "  --preview P.png     also write a classes x phases PNG grid, HU window [-100, 250]\n"
            "  --preview-scale Z   pixel scale of the preview tiles, 1..8            [2 if S <= 64, else 1]\n"
            "  --force             replace an existing --out file\n");
}

static lv_status parse_float(const char *opt, const char *val, double lo, double hi, float *out) {
    LV_TRY(lv_arg_need("synth", opt, val));
    char *end = NULL;
    errno = 0;
    double v = strtod(val, &end);
    if (errno || end == val || *end != '\0' || !isfinite(v) || v < lo || v > hi)
        return lv_errorf(LV_ERR_USAGE, "%s: expected a number in %g..%g, got '%s'", opt, lo, hi, val);
    *out = (float)v;
    return LV_OK;
}

static lv_status parse_seed(const char *opt, const char *val, uint64_t *out) {
    LV_TRY(lv_arg_need("synth", opt, val));
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(val, &end, 10);
    if (errno || end == val || *end != '\0' || val[0] == '-' || val[0] == '+')
        return lv_errorf(LV_ERR_USAGE, "%s: expected an integer in 0..18446744073709551615, got '%s'", opt, val);
    *out = (uint64_t)v;
    return LV_OK;
}

static lv_status parse_opts(int argc, char **argv, synth_opts *o, int *help) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            *help = 1;
            return LV_OK;
        } else if (!strcmp(a, "--force")) {
            o->force = 1;
            continue;
        } else if (!strcmp(a, "--out")) {
            LV_TRY(lv_arg_need("synth", a, v));
            o->out = v;
        } else if (!strcmp(a, "--preview")) {
            LV_TRY(lv_arg_need("synth", a, v));
            o->preview = v;
        } else if (!strcmp(a, "--per-class")) {
            LV_TRY(lv_arg_int(a, v, 1, 1000000, &o->ph.per_class));
        } else if (!strcmp(a, "--size")) {
            LV_TRY(lv_arg_int(a, v, 16, 1024, &o->ph.size));
        } else if (!strcmp(a, "--phases")) {
            LV_TRY(lv_arg_need("synth", a, v));
            lv_status s = lv_phantom_set_phases(&o->ph, v);
            if (s != LV_OK) return lv_error_wrap(s, "--phases");
        } else if (!strcmp(a, "--seed")) {
            LV_TRY(parse_seed(a, v, &o->ph.seed));
        } else if (!strcmp(a, "--difficulty")) {
            LV_TRY(parse_float(a, v, 0.0, 1.0, &o->ph.difficulty));
        } else if (!strcmp(a, "--noise")) {
            LV_TRY(parse_float(a, v, 0.0, 200.0, &o->ph.noise_hu));
        } else if (!strcmp(a, "--slices")) {
            LV_TRY(lv_arg_int(a, v, 1, 32, &o->ph.slices_per_lesion));
        } else if (!strcmp(a, "--lesions-per-patient")) {
            LV_TRY(lv_arg_int(a, v, 1, 3, &o->ph.lesions_per_patient));
        } else if (!strcmp(a, "--gzip")) {
            LV_TRY(lv_arg_int(a, v, 0, 9, &o->gzip));
        } else if (!strcmp(a, "--preview-scale")) {
            LV_TRY(lv_arg_int(a, v, 1, 8, &o->preview_scale));
        } else {
            return lv_errorf(LV_ERR_USAGE, "unknown option '%s' (see liver-vlm synth --help)", a);
        }
        i++;
    }
    return LV_OK;
}

lv_status lv_cmd_synth(int argc, char **argv) {
    synth_opts o;
    memset(&o, 0, sizeof o);
    lv_phantom_opts_default(&o.ph);
    o.gzip = 4;
    int help = 0;
    LV_TRY(parse_opts(argc, argv, &o, &help));
    if (help) {
        synth_usage(stdout);
        return LV_OK;
    }
    if (!o.out && !o.preview)
        return lv_errorf(LV_ERR_USAGE, "--out is required (or --preview alone for a picture; see liver-vlm synth --help)");
    if (o.out) {
        struct stat sb;
        if (!o.force && stat(o.out, &sb) == 0)
            return lv_errorf(LV_ERR_INPUT, "%s exists; use --force to overwrite it", o.out);
        if (!lv_h5_available())
            return lv_errorf(LV_ERR_INPUT, "%s: this liver-vlm was built without HDF5 and cannot write data "
                                           "files (--preview still works)", o.out);
    }
    o.ph.progress = 1;
    lv_log_init(0, 1);
    double t0 = lv_now_s();
    lv_dataset ds;
    lv_phantom_truth truth;
    LV_TRY(lv_phantom_generate(&ds, &o.ph, &truth));
    double t1 = lv_now_s();
    LV_INFO("synth: %" PRId64 " samples (%d classes x %d), %d patients, %dx%d, %d phases, in %.2f s", ds.n, ds.c,
            o.ph.per_class, ds.n_patients, ds.h, ds.w, ds.p, t1 - t0);
    lv_status st = LV_OK;
    if (o.preview) {
        int scale = o.preview_scale ? o.preview_scale : ds.w <= 64 ? 2 : 1;
        st = lv_phantom_preview(&ds, &truth, o.preview, -100.0f, 250.0f, scale);
        if (st == LV_OK) LV_INFO("synth: preview written to %s", o.preview);
    }
    if (st == LV_OK && o.out) {
        lv_h5_write_opts wo = {.gzip_level = o.gzip};
        st = lv_h5_write(&ds, o.out, &wo);
        if (st == LV_OK) {
            struct stat sb;
            double mb = stat(o.out, &sb) == 0 ? (double)sb.st_size / 1048576.0 : 0.0;
            LV_INFO("synth: wrote %s (%.1f MiB) in %.2f s", o.out, mb, lv_now_s() - t1);
            printf("%s: %" PRId64 " samples, %d classes, %d phases, %dx%d int16 HU, %d patients, seed %" PRIu64 "\n",
                   o.out, ds.n, ds.c, ds.p, ds.h, ds.w, ds.n_patients, o.ph.seed);
        }
    }
    lv_phantom_truth_free(&truth);
    lv_dataset_free(&ds);
    return st;
}
