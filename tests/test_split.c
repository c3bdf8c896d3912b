/* Patient-level splits (data/split.h) on in-memory datasets with several lesions per patient
 * and several slices per lesion: no patient in two parts over many seeds, fractions per
 * class, /split honoured, k-fold coverage and disjointness, few-shot counts in lesions, the
 * nested k=5 within k=10 property, determinism and error messages. LV_TEST_SANITIZE */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/split.h"
#include "harness.h"

static const char *const CLASSES[5] = {"CYST", "FNH", "HCC", "HEM", "METS"};
static const int PATIENTS_PER_CLASS[5] = {30, 24, 18, 15, 12};

/* Patients of one class each; patient p has 1 + p%3 lesions (ids 0.. within the patient)
 * and lesion l has 2 + (p+l)%2 slices. Samples are interleaved across patients so groups
 * are not contiguous. with_lesions / with_patients drop the id arrays. */
static void make_ds(lv_dataset *ds, int with_patients, int with_lesions) {
    int np = 0;
    for (int c = 0; c < 5; c++) np += PATIENTS_PER_CLASS[c];
    int64_t n = 0;
    for (int p = 0; p < np; p++)
        for (int l = 0; l < 1 + p % 3; l++) n += 2 + (p + l) % 2;
    int32_t *cls = malloc((size_t)np * sizeof *cls);
    for (int c = 0, p = 0; c < 5; c++)
        for (int q = 0; q < PATIENTS_PER_CLASS[c]; q++) cls[p++] = c;
    lv_dataset_init(ds);
    lv_test_true(lv_dataset_alloc(ds, n, 1, 1, 1, LV_PIX_U8) == LV_OK, "dataset allocates");
    lv_dataset_set_names(ds, CLASSES, 5, (const char *const[]){"NC"}, 1);
    int64_t *pids = malloc((size_t)n * sizeof *pids);
    ds->lesions = malloc((size_t)n * sizeof *ds->lesions);
    /* Round-robin over patients so each patient's samples are spread through the file. */
    int *next_les = calloc((size_t)np, sizeof *next_les), *next_sl = calloc((size_t)np, sizeof *next_sl);
    int64_t i = 0;
    while (i < n)
        for (int p = 0; p < np && i < n; p++) {
            int l = next_les[p];
            if (l >= 1 + p % 3) continue;
            pids[i] = 1000 + 7 * (int64_t)p;
            ds->lesions[i] = l;
            ds->labels[i] = cls[p];
            i++;
            if (++next_sl[p] >= 2 + (p + l) % 2) next_sl[p] = 0, next_les[p]++;
        }
    if (with_patients) lv_dataset_set_patients_int(ds, pids);
    if (!with_lesions) {
        free(ds->lesions);
        ds->lesions = NULL;
    }
    free(pids);
    free(cls);
    free(next_les);
    free(next_sl);
}

/* 1 when every patient's samples share one value of part[]. */
static int patient_disjoint(const lv_dataset *ds, const int32_t *part) {
    int32_t *seen = malloc((size_t)ds->n_patients * sizeof *seen);
    for (int p = 0; p < ds->n_patients; p++) seen[p] = -1;
    int ok = 1;
    for (int64_t i = 0; i < ds->n; i++) {
        int32_t *s = &seen[ds->patients[i]];
        if (*s >= 0 && *s != part[i]) ok = 0;
        *s = part[i];
    }
    free(seen);
    return ok;
}

/* Patients of class c in part `which`. */
static int patients_in(const lv_dataset *ds, const int32_t *part, int c, int32_t which) {
    int *seen = calloc((size_t)ds->n_patients, sizeof *seen), m = 0;
    for (int64_t i = 0; i < ds->n; i++)
        if (ds->labels[i] == c && part[i] == which && !seen[ds->patients[i]]) seen[ds->patients[i]] = 1, m++;
    free(seen);
    return m;
}

