/* Phantom generator, in memory (no HDF5): option checks, determinism across seeds and
 * thread counts, dataset bookkeeping (labels, patients, lesions, neighbouring cuts,
 * reports), and the radiology measured from the generated pixels inside the known lesion
 * regions (docs/phantom.md). LV_TEST_SANITIZE */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "data/phantom.h"
#include "harness.h"

enum { NC = 0, ART, PV, DL };

/* Per-sample region statistics, phase order NC ART PV DL. */
typedef struct stats {
    double core[4], periph[4], edge[4], liver[4];
    double centre[4]; /* within max(1.5 px, 0.12 r) of the true centre */
    int n_core, n_liver;
} stats;

static int cmp_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

static void measure(const lv_dataset *ds, const lv_phantom_truth *t, int64_t i, stats *s, float *buf) {
    size_t nn = (size_t)ds->h * ds->w;
    const int16_t *img = (const int16_t *)ds->images + (size_t)i * ds->p * nn;
    const uint8_t *reg = t->regions + (size_t)i * nn;
    const lv_phantom_sample_truth *st = &t->samples[i];
    float rc = fmaxf(1.5f, 0.12f * st->radius);
    memset(s, 0, sizeof *s);
    for (int p = 0; p < ds->p; p++) {
        double sc = 0, sp = 0, se = 0, sm = 0;
        int nc = 0, np = 0, ne = 0, nl = 0, nm = 0;
        for (size_t k = 0; k < nn; k++) {
            float v = img[(size_t)p * nn + k];
            float dx = (float)(k % ds->w) - st->cx, dy = (float)(k / ds->w) - st->cy;
            if (dx * dx + dy * dy <= rc * rc) sm += v, nm++;
            switch (reg[k]) {
            case LV_PHANTOM_R_CORE: sc += v, nc++; break;
            case LV_PHANTOM_R_PERIPH: sp += v, np++; break;
            case LV_PHANTOM_R_EDGE: se += v, ne++; break;
            case LV_PHANTOM_R_LIVER: buf[nl++] = v; break;
            default: break;
            }
        }
        qsort(buf, (size_t)nl, sizeof *buf, cmp_float);
        s->core[p] = nc ? sc / nc : NAN;
        s->periph[p] = np ? sp / np : NAN;
        s->edge[p] = ne ? se / ne : NAN;
        s->centre[p] = nm ? sm / nm : NAN;
        s->liver[p] = nl ? buf[nl / 2] : NAN;
        s->n_core = nc;
        s->n_liver = nl;
    }
}

static lv_status gen(lv_dataset *ds, lv_phantom_truth *t, int per_class, const char *phases, uint64_t seed,
                     float difficulty, float noise) {
    lv_phantom_opts o;
    lv_phantom_opts_default(&o);
    o.per_class = per_class;
    o.seed = seed;
    o.difficulty = difficulty;
    o.noise_hu = noise;
    LV_TRY(lv_phantom_set_phases(&o, phases));
    return lv_phantom_generate(ds, &o, t);
}

static void test_options(void) {
    lv_phantom_opts o;
    lv_phantom_opts_default(&o);
    lv_test_true(lv_phantom_set_phases(&o, "nc,Art,PV,DL") == LV_OK && o.p == 4 && !strcmp(o.phases[1], "ART"),
                 "phase names are case-insensitive and stored canonical");
    lv_test_true(lv_phantom_set_phases(&o, "NC,XX") == LV_ERR_USAGE && strstr(lv_error_message(), "'XX'"),
                 "unknown phase is a usage error naming it");
    lv_test_true(lv_phantom_set_phases(&o, "NC,NC") == LV_ERR_USAGE && strstr(lv_error_message(), "twice"),
                 "repeated phase is a usage error");
    lv_test_true(lv_phantom_set_phases(&o, "NC,,PV") == LV_ERR_USAGE, "empty phase name rejected");
    lv_dataset ds;
    lv_dataset_init(&ds);
    lv_phantom_opts_default(&o);
    o.per_class = 0;
    lv_test_true(lv_phantom_generate(&ds, &o, NULL) == LV_ERR_USAGE && strstr(lv_error_message(), "per_class"),
                 "per_class 0 rejected");
    lv_phantom_opts_default(&o);
    o.difficulty = 1.5f;
    lv_test_true(lv_phantom_generate(&ds, &o, NULL) == LV_ERR_USAGE && strstr(lv_error_message(), "difficulty"),
                 "difficulty outside 0..1 rejected");
    lv_phantom_opts_default(&o);
    o.phases[2] = "XR";
    lv_test_true(lv_phantom_generate(&ds, &o, NULL) == LV_ERR_USAGE && strstr(lv_error_message(), "XR"),
                 "unknown phase set directly is rejected by the generator");
    lv_phantom_opts_default(&o);
    o.size = 8;
    lv_test_true(lv_phantom_generate(&ds, &o, NULL) == LV_ERR_USAGE, "size 8 rejected");
}

