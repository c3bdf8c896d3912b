/* liver-vlm explain: Grad-CAM pictures for chosen samples of a data file (docs/explain.md):
 * DIR/sample_<index>.png per sample and DIR/explain.csv with the numbers in the titles.
 * Options, checks and files only; the maps are train/gradcam.c's, the drawing
 * tools/explain_image.c's, the PNG encoding data/png_image.c's. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <dirent.h>
#include <sys/stat.h>

#include "core/log.h"
#include "data/h5_dataset.h"
#include "data/loader.h"
#include "data/png_image.h"
#include "tools/commands.h"
#include "tools/explain_image.h"
#include "train/checkpoint.h"
#include "train/evaluate.h"
#include "train/gradcam.h"
#include "train/report.h"
#include "tools/args.h"

#define MAX_INDICES 100000
#define EXPLAIN_BATCH 16

typedef struct explain_opts {
    const char *ckpt, *data, *out, *device, *index, *cls;
    int force;
} explain_opts;

static void explain_usage(FILE *f) {
    fprintf(f,
            "usage: liver-vlm explain --ckpt C.safetensors --data F.h5 --index I[,J...] --out DIR [options]\n"
            "\n"
            "Grad-CAM on the last ResNet stage (layer4): which parts of each chosen ROI raised a class's\n"
            "logit. The model sees the sample exactly as in eval (the checkpoint's preprocessing, centre\n"
            "crop, BN running statistics). Writes into DIR:\n"
            "  sample_<I>.png   each phase in grey (top row) and with the heatmap over it (bottom row),\n"
            "                   titled with the true class, the prediction and its probability\n"
            "  explain.csv      index,patient,label,pred,p_pred,explained,p_explained,png\n"
            "\n"
            "  --ckpt C          checkpoint written by liver-vlm train\n"
            "  --data F.h5       data file (liver-vlm-data/1) with the checkpoint's classes and phases\n"
            "  --index I,J,...   sample rows of F.h5 (0-based), comma-separated, each at most once\n"
            "  --out DIR         output directory (refuses a non-empty one unless --force)\n"
            "  --class K         pred: the predicted class; true: the labelled class; or a class name [pred]\n"
            "  --device D        auto, cpu or cuda                                          [auto]\n"
            "  --force           write into a non-empty DIR\n");
}

static lv_status parse_opts(int argc, char **argv, explain_opts *o, int *help) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            *help = 1;
            return LV_OK;
        } else if (!strcmp(a, "--force")) {
            o->force = 1;
            continue;
        }
        const char **slot = !strcmp(a, "--ckpt")     ? &o->ckpt
                            : !strcmp(a, "--data")   ? &o->data
                            : !strcmp(a, "--out")    ? &o->out
                            : !strcmp(a, "--index")  ? &o->index
                            : !strcmp(a, "--class")  ? &o->cls
                            : !strcmp(a, "--device") ? &o->device
                                                     : NULL;
        if (!slot) return lv_errorf(LV_ERR_USAGE, "unknown option '%s' (see liver-vlm explain --help)", a);
        LV_TRY(lv_arg_need("explain", a, v));
        *slot = v;
        i++;
    }
    if (strcmp(o->device, "auto") && strcmp(o->device, "cpu") && strcmp(o->device, "cuda"))
        return lv_errorf(LV_ERR_USAGE, "--device: expected auto, cpu or cuda, got '%s'", o->device);
    return LV_OK;
}

/* "3,17,4" -> {3, 17, 4}: non-negative integers, no repeats (one picture per sample). */
static lv_status parse_indices(const char *text, int64_t **out, int64_t *n) {
    size_t cap = 1;
    for (const char *t = text; *t; t++) cap += *t == ',';
    LV_CHECK(cap <= MAX_INDICES, LV_ERR_USAGE, "--index: %zu samples, at most %d", cap, MAX_INDICES);
    int64_t *idx = malloc(cap * sizeof *idx);
    LV_CHECK_ALLOC(idx);
    int64_t k = 0;
    const char *t = text;
    for (;;) {
        char *end = NULL;
        errno = 0;
        long long v = *t >= '0' && *t <= '9' ? strtoll(t, &end, 10) : -1;
        size_t len = strcspn(t, ",");
        if (v < 0 || errno || end != t + len) {
            free(idx);
            return lv_errorf(LV_ERR_USAGE, "--index: expected comma-separated sample rows (0, 1, ...), got '%.*s' in '%s'",
                             (int)len, t, text);
        }
        for (int64_t j = 0; j < k; j++)
            if (idx[j] == v) {
                free(idx);
                return lv_errorf(LV_ERR_USAGE, "--index: sample %lld given twice", v);
            }
        idx[k++] = v;
        if (t[len] == '\0') break;
        t += len + 1;
    }
    *out = idx;
    *n = k;
    return LV_OK;
}

