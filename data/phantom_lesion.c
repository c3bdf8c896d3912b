/* The phantom's radiology: per-patient contrast timing, per-lesion geometry and the
 * per-class enhancement model (docs/phantom.md states each rule).
 * Pure functions of (seed, id); no pixels are rendered here. */
#include <math.h>
#include <string.h>

#include "core/rng.h"
#include "data/phantom_model.h"

#define PH_PI 3.14159265358979f

float ph_uniform(ph_draw *d, float lo, float hi) {
    return lo + (hi - lo) * lv_rng_uniform(d->seed, d->stream, d->index++);
}

/* Box-Muller on two uniform words of the same stream: lv_rng_normal indexes blocks, not
 * words, and would overlap the uniforms drawn from this stream. */
float ph_normal(ph_draw *d) {
    float u1 = 1.0f - ph_uniform(d, 0.0f, 1.0f), u2 = ph_uniform(d, 0.0f, 1.0f);
    return sqrtf(-2.0f * logf(u1)) * cosf(2.0f * PH_PI * u2);
}

int ph_chance(ph_draw *d, float p) { return ph_uniform(d, 0.0f, 1.0f) < p; }

static float clampf(float x, float lo, float hi) { return x < lo ? lo : x > hi ? hi : x; }

static float smoothstep(float a, float b, float x) {
    float t = clampf((x - a) / (b - a), 0.0f, 1.0f);
    return t * t * (3.0f - 2.0f * t);
}

void ph_draw_patient(uint64_t seed, int64_t patient, float difficulty, ph_patient *P) {
    ph_draw r = {seed, PH_STREAM(PH_S_PATIENT, patient), 0};
    memset(P, 0, sizeof *P);
    float jitter = 0.4f + 0.6f * difficulty; /* harder data: wider spread of arterial timing */
    float l0 = clampf(55.0f + 4.0f * ph_normal(&r), 45.0f, 65.0f);
    P->timing = jitter * ph_uniform(&r, -1.0f, 1.0f);
    float dart = clampf(20.0f + 5.0f * P->timing + 1.5f * ph_normal(&r), 15.0f, 25.0f);
    float dpv = ph_uniform(&r, 55.0f, 65.0f);
    float ddl = dpv - ph_uniform(&r, 8.0f, 18.0f);
    P->liver[PH_NC] = l0;
    P->liver[PH_ART] = l0 + dart;
    P->liver[PH_PV] = l0 + dpv;
    P->liver[PH_DL] = l0 + ddl;
    float amp = ph_uniform(&r, 0.88f, 1.12f); /* dose and cardiac output */
    float blood = ph_uniform(&r, 36.0f, 44.0f);
    P->aorta[PH_NC] = blood;
    P->aorta[PH_ART] = amp * (ph_uniform(&r, 200.0f, 240.0f) + 20.0f * P->timing);
    P->aorta[PH_PV] = amp * ph_uniform(&r, 160.0f, 185.0f);
    P->aorta[PH_DL] = amp * ph_uniform(&r, 120.0f, 140.0f);
    /* Late arterial acquisitions already show the portal vein filling. */
    P->portal[PH_NC] = blood + ph_uniform(&r, -2.0f, 2.0f);
    P->portal[PH_ART] = amp * (85.0f + 25.0f * (P->timing + 1.0f) + ph_uniform(&r, -10.0f, 10.0f));
    P->portal[PH_PV] = amp * ph_uniform(&r, 160.0f, 190.0f);
    P->portal[PH_DL] = amp * ph_uniform(&r, 120.0f, 140.0f);
    P->hepvein[PH_NC] = blood + ph_uniform(&r, -2.0f, 2.0f);
    P->hepvein[PH_ART] = l0 + ph_uniform(&r, -8.0f, 6.0f);
    P->hepvein[PH_PV] = amp * ph_uniform(&r, 140.0f, 170.0f);
    P->hepvein[PH_DL] = amp * ph_uniform(&r, 115.0f, 135.0f);
    P->tex_fine = ph_uniform(&r, 2.5f, 4.5f);
    P->tex_coarse = ph_uniform(&r, 2.0f, 5.0f);
}

static void set4(float *dst, float a, float b, float c, float d) {
    dst[0] = a;
    dst[1] = b;
    dst[2] = c;
    dst[3] = d;
}

