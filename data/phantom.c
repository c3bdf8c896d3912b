/* lv_phantom_generate: lays out classes, patients, lesions and slices, then renders each
 * lesion's neighbouring cuts (parallel over lesions) into an in-memory lv_dataset. Knows
 * no file format; the radiology lives in phantom_lesion.c. No draw depends on the thread
 * that makes it, so the bytes are the same on any thread count. */
#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "core/log.h"
#include "core/rng.h"
#include "data/phantom_model.h"

const char *const lv_phantom_class_names[LV_PHANTOM_NCLASSES] = {"CYST", "FNH", "HCC", "HEM", "METS"};
const char *const lv_phantom_phase_names[LV_PHANTOM_NPHASES] = {"NC", "ART", "PV", "DL"};

void lv_phantom_opts_default(lv_phantom_opts *o) {
    memset(o, 0, sizeof *o);
    o->per_class = 100;
    o->size = 64;
    o->p = 3;
    for (int i = 0; i < 3; i++) o->phases[i] = lv_phantom_phase_names[i];
    o->seed = 1;
    o->difficulty = 0.5f;
    o->noise_hu = 10.0f;
    o->slices_per_lesion = 3;
    o->lesions_per_patient = 3;
}

static int phase_code(const char *name) {
    for (int i = 0; i < LV_PHANTOM_NPHASES; i++) {
        const char *a = lv_phantom_phase_names[i], *b = name;
        while (*a && *b && toupper((unsigned char)*b) == *a) a++, b++;
        if (!*a && !*b) return i;
    }
    return -1;
}

lv_status lv_phantom_set_phases(lv_phantom_opts *o, const char *csv) {
    LV_CHECK(csv && *csv, LV_ERR_USAGE, "expected a comma list of phases among NC, ART, PV, DL, got ''");
    int p = 0;
    const char *at = csv;
    while (1) {
        size_t len = strcspn(at, ",");
        char name[16];
        LV_CHECK(len >= 1 && len < sizeof name, LV_ERR_USAGE,
                 "'%s': expected phase names among NC, ART, PV, DL separated by commas", csv);
        memcpy(name, at, len);
        name[len] = '\0';
        int code = phase_code(name);
        LV_CHECK(code >= 0, LV_ERR_USAGE, "unknown phase '%s' (known: NC, ART, PV, DL)", name);
        for (int i = 0; i < p; i++)
            LV_CHECK(o->phases[i] != lv_phantom_phase_names[code], LV_ERR_USAGE, "phase '%s' given twice",
                     name);
        LV_CHECK(p < LV_PHANTOM_NPHASES, LV_ERR_USAGE, "'%s': at most %d phases", csv, LV_PHANTOM_NPHASES);
        o->phases[p++] = lv_phantom_phase_names[code];
        if (at[len] == '\0') break;
        at += len + 1;
    }
    o->p = p;
    return LV_OK;
}

static lv_status validate(const lv_phantom_opts *o, int *codes) {
    LV_CHECK(o->per_class >= 1 && o->per_class <= 1000000, LV_ERR_USAGE,
             "phantom: per_class %d: expected 1..1000000", o->per_class);
    LV_CHECK(o->size >= 16 && o->size <= 1024, LV_ERR_USAGE, "phantom: size %d: expected 16..1024", o->size);
    LV_CHECK(o->p >= 1 && o->p <= LV_PHANTOM_NPHASES, LV_ERR_USAGE, "phantom: %d phases: expected 1..%d", o->p,
             LV_PHANTOM_NPHASES);
    for (int i = 0; i < o->p; i++) {
        codes[i] = o->phases[i] ? phase_code(o->phases[i]) : -1;
        LV_CHECK(codes[i] >= 0, LV_ERR_USAGE, "phantom: unknown phase '%s' (known: NC, ART, PV, DL)",
                 o->phases[i] ? o->phases[i] : "(null)");
        for (int j = 0; j < i; j++)
            LV_CHECK(codes[j] != codes[i], LV_ERR_USAGE, "phantom: phase '%s' given twice", o->phases[i]);
    }
    LV_CHECK(o->difficulty >= 0.0f && o->difficulty <= 1.0f, LV_ERR_USAGE,
             "phantom: difficulty %g: expected 0..1", (double)o->difficulty);
    LV_CHECK(o->noise_hu >= 0.0f && o->noise_hu <= 200.0f, LV_ERR_USAGE, "phantom: noise %g HU: expected 0..200",
             (double)o->noise_hu);
    LV_CHECK(o->slices_per_lesion >= 1 && o->slices_per_lesion <= 32, LV_ERR_USAGE,
             "phantom: slices per lesion %d: expected 1..32", o->slices_per_lesion);
    LV_CHECK(o->lesions_per_patient >= 1 && o->lesions_per_patient <= 3, LV_ERR_USAGE,
             "phantom: lesions per patient %d: expected 1..3", o->lesions_per_patient);
    return LV_OK;
}

