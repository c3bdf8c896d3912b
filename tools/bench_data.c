/* liver-vlm bench data: builds an in-memory dataset (the phantom, or structured noise for
 * more than 4 phases), then measures the loader: samples/s with a consumer that takes
 * batches as fast as it can, and the time a consumer that "computes" a fixed time per batch
 * still waits for data. Measures only; it must not change the loader's behaviour. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "core/clock.h"
#include "core/log.h"
#include "core/rng.h"
#include "data/loader.h"
#include "data/phantom.h"
#include "tools/args.h"
#include "train/batch_stage.h"
#include "tools/bench.h"

typedef struct data_opts {
    int size, batch, augment, phases, samples, threads, prefetch, json;
    double seconds, consumer_ms; /* consumer_ms < 0: 1.5 x the measured time per batch */
    const char *upload;          /* --upload DEVICE: also batches to a backend; NULL: no */
} data_opts;

typedef struct data_result {
    const char *source;
    double build_s, samples_per_s, ms_per_batch;
    int64_t measured_samples;
    double consumer_ms, consumer_s, consumer_wait_s, consumer_samples_per_s;
    int64_t consumer_batches;
    int threads;
    const char *upload_device;              /* backend of --upload, NULL when not asked */
    double plain_samples_per_s, pinned_samples_per_s;
} data_result;

static void usage(FILE *out) {
    fprintf(out,
            "usage: liver-vlm bench data [--size S] [--batch N] [--augment] [--phases P] [--samples N]\n"
            "                            [--seconds T] [--threads N] [--prefetch N] [--consumer-ms X]\n"
            "                            [--upload auto|cpu|cuda] [--json]\n"
            "\n"
            "data: the loader's throughput on an in-memory dataset (the phantom; structured noise for\n"
            "P > 4): preprocessing (HU window, per-phase normalization), optional augmentation, batching\n"
            "on the background thread. Then a fake consumer that spends X ms per batch shows how much\n"
            "time a training loop would still wait for data (0 when prefetch hides loading).\n"
            "\n"
            "  --size S         ROI height and width (output size too), 16..1024   [64]\n"
            "  --batch N        batch size, 1..4096                               [32]\n"
            "  --augment        random flips, rotation, zoom, crop, HU jitter, noise (default options)\n"
            "  --phases P       phases per sample, 1..8                           [3]\n"
            "  --samples N      dataset size, 5..1000000                          [1000]\n"
            "  --seconds T      measuring time per part, 0.1..3600                [3]\n"
            "  --threads N      OpenMP threads of the loader, 0 = all             [0]\n"
            "  --prefetch N     batches kept ready ahead, 1..256                  [4]\n"
            "  --consumer-ms X  fake compute per batch; default 1.5 x the measured load time\n"
            "  --upload D       also batches to backend D, as the trainer feeds them: plain copies vs\n"
            "                   pinned double-buffered ones (samples/s with the wait for each batch)\n"
            "  --json           print one JSON object instead of the text summary\n");
}

static lv_status parse_opts(int argc, char **argv, data_opts *o, int *help) {
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            *help = 1;
            return LV_OK;
        } else if (!strcmp(a, "--json")) {
            o->json = 1;
        } else if (!strcmp(a, "--augment")) {
            o->augment = 1;
        } else if (!strcmp(a, "--size")) {
            LV_TRY(lv_arg_int(a, v, 16, 1024, &o->size));
            i++;
        } else if (!strcmp(a, "--batch")) {
            LV_TRY(lv_arg_int(a, v, 1, 4096, &o->batch));
            i++;
        } else if (!strcmp(a, "--phases")) {
            LV_TRY(lv_arg_int(a, v, 1, LV_MAX_PHASES, &o->phases));
            i++;
        } else if (!strcmp(a, "--samples")) {
            LV_TRY(lv_arg_int(a, v, 5, 1000000, &o->samples));
            i++;
        } else if (!strcmp(a, "--threads")) {
            LV_TRY(lv_arg_int(a, v, 0, 1024, &o->threads));
            i++;
        } else if (!strcmp(a, "--prefetch")) {
            LV_TRY(lv_arg_int(a, v, 1, 256, &o->prefetch));
            i++;
        } else if (!strcmp(a, "--seconds")) {
            LV_TRY(lv_arg_num(a, v, 0.1, 3600, &o->seconds));
            i++;
        } else if (!strcmp(a, "--upload")) {
            LV_CHECK(v && (!strcmp(v, "auto") || !strcmp(v, "cpu") || !strcmp(v, "cuda")), LV_ERR_USAGE,
                     "bench data: --upload expects auto, cpu or cuda");
            o->upload = v;
            i++;
        } else if (!strcmp(a, "--consumer-ms")) {
            LV_TRY(lv_arg_num(a, v, 0, 60000, &o->consumer_ms));
            i++;
        } else {
            return lv_errorf(LV_ERR_USAGE, "bench data: unknown option '%s' (see liver-vlm bench data --help)", a);
        }
    }
    return LV_OK;
}

