/* Cross-validation sweeps (train/cv.h): mean and sample std against hand-computed values,
 * the (head, shots) aggregation and table text, list parsing and its errors, folds that
 * keep patients apart, shot selections that are nested, deterministic and of the right
 * size, the errors for too many folds or shots, and a tiny in-memory sweep that is reused
 * on a second call and refused when its definition changes (reading back the JSON files it
 * wrote). LV_TEST_SANITIZE */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data/phantom.h"
#include "encoders/liver_vlm.h"
#include "harness.h"
#include "train/cv.h"

static void near(double got, double want, double tol, const char *what) {
    if ((isnan(want) && isnan(got)) || fabs(got - want) <= tol) lv_test_pass("%s = %.9g", what, got);
    else lv_test_fail("%s: got %.12g, want %.12g", what, got, want);
}

static void test_stats(void) {
    lv_cv_stat st;
    const double a[] = {0.5, 0.7, 0.9}; /* mean 0.7; deviations -0.2, 0, 0.2: var 0.08/2 */
    lv_cv_stat_compute(a, 3, &st);
    near(st.mean, 0.7, 1e-12, "mean{0.5,0.7,0.9}");
    near(st.std, 0.2, 1e-12, "sample std{0.5,0.7,0.9} (n-1)");
    lv_test_true(st.n == 3, "n = 3");
    const double b[] = {0.6, 0.8}; /* population std would be 0.1; sample std 0.1*sqrt(2) */
    lv_cv_stat_compute(b, 2, &st);
    near(st.std, 0.14142135623730951, 1e-12, "sample std{0.6,0.8} uses n-1");
    const double c[] = {1.0, NAN, 3.0, 2.0};
    lv_cv_stat_compute(c, 4, &st);
    near(st.mean, 2.0, 1e-12, "mean skips NaN");
    near(st.std, 1.0, 1e-12, "std skips NaN");
    lv_test_true(st.n == 3, "NaN not counted");
    const double d[] = {0.83};
    lv_cv_stat_compute(d, 1, &st);
    near(st.mean, 0.83, 0, "mean of one");
    lv_test_true(isnan(st.std), "std of one value is undefined (NaN)");
    lv_cv_stat_compute(d, 0, &st);
    lv_test_true(isnan(st.mean) && st.n == 0, "empty: NaN mean");
    const double e[] = {1e8 + 1, 1e8 + 2, 1e8 + 3};
    lv_cv_stat_compute(e, 3, &st);
    near(st.std, 1.0, 1e-6, "std with a large offset (no cancellation)");
}

static void test_aggregate(void) {
    lv_cv_sweep s;
    lv_cv_sweep_default(&s);
    lv_test_true(lv_cv_parse_shots(&s, "--shots", "5,all") == LV_OK, "parse 5,all");
    lv_test_true(lv_cv_parse_seeds(&s, "--seeds", "1,2") == LV_OK, "parse 1,2");
    s.folds = 2;
    int64_t n = lv_cv_run_count(&s);
    lv_test_true(n == 16, "2 heads x 2 shots x 2 seeds x 2 folds = 16 runs");
    lv_cv_result r[16];
    memset(r, 0, sizeof r);
    /* vlm/5: accuracies 0.2 0.4 0.6 0.8 -> mean 0.5, sample std sqrt(0.2/3);
     * linear/all: 0.9 0.9 0.9 and one unfinished run (left out). AUC: one NaN in vlm/5. */
    int q = 0;
    for (int seed = 1; seed <= 2; seed++)
        for (int f = 0; f < 2; f++)
            for (int k = 0; k < 2; k++)
                for (int h = 0; h < 2; h++, q++) {
                    lv_cv_result *x = &r[q];
                    x->head = s.heads[h];
                    x->shots = s.shots[k];
                    x->seed = (uint64_t)seed;
                    x->fold = f;
                    x->done = 1;
                    int j = (seed - 1) * 2 + f; /* 0..3 */
                    x->accuracy = h == 0 && k == 0 ? 0.2 * (j + 1) : 0.9;
                    x->balanced_accuracy = x->accuracy;
                    x->macro_auc = h == 0 && k == 0 && j == 3 ? NAN : 0.5 + 0.1 * j;
                    if (h == 1 && k == 1 && j == 3) x->done = 0;
                }
    lv_cv_row rows[4];
    lv_cv_aggregate(&s, r, n, rows);
    lv_test_true(rows[0].head == LV_HEAD_VLM && rows[0].shots == 5 && rows[0].runs == 4, "row 0: vlm, 5 shots, 4 runs");
    near(rows[0].accuracy.mean, 0.5, 1e-12, "vlm/5 accuracy mean");
    near(rows[0].accuracy.std, sqrt(0.2 / 3.0), 1e-12, "vlm/5 accuracy sample std = sqrt(0.2/3)");
    near(rows[0].macro_auc.mean, 0.6, 1e-12, "vlm/5 AUC mean over the 3 defined (0.5,0.6,0.7)");
    lv_test_true(rows[0].macro_auc.n == 3, "vlm/5 AUC n = 3");
    lv_test_true(rows[3].head == LV_HEAD_LINEAR && rows[3].shots == 0 && rows[3].runs == 3,
                 "row 3: linear, all, 3 finished runs");
    near(rows[3].accuracy.std, 0.0, 1e-12, "linear/all std of equal values");
    near(rows[3].macro_auc.mean, 0.6, 1e-12, "linear/all AUC mean (0.5,0.6,0.7)");
    free(s.train.out);
    s.train.out = strdup("/tmp/x");
    char *md = lv_cv_table_md(&s, rows, r, n), *csv = lv_cv_table_csv(&s, rows);
    lv_test_true(md && strstr(md, "| vlm | 5 | 0.500 ± 0.258 |"), "table.md row vlm/5 reads 0.500 ± 0.258");
    lv_test_true(md && strstr(md, "0.600 ± 0.100 (n=3)"), "table.md marks an AUC over fewer runs (n=3)");
    lv_test_true(md && strstr(md, "n − 1"), "table.md says the std is the sample std");
    lv_test_true(md && strstr(md, "15 of 16 runs finished"), "table.md notes an unfinished sweep");
    lv_test_true(csv && strstr(csv, "\nvlm,5,4,0.500000,0.258199,"), "table.csv row vlm/5");
    lv_test_true(csv && strstr(csv, "\nlinear,all,3,0.900000,0.000000,"), "table.csv row linear/all");
    char *js = lv_cv_json(&s, "{\"folds\": 2}", rows, r, n);
    lv_test_true(js && strstr(js, "\"name\":\t\"linear_all_s2_f2\"") && strstr(js, "\"finished\":\t15"),
                 "cv.json lists every run and the finished count");
    free(md);
    free(csv);
    free(js);
    lv_cv_sweep_free(&s);
}

