/* liver-vlm eval: loads a checkpoint, predicts a data file with the checkpoint's own
 * preprocessing, and writes predictions.csv, metrics.json, roc.svg, confusion.svg and
 * report.md into a fresh directory (docs/eval.md); with --calibrate also a temperature fit on
 * a validation file and reliability.svg. Under mpirun every rank predicts its share of the
 * samples and rank 0 gathers them, fits and writes everything. Options, checks and file
 * output only; the prediction loop is train/evaluate.c, the numbers train/metrics.c's and
 * train/calibration.c's. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "core/clock.h"
#include "core/log.h"
#include "data/h5_dataset.h"
#include "data/split.h"
#include "tools/commands.h"
#include "train/checkpoint.h"
#include "train/dist.h"
#include "train/evaluate.h"
#include "train/metrics.h"
#include "train/calibration.h"
#include "train/report.h"
#include "tools/args.h"

typedef struct eval_opts {
    const char *ckpt, *data, *out, *device, *split, *precision;
    const char *calibrate, *calibrate_split; /* --calibrate VAL.h5 (NULL: none) */
    int batch, force;
} eval_opts;

static void eval_usage(FILE *f) {
    fprintf(f,
            "usage: liver-vlm eval --ckpt C.safetensors --data F.h5 --out DIR [options]\n"
            "\n"
            "Evaluates a checkpoint on a data file with the preprocessing stored in the checkpoint\n"
            "(centre crop to its input size, no augmentation). Writes into DIR:\n"
            "  predictions.csv  index,patient,label,pred,p_<CLASS>... (one row per sample)\n"
            "  metrics.json     accuracy, balanced_accuracy, macro_auc, per_class, confusion\n"
            "  roc.svg, confusion.svg, report.md\n"
            "The data's classes and phases must be the checkpoint's, in the same order.\n"
            "\n"
            "  --ckpt C          checkpoint written by liver-vlm train (model.safetensors/best.safetensors)\n"
            "  --data F.h5       data file (liver-vlm-data/1)\n"
            "  --out DIR         output directory (refuses a non-empty one unless --force)\n"
            "  --device D        auto, cpu or cuda                                    [auto]\n"
            "  --precision P     fp32 or tf32 (TF32 tensor cores on CUDA; the CPU is fp32)\n"
            "                    [tf32 on CUDA devices that have it, else fp32]\n"
            "  --batch N         images per forward pass, 1..65536                    [128]\n"
            "  --split S         all, train, val or test; the last three select samples by the\n"
            "                    file's /split dataset (an error when the file has none)   [all]\n"
            "  --force           write into a non-empty DIR, replacing the files above\n"
            "  --calibrate V.h5  fit a temperature T on V.h5's predictions (minimum NLL of\n"
            "                    softmax(logits / T)) and report ECE (15 bins) and NLL before and\n"
            "                    after: metrics.json \"calibration\", reliability.svg, report.md.\n"
            "                    predictions.csv keeps the raw probabilities p; calibrated ones are\n"
            "                    softmax(log p / T). Use held-out data, not the evaluated samples.\n"
            "  --calibrate-split S  all, train, val or test: which samples of V.h5 to fit on\n"
            "                    (by its /split dataset, as --split)                   [all]\n"
            "\n"
            "Under mpirun (mpirun -np N liver-vlm eval ...) each rank predicts every N-th sample\n"
            "and rank 0 gathers the predictions and writes DIR; the files are the same as one\n"
            "process writes.\n");
}