static void test_split(void) {
    lv_dataset ds;
    make_ds(&ds, 1, 1);
    int32_t *part = malloc((size_t)ds.n * sizeof *part), *again = malloc((size_t)ds.n * sizeof *again);
    int disjoint = 1, fractions = 1, all_parts = 1;
    for (uint64_t seed = 0; seed < 60; seed++) {
        if (lv_split_assign(&ds, 0.2, 0.1, seed, part) != LV_OK) {
            lv_test_fail("split seed %" PRIu64 ": %s", seed, lv_error_message());
            break;
        }
        disjoint &= patient_disjoint(&ds, part);
        int tot[3] = {0, 0, 0};
        for (int c = 0; c < 5; c++) {
            int v = patients_in(&ds, part, c, 1), t = patients_in(&ds, part, c, 2), g = PATIENTS_PER_CLASS[c];
            tot[1] += v, tot[2] += t;
            if (v < (int)(0.2 * g) - 1 || v > (int)(0.2 * g) + 2 || t < (int)(0.1 * g) - 1 || t > (int)(0.1 * g) + 2) {
                if (fractions) lv_test_fail("seed %" PRIu64 " class %s: val %d test %d of %d patients", seed, CLASSES[c], v, t, g);
                fractions = 0;
            }
        }
        /* 99 patients: 20 val and 10 test after cumulative rounding. */
        if (tot[1] != 20 || tot[2] != 10) {
            if (all_parts) lv_test_fail("seed %" PRIu64 ": %d val, %d test patients (want 20, 10)", seed, tot[1], tot[2]);
            all_parts = 0;
        }
    }
    lv_test_true(disjoint, "no patient in two parts over 60 seeds");
    lv_test_true(fractions, "val 0.2 / test 0.1 respected per class (within one patient)");
    lv_test_true(all_parts, "totals match round(frac x patients) exactly");

    lv_split_assign(&ds, 0.2, 0.1, 42, part);
    lv_split_assign(&ds, 0.2, 0.1, 42, again);
    lv_test_true(memcmp(part, again, (size_t)ds.n * sizeof *part) == 0, "same seed, same split");
    lv_split_assign(&ds, 0.2, 0.1, 43, again);
    lv_test_true(memcmp(part, again, (size_t)ds.n * sizeof *part) != 0, "another seed, another split");

    int64_t *idx = NULL, cnt[3] = {0, 0, 0};
    int sorted_ok = 1;
    for (int32_t w = 0; w < 3; w++) {
        lv_split_indices(part, ds.n, w, &idx, &cnt[w]);
        for (int64_t q = 0; q < cnt[w]; q++) sorted_ok &= part[idx[q]] == w && (q == 0 || idx[q] > idx[q - 1]);
        free(idx);
    }
    lv_test_true(sorted_ok && cnt[0] + cnt[1] + cnt[2] == ds.n, "lv_split_indices lists each part once, ascending");
    lv_split_indices_except(part, ds.n, 0, &idx, &cnt[0]);
    lv_test_true(cnt[0] == cnt[1] + cnt[2], "lv_split_indices_except is the complement");
    free(idx);

    lv_test_true(lv_split_assign(&ds, 0.0, 0.0, 1, part) == LV_OK && patients_in(&ds, part, 0, 1) == 0 &&
                     patients_in(&ds, part, 0, 0) == 30,
                 "zero fractions: everything in train");

    /* The file's /split wins over fractions. */
    ds.split = malloc((size_t)ds.n * sizeof *ds.split);
    for (int64_t i = 0; i < ds.n; i++) ds.split[i] = (int32_t)(i % 3);
    int same = lv_split_assign(&ds, 0.5, 0.4, 7, part) == LV_OK;
    for (int64_t i = 0; i < ds.n; i++) same &= part[i] == (int32_t)(i % 3);
    lv_test_true(same, "/split is used as is and the fractions ignored");
    ds.split[5] = 3;
    lv_test_true(lv_split_assign(&ds, 0.2, 0.1, 7, part) == LV_ERR_INPUT &&
                     strstr(lv_error_message(), "/split[5] = 3") != NULL,
                 "a /split value outside 0..2 is named");
    free(ds.split);
    ds.split = NULL;

    lv_test_true(lv_split_assign(&ds, -0.1, 0.1, 1, part) == LV_ERR_USAGE &&
                     strstr(lv_error_message(), "val -0.1") != NULL,
                 "negative fraction rejected");
    lv_test_true(lv_split_assign(&ds, 0.6, 0.4, 1, part) == LV_ERR_USAGE &&
                     strstr(lv_error_message(), "val + test < 1") != NULL,
                 "fractions summing to 1 rejected");
    free(part);
    free(again);
    lv_dataset_free(&ds);
}