static void expect_usage(lv_status st, const char *needle, const char *what) {
    if (st == LV_ERR_USAGE && strstr(lv_error_message(), needle)) lv_test_pass("%s: %s", what, lv_error_message());
    else lv_test_fail("%s: status %d, message '%s' (want usage error with '%s')", what, (int)st, lv_error_message(),
                      needle);
}

static void test_parse(void) {
    lv_cv_sweep s;
    lv_cv_sweep_default(&s);
    lv_test_true(s.n_heads == 2 && s.n_shots == 4 && s.shots[3] == 0 && s.n_seeds == 3, "defaults");
    lv_test_true(lv_cv_parse_heads(&s, "--head", "linear") == LV_OK && s.n_heads == 1 && s.heads[0] == LV_HEAD_LINEAR,
                 "--head linear");
    lv_test_true(lv_cv_parse_shots(&s, "--shots", "all,2,10") == LV_OK && s.n_shots == 3 && s.shots[0] == 0 &&
                     s.shots[2] == 10, "--shots all,2,10");
    lv_test_true(lv_cv_parse_seeds(&s, "--seeds", "7") == LV_OK && s.n_seeds == 1 && s.seeds[0] == 7, "--seeds 7");
    expect_usage(lv_cv_parse_shots(&s, "--shots", "5,,10"), "empty item", "empty list item");
    expect_usage(lv_cv_parse_shots(&s, "--shots", "5,0"), "got '0'", "zero shots");
    expect_usage(lv_cv_parse_shots(&s, "--shots", "5,five"), "got 'five'", "non-number shots");
    expect_usage(lv_cv_parse_shots(&s, "--shots", "5,all,5"), "'5' appears twice", "repeated shots");
    expect_usage(lv_cv_parse_heads(&s, "--head", "vlm,cnn"), "unknown head 'cnn'", "unknown head");
    expect_usage(lv_cv_parse_heads(&s, "--head", "vlm,vlm"), "appears twice", "repeated head");
    expect_usage(lv_cv_parse_seeds(&s, "--seeds", "1,-2"), "got '-2'", "negative seed");
    expect_usage(lv_cv_parse_seeds(&s, "--seeds", ""), "needs a value", "empty seeds");
    lv_test_true(s.n_shots == 3 && s.n_heads == 1 && s.n_seeds == 1, "a rejected list leaves the sweep as it was");
    char name[64];
    lv_cv_run_name(LV_HEAD_VLM, 0, 3, 1, name, sizeof name);
    lv_test_true(!strcmp(name, "vlm_all_s3_f2"), "run name vlm_all_s3_f2");
    lv_cv_sweep_free(&s);
}

