/* The summary of a cross-validation sweep (cv.h): mean and sample standard deviation over
 * folds x seeds per (head, shots), and the text of table.md, table.csv and cv.json. Pure
 * text from results already computed: no files, no training. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "train/cv.h"

void lv_cv_stat_compute(const double *x, int n, lv_cv_stat *st) {
    double sum = 0;
    int m = 0;
    for (int i = 0; i < n; i++)
        if (isfinite(x[i])) {
            sum += x[i];
            m++;
        }
    st->n = m;
    st->mean = m ? sum / m : NAN;
    st->std = NAN;
    if (m < 2) return;
    /* Two passes: the squared deviations from the mean, not sum(x^2) - n*mean^2, which
     * cancels badly when the spread is small next to the mean (accuracies near 0.9). */
    double ss = 0;
    for (int i = 0; i < n; i++)
        if (isfinite(x[i])) ss += (x[i] - st->mean) * (x[i] - st->mean);
    st->std = sqrt(ss / (m - 1));
}

void lv_cv_aggregate(const lv_cv_sweep *s, const lv_cv_result *r, int64_t n, lv_cv_row *rows) {
    double *acc = malloc(((size_t)n + 1) * 3 * sizeof *acc);
    for (int h = 0; h < s->n_heads; h++)
        for (int k = 0; k < s->n_shots; k++) {
            lv_cv_row *row = &rows[h * s->n_shots + k];
            memset(row, 0, sizeof *row);
            row->head = s->heads[h];
            row->shots = s->shots[k];
            row->accuracy.mean = row->accuracy.std = NAN;
            row->balanced_accuracy = row->macro_auc = row->accuracy;
            if (!acc) continue;
            double *bal = acc + n + 1, *auc = bal + n + 1;
            int m = 0;
            for (int64_t i = 0; i < n; i++)
                if (r[i].done && r[i].head == row->head && r[i].shots == row->shots) {
                    acc[m] = r[i].accuracy;
                    bal[m] = r[i].balanced_accuracy;
                    auc[m] = r[i].macro_auc;
                    m++;
                }
            row->runs = m;
            lv_cv_stat_compute(acc, m, &row->accuracy);
            lv_cv_stat_compute(bal, m, &row->balanced_accuracy);
            lv_cv_stat_compute(auc, m, &row->macro_auc);
        }
    free(acc);
}

static void shots_text(int shots, char *buf, size_t cap) {
    if (shots > 0) snprintf(buf, cap, "%d", shots);
    else snprintf(buf, cap, "all");
}

/* "0.812 ± 0.041", with the count when some runs had no value. */
static void cell(FILE *f, const lv_cv_stat *st, int runs) {
    if (st->n == 0) {
        fputs(" n/a |", f);
        return;
    }
    fprintf(f, " %.3f", st->mean);
    if (st->n >= 2) fprintf(f, " ± %.3f", st->std);
    if (st->n != runs) fprintf(f, " (n=%d)", st->n);
    fputs(" |", f);
}

static int64_t finished(const lv_cv_result *r, int64_t n) {
    int64_t m = 0;
    for (int64_t i = 0; i < n; i++) m += r[i].done != 0;
    return m;
}

char *lv_cv_table_md(const lv_cv_sweep *s, const lv_cv_row *rows, const lv_cv_result *r, int64_t n) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) return NULL;
    const lv_train_config *c = &s->train;
    fprintf(f, "# Cross-validation: %s\n\n", c->data ? c->data : "(in-memory data)");
    fprintf(f, "%d-fold patient-level cross-validation (patients dealt to folds with seed %" PRIu64 "), seed%s ",
            s->folds, s->fold_seed, s->n_seeds > 1 ? "s" : "");
    for (int i = 0; i < s->n_seeds; i++) fprintf(f, "%s%" PRIu64, i ? ", " : "", s->seeds[i]);
    fprintf(f, ". Each run trains %d epoch%s (batch %d, lr %g", c->epochs, c->epochs > 1 ? "s" : "", c->batch,
            c->lr);
    if (c->size > 0) fprintf(f, ", input %dx%d", c->size, c->size);
    fprintf(f, ") on the patients of the other fold%s, with all their lesions or `shots` labelled lesions per "
               "class, and tests its final model on the held-out fold (no validation split, no model "
               "selection).\n\n", s->folds > 2 ? "s" : "");
    fprintf(f, "Values are mean ± sample standard deviation (n − 1) over folds × seeds; n is the number of "
               "runs.\n\n");
    fprintf(f, "| head | shots | accuracy | balanced accuracy | macro-AUC | n |\n|---|---|---|---|---|---|\n");
    int nrows = s->n_heads * s->n_shots;
    for (int i = 0; i < nrows; i++) {
        char k[16];
        shots_text(rows[i].shots, k, sizeof k);
        fprintf(f, "| %s | %s |", lv_cv_head_name(rows[i].head), k);
        cell(f, &rows[i].accuracy, rows[i].runs);
        cell(f, &rows[i].balanced_accuracy, rows[i].runs);
        cell(f, &rows[i].macro_auc, rows[i].runs);
        fprintf(f, " %d |\n", rows[i].runs);
    }
    int64_t done = finished(r, n);
    if (done < n)
        fprintf(f, "\n%" PRId64 " of %" PRId64 " runs finished; run the same `liver-vlm cv` command again to "
                   "continue.\n", done, n);
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