static void test_small_and_groups(void) {
    /* Three patients, tiny fractions: each part still gets one patient. */
    lv_dataset ds;
    lv_dataset_init(&ds);
    lv_dataset_alloc(&ds, 7, 1, 1, 1, LV_PIX_U8);
    lv_dataset_set_names(&ds, CLASSES, 2, (const char *const[]){"NC"}, 1);
    int64_t pid[7] = {5, 5, 9, 9, 9, 2, 2};
    int32_t lab[7] = {0, 0, 1, 1, 1, 0, 0};
    memcpy(ds.labels, lab, sizeof lab);
    lv_dataset_set_patients_int(&ds, pid);
    int32_t part[7];
    int every = 1;
    for (uint64_t seed = 0; seed < 20; seed++) {
        lv_split_assign(&ds, 0.05, 0.05, seed, part);
        int have[3] = {0, 0, 0};
        for (int i = 0; i < 7; i++) have[part[i]] = 1;
        every &= have[0] && have[1] && have[2] && patient_disjoint(&ds, part);
    }
    lv_test_true(every, "3 patients, fractions 0.05: train, val and test each get one patient");
    lv_test_true(lv_kfold_assign(&ds, 4, 1, part) == LV_ERR_USAGE &&
                     strstr(lv_error_message(), "k = 4 exceeds the 3 patients") != NULL,
                 "k-fold with k > patients names both");
    lv_test_true(lv_kfold_assign(&ds, 1, 1, part) == LV_ERR_USAGE && strstr(lv_error_message(), "k >= 2") != NULL,
                 "k-fold with k = 1 rejected");
    ds.labels[3] = 7;
    lv_test_true(lv_split_assign(&ds, 0.2, 0.2, 1, part) == LV_ERR_INPUT &&
                     strstr(lv_error_message(), "labels[3] = 7") != NULL,
                 "a label outside [0,C) is named");
    lv_dataset_free(&ds);

    /* No patients: lesions are the groups; no ids at all: samples are. */
    make_ds(&ds, 0, 1);
    int32_t *p2 = malloc((size_t)ds.n * sizeof *p2);
    lv_test_true(lv_split_assign(&ds, 0.3, 0.3, 3, p2) == LV_OK, "split without patients works");
    int one_part = 1;
    for (int64_t i = 0; i < ds.n; i++)
        for (int64_t j = 0; j < ds.n; j++)
            if (ds.lesions[i] == ds.lesions[j] && p2[i] != p2[j]) one_part = 0;
    lv_test_true(one_part, "without patients, each lesion id stays in one part");
    free(ds.lesions);
    ds.lesions = NULL;
    lv_test_true(lv_split_assign(&ds, 0.25, 0.25, 3, p2) == LV_OK, "split of bare samples works");
    int64_t m[3] = {0, 0, 0};
    for (int64_t i = 0; i < ds.n; i++) m[p2[i]]++;
    lv_test_true(llabs(m[1] - ds.n / 4) <= 2 && llabs(m[2] - ds.n / 4) <= 2, "bare samples follow the fractions");
    free(p2);
    lv_dataset_free(&ds);
}

