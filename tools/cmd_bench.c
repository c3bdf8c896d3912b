/* liver-vlm bench: `bench ops` times conv2d forward and backward on every distinct ResNet-18
 * conv shape at the given input size and batch, through the backend interface (so the same
 * numbers come from the CPU and CUDA twins). Measures only; it must not change any op. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "core/clock.h"
#include "core/backend.h"
#include "core/rng.h"
#include "tools/bench.h"
#include "tools/args.h"
#include "tools/commands.h"

#define BENCH_MAX_SHAPES 24

typedef struct bench_conv {
    char name[24]; /* first layer that has this shape (torchvision names) */
    lv_conv2d_shape s;
    int count; /* how many convs of ResNet-18 have it */
    double fwd_ms, bwd_ms;
} bench_conv;

typedef struct bench_opts {
    const char *device;
    int size, batch, reps; /* reps 0: chosen per shape */
    int json;
} bench_opts;

static void bench_usage(FILE *out) {
    fprintf(out,
            "usage: liver-vlm bench ops [--device cpu|auto|cuda] [--size S] [--batch N] [--reps R] [--json]\n"
            "\n"
            "ops: conv2d forward and backward (dgrad + wgrad) for every distinct ResNet-18 conv\n"
            "shape at SxS input (3 input channels), median of R timed repetitions after a warm-up.\n"
            "Prints GFLOP/s per shape and the conv-only time of one ResNet-18 training step.\n"
            "\n"
            "  --device D   auto (CUDA when present), cpu or cuda   [auto]\n"
            "  --size S     input height and width, 16..1024        [64]\n"
            "  --batch N    batch size, 1..4096                     [32]\n"
            "  --reps R     timed repetitions per shape, 1..10000   [auto: ~0.3 s per shape]\n"
            "  --json       print one JSON object instead of the table\n"
            "\n"
            "data:  the loader's samples/s (see liver-vlm bench data --help)\n"
            "train: whole-model training steps, images/s (see liver-vlm bench train --help)\n"
            "eval:  whole-model evaluation, images/s (see liver-vlm bench eval --help)\n"
            "text:  the BERT text encoder alone, sequences/s (see liver-vlm bench text --help)\n");
}

static lv_status parse_opts(int argc, char **argv, bench_opts *o, int *help) {
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            *help = 1;
            return LV_OK;
        } else if (!strcmp(a, "--json")) {
            o->json = 1;
        } else if (!strcmp(a, "--device")) {
            if (!v) return lv_errorf(LV_ERR_USAGE, "--device needs a value (auto, cpu or cuda)");
            o->device = v;
            i++;
        } else if (!strcmp(a, "--size")) {
            LV_TRY(lv_arg_int(a, v, 16, 1024, &o->size));
            i++;
        } else if (!strcmp(a, "--batch")) {
            LV_TRY(lv_arg_int(a, v, 1, 4096, &o->batch));
            i++;
        } else if (!strcmp(a, "--reps")) {
            LV_TRY(lv_arg_int(a, v, 1, 10000, &o->reps));
            i++;
        } else {
            return lv_errorf(LV_ERR_USAGE, "bench ops: unknown option '%s' (see liver-vlm bench --help)", a);
        }
    }
    return LV_OK;
}

/* Adds a conv, or counts it again when ResNet-18 already has one of the same shape. */
static void add_conv(bench_conv *list, int *n, const char *name, int batch, int c, int h, int oc,
                     int k, int stride, int pad) {
    lv_conv2d_shape s = {batch, c, h, h, oc, k, k, stride, pad};
    for (int i = 0; i < *n; i++)
        if (!memcmp(&list[i].s, &s, sizeof s)) {
            list[i].count++;
            return;
        }
    if (*n >= BENCH_MAX_SHAPES) return;
    bench_conv *b = &list[(*n)++];
    memset(b, 0, sizeof *b);
    snprintf(b->name, sizeof b->name, "%s", name);
    b->s = s;
    b->count = 1;
}

/* torchvision resnet18: conv1 7x7/2, maxpool 3/2, four stages of two BasicBlocks
 * (3x3 convs; the first block of stages 2-4 has stride 2 and a 1x1/2 downsample). */