static void csv_num(FILE *f, double v) {
    if (isfinite(v)) fprintf(f, ",%.6f", v);
    else fputs(",", f);
}

char *lv_cv_table_csv(const lv_cv_sweep *s, const lv_cv_row *rows) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) return NULL;
    fputs("head,shots,runs,accuracy_mean,accuracy_std,balanced_accuracy_mean,balanced_accuracy_std,"
          "macro_auc_mean,macro_auc_std,macro_auc_runs\n", f);
    for (int i = 0; i < s->n_heads * s->n_shots; i++) {
        char k[16];
        shots_text(rows[i].shots, k, sizeof k);
        fprintf(f, "%s,%s,%d", lv_cv_head_name(rows[i].head), k, rows[i].runs);
        csv_num(f, rows[i].accuracy.mean);
        csv_num(f, rows[i].accuracy.std);
        csv_num(f, rows[i].balanced_accuracy.mean);
        csv_num(f, rows[i].balanced_accuracy.std);
        csv_num(f, rows[i].macro_auc.mean);
        csv_num(f, rows[i].macro_auc.std);
        fprintf(f, ",%d\n", rows[i].macro_auc.n);
    }
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

/* A number, or null when not finite (JSON has no NaN). */
static cJSON *num(double v) { return isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull(); }

static cJSON *shots_item(int shots) { return shots > 0 ? cJSON_CreateNumber(shots) : cJSON_CreateString("all"); }

static cJSON *stat_json(const lv_cv_stat *st) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "mean", num(st->mean));
    cJSON_AddItemToObject(o, "std", num(st->std));
    cJSON_AddNumberToObject(o, "n", st->n);
    return o;
}

char *lv_cv_json(const lv_cv_sweep *s, const char *sweep_json, const lv_cv_row *rows, const lv_cv_result *r,
                 int64_t n) {
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    cJSON_AddStringToObject(o, "format", "liver-vlm-cv/1");
    cJSON *sw = sweep_json ? cJSON_Parse(sweep_json) : NULL;
    cJSON_AddItemToObject(o, "sweep", sw ? sw : cJSON_CreateNull());
    cJSON_AddNumberToObject(o, "planned", (double)n);
    cJSON_AddNumberToObject(o, "finished", (double)finished(r, n));
    cJSON_AddStringToObject(o, "std", "sample standard deviation (n - 1) over folds x seeds");
    cJSON *t = cJSON_AddArrayToObject(o, "table");
    for (int i = 0; i < s->n_heads * s->n_shots; i++) {
        cJSON *row = cJSON_CreateObject();
        cJSON_AddStringToObject(row, "head", lv_cv_head_name(rows[i].head));
        cJSON_AddItemToObject(row, "shots", shots_item(rows[i].shots));
        cJSON_AddNumberToObject(row, "runs", rows[i].runs);
        cJSON_AddItemToObject(row, "accuracy", stat_json(&rows[i].accuracy));
        cJSON_AddItemToObject(row, "balanced_accuracy", stat_json(&rows[i].balanced_accuracy));
        cJSON_AddItemToObject(row, "macro_auc", stat_json(&rows[i].macro_auc));
        cJSON_AddItemToArray(t, row);
    }
    cJSON *runs = cJSON_AddArrayToObject(o, "runs");
    for (int64_t i = 0; i < n; i++) {
        char name[128];
        lv_cv_run_name(r[i].head, r[i].shots, r[i].seed, r[i].fold, name, sizeof name);
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "name", name);
        cJSON_AddStringToObject(e, "head", lv_cv_head_name(r[i].head));
        cJSON_AddItemToObject(e, "shots", shots_item(r[i].shots));
        cJSON_AddNumberToObject(e, "seed", (double)r[i].seed);
        cJSON_AddNumberToObject(e, "fold", r[i].fold + 1);
        cJSON_AddBoolToObject(e, "finished", r[i].done);
        if (r[i].done) {
            cJSON_AddNumberToObject(e, "train_samples", (double)r[i].n_train);
            cJSON_AddNumberToObject(e, "test_samples", (double)r[i].n_test);
            cJSON_AddItemToObject(e, "accuracy", num(r[i].accuracy));
            cJSON_AddItemToObject(e, "balanced_accuracy", num(r[i].balanced_accuracy));
            cJSON_AddItemToObject(e, "macro_auc", num(r[i].macro_auc));
            cJSON_AddItemToObject(e, "seconds", num(r[i].seconds));
        }
        cJSON_AddItemToArray(runs, e);
    }
    char *text = cJSON_Print(o);
    cJSON_Delete(o);
    return text;
}