static void test_kfold(void) {
    lv_dataset ds;
    make_ds(&ds, 1, 1);
    int32_t *fold = malloc((size_t)ds.n * sizeof *fold), *again = malloc((size_t)ds.n * sizeof *again);
    lv_test_true(lv_kfold_assign(&ds, 5, 11, fold) == LV_OK, "5-fold assignment");
    int in_range = 1;
    for (int64_t i = 0; i < ds.n; i++) in_range &= fold[i] >= 0 && fold[i] < 5;
    lv_test_true(in_range, "every sample gets exactly one fold in [0,5)");
    lv_test_true(patient_disjoint(&ds, fold), "folds are patient-disjoint");
    int lo = 1 << 30, hi = 0, cls_ok = 1;
    for (int f = 0; f < 5; f++) {
        int pts = 0;
        for (int c = 0; c < 5; c++) {
            int k = patients_in(&ds, fold, c, f), want = PATIENTS_PER_CLASS[c] / 5;
            pts += k;
            if (k < want - 1 || k > want + 1) cls_ok = 0;
        }
        lo = pts < lo ? pts : lo;
        hi = pts > hi ? pts : hi;
    }
    lv_test_true(hi - lo <= 1, "fold sizes in patients differ by at most one");
    lv_test_true(cls_ok, "each fold holds about a fifth of every class");
    lv_kfold_assign(&ds, 5, 11, again);
    lv_test_true(memcmp(fold, again, (size_t)ds.n * sizeof *fold) == 0, "k-fold is deterministic");
    free(fold);
    free(again);
    lv_dataset_free(&ds);
}

/* Distinct (patient, lesion) units of class c among idx, and whether each chosen unit came
 * with all its slices from the pool (pool NULL = all samples). */
static int units_of(const lv_dataset *ds, const int64_t *idx, int64_t m, int c, int *complete) {
    int units = 0;
    *complete = 1;
    for (int64_t a = 0; a < m; a++) {
        int64_t i = idx[a];
        if (ds->labels[i] != c) continue;
        int first = 1;
        for (int64_t b = 0; b < a; b++)
            if (ds->patients[idx[b]] == ds->patients[i] && ds->lesions[idx[b]] == ds->lesions[i]) first = 0;
        if (!first) continue;
        units++;
        int64_t in_sel = 0, in_all = 0;
        for (int64_t j = 0; j < ds->n; j++) in_all += ds->patients[j] == ds->patients[i] && ds->lesions[j] == ds->lesions[i];
        for (int64_t b = 0; b < m; b++)
            in_sel += ds->patients[idx[b]] == ds->patients[i] && ds->lesions[idx[b]] == ds->lesions[i];
        if (in_sel != in_all) *complete = 0;
    }
    return units;
}

static int subset(const int64_t *a, int64_t na, const int64_t *b, int64_t nb) {
    int64_t j = 0;
    for (int64_t i = 0; i < na; i++) {
        while (j < nb && b[j] < a[i]) j++;
        if (j == nb || b[j] != a[i]) return 0;
    }
    return 1;
}