static lv_status parse_opts(int argc, char **argv, eval_opts *o, int *help) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            *help = 1;
            return LV_OK;
        } else if (!strcmp(a, "--force")) {
            o->force = 1;
            continue;
        } else if (!strcmp(a, "--ckpt") || !strcmp(a, "--data") || !strcmp(a, "--out")) {
            LV_TRY(lv_arg_need("eval", a, v));
            *(a[2] == 'c' ? &o->ckpt : a[2] == 'd' ? &o->data : &o->out) = v;
        } else if (!strcmp(a, "--device")) {
            LV_TRY(lv_arg_need("eval", a, v));
            if (strcmp(v, "auto") && strcmp(v, "cpu") && strcmp(v, "cuda"))
                return lv_errorf(LV_ERR_USAGE, "--device: expected auto, cpu or cuda, got '%s'", v);
            o->device = v;
        } else if (!strcmp(a, "--precision")) {
            LV_TRY(lv_arg_need("eval", a, v));
            if (strcmp(v, "fp32") && strcmp(v, "tf32"))
                return lv_errorf(LV_ERR_USAGE, "--precision: expected fp32 or tf32, got '%s'", v);
            o->precision = v;
        } else if (!strcmp(a, "--split") || !strcmp(a, "--calibrate-split")) {
            LV_TRY(lv_arg_need("eval", a, v));
            if (strcmp(v, "all") && strcmp(v, "train") && strcmp(v, "val") && strcmp(v, "test"))
                return lv_errorf(LV_ERR_USAGE, "%s: expected all, train, val or test, got '%s'", a, v);
            *(a[2] == 's' ? &o->split : &o->calibrate_split) = v;
        } else if (!strcmp(a, "--calibrate")) {
            LV_TRY(lv_arg_need("eval", a, v));
            o->calibrate = v;
        } else if (!strcmp(a, "--batch")) {
            LV_TRY(lv_arg_need("eval", a, v));
            char *end = NULL;
            errno = 0;
            long n = strtol(v, &end, 10);
            if (errno || end == v || *end || n < 1 || n > 65536)
                return lv_errorf(LV_ERR_USAGE, "--batch: expected an integer in 1..65536, got '%s'", v);
            o->batch = (int)n;
        } else {
            return lv_errorf(LV_ERR_USAGE, "unknown option '%s' (see liver-vlm eval --help)", a);
        }
        i++;
    }
    return LV_OK;
}

/* DIR must be absent (created here), or an empty directory, or --force. */
static lv_status prepare_out(const char *dir, int force) {
    struct stat sb;
    if (stat(dir, &sb) != 0) {
        LV_CHECK(errno == ENOENT, LV_ERR_INPUT, "%s: %s", dir, strerror(errno));
        LV_CHECK(mkdir(dir, 0755) == 0, LV_ERR_INPUT, "%s: cannot create the output directory: %s", dir,
                 strerror(errno));
        return LV_OK;
    }
    LV_CHECK(S_ISDIR(sb.st_mode), LV_ERR_INPUT, "%s exists and is not a directory", dir);
    DIR *d = opendir(dir);
    LV_CHECK(d, LV_ERR_INPUT, "%s: cannot read the output directory: %s", dir, strerror(errno));
    int entries = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        entries += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    LV_CHECK(!entries || force, LV_ERR_INPUT, "%s is not empty; use --force to write the evaluation there anyway",
             dir);
    return LV_OK;
}

static lv_status write_in(const char *dir, const char *name, char *text) {
    char path[4200];
    LV_CHECK(text, LV_ERR_RUNTIME, "out of memory writing %s", name);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    lv_status s = lv_write_file_atomic(path, text, strlen(text));
    free(text);
    return s;
}

/* One CSV field, quoted (RFC 4180) when it holds a comma, quote or line break. */
static void csv_field(FILE *f, const char *t) {
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

/* predictions.csv, built in memory (open_memstream) so it lands atomically like the rest. */
static char *predictions_csv(const lv_dataset *ds, const int64_t *idx, int64_t n, const float *probs) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) return NULL;
    int C = ds->c;
    fputs("index,patient,label,pred", f);
    for (int j = 0; j < C; j++) {
        char col[300];
        snprintf(col, sizeof col, "p_%s", ds->classes[j]);
        fputc(',', f);
        csv_field(f, col);
    }
    fputc('\n', f);
    for (int64_t i = 0; i < n; i++) {
        int64_t k = idx ? idx[i] : i;
        const float *p = probs + (size_t)i * (size_t)C;
        int pred = 0;
        for (int j = 1; j < C; j++)
            if (p[j] > p[pred]) pred = j; /* first on ties, as lv_metrics_compute */
        fprintf(f, "%" PRId64 ",", k);
        if (ds->patients && ds->patient_ids) csv_field(f, ds->patient_ids[ds->patients[k]]);
        fputc(',', f);
        csv_field(f, ds->classes[ds->labels[k]]);
        fputc(',', f);
        csv_field(f, ds->classes[pred]);
        for (int j = 0; j < C; j++) fprintf(f, ",%.9g", (double)p[j]);
        fputc('\n', f);
    }
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