/* m scales lesion-vs-liver contrasts (1.25 easy .. 0.75 hard); ka the arterial timing. */
static void draw_cyst(ph_draw *r, ph_lesion *L, int atyp) {
    /* Fluid: at most 17 HU drawn (+0.5 HU texture), so the content stays <= 20 HU; small
     * blurred ones still measure higher through partial volume, as real ones do. */
    float c0 = atyp ? ph_uniform(r, 10.0f, 17.0f) : ph_uniform(r, 0.0f, 14.0f);
    /* At most 3 HU of pseudo-enhancement: a cyst never enhances. */
    set4(L->core, c0, c0 + ph_uniform(r, 0.0f, 2.0f), c0 + ph_uniform(r, 0.0f, 3.0f), c0 + ph_uniform(r, 0.0f, 3.0f));
    memcpy(L->rim, L->core, sizeof L->rim);
    L->het = 0.5f;
    if (atyp) L->edge = ph_uniform(r, 1.2f, 1.6f); /* small and blurred: a hypodense met look-alike */
}

static void draw_fnh(ph_draw *r, ph_lesion *L, const float *lv, float m, float ka, int atyp, int size) {
    L->het = 2.5f;
    if (atyp) { /* weak arterial enhancement and slight pseudo-washout: an HCC look-alike */
        set4(L->core, lv[0] - m * ph_uniform(r, 0, 8), lv[1] + ka * m * ph_uniform(r, 22, 38),
             lv[2] - m * ph_uniform(r, 5, 12), lv[3] - m * ph_uniform(r, 3, 10));
        return;
    }
    set4(L->core, lv[0] - m * ph_uniform(r, 0, 8), lv[1] + ka * m * ph_uniform(r, 50, 80),
         lv[2] + ph_uniform(r, -3, 6), lv[3] + ph_uniform(r, -3, 5));
    if (ph_chance(r, 0.5f)) {
        L->flags |= LV_PHANTOM_SCAR;
        /* Scar: fibrous, unenhanced on ART, slowly enhancing (hyper on delayed). */
        set4(L->scar, lv[0] - m * ph_uniform(r, 10, 20), lv[0] + ph_uniform(r, 0, 10),
             lv[2] - m * ph_uniform(r, 10, 20), lv[3] + m * ph_uniform(r, 8, 20));
        L->scar_r = ph_uniform(r, 0.12f, 0.22f);
        L->n_nod = 3 + (int)ph_uniform(r, 0.0f, 2.999f);
        for (int j = 0; j < L->n_nod; j++) {
            float a = ph_uniform(r, 0.0f, 2.0f * PH_PI);
            L->nod_c[j] = cosf(a);
            L->nod_s[j] = sinf(a);
            L->nod_w[j] = ph_uniform(r, 0.7f, 1.2f) * ((float)size / 64.0f); /* spoke half-width, px */
        }
    }
}

static void draw_hcc(ph_draw *r, ph_lesion *L, const float *lv, float m, float ka, int atyp, int size) {
    L->het = 7.0f; /* mosaic */
    set4(L->core, lv[0] - m * ph_uniform(r, 5, 15), lv[1] + ka * m * ph_uniform(r, 35, 65),
         lv[2] - m * ph_uniform(r, 12, 28), lv[3] - m * ph_uniform(r, 15, 30));
    if (L->R > 0.2f * (float)size && ph_chance(r, 0.4f)) {
        L->flags |= LV_PHANTOM_NECROSIS;
        L->nec = lv[0] - ph_uniform(r, 15, 25);
        L->nec_r = ph_uniform(r, 0.25f, 0.4f);
    }
    if (atyp) {
        if (ph_chance(r, 0.5f)) { /* no washout: an FNH look-alike */
            L->flags |= LV_PHANTOM_NO_WASHOUT;
            L->core[PH_PV] = lv[2] + ph_uniform(r, -4, 4);
            L->core[PH_DL] = lv[3] + ph_uniform(r, -4, 4);
        } else { /* hypovascular: a metastasis look-alike */
            L->flags |= LV_PHANTOM_HYPOVASCULAR;
            L->core[PH_ART] = lv[1] - m * ph_uniform(r, 5, 15);
        }
        return;
    }
    if (ph_chance(r, 0.8f)) {
        L->flags |= LV_PHANTOM_CAPSULE;
        set4(L->rim, lv[0] - ph_uniform(r, 2, 6), lv[1] - ph_uniform(r, 0, 8), lv[2] + m * ph_uniform(r, 15, 30),
             lv[3] + m * ph_uniform(r, 20, 35));
        L->rim_in = 1.0f - ph_uniform(r, 1.4f, 2.2f) * ((float)size / 64.0f) / L->R;
    }
}