/* The number of distinct lesions of class c among idx. */
static int lesions_of_class(const lv_dataset *ds, const int64_t *idx, int64_t n, int c) {
    int count = 0;
    for (int64_t i = 0; i < n; i++) {
        if (ds->labels[idx[i]] != c) continue;
        int first = 1;
        for (int64_t j = 0; j < i && first; j++)
            first = !(ds->patients[idx[j]] == ds->patients[idx[i]] && ds->lesions[idx[j]] == ds->lesions[idx[i]]);
        count += first;
    }
    return count;
}

static int subset(const int64_t *a, int64_t na, const int64_t *b, int64_t nb) {
    int64_t j = 0;
    for (int64_t i = 0; i < na; i++) {
        while (j < nb && b[j] < a[i]) j++;
        if (j == nb || b[j] != a[i]) return 0;
    }
    return 1;
}

static void test_folds_and_shots(const lv_dataset *ds) {
    int K = 4;
    int32_t *fold = malloc((size_t)ds->n * sizeof *fold), *again = malloc((size_t)ds->n * sizeof *again);
    lv_test_true(lv_cv_assign_folds(ds, K, 1, fold) == LV_OK, "4 folds");
    lv_cv_assign_folds(ds, K, 1, again);
    lv_test_true(!memcmp(fold, again, (size_t)ds->n * sizeof *fold), "fold assignment is deterministic");
    int *pfold = malloc((size_t)ds->n_patients * sizeof *pfold), disjoint = 1, used[8] = {0};
    for (int p = 0; p < ds->n_patients; p++) pfold[p] = -1;
    for (int64_t i = 0; i < ds->n; i++) {
        int p = ds->patients[i];
        if (pfold[p] >= 0 && pfold[p] != fold[i]) disjoint = 0;
        pfold[p] = fold[i];
        used[fold[i]] = 1;
    }
    lv_test_true(disjoint, "every patient's samples are in one fold");
    lv_test_true(used[0] && used[1] && used[2] && used[3], "every fold holds samples");
    for (int f = 0; f < K; f++) {
        int64_t *all = NULL, na = 0, *s2 = NULL, n2 = 0, *s3 = NULL, n3 = 0, *s2b = NULL, n2b = 0;
        lv_status st = lv_cv_train_indices(ds, fold, f, 0, 1, &all, &na);
        if (st == LV_OK) st = lv_cv_train_indices(ds, fold, f, 2, 5, &s2, &n2);
        if (st == LV_OK) st = lv_cv_train_indices(ds, fold, f, 3, 5, &s3, &n3);
        if (st == LV_OK) st = lv_cv_train_indices(ds, fold, f, 2, 5, &s2b, &n2b);
        if (!lv_test_true(st == LV_OK, "train indices")) {
            fprintf(stderr, "%s\n", lv_error_message());
            break;
        }
        int outside = 1;
        for (int64_t i = 0; i < na; i++) outside &= fold[all[i]] != f && pfold[ds->patients[all[i]]] != f;
        int64_t held = 0;
        for (int64_t i = 0; i < ds->n; i++) held += fold[i] == f;
        char what[160];
        snprintf(what, sizeof what, "fold %d: training set holds no patient of the held-out fold, and all others "
                                    "(%" PRId64 " + %" PRId64 " = %" PRId64 ")", f + 1, na, held, ds->n);
        lv_test_true(outside && na + held == ds->n, what);
        snprintf(what, sizeof what, "fold %d: 2-shot set inside the 3-shot set inside the training set", f + 1);
        lv_test_true(subset(s2, n2, s3, n3) && subset(s3, n3, all, na) && n2 < n3, what);
        snprintf(what, sizeof what, "fold %d: the same seed draws the same 2 shots", f + 1);
        lv_test_true(n2 == n2b && !memcmp(s2, s2b, (size_t)n2 * sizeof *s2), what);
        int exact = 1;
        for (int c = 0; c < ds->c; c++) exact &= lesions_of_class(ds, s2, n2, c) == 2 && lesions_of_class(ds, s3, n3, c) == 3;
        snprintf(what, sizeof what, "fold %d: exactly 2 and 3 lesions per class", f + 1);
        lv_test_true(exact, what);
        free(all);
        free(s2);
        free(s3);
        free(s2b);
    }
    int64_t *a = NULL, na = 0, *b = NULL, nb = 0;
    lv_cv_train_indices(ds, fold, 0, 2, 1, &a, &na);
    lv_cv_train_indices(ds, fold, 0, 2, 2, &b, &nb);
    lv_test_true(na != nb || memcmp(a, b, (size_t)na * sizeof *a), "another seed draws other shots");
    free(a);
    free(b);

    lv_cv_sweep s;
    lv_cv_sweep_default(&s);
    s.folds = K;
    lv_test_true(lv_cv_parse_shots(&s, "--shots", "2,1000") == LV_OK, "parse 2,1000");
    lv_status st = lv_cv_check_shots(&s, ds, fold);
    expect_usage(st, "--shots 1000 does not fit fold 1 of 4", "too many shots names shots and fold");
    lv_test_true(strstr(lv_error_message(), "class 'CYST'") != NULL, "... and the class");
    lv_cv_parse_shots(&s, "--shots", "2,all");
    lv_test_true(lv_cv_check_shots(&s, ds, fold) == LV_OK, "2 shots fit every fold");
    expect_usage(lv_cv_assign_folds(ds, ds->n_patients + 1, 1, fold), "--folds", "more folds than patients");
    lv_cv_sweep_free(&s);
    free(pfold);
    free(fold);
    free(again);
}