static int resnet18_convs(bench_conv *list, int size, int batch) {
    int n = 0;
    add_conv(list, &n, "conv1", batch, 3, size, 64, 7, 2, 3);
    int h = (size + 6 - 7) / 2 + 1;
    h = (h + 2 - 3) / 2 + 1; /* maxpool */
    int inplanes = 64;
    for (int stage = 1; stage <= 4; stage++) {
        int planes = 64 << (stage - 1), stride = stage == 1 ? 1 : 2;
        for (int blk = 0; blk < 2; blk++) {
            int st = blk == 0 ? stride : 1;
            int ho = (h + 2 - 3) / st + 1;
            char name[24];
            snprintf(name, sizeof name, "layer%d.%d.conv1", stage, blk);
            add_conv(list, &n, name, batch, inplanes, h, planes, 3, st, 1);
            snprintf(name, sizeof name, "layer%d.%d.conv2", stage, blk);
            add_conv(list, &n, name, batch, planes, ho, planes, 3, 1, 1);
            if (st != 1 || inplanes != planes) {
                snprintf(name, sizeof name, "layer%d.%d.down", stage, blk);
                add_conv(list, &n, name, batch, inplanes, h, planes, 1, st, 0);
            }
            inplanes = planes;
            h = ho;
        }
    }
    return n;
}

static double conv_gflop(const lv_conv2d_shape *s) {
    return 2.0 * s->n * s->oc * lv_conv2d_oh(s) * lv_conv2d_ow(s) * s->c * s->kh * s->kw * 1e-9;
}

static lv_status upload_random(lv_backend *be, float *dst, size_t n, uint64_t seed, float scale) {
    float *h = malloc((n ? n : 1) * sizeof *h);
    LV_CHECK_ALLOC(h);
    for (size_t i = 0; i < n; i++) h[i] = scale * (2.0f * lv_rng_uniform(seed, 0, i) - 1.0f);
    be->copy_h2d(be, dst, h, n * sizeof *h);
    free(h);
    return LV_OK;
}

/* Times one shape: a warm-up pass, then `reps` synced forward and backward passes each;
 * the medians resist the other work a shared machine runs. */
static lv_status time_conv(lv_backend *be, bench_conv *b, int reps) {
    const lv_conv2d_shape *s = &b->s;
    size_t ni = (size_t)s->n * s->c * s->h * s->w, nw = (size_t)s->oc * s->c * s->kh * s->kw;
    size_t no = (size_t)s->n * s->oc * lv_conv2d_oh(s) * lv_conv2d_ow(s);
    float *in = be->alloc(be, ni * sizeof(float)), *w = be->alloc(be, nw * sizeof(float));
    float *out = be->alloc(be, no * sizeof(float)), *dout = be->alloc(be, no * sizeof(float));
    float *din = be->alloc(be, ni * sizeof(float)), *dw = be->alloc(be, nw * sizeof(float));
    double *tf = malloc((size_t)(reps > 0 ? reps : 64) * sizeof *tf);
    double *tb = malloc((size_t)(reps > 0 ? reps : 64) * sizeof *tb);
    lv_status st = LV_OK;
    if (!in || !w || !out || !dout || !din || !dw || !tf || !tb) {
        st = lv_errorf(LV_ERR_RUNTIME, "bench %s: out of memory", b->name);
        goto done;
    }
    if ((st = upload_random(be, in, ni, 1, 1.0f)) != LV_OK) goto done;
    if ((st = upload_random(be, w, nw, 2, 0.05f)) != LV_OK) goto done;
    if ((st = upload_random(be, dout, no, 3, 0.01f)) != LV_OK) goto done;

    double t0 = lv_now_s();
    lv_conv2d_forward(be, out, in, w, NULL, s);
    lv_conv2d_backward(be, din, dw, NULL, dout, in, w, s);
    if ((st = be->sync(be)) != LV_OK) goto done;
    if (reps <= 0) { /* aim at ~0.3 s per shape, within 3..64 repetitions */
        double once = lv_now_s() - t0;
        reps = once > 0 ? (int)(0.3 / once) : 64;
        reps = reps < 3 ? 3 : reps > 64 ? 64 : reps;
    }
    for (int r = 0; r < reps; r++) {
        double a = lv_now_s();
        lv_conv2d_forward(be, out, in, w, NULL, s);
        if ((st = be->sync(be)) != LV_OK) goto done;
        double m = lv_now_s();
        lv_conv2d_backward(be, din, dw, NULL, dout, in, w, s);
        if ((st = be->sync(be)) != LV_OK) goto done;
        tf[r] = m - a;
        tb[r] = lv_now_s() - m;
    }
    b->fwd_ms = 1e3 * lv_bench_median(tf, reps);
    b->bwd_ms = 1e3 * lv_bench_median(tb, reps);
done:
    free(tf);
    free(tb);
    be->free(be, in), be->free(be, w), be->free(be, out);
    be->free(be, dout), be->free(be, din), be->free(be, dw);
    return st;
}

