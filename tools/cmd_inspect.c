/* liver-vlm inspect: validates a data file with the same reader training uses and prints its
 * summary (shape, dtype, classes with counts, patients, value range, splits, storage), as text
 * or one JSON object. Reads only; must never modify the file. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "build_info.h"
#include "core/log.h"
#include "data/h5_dataset.h"
#include "tools/commands.h"

#if LV_HAVE_HDF5
#include <hdf5.h>
#endif

typedef struct inspect_storage {
    char layout[16];      /* "chunked", "contiguous", "compact" or "unknown" */
    int chunk_rank;
    unsigned long long chunk[4];
    char filters[128];    /* "shuffle+gzip(4)" or "" */
} inspect_storage;

/* How /images is laid out on disk. The reader has validated the file already, so failures
 * here only leave the description at "unknown". */
static void query_storage(const char *path, inspect_storage *s) {
    memset(s, 0, sizeof *s);
    snprintf(s->layout, sizeof s->layout, "unknown");
#if LV_HAVE_HDF5
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t d = f < 0 ? -1 : H5Dopen2(f, "/images", H5P_DEFAULT);
    hid_t p = d < 0 ? -1 : H5Dget_create_plist(d);
    if (p >= 0) {
        H5D_layout_t l = H5Pget_layout(p);
        snprintf(s->layout, sizeof s->layout, "%s",
                 l == H5D_CHUNKED ? "chunked" : l == H5D_CONTIGUOUS ? "contiguous" : l == H5D_COMPACT ? "compact" : "unknown");
        hsize_t cd[4];
        if (l == H5D_CHUNKED && H5Pget_chunk(p, 4, cd) == 4) {
            s->chunk_rank = 4;
            for (int i = 0; i < 4; i++) s->chunk[i] = (unsigned long long)cd[i];
        }
        int nf = H5Pget_nfilters(p);
        size_t at = 0;
        for (int i = 0; i < nf && at < sizeof s->filters; i++) {
            unsigned flags = 0, cv[8] = {0};
            size_t ncv = 8;
            char name[64] = "";
            H5Z_filter_t id = H5Pget_filter2(p, (unsigned)i, &flags, &ncv, cv, sizeof name, name, NULL);
            const char *sep = at ? "+" : "";
            int w;
            if (id == H5Z_FILTER_DEFLATE) w = snprintf(s->filters + at, sizeof s->filters - at, "%sgzip(%u)", sep, ncv ? cv[0] : 0u);
            else if (id == H5Z_FILTER_SHUFFLE) w = snprintf(s->filters + at, sizeof s->filters - at, "%sshuffle", sep);
            else if (id == H5Z_FILTER_FLETCHER32) w = snprintf(s->filters + at, sizeof s->filters - at, "%sfletcher32", sep);
            else w = snprintf(s->filters + at, sizeof s->filters - at, "%sfilter %d%s%s", sep, (int)id, name[0] ? " " : "", name);
            if (w > 0) at += (size_t)w;
        }
        H5Pclose(p);
    }
    if (d >= 0) H5Dclose(d);
    if (f >= 0) H5Fclose(f);
    H5Eclear2(H5E_DEFAULT);
#else
    (void)path;
#endif
}

/* Minimum and maximum pixel value over the whole file (streamed files are read sample by
 * sample, with progress). */