/* Two runs per call: 2 folds x 1 shot setting x linear head x 1 seed, 1 epoch at 32x32. */
static void test_sweep(const lv_dataset *ds) {
    char dir[] = "/tmp/lv_test_cv_XXXXXX";
    if (!mkdtemp(dir)) {
        lv_test_fail("mkdtemp");
        return;
    }
    lv_cv_sweep s;
    lv_cv_sweep_default(&s);
    s.folds = 2;
    lv_cv_parse_heads(&s, "--head", "linear");
    lv_cv_parse_shots(&s, "--shots", "2");
    lv_cv_parse_seeds(&s, "--seeds", "3");
    s.train.epochs = 1;
    s.train.batch = 8;
    s.train.threads = 2;
    s.train.device = LV_TRAIN_DEVICE_CPU;
    s.train.data = strdup("phantom");
    s.train.out = strdup(dir);
    lv_cv_env env;
    lv_cv_env_default(&env);
    env.quiet = 1;
    lv_cv_result *r = NULL;
    lv_status st = lv_cv_run(&s, ds, &env, &r);
    if (!lv_test_true(st == LV_OK && r, "tiny sweep runs")) fprintf(stderr, "%s\n", lv_error_message());
    int32_t *fold = malloc((size_t)ds->n * sizeof *fold);
    lv_cv_assign_folds(ds, 2, s.fold_seed, fold);
    for (int q = 0; r && q < 2; q++) {
        int64_t *idx = NULL, n = 0;
        lv_cv_train_indices(ds, fold, r[q].fold, 2, 3, &idx, &n);
        char what[128];
        snprintf(what, sizeof what, "run %d trained on the %" PRId64 " samples of its 2-shot selection (%" PRId64 ")",
                 q + 1, n, r[q].n_train);
        lv_test_true(r[q].done && !r[q].reused && r[q].n_train == n && r[q].accuracy >= 0 && r[q].accuracy <= 1, what);
        free(idx);
    }
    char p[256];
    struct stat sb;
    const char *files[] = {"table.md", "table.csv", "cv.json", "cv_config.json", "runs/linear_2_s3_f1/metrics.json",
                           "runs/linear_2_s3_f2/predictions.csv", "runs/linear_2_s3_f2/model.safetensors"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, files[i]);
        if (stat(p, &sb) == 0 && sb.st_size > 0) lv_test_pass("wrote %s", files[i]);
        else lv_test_fail("missing %s", p);
    }
    double acc0 = r ? r[0].accuracy : -1;
    free(r);
    r = NULL;
    st = lv_cv_run(&s, ds, &env, &r);
    lv_test_true(st == LV_OK && r && r[0].reused && r[1].reused && r[0].accuracy == acc0,
                 "a second call reuses both finished runs and their metrics");
    free(r);
    r = NULL;
    s.train.lr = 0.5;
    st = lv_cv_run(&s, ds, &env, &r);
    expect_usage(st, "'lr' is 0.001 there, 0.5 now", "a changed setting is refused without force");
    free(r);
    free(fold);
    lv_cv_sweep_free(&s);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
}

int main(void) {
    test_stats();
    test_aggregate();
    test_parse();
    lv_phantom_opts o;
    lv_phantom_opts_default(&o);
    o.per_class = 40;
    o.size = 32;
    lv_dataset ds;
    lv_dataset_init(&ds);
    if (!lv_test_true(lv_phantom_generate(&ds, &o, NULL) == LV_OK, "phantom")) return lv_test_summary();
    lv_test_true(ds.patients && ds.lesions, "phantom has patients and lesions");
    test_folds_and_shots(&ds);
    test_sweep(&ds);
    lv_dataset_free(&ds);
    return lv_test_summary();
}