static void shape_label(char *buf, size_t len, const lv_conv2d_shape *s) {
    snprintf(buf, len, "%dx%d/%d %d->%d @%dx%d", s->kh, s->kw, s->stride, s->c, s->oc, s->h, s->w);
}

static void print_table(const bench_opts *o, const lv_backend *be, const bench_conv *list, int n) {
    char reps[48];
    if (o->reps) snprintf(reps, sizeof reps, "%d", o->reps);
    else snprintf(reps, sizeof reps, "3..64 (~0.3 s per shape)");
    printf("bench ops: conv2d on %s (%d threads), ResNet-18 shapes at %dx%d, batch %d, median of "
           "%s reps\n\n", be->name, be->threads, o->size, o->size, o->batch, reps);
    printf("%-16s %-24s %5s %9s %9s %9s %9s\n", "layer", "shape", "count", "fwd ms", "fwd GF/s",
           "bwd ms", "bwd GF/s");
    double tf = 0, tb = 0;
    int layers = 0;
    for (int i = 0; i < n; i++) {
        const bench_conv *b = &list[i];
        char label[64];
        shape_label(label, sizeof label, &b->s);
        double g = conv_gflop(&b->s);
        layers += b->count;
        printf("%-16s %-24s %5d %9.3f %9.1f %9.3f %9.1f\n", b->name, label, b->count, b->fwd_ms,
               g / (b->fwd_ms * 1e-3), b->bwd_ms, 2.0 * g / (b->bwd_ms * 1e-3));
        tf += b->count * b->fwd_ms;
        tb += b->count * b->bwd_ms;
    }
    printf("\nResNet-18 convs, all %d layers (count x median): forward %.1f ms, backward %.1f ms, "
           "forward+backward %.1f ms per batch of %d\n  = %.1f img/s train, %.1f img/s eval (conv only)\n",
           layers, tf, tb, tf + tb, o->batch, o->batch / ((tf + tb) * 1e-3), o->batch / (tf * 1e-3));
}