static void draw_hem(ph_draw *r, ph_lesion *L, const ph_patient *P, int atyp, int size) {
    L->het = 3.0f;
    float c0 = P->aorta[PH_NC] - ph_uniform(r, 0, 6); /* unenhanced: like blood, below liver */
    set4(L->core, c0, c0 + ph_uniform(r, 0, 5), c0 + ph_uniform(r, 3, 10), c0 + ph_uniform(r, 5, 12));
    /* Enhanced parts follow the blood pool of each phase. */
    set4(L->rim, c0, ph_uniform(r, 0.8f, 0.95f) * P->aorta[PH_ART], ph_uniform(r, 0.85f, 1.0f) * P->portal[PH_PV],
         ph_uniform(r, 0.85f, 1.0f) * P->aorta[PH_DL]);
    set4(L->fill, 0.0f, 0.0f, ph_uniform(r, 0.4f, 0.7f), ph_uniform(r, 0.75f, 1.0f));
    L->n_nod = 3 + (int)ph_uniform(r, 0.0f, 5.999f);
    for (int j = 0; j < L->n_nod; j++) {
        float a = ph_uniform(r, 0.0f, 2.0f * PH_PI);
        L->nod_c[j] = cosf(a);
        L->nod_s[j] = sinf(a);
        L->nod_w[j] = ph_uniform(r, 0.13f, 0.3f); /* angular half-width, radians */
    }
    if (atyp) { /* sclerosed / slow filling: faint nodules, little fill-in, a METS look-alike */
        L->flags |= LV_PHANTOM_SLOW_FILL;
        for (int k = 1; k < PH_N; k++) L->rim[k] = L->core[k] + 0.55f * (L->rim[k] - L->core[k]);
        set4(L->fill, 0.0f, 0.0f, ph_uniform(r, 0.1f, 0.25f), ph_uniform(r, 0.2f, 0.4f));
        L->n_nod = 2 + (int)ph_uniform(r, 0.0f, 1.999f);
    } else if (L->R < 0.12f * (float)size && ph_chance(r, 0.8f)) {
        L->flags |= LV_PHANTOM_FLASH;
    }
}

static void draw_mets(ph_draw *r, ph_lesion *L, const float *lv, float m, float ka, int atyp, float difficulty) {
    if (ph_chance(r, 0.15f + 0.2f * difficulty)) { /* hypervascular (NET, RCC): an HCC look-alike */
        L->flags |= LV_PHANTOM_HYPERVASCULAR | LV_PHANTOM_ATYPICAL;
        L->het = 7.0f;
        set4(L->core, lv[0] - m * ph_uniform(r, 5, 15), lv[1] + ka * m * ph_uniform(r, 25, 50),
             lv[2] - m * ph_uniform(r, 10, 25), lv[3] - m * ph_uniform(r, 15, 30));
        set4(L->rim, L->core[0], L->core[1] + m * ph_uniform(r, 10, 20), L->core[2] + m * ph_uniform(r, 5, 12),
             L->core[3]);
        L->rim_in = ph_uniform(r, 0.6f, 0.75f);
    } else if (atyp) { /* cystic/necrotic: a cyst look-alike with a thin rim */
        L->flags |= LV_PHANTOM_CYSTIC;
        L->het = 2.0f;
        float c0 = ph_uniform(r, 18, 28);
        set4(L->core, c0, c0 + ph_uniform(r, 0, 4), c0 + ph_uniform(r, 2, 6), c0 + ph_uniform(r, 2, 6));
        set4(L->rim, c0 + ph_uniform(r, 4, 10), L->core[1] + ph_uniform(r, 5, 12), lv[2] - m * ph_uniform(r, 20, 40),
             L->core[3] + ph_uniform(r, 5, 12));
        L->rim_in = ph_uniform(r, 0.8f, 0.88f);
        L->edge = 0.9f;
    } else {
        L->het = 6.0f;
        set4(L->core, lv[0] - m * ph_uniform(r, 10, 20), lv[1] - m * ph_uniform(r, 20, 35),
             lv[2] - m * ph_uniform(r, 40, 60), lv[3] - m * ph_uniform(r, 25, 40));
        /* Viable rim: enhancing on PV, "peripheral washout" on delayed. */
        set4(L->rim, L->core[0] + ph_uniform(r, 0, 4), L->core[1] + m * ph_uniform(r, 8, 18),
             lv[2] + m * ph_uniform(r, 4, 18), lv[3] - m * ph_uniform(r, 5, 15));
        L->rim_in = ph_uniform(r, 0.62f, 0.78f);
    }
}

