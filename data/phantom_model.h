/* Private to the phantom (data/phantom*.c): the patient and lesion models drawn from the
 * seed, the per-class appearance function, the random fields and the report text. Not a
 * public API; nothing outside data/phantom*.c includes it. */
#ifndef LV_PHANTOM_MODEL_H
#define LV_PHANTOM_MODEL_H

#include <stdint.h>

#include "data/phantom.h"

enum { PH_NC = 0, PH_ART, PH_PV, PH_DL, PH_N };

/* Streams separate the uses of one seed; the id (patient, lesion, sample) fills the low
 * 48 bits, so any entity's draws are found without generating the ones before it. */
enum { PH_S_LAYOUT = 1, PH_S_PATIENT, PH_S_LESION, PH_S_LFIELD, PH_S_SFIELD, PH_S_NOISE };
#define PH_STREAM(kind, id) (((uint64_t)(kind) << 48) | ((uint64_t)(id) & 0xFFFFFFFFFFFFull))

/* Sequential draws from one (seed, stream): index counts up, so the k-th parameter of an
 * entity is always the k-th number of its stream. */
typedef struct ph_draw {
    uint64_t seed, stream, index;
} ph_draw;

float ph_uniform(ph_draw *d, float lo, float hi);
float ph_normal(ph_draw *d);
int ph_chance(ph_draw *d, float p);

/* One patient's contrast timing and blood-pool/parenchyma HU per phase (NC ART PV DL). */
typedef struct ph_patient {
    float liver[PH_N];   /* parenchyma */
    float aorta[PH_N];   /* arterial blood pool */
    float portal[PH_N];  /* portal vein */
    float hepvein[PH_N]; /* hepatic veins */
    float timing;        /* arterial acquisition, -1 early .. +1 late */
    float tex_fine, tex_coarse; /* parenchyma texture std, HU */
} ph_patient;

typedef struct ph_vessel {
    float angle, offset, drift, curv, sigma; /* line x.n = offset + drift*slice + curv*t^2 */
    int kind;                                /* 0 portal, 1 hepatic vein, 2 artery */
} ph_vessel;

#define PH_MAX_NODULES 8
#define PH_MAX_VESSELS 4

typedef struct ph_lesion {
    int cls, flags, segment;
    float R;                 /* 3-D radius, pixels */
    float cx, cy;            /* centre on the middle slice, pixels from the ROI centre */
    float drift_x, drift_y;  /* centre shift per slice */
    float dz;                /* slice spacing, pixels */
    float elong, angle;      /* ellipse: axes (1+e, 1-e), rotated by angle */
    float harm_a[4], harm_c[4], harm_s[4]; /* border harmonics k = 2..5 (amplitude, phase) */
    float edge;              /* partial-volume width at the border, pixels */
    float core[PH_N];        /* value at the centre */
    float rim[PH_N];         /* rim/capsule value (HEM: the enhanced, blood-pool-like value) */
    float rim_in;            /* u where the rim starts */
    float het;               /* internal heterogeneity std, HU */
    float fill[PH_N];        /* HEM: fraction of the radius filled from outside */
    int n_nod;               /* HEM nodules / FNH scar spokes */
    float nod_c[PH_MAX_NODULES]; /* direction (cos, sin) and angular width */
    float nod_s[PH_MAX_NODULES], nod_w[PH_MAX_NODULES];
    float scar[PH_N], scar_r; /* FNH scar value and central radius (u) */
    float nec, nec_r;         /* HCC necrosis value and radius (u) */
    int n_vessels;
    ph_vessel vessels[PH_MAX_VESSELS];
    float fat_angle, fat_dist; /* liver surface (LV_PHANTOM_FAT_EDGE): half-plane distance */
} ph_lesion;

void ph_draw_patient(uint64_t seed, int64_t patient, float difficulty, ph_patient *P);
void ph_draw_lesion(uint64_t seed, int64_t lesion, int cls, int size, int slices, float difficulty,
                    const ph_patient *P, ph_lesion *L);
/* HU inside the lesion at normalised radius u (0..1) and direction (c, s) in the lesion's
 * own frame; tex is a unit-variance internal texture value. */
float ph_lesion_value(const ph_lesion *L, int phase, float u, float c, float s, float tex);

/* A unit-variance Gaussian field of n x n pixels smoothed by three box blurs of radius r
 * (~Gaussian, sigma ~ r), from the normals of (seed, stream). tmp holds n*n floats. r = 0
 * gives white noise; r < 0 a [1 2 1] smoothing (CT noise grain) rescaled to unit std. */
void ph_field(uint64_t seed, uint64_t stream, int n, int r, float *out, float *tmp);

/* The lesion's findings as a short radiology-style report (malloc'd; NULL on no memory);
 * sizes in mm assume 0.7 mm pixels at size 64 (ROIs are resampled to a fixed size). */
char *ph_report(const ph_lesion *L, int size, int has_delayed);

#endif