static lv_status print_json(const bench_opts *o, const lv_backend *be, const bench_conv *list, int n) {
    cJSON *root = cJSON_CreateObject(), *arr = cJSON_CreateArray();
    if (!root || !arr) {
        cJSON_Delete(root);
        cJSON_Delete(arr);
        return lv_errorf(LV_ERR_RUNTIME, "bench: out of memory building JSON");
    }
    cJSON_AddStringToObject(root, "benchmark", "ops");
    cJSON_AddStringToObject(root, "op", "conv2d");
    cJSON_AddStringToObject(root, "device", be->name);
    cJSON_AddNumberToObject(root, "threads", be->threads);
    cJSON_AddNumberToObject(root, "size", o->size);
    cJSON_AddNumberToObject(root, "batch", o->batch);
    cJSON_AddNumberToObject(root, "reps", o->reps);
    double tf = 0, tb = 0;
    for (int i = 0; i < n; i++) {
        const bench_conv *b = &list[i];
        cJSON *e = cJSON_CreateObject();
        if (!e) continue;
        char label[64];
        shape_label(label, sizeof label, &b->s);
        double g = conv_gflop(&b->s);
        cJSON_AddStringToObject(e, "layer", b->name);
        cJSON_AddStringToObject(e, "shape", label);
        cJSON_AddNumberToObject(e, "n", b->s.n);
        cJSON_AddNumberToObject(e, "c", b->s.c);
        cJSON_AddNumberToObject(e, "h", b->s.h);
        cJSON_AddNumberToObject(e, "w", b->s.w);
        cJSON_AddNumberToObject(e, "oc", b->s.oc);
        cJSON_AddNumberToObject(e, "k", b->s.kh);
        cJSON_AddNumberToObject(e, "stride", b->s.stride);
        cJSON_AddNumberToObject(e, "pad", b->s.pad);
        cJSON_AddNumberToObject(e, "count", b->count);
        cJSON_AddNumberToObject(e, "gflop_fwd", g);
        cJSON_AddNumberToObject(e, "fwd_ms", b->fwd_ms);
        cJSON_AddNumberToObject(e, "fwd_gflops", g / (b->fwd_ms * 1e-3));
        cJSON_AddNumberToObject(e, "bwd_ms", b->bwd_ms);
        cJSON_AddNumberToObject(e, "bwd_gflops", 2.0 * g / (b->bwd_ms * 1e-3));
        cJSON_AddItemToArray(arr, e);
        tf += b->count * b->fwd_ms;
        tb += b->count * b->bwd_ms;
    }
    cJSON_AddItemToObject(root, "shapes", arr);
    cJSON *tot = cJSON_AddObjectToObject(root, "resnet18_convs");
    if (tot) {
        cJSON_AddNumberToObject(tot, "fwd_ms", tf);
        cJSON_AddNumberToObject(tot, "bwd_ms", tb);
        cJSON_AddNumberToObject(tot, "fwd_bwd_ms", tf + tb);
        cJSON_AddNumberToObject(tot, "train_img_per_s", o->batch / ((tf + tb) * 1e-3));
        cJSON_AddNumberToObject(tot, "eval_img_per_s", o->batch / (tf * 1e-3));
    }
    char *txt = cJSON_Print(root);
    cJSON_Delete(root);
    if (!txt) return lv_errorf(LV_ERR_RUNTIME, "bench: out of memory printing JSON");
    printf("%s\n", txt);
    cJSON_free(txt);
    return LV_OK;
}

static lv_status bench_ops(const bench_opts *o) {
    bench_conv list[BENCH_MAX_SHAPES];
    int n = resnet18_convs(list, o->size, o->batch);
    lv_backend *be = NULL;
    LV_TRY(lv_backend_create(&be, o->device));
    lv_status st = LV_OK;
    for (int i = 0; i < n && st == LV_OK; i++) {
        st = time_conv(be, &list[i], o->reps);
        if (st != LV_OK) lv_error_wrap(st, "bench ops %s", list[i].name);
    }
    if (st == LV_OK) {
        if (o->json) st = print_json(o, be, list, n);
        else print_table(o, be, list, n);
    }
    lv_backend_destroy(be);
    return st;
}

lv_status lv_cmd_bench(int argc, char **argv) {
    if (argc < 2) {
        bench_usage(stderr);
        return lv_errorf(LV_ERR_USAGE, "which benchmark? (ops, data, train, eval or text; see liver-vlm bench --help)");
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        bench_usage(stdout);
        return LV_OK;
    }
    if (!strcmp(argv[1], "data")) return lv_bench_data(argc, argv);
    if (!strcmp(argv[1], "train")) return lv_bench_train(argc, argv);
    if (!strcmp(argv[1], "eval")) return lv_bench_eval(argc, argv);
    if (!strcmp(argv[1], "text")) return lv_bench_text(argc, argv);
    if (strcmp(argv[1], "ops") != 0)
        return lv_errorf(LV_ERR_USAGE, "unknown benchmark '%s' (this build has: ops, data, train, eval, text; see liver-vlm bench --help)",
                         argv[1]);
    bench_opts o = {.device = "auto", .size = 64, .batch = 32, .reps = 0, .json = 0};
    int help = 0;
    LV_TRY(parse_opts(argc, argv, &o, &help));
    if (help) {
        bench_usage(stdout);
        return LV_OK;
    }
    return bench_ops(&o);
}