static void sleep_s(double s) {
    if (s <= 0) return;
    struct timespec t = {(time_t)s, (long)((s - floor(s)) * 1e9)};
    while (nanosleep(&t, &t) != 0 && errno == EINTR) {
    }
}

/* Phantom lesions for up to 4 phases; beyond that, blobs on noise (loading cost is the same). */
static lv_status build_dataset(lv_dataset *ds, const data_opts *o, const char **source) {
    lv_dataset_init(ds);
    if (o->phases <= LV_PHANTOM_NPHASES) {
        lv_phantom_opts po;
        lv_phantom_opts_default(&po);
        po.per_class = (o->samples + LV_PHANTOM_NCLASSES - 1) / LV_PHANTOM_NCLASSES;
        po.size = o->size;
        po.p = o->phases;
        for (int i = 0; i < o->phases; i++) po.phases[i] = lv_phantom_phase_names[i];
        *source = "phantom";
        return lv_phantom_generate(ds, &po, NULL);
    }
    *source = "random";
    const char *cls[2] = {"A", "B"}, *ph[LV_MAX_PHASES] = {"P0", "P1", "P2", "P3", "P4", "P5", "P6", "P7"};
    LV_TRY(lv_dataset_alloc(ds, o->samples, o->phases, o->size, o->size, LV_PIX_I16));
    LV_TRY(lv_dataset_set_names(ds, cls, 2, ph, o->phases));
    int16_t *px = ds->images;
    size_t hw = (size_t)o->size * o->size;
    for (int64_t i = 0; i < ds->n; i++) {
        ds->labels[i] = (int32_t)(i % 2);
        for (int p = 0; p < o->phases; p++)
            for (size_t k = 0; k < hw; k++) {
                float y = (float)(k / (size_t)o->size) - 0.5f * o->size, x = (float)(k % (size_t)o->size) - 0.5f * o->size;
                float blob = (x * x + y * y < 0.1f * hw) ? 40.0f * (float)(p + 1) : 0.0f;
                float noise = 20.0f * lv_rng_uniform(7, (uint64_t)i, (uint64_t)p * hw + k);
                px[((size_t)i * o->phases + p) * hw + k] = (int16_t)(55.0f + blob + noise);
            }
    }
    return LV_OK;
}

static lv_status measure(const lv_dataset *ds, const data_opts *o, data_result *r) {
    lv_loader_opts lo;
    lv_loader_opts_default(&lo);
    lo.batch = o->batch;
    lo.seed = 1;
    lo.augment = o->augment;
    lo.threads = o->threads;
    lo.prefetch = o->prefetch;
    lo.out_size = o->size;
    lv_loader *l = NULL;
    LV_TRY(lv_loader_create(&l, ds, &lo));
    lv_status st = LV_OK;
    lv_batch *b = NULL;
    /* Warm-up: the ring fills and the OpenMP team starts. */
    for (int i = 0; i < 2 && st == LV_OK; i++) st = lv_loader_next(l, &b);
    LV_INFO("bench data: fastest consumer for %.1f s", o->seconds);
    double t0 = lv_now_s(), t = t0;
    int64_t samples = 0, batches = 0;
    while (st == LV_OK && t - t0 < o->seconds) {
        st = lv_loader_next(l, &b);
        if (st == LV_OK && b) samples += b->n, batches++;
        t = lv_now_s();
    }
    if (st == LV_OK) {
        r->measured_samples = samples;
        r->samples_per_s = samples / (t - t0);
        r->ms_per_batch = batches ? 1e3 * (t - t0) / batches : 0;
        r->consumer_ms = o->consumer_ms >= 0 ? o->consumer_ms : 1.5 * r->ms_per_batch;
        LV_INFO("bench data: consumer computing %.2f ms per batch for %.1f s", r->consumer_ms, o->seconds);
        /* Refill the ring first, as a training step's first batch would find it. */
        sleep_s(1e-3 * r->consumer_ms * (o->prefetch + 1));
        double w0 = lv_loader_wait_seconds(l);
        t0 = lv_now_s(), t = t0;
        batches = 0, samples = 0;
        while (st == LV_OK && t - t0 < o->seconds) {
            st = lv_loader_next(l, &b);
            if (st == LV_OK && b) samples += b->n, batches++;
            sleep_s(1e-3 * r->consumer_ms);
            t = lv_now_s();
        }
        r->consumer_s = t - t0;
        r->consumer_batches = batches;
        r->consumer_wait_s = lv_loader_wait_seconds(l) - w0;
        r->consumer_samples_per_s = samples / (t - t0);
    }
    lv_loader_destroy(l);
    return st;
}