static int same_bytes(const lv_dataset *a, const lv_dataset *b) {
    if (a->n != b->n || a->p != b->p || a->h != b->h) return 0;
    if (memcmp(a->images, b->images, (size_t)a->n * lv_dataset_sample_bytes(a))) return 0;
    for (int64_t i = 0; i < a->n; i++)
        if (a->labels[i] != b->labels[i] || a->patients[i] != b->patients[i] || a->lesions[i] != b->lesions[i] ||
            strcmp(a->reports[i], b->reports[i]))
            return 0;
    return 1;
}

static void test_determinism(void) {
    lv_dataset a, b, c, d;
#ifdef _OPENMP
    int saved = omp_get_max_threads();
    omp_set_num_threads(1);
#endif
    lv_status s1 = gen(&a, NULL, 40, "NC,ART,PV", 7, 0.5f, 10.0f);
#ifdef _OPENMP
    omp_set_num_threads(2);
#endif
    lv_status s2 = gen(&b, NULL, 40, "NC,ART,PV", 7, 0.5f, 10.0f);
#ifdef _OPENMP
    omp_set_num_threads(saved);
#endif
    lv_status s3 = gen(&c, NULL, 40, "NC,ART,PV", 8, 0.5f, 10.0f);
    lv_status s4 = gen(&d, NULL, 40, "NC,ART,PV,DL", 7, 0.5f, 10.0f);
    if (!lv_test_true(s1 == LV_OK && s2 == LV_OK && s3 == LV_OK && s4 == LV_OK, "determinism runs generate"))
        return;
    lv_test_true(same_bytes(&a, &b), "same seed: identical pixels, labels, ids and reports on 1 and 2 threads");
    lv_test_true(memcmp(a.images, c.images, (size_t)a.n * lv_dataset_sample_bytes(&a)) != 0,
                 "a different seed gives different pixels");
    /* Each phase has its own noise stream, so adding DL leaves NC/ART/PV untouched. */
    size_t plane = (size_t)a.h * a.w;
    int same = 1;
    for (int64_t i = 0; i < a.n; i++)
        same &= !memcmp((int16_t *)a.images + (size_t)i * 3 * plane, (int16_t *)d.images + (size_t)i * 4 * plane,
                        3 * plane * sizeof(int16_t));
    lv_test_true(same, "asking for DL too leaves the NC, ART and PV channels byte-identical");
    lv_dataset_free(&a);
    lv_dataset_free(&b);
    lv_dataset_free(&c);
    lv_dataset_free(&d);
}