/* Which class, patient and samples each lesion gets. Classes are contiguous; a patient
 * holds 1..lesions_per_patient lesions of one class (one disease per patient), and a
 * lesion K neighbouring slices (the last of a class fewer when per_class % K != 0). */
typedef struct ph_layout {
    int64_t n_lesions;
    int32_t *cls, *patient, *slices;
    int64_t *first;
    int n_patients;
} ph_layout;

static void layout_free(ph_layout *l) {
    free(l->cls);
    free(l->patient);
    free(l->slices);
    free(l->first);
}

static lv_status layout_make(const lv_phantom_opts *o, ph_layout *l) {
    memset(l, 0, sizeof *l);
    int K = o->slices_per_lesion;
    int64_t per_lesions = (o->per_class + K - 1) / K, cap = per_lesions * LV_PHANTOM_NCLASSES;
    l->cls = malloc((size_t)cap * sizeof *l->cls);
    l->patient = malloc((size_t)cap * sizeof *l->patient);
    l->slices = malloc((size_t)cap * sizeof *l->slices);
    l->first = malloc((size_t)cap * sizeof *l->first);
    if (!l->cls || !l->patient || !l->slices || !l->first) {
        layout_free(l);
        return lv_errorf(LV_ERR_RUNTIME, "phantom: out of memory for %" PRId64 " lesions", cap);
    }
    int64_t sample = 0;
    int patient = -1;
    for (int c = 0; c < LV_PHANTOM_NCLASSES; c++) {
        int left = 0, remaining = o->per_class;
        while (remaining > 0) {
            if (left == 0) {
                patient++;
                left = 1 + (int)(lv_rng_u32(o->seed, PH_STREAM(PH_S_LAYOUT, 0), (uint64_t)patient) %
                                 (uint32_t)o->lesions_per_patient);
            }
            int64_t i = l->n_lesions++;
            l->cls[i] = c;
            l->patient[i] = patient;
            l->slices[i] = remaining < K ? remaining : K;
            l->first[i] = sample;
            sample += l->slices[i];
            remaining -= l->slices[i];
            left--;
        }
    }
    l->n_patients = patient + 1;
    return LV_OK;
}

typedef struct ph_ctx {
    const lv_phantom_opts *o;
    int codes[LV_MAX_PHASES];
    int S;
} ph_ctx;

/* Per-thread scratch: lesion-level fields (shared by the lesion's cuts), the slice field,
 * one noise field per phase, and blur scratch. */
typedef struct ph_scratch {
    float *a_fine, *a_coarse, *a_het, *b_fine, *tmp, *noise[PH_N];
    float *block;
} ph_scratch;

static int scratch_alloc(ph_scratch *w, int S) {
    size_t nn = (size_t)S * (size_t)S;
    memset(w, 0, sizeof *w);
    w->block = malloc(nn * (5 + PH_N) * sizeof(float));
    if (!w->block) return 0;
    float *b = w->block;
    w->a_fine = b;
    w->a_coarse = b + nn;
    w->a_het = b + 2 * nn;
    w->b_fine = b + 3 * nn;
    w->tmp = b + 4 * nn;
    for (int k = 0; k < PH_N; k++) w->noise[k] = b + (5 + (size_t)k) * nn;
    return 1;
}