/* The samples --split selects (NULL + n for "all"). */
static lv_status select_split(const lv_dataset *ds, const char *split, int64_t **idx, int64_t *n) {
    *idx = NULL;
    *n = ds->n;
    if (!strcmp(split, "all")) return LV_OK;
    LV_CHECK(ds->split, LV_ERR_INPUT, "%s: --split %s needs the file's /split dataset, and it has none (use --split "
             "all, or evaluate a file holding only held-out samples)", ds->path, split);
    int32_t which = !strcmp(split, "train") ? LV_PART_TRAIN : !strcmp(split, "val") ? LV_PART_VAL : LV_PART_TEST;
    LV_TRY(lv_split_indices(ds->split, ds->n, which, idx, n));
    LV_CHECK(*n > 0, LV_ERR_INPUT, "%s: /split marks no sample as %s", ds->path, split);
    return LV_OK;
}

/* One reliability table as metrics.json arrays. */
static cJSON *reliability_json(const lv_reliability *r) {
    cJSON *o = cJSON_CreateObject(), *cnt = cJSON_AddArrayToObject(o, "count");
    cJSON *acc = cJSON_AddArrayToObject(o, "accuracy"), *conf = cJSON_AddArrayToObject(o, "confidence");
    for (int b = 0; b < LV_CALIB_BINS; b++) {
        cJSON_AddItemToArray(cnt, cJSON_CreateNumber((double)r->count[b]));
        cJSON_AddItemToArray(acc, cJSON_CreateNumber(r->acc[b]));
        cJSON_AddItemToArray(conf, cJSON_CreateNumber(r->conf[b]));
    }
    return o;
}

/* metrics.json: lv_metrics' document, plus "calibration" when --calibrate ran. */
static char *metrics_json(const lv_metrics *met, const char *const *names, const lv_calibration *cal,
                          const char *cal_path) {
    char *text = lv_metrics_to_json(met, names);
    if (!text || !cal) return text;
    cJSON *root = cJSON_Parse(text);
    free(text);
    if (!root) return NULL;
    cJSON *c = cJSON_AddObjectToObject(root, "calibration");
    cJSON_AddNumberToObject(c, "temperature", cal->temperature);
    cJSON_AddNumberToObject(c, "bins", LV_CALIB_BINS);
    cJSON_AddNumberToObject(c, "ece_before", cal->before.ece);
    cJSON_AddNumberToObject(c, "ece_after", cal->after.ece);
    cJSON_AddNumberToObject(c, "nll_before", cal->before.nll);
    cJSON_AddNumberToObject(c, "nll_after", cal->after.nll);
    cJSON_AddStringToObject(c, "fit_data", cal_path);
    cJSON_AddNumberToObject(c, "fit_samples", (double)cal->fit_n);
    cJSON_AddNumberToObject(c, "fit_nll_before", cal->fit_nll_before);
    cJSON_AddNumberToObject(c, "fit_nll_after", cal->fit_nll_after);
    cJSON_AddItemToObject(c, "reliability_before", reliability_json(&cal->before));
    cJSON_AddItemToObject(c, "reliability_after", reliability_json(&cal->after));
    text = cJSON_Print(root);
    cJSON_Delete(root);
    return text;
}