static void test_fewshot(void) {
    lv_dataset ds;
    make_ds(&ds, 1, 1);
    int64_t *s5 = NULL, *s10 = NULL, *s5b = NULL, n5 = 0, n10 = 0, n5b = 0;
    lv_test_true(lv_fewshot_select(&ds, NULL, 0, 5, 9, &s5, &n5) == LV_OK &&
                     lv_fewshot_select(&ds, NULL, 0, 10, 9, &s10, &n10) == LV_OK,
                 "few-shot k=5 and k=10");
    int exact = 1, complete = 1;
    for (int c = 0; c < 5; c++) {
        int cpl = 0;
        exact &= units_of(&ds, s5, n5, c, &cpl) == 5;
        complete &= cpl;
        exact &= units_of(&ds, s10, n10, c, &cpl) == 10;
        complete &= cpl;
    }
    lv_test_true(exact, "exactly k lesions per class (lesion ids repeat across patients)");
    lv_test_true(complete, "every slice of a chosen lesion is included");
    lv_test_true(n10 > 100 && subset(s5, n5, s10, n10), "k=5 selection is a subset of k=10 (same seed)");
    lv_fewshot_select(&ds, NULL, 0, 5, 9, &s5b, &n5b);
    lv_test_true(n5b == n5 && memcmp(s5, s5b, (size_t)n5 * sizeof *s5) == 0, "few-shot is deterministic");
    free(s5b);
    lv_fewshot_select(&ds, NULL, 0, 5, 10, &s5b, &n5b);
    lv_test_true(n5b != n5 || memcmp(s5, s5b, (size_t)n5 * sizeof *s5) != 0, "another seed, another draw");
    free(s5b);

    /* From the training part only, with a reversed pool order: same rules, nothing from
     * outside the pool. */
    int32_t *part = malloc((size_t)ds.n * sizeof *part);
    lv_split_assign(&ds, 0.2, 0.2, 5, part);
    int64_t *tr = NULL, ntr = 0;
    lv_split_indices(part, ds.n, 0, &tr, &ntr);
    for (int64_t a = 0, b = ntr - 1; a < b; a++, b--) {
        int64_t t = tr[a];
        tr[a] = tr[b];
        tr[b] = t;
    }
    int64_t *sp = NULL, np = 0;
    lv_test_true(lv_fewshot_select(&ds, tr, ntr, 3, 9, &sp, &np) == LV_OK, "few-shot from a pool");
    int inside = 1;
    for (int64_t q = 0; q < np; q++) inside &= part[sp[q]] == 0;
    int cnt = 0;
    for (int c = 0; c < 5; c++) {
        int cpl;
        cnt += units_of(&ds, sp, np, c, &cpl) == 3;
    }
    lv_test_true(inside && cnt == 5, "pool selection stays in the pool with 3 lesions per class");
    free(sp);
    free(tr);
    free(part);

    lv_test_true(lv_fewshot_select(&ds, NULL, 0, 30, 1, &sp, &np) == LV_ERR_INPUT &&
                     strstr(lv_error_message(), "class 'METS' has 24 lesions in the pool, fewer than k = 30") != NULL,
                 "too few lesions names the class and the count");
    lv_test_true(lv_fewshot_select(&ds, NULL, 0, 0, 1, &sp, &np) == LV_ERR_USAGE, "k = 0 rejected");
    int64_t bad = ds.n;
    lv_test_true(lv_fewshot_select(&ds, &bad, 1, 1, 1, &sp, &np) == LV_ERR_INPUT &&
                     strstr(lv_error_message(), "outside") != NULL,
                 "a pool index outside the dataset is rejected");

    /* Without lesion ids the unit is the patient. */
    free(ds.lesions);
    ds.lesions = NULL;
    lv_test_true(lv_fewshot_select(&ds, NULL, 0, 4, 2, &sp, &np) == LV_OK, "few-shot by patient");
    int by_patient = 1;
    for (int c = 0; c < 5; c++) {
        int *seen = calloc((size_t)ds.n_patients, sizeof *seen), m = 0;
        int64_t slices = 0, want = 0;
        for (int64_t q = 0; q < np; q++)
            if (ds.labels[sp[q]] == c) {
                slices++;
                if (!seen[ds.patients[sp[q]]]) seen[ds.patients[sp[q]]] = 1, m++;
            }
        for (int64_t i = 0; i < ds.n; i++) want += ds.labels[i] == c && seen[ds.patients[i]];
        by_patient &= m == 4 && slices == want;
        free(seen);
    }
    lv_test_true(by_patient, "4 patients per class with all their samples");
    free(sp);
    lv_test_true(lv_fewshot_select(&ds, NULL, 0, 13, 1, &sp, &np) == LV_ERR_INPUT &&
                     strstr(lv_error_message(), "class 'METS' has 12 patients") != NULL,
                 "too few patients names the class");
    free(s5);
    free(s10);
    lv_dataset_free(&ds);
}

int main(void) {
    test_split();
    test_small_and_groups();
    test_kfold();
    test_fewshot();
    return lv_test_summary();
}