/* DIR must be absent (created here), an empty directory, or --force. */
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
    LV_CHECK(!entries || force, LV_ERR_INPUT, "%s is not empty; use --force to write there anyway", dir);
    return LV_OK;
}

/* --class: -1 predicted, -2 true label, else a class index. */
static lv_status resolve_class(const char *k, const lv_ckpt_info *info, int *out) {
    if (!strcmp(k, "pred")) *out = -1;
    else if (!strcmp(k, "true")) *out = -2;
    else {
        for (int j = 0; j < info->classes; j++)
            if (!strcmp(k, info->class_names[j]) || !strcasecmp(k, info->class_names[j])) {
                *out = j;
                return LV_OK;
            }
        char list[1024] = "";
        size_t len = 0;
        for (int j = 0; j < info->classes && len < sizeof list; j++)
            len += (size_t)snprintf(list + len, sizeof list - len, "%s%s", j ? ", " : "", info->class_names[j]);
        return lv_errorf(LV_ERR_USAGE, "--class: expected pred, true or one of the checkpoint's classes (%s), got '%s'",
                         list, k);
    }
    return LV_OK;
}

/* The model's input back in the window it was cut from: u = x * std + mean, which the
 * window and /255 scalings put in [0, 1]; other scalings are stretched per phase. */