void ph_draw_lesion(uint64_t seed, int64_t lesion, int cls, int size, int slices, float difficulty,
                    const ph_patient *P, ph_lesion *L) {
    static const float rmin[LV_PHANTOM_NCLASSES] = {0.07f, 0.11f, 0.11f, 0.07f, 0.08f};
    static const float rmax[LV_PHANTOM_NCLASSES] = {0.28f, 0.30f, 0.33f, 0.32f, 0.30f};
    static const float harm[LV_PHANTOM_NCLASSES] = {0.02f, 0.07f, 0.05f, 0.06f, 0.11f};
    static const float edge[LV_PHANTOM_NCLASSES] = {0.45f, 0.9f, 0.9f, 0.8f, 1.3f};
    ph_draw r = {seed, PH_STREAM(PH_S_LESION, lesion), 0};
    memset(L, 0, sizeof *L);
    float S = (float)size, m = 1.25f - 0.5f * difficulty, ka = 1.0f + 0.25f * P->timing;
    L->cls = cls;
    L->segment = 1 + (int)ph_uniform(&r, 0.0f, 7.999f);
    int atyp = ph_chance(&r, 0.04f + 0.36f * difficulty);
    if (atyp) L->flags |= LV_PHANTOM_ATYPICAL;
    L->R = S * ((cls == LV_PHANTOM_CYST && atyp) ? ph_uniform(&r, 0.06f, 0.12f) : ph_uniform(&r, rmin[cls], rmax[cls]));
    L->elong = ph_uniform(&r, 0.0f, 0.22f);
    L->angle = ph_uniform(&r, 0.0f, PH_PI);
    float hsum = 0.0f;
    for (int k = 0; k < 4; k++) {
        float a = ph_uniform(&r, 0.3f, 1.0f) * harm[cls] / (float)(k + 1), ph = ph_uniform(&r, 0.0f, 2.0f * PH_PI);
        L->harm_a[k] = a;
        L->harm_c[k] = cosf(ph);
        L->harm_s[k] = sinf(ph);
        hsum += a;
    }
    float extent = L->R * (1.0f + L->elong) * (1.0f + hsum);
    float room = clampf(0.47f * S - extent, 0.0f, 0.12f * S);
    L->cx = room * ph_uniform(&r, -1.0f, 1.0f);
    L->cy = room * ph_uniform(&r, -1.0f, 1.0f);
    L->drift_x = ph_uniform(&r, -0.6f, 0.6f);
    L->drift_y = ph_uniform(&r, -0.6f, 0.6f);
    L->dz = L->R * ph_uniform(&r, 0.22f, 0.32f) * (slices > 6 ? 6.0f / (float)slices : 1.0f);
    L->edge = edge[cls] * ph_uniform(&r, 0.85f, 1.15f);
    L->rim_in = 1.0f;
    const float *lv = P->liver;
    switch (cls) {
    case LV_PHANTOM_CYST: draw_cyst(&r, L, atyp); break;
    case LV_PHANTOM_FNH: draw_fnh(&r, L, lv, m, ka, atyp, size); break;
    case LV_PHANTOM_HCC: draw_hcc(&r, L, lv, m, ka, atyp, size); break;
    case LV_PHANTOM_HEM: draw_hem(&r, L, P, atyp, size); break;
    default: draw_mets(&r, L, lv, m, ka, atyp, difficulty); break;
    }
    /* Rim values only matter where the class has a rim; elsewhere keep them equal to the core. */
    if (cls == LV_PHANTOM_FNH || (cls == LV_PHANTOM_HCC && !(L->flags & LV_PHANTOM_CAPSULE)))
        memcpy(L->rim, L->core, sizeof L->rim);
    L->n_vessels = 1 + (int)ph_uniform(&r, 0.0f, 2.999f);
    for (int v = 0; v < L->n_vessels; v++) {
        ph_vessel *V = &L->vessels[v];
        V->angle = ph_uniform(&r, 0.0f, PH_PI);
        V->offset = S * ph_uniform(&r, -0.5f, 0.5f);
        V->drift = ph_uniform(&r, -0.8f, 0.8f);
        V->curv = ph_uniform(&r, -0.6f, 0.6f) / S;
        float k = ph_uniform(&r, 0.0f, 1.0f);
        V->kind = k < 0.5f ? 0 : k < 0.8f ? 1 : 2;
        V->sigma = V->kind == 2 ? ph_uniform(&r, 0.5f, 0.8f) : ph_uniform(&r, 1.0f, 2.3f);
    }
    float sc = S / 64.0f; /* pixel-sized features are drawn for 64x64 ROIs and scaled */
    if (ph_chance(&r, 0.2f)) {
        L->flags |= LV_PHANTOM_FAT_EDGE;
        L->fat_angle = ph_uniform(&r, 0.0f, 2.0f * PH_PI);
        L->fat_dist = extent * 1.15f + 4.0f * sc + ph_uniform(&r, 0.0f, 0.3f * S);
    }
    L->edge *= sc;
    L->drift_x *= sc;
    L->drift_y *= sc;
    for (int v = 0; v < L->n_vessels; v++) {
        L->vessels[v].sigma *= sc;
        L->vessels[v].drift *= sc;
    }
}