static lv_status value_range(const lv_dataset *ds, double *lo, double *hi) {
    size_t bytes = lv_dataset_sample_bytes(ds), count = bytes / lv_pixel_size(ds->pixel);
    void *buf = malloc(bytes);
    LV_CHECK_ALLOC(buf);
    *lo = INFINITY;
    *hi = -INFINITY;
    time_t last = time(NULL);
    for (int64_t i = 0; i < ds->n; i++) {
        lv_status st = lv_dataset_read_raw(ds, i, buf);
        if (st != LV_OK) {
            free(buf);
            return st;
        }
        for (size_t j = 0; j < count; j++) {
            double v = ds->pixel == LV_PIX_I16  ? ((const int16_t *)buf)[j]
                       : ds->pixel == LV_PIX_U8 ? ((const uint8_t *)buf)[j]
                                                : ((const float *)buf)[j];
            if (v < *lo) *lo = v;
            if (v > *hi) *hi = v;
        }
        if (time(NULL) - last >= 3) {
            LV_INFO("inspect: scanned %" PRId64 " of %" PRId64 " samples", i + 1, ds->n);
            last = time(NULL);
        }
    }
    free(buf);
    return LV_OK;
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Distinct lesions: (patient, lesion) pairs when patients exist, since lesion ids are often
 * numbered per patient. */
static int64_t count_lesions(const lv_dataset *ds) {
    int64_t *k = malloc((size_t)ds->n * sizeof *k);
    if (!k) return -1;
    for (int64_t i = 0; i < ds->n; i++)
        k[i] = ((int64_t)(ds->patients ? ds->patients[i] : 0) << 32) | (int64_t)(uint32_t)ds->lesions[i];
    qsort(k, (size_t)ds->n, sizeof *k, cmp_i64);
    int64_t distinct = 0;
    for (int64_t i = 0; i < ds->n; i++) distinct += i == 0 || k[i] != k[i - 1];
    free(k);
    return distinct;
}

typedef struct inspect_summary {
    int64_t class_count[LV_MAX_CLASSES];
    int64_t split_count[3];
    int64_t lesions; /* -1 when absent */
    double lo, hi;
    inspect_storage storage;
} inspect_summary;

static void print_text(const lv_dataset *ds, const inspect_summary *s) {
    printf("file:      %s\n", ds->path);
    printf("samples:   %" PRId64 "\n", ds->n);
    printf("phases:    %d (", ds->p);
    for (int i = 0; i < ds->p; i++) printf("%s%s", i ? ", " : "", ds->phases[i]);
    printf(")\n");
    printf("size:      %d x %d (H x W)\n", ds->h, ds->w);
    printf("dtype:     %s, units %s\n", lv_pixel_name(ds->pixel), ds->hu ? "HU" : "raw");
    printf("classes:   %d\n", ds->c);
    for (int i = 0; i < ds->c; i++) printf("  %-12s %" PRId64 "\n", ds->classes[i], s->class_count[i]);
    if (ds->patients) printf("patients:  %d\n", ds->n_patients);
    else printf("patients:  none (/patients absent: splits are per sample)\n");
    if (s->lesions >= 0) printf("lesions:   %" PRId64 "\n", s->lesions);
    if (ds->pixel == LV_PIX_F32) printf("values:    min %.6g, max %.6g%s\n", s->lo, s->hi, ds->hu ? " HU" : "");
    else printf("values:    min %.0f, max %.0f%s\n", s->lo, s->hi, ds->hu ? " HU" : "");
    printf("reports:   %s\n", ds->reports ? "yes" : "no");
    if (ds->split)
        printf("split:     train %" PRId64 ", val %" PRId64 ", test %" PRId64 "\n", s->split_count[0],
               s->split_count[1], s->split_count[2]);
    double bytes = (double)lv_dataset_sample_bytes(ds) * (double)ds->n;
    printf("storage:   %s (%.1f %s of pixels); %s", ds->images ? "in memory" : "streamed",
           bytes < 1048576.0 ? bytes / 1024.0 : bytes / 1048576.0, bytes < 1048576.0 ? "KiB" : "MiB",
           s->storage.layout);
    if (s->storage.chunk_rank == 4)
        printf(" [%llu,%llu,%llu,%llu]", s->storage.chunk[0], s->storage.chunk[1], s->storage.chunk[2],
               s->storage.chunk[3]);
    printf(", filters %s\n", s->storage.filters[0] ? s->storage.filters : "none");
}

static lv_status print_json(const lv_dataset *ds, const inspect_summary *s) {
    cJSON *o = cJSON_CreateObject();
    LV_CHECK_ALLOC(o);
    cJSON_AddStringToObject(o, "file", ds->path);
    cJSON_AddNumberToObject(o, "samples", (double)ds->n);
    cJSON_AddItemToObject(o, "phases", cJSON_CreateStringArray((const char *const *)ds->phases, ds->p));
    cJSON_AddNumberToObject(o, "height", ds->h);
    cJSON_AddNumberToObject(o, "width", ds->w);
    cJSON_AddStringToObject(o, "dtype", lv_pixel_name(ds->pixel));
    cJSON_AddStringToObject(o, "units", ds->hu ? "HU" : "raw");
    cJSON *cls = cJSON_AddArrayToObject(o, "classes");
    for (int i = 0; cls && i < ds->c; i++) {
        cJSON *c = cJSON_CreateObject();
        cJSON_AddStringToObject(c, "name", ds->classes[i]);
        cJSON_AddNumberToObject(c, "count", (double)s->class_count[i]);
        cJSON_AddItemToArray(cls, c);
    }
    if (ds->patients) cJSON_AddNumberToObject(o, "patients", ds->n_patients);
    else cJSON_AddNullToObject(o, "patients");
    if (s->lesions >= 0) cJSON_AddNumberToObject(o, "lesions", (double)s->lesions);
    else cJSON_AddNullToObject(o, "lesions");
    cJSON_AddNumberToObject(o, "min", s->lo);
    cJSON_AddNumberToObject(o, "max", s->hi);
    cJSON_AddBoolToObject(o, "reports", ds->reports != NULL);
    if (ds->split) {
        cJSON *sp = cJSON_AddObjectToObject(o, "split");
        cJSON_AddNumberToObject(sp, "train", (double)s->split_count[0]);
        cJSON_AddNumberToObject(sp, "val", (double)s->split_count[1]);
        cJSON_AddNumberToObject(sp, "test", (double)s->split_count[2]);
    } else {
        cJSON_AddNullToObject(o, "split");
    }
    cJSON *st = cJSON_AddObjectToObject(o, "storage");
    cJSON_AddStringToObject(st, "mode", ds->images ? "memory" : "streamed");
    cJSON_AddStringToObject(st, "layout", s->storage.layout);
    if (s->storage.chunk_rank == 4) {
        cJSON *ch = cJSON_AddArrayToObject(st, "chunk");
        for (int i = 0; i < 4; i++) cJSON_AddItemToArray(ch, cJSON_CreateNumber((double)s->storage.chunk[i]));
    }
    cJSON_AddStringToObject(st, "filters", s->storage.filters);
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    LV_CHECK_ALLOC(text);
    printf("%s\n", text);
    cJSON_free(text);
    return LV_OK;
}

static void inspect_usage(FILE *out) {
    fprintf(out,
            "usage: liver-vlm inspect F.h5 [--json]\n"
            "\n"
            "Validates a liver-vlm-data/1 file (every rule in docs/data-format.md) and prints its\n"
            "summary: samples, phases, size, dtype and units, classes with counts, patients,\n"
            "lesions, value range, reports, split counts and how the images are stored.\n"
            "Exit 0 when the file is valid, 1 with the reason when it is not.\n"
            "\n"
            "  --json   print one JSON object instead of the text summary\n");
}

lv_status lv_cmd_inspect(int argc, char **argv) {
    const char *path = NULL;
    int json = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            inspect_usage(stdout);
            return LV_OK;
        } else if (!strcmp(argv[i], "--json")) {
            json = 1;
        } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            return lv_errorf(LV_ERR_USAGE, "unknown option '%s' (see liver-vlm inspect --help)", argv[i]);
        } else if (path) {
            return lv_errorf(LV_ERR_USAGE, "expected one data file, got '%s' and '%s'", path, argv[i]);
        } else {
            path = argv[i];
        }
    }
    if (!path) {
        inspect_usage(stderr);
        return lv_errorf(LV_ERR_USAGE, "missing the data file (usage: liver-vlm inspect F.h5 [--json])");
    }
    lv_dataset ds;
    LV_TRY(lv_h5_read(&ds, path, NULL));
    inspect_summary s;
    memset(&s, 0, sizeof s);
    s.lesions = -1;
    for (int64_t i = 0; i < ds.n; i++) {
        s.class_count[ds.labels[i]]++;
        if (ds.split) s.split_count[ds.split[i]]++;
    }
    if (ds.lesions) s.lesions = count_lesions(&ds);
    lv_status st = value_range(&ds, &s.lo, &s.hi);
    if (st == LV_OK) {
        query_storage(path, &s.storage);
        if (json) st = print_json(&ds, &s);
        else print_text(&ds, &s);
    }
    lv_dataset_free(&ds);
    return st;
}