static void to_grey(const float *x, const lv_preproc *pre, int p, int s, float *grey) {
    size_t hw = (size_t)s * (size_t)s;
    for (int c = 0; c < p; c++) {
        float mean = pre->mean[pre->n_stats > c ? c : 0], sd = pre->std[pre->n_stats > c ? c : 0];
        float lo = INFINITY, hi = -INFINITY;
        float *g = grey + (size_t)c * hw;
        for (size_t i = 0; i < hw; i++) {
            g[i] = x[(size_t)c * hw + i] * sd + mean;
            lo = g[i] < lo ? g[i] : lo;
            hi = g[i] > hi ? g[i] : hi;
        }
        if (pre->scaling == LV_SCALE_WINDOW || pre->scaling == LV_SCALE_U8) continue;
        for (size_t i = 0; i < hw; i++) g[i] = hi > lo ? (g[i] - lo) / (hi - lo) : 0.0f;
    }
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

typedef struct explain_run {
    lv_backend *be;
    lv_vlm m;
    lv_ckpt_info info;
    int have_model;
    lv_dataset ds;
    int64_t *idx;
    lv_loader *loader;
    float *x, *probs, *cam, *grey;
    int *target, *explained;
    uint8_t *rgb;
    char *csv;
    size_t csv_len;
    FILE *csv_f;
} explain_run;

/* Pictures and CSV rows for one loaded batch. */
static lv_status explain_batch(const explain_opts *o, explain_run *r, const lv_batch *b, int cls,
                               const lv_explain_layout *lay) {
    lv_backend *be = r->be;
    int C = r->info.classes, P = b->p, S = b->s;
    size_t img = (size_t)P * (size_t)S * (size_t)S;
    be->copy_h2d(be, r->x, b->images, (size_t)b->n * img * sizeof(float));
    for (int i = 0; i < b->n; i++) r->target[i] = cls == -2 ? b->labels[i] : cls;
    LV_TRY(lv_gradcam_run(&r->m, r->x, b->n, r->target, r->probs, r->explained, NULL, r->cam));
    const lv_preproc *pre = lv_loader_preproc(r->loader);
    char *const *names = r->info.class_names;
    for (int i = 0; i < b->n; i++) {
        const float *p = r->probs + (size_t)i * (size_t)C;
        int pred = 0, e = r->explained[i], k = (int)b->indices[i];
        for (int j = 1; j < C; j++)
            if (p[j] > p[pred]) pred = j;
        to_grey(b->images + (size_t)i * img, pre, P, S, r->grey);
        char line1[256], line2[256], file[64], path[4200];
        snprintf(line1, sizeof line1, "TRUE %s  PRED %s %.1f%%", names[b->labels[i]], names[pred], 100.0 * p[pred]);
        snprintf(line2, sizeof line2, "GRAD-CAM: %s %.1f%%  SAMPLE %lld", names[e], 100.0 * p[e],
                 (long long)b->indices[i]);
        lv_explain_compose(lay, r->grey, r->cam + (size_t)i * (size_t)S * (size_t)S, r->info.phase_names, line1,
                           line2, r->rgb);
        snprintf(file, sizeof file, "sample_%d.png", k);
        snprintf(path, sizeof path, "%s/%s", o->out, file);
        LV_TRY(lv_png_write(path, r->rgb, lay->width, lay->height, 3));
        fprintf(r->csv_f, "%d,", k);
        if (r->ds.patients && r->ds.patient_ids) csv_field(r->csv_f, r->ds.patient_ids[r->ds.patients[k]]);
        fputc(',', r->csv_f);
        csv_field(r->csv_f, names[b->labels[i]]);
        fputc(',', r->csv_f);
        csv_field(r->csv_f, names[pred]);
        fprintf(r->csv_f, ",%.6f,", (double)p[pred]);
        csv_field(r->csv_f, names[e]);
        fprintf(r->csv_f, ",%.6f,%s\n", (double)p[e], file);
        LV_INFO("explain: %s  true %s, predicted %s (%.1f%%), map for %s", path, names[b->labels[i]], names[pred],
                100.0 * p[pred], names[e]);
    }
    return LV_OK;
}

static lv_status run_explain(const explain_opts *o, explain_run *r) {
    int64_t n = 0;
    LV_TRY(parse_indices(o->index, &r->idx, &n));
    LV_TRY(lv_backend_create(&r->be, o->device));
    LV_TRY(lv_ckpt_load(o->ckpt, r->be, 0, &r->m, &r->info));
    r->have_model = 1;
    int cls = -1;
    LV_TRY(resolve_class(o->cls, &r->info, &cls));
    LV_TRY(lv_h5_read(&r->ds, o->data, NULL));
    LV_TRY(lv_eval_check_data(&r->ds, r->info.class_names, r->info.classes, r->info.phase_names, r->info.phases));
    for (int64_t i = 0; i < n; i++)
        LV_CHECK(r->idx[i] < r->ds.n, LV_ERR_INPUT, "--index %" PRId64 ": %s has %" PRId64 " samples (rows 0..%" PRId64 ")",
                 r->idx[i], o->data, r->ds.n, r->ds.n - 1);
    LV_CHECK(lv_png_available(), LV_ERR_INPUT, "explain: this build has no libpng (built without PNG support), so it "
                                               "cannot write the pictures");
    LV_TRY(prepare_out(o->out, o->force));
    int S = r->info.input_size, P = r->info.phases, C = r->info.classes;
    int batch = n < EXPLAIN_BATCH ? (int)n : EXPLAIN_BATCH;
    LV_TRY(lv_vlm_prepare(&r->m, batch, S));
    if (lv_gradcam_side(&r->m) < 2)
        LV_WARN("explain: a %dx%d input leaves layer4 1x1, so every map is one value and shows no place (all 0 after "
                "normalisation); models trained on ROIs of 64x64 or more give maps to look at", S, S);
    lv_explain_layout lay;
    lv_explain_layout_make(&lay, P, S);
    size_t img = (size_t)P * (size_t)S * (size_t)S;
    r->x = r->be->alloc(r->be, (size_t)batch * img * sizeof(float));
    r->probs = malloc((size_t)batch * (size_t)C * sizeof *r->probs);
    r->cam = malloc((size_t)batch * (size_t)S * (size_t)S * sizeof *r->cam);
    r->grey = malloc(img * sizeof *r->grey);
    r->target = malloc((size_t)batch * sizeof *r->target);
    r->explained = malloc((size_t)batch * sizeof *r->explained);
    r->rgb = malloc((size_t)lay.width * (size_t)lay.height * 3);
    r->csv_f = open_memstream(&r->csv, &r->csv_len);
    LV_CHECK(r->x && r->probs && r->cam && r->grey && r->target && r->explained && r->rgb && r->csv_f, LV_ERR_RUNTIME,
             "explain: out of memory");
    fputs("index,patient,label,pred,p_pred,explained,p_explained,png\n", r->csv_f);
    lv_loader_opts lo;
    lv_loader_opts_default(&lo);
    lo.batch = batch;
    lo.shuffle = 0;
    lo.drop_last = 0;
    lo.augment = 0;
    lo.preproc = r->info.pre;
    lo.out_size = S;
    lo.indices = r->idx;
    lo.count = n;
    lo.epochs = 1;
    LV_TRY(lv_loader_create(&r->loader, &r->ds, &lo));
    LV_INFO("explain: %" PRId64 " samples of %s with %s (%s head) on %s, map for the %s class", n, o->data, o->ckpt,
            r->m.cfg.head == LV_HEAD_VLM ? "vlm" : "linear", r->be->name,
            cls == -1 ? "predicted" : cls == -2 ? "true" : r->info.class_names[cls]);
    for (;;) {
        lv_batch *b = NULL;
        LV_TRY(lv_loader_next(r->loader, &b));
        if (!b) break;
        LV_TRY(explain_batch(o, r, b, cls, &lay));
    }
    LV_CHECK(fclose(r->csv_f) == 0, LV_ERR_RUNTIME, "explain: out of memory for explain.csv");
    r->csv_f = NULL;
    char path[4200];
    snprintf(path, sizeof path, "%s/explain.csv", o->out);
    LV_TRY(lv_write_file_atomic(path, r->csv, r->csv_len));
    printf("explain: %" PRId64 " pictures (%dx%d) in %s; numbers in %s\n", n, lay.width, lay.height, o->out, path);
    return LV_OK;
}

lv_status lv_cmd_explain(int argc, char **argv) {
    explain_opts o = {.device = "auto", .cls = "pred"};
    int help = 0;
    LV_TRY(parse_opts(argc, argv, &o, &help));
    if (help) {
        explain_usage(stdout);
        return LV_OK;
    }
    if (!o.ckpt || !o.data || !o.out || !o.index)
        return lv_errorf(LV_ERR_USAGE, "--ckpt, --data, --index and --out are required (see liver-vlm explain --help)");
    struct stat sb;
    if (!o.force && stat(o.out, &sb) == 0) LV_TRY(prepare_out(o.out, 0));
    explain_run r;
    memset(&r, 0, sizeof r);
    lv_dataset_init(&r.ds);
    lv_status s = run_explain(&o, &r);
    lv_loader_destroy(r.loader);
    if (r.csv_f) fclose(r.csv_f);
    free(r.csv);
    if (r.x) r.be->free(r.be, r.x);
    free(r.probs);
    free(r.cam);
    free(r.grey);
    free(r.target);
    free(r.explained);
    free(r.rgb);
    free(r.idx);
    lv_dataset_free(&r.ds);
    if (r.have_model) {
        lv_vlm_free(&r.m);
        lv_ckpt_info_free(&r.info);
    }
    if (r.be) lv_backend_destroy(r.be);
    return s;
}