/* --upload: a training step's view of the data on a backend. Plain: the loader's pageable
 * batch copied with copy_h2d, then the wait for it. Pinned: the stager (train/batch_stage.h),
 * batch k+1's copy queued before the wait that ends step k. No compute, so this shows the
 * pinned copy's bandwidth; the overlap with a step is what the trainer adds on top. */
static lv_status measure_upload(const lv_dataset *ds, const data_opts *o, data_result *r) {
    lv_backend *be = NULL;
    LV_TRY(lv_backend_create(&be, o->upload));
    r->upload_device = be->name;
    lv_loader_opts lo;
    lv_loader_opts_default(&lo);
    lo.batch = o->batch;
    lo.seed = 1;
    lo.augment = o->augment;
    lo.threads = o->threads;
    lo.prefetch = o->prefetch;
    lo.out_size = o->size;
    size_t per = (size_t)ds->p * (size_t)o->size * (size_t)o->size;
    float *x = be->alloc(be, (size_t)o->batch * per * sizeof(float));
    lv_loader *l = NULL;
    lv_stager *st = NULL;
    lv_status s = x ? LV_OK : lv_errorf(LV_ERR_RUNTIME, "bench data: %s backend out of memory", be->name);
    if (s == LV_OK) s = lv_loader_create(&l, ds, &lo);
    for (int pass = 0; pass < 2 && s == LV_OK; pass++) {
        if (pass == 1) s = lv_stager_create(&st, be, o->batch, per);
        if (pass == 1 && s == LV_OK) s = lv_stager_open(st, ds, &lo);
        LV_INFO("bench data: %s uploads to %s for %.1f s", pass ? "pinned double-buffered" : "plain", be->name,
                o->seconds);
        double t0 = 0, t = 0;
        int64_t n = 0;
        for (int k = 0; s == LV_OK; k++) {
            if (k == 2) t0 = lv_now_s(), n = 0; /* after the warm-up batches */
            int got = 0;
            if (pass == 0) {
                lv_batch *b = NULL;
                s = lv_loader_next(l, &b);
                if (s == LV_OK && b) be->copy_h2d(be, x, b->images, (size_t)b->n * per * sizeof(float)), got = b->n;
            } else {
                const lv_staged *sb = NULL;
                s = lv_stager_next(st, &sb);
                if (s == LV_OK && sb) s = lv_stager_prefetch(st), got = sb->n;
            }
            if (s == LV_OK) s = be->sync(be);
            n += got;
            t = lv_now_s();
            if (k >= 2 && t - t0 >= o->seconds) break;
        }
        double rate = t > t0 ? (double)n / (t - t0) : 0;
        if (pass == 0) r->plain_samples_per_s = rate;
        else r->pinned_samples_per_s = rate;
    }
    lv_stager_destroy(st);
    lv_loader_destroy(l);
    if (x) be->free(be, x);
    lv_backend_destroy(be);
    return s;
}

