/* Files of a cross-validation sweep (see cv_io.h): directories, a run's files, JSON in and
 * out, predictions.csv. Every write goes through lv_write_file_atomic; nothing here decides
 * what to run. */
#include "train/cv_io.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "train/report.h"

#ifndef PATH_MAX
#define PATH_MAX 4096
#endif

lv_status lv_cv_mkdir(const char *dir) {
    char p[PATH_MAX];
    LV_CHECK(strlen(dir) < sizeof p, LV_ERR_INPUT, "%s: path too long", dir);
    snprintf(p, sizeof p, "%s", dir);
    for (char *c = p + 1;; c++) {
        int end = *c == '\0';
        if (*c == '/' || end) {
            *c = '\0';
            if (mkdir(p, 0777) != 0 && errno != EEXIST)
                return lv_errorf(LV_ERR_INPUT, "%s: cannot create directory: %s", p, strerror(errno));
            if (end) break;
            *c = '/';
        }
    }
    struct stat sb;
    LV_CHECK(stat(dir, &sb) == 0 && S_ISDIR(sb.st_mode), LV_ERR_INPUT, "%s: not a directory", dir);
    return LV_OK;
}

lv_status lv_cv_clear_run(const char *dir) {
    static const char *const files[] = {"metrics.json", "predictions.csv", "run.json", "config.json",
                                        "model.safetensors", "best.safetensors", "state.safetensors", "log.jsonl"};
    char p[PATH_MAX + 64];
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, files[i]);
        if (unlink(p) != 0 && errno != ENOENT)
            return lv_errorf(LV_ERR_INPUT, "%s: cannot remove: %s", p, strerror(errno));
    }
    return LV_OK;
}

lv_status lv_cv_write_json(const char *dir, const char *name, const cJSON *doc) {
    char p[PATH_MAX + 64];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    char *text = cJSON_Print(doc);
    LV_CHECK(text, LV_ERR_RUNTIME, "%s: out of memory", p);
    size_t len = strlen(text);
    char *withnl = realloc(text, len + 2);
    if (!withnl) {
        free(text);
        return lv_errorf(LV_ERR_RUNTIME, "%s: out of memory", p);
    }
    withnl[len] = '\n';
    withnl[len + 1] = '\0';
    lv_status st = lv_write_file_atomic(p, withnl, len + 1);
    free(withnl);
    return st;
}

lv_status lv_cv_read_json(const char *path, cJSON **out) {
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (errno == ENOENT) return LV_OK;
        return lv_errorf(LV_ERR_INPUT, "%s: cannot open: %s", path, strerror(errno));
    }
    char *buf = NULL;
    size_t len = 0, cap = 0;
    lv_status st = LV_OK;
    for (;;) {
        if (len + 4096 + 1 > cap) {
            cap = cap ? 2 * cap : 8192;
            char *nb = cap <= ((size_t)64 << 20) ? realloc(buf, cap) : NULL;
            if (!nb) {
                st = lv_errorf(LV_ERR_INPUT, "%s: larger than 64 MiB or out of memory", path);
                break;
            }
            buf = nb;
        }
        size_t got = fread(buf + len, 1, 4096, f);
        len += got;
        if (got < 4096) {
            if (ferror(f)) st = lv_errorf(LV_ERR_INPUT, "%s: read error", path);
            break;
        }
    }
    fclose(f);
    if (st == LV_OK) {
        buf[len] = '\0';
        *out = cJSON_ParseWithOpts(buf, NULL, 1);
        if (!*out) st = lv_errorf(LV_ERR_INPUT, "%s: not valid JSON", path);
    }
    free(buf);
    return st;
}

/* One CSV field, quoted (RFC 4180) when it holds a comma, quote or line break. */
static void put_field(FILE *f, const char *t) {
    if (!strpbrk(t, ",\"\r\n")) {
        fputs(t, f);
        return;
    }
    fputc('"', f);
    for (; *t; t++) {
        if (*t == '"') fputc('"', f);
        fputc(*t, f);
    }
    fputc('"', f);
}