static void test_bookkeeping(void) {
    lv_phantom_opts o;
    lv_phantom_opts_default(&o);
    o.per_class = 31; /* not a multiple of the 3 slices per lesion */
    o.lesions_per_patient = 2;
    lv_dataset ds;
    lv_phantom_truth t;
    if (!lv_test_true(lv_phantom_generate(&ds, &o, &t) == LV_OK, "bookkeeping run generates")) return;
    lv_test_true(ds.n == 155 && ds.p == 3 && ds.h == 64 && ds.w == 64 && ds.c == 5 && ds.pixel == LV_PIX_I16 &&
                     ds.hu == 1 && ds.split == NULL,
                 "shape [155,3,64,64] int16 HU, 5 classes, no split");
    lv_test_true(!strcmp(ds.classes[0], "CYST") && !strcmp(ds.classes[1], "FNH") && !strcmp(ds.classes[2], "HCC") &&
                     !strcmp(ds.classes[3], "HEM") && !strcmp(ds.classes[4], "METS"),
                 "class names in order CYST FNH HCC HEM METS");
    lv_test_true(!strcmp(ds.phases[0], "NC") && !strcmp(ds.phases[1], "ART") && !strcmp(ds.phases[2], "PV"),
                 "phase names NC ART PV");
    int count[5] = {0}, ok_lab = 1, ok_rep = 1, ok_les = 1, ok_cut = 1;
    for (int64_t i = 0; i < ds.n; i++) {
        if (ds.labels[i] < 0 || ds.labels[i] > 4) ok_lab = 0;
        else count[ds.labels[i]]++;
        if (!ds.reports || !ds.reports[i] || strlen(ds.reports[i]) < 30 || strstr(ds.reports[i], "HCC") ||
            strstr(ds.reports[i], "hemangioma"))
            ok_rep = 0;
        if (i > 0 && ds.lesions[i] == ds.lesions[i - 1]) {
            /* cuts of one lesion: same patient, class and report, consecutive slice index */
            if (ds.patients[i] != ds.patients[i - 1] || ds.labels[i] != ds.labels[i - 1] ||
                strcmp(ds.reports[i], ds.reports[i - 1]) || t.samples[i].slice != t.samples[i - 1].slice + 1)
                ok_les = 0;
        } else if (t.samples[i].slice != 0) {
            ok_les = 0;
        }
        if (t.samples[i].radius > t.samples[i].radius3d + 1e-3f) ok_cut = 0;
    }
    lv_test_true(ok_lab && count[0] == 31 && count[1] == 31 && count[2] == 31 && count[3] == 31 && count[4] == 31,
                 "labels balanced: 31 per class");
    lv_test_true(ok_rep, "every sample has a findings report (no class name in it)");
    lv_test_true(ok_les, "cuts of one lesion are consecutive and share patient, class and report");
    lv_test_true(ok_cut, "in-plane radius never exceeds the 3-D radius");
    /* Middle cut of a full 3-cut lesion is the widest (a sphere's sections). */
    int mid_widest = 1, lesions = 0;
    for (int64_t i = 0; i + 2 < ds.n; i++)
        if (t.samples[i].slice == 0 && ds.lesions[i + 2] == ds.lesions[i]) {
            lesions++;
            mid_widest &= t.samples[i + 1].radius > t.samples[i].radius && t.samples[i + 1].radius > t.samples[i + 2].radius;
        }
    lv_test_true(lesions >= 45 && mid_widest, "the middle of three neighbouring cuts is the widest section");
    /* Patients: one class each, at most 2 lesions, and more than one patient per class. */
    int ok_pat = 1;
    int *pl = calloc((size_t)ds.n_patients, sizeof *pl), *pc = malloc((size_t)ds.n_patients * sizeof *pc);
    for (int k = 0; k < ds.n_patients; k++) pc[k] = -1;
    for (int64_t i = 0; i < ds.n; i++) {
        int p = ds.patients[i];
        if (pc[p] >= 0 && pc[p] != ds.labels[i]) ok_pat = 0;
        pc[p] = ds.labels[i];
        if (i == 0 || ds.lesions[i] != ds.lesions[i - 1]) pl[p]++;
    }
    for (int k = 0; k < ds.n_patients; k++) ok_pat &= pl[k] >= 1 && pl[k] <= 2;
    lv_test_true(ok_pat && ds.n_patients >= 30 && ds.n_patients < 55,
                 "patients hold 1..2 lesions of one class (about 1.5 per patient)");
    free(pl);
    free(pc);
    /* Adjacent cuts of one lesion look alike; different lesions do not. */
    size_t plane = 64 * 64;
    double d_adj = 0, d_far = 0;
    int n_adj = 0, n_far = 0;
    for (int64_t i = 1; i < ds.n; i++) {
        const int16_t *a = (const int16_t *)ds.images + (size_t)(i - 1) * 3 * plane, *b = a + 3 * plane;
        double d = 0;
        for (size_t k = 0; k < plane; k++) d += fabs((double)a[k] - b[k]);
        d /= (double)plane;
        if (ds.lesions[i] == ds.lesions[i - 1]) d_adj += d, n_adj++;
        else d_far += d, n_far++;
    }
    d_adj /= n_adj;
    d_far /= n_far;
    printf("mean |NC difference|: neighbouring cuts %.1f HU, different lesions %.1f HU\n", d_adj, d_far);
    lv_test_true(d_adj < 0.8 * d_far, "neighbouring cuts of a lesion are more alike than different lesions");
    lv_phantom_truth_free(&t);
    lv_dataset_free(&ds);
}

/* Means of a per-sample quantity over samples of class c passing the flag filter. */
typedef struct acc {
    double s;
    int n;
} acc;
static void add(acc *a, double v) {
    if (!isnan(v)) a->s += v, a->n++;
}
static double mean(const acc *a) { return a->n ? a->s / a->n : NAN; }

