/* Multi-phase focal-liver-lesion phantom (docs/phantom.md): fills an lv_dataset in
 * memory with int16 HU ROIs, labels, patients, lesions and report text. No file I/O here
 * (the HDF5 writer and the PNG preview live elsewhere), and every random draw is a pure
 * function of (seed, stream, index), so the bytes never depend on the thread count. */
#ifndef LV_PHANTOM_H
#define LV_PHANTOM_H

#include <stdint.h>

#include "data/dataset.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Class indices, in the order the dataset lists them. */
enum { LV_PHANTOM_CYST = 0, LV_PHANTOM_FNH, LV_PHANTOM_HCC, LV_PHANTOM_HEM, LV_PHANTOM_METS };
#define LV_PHANTOM_NCLASSES 5
extern const char *const lv_phantom_class_names[LV_PHANTOM_NCLASSES]; /* CYST FNH HCC HEM METS */

/* Phases the enhancement model knows; any non-empty subset, in any order, may be asked for. */
#define LV_PHANTOM_NPHASES 4
extern const char *const lv_phantom_phase_names[LV_PHANTOM_NPHASES]; /* NC ART PV DL */

typedef struct lv_phantom_opts {
    int per_class;           /* samples (ROI slices) per class, 1..1000000          [100] */
    int size;                /* ROI height = width in pixels, 16..1024               [64] */
    int p;                   /* number of phases, 1..4                                [3] */
    const char *phases[LV_MAX_PHASES]; /* names among NC, ART, PV, DL      [NC,ART,PV] */
    uint64_t seed;           /*                                                       [1] */
    float difficulty;        /* 0 easy .. 1 hard: atypical cases, timing jitter     [0.5] */
    float noise_hu;          /* acquisition noise std in HU, 0..200                  [10] */
    int slices_per_lesion;   /* neighbouring cuts per lesion, 1..32                   [3] */
    int lesions_per_patient; /* most lesions one patient has, 1..3                    [3] */
    int progress;            /* 1: log progress every few seconds (LV_INFO)           [0] */
} lv_phantom_opts;

void lv_phantom_opts_default(lv_phantom_opts *o);
/* Sets o->phases/o->p from a comma list ("NC,ART,PV,DL"); names are case-insensitive and
 * stored canonical. Unknown or repeated names are LV_ERR_USAGE naming the phase. */
lv_status lv_phantom_set_phases(lv_phantom_opts *o, const char *csv);

/* What each sample shows, for tests and previews (the dataset itself carries no such
 * ground truth beyond the label). */
enum {
    LV_PHANTOM_ATYPICAL = 1 << 0,      /* drawn as a mimic of another class */
    LV_PHANTOM_SCAR = 1 << 1,          /* FNH central scar */
    LV_PHANTOM_CAPSULE = 1 << 2,       /* HCC enhancing capsule */
    LV_PHANTOM_HYPERVASCULAR = 1 << 3, /* METS hypervascular (HCC mimic) */
    LV_PHANTOM_FLASH = 1 << 4,         /* HEM flash filling */
    LV_PHANTOM_NECROSIS = 1 << 5,      /* HCC central necrosis */
    LV_PHANTOM_NO_WASHOUT = 1 << 6,    /* atypical HCC, iso on PV (FNH mimic) */
    LV_PHANTOM_HYPOVASCULAR = 1 << 7,  /* atypical HCC without arterial enhancement */
    LV_PHANTOM_CYSTIC = 1 << 8,        /* atypical METS of near-fluid attenuation */
    LV_PHANTOM_SLOW_FILL = 1 << 9,     /* atypical HEM with little fill-in */
    LV_PHANTOM_FAT_EDGE = 1 << 10,     /* liver surface and fat visible in the ROI */
};

/* Region codes of lv_phantom_truth.regions, by normalised lesion radius u (0 centre, 1 the
 * drawn border) and what lies outside the lesion. */
enum {
    LV_PHANTOM_R_LIVER = 0,  /* parenchyma away from lesion, vessels and fat */
    LV_PHANTOM_R_VESSEL = 1, /* vessel weight > 0.25 */
    LV_PHANTOM_R_CORE = 2,   /* u < 0.5 */
    LV_PHANTOM_R_PERIPH = 3, /* 0.5 <= u < 0.85 */
    LV_PHANTOM_R_EDGE = 4,   /* 0.85 <= u < 1 (capsule, rim) */
    LV_PHANTOM_R_BORDER = 5, /* 1 <= u < 1.6: partial volume, excluded from liver stats */
    LV_PHANTOM_R_FAT = 6,    /* outside the liver surface */
};

typedef struct lv_phantom_sample_truth {
    float cx, cy;   /* lesion centre in pixels (x = column, y = row) on this slice */
    float radius;   /* mean in-plane radius on this slice, pixels */
    float radius3d; /* the lesion's 3-D radius, pixels */
    int slice;      /* 0..K-1 within the lesion (cuts are neighbours) */
    int flags;      /* LV_PHANTOM_* */
} lv_phantom_sample_truth;

typedef struct lv_phantom_truth {
    int64_t n;
    int h, w;
    lv_phantom_sample_truth *samples; /* [n] */
    uint8_t *regions;                 /* [n,h,w] LV_PHANTOM_R_* */
} lv_phantom_truth;

/* Generates 5 * per_class samples (classes in lv_phantom_class_names order, int16 HU) into
 * out, which must be freshly initialised; /split is left NULL. truth may be NULL; when
 * given it is filled (free with lv_phantom_truth_free). Bad options: LV_ERR_USAGE naming
 * the field. Parallel over lesions with OpenMP; the result is identical on any thread
 * count. */
lv_status lv_phantom_generate(lv_dataset *out, const lv_phantom_opts *o, lv_phantom_truth *truth);
void lv_phantom_truth_free(lv_phantom_truth *t);

/* Writes a PNG grid: one row per class (first typical sample of each, middle slice),
 * one column per phase, HU window [lo, hi] mapped to black..white, each tile scaled by
 * `scale` (1..8). Needs libpng in the build (else LV_ERR_RUNTIME saying so). */
lv_status lv_phantom_preview(const lv_dataset *ds, const lv_phantom_truth *truth, const char *path,
                             float lo, float hi, int scale);

#ifdef __cplusplus
}
#endif
#endif