lv_status lv_cv_write_predictions(const char *dir, const lv_dataset *ds, const int64_t *idx, int64_t n,
                                  const float *probs) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    LV_CHECK(f, LV_ERR_RUNTIME, "%s/predictions.csv: out of memory", dir);
    int C = ds->c;
    fputs("index,patient,label,pred", f);
    for (int j = 0; j < C; j++) {
        fputs(",", f);
        char col[300];
        snprintf(col, sizeof col, "p_%s", ds->classes[j]);
        put_field(f, col);
    }
    fputc('\n', f);
    for (int64_t i = 0; i < n; i++) {
        const float *p = probs + (size_t)i * (size_t)C;
        int best = 0; /* arg-max, first on ties, as lv_metrics_compute */
        for (int j = 1; j < C; j++)
            if (p[j] > p[best]) best = j;
        int64_t k = idx[i];
        fprintf(f, "%" PRId64 ",", k);
        if (ds->patients && ds->patient_ids) put_field(f, ds->patient_ids[ds->patients[k]]);
        fputc(',', f);
        put_field(f, ds->classes[ds->labels[k]]);
        fputc(',', f);
        put_field(f, ds->classes[best]);
        for (int j = 0; j < C; j++) fprintf(f, ",%.9g", (double)p[j]);
        fputc('\n', f);
    }
    if (fclose(f) != 0) {
        free(buf);
        return lv_errorf(LV_ERR_RUNTIME, "%s/predictions.csv: out of memory", dir);
    }
    char p[PATH_MAX + 64];
    snprintf(p, sizeof p, "%s/predictions.csv", dir);
    lv_status st = lv_write_file_atomic(p, buf, len);
    free(buf);
    return st;
}

/* A number, or NaN for null (metrics.json writes an undefined AUC as null); 0 when neither. */
static int json_num(const cJSON *o, const char *key, double *v) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);
    if (cJSON_IsNumber(it)) *v = it->valuedouble;
    else if (cJSON_IsNull(it)) *v = NAN;
    else return 0;
    return 1;
}

lv_status lv_cv_run_state_read(const char *dir, const cJSON *identity, lv_cv_run_state *rs, int *same) {
    memset(rs, 0, sizeof *rs);
    rs->accuracy = rs->balanced_accuracy = rs->macro_auc = rs->seconds = NAN;
    *same = 0;
    char p[PATH_MAX + 64];
    snprintf(p, sizeof p, "%s/run.json", dir);
    cJSON *run = NULL, *met = NULL;
    if (lv_cv_read_json(p, &run) != LV_OK || !run) {
        cJSON_Delete(run);
        return LV_OK;
    }
    *same = cJSON_Compare(cJSON_GetObjectItemCaseSensitive(run, "identity"), identity, 1);
    const cJSON *res = cJSON_GetObjectItemCaseSensitive(run, "result");
    snprintf(p, sizeof p, "%s/metrics.json", dir);
    if (*same && cJSON_IsObject(res) && lv_cv_read_json(p, &met) == LV_OK && met) {
        double tr = 0, te = 0;
        int ok = json_num(met, "accuracy", &rs->accuracy) && json_num(met, "balanced_accuracy", &rs->balanced_accuracy) &&
                 json_num(met, "macro_auc", &rs->macro_auc) && json_num(res, "train_samples", &tr) &&
                 json_num(res, "test_samples", &te) && !isnan(rs->accuracy);
        if (ok) {
            json_num(res, "seconds", &rs->seconds);
            rs->n_train = (int64_t)tr;
            rs->n_test = (int64_t)te;
            rs->finished = 1;
        }
    }
    cJSON_Delete(met);
    cJSON_Delete(run);
    return LV_OK;
}