/* Nearest class centroid on standardised per-sample features (lesion-liver per phase,
 * rim-core on ART and PV), fit on even lesions, scored on odd ones: the classes must be
 * separable from the pixels, yet overlap (not trivially 100%). */
#define NF 5
static double centroid_accuracy(const lv_dataset *ds, const double *feat, const int *valid) {
    double cen[5][NF] = {{0}}, mu[NF] = {0}, sd[NF] = {0};
    int cnt[5] = {0}, nt = 0;
    for (int64_t i = 0; i < ds->n; i++)
        if (valid[i] && ds->lesions[i] % 2 == 0) {
            for (int f = 0; f < NF; f++) cen[ds->labels[i]][f] += feat[i * NF + f], mu[f] += feat[i * NF + f];
            cnt[ds->labels[i]]++;
            nt++;
        }
    for (int f = 0; f < NF; f++) mu[f] /= nt;
    for (int64_t i = 0; i < ds->n; i++)
        if (valid[i] && ds->lesions[i] % 2 == 0)
            for (int f = 0; f < NF; f++) sd[f] += (feat[i * NF + f] - mu[f]) * (feat[i * NF + f] - mu[f]);
    for (int f = 0; f < NF; f++) sd[f] = sqrt(sd[f] / nt) + 1e-6;
    for (int c = 0; c < 5; c++)
        for (int f = 0; f < NF; f++) cen[c][f] /= cnt[c] ? cnt[c] : 1;
    int right = 0, total = 0;
    for (int64_t i = 0; i < ds->n; i++) {
        if (!valid[i] || ds->lesions[i] % 2 == 0) continue;
        int best = 0;
        double bd = 1e300;
        for (int c = 0; c < 5; c++) {
            double d = 0;
            for (int f = 0; f < NF; f++) {
                double z = (feat[i * NF + f] - cen[c][f]) / sd[f];
                d += z * z;
            }
            if (d < bd) bd = d, best = c;
        }
        right += best == ds->labels[i];
        total++;
    }
    return total ? (double)right / total : 0.0;
}