static lv_status write_outputs(const eval_opts *o, const lv_dataset *ds, const int64_t *idx, int64_t n,
                               const float *probs, const int32_t *labels, const lv_metrics *met,
                               const lv_report_info *ri) {
    const char *const *names = (const char *const *)ds->classes;
    LV_TRY(write_in(o->out, "predictions.csv", predictions_csv(ds, idx, n, probs)));
    LV_TRY(write_in(o->out, "metrics.json", metrics_json(met, names, ri->calib, o->calibrate)));
    LV_TRY(write_in(o->out, "roc.svg", lv_report_roc_svg(probs, labels, n, ds->c, names, met)));
    LV_TRY(write_in(o->out, "confusion.svg", lv_report_confusion_svg(met, names)));
    if (ri->calib) LV_TRY(write_in(o->out, "reliability.svg", lv_report_reliability_svg(ri->calib)));
    return write_in(o->out, "report.md", lv_report_markdown(ri, met, names));
}

static void print_headline(const lv_metrics *m, const lv_calibration *cal, const char *out) {
    char auc[32];
    if (isnan(m->macro_auc)) snprintf(auc, sizeof auc, "n/a");
    else snprintf(auc, sizeof auc, "%.4f", m->macro_auc);
    printf("eval: %" PRId64 " samples  accuracy %.4f  balanced accuracy %.4f  macro-AUC %s\n", m->n, m->accuracy,
           m->balanced_accuracy, auc);
    if (cal)
        printf("calibration: T %.4f  ECE %.4f -> %.4f  NLL %.4f -> %.4f\n", cal->temperature, cal->before.ece,
               cal->after.ece, cal->before.nll, cal->after.nll);
    printf("report: %s/report.md (predictions.csv, metrics.json, roc.svg, confusion.svg%s)\n", out,
           cal ? ", reliability.svg" : "");
}

/* Everything after option parsing; resources are released by the caller's struct. */
typedef struct eval_run {
    lv_backend *be;
    lv_vlm m;
    lv_ckpt_info info;
    int have_model;
    lv_dataset ds, cal_ds;
    int64_t *idx;     /* the --split selection (NULL: all) */
    int64_t *cal_idx; /* the --calibrate-split selection of cal_ds (NULL: all) */
    float *probs;     /* rank 0: [n, C] in selection order; other ranks: their share */
    float *cal_probs; /* the same for the calibration file */
    int32_t *labels, *cal_labels;
    lv_metrics met;
    int have_met;
} eval_run;

/* Rank 0: puts the gathered shares (rank r's k-th row is selection position r + k*world)
 * back in selection order. Every rank sent a whole number of rows. */
static lv_status unshard(const float *all, const size_t *counts, int world, int64_t n, int C, float *probs) {
    size_t row = (size_t)C * sizeof(float), off = 0;
    for (int r = 0; r < world; r++) {
        int64_t k = (int64_t)(counts[r] / row), want = n > r ? (n - r + world - 1) / world : 0;
        LV_CHECK(counts[r] % row == 0 && k == want, LV_ERR_RUNTIME,
                 "eval: rank %d sent %zu bytes of predictions, expected %" PRId64 " rows", r, counts[r], want);
        for (int64_t i = 0; i < k; i++)
            memcpy(probs + (size_t)(r + i * world) * (size_t)C, all + off / sizeof(float) + (size_t)i * (size_t)C, row);
        off += counts[r];
    }
    return LV_OK;
}

/* Predicts the selection idx[0..n) of ds (NULL: every sample), each rank its share; on
 * rank 0 *probs ends as [n, C] in selection order, on the others as their own share. */