static lv_status print_json(const data_opts *o, const lv_dataset *ds, const data_result *r) {
    cJSON *root = cJSON_CreateObject();
    if (!root) return lv_errorf(LV_ERR_RUNTIME, "bench: out of memory building JSON");
    cJSON_AddStringToObject(root, "benchmark", "data");
    cJSON_AddStringToObject(root, "source", r->source);
    cJSON_AddNumberToObject(root, "size", o->size);
    cJSON_AddNumberToObject(root, "batch", o->batch);
    cJSON_AddNumberToObject(root, "phases", ds->p);
    cJSON_AddNumberToObject(root, "samples", (double)ds->n);
    cJSON_AddBoolToObject(root, "augment", o->augment);
    cJSON_AddNumberToObject(root, "threads", r->threads);
    cJSON_AddNumberToObject(root, "prefetch", o->prefetch);
    cJSON_AddNumberToObject(root, "build_s", r->build_s);
    cJSON_AddNumberToObject(root, "seconds", o->seconds);
    cJSON_AddNumberToObject(root, "samples_per_s", r->samples_per_s);
    cJSON_AddNumberToObject(root, "ms_per_batch", r->ms_per_batch);
    cJSON *c = cJSON_AddObjectToObject(root, "consumer");
    if (c) {
        cJSON_AddNumberToObject(c, "ms_per_batch", r->consumer_ms);
        cJSON_AddNumberToObject(c, "batches", (double)r->consumer_batches);
        cJSON_AddNumberToObject(c, "seconds", r->consumer_s);
        cJSON_AddNumberToObject(c, "wait_s", r->consumer_wait_s);
        cJSON_AddNumberToObject(c, "wait_fraction", r->consumer_s > 0 ? r->consumer_wait_s / r->consumer_s : 0);
        cJSON_AddNumberToObject(c, "samples_per_s", r->consumer_samples_per_s);
    }
    if (r->upload_device) {
        cJSON *u = cJSON_AddObjectToObject(root, "upload");
        if (u) {
            cJSON_AddStringToObject(u, "device", r->upload_device);
            cJSON_AddNumberToObject(u, "plain_samples_per_s", r->plain_samples_per_s);
            cJSON_AddNumberToObject(u, "pinned_samples_per_s", r->pinned_samples_per_s);
        }
    }
    char *txt = cJSON_Print(root);
    cJSON_Delete(root);
    if (!txt) return lv_errorf(LV_ERR_RUNTIME, "bench: out of memory printing JSON");
    printf("%s\n", txt);
    cJSON_free(txt);
    return LV_OK;
}

static void print_text(const data_opts *o, const lv_dataset *ds, const data_result *r) {
    printf("bench data: %s, %lld samples of %d phases at %dx%d (%s), built in %.2f s\n", r->source, (long long)ds->n,
           ds->p, o->size, o->size, lv_pixel_name(ds->pixel), r->build_s);
    printf("loader: batch %d, %s, %d OpenMP threads, prefetch %d\n", o->batch,
           o->augment ? "augmentation on" : "no augmentation", r->threads, o->prefetch);
    printf("  fastest consumer:  %10.0f samples/s  (%.3f ms per batch, %lld samples in %.1f s)\n", r->samples_per_s,
           r->ms_per_batch, (long long)r->measured_samples, o->seconds);
    printf("  consumer %.2f ms/batch: waited %.3f s of %.2f s (%.1f%%) over %lld batches, %.0f samples/s\n",
           r->consumer_ms, r->consumer_wait_s, r->consumer_s,
           r->consumer_s > 0 ? 100.0 * r->consumer_wait_s / r->consumer_s : 0.0, (long long)r->consumer_batches,
           r->consumer_samples_per_s);
    if (r->upload_device)
        printf("  to %s: plain copies %.0f samples/s, pinned double-buffered %.0f samples/s\n", r->upload_device,
               r->plain_samples_per_s, r->pinned_samples_per_s);
}

lv_status lv_bench_data(int argc, char **argv) {
    data_opts o = {.size = 64, .batch = 32, .phases = 3, .samples = 1000, .prefetch = 4, .seconds = 3,
                   .consumer_ms = -1};
    int help = 0;
    LV_TRY(parse_opts(argc, argv, &o, &help));
    if (help) {
        usage(stdout);
        return LV_OK;
    }
    if (o.upload) { /* a missing device fails before seconds of loader measurement */
        lv_backend *probe = NULL;
        LV_TRY(lv_backend_create(&probe, o.upload));
        lv_backend_destroy(probe);
    }
    data_result r;
    memset(&r, 0, sizeof r);
    lv_dataset ds;
    LV_INFO("bench data: building %d samples of %d phases at %dx%d", o.samples, o.phases, o.size, o.size);
    double t0 = lv_now_s();
    lv_status st = build_dataset(&ds, &o, &r.source);
    r.build_s = lv_now_s() - t0;
    if (st == LV_OK) {
#ifdef _OPENMP
        r.threads = o.threads ? o.threads : omp_get_max_threads();
#else
        r.threads = 1;
#endif
        st = measure(&ds, &o, &r);
        if (st == LV_OK && o.upload) st = measure_upload(&ds, &o, &r);
    }
    if (st == LV_OK) {
        if (o.json) st = print_json(&o, &ds, &r);
        else print_text(&o, &ds, &r);
    }
    lv_dataset_free(&ds);
    return st == LV_OK ? LV_OK : lv_error_wrap(st, "bench data");
}