static void test_radiology(void) {
    lv_dataset ds;
    lv_phantom_truth t;
    clock_t c0 = clock();
    if (!lv_test_true(gen(&ds, &t, 150, "NC,ART,PV,DL", 3, 0.5f, 10.0f) == LV_OK, "radiology run generates"))
        return;
    printf("generated 750 samples 64x64x4 in %.2f s CPU\n", (double)(clock() - c0) / CLOCKS_PER_SEC);
    float *buf = malloc(64 * 64 * sizeof *buf);
    acc liv_art = {0}, liv_pv = {0}, liv_dl = {0}, liv_nc = {0}, enh[5] = {{0}}, cyst_pv = {0};
    acc hcc_wash = {0}, hcc_cap = {0}, hem_rim = {0}, hem_fill = {0}, fnh_pv = {0}, mets_rim = {0}, mets_hypo = {0};
    acc scar_art = {0}, noscar_art = {0}, scar_dl = {0}, scar_frac = {0}, atyp_frac = {0};
    int cyst_max_ok = 1, hcc_n = 0, hcc_washed = 0;
    double *feat = calloc((size_t)ds.n * NF, sizeof *feat);
    int *valid = calloc((size_t)ds.n, sizeof *valid);
    double cyst_max = -1e9;
    for (int64_t i = 0; i < ds.n; i++) {
        stats s;
        measure(&ds, &t, i, &s, buf);
        int c = ds.labels[i], f = t.samples[i].flags, typ = !(f & LV_PHANTOM_ATYPICAL);
        if (s.n_core < 12 || s.n_liver < 200) continue; /* tiny end cuts: not enough pixels */
        double *fv = feat + i * NF;
        fv[0] = s.core[NC] - s.liver[NC];
        fv[1] = s.core[ART] - s.liver[ART];
        fv[2] = s.core[PV] - s.liver[PV];
        fv[3] = s.periph[ART] - s.core[ART];
        fv[4] = s.periph[PV] - s.core[PV];
        valid[i] = 1;
        add(&liv_nc, s.liver[NC]);
        add(&liv_art, s.liver[ART] - s.liver[NC]);
        add(&liv_pv, s.liver[PV] - s.liver[NC]);
        add(&liv_dl, s.liver[DL] - s.liver[NC]);
        add(&atyp_frac, !typ);
        if (typ) add(&enh[c], s.core[ART] - s.core[NC]);
        if (c == LV_PHANTOM_CYST && typ) {
            /* noise 10 HU over >= 12 pixels: the core mean is within ~9 HU of the drawn value */
            if (s.core[NC] > 20.0 + 30.0 / sqrt(s.n_core)) cyst_max_ok = 0;
            if (s.core[NC] > cyst_max) cyst_max = s.core[NC];
            add(&cyst_pv, s.core[PV] - s.core[NC]);
        }
        if (c == LV_PHANTOM_HCC && typ) {
            add(&hcc_wash, s.core[PV] - s.liver[PV]);
            hcc_n++;
            hcc_washed += s.core[PV] < s.liver[PV];
            if (f & LV_PHANTOM_CAPSULE) add(&hcc_cap, s.edge[PV] - s.periph[PV]);
        }
        if (c == LV_PHANTOM_HEM && typ && !(f & LV_PHANTOM_FLASH)) {
            add(&hem_rim, 0.5 * (s.periph[ART] + s.edge[ART]) - s.core[ART]);
            add(&hem_fill, (s.core[DL] - s.core[NC]) - (s.core[ART] - s.core[NC]));
        }
        if (c == LV_PHANTOM_FNH && typ) {
            add(&fnh_pv, fabs(s.core[PV] - s.liver[PV]));
            add(&scar_frac, (f & LV_PHANTOM_SCAR) != 0);
            if (f & LV_PHANTOM_SCAR) add(&scar_art, s.periph[ART] - s.centre[ART]);
            else add(&noscar_art, s.periph[ART] - s.centre[ART]);
            if (f & LV_PHANTOM_SCAR) add(&scar_dl, s.centre[DL] - s.periph[DL]);
        }
        if (c == LV_PHANTOM_METS && typ) {
            add(&mets_rim, s.periph[PV] - s.core[PV]);
            add(&mets_hypo, s.core[PV] - s.liver[PV]);
        }
    }
    printf("liver NC %.1f HU; enhancement ART %+.1f PV %+.1f DL %+.1f\n", mean(&liv_nc), mean(&liv_art), mean(&liv_pv),
           mean(&liv_dl));
    printf("core ART-NC (typical): CYST %+.1f FNH %+.1f HCC %+.1f HEM %+.1f METS %+.1f\n", mean(&enh[0]),
           mean(&enh[1]), mean(&enh[2]), mean(&enh[3]), mean(&enh[4]));
    printf("CYST max core NC %.1f, PV-NC %+.1f; HCC PV core-liver %+.1f (%d/%d washed out), capsule edge-periph "
           "PV %+.1f\n", cyst_max, mean(&cyst_pv), mean(&hcc_wash), hcc_washed, hcc_n, mean(&hcc_cap));
    printf("HEM ART rim-core %+.1f, fill-in (DL-ART at core) %+.1f; FNH |PV core-liver| %.1f, scar %.2f of typical, "
           "ART periph-centre %+.1f with scar, %+.1f without; scar DL centre-periph %+.1f\n", mean(&hem_rim),
           mean(&hem_fill), mean(&fnh_pv), mean(&scar_frac), mean(&scar_art), mean(&noscar_art), mean(&scar_dl));
    printf("METS PV rim-core %+.1f, PV core-liver %+.1f; atypical fraction %.2f\n", mean(&mets_rim), mean(&mets_hypo),
           mean(&atyp_frac));
    double accuracy = centroid_accuracy(&ds, feat, valid);
    printf("nearest-centroid accuracy on 5 region features (held-out lesions): %.3f\n", accuracy);
    lv_test_true(accuracy > 0.6 && accuracy < 0.97, "classes separable from the pixels but overlapping");
    free(feat);
    free(valid);
    lv_test_true(fabs(mean(&liv_nc) - 55) < 4, "liver ~55 HU native");
    lv_test_true(mean(&liv_art) >= 15 && mean(&liv_art) <= 25, "liver +15..25 HU arterial");
    lv_test_true(mean(&liv_pv) >= 55 && mean(&liv_pv) <= 65, "liver +55..65 HU portal venous");
    lv_test_true(mean(&liv_dl) < mean(&liv_pv) && mean(&liv_dl) > 35, "delayed a bit below portal venous");
    lv_test_true(mean(&enh[LV_PHANTOM_FNH]) > mean(&liv_art) + 25 && mean(&enh[LV_PHANTOM_HCC]) > mean(&liv_art) + 15,
                 "FNH and HCC enhance on ART well above the liver");
    lv_test_true(mean(&enh[LV_PHANTOM_FNH]) > mean(&enh[LV_PHANTOM_HCC]), "FNH arterial enhancement above HCC's");
    lv_test_true(mean(&liv_art) > mean(&enh[LV_PHANTOM_METS]) && mean(&enh[LV_PHANTOM_METS]) > mean(&enh[LV_PHANTOM_CYST]),
                 "typical METS core enhances less than liver on ART, more than a cyst");
    lv_test_true(fabs(mean(&enh[LV_PHANTOM_CYST])) < 3 && fabs(mean(&cyst_pv)) < 4, "CYST never enhances");
    lv_test_true(cyst_max_ok, "typical CYST core <= 20 HU on NC (noise allowance)");
    lv_test_true(mean(&hcc_wash) < -8 && hcc_washed >= 0.9 * hcc_n, "typical HCC washes out on PV");
    lv_test_true(mean(&hcc_cap) > 8, "HCC capsule: PV edge brighter than the tumour inside");
    lv_test_true(mean(&hem_rim) > 15, "HEM: ART periphery (nodules) brighter than centre");
    lv_test_true(mean(&hem_fill) > 20, "HEM: centripetal fill-in, centre brighter on DL than on ART");
    lv_test_true(mean(&fnh_pv) < 8, "FNH iso to liver on PV");
    lv_test_true(mean(&scar_frac) > 0.35 && mean(&scar_frac) < 0.65, "about half of typical FNH have a scar");
    lv_test_true(mean(&scar_art) > 30 && fabs(mean(&noscar_art)) < 10, "FNH scar hypoattenuating on ART (only where drawn)");
    lv_test_true(mean(&scar_dl) > 3, "FNH scar enhances on the delayed phase");
    lv_test_true(mean(&mets_rim) > 10 && mean(&mets_hypo) < -20, "METS hypoattenuating with PV rim enhancement");
    lv_test_true(mean(&atyp_frac) > 0.1 && mean(&atyp_frac) < 0.4, "atypical cases: 10-40% at difficulty 0.5");
    free(buf);
    lv_phantom_truth_free(&t);
    lv_dataset_free(&ds);
}