static float sigmoidf(float x) { return x > 30.0f ? 1.0f : x < -30.0f ? 0.0f : 1.0f / (1.0f + expf(-x)); }

static float vessel_value(const ph_patient *P, int kind, int c) {
    return kind == 0 ? P->portal[c] : kind == 1 ? P->hepvein[c] : P->aorta[c];
}

/* Renders cut k of K of lesion L into dst ([p,S,S] int16) and its region map. */
static void render_slice(const ph_ctx *g, const ph_patient *P, const ph_lesion *L, int k, int K, int64_t sample,
                         ph_scratch *w, int16_t *dst, uint8_t *regions, lv_phantom_sample_truth *t) {
    const lv_phantom_opts *o = g->o;
    int S = g->S;
    size_t nn = (size_t)S * (size_t)S;
    float sc = (float)S / 64.0f, half = 0.5f * (float)(S - 1), off = (float)k - 0.5f * (float)(K - 1);
    float z = off * L->dz, r = sqrtf(fmaxf(L->R * L->R - z * z, 0.1225f * L->R * L->R));
    float cx = L->cx + off * L->drift_x, cy = L->cy + off * L->drift_y;
    ph_field(o->seed, PH_STREAM(PH_S_SFIELD, sample), S, (int)lroundf(fmaxf(1.0f, sc)), w->b_fine, w->tmp);
    for (int j = 0; j < o->p; j++)
        ph_field(o->seed, PH_STREAM(PH_S_NOISE, (uint64_t)sample * PH_N + (uint64_t)g->codes[j]), S, -1,
                 w->noise[g->codes[j]], w->tmp);
    float ca = cosf(L->angle), sa = sinf(L->angle), ex = 1.0f / (1.0f + L->elong), ey = 1.0f / (1.0f - L->elong);
    float vc[PH_MAX_VESSELS], vs[PH_MAX_VESSELS], voff[PH_MAX_VESSELS];
    for (int v = 0; v < L->n_vessels; v++) {
        vc[v] = cosf(L->vessels[v].angle);
        vs[v] = sinf(L->vessels[v].angle);
        voff[v] = L->vessels[v].offset + off * L->vessels[v].drift;
    }
    float fc = cosf(L->fat_angle), fs = sinf(L->fat_angle);
    int fat = (L->flags & LV_PHANTOM_FAT_EDGE) != 0;
    float texs[PH_N];
    for (int c = 0; c < PH_N; c++) texs[c] = 1.0f + 0.004f * (P->liver[c] - P->liver[PH_NC]);
    for (int y = 0; y < S; y++) {
        for (int x = 0; x < S; x++) {
            size_t i = (size_t)y * S + x;
            float X = (float)x - half, Y = (float)y - half, dx = X - cx, dy = Y - cy;
            float xr = (dx * ca + dy * sa) * ex, yr = (-dx * sa + dy * ca) * ey;
            float rho = sqrtf(xr * xr + yr * yr), c = 1.0f, s = 0.0f;
            if (rho > 1e-6f) c = xr / rho, s = yr / rho;
            /* Border harmonics k = 2..5 by complex powers of (c, s). */
            float zc = c * c - s * s, zs = 2.0f * c * s, rphi = 1.0f;
            for (int h = 0; h < 4; h++) {
                rphi += L->harm_a[h] * (zc * L->harm_c[h] - zs * L->harm_s[h]);
                float nc = zc * c - zs * s;
                zs = zc * s + zs * c;
                zc = nc;
            }
            float rb = r * rphi, u = rho / rb;
            float m = sigmoidf(-(u - 1.0f) * rb / L->edge); /* partial volume at the border */
            float tex = P->tex_fine * (0.6f * w->a_fine[i] + 0.8f * w->b_fine[i]) + P->tex_coarse * w->a_coarse[i];
            float wf = fat ? sigmoidf((dx * fc + dy * fs - L->fat_dist) / (0.8f * sc)) : 0.0f;
            float vw[PH_MAX_VESSELS], W = 0.0f;
            for (int v = 0; v < L->n_vessels; v++) {
                const ph_vessel *V = &L->vessels[v];
                float along = X * vc[v] + Y * vs[v], d = -X * vs[v] + Y * vc[v] - voff[v] - V->curv * along * along;
                /* displaced by the lesion, absent outside the liver */
                vw[v] = expf(-0.5f * d * d / (V->sigma * V->sigma)) * (1.0f - m) * (1.0f - wf);
                W += vw[v];
            }
            if (W > 1.0f) {
                for (int v = 0; v < L->n_vessels; v++) vw[v] /= W;
                W = 1.0f;
            }
            float uu = u < 1.0f ? u : 1.0f;
            for (int j = 0; j < o->p; j++) {
                int ph = g->codes[j];
                float bg = P->liver[ph] + tex * texs[ph];
                float vsum = 0.0f;
                for (int v = 0; v < L->n_vessels; v++) vsum += vw[v] * vessel_value(P, L->vessels[v].kind, ph);
                bg = bg * (1.0f - W) + vsum;
                bg += wf * (-95.0f + 6.0f * w->b_fine[i] - bg);
                float lv = ph_lesion_value(L, ph, uu, c, s, w->a_het[i]);
                float hu = bg + m * (lv - bg) + o->noise_hu * w->noise[ph][i];
                hu = hu < -1024.0f ? -1024.0f : hu > 3071.0f ? 3071.0f : hu;
                dst[(size_t)j * nn + i] = (int16_t)lrintf(hu);
            }
            if (regions) {
                uint8_t reg = u < 0.5f    ? LV_PHANTOM_R_CORE
                              : u < 0.85f ? LV_PHANTOM_R_PERIPH
                              : u < 1.0f  ? LV_PHANTOM_R_EDGE
                              : u < 1.6f  ? LV_PHANTOM_R_BORDER
                              : wf > 0.02f ? LV_PHANTOM_R_FAT
                              : W > 0.1f  ? LV_PHANTOM_R_VESSEL
                                          : LV_PHANTOM_R_LIVER;
                regions[i] = reg;
            }
        }
    }
    if (t) {
        t->cx = half + cx;
        t->cy = half + cy;
        t->radius = r;
        t->radius3d = L->R;
        t->slice = k;
        t->flags = L->flags;
    }
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void lv_phantom_truth_free(lv_phantom_truth *t) {
    if (!t) return;
    free(t->samples);
    free(t->regions);
    memset(t, 0, sizeof *t);
}

/* Fills labels, lesions, patients and per-sample pixels/reports; returns 0 when any
 * allocation inside the parallel loop failed (messages are thread-local, so the caller
 * reports it). */
static int render_all(const ph_ctx *g, const ph_layout *lay, lv_dataset *ds, int64_t *pids,
                      lv_phantom_truth *truth) {
    const lv_phantom_opts *o = g->o;
    int S = g->S, has_dl = 0, failed = 0;
    for (int j = 0; j < o->p; j++) has_dl |= g->codes[j] == PH_DL;
    size_t nn = (size_t)S * (size_t)S, per = (size_t)o->p * nn;
    int64_t done = 0;
    double t0 = now_s(), last = t0;
#pragma omp parallel reduction(| : failed)
    {
        ph_scratch w;
        int ok = scratch_alloc(&w, S);
        if (!ok) failed = 1;
#pragma omp for schedule(dynamic, 4)
        for (int64_t l = 0; l < lay->n_lesions; l++) {
            if (!ok) continue;
            ph_patient P;
            ph_lesion L;
            ph_draw_patient(o->seed, lay->patient[l], o->difficulty, &P);
            ph_draw_lesion(o->seed, l, lay->cls[l], S, o->slices_per_lesion, o->difficulty, &P, &L);
            int rf = (int)lroundf(fmaxf(1.0f, (float)S / 64.0f));
            ph_field(o->seed, PH_STREAM(PH_S_LFIELD, (uint64_t)l * 3), S, rf, w.a_fine, w.tmp);
            ph_field(o->seed, PH_STREAM(PH_S_LFIELD, (uint64_t)l * 3 + 1), S, 5 * rf, w.a_coarse, w.tmp);
            ph_field(o->seed, PH_STREAM(PH_S_LFIELD, (uint64_t)l * 3 + 2), S, 2 * rf, w.a_het, w.tmp);
            char *report = ph_report(&L, S, has_dl);
            if (!report) failed = 1;
            for (int k = 0; k < lay->slices[l]; k++) {
                int64_t i = lay->first[l] + k;
                ds->labels[i] = lay->cls[l];
                ds->lesions[i] = (int32_t)l;
                pids[i] = lay->patient[l] + 1;
                ds->reports[i] = report ? strdup(report) : NULL;
                if (!ds->reports[i]) failed = 1;
                render_slice(g, &P, &L, k, lay->slices[l], i, &w, (int16_t *)ds->images + (size_t)i * per,
                             truth ? truth->regions + (size_t)i * nn : NULL, truth ? &truth->samples[i] : NULL);
            }
            free(report);
            if (o->progress) {
                int64_t d;
#pragma omp atomic capture
                d = done += lay->slices[l];
#ifdef _OPENMP
                if (omp_get_thread_num() == 0)
#endif
                {
                    double now = now_s();
                    if (now - last >= 2.0) {
                        last = now;
                        LV_INFO("synth: %" PRId64 "/%" PRId64 " samples (%.1f/s)", d, ds->n, (double)d / (now - t0));
                    }
                }
            }
        }
        free(w.block);
    }
    return !failed;
}

lv_status lv_phantom_generate(lv_dataset *out, const lv_phantom_opts *o, lv_phantom_truth *truth) {
    LV_CHECK(out && o, LV_ERR_RUNTIME, "phantom: no dataset or no options");
    ph_ctx g;
    memset(&g, 0, sizeof g);
    g.o = o;
    g.S = o->size;
    LV_TRY(validate(o, g.codes));
    ph_layout lay;
    LV_TRY(layout_make(o, &lay));
    int64_t n = (int64_t)o->per_class * LV_PHANTOM_NCLASSES;
    lv_dataset_init(out);
    if (truth) memset(truth, 0, sizeof *truth);
    int64_t *pids = NULL;
    lv_status st = lv_dataset_alloc(out, n, o->p, o->size, o->size, LV_PIX_I16);
    if (st == LV_OK)
        st = lv_dataset_set_names(out, (const char *const *)lv_phantom_class_names, LV_PHANTOM_NCLASSES,
                                  (const char *const *)o->phases, o->p);
    if (st == LV_OK) {
        out->path = strdup("phantom");
        out->lesions = malloc((size_t)n * sizeof *out->lesions);
        out->reports = calloc((size_t)n, sizeof *out->reports);
        pids = malloc((size_t)n * sizeof *pids);
        if (truth) {
            truth->n = n;
            truth->h = truth->w = o->size;
            truth->samples = calloc((size_t)n, sizeof *truth->samples);
            truth->regions = malloc((size_t)n * (size_t)o->size * (size_t)o->size);
        }
        if (!out->path || !out->lesions || !out->reports || !pids ||
            (truth && (!truth->samples || !truth->regions)))
            st = lv_errorf(LV_ERR_RUNTIME, "phantom: out of memory for %" PRId64 " samples", n);
    }
    if (st == LV_OK && !render_all(&g, &lay, out, pids, truth))
        st = lv_errorf(LV_ERR_RUNTIME, "phantom: out of memory while rendering %" PRId64 " samples", n);
    if (st == LV_OK) st = lv_dataset_set_patients_int(out, pids);
    free(pids);
    layout_free(&lay);
    if (st != LV_OK) {
        lv_dataset_free(out);
        lv_phantom_truth_free(truth);
    }
    return st;
}