static lv_status predict_gathered(lv_dist *d, lv_vlm *m, const lv_dataset *ds, const int64_t *idx, int64_t n,
                                  const lv_eval_opts *eo, float **probs) {
    int C = m->cfg.classes;
    int64_t *mine = NULL, nm = 0;
    LV_TRY(lv_eval_shard(idx, n, d->rank, d->world, &mine, &nm));
    *probs = malloc(((size_t)(d->rank == 0 ? n : nm) + 1) * (size_t)C * sizeof **probs);
    lv_status s = *probs ? LV_OK : lv_errorf(LV_ERR_RUNTIME, "eval: out of memory for %" PRId64 " samples", n);
    if (s == LV_OK && nm > 0) s = lv_eval_predict(m, ds, mine, nm, eo, *probs);
    free(mine);
    if (s != LV_OK || d->world == 1) return s;
    size_t *counts = calloc((size_t)d->world, sizeof *counts), bytes = 0;
    LV_CHECK(counts, LV_ERR_RUNTIME, "eval: out of memory");
    void *all = NULL;
    s = lv_dist_gather(d, *probs, (size_t)nm * (size_t)C * sizeof(float), &all, &bytes, counts);
    if (s == LV_OK && d->rank == 0) s = unshard(all, counts, d->world, n, C, *probs);
    free(counts);
    free(all);
    return s;
}

/* Reads a data file the checkpoint can evaluate and selects its samples; *labels [n]. */
static lv_status open_data(const eval_run *r, const char *path, const char *split, lv_dataset *ds, int64_t **idx,
                           int64_t *n, int32_t **labels) {
    LV_TRY(lv_h5_read(ds, path, NULL));
    LV_TRY(lv_eval_check_data(ds, r->info.class_names, r->info.classes, r->info.phase_names, r->info.phases));
    if (ds->h < r->info.input_size || ds->w < r->info.input_size)
        LV_WARN("eval: %s holds %dx%d ROIs, smaller than the model's %dx%d input: they are padded", path, ds->h,
                ds->w, r->info.input_size, r->info.input_size);
    else if (ds->h != r->info.input_size || ds->w != r->info.input_size)
        LV_INFO("eval: %s holds %dx%d ROIs; the model takes %dx%d (centre crop, as in validation)", path, ds->h, ds->w,
                r->info.input_size, r->info.input_size);
    LV_TRY(select_split(ds, split, idx, n));
    *labels = malloc(((size_t)*n + 1) * sizeof **labels);
    LV_CHECK(*labels, LV_ERR_RUNTIME, "eval: out of memory for %" PRId64 " samples", *n);
    for (int64_t i = 0; i < *n; i++) (*labels)[i] = ds->labels[*idx ? (*idx)[i] : i];
    return LV_OK;
}