static void test_noise_free(void) {
    lv_dataset ds;
    lv_phantom_truth t;
    if (!lv_test_true(gen(&ds, &t, 60, "NC,PV", 5, 1.0f, 0.0f) == LV_OK, "noise-free run generates")) return;
    float *buf = malloc(64 * 64 * sizeof *buf);
    double worst = -1e9;
    for (int64_t i = 0; i < ds.n; i++) {
        /* small atypical cysts measure higher through partial volume, as real ones do */
        if (ds.labels[i] != LV_PHANTOM_CYST || (t.samples[i].flags & LV_PHANTOM_ATYPICAL)) continue;
        stats s;
        measure(&ds, &t, i, &s, buf);
        if (s.n_core && s.core[0] > worst) worst = s.core[0];
    }
    printf("noise-free typical CYST worst core NC %.1f HU\n", worst);
    lv_test_true(worst <= 20.0, "noise-free typical CYST core <= 20 HU even at difficulty 1");
    free(buf);
    lv_phantom_truth_free(&t);
    lv_dataset_free(&ds);
}

static void test_difficulty(void) {
    lv_dataset a, b;
    lv_phantom_truth ta, tb;
    if (!lv_test_true(gen(&a, &ta, 100, "NC,ART,PV", 9, 0.0f, 10.0f) == LV_OK &&
                          gen(&b, &tb, 100, "NC,ART,PV", 9, 1.0f, 10.0f) == LV_OK,
                      "difficulty runs generate"))
        return;
    int na = 0, nb = 0;
    for (int64_t i = 0; i < a.n; i++) {
        na += (ta.samples[i].flags & LV_PHANTOM_ATYPICAL) != 0;
        nb += (tb.samples[i].flags & LV_PHANTOM_ATYPICAL) != 0;
    }
    printf("atypical samples: %d/500 at difficulty 0, %d/500 at 1\n", na, nb);
    lv_test_true(na < 60 && nb > 150, "atypical look-alikes grow with difficulty");
    lv_phantom_truth_free(&ta);
    lv_phantom_truth_free(&tb);
    lv_dataset_free(&a);
    lv_dataset_free(&b);
}

int main(void) {
    test_options();
    test_determinism();
    test_bookkeeping();
    test_radiology();
    test_noise_free();
    test_difficulty();
    return lv_test_summary();
}