/* HEM: weight of the enhanced (blood-pool-like) part at (u, direction). */
static float hem_weight(const ph_lesion *L, int phase, float u, float c, float s) {
    if (phase == PH_NC) return 0.0f;
    if (L->flags & LV_PHANTOM_FLASH) return 1.0f;
    float nod = 0.0f;
    for (int j = 0; j < L->n_nod; j++) {
        float cd = c * L->nod_c[j] + s * L->nod_s[j], w = L->nod_w[j];
        float a = expf((cd - 1.0f) / (w * w)); /* ~exp(-angle^2 / 2w^2) */
        nod = a > nod ? a : nod;
    }
    float du = (u - 0.84f) / 0.12f;
    float peripheral = nod * expf(-du * du); /* discontinuous nodules at the periphery */
    if (phase == PH_ART) return peripheral;
    /* Centripetal fill-in: the front advances further where nodules were. */
    float front = 1.0f - L->fill[phase] - 0.12f * nod;
    float wf = smoothstep(front - 0.07f, front + 0.07f, u);
    return wf > peripheral ? wf : peripheral;
}

/* FNH: weight of the stellate central scar (a centre plus radial spokes). */
static float scar_weight(const ph_lesion *L, float u, float c, float s) {
    float t = u / L->scar_r, w = expf(-t * t);
    float taper = 1.0f - smoothstep(0.55f, 0.85f, u);
    for (int j = 0; j < L->n_nod; j++) {
        float cd = c * L->nod_c[j] + s * L->nod_s[j];
        if (cd <= 0.0f) continue;
        float perp = u * L->R * sqrtf(fmaxf(0.0f, 1.0f - cd * cd)) / L->nod_w[j];
        float a = expf(-perp * perp) * taper;
        w = a > w ? a : w;
    }
    return w;
}

float ph_lesion_value(const ph_lesion *L, int phase, float u, float c, float s, float tex) {
    float v = L->core[phase] + L->het * tex, w;
    switch (L->cls) {
    case LV_PHANTOM_FNH:
        if (L->flags & LV_PHANTOM_SCAR) v += scar_weight(L, u, c, s) * (L->scar[phase] - v);
        return v;
    case LV_PHANTOM_HCC:
        if (L->flags & LV_PHANTOM_NECROSIS) {
            w = 1.0f - smoothstep(L->nec_r - 0.08f, L->nec_r + 0.08f, u);
            v += w * (L->nec - v);
        }
        if (L->flags & LV_PHANTOM_CAPSULE) {
            w = smoothstep(L->rim_in - 0.05f, L->rim_in + 0.02f, u);
            v += w * (L->rim[phase] - v);
        }
        return v;
    case LV_PHANTOM_HEM:
        return v + hem_weight(L, phase, u, c, s) * (L->rim[phase] - L->core[phase]);
    case LV_PHANTOM_METS:
        w = smoothstep(L->rim_in - 0.1f, L->rim_in + 0.1f, u);
        return v + w * (L->rim[phase] - L->core[phase]);
    default:
        return v;
    }
}