static lv_status run_eval(const eval_opts *o, lv_dist *d, eval_run *r) {
    LV_TRY(lv_backend_create_rank(&r->be, o->device, d->local_rank));
    if (o->precision) LV_TRY(lv_backend_set_precision(r->be, o->precision));
    LV_TRY(lv_ckpt_load(o->ckpt, r->be, 0, &r->m, &r->info));
    r->have_model = 1;
    char world[160] = "";
    if (d->world > 1) lv_dist_describe(d, world, sizeof world);
    LV_INFO("eval: %s (%s head, %d classes, %d phases, input %d) on %s%s%s%s", o->ckpt,
            r->m.cfg.head == LV_HEAD_VLM ? "vlm" : "linear", r->info.classes, r->info.phases, r->info.input_size,
            r->be->name, r->be->tf32 ? " (tf32)" : "", d->world > 1 ? ", " : "", world);
    int64_t n = 0, ncal = 0;
    LV_TRY(open_data(r, o->data, o->split, &r->ds, &r->idx, &n, &r->labels));
    if (o->calibrate) {
        lv_status s = open_data(r, o->calibrate, o->calibrate_split, &r->cal_ds, &r->cal_idx, &ncal, &r->cal_labels);
        if (s != LV_OK && !strstr(lv_error_message(), o->calibrate))
            return lv_error_wrap(s, "--calibrate %s", o->calibrate);
        LV_TRY(s);
    }
    /* Only now, and only rank 0: bad inputs leave no empty DIR behind. */
    if (d->rank == 0) LV_TRY(prepare_out(o->out, o->force));
    int C = r->info.classes;
    lv_eval_opts eo;
    lv_eval_opts_default(&eo);
    eo.batch = o->batch;
    eo.input_size = r->info.input_size;
    eo.pre = r->info.pre;
    eo.progress = d->rank == 0;
    double t0 = lv_now_s();
    LV_TRY(predict_gathered(d, &r->m, &r->ds, r->idx, n, &eo, &r->probs));
    double dt = lv_now_s() - t0;
    if (d->rank == 0) LV_INFO("eval: %" PRId64 " images in %.2f s (%.0f images/s)", n, dt, (double)n / (dt + 1e-9));
    lv_calibration cal;
    if (o->calibrate) {
        if (d->rank == 0) LV_INFO("eval: predicting %s for calibration (%" PRId64 " samples)", o->calibrate, ncal);
        LV_TRY(predict_gathered(d, &r->m, &r->cal_ds, r->cal_idx, ncal, &eo, &r->cal_probs));
    }
    if (d->rank != 0) return LV_OK;
    if (o->calibrate) {
        lv_status s = lv_calibrate(r->cal_probs, r->cal_labels, ncal, r->probs, r->labels, n, C, &cal);
        if (s != LV_OK) return lv_error_wrap(s, "--calibrate %s", o->calibrate);
        LV_INFO("eval: temperature %.4f fitted on %s (NLL %.4f -> %.4f)", cal.temperature, o->calibrate,
                cal.fit_nll_before, cal.fit_nll_after);
    }
    LV_TRY(lv_metrics_compute(&r->met, r->probs, r->labels, n, C));
    r->have_met = 1;
    lv_report_info ri = {.data_path = o->data, .ckpt_path = o->ckpt, .split = o->split, .device = r->be->name,
                         .head = r->m.cfg.head == LV_HEAD_VLM ? "vlm" : "linear", .input_size = r->info.input_size,
                         .seconds = dt, .calib = o->calibrate ? &cal : NULL, .calib_path = o->calibrate};
    LV_TRY(write_outputs(o, &r->ds, r->idx, n, r->probs, r->labels, &r->met, &ri));
    print_headline(&r->met, ri.calib, o->out);
    return LV_OK;
}

lv_status lv_cmd_eval(int argc, char **argv) {
    eval_opts o = {.device = "auto", .split = "all", .calibrate_split = "all", .batch = 128};
    int help = 0;
    LV_TRY(parse_opts(argc, argv, &o, &help));
    if (help) {
        eval_usage(stdout);
        return LV_OK;
    }
    if (!o.ckpt || !o.data || !o.out)
        return lv_errorf(LV_ERR_USAGE, "--ckpt, --data and --out are required (see liver-vlm eval --help)");
    /* A non-empty DIR is refused before joining a job or the (slow) model and data loading. */
    struct stat sb;
    if (!o.force && stat(o.out, &sb) == 0) LV_TRY(prepare_out(o.out, 0));
    lv_dist d;
    memset(&d, 0, sizeof d);
    LV_TRY(lv_dist_init(&d, &argc, &argv));
    eval_run r;
    memset(&r, 0, sizeof r);
    lv_dataset_init(&r.ds);
    lv_dataset_init(&r.cal_ds);
    lv_status s = run_eval(&o, &d, &r);
    if (s != LV_OK && d.world > 1) {
        /* The other ranks may wait in the gather: say why, then end the whole job. */
        fprintf(stderr, "liver-vlm eval (rank %d of %d): %s\n", d.rank, d.world, lv_error_message());
        lv_dist_abort(&d, lv_status_exit_code(s));
    }
    if (r.have_met) lv_metrics_free(&r.met);
    free(r.probs);
    free(r.cal_probs);
    free(r.labels);
    free(r.cal_labels);
    free(r.idx);
    free(r.cal_idx);
    lv_dataset_free(&r.ds);
    lv_dataset_free(&r.cal_ds);
    if (r.have_model) {
        lv_vlm_free(&r.m);
        lv_ckpt_info_free(&r.info);
    }
    if (r.be) lv_backend_destroy(r.be);
    lv_dist_finalize(&d);
    return s;
}
